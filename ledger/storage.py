"""Persistence: the library's SQLite and PostgreSQL recorders, plus what must be written
in the same transaction as the events: idempotency keys and the hash chain.

An ``Idempotency-Key`` row is inserted by the recorder inside the events' own
transaction, so a command and its key are either both stored or neither; a concurrent
retry with the same key collides on the key's primary key and is rolled back whole.

Each event's ``event_hashes`` row (``ledger/integrity.py``) is written in that same
transaction, while appends are serialised (SQLite's writer lock; the library's table
lock on PostgreSQL), so the global chain follows the notification order exactly.

In inline mode the read models' rows are written last in that transaction too (ADR
0040): a command is one write transaction.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, cast
from urllib.parse import unquote, urlparse
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import ConnectionUnavailableError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
    SQLiteTransaction,
)
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Identifier
from psycopg_pool import PoolTimeout

from ledger.integrity import GENESIS, chain
from ledger.serialisation import uuid_of
from ledger.settings import Settings
from ledger.sql import creation_race

log = logging.getLogger("ledger.storage")
HASHES_DDL = (
    "CREATE TABLE IF NOT EXISTS {0} (notification_id BIGINT PRIMARY KEY, originator_id TEXT NOT NULL, "
    "originator_version BIGINT NOT NULL, stream_hash TEXT NOT NULL, global_hash TEXT NOT NULL, "
    "log_seq BIGINT NOT NULL, log_hash TEXT NOT NULL, UNIQUE (originator_id, originator_version))"
)
HASH_COLUMNS = "notification_id, originator_id, originator_version, stream_hash, global_hash, log_seq, log_hash"
LOG_HEAD = "SELECT seq, hash FROM {0} ORDER BY seq DESC LIMIT 1"
"""The access log's head, read in the events' transaction: every event's hash row
carries it, so rows removed from the log's end show (``ledger/integrity.py``)."""
MEMBERS_DDL = "CREATE TABLE IF NOT EXISTS {0} (member_id TEXT PRIMARY KEY, family_id TEXT NOT NULL)"
"""Which family each member belongs to: a member id is the ledger's for one person, so it
is written with the event that puts the member on the record, in its transaction, and
a second family can never take it (the primary key refuses it)."""


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str
    user_id: str
    request_hash: str
    family_id: str
    event_id: str
    version: int


def _project(kwargs: dict[str, Any], cursor: Any, ids: Sequence[int] | None) -> None:
    """The read models' part of the events' transaction (``Ledger._store``, inline mode):
    last, once every row of the ledger's own is written, so a clash (a version, a key)
    has already refused the command before any read model is touched."""
    project = kwargs.get("project")
    if project is None or not ids:
        return
    project(cursor, ids)
    if not _in_transaction(cursor):
        # A failure the hook survived took the transaction with it: a COMMIT now would
        # roll back silently (PostgreSQL answers an aborted transaction's COMMIT so).
        raise OperationalError("the command's transaction was lost while its read models were written")


def _store_key(kwargs: dict[str, Any], cursor: Any) -> None:
    """A new family's key, in its first events' transaction (``KeyStore.new_family_key``)."""
    store = kwargs.get("family_key")
    if store is not None:
        store(cursor)


def _in_transaction(cursor: Any) -> bool:
    """Whether the cursor's transaction is open and has had no error."""
    if hasattr(cursor, "sqlite_cursor"):  # the library's wrapper of sqlite3's
        return bool(cursor.sqlite_cursor.connection.in_transaction)
    return bool(cursor.connection.info.transaction_status == TransactionStatus.INTRANS)


