"""Routes that read the read models: chronology and the feed.

Every read of a projection accepts ``min_position``: the position a command returned. The
read waits (up to ``WAIT_SECONDS``) until the read models have processed it, so a caller
always sees its own writes even when a separate worker projects (ADR 0011); with the
embedded default they are already there.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import FastAPI, Query, Request, Response

from aggregates.errors import InvalidCommand
from api import access
from api import export_routes
from api.auth import Actor
from api.models import Moment
from api.problems import Problem
from api.responses import JSONResponse
from ledger.application import Ledger
from projections import caseloads, chronology, feed, oversight, people
from projections import deadlines as deadline_model
from projections.projector import Projector, ProjectionsBehind
from projections.sealed import Sealer
from replay import time_travel

WAIT_SECONDS = 5.0
MAX_POSITION = 2**63 - 1
"""The largest position a database can hold (a 64-bit integer); past it a query would overflow."""
MinPosition = Annotated[int | None, Query(
    ge=0, le=MAX_POSITION, description="Wait until the read models have processed this position (a command's `position`).")]
AsAt = Annotated[Moment | None, Query(
    description="The record as it stood at this moment of recording: later entries and later corrections are left out.")]


def ledger_of(request: Request) -> Ledger:
    return request.app.state.ledger  # type: ignore[no-any-return]


def projector_of(request: Request, min_position: int | None = None) -> Projector:
    """The projector, once it has caught up with ``min_position``."""
    projector: Projector = request.app.state.projector
    if min_position:
        latest = ledger_of(request).recorder.max_notification_id() or 0
        if min_position > latest:
            # No command has returned it yet, so no wait would see it: say so now rather
            # than hold the request for WAIT_SECONDS and then answer 503.
            raise Problem(422, "Invalid request",
                          f"min_position {min_position} is beyond the ledger's latest position {latest}: "
                          "pass the position a command returned", field="min_position")
        try:
            projector.wait_for(min_position, timeout=WAIT_SECONDS)
        except ProjectionsBehind as e:
            raise Problem(503, "Read models behind",
                          f"{e}; retry shortly (the projection worker may be stopped)",
                          {"Retry-After": "1"}) from None
    return projector


def sealer_of(request: Request) -> Sealer:
    """Opens the read models' personal columns, for a read the access check has allowed."""
    return request.app.state.projector.sealer  # type: ignore[no-any-return]


def quarantined(request: Request, models: tuple[str, ...], family_id: UUID | None = None) -> list[dict[str, Any]]:
    """The read models that hold a family's rows back (an event of it could not be
    applied, ADR 0021): its rows there stop before that event. For a family, or all."""
    rows = request.app.state.projector.store.quarantine_rows(family_id.hex if family_id else None)
    return [{"family_id": UUID(r["family_id"]), "read_model": r["model"], "position": r["position"],
             "event_id": r["event_id"] and UUID(r["event_id"]), "event_type": r["event_type"], "since": r["at"],
             "error": r["error"]} for r in rows if r["model"] in models]


def marked(response: Response, held: list[dict[str, Any]]) -> Response:
    """A read's answer with the read models that hold its family back named in a header."""
    if held:
        response.headers["Ledger-Quarantined"] = ", ".join(
            f"{h['read_model']} (from position {h['position']})" for h in held)
    return response


def now(request: Request) -> datetime:
    """The ledger's "now" (its clock: real time in service, fixed in tests)."""
    return ledger_of(request).clock()


