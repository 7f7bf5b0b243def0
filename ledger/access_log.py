"""The access log: everything read of a family's record, or refused, by whom, when and what.

Its own append-only table in the ledger's database. Every route that returns personal
data or case detail (a family's record, its chronology and deadlines, the team lists, the
feed, searches, exports and subject access, from the API and from ``ledger export``)
appends a row per family it showed, with the outcome: ``allowed``, ``refused`` (403) or
``not found`` (404). Nothing in the API can change or delete a row. Each row carries an
HMAC, under the chain key kept outside the database (``LEDGER_CHAIN_KEY``), linking it
to the row before, so a row edited or removed in the database shows (``ledger verify``);
and every event's hash row records the log's head at that moment, so rows removed from
the log's end are caught too (``ledger/integrity.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from ledger.clock import Clock, stamp, utc_now
from ledger.sql import Database, Tx

TABLE = "access_log"
DDL = [
    "CREATE TABLE {access_log} (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, user_id TEXT NOT NULL, "
    "role TEXT NOT NULL, team TEXT, family_id TEXT, member_id TEXT, action TEXT NOT NULL, path TEXT NOT NULL, "
    "query TEXT NOT NULL, outcome TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    "CREATE INDEX access_log_family ON {access_log} (family_id, seq)",
    "CREATE INDEX access_log_user ON {access_log} (user_id, seq)",
]
GENESIS = "0" * 64
FIELDS = ("seq", "at", "user_id", "role", "team", "family_id", "member_id", "action", "path", "query", "outcome")
OUTCOMES = ("allowed", "refused", "not found")


@dataclass(frozen=True)
class Read:
    """One read (or refused attempt) to log: who, what, and of which family or member."""

    actor: dict[str, str]
    action: str
    path: str
    query: str
    outcome: str = "allowed"
    family_id: UUID | None = None
    member_id: UUID | None = None


def digest(key: bytes, prev: str, row: dict[str, Any]) -> str:
    fields = {k: row.get(k) for k in FIELDS}
    return hmac.new(key, prev.encode() + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS), hashlib.sha256).hexdigest()


class AccessLog:
    def __init__(self, db: Database, clock: Clock = utc_now, key: bytes = b"") -> None:
        self.db, self.clock, self.key = db, clock, key
        db.create(TABLE, DDL)

    def _tx(self, commit: bool = True) -> AbstractContextManager[Tx]:
        return self.db.transaction({TABLE: self.db.table(TABLE)}, commit=commit)

    def record(self, *, actor: dict[str, str], action: str, path: str, query: str, outcome: str = "allowed",
               family_id: UUID | None = None, member_id: UUID | None = None) -> None:
        """Append one read to the log."""
        self.record_all([Read(actor, action, path, query, outcome, family_id, member_id)])

    def record_all(self, reads: Sequence[Read]) -> None:
        """Append reads to the log, in one transaction under the log's write lock."""
        if not reads:
            return
        with self._tx() as tx:
            if self.db.postgres:
                tx.run("LOCK TABLE {access_log} IN EXCLUSIVE MODE")
            seq, prev = head(tx)
            at = stamp(self.clock)
            rows = []
            for read in reads:
                seq += 1
                row = {"seq": seq, "at": at, "user_id": read.actor["user_id"], "role": read.actor["role"],
                       "team": read.actor.get("team") or None,
                       "family_id": read.family_id.hex if read.family_id else None,
                       "member_id": read.member_id.hex if read.member_id else None,
                       "action": read.action, "path": read.path, "query": read.query, "outcome": read.outcome}
                hashed = digest(self.key, prev, row)
                rows.append((*(row[k] for k in FIELDS), prev, hashed))
                prev = hashed
            tx.many("INSERT INTO {access_log} (seq, at, user_id, role, team, family_id, member_id, action, path, "
                    "query, outcome, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def for_family(self, family_id: UUID) -> list[dict[str, Any]]:
        with self._tx(commit=False) as tx:
            rows = tx.rows("SELECT seq, at, user_id, role, team, member_id, action, path, query, outcome "
                           "FROM {access_log} WHERE family_id = ? ORDER BY seq", (family_id.hex,))
        return [{**r, "member_id": r["member_id"] and str(UUID(r["member_id"]))} for r in rows]

    def head(self) -> tuple[int, str]:
        with self._tx(commit=False) as tx:
            return head(tx)

    def verify(self) -> list[str]:
        """Problems with the chain of access-log rows (altered, removed or reordered)."""
        problems: list[str] = []
        with self._tx(commit=False) as tx:
            rows = tx.rows("SELECT * FROM {access_log} ORDER BY seq")
        prev, expected_seq = GENESIS, 1
        for row in rows:
            if row["seq"] != expected_seq:
                problems.append(f"access log: row {expected_seq} is missing (next is {row['seq']})")
            if row["prev_hash"] != prev:
                problems.append(f"access log: row {row['seq']} does not follow the row before it")
            if not hmac.compare_digest(digest(self.key, row["prev_hash"], row), row["hash"]):
                problems.append(f"access log: row {row['seq']} was altered")
            prev, expected_seq = row["hash"], row["seq"] + 1
        return problems

    def row_hash(self, seq: int) -> str | None:
        with self._tx(commit=False) as tx:
            row = tx.one("SELECT hash FROM {access_log} WHERE seq = ?", (seq,))
        return None if row is None else str(row["hash"])


def head(tx: Tx) -> tuple[int, str]:
    """The log's last (seq, hash), or (0, GENESIS) while it is empty, through ``tx``."""
    last = tx.one("SELECT seq, hash FROM {access_log} ORDER BY seq DESC LIMIT 1")
    return (last["seq"], last["hash"]) if last else (0, GENESIS)
