"""The served app: the HTTP API (``api.app.create_app``) with the console's pages on it.

The pages are routes of the same app, so the API's application-wide dependencies run on
them: the access table (with the console's rows, ``console/access.py``), the refusal of
unknown query parameters, the access log. What differs is how a refusal is shown: a page
answers HTML (a sign-in page for 401), the API problem+json (``_as_pages``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.app import create_app as create_api
from console import access, oidc, pages, session
from console.rendering import HERE, page
from documents import chronology as documents
from ledger.application import Ledger
from ledger.settings import Settings


def create_app(ledger: Ledger | None = None, settings: Settings | None = None) -> FastAPI:
    """The API and the console, one app: one ledger, one projector, one access table."""
    app = create_api(ledger, settings)
    settings = app.state.settings
    app.state.policy = access.policy()
    app.state.console_sessions = session.Sessions()
    app.state.console_demo = settings.console_demo_sign_in and settings.local_tokens  # not beside a provider
    app.include_router(pages.home)
    app.include_router(pages.router)
    app.include_router(oidc.router)
    app.mount(f"{access.PREFIX}/static/documents", StaticFiles(directory=documents.STATIC), name="document-static")
    app.mount(f"{access.PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.middleware("http")(_renew_sessions)
    _as_pages(app)
    return app


async def _renew_sessions(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Past half its life, the session token of a page that answered is renewed."""
    response = await call_next(request)
    actor = (request.scope.get("state") or {}).get("actor")
    if (actor and "session" in actor and request.url.path.startswith(access.PREFIX)
            and response.status_code < 400 and not request.app.state.console_sessions.ended(actor["session"])):
        session.renew_if_due(response, request, request.app.state.settings, actor, datetime.now(timezone.utc))
    return response


def _as_pages(app: FastAPI) -> None:
    """A refusal of a console page as a page: 401 is the sign-in page (and where to come
    back to), anything else the error page with the API's own title and detail."""
    for kind, handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = _for_pages(handler)


def _for_pages(handler: Callable[..., Any]) -> Callable[..., Any]:
    async def handle(request: Request, exc: Exception) -> Response:
        answer: Response = await handler(request, exc)
        if not request.url.path.startswith(access.PREFIX + "/") and request.url.path != access.PREFIX:
            return answer
        body = json.loads(bytes(answer.body)) if answer.media_type == "application/problem+json" else {}
        status = answer.status_code
        if status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            redirect = RedirectResponse(f"{access.PREFIX}/sign-in?next={quote(target, safe='')}", status_code=303)
            session.stop(redirect, request)
            return redirect
        return page(request, "error.html", status=status, title=body.get("title", "Error"),
                    detail=body.get("detail", ""), errors=body.get("errors", []),
                    retry_after=answer.headers.get("Retry-After"))
    return handle
