"""Optimistic concurrency and idempotency under real contention."""

from __future__ import annotations

import gc
import sqlite3
import threading
import uuid

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import storage
from ledger.heap import OLDEST_EVERY
from ledger.sql import Database
from tests.conftest import PRACTITIONER, command, open_ledger, register, version
from tests.registration import post_family

# Storage tests (docs/testing.md): optimistic concurrency, idempotency under contention and
# schema creation races are the database's work, on every database.
pytestmark = pytest.mark.storage

THREADS = 8
PER_THREAD = 6


def test_eight_writers_with_if_match_lose_nothing_and_never_share_a_version(client):
    fid = register(client)["family_id"]
    assert command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "help"}).status_code == 201
    conflicts = []
    failures = []

    def writer(n: int) -> None:
        for i in range(PER_THREAD):
            while True:
                v = version(client, fid)
                r = command(client, fid, {"type": "CaseNoteRecorded", "text": f"writer {n} note {i}"},
                            **{"If-Match": f'"{v}"'})
                if r.status_code == 201:
                    break
                if r.status_code == 409:
                    conflicts.append(r.json()["detail"])
                    continue
                failures.append((r.status_code, r.text))
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    events = client.get(f"/families/{fid}/events", headers=PRACTITIONER).json()["events"]
    versions = [e["version"] for e in events]
    assert versions == list(range(1, 2 + THREADS * PER_THREAD + 1)), "gap or duplicate version"
    texts = sorted(e["data"]["text"] for e in events if e["type"] == "CaseNoteRecorded")
    assert texts == sorted(f"writer {n} note {i}" for n in range(THREADS) for i in range(PER_THREAD))


def test_writers_without_if_match_are_retried_not_refused(client):
    fid = register(client)["family_id"]
    assert command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "help"}).status_code == 201
    statuses = []

    def writer(n: int) -> None:
        for i in range(4):
            statuses.append(command(client, fid, {"type": "CaseNoteRecorded", "text": f"{n}-{i}"}).status_code)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert set(statuses) == {201}
    assert version(client, fid) == 2 + 16


def test_idempotent_retry_returns_the_first_result_and_records_nothing_new(client):
    fid = register(client)["family_id"]
    key = str(uuid.uuid4())
    body = {"type": "ReferralReceived", "route": "self", "reason": "help",
            "episode_id": str(uuid.uuid4()), "occurred_at": "2026-02-02T10:00:00+00:00"}
    first = command(client, fid, body, **{"Idempotency-Key": key})
    assert first.status_code == 201
    again = command(client, fid, dict(reversed(list(body.items()))), **{"Idempotency-Key": key})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert version(client, fid) == 2
    different = command(client, fid, {**body, "reason": "something else"}, **{"Idempotency-Key": key})
    assert different.status_code == 422
    assert different.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in different.json()["detail"]
    assert version(client, fid) == 2


def test_concurrent_retries_with_one_key_record_once(client):
    fid = register(client)["family_id"]
    assert command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "x"}).status_code == 201
    key = str(uuid.uuid4())
    body = {"type": "CaseNoteRecorded", "text": "only once", "occurred_at": "2026-02-02T10:00:00+00:00"}
    results = []

    def send() -> None:
        results.append(command(client, fid, body, **{"Idempotency-Key": key}))

    threads = [threading.Thread(target=send) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["event_id"] for r in results}) == 1
    assert version(client, fid) == 3


