"""Deadlines: one family's clocks (from the record, as of any moment and as at any moment
of recording), and the team and worker views across open families (from the deadlines
read model, or from the record for a past ``as_of``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, NotRequired, cast
from uuid import UUID

from typing_extensions import TypedDict

from ledger.application import Ledger
from ledger.deadlines import ClockRow
from ledger.deadlines import RuleSource as RuleSource  # re-exported: the queries name a rule's source by it
from ledger.deadlines import State as State  # re-exported: the states a caller filters on
from projections import deadlines as deadline_model
from projections.projector import Projector
from queries.reading import quarantined

Clock = ClockRow
"""One rule instance of the family's pack (the deadline engine's row)."""


class LateEntry(TypedDict):
    """An entry recorded later than a recording rule allows."""

    event_id: UUID
    type: str
    rule: str
    title: str
    occurred_at: datetime
    recorded_at: datetime
    due: date | datetime
    source: RuleSource


class Breach(TypedDict):
    """A good-practice ordering rule an entry broke (ADR 0019)."""

    event_id: UUID
    type: str
    rule: str
    title: str
    on_breach: str
    reason: str
    occurred_at: datetime
    recorded_at: datetime
    source: RuleSource


class FamilyDeadlines(TypedDict):
    family_id: UUID
    as_of: datetime
    known_at: datetime | None
    policy: str
    policy_version: str
    team: str | None
    worker: str | None
    """The lead worker of the episode."""
    other_workers: NotRequired[list[str]]
    """The episode's other workers."""
    pathway: str | None
    episode_id: UUID | None
    episode_open: bool
    deadlines: list[Clock]
    late_entries: list[LateEntry]
    breaches: list[Breach]


class ListedClock(Clock):
    """A clock in a view across families, with its family's team, worker and pack."""

    family_id: UUID
    team: str | None
    worker: str | None
    policy: str
    quarantined: NotRequired[bool]
    """Present (true) where the deadlines read model holds the family back (ADR 0021)."""


Episodes = Literal["open", "closed", "any"]
"""Whose clocks a view across families lists: families whose latest episode is open
(the default: what is due), closed (what a case review asks about), or both."""


class DeadlineList(TypedDict):
    count: int
    deadlines: list[ListedClock]


def family_deadlines(ledger: Ledger, family_id: UUID, *, as_of: datetime | None = None,
                     as_at: datetime | None = None) -> FamilyDeadlines:
    """Every clock of the family's pack, as of ``as_of`` (now by default), from what had
    been recorded by ``as_at`` (everything by default)."""
    return cast(FamilyDeadlines, ledger.deadlines(family_id, as_of=as_of, known_at=as_at))


def deadlines(ledger: Ledger, projector: Projector, *, team: str | None = None, worker: str | None = None,
              states: set[str] | None = None, due_before: date | None = None,
              as_of: datetime | None = None, episodes: Episodes = "open") -> DeadlineList:
    """The clocks of every open family (one team's, one worker's; ``episodes``: of closed
    families, or both), soonest due first.
    Read from the deadlines read model; with ``as_of`` (a moment in the past), evaluated
    from the record instead, so states are as they stood then."""
    rows: list[dict[str, Any]]
    if as_of is None:
        with projector.reading("deadlines") as tx:
            rows = deadline_model.view(tx, now=ledger.clock(), sealer=projector.sealer, team=team, worker=worker,
                                       states=states, due_before=due_before, episodes=episodes)
        held = {h["family_id"] for h in quarantined(projector, ("deadlines",))}
        for row in rows:
            if row["family_id"] in held:
                row["quarantined"] = True
    else:
        rows = ledger.deadline_view(team=team, worker=worker, states=states, due_before=due_before, as_of=as_of,
                                    episodes=episodes)
    return DeadlineList(count=len(rows), deadlines=cast(list[ListedClock], rows))
