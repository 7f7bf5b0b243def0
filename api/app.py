"""The HTTP API: thin routes that parse, authorise, call the ledger or a query and map
results (``api/routes/``, one router per resource).

``create_app`` builds the FastAPI app around one ``Ledger`` application and its
projector. Business rules live in the aggregate and the policy packs, reads in
``queries/``; errors become problem+json in ``api/problems.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api import access, docs, problems
from api.auth import VerifiedTokens
from api.dependencies import refuse_unknown_query
from api.limits import BodyLimit
from api.responses import JSONResponse
from api.routes import ROUTERS
from ledger.application import Ledger
from ledger.heap import settled
from ledger.oidc import Provider
from ledger.settings import Settings, get_settings
from projections.projector import Projector


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operation id: its function's name (``register_family``,
    ``get_chronology``), which a generated client uses as its method's name."""
    return route.name


def served_routes(app: FastAPI) -> list[BaseRoute]:
    """Every route the app serves, its routers' included: FastAPI from 0.16x holds an
    included router as one entry of ``app.routes`` and resolves its routes lazily."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with lazily included routers
    except ImportError:  # pragma: no cover - FastAPI that copies routes into the app
        return list(app.routes)
    return [context.original_route for context in iter_route_contexts(app.routes)]


def create_app(ledger: Ledger | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or (ledger.settings if ledger else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not hasattr(app.state, "ledger"):
            app.state.ledger = Ledger(settings)
            _attach_projector(app)
        try:
            with settled(app.state.ledger):  # ADRs 0048, 0049
                yield
        finally:
            if ledger is None:
                app.state.ledger.close()

    app = FastAPI(
        title="Early Help case ledger",
        version="0.1.0",
        summary="Event-sourced system of record for early help family support.",
        default_response_class=JSONResponse,
        lifespan=lifespan,
        dependencies=[Depends(access.enforce), Depends(refuse_unknown_query)],
        generate_unique_id_function=operation_id,
        docs_url=None,  # served from the bundled Swagger UI, not a CDN: api/docs.py
        redoc_url=None,
    )
    if ledger is not None:
        app.state.ledger = ledger
        _attach_projector(app)
    app.state.settings = settings
    app.state.signing_key = settings.signing_key()
    app.state.oidc = Provider(settings) if settings.oidc else None  # fetches nothing until a token comes
    app.state.tokens = VerifiedTokens()
    problems.install(app)
    app.add_middleware(access.LogReads)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)
    docs.install(app)
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
        ledger.inline = projector  # a command's read model rows in its own transaction (ADR 0040)
        ledger.listeners.append(lambda recorded: projector.recorded(recorded.position, recorded.projected))