def test_idempotent_registration(client, ledger):
    """A retried registration answers the first one, and leaves nothing of its own: its
    family's key is written in its events' transaction, which the key's row refused."""
    body = {"policy": "durham-one-point", "team": "north",
            "members": [{"given_name": "Eve", "family_name": "Oak", "kind": "child", "date_of_birth": "2019-01-01"}]}
    key = {"Idempotency-Key": "register-oak-1"}
    first = post_family(client, json=body, headers={**PRACTITIONER, **key})
    keys = _family_keys(ledger)
    again = post_family(client, json=body, headers={**PRACTITIONER, **key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert _family_keys(ledger) == keys == 1


def _family_keys(ledger) -> int:
    with ledger.keys.db.transaction({"family_keys": ledger.keys.db.table("family_keys")}, commit=False) as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM {family_keys}")
    assert row is not None
    return int(row["n"])


def test_two_processes_racing_one_idempotency_key_record_once(settings):
    """Two Ledger applications on one database stand in for two API processes."""
    from ledger.application import Idempotency

    apps = [open_ledger(settings) for _ in range(3)]
    actor = {"user_id": "pat", "role": "practitioner", "team": "north"}
    try:
        fid = apps[0].register_family(policy="durham-one-point", team="north", actor=actor, members=[
            {"given_name": "A", "family_name": "B", "kind": "child"}]).family_id
        apps[0].record(fid, "ReferralReceived", {"episode_id": uuid.uuid4(), "route": "self", "reason": "x"},
                       actor=actor)
        results, errors = [], []

        def send(app) -> None:
            try:
                results.append(app.record(fid, "CaseNoteRecorded", {"text": "once", "contact_type": None},
                                          actor=actor, idempotency=Idempotency("same-key", "same-body")))
            except Exception as e:  # noqa: BLE001 - any failure of a racing request is reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=send, args=(app,)) for app in apps for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert errors == []
        assert len({r.event_id for r in results}) == 1
        assert apps[0].family(fid).version == 3
    finally:
        for app in apps:
            app.close()


def test_ledger_serve_with_several_api_processes_starts_on_a_new_postgres_database(pg_database, tmp_path):
    """Three API processes started together on an empty schema all create the same tables
    at once; before ADR 0018 the catalogue's unique index stopped one (and uvicorn with
    it). Now the losers of the race find the tables made and every process starts."""
    import os
    import time

    import httpx2
    import psycopg

    from tests.conftest import SECRET
    from tests.test_faults import add_teams, ledger_service

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data"), "LEDGER_JWT_SECRET": SECRET,
           "LEDGER_DATABASE_SCHEMA": schema, "LEDGER_POOL_SIZE": "3"}
    with ledger_service(["--database-url", pg_database, "--workers", "3"], env, tmp_path / "serve.log",
                        start_timeout=90) as (base, process, log):
        time.sleep(1)  # every worker process has finished starting (or failed to)
        assert process.poll() is None
        add_teams(env, ["--database-url", pg_database])
        body = {"policy": "durham-one-point", "team": "north",
                "members": [{"given_name": "Kid", "family_name": "Test", "kind": "child"}]}
        with httpx2.Client(base_url=base, timeout=30) as client:
            for _ in range(6):
                assert post_family(client, json=body, headers=PRACTITIONER).status_code == 201


def test_processes_opening_a_new_postgres_schema_at_the_same_moment_all_open_it(pg_database, tmp_path):
    """API processes, ``ledger project`` and ``ledger replay`` each create the tables they
    need when they open the ledger (the library's recorders re-run their idempotent
    statements on every start). Opened at the same moment on an empty schema, every one
    opens it, with its read models: none is refused by a catalogue race."""
    import psycopg

    from ledger.settings import Settings
    from projections.projector import Projector
    from tests.conftest import SECRET

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, database_url=pg_database,
                        database_schema=schema, pool_size=2)
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def open_it() -> None:

        start.wait()
        try:
            ledger = open_ledger(settings)
            try:
                Projector(ledger)
            finally:
                ledger.close()
        except BaseException as e:  # noqa: BLE001 - every failure is the finding
            failures.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, [f"{type(e).__name__}: {e}" for e in failures]


@pytest.mark.one_database
def test_the_tracking_tables_first_row_inserted_by_another_process_is_a_creation_race():
    """Two processes that both found no tracking table both insert its first row once
    they have made it; the library refuses the later one. That is the race ``create_table``
    tries again after (and then finds the row); a refused tracking row of real work is not."""
    from eventsourcing.persistence import IntegrityError

    from ledger.sql import creation_race

    assert creation_race(IntegrityError("Failed to record tracking for __migration__ 1"))
    assert not creation_race(IntegrityError("Failed to record tracking for projections 5"))


def test_a_read_is_not_held_behind_a_writer_waiting_for_another(client, ledger):
    """SQLite lets one writer at a time; readers of the file never wait for writers. A
    command waiting for another's commit must not hold up the reads queued behind it
    (the library's pool takes its write lock inside the queue every request joins:
    ``ledger/storage.py``, ``LedgerSQLitePool``)."""
    if ledger.settings.is_postgres:
        pytest.skip("the PostgreSQL pool (psycopg_pool) has no write lock")
    family = uuid.UUID(register(client)["family_id"])
    ledger.forget_cached(family)
    pool = ledger._datastore.pool
    writing = pool.get_connection(is_writer=True)
    waiting: list[object] = []
    second = threading.Thread(target=lambda: waiting.append(pool.get_connection(is_writer=True, timeout=10)))
    second.start()
    try:
        second.join(0.3)  # the second writer is now waiting for the first one's commit
        assert not waiting
        reading = pool.get_connection(is_writer=False, timeout=2)  # before: timed out behind the second writer
        pool.put_connection(reading)
        assert ledger.family(family).version == 1  # a family read from its events, meanwhile
    finally:
        pool.put_connection(writing)
        second.join(10)
        for connection in waiting:
            pool.put_connection(connection)  # type: ignore[arg-type]
    assert waiting, "the second writer got its connection once the first was put back"


