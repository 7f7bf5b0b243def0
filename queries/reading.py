"""Reading the read models: read-your-writes, and the families a read model holds back.

Every read of a projection accepts ``min_position``: the position a command returned. The
read waits (up to ``WAIT_SECONDS``) until the read models have processed it, so a caller
always sees its own writes even when a separate worker projects (ADR 0011); with the
embedded default they are already there.
"""

from __future__ import annotations

from uuid import UUID

from typing_extensions import TypedDict

from aggregates.errors import InvalidCommand
from ledger.application import Ledger
from ledger.moments import instant
from projections.projector import ProjectionsBehind, Projector

WAIT_SECONDS = 5.0
MAX_POSITION = 2**63 - 1
"""The largest position a database can hold (a 64-bit integer); past it a query would overflow."""


class InvalidQuery(InvalidCommand):
    """A read asked for something that cannot be answered as asked (422)."""

    title = "Invalid request"


class ReadModelsBehind(ProjectionsBehind):
    """The read models did not reach a position in time (503: retry shortly)."""

    def __init__(self, behind: ProjectionsBehind) -> None:
        super().__init__(behind.position, behind.reached)
        self.detail = f"{behind}; retry shortly (the projection worker may be stopped)"


def caught_up(ledger: Ledger, projector: Projector, min_position: int | None = None) -> Projector:
    """The projector, once it has processed ``min_position`` (a position a command
    returned): a read through it sees that command's write."""
    if min_position:
        latest = ledger.recorder.max_notification_id() or 0
        if min_position > latest:
            # No command has returned it yet, so no wait would see it: say so now rather
            # than hold the request for WAIT_SECONDS and then answer 503.
            raise InvalidQuery(f"min_position {min_position} is beyond the ledger's latest position {latest}: "
                               "pass the position a command returned", field="min_position")
        try:
            projector.wait_for(min_position, timeout=WAIT_SECONDS)
        except ProjectionsBehind as e:
            raise ReadModelsBehind(e) from None
    return projector


class Quarantined(TypedDict):
    """A read model holding a family's rows back (ADR 0021): its rows there stop before
    this event, which could not be applied."""

    family_id: UUID
    read_model: str
    position: int | None
    event_id: UUID | None
    event_type: str | None
    since: str
    """When it was held back (``2026-03-02T09:15:00.000000Z``: ADR 0036)."""
    error: str


def quarantined(projector: Projector, models: tuple[str, ...], family_id: UUID | None = None) -> list[Quarantined]:
    """The read models among ``models`` that hold a family back, for one family or all."""
    rows = projector.store.quarantine_rows(family_id.hex if family_id else None)
    return [Quarantined(family_id=UUID(r["family_id"]), read_model=r["model"], position=r["position"],
                        event_id=r["event_id"] and UUID(r["event_id"]), event_type=r["event_type"],
                        since=instant(r["at"]), error=r["error"]) for r in rows if r["model"] in models]
