"""Where read models live: tables in the ledger's own database, beside the events, with
each read model's position in the library's tracking table (ADR 0011).

``ViewStore`` builds on ``eventsourcing``'s tracking recorders (``SQLiteTrackingRecorder``
or ``PostgresTrackingRecorder``) over the application's own datastore, so the read
models and the events share one database, one connection pool and one backup. A read
model's rows and its tracking position are written in one transaction; the position is
read inside that transaction after locking it, so two projectors (an API process and
``ledger project``, or a rebuild swapping tables) can never apply an event twice or skip
one.

SQL goes through ``ledger.sql`` (``?`` placeholders and ``{table}`` names, adapted to the
database).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

from ledger.sql import Database, Tx

PREFIX = "projection:"
FORMATS = "projection_formats"
FORMATS_DDL = ["CREATE TABLE {projection_formats} (model TEXT PRIMARY KEY, version INTEGER NOT NULL)"]
QUARANTINE = "projection_quarantine"
QUARANTINE_DDL = [
    "CREATE TABLE {projection_quarantine} (model TEXT NOT NULL, family_id TEXT NOT NULL, position BIGINT, "
    "event_id TEXT, event_type TEXT, error TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (model, family_id))",
]


class ViewStore(Database):
    """The read models' tables and tracking positions in the ledger's database."""

    def __init__(self, datastore: Any, *, postgres: bool) -> None:
        super().__init__(datastore, postgres=postgres)
        if postgres:
            from ledger.storage import PostgresLedgerTrackingRecorder

            self.recorder: Any = PostgresLedgerTrackingRecorder(datastore, tracking_table_name="projection_tracking")
            self.tracking_table = self.table("projection_tracking")
        else:
            from eventsourcing.sqlite import SQLiteTrackingRecorder

            self.recorder = SQLiteTrackingRecorder(datastore)
            self.tracking_table = "tracking"
        self.recorder.create_table()

    # -- tracking -------------------------------------------------------------------------

    def ensure_positions(self, names: Iterable[str]) -> None:
        """A tracking row (at position 0) for every read model that has none yet."""
        with self.transaction() as tx:
            for name in names:
                tx.run(f"INSERT INTO {self.tracking_table} (application_name, notification_id) "
                       "VALUES (?, 0) ON CONFLICT (application_name) DO NOTHING", (PREFIX + name,))

    def lock_positions(self, tx: Tx, names: Sequence[str]) -> dict[str, int]:
        """Lock the read models' tracking rows for this transaction and read them.

        PostgreSQL: ``SELECT ... FOR UPDATE`` (in name order, so two lockers cannot
        deadlock). SQLite: ``tx`` is a transaction that commits, which holds the database's
        write lock from its ``BEGIN IMMEDIATE`` (``LedgerSQLiteConnection``, ADR 0059), so
        the positions read cannot change before it ends."""
        keys = sorted(PREFIX + n for n in names)
        marks = ",".join("?" * len(keys))
        lock = " ORDER BY application_name FOR UPDATE" if self.postgres else ""
        found = tx.rows(f"SELECT application_name, notification_id FROM {self.tracking_table} "
                        f"WHERE application_name IN ({marks}){lock}", keys)
        positions = {r["application_name"][len(PREFIX):]: r["notification_id"] for r in found}
        missing = [n for n in names if n not in positions]
        if missing:
            raise LookupError(f"read models without a tracking row: {missing}")
        return positions

    def advance(self, tx: Tx, names: Sequence[str], position: int) -> None:
        """Record that read models have processed everything up to ``position``, in one
        statement on the library's tracking rows (locked by ``lock_positions``). Like the
        library's tracking insert, it refuses to go backwards or stand still: a row not
        moved forward is an ``IntegrityError``. One statement instead of the library's
        insert per model saved a command's catch-up four round trips on PostgreSQL
        (3.9 → 3.6 ms of CPU a command)."""
        if not names:
            return
        keys = [PREFIX + n for n in names]
        tx.run(f"UPDATE {self.tracking_table} SET notification_id = ? "
               f"WHERE application_name IN ({','.join('?' * len(keys))}) AND notification_id < ?",
               [position, *keys, position])
        moved = getattr(tx.cursor, "sqlite_cursor", tx.cursor).rowcount  # the library wraps sqlite3's cursor
        if moved != len(keys):
            raise IntegrityError(f"the tracking of {', '.join(names)} did not move forward to {position}")

    def set_position(self, tx: Tx, name: str, position: int) -> None:
        """Set a read model's position outright (a rebuild swapping its tables in)."""
        tx.run(f"UPDATE {self.tracking_table} SET notification_id = ? WHERE application_name = ?",
               (position, PREFIX + name))

    def positions(self, names: Sequence[str]) -> dict[str, int]:
        """Several read models' positions in one query (0 for a model with no row yet)."""
        keys = [PREFIX + n for n in names]
        with self.read() as tx:
            found = tx.rows(f"SELECT application_name, MAX(notification_id) AS position FROM {self.tracking_table} "
                            f"WHERE application_name IN ({','.join('?' * len(keys))}) GROUP BY application_name", keys)
        got = {r["application_name"][len(PREFIX):]: r["position"] or 0 for r in found}
        return {n: got.get(n, 0) for n in names}

    def position(self, name: str) -> int:
        return self.recorder.max_tracking_id(PREFIX + name) or 0

    def wait(self, name: str, position: int, timeout: float) -> None:
        """Block until a read model has processed ``position`` (library ``wait``)."""
        self.recorder.wait(PREFIX + name, position, timeout=timeout)

    # -- formats ---------------------------------------------------------------------------

    def format_of(self, tx: Tx, model: str) -> int:
        """The version a read model's tables were made for (1: before versions were kept)."""
        row = tx.one(f"SELECT version FROM {self.table(FORMATS)} WHERE model = ?", (model,))
        return 1 if row is None else int(row["version"])

    def set_format(self, tx: Tx, model: str, version: int) -> None:
        tx.run(f"INSERT INTO {self.table(FORMATS)} VALUES (?, ?) ON CONFLICT (model) DO UPDATE "
               "SET version = excluded.version", (model, version))

    # -- quarantine -----------------------------------------------------------------------

    def quarantine_table(self) -> dict[str, str]:
        return {QUARANTINE: self.table(QUARANTINE)}

    def quarantined(self, tx: Tx, models: Sequence[str] | None = None) -> dict[str, set[str]]:
        """Per read model, the families (hex ids) whose rows are held back."""
        rows = tx.rows(f"SELECT model, family_id FROM {self.table(QUARANTINE)}")
        found: dict[str, set[str]] = {}
        for row in rows:
            if models is None or row["model"] in models:
                found.setdefault(row["model"], set()).add(row["family_id"])
        return found

    def quarantine(self, tx: Tx, model: str, family_id: str, *, position: int | None, event_id: str | None,
                   event_type: str | None, error: str, at: str) -> None:
        tx.run(f"INSERT INTO {self.table(QUARANTINE)} VALUES (?,?,?,?,?,?,?) ON CONFLICT (model, family_id) "
               "DO NOTHING", (model, family_id, position, event_id, event_type, error[:2000], at))

    def release(self, tx: Tx, model: str, family_id: str) -> None:
        tx.run(f"DELETE FROM {self.table(QUARANTINE)} WHERE model = ? AND family_id = ?", (model, family_id))

    def quarantine_rows(self, family_id: str | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE family_id = ?", [family_id]) if family_id else ("", [])
        with self.transaction(commit=False) as tx:
            return tx.rows(f"SELECT * FROM {self.table(QUARANTINE)} {where} ORDER BY model, family_id", args)

    # -- tables ---------------------------------------------------------------------------

    def drop(self, tx: Tx, names: Iterable[str], *, zeroed: Iterable[str] | None = None) -> None:
        """Drop the tables ``names``. SQLite's connections run with ``secure_delete``,
        which zeroes every page a dropped table frees and writes each through the WAL (at
        100,000 events, 0.9 s of a rebuild's swap, with the write lock held). The pages of
        a table not in ``zeroed`` (by default all are) are left to be reused as they are:
        a read model's tables whose personal values are all sealed under the family's key
        (``ReadModel.unsealed_personal``, ADR 0053). PostgreSQL unlinks a dropped table's
        files."""
        names = list(names)
        kept = set(names if zeroed is None else zeroed)
        left = [name for name in names if name not in kept]
        if left and not self.postgres:
            tx.run("PRAGMA secure_delete = FAST")  # freed pages not zeroed; a deleted row's bytes still are
        try:
            for name in left:
                tx.run(f"DROP TABLE IF EXISTS {self.table(name)}")
        finally:
            if left and not self.postgres:
                tx.run("PRAGMA secure_delete = ON")
        for name in names:
            if name in kept:
                tx.run(f"DROP TABLE IF EXISTS {self.table(name)}")

    def rename(self, tx: Tx, old: str, new: str) -> None:
        tx.run(f'ALTER TABLE {self.table(old)} RENAME TO "{new}"')
