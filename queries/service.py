"""The service itself: whether every read model is current (``/health``) and the feed of
every event in global order for downstream tools."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast

from typing_extensions import TypedDict

from ledger.application import Ledger
from projections import feed as feed_model
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
    events: list[FeedEvent]


def feed(ledger: Ledger, after: int = 0, limit: int = 100, types: Sequence[str] = ()) -> Feed:
    """Every event in global order after a position, with envelopes, and the next cursor."""
    return cast(Feed, feed_model.page(ledger, after, limit, types))
