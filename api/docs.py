"""The API's description, readable with no network: ``/docs`` is Swagger UI served from
the copy of it the ``fastapi-offline`` package ships, not from a CDN (ADR 0028).

FastAPI's own ``/docs`` and ``/redoc`` load their JavaScript and CSS from a CDN, so on a
council network without internet they were blank pages. What is served here, all of it
without a token, as ``/openapi.json`` is:

- ``/docs``: the Swagger UI page, its script, style and icon from ``/docs/assets``;
- ``/docs/oauth2-redirect``: the page Swagger UI's OAuth2 sign-in returns to;
- ``/docs/assets/...``: the package's files (Swagger UI 5, which reads OpenAPI 3.1 as
  FastAPI writes it), as they are in the package;
- ``/redoc``: a redirect to ``/docs``. The package's ReDoc fetches its logo from
  cdn.redoc.ly, which a page of ours must not do: an old link lands on the description
  that works instead.

Public, because these are plain Starlette routes (``app.add_route``), as FastAPI's own
were, not ``APIRoute``s: the application-wide dependencies, ``access.enforce`` among them,
run only for ``APIRoute``s. They show the API's shape and never case content; the access
table (``api/access.py``) governs the ``APIRoute``s, every one of which is in it or refused.

The assets are answered by a middleware in front of the routes rather than by a ``Mount``
in the routing table: the routing table is what the access table and its test
(``tests/test_access.py``) walk, and outside the table it holds the API description's
four routes and nothing else.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem

DOCS = "/docs"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
REDOC = "/redoc"

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
"""The package's folder of files: ``swagger-ui-bundle.js`` (Swagger UI 5), ``swagger-ui.css``,
``favicon.png`` (and a ReDoc, unused)."""


def install(app: FastAPI) -> None:
    """Serve ``/docs``, its OAuth2 redirect, its assets and ``/redoc`` on ``app``, which
    was made with ``docs_url=None, redoc_url=None``."""

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        # No "online validator" badge: Swagger UI would send the document's address to
        # validator.swagger.io (from any host but localhost), and offline show a broken image.
        parameters: dict[str, Any] = {"validatorUrl": None}
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT,
            swagger_ui_parameters=parameters,
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> RedirectResponse:
        return RedirectResponse(request.scope.get("root_path", "").rstrip("/") + DOCS)

    app.add_route(DOCS, swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT, oauth2_redirect, include_in_schema=False)
    app.add_route(REDOC, redoc, include_in_schema=False)
    app.add_middleware(DocsAssets)


class DocsAssets:
    """ASGI middleware: ``/docs/assets/<file>`` answered from the bundle's folder (GET and
    HEAD, with the ETag and Last-Modified headers ``StaticFiles`` gives), anything else
    handed on. A file not in the bundle is 404 problem+json, as any unknown path is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.files = StaticFiles(directory=ASSETS_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _route_path(scope).startswith(ASSETS + "/"):
            await self.app(scope, receive, send)
            return
        inner = {**scope, "root_path": scope.get("root_path", "") + ASSETS}
        try:
            await self.files(inner, receive, send)
        except HTTPException as e:  # outside the routes, so no exception handler sees it
            answer: Response = problem(e.status_code, HTTPStatus(e.status_code).phrase,
                                       f"{_route_path(scope)}: {e.detail}", dict(e.headers or {}))
            await answer(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The request's path below the app's ``root_path`` (the ASGI server puts both in
    ``path``, as Starlette's routing reads it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path
