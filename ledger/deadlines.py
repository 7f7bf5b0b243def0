"""The deadline engine: a family's events and its pack give every rule instance's state.

``evaluate(events, pack, as_of)`` walks the family's events in the order they happened
(``occurred_at``, then version), corrections applied, considering only what had happened
by ``as_of``, so "what was overdue on 3 March" has an answer. ``known_at`` further
limits it to what had been *recorded* by then (time travel: a correction made later is
not yet applied). Each timed rule of the pack yields clocks, one per start (or one per
child for per-child rules), each in one state:

- ``open``: started, not stopped, not yet due; ``extended``: the same, after an extension;
- ``paused``: stopped by the pack's pause (e.g. during a Section 47 enquiry);
- ``overdue``: due and not stopped (or ended unmet after its due date);
- ``met`` / ``met_late``: stopped by its due date / after it;
- ``not_applicable``: never started (another pathway; nothing has started it yet), or
  ended before it fell due by the episode closing, the pathway changing, the child
  ageing out, or one of its ``until`` events.

Recording-timeliness rules flag events recorded later than the pack allows
(``late_entries``). Ordering rules whose breach is flagged rather than refused (good
practice: "a risk assessment before the first home visit") give a ``breach`` row for each
entry that happened before what should have preceded it, in the order things happened,
and the list ``breaches`` (ADR 0019). Counting is ``ledger.calendar`` (ADR 0007); matching is
``ledger.policies.matching``; the rules are the pack's (ADR 0009).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast, get_args
from uuid import UUID

import orjson
from typing_extensions import TypedDict  # pydantic reads it (queries' response models)

from aggregates import state
from aggregates.corrections import corrected
from aggregates.events import VOCABULARY, FamilyEvent, payload_fields
from aggregates.state import Episode, FamilyState, Member
from ledger.calendar import Due, WorkingCalendar, add_years, london_date, start_of_day
from ledger.policies.matching import ANY_MEMBER, matches
from ledger.policies.schema import Pack, Rule

State = Literal["open", "met", "met_late", "overdue", "paused", "extended", "not_applicable", "breach"]
STATES: tuple[str, ...] = get_args(State)


class Fact(NamedTuple):
    """An event as the engine sees it: corrections applied, fields flattened (a tuple:
    one is made for every event walked, and a frozen dataclass is three times dearer)."""

    event_id: UUID
    type: str
    version: int
    occurred_at: datetime
    recorded_at: datetime
    actor: dict[str, str]
    about: tuple[UUID, ...]
    fields: dict[str, Any]
    corrected_by: tuple[UUID, ...] = ()


def facts(events: Iterable[FamilyEvent], known_at: datetime | None = None) -> list[Fact]:
    """A family's events, each with the corrections recorded by ``known_at`` applied
    (all of them if None), in recording order. Corrections themselves are not facts."""
    found: dict[UUID, Fact] = {}
    order: list[UUID] = []
    for event in events:
        if known_at is not None and event.recorded_at > known_at:
            continue
        if event.type == "EntryCorrected":
            target = found.get(event.corrects)  # type: ignore[attr-defined]
            if target is None:
                continue
            occurred_at, about, fields = corrected(
                target.type, target.occurred_at, target.about, target.fields, event.changes,  # type: ignore[attr-defined]
                getattr(event, "member", None))
            found[target.event_id] = target._replace(occurred_at=occurred_at, about=about, fields=fields,
                                                     corrected_by=(*target.corrected_by, event.event_id))
            continue
        fact = Fact(
            event_id=event.event_id, type=event.type, version=event.originator_version,
            occurred_at=event.occurred_at, recorded_at=event.recorded_at, actor=dict(event.actor),
            about=tuple(event.about),
            fields={name: getattr(event, name) for name in payload_fields(type(event))},
        )
        found[fact.event_id] = fact
        order.append(fact.event_id)
    return [found[i] for i in order]


@dataclass
class Clock:
    """One instance of a timed rule: when it started, and what has happened to it."""

    rule: Rule
    episode_id: UUID | None
    member: UUID | None
    started_by: UUID | None
    started_at: datetime
    pathway: str | None
    start_reason: str | None = None
    extended_by: int = 0
    extensions: tuple[UUID, ...] = ()
    """A tuple, not a list: most clocks are never extended, and an empty tuple is one object
    for them all where an empty list is one more for the collector to walk (ADR 0049)."""
    pause_since: datetime | None = None
    paused_for: int | timedelta = 0
    stopped_by: UUID | None = None
    stopped_at: datetime | None = None
    ended_by: UUID | None = None
    ended_at: datetime | None = None
    ended_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None and self.ended_at is None

    def due(self, calendar: WorkingCalendar, upto: datetime | None = None) -> Due:
        """The due moment, pushed back by pauses (an ongoing one counted up to ``upto``)."""
        rule = self.rule
        assert rule.duration is not None and rule.unit is not None
        due = calendar.due(self.started_at, rule.duration + self.extended_by, rule.unit)
        paused = self.paused_for
        if self.pause_since is not None and upto is not None and upto > self.pause_since:
            paused = paused + calendar.pause_length(self.pause_since, upto, rule.unit)  # type: ignore[operator]
        return calendar.postpone(due, paused)

    def pause(self, at: datetime) -> None:
        self.pause_since = at

    def resume(self, at: datetime, calendar: WorkingCalendar) -> None:
        assert self.pause_since is not None and self.rule.unit is not None
        self.paused_for = self.paused_for + calendar.pause_length(self.pause_since, at, self.rule.unit)  # type: ignore[operator]
        self.pause_since = None

    def state(self, due: Due, as_of: datetime) -> State:
        """The state at ``as_of``, ``due`` being ``self.due(calendar, as_of)`` (the same
        as without ``as_of`` once stopped or ended: either resumes a pause)."""
        if self.stopped_at is not None:
            return "met" if due.met_by(self.stopped_at) else "met_late"
        if self.ended_at is not None:
            return "not_applicable" if due.met_by(self.ended_at) else "overdue"
        if self.pause_since is not None:
            return "paused"
        if not due.met_by(as_of):
            return "overdue"
        return "extended" if self.extended_by else "open"


def _age(dob: date | None, on: date) -> int | None:
    if dob is None:
        return None
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def _covers(rule: Rule, member: Member, on: date) -> bool:
    """Is this child (born by ``on``) within the rule's ages on ``on``? An unborn child
    (a date of birth still to come) is covered by no per-child rule until born."""
    dob = member.get("date_of_birth")
    if dob is not None and dob > on:
        return False
    return rule.age is None or rule.age.admits(_age(dob, on))


@dataclass
class _Walk:
    """The state the engine keeps while walking one family's facts in time order."""

    pack: Pack
    calendar: WorkingCalendar
    clocks: list[Clock] = field(default_factory=list)
    now: FamilyState | None = None
    """The family's facts at the walk's moment (``aggregates/state.py``, in time order)."""
    episode_id: UUID | None = None
    episode_open: bool = False
    pathway: str | None = None
    """The episode and pathway at the walk's moment (from ``now``, set by ``track``)."""
    recorded: FamilyState | None = None
    """The family's facts as the record states them (the same fold, in recording order):
    what the outcome reports as its team, worker, pathway and episode, as the aggregate does."""
    activated: set[tuple[str, UUID | None]] = field(default_factory=set)
    episode_log: list[tuple[Fact, dict[str, Any]]] = field(default_factory=list)
    episode_by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """The episode log's values by event type: an ordering rule looks back for one type, so
    a long episode is not walked again at every entry."""
    last_day: date | None = None
    breaches: list[tuple[Rule, Fact, str, UUID | None, str | None]] = field(default_factory=list)
    """Ordering rules broken: (rule, the entry that broke it, why, its episode, pathway)."""
    ages: frozenset[int] = field(init=False)
    """The ages (whole years) a per-child rule of the pack names (``any_birthday``)."""

    def __post_init__(self) -> None:
        self.ages = frozenset(years for rule in self.pack.timed_rules if rule.per == "child" and rule.age
                              for years in (rule.age.min_years, rule.age.max_years) if years)

    def fork(self) -> _Walk:
        """A copy to walk on from, sharing nothing it would change with this one (the
        pack, calendar and rules are shared; facts and their values are never changed;
        nor is a clock once stopped or ended: only open clocks are copied)."""
        now = state.copy_of(self.now) if self.now is not None else None
        recorded = now if self.recorded is self.now else (
            state.copy_of(self.recorded) if self.recorded is not None else None)  # one copy where they are one fold
        return replace(self, clocks=[replace(c) if c.is_open else c for c in self.clocks],
                       now=now, recorded=recorded,
                       activated=set(self.activated), episode_log=list(self.episode_log),
                       episode_by_type={t: list(v) for t, v in self.episode_by_type.items()},
                       breaches=list(self.breaches))

    # -- tracking the family --------------------------------------------------------

    # -- the family's facts at the walk's moment -------------------------------------

    @property
    def members(self) -> dict[str, Member]:
        return self.now["members"] if self.now is not None else {}

    @property
    def episode(self) -> Episode | None:
        return state.current(self.now) if self.now is not None else None

    def values(self, fact: Fact) -> dict[str, Any]:
        values = dict(fact.fields)
        values.update(pathway=self.pathway, actor_role=fact.actor.get("role"), about=list(fact.about))
        if VOCABULARY[fact.type].assessment == "step":
            episode = self.episode
            found = episode["assessments"].get(fact.fields["assessment_id"].hex) if episode else None
            values["assessment_kind"] = found["kind"] if found else None
        return values

    def track(self, fact: Fact) -> None:
        if self.now is None:
            self.now = state.fold([as_state_fact(fact)])
        else:
            state.apply(self.now, as_state_fact(fact))
        # Read at every step for every clock: kept as plain attributes, from the fold.
        episode = state.current(self.now)
        self.episode_id = None if episode is None else episode["episode_id"]
        self.episode_open = episode is not None and episode["status"] == "open"
        self.pathway = None if episode is None else episode["pathway"]

    def children_for(self, rule: Rule, fact: Fact | None, on: date) -> list[UUID]:
        """The children a per-child rule covers on ``on``: born by then, of the rule's
        ages, and named by the event if it names anyone."""
        named = {m.hex for m in fact.about} if fact is not None else set()
        return [member["member_id"] for key, member in self.members.items()
                if member["kind"] == "child" and (not named or key in named) and _covers(rule, member, on)]

    def clocks_of(self, rule: Rule, member: UUID | None, episode_id: UUID | None) -> list[Clock]:
        return [c for c in self.clocks
                if c.rule is rule and c.member == member and c.episode_id == episode_id]

    # -- starting and restarting ------------------------------------------------------

    def start(self, rule: Rule, fact: Fact, values: dict[str, Any]) -> None:
        episode = self.episode_id
        if not any(matches(m, fact.type, values, ANY_MEMBER) for m in rule.start):
            return
        # The rule now runs in this episode, even for a family with no child it admits
        # yet: a baby born later, or a child reaching the rule's age, joins it then.
        self.activated.add((rule.id, episode))
        members: list[UUID | None] = (
            list(self.children_for(rule, fact, london_date(fact.occurred_at))) if rule.per == "child" else [None]
        )
        for member in members:
            # A family rule's matches name no ``$member`` (the pack's validation): matched above.
            if member is not None and not any(matches(m, fact.type, values, member) for m in rule.start):
                continue
            existing = self.clocks_of(rule, member, episode)
            if any(c.is_open for c in existing) and rule.repeat != "each":
                continue
            if existing and rule.repeat == "once":
                continue
            clock = Clock(rule=rule, episode_id=episode, member=member, started_by=fact.event_id,
                          started_at=fact.occurred_at, pathway=self.pathway)
            if rule.prior_stop_counts:
                for earlier, earlier_values in self.episode_log:
                    if any(matches(m, earlier.type, earlier_values, member) for m in rule.stop):
                        clock.stopped_by, clock.stopped_at = earlier.event_id, earlier.occurred_at
                        break
            self.clocks.append(clock)

    def restart(self, done: Clock, by: UUID | None, at: datetime, reason: str | None = None) -> None:
        """A recurring rule's next clock runs from ``at`` (if the child still qualifies)."""
        rule = done.rule
        if done.member is not None:
            member = self.members.get(done.member.hex)
            if member is None or not _covers(rule, member, london_date(at)):
                return
        self.clocks.append(Clock(rule=rule, episode_id=done.episode_id, member=done.member, started_by=by,
                                 started_at=at, pathway=self.pathway, start_reason=reason))

    def start_for_new_child(self, fact: Fact) -> None:
        """A child added mid-episode joins the per-child rules already running."""
        member = self.members[fact.fields["member_id"].hex]
        if member["kind"] != "child" or not self.episode_open:
            return
        for rule in self.pack.timed_rules:
            if rule.per != "child" or (rule.id, self.episode_id) not in self.activated:
                continue
            if rule.pathways and self.pathway not in rule.pathways:
                continue
            if not _covers(rule, member, london_date(fact.occurred_at)):
                continue
            if not self.clocks_of(rule, member["member_id"], self.episode_id):
                self.clocks.append(Clock(rule=rule, episode_id=self.episode_id, member=member["member_id"],
                                         started_by=fact.event_id, started_at=fact.occurred_at,
                                         pathway=self.pathway,
                                         start_reason="child born" if fact.type == "ChildBorn"
                                         else "child joined the family"))

    # -- birthdays ----------------------------------------------------------------------

    def crossings(self, since: date | None, upto: date) -> Iterator[tuple[Rule, Member, bool, date, str]]:
        """Each child born, or crossing a per-child rule's lower or upper age boundary,
        after ``since`` and by ``upto``: whether it leaves the rule (the upper one), the
        day, and why, in words."""
        if since is None or since >= upto or not self.any_birthday(since, upto):
            return
        for rule in self.pack.timed_rules:
            if rule.per != "child":
                continue
            for member in list(self.members.values()):
                dob = member.get("date_of_birth")
                if member["kind"] != "child" or dob is None:
                    continue
                if since < dob <= upto:
                    yield rule, member, False, dob, "child born"
                if rule.age is None:
                    continue
                for leaves, years in ((True, rule.age.max_years), (False, rule.age.min_years or None)):
                    if years is not None and since < (day := add_years(dob, years)) <= upto:
                        yield rule, member, leaves, day, f"child turned {years}"

    def any_birthday(self, since: date, upto: date) -> bool:
        """Whether a child's birth, or a birthday some per-child rule's ages name, may fall
        after ``since`` and by ``upto`` (by its year alone): most steps are days apart
        and cross none, so the rules and children are not walked for them."""
        for member in self.members.values():
            dob = member.get("date_of_birth")
            if member["kind"] != "child" or dob is None:
                continue
            if since < dob <= upto or any(since.year <= dob.year + years <= upto.year for years in self.ages):
                return True
        return False

    def birthdays_between(self, upto: date) -> bool:
        """Whether ``birthdays(upto)`` would start or end a clock."""
        return next(self.crossings(self.last_day, upto), None) is not None

    def birthdays(self, upto: date) -> None:
        """Children crossing an age boundary of a per-child rule between the last step and
        ``upto``: leaving "under one" rules, joining "five and over" rules."""
        since, self.last_day = self.last_day, upto
        for rule, member, leaves, day, why in self.crossings(since, upto):
            if not leaves:
                self.join(rule, member, start_of_day(day), why)
                continue
            for clock in self.clocks_of(rule, member["member_id"], self.episode_id):
                if clock.is_open:
                    self.end(clock, None, start_of_day(day), why)

    def join(self, rule: Rule, member: Member, at: datetime, reason: str) -> None:
        """A child born, or reaching a rule's age, joins a per-child rule already running."""
        if (self.episode_open and (rule.id, self.episode_id) in self.activated
                and not (rule.pathways and self.pathway not in rule.pathways)
                and _covers(rule, member, london_date(at))
                and not self.clocks_of(rule, member["member_id"], self.episode_id)):
            self.clocks.append(Clock(rule=rule, episode_id=self.episode_id, member=member["member_id"],
                                     started_by=None, started_at=at, pathway=self.pathway, start_reason=reason))

    # -- one step -------------------------------------------------------------------------

    def end(self, clock: Clock, by: UUID | None, at: datetime, reason: str) -> None:
        if clock.pause_since is not None:
            clock.resume(at, self.calendar)
        clock.ended_by, clock.ended_at, clock.ended_reason = by, at, reason

    def step(self, fact: Fact) -> None:
        self.birthdays(london_date(fact.occurred_at))
        pathway_before, episode_before = self.pathway, self.episode_id
        self.track(fact)
        if self.episode_id != episode_before:
            self.episode_log = []  # a new episode's ordering rules look back over it alone
            self.episode_by_type = {}
        values = self.values(fact)
        if fact.type == "EpisodeReopened":
            self.reopen(fact)
        if self.pathway != pathway_before and self.episode_id == episode_before:
            for clock in self.clocks:
                if clock.is_open and clock.rule.pathways and self.pathway not in clock.rule.pathways:
                    self.end(clock, fact.event_id, fact.occurred_at, f"pathway changed to {self.pathway}")
        moving = self.pack.moving_events
        for clock in [c for c in self.clocks if c.stopped_at is None and c.ended_at is None  # open ones
                      and fact.type in moving[c.rule.id]]:
            self.advance(clock, fact, values)
        for rule in self.pack.timed_rules_started_by.get(fact.type, ()):
            if rule.pathways and self.pathway not in rule.pathways:
                continue
            if not (self.episode_open or rule.after_closure):
                continue
            self.start(rule, fact, values)
        if fact.type in ("MemberAdded", "ChildBorn"):  # a child joins, or an unborn member is born
            self.start_for_new_child(fact)
        if fact.type in self.pack.ordering_after:
            for rule, why in self.pack.ordering_breaches(fact.type, values, self.episode_by_type):
                self.breaches.append((rule, fact, why, self.episode_id, self.pathway))
        self.episode_log.append((fact, values))
        self.episode_by_type.setdefault(fact.type, []).append(values)

    def advance(self, clock: Clock, fact: Fact, values: dict[str, Any]) -> None:
        rule = clock.rule
        current = clock.episode_id == self.episode_id
        pause = self.pack.pause_for(rule)
        if pause is not None and current:
            if clock.pause_since is None and matches(pause.start, fact.type, values):
                clock.pause(fact.occurred_at)
                return
            if clock.pause_since is not None and matches(pause.stop, fact.type, values):
                clock.resume(fact.occurred_at, self.calendar)
                return
        if fact.type == "DeadlineExtended" and fact.fields["rule"] == rule.id and current:
            if not fact.about or clock.member is None or clock.member in fact.about:
                clock.extended_by += fact.fields["extend_by"]
                clock.extensions = (*clock.extensions, fact.event_id)
                return
        stops, untils = self.pack.ending_events[rule.id]
        if fact.type in stops and any(matches(m, fact.type, values, clock.member) for m in rule.stop):
            if clock.pause_since is not None:
                clock.resume(fact.occurred_at, self.calendar)
            clock.stopped_by, clock.stopped_at = fact.event_id, fact.occurred_at
            if rule.kind == "recurring" and (self.episode_open or rule.after_closure) and current:
                self.restart(clock, fact.event_id, fact.occurred_at)
            return
        if fact.type in untils and any(matches(m, fact.type, values, clock.member) for m in rule.until):
            self.end(clock, fact.event_id, fact.occurred_at, f"ended by {fact.type}")
        elif fact.type == "EpisodeClosed" and current and not rule.after_closure:
            self.end(clock, fact.event_id, fact.occurred_at, "episode closed")

    def reopen(self, fact: Fact) -> None:
        """Reopening restarts the recurring clocks the closure ended."""
        for clock in list(self.clocks):
            if (clock.rule.kind == "recurring" and clock.episode_id == self.episode_id
                    and clock.ended_reason == "episode closed"
                    and not any(c.is_open for c in self.clocks_of(clock.rule, clock.member, clock.episode_id))):
                self.restart(clock, fact.event_id, fact.occurred_at, "episode reopened")


