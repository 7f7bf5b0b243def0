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

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(clock: Clock) -> str:
    """``clock()`` as the UTC ISO text the ledger's own tables store."""
    return clock().astimezone(timezone.utc).isoformat(timespec="microseconds")
