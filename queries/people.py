"""Finding people by name and date of birth, through the blind index (neither is stored
in the clear, ADR 0023). Erased families are never found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, cast
from uuid import UUID

from typing_extensions import TypedDict

from aggregates.errors import InvalidCommand
from projections import people
from projections.projector import Projector
from queries.search import checked_identifiers


class Person(TypedDict):
    member_id: UUID
    family_id: UUID
    given_name: str
    family_name: str
    date_of_birth: date | None
    kind: str
    team: str | None
    """The team holding the person's family now."""
    nhs_number: str | None
    upn: str | None
    council_person_id: str | None
    former_names: list[str] | None


class People(TypedDict):
    count: int
    people: list[Person]


def find_people(projector: Projector, *, name: str | None = None, date_of_birth: date | None = None,
                nhs_number: str | None = None, upn: str | None = None, council_person_id: str | None = None,
                team: str | None = None, limit: int = 100) -> People:
    """People whose names (or former names) begin with the words of ``name`` (case and
    accents ignored), who were born on ``date_of_birth`` and have the identifiers given;
    with ``team``, only of families it holds."""
    identifiers = checked_identifiers(nhs_number=nhs_number, upn=upn, council_person_id=council_person_id)
    if name is None and date_of_birth is None and not identifiers:
        raise InvalidCommand("give a name, a date_of_birth, an nhs_number, a upn or a council_person_id",
                             field="query")
    with projector.reading("chronology", "caseloads") as tx:
        found = people.search(tx, projector.sealer, name=name, date_of_birth=date_of_birth, identifiers=identifiers,
                              team=team, limit=limit)
    return People(count=len(found), people=cast(list[Person], found))


class Match(TypedDict):
    family_id: UUID
    member_ids: list[UUID]
    """The family's members who match."""
    matched_on: list[str]
    """What they match on: "NHS number", "UPN", "name and date of birth"."""
    member: int
    """Which of the members asked about (by their place in the list, from 0) matches."""


def possible_duplicates(projector: Projector, members: Sequence[Mapping[str, Any]]) -> list[Match]:
    """The families on the record with a child who may be one of the children
    ``members`` lists: the same NHS number or UPN, or the same name (or a former name)
    and date of birth, as the person index holds them now (erased families are not in
    it). Ids and what matched only: no one's details."""
    wanted: dict[str, tuple[int, str]] = {}
    for i, member in enumerate(members):
        if member.get("kind", "child") != "child":
            continue
        for token, what in people.duplicate_tokens(projector.sealer.index_key, member).items():
            wanted.setdefault(token, (i, what))
    if not wanted:
        return []
    with projector.reading("chronology") as tx:
        rows = people.members_with_any(tx, list(wanted))
    found: dict[tuple[str, int], Match] = {}
    for row in rows:
        i, what = wanted[row["token"]]
        match = found.setdefault((row["family_id"], i), Match(
            family_id=UUID(row["family_id"]), member_ids=[], matched_on=[], member=i))
        if UUID(row["member_id"]) not in match["member_ids"]:
            match["member_ids"].append(UUID(row["member_id"]))
        if what not in match["matched_on"]:
            match["matched_on"].append(what)
    return sorted(found.values(), key=lambda m: (m["member"], str(m["family_id"])))


def unchecked_duplicates(projector: Projector, members: Sequence[Mapping[str, Any]],
                         checked: Sequence[UUID]) -> list[Match]:
    """The possible matches of a registration's children that its registrant has not said
    (``not_duplicate_of``) they checked: a registration with any is not recorded."""
    return [m for m in possible_duplicates(projector, members) if m["family_id"] not in set(checked)]


def duplicates_in_words(matches: Sequence[Match]) -> str:
    """What a registration with unchecked possible matches is told, in plain words."""
    families = {m["family_id"] for m in matches}
    children = sorted({m["member"] for m in matches})
    return (f"{len(families)} {'family' if len(families) == 1 else 'families'} on the record may already hold "
            f"{'the child' if len(children) == 1 else 'children'} of this registration ("
            + ", ".join(f"members.{i}" for i in children)
            + "): check them, and record on the family found, or send the registration again with "
              "not_duplicate_of listing the families checked to register a new family")
