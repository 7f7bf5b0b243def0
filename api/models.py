"""Request and response models.

The command models are derived from the event classes' annotations in
``aggregates/events.py`` (one declaration per field), with the fields every command
shares (``occurred_at``, ``about`` and the chronology context) added here. Together they
form one discriminated union on ``type``, so every variant appears in the OpenAPI
document and an unknown type or field is a clear 422.
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model

from aggregates import events as ev
from aggregates.vocabulary import Ethnicity, Gender, MemberKind
from ledger.application import EARLIEST_OCCURRENCE, LATEST_MOMENT
from ledger.context import CONTEXT_FIELDS, ChronologyContext

GENERATED_IDS = {"episode_id", "assessment_id", "plan_id", "member_id"}

Text = Annotated[str, Field(max_length=20_000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


def _within_range(moment: datetime) -> datetime:
    if not EARLIEST_OCCURRENCE <= moment < LATEST_MOMENT:
        raise ValueError(f"{moment.isoformat()} is out of range: ask about a moment from "
                         f"{EARLIEST_OCCURRENCE.year} to {LATEST_MOMENT.year - 1}")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_within_range)]
"""A moment a query asks about (``as_of``, ``as_at``): timezone required, 1900 to 2099."""


class CommandBase(ChronologyContext):
    model_config = ConfigDict(extra="forbid")

    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened (timezone required); defaults to now."
    )
    about: list[UUID] = Field(
        default_factory=list, max_length=100,
        description="Members this entry concerns (a child-specific entry names the child).",
    )

    def split(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(type, event fields, chronology context) for ``Ledger.record``."""
        data = self.model_dump(exclude={"type", "occurred_at", "about", *CONTEXT_FIELDS})
        context = {k: getattr(self, k) for k in CONTEXT_FIELDS if getattr(self, k) is not None}
        return self.type, data, context  # type: ignore[attr-defined]


def _command_model(name: str) -> type[CommandBase]:
    cls = ev.VOCABULARY[name]
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {"type": (Literal[name], ...)}  # type: ignore[valid-type]
    for fname, f in ev.payload_fields(cls).items():
        annotation = hints[fname]
        if fname in GENERATED_IDS:
            fields[fname] = (annotation, Field(default_factory=uuid4))
        elif f.default is not dataclasses.MISSING:
            fields[fname] = (annotation, f.default)
        elif f.default_factory is not dataclasses.MISSING:  # pragma: no cover
            fields[fname] = (annotation, Field(default_factory=f.default_factory))
        else:
            fields[fname] = (annotation, ...)
    doc = (cls.__doc__ or name).strip().splitlines()[0]
    return create_model(f"{name}Command", __base__=CommandBase, __doc__=doc, **fields)


COMMAND_MODELS: dict[str, type[CommandBase]] = {name: _command_model(name) for name in ev.COMMAND_TYPES}

Command = Annotated[Union[tuple(COMMAND_MODELS.values())], Field(discriminator="type")]  # type: ignore[misc]


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    given_name: ShortText
    family_name: ShortText
    date_of_birth: date | None = None
    kind: MemberKind
    gender: Gender | None = Field(default=None, description="DfE code: 0 not known, 1 male, 2 female, 9 not specified.")
    ethnicity: Ethnicity | None = Field(default=None, description="DfE ethnicity code, e.g. WBRI (Ofsted Annex A, CIN census).")


class RegisterFamily(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str = Field(description="Policy pack id, e.g. durham-one-point.")
    team: ShortText
    members: list[MemberIn] = Field(min_length=1, max_length=50)
    occurred_at: AwareDatetime | None = None


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
