"""The deadlines read model: every family's clocks, kept current, for team and worker views.

For each family touched by a batch, the deadline engine (``ledger/deadlines.py``) is run
over the family's stream and its rows replaced, so the table always says what the
engine says. The engine walks on from where its last walk of the family got to when the
new events simply follow it (``Progresses``, ADR 0016); a correction, an erasure or a
back-dated entry has it walk the whole stream again. What changes with time alone is
not stored: a clock still running stores its due moment, and whether it is open or
overdue is decided when it is read (``state_sql``). The engine runs as of the family's
latest recorded moment, a value fixed by the events, so a rebuild gives exactly the rows
incremental processing gave.

A rebuild hands each family's events over in one batch, so each family is evaluated once
(and walked whole).

Between rebuilds, a family's rows are written only where they changed (ADR 0050): the
model holds, for each family it wrote recently, the version its rows were derived at and
a digest of each row as derived (before sealing); when the next batch's first event of
the family follows that version (no other process has written the family's rows since),
only the rows whose digest differs are written, and the rows past the new count deleted.
A case note, most commands, moves no clock: its batch then writes nothing here. Any doubt
(nothing held, a gap in the versions, an undone batch) writes the family's rows whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

import orjson

from ledger.calendar import LONDON
from ledger.deadlines import Progress, Progresses, Recent, evaluate_from_start, evaluate_on
from ledger.sql import Tx
from projections.base import Change, Context, PerFamilyModel, TableColumns, hexid, iso
from projections.sealed import Sealer

COLUMNS = (
    "family_id", "seq", "policy", "team", "worker", "episode_open", "current_episode", "rule", "title",
    "kind", "category", "unit", "settled", "paused", "reason", "due", "due_at", "member", "member_name",
    "episode_id", "pathway", "started_by", "started_at", "stopped_by", "stopped_at", "ended_by",
    "extended_by", "extensions", "duration", "source",
)
SETTLED = ("met", "met_late", "not_applicable")
RUNNING = frozenset({"open", "overdue", "extended", "paused"})
"""The states of a clock still running (``settled`` is NULL): what ``state_sql`` gives
when it is not settled."""


def state_sql(now: str) -> tuple[str, list[Any]]:
    """The state of a stored clock at ``now``, as an SQL expression and its parameters."""
    return ("CASE WHEN settled IS NOT NULL THEN settled WHEN paused = 1 THEN 'paused' "
            "WHEN (unit = 'hours' AND due_at < ?) OR (unit <> 'hours' AND due_at <= ?) THEN 'overdue' "
            "WHEN extended_by > 0 THEN 'extended' ELSE 'open' END", [now, now])


def rows_for(family_id: UUID, events: Sequence[Any], context: Context,
             progress: Progresses | None = None) -> list[tuple[Any, ...]]:
    """The stored rows of one family's clocks. ``progress``: where the engine's walk of
    each family got to, so that newer events are walked on from there (``evaluate_on``)."""
    pack = context.packs[events[0].policy]
    as_of = max(max(e.occurred_at, e.recorded_at) for e in events)
    stream = list(events)
    walked: tuple[dict[str, Any], Progress | None] | None = None
    held = progress.get(family_id) if progress is not None else None
    if held is not None and held.pack is pack:
        walked = evaluate_on(held, stream, as_of, rows_only=True)
    if walked is None:
        walked = evaluate_from_start(stream, pack, as_of, progress=progress is not None, rows_only=True)
    result, onward = walked
    if progress is not None:
        progress.put(family_id, onward)
    rows = []
    clocks = [c for c in result["deadlines"] if c["started_at"] is not None]  # rules never started are not clocks
    for seq, clock in enumerate(clocks):
        running = clock["stopped_by"] is None and clock["ended_by"] is None and clock["state"] != "breach"
        settled = None if running else clock["state"]
        due = clock["due"]
        rows.append((
            family_id.hex, seq, pack.id, result["team"], result["worker"], int(result["episode_open"]),
            int(clock["episode_id"] is not None and clock["episode_id"] == result["episode_id"]),
            clock["rule"], clock["title"], clock["kind"], clock["category"], clock["unit"], settled,
            int(running and clock["state"] == "paused"), clock["reason"],
            due.isoformat() if isinstance(due, date) and not isinstance(due, datetime) else iso(due),
            iso(clock["due_at"]), hexid(clock["member"]), clock["member_name"], hexid(clock["episode_id"]),
            clock["pathway"], hexid(clock["started_by"]), iso(clock["started_at"]), hexid(clock["stopped_by"]),
            iso(clock["stopped_at"]), hexid(clock["ended_by"]), clock["extended_by"],
            orjson.dumps([hexid(e) for e in clock["extensions"]]).decode(), clock["duration"],
            orjson.dumps(clock["source"]).decode(),
        ))
    return rows


class DeadlinesModel(PerFamilyModel):
    name = "deadlines"
    tables = ("deadline_clocks",)
    keyed_after_loading = tables
    sealed: ClassVar[TableColumns] = {"deadline_clocks": ("member_name",)}
    version = 4  # 3: instants in the one shape, ...000000Z (ADR 0036); 4: the running indexes
    columns: ClassVar[TableColumns] = {"deadline_clocks": COLUMNS}

    def ddl(self) -> list[str]:
        return [
            "CREATE TABLE {deadline_clocks} (family_id TEXT NOT NULL, seq INTEGER NOT NULL, policy TEXT NOT NULL, "
            "team TEXT, worker TEXT, episode_open INTEGER NOT NULL, current_episode INTEGER NOT NULL, "
            "rule TEXT NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL, category TEXT NOT NULL, unit TEXT, "
            "settled TEXT, paused INTEGER NOT NULL, reason TEXT, due TEXT, due_at TEXT, member TEXT, "
            "member_name TEXT, episode_id TEXT, pathway TEXT, started_by TEXT, started_at TEXT, stopped_by TEXT, "
            "stopped_at TEXT, ended_by TEXT, extended_by INTEGER NOT NULL, extensions TEXT NOT NULL, "
            "duration INTEGER, source TEXT NOT NULL, PRIMARY KEY (family_id, seq))",
            "CREATE INDEX deadline_clocks_team{ix} ON {deadline_clocks} (team, due_at)",
            "CREATE INDEX deadline_clocks_worker{ix} ON {deadline_clocks} (worker, due_at)",
            # A team's or worker's overdue or open clocks: about one clock in twenty is
            # still running, so a view of those reads these, not every clock of the team.
            "CREATE INDEX deadline_clocks_team_running{ix} ON {deadline_clocks} (team, due_at) WHERE settled IS NULL",
            "CREATE INDEX deadline_clocks_worker_running{ix} ON {deadline_clocks} (worker, due_at) "
            "WHERE settled IS NULL",
        ]

    def __init__(self) -> None:
        super().__init__()
        self.progress = Progresses()
        self.written = Written()

    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        """A rebuild's fresh tables are loaded whole (``PerFamilyModel.apply``); otherwise
        each family's rows are written only where they changed (``Written``)."""
        if context.rebuilding:
            super().apply(tx, changes, context)
            return
        first: dict[UUID, int] = {}
        for change in changes:  # in the log's order: a family's first here is its lowest version
            first.setdefault(change.event.originator_id, change.event.originator_version)
        whole: list[str] = []
        shrunk: list[tuple[str, int]] = []
        rows: list[tuple[Any, ...]] = []
        for family_id in sorted(first, key=str):
            found = self.derive(family_id, context)["deadline_clocks"]
            events = context.family_events(family_id)  # read once a batch: ``derive`` read it
            digests = tuple(_digest(row) for row in found)
            held = self.written.get(family_id)
            if held is None or held[0] != first[family_id] - 1:
                whole.append(family_id.hex)
                rows += found
            else:
                before = held[1]
                rows += [row for seq, row in enumerate(found) if seq >= len(before) or before[seq] != digests[seq]]
                if len(found) < len(before):
                    shrunk.append((family_id.hex, len(found)))
            self.written.put(family_id, (events[-1].originator_version if events else 0, digests))
        self.delete_families(tx, whole)
        if shrunk:
            tx.many("DELETE FROM {deadline_clocks} WHERE family_id = ? AND seq >= ?", shrunk)
        if rows:
            tx.many(UPSERT, context.seal_rows("deadline_clocks", COLUMNS, rows))

    def derive(self, family_id: UUID, context: Context) -> dict[str, list[tuple[Any, ...]]]:
        events = context.family_events(family_id)
        progress = None if context.rebuilding else self.progress
        return {"deadline_clocks": rows_for(family_id, events, context, progress) if events else []}

    def discard(self, family_id: UUID) -> None:
        self.progress.put(family_id, None)
        self.written.put(family_id, None)

    def forget(self, tx: Tx, family_id: UUID) -> None:
        self.progress.put(family_id, None)
        self.written.put(family_id, None)
        super().forget(tx, family_id)


