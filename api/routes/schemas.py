"""``/schemas``: the published JSON Schemas of the feed, the envelope's and each event
type's (``queries/schemas.py``, ADR 0034). They hold no personal data: any signed-in role
reads them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.auth import Actor
from api.headers import ERRORS
from api.responses import JSONResponse
from queries import schemas

router = APIRouter(tags=["schemas"], responses=ERRORS)

SCHEMA_JSON = "application/schema+json"


@router.get("/schemas", response_model=schemas.SchemaIndex)
def list_schemas(actor: Actor) -> JSONResponse:
    """Every event type with the version of its schema and where it is served, and the
    envelope's schema: what a consumer of ``/feed`` validates against."""
    return JSONResponse(schemas.index())


@router.get("/schemas/{type}", response_model=schemas.JsonSchema, responses={200: {
    "description": "The JSON Schema (draft 2020-12), served as application/schema+json",
    "content": {SCHEMA_JSON: {"schema": {"$ref": "#/components/schemas/JsonSchema"}}}}})
def get_schema(type: Annotated[str, Path(description="An event type, as GET /schemas lists them, or envelope.")],
               actor: Actor) -> JSONResponse:
    """The JSON Schema of one event type's ``data`` (its ``$id`` is this path; its
    ``x-schema-version`` the ``schema_version`` its events carry), or of the envelope
    (``/schemas/envelope``). Fields marked ``x-personal`` hold personal data. An unknown
    type is 404."""
    return JSONResponse(schemas.schema(type), media_type=SCHEMA_JSON)
