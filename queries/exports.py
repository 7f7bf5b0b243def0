"""Exports that leave the ledger: court, practice and review chronologies, Ofsted Annex A
List 2, the Standard Safeguarding Dataset's early help episodes.

Each is the one way its export reads the record (the read models for now; the same fold
over what had been recorded for ``as_at``), used by the HTTP routes and by
``ledger export``, so HTTP and the command line give the same bytes for the same inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from typing_extensions import TypedDict

from aggregates.errors import InvalidCommand
from documents import chronology as documents
from ledger.application import Ledger
from ledger.calendar import LONDON
from projections import episodes, exports
from projections.exports import Export
from projections.projector import Projector
from queries import chronology


class ChronologyDocument(TypedDict):
    """A chronology export as JSON: its heading (council, family, child, as at, the
    family's involvement with the service) and its entries in the profile's columns. The
    heading's ``as_at`` is in UTC like every instant; ``as_at_local`` is the same moment in
    London time, as the document's reader would say it (ADR 0036)."""

    profile: str
    heading: dict[str, Any]
    columns: list[str]
    entries: list[dict[str, Any]]


class AnnexARow(TypedDict):
    child_unique_id: str
    """The council's own person id where recorded, else the child's UPN, else the ledger's member id."""
    gender: str | None
    ethnicity: str | None
    date_of_birth: date | None
    age_of_child_years: int | None
    """At the period's end; -1 for a child not yet born."""
    assessment_start_date: date
    assessment_completion_date: date | None
    organisation_completing_assessment: str


AnnexA = TypedDict("AnnexA", {
    "return": str, "specification": str, "from": date, "to": date, "as_at": datetime | None,
    "as_at_local": datetime | None, "pack": str | None, "count": int,
    "columns": list[str], "rows": list[AnnexARow]})
"""Ofsted Annex A, List 2 as JSON (``format=json``): one row per child per early help
assessment in the period. ``as_at`` in UTC, and ``as_at_local`` the same moment in London
time, as a reader of the return would say it (ADR 0036)."""


class SsdEpisode(TypedDict):
    earl_episode_id: str
    earl_person_id: str
    """The council's own person id where recorded, else the child's UPN, else the ledger's member id."""
    earl_episode_start_date: date
    earl_episode_end_date: date | None
    earl_episode_reason: str | None
    """The broad category of the reason for involvement (EARL005A), as the SSD words it;
    none when the referral recorded no category."""
    earl_episode_end_reason: Literal["Outcomes met", "Step-up", "NFA"] | None
    """EARL006A, mapped from the closure reason by the family's pack; none while open."""
    earl_episode_organisation: str
    earl_episode_worker_id: str | None


SsdEarlyHelpEpisodes = TypedDict("SsdEarlyHelpEpisodes", {
    "table": str, "specification": str, "from": date, "to": date, "as_at": datetime | None,
    "as_at_local": datetime | None, "pack": str | None, "count": int,
    "columns": list[str], "rows": list[SsdEpisode]})
"""The SSD's ``ssd_early_help_episodes`` as JSON (``format=json``): one row per child per
early help episode in the period (``as_at`` and ``as_at_local`` as for Annex A)."""


def _aware(as_at: datetime | None) -> None:
    if as_at is not None and as_at.tzinfo is None:
        raise InvalidCommand("as_at must include a timezone offset", field="as_at")


def prepared_by(ledger: Ledger, actor: Mapping[str, Any]) -> str:
    """Who a document says prepared it: the asker by name and job title (from their
    token, else the staff directory), else their user id."""
    user_id = str(actor.get("user_id") or "")
    if hasattr(ledger, "describe"):
        return str(ledger.describe(user_id, actor.get("name"), actor.get("job_title")).text)
    return user_id


def _case_number(case_number: str | None) -> str | None:
    if case_number is None or not case_number.strip():
        return None
    case_number = case_number.strip()
    if not documents.CASE_NUMBER.fullmatch(case_number):
        raise InvalidCommand("case_number must be a court case number of up to 40 letters, digits, spaces and "
                             "./:()- (for example DE24C00123)", field="case_number")
    return case_number


def _chronology_input(ledger: Ledger, projector: Projector, family_id: UUID, *, profile: str, fmt: str,
                      member: UUID | None, as_at: datetime | None, significant: bool,
                      case_number: str | None) -> tuple[Any, Any, Any, str | None]:
    if significant:
        raise InvalidCommand(f"the {profile} profile decides which entries it shows: leave out significant",
                             field="significant")
    if profile not in exports.PROFILES:
        raise InvalidCommand(f"profile must be one of {', '.join(exports.PROFILES)}, not {profile!r}", field="profile")
    if fmt not in exports.CHRONOLOGY_FORMATS:
        raise InvalidCommand(f"format must be one of {', '.join(exports.CHRONOLOGY_FORMATS)}, not {fmt!r}",
                             field="format")
    case = _case_number(case_number)
    _aware(as_at)
    pack = ledger.pack(ledger.family(family_id).policy)  # 404 if there is no such family
    rows, members = chronology.rows(ledger, projector, family_id, as_at)
    if member is not None and member.hex not in members:
        raise InvalidCommand(f"{member} is not a member of family {family_id}"
                             + (f" as at {as_at.isoformat()}" if as_at else ""), field="member")
    return pack, rows, members, case


def chronology_export(ledger: Ledger, projector: Projector, family_id: UUID, *, profile: str, fmt: str,
                      member: UUID | None = None, as_at: datetime | None = None,
                      significant: bool = False, case_number: str | None = None,
                      prepared_by: str = "") -> Export:
    """A family's (or member's) chronology in an export profile, now or as at a moment:
    JSON or CSV (``projections/exports.py``), or a document, PDF or Word
    (``documents/chronology.py``) with the court's case number and who prepared it, on
    the ledger clock's day. The profile decides which entries it shows, so
    ``significant`` is refused."""
    pack, rows, members, case = _chronology_input(
        ledger, projector, family_id, profile=profile, fmt=fmt, member=member, as_at=as_at,
        significant=significant, case_number=case_number)
    if fmt in documents.FORMATS:
        document = documents.build(rows, members, pack, profile=profile, member=member, as_at=as_at,
                                   case_number=case, prepared_by=prepared_by,
                                   prepared_on=ledger.clock().astimezone(LONDON).date(), staff=ledger.describe)
        name = f"chronology-{profile}-{family_id}" + (f"-{member}" if member else "") + f".{fmt}"
        return Export(documents.RENDERERS[fmt](document), exports.MEDIA_TYPES[fmt], name, (family_id.hex,))
    found = exports.chronology(rows, members, pack, family_id=family_id, profile=profile, fmt=fmt, member=member,
                               as_at=as_at, case_number=case, staff=ledger.describe)
    return dataclasses.replace(found, families=(family_id.hex,))


def chronology_document(ledger: Ledger, projector: Projector, family_id: UUID, *, profile: str,
                        member: UUID | None = None, as_at: datetime | None = None,
                        case_number: str | None = None, prepared_by: str = "") -> documents.ChronologyDocument:
    """The document the PDF and Word exports are made from, for the console to show as
    HTML (the same template as the PDF)."""
    pack, rows, members, case = _chronology_input(
        ledger, projector, family_id, profile=profile, fmt="pdf", member=member, as_at=as_at, significant=False,
        case_number=case_number)
    return documents.build(rows, members, pack, profile=profile, member=member, as_at=as_at, case_number=case,
                           prepared_by=prepared_by, prepared_on=ledger.clock().astimezone(LONDON).date(),
                           staff=ledger.describe)


def period_rows(ledger: Ledger, projector: Projector, first: date, last: date,
                as_at: datetime | None = None,
                pack: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(episode rows, assessment rows) per child touching the period: from the episodes
    read model, or, as at a past moment, derived the same way from what had been recorded;
    of the families worked under one council's ``pack`` only, if given (422 if it names
    no pack the ledger has)."""
    if first > last:
        raise InvalidCommand(f"from ({first}) is after to ({last})", field="from")
    _aware(as_at)
    if pack is not None and pack not in ledger.packs:
        raise InvalidCommand(f"pack {pack!r} is not one of the ledger's packs: {', '.join(sorted(ledger.packs))}",
                             field="pack")
    if as_at is None:
        with projector.reading("episodes") as tx:
            found_episodes, found_assessments = episodes.stored_in_period(tx, first, last, projector.sealer)
    else:
        found = []
        for family_id in ledger.family_ids():
            recorded = [e for e in ledger.family_events(family_id) if e.recorded_at <= as_at]
            if recorded:
                found.append(episodes.from_events(recorded, ledger.packs))
        found_episodes, found_assessments = episodes.in_period(found, first, last)
    if pack is not None:
        found_episodes = [r for r in found_episodes if r["policy"] == pack]
        found_assessments = [r for r in found_assessments if r["policy"] == pack]
    return found_episodes, found_assessments


def _council(ledger: Ledger, pack: str | None) -> exports.Council:
    """What a return needs of the packs: each pack's organisation as the deployment names
    it (``organisation_names``), its SSD end reasons, and the pack it was filtered to."""
    return exports.Council(ledger.packs, ledger.settings.organisation_names, pack)


def annex_a_export(ledger: Ledger, projector: Projector, first: date, last: date, fmt: str = "csv",
                   as_at: datetime | None = None, pack: str | None = None) -> Export:
    """Ofsted Annex A, List 2 (early help): one row per child per early help assessment
    in the period (of one council's ``pack``, if given)."""
    _, assessments = period_rows(ledger, projector, first, last, as_at, pack)
    return exports.annex_a(assessments, first, last, _return_format(fmt), as_at, _council(ledger, pack))


def ssd_export(ledger: Ledger, projector: Projector, first: date, last: date, fmt: str = "csv",
               as_at: datetime | None = None, pack: str | None = None) -> Export:
    """The Standard Safeguarding Dataset's ``ssd_early_help_episodes``: one row per child
    per early help episode in the period (of one council's ``pack``, if given)."""
    found, _ = period_rows(ledger, projector, first, last, as_at, pack)
    return exports.ssd_early_help_episodes(found, first, last, _return_format(fmt), as_at, _council(ledger, pack))


def _return_format(fmt: str) -> str:
    if fmt not in exports.RETURN_FORMATS:
        raise InvalidCommand(f"format must be one of {', '.join(exports.RETURN_FORMATS)}, not {fmt!r}",
                             field="format")
    return fmt
