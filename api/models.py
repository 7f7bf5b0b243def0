"""Request and response models of the HTTP API.

The commands themselves (one model per event type, a discriminated union on ``type``,
and the registration) are the application's: ``ledger/commands.py``, re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from aggregates.vocabulary import ErasureReason
from ledger.commands import COMMAND_MODELS, LATEST_MOMENT, Checked, Command, CommandBase, MemberIn, RegisterFamily
from ledger.commands import EARLIEST_MOMENT as EARLIEST_OCCURRENCE
from ledger.context import CONTEXT_FIELDS

__all__ = [  # the application's command models, re-exported, and the API's own
    "COMMAND_MODELS",
    "CONTEXT_FIELDS",
    "Command",
    "CommandBase",
    "CommandRecorded",
    "Erased",
    "ErasureRequest",
    "HoldRequest",
    "Member",
    "MemberIn",
    "Moment",
    "PossibleDuplicate",
    "RegisterFamily",
    "Registered",
    "inlined_schema",
]


def _within_range(moment: datetime) -> datetime:
    if not EARLIEST_OCCURRENCE <= moment < LATEST_MOMENT:
        raise ValueError(f"{moment.isoformat()} is out of range: ask about a moment from "
                         f"{EARLIEST_OCCURRENCE.year} to {LATEST_MOMENT.year - 1}")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_within_range)]
"""A moment a query asks about (``as_of``, ``as_at``): timezone required, 1900 to 2099."""


class Member(MemberIn):
    member_id: UUID


class Registered(BaseModel):
    family_id: UUID
    version: int
    position: int
    members: list[Member]


class DuplicateMatch(BaseModel):
    family_id: UUID
    member_ids: list[UUID]
    """The family's members who match."""
    matched_on: list[str]
    """"NHS number", "UPN", "name and date of birth"."""
    member: int
    """Which member of the registration matches (its place in ``members``, from 0)."""


class PossibleDuplicate(BaseModel):
    """409 from ``POST /families``: children of the registration may already be on the
    record. Ids and what matched only; send the registration again with
    ``not_duplicate_of`` naming the families checked to record a new family."""

    type: str
    title: str
    status: int
    detail: str
    matches: list[DuplicateMatch]


def inlined_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema with its nested models written in place (no ``$defs``), for
    a response documented by hand under a media type of its own (problem+json)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)  # type: ignore[no-any-return]


class CommandRecorded(BaseModel):
    event_id: UUID
    family_id: UUID
    version: int
    position: int


class Erased(CommandRecorded):
    """The erasure recorded: its event, the family's new version and the position."""


class ErasureRequest(Checked):
    """Why a family's personal data is being erased. Categories and a legal basis only:
    this request is itself kept in the record, so it must not carry personal data."""

    model_config = ConfigDict(extra="forbid")
    reason: ErasureReason
    legal_basis: str = Field(min_length=3, max_length=200, description="e.g. 'UK GDPR Art. 17(1)(a)'.")


class HoldRequest(Checked):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500, description="e.g. the litigation or inquiry it is for.")
