"""Routes for exports that leave the ledger: court, practice and review chronologies,
Ofsted Annex A List 2, the Standard Safeguarding Dataset's early help episodes.

``chronology_export`` and ``period_rows`` are the one way each export reads the record
(the read models for now; the same fold over what had been recorded for ``as_at``), used
by these routes, by the chronology route's ``profile`` and by ``ledger export``, so HTTP
and the command line give the same bytes for the same inputs.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import FastAPI, Query, Request, Response

from aggregates.errors import InvalidCommand
from api import access, read_routes
from api.auth import Actor
from ledger.application import Ledger
from projections import chronology, episodes, exports
from projections.deadlines import breaches as deadline_breaches
from projections.projector import Projector
from replay import time_travel

From = Annotated[date, Query(alias="from", description="First day of the period (YYYY-MM-DD, inclusive).")]
To = Annotated[date, Query(alias="to", description="Last day of the period (YYYY-MM-DD, inclusive).")]
ReturnFormat = Annotated[Literal["csv", "json"], Query(description="csv (the return's own columns) or json.")]


def _aware(as_at: datetime | None) -> None:
    if as_at is not None and as_at.tzinfo is None:
        raise InvalidCommand("as_at must include a timezone offset", field="as_at")


def chronology_export(ledger: Ledger, projector: Projector, family_id: UUID, *, profile: str, fmt: str,
                      member: UUID | None = None, as_at: datetime | None = None) -> exports.Export:
    """A family's (or member's) chronology in an export profile, now or as at a moment."""
    if profile not in exports.PROFILES:
        raise InvalidCommand(f"profile must be one of {', '.join(exports.PROFILES)}, not {profile!r}", field="profile")
    if fmt not in exports.CHRONOLOGY_FORMATS:
        raise InvalidCommand(f"format must be one of {', '.join(exports.CHRONOLOGY_FORMATS)}, not {fmt!r}",
                             field="format")
    _aware(as_at)
    pack = ledger.pack(ledger.family(family_id).policy)  # 404 if there is no such family
    if as_at is not None:
        rows, members = time_travel.chronology(ledger, family_id, as_at)
    else:
        with projector.reading("chronology", "deadlines") as tx:
            rows, members = chronology.stored(tx, family_id, projector.sealer)
            rows = chronology.with_breaches(rows, deadline_breaches(tx, family_id))
    if member is not None and member.hex not in members:
        raise InvalidCommand(f"{member} is not a member of family {family_id}"
                             + (f" as at {as_at.isoformat()}" if as_at else ""), field="member")
    found = exports.chronology(rows, members, pack, family_id=family_id, profile=profile, fmt=fmt, member=member,
                               as_at=as_at)
    return dataclasses.replace(found, families=(family_id.hex,))


def period_rows(ledger: Ledger, projector: Projector, first: date, last: date,
                as_at: datetime | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(episode rows, assessment rows) per child touching the period: from the episodes
    read model, or, as at a past moment, derived the same way from what had been recorded."""
    if first > last:
        raise InvalidCommand(f"from ({first}) is after to ({last})", field="from")
    _aware(as_at)
    if as_at is None:
        with projector.reading("episodes") as tx:
            return episodes.stored_in_period(tx, first, last, projector.sealer)
    found = []
    for family_id in ledger.family_ids():
        recorded = [e for e in ledger.family_events(family_id) if e.recorded_at <= as_at]
        if recorded:
            found.append(episodes.from_events(recorded, ledger.packs))
    return episodes.in_period(found, first, last)


def annex_a_export(ledger: Ledger, projector: Projector, first: date, last: date, fmt: str = "csv",
                   as_at: datetime | None = None) -> exports.Export:
    _, assessments = period_rows(ledger, projector, first, last, as_at)
    return exports.annex_a(assessments, first, last, _return_format(fmt), as_at)


def ssd_export(ledger: Ledger, projector: Projector, first: date, last: date, fmt: str = "csv",
               as_at: datetime | None = None) -> exports.Export:
    found, _ = period_rows(ledger, projector, first, last, as_at)
    return exports.ssd_early_help_episodes(found, first, last, _return_format(fmt), as_at)


def _return_format(fmt: str) -> str:
    if fmt not in exports.RETURN_FORMATS:
        raise InvalidCommand(f"format must be one of {', '.join(exports.RETURN_FORMATS)}, not {fmt!r}",
                             field="format")
    return fmt


def response(export: exports.Export) -> Response:
    return Response(export.content, media_type=export.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{export.filename}"'})


def install(app: FastAPI) -> None:
    """Register the export routes."""
    ledger_of, projector_of = read_routes.ledger_of, read_routes.projector_of

    @app.get("/exports/annex-a/list-2", tags=["exports"])
    def get_annex_a(request: Request, actor: Actor, first: From, last: To, format: ReturnFormat = "csv",
                    as_at: read_routes.AsAt = None, min_position: read_routes.MinPosition = None) -> Response:
        """Ofsted Annex A, List 2 (early help): one row per child per early help assessment
        in the period: child, gender, ethnicity, date of birth, age, assessment start and
        completion dates, organisation completing it."""
        export = annex_a_export(ledger_of(request), projector_of(request, min_position), first, last, format, as_at)
        access.families_shown(request, export.families)
        return response(export)

    @app.get("/exports/ssd/early-help-episodes", tags=["exports"])
    def get_ssd_early_help_episodes(request: Request, actor: Actor, first: From, last: To,
                                    format: ReturnFormat = "csv", as_at: read_routes.AsAt = None,
                                    min_position: read_routes.MinPosition = None) -> Response:
        """The Standard Safeguarding Dataset's ``ssd_early_help_episodes``: one row per child
        per early help episode in the period (``earl_*`` columns)."""
        export = ssd_export(ledger_of(request), projector_of(request, min_position), first, last, format, as_at)
        access.families_shown(request, export.families)
        return response(export)
