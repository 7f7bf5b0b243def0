"""The one source of "now" for the application.

Every moment the ledger stamps or judges by (an event's ``recorded_at``, the deadlines
"as of now", the access log's and the holds' times, "today" for a date of birth) comes
from the ``Ledger``'s clock, a callable returning an aware UTC ``datetime``. It is the
real clock in service; tests and the demo loader give the application a fixed one, so
nothing they check depends on the day they run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from ledger.moments import instant

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(clock: Clock) -> str:
    """``clock()`` as the text the ledger's own tables store: the one shape of an instant
    (``2026-03-02T09:15:00.000000Z``, ADR 0036; rows stored before it ended ``+00:00``,
    and are given in the one shape when read)."""
    return instant(clock())
