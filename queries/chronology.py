"""A family's chronology, or one member's: in the order things happened, corrections
beside what they correct, late entries and practice breaches flagged; now (the
chronology read model) or as the record stood at a moment of recording."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from typing_extensions import TypedDict

from aggregates.errors import InvalidCommand
from ledger.application import Ledger
from projections import chronology as chronology_model
from projections import deadlines as deadline_model
from projections.exports import Export
from projections.projector import Projector
from queries.deadlines import RuleSource
from queries.reading import Quarantined, quarantined
from replay import time_travel

MODELS = ("chronology", "deadlines", "episodes")
"""The read models a chronology (and its exports) is read from."""

Change = TypedDict("Change", {"from": Any, "to": Any})
"""A corrected field: what it was and what it is now."""


class Correction(TypedDict):
    """A correction of an entry (``EntryCorrected``), shown beside it."""

    event_id: UUID
    recorded_at: datetime
    recorded_by: str | None
    recorded_by_name: str
    """Who corrected it, as a person reads them: "Sam Jones, Family Support Worker" (ADR 0030)."""
    role: str | None
    reason: str
    changes: dict[str, Change]


class EntrySource(TypedDict):
    """Who recorded an entry, and for which agency."""

    recorded_by: str | None
    """The recorder's user id."""
    recorded_by_name: str | None
    """The recorder as a person reads them: their name and job title from the entry (their
    token's, when recorded), else the staff directory's, else "<id> (not in the staff
    directory)" (ADR 0030); None for a child's birth."""
    role: str | None
    team: str | None
    agency: str | None


class FlaggedBreach(TypedDict):
    """A good-practice ordering rule the entry broke (ADR 0019)."""

    rule: str
    title: str
    reason: str
    source: RuleSource


class ChronologyEntry(TypedDict):
    """One entry: date, event, summary, source, significance, impact on the child, action
    taken, when and by whom it was recorded, whether late, and its corrections."""

    event_id: UUID | None
    """None for a child's birth, which starts their chronology."""
    type: str
    occurred_at: datetime
    recorded_at: datetime | None
    summary: str
    source: EntrySource
    significance: str | None
    significant: bool
    impact_on_child: str | None
    action_taken: str | None
    note: str | None
    reference: str | None
    late_entry: bool
    late_rules: list[str]
    breaches: list[FlaggedBreach]
    about: list[UUID]
    corrections: list[Correction]


class Chronology(TypedDict):
    family_id: UUID
    member: UUID | None
    as_at: datetime | None
    significant_only: bool
    entries: list[ChronologyEntry]
    total: int
    """How many entries there are in all (``entries`` is one page of them where a
    ``limit`` was asked for)."""
    offset: int
    """How many entries come before the first in ``entries``."""
    quarantined: list[Quarantined]
    """The read models holding the family back: the entries stop before that event."""


def held_back(projector: Projector, family_id: UUID) -> list[Quarantined]:
    """The read models a chronology is read from that hold this family back."""
    return quarantined(projector, MODELS, family_id)


def rows(ledger: Ledger, projector: Projector, family_id: UUID,
         as_at: datetime | None = None) -> tuple[list[chronology_model.ChronologyRow], dict[str, dict[str, Any]]]:
    """The family's chronology rows and members, with the practice breaches the record
    shows: from the read models, or as the record stood at ``as_at``. Empty if there is no
    such family (the caller decides whether that is a 404)."""
    if as_at is not None:
        return time_travel.chronology(ledger, family_id, as_at)
    with projector.reading("chronology", "deadlines") as tx:
        found, members = chronology_model.stored(tx, family_id, projector.sealer)
        return chronology_model.with_breaches(found, deadline_model.breaches(tx, family_id)), members


def chronology(ledger: Ledger, projector: Projector, family_id: UUID, *, member: UUID | None = None,
               significant: bool = False, as_at: datetime | None = None, fmt: str = "json",
               offset: int = 0, limit: int | None = None) -> Chronology:
    """The family's chronology (or ``member``'s own, from their birth, without entries
    about their siblings), all entries or the significant ones (the pack's choice);
    with ``limit``, a page of them from ``offset`` (the whole family's, now: only that
    page is read from the read model)."""
    if fmt in ("docx", "pdf"):
        raise InvalidCommand(f"a {'Word' if fmt == 'docx' else 'PDF'} chronology needs a profile: court, practice "
                             "or review", field="format")
    held = held_back(projector, family_id)
    if limit is not None and member is None and as_at is None:
        with projector.reading("chronology", "deadlines") as tx:
            page, total, members = chronology_model.stored_page(tx, family_id, projector.sealer, offset, limit,
                                                                significant_only=significant)
            found = chronology_model.with_breaches(page, deadline_model.breaches(tx, family_id))
        if not total:
            ledger.family(family_id)  # 404 if there is no such family
        entries = chronology_model.view(found, members, staff=ledger.describe)
    else:
        found, members = rows(ledger, projector, family_id, as_at)
        if not found:
            ledger.family(family_id)  # 404 if there is no such family
        if member is not None and member.hex not in members:
            raise InvalidCommand(f"{member} is not a member of family {family_id}", field="member")
        entries = chronology_model.view(found, members, member=member, significant_only=significant,
                                        staff=ledger.describe)
        total = len(entries)
        entries = entries[offset:] if limit is None else entries[offset:offset + limit]
    return Chronology(family_id=family_id, member=member, as_at=as_at, significant_only=significant,
                      entries=cast(list[ChronologyEntry], entries), total=total, offset=offset, quarantined=held)


def entry_kinds(projector: Projector, family_id: UUID, event_ids: Iterable[UUID | None]) -> dict[str, dict[str, Any]]:
    """The type and occurred-at of some of the family's entries, by event id (as text):
    what a deadline's "started by" and "stopped by" name, without reading the record."""
    with projector.reading("chronology") as tx:
        return chronology_model.entry_kinds(tx, family_id, [e for e in event_ids if e is not None])


def as_csv(found: Chronology) -> Export:
    """A chronology as a spreadsheet (one line per entry)."""
    name = f"chronology-{found['family_id']}" + (f"-{found['member']}" if found["member"] else "") + ".csv"
    content = chronology_model.to_csv(cast(list[dict[str, Any]], found["entries"])).encode("utf-8")
    return Export(content, "text/csv; charset=utf-8", name, (found["family_id"].hex,))
