"""Request and response models of the HTTP API.

The commands themselves (one model per event type, a discriminated union on ``type``,
and the registration) are the application's: ``ledger/commands.py``, re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel

from ledger.commands import (COMMAND_MODELS, Command, CommandBase, MemberIn, RegisterFamily,  # noqa: F401
                             EARLIEST_MOMENT as EARLIEST_OCCURRENCE, LATEST_MOMENT)
from ledger.context import CONTEXT_FIELDS  # noqa: F401


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
