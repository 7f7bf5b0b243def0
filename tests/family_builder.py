"""Families built in plain Python, for testing the aggregate's rules without a ledger.

A ``Case`` is one ``Family`` aggregate and the policy pack it is worked under, driven the
way ``ledger.application.Ledger`` drives it but with nothing stored: a command's fields
are read through the same command model the API uses (``ledger.commands.COMMAND_MODELS``,
which fills in defaults and generated ids), the envelope is built as ``Ledger._envelope``
builds it, and ``Family.record`` is called. Every event stays pending on the aggregate, so
the deadline engine can be run over them to see what an entry flags.

Time is fixed: every command is recorded at ``NOW`` (Tuesday 24 November 2026, noon, the
moment the HTTP tests' ledgers start at); a command that does not say when it happened is
stated to have happened one hour after the previous such command, from ``START``.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from aggregates.errors import LedgerError
from aggregates.family import Family
from ledger import deadlines as deadline_engine
from ledger.commands import COMMAND_MODELS
from ledger.policies.loader import PACKS_DIR, shipped_packs
from ledger.policies.schema import Pack

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
"""When every command is recorded (the envelope's ``timestamp``: the ledger's clock)."""
TODAY = NOW.date()
START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
"""When the first command that does not say when it happened is stated to have happened."""

CHILD_DOB = date(2016, 5, 4)
BABY_DOB = date(2026, 3, 1)
ADULT_DOB = date(1990, 2, 3)


def person(user_id: str, role: str, team: str = "north") -> dict[str, str]:
    """An actor as ``Ledger._envelope`` puts it on an event."""
    return {"user_id": user_id, "role": role, "team": team}


PAT = person("pat", "practitioner")
"""A practitioner of team north (the team that registers the families here)."""
PIP = person("pip", "practitioner")
SAM = person("sam", "supervisor")
MEG = person("meg", "manager")
MAX = person("max", "manager")
"""A second manager of team north."""
SOL = person("sol", "manager", "south")
SUE = person("sue", "practitioner", "south")
WES = person("wes", "manager", "west")


def pack(pack_id: str) -> Pack:
    """A shipped policy pack, as the ledger loads it."""
    return shipped_packs()[pack_id]


def variant_pack(pack_id: str, change: Any) -> Pack:
    """A shipped pack's TOML, changed by ``change(raw)`` and validated as a council's own
    edit of it would be (for rules no shipped pack happens to exercise)."""
    raw = tomllib.loads((PACKS_DIR / f"{pack_id}.toml").read_text(encoding="utf-8"))
    change(raw)
    return Pack.model_validate(raw)


def london(text: str) -> datetime:
    """An aware moment from ISO text (``2026-10-05T09:00+01:00``)."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, "say the offset"
    return moment


