"""``/families``: register a family, find families, and read a family's record as such
(its state now or as it stood, its events, what a decision-maker could see)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api import access
from api.auth import Actor
from api.dependencies import AccessLogDep, AsAt, LedgerDep, ReadModels, Shown
from api.headers import ERRORS, cached, etag, idempotency
from api.models import PossibleDuplicate, Registered, RegisterFamily, inlined_schema
from api.problems import Problem
from api.responses import JSONResponse
from queries import families, people, search

router = APIRouter(tags=["families"], responses=ERRORS)


@router.post("/families", status_code=201, response_model=Registered, responses={409: {
    "content": {"application/problem+json": {"schema": inlined_schema(PossibleDuplicate)}},
    "description": "A child of the registration may already be on the record (or another refusal)"}})
async def register_family(
    request: Request,
    body: RegisterFamily,
    ledger: LedgerDep,
    read_models: ReadModels,
    access_log: AccessLogDep,
    actor: Actor,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Register a family under a policy pack, for the caller's team, with its members.
    Send an ``Idempotency-Key``: the same request with the same key answers what the
    first did, once.

    A child who may already be on the record (the same NHS number or UPN, or the same
    name and date of birth as a child of another family) is answered 409 with the
    possible matches (``matches``: family ids, which members, on what) and nothing is
    recorded; check them, and send the registration again with ``not_duplicate_of``
    naming them to record it as a new family (kept on the registration, with who said
    so), or record on the family found."""
    idem = idempotency(idempotency_key, await request.body(), request.url.path)
    members = [m.model_dump() for m in body.members]

    def checked() -> list[people.Match]:  # the team is read from the database: not in the event loop
        ledger.may_register(policy=body.policy, team=body.team, actor=actor)
        return people.unchecked_duplicates(read_models, members, body.not_duplicate_of)

    unchecked = await run_in_threadpool(checked)
    if unchecked and not ledger.already_recorded(actor, idem):
        for family_id in sorted({m["family_id"] for m in unchecked}):
            access_log.record(actor=actor, action="possible-duplicate", path=request.url.path, query="",
                              family_id=family_id)
        raise Problem(409, "Possible duplicate", people.duplicates_in_words(unchecked), matches=[
            {**m, "family_id": str(m["family_id"]), "member_ids": [str(i) for i in m["member_ids"]]}
            for m in unchecked])
    recorded = await run_in_threadpool(
        ledger.register_family,
        policy=body.policy, team=body.team, members=members,
        actor=actor, occurred_at=body.occurred_at, idempotency=idem, not_duplicate_of=body.not_duplicate_of,
    )
    if recorded.replayed:  # what the first answer carried: the members as registered, read again
        access_log.record(actor=actor, action="register-replay", path=request.url.path, query="",
                          family_id=recorded.family_id)
    content = {
        "family_id": recorded.family_id, "version": recorded.version, "position": recorded.position,
        "members": [{k: v for k, v in m.items() if k != "added_by"} for m in recorded.members],
    }
    return JSONResponse(content, status_code=201, headers={
        "ETag": etag(recorded.version), "Location": f"/families/{recorded.family_id}"})


@router.get("/families", response_model=search.FamilySearch)
def find_families(
    read_models: ReadModels, actor: Actor, shown: Shown,
    name: Annotated[str | None, Query(min_length=1, max_length=search.MAX_TEXT, description=(
        "Whole words of a member's names, or their beginnings (case and accents ignored)."))] = None,
    date_of_birth: Annotated[date | None, Query(description=(
        "A member born on this date (with `name`, the same member)."))] = None,
    nhs_number: Annotated[str | None, Query(max_length=20, description=(
        "A member with this NHS number (10 digits; spaces allowed)."))] = None,
    upn: Annotated[str | None, Query(max_length=20, description="A member with this Unique Pupil Number.")] = None,
    council_person_id: Annotated[str | None, Query(max_length=50, description=(
        "A member with this id of the council's own."))] = None,
    postcode: Annotated[str | None, Query(max_length=10, description=(
        "A family that has lived at this postcode (any address of its history)."))] = None,
    family_or_member_id: Annotated[str | None, Query(alias="id", min_length=1, max_length=100, description=(
        "A family's id or a member's: a UUID, or its first 8 hex digits."))] = None,
    team: Annotated[str | None, Query(min_length=1, max_length=search.MAX_TEXT, description=(
        "The team holding the family (a team role: only its own)."))] = None,
    worker: Annotated[str | None, Query(min_length=1, max_length=search.MAX_TEXT, description=(
        "The lead worker's user id."))] = None,
    policy: Annotated[str | None, Query(min_length=1, max_length=search.MAX_TEXT, description=(
        "The policy pack the family is worked under."))] = None,
    status: Annotated[search.Status, Query(description=(
        "open: an episode is open; closed: the latest episode is closed; no_episode: never referred."))] = "any",
    sort: Annotated[search.Sort, Query(description=(
        "recent: the latest entry first; registered: the latest registered first; "
        "team: by team, then the latest entry first."))] = "recent",
    page: Annotated[int, Query(ge=1, le=search.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=search.MAX_PER_PAGE)] = search.PER_PAGE,
) -> JSONResponse:
    """Find families by a member's name or date of birth (through the blind index), by
    their id or a member's, by team, lead worker, pack and status, in any combination;
    with none, every family a page at a time. Closed families are found too, erased ones
    never; a team role finds only the families its team holds. Each family shown is
    written to the access log."""
    found = search.find_families(
        read_models, name=name, date_of_birth=date_of_birth, family_or_member_id=family_or_member_id,
        team=team, worker=worker, policy=policy, status=status, sort=sort, page=page, per_page=per_page,
        within_team=access.own_team(actor, None), nhs_number=nhs_number, upn=upn,
        council_person_id=council_person_id, postcode=postcode)
    shown(f["family_id"] for f in found["families"])
    return JSONResponse(found)


@router.get("/families/{family_id}", response_model=families.FamilyState)
def get_family(ledger: LedgerDep, read_models: ReadModels, family_id: UUID, actor: Actor,
               if_none_match: Annotated[str | None, Header()] = None,
               as_at: AsAt = None) -> Response:
    """The family's current state (or as at a past moment of recording), with its
    version as its ETag (``If-None-Match`` with it: 304)."""
    state = families.family(ledger, family_id, as_at, read_models)
    return cached(state, state["version"], if_none_match)


@router.get("/families/{family_id}/decisions/{event_id}", response_model=families.Decision)
def get_decision(ledger: LedgerDep, family_id: UUID, event_id: UUID, actor: Actor) -> JSONResponse:
    """What the decision-maker could see when they recorded this authorisation,
    closure or other decision: the family, chronology and deadlines just before it."""
    return JSONResponse(families.decision(ledger, family_id, event_id))


@router.get("/families/{family_id}/events", response_model=families.FamilyEvents)
def get_family_events(ledger: LedgerDep, family_id: UUID, actor: Actor,
                      if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """Every event of the family with its envelope, in version order (ETag: its version)."""
    found = families.events(ledger, family_id)
    return cached(found, found["version"], if_none_match)
