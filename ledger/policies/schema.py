"""The shape of a policy pack: one council's procedure as data.

A pack file (``ledger/policies/<id>.toml``) is validated against these models when the
service starts; anything that does not fit is refused with the file, the rule and what
is wrong (see ``loader.py``). ``docs/policy-packs.md`` explains each field with examples.

Beyond the shape, a pack is checked for meaning: every event type, field and filter
value a rule names must exist (a ``where = { scope = "suport" }`` typo is refused, not
silently never matched), filters on the pack's own vocabularies (pathways, priorities,
triage responses, assessment kinds, documents, rule ids) must name entries of this pack,
and an extension may only be granted by roles the pack lets extend.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from aggregates.events import VOCABULARY, payload_fields
from aggregates.vocabulary import CLOSURE_REASONS, Role, SsdEndReason
from ledger.policies.matching import MEMBER, matches

Unit = Literal["working_days", "calendar_days", "weeks", "months", "hours"]
RuleKind = Literal["deadline", "recurring", "ordering", "recording"]
Category = Literal[
    "triage", "allocation", "contact", "consent", "assessment", "plan", "meeting", "visit",
    "review", "recording", "case_summary", "chronology", "supervision", "oversight",
    "step_up_down", "transfer", "closure", "follow_up",
]
MEMBER_PLACEHOLDER = MEMBER

DERIVED_KEYS = ("pathway", "actor_role", "about")
TERM_FIELDS: dict[str, str] = {
    "pathway": "pathways",
    "priority": "priorities",
    "response": "triage_responses",
    "assessment_kind": "assessment_kinds",
    "document": "documents",
}
"""Fields whose values are the pack's own vocabulary, and the pack list that holds them."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where in which seed a rule comes from: ``{seed = "000_....txt", lines = [617]}``."""

    seed: str = Field(pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")
    lines: list[int] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _positive(cls, lines: list[int]) -> list[int]:
        if any(n < 1 for n in lines):
            raise ValueError("line numbers start at 1")
        return lines

    def cite(self) -> str:
        return f"{self.seed} L{', L'.join(map(str, self.lines))}"


def _allowed_keys(event: str) -> set[str]:
    keys = set(payload_fields(VOCABULARY[event])) | set(DERIVED_KEYS)
    if VOCABULARY[event].assessment:
        keys.add("assessment_kind")
    return keys


class EventMatch(Strict):
    """An event type, optionally filtered on its fields (see ``matching.py``)."""

    event: str
    where: dict[str, Any] = {}

    @model_validator(mode="after")
    def _known(self) -> EventMatch:
        if self.event not in VOCABULARY:
            raise ValueError(
                f"unknown event type {self.event!r} (known: {', '.join(sorted(VOCABULARY))})"
            )
        allowed = _allowed_keys(self.event)
        for key, value in self.where.items():
            if key not in allowed:
                raise ValueError(
                    f"{self.event} has no field {key!r} to filter on "
                    f"(fields: {', '.join(sorted(allowed))})"
                )
            if isinstance(value, list) and not value:
                raise ValueError(f"where.{key} is an empty list, which nothing matches")
        return self

    def describe(self) -> str:
        if not self.where:
            return self.event
        parts = []
        for key, value in self.where.items():
            values = value if isinstance(value, list) else [value]
            shown = " or ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
            parts.append(f"{key} {shown}".replace(MEMBER, "the child"))
        return f"{self.event} ({'; '.join(parts)})"


class Term(Strict):
    """An entry of one of the pack's own vocabularies (a pathway, a document...)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    source: Source
    description: str = ""


class AssessmentKind(Term):
    early_help_assessment: bool = False
    """True for the pack's early help assessment proper (what Ofsted Annex A List 2
    counts); False for other documents that go through submission and sign-off."""


class RoleTitle(Strict):
    """A council's role title mapped onto one of the ledger's roles."""

    title: str
    role: Role
    source: Source


class Power(Strict):
    """Which ledger roles may exercise a power (authorise, extend, close)."""

    roles: list[Role] = Field(min_length=1)
    source: Source
    reading: str = ""


MANAGEMENT: tuple[Role, ...] = ("supervisor", "manager")


class Authority(Strict):
    """Who may do what under the pack. ``authorise``, ``extend`` and ``close`` are the
    sign-offs; ``triage`` records threshold decisions and allocations to a team's tray
    (TriageDecided, AllocatedToTeam), ``step`` steps a family up or down (SteppedUp,
    SteppedDown); ``transfer`` moves a family out of its team (TransferredOut) and
    ``accept_transfer`` takes it in (TransferredIn), both supervisors or managers only."""

    authorise: Power
    extend: Power
    close: Power
    triage: Power
    step: Power
    transfer: Power
    accept_transfer: Power

    @model_validator(mode="after")
    def _moves_by_management(self) -> Authority:
        for name in ("transfer", "accept_transfer"):
            outside = [r for r in getattr(self, name).roles if r not in MANAGEMENT]
            if outside:
                raise ValueError(f"{name}.roles {outside}: only a supervisor or manager moves a family "
                                 "between teams")
        return self


class Caseload(Strict):
    max_families: int | None = Field(default=None, gt=0)
    max_children: int | None = Field(default=None, gt=0)
    source: Source
    reading: str = ""


class Retention(Strict):
    """How long a closed family's record is kept (UK GDPR storage limitation)."""

    years_after_closure: int | None = Field(default=None, gt=0)
    until_youngest_child_age: int | None = Field(default=None, gt=0)
    source: Source | None = None
    reading: str = ""