class Case:
    """A family on the record, its pack, its members, and the commands recorded on it."""

    def __init__(self, pack_id: str = "durham-one-point", *, team: str = "north",
                 actor: dict[str, str] = PAT, the_pack: Pack | None = None) -> None:
        self.pack = the_pack or pack(pack_id)
        self.ava, self.ben, self.cara = uuid4(), uuid4(), uuid4()
        self.members = [
            {"member_id": self.ava, "given_name": "Ava", "family_name": "Stone", "date_of_birth": CHILD_DOB,
             "kind": "child"},
            {"member_id": self.ben, "given_name": "Ben", "family_name": "Stone", "date_of_birth": BABY_DOB,
             "kind": "child"},
            {"member_id": self.cara, "given_name": "Cara", "family_name": "Stone", "date_of_birth": ADULT_DOB,
             "kind": "adult"},
        ]
        self._next = START
        self.family = Family.register(family_id=uuid4(), envelope=self.envelope(actor), team=team,
                                      members=self.members)
        self.registration = self.family.pending_events[0]

    # -- commands ------------------------------------------------------------------

    def envelope(self, actor: dict[str, str], occurred_at: datetime | None = None,
                 about: list[UUID] | tuple[UUID, ...] = ()) -> dict[str, Any]:
        """The next command's envelope (stated to happen an hour after the last, unless it
        says when)."""
        if occurred_at is None:
            occurred_at, self._next = self._next, self._next + timedelta(hours=1)
        return envelope(self.pack, actor, occurred_at, about)

    def record(self, type_name: str, actor: dict[str, str] = PAT, *, at: str | datetime | None = None,
               about: list[UUID] | tuple[UUID, ...] = (), pack: Pack | None = None, raw: bool = False,
               **fields: Any) -> Any:
        """Record a command (as the API would send it; ``raw``: the fields exactly as given,
        past what the edge would refuse first): its event."""
        occurred_at = london(at) if isinstance(at, str) else at
        return self.family.record(type_name, dict(fields) if raw else command_fields(type_name, fields),
                                  self.envelope(actor, occurred_at, about), pack or self.pack)

    def refused(self, error: type[LedgerError], type_name: str, actor: dict[str, str] = PAT, *, says: str,
                field: str | None = None, **kwargs: Any) -> LedgerError:
        """Record a command that must be refused: with ``error``, a message that says
        ``says``, and the family left as it was (version, pending events, state)."""
        return self.refuses(error, lambda: self.record(type_name, actor, **kwargs), says=says, field=field)

    def refuses(self, error: type[LedgerError], attempt: Any, *, says: str, field: str | None = None) -> LedgerError:
        before = self.snapshot()
        with pytest.raises(LedgerError) as caught:
            attempt()
        problem = caught.value
        assert type(problem) is error, f"{type(problem).__name__}: {problem.detail}"
        assert says in problem.detail, problem.detail
        if field is not None:
            assert problem.field == field, (problem.field, problem.detail)
        assert self.snapshot() == before, "a refused command must leave the family as it was"
        return problem

    def snapshot(self) -> tuple[int, list[UUID], dict[str, Any]]:
        """What a refused command must not change: the version, the pending events and the
        family's state as the application shows it."""
        return (self.family.version, [e.event_id for e in self.family.pending_events],
                copy.deepcopy(self.family.state()))

    def erase(self, actor: dict[str, str] = MEG) -> Any:
        """Mark the family erased (what ``Ledger.erase`` asks of the aggregate)."""
        admin = {**actor, "role": "admin"}
        return self.family.erase(reason="erasure-request", legal_basis="UK GDPR Art. 17", deadlines={},
                                 envelope=self.envelope(admin))

    # -- reading -------------------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        return self.family.state()

    @property
    def episode(self) -> dict[str, Any]:
        episode = self.family.state()["current_episode"]
        assert episode is not None
        return episode  # type: ignore[no-any-return]

    def deadlines(self, as_of: datetime = NOW) -> dict[str, Any]:
        """The deadline engine over the family's events (all still pending here)."""
        return deadline_engine.evaluate(self.family.pending_events, self.pack, as_of)

    def breaches(self, event: Any) -> list[str]:
        """The ordering rules the deadlines show as broken by one entry (flagged)."""
        found = self.deadlines()
        rules = sorted(b["rule"] for b in found["breaches"] if b["event_id"] == event.event_id)
        for rule in rules:
            assert any(row["state"] == "breach" and row["rule"] == rule and row["started_by"] == event.event_id
                       for row in found["deadlines"]), rule
        return rules

    def breach(self, event: Any, rule: str) -> dict[str, Any]:
        found = self.deadlines()["breaches"]
        return next(b for b in found if b["event_id"] == event.event_id and b["rule"] == rule)

    # -- the usual first steps ----------------------------------------------------------

    def referred(self, at: str | None = None) -> Case:
        self.record("ReferralReceived", PAT, at=at, route="professional", reason="school worried")
        return self

    def triaged(self, pathway: str, at: str | None = None, actor: dict[str, str] = MEG) -> Case:
        self.record("TriageDecided", actor, at=at, outcome="early_help", pathway=pathway)
        return self

    def consented(self, at: str | None = None, scope: tuple[str, ...] = ("support", "information_sharing")) -> Case:
        self.record("ConsentGiven", PAT, at=at, given_by=self.cara, scope=list(scope))
        return self

    def assessment(self, *, kind: str | None = None, submit: bool = True, authorise: bool = False,
                   by: dict[str, str] = PAT, authoriser: dict[str, str] = MEG) -> UUID:
        """An assessment started (and submitted, and authorised) in the open episode: its id."""
        aid = uuid4()
        extra = {"assessment_kind": kind} if kind else {}
        self.record("AssessmentStarted", by, assessment_id=aid, **extra)
        if submit or authorise:
            self.record("AssessmentSubmitted", by, assessment_id=aid)
        if authorise:
            self.record("AssessmentAuthorised", authoriser, assessment_id=aid)
        return aid

    def plan(self, *, authorise: bool = False) -> UUID:
        pid = uuid4()
        self.record("PlanAgreed", PAT, plan_id=pid, outcomes=["school attendance"])
        if authorise:
            self.record("PlanAuthorised", MEG, plan_id=pid)
        return pid

    def closed(self, reason: str = "outcomes_met") -> Case:
        """Closure proposed, authorised and the episode closed."""
        self.record("ClosureProposed", PAT, reason=reason)
        self.record("ClosureAuthorised", MEG)
        self.record("EpisodeClosed", PAT, reason=reason)
        return self

    def event(self, type_name: str, nth: int = -1) -> Any:
        """The nth event of a type recorded on the family (the last by default)."""
        return [e for e in self.family.pending_events if e.type == type_name][nth]


def envelope(the_pack: Pack, actor: dict[str, str], occurred_at: datetime = START,
             about: list[UUID] | tuple[UUID, ...] = ()) -> dict[str, Any]:
    """An event's envelope as ``Ledger._envelope`` builds it, recorded at ``NOW``."""
    return {
        "event_id": uuid4(), "occurred_at": occurred_at, "actor": dict(actor),
        "policy": the_pack.id, "policy_version": the_pack.version,
        "about": list(about), "context": {}, "timestamp": NOW,
    }


def register(*members: dict[str, Any], team: str = "north", actor: dict[str, str] = PAT,
             pack_id: str = "durham-one-point") -> Family:
    """``Family.register`` as ``Ledger.register_family`` calls it."""
    return Family.register(family_id=uuid4(), envelope=envelope(pack(pack_id), actor), team=team,
                           members=list(members))


def command_fields(type_name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """A command's event fields as the API hands them to the ledger: validated by its
    command model, which fills in defaults and generated ids. An unknown type is passed on
    as it is (the aggregate refuses it)."""
    model = COMMAND_MODELS.get(type_name)
    if model is None:
        return dict(given)
    _, fields, _ = model.model_validate({"type": type_name, **given}).split()
    return fields


def referred_case(pack_id: str = "durham-one-point", pathway: str | None = None) -> Case:
    """A family registered by team north, referred, and (with ``pathway``) triaged."""
    case = Case(pack_id).referred()
    if pathway is not None:
        case.triaged(pathway)
    return case
