"""The shape of a policy pack: one council's procedure as data.

A pack file (``ledger/policies/<id>.toml``) is validated against these models when the
service starts; anything that does not fit is refused with the file, the rule and what
is wrong (see ``loader.py``). ``docs/policy-packs.md`` explains each field with examples.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aggregates.events import VOCABULARY, payload_fields
from aggregates.vocabulary import Role

Unit = Literal["working_days", "calendar_days", "weeks", "months", "hours"]
RuleKind = Literal["deadline", "recurring", "ordering", "recording"]
MEMBER_PLACEHOLDER = "$member"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where in which seed a rule comes from: ``{seed = "000_....txt", lines = [617]}``."""

    seed: str = Field(pattern=r"^\d{3}_[0-9a-f]{16}\.txt$")
    lines: list[int] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _positive(cls, lines: list[int]) -> list[int]:
        if any(n < 1 for n in lines):
            raise ValueError("line numbers start at 1")
        return lines


class EventMatch(Strict):
    """An event type, optionally filtered on its fields.

    ``where`` values: a scalar means "field equals value" (or, for a list field,
    "list contains value"); a list means "field is one of these" (or "list field
    shares one of these"). The string ``"$member"`` stands for the child a per-child
    rule instance concerns. ``pathway`` may always be used: it is the episode's
    pathway when the event was recorded.
    """

    event: str
    where: dict[str, Any] = {}

    @model_validator(mode="after")
    def _known(self) -> EventMatch:
        if self.event not in VOCABULARY:
            raise ValueError(f"unknown event type {self.event!r}")
        allowed = set(payload_fields(VOCABULARY[self.event])) | {"pathway", "about", "actor_role"}
        for key in self.where:
            if key not in allowed:
                raise ValueError(
                    f"{self.event} has no field {key!r} to filter on "
                    f"(fields: {', '.join(sorted(allowed))})"
                )
        return self


class Pathway(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    source: Source
    description: str = ""


class RoleTitle(Strict):
    """A council's role title mapped onto one of the ledger's roles."""

    title: str
    role: Role
    source: Source


class Power(Strict):
    """Which ledger roles may exercise a power (authorise, extend, close)."""

    roles: list[Role] = Field(min_length=1)
    source: Source
    reading: str = ""


class Authority(Strict):
    authorise: Power
    extend: Power
    close: Power


class Caseload(Strict):
    max_families: int | None = Field(default=None, gt=0)
    max_children: int | None = Field(default=None, gt=0)
    source: Source
    reading: str = ""


class Retention(Strict):
    """How long a closed family's record is kept (UK GDPR storage limitation)."""

    years_after_closure: int | None = Field(default=None, gt=0)
    until_youngest_child_age: int | None = Field(default=None, gt=0)
    source: Source | None = None
    reading: str = ""


class AgeCondition(Strict):
    """A per-child rule applies only to children of these ages (in whole years) when
    its clock starts: ``max_years = 1`` is "under one", ``min_years = 5`` "five and over"."""

    min_years: int | None = Field(default=None, ge=0)
    max_years: int | None = Field(default=None, gt=0)


class Extension(Strict):
    """Who may extend the clock and the cap on the total duration (in the rule's unit)."""

    roles: list[Role] = Field(min_length=1)
    max_total: int = Field(gt=0)
    source: Source | None = None


class Pause(Strict):
    start: EventMatch = EventMatch(event="WorkPaused")
    stop: EventMatch = EventMatch(event="WorkResumed")
    source: Source | None = None


class Rule(Strict):
    """One timescale, ordering or recording rule of a pack.

    - ``deadline``: ``start`` starts a clock of ``duration`` ``unit``; the first
      ``stop`` after it stops it (met, or met late after the due date).
    - ``recurring``: as deadline, but each stop restarts the clock from the stop
      ("every child seen at least every 20 working days").
    - ``ordering``: ``before`` must have been recorded in the episode before
      ``after`` may be (the aggregate refuses otherwise).
    - ``recording``: events of ``applies_to`` must be recorded within ``duration``
      ``unit`` of when they occurred; later ones are flagged as late entries.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    kind: RuleKind = "deadline"
    source: Source
    pathways: list[str] = []
    start: EventMatch | None = None
    stop: list[EventMatch] = []
    until: list[EventMatch] = []
    duration: int | None = Field(default=None, ge=0)
    unit: Unit | None = None
    per: Literal["family", "child"] = "family"
    age: AgeCondition | None = None
    extension: Extension | None = None
    pause: Pause | None = None
    before: EventMatch | None = None
    after: EventMatch | None = None
    applies_to: list[str] = []
    reading: str = ""
    note: str = ""

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        timed = self.kind in ("deadline", "recurring", "recording")
        if timed and (self.duration is None or self.unit is None):
            raise ValueError(f"a {self.kind} rule needs duration and unit")
        if self.kind in ("deadline", "recurring"):
            if self.start is None:
                raise ValueError(f"a {self.kind} rule needs start")
            if not self.stop:
                raise ValueError(f"a {self.kind} rule needs at least one stop")
        if self.kind == "ordering" and (self.before is None or self.after is None):
            raise ValueError("an ordering rule needs before and after")
        if self.kind == "recording":
            unknown = [t for t in self.applies_to if t not in VOCABULARY]
            if unknown:
                raise ValueError(f"applies_to names unknown event types: {unknown}")
        if self.age is not None and self.per != "child":
            raise ValueError("age conditions apply only to per = 'child' rules")
        return self


class Pack(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    council: str
    version: str
    effective_from: date
    seed: str
    summary: str = ""
    closure_days: list[date] = []
    pathways: list[Pathway] = Field(min_length=1)
    role_titles: list[RoleTitle] = []
    authority: Authority
    caseload: Caseload | None = None
    retention: Retention | None = None
    significant_events: list[str] = []
    rules: list[Rule] = []
    readings: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> Pack:
        ids = [r.id for r in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique; repeated: {duplicates}")
        pathway_ids = {p.id for p in self.pathways}
        for rule in self.rules:
            unknown = [p for p in rule.pathways if p not in pathway_ids]
            if unknown:
                raise ValueError(
                    f"rule {rule.id!r}: unknown pathways {unknown} "
                    f"(this pack has {sorted(pathway_ids)})"
                )
        unknown_types = [t for t in self.significant_events if t not in VOCABULARY]
        if unknown_types:
            raise ValueError(f"significant_events names unknown event types {unknown_types}")
        return self

    def may(self, power: str, role: str) -> bool:
        return role in getattr(self.authority, power).roles

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def field_names(event_type: str) -> set[str]:
    return {f.name for f in dataclasses.fields(VOCABULARY[event_type])}
