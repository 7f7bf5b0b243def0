"""What a read model is: the tables it owns, the events it handles, the rows they make.

Each read model module (``chronology``, ``deadlines``, ``caseloads``, ``oversight``)
defines one ``ReadModel``: its name (its tracking key), its tables and their DDL, and
``apply``, which turns a batch of events into row changes inside the projector's
transaction. Queries over its rows live in the same module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from aggregates import state
from aggregates.events import FamilyEvent
from aggregates.state import FamilyState
from ledger.moments import instant
from ledger.policies.schema import Pack
from ledger.sql import Tx
from projections.sealed import Sealer, unsealed


@dataclass(frozen=True)
class Change:
    """An event and its position in the global order (its notification id)."""

    position: int
    event: FamilyEvent


@dataclass
class Context:
    """What a read model may consult while applying a batch."""

    packs: dict[str, Pack]
    family_events: Callable[[UUID], list[FamilyEvent]]
    """The family's whole stream, as recorded so far (for models that re-derive per family)."""
    rebuilding: bool = False
    """A rebuild: each family is derived once, whole, so nothing is kept for the next
    batch (the deadlines model's progress, ADR 0016)."""
    sealer: Sealer = field(default_factory=unsealed)
    """Seals the personal columns under each family's key (``projections/sealed.py``)."""
    ciphers: dict[str, Any] = field(default_factory=dict, repr=False)
    """The families' ciphers, looked up once per batch whichever model seals (a fresh
    context, as after an erasure, looks them up again)."""
    folded: dict[UUID, list[Any]] = field(default_factory=dict, repr=False)
    """Families' chronology rows (``projections.chronology.fold``: every event, corrections
    applied) as a rebuild's chronology model folded them, for the episodes model, which
    derives its rows from them, to read instead of folding the family again."""
    _states: dict[UUID, FamilyState] = field(default_factory=dict, repr=False)

    def seal_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        return self.sealer.seal_rows(table, columns, rows, self.ciphers)

    def family_state(self, family_id: UUID) -> FamilyState:
        """The family's current facts after its whole stream as recorded so far (the one
        fold, ``aggregates/state.py``), worked out once per batch whoever asks."""
        found = self._states.get(family_id)
        if found is None:
            found = self._states[family_id] = state.fold(state.facts_of(self.family_events(family_id)))
        return found


TableColumns = dict[str, tuple[str, ...]]
"""Column names per table."""


class ReadModel(ABC):
    name: str
    tables: tuple[str, ...]
    sealed: ClassVar[TableColumns] = {}
    """Per table, the columns holding personal data, written sealed (``projections/sealed.py``)."""
    unsealed_personal: ClassVar[tuple[str, ...]] = ()
    """Tables holding something personal that is not sealed under the family's key (a
    blind index's tokens, keyed for the whole ledger). A rebuild zeroes their pages when it
    drops them, as SQLite zeroes a deleted row's; every other table's pages it leaves to be
    reused, since all they hold of a person is sealed, and unreadable once the family's key
    is destroyed (``ViewStore.drop``, ADR 0053)."""
    version: int = 1
    """The shape of the model's tables and rows: a ledger whose tables were made for
    another version has them made afresh and filled again from the log on start."""
    keyed_after_loading: ClassVar[tuple[str, ...]] = ()
    """Tables whose primary key nothing uses while a rebuild loads: their rows appended in
    bulk (a page holds whole families, none there before; an erased family is not derived
    a second time), none looked up, updated or met by ``ON CONFLICT`` by the key. A
    rebuild makes them without their primary key and keys them before the secondary
    indexes once the rows are in: one sorted build instead of a b-tree insert per row at a
    random place (PostgreSQL adds the key, ADR 0055; SQLite moves the rows into the table
    made again with it, in the key's order, ADR 0057)."""

    @abstractmethod
    def ddl(self) -> list[str]:
        """CREATE TABLE / CREATE INDEX statements; ``{table}`` names, ``{ix}`` index suffix."""

    @abstractmethod
    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        """Apply events (in global order, none seen before) to this model's tables."""

    def discard(self, family_id: UUID) -> None:  # noqa: B027 - a hook: most models hold nothing in memory
        """Drop anything held in memory about one family (an attempt to apply its events
        was undone); its rows are as they were."""

    def forget(self, tx: Tx, family_id: UUID) -> None:
        """Delete every row of one family (before its events are applied again, after
        its personal data was erased). Every table of a read model has ``family_id``."""
        for table in self.tables:
            tx.run(f"DELETE FROM {{{table}}} WHERE family_id = ?", (family_id.hex,))


