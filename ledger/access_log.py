"""The access log: every read of a family's record, by whom, when and what.

Its own append-only table in the ledger's database. Nothing in the API can change or
delete a row (there is no route that writes it; the routes that read families write it),
and each row carries a hash linking it to the row before, so an edit made directly in
the database shows (``ledger verify``).
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import orjson

from ledger.clock import Clock, stamp, utc_now
from ledger.sql import Database

TABLE = "access_log"
DDL = [
    "CREATE TABLE {access_log} (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, user_id TEXT NOT NULL, "
    "role TEXT NOT NULL, team TEXT, family_id TEXT, member_id TEXT, action TEXT NOT NULL, path TEXT NOT NULL, "
    "query TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    "CREATE INDEX access_log_family ON {access_log} (family_id, seq)",
    "CREATE INDEX access_log_user ON {access_log} (user_id, seq)",
]
GENESIS = "0" * 64


def _digest(prev: str, row: dict[str, Any]) -> str:
    fields = {k: row[k] for k in ("seq", "at", "user_id", "role", "team", "family_id", "member_id", "action",
                                  "path", "query")}
    return hashlib.sha256(prev.encode() + orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


class AccessLog:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db, self.clock = db, clock
        db.create(TABLE, DDL)

    def record(self, *, actor: dict[str, str], action: str, path: str, query: str,
               family_id: UUID | None = None, member_id: UUID | None = None) -> None:
        """Append one read to the log (in its own transaction, under the write lock)."""
        with self.db.transaction({TABLE: self.db.table(TABLE)}) as tx:
            if self.db.postgres:
                tx.run("LOCK TABLE {access_log} IN EXCLUSIVE MODE")
            last = tx.one("SELECT seq, hash FROM {access_log} ORDER BY seq DESC LIMIT 1")
            row = {"seq": (last["seq"] + 1) if last else 1,
                   "at": stamp(self.clock),
                   "user_id": actor["user_id"], "role": actor["role"], "team": actor.get("team") or None,
                   "family_id": family_id.hex if family_id else None, "member_id": member_id.hex if member_id else None,
                   "action": action, "path": path, "query": query}
            prev = last["hash"] if last else GENESIS
            tx.run("INSERT INTO {access_log} VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   (*row.values(), prev, _digest(prev, row)))

    def for_family(self, family_id: UUID) -> list[dict[str, Any]]:
        with self.db.transaction({TABLE: self.db.table(TABLE)}, commit=False) as tx:
            rows = tx.rows("SELECT seq, at, user_id, role, team, member_id, action, path, query FROM {access_log} "
                           "WHERE family_id = ? ORDER BY seq", (family_id.hex,))
        return [{**r, "member_id": r["member_id"] and str(UUID(r["member_id"]))} for r in rows]

    def verify(self) -> list[str]:
        """Problems with the chain of access-log rows (altered, removed or reordered)."""
        problems: list[str] = []
        with self.db.transaction({TABLE: self.db.table(TABLE)}, commit=False) as tx:
            rows = tx.rows("SELECT * FROM {access_log} ORDER BY seq")
        prev, expected_seq = GENESIS, 1
        for row in rows:
            if row["seq"] != expected_seq:
                problems.append(f"access log: row {expected_seq} is missing (next is {row['seq']})")
            if row["prev_hash"] != prev:
                problems.append(f"access log: row {row['seq']} does not follow the row before it")
            if _digest(row["prev_hash"], row) != row["hash"]:
                problems.append(f"access log: row {row['seq']} was altered")
            prev, expected_seq = row["hash"], row["seq"] + 1
        return problems
