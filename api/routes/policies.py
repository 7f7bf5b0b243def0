"""``/policies`` and ``/teams``: the policy packs and the team directory (reference data)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Actor
from api.dependencies import LedgerDep
from api.headers import ERRORS
from api.responses import JSONResponse
from ledger.policies.schema import Pack
from queries import policies

router = APIRouter(tags=["policies"], responses=ERRORS)


@router.get("/policies", response_model=policies.Policies)
def list_policies(ledger: LedgerDep, actor: Actor) -> JSONResponse:
    """Every policy pack this ledger knows, with its version and pathways."""
    return JSONResponse(policies.policies(ledger))


@router.get("/teams", response_model=policies.Teams)
def list_teams(ledger: LedgerDep, actor: Actor) -> JSONResponse:
    """The team directory: the teams families are registered for and transferred to
    (an admin adds one with ``ledger teams add``)."""
    return JSONResponse(policies.teams(ledger))


@router.get("/policies/{policy_id}", response_model=Pack)
def get_policy(ledger: LedgerDep, policy_id: str, actor: Actor) -> JSONResponse:
    """One pack whole: its vocabularies, authority, and every rule with its source."""
    return JSONResponse(policies.policy(ledger, policy_id).model_dump(mode="json"))