def evaluate(
    events: Iterable[FamilyEvent],
    pack: Pack,
    as_of: datetime,
    *,
    known_at: datetime | None = None,
    calendar: WorkingCalendar | None = None,
) -> dict[str, Any]:
    """Every rule instance of the pack for one family, as of ``as_of``. Once the family's
    personal data is erased, the outcome frozen at erasure (``freeze``), whatever ``as_of``."""
    return evaluate_from_start(list(events), pack, as_of, known_at=known_at, calendar=calendar, progress=False)[0]


@dataclass
class Progress:
    """How far ``evaluate`` walked one family's whole stream (every fact happened by
    ``as_of``): the walk after its last step, before the birthdays up to ``as_of``, and
    the late entries found. ``evaluate_on`` carries it on over newer events."""

    pack: Pack
    calendar: WorkingCalendar
    version: int  # the last event's version
    last: tuple[bool, datetime, int]  # the last fact's place in the walk's order
    walk: _Walk
    late: list[dict[str, Any]]
    settled: dict[int, ClockRow] = field(default_factory=dict)
    """The rows of the walk's clocks that have stopped or ended, and of its breaches, by
    their place in the walk: the same whatever ``as_of`` (``evaluate_held``)."""


Held = TypeVar("Held")


class Recent(Generic[Held]):
    """A value for each of up to ``limit`` families, the least recently put dropped first;
    safe to share between threads (a command's undo runs outside the projector's lock)."""

    def __init__(self, limit: int = 2_000) -> None:
        self.limit = limit
        self._held: OrderedDict[UUID, Held] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def get(self, family_id: UUID) -> Held | None:
        with self._lock:
            return self._held.get(family_id)

    def put(self, family_id: UUID, value: Held | None) -> None:
        with self._lock:
            self._held.pop(family_id, None)
            if value is not None:
                self._held[family_id] = value
                while len(self._held) > self.limit:
                    self._held.popitem(last=False)