DEFAULT_SSD_END_REASONS: dict[str, SsdEndReason] = {
    reason: "Outcomes met" if reason == "outcomes_met" else "Step-up" if reason == "step_up" else "NFA"
    for reason in CLOSURE_REASONS}
"""The SSD end reason of each closure reason for a pack that states none: outcomes met,
stepped up, and no further action by the council for every other ending."""


class Returns(Strict):
    """How the pack's families appear in the data returns (Ofsted Annex A List 2, the
    SSD's ``ssd_early_help_episodes``): the organisation they name, and the SSD end reason
    (EARL006A: "Outcomes met/ Step-up/ NFA") of each of the ledger's closure reasons.

    ``organisation`` is the body responsible for the early help (EARL007A), by default the
    pack's ``council``. A council since reorganised names no organisation here (the body
    no longer exists) and lists its ``successors``: the deployment says which of them it
    is (``LEDGER_ORGANISATION_NAMES``, ``ledger/settings.py``), and until it does the
    returns name the successors together, never the old council."""

    organisation: str | None = None
    successors: list[str] = []
    reorganised_on: date | None = None
    ssd_end_reasons: dict[str, SsdEndReason] = Field(default_factory=lambda: dict(DEFAULT_SSD_END_REASONS))
    source: Source | None = None
    reading: str = ""

    @model_validator(mode="after")
    def _every_closure_reason(self) -> Returns:
        unknown = sorted(set(self.ssd_end_reasons) - set(CLOSURE_REASONS))
        if unknown:
            raise ValueError(f"ssd_end_reasons maps {unknown}, which are not closure reasons "
                             f"({', '.join(CLOSURE_REASONS)})")
        missing = [r for r in CLOSURE_REASONS if r not in self.ssd_end_reasons]
        if missing:
            raise ValueError(f"ssd_end_reasons must map every closure reason; missing: {', '.join(missing)}")
        if self.successors and self.organisation is None and self.reorganised_on is None:
            raise ValueError("successors are the bodies that took over from a reorganised council: "
                             "give reorganised_on too")
        return self


class AgeCondition(Strict):
    """A per-child rule applies only to children of these ages (whole years):
    ``max_years = 1`` is "under one", ``min_years = 5`` "five and over". A child who
    reaches ``min_years`` during the episode gains a clock on that birthday; one who
    reaches ``max_years`` leaves the rule on that birthday."""

    min_years: int | None = Field(default=None, ge=0)
    max_years: int | None = Field(default=None, gt=0)

    def admits(self, age: int | None) -> bool:
        if age is None:
            return False
        if self.min_years is not None and age < self.min_years:
            return False
        return not (self.max_years is not None and age >= self.max_years)


class Extension(Strict):
    """Who may extend the clock and the cap on the total duration (in the rule's unit)."""

    roles: list[Role] = Field(min_length=1)
    max_total: int = Field(gt=0)
    source: Source | None = None


class Pause(Strict):
    """What stops a clock and what restarts it; time in between is not counted."""

    start: EventMatch = EventMatch(event="WorkPaused")
    stop: EventMatch = EventMatch(event="WorkResumed")
    source: Source | None = None
    reading: str = ""


