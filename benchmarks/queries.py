"""Queries: latency of the reads people make all day, at two sizes of the read models,
against the same rows fetched by primary key with plain SQL.

- a family's chronology (``chronology.stored`` + ``chronology.view``, as the route does);
- a family's deadlines (``Ledger.deadlines``: the route evaluates the family's own
  events with the deadline engine, so it reads the events table, not a read model), as
  at a date picked at random over the two years to "today" (issue 24: "as at any
  date"; a past date is walked from the events, never a held walk);
- a team's overdue list (``deadlines.view(team=, states={"overdue"})``);
- a team's caseload (``caseloads.view(team=)``).

The read models are scaled to a number of families by keeping the first families of the
rebuilt dataset, or by cloning their rows under new family ids, event ids and team names
(``-c<n>`` teams, so a team holds as many families at every size, as a bigger council
has more teams rather than bigger ones). Clones exist only in the read models: a
family's deadlines are sampled among the families whose events are stored.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from benchmarks.append import _pct
from benchmarks.dataset import UNTIL
from benchmarks.targets import Target


def read_model_tables() -> list[str]:
    from projections.registry import READ_MODELS

    return [t for model in READ_MODELS for t in model.tables]


def families_in(conn: Any) -> list[str]:
    return [r[0] for r in conn.execute("SELECT family_id FROM caseload_families ORDER BY family_id").fetchall()]


def resize(tgt: Target, phase: str, families: int) -> int:
    """Make the read models hold ``families`` families (see the module's docstring)."""
    with tgt.plain(phase) as conn:
        base = [f for f in families_in(conn) if not _is_clone(f)]
        if families <= len(base):
            keep, clones = base[:families], 0
        else:
            keep, clones = base, -(-families // len(base)) - 1
        sqlite = tgt.kind == "sqlite"
        if sqlite:
            conn.execute("BEGIN")
        conn.execute("DROP TABLE IF EXISTS bench_keep")
        conn.execute("CREATE TEMP TABLE bench_keep (family_id TEXT PRIMARY KEY, n INTEGER NOT NULL)")
        _many(tgt, conn, "INSERT INTO bench_keep VALUES (?, ?)", [(f, i) for i, f in enumerate(keep)])
        for table in read_model_tables():
            conn.execute(f"DELETE FROM {table} WHERE family_id NOT IN (SELECT family_id FROM bench_keep)")
        for c in range(1, clones + 1):
            wanted = min(len(keep), families - c * len(keep))
            for table in read_model_tables():
                columns = _columns(conn, table)
                values = ", ".join(_cloned(col, c) for col in columns)
                conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} "
                             f"WHERE family_id IN (SELECT family_id FROM bench_keep WHERE n < {wanted})")
        if sqlite:
            conn.execute("COMMIT")
        else:
            conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk insert (PostgreSQL 13+)
        return len(families_in(conn))


