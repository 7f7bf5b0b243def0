"""Waking the feed's waiting readers when events are recorded (``GET /feed?wait=``).

A reader that has seen everything waits for the next event without asking again and
again: it registers a waiter (an ``asyncio`` future of its own event loop), reads once
more (so nothing recorded in between is missed), and sleeps until woken or until its
wait runs out. What wakes it:

- in every process, the ledger's own commits (``Ledger._notify``, the ``eventsourcing``
  library's hook once events are stored);
- on PostgreSQL, every other process's commits too: the library sends ``NOTIFY`` on the
  events table's channel inside each insert's transaction (delivered when it commits),
  and one listening connection per process (a daemon thread, started by the first
  waiter) wakes every waiter of the process. Waiters hold no connection and no thread.
  The channel is named after the table, not its schema: a write to another schema of
  the same database wakes them too, for one needless read each.

On SQLite (the embedded default, one serving process) only this process's commits wake
a waiter: an event written by another process (``ledger demo`` while ``ledger serve``
runs) is read when the wait runs out. Being woken is only a reason to read again: a
waiter reads the notification log itself, so a spurious or lost wake-up costs at most
one read or the rest of the wait, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from ledger.application import Ledger

log = logging.getLogger("ledger.notify")
POLL_SECONDS = 1.0
"""How often the listening thread looks up from the connection to see whether the ledger
has closed (it is woken at once by a notification)."""
RECONNECT_SECONDS = 1.0


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Arrivals:
    """The waiters of one ledger (one per process), and what wakes them."""

    def __init__(self, listen: Callable[[Arrivals], threading.Thread] | None = None) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[asyncio.Future[None], asyncio.AbstractEventLoop] = {}
        self._listen = listen
        self._listener: threading.Thread | None = None

    @classmethod
    def of(cls, ledger: Ledger) -> Arrivals:
        """The ledger's: with a listening connection on PostgreSQL, none on SQLite."""
        if not ledger.settings.is_postgres:
            return cls()
        recorder: Any = ledger.recorder
        pool: Any = ledger._datastore.pool

        def connect() -> psycopg.Connection[Any]:
            kwargs = {k: v for k, v in pool.kwargs.items() if k != "row_factory"}
            return psycopg.connect(**kwargs, autocommit=True, connect_timeout=ledger.settings.database_timeout)

        return cls(lambda arrivals: Listener(arrivals, connect, recorder.channel_name, ledger.closing))

    def waiter(self) -> asyncio.Future[None]:
        """A future of the running event loop, done at the next ``signal``; ``forget`` it
        once done with (woken or not)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiting[future] = loop
            if self._listen is not None and (self._listener is None or not self._listener.is_alive()):
                self._listener = self._listen(self)
                self._listener.start()
        return future

    def forget(self, future: asyncio.Future[None]) -> None:
        with self._lock:
            self._waiting.pop(future, None)

    def signal(self) -> None:
        """Events were recorded: wake every waiter (from any thread)."""
        with self._lock:
            waiting = list(self._waiting.items())
            self._waiting.clear()
        for future, loop in waiting:
            with contextlib.suppress(RuntimeError):  # its event loop has closed: nobody waits on it
                loop.call_soon_threadsafe(_wake, future)

    @property
    def waiters(self) -> int:
        """How many are waiting now (health and tests)."""
        with self._lock:
            return len(self._waiting)


class Listener(threading.Thread):
    """The process's one ``LISTEN`` connection (PostgreSQL): each notification on the
    events table's channel wakes every waiter. It runs until the ledger closes,
    reconnecting after a lost connection (and waking the waiters, who read again, since
    a notification may have been missed meanwhile)."""

    def __init__(self, arrivals: Arrivals, connect: Callable[[], psycopg.Connection[Any]], channel: str,
                 closing: threading.Event) -> None:
        super().__init__(name="ledger-feed-listener", daemon=True)
        self.arrivals, self.connect, self.channel, self.closing = arrivals, connect, channel, closing

    def run(self) -> None:
        while not self.closing.is_set():
            try:
                with self.connect() as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    # Anything committed before LISTEN took effect was not notified: the
                    # waiters read again now that nothing more can be missed.
                    self.arrivals.signal()
                    while not self.closing.is_set():
                        for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                            self.arrivals.signal()
            except psycopg.Error as e:
                log.warning("the feed's LISTEN connection failed (%s): reconnecting", str(e).strip())
                self.arrivals.signal()
                self.closing.wait(RECONNECT_SECONDS)
