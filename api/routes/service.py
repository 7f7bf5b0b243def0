"""``/health`` and ``/feed``: the service itself, and every event in global order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.access import log_as
from api.auth import FULL_FEED, Actor, has_scope
from api.dependencies import LedgerDep, ProjectorDep, Shown
from api.headers import ERRORS
from api.problems import Problem
from api.responses import JSONResponse
from projections.feed import View
from queries import service
from queries.reading import MAX_POSITION

router = APIRouter(responses=ERRORS)


@router.get("/health", response_model=service.Health, tags=["service"])
def get_health(ledger: LedgerDep, projector: ProjectorDep) -> JSONResponse:
    """``ok``, or ``degraded`` while a read model holds a family back (an event of it
    could not be applied: ``ledger project --retry-quarantined`` after the fix); the
    latest position and how far each read model has got."""
    return JSONResponse(service.health(ledger, projector))


WAIT_LIMIT = 30
"""The longest a feed read may wait for an event (seconds)."""


@router.get("/feed", response_model=service.Feed, tags=["feed"], responses={
    200: {"content": {service.CLOUDEVENTS_BATCH: {"schema": {"type": "array", "items": {"type": "object"}}}},
          "description": "The page: as JSON (the default), or as a CloudEvents 1.0 batch when asked for with "
                         f"`Accept: {service.CLOUDEVENTS_BATCH}` (the cursors are then in the headers)."},
    409: {"content": {"application/problem+json": {}},
          "description": "`after` is beyond the ledger's last position (named as `last_position`)."}})
async def get_feed(
    request: Request, ledger: LedgerDep, actor: Actor, shown: Shown,
    after: Annotated[int, Query(
        ge=0, le=MAX_POSITION, description="The last position already processed (0 for the start).")] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_FEED_LIMIT)] = 100,
    types: Annotated[list[str] | None, Query(description="Only these event types.")] = None,
    wait: Annotated[float, Query(
        ge=0, le=WAIT_LIMIT, description="With nothing after `after`, hold the answer up to this many seconds "
        "and answer as soon as an event is recorded (long polling).")] = 0,
) -> JSONResponse:
    """Every event in global order after a position, with envelopes, the next cursor and
    the ledger's last position (`Link: rel="next"` and `Ledger-Last-Position` say them
    too). A service reads it pseudonymised unless its token carries the `feed:full`
    scope; an auditor reads it in full. Each page read is in the access log, once for
    each family it showed, with the view."""
    view: View = "full" if actor["role"] != "service" or has_scope(actor, FULL_FEED) else "pseudonymised"
    log_as(request, f"feed-{view}")
    try:
        found = await service.feed_waiting(ledger, after, limit, types or [], view, wait)
    except service.CursorAhead as e:
        raise Problem(409, "Cursor beyond the end", str(e), last_position=e.last_position) from None
    shown(e["family_id"] for e in found["events"])
    headers = {"Link": f'<{request.url.include_query_params(after=found["next"])}>; rel="next"',
               "Ledger-Last-Position": str(found["last_position"]), "Vary": "Accept"}
    if wants(request.headers.get("accept"), service.CLOUDEVENTS_BATCH):
        batch = service.cloudevents(found, source=ledger.settings.deployment(), base_url=str(request.base_url))
        return JSONResponse(batch, headers=headers, media_type=service.CLOUDEVENTS_BATCH)
    return JSONResponse(found, headers=headers)


def wants(accept: str | None, media_type: str) -> bool:
    """Whether an ``Accept`` header prefers ``media_type`` (named as such, not by a
    wildcard) to ``application/json``, the default answer."""
    if not accept:
        return False
    quality: dict[str, float] = {}
    for item in accept.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[name.lower()] = max(q, quality.get(name.lower(), 0.0))
    plain = max(quality.get(t, 0.0) for t in ("application/json", "application/*", "*/*"))
    return quality.get(media_type, 0.0) > 0 and quality[media_type] >= plain
