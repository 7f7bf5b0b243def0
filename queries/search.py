"""Finding a family: by a member's name or date of birth (through the blind index, ADR
0023), by its id or a member's, by team, lead worker, pack and status, in any
combination, paged and sorted; with no criterion at all, every family a page at a time
(a manager browsing their team). Closed families are found as open ones are (case
reviews are mostly about closed cases); an erased family never is.

The database narrows, counts and pages (``projections.caseloads.search``, one row per
family, and the person index); only the families of the page have their members opened.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, Literal, cast, get_args
from uuid import UUID

from typing_extensions import TypedDict

from aggregates.identifiers import nhs_number_problem, normal_postcode, postcode_problem, upn_problem
from projections import caseloads, people
from projections.chronology import members_stored
from projections.projector import Projector
from queries.reading import InvalidQuery

Status = Literal["open", "closed", "no_episode", "any"]
"""``open``: an episode is open; ``closed``: the latest episode is closed; ``no_episode``:
registered, never referred; ``any``: all of them."""
Sort = Literal["recent", "registered", "team"]
"""``recent``: the latest entry first; ``registered``: the latest registered first;
``team``: by team, and in each the latest entry first."""

PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
MAX_TEXT = 200
BORN_FROM, BORN_TO = date(1900, 1, 1), date(2099, 12, 31)
SHORT_ID = 8
"""An id may be given as its first 8 hex digits (as a console shows it)."""
HEX = re.compile(r"^[0-9a-f]+$")
MEMBER = ("given_name", "family_name", "date_of_birth", "kind", "nhs_number", "upn", "council_person_id",
          "relationship")


class FoundMember(TypedDict):
    member_id: UUID
    given_name: str
    family_name: str
    date_of_birth: date | None
    kind: str
    nhs_number: str | None
    upn: str | None
    council_person_id: str | None
    relationship: str | None


class FoundFamily(TypedDict):
    family_id: UUID
    policy: str
    team: str
    worker: str | None
    """The lead worker of the latest episode."""
    status: str
    """``open``, ``closed`` (the latest episode) or ``no_episode``."""
    open: bool
    children: int
    pending_team: str | None
    """The team a transfer awaits acceptance by."""
    registered_at: datetime
    last_activity_at: datetime
    """When the family's latest entry was recorded."""
    members: list[FoundMember]
    matched: list[UUID]
    """The members who matched ``name``, ``date_of_birth`` and identifiers, and the member whose id
    was asked for (empty when none of those was asked)."""


class FamilySearch(TypedDict):
    total: int
    """How many families match (on every page)."""
    page: int
    per_page: int
    pages: int
    sort: str
    families: list[FoundFamily]


