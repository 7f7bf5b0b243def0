"""Trust in the record and the people in it: who read a family's record (the access
log), everything held about one person (subject access), how long records are kept
(retention, legal holds) and crypto-shredding (erasure)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response

from aggregates.errors import InvalidCommand, NotFound
from api.auth import Actor
from api.dependencies import LedgerDep, ReadModels, Shown
from api.headers import CSV, ERRORS, answered_as, file
from api.models import Erased, ErasureRequest, HoldRequest
from api.responses import JSONResponse
from queries import trust

router = APIRouter(tags=["trust"], responses=ERRORS)


def _scope(value: str) -> UUID | None:
    """``all`` or a family id, for legal holds."""
    if value == "all":
        return None
    try:
        return UUID(value)
    except ValueError:
        raise InvalidCommand(f"{value!r} is neither 'all' nor a family id", field="family_id") from None


@router.get("/families/{family_id}/access-log", response_model=trust.AccessLog)
def get_access_log(ledger: LedgerDep, family_id: UUID, actor: Actor) -> JSONResponse:
    """Every read of this family's record: who, when, what (managers and auditors)."""
    return JSONResponse(trust.access_log(ledger, family_id))


@router.get("/members/{member_id}/subject-access", response_model=trust.SubjectAccess,
            responses=answered_as("Everything held about the person, as a JSON or CSV file", CSV))
def get_subject_access(ledger: LedgerDep, read_models: ReadModels, member_id: UUID, actor: Actor,
                       format: Literal["json", "csv"] = "json") -> Response:
    """Everything held about one person (UK GDPR Art. 15): the events about them or
    their whole family, their chronology and the clocks that concern them, without
    entries about a sibling alone or other members' names and details."""
    return file(trust.subject_access_export(ledger, read_models, member_id, format))


@router.post("/families/{family_id}/erasure", status_code=201, response_model=Erased)
def erase_family(ledger: LedgerDep, family_id: UUID, actor: Actor,
                 body: Annotated[ErasureRequest, Body()]) -> JSONResponse:
    """Crypto-shred the family's personal data (admins): its key is destroyed, every
    name, date of birth and free text reads "[erased]" from then on, and the audit
    structure (types, times, actors, deadline outcomes, the hash chain) stays.
    Refused (409) under a legal hold, with an open episode, or if already erased."""
    recorded = ledger.erase(family_id, actor=actor, reason=body.reason, legal_basis=body.legal_basis)
    return JSONResponse({"event_id": recorded.event_id, "family_id": family_id, "version": recorded.version,
                         "position": recorded.position}, status_code=201)


@router.get("/legal-holds", response_model=trust.LegalHolds)
def list_legal_holds(ledger: LedgerDep, actor: Actor, shown: Shown,
                     history: Annotated[bool, Query(description="Lifted holds too.")] = False) -> JSONResponse:
    """Legal holds in force (or every hold ever placed)."""
    found = trust.legal_holds(ledger, history=history)
    shown(h["family_id"] for h in found["holds"])
    return JSONResponse(found)


@router.put("/legal-holds/{family_id}", response_model=trust.LegalHold)
def place_legal_hold(ledger: LedgerDep, family_id: str, actor: Actor,
                     body: Annotated[HoldRequest, Body()]) -> JSONResponse:
    """Hold one family (a family id) or every family (``all``): nothing held is erased."""
    scope = _scope(family_id)
    if scope is not None:
        ledger.family(scope)  # 404 if there is no such family
    return JSONResponse(ledger.holds.place(scope, reason=body.reason, by=actor["user_id"]))


@router.delete("/legal-holds/{family_id}", response_model=trust.LegalHold)
def lift_legal_hold(ledger: LedgerDep, family_id: str, actor: Actor) -> JSONResponse:
    """Lift the hold in force on one family (or on ``all``); its record is kept."""
    lifted = ledger.holds.lift(_scope(family_id), by=actor["user_id"])
    if lifted is None:
        raise NotFound(f"no legal hold in force on {family_id}")
    return JSONResponse(lifted)


@router.get("/retention/due", response_model=trust.RetentionDue)
def get_retention_due(
    ledger: LedgerDep, read_models: ReadModels, actor: Actor, shown: Shown,
    as_of: Annotated[date | None, Query(description="A London date (default today).")] = None,
) -> JSONResponse:
    """Families whose pack's retention period has passed (closed, and past the later of
    the years after closure and the youngest child's birthday the pack states), held
    or not, and not yet erased."""
    found = trust.retention_due(ledger, read_models, as_of)
    shown(f["family_id"] for f in found["families"])
    return JSONResponse(found)
