"""Caseloads and management oversight: who is carrying how many families against their
packs' caps, every decision by a supervisor or manager with who and when, the families
with no oversight within their pack's interval, and who has a footprint on a case."""

from __future__ import annotations

from typing import NotRequired, cast
from uuid import UUID

from typing_extensions import TypedDict

from aggregates.errors import InvalidCommand
from ledger.application import Ledger
from projections import caseloads as caseload_model
from projections import deadlines as deadline_model
from projections import oversight as oversight_model
from projections.chronology import Describe
from projections.projector import Projector
from queries.chronology import FlaggedBreach
from queries.deadlines import RuleSource
from queries.reading import Quarantined, quarantined

# -- caseloads --------------------------------------------------------------------------------


class WorkerCaseload(TypedDict):
    worker: str
    worker_name: str
    """The worker as a person reads them: "Sam Jones, Family Support Worker" (ADR 0030)."""
    families: int
    children: int
    max_families: int | None
    max_children: int | None
    """The lowest cap of the packs the worker's families are worked under (None: no cap)."""
    policies: list[str]
    over_cap: bool
    over: list[str]


class TeamCaseload(TypedDict):
    team: str
    families: int
    children: int
    unallocated: int
    """Open families with no worker allocated."""
    workers: list[WorkerCaseload]


class OverCap(TypedDict):
    team: str
    worker: str
    worker_name: str
    over: list[str]


class Caseloads(TypedDict):
    teams: list[TeamCaseload]
    over_cap: list[OverCap]


def caseloads(ledger: Ledger, projector: Projector, team: str | None = None) -> Caseloads:
    """Open families and children per worker and team (one team's, or every team's)."""
    with projector.reading("caseloads") as tx:
        found = caseload_model.view(tx, ledger.packs, team)
    for t in found["teams"]:
        t["workers"] = [{**w, "worker_name": ledger.describe(w["worker"]).text} for w in t["workers"]]
    found["over_cap"] = [{**o, "worker_name": ledger.describe(o["worker"]).text} for o in found["over_cap"]]
    return cast(Caseloads, found)


# -- oversight --------------------------------------------------------------------------------


class By(TypedDict):
    user_id: str
    name: str
    """Who, as a person reads them: "Sam Jones, Team Manager" (ADR 0030)."""
    role: str
    team: str | None


class OversightDecision(TypedDict):
    """A decision recorded by a supervisor or manager."""

    event_id: UUID
    family_id: UUID
    type: str
    kind: str | None
    occurred_at: str
    recorded_at: str
    by: By
    summary: str


class Footprint(TypedDict):
    """Someone's entries on a family: their role, the first and the last, how many."""

    user_id: str
    name: str
    """Who, as a person reads them (the staff directory's name, ADR 0030)."""
    role: str
    first_at: str
    last_at: str
    entries: int


class Interval(TypedDict):
    rule: str
    duration: int
    unit: str
    source: RuleSource


class Gap(TypedDict):
    """Why an open family lacks oversight."""

    reason: str
    interval: Interval | None
    due: str | None


class Independence(TypedDict):
    """Whether an auditor has no footprint on the family (and so may audit it)."""

    auditor: str
    independent: bool
    footprint: list[Footprint]


class DatedBreach(FlaggedBreach):
    event_id: UUID


class FamilyOversight(TypedDict):
    family_id: UUID
    team: str | None
    open: bool
    last_oversight_at: str | None
    gap: Gap | None
    decisions: list[OversightDecision]
    footprints: list[Footprint]
    independence: NotRequired[Independence]
    """Present when an auditor is named (or the caller is one)."""
    breaches: list[DatedBreach]
    quarantined: list[Quarantined]


class ManagedFamily(TypedDict):
    family_id: UUID
    decisions: list[OversightDecision]


class ManagerFootprint(TypedDict):
    manager: str
    manager_name: str
    """The manager as a person reads them (ADR 0030)."""
    decisions: int
    families: list[ManagedFamily]


class AuditorFamily(TypedDict):
    family_id: UUID
    role: str
    first_at: str
    last_at: str
    entries: int


class AuditorFootprint(TypedDict):
    auditor: str
    footprint: list[AuditorFamily]


class FamilyGap(Gap):
    family_id: UUID
    team: str
    policy: str
    opened_at: str | None
    last_oversight_at: str | None


class OversightGaps(TypedDict):
    team: str | None
    count: int
    gaps: list[FamilyGap]


FAMILY_MODELS = ("oversight", "chronology", "deadlines")


def family_oversight(ledger: Ledger, projector: Projector, family_id: UUID, *,
                     auditor: str | None = None) -> FamilyOversight:
    """Every management decision on the family with who and when, the people with a
    footprint on it, its oversight gap, its practice breaches, and (for ``auditor``)
    whether that person is independent of it."""
    ledger.family(family_id)  # 404 if there is no such family
    held = quarantined(projector, FAMILY_MODELS, family_id)
    with projector.reading(*FAMILY_MODELS) as tx:
        found = oversight_model.family_view(tx, family_id, ledger.packs, ledger.clock(), projector.sealer,
                                            auditor=auditor, staff=ledger.describe)
        breaches = [{"event_id": UUID(event), **b} for event, listed in
                    deadline_model.breaches(tx, family_id).items() for b in listed]
    return cast(FamilyOversight, {**found, "breaches": breaches, "quarantined": held})


def manager_footprint(projector: Projector, manager: str, *, team: str | None = None,
                      staff: Describe | None = None) -> ManagerFootprint:
    """One manager's decisions across families, family by family; with ``team``, on the
    families that team holds now only; people named by ``staff`` (``Ledger.describe``)."""
    with projector.reading("oversight", "chronology") as tx:
        return cast(ManagerFootprint, oversight_model.manager_view(tx, manager, projector.sealer, team, staff))


def auditor_footprint(projector: Projector, auditor: str, *, team: str | None = None) -> AuditorFootprint:
    """The families a person has a footprint on (the cases they may not audit); with
    ``team``, those the team holds now only."""
    with projector.reading("oversight", "chronology") as tx:
        prints = oversight_model.auditor_view(tx, auditor, team)
    return AuditorFootprint(auditor=auditor, footprint=cast(list[AuditorFamily], prints))


def oversight_gaps(ledger: Ledger, projector: Projector, *, team: str | None = None) -> OversightGaps:
    """Open families with no oversight or supervision within their pack's interval."""
    with projector.reading("oversight", "chronology") as tx:
        found = oversight_model.gaps_view(tx, ledger.packs, ledger.clock(), team)
    return OversightGaps(team=team, count=len(found), gaps=cast(list[FamilyGap], found))


def one_question(manager: str | None, gaps: bool, auditor: str | None) -> None:
    """``/oversight`` answers one question at a time: a manager's footprint, the gaps, or
    an auditor's footprint."""
    if sum(x is not None for x in (manager, gaps or None, auditor)) != 1:
        raise InvalidCommand("ask for exactly one of manager=, gaps=true or auditor=", field="query")