UPSERT = (f"INSERT INTO {{deadline_clocks}} ({', '.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))}) "
          f"ON CONFLICT (family_id, seq) DO UPDATE SET "
          f"{', '.join(f'{c} = excluded.{c}' for c in COLUMNS if c not in ('family_id', 'seq'))}")
"""A clock's row written over the one at its place (``seq``) in the family's rows, or added."""


def _digest(row: tuple[Any, ...]) -> bytes:
    """A row's digest: its values (text, numbers, None) as JSON, hashed. 16 bytes of
    BLAKE2b: two different rows giving one digest is not a chance worth counting."""
    return hashlib.blake2b(orjson.dumps(row), digest_size=16).digest()


class Written(Recent[tuple[int, tuple[bytes, ...]]]):
    """For up to ``limit`` families, the least recently written dropped first: the version
    their stored rows were derived at, with a digest of each row in ``seq`` order, as this
    process wrote them. Held in memory only, beside the engine's walks (``Progresses``),
    and dropped with them when a batch is undone (``discard``) or a family forgotten."""


def view(tx: Tx, *, now: datetime, sealer: Sealer, team: str | None = None, worker: str | None = None,
         states: set[str] | None = None, due_before: date | None = None,
         episodes: str = "open") -> list[dict[str, Any]]:
    """Team and worker views: the current episode's clocks of open families (``episodes``
    "closed": of closed ones, "any": both), soonest due first (the same rows
    ``GET /families/{id}/deadlines`` would give, judged at ``now``)."""
    at = iso(now) or ""
    state, params = state_sql(at)
    where: list[str] = ["current_episode = 1"]
    args: list[Any] = []
    if episodes != "any":
        where.append("episode_open = ?")
        args.append(1 if episodes == "open" else 0)
    if team is not None:
        where.append("team = ?")
        args.append(team)
    if worker is not None:
        where.append("worker = ?")
        args.append(worker)
    if states:
        where.append(f"({state}) IN ({','.join('?' * len(states))})")
        args += params + sorted(states)
        # Implied by those states, said so an index can use it: a running clock is not
        # settled (the ``running`` indexes hold only those), an overdue one was due by now.
        if states <= RUNNING:
            where.append("settled IS NULL")
            if states == {"overdue"}:
                where.append("due_at <= ?")
                args.append(at)
    if due_before is not None:
        where.append("due IS NOT NULL AND substr(due, 1, 10) < ?")
        args.append(due_before.isoformat())
    rows = tx.rows(f"SELECT *, {state} AS state FROM {{deadline_clocks}} WHERE {' AND '.join(where)} "
                   "ORDER BY due_at IS NULL, due_at, family_id, seq", params + args)
    return [_shown(r) for r in sealer.open_rows("deadline_clocks", rows)]


