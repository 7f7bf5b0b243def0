"""Legal holds: families whose record must not be erased, whatever their retention says.

A hold is placed on one family or on every family (``scope = "all"``, e.g. while a
public inquiry or litigation hold is in force), with a reason, by an admin. Lifting a
hold keeps its row (who lifted it and when), so the holds' own history is kept. While a
hold is in force ``Ledger.erase`` refuses and ``GET /retention/due`` marks the family held.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from ledger.clock import Clock, stamp, utc_now
from ledger.sql import Database

TABLE = "legal_holds"
DDL = [
    "CREATE TABLE {legal_holds} (hold_id TEXT PRIMARY KEY, scope TEXT NOT NULL, reason TEXT NOT NULL, "
    "placed_by TEXT NOT NULL, placed_at TEXT NOT NULL, lifted_by TEXT, lifted_at TEXT)",
    "CREATE INDEX legal_holds_scope ON {legal_holds} (scope, lifted_at)",
]
ALL = "all"


def scope_of(family_id: UUID | None) -> str:
    return ALL if family_id is None else family_id.hex


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {"hold_id": row["hold_id"], "family_id": None if row["scope"] == ALL else str(UUID(row["scope"])),
            "all_families": row["scope"] == ALL, "reason": row["reason"], "placed_by": row["placed_by"],
            "placed_at": row["placed_at"], "lifted_by": row["lifted_by"], "lifted_at": row["lifted_at"]}


class LegalHolds:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db, self.clock = db, clock
        db.create(TABLE, DDL)

    def _tx(self, commit: bool = True) -> Any:
        return self.db.transaction({TABLE: self.db.table(TABLE)}, commit=commit)

    def place(self, family_id: UUID | None, *, reason: str, by: str) -> dict[str, Any]:
        """Hold one family (or every family, ``None``); an existing hold is returned as is."""
        scope = scope_of(family_id)
        with self._tx() as tx:
            found = tx.one("SELECT * FROM {legal_holds} WHERE scope = ? AND lifted_at IS NULL", (scope,))
            if found is not None:
                return _shown(found)
            row = {"hold_id": uuid4().hex, "scope": scope, "reason": reason, "placed_by": by,
                   "placed_at": stamp(self.clock), "lifted_by": None, "lifted_at": None}
            tx.run("INSERT INTO {legal_holds} VALUES (?,?,?,?,?,?,?)", tuple(row.values()))
        return _shown(row)

    def lift(self, family_id: UUID | None, *, by: str) -> dict[str, Any] | None:
        """Lift the hold in force on this scope; None if there is none."""
        scope = scope_of(family_id)
        with self._tx() as tx:
            found = tx.one("SELECT * FROM {legal_holds} WHERE scope = ? AND lifted_at IS NULL", (scope,))
            if found is None:
                return None
            tx.run("UPDATE {legal_holds} SET lifted_by = ?, lifted_at = ? WHERE hold_id = ?",
                   (by, stamp(self.clock), found["hold_id"]))
            found.update(lifted_by=by, lifted_at=stamp(self.clock))
        return _shown(found)

    def holding(self, family_id: UUID) -> dict[str, Any] | None:
        """The hold in force on this family (its own, or one on every family), if any."""
        with self._tx(commit=False) as tx:
            found = tx.one("SELECT * FROM {legal_holds} WHERE scope IN (?, ?) AND lifted_at IS NULL "
                           "ORDER BY placed_at LIMIT 1", (family_id.hex, ALL))
        return None if found is None else _shown(found)

    def in_force(self) -> list[dict[str, Any]]:
        return [_shown(r) for r in self._rows("WHERE lifted_at IS NULL")]

    def history(self) -> list[dict[str, Any]]:
        return [_shown(r) for r in self._rows("")]

    def _rows(self, where: str) -> list[dict[str, Any]]:
        with self._tx(commit=False) as tx:
            return tx.rows(f"SELECT * FROM {{legal_holds}} {where} ORDER BY placed_at, hold_id")