def find_families(projector: Projector, *, name: str | None = None, date_of_birth: date | None = None,
                  family_or_member_id: str | UUID | None = None, team: str | None = None,
                  worker: str | None = None, policy: str | None = None, status: str = "any",
                  sort: str = "recent", page: int = 1, per_page: int = PER_PAGE,
                  within_team: str | None = None, nhs_number: str | None = None, upn: str | None = None,
                  council_person_id: str | None = None, postcode: str | None = None) -> FamilySearch:
    """The families meeting every criterion given, one page of them, with their members.

    ``name``: whole words of a member's names or their beginnings (case and accents
    ignored: "ava st" finds Ava Stone, "ÉLO" Éloïse); ``date_of_birth``: a member born
    that day (with ``name``, the same member); ``family_or_member_id``: a family's id or
    a member's (a UUID, or its first 8 hex digits); ``nhs_number``, ``upn``,
    ``council_person_id``: a member who has it (with ``name``, the same member; a former
    name is found as a name is); ``postcode``: a family that has lived there (any
    address of its history); ``team``, ``worker`` (the lead
    worker's user id), ``policy`` (the pack), ``status``. ``within_team``: the caller's
    own team, for team roles (they find only the families their team holds); None for
    auditors and inspectors. Refuses what cannot be asked (``InvalidQuery``, naming the
    field)."""
    if status not in get_args(Status):
        raise InvalidQuery(f"status must be one of {', '.join(get_args(Status))}, not {status!r}", field="status")
    if sort not in get_args(Sort):
        raise InvalidQuery(f"sort must be one of {', '.join(get_args(Sort))}, not {sort!r}", field="sort")
    if not 1 <= page <= MAX_PAGE:
        raise InvalidQuery(f"page must be from 1 to {MAX_PAGE}, not {page}", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidQuery(f"per_page must be from 1 to {MAX_PER_PAGE}, not {per_page}", field="per_page")
    for field, text in (("team", team), ("worker", worker), ("policy", policy), ("name", name)):
        if text is not None and (not text.strip() or len(text) > MAX_TEXT):
            raise InvalidQuery(f"{field} must be 1 to {MAX_TEXT} characters, not blank", field=field)
    if date_of_birth is not None and not BORN_FROM <= date_of_birth <= BORN_TO:
        raise InvalidQuery(f"date_of_birth must be from {BORN_FROM} to {BORN_TO}, not {date_of_birth}",
                           field="date_of_birth")
    wanted = _id(family_or_member_id)
    key = projector.sealer.index_key
    if name is not None and not people.wanted(key, name=name):
        raise InvalidQuery("name has nothing to search by: give a word of two letters or more (a to z, accents "
                           "ignored, or digits)", field="name")
    identifiers = checked_identifiers(nhs_number=nhs_number, upn=upn, council_person_id=council_person_id)
    tokens = people.wanted(key, name=name, date_of_birth=date_of_birth, identifiers=identifiers)
    family_tokens = []
    if postcode is not None:
        problem = postcode_problem(postcode)
        if problem:
            raise InvalidQuery(f"the postcode given {problem}", field="postcode")
        family_tokens.append(people.wanted_postcode(key, normal_postcode(postcode)))
    if within_team is not None and team is not None and team != within_team:
        return _answer(0, [], {}, set(), page, per_page, sort)  # another team's families: none of them

    with projector.reading("chronology", "caseloads") as tx:
        tokens = people.rarest_first(tx, tokens)
        families = None
        if wanted is not None:
            families = sorted(set(caseloads.families_with_id(tx, wanted)) | set(people.member_families(tx, wanted)))
        total, rows = caseloads.search(
            tx, tokens=tokens, family_tokens=family_tokens, families=families,
            team=within_team if within_team is not None else team,
            worker=worker, policy=policy, status=None if status == "any" else status, sort=sort, limit=per_page,
            offset=(page - 1) * per_page)
        shown = [r["family_id"] for r in rows]
        keys = getattr(projector.ledger, "keys", None)
        if keys is not None and shown:
            keys.preload([UUID(f) for f in shown])  # the page's keys in one query, not one each
        members = members_stored(tx, shown, projector.sealer) if shown else {}
        matched: set[str] = set()
        if shown and tokens:
            sql, args = people.having_all(tokens, select=("member_id",), families=shown)
            matched = {r["member_id"] for r in tx.rows(sql, args)}
    if wanted is not None:
        matched |= {m for m in members if m.startswith(wanted)}
    return _answer(total, rows, members, matched, page, per_page, sort)


def checked_identifiers(**given: str | None) -> dict[str, str]:
    """The identifiers a search asks for, each checked as it is when recorded (a mistyped
    NHS number or UPN is refused naming the field, not searched for and not found) and
    written as the index holds it."""
    found = {}
    for name, value in given.items():
        if value is None:
            continue
        problem = {"nhs_number": nhs_number_problem, "upn": upn_problem}.get(name, lambda v: None)(value)
        if problem or not value.strip() or len(value) > MAX_TEXT:
            label = {"nhs_number": "NHS number", "upn": "UPN"}.get(name, "council person id")
            raise InvalidQuery(f"the {label} given {problem or 'must be 1 to 200 characters, not blank'}",
                               field=name)
        found[name] = value.strip()
    return found


def _answer(total: int, rows: list[dict[str, Any]], members: dict[str, dict[str, Any]], matched: set[str],
            page: int, per_page: int, sort: str) -> FamilySearch:
    by_family: dict[str, list[FoundMember]] = {}
    for member in sorted(members.values(), key=_in_order):
        by_family.setdefault(member["family_id"], []).append(cast(FoundMember, {
            "member_id": UUID(member["member_id"]), **{c: member[c] for c in MEMBER}}))
    found = [FoundFamily(
        family_id=UUID(r["family_id"]), policy=r["policy"], team=r["team"], worker=r["worker"],
        status=r["status"], open=bool(r["open"]), children=int(r["children"]), pending_team=r["pending_team"],
        registered_at=datetime.fromisoformat(r["registered_at"]),
        last_activity_at=datetime.fromisoformat(r["last_recorded_at"]),
        members=by_family.get(r["family_id"], []),
        matched=[m["member_id"] for m in by_family.get(r["family_id"], []) if m["member_id"].hex in matched],
    ) for r in rows]
    return FamilySearch(total=total, page=page, per_page=per_page, pages=math.ceil(total / per_page), sort=sort,
                        families=found)


def _id(value: str | UUID | None) -> str | None:
    """A family's or a member's id as hex: a UUID (in any of its spellings), or its first
    8 hex digits."""
    if value is None or isinstance(value, UUID):
        return None if value is None else value.hex
    text = value.strip().lower()
    if len(text) == SHORT_ID and HEX.match(text):
        return text
    try:
        return UUID(text).hex
    except ValueError:
        raise InvalidQuery(f"id must be a family's or a member's id (a UUID, or its first {SHORT_ID} hex digits), "
                           f"not {value[:50]!r}", field="id") from None


def _in_order(member: dict[str, Any]) -> tuple[Any, ...]:
    """Children first, the eldest first, then the adults; by name where born the same day."""
    born = member.get("date_of_birth")
    return (member.get("kind") != "child", str(born) if born else "9999", str(member.get("family_name")),
            str(member.get("given_name")), member.get("member_id"))
