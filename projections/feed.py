"""The feed: every event in one global order, from any position, for downstream tools.

It is the ledger's notification log itself (the library's ``select_notifications``),
not a copy: positions are the notification ids every command returns, so a consumer
that stores the last position it processed resumes exactly there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from aggregates.events import VOCABULARY, FamilyEvent

if TYPE_CHECKING:
    from ledger.application import Ledger

MAX_LIMIT = 1000


def page(ledger: Ledger, after: int, limit: int, types: Sequence[str] = ()) -> dict[str, Any]:
    """Events after ``after`` (at most ``limit``), each with its envelope and position,
    and the cursor to ask for next."""
    from ledger.application import event_view

    unknown = [t for t in types if t not in VOCABULARY]
    if unknown:
        from aggregates.errors import InvalidCommand

        raise InvalidCommand(f"unknown event types {unknown}", field="types")
    topics = [get_topic(VOCABULARY[t]) for t in types]
    notes = ledger.recorder.select_notifications(after + 1, limit + 1, topics=topics)
    more = len(notes) > limit
    notes = notes[:limit]
    decoded = [(n.id, ledger.mapper.to_domain_event(n)) for n in notes]
    events = [{"position": position, **event_view(e)} for position, e in decoded
              if isinstance(e, FamilyEvent)]  # the hold register's events are no family's
    return {"after": after, "next": notes[-1].id if notes else after, "more": more, "events": events}
