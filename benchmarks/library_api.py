"""The stack's own ceiling: the fixed stack (FastAPI and the ``eventsourcing`` library)
recording each command as one event, with nothing of the ledger's.

Each request is parsed as a plain JSON object, a family is an ``eventsourcing`` aggregate
whose only event carries the body, and a command is the library's ``repository.get`` then
``save`` (one transaction, with the library's own optimistic concurrency) in FastAPI's
thread pool, as the library is synchronous. The library's defaults throughout: its JSON
transcoder, no snapshots, no projection. None of what the ledger adds is here:
no token, no access check, no idempotency, no command model, no pack rules, no sealing,
no hash chain, no read models. So no service built on this stack, on this machine, can
record commands faster; the benchmark sets it beside the same reference as the ledger's
figure (docs/benchmarks.md).

It stores into the phase's own database, in the library's own table (``stored_events``
in its own SQLite file beside the ledger's; ``libraryceiling_events`` in the phase's
PostgreSQL schema). Run by ``benchmarks.append.through_http(...,
app="benchmarks.library_api:app")``, which sets ``LEDGER_DATABASE_URL`` and the rest as
for the ledger's own API process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from fastapi import FastAPI


def _persistence() -> dict[str, str]:
    """The library's settings for the database the benchmark phase gave the ledger."""
    url = os.environ.get("LEDGER_DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgres://")):
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(Path(os.environ["LEDGER_DATA_DIR"]) / "library-ceiling.sqlite3")}
    parts = urlsplit(url)
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": parts.path.lstrip("/"),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1", "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": parts.username or "postgres", "POSTGRES_PASSWORD": parts.password or "",
            "POSTGRES_SCHEMA": os.environ.get("LEDGER_DATABASE_SCHEMA") or "public"}


class Family(Aggregate):
    @event("Registered")
    def __init__(self, body: dict[str, Any]) -> None:
        self.entries = [body]

    @event("Recorded")
    def record(self, body: dict[str, Any]) -> None:
        self.entries.append(body)


class LibraryCeiling(Application[UUID]):
    pass


library = LibraryCeiling(env=_persistence())
app = FastAPI(title="benchmark ceiling: the library's own command, nothing of the ledger's")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/families", status_code=201)
def register(body: dict[str, Any]) -> dict[str, Any]:
    family = Family(body)
    library.save(family)
    return {"family_id": str(family.id), "version": family.version}


@app.post("/families/{family_id}/commands", status_code=201)
def command(family_id: UUID, body: dict[str, Any]) -> dict[str, Any]:
    family: Family = library.repository.get(family_id)
    family.record(body)
    library.save(family)
    return {"family_id": str(family.id), "version": family.version}
