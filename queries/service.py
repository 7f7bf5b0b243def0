"""The service itself: whether every read model is current (``/health``) and the feed of
every event in global order for downstream tools."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Literal, cast

from typing_extensions import TypedDict

from ledger.application import Ledger
from projections import feed as feed_model
from projections.feed import View
from projections.projector import Projector
from queries.families import EventView

MAX_FEED_LIMIT = feed_model.MAX_LIMIT


class HeldBack(TypedDict):
    families: int
    entries: int
    read_models: list[str]


class Health(TypedDict):
    """``ok``, or ``degraded`` while a read model holds a family back (ADR 0021)."""

    status: Literal["ok", "degraded"]
    position: int
    """The latest position in the ledger's global order."""
    read_models: dict[str, int]
    """How far each read model has got."""
    quarantined: HeldBack


def health(ledger: Ledger, projector: Projector) -> Health:
    """Whether the read models are current: the latest position, each read model's, and
    the families a read model holds back (``ledger project --retry-quarantined`` applies
    them again after a fix)."""
    held = projector.store.quarantine_rows()
    return Health(status="degraded" if held else "ok", position=ledger.recorder.max_notification_id() or 0,
                  read_models=projector.positions(),
                  quarantined=HeldBack(families=len({r["family_id"] for r in held}), entries=len(held),
                                       read_models=sorted({r["model"] for r in held})))


class FeedEvent(EventView):
    """An event with its envelope (as ``EventView``), and its position."""

    position: int
    """The event's place in the global order: the cursor."""


class Feed(TypedDict):
    after: int
    next: int
    """Ask for ``after=next`` to go on."""
    more: bool
    """More events are there already: ask again at once (else wait, or poll)."""
    last_position: int
    """The latest position in the ledger (``last_position - next``: how far behind the reader is)."""
    view: View
    """``pseudonymised`` (member ids replaced by this deployment's pseudonyms; names, dates
    of birth and free text withheld) or ``full``."""
    events: list[FeedEvent]


CursorAhead = feed_model.CursorAhead


def feed(ledger: Ledger, after: int = 0, limit: int = 100, types: Sequence[str] = (), view: View = "full") -> Feed:
    """Every event in global order after a position, with envelopes, the next cursor and
    the ledger's last position; ``CursorAhead`` if ``after`` is beyond it."""
    return cast(Feed, feed_model.page(ledger, after, limit, types, view))


async def feed_waiting(ledger: Ledger, after: int = 0, limit: int = 100, types: Sequence[str] = (),
                       view: View = "full", wait: float = 0) -> Feed:
    """``feed``, or, while there is nothing after ``after``, the page once there is
    (up to ``wait`` seconds; then the empty page). Waits without a thread or a
    connection of its own, woken by the ledger's ``arrivals`` (``ledger/notify.py``);
    reads run in the thread pool, away from the event loop."""
    loop = asyncio.get_running_loop()
    until = loop.time() + wait
    while True:
        woken = ledger.arrivals.waiter()  # before the read: an event recorded after it wakes this
        try:
            found = await asyncio.to_thread(feed, ledger, after, limit, types, view)
            left = until - loop.time()
            if found["next"] > after or left <= 0:
                return found
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken, left)
        finally:
            ledger.arrivals.forget(woken)


# -- CloudEvents ----------------------------------------------------------------------------

CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"
TYPE_PREFIX = "uk.gov.early-help-ledger."
"""CloudEvents ``type``: reverse-DNS, then the event type and its schema version
(``uk.gov.early-help-ledger.FamilyRegistered.v1``)."""
LIFTED = ("event_id", "type", "schema_version", "family_id", "recorded_at")
"""Envelope fields a CloudEvent says in its own attributes (``id``, ``type``, ``subject``,
``time``) rather than in its ``data``."""


def cloudevent(event: FeedEvent | dict[str, Any], *, source: str, base_url: str) -> dict[str, Any]:
    """A feed event as a CloudEvent 1.0 in structured mode (JSON format): the envelope's
    identity and times as attributes, and as ``data`` the type's fields (as
    ``/schemas/{type}`` describes them) with the rest of the envelope beside them
    (``position``, ``version``, ``occurred_at``, ``actor``, ``policy``,
    ``policy_version``, ``about``, ``context``: names no type's field may take)."""
    envelope = {k: v for k, v in event.items() if k not in LIFTED and k != "data"}
    return {
        "specversion": "1.0",
        "id": str(event["event_id"]),
        "source": source,
        "type": f"{TYPE_PREFIX}{event['type']}.v{event.get('schema_version', 1)}",
        "subject": str(event["family_id"]),
        "time": event["recorded_at"],
        "datacontenttype": "application/json",
        "dataschema": f"{base_url.rstrip('/')}/schemas/{event['type']}",
        "data": {**event["data"], **envelope},
    }


def cloudevents(found: Feed, *, source: str, base_url: str) -> list[dict[str, Any]]:
    """A feed page as a CloudEvents batch (``application/cloudevents-batch+json``): a
    JSON array of events; the cursors go in the answer's headers."""
    return [cloudevent(e, source=source, base_url=base_url) for e in found["events"]]
