"""What the ledger's HTTP headers carry: a family's version as its ``ETag`` (with
``If-None-Match`` for a 304 and ``If-Match`` for optimistic concurrency), and the
``Idempotency-Key`` that makes a retried write safe. Export files say their name in
``Content-Disposition``; a read whose family a read model holds back says so in
``Ledger-Quarantined``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Response

from api.problems import Problem
from api.responses import JSONResponse
from ledger.application import Idempotency
from projections.exports import Export
from queries.reading import Quarantined

PROBLEM = {"content": {"application/problem+json": {}}, "description": "Problem details"}
ERRORS: dict[int | str, dict[str, Any]] = {s: PROBLEM for s in (401, 403, 404, 409, 422)}
"""The refusals every route may answer, as problem+json (``api/problems.py``)."""


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version ``If-Match`` names, or None without one."""
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise Problem(
            400 if not value else 422, "Invalid If-Match",
            f"If-Match must be the family's version as returned in its ETag, e.g. \"3\"; got {if_match!r}",
        )
    return int(value)


def idempotency(key: str | None, request_body: bytes, path: str) -> Idempotency | None:
    """The key and a hash of what it was sent with (the path and the body, canonical)."""
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


def cached(content: Any, version: int, if_none_match: str | None) -> Response:
    """``content`` with its version as ETag, or 304 if the caller holds that version."""
    tag = etag(version)
    if if_none_match is not None and tag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    return JSONResponse(content, headers={"ETag": tag})


def file(export: Export) -> Response:
    """An export's bytes, offered as a file of its name."""
    return Response(export.content, media_type=export.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{export.filename}"'})


def marked(response: Response, held: Sequence[Quarantined]) -> Response:
    """A read's answer with the read models that hold its family back named in a header."""
    if held:
        response.headers["Ledger-Quarantined"] = ", ".join(
            f"{h['read_model']} (from position {h['position']})" for h in held)
    return response


CSV = {"text/csv": {"schema": {"type": "string"}}}
DOCX = {"application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
    "schema": {"type": "string", "format": "binary"}}}
PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}


def answered_as(description: str, *media: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a 200 that may also be a file (CSV, Word), besides the
    route's response model, and the refusals every route may answer."""
    return {200: {"description": description, "content": {k: v for m in media for k, v in m.items()}}, **ERRORS}
