"""Trust in the record and the people in it: who read a family's record (the access
log), everything held about one person (subject access), how long records are kept
(retention) and the legal holds that stop erasure. ``subject_access_export`` is shared by
``GET /members/{id}/subject-access`` and ``ledger export --member``, so both give the
same bytes (ADR 0013)."""

from __future__ import annotations

from datetime import date
from typing import Any, cast
from uuid import UUID

import orjson
from typing_extensions import TypedDict

from aggregates.errors import NotFound
from aggregates.state import MemberDetails
from ledger.application import Ledger, event_view
from ledger.calendar import london_date
from ledger.moments import instant
from ledger.retention import retain_until
from ledger.serialisation import answer_json
from projections import chronology, retention, subject_access
from projections.exports import Export
from projections.projector import Projector
from queries.chronology import ChronologyEntry
from queries.deadlines import Clock
from queries.families import EventView

# -- the access log ---------------------------------------------------------------------------


class Read(TypedDict):
    """One read of the family's record, or one refused attempt."""

    seq: int
    at: str
    user_id: str
    role: str
    team: str | None
    member_id: UUID | None
    action: str
    path: str
    query: str
    outcome: str
    """allowed, refused or not found."""


class AccessLog(TypedDict):
    family_id: UUID
    reads: list[Read]


def access_log(ledger: Ledger, family_id: UUID) -> AccessLog:
    """Every read of this family's record: who, when, what, and the outcome."""
    ledger.family(family_id)  # 404 if there is no such family
    reads = [{**r, "at": instant(r["at"])} for r in ledger.access_log.for_family(family_id)]
    return AccessLog(family_id=family_id, reads=cast(list[Read], reads))


# -- subject access ---------------------------------------------------------------------------


class PersonDetails(MemberDetails):
    given_name: str | None
    family_name: str | None
    kind: str | None
    date_of_birth: date | None
    gender: str | None
    ethnicity: str | None


class SubjectAccess(TypedDict):
    """Everything held about one person (the JSON file of a subject access request)."""

    member_id: UUID
    family_id: UUID
    person: PersonDetails
    addresses: list[dict[str, Any]]
    """The addresses of their family's record (from_date, address_lines, postcode)."""
    events: list[EventView]
    """The events about them or their whole family (others' details removed)."""
    chronology: list[ChronologyEntry]
    deadlines: list[Clock]
    withheld: str
    """What is left out, and why."""


def member_family(projector: Projector, member_id: UUID) -> UUID:
    """The family a member is on (404 if no family has them)."""
    with projector.reading("chronology") as tx:
        found = chronology.member_family(tx, member_id)
    if found is None:
        raise NotFound(f"no member {member_id}")
    return found


def subject_access_export(ledger: Ledger, projector: Projector, member_id: UUID, fmt: str) -> Export:
    """Everything the ledger holds about one person (UK GDPR Art. 15), as JSON or CSV:
    the events about them or their whole family, their chronology and the clocks that
    concern them, without entries about a sibling alone or other members' details."""
    with projector.reading("chronology") as tx:
        family_id = chronology.member_family(tx, member_id)
        if family_id is None:
            raise NotFound(f"no member {member_id}")
        rows, members = chronology.stored(tx, family_id, projector.sealer)
    family = ledger.family(family_id)
    member = family.members.get(member_id.hex)
    if member is None:  # pragma: no cover - the read model and the record agree
        raise NotFound(f"no member {member_id}")
    entries = chronology.view(rows, members, member=member_id, others=subject_access.OTHERS, staff=ledger.describe)
    views = [event_view(e) for e in ledger.family_events(family_id)]
    clocks = ledger.deadlines(family_id)["deadlines"]
    found = subject_access.report(member_id, dict(member), family_id, views, entries, clocks,
                                  addresses=family.state()["addresses"])
    name = f"subject-access-{member_id}"
    if fmt == "csv":
        return Export(subject_access.to_csv(found).encode(), "text/csv; charset=utf-8", f"{name}.csv",
                      (family_id.hex,))
    content = answer_json(found, orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    return Export(content, "application/json", f"{name}.json", (family_id.hex,))


# -- legal holds ------------------------------------------------------------------------------


class LegalHold(TypedDict):
    """A legal hold: nothing it holds (one family, or every family) is erased."""

    hold_id: str
    family_id: UUID | None
    all_families: bool
    reason: str
    placed_by: str
    placed_at: str
    lifted_by: str | None
    lifted_at: str | None


class LegalHolds(TypedDict):
    holds: list[LegalHold]


def legal_holds(ledger: Ledger, *, history: bool = False) -> LegalHolds:
    """The legal holds in force (or every hold ever placed, lifted ones too)."""
    found = ledger.holds.history() if history else ledger.holds.in_force()
    return LegalHolds(holds=cast(list[LegalHold], found))


# -- retention --------------------------------------------------------------------------------


class DueForErasure(TypedDict):
    family_id: UUID
    policy: str
    team: str
    closed_on: date | None
    retain_until: date
    held: bool
    hold: LegalHold | None


class RetentionDue(TypedDict):
    as_of: date
    count: int
    families: list[DueForErasure]


def retention_due(ledger: Ledger, projector: Projector, as_of: date | None = None) -> RetentionDue:
    """Families whose pack's retention period has passed by ``as_of`` (a London date,
    default today): closed, past the later of the years after closure and the youngest
    child's birthday the pack states, held or not, and not yet erased."""
    today = as_of or london_date(ledger.clock())
    with projector.reading("caseloads", "episodes") as tx:
        candidates = retention.families(tx, projector.sealer)
    due: list[dict[str, Any]] = []
    for f in candidates:
        pack = ledger.packs.get(f["policy"])
        until = retain_until(pack.retention if pack else None, open_episode=f["open"],
                             closed_on=f["closed_on"], youngest_born=f["youngest"])
        if until is None or until > today:
            continue
        family_id = UUID(f["family_id"])
        if ledger.keys.destroyed(family_id):
            continue
        hold = ledger.holds.holding(family_id)
        due.append({"family_id": family_id, "policy": f["policy"], "team": f["team"],
                    "closed_on": f["closed_on"], "retain_until": until, "held": hold is not None,
                    "hold": hold})
    return RetentionDue(as_of=today, count=len(due), families=cast(list[DueForErasure], due))
