"""``/people``: find people by name and date of birth, through the blind index."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api import access
from api.auth import Actor
from api.dependencies import ReadModels, Shown
from api.headers import ERRORS
from api.responses import JSONResponse
from queries import people

router = APIRouter(tags=["people"], responses=ERRORS)


@router.get("/people", response_model=people.People)
def find_people(
    read_models: ReadModels, actor: Actor, shown: Shown,
    name: Annotated[str | None, Query(min_length=1, max_length=200, description=(
        "Whole words of a person's names, or their beginnings (case and accents ignored)."))] = None,
    date_of_birth: Annotated[date | None, Query(description="Born on this date.")] = None,
    nhs_number: Annotated[str | None, Query(max_length=20, description="Their NHS number (10 digits).")] = None,
    upn: Annotated[str | None, Query(max_length=20, description="Their Unique Pupil Number.")] = None,
    council_person_id: Annotated[str | None, Query(
        max_length=50, description="The council's own id for them.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    """Find people by name (or a former name), date of birth, NHS number, UPN or the
    council's own id, through the blind index (none is stored in the clear); a manager
    finds only people of families their team holds. Erased families are never found.
    Each family shown is written to the access log."""
    found = people.find_people(read_models, name=name, date_of_birth=date_of_birth, nhs_number=nhs_number,
                               upn=upn, council_person_id=council_person_id,
                               team=access.own_team(actor, None), limit=limit)
    shown(p["family_id"] for p in found["people"])
    return JSONResponse(found)
