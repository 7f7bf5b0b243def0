"""Time travel: the record as it stood at a past moment of recording.

"As at" a moment means what had been *recorded* by then (``recorded_at``): events
recorded later are absent and corrections made later are not yet applied, so an auditor
sees what a manager could see when they signed something off. (``as_of`` on deadlines is
the other question: the world as known now, judged at a past date.)

A family's events are recorded in version order, so the record as at a moment is a
prefix of its stream: the aggregate at that version, and the same chronology fold and
deadline engine the live views use, over that prefix.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aggregates.errors import InvalidCommand, NotFound
from aggregates.events import VOCABULARY
from projections import chronology as chronology_model

if TYPE_CHECKING:
    from aggregates.events import FamilyEvent
    from ledger.application import Ledger




def recorded_by(ledger: Ledger, family_id: UUID, at: datetime) -> list[FamilyEvent]:
    """The family's events recorded at or before ``at`` (404 if it did not yet exist)."""
    if at.tzinfo is None:
        raise InvalidCommand("as_at must include a timezone offset", field="as_at")
    events = [e for e in ledger.family_events(family_id) if e.recorded_at <= at]
    if not events:
        raise NotFound(f"family {family_id} had not been recorded by {at.isoformat()}")
    return events


def family(ledger: Ledger, family_id: UUID, at: datetime) -> dict[str, Any]:
    """The family's state as it stood at ``at``."""
    version = recorded_by(ledger, family_id, at)[-1].originator_version
    return ledger.repository.get(family_id, version=version).state()


def chronology(ledger: Ledger, family_id: UUID,
               at: datetime) -> tuple[list[chronology_model.ChronologyRow], dict[str, dict[str, Any]]]:
    """Chronology rows and members as they stood at ``at``, with the practice breaches
    the record then showed."""
    rows, members = chronology_model.fold(recorded_by(ledger, family_id, at), ledger.packs)
    found = ledger.deadlines(family_id, as_of=at, known_at=at)
    return chronology_model.with_breaches(rows, chronology_model.engine_breaches(found)), members


def decision(ledger: Ledger, family_id: UUID, event_id: UUID) -> dict[str, Any]:
    """What the decision-maker could see when they recorded a decision: the family, its
    chronology and its deadlines as at the moment just before the decision was recorded."""
    from ledger.application import event_view

    events = ledger.family_events(family_id)
    found = next((e for e in events if e.event_id == event_id), None)
    if found is None:
        raise NotFound(f"no event {event_id} on family {family_id}")
    if not VOCABULARY[found.type].decision_kind:
        decisions = sorted(name for name, cls in VOCABULARY.items() if cls.decision_kind)
        raise InvalidCommand(f"{found.type} is not a decision; decisions are {', '.join(decisions)}",
                             field="event_id")
    before = found.recorded_at - timedelta(microseconds=1)
    seen = [e for e in events if e.recorded_at <= before]
    rows, members = chronology_model.fold(seen, ledger.packs)
    rows = chronology_model.with_breaches(rows, chronology_model.engine_breaches(
        ledger.deadlines(family_id, as_of=found.recorded_at, known_at=before)))
    return {
        "decision": event_view(found),
        "as_at": before,
        "family": ledger.repository.get(family_id, version=seen[-1].originator_version).state(),
        "chronology": chronology_model.view(rows, members, staff=ledger.describe),
        "deadlines": ledger.deadlines(family_id, as_of=found.recorded_at, known_at=before),
    }
