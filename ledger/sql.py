"""A thin SQL shim over the application's own datastore, for the ledger's tables beside
the events (read models, the access log, the key store, legal holds).

SQL is written once with ``?`` placeholders and ``{table}`` names; ``Tx`` adapts it to the
database (``%s`` and schema-qualified names on PostgreSQL). Connections come from the
``eventsourcing`` datastore's pool, so these tables share the events' database.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg


def creation_race(error: BaseException) -> bool:
    """Whether ``error`` is another process creating the same table, type or function at
    the same moment: PostgreSQL refuses the loser with a unique violation in its
    catalogue, a duplicate object, or "tuple concurrently updated"; SQLite with "already
    exists". And the ``eventsourcing`` tracking table's first row, which each process that
    found no table inserts once it has made it: the later ones find it there and the
    library refuses them ("Failed to record tracking for __migration__ 1"); tried again,
    they find the row and insert nothing."""
    cause = error.__cause__ or error
    if isinstance(cause, (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject,
                          psycopg.errors.DuplicateTable, psycopg.errors.DuplicateFunction)):
        return True
    text = str(cause)
    return "tuple concurrently updated" in text or text.startswith("Failed to record tracking for __migration__ ") or (
        isinstance(cause, sqlite3.OperationalError) and "already exists" in text)


class Tx:
    """One transaction: SQL in, rows (as dicts) out, whatever the database."""

    def __init__(self, db: Database, cursor: Any, tables: dict[str, str]) -> None:
        self.db, self.cursor, self.tables = db, cursor, tables

    def sql(self, text: str) -> str:
        text = text.format(**self.tables) if "{" in text else text
        return text.replace("?", "%s") if self.db.postgres else text

    def run(self, text: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self.sql(text), tuple(params))

    def many(self, text: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            self.cursor.executemany(self.sql(text), rows)

    def insert(self, table: str, rows: Sequence[Sequence[Any]], *, bulk: bool = False) -> None:
        """Rows (whole, in column order) into ``{table}``. ``bulk``: the table is a fresh
        one being loaded (a rebuild, ADR 0039), so on PostgreSQL the rows go in by one
        ``COPY``, with no statement per row; SQLite has none, and takes ``executemany``."""
        if not rows:
            return
        if bulk and self.db.postgres:
            with self.cursor.copy(f"COPY {self.tables[table]} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        self.many(f"INSERT INTO {{{table}}} VALUES ({','.join('?' * len(rows[0]))})", rows)

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cursor.execute(self.sql(text), tuple(params))
        return [dict(r) for r in self.cursor.fetchall()]

    def one(self, text: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(text, params)
        return found[0] if found else None

    @contextmanager
    def pipelined(self) -> Iterator[Tx]:
        """Statements sent without waiting for each answer where that is safe (PostgreSQL's
        pipeline mode; nothing on SQLite, which answers in process): ``many`` then costs no
        round trip of its own, a read still waits for its rows, and an error surfaces by
        the end of the block at the latest. No row counts are known inside it until a read
        or the end (psycopg reports them at a sync), so nothing in it may depend on one."""
        if not self.db.postgres:
            yield self
            return
        with self.cursor.connection.pipeline():
            yield self

    @contextmanager
    def savepoint(self, name: str = "ledger_step") -> Iterator[Tx]:
        """A part of the transaction that an error undoes on its own, leaving the rest
        (the transaction goes on; on PostgreSQL it is usable again after the rollback)."""
        self.cursor.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self.cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.cursor.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.cursor.execute(f"RELEASE SAVEPOINT {name}")


class Database:
    """The ledger's database, as the application's ``eventsourcing`` datastore sees it."""

    def __init__(self, datastore: Any, *, postgres: bool) -> None:
        self.datastore, self.postgres = datastore, postgres

    def table(self, name: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a table name: {name!r}")
        if self.postgres and self.datastore.schema:
            return f'"{self.datastore.schema}"."{name}"'
        return f'"{name}"'

    def tables(self, names: Iterable[str], suffix: str = "") -> dict[str, str]:
        return {n: self.table(n + suffix) for n in names}

    @contextmanager
    def transaction(self, tables: dict[str, str] | None = None, *, commit: bool = True) -> Iterator[Tx]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield Tx(self, cursor, tables or {})

    @contextmanager
    def read(self, tables: dict[str, str] | None = None) -> Iterator[Tx]:
        """One statement's read: on PostgreSQL with no transaction around it (one round
        trip instead of three: ``LedgerPostgresDatastore.reading``), on SQLite as a read's
        transaction. Where a snapshot across several statements matters, use
        ``transaction(commit=False)``."""
        reading = getattr(self.datastore, "reading", None)
        if reading is None:
            with self.transaction(tables, commit=False) as tx:
                yield tx
            return
        with reading() as cursor:
            yield Tx(self, cursor, tables or {})

    def existing(self, name: str) -> bool:
        with self.transaction(commit=False) as tx:
            return self.exists(tx, name)

    def exists(self, tx: Tx, name: str) -> bool:
        """Whether the table ``name`` exists, as ``tx`` sees it."""
        if self.postgres:
            row = tx.one("SELECT to_regclass(?) AS found", (self.table(name),))
            return bool(row and row["found"])
        return tx.one("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (name,)) is not None

    def create(self, name: str, statements: Sequence[str], tables: dict[str, str] | None = None) -> None:
        """Create a table (and its indexes, and any tables beside it that ``tables`` names
        for the statements; by default ``{<name>}`` only) once, in one transaction. Another
        process creating them at the same moment is not an error: its transaction made
        them all."""
        if self.existing(name):
            return
        try:
            with self.transaction(tables or {name: self.table(name)}) as tx:
                for statement in statements:
                    tx.run(statement)
        except Exception as e:
            if not (creation_race(e) and self.existing(name)):
                raise

    @staticmethod
    def of(ledger: Any) -> Database:
        return Database(ledger.recorder.datastore, postgres=ledger.settings.is_postgres)
