"""``/exports/...``: the council-wide data returns, Ofsted Annex A List 2 and the SSD's
early help episodes, as CSV (the return's own columns) or JSON."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.auth import Actor
from api.dependencies import AsAt, LedgerDep, ReadModels, Shown
from api.headers import CSV, answered_as, file
from queries import exports

router = APIRouter(tags=["exports"])

From = Annotated[date, Query(alias="from", description="First day of the period (YYYY-MM-DD, inclusive).")]
To = Annotated[date, Query(alias="to", description="Last day of the period (YYYY-MM-DD, inclusive).")]
ReturnFormat = Annotated[Literal["csv", "json"], Query(description="csv (the return's own columns) or json.")]
PackFilter = Annotated[str | None, Query(
    description="Only the families worked under this council's policy pack (its id, e.g. durham-one-point); "
    "an unknown pack is 422.")]


@router.get("/exports/annex-a/list-2", response_model=exports.AnnexA,
            responses=answered_as("The return as CSV (default) or JSON", CSV))
def get_annex_a(ledger: LedgerDep, read_models: ReadModels, actor: Actor, shown: Shown, first: From, last: To,
                format: ReturnFormat = "csv", as_at: AsAt = None, pack: PackFilter = None) -> Response:
    """Ofsted Annex A, List 2 (early help): one row per child per early help assessment
    in the period: child, gender, ethnicity, date of birth, age, assessment start and
    completion dates, organisation completing it (one council's, with ``pack``)."""
    export = exports.annex_a_export(ledger, read_models, first, last, format, as_at, pack)
    shown(export.families)
    return file(export)


@router.get("/exports/ssd/early-help-episodes", response_model=exports.SsdEarlyHelpEpisodes,
            responses=answered_as("The table as CSV (default) or JSON", CSV))
def get_ssd_early_help_episodes(ledger: LedgerDep, read_models: ReadModels, actor: Actor, shown: Shown,
                                first: From, last: To, format: ReturnFormat = "csv",
                                as_at: AsAt = None, pack: PackFilter = None) -> Response:
    """The Standard Safeguarding Dataset's ``ssd_early_help_episodes``: one row per child
    per early help episode in the period (``earl_*`` columns; one council's, with ``pack``)."""
    export = exports.ssd_export(ledger, read_models, first, last, format, as_at, pack)
    shown(export.families)
    return file(export)