def _many(tgt: Target, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if tgt.kind == "sqlite":
        conn.executemany(sql, rows)
    else:
        with conn.cursor() as cur:
            cur.executemany(tgt.mark(sql), rows)


def _is_clone(family_id: str) -> bool:
    """Clones carry a "c" where every real id (uuid4) has its version digit, 4."""
    return family_id[12] == "c"


def _columns(conn: Any, table: str) -> list[str]:
    cur = conn.execute(f"SELECT * FROM {table} LIMIT 0")
    return [d[0] for d in cur.description]


def _cloned(column: str, c: int) -> str:
    if column in ("family_id", "event_id", "member_id"):
        return f"substr({column}, 1, 12) || 'c' || substr({column}, 14, 17) || '{c:02x}'"
    if column in ("team", "pending_team"):
        return f"{column} || '-c{c}'"
    return column


# --- measuring -----------------------------------------------------------------------------------


ROUNDS = 3
"""Each query's picks are timed in this many rounds, each beside its reference, and the
median round's percentiles reported: a p99 over a few hundred sub-millisecond queries is
the few slowest of them, which one burst of a neighbour's work can move by half."""


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _timed(samples: list[Any], run: Callable[[Any], Any]) -> list[float]:
    took = []
    for sample in samples:
        started = time.perf_counter()
        run(sample)
        took.append(time.perf_counter() - started)
    return sorted(took)


def measure(tgt: Target, phase: str, samples: int, seed: int = 7) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of each query and of its reference, over ``samples`` picks each."""
    from ledger.application import Ledger
    from projections import caseloads, chronology
    from projections import deadlines as deadline_model
    from projections.base import iso
    from projections.projector import Projector

    rng = random.Random(seed)
    ledger = Ledger(tgt.settings(phase))
    projector = Projector(ledger)
    results: dict[str, dict[str, Any]] = {}  # timings, per-round p99s and counts
    try:
        with tgt.plain(phase) as conn:
            everyone = families_in(conn)
            real = [f for f in everyone if not _is_clone(f)]
            teams = sorted({r[0] for r in conn.execute("SELECT team FROM caseload_families").fetchall()})
            # Reads pick the real families and teams: a clone's sealed columns are bound to
            # the family they were copied from and do not open, and opening them is part of
            # what a read costs (ADR 0013); the clones make the tables the size measured.
            family_picks = [rng.choice(real) for _ in range(samples)]
            real_picks = [rng.choice(real) for _ in range(samples)]
            as_of = {fid: UNTIL - timedelta(days=rng.randint(0, 730)) for fid in real_picks}
            real_teams = [t for t in teams if not re.search(r"-c\d+$", t)] or teams
            team_picks = [rng.choice(real_teams) for _ in range(samples)]

            def chronology_query(fid: str) -> Any:
                with projector.reading("chronology") as tx:
                    rows, members = chronology.stored(tx, UUID(fid), projector.sealer)
                return chronology.view(rows, members)

            def deadlines_query(fid: str) -> Any:
                return ledger.deadlines(UUID(fid), as_of=as_of[fid])

            def overdue_query(team: str) -> Any:
                with projector.reading("deadlines") as tx:
                    return deadline_model.view(tx, now=UNTIL, sealer=projector.sealer, team=team, states={"overdue"})

            def caseload_query(team: str) -> Any:
                with projector.reading("caseloads") as tx:
                    return caseloads.view(tx, ledger.packs, team)

            # The references: the same rows, by primary key, on a plain connection.
            def keys(sql: str, params: tuple[Any, ...]) -> list[Any]:
                return [r[0] if len(r) == 1 else tuple(r) for r in conn.execute(tgt.mark(sql), params).fetchall()]

            def by_key(sql_in: str, values: list[Any], prefix: tuple[Any, ...] = ()) -> Callable[[Any], Any]:
                if not values:  # no rows: still one round trip that finds none
                    empty = sql_in.split(" WHERE ")[0] + " WHERE 1 = 0"
                    return lambda _: conn.execute(empty).fetchall()
                marks = ",".join("?" * len(values))
                sql = tgt.mark(sql_in.format(marks=marks))
                params = prefix + tuple(values)
                return lambda _: conn.execute(sql, params).fetchall()

            def chronology_ref(fid: str) -> Callable[[Any], Any]:
                events = by_key("SELECT * FROM chronology WHERE event_id IN ({marks})",
                                keys("SELECT event_id FROM chronology WHERE family_id = ?", (fid,)))
                members = by_key("SELECT * FROM chronology_members WHERE family_id = ? AND member_id IN ({marks})",
                                 keys("SELECT member_id FROM chronology_members WHERE family_id = ?", (fid,)), (fid,))
                return lambda _: (events(_), members(_))

            def deadlines_ref(fid: str) -> Callable[[Any], Any]:
                key: Any = UUID(fid) if tgt.kind == "postgres" else fid
                table = tgt.events_table()
                versions = keys(f"SELECT originator_version FROM {table} WHERE originator_id = ?", (key,))
                return by_key(f"SELECT * FROM {table} WHERE originator_id = ? AND originator_version IN ({{marks}})",
                              versions, (key,))

            state, state_params = deadline_model.state_sql(iso(UNTIL) or "")

            def overdue_ref(team: str) -> Callable[[Any], Any]:
                wanted = keys(f"SELECT family_id, seq FROM deadline_clocks WHERE episode_open = 1 AND "
                              f"current_episode = 1 AND team = ? AND ({state}) = 'overdue'",
                              (team, *state_params))
                if not wanted:
                    return lambda _: conn.execute("SELECT * FROM deadline_clocks WHERE 1 = 0").fetchall()
                # One primary-key probe per row (OR of key equalities: an index lookup per
                # term on both databases; a row-value IN (VALUES ...) scans the table), at
                # most 300 terms a statement (SQLite's expression depth).
                chunks = [wanted[i:i + 300] for i in range(0, len(wanted), 300)]
                statements = [(tgt.mark("SELECT * FROM deadline_clocks WHERE "
                                        + " OR ".join("(family_id = ? AND seq = ?)" for _ in chunk)),
                               tuple(v for pair in chunk for v in pair)) for chunk in chunks]
                return lambda _: [conn.execute(sql, params).fetchall() for sql, params in statements]

            def caseload_ref(team: str) -> Callable[[Any], Any]:
                return by_key("SELECT * FROM caseload_families WHERE family_id IN ({marks})",
                              keys("SELECT family_id FROM caseload_families WHERE team = ? AND open = 1", (team,)))

            plan = (("chronology", chronology_query, chronology_ref, family_picks),
                    ("deadlines", deadlines_query, deadlines_ref, real_picks),
                    ("overdue", overdue_query, overdue_ref, team_picks),
                    ("caseload", caseload_query, caseload_ref, team_picks))
            for name, query, reference, picks in plan:
                query(picks[0])  # warm the caches a long-running process has warm
                refs = [reference(p) for p in picks]
                rounds = [(_timed(picks, query), _timed(refs, lambda r: r(None))) for _ in range(ROUNDS)]
                results[name] = {
                    "p50_ms": _median([_pct(t, 50) for t, _ in rounds]) * 1000,
                    "p99_ms": _median([_pct(t, 99) for t, _ in rounds]) * 1000,
                    "ref_p50_ms": _median([_pct(r, 50) for _, r in rounds]) * 1000,
                    "ref_p99_ms": _median([_pct(r, 99) for _, r in rounds]) * 1000,
                    "p99_ms_rounds": [_pct(t, 99) * 1000 for t, _ in rounds],
                    "samples": len(picks), "rounds": ROUNDS}
    finally:
        ledger.close()
    return results
