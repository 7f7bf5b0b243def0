"""The staff directory: the names and job titles of the people who use the ledger.

A person reads "Sam Jones, Family Support Worker", never ``sot-sfsw-06``, wherever the
ledger names who recorded something or who holds a family (chronology, exports,
oversight, the console). The name comes first from the event itself: a token may carry
``name`` and ``job_title`` claims, which the envelope records with the actor when the
command is recorded, so what was true then stays true of that entry. For users recorded
before they had a name on file, and for workers named in a payload (an allocation names a
worker by id), the directory here gives it: admins keep it (``ledger staff``,
``GET/PUT /staff/{user_id}``), the demo loader fills it. Anyone in neither reads as their
id, marked "(not in the staff directory)".

Staff names are the service's own, not personal data of a family: they are not sealed
and a family's erasure never touches them (ADR 0030). Its own table in the ledger's
database, like the team directory (``ledger/teams.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from aggregates.errors import InvalidCommand
from ledger.clock import Clock, stamp, utc_now
from ledger.moments import instant
from ledger.sql import Database, Tx

TABLE = "staff"
DDL = [
    "CREATE TABLE {staff} (user_id TEXT PRIMARY KEY, name TEXT NOT NULL, job_title TEXT, "
    "updated_at TEXT NOT NULL, updated_by TEXT NOT NULL)",
]
MAX_USER_ID = 128
MAX_NAME = 120
MAX_JOB_TITLE = 120
UNKNOWN = "not in the staff directory"
CACHE_SECONDS = 30.0
"""How long a process reads names from its copy of the directory before reading it again
(a change made in this process shows at once; one made by another process within this)."""


@dataclass(frozen=True)
class StaffEntry:
    """One person in the directory."""

    user_id: str
    name: str
    job_title: str | None
    updated_at: str
    updated_by: str

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "name": self.name, "job_title": self.job_title,
                "updated_at": instant(self.updated_at), "updated_by": self.updated_by}


@dataclass(frozen=True)
class Person:
    """Someone as a person reads them: ``text`` is "Sam Jones, Family Support Worker",
    "Sam Jones" with no title, or "sot-sfsw-06 (not in the staff directory)"."""

    user_id: str | None
    name: str | None
    job_title: str | None
    known: bool
    text: str


def describe(user_id: str | None, *, name: str | None = None, job_title: str | None = None,
             directory: Mapping[str, StaffEntry] | None = None) -> Person:
    """Who ``user_id`` is, as a person reads it. A ``name`` (and ``job_title``) given, as an
    event's envelope records them, wins over the directory: it is what was true when
    recorded. Without one, the directory's entry; without that, the id, marked unknown."""
    name = (name or "").strip() or None
    job_title = (job_title or "").strip() or None
    if name is None and user_id and directory is not None:
        entry = directory.get(user_id)
        if entry is not None:
            name, job_title = entry.name, entry.job_title
    if name is None:
        shown = user_id or "someone unrecorded"
        return Person(user_id, None, None, False, f"{shown} ({UNKNOWN})")
    return Person(user_id, name, job_title, True, f"{name}, {job_title}" if job_title else name)


def _checked(value: str | None, field: str, limit: int, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidCommand(f"{field} must not be empty", field=field)
        return None
    if len(text) > limit:
        raise InvalidCommand(f"{field} is at most {limit} characters, not {len(text)}", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidCommand(f"{field} may not hold control characters (a line break, a tab)", field=field)
    return text


def check_user_id(user_id: str) -> str:
    """A user id as tokens carry it (``sub``): 1 to 128 printable characters, no spaces."""
    text = _checked(user_id, "user_id", MAX_USER_ID, required=True)
    assert text is not None
    if text != user_id or any(c.isspace() for c in text):
        raise InvalidCommand("user_id may not hold spaces", field="user_id")
    return text


class Staff:
    """The directory, in its own table; ``names()`` is a cached copy for readers."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db, self.clock = db, clock
        db.create(TABLE, DDL)
        self._lock = threading.Lock()
        self._cache: dict[str, StaffEntry] | None = None
        self._read_at = 0.0

    def _tx(self, commit: bool = True) -> AbstractContextManager[Tx]:
        return self.db.transaction({TABLE: self.db.table(TABLE)}, commit=commit)

    def put(self, user_id: str, name: str, job_title: str | None, actor: str | Mapping[str, Any]) -> StaffEntry:
        """Add someone, or change their name or title; the entry as the directory holds it.
        ``actor`` is who made the change (a user id, or an actor with ``user_id``)."""
        user_id = check_user_id(user_id)
        checked_name = _checked(name, "name", MAX_NAME, required=True)
        title = _checked(job_title, "job_title", MAX_JOB_TITLE, required=False)
        by = actor if isinstance(actor, str) else str(actor["user_id"])
        with self._tx() as tx:
            tx.run("INSERT INTO {staff} (user_id, name, job_title, updated_at, updated_by) VALUES (?,?,?,?,?) "
                   "ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, job_title = excluded.job_title, "
                   "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                   (user_id, checked_name, title, stamp(self.clock), by))
            row = tx.one("SELECT * FROM {staff} WHERE user_id = ?", (user_id,))
        self.forget()
        assert row is not None
        return _entry(row)

    def put_all(self, entries: Sequence[tuple[str, str, str | None]], actor: str) -> None:
        """Put many entries (user id, name, job title) in one transaction (the demo loader)."""
        rows = []
        for user_id, name, job_title in entries:
            rows.append((check_user_id(user_id), _checked(name, "name", MAX_NAME, required=True),
                         _checked(job_title, "job_title", MAX_JOB_TITLE, required=False),
                         stamp(self.clock), actor))
        with self._tx() as tx:
            tx.many("INSERT INTO {staff} (user_id, name, job_title, updated_at, updated_by) VALUES (?,?,?,?,?) "
                    "ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, job_title = excluded.job_title, "
                    "updated_at = excluded.updated_at, updated_by = excluded.updated_by", rows)
        self.forget()

    def get(self, user_id: str) -> StaffEntry | None:
        with self.db.read({TABLE: self.db.table(TABLE)}) as tx:
            row = tx.one("SELECT * FROM {staff} WHERE user_id = ?", (user_id,))
        return None if row is None else _entry(row)

    def all(self) -> list[StaffEntry]:
        with self._tx(commit=False) as tx:
            return [_entry(r) for r in tx.rows("SELECT * FROM {staff} ORDER BY user_id")]

    def names(self) -> Mapping[str, StaffEntry]:
        """The whole directory by user id, read again at most every ``CACHE_SECONDS``."""
        with self._lock:
            if self._cache is None or time.monotonic() - self._read_at > CACHE_SECONDS:
                self._cache = {e.user_id: e for e in self.all()}
                self._read_at = time.monotonic()
            return self._cache

    def forget(self) -> None:
        """Drop the cached copy (after a change), so the next read sees it."""
        with self._lock:
            self._cache = None

    def describe(self, user_id: str | None, name: str | None = None, job_title: str | None = None) -> Person:
        return describe(user_id, name=name, job_title=job_title, directory=self.names())


def _entry(row: Mapping[str, Any]) -> StaffEntry:
    return StaffEntry(user_id=str(row["user_id"]), name=str(row["name"]), job_title=row["job_title"],
                      updated_at=str(row["updated_at"]), updated_by=str(row["updated_by"]))