class PerFamilyModel(ReadModel):
    """A read model whose rows for a family are derived again from the family's whole
    stream on each batch of its events (a correction can move any of them). A rebuild
    hands a family's events over in one batch, so it is derived once there. A batch's
    families are replaced together: one DELETE and one INSERT per table, not per family."""

    BATCH = 500  # family ids per DELETE

    columns: ClassVar[TableColumns] = {}
    """Per table, its columns in order (the rows ``derive`` gives), where any is sealed."""

    @abstractmethod
    def derive(self, family_id: UUID, context: Context) -> dict[str, list[tuple[Any, ...]]]:
        """The family's rows, per table (each row in the table's column order)."""

    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        """In a rebuild the tables are fresh and hold none of the batch's families (each
        comes whole in one batch), so nothing is deleted and the rows go in in bulk."""
        families = sorted({c.event.originator_id for c in changes}, key=str)
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in self.tables}
        for family_id in families:
            for table, found in self.derive(family_id, context).items():
                rows[table] += found
        if not context.rebuilding:
            self.delete_families(tx, [f.hex for f in families])
        for table, found in rows.items():
            if table in self.sealed:
                found = context.seal_rows(table, self.columns[table], found)
            tx.insert(table, found, bulk=context.rebuilding)

    def delete_families(self, tx: Tx, family_ids: Sequence[str]) -> None:
        """Every row of these families (hex ids) in each of the model's tables, ``BATCH``
        families a statement."""
        for start in range(0, len(family_ids), self.BATCH):
            part = list(family_ids[start:start + self.BATCH])
            for table in self.tables:
                tx.run(f"DELETE FROM {{{table}}} WHERE family_id IN ({','.join('?' * len(part))})", part)


class FamilyRows:
    """A batch's rows of a table holding one row per family, read in one query, changed
    in memory event by event, and written back in one upsert: a page of events costs
    two statements, not one per event (caseloads, the oversight model's families)."""

    def __init__(self, tx: Tx, table: str, columns: Sequence[str], family_ids: Sequence[str]) -> None:
        self.tx, self.table, self.columns = tx, table, tuple(columns)
        self.rows: dict[str, dict[str, Any]] = {}
        self.changed: set[str] = set()
        ids = sorted(set(family_ids))
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            for row in tx.rows(f"SELECT * FROM {{{table}}} WHERE family_id IN ({','.join('?' * len(part))})", part):
                self.rows[row["family_id"]] = row

    def new(self, family_id: str, **values: Any) -> None:
        self.rows[family_id] = {"family_id": family_id, **values}
        self.changed.add(family_id)

    def get(self, family_id: str) -> dict[str, Any] | None:
        """The family's row to change in place (None if it has none: nothing to change)."""
        row = self.rows.get(family_id)
        if row is not None:
            self.changed.add(family_id)
        return row

    def write(self) -> None:
        upsert(self.tx, self.table, self.columns, [self.rows[f] for f in sorted(self.changed)])


def upsert(tx: Tx, table: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *,
           fresh: bool = False) -> None:
    """Write rows of a table holding one row per family, replacing the family's row.
    ``fresh``: a rebuild's table, which holds none of these families yet, loaded in bulk
    (``columns`` are then all the table's, in order)."""
    if fresh:
        tx.insert(table, [tuple(r[c] for c in columns) for r in rows], bulk=True)
        return
    if not rows:
        return
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "family_id")
    tx.many(f"INSERT INTO {{{table}}} ({names}) VALUES ({','.join('?' * len(columns))}) "
            f"ON CONFLICT (family_id) DO UPDATE SET {updates}", [tuple(r[c] for c in columns) for r in rows])


def iso(moment: datetime | None) -> str | None:
    """Instants are stored as text in the one shape answers give them (UTC, microseconds,
    ``Z``: ``ledger/moments.py``, ADR 0036), whose string order is time order."""
    return instant(moment)


def hexid(value: UUID | str | None) -> str | None:
    if value is None:
        return None
    return value.hex if isinstance(value, UUID) else UUID(str(value)).hex
