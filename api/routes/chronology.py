"""``/families/{id}/chronology``: the chronology in the order things happened, or one
member's, as JSON or CSV; with ``profile``, an export for a court bundle, a partnership or
a case review (JSON, CSV, PDF or Word, ``documents/chronology.py``)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from aggregates.errors import InvalidCommand
from api.auth import Actor
from api.dependencies import AsAt, LedgerDep, ReadModels
from api.headers import CSV, DOCX, PDF, answered_as, file, marked
from api.responses import JSONResponse
from queries import chronology, exports

router = APIRouter(tags=["chronology"])

Profile = Literal["court", "practice", "review"]


@router.get("/families/{family_id}/chronology", response_model=chronology.Chronology | exports.ChronologyDocument,
            responses=answered_as(
                "The chronology (JSON); with ``profile``, its export document (JSON), spreadsheet (CSV), PDF or "
                "Word document", CSV, PDF, DOCX))
def get_chronology(
    ledger: LedgerDep, read_models: ReadModels, family_id: UUID, actor: Actor,
    member: Annotated[UUID | None, Query(description="A child's (or adult's) own chronology.")] = None,
    format: Annotated[Literal["json", "csv", "pdf", "docx"], Query(
        description="json, csv for a spreadsheet, or, with a profile, pdf or docx (Word): A4, page numbers, "
                    "a running header.")] = "json",
    significant: Annotated[bool, Query(description="Significant events only (the pack's choice).")] = False,
    profile: Annotated[Profile | None, Query(
        description="An export layout: court (FPR PD12A social work chronology), practice (the safeguarding "
                    "partnership multi-agency layout) or review (everything, for a case review).")] = None,
    as_at: AsAt = None,
    case_number: Annotated[str | None, Query(
        max_length=40, description="The court's case number, for the header of a profile's document "
                                   "(letters, digits, spaces and ./:()-, up to 40).")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Entries to skip (a page's start; "
                                                                  "not with a profile).")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="At most this many entries (a page; "
                                                                     "``total`` says how many in all).")] = None,
) -> Response:
    """The family's chronology in the order things happened, or one member's; with
    ``profile``, an export for a court bundle, a partnership or a case review."""
    if profile is not None:
        if offset or limit is not None:
            raise InvalidCommand("a profile's document is whole: offset and limit page the chronology itself",
                                 field="limit" if limit is not None else "offset")
        held = chronology.held_back(read_models, family_id)
        return marked(file(exports.chronology_export(
            ledger, read_models, family_id, profile=profile, fmt=format, member=member, as_at=as_at,
            significant=significant, case_number=case_number,
            prepared_by=exports.prepared_by(ledger, actor))), held)
    found = chronology.chronology(ledger, read_models, family_id, member=member, significant=significant,
                                  as_at=as_at, fmt=format, offset=offset, limit=limit)
    if format == "csv":
        return marked(file(chronology.as_csv(found)), found["quarantined"])
    return marked(JSONResponse(found), found["quarantined"])