def breaches(tx: Tx, family_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """A family's flagged ordering breaches, by the entry (hex id) that came too soon."""
    found: dict[str, list[dict[str, Any]]] = {}
    for r in tx.rows("SELECT rule, title, reason, started_by, source FROM {deadline_clocks} "
                     "WHERE family_id = ? AND settled = 'breach' ORDER BY seq", (family_id.hex,)):
        found.setdefault(r["started_by"], []).append(
            {"rule": r["rule"], "title": r["title"], "reason": r["reason"], "source": orjson.loads(r["source"])})
    return found


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _due(value: str | None, unit: str | None) -> date | datetime | None:
    """A stored due: a date for day units, an instant (London time) for hours."""
    if value is None:
        return None
    if unit == "hours":
        return datetime.fromisoformat(value).astimezone(LONDON)
    return date.fromisoformat(value)


def _shown(r: dict[str, Any]) -> dict[str, Any]:
    """A stored clock as the API shows it: the same shape and types as the engine's rows."""
    def uuid(v: str | None) -> UUID | None:
        return None if v is None else UUID(v)

    return {
        "family_id": uuid(r["family_id"]), "team": r["team"], "worker": r["worker"], "policy": r["policy"],
        "rule": r["rule"], "title": r["title"], "kind": r["kind"], "category": r["category"], "state": r["state"],
        "reason": r["reason"], "due": _due(r["due"], r["unit"]), "due_at": _instant(r["due_at"]),
        "member": uuid(r["member"]),
        "member_name": r["member_name"], "episode_id": uuid(r["episode_id"]), "pathway": r["pathway"],
        "started_by": uuid(r["started_by"]), "started_at": _instant(r["started_at"]),
        "stopped_by": uuid(r["stopped_by"]), "stopped_at": _instant(r["stopped_at"]),
        "ended_by": uuid(r["ended_by"]), "extended_by": r["extended_by"],
        "extensions": [UUID(e) for e in orjson.loads(r["extensions"])], "duration": r["duration"],
        "unit": r["unit"], "source": orjson.loads(r["source"]),
    }
