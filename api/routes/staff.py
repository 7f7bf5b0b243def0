"""``/staff``: the staff directory, the names and job titles people read instead of user
ids (``ledger/staff.py``, ADR 0030). Admins keep it; each change is appended to the
access log (``api/access.py``: action ``staff-update``), with who made it and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field

from aggregates.errors import NotFound
from api.auth import Actor
from api.dependencies import LedgerDep
from api.headers import ERRORS
from api.responses import JSONResponse
from ledger.commands import Checked
from ledger.staff import MAX_JOB_TITLE, MAX_NAME, MAX_USER_ID

router = APIRouter(tags=["staff"], responses=ERRORS)

UserId = Annotated[str, Path(min_length=1, max_length=MAX_USER_ID, description="The user id tokens carry (`sub`).")]


class StaffMember(BaseModel):
    user_id: str
    name: str
    job_title: str | None
    updated_at: str
    """When the entry was last changed (UTC, ISO 8601)."""
    updated_by: str
    """Who last changed it (a user id, or ``cli:<operator>``)."""


class StaffDirectory(BaseModel):
    staff: list[StaffMember]


class StaffRequest(Checked):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_NAME, description="As colleagues read it: 'Sam Jones'.")
    job_title: str | None = Field(default=None, max_length=MAX_JOB_TITLE,
                                  description="e.g. 'Family Support Worker' (optional).")


@router.get("/staff", response_model=StaffDirectory)
def list_staff(ledger: LedgerDep, actor: Actor) -> JSONResponse:
    """Everyone in the staff directory, by user id (admins)."""
    return JSONResponse({"staff": [e.as_dict() for e in ledger.staff.all()]})


@router.get("/staff/{user_id}", response_model=StaffMember)
def get_staff_member(ledger: LedgerDep, user_id: UserId, actor: Actor) -> JSONResponse:
    """One person's entry in the staff directory (admins); 404 if there is none."""
    found = ledger.staff.get(user_id)
    if found is None:
        raise NotFound(f"no one with user id {user_id!r} is in the staff directory")
    return JSONResponse(found.as_dict())


@router.put("/staff/{user_id}", response_model=StaffMember)
def put_staff_member(ledger: LedgerDep, user_id: UserId, actor: Actor,
                     body: Annotated[StaffRequest, Body()]) -> JSONResponse:
    """Add someone to the staff directory, or change their name or job title (admins).
    Entries already recorded keep the name their token gave them; entries recorded
    without one, and workers named by id, read this name from now on."""
    return JSONResponse(ledger.staff.put(user_id, body.name, body.job_title, actor).as_dict())
