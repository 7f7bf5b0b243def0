"""``/families/{id}/deadlines`` and ``/deadlines``: one family's clocks, and the team and
worker views across open families."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api import access
from api.auth import Actor
from api.dependencies import LedgerDep, ReadModels, Shown
from api.headers import ERRORS
from api.models import Moment
from api.responses import JSONResponse
from queries import deadlines

router = APIRouter(tags=["deadlines"], responses=ERRORS)


@router.get("/families/{family_id}/deadlines", response_model=deadlines.FamilyDeadlines)
def get_family_deadlines(
    ledger: LedgerDep, family_id: UUID, actor: Actor,
    as_of: Annotated[Moment | None, Query(description="Evaluate as of this moment (default now).")] = None,
    as_at: Annotated[Moment | None, Query(
        description="Only what had been recorded by this moment (time travel).")] = None,
) -> JSONResponse:
    """Every clock of the family's pack: state, due date, the events that started and
    stopped it, the child it concerns, and the rule's seed source."""
    return JSONResponse(deadlines.family_deadlines(ledger, family_id, as_of=as_of, as_at=as_at))


@router.get("/deadlines", response_model=deadlines.DeadlineList)
def list_deadlines(
    ledger: LedgerDep, read_models: ReadModels, actor: Actor, shown: Shown,
    team: Annotated[str | None, Query(max_length=200)] = None,
    worker: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[list[deadlines.State] | None, Query(
        description="Only clocks in these states (repeat the parameter for several).")] = None,
    due_before: Annotated[date | None, Query(description="Only clocks due before this date.")] = None,
    as_of: Annotated[Moment | None, Query(description="Judge states as at this past moment.")] = None,
    episodes: Annotated[deadlines.Episodes, Query(
        description="open (default): families whose latest episode is open; closed; or any.")] = "open",
) -> JSONResponse:
    """Team and worker views: the clocks of open families (or closed ones), soonest due first. Read from
    the deadlines read model; with ``as_of`` (a moment in the past), evaluated from the
    record instead, so states are as they stood then."""
    found = deadlines.deadlines(ledger, read_models, team=access.own_team(actor, team), worker=worker,
                                states=set(status) if status else None, due_before=due_before, as_of=as_of,
                                episodes=episodes)
    shown(r["family_id"] for r in found["deadlines"])
    return JSONResponse(found)
