"""Routes about trust in the record and the people in it: who read it (the access log),
what it holds about one person (subject access), how long it is kept (retention, legal
holds) and crypto-shredding (erasure). ``subject_access_export`` is shared with
``ledger export --member``, so both give the same bytes (ADR 0013)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import Body, FastAPI, Query, Request, Response
from pydantic import ConfigDict, Field

from aggregates.errors import InvalidCommand, NotFound
from aggregates.vocabulary import ERASURE_REASONS, ErasureReason  # noqa: F401
from api import access
from api.auth import Actor
from api.read_routes import ledger_of, projector_of
from api.responses import JSONResponse
from ledger.application import Ledger, event_view
from ledger.calendar import london_date
from ledger.commands import Checked
from ledger.retention import retain_until
from projections import chronology, retention, subject_access
from projections.exports import Export
from projections.projector import Projector



class ErasureRequest(Checked):
    """Why a family's personal data is being erased. Categories and a legal basis only:
    this request is itself kept in the record, so it must not carry personal data."""

    model_config = ConfigDict(extra="forbid")
    reason: ErasureReason
    legal_basis: str = Field(min_length=3, max_length=200, description="e.g. 'UK GDPR Art. 17(1)(a)'.")


class HoldRequest(Checked):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500, description="e.g. the litigation or inquiry it is for.")


def subject_access_export(ledger: Ledger, projector: Projector, member_id: UUID, fmt: str) -> Export:
    """Everything the ledger holds about one person, as JSON or CSV."""
    with projector.reading("chronology") as tx:
        family_id = chronology.member_family(tx, member_id)
        if family_id is None:
            raise NotFound(f"no member {member_id}")
        rows, members = chronology.stored(tx, family_id, projector.sealer)
    family = ledger.family(family_id)
    member = family.members.get(member_id.hex)
    if member is None:  # pragma: no cover - the read model and the record agree
        raise NotFound(f"no member {member_id}")
    entries = chronology.view(rows, members, member=member_id, others=subject_access.OTHERS)
    views = [event_view(e) for e in ledger.family_events(family_id)]
    clocks = ledger.deadlines(family_id)["deadlines"]
    found = subject_access.report(member_id, member, family_id, views, entries, clocks)
    name = f"subject-access-{member_id}"
    if fmt == "csv":
        return Export(subject_access.to_csv(found).encode(), "text/csv; charset=utf-8", f"{name}.csv",
                      (family_id.hex,))
    content = orjson.dumps(found, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    return Export(content, "application/json", f"{name}.json", (family_id.hex,))


def _scope(value: str) -> UUID | None:
    """``all`` or a family id, for legal holds."""
    if value == "all":
        return None
    try:
        return UUID(value)
    except ValueError:
        raise InvalidCommand(f"{value!r} is neither 'all' nor a family id", field="family_id") from None


def install(app: FastAPI) -> None:
    @app.get("/families/{family_id}/access-log", tags=["trust"])
    def get_access_log(request: Request, family_id: UUID, actor: Actor) -> Response:
        """Every read of this family's record: who, when, what (managers and auditors)."""
        request.app.state.ledger.family(family_id)  # 404 if there is no such family
        return JSONResponse({"family_id": family_id, "reads": request.app.state.access_log.for_family(family_id)})

    @app.get("/members/{member_id}/subject-access", tags=["trust"])
    def get_subject_access(request: Request, member_id: UUID, actor: Actor,
                           format: Literal["json", "csv"] = "json") -> Response:
        """Everything held about one person (UK GDPR Art. 15): the events about them or
        their whole family, their chronology and the clocks that concern them, without
        entries about a sibling alone or other members' names and details."""
        export = subject_access_export(ledger_of(request), projector_of(request), member_id, format)
        return Response(export.content, media_type=export.media_type,
                        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'})

    @app.post("/families/{family_id}/erasure", status_code=201, tags=["trust"])
    def post_erasure(request: Request, family_id: UUID, actor: Actor,
                     body: Annotated[ErasureRequest, Body()]) -> Response:
        """Crypto-shred the family's personal data (admins): its key is destroyed, every
        name, date of birth and free text reads "[erased]" from then on, and the audit
        structure (types, times, actors, deadline outcomes, the hash chain) stays.
        Refused (409) under a legal hold, with an open episode, or if already erased."""
        ledger = ledger_of(request)
        recorded = ledger.erase(family_id, actor=actor, reason=body.reason, legal_basis=body.legal_basis)
        return JSONResponse({"event_id": recorded.event_id, "family_id": family_id, "version": recorded.version,
                             "position": recorded.position}, status_code=201)

    @app.get("/legal-holds", tags=["trust"])
    def get_legal_holds(request: Request, actor: Actor,
                        history: Annotated[bool, Query(description="Lifted holds too.")] = False) -> Response:
        """Legal holds in force (or every hold ever placed)."""
        holds = ledger_of(request).holds
        found = holds.history() if history else holds.in_force()
        access.families_shown(request, [h["family_id"] for h in found])
        return JSONResponse({"holds": found})

    @app.put("/legal-holds/{family_id}", tags=["trust"])
    def put_legal_hold(request: Request, family_id: str, actor: Actor,
                       body: Annotated[HoldRequest, Body()]) -> Response:
        """Hold one family (a family id) or every family (``all``): nothing held is erased."""
        scope = _scope(family_id)
        ledger = ledger_of(request)
        if scope is not None:
            ledger.family(scope)  # 404 if there is no such family
        return JSONResponse(ledger.holds.place(scope, reason=body.reason, by=actor["user_id"]))

    @app.delete("/legal-holds/{family_id}", tags=["trust"])
    def delete_legal_hold(request: Request, family_id: str, actor: Actor) -> Response:
        """Lift the hold in force on one family (or on ``all``); its record is kept."""
        lifted = ledger_of(request).holds.lift(_scope(family_id), by=actor["user_id"])
        if lifted is None:
            raise NotFound(f"no legal hold in force on {family_id}")
        return JSONResponse(lifted)

    @app.get("/retention/due", tags=["trust"])
    def get_retention_due(
        request: Request, actor: Actor,
        as_of: Annotated[date | None, Query(description="A London date (default today).")] = None,
    ) -> Response:
        """Families whose pack's retention period has passed (closed, and past the later of
        the years after closure and the youngest child's birthday the pack states), held
        or not, and not yet erased."""
        ledger = ledger_of(request)
        today = as_of or london_date(ledger.clock())
        with projector_of(request).reading("caseloads", "episodes") as tx:
            candidates = retention.families(tx, projector_of(request).sealer)
        due: list[dict[str, Any]] = []
        for f in candidates:
            pack = ledger.packs.get(f["policy"])
            until = retain_until(pack.retention if pack else None, open_episode=f["open"],
                                 closed_on=f["closed_on"], youngest_born=f["youngest"])
            if until is None or until > today:
                continue
            family_id = UUID(f["family_id"])
            if ledger.keys.destroyed(family_id):
                continue
            hold = ledger.holds.holding(family_id)
            due.append({"family_id": family_id, "policy": f["policy"], "team": f["team"],
                        "closed_on": f["closed_on"], "retain_until": until, "held": hold is not None,
                        "hold": hold})
        access.families_shown(request, [f["family_id"] for f in due])
        return JSONResponse({"as_of": today, "count": len(due), "families": due})
