"""``/families/{id}/commands``: record one event on a family.

The one authorisation point of a command is the command path itself: the access table
lets only team roles through (without loading the family), and ``Ledger.record`` looks
the Idempotency-Key up once, loads the family once and checks the team once (the
aggregate's own rule, which a transfer moves) before anything is stored."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from api.auth import Actor
from api.dependencies import LedgerDep
from api.headers import ERRORS, etag, expected_version, idempotency
from api.models import Command, CommandRecorded
from api.responses import JSONResponse

router = APIRouter(tags=["families"], responses=ERRORS)


@router.post("/families/{family_id}/commands", status_code=201, response_model=CommandRecorded)
async def record_command(
    request: Request,
    family_id: UUID,
    command: Annotated[Command, Body()],
    ledger: LedgerDep,
    actor: Actor,
    if_match: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Record one event (``type`` is its vocabulary name) with when it happened
    (``occurred_at``). ``If-Match: "<version>"`` for optimistic concurrency,
    ``Idempotency-Key`` for safe retries."""
    expected = expected_version(if_match)
    idem = idempotency(idempotency_key, await request.body(), request.url.path)
    type_name, fields, context = command.split()
    recorded = await run_in_threadpool(
        ledger.record, family_id, type_name, fields,
        actor=actor, occurred_at=command.occurred_at, about=command.about, context=context,
        expected_version=expected, idempotency=idem,
    )
    content = {"event_id": recorded.event_id, "family_id": recorded.family_id,
               "version": recorded.version, "position": recorded.position}
    return JSONResponse(content, status_code=201, headers={"ETag": etag(recorded.version)})
