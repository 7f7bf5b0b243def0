"""``/caseloads`` and ``/oversight``: who carries how many families, and management
oversight of one family or across families."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api import access
from api.auth import Actor
from api.dependencies import LedgerDep, ReadModels, Shown
from api.headers import ERRORS, marked
from api.responses import JSONResponse
from queries import oversight

router = APIRouter(responses=ERRORS)


@router.get("/caseloads", response_model=oversight.Caseloads, tags=["caseloads"])
def get_caseloads(
    ledger: LedgerDep, read_models: ReadModels, actor: Actor,
    team: Annotated[str | None, Query(max_length=200, description="One team (default: every team).")] = None,
) -> JSONResponse:
    """Open families and children per worker and team, against the packs' caps."""
    # Counts per worker and team, no family named: one access-log row for the read.
    return JSONResponse(oversight.caseloads(ledger, read_models, access.own_team(actor, team)))


@router.get("/families/{family_id}/oversight", response_model=oversight.FamilyOversight, tags=["oversight"])
def get_family_oversight(
    ledger: LedgerDep, read_models: ReadModels, family_id: UUID, actor: Actor,
    auditor: Annotated[str | None, Query(
        max_length=200,
        description="Check this person's independence of the family (default: the caller, if an auditor).")] = None,
) -> Response:
    """Every management decision on the family with who and when, the people with a
    footprint on it, its oversight gap, and an auditor's independence of it."""
    who = auditor or (actor["user_id"] if actor["role"] == "auditor" else None)
    found = oversight.family_oversight(ledger, read_models, family_id, auditor=who)
    return marked(JSONResponse(found), found["quarantined"])


@router.get("/oversight", tags=["oversight"],
            response_model=oversight.ManagerFootprint | oversight.OversightGaps | oversight.AuditorFootprint)
def get_oversight(
    ledger: LedgerDep, read_models: ReadModels, actor: Actor, shown: Shown,
    manager: Annotated[str | None, Query(
        max_length=200, description="One manager's decisions across families.")] = None,
    gaps: Annotated[bool, Query(description="Open families with no oversight within their pack's interval.")] = False,
    team: Annotated[str | None, Query(max_length=200, description="With gaps: one team.")] = None,
    auditor: Annotated[str | None, Query(
        max_length=200, description="The families this person has a footprint on.")] = None,
) -> JSONResponse:
    """A manager's footprint (``manager=``), the oversight gaps (``gaps=true``), or an
    auditor's conflicts (``auditor=``): one of the three."""
    oversight.one_question(manager, gaps, auditor)
    held = access.own_team(actor, None)  # a team role: the families its team holds now
    if manager is not None:
        footprint = oversight.manager_footprint(read_models, manager, team=held, staff=ledger.describe)
        shown(f["family_id"] for f in footprint["families"])
        return JSONResponse(footprint)
    if auditor is not None:
        prints = oversight.auditor_footprint(read_models, auditor, team=held)
        shown(p["family_id"] for p in prints["footprint"])
        return JSONResponse(prints)
    found = oversight.oversight_gaps(ledger, read_models, team=access.own_team(actor, team))
    shown(g["family_id"] for g in found["gaps"])
    return JSONResponse(found)
