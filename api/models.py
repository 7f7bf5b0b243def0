"""Request and response models of the HTTP API.

The commands themselves (one model per event type, a discriminated union on ``type``,
and the registration) are the application's: ``ledger/commands.py``, re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
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
    "RegisterFamily",
    "Registered",
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
