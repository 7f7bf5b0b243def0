"""Exports that leave the ledger: court, practice and review chronologies, Ofsted Annex A
List 2, the Standard Safeguarding Dataset's early help episodes.

Each is the one way its export reads the record (the read models for now; the same fold
over what had been recorded for ``as_at``), used by the HTTP routes and by
``ledger export``, so HTTP and the command line give the same bytes for the same inputs.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any
from uuid import UUID

from typing_extensions import TypedDict

from aggregates.errors import InvalidCommand
from ledger.application import Ledger
from projections import episodes, exports
from projections.exports import Export
from projections.projector import Projector
from queries import chronology


class ChronologyDocument(TypedDict):
    """A chronology export as JSON: its heading (council, family, child, as at, the
    family's involvement with the service) and its entries in the profile's columns."""

    profile: str
    heading: dict[str, Any]
    columns: list[str]
    entries: list[dict[str, Any]]


class AnnexARow(TypedDict):
    child_unique_id: UUID
    gender: str | None
    ethnicity: str | None
    date_of_birth: date | None
    age_of_child_years: int | None
    """At the period's end."""
    assessment_start_date: date
    assessment_completion_date: date | None
    organisation_completing_assessment: str


AnnexA = TypedDict("AnnexA", {
    "return": str, "specification": str, "from": date, "to": date, "as_at": datetime | None, "count": int,
    "columns": list[str], "rows": list[AnnexARow]})
"""Ofsted Annex A, List 2 as JSON (``format=json``): one row per child per early help
assessment in the period."""


class SsdEpisode(TypedDict):
    earl_episode_id: str
    earl_person_id: UUID
    earl_episode_start_date: date
    earl_episode_end_date: date | None
    earl_episode_reason: str | None
    earl_episode_end_reason: str | None
    earl_episode_organisation: str
    earl_episode_worker_id: str | None


SsdEarlyHelpEpisodes = TypedDict("SsdEarlyHelpEpisodes", {
    "table": str, "specification": str, "from": date, "to": date, "as_at": datetime | None, "count": int,
    "columns": list[str], "rows": list[SsdEpisode]})
"""The SSD's ``ssd_early_help_episodes`` as JSON (``format=json``): one row per child per
early help episode in the period."""


def _aware(as_at: datetime | None) -> None:
    if as_at is not None and as_at.tzinfo is None:
        raise InvalidCommand("as_at must include a timezone offset", field="as_at")


def chronology_export(ledger: Ledger, projector: Projector, family_id: UUID, *, profile: str, fmt: str,
                      member: UUID | None = None, as_at: datetime | None = None,
                      significant: bool = False) -> Export:
    """A family's (or member's) chronology in an export profile, now or as at a moment.
    The profile decides which entries it shows, so ``significant`` is refused."""
    if significant:
        raise InvalidCommand(f"the {profile} profile decides which entries it shows: leave out significant",
                             field="significant")
    if profile not in exports.PROFILES:
        raise InvalidCommand(f"profile must be one of {', '.join(exports.PROFILES)}, not {profile!r}", field="profile")
    if fmt not in exports.CHRONOLOGY_FORMATS:
        raise InvalidCommand(f"format must be one of {', '.join(exports.CHRONOLOGY_FORMATS)}, not {fmt!r}",
                             field="format")
    _aware(as_at)
    pack = ledger.pack(ledger.family(family_id).policy)  # 404 if there is no such family
    rows, members = chronology.rows(ledger, projector, family_id, as_at)
    if member is not None and member.hex not in members:
        raise InvalidCommand(f"{member} is not a member of family {family_id}"
                             + (f" as at {as_at.isoformat()}" if as_at else ""), field="member")
    found = exports.chronology(rows, members, pack, family_id=family_id, profile=profile, fmt=fmt, member=member,
                               as_at=as_at)
    return dataclasses.replace(found, families=(family_id.hex,))


def period_rows(ledger: Ledger, projector: Projector, first: date, last: date,
                as_at: datetime | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(episode rows, assessment rows) per child touching the period: from the episodes
    read model, or, as at a past moment, derived the same way from what had been recorded."""
    if first > last:
        raise InvalidCommand(f"from ({first}) is after to ({last})", field="from")
    _aware(as_at)
    if as_at is None:
        with projector.reading("episodes") as tx:
            return episodes.stored_in_period(tx, first, last, projector.sealer)
    found = []
    for family_id in ledger.family_ids():
        recorded = [e for e in ledger.family_events(family_id) if e.recorded_at <= as_at]
        if recorded:
            found.append(episodes.from_events(recorded, ledger.packs))
    return episodes.in_period(found, first, last)


def annex_a_export(ledger: Ledger, projector: Projector, first: date, last: date, fmt: str = "csv",
                   as_at: datetime | None = None) -> Export:
    """Ofsted Annex A, List 2 (early help): one row per child per early help assessment
    in the period."""
    _, assessments = period_rows(ledger, projector, first, last, as_at)
    return exports.annex_a(assessments, first, last, _return_format(fmt), as_at)


def ssd_export(ledger: Ledger, projector: Projector, first: date, last: date, fmt: str = "csv",
               as_at: datetime | None = None) -> Export:
    """The Standard Safeguarding Dataset's ``ssd_early_help_episodes``: one row per child
    per early help episode in the period."""
    found, _ = period_rows(ledger, projector, first, last, as_at)
    return exports.ssd_early_help_episodes(found, first, last, _return_format(fmt), as_at)


def _return_format(fmt: str) -> str:
    if fmt not in exports.RETURN_FORMATS:
        raise InvalidCommand(f"format must be one of {', '.join(exports.RETURN_FORMATS)}, not {fmt!r}",
                             field="format")
    return fmt