def install(app: FastAPI) -> None:
    @app.get("/families/{family_id}/chronology", tags=["chronology"])
    def get_chronology(
        request: Request, family_id: UUID, actor: Actor,
        member: Annotated[UUID | None, Query(description="A child's (or adult's) own chronology.")] = None,
        format: Annotated[Literal["json", "csv", "docx"], Query(
            description="json, csv for a spreadsheet, or docx (Word) with a profile.")] = "json",
        significant: Annotated[bool, Query(description="Significant events only (the pack's choice).")] = False,
        profile: Annotated[Literal["court", "practice", "review"] | None, Query(
            description="An export layout: court (FPR PD12A social work chronology), practice (the safeguarding "
                        "partnership multi-agency layout) or review (everything, for a case review).")] = None,
        as_at: AsAt = None,
        min_position: MinPosition = None,
    ) -> Response:
        """The family's chronology in the order things happened, or one member's; with
        ``profile``, an export for a court bundle, a partnership or a case review."""
        ledger = ledger_of(request)
        held = quarantined(request, ("chronology", "deadlines", "episodes"), family_id)
        if profile is not None:
            if significant:
                raise InvalidCommand(f"the {profile} profile decides which entries it shows: leave out significant",
                                     field="significant")
            return marked(export_routes.response(export_routes.chronology_export(
                ledger, projector_of(request, min_position), family_id, profile=profile, fmt=format,
                member=member, as_at=as_at)), held)
        if format == "docx":
            raise InvalidCommand("a Word chronology needs a profile: court, practice or review", field="format")
        if as_at is not None:
            rows, members = time_travel.chronology(ledger, family_id, as_at)
        else:
            with projector_of(request, min_position).reading("chronology", "deadlines") as tx:
                rows, members = chronology.stored(tx, family_id, sealer_of(request))
                rows = chronology.with_breaches(rows, deadline_model.breaches(tx, family_id))
            if not rows:
                ledger.family(family_id)  # 404 if there is no such family
        if member is not None and member.hex not in members:
            raise InvalidCommand(f"{member} is not a member of family {family_id}", field="member")
        entries = chronology.view(rows, members, member=member, significant_only=significant)
        if format == "csv":
            name = f"chronology-{family_id}" + (f"-{member}" if member else "") + ".csv"
            return marked(Response(chronology.to_csv(entries), media_type="text/csv; charset=utf-8",
                                   headers={"Content-Disposition": f'attachment; filename="{name}"'}), held)
        return marked(JSONResponse({"family_id": family_id, "member": member, "as_at": as_at,
                                    "significant_only": significant, "entries": entries, "quarantined": held}), held)

    @app.get("/caseloads", tags=["caseloads"])
    def get_caseloads(
        request: Request, actor: Actor,
        team: Annotated[str | None, Query(max_length=200, description="One team (default: every team).")] = None,
        min_position: MinPosition = None,
    ) -> Response:
        """Open families and children per worker and team, against the packs' caps."""
        with projector_of(request, min_position).reading("caseloads") as tx:
            return JSONResponse(caseloads.view(tx, ledger_of(request).packs, access.own_team(request, team)))
        # Counts per worker and team, no family named: one access-log row for the read.

    @app.get("/families/{family_id}/oversight", tags=["oversight"])
    def get_family_oversight(
        request: Request, family_id: UUID, actor: Actor,
        auditor: Annotated[str | None, Query(
            max_length=200, description="Check this person's independence of the family (default: the caller, if an auditor).")] = None,
        min_position: MinPosition = None,
    ) -> Response:
        """Every management decision on the family with who and when, the people with a
        footprint on it, its oversight gap, and an auditor's independence of it."""
        ledger = ledger_of(request)
        ledger.family(family_id)  # 404 if there is no such family
        who = auditor or (actor["user_id"] if actor["role"] == "auditor" else None)
        held = quarantined(request, ("oversight", "chronology", "deadlines"), family_id)
        with projector_of(request, min_position).reading("oversight", "chronology", "deadlines") as tx:
            found = oversight.family_view(tx, family_id, ledger.packs, now(request), sealer_of(request), auditor=who)
            breaches = [{"event_id": UUID(event), **b} for event, listed in
                        deadline_model.breaches(tx, family_id).items() for b in listed]
        return marked(JSONResponse({**found, "breaches": breaches, "quarantined": held}), held)

    @app.get("/oversight", tags=["oversight"])
    def get_oversight(
        request: Request, actor: Actor,
        manager: Annotated[str | None, Query(max_length=200, description="One manager's decisions across families.")] = None,
        gaps: Annotated[bool, Query(description="Open families with no oversight within their pack's interval.")] = False,
        team: Annotated[str | None, Query(max_length=200, description="With gaps: one team.")] = None,
        auditor: Annotated[str | None, Query(max_length=200, description="The families this person has a footprint on.")] = None,
        min_position: MinPosition = None,
    ) -> Response:
        """A manager's footprint, the oversight gaps, or an auditor's conflicts."""
        if sum(x is not None and x is not False for x in (manager, gaps or None, auditor)) != 1:
            raise InvalidCommand("ask for exactly one of manager=, gaps=true or auditor=", field="query")
        held = access.own_team(request, None)  # a team role: the families its team holds now
        with projector_of(request, min_position).reading("oversight", "chronology") as tx:
            if manager is not None:
                view = oversight.manager_view(tx, manager, sealer_of(request), held)
                access.families_shown(request, [f["family_id"] for f in view["families"]])
                return JSONResponse(view)
            if auditor is not None:
                prints = oversight.auditor_view(tx, auditor, held)
                access.families_shown(request, [p["family_id"] for p in prints])
                return JSONResponse({"auditor": auditor, "footprint": prints})
            team = access.own_team(request, team)
            found = oversight.gaps_view(tx, ledger_of(request).packs, now(request), team)
            access.families_shown(request, [g["family_id"] for g in found])
            return JSONResponse({"team": team, "count": len(found), "gaps": found})

    @app.get("/people", tags=["people"])
    def find_people(
        request: Request, actor: Actor,
        name: Annotated[str | None, Query(min_length=1, max_length=200, description=(
            "Whole words of a person's names, or their beginnings (case and accents ignored)."))] = None,
        date_of_birth: Annotated[date | None, Query(description="Born on this date.")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        min_position: MinPosition = None,
    ) -> Response:
        """Find people by name and date of birth through the blind index (neither is stored
        in the clear); a manager finds only people of families their team holds. Erased
        families are never found. Each family shown is written to the access log."""
        if name is None and date_of_birth is None:
            raise InvalidCommand("give a name, a date_of_birth, or both", field="query")
        with projector_of(request, min_position).reading("chronology", "caseloads") as tx:
            found = people.search(tx, sealer_of(request), name=name, date_of_birth=date_of_birth,
                                  team=access.own_team(request, None), limit=limit)
        access.families_shown(request, [p["family_id"] for p in found])
        return JSONResponse({"count": len(found), "people": found})

    @app.get("/feed", tags=["feed"])
    def get_feed(
        request: Request, actor: Actor,
        after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="The last position already processed (0 for the start).")] = 0,
        limit: Annotated[int, Query(ge=1, le=feed.MAX_LIMIT)] = 100,
        types: Annotated[list[str] | None, Query(description="Only these event types.")] = None,
    ) -> dict[str, Any]:
        """Every event in global order after a position, with envelopes, and the next cursor."""
        found = feed.page(ledger_of(request), after, limit, types or [])
        access.families_shown(request, [e["family_id"] for e in found["events"]])
        return found