class NotEncoded(Strict):
    """A seed statement the pack deliberately does not turn into a rule, and why
    (count-based expectations, service-level cadences, work the ledger does not record)."""

    statement: str
    source: Source
    reason: str


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Rule(Strict):
    """One timescale, ordering or recording rule of a pack.

    - ``deadline``: a ``start`` starts a clock of ``duration`` ``unit``; the first
      ``stop`` after it stops it (met, or met late after the due date).
    - ``recurring``: as deadline, but each stop restarts the clock from the stop ("every
      child seen at least every 20 working days"; "the next TAF within 30 working days
      of the last").
    - ``ordering``: ``before`` must be in the episode before ``after`` may be recorded;
      the ledger refuses ``after`` otherwise.
    - ``recording``: events of ``applies_to`` must be recorded within ``duration``
      ``unit`` of when they occurred; later ones are flagged as late entries.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    kind: RuleKind = "deadline"
    category: Category
    source: Source
    pathways: list[str] = []
    start: list[EventMatch] = []
    stop: list[EventMatch] = []
    until: list[EventMatch] = []
    duration: int | None = Field(default=None, ge=0)
    unit: Unit | None = None
    per: Literal["family", "child"] = "family"
    age: AgeCondition | None = None
    repeat: Literal["once", "each"] = "once"
    prior_stop_counts: bool = False
    after_closure: bool = False
    pausable: bool = True
    extension: Extension | None = None
    pause: Pause | None = None
    before: EventMatch | None = None
    after: EventMatch | None = None
    correlate: list[str] = []
    on_breach: Literal["flag", "refuse"] | None = None
    applies_to: list[str] = []
    reading: str = ""
    note: str = ""

    _wrap_start = field_validator("start", "stop", "until", mode="before")(_as_list)

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        timed = self.kind in ("deadline", "recurring", "recording")
        if timed and (self.duration is None or self.unit is None):
            raise ValueError(f"a {self.kind} rule needs duration and unit")
        if self.kind in ("deadline", "recurring"):
            if not self.start:
                raise ValueError(f"a {self.kind} rule needs start")
            if not self.stop:
                raise ValueError(f"a {self.kind} rule needs at least one stop")
        elif self.start or self.stop or self.until:
            raise ValueError(f"a {self.kind} rule has no start, stop or until")
        if self.kind == "ordering":
            if self.before is None or self.after is None:
                raise ValueError("an ordering rule needs before and after")
            for name in self.correlate:
                for match in (self.before, self.after):
                    if name not in _allowed_keys(match.event):
                        raise ValueError(f"correlate: {match.event} has no field {name!r}")
            if self.on_breach is None:
                raise ValueError("an ordering rule says what a breach does: on_breach = \"flag\" (record it and "
                                 "show the breach) or \"refuse\" (a sign-off that must come first)")
        elif self.before or self.after or self.correlate or self.on_breach:
            raise ValueError(f"before, after, correlate and on_breach belong to ordering rules, not {self.kind}")
        if self.kind == "recording":
            unknown = [t for t in self.applies_to if t not in VOCABULARY]
            if unknown:
                raise ValueError(f"applies_to names unknown event types: {unknown}")
        elif self.applies_to:
            raise ValueError("applies_to belongs to recording rules")
        if self.age is not None and self.per != "child":
            raise ValueError("age conditions apply only to per = 'child' rules")
        if self.per == "child" and self.kind not in ("deadline", "recurring"):
            raise ValueError("only deadline and recurring rules can be per child")
        if self.extension is not None and self.duration is not None and self.extension.max_total < self.duration:
            raise ValueError("extension.max_total is shorter than the rule's own duration")
        if self.repeat == "each" and self.kind != "deadline":
            raise ValueError("repeat = 'each' applies to deadline rules (recurring rules restart themselves)")
        return self

    @property
    def timed(self) -> bool:
        return self.kind in ("deadline", "recurring")

    def matches(self) -> Iterator[tuple[str, EventMatch]]:
        """Every event match of the rule, with where it sits (for validation)."""
        for name in ("start", "stop", "until"):
            for i, m in enumerate(getattr(self, name)):
                yield f"{name}[{i}]", m
        if self.pause is not None:
            yield "pause.start", self.pause.start
            yield "pause.stop", self.pause.stop
        if self.before is not None:
            yield "before", self.before
        if self.after is not None:
            yield "after", self.after


class Pack(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    council: str
    version: str
    effective_from: date
    seed: str = Field(pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")
    summary: str = ""
    closure_days: list[date] = []
    pathways: list[Term] = Field(min_length=1)
    priorities: list[Term] = []
    triage_responses: list[Term] = []
    assessment_kinds: list[AssessmentKind] = Field(min_length=1)
    documents: list[Term] = []
    role_titles: list[RoleTitle] = []
    authority: Authority
    caseload: Caseload | None = None
    retention: Retention | None = None
    returns: Returns = Field(default_factory=Returns)
    pause: Pause | None = None
    """A pause that applies to every timed rule that has none of its own and is not
    ``pausable = false`` (seed 002 L311: actions cease during a Section 47 enquiry)."""
    significant_events: list[str] = []
    rules: list[Rule] = []
    readings: list[str] = []
    not_encoded: list[NotEncoded] = []

    @model_validator(mode="after")
    def _consistent(self) -> Pack:
        for name in ("pathways", "priorities", "triage_responses", "assessment_kinds", "documents"):
            ids = [t.id for t in getattr(self, name)]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{name}: ids must be unique; repeated: {repeated}")
        if "early-help-assessment" not in self.term_ids("assessment_kinds"):
            raise ValueError(
                "assessment_kinds must include 'early-help-assessment' (the kind an "
                "AssessmentStarted command gets when it names none)"
            )
        ids = [r.id for r in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique; repeated: {duplicates}")
        unknown_types = [t for t in self.significant_events if t not in VOCABULARY]
        if unknown_types:
            raise ValueError(f"significant_events names unknown event types {unknown_types}")
        if self.pause is not None:
            for where, m in (("pause.start", self.pause.start), ("pause.stop", self.pause.stop)):
                problem = self._filter_problem(m, per_child=False)
                if problem:
                    raise ValueError(f"{where}: {problem}")
        for rule in self.rules:
            problem = self._rule_problem(rule)
            if problem:
                raise ValueError(f"rule {rule.id!r}: {problem}")
        return self

    def _rule_problem(self, rule: Rule) -> str | None:
        unknown = [p for p in rule.pathways if p not in self.term_ids("pathways")]
        if unknown:
            return f"unknown pathways {unknown} (this pack has {self.term_ids('pathways')})"
        for where, match in rule.matches():
            problem = self._filter_problem(match, per_child=rule.per == "child")
            if problem:
                return f"{where}: {problem}"
        if rule.extension is not None:
            outside = [r for r in rule.extension.roles if r not in self.authority.extend.roles]
            if outside:
                return (
                    f"extension.roles {outside} may not extend under this pack "
                    f"(authority.extend.roles is {self.authority.extend.roles})"
                )
        return None

    def _filter_problem(self, match: EventMatch, *, per_child: bool) -> str | None:
        hints = typing.get_type_hints(VOCABULARY[match.event])
        for key, wanted in match.where.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            if MEMBER in values:
                if not per_child:
                    return f"{match.event}.{key}: '$member' is only meaningful in a per = 'child' rule"
                if key not in ("about", "children_seen", "children_seen_alone", "members_present"):
                    return f"{match.event}.{key}: '$member' can only stand in a list of members"
                values = [v for v in values if v != MEMBER]
            if key in TERM_FIELDS:
                known = self.term_ids(TERM_FIELDS[key])
                bad = [v for v in values if v not in known]
                if bad:
                    return (
                        f"{match.event}.{key}: {bad} are not in this pack's "
                        f"{TERM_FIELDS[key]} ({', '.join(known) or 'none defined'})"
                    )
                continue
            if key == "rule":
                bad = [v for v in values if v not in {r.id for r in self.rules}]
                if bad:
                    return f"{match.event}.rule: {bad} are not rules of this pack"
                continue
            if key == "actor_role":
                annotation: Any = Role
            elif key == "about":
                annotation = UUID
            else:
                annotation = hints[key]
                if typing.get_origin(annotation) is list:
                    annotation = typing.get_args(annotation)[0]
            adapter: TypeAdapter[Any] = TypeAdapter(annotation)
            for value in values:
                try:
                    adapter.validate_python(value, strict=isinstance(value, bool))
                except ValidationError as e:
                    return f"{match.event}.{key} = {value!r}: {e.errors()[0]['msg']}"
        return None

    # -- queries used by the aggregate, the engine and the API ------------------------

    def term_ids(self, vocabulary: str) -> list[str]:
        return [t.id for t in getattr(self, vocabulary)]

    def term_name(self, vocabulary: str, value: str | None) -> str:
        """The name of one of the pack's own terms (a pathway, a document...); an id the
        pack does not list reads as itself, no value as nothing."""
        if value is None:
            return ""
        names = self._term_names.get(vocabulary)
        if names is None:  # ids are unique within a vocabulary (``_consistent``)
            names = self._term_names[vocabulary] = {t.id: t.name for t in getattr(self, vocabulary)}
        return names.get(value, value)

    @functools.cached_property
    def _term_names(self) -> dict[str, dict[str, str]]:
        """Each vocabulary's names by id, filled as asked (every entry's summary asks)."""
        return {}

    def organisation(self, configured: Mapping[str, str] | None = None) -> str:
        """The organisation the returns name for this pack's families: the deployment's
        (``configured``, by pack id), else the pack's own, else its council, unless the
        council has since been reorganised: then its successors, together."""
        found = (configured or {}).get(self.id)
        if found:
            return found
        if self.returns.organisation:
            return self.returns.organisation
        if self.returns.successors:
            return " or ".join(self.returns.successors)
        return self.council

    def ssd_end_reason(self, closure_reason: str | None) -> str | None:
        """The SSD's end reason for one of the ledger's closure reasons (None: not ended)."""
        if closure_reason is None:
            return None
        return self.returns.ssd_end_reasons.get(closure_reason, "NFA")

    def may(self, power: str, role: str) -> bool:
        return role in getattr(self.authority, power).roles

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @functools.cached_property
    def timed_rules(self) -> list[Rule]:
        """The rules with clocks (worked out once: the engine asks at every event)."""
        return [r for r in self.rules if r.timed]

    @functools.cached_property
    def timed_rules_started_by(self) -> dict[str, list[Rule]]:
        """Per event type, the timed rules one of whose starts names it (in the pack's order)."""
        found: dict[str, list[Rule]] = {}
        for rule in self.timed_rules:
            for event in dict.fromkeys(m.event for m in rule.start):
                found.setdefault(event, []).append(rule)
        return found

    @functools.cached_property
    def recording_rules_for(self) -> dict[str, list[Rule]]:
        """Per event type, the recording-timeliness rules that apply to it (in the pack's
        order; a rule naming no types applies to every type: under ``""``, and in each)."""
        recording = [r for r in self.rules if r.kind == "recording"]
        types = {t for r in recording for t in r.applies_to}
        found = {t: [r for r in recording if not r.applies_to or t in r.applies_to] for t in types}
        found[""] = [r for r in recording if not r.applies_to]
        return found

    @functools.cached_property
    def ending_events(self) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
        """Per timed rule, the event types its ``stop`` and its ``until`` name: the engine
        asks at every event for every open clock, and most events name neither."""
        return {r.id: (frozenset(m.event for m in r.stop), frozenset(m.event for m in r.until))
                for r in self.timed_rules}

    @functools.cached_property
    def moving_events(self) -> dict[str, frozenset[str]]:
        """Per timed rule, every event type that can change one of its open clocks (a
        stop, an until, its pause's start and stop, an extension, a closure): the engine
        passes over an open clock for every other event."""
        moving = {}
        for rule in self.timed_rules:
            pause = self.pause_for(rule)
            pausing = {pause.start.event, pause.stop.event} if pause is not None else set()
            stops, untils = self.ending_events[rule.id]
            moving[rule.id] = stops | untils | pausing | {"DeadlineExtended", "EpisodeClosed"}
        return moving

    @property
    def oversight_interval(self) -> Rule | None:
        """The pack's standing cadence of supervision or management oversight for every
        case (a recurring rule that starts at allocation or referral), if it states one:
        the shortest, where it states several."""
        standing = ("ReferralReceived", "AllocatedToTeam", "AllocatedToWorker")
        cadences = [r for r in self.rules if r.kind == "recurring" and r.category in ("supervision", "oversight")
                    and all(m.event in standing for m in r.start)]
        if not cadences:
            return None
        days = {"hours": 1 / 24, "working_days": 7 / 5, "calendar_days": 1, "weeks": 7, "months": 30}
        return min(cadences, key=lambda r: (r.duration or 0) * days[r.unit or "calendar_days"])

    def pause_for(self, rule: Rule) -> Pause | None:
        if not rule.pausable:
            return None
        return rule.pause or self.pause

    def term_problem(self, event_type: str, fields: Mapping[str, Any]) -> tuple[str, str] | None:
        """(field, message) if a command names a pack vocabulary entry that does not exist."""
        for key, vocabulary in TERM_FIELDS.items():
            value = fields.get(key)
            if value is None or key not in payload_fields(VOCABULARY[event_type]):
                continue
            known = self.term_ids(vocabulary)
            if value not in known:
                return key, (
                    f"{key} {value!r} is not one of the {self.id} pack's {vocabulary.replace('_', ' ')}: "
                    f"{', '.join(known) or '(none)'}"
                )
        if event_type == "AgreementRecorded" and fields.get("rule") is not None:
            if self.rule(fields["rule"]) is None:
                return "rule", f"the {self.id} pack has no rule {fields['rule']!r}"
        return None

    def ordering_breaches(
        self, event_type: str, values: Mapping[str, Any],
        history: Iterable[tuple[str, Mapping[str, Any]]] | Mapping[str, Sequence[Mapping[str, Any]]],
        *, on_breach: str | None = None,
    ) -> list[tuple[Rule, str]]:
        """The ordering rules this event would break after ``history`` (the episode's
        earlier events as ``(type, values)``, or their values by type, which spares walking
        a long episode for each entry), each with why; only the rules whose breach does
        ``on_breach`` (``flag`` or ``refuse``) when it is given."""
        pathway = values.get("pathway")
        broken: list[tuple[Rule, str]] = []
        earlier: list[tuple[str, Mapping[str, Any]]] | None = None
        for rule in self.ordering_rules_after.get(event_type, ()):
            if on_breach is not None and rule.on_breach != on_breach:
                continue
            assert rule.after is not None and rule.before is not None
            if rule.pathways and pathway not in rule.pathways:
                continue
            if not matches(rule.after, event_type, values):
                continue
            before = rule.before
            candidates: Iterable[tuple[str, Mapping[str, Any]]]
            if isinstance(history, Mapping):
                candidates = ((before.event, v) for v in history.get(before.event, ()))
            else:
                if earlier is None:
                    earlier = list(history)
                candidates = earlier
            found = any(
                matches(before, t, v) and all(_same_value(v.get(c), values.get(c)) for c in rule.correlate)
                for t, v in candidates
            )
            if not found:
                same = f" for the same {', '.join(rule.correlate)}" if rule.correlate else ""
                broken.append((rule, f"{rule.title}: {before.describe()} should be recorded{same} before "
                                     f"{rule.after.describe()} (rule {rule.id}, {rule.source.cite()})"))
        return broken

    def ordering_problem(
        self, event_type: str, values: Mapping[str, Any], history: list[tuple[str, Mapping[str, Any]]],
        *, on_breach: str | None = None,
    ) -> str | None:
        """Why recording this event now would break an ordering rule (of the kind
        ``on_breach``, or any), or None."""
        broken = self.ordering_breaches(event_type, values, history, on_breach=on_breach)
        if not broken:
            return None
        rule, why = broken[0]
        if rule.on_breach == "refuse":
            return why.replace(" should be recorded", " must be recorded")
        return why

    @functools.cached_property
    def ordering_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.kind == "ordering"]

    @functools.cached_property
    def ordering_rules_after(self) -> dict[str, list[Rule]]:
        """Per event type, the ordering rules whose ``after`` names it (in the pack's order)."""
        found: dict[str, list[Rule]] = {}
        for rule in self.ordering_rules:
            if rule.after is not None:
                found.setdefault(rule.after.event, []).append(rule)
        return found

    @functools.cached_property
    def refusing_after(self) -> frozenset[str]:
        """The event types a refusing ordering rule's ``after`` names (the aggregate asks
        at every command; most commands are none of them)."""
        return frozenset(r.after.event for r in self.ordering_rules if r.after is not None and r.on_breach == "refuse")

    @functools.cached_property
    def ordering_after(self) -> frozenset[str]:
        """The event types some ordering rule's ``after`` names (the engine asks at every event)."""
        return frozenset(r.after.event for r in self.ordering_rules if r.after is not None)

    def roles_for(self, power: str) -> list[str]:
        """The roles the pack gives a power (``authority.<power>.roles``)."""
        return list(getattr(self.authority, power).roles)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, UUID) or isinstance(b, UUID):
        return str(a) == str(b)
    return bool(a == b)
