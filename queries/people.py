"""Finding people by name and date of birth, through the blind index (neither is stored
in the clear, ADR 0023). Erased families are never found."""

from __future__ import annotations

from datetime import date
from typing import cast
from uuid import UUID

from typing_extensions import TypedDict

from aggregates.errors import InvalidCommand
from projections import people
from projections.projector import Projector


class Person(TypedDict):
    member_id: UUID
    family_id: UUID
    given_name: str
    family_name: str
    date_of_birth: date | None
    kind: str
    team: str | None
    """The team holding the person's family now."""


class People(TypedDict):
    count: int
    people: list[Person]


def find_people(projector: Projector, *, name: str | None = None, date_of_birth: date | None = None,
                team: str | None = None, limit: int = 100) -> People:
    """People whose names begin with the words of ``name`` (case and accents ignored)
    and who were born on ``date_of_birth``; with ``team``, only of families it holds."""
    if name is None and date_of_birth is None:
        raise InvalidCommand("give a name, a date_of_birth, or both", field="query")
    with projector.reading("chronology", "caseloads") as tx:
        found = people.search(tx, projector.sealer, name=name, date_of_birth=date_of_birth, team=team, limit=limit)
    return People(count=len(found), people=cast(list[Person], found))
