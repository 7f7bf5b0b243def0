"""A family's record as such: its state (now or as it stood), its events, and what a
decision-maker could see when they recorded a decision."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, NotRequired, cast
from uuid import UUID

from pydantic import Field
from typing_extensions import TypedDict

from aggregates.state import MemberDetails
from ledger.application import Ledger, event_view
from projections import chronology as chronology_model
from projections.projector import Projector
from queries.chronology import ChronologyEntry
from queries.deadlines import FamilyDeadlines
from replay import time_travel


class Actor(TypedDict):
    """Who recorded an entry, as their token said."""

    user_id: str
    role: str
    team: str
    name: NotRequired[str]
    """The ``name`` claim of their token, when it had one (ADR 0030)."""
    job_title: NotRequired[str]
    """The ``job_title`` claim of their token, when it had one."""


class EventView(TypedDict):
    """An event with its envelope: when it happened, when it was recorded, by whom, under
    which pack; ``data`` holds the fields of its type (its JSON Schema: ``/schemas/{type}``)."""

    event_id: UUID
    type: str
    schema_version: Annotated[int, Field(description=(
        "The version of the type's JSON Schema, /schemas/{type}, that data follows (ADR 0034): raised when the "
        "type changes in a way that breaks it; an older stored event is upcast to it as it is read."))]
    family_id: UUID
    version: int
    occurred_at: datetime
    recorded_at: datetime
    actor: Actor
    policy: str
    policy_version: str
    about: list[UUID]
    context: dict[str, Any]
    data: Annotated[dict[str, Any], Field(description=(
        "The fields of the event's type, as its JSON Schema says: GET /schemas/{type} (every type is listed, "
        "with its schema_version, at GET /schemas)."))]


class FamilyMember(MemberDetails):
    member_id: UUID
    given_name: str
    family_name: str
    date_of_birth: date | None
    kind: str
    expected_date: NotRequired[date | None]
    """An unborn member's expected date of birth (``kind`` ``unborn``), until ``ChildBorn``."""
    gender: NotRequired[str | None]
    ethnicity: NotRequired[str | None]
    added_by: NotRequired[UUID]
    """The event that put the member on the record (in a decision's view of the family)."""


class FamilyState(TypedDict):
    """The family as its events say, with its version (the ETag). An episode runs from a
    referral to its closure; ``current_episode`` is the latest."""

    family_id: UUID
    version: int
    policy: str
    policy_version: str
    team: str
    registered_at: datetime
    members: list[FamilyMember]
    status: str
    current_episode: dict[str, Any] | None
    episodes: list[dict[str, Any]]
    pending_transfer: dict[str, Any] | None
    addresses: NotRequired[list[dict[str, Any]]]
    """Where the family has lived (from_date, address_lines, postcode), the latest last."""
    linked_families: NotRequired[list[UUID]]
    """Families found to belong with this one (``FamiliesLinked``, recorded on either)."""


class FamilyEvents(TypedDict):
    family_id: UUID
    version: int
    events: list[EventView]


class Decision(TypedDict):
    """What the decision-maker could see when they recorded the decision: the family, its
    chronology and its deadlines as at the moment just before it was recorded."""

    decision: EventView
    as_at: datetime
    family: FamilyState
    chronology: list[ChronologyEntry]
    deadlines: FamilyDeadlines


def family(ledger: Ledger, family_id: UUID, as_at: datetime | None = None,
           read_models: Projector | None = None) -> FamilyState:
    """The family's current state, or as it stood at a past moment of recording; with
    ``read_models``, the families linked with it include those whose link was recorded
    on the other family."""
    if as_at is not None:
        state = time_travel.family(ledger, family_id, as_at)
    else:
        state = ledger.family(family_id).state()
        if read_models is not None:
            with read_models.reading("chronology") as tx:
                others = chronology_model.linked_families(tx, family_id)
            state["linked_families"] = sorted({*state.get("linked_families", []), *others}, key=str)
    for member in state["members"]:
        member.pop("added_by", None)
    return cast(FamilyState, state)


def events(ledger: Ledger, family_id: UUID) -> FamilyEvents:
    """Every event of the family with its envelope, in version order."""
    found = ledger.family_events(family_id)
    return FamilyEvents(family_id=family_id, version=found[-1].originator_version,
                        events=[cast(EventView, event_view(e)) for e in found])


def decision(ledger: Ledger, family_id: UUID, event_id: UUID) -> Decision:
    """What the decision-maker could see when they recorded this authorisation, closure or
    other decision (422 if the event is not a decision)."""
    return cast(Decision, time_travel.decision(ledger, family_id, event_id))
