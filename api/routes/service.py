"""``/health`` and ``/feed``: the service itself, and every event in global order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Actor
from api.dependencies import LedgerDep, ProjectorDep, Shown
from api.headers import ERRORS
from api.responses import JSONResponse
from queries import service
from queries.reading import MAX_POSITION

router = APIRouter(responses=ERRORS)


@router.get("/health", response_model=service.Health, tags=["service"])
def get_health(ledger: LedgerDep, projector: ProjectorDep) -> JSONResponse:
    """``ok``, or ``degraded`` while a read model holds a family back (an event of it
    could not be applied: ``ledger project --retry-quarantined`` after the fix); the
    latest position and how far each read model has got."""
    return JSONResponse(service.health(ledger, projector))


@router.get("/feed", response_model=service.Feed, tags=["feed"])
def get_feed(
    ledger: LedgerDep, actor: Actor, shown: Shown,
    after: Annotated[int, Query(
        ge=0, le=MAX_POSITION, description="The last position already processed (0 for the start).")] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_FEED_LIMIT)] = 100,
    types: Annotated[list[str] | None, Query(description="Only these event types.")] = None,
) -> service.Feed:
    """Every event in global order after a position, with envelopes, and the next cursor.
    (Serialised through its response model, as it always has been: instants in UTC end
    in ``Z`` here.)"""
    found = service.feed(ledger, after, limit, types or [])
    shown(e["family_id"] for e in found["events"])
    return found
