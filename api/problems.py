"""One place that turns every refusal into ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aggregates.errors import (
    IdempotencyMismatch,
    InvalidCommand,
    LedgerError,
    NotAuthorised,
    NotFound,
    RuleBroken,
    VersionConflict,
)
from api.responses import JSONResponse
from queries.reading import ReadModelsBehind

log = logging.getLogger("ledger.api")

STATUS: dict[type[LedgerError], int] = {
    InvalidCommand: 422,
    IdempotencyMismatch: 422,
    RuleBroken: 409,
    VersionConflict: 409,
    NotAuthorised: 403,
    NotFound: 404,
}


class Problem(Exception):
    """An HTTP-level refusal raised by the API layer itself (auth, headers)."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers, self.extra = status, title, detail, headers, extra


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = _printable({"type": "about:blank", "title": title, "status": status, "detail": detail, **extra})
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _printable(value: Any) -> Any:
    """A problem body that can always be written as JSON: a refused request may quote text
    that cannot be encoded (a lone surrogate), which is shown escaped instead."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(v) for v in value]
    return value


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def ledger_error(request: Request, exc: LedgerError) -> JSONResponse:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 422)
        extra: dict[str, Any] = {"field": exc.field} if exc.field else {}
        return problem(status, exc.title, exc.detail, **extra)

    @app.exception_handler(ReadModelsBehind)
    async def read_models_behind(request: Request, exc: ReadModelsBehind) -> JSONResponse:
        return problem(503, "Read models behind", exc.detail, {"Retry-After": "1"})

    @app.exception_handler(Problem)
    async def api_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc, message = e.get("loc", ()), e.get("msg", "")
            if e.get("type") == "value_error":  # our own validators' messages, without pydantic's prefix
                message = message.removeprefix("Value error, ")
            if e.get("type") == "json_invalid":  # loc is ("body", <character offset>)
                message = f"{message} at character {loc[-1]}" if len(loc) > 1 else message
                loc = ("body",)
            errors.append({"field": _location(loc) if loc != ("body",) else "body",
                           "message": message, "type": e.get("type", "")})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        unreadable = _unreadable_body(exc.__cause__)
        if exc.status_code == 400 and unreadable is not None:
            # FastAPI says only "There was an error parsing the body"; say what is wrong.
            return problem(422, "Invalid request", f"body: {unreadable}",
                           errors=[{"field": "body", "message": unreadable, "type": "json_invalid"}])
        return problem(exc.status_code, _reason(exc.status_code), str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if _is_database_unavailable(exc):
            return problem(503, "Service unavailable", "the database is not reachable; retry shortly",
                           {"Retry-After": "2"})
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "the ledger hit an unexpected error; nothing was recorded")


def _unreadable_body(cause: BaseException | None) -> str | None:
    """Why a JSON body could not be parsed at all, for the parse errors FastAPI lumps together."""
    if isinstance(cause, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {cause.start}): send JSON text in UTF-8"
    if isinstance(cause, RecursionError):
        return "the JSON is nested too deeply to read"
    return None


def _is_database_unavailable(exc: BaseException) -> bool:
    from eventsourcing.persistence import InterfaceError, OperationalError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (OperationalError, InterfaceError)):
            return True
        name = type(seen).__module__
        if name.startswith("psycopg") and type(seen).__name__ in ("OperationalError", "InterfaceError", "PoolTimeout"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
