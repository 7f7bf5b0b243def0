"""The databases a benchmark runs on, and plain connections to them for the references.

A PostgreSQL target is a fresh database (``ledger_bench_<random>``) created for the run
and dropped at its end; a SQLite target is a folder in a temporary directory. Each phase
(append, HTTP, replay) gets its own schema (PostgreSQL) or file (SQLite) in it, so no
phase measures on another's rows. Plain connections (psycopg, sqlite3) run the
reference SQL on the same database, outside the ledger's code.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.dataset import settings_for

DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Target:
    kind: str  # "sqlite" or "postgres"
    root: Path  # a temporary folder (data dirs, SQLite files)
    url: str | None = None  # the fresh PostgreSQL database

    def settings(self, phase: str) -> Any:
        """Ledger settings for one phase: its own schema or SQLite file."""
        data_dir = self.root / phase
        data_dir.mkdir(parents=True, exist_ok=True)
        if self.kind == "postgres":
            with psycopg.connect(self.url or "", autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{phase}"')
            return settings_for(data_dir, self.url, phase)
        return settings_for(data_dir, f"sqlite:///{data_dir / 'ledger.sqlite3'}")

    @contextmanager
    def plain(self, phase: str) -> Iterator[Any]:
        """A plain autocommit connection to the phase's database (psycopg or sqlite3)."""
        conn: psycopg.Connection[Any] | sqlite3.Connection
        if self.kind == "postgres":
            conn = psycopg.connect(self.url or "", autocommit=True)
            conn.execute(f'SET search_path TO "{phase}"')
        else:
            conn = sqlite3.connect(self.root / phase / "ledger.sqlite3", isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def copy_phase(self, phase: str, to: str) -> None:
        """Copy the phase's whole database as it stands into the phase ``to``, so that one
        state can be measured again later, after another has been measured (A B B A):
        SQLite's file, its WAL checkpointed first, copied byte for byte; on PostgreSQL
        every table of the schema, with its indexes, into a fresh schema, then analysed."""
        if self.kind == "sqlite":
            with self.plain(phase) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copytree(self.root / phase, self.root / to)
            return
        with psycopg.connect(self.url or "", autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{to}"')
            tables = [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE' ORDER BY table_name", (phase,)).fetchall()]
            for table in tables:
                conn.execute(f'CREATE TABLE "{to}"."{table}" (LIKE "{phase}"."{table}" INCLUDING ALL)')
                conn.execute(f'INSERT INTO "{to}"."{table}" OVERRIDING SYSTEM VALUE SELECT * FROM "{phase}"."{table}"')
            conn.execute("ANALYZE")

    def mark(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.kind == "postgres" else sql

    def events_table(self) -> str:
        return "ledger_events" if self.kind == "postgres" else "stored_events"

    def position_column(self) -> str:
        return "notification_id" if self.kind == "postgres" else "rowid"


@contextmanager
def target(kind: str, root: Path, pg_admin: str = DEFAULT_PG_ADMIN) -> Iterator[Target]:
    """A fresh target; a PostgreSQL database is dropped afterwards (and only it)."""
    if kind == "sqlite":
        yield Target("sqlite", root / "sqlite")
        return
    name = f"ledger_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Target("postgres", root / "postgres", f"{pg_admin.rsplit('/', 1)[0]}/{name}")
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_events(source: Path, tgt: Target, phase: str, first: int, last: int) -> int:
    """Copy the source's stored rows with positions ``first..last`` (events, their hash
    rows, and every family key) into the phase's ledger tables; how many events."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        events = src.execute("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
                             "WHERE rowid BETWEEN ? AND ? ORDER BY rowid", (first, last))
        hashes = src.execute("SELECT * FROM event_hashes WHERE notification_id BETWEEN ? AND ?", (first, last))
        keys = src.execute("SELECT * FROM family_keys").fetchall() if first <= 1 else []
        with tgt.plain(phase) as conn:
            if tgt.kind == "postgres":
                return _copy_postgres(conn, events, hashes.fetchall(), keys)
            n = 0
            conn.execute("BEGIN")
            for batch in iter(lambda: events.fetchmany(5000), []):
                conn.executemany("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                                 "VALUES (?,?,?,?,?)", batch)
                n += len(batch)
            conn.executemany("INSERT INTO event_hashes VALUES (?,?,?,?,?,?,?)", hashes.fetchall())
            conn.executemany("INSERT OR IGNORE INTO family_keys VALUES (?,?,?,?,?,?,?)", keys)
            conn.execute("COMMIT")
            return n
    finally:
        src.close()


def _copy_postgres(conn: Any, events: Any, hashes: list[Any], keys: list[Any]) -> int:
    n = 0
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy("COPY ledger_events (notification_id, originator_id, originator_version, topic, state) "
                      "FROM STDIN") as copy:
            for batch in iter(lambda: events.fetchmany(5000), []):
                for row in batch:
                    copy.write_row((row[0], uuid.UUID(row[1]), row[2], row[3], bytes(row[4])))
                n += len(batch)
        with cur.copy("COPY event_hashes FROM STDIN") as copy:
            for row in hashes:
                copy.write_row(row)
        if keys:
            with cur.copy("COPY family_keys FROM STDIN") as copy:
                for row in keys:
                    copy.write_row(row)
        cur.execute("SELECT setval(pg_get_serial_sequence('ledger_events', 'notification_id'), "
                    "(SELECT MAX(notification_id) FROM ledger_events))")
    conn.execute("ANALYZE")
    return n
