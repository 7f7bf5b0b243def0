"""Legal holds as events: the register of every hold placed and lifted.

A legal hold stops erasure (an inquiry froze councils' deletions for years). Holds are
kept as events of one aggregate, the hold register, in the same events table and hash
chain as the families: a hold cannot be placed, lifted or removed except by an event,
and an event removed or altered in the database breaks the chain (``ledger verify``).
The register is not a family: the read models and the feed pass its events over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

REGISTER_ID = uuid5(UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"), "early-help-ledger:legal-holds")
"""The one hold register of a ledger (the same id in every deployment)."""
ALL = "all"


class HoldRegister(Aggregate):
    """Every legal hold of the ledger: on one family (its hex id) or on all of them."""

    class Opened(Aggregate.Created):
        pass

    class Placed(Aggregate.Event):
        hold_id: UUID
        scope: str
        reason: str
        placed_by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.holds[self.hold_id.hex] = {
                "hold_id": self.hold_id.hex, "scope": self.scope, "reason": self.reason,
                "placed_by": self.placed_by, "placed_at": _at(self.timestamp),
                "lifted_by": None, "lifted_at": None}

    class Lifted(Aggregate.Event):
        hold_id: UUID
        lifted_by: str

        def apply(self, aggregate: Any) -> None:
            hold = aggregate.holds[self.hold_id.hex]
            hold.update(lifted_by=self.lifted_by, lifted_at=_at(self.timestamp))

    def __init__(self) -> None:
        self.holds: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(cls, at: datetime) -> HoldRegister:
        return cls._create(cls.Opened, id=REGISTER_ID, timestamp=at)

    def in_force(self, scope: str) -> dict[str, Any] | None:
        return next((h for h in self.holds.values() if h["scope"] == scope and h["lifted_at"] is None), None)

    def place(self, *, hold_id: UUID, scope: str, reason: str, by: str, at: datetime) -> dict[str, Any]:
        found = self.in_force(scope)
        if found is not None:
            return found
        self.trigger_event(self.Placed, hold_id=hold_id, scope=scope, reason=reason, placed_by=by, timestamp=at)
        return self.holds[hold_id.hex]

    def lift(self, *, scope: str, by: str, at: datetime) -> dict[str, Any] | None:
        found = self.in_force(scope)
        if found is None:
            return None
        self.trigger_event(self.Lifted, hold_id=UUID(found["hold_id"]), lifted_by=by, timestamp=at)
        return self.holds[found["hold_id"]]


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")
