"""The HTTP ceiling: the ledger's two command routes answering 201 and doing nothing else.

No database, no validation beyond parsing the JSON body, no thread hop: what uvicorn and
FastAPI alone give the benchmark's load generator on this machine. No service built on
them here can answer commands faster, so it shows how much of the reference insert rate
is within reach at all (docs/benchmarks.md).

Run by ``benchmarks.append.through_http(..., app="benchmarks.empty_api:app")``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

app = FastAPI(title="benchmark ceiling: an endpoint that does nothing")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/families", status_code=201)
async def register(body: dict[str, Any]) -> dict[str, str]:
    return {"family_id": str(uuid.uuid4())}


@app.post("/families/{family_id}/commands", status_code=201)
async def command(family_id: str, body: dict[str, Any]) -> dict[str, str]:
    return {"family_id": family_id}
