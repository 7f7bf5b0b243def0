"""Legal holds: families whose record must not be erased, whatever their retention says.

A hold is placed on one family or on every family (``all``, e.g. while a public inquiry
or litigation hold is in force), with a reason, by an admin. Holds are events of the hold
register (``aggregates/holds.py``) in the ledger's own events table and hash chain, so no
hold is placed, lifted or deleted without its event (ADR 0013). Lifting a hold keeps its
history (who lifted it and when). While a hold is in force ``Ledger.erase`` refuses and
``GET /retention/due`` marks the family held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError

from aggregates.holds import ALL, REGISTER_ID, HoldRegister
from ledger.moments import instant

if TYPE_CHECKING:
    from ledger.application import Ledger


def scope_of(family_id: UUID | None) -> str:
    return ALL if family_id is None else family_id.hex


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {"hold_id": row["hold_id"], "family_id": None if row["scope"] == ALL else str(UUID(row["scope"])),
            "all_families": row["scope"] == ALL, "reason": row["reason"], "placed_by": row["placed_by"],
            "placed_at": instant(row["placed_at"]), "lifted_by": row["lifted_by"],
            "lifted_at": instant(row["lifted_at"])}


class LegalHolds:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def register(self) -> HoldRegister:
        try:
            found: MutableOrImmutableAggregate[UUID] = self.ledger.repository.get(REGISTER_ID)
        except AggregateNotFoundError:
            return HoldRegister.open(self.ledger.now())
        assert isinstance(found, HoldRegister)
        return found

    def _change(self, change: Any) -> Any:
        for _ in range(8):  # another process placing or lifting at the same moment: read again
            register = self.register()
            result = change(register)
            if all(isinstance(e, HoldRegister.Opened) for e in register.pending_events):
                return result  # nothing placed or lifted: the register is not even opened
            try:
                self.ledger.save(register)
                return result
            except IntegrityError:
                continue
        raise RuntimeError("the hold register kept changing; retry")

    def place(self, family_id: UUID | None, *, reason: str, by: str) -> dict[str, Any]:
        """Hold one family (or every family, ``None``); an existing hold is returned as is."""
        return _shown(self._change(lambda r: r.place(hold_id=self.ledger.new_id(), scope=scope_of(family_id),
                                                     reason=reason, by=by, at=self.ledger.now())))

    def lift(self, family_id: UUID | None, *, by: str) -> dict[str, Any] | None:
        """Lift the hold in force on this scope; None if there is none."""
        found = self._change(lambda r: r.lift(scope=scope_of(family_id), by=by, at=self.ledger.now()))
        return None if found is None else _shown(found)

    def holding(self, family_id: UUID) -> dict[str, Any] | None:
        """The hold in force on this family (its own, or one on every family), if any."""
        register = self.register()
        found = [h for h in (register.in_force(family_id.hex), register.in_force(ALL)) if h is not None]
        return _shown(min(found, key=lambda h: h["placed_at"])) if found else None

    def in_force(self) -> list[dict[str, Any]]:
        return [_shown(h) for h in self._ordered() if h["lifted_at"] is None]

    def history(self) -> list[dict[str, Any]]:
        return [_shown(h) for h in self._ordered()]

    def _ordered(self) -> list[dict[str, Any]]:
        return sorted(self.register().holds.values(), key=lambda h: (h["placed_at"], h["hold_id"]))
