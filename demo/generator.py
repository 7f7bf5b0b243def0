"""Running every family's story on one timeline, through the real command path.

``generate(settings, families=N, seed=S)`` records N synthetic families through the real
command path (``Ledger.register_family`` and ``Ledger.record``), so the aggregate's
invariants and each pack's authority and ordering rules check every command; a refused
command is a bug here and stops the run with the family, the command and the reason.

How it works:

- Each family is a *story*: a small discrete-event simulation of one household (its
  members, its council's pathway, its teams and workers) that yields the commands it
  records, in the order they happened. Stories are written per pack, from the packs'
  own walk-throughs (``tests/test_pack_*.py``): front door, allocation, consent,
  assessment, plans and meetings, visits, supervision and oversight, closure in the
  pack's order, and the mix a real service has (late work, missed work, extensions,
  a Section 47 pause, step-ups and step-downs, transfers, re-referrals, corrections,
  expected babies, entries typed up days late).
- Every story runs over simulated months ending now. The loader opens its own ``Ledger``
  with the stories' recording clock (``clock=``) and a seeded id source (``new_id=``):
  each command is recorded at its simulated ``recorded_at``, mostly within the hour of
  ``occurred_at``, sometimes days later (late entries). All stories are interleaved on one global timeline, so
  recording times never go backwards and positions follow time, as in a live service.
- Deterministic: the stories draw from ``random.Random`` seeded by the seed and the
  family's number, and the ids come from a seeded source, so a seed gives the same
  events, ids included (for the same ``until``: by default, the start of today in
  London).
- Linear: only the families whose stories are running are held in memory; each command
  costs one ``Ledger.record``.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aggregates.errors import LedgerError
from aggregates.events import VOCABULARY, payload_fields
from demo.durham import Durham
from demo.haringey import Haringey
from demo.leicestershire import Leicestershire
from demo.northamptonshire import Northamptonshire
from demo.southampton import Southampton
from demo.staff import staff_directory, staff_teams, team_name
from demo.story import Step, Story, at
from ledger.application import Ledger
from ledger.calendar import WorkingCalendar, london_date
from ledger.clock import utc_now

if TYPE_CHECKING:
    from ledger.application import Recorded
    from ledger.policies.schema import Pack
    from ledger.settings import Settings

WINDOW_DAYS = 450
"""How far back the simulated history starts (about fifteen months)."""
CACHED_FAMILIES = 20_000
"""Families kept in memory between their commands while loading (the ones being worked)."""


STORIES: dict[str, type[Story]] = {
    cls.pack_id: cls for cls in (Durham, Haringey, Northamptonshire, Leicestershire, Southampton)}
PACK_ORDER = tuple(STORIES)

# The first families of every run carry the mix between them, so even a small run shows
# it: (pack index, features). Later families draw their features at random.
GUARANTEED: tuple[frozenset[str], ...] = tuple(frozenset(f) for f in (
    {"extension", "late_recording", "correction"},            # Durham: IFST assessment extended
    {"step_down", "transfer", "late_recording"},              # Haringey: stepped down from social care, transferred
    {"pause", "extension", "correction"},                     # Northamptonshire: Section 47 pause, longer intervention
    {"rereferral", "transfer", "late_work"},                  # Leicestershire: transferred, re-referred
    {"rereferral", "late_recording", "extension"},            # Southampton: closure actions extended, re-referred
    {"step_down", "rereferral", "neglect"},                   # Durham: IFST stepped down to a Family Hub
    {"step_up", "late_work", "correction"},                   # Haringey: stepped up to social care
    {"rereferral", "step_up", "late_work"},                   # Northamptonshire: stepped up, re-referred
    {"extension", "neglect", "expected_baby"},                # Leicestershire: a baby on the way
    {"transfer", "neglect", "correction", "late_recording"},  # Southampton: transferred with a summary
))
RANDOM_FEATURES = (("late_work", 0.22), ("neglect", 0.1), ("late_recording", 0.2), ("extension", 0.12),
                   ("pause", 0.12), ("transfer", 0.08), ("step_up", 0.06), ("step_down", 0.1),
                   ("rereferral", 0.15), ("correction", 0.15), ("expected_baby", 0.06))


# --- running every story on one timeline ---------------------------------------------------------------


@dataclass(eq=False)
class _Running:
    """A story being recorded: its next step and the family id once registered."""

    index: int
    pack: str
    story: Story
    steps: Iterator[Step]
    family_id: UUID | None = None
    events: int = 0
    erased: bool = False


def recording_order(steps: Iterator[Step], until: datetime) -> Iterator[Step]:
    """A story's steps in the order they are recorded: entries typed up late wait until
    their ``recorded_at`` (or until the episode closes); the family's recording clock
    never goes backwards; what would be typed up after ``until`` is not recorded yet."""
    waiting: list[tuple[datetime, int, Step]] = []
    order = itertools.count()
    last: datetime | None = None

    def release(step: Step, cap: datetime | None = None) -> Step:
        nonlocal last
        if cap is not None and step.recorded_at > cap:
            step.recorded_at = cap
        if last is not None and step.recorded_at < last:
            step.recorded_at = last
        last = step.recorded_at
        return step

    for step in steps:
        if step.deferred:
            heapq.heappush(waiting, (step.recorded_at, next(order), step))
            continue
        while waiting and (step.barrier or waiting[0][0] <= step.recorded_at):
            yield release(heapq.heappop(waiting)[2], step.recorded_at)
        yield release(step)
    while waiting:
        late = heapq.heappop(waiting)[2]
        if late.recorded_at < until:
            yield release(late)


def generate(settings: Settings, *, families: int, seed: int, until: datetime | None = None,
             packs: dict[str, Pack] | None = None, erasures: float = 0.0,
             on_progress: Callable[[int, int], None] | None = None,
             on_recorded: Callable[[Recorded], None] | None = None) -> dict[str, Any]:
    """Record ``families`` synthetic families through the real command path; a summary.

    The history runs over the fifteen months before ``until`` (default: the start of
    today in London). The families are recorded by a ``Ledger`` of their own, opened on
    ``settings`` (and ``packs``, default the configured ones) with the stories' clock and
    a seeded id source, as the database's only writer while it runs, and closed after.
    ``on_progress(done, families)`` is called as each family's story ends, ``on_recorded``
    after each command is stored (as ``Ledger.listeners`` are). ``erasures``: the share of
    the families whose story ends with every episode closed that ask, there and then, for
    their personal data to be erased (``Ledger.erase``; none by default)."""
    if families < 1:
        raise ValueError("families must be at least 1")
    if not 0.0 <= erasures <= 1.0:
        raise ValueError("erasures must be a share from 0 to 1")
    if until is None:
        until = at(london_date(utc_now()), 0)
    if until.tzinfo is None:
        raise ValueError("until must be timezone-aware")
    now = [until]
    id_source = random.Random(f"{seed}:ids")
    first_family = uuid.UUID(int=random.Random(f"{seed}:ids").getrandbits(128), version=4)
    # The loader is the database's only writer while it runs, so the families being worked
    # are kept in memory between their commands (the library's aggregate cache, brought up
    # to date from the store before each command) instead of being replayed for each one.
    cache = max(settings.family_cache, CACHED_FAMILIES)
    ledger = Ledger(settings.model_copy(update={"family_cache": cache}), packs=packs, clock=lambda: now[0],
                    new_id=lambda: uuid.UUID(int=id_source.getrandbits(128), version=4), only_writer=True)
    if on_recorded is not None:
        ledger.listeners.append(on_recorded)
    try:
        if next(iter(ledger.events.get(first_family, limit=1)), None) is not None:
            raise DemoAlreadyLoaded(f"this database already holds the demo families of seed {seed}: "
                                    "use another seed or an empty database")
        return _record_stories(ledger, now, families=families, seed=seed, until=until, erasures=erasures,
                               on_progress=on_progress)
    finally:
        ledger.close()


def _record_stories(ledger: Ledger, now: list[datetime], *, families: int, seed: int, until: datetime,
                    erasures: float, on_progress: Callable[[int, int], None] | None) -> dict[str, Any]:
    """Every family's story on one timeline, each step recorded at its moment (``now``)."""
    packs = [p for p in PACK_ORDER if p in ledger.packs]
    if not packs:
        raise ValueError(f"none of the demo's packs ({', '.join(PACK_ORDER)}) is loaded")
    horizon = until - timedelta(days=1)
    per_pack = Counter(packs[i % len(packs)] for i in range(families))
    teams = {p: staff_teams(p, per_pack[p]) for p in packs}
    for p in packs:  # the teams the families are registered for and transferred to
        for team in teams[p]:
            if ledger.teams.get(team.id) is None:
                ledger.teams.add(team.id, name=team_name(team.id, ledger.packs[p].council), by="demo")
        # Their staff by name and job title (ADR 0030): the entries name them, not their ids.
        ledger.staff.put_all(staff_directory(p, teams[p], seed), actor="demo")

    # Who each family is and when its story starts (cheap; the stories are built on demand).
    plans: list[tuple[datetime, int, str, int, frozenset[str]]] = []
    first_day = london_date(until) - timedelta(days=WINDOW_DAYS)
    for i in range(families):
        pack = packs[i % len(packs)]
        rng = random.Random(f"{seed}:{i}:plan")
        if i < len(GUARANTEED) and len(packs) == len(PACK_ORDER):
            features = GUARANTEED[i]
            offset = rng.randint(10, 90)
        else:
            features = frozenset(name for name, p in RANDOM_FEATURES if rng.random() < p)
            if pack != "northamptonshire-0-19":
                features -= {"pause"}
            if "rereferral" in features:
                offset = rng.randint(0, WINDOW_DAYS // 2)
            elif rng.random() < 0.3:  # the newest referrals: the open caseload of today
                offset = rng.randint(WINDOW_DAYS - 120, WINDOW_DAYS - 3)
            else:
                offset = rng.randint(0, WINDOW_DAYS - 3)
        day = first_day + timedelta(days=offset)
        calendar = WorkingCalendar.with_closures(ledger.packs[pack].closure_days)
        while not calendar.is_working_day(day):
            day += timedelta(days=1)
        start = at(day, rng.randint(9 * 60, 15 * 60))
        plans.append((start, i, pack, (i // len(packs)) % len(teams[pack]), features))
    plans.sort(key=lambda p: (p[0], p[1]))

    counts: Counter[str] = Counter()
    by_pack: Counter[str] = Counter()
    staff: dict[str, set[str]] = {p: set() for p in packs}
    used_teams: dict[str, set[str]] = {p: set() for p in packs}
    late_entries = episodes = done = 0
    finished: list[_Running] = []
    queue: list[tuple[datetime, int, int, Step, _Running]] = []
    order = itertools.count()
    waiting = iter(plans)
    upcoming = next(waiting, None)
    started = time.perf_counter()
    while queue or upcoming is not None:
        while upcoming is not None and (not queue or upcoming[0] <= queue[0][0]):
            start, i, pack, team_index, features = upcoming
            story = STORIES[pack](index=i, seed=seed, pack=ledger.packs[pack], teams=teams[pack],
                                  team=teams[pack][team_index], start=start, horizon=horizon, features=features)
            running = _Running(i, pack, story, recording_order(story.run(), until))
            first = next(running.steps, None)
            if first is not None:
                heapq.heappush(queue, (first.recorded_at, i, next(order), first, running))
            upcoming = next(waiting, None)
        if not queue:
            break
        _, _, _, step, running = heapq.heappop(queue)
        now[0] = step.recorded_at
        _record(ledger, running, step)
        counts[step.type] += 1
        staff[running.pack].add(step.actor["user_id"])
        used_teams[running.pack].add(step.actor["team"])
        late_entries += step.deferred
        following = next(running.steps, None)
        if following is not None:
            heapq.heappush(queue, (following.recorded_at, running.index, next(order), following, running))
        else:
            if _link(ledger, running, finished, now[0]):
                counts["FamiliesLinked"] += 2
            if erasures and random.Random(f"{seed}:{running.index}:erasure").random() < erasures \
                    and _erase(ledger, running):
                counts["PersonalDataErased"] += 1
            finished.append(running)
            done += 1
            by_pack[running.pack] += 1
            episodes += running.story.episodes
            if on_progress is not None:
                on_progress(done, families)
    seconds = time.perf_counter() - started
    events = sum(counts.values())
    return {
        "seed": seed,
        "families": families,
        "families_per_pack": dict(sorted(by_pack.items())),
        "events": events,
        "episodes_opened": counts["ReferralReceived"],
        "episodes_closed": counts["EpisodeClosed"],
        "re_referrals": episodes - families,
        "teams_per_pack": {p: len(used_teams[p]) for p in packs},
        "staff_per_pack": {p: len(staff[p]) for p in packs},
        "entries_recorded_late": late_entries,
        "from": first_day.isoformat(),
        "until": until.isoformat(),
        "event_types": dict(sorted(counts.items())),
        "seconds": round(seconds, 3),
        "events_per_second": round(events / seconds, 1) if seconds else None,
        "families_per_second": round(families / seconds, 2) if seconds else None,
    }


_DEFAULTS: dict[str, dict[str, Any]] = {}


def _defaults(type_name: str) -> dict[str, Any]:
    """A command's optional fields with their defaults, as the API sends them."""
    found = _DEFAULTS.get(type_name)
    if found is None:
        import dataclasses

        found = {}
        for name, f in payload_fields(VOCABULARY[type_name]).items():
            if f.default is not dataclasses.MISSING:
                found[name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                found[name] = f.default_factory
        _DEFAULTS[type_name] = found
    return found


def _record(ledger: Ledger, running: _Running, step: Step) -> None:
    """One step through the real command path; a refusal is a bug in the story."""
    fields: dict[str, Any] = {k: (v.event_id if isinstance(v, Step) else v) for k, v in step.fields.items()}
    try:
        if step.type == "FamilyRegistered":
            recorded = ledger.register_family(policy=fields["policy"], team=fields["team"], members=fields["members"],
                                              actor=step.actor, occurred_at=step.occurred_at)
            running.family_id = recorded.family_id
        else:
            assert running.family_id is not None
            for name, default in _defaults(step.type).items():
                if name not in fields:
                    fields[name] = default() if callable(default) else default
            recorded = ledger.record(running.family_id, step.type, fields, actor=step.actor,
                                     occurred_at=step.occurred_at, about=step.about, context=step.context)
    except LedgerError as e:
        raise DemoRefused(
            f"demo family {running.index} ({running.pack}, {running.family_id}): {step.type} by "
            f"{step.actor['user_id']} ({step.actor['role']}) occurred {step.occurred_at.isoformat()}, "
            f"recorded {step.recorded_at.isoformat()}, was refused: {e}"
        ) from e
    step.event_id = recorded.event_id
    running.events += 1


LINK_EVERY = 10
"""One family in ten whose story ends is found to belong with the one before it (a
household registered twice, by two routes, before the match was seen)."""


def _link(ledger: Ledger, running: _Running, finished: list[_Running], when: datetime) -> bool:
    """Link the family whose story just ended with the last of its council's to end, as a
    manager of the team holding it finds they are one household (``FamiliesLinked``,
    recorded on both)."""
    same = next((f for f in reversed(finished) if f.pack == running.pack and f.family_id is not None
                 and not f.erased), None)
    if len(finished) % LINK_EVERY != 1 or running.family_id is None or same is None:
        return False
    manager = running.story.team.manager
    try:
        ledger.record(running.family_id, "FamiliesLinked", {
            "linked_family_id": same.family_id,
            "reason": "The same household was referred by two routes and registered twice before the match "
                      "was seen; both records kept and linked"}, actor=manager, occurred_at=when)
    except LedgerError as e:
        raise DemoRefused(f"demo family {running.index} ({running.pack}, {running.family_id}): FamiliesLinked by "
                          f"{manager['user_id']} was refused: {e}") from e
    return True


ERASED_BY: dict[str, Any] = {"user_id": "demo-records-officer", "role": "admin", "team": None}
"""Who erases a family on its request: the council's records officer, an admin."""


def _erase(ledger: Ledger, running: _Running) -> bool:
    """Erase the family whose story just ended, on its own request (UK GDPR Art. 17), if
    its last episode is closed (the ledger refuses it while one is open): whether it was."""
    assert running.family_id is not None
    episode = ledger.family(running.family_id).current_episode
    if episode is None or episode["status"] != "closed":
        return False
    try:
        ledger.erase(running.family_id, actor=ERASED_BY, reason="erasure-request",
                     legal_basis="UK GDPR Art. 17(1)(a): no longer necessary for the purpose")
    except LedgerError as e:
        raise DemoRefused(f"demo family {running.index} ({running.pack}, {running.family_id}): the erasure "
                          f"was refused: {e}") from e
    running.erased = True
    return True


class DemoAlreadyLoaded(ValueError):
    """The seed's families are already in the database (ids are the seed's: they would clash)."""


class DemoRefused(RuntimeError):
    """The ledger refused a demo command: the generator, not the ledger, is wrong."""
