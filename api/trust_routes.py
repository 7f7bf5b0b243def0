"""Routes about trust in the record: who read it (the access log)."""

from __future__ import annotations

from uuid import UUID

from fastapi import FastAPI, Request, Response

from api.auth import Actor
from api.responses import JSONResponse


def install(app: FastAPI) -> None:
    @app.get("/families/{family_id}/access-log", tags=["trust"])
    def get_access_log(request: Request, family_id: UUID, actor: Actor) -> Response:
        """Every read of this family's record: who, when, what (managers and auditors)."""
        request.app.state.ledger.family(family_id)  # 404 if there is no such family
        return JSONResponse({"family_id": family_id, "reads": request.app.state.access_log.for_family(family_id)})
