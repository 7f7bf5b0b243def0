"""Commands: what a caller may ask the ledger to record, validated before anything is stored.

The command models are derived from the event classes' annotations in
``aggregates/events.py`` (one declaration per field), with the fields every command
shares (``occurred_at``, ``about`` and the chronology context) added here. Together they
form one discriminated union on ``type``, so every variant appears in the OpenAPI
document and an unknown type or field is a clear 422.

They are the application's, not only the HTTP edge's: a correction is the original
entry with the changes applied, and ``Ledger.record`` validates that corrected entry
against the same model as a new command of its type (``corrected_command``).

Every value a command carries is also held to what the store and the read models can
hold (``Checked``): text without NUL characters (PostgreSQL text cannot hold one) or lone
surrogates (not encodable as UTF-8), dates and moments from 1900 up to 2100 (the
calendar adds working days and months to them), and whole numbers a database integer
holds. What fails is refused with 422 naming the field, and nothing is recorded.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from aggregates import events as ev
from aggregates.errors import InvalidCommand
from aggregates.identifiers import Email, FormerName, NhsNumber, PersonId, Phone, Upn
from aggregates.vocabulary import Ethnicity, Gender, MemberKind, Relationship
from ledger.context import CONTEXT_FIELDS, ChronologyContext

GENERATED_IDS = {"episode_id", "assessment_id", "plan_id", "member_id"}
EARLIEST_MOMENT = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST_MOMENT = datetime(2100, 1, 1, tzinfo=timezone.utc)
"""Every date and moment a command carries lies from EARLIEST_MOMENT up to (not
including) LATEST_MOMENT: nothing on an early help record happened before 1900, and the
deadline engine adds working days and months to dates, which overflow near year 9999."""
LARGEST_INTEGER = 2**31 - 1
"""The largest whole number a command may carry (a database INTEGER)."""

ShortText = Annotated[str, Field(min_length=1, max_length=200)]


def unstorable(value: Any, where: str) -> str | None:
    """Why a command's value could not be stored or read back (None if it can): walked
    through lists and mappings, keys included."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where} contains a NUL character (U+0000), which text may not hold"
        if any("\ud800" <= c <= "\udfff" for c in value):
            return f"{where} contains a lone surrogate (U+D800 to U+DFFF), which is not valid Unicode text"
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        if not EARLIEST_MOMENT <= moment < LATEST_MOMENT:
            return f"{where} {value.isoformat()} is " + ("before 1900" if moment < EARLIEST_MOMENT else "after 2099")
        return None
    if isinstance(value, date):
        if not EARLIEST_MOMENT.date() <= value < LATEST_MOMENT.date():
            return f"{where} {value.isoformat()} is " + (
                "before 1900" if value < EARLIEST_MOMENT.date() else "after 2099")
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if abs(value) > LARGEST_INTEGER:
            return f"{where} {value} is beyond {LARGEST_INTEGER:,}"
        return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f"{where} is not a finite number"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = unstorable(key, f"{where} (a key)") or unstorable(item, f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        for i, item in enumerate(value):
            found = unstorable(item, f"{where}[{i}]")
            if found:
                return found
    return None


class Checked(BaseModel):
    """A request body whose every value the ledger can store and read back."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in ("occurred_at", "date_of_birth"):
            # Held to tighter bounds with a clearer message where the clock is known: an
            # entry from 1900 up to now (Ledger._check_occurred_at); a birth from 1900 up to
            # today (the aggregate's _check_birth; an unborn member has an expected_date).
            return value
        problem = unstorable(value, info.field_name or "value")
        if problem:
            raise ValueError(problem)
        return value


class CommandBase(ChronologyContext, Checked):
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
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: dict[str, Any] = {"type": (Literal[name], ...)}
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

if TYPE_CHECKING:
    # The union is built at run time from the vocabulary, which a type checker cannot
    # follow: to it, a command is a CommandBase.
    Command: TypeAlias = CommandBase
else:
    # Union[...] of a tuple built at run time (UP007 would rewrite it to the bare tuple).
    Command = Annotated[Union[tuple(COMMAND_MODELS.values())], Field(discriminator="type")]  # noqa: UP007


class MemberIn(Checked):
    model_config = ConfigDict(extra="forbid")

    given_name: ShortText
    family_name: ShortText
    date_of_birth: date | None = None
    kind: MemberKind
    expected_date: date | None = Field(
        default=None, description="An unborn member's expected date of delivery (kind unborn, no date_of_birth).")
    gender: Gender | None = Field(default=None, description="DfE code: 0 not known, 1 male, 2 female, 9 not specified.")
    ethnicity: Ethnicity | None = Field(
        default=None, description="DfE ethnicity code, e.g. WBRI (Ofsted Annex A, CIN census).")
    nhs_number: NhsNumber | None = Field(default=None, description="10 digits, the last a modulus-11 check digit.")
    upn: Upn | None = Field(default=None, description="Unique Pupil Number: 13 characters, the first a check letter.")
    council_person_id: PersonId | None = Field(default=None, description="The council's own id for the person.")
    former_names: Annotated[list[FormerName], Field(max_length=20)] | None = Field(
        default=None, description="Other names the person has been known by.")
    phone: Phone | None = None
    email: Email | None = None
    relationship: Relationship | None = Field(default=None, description="Their relationship to the children.")
    parental_responsibility: bool | None = Field(
        default=None, description="Whether they hold parental responsibility for the children.")


class RegisterFamily(Checked):
    model_config = ConfigDict(extra="forbid")

    policy: str = Field(max_length=200, description="Policy pack id, e.g. durham-one-point.")
    team: ShortText
    members: list[MemberIn] = Field(min_length=1, max_length=50)
    occurred_at: AwareDatetime | None = None
    not_duplicate_of: list[UUID] = Field(default_factory=list, max_length=50, description=(
        "The families a registration was answered with as possible matches (409) that the caller has "
        "checked and says this family is not: recorded, with who said so."))


class RegistrationFacts(ChronologyContext, Checked):
    """What a correction of a registration may change: when, whom, its context."""

    model_config = ConfigDict(extra="forbid")
    occurred_at: AwareDatetime
    about: list[UUID] = Field(default_factory=list, max_length=100)


MAX_CORRECTION_DEPTH = 8
"""How deeply a correction's value may nest lists and objects: the deepest field a
command has (a registration's members) is three levels; far deeper values could not
be stored (orjson stops at 255 levels, and Python's own parser sooner)."""


def corrected_command(original: ev.FamilyEvent, changes: Mapping[str, Any],
                      member: Any = None) -> dict[str, Any]:
    """A correction's changes, typed, once the original entry with them applied has passed
    the same command model as a new command of its type (422 naming ``changes.<field>``
    otherwise). Names the entry does not have are passed through as they are: the
    aggregate refuses them with the list of what may be corrected."""
    for name, value in changes.items():
        if _depth(value) > MAX_CORRECTION_DEPTH:
            raise InvalidCommand(f"changes.{name} is nested more than {MAX_CORRECTION_DEPTH} levels deep",
                                 field=f"changes.{name}")
    kind = original.type
    payload = {name: getattr(original, name) for name in ev.payload_fields(type(original))}
    if member is not None:
        people = payload.get("members") if kind == "FamilyRegistered" else [payload] if kind == "MemberAdded" else []
        found = next((p for p in people or () if p.get("member_id") == member), None)
        if found is None or set(changes) - set(MemberIn.model_fields):
            return dict(changes)
        merged = {k: v for k, v in found.items() if k in MemberIn.model_fields}
        validated = _validated(MemberIn, {**merged, **changes})
        return {name: getattr(validated, name) for name in changes}
    if kind == "FamilyRegistered":
        model: type[BaseModel] = RegistrationFacts
        command: dict[str, Any] = {"occurred_at": original.occurred_at, "about": list(original.about)}
    elif kind in COMMAND_MODELS:
        model = COMMAND_MODELS[kind]
        command = {"type": kind, **payload, "occurred_at": original.occurred_at, "about": list(original.about)}
    else:
        return dict(changes)
    command.update({k: v for k, v in original.context.items() if k in CONTEXT_FIELDS})
    known = set(model.model_fields) - {"type"}
    for name, value in changes.items():
        if name == "context":
            if not isinstance(value, Mapping):
                raise InvalidCommand("changes.context must be an object of chronology details",
                                     field="changes.context")
            unknown = sorted(set(value) - set(CONTEXT_FIELDS))
            if unknown:
                raise InvalidCommand(f"changes.context.{unknown[0]}: an entry's context has no {unknown[0]} (it "
                                     f"holds {', '.join(CONTEXT_FIELDS)})", field=f"changes.context.{unknown[0]}")
            command.update(value)
        elif name in known:
            command[name] = value
    validated = _validated(model, command, context="context" in changes)
    typed: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "context":
            typed[name] = {k: getattr(validated, k) for k in value}
        elif name in known:
            typed[name] = getattr(validated, name)
        else:
            typed[name] = value
    return typed


def _validated(model: type[BaseModel], command: dict[str, Any], context: bool = False) -> BaseModel:
    try:
        return model.model_validate(command)
    except ValidationError as e:
        error = e.errors()[0]
        loc = [str(p) for p in error["loc"]]
        if context and loc and loc[0] in CONTEXT_FIELDS:
            loc = ["context", *loc]
        where = ".".join(loc) or "changes"
        message = error["msg"].removeprefix("Value error, ")
        raise InvalidCommand(f"changes.{where}: {message}", field=f"changes.{where}") from None


def _depth(value: Any) -> int:
    """How many levels of lists and objects a JSON value nests (stops counting past the limit)."""
    deepest, level, stack = 0, 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            level += 1
            deepest = max(deepest, level)
            if deepest > MAX_CORRECTION_DEPTH:
                break
            stack.extend((v, level) for v in (item.values() if isinstance(item, dict) else item))
    return deepest