def test_sqlite_connections_keep_the_statements_they_prepare(ledger, monkeypatch):
    """A command runs about twenty statements in one transaction (its own, then the read
    models' rows, ADR 0040). The library opens SQLite connections with a statement cache
    of one, so each was parsed and planned again every time; the ledger's connections keep
    theirs (ADR 0047), and are otherwise opened as the library opens them: WAL, rows by
    name, and ``secure_delete`` (ADR 0013)."""
    if ledger.settings.is_postgres:
        pytest.skip("psycopg prepares a connection's repeated statements itself")
    opened: list[dict[str, object]] = []
    real = sqlite3.connect

    def connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        opened.append(kwargs)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", connect)
    pool = ledger._datastore.pool
    connection = pool._create_connection()
    try:
        assert [kwargs["cached_statements"] for kwargs in opened] == [storage.STATEMENT_CACHE]
        assert storage.STATEMENT_CACHE >= 128  # sqlite3's own default
        with connection.cursor() as cursor:
            assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert cursor.execute("PRAGMA secure_delete").fetchone()[0] == 1
            assert isinstance(cursor.execute("SELECT 1 AS one").fetchone(), sqlite3.Row)
    finally:
        connection.close()


def test_a_serving_process_leaves_what_it_started_with_out_of_garbage_collections(ledger):
    """A full garbage collection stops every request in the process while it walks every
    object; most of them (modules, packs, the app, its routes, the bank holidays, the read
    models' caches) live long. The app leaves what it started with out of collections
    while it serves (ADR 0048) and looks at the oldest generation a hundred times less
    often (ADR 0049); when it stops, the thresholds are as they were and nothing is
    frozen, so nothing it held is kept for good."""
    gc.unfreeze()
    before = gc.get_threshold()
    with TestClient(create_app(ledger), raise_server_exceptions=False) as client:
        serving, thresholds = gc.get_freeze_count(), gc.get_threshold()
        assert client.get("/health").status_code == 200
    assert serving > 50_000
    assert thresholds == (*before[:2], OLDEST_EVERY)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_a_projection_worker_looks_at_the_oldest_generation_as_seldom_as_a_serving_process(ledger_cli, monkeypatch):
    """``ledger project`` holds the same read models' caches as an API process, so it
    settles its heap the same way while it projects (ADR 0049), and leaves the
    thresholds as they were when it stops."""
    from projections.projector import Projector

    seen = []
    catch_up = Projector.catch_up

    def spied(self, *args, **kwargs):
        seen.append((gc.get_threshold()[2], gc.get_freeze_count()))
        return catch_up(self, *args, **kwargs)

    monkeypatch.setattr(Projector, "catch_up", spied)
    gc.unfreeze()
    before = gc.get_threshold()
    finished = ledger_cli("project", "--until-caught-up")
    assert finished.exit_code == 0, finished.output
    assert seen and seen[-1][0] == OLDEST_EVERY and seen[-1][1] > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


@pytest.mark.parametrize("first", ["a read", "a drop of a table not there"])
def test_a_write_transaction_waits_for_another_writer_whatever_it_does_first(ledger, first):
    """SQLite waits for a write lock held elsewhere (the lock timeout) only for a
    transaction that has read nothing yet; the library's transactions begin with a plain
    ``BEGIN``, so one that read first (a ``SELECT``, or a ``DROP TABLE IF EXISTS`` of a
    table not there, as a rebuild's first transaction runs) and then wrote while another
    connection held the lock was refused at once, "database is locked". A rebuild was
    stopped so beside live writes. The ledger's transactions that commit take the write
    lock as they begin, and wait for it (ADR 0059)."""
    if ledger.settings.is_postgres:
        pytest.skip("PostgreSQL locks rows and tables, not the database")
    db = Database.of(ledger)
    tables = {"t": db.table("stored_events"), "gone": db.table("not_there"), "made": db.table("made_while_locked")}
    other = sqlite3.connect(ledger.settings.sqlite_path(), isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.5, lambda: other.execute("ROLLBACK"))
        release.start()
        with db.transaction(tables) as tx:
            if first == "a read":
                tx.one("SELECT count(*) AS n FROM {t}")
            else:
                tx.run("DROP TABLE IF EXISTS {gone}")
            tx.run("CREATE TABLE {made} (x INTEGER)")
        release.join()
        assert db.existing("made_while_locked")
    finally:
        other.close()