class Progresses(Recent[Progress]):
    """Where the engine's walk of each recently derived family got to (``Progress``), for
    up to ``limit`` families, the least recently used dropped first. Each command then
    walks only its own new events, not the family's whole record again; a correction,
    an erasure or a back-dated entry makes the engine walk the whole record. A rebuild
    walks every family whole and keeps nothing here (``Context.rebuilding``)."""


# What ``evaluate_on`` cannot carry on over: a correction changes a fact already walked,
# a registration is walked first whenever it was recorded, and an erasure freezes all.
_RESTARTS = frozenset({"EntryCorrected", "FamilyRegistered", "PersonalDataErased"})


def _order(fact: Fact) -> tuple[bool, datetime, int]:
    # Registration says who the family is and which team holds it; it is walked first
    # whenever it was recorded (a family registered today may have a history from 2025).
    return (fact.type != "FamilyRegistered", fact.occurred_at, fact.version)


def _recording_order(fact: Fact) -> tuple[bool, int]:
    return (fact.type != "FamilyRegistered", fact.version)


def as_state_fact(fact: Fact) -> state.Fact:
    return state.Fact(fact.event_id, fact.type, fact.occurred_at, fact.actor, fact.about, fact.fields)


def reported(recorded: FamilyState | None) -> dict[str, Any]:
    """The family's team, lead worker, pathway and episode as an outcome reports them."""
    episode = state.current(recorded) if recorded is not None else None
    return {
        "team": recorded["team"] if recorded is not None else None,
        "worker": episode["worker"] if episode else None,
        "other_workers": list(episode["other_workers"]) if episode else [],
        "pathway": episode["pathway"] if episode else None,
        "episode_id": episode["episode_id"] if episode else None,
        "episode_open": bool(episode and episode["status"] == "open"),
    }