def select_events_statement(columns: str, table: str, shape: tuple[bool, bool, bool, bool], mark: str) -> str:
    """The library's ``select_events`` statement for one shape of call (after a version,
    up to one, newest first, a limit: ``shape`` says which are given), on the table named,
    with the database's placeholder: made once a shape by each recorder (ADR 0045, 0051)."""
    gt, lte, desc, limit = shape
    return (f"SELECT {columns} FROM {table} WHERE originator_id = {mark}"
            + (f" AND originator_version > {mark}" if gt else "")
            + (f" AND originator_version <= {mark}" if lte else "")
            + (" ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC")
            + (f" LIMIT {mark}" if limit else ""))


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._selects: dict[tuple[bool, bool, bool, bool], str] = {}

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS idempotency_keys ("
            "user_id TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, "
            "family_id TEXT NOT NULL, event_id TEXT NOT NULL, version INTEGER NOT NULL, "
            "PRIMARY KEY (user_id, key))",
            HASHES_DDL.format("event_hashes"),
            MEMBERS_DDL.format("member_ids"),
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            c.execute("SELECT global_hash FROM event_hashes ORDER BY notification_id DESC LIMIT 1")
            last = c.fetchone()

            def last_stream(family: UUID) -> str:
                c.execute("SELECT stream_hash FROM event_hashes WHERE originator_id=? "
                          "ORDER BY originator_version DESC LIMIT 1", (family.hex,))
                row = c.fetchone()
                return row[0] if row else GENESIS

            rows = chain(self.chain_key, stored_events, ids, last_stream, last[0] if last else GENESIS,
                         self._log_head(c))
            c.executemany("INSERT INTO event_hashes VALUES (?,?,?,?,?,?,?)", rows)
        _store_key(kwargs, c)
        members: Sequence[tuple[str, str]] = kwargs.get("members") or ()
        if members:
            c.executemany("INSERT INTO member_ids VALUES (?,?)", members)
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            c.execute(
                "INSERT INTO idempotency_keys VALUES (?,?,?,?,?,?)",
                (record.user_id, record.key, record.request_hash, record.family_id,
                 record.event_id, record.version),
            )
        _project(kwargs, c, ids)
        return ids

    def select_events(self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
                      desc: bool = False, limit: int | None = None) -> Sequence[StoredEvent]:
        """The library's ``select_events``, as ``PostgresLedgerRecorder._select_events``
        does it: the statement made once for each shape, the rows read as tuples, and every
        row given the one id asked for (the library parses each row's id text into a new
        UUID and reads each column by name). One statement needs no ``BEGIN``/``ROLLBACK``
        around it: SQLite reads it from one snapshot of the database."""
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._selects.get(shape)
        if statement is None:
            statement = self._selects[shape] = select_events_statement(
                "originator_version, topic, state", self.events_table_name, shape, "?")
        given = originator_id.hex if isinstance(originator_id, UUID) else originator_id  # as the library has it
        params = [given, *(v for v in (gt, lte, limit) if v is not None)]
        try:
            with self.datastore.get_connection(commit=False) as conn, conn.cursor() as cursor:
                cursor.row_factory = None
                rows = cursor.execute(statement, params).fetchall()
        except sqlite3.InterfaceError as e:  # as the library's transaction raises them
            raise InterfaceError(e) from e
        except sqlite3.OperationalError as e:
            raise OperationalError(e) from e
        if not rows:
            return []
        family = originator_id if isinstance(originator_id, UUID) else uuid_of(originator_id)
        return [StoredEvent(originator_id=family, originator_version=v, topic=t, state=s) for v, t, s in rows]

    def find_idempotency(self, user_id: str, key: str) -> IdempotencyRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT key, user_id, request_hash, family_id, event_id, version "
                "FROM idempotency_keys WHERE user_id=? AND key=?",
                (user_id, key),
            )
            row = c.fetchone()
        return None if row is None else IdempotencyRecord(*tuple(row))

    chain_key: bytes = b""
    """The hash chain's key (``Settings.hash_chain_key``), set by the ``Ledger``."""

    @staticmethod
    def _log_head(c: Any) -> tuple[int, str]:
        try:
            c.execute(LOG_HEAD.format("access_log"))
        except Exception:  # noqa: BLE001 - no access log yet (tables being made)
            return 0, GENESIS
        row = c.fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def member_family(self, member_id: UUID) -> str | None:
        """The family (hex id) a member belongs to, or None."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT family_id FROM member_ids WHERE member_id=?", (member_id.hex,))
            row = c.fetchone()
        return None if row is None else str(row[0])

    def index_members(self, members: Sequence[tuple[str, str]]) -> None:
        """Index members recorded before the index existed (``Ledger`` on start)."""
        with self.datastore.transaction(commit=True) as c:
            c.executemany("INSERT INTO member_ids VALUES (?,?) ON CONFLICT (member_id) DO NOTHING", members)

    def members_indexed(self) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT 1 FROM member_ids LIMIT 1")
            return c.fetchone() is not None

    def select_hashes(self) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {HASH_COLUMNS} FROM event_hashes ORDER BY notification_id")
            return [dict(r) for r in c.fetchall()]

    def hashes_of(self, family_id: UUID) -> dict[int, str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT originator_version, stream_hash FROM event_hashes WHERE originator_id=?",
                      (family_id.hex,))
            return {r[0]: r[1] for r in c.fetchall()}

    def position_of(self, family_id: UUID, version: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid FROM {self.events_table_name} "
                "WHERE originator_id=? AND originator_version=?",
                (family_id.hex, version),
            )
            row = c.fetchone()
        return None if row is None else row[0]


class LedgerRepository(Repository):  # type: ignore[type-arg]
    """The library's repository, passing over a snapshot it cannot use: one that does not
    decode (altered or truncated in the database, or sealed under a key no longer held)
    or one of an older shape of the family's state. The family is then folded from its
    events, as it would be with no snapshot, and the problem logged, never a 500."""

    def _reconstruct_aggregate(self, aggregate_id: Any, version: int | None, projector_func: Any) -> Any:
        try:
            aggregate = super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        except AggregateNotFoundError:
            raise
        except Exception:
            if self.snapshot_store is None:
                raise
            log.warning("the snapshot of %s could not be read: folded from its events instead", aggregate_id,
                        exc_info=True)
            return self._from_events(aggregate_id, version, projector_func)
        expected = getattr(type(aggregate), "STATE_FORMAT", None)
        if self.snapshot_store is not None and expected is not None and vars(aggregate).get("state_format") != expected:
            return self._from_events(aggregate_id, version, projector_func)
        return aggregate

    def _from_events(self, aggregate_id: Any, version: int | None, projector_func: Any) -> Any:
        events = self.event_store.get(originator_id=aggregate_id, lte=version)
        aggregate = projector_func(None, events)
        if aggregate is None:
            raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} version {version!r} not found.")
        return aggregate


def _retried_once(method: Any) -> Any:
    """A recorder call that fails at most once more, after the pool is purged.

    The library retries a failed call ten times, 0.2 s apart, and the pool's own check
    of a connection backs off 1, 2, 4, 8 s over connections a database restart broke:
    with PostgreSQL down a request hung for half a minute and more. Instead, pre-ping is
    off (``environment``); a call that fails on a broken connection drops every broken
    one the pool holds (``pool.check()``, quick) and tries once more; a call that waited
    the whole pool timeout for a connection (the database is not there) fails at once.
    The caller answers 503 problem+json and the client retries (with its Idempotency-Key).
    """
    inner = getattr(method, "__wrapped__", method)  # the library's own retries left out

    @wraps(inner)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return inner(self, *args, **kwargs)
        except (InterfaceError, OperationalError) as e:
            if isinstance(e.__cause__, PoolTimeout):
                raise
            self.datastore.pool.check()
            return inner(self, *args, **kwargs)

    return call


CREATE_ATTEMPTS = 8


def _created_despite_races(create_table: Any) -> Any:
    """A recorder's ``create_table`` that tries again, after a short random wait, when
    another process starting at the same moment was creating the same objects (several
    API processes, or an API and ``ledger project`` started together): the library's
    ``create_table`` runs on every start (``CREATE TYPE``, ``CREATE ... IF NOT EXISTS``,
    ``CREATE OR REPLACE FUNCTION``), every statement is idempotent, and the next try
    finds them made."""

    @wraps(create_table)
    def call(self: Any) -> None:
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                create_table(self)
                return
            except Exception as e:
                if attempt == CREATE_ATTEMPTS or not creation_race(e):
                    raise
                time.sleep(random.uniform(0.05, 0.2) * attempt)

    return call


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    chain_key: bytes = b""
    """The hash chain's key (``Settings.hash_chain_key``), set by the ``Ledger``."""

    create_table = _created_despite_races(PostgresApplicationRecorder.create_table)
    select_notifications = _retried_once(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _retried_once(PostgresApplicationRecorder.max_notification_id)

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.idempotency_table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier("idempotency_keys")
        )
        self.hashes_table = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier("event_hashes"))
        self.members_table = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier("member_ids"))
        self.sql_create_statements.append(SQL(HASHES_DDL).format(self.hashes_table))
        self.sql_create_statements.append(SQL(MEMBERS_DDL).format(self.members_table))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} ("
                "user_id text NOT NULL, key text NOT NULL, request_hash text NOT NULL, "
                "family_id text NOT NULL, event_id text NOT NULL, version bigint NOT NULL, "
                "PRIMARY KEY (user_id, key))"
            ).format(self.idempotency_table)
        )
        # A command's own statements, rendered once (composing and rendering them cost about
        # 10 us each a command; psycopg keys its prepared statements on the rendered text).
        log_table = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier("access_log"))
        self.heads_statement = SQL(
            "SELECT (SELECT global_hash FROM {0} ORDER BY notification_id DESC LIMIT 1) AS global_hash, "
            "(SELECT stream_hash FROM {0} WHERE originator_id=%s ORDER BY originator_version DESC LIMIT 1) "
            "AS stream_hash, (SELECT seq FROM {1} ORDER BY seq DESC LIMIT 1) AS seq, "
            "(SELECT hash FROM {1} ORDER BY seq DESC LIMIT 1) AS hash").format(self.hashes_table, log_table).as_bytes()
        self.insert_hashes_statement = SQL("INSERT INTO {0} VALUES (%s,%s,%s,%s,%s,%s,%s)").format(
            self.hashes_table).as_bytes()
        self.insert_members_statement = SQL("INSERT INTO {0} VALUES (%s,%s)").format(self.members_table).as_bytes()
        self.insert_idempotency_statement = SQL("INSERT INTO {0} VALUES (%s,%s,%s,%s,%s,%s)").format(
            self.idempotency_table).as_bytes()
        self.lock_statements = [cast(Composable, s).as_bytes() for s in self.lock_table_statements]
        self.notify_statement = SQL("NOTIFY {0}").format(Identifier(self.channel_name)).as_bytes()
        self._events_table = SQL("{0}.{1}").format(Identifier(self.datastore.schema),
                                                   Identifier(self.events_table_name)).as_bytes()
        self._inserts: dict[int, bytes] = {}
        self._selects: dict[tuple[bool, bool, bool, bool], bytes] = {}

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """The library's (the table lock, NOTIFY, the insert returning the events' positions
        in order), with the events as plain rows: the library sends them as one array of a
        composite type, which psycopg writes as text, the state's bytes escaped, 44 us of
        the client's CPU for one event against 2 (and the server parses it back). The
        statements are rendered once."""
        for statement in self.lock_statements:
            curs.execute(statement, prepare=True)
        curs.execute(self.notify_statement)
        insert = self._inserts.get(len(stored_events))
        if insert is None:
            insert = self._inserts[len(stored_events)] = (
                b"INSERT INTO " + self._events_table + b" (originator_id, originator_version, topic, state) VALUES "
                + b",".join([b"(%s,%s,%s,%s)"] * len(stored_events)) + b" RETURNING notification_id")
        curs.execute(insert, [v for e in stored_events
                                 for v in (e.originator_id, e.originator_version, e.topic, e.state)])

    def _select_events(self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
                       desc: bool = False, limit: int | None = None) -> Sequence[StoredEvent]:
        """The library's ``select_events``, its statement rendered once for each shape
        (composing it cost 13 us a call against 2) and its rows read as tuples."""
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._selects.get(shape)
        if statement is None:
            statement = self._selects[shape] = select_events_statement(
                "originator_id, originator_version, topic, state", self._events_table.decode(), shape, "%s").encode()
        params = [originator_id, *(v for v in (gt, lte, limit) if v is not None)]
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True)
            return [StoredEvent(originator_id=i, originator_version=v, topic=t, state=bytes(s))
                    for i, v, t, s in curs.fetchall()]

    select_events = _retried_once(_select_events)

    def _reading(self) -> Any:
        """One statement's read with no transaction around it (``LedgerPostgresDatastore``)."""
        return cast("LedgerPostgresDatastore", self.datastore).reading()

    def _insert_once(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's ``insert_events`` in as few round trips as it can be: each costs
        this machine's client about 80 us of CPU, and all but the first are made under
        the events table's lock (issue 24). One pipeline: BEGIN, the lock, NOTIFY, the
        insert and what the hash chain continues from, then a sync; the hash rows, the
        family's key, its members' ids, the idempotency row and COMMIT, then a sync, where
        a repeated version or key refuses the command. Two round trips where psycopg's
        transaction block in a pipeline made six (it syncs on entering and leaving, and
        so did a nested pipeline for each later insert).

        The read models' rows (``_project``, a command alone in inline mode) are written
        after the pipeline and before the COMMIT: psycopg's pipeline mode reports no row
        counts until it syncs and, after an error rolled back to a savepoint, forgets
        which statements it had prepared."""
        project = kwargs.get("project") is not None
        with self.datastore.get_connection() as conn:
            try:
                with conn.pipeline() as pipeline, conn.cursor() as curs:
                    curs.execute("BEGIN", prepare=False)
                    ids = self._write(curs, pipeline, stored_events, kwargs)
                    if not project:
                        curs.execute("COMMIT", prepare=False)
                # leaving the pipeline syncs it: a repeated key (UniqueViolation, as IntegrityError) refuses the
                # command here, and the COMMIT queued after it is not run
                if project:
                    with conn.cursor() as curs:
                        _project(kwargs, curs, ids)
                        curs.execute("COMMIT", prepare=False)
            except BaseException:
                _roll_back(conn)
                raise
            return ids

    insert_events = _retried_once(_insert_once)

    def _write(self, curs: Any, pipeline: Any, stored_events: Sequence[StoredEvent],
               kwargs: dict[str, Any]) -> Sequence[int] | None:
        """The events, then the ledger's rows beside them, queued in ``pipeline`` with
        one sync between (the hash rows need the events' positions and the chain's heads)."""
        if not stored_events:
            return None
        with curs.connection.cursor() as heads:
            self._insert_events(curs, stored_events, **kwargs)  # the library's hook (nothing, here)
            self._insert_stored_events(curs, stored_events, **kwargs)  # the table lock, NOTIFY, the insert
            first = UUID(str(stored_events[0].originator_id))
            heads.execute(self.heads_statement, (first.hex,))
            pipeline.sync()  # a version clash raises IntegrityError here
            ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            found = heads.fetchone()
            if ids:
                self._insert_hashes(curs, stored_events, ids, first, found)
        _store_key(kwargs, curs)
        members: Sequence[tuple[str, str]] = kwargs.get("members") or ()
        if members:
            curs.executemany(self.insert_members_statement, members)
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            curs.execute(
                self.insert_idempotency_statement,
                (record.user_id, record.key, record.request_hash, record.family_id,
                 record.event_id, record.version),
            )
        return ids

    def _insert_hashes(self, curs: Any, stored_events: Sequence[StoredEvent], ids: Sequence[int], first: UUID,
                       heads: dict[str, Any]) -> None:
        """The events' hash rows, under the table lock the library took for the insert,
        from ``heads``: the last global hash, ``first`` family's last stream hash and the
        access log's head, read in the insert's sync. Another family's last stream hash
        (a command recording events on two families) is read on its own."""

        def last_stream(family: UUID) -> str:
            if family == first:
                return heads["stream_hash"] or GENESIS
            curs.execute(SQL("SELECT stream_hash FROM {0} WHERE originator_id=%s "
                             "ORDER BY originator_version DESC LIMIT 1").format(self.hashes_table), (family.hex,))
            row = curs.fetchone()
            return row["stream_hash"] if row else GENESIS

        rows = chain(self.chain_key, stored_events, ids, last_stream, heads["global_hash"] or GENESIS,
                     (heads["seq"], heads["hash"]) if heads["seq"] is not None else (0, GENESIS))
        curs.executemany(self.insert_hashes_statement, rows)

    def member_family(self, member_id: UUID) -> str | None:
        """The family (hex id) a member belongs to, or None."""
        with self._reading() as curs:
            curs.execute(SQL("SELECT family_id FROM {0} WHERE member_id=%s").format(self.members_table),
                         (member_id.hex,))
            row = curs.fetchone()
        return None if row is None else str(row["family_id"])

    def index_members(self, members: Sequence[tuple[str, str]]) -> None:
        """Index members recorded before the index existed (``Ledger`` on start)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(SQL("INSERT INTO {0} VALUES (%s,%s) ON CONFLICT (member_id) DO NOTHING").format(
                self.members_table), members)

    def members_indexed(self) -> bool:
        with self._reading() as curs:
            curs.execute(SQL("SELECT 1 FROM {0} LIMIT 1").format(self.members_table))
            return curs.fetchone() is not None

    def select_hashes(self) -> list[dict[str, Any]]:
        with self._reading() as curs:
            curs.execute(SQL(f"SELECT {HASH_COLUMNS} FROM {{0}} ORDER BY notification_id").format(self.hashes_table))
            return [dict(r) for r in curs.fetchall()]

    def hashes_of(self, family_id: UUID) -> dict[int, str]:
        with self._reading() as curs:
            curs.execute(SQL("SELECT originator_version, stream_hash FROM {0} WHERE originator_id=%s").format(
                self.hashes_table), (family_id.hex,))
            return {r["originator_version"]: r["stream_hash"] for r in curs.fetchall()}

    def find_idempotency(self, user_id: str, key: str) -> IdempotencyRecord | None:
        with self._reading() as curs:
            curs.execute(
                SQL(
                    "SELECT key, user_id, request_hash, family_id, event_id, version "
                    "FROM {0} WHERE user_id=%s AND key=%s"
                ).format(self.idempotency_table),
                (user_id, key),
            )
            row = curs.fetchone()
        return None if row is None else IdempotencyRecord(**row)

    def position_of(self, family_id: UUID, version: int) -> int | None:
        with self._reading() as curs:
            curs.execute(b"SELECT notification_id FROM " + self._events_table
                         + b" WHERE originator_id=%s AND originator_version=%s", (family_id, version))
            row = curs.fetchone()
        return None if row is None else row["notification_id"]


class PostgresLedgerSnapshotRecorder(PostgresAggregateRecorder):
    """The snapshots' recorder (the library's, with its calls retried once only)."""

    create_table = _created_despite_races(PostgresAggregateRecorder.create_table)
    insert_events = _retried_once(PostgresAggregateRecorder.insert_events)
    select_events = _retried_once(PostgresAggregateRecorder.select_events)


class PostgresLedgerTrackingRecorder(PostgresTrackingRecorder):
    """The read models' tracking recorder (the library's, its tables made despite races)."""

    create_table = _created_despite_races(PostgresTrackingRecorder.create_table)


def _roll_back(conn: Any) -> None:
    """A connection whose work failed, rolled back by psycopg (out of an aborted pipeline,
    and what it had prepared forgotten, as psycopg does after an error). A broken
    connection is left to the pool, which drops it; the caller's error goes on."""
    if conn.closed:
        return
    try:
        conn.rollback()
    except Exception:
        log.warning("the rollback after a failure did not complete", exc_info=True)


class LedgerPostgresDatastore(PostgresDatastore):
    """The library's datastore, with reads that cost fewer round trips (each costs this
    machine's client about 80 us of CPU, issue 24):

    - a read's transaction (``transaction(commit=False)``) ends with a plain ROLLBACK.
      psycopg's own rollback (``force_rollback``) also deallocates every statement the
      connection had prepared, so the next prepared statement on it (a family's events,
      the insert, the hash chain's heads) was parsed again, one more round trip; a read
      that fails still ends with psycopg's rollback, which leaves nothing it is unsure of;
    - ``reading``: one statement's read with no transaction around it (the connections
      are in autocommit): one round trip instead of three, where a snapshot across
      statements is not needed (a key, a position, a team, an idempotency row).
    """

    @contextmanager
    def transaction(self, *, commit: bool = False) -> Iterator[Any]:
        if commit:
            with super().transaction(commit=True) as curs:
                yield curs
            return
        with self.get_connection() as conn:
            curs = conn.cursor()
            curs.execute("BEGIN", prepare=False)
            try:
                yield curs
            except BaseException:
                _roll_back(conn)
                raise
            curs.execute("ROLLBACK", prepare=False)

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.get_connection() as conn:
            yield conn.cursor()


class PostgresLedgerFactory(PostgresFactory):
    """The library's PostgreSQL infrastructure, with the snapshot recorder above (the
    events' recorder is chosen by APPLICATION_RECORDER_TOPIC) and ``LedgerPostgresDatastore``
    (the library makes its datastore itself, so its class is set after)."""

    aggregate_recorder_class = PostgresLedgerSnapshotRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.__class__ = LedgerPostgresDatastore


STATEMENT_CACHE = 256
"""Prepared statements kept per SQLite connection (``sqlite3``'s own default is 128): the
ledger's and its read models' statements, with room for the ``IN (?, ...)`` lists of
several page sizes."""


class _WritingTransaction(SQLiteTransaction):
    """The library's transaction, begun with ``BEGIN IMMEDIATE``: the write lock taken at
    once, waiting for it as long as the connection's lock timeout says."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class LedgerSQLiteConnection(SQLiteConnection):
    """The library's SQLite connection, whose transactions that commit take the write
    lock as they begin (ADR 0059).

    The library begins every transaction with a plain ``BEGIN``, which takes no lock: the
    first read takes a snapshot, the first write the write lock. SQLite waits for a lock
    held elsewhere (the busy timeout) only when the transaction has read nothing yet: one
    that has read (a ``SELECT``; a ``DROP TABLE IF EXISTS`` of a table not there) and then
    writes while another connection holds the write lock is refused at once ("database is
    locked"), whatever the timeout, as waiting could not give it a snapshot it may write
    on. Rebuilds of 100,000 events beside a process taking the lock every 50 ms were
    refused so 3 times in 36: at the first transaction (dropping the fresh tables an
    earlier run may have left, then making them) and at a loaded table's drop. Reads
    (``commit=False``) begin as before."""

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[SQLiteCursor]:
        if not commit:
            with super().transaction(commit=False) as cursor:
                yield cursor
            return
        with _WritingTransaction(self, commit=True) as cursor, cursor:
            yield cursor


class LedgerSQLitePool(SQLiteConnectionPool):
    """The library's SQLite pool, with four changes:

    - a statement cache of ``STATEMENT_CACHE`` statements on every connection. The
      library opens its connections with ``cached_statements=True``, which ``sqlite3``
      takes as a cache of *one* statement: every statement but a repeat of the last was
      parsed and planned again. A command runs about twenty (its own, then five read
      models' rows in the same transaction, ADR 0040), and preparing them again was about
      half of their time (ADR 0047);
    - ``secure_delete`` on every connection: a page freed (a read model's rows replaced
      after an erasure) is overwritten with zeros, not left in the file with what it held;
    - a writer waits for the write lock *before* it joins the pool's queue. The library's
      pool hands out connections one request at a time, in order ("fairness"), and takes
      the write lock inside that queue: a writer waiting for another writer's commit held
      every reader behind it, so a command's reads (its family, the read models'
      catch-up) waited for commands they do not depend on. Measured under 16 clients'
      commands on SQLite (py-spy, wall clock): half of a command's time was spent in that
      queue (ADR 0042). Writers still go one at a time, as the library intends; readers
      of a file database never waited for writers;
    - a transaction that commits takes the write lock as it begins
      (``LedgerSQLiteConnection``, ADR 0059).
    """

    def _create_connection(self) -> Any:
        """The library's connection (``SQLiteConnectionPool._create_connection``: WAL mode,
        rows by name), opened with a statement cache and ``secure_delete``."""
        try:
            connection = sqlite3.connect(database=self.db_name, uri=True, check_same_thread=False,
                                         isolation_level=None, cached_statements=STATEMENT_CACHE,
                                         timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        cursor = connection.cursor()
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        cursor.execute("PRAGMA secure_delete = ON")
        connection.row_factory = sqlite3.Row
        return LedgerSQLiteConnection(sqlite_conn=connection, max_age=self.max_age)

    def get_connection(self, timeout: float | None = None, *, is_writer: bool | None = None) -> Any:
        if is_writer is not True or self._mutually_exclusive_read_write:  # an in-memory database: as the library does
            return super().get_connection(timeout, is_writer=is_writer)
        timeout = self.pool_timeout if timeout is None else timeout
        started = time.time()
        if not self._writer_lock.acquire(timeout=self._time_remaining(timeout, started)):
            raise ConnectionUnavailableError("Timed out waiting for return of writer")
        try:
            connection = super().get_connection(self._time_remaining(timeout, started), is_writer=None)
        except BaseException:
            self._writer_lock.release()
            raise
        self._num_writers += 1  # under the write lock; put_connection undoes both for a writer
        connection.is_writer = True
        return connection


class SQLiteLedgerFactory(SQLiteFactory):
    """The library's SQLite infrastructure, with ``LedgerSQLitePool``."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.pool.__class__ = LedgerSQLitePool


def checkpoint(datastore: Any) -> None:
    """SQLite: write the WAL back into the database file and truncate it, so nothing an
    erasure replaced lingers in the WAL (``Ledger.erase``)."""
    for _ in range(20):  # readers in the middle of a transaction hold the WAL for a moment
        with datastore.transaction(commit=False) as cursor:
            cursor.execute("ROLLBACK")  # a checkpoint runs outside a transaction
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = cursor.fetchone()[0]
            cursor.execute("BEGIN")
        if not busy:
            return
        time.sleep(0.05)
    log.warning("the WAL could not be checkpointed after an erasure: readers kept it busy")


def environment(settings: Settings) -> dict[str, str]:
    """The ``eventsourcing`` environment for the chosen database, and the library's
    aggregate cache (ADR 0015): a family read again is brought up to date with the events
    stored since (``fastforward``, one query, from any process) and copied before a command
    changes it, instead of being decoded again from its first event."""
    cache = {"AGGREGATE_CACHE_MAXSIZE": str(settings.family_cache), "AGGREGATE_CACHE_FASTFORWARD": "y",
             "DEEPCOPY_FROM_AGGREGATE_CACHE": "y"} if settings.family_cache else {}
    return {**_database(settings), **cache}


def _database(settings: Settings) -> dict[str, str]:
    if settings.is_postgres:
        url = urlparse(settings.database_url or "")  # set: is_postgres says so
        return {
            "PERSISTENCE_MODULE": "ledger.storage:PostgresLedgerFactory",
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": settings.password() or "",
            "POSTGRES_SCHEMA": settings.database_schema,
            "POSTGRES_POOL_SIZE": str(settings.pool_size),
            "POSTGRES_CONNECT_TIMEOUT": str(settings.database_timeout),
            "POSTGRES_MAX_OVERFLOW": str(settings.pool_size),
            "POSTGRES_PRE_PING": "n",  # see _retried_once
            "POSTGRES_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": "ledger.storage:PostgresLedgerRecorder",
            "CREATE_TABLE": "y",
        }
    path = settings.sqlite_path()
    if path.parent == settings.data_dir:
        settings.private_dir()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # SQLite gives its -wal and -shm files the database file's mode
        path.touch()
        path.chmod(0o600)
    return {
        "PERSISTENCE_MODULE": "ledger.storage:SQLiteLedgerFactory",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "10",
        "APPLICATION_RECORDER_TOPIC": "ledger.storage:SQLiteLedgerRecorder",
        "CREATE_TABLE": "y",
    }
