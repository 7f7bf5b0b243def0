"""The team directory: the teams this deployment knows.

A family is registered for, and moved to, a team of the directory only, so a mistyped or
made-up team name can neither take a family's record (read and write follow the team that
holds it) nor make a family vanish from every team's lists. Admins keep it
(``ledger teams add``); ``GET /teams`` lists it; the demo loader seeds its own teams.
Its own table in the ledger's database; a team once added stays (families' history
names it), and renaming changes the name shown, never the id families are held by.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import Any

from aggregates.errors import InvalidCommand
from ledger.clock import Clock, stamp, utc_now
from ledger.sql import Database, Tx

TABLE = "teams"
DDL = [
    "CREATE TABLE {teams} (team_id TEXT PRIMARY KEY, name TEXT NOT NULL, added_by TEXT NOT NULL, "
    "added_at TEXT NOT NULL)",
]
TEAM_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
"""A team id: lower-case letters, digits and hyphens (as tokens and URLs carry it)."""


class Teams:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db, self.clock = db, clock
        db.create(TABLE, DDL)

    def _tx(self, commit: bool = True) -> AbstractContextManager[Tx]:
        return self.db.transaction({TABLE: self.db.table(TABLE)}, commit=commit)

    def add(self, team_id: str, *, name: str, by: str) -> dict[str, Any]:
        """Add a team (or rename one already known); the team as the directory holds it."""
        if not TEAM_ID.fullmatch(team_id):
            raise InvalidCommand(f"team id {team_id!r} must be 1 to 64 lower-case letters, digits and hyphens, "
                                 "starting with a letter or digit", field="team_id")
        if not name.strip() or len(name) > 200 or "\x00" in name:
            raise InvalidCommand("a team's name is 1 to 200 characters", field="name")
        with self._tx() as tx:
            tx.run("INSERT INTO {teams} VALUES (?,?,?,?) ON CONFLICT (team_id) DO UPDATE SET name = excluded.name",
                   (team_id, name.strip(), by, stamp(self.clock)))
            return tx.one("SELECT * FROM {teams} WHERE team_id = ?", (team_id,)) or {}

    def get(self, team_id: str) -> dict[str, Any] | None:
        with self.db.read({TABLE: self.db.table(TABLE)}) as tx:
            return tx.one("SELECT * FROM {teams} WHERE team_id = ?", (team_id,))

    def all(self) -> list[dict[str, Any]]:
        with self._tx(commit=False) as tx:
            return tx.rows("SELECT * FROM {teams} ORDER BY team_id")

    def require(self, team_id: str, field: str) -> None:
        """Refuse (422) a team the directory does not hold, saying which it does."""
        if self.get(team_id) is not None:
            return
        known = [t["team_id"] for t in self.all()]
        listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        raise InvalidCommand(
            f"team {team_id!r} is not in this deployment's team directory ("
            + (f"it holds {listed}" if known else "it is empty") + "); an admin adds a team with "
            "`ledger teams add`", field=field)
