"""What a read model is: the tables it owns, the events it handles, the rows they make.

Each read model module (``chronology``, ``deadlines``, ``caseloads``, ``oversight``)
defines one ``ReadModel``: its name (its tracking key), its tables and their DDL, and
``apply``, which turns a batch of events into row changes inside the projector's
transaction. Queries over its rows live in the same module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from aggregates.events import FamilyEvent
from ledger.policies.schema import Pack
from ledger.sql import Tx


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


class ReadModel(ABC):
    name: str
    tables: tuple[str, ...]

    @abstractmethod
    def ddl(self) -> list[str]:
        """CREATE TABLE / CREATE INDEX statements; ``{table}`` names, ``{ix}`` index suffix."""

    @abstractmethod
    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        """Apply events (in global order, none seen before) to this model's tables."""

    def forget(self, tx: Tx, family_id: UUID) -> None:
        """Delete every row of one family (before its events are applied again, after
        its personal data was erased). Every table of a read model has ``family_id``."""
        for table in self.tables:
            tx.run(f"DELETE FROM {{{table}}} WHERE family_id = ?", (family_id.hex,))


class PerFamilyModel(ReadModel):
    """A read model whose rows for a family are derived again from the family's whole
    stream on each batch of its events (a correction can move any of them). A rebuild
    hands a family's events over in one batch, so it is derived once there."""

    @abstractmethod
    def refresh(self, tx: Tx, family_id: UUID, context: Context) -> None:
        """Replace the family's rows with those derived from its stream."""

    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        for family_id in sorted({c.event.originator_id for c in changes}, key=str):
            self.refresh(tx, family_id, context)


def iso(instant: datetime | None) -> str | None:
    """Instants are stored as UTC ISO text, whose string order is time order."""
    if instant is None:
        return None
    return instant.astimezone(timezone.utc).isoformat(timespec="microseconds")


def hexid(value: UUID | str | None) -> str | None:
    if value is None:
        return None
    return value.hex if isinstance(value, UUID) else UUID(str(value)).hex