def evaluate_from_start(
    events: list[FamilyEvent],
    pack: Pack,
    as_of: datetime,
    *,
    known_at: datetime | None = None,
    calendar: WorkingCalendar | None = None,
    progress: bool = True,
    rows_only: bool = False,
) -> tuple[dict[str, Any], Progress | None]:
    """``evaluate``, with the walk's progress when every fact was walked (nothing
    happened after ``as_of``, all known): ``evaluate_on`` can then carry it on.
    ``progress=False``: the caller keeps none (a rebuild), so none is copied out.
    ``rows_only``: the caller reads only the clocks' and breaches' rows and what the
    family's outcome reports (a read model), so no late entries (unless kept in the
    progress), list of breaches or rows of rules never started are made."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    erased = next((e for e in events if e.type == "PersonalDataErased"), None)
    if erased is not None and (known_at is None or erased.recorded_at <= known_at):
        return {**thaw(erased.deadlines), "erased_at": erased.recorded_at}, None  # type: ignore[attr-defined]
    calendar = calendar or WorkingCalendar.with_closures(pack.closure_days)
    all_facts = facts(events, known_at)
    happened = sorted((f for f in all_facts if f.occurred_at <= as_of or f.type == "FamilyRegistered"), key=_order)
    walk = _Walk(pack, calendar)
    for fact in happened:
        walk.step(fact)
    by_recording = sorted(happened, key=_recording_order)
    if all(a is b for a, b in zip(by_recording, happened, strict=True)):
        walk.recorded = walk.now  # recorded in the order it happened (the common case): one fold
    elif happened:
        walk.recorded = state.fold(as_state_fact(f) for f in by_recording)
    late = late_entries(all_facts, pack, calendar) if progress or not rows_only else []
    if not (progress and known_at is None and happened and len(happened) == len(all_facts) and events):
        return _outcome(walk, pack, calendar, as_of, known_at, late, rows_only), None
    onward = Progress(pack, calendar, events[-1].originator_version, _order(happened[-1]), walk, late)
    return _outcome_leaving(walk, pack, calendar, as_of, known_at, late, rows_only), onward


def evaluate_on(
    progress: Progress, events: list[FamilyEvent], as_of: datetime, *, rows_only: bool = False,
) -> tuple[dict[str, Any], Progress] | None:
    """``evaluate(events, progress.pack, as_of)``, walking only the events after
    ``progress`` (``events`` is the family's whole stream, versions 1 to n), with the
    progress for the next call; or None where the newer events cannot simply be walked
    on: a correction, an erasure, or a fact that happened before one already walked
    (the caller then evaluates the whole stream). Nothing newer: None too."""
    pack, calendar, last = progress.pack, progress.calendar, progress.last
    newer = events[progress.version:]
    if (not newer or events[progress.version - 1].originator_version != progress.version
            or any(e.type in _RESTARTS for e in newer)):
        return None
    new_facts = facts(newer)
    for fact in new_facts:
        place = _order(fact)
        if place <= last or fact.occurred_at > as_of:
            return None
        last = place
    walk = progress.walk.fork()
    for fact in new_facts:
        walk.step(fact)
        if walk.recorded is not None and walk.recorded is not walk.now:
            state.apply(walk.recorded, as_state_fact(fact))
    late = progress.late + late_entries(new_facts, pack, calendar)
    onward = Progress(pack, calendar, newer[-1].originator_version, last, walk, late)
    return _outcome_leaving(walk, pack, calendar, as_of, None, late, rows_only), onward


def evaluate_held(progress: Progress, version: int, as_of: datetime) -> dict[str, Any] | None:
    """``evaluate`` of a family whose latest event is ``version``, from the walk held in
    ``progress`` without decoding or walking a single event; or None where the held walk
    is not the family's whole record (a newer event since) or ``as_of`` is before a fact
    it walked (the facts that had happened by then are fewer). Only the states at
    ``as_of`` (and the birthdays up to it) are worked out, on a copy of the walk."""
    if progress.version != version or as_of < progress.last[1]:
        return None
    walk, pack, calendar = progress.walk, progress.pack, progress.calendar
    if walk.birthdays_between(london_date(as_of)):  # a clock starts or ends by then: on a copy
        return _outcome(walk.fork(), pack, calendar, as_of, None, progress.late)
    # Nothing changes the walk: only the open clocks' states depend on ``as_of``; the
    # settled clocks' rows and the breaches' are made once and copied.
    settled = progress.settled
    rows = []
    for i, clock in enumerate(walk.clocks):
        if clock.is_open:
            rows.append(_row(clock, walk, calendar, as_of))
            continue
        if i not in settled:
            settled[i] = _row(clock, walk, calendar, as_of)
        rows.append(_copied(settled[i]))
    breaches = []
    for i, breach in enumerate(walk.breaches, start=len(walk.clocks)):
        if i not in settled:
            settled[i] = _breach_row(*breach)
        breaches.append(_copied(settled[i]))
    return _result(walk, pack, as_of, None, progress.late, rows, breaches)


def _copied(row: ClockRow) -> ClockRow:
    """A row to hand out: a dict of its own (a caller may add to it, as the team views add
    the family; the lists in it are never changed)."""
    return cast(ClockRow, dict(row))


def _outcome_leaving(walk: _Walk, pack: Pack, calendar: WorkingCalendar, as_of: datetime,
                     known_at: datetime | None, late: list[dict[str, Any]], rows_only: bool) -> dict[str, Any]:
    """``_outcome``, leaving ``walk`` as it is (to be held in a ``Progress``): the birthdays
    up to ``as_of`` are walked on a copy only where one starts or ends a clock; otherwise
    the rows are read from the walk itself, as ``evaluate_held`` reads them."""
    if walk.birthdays_between(london_date(as_of)):
        return _outcome(walk.fork(), pack, calendar, as_of, known_at, late, rows_only)
    return _walked(walk, pack, calendar, as_of, known_at, late, rows_only)


def _outcome(walk: _Walk, pack: Pack, calendar: WorkingCalendar, as_of: datetime, known_at: datetime | None,
             late: list[dict[str, Any]], rows_only: bool = False) -> dict[str, Any]:
    walk.birthdays(london_date(as_of))
    return _walked(walk, pack, calendar, as_of, known_at, late, rows_only)


def _walked(walk: _Walk, pack: Pack, calendar: WorkingCalendar, as_of: datetime, known_at: datetime | None,
            late: list[dict[str, Any]], rows_only: bool) -> dict[str, Any]:
    """The outcome of a walk that has reached ``as_of`` (its birthdays walked)."""
    rows = [_row(c, walk, calendar, as_of) for c in walk.clocks]
    breach_rows = [_breach_row(*breach) for breach in walk.breaches]
    return _result(walk, pack, as_of, known_at, late, rows, breach_rows, rows_only)


def _result(walk: _Walk, pack: Pack, as_of: datetime, known_at: datetime | None, late: list[dict[str, Any]],
            rows: list[ClockRow], breach_rows: list[ClockRow], rows_only: bool = False) -> dict[str, Any]:
    rows.sort(key=lambda r: (r["due_at"] is None, r["due_at"] or as_of, r["rule"]))
    rows += breach_rows
    if rows_only:
        return {**reported(walk.recorded), "deadlines": rows}
    started = {c.rule.id for c in walk.clocks}
    for rule in pack.timed_rules:
        if rule.id not in started:
            rows.append(_unstarted(rule, walk))
    return {
        "as_of": as_of,
        "known_at": known_at,
        "policy": pack.id,
        "policy_version": pack.version,
        **reported(walk.recorded),
        "deadlines": rows,
        "late_entries": list(late),
        "breaches": [{"event_id": fact.event_id, "type": fact.type, "rule": rule.id, "title": rule.title,
                      "on_breach": rule.on_breach, "reason": why, "occurred_at": fact.occurred_at,
                      "recorded_at": fact.recorded_at, "source": source(rule)}
                     for rule, fact, why, _, _ in walk.breaches],
    }


class RuleSource(TypedDict):
    """Where a rule comes from: the seed procedure and its lines."""

    seed: str
    lines: list[int]


class ClockRow(TypedDict):
    """One row of a family's deadlines: a clock of a timed rule (started, or why not), or
    an ordering rule broken by an entry (state ``breach``)."""

    rule: str
    title: str
    kind: str
    category: str | None
    state: State
    reason: str | None
    due: date | datetime | None
    """A date for rules counted in days, weeks or months; an instant for hours."""
    due_at: datetime | None
    member: UUID | None  # the child a per-child clock runs for
    member_name: str | None
    episode_id: UUID | None
    pathway: str | None
    started_by: UUID | None
    started_at: datetime | None
    stopped_by: UUID | None
    stopped_at: datetime | None
    ended_by: UUID | None
    extended_by: int
    extensions: list[UUID]
    duration: int | None
    unit: str | None
    source: RuleSource


def source(rule: Rule) -> RuleSource:
    return {"seed": rule.source.seed, "lines": list(rule.source.lines)}


def _member_name(walk: _Walk, member: UUID | None) -> str | None:
    if member is None:
        return None
    found = walk.members.get(member.hex)
    return None if found is None else f"{found['given_name']} {found['family_name']}"


def _unstarted(rule: Rule, walk: _Walk) -> ClockRow:
    if rule.pathways and walk.pathway not in rule.pathways:
        reason = f"applies to the {', '.join(rule.pathways)} pathway only"
    else:
        reason = f"not started: no {' or '.join(m.describe() for m in rule.start)} yet"
    return {
        "rule": rule.id, "title": rule.title, "kind": rule.kind, "category": rule.category,
        "state": "not_applicable", "reason": reason, "due": None, "due_at": None,
        "member": None, "member_name": None, "episode_id": None, "pathway": None,
        "started_by": None, "started_at": None, "stopped_by": None, "stopped_at": None,
        "ended_by": None, "extended_by": 0, "extensions": [], "duration": rule.duration,
        "unit": rule.unit, "source": source(rule),
    }


def _breach_row(rule: Rule, fact: Fact, why: str, episode_id: UUID | None, pathway: str | None) -> ClockRow:
    """An ordering rule broken by an entry, as a row beside the clocks: started by the
    entry that came too soon, settled in state ``breach``."""
    return {
        "rule": rule.id, "title": rule.title, "kind": rule.kind, "category": rule.category,
        "state": "breach", "reason": why, "due": None, "due_at": None,
        "member": None, "member_name": None, "episode_id": episode_id, "pathway": pathway,
        "started_by": fact.event_id, "started_at": fact.occurred_at, "stopped_by": None, "stopped_at": None,
        "ended_by": None, "extended_by": 0, "extensions": [], "duration": None, "unit": None,
        "source": source(rule),
    }


def _row(clock: Clock, walk: _Walk, calendar: WorkingCalendar, as_of: datetime) -> ClockRow:
    due = clock.due(calendar, as_of)
    return {
        "rule": clock.rule.id, "title": clock.rule.title, "kind": clock.rule.kind,
        "category": clock.rule.category, "state": clock.state(due, as_of),
        "reason": clock.ended_reason or clock.start_reason, "due": due.shown, "due_at": due.instant,
        "member": clock.member, "member_name": _member_name(walk, clock.member),
        "episode_id": clock.episode_id, "pathway": clock.pathway,
        "started_by": clock.started_by, "started_at": clock.started_at,
        "stopped_by": clock.stopped_by, "stopped_at": clock.stopped_at,
        "ended_by": clock.ended_by, "extended_by": clock.extended_by,
        "extensions": list(clock.extensions), "duration": clock.rule.duration,
        "unit": clock.rule.unit, "source": source(clock.rule),
    }


def late_rules(
    event_type: str, occurred_at: datetime, recorded_at: datetime, pack: Pack,
    calendar: WorkingCalendar | None = None,
) -> list[tuple[Rule, Due]]:
    """The recording-timeliness rules an event broke, each with the due moment it missed."""
    by_type = pack.recording_rules_for
    rules = by_type.get(event_type, by_type[""])
    if not rules:
        return []
    calendar = calendar or WorkingCalendar.with_closures(pack.closure_days)
    broken = []
    for rule in rules:
        assert rule.duration is not None and rule.unit is not None
        due = calendar.due(occurred_at, rule.duration, rule.unit)
        if not due.met_by(recorded_at):
            broken.append((rule, due))
    return broken


def late_entries(all_facts: list[Fact], pack: Pack, calendar: WorkingCalendar | None = None) -> list[dict[str, Any]]:
    """Events recorded later than a recording-timeliness rule of the pack allows."""
    calendar = calendar or WorkingCalendar.with_closures(pack.closure_days)
    return [
        {"event_id": fact.event_id, "type": fact.type, "rule": rule.id, "title": rule.title,
         "occurred_at": fact.occurred_at, "recorded_at": fact.recorded_at, "due": due.shown,
         "source": source(rule)}
        for fact in all_facts
        for rule, due in late_rules(fact.type, fact.occurred_at, fact.recorded_at, pack, calendar)
    ]


# -- erased families: the outcome frozen at erasure ---------------------------------------

ERASED_NAME = "[erased]"
_IDS = ("member", "episode_id", "started_by", "stopped_by", "ended_by", "event_id")
_INSTANTS = ("due_at", "started_at", "stopped_at", "occurred_at", "recorded_at", "as_of", "known_at")


def freeze(result: dict[str, Any]) -> dict[str, Any]:
    """An ``evaluate`` result as plain JSON values without names, for ``PersonalDataErased``:
    clocks that depend on a child's age cannot be worked out again once the dates of
    birth are destroyed, so the outcome at erasure is what the record keeps (ADR 0013)."""
    frozen: dict[str, Any] = orjson.loads(orjson.dumps({k: v for k, v in result.items() if k != "family_id"}))
    for row in frozen["deadlines"]:
        if row.get("member_name") is not None:
            row["member_name"] = ERASED_NAME
    return frozen


def thaw(frozen: dict[str, Any]) -> dict[str, Any]:
    """A frozen result with the engine's types again (dates, instants, ids)."""

    def typed(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for key in _IDS:
            if out.get(key) is not None:
                out[key] = UUID(out[key])
        for key in _INSTANTS:
            if out.get(key) is not None:
                out[key] = datetime.fromisoformat(out[key])
        if out.get("due") is not None:
            out["due"] = (datetime.fromisoformat(out["due"]) if "T" in out["due"]
                          else date.fromisoformat(out["due"]))
        if "extensions" in out:
            out["extensions"] = [UUID(e) for e in out["extensions"]]
        return out

    result = typed({k: v for k, v in frozen.items() if k not in ("deadlines", "late_entries")})
    result["deadlines"] = [typed(r) for r in frozen["deadlines"]]
    result["late_entries"] = [typed(r) for r in frozen.get("late_entries", [])]
    result["breaches"] = [typed(r) for r in frozen.get("breaches", [])]
    return result
