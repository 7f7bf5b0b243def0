"""The API's description, readable with no network: ``/docs`` is Swagger UI served from
the ``swagger-ui-bundle`` package's copy of it, not from a CDN (ADR 0028).

FastAPI's own ``/docs`` and ``/redoc`` load their JavaScript and CSS from a CDN, so on a
council network without internet they were blank pages. What is served here, all of it
without a token, as ``/openapi.json`` is:

- ``/docs``: the Swagger UI page, its script, style and icon from ``/docs/assets``;
- ``/docs/oauth2-redirect``: the page Swagger UI's OAuth2 sign-in returns to;
- ``/docs/assets/...``: the bundle's files, as they are in the package;
- ``/redoc``: a redirect to ``/docs``. ReDoc is not bundled: an old link lands on the
  description that works rather than on a blank page.

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

import re
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # a folder of files, no py.typed

from api.problems import problem

DOCS = "/docs"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
REDOC = "/redoc"

SWAGGER_UI = Path(str(swagger_ui_path))
"""The bundle's folder of Swagger UI files (``.../vendor/swagger-ui-<version>``)."""
_found = re.search(r"(\d+)\.\d+", SWAGGER_UI.name)
SWAGGER_UI_MAJOR = int(_found.group(1)) if _found else 0
"""Swagger UI's major version, from the bundle's folder name: before 5 it reads OpenAPI
3.0 only (see ``openapi_30``)."""


def install(app: FastAPI) -> None:
    """Serve ``/docs``, its OAuth2 redirect, its assets and ``/redoc`` on ``app``, which
    was made with ``docs_url=None, redoc_url=None``."""

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        # No "online validator" badge: Swagger UI would send the document's address to
        # validator.swagger.io (from any host but localhost), and offline show a broken image.
        parameters: dict[str, Any] = {"validatorUrl": None}
        if SWAGGER_UI_MAJOR < 5:  # it would say "Unable to render this definition" to 3.1
            parameters["spec"] = openapi_30(app.openapi())
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
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
        self.files = StaticFiles(directory=SWAGGER_UI)

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


def openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document FastAPI writes, said in OpenAPI 3.0 for a Swagger UI
    before 5 (the bundle's 4.15.5 refuses any ``openapi`` but 3.0.n): an optional value's
    ``anyOf [..., {"type": "null"}]`` becomes ``nullable``, ``const`` a one-value ``enum``,
    a numeric ``exclusiveMinimum``/``exclusiveMaximum`` the 3.0 boolean beside the bound.
    Given to the page only, never served as the API's document: ``/openapi.json`` stays 3.1.
    Not needed with a Swagger UI 5 bundle, which reads 3.1 as it is."""
    converted: dict[str, Any] = _as_30(document)
    converted["openapi"] = "3.0.3"
    return converted


NULL = {"type": "null"}


def _as_30(node: Any) -> Any:
    if isinstance(node, list):
        return [_as_30(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _as_30(v) for k, v in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and NULL in options:
        rest = [o for o in options if o != NULL]
        del node["anyOf"]
        node["nullable"] = True
        if len(rest) == 1 and "$ref" not in rest[0]:
            node = {**rest[0], **node}
        elif rest:  # a $ref takes no siblings in 3.0: wrapped in allOf to carry nullable
            node["anyOf" if len(rest) > 1 else "allOf"] = rest
    if "const" in node and not isinstance(node["const"], dict):  # a property named const is a dict
        node["enum"] = [node.pop("const")]
    for bound in ("minimum", "maximum"):
        key = "exclusive" + bound.title()
        value = node.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[bound], node[key] = value, True
    return node
