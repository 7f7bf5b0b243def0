"""The HTTP API: thin routes that parse, authorise, call the ledger and map results.

``create_app`` builds the FastAPI app around one ``Ledger`` application. Business rules
live in the aggregate and the policy packs; errors become problem+json in
``api/problems.py``.
"""

from __future__ import annotations

import hashlib
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any, AsyncIterator
from uuid import UUID

import orjson
from fastapi import Body, Depends, FastAPI, Header, Query, Request, Response

from api import access, export_routes, problems, read_routes, trust_routes
from api.auth import Actor
from api.limits import BodyLimit
from api.models import Command, CommandRecorded, Moment, RegisterFamily, Registered
from api.problems import Problem
from api.responses import JSONResponse
from ledger.application import Idempotency, Ledger, event_view
from ledger.deadlines import State
from ledger.settings import Settings, get_settings
from projections import deadlines as deadline_model
from projections.projector import Projector
from replay import time_travel

PROBLEM = {"content": {"application/problem+json": {}}, "description": "Problem details"}
ERRORS: dict[int | str, dict[str, Any]] = {s: PROBLEM for s in (401, 403, 404, 409, 422)}


def create_app(ledger: Ledger | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or (ledger.settings if ledger else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not hasattr(app.state, "ledger"):
            app.state.ledger = Ledger(settings)
            _attach_projector(app)
        yield
        if ledger is None:
            app.state.ledger.close()

    app = FastAPI(
        title="Early Help case ledger",
        version="0.1.0",
        summary="Event-sourced system of record for early help family support.",
        default_response_class=JSONResponse,
        lifespan=lifespan,
        dependencies=[Depends(access.enforce)],
    )
    if ledger is not None:
        app.state.ledger = ledger
        _attach_projector(app)
    app.state.settings = settings
    app.state.signing_key = settings.signing_key()
    problems.install(app)
    app.middleware("http")(access.log_reads)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _routes(app)
    _policy_routes(app)
    read_routes.install(app)
    export_routes.install(app)
    trust_routes.install(app)
    return app


def _attach_projector(app: FastAPI) -> None:
    """The read models of this ledger's database: caught up now, and (inline mode) after
    every command this process records, so a caller reads its own writes."""
    ledger: Ledger = app.state.ledger
    projector = Projector(ledger)
    app.state.projector = projector
    app.state.access_log = ledger.access_log
    if ledger.settings.projections == "inline":
        projector.catch_up()
        ledger.listeners.append(lambda recorded: projector.catch_up(covering=recorded.position))


def _ledger(request: Request) -> Ledger:
    return request.app.state.ledger  # type: ignore[no-any-return]


def _etag(version: int) -> str:
    return f'"{version}"'


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise Problem(
            400 if not value else 422, "Invalid If-Match",
            f"If-Match must be the family's version as returned in its ETag, e.g. \"3\"; got {if_match!r}",
        )
    return int(value)


def _idempotency(key: str | None, request_body: bytes, path: str) -> Idempotency | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 200:
        raise Problem(422, "Invalid Idempotency-Key", "Idempotency-Key must be 1 to 200 characters")
    try:
        canonical = orjson.dumps(orjson.loads(request_body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = request_body
    digest = hashlib.sha256(path.encode() + b"\n" + canonical).hexdigest()
    return Idempotency(key=key, request_hash=digest)


def _routes(app: FastAPI) -> None:
    @app.get("/health", tags=["service"])
    def health(request: Request) -> dict[str, Any]:
        """``ok``, or ``degraded`` while a read model holds a family back (an event of it
        could not be applied: ``ledger project --retry-quarantined`` after the fix); the
        latest position and how far each read model has got."""
        ledger = _ledger(request)
        projector: Projector = request.app.state.projector
        held = projector.store.quarantine_rows()
        return {"status": "degraded" if held else "ok", "position": ledger.recorder.max_notification_id() or 0,
                "read_models": projector.positions(),
                "quarantined": {"families": len({r["family_id"] for r in held}), "entries": len(held),
                                "read_models": sorted({r["model"] for r in held})}}

    @app.post("/families", status_code=201, response_model=Registered, tags=["families"], responses=ERRORS)
    async def register_family(
        request: Request,
        body: RegisterFamily,
        actor: Actor,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Response:
        idem = _idempotency(idempotency_key, await request.body(), request.url.path)
        ledger = _ledger(request)
        recorded = await _run(
            ledger.register_family,
            policy=body.policy, team=body.team,
            members=[m.model_dump() for m in body.members],
            actor=actor, occurred_at=body.occurred_at, idempotency=idem,
        )
        members = list(recorded.members)
        if recorded.replayed:  # what the first answer carried: the members as registered, read again
            request.app.state.access_log.record(
                actor=actor, action="register-replay", path=request.url.path, query="",
                family_id=recorded.family_id)
        content = {
            "family_id": recorded.family_id, "version": recorded.version, "position": recorded.position,
            "members": [{k: v for k, v in m.items() if k != "added_by"} for m in members],
        }
        return JSONResponse(content, status_code=201, headers={
            "ETag": _etag(recorded.version), "Location": f"/families/{recorded.family_id}"})

    @app.post(
        "/families/{family_id}/commands", status_code=201, response_model=CommandRecorded,
        tags=["families"], responses=ERRORS,
    )
    async def record_command(
        request: Request,
        family_id: UUID,
        command: Annotated[Command, Body()],
        actor: Actor,
        if_match: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Response:
        expected = _expected_version(if_match)
        idem = _idempotency(idempotency_key, await request.body(), request.url.path)
        type_name, fields, context = command.split()
        recorded = await _run(
            _ledger(request).record, family_id, type_name, fields,
            actor=actor, occurred_at=command.occurred_at, about=command.about, context=context,
            expected_version=expected, idempotency=idem,
        )
        content = {"event_id": recorded.event_id, "family_id": recorded.family_id,
                   "version": recorded.version, "position": recorded.position}
        return JSONResponse(content, status_code=201, headers={"ETag": _etag(recorded.version)})

    @app.get("/families/{family_id}", tags=["families"], responses=ERRORS)
    def get_family(request: Request, family_id: UUID, actor: Actor,
                   if_none_match: Annotated[str | None, Header()] = None,
                   as_at: Annotated[Moment | None, Query(
                       description="The family as it stood at this moment of recording.")] = None) -> Response:
        """The family's current state (or as at a past moment of recording), with its version."""
        if as_at is not None:
            state = time_travel.family(_ledger(request), family_id, as_at)
        else:
            state = _ledger(request).family(family_id).state()
        for member in state["members"]:
            member.pop("added_by", None)
        return _cached(state, state["version"], if_none_match)

    @app.get("/families/{family_id}/decisions/{event_id}", tags=["families"], responses=ERRORS)
    def get_decision(request: Request, family_id: UUID, event_id: UUID, actor: Actor) -> Response:
        """What the decision-maker could see when they recorded this authorisation,
        closure or other decision: the family, chronology and deadlines just before it."""
        return JSONResponse(time_travel.decision(_ledger(request), family_id, event_id))

    @app.get("/families/{family_id}/events", tags=["families"], responses=ERRORS)
    def get_events(request: Request, family_id: UUID, actor: Actor,
                   if_none_match: Annotated[str | None, Header()] = None) -> Response:
        events = _ledger(request).family_events(family_id)
        body = {"family_id": family_id, "version": events[-1].originator_version,
                "events": [event_view(e) for e in events]}
        return _cached(body, events[-1].originator_version, if_none_match)


def _policy_routes(app: FastAPI) -> None:
    @app.get("/policies", tags=["policies"], responses=ERRORS)
    def list_policies(request: Request, actor: Actor) -> dict[str, Any]:
        """Every policy pack this ledger knows, with its version and pathways."""
        return {"policies": [
            {"id": p.id, "title": p.title, "council": p.council, "version": p.version,
             "effective_from": p.effective_from, "seed": p.seed, "summary": p.summary,
             "pathways": [{"id": t.id, "name": t.name} for t in p.pathways],
             "rules": len(p.rules)}
            for p in _ledger(request).packs.values()
        ]}

    @app.get("/teams", tags=["policies"], responses=ERRORS)
    def list_teams(request: Request, actor: Actor) -> dict[str, Any]:
        """The team directory: the teams families are registered for and transferred to
        (an admin adds one with ``ledger teams add``)."""
        return {"teams": [{"team_id": t["team_id"], "name": t["name"]} for t in _ledger(request).teams.all()]}

    @app.get("/policies/{policy_id}", tags=["policies"], responses=ERRORS)
    def get_policy(request: Request, policy_id: str, actor: Actor) -> Response:
        """One pack whole: its vocabularies, authority, and every rule with its source."""
        packs = _ledger(request).packs
        if policy_id not in packs:
            raise Problem(404, "Not found", f"no policy pack {policy_id!r}; known: {', '.join(sorted(packs))}")
        return JSONResponse(packs[policy_id].model_dump(mode="json"))

    @app.get("/families/{family_id}/deadlines", tags=["deadlines"], responses=ERRORS)
    def family_deadlines(
        request: Request, family_id: UUID, actor: Actor,
        as_of: Annotated[Moment | None, Query(description="Evaluate as of this moment (default now).")] = None,
        as_at: Annotated[Moment | None, Query(
            description="Only what had been recorded by this moment (time travel).")] = None,
    ) -> Response:
        """Every clock of the family's pack: state, due date, the events that started and
        stopped it, the child it concerns, and the rule's seed source."""
        result = _ledger(request).deadlines(family_id, as_of=as_of, known_at=as_at)
        return JSONResponse(result)

    @app.get("/deadlines", tags=["deadlines"], responses=ERRORS)
    def deadlines(
        request: Request, actor: Actor,
        team: Annotated[str | None, Query(max_length=200)] = None,
        worker: Annotated[str | None, Query(max_length=200)] = None,
        status: Annotated[list[State] | None, Query(
            description="Only clocks in these states (repeat the parameter for several).")] = None,
        due_before: Annotated[date | None, Query(description="Only clocks due before this date.")] = None,
        as_of: Annotated[Moment | None, Query(description="Judge states as at this past moment.")] = None,
        min_position: read_routes.MinPosition = None,
    ) -> Response:
        """Team and worker views: the clocks of open families, soonest due first. Read from
        the deadlines read model; with ``as_of`` (a moment in the past), evaluated from the
        record instead, so states are as they stood then."""
        states = set(status) if status else None
        team = access.own_team(request, team)
        if as_of is None:
            with read_routes.projector_of(request, min_position).reading("deadlines") as tx:
                rows = deadline_model.view(tx, now=_ledger(request).clock(), sealer=read_routes.sealer_of(request),
                                           team=team, worker=worker,
                                           states=states, due_before=due_before)
            access.families_shown(request, [r["family_id"] for r in rows])
            held = {h["family_id"] for h in read_routes.quarantined(request, ("deadlines",))}
            for row in rows:
                if row["family_id"] in held:
                    row["quarantined"] = True
        else:
            rows = _ledger(request).deadline_view(team=team, worker=worker, states=states,
                                                  due_before=due_before, as_of=as_of)
            access.families_shown(request, [r["family_id"] for r in rows])
        return JSONResponse({"count": len(rows), "deadlines": rows})


def _cached(content: Any, version: int, if_none_match: str | None) -> Response:
    etag = _etag(version)
    if if_none_match is not None and etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(content, headers={"ETag": etag})


async def _run(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking ledger call in the thread pool, keeping the event loop free."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(func, *args, **kwargs)
