"""Fixtures, and the level each test runs at: on one database or on every database.

Storage-neutral tests (validation, authorisation, pack rules over HTTP, response shapes,
export formatting, chronology wording...) run on one database, SQLite. Tests of behaviour
that depends on storage (concurrency, transactions, the event store, snapshots, the
projector and its tracking, tamper evidence and erasure of stored bytes, faults,
quarantine, integrity, read-model queries and rebuilds, PostgreSQL-only code paths) run
on SQLite and on PostgreSQL. Each test module says which it is with a module-level
``pytestmark``; a test may override its module with its own mark (the closest mark wins):

    pytestmark = pytest.mark.storage        # every database (SQLite and PostgreSQL)
    pytestmark = pytest.mark.one_database   # one database: SQLite (the default, unmarked)

The databases are those of ``--databases`` (default ``sqlite,postgres``): a ``storage``
test runs on each, a ``one_database`` test on the first. ``--databases=postgres`` runs
the whole suite on PostgreSQL only, ``--databases=sqlite`` on SQLite only (and skips the
tests that need PostgreSQL itself); ``--every-database`` runs every test on each database,
as the whole matrix (a nightly run). See docs/testing.md.

SQLite gets a fresh file in the test's tmp_path (in memory: on /dev/shm, where there is
one). PostgreSQL gets one fresh database per test run (``ledger_test_<random>``, dropped
at the end) and a fresh schema per test, so no test touches data that is not its own.
Without CI=true, a missing PostgreSQL server skips the PostgreSQL half with the reason; in
CI it fails.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.application import Ledger
from ledger.settings import Settings
from ledger.tokens import mint
from tests.registration import post_family

PG_ADMIN_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "test-signing-key-not-for-production-use-0123456789"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
"""The moment every test's ledger starts at (Tuesday 24 November 2026, noon): no test
depends on the day it runs."""


class FixedClock:
    """The application's clock in tests: it starts at a fixed moment and moves on with the
    time the test takes (so events recorded one after another are stamped in order, as
    they are in service); ``set`` moves it to another moment."""

    def __init__(self, start: datetime = NOW) -> None:
        self.set(start)

    def set(self, moment: datetime) -> None:
        self.start, self.t0 = moment, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return str(e).strip().splitlines()[0]


@pytest.fixture(scope="session")
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    if "postgres" not in selected_databases(request.config):
        pytest.skip("PostgreSQL is not among --databases")
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    name = f"ledger_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


DATABASES = ("sqlite", "postgres")
TMPFS = "/dev/shm"
LEVELS = ("storage", "one_database")
"""The marks that say which level a test runs at (docs/testing.md)."""
_SELECTED = pytest.StashKey[tuple[str, ...]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ledger", "databases (docs/testing.md)")
    group.addoption("--databases", default=",".join(DATABASES), metavar="NAMES",
                    help="comma-separated databases to test on (default: sqlite,postgres): tests marked "
                         "storage run on each, the others on the first")
    group.addoption("--every-database", action="store_true",
                    help="run every test that opens a database on each of --databases, storage-neutral "
                         "ones too (the whole matrix, for a nightly run)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "storage: behaviour that depends on storage: runs on each database "
                                       "of --databases (SQLite and PostgreSQL)")
    config.addinivalue_line("markers", "one_database: storage-neutral: runs on one database, the first of "
                                       "--databases (SQLite); the default for unmarked tests")
    names = [n.strip() for n in config.getoption("--databases").split(",") if n.strip()]
    unknown = sorted(set(names) - set(DATABASES))
    if unknown or not names:
        raise pytest.UsageError(f"--databases: {unknown or names} not among {', '.join(DATABASES)}")
    config.stash[_SELECTED] = tuple(dict.fromkeys(names))
    # The tests' folders (tmp_path, so every SQLite file) in memory where the machine has a
    # tmpfs: on the disk each commit waited for an fsync, and a test's ledger made its tables
    # in about 0.15 s instead of 0.03. Nothing here tests durability after a power cut; what
    # SQLite does (SQL, transactions, locks, WAL) is the same. --basetemp or
    # PYTEST_DEBUG_TEMPROOT, given, win.
    if config.option.basetemp is None and "PYTEST_DEBUG_TEMPROOT" not in os.environ \
            and os.path.isdir(TMPFS) and os.access(TMPFS, os.W_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = TMPFS


def selected_databases(config: pytest.Config) -> tuple[str, ...]:
    return config.stash[_SELECTED]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that opens a database (through ``database``: ``settings``, ``ledger``,
    ``client``... or a module's own fixture) runs on each selected database if its closest
    level mark is ``storage`` (or with ``--every-database``), else on the first only."""
    if "database" not in metafunc.fixturenames:
        return
    level = next((m.name for m in metafunc.definition.iter_markers() if m.name in LEVELS), "one_database")
    names = selected_databases(metafunc.config)
    every = level == "storage" or metafunc.config.getoption("--every-database")
    metafunc.parametrize("database", names if every else names[:1], indirect=True, scope="module")


@pytest.fixture(scope="module")
def database(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the database this test runs on (see ``pytest_generate_tests``)."""
    return str(request.param)


def settings_for(database: str, data_dir: Any, request: pytest.FixtureRequest, **extra: Any) -> Settings:
    """Settings for a fresh ledger on ``database``: a new SQLite file in ``data_dir``, or
    a new schema of the run's PostgreSQL database."""
    common = {"data_dir": data_dir, "jwt_secret": SECRET, **extra}
    if database == "sqlite":
        return Settings(**common)
    url = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return Settings(**{"pool_size": 12, **common}, database_url=url, database_schema=schema)


@pytest.fixture
def settings(database: str, request: pytest.FixtureRequest, tmp_path: Any) -> Settings:
    return settings_for(database, tmp_path / "data", request)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


TEAMS = {"north": "North locality", "south": "South locality", "east": "East locality", "west": "West locality"}
"""The team directory every test database starts with."""


def open_ledger(settings: Settings, clock: FixedClock | None = None) -> Ledger:
    """A Ledger on the test's database, on a fixed clock, with the tests' teams known."""
    app = Ledger(settings, clock=clock or FixedClock())
    for team_id, name in TEAMS.items():
        if app.teams.get(team_id) is None:
            app.teams.add(team_id, name=name, by="test-setup")
    return app


@pytest.fixture
def ledger(settings: Settings, clock: FixedClock) -> Iterator[Ledger]:
    app = open_ledger(settings, clock)
    yield app
    app.close()


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    with TestClient(create_app(ledger), raise_server_exceptions=False) as c:
        yield c


def token(role: str = "practitioner", sub: str = "pat", team: str | None = "north", **kw: Any) -> str:
    return mint(SECRET, sub=sub, role=role, team=team, **kw)


def auth(role: str = "practitioner", sub: str = "pat", team: str | None = "north") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, sub, team)}"}


PRACTITIONER = auth("practitioner", "pat")
SUPERVISOR = auth("supervisor", "sam")
MANAGER = auth("manager", "meg")
AUDITOR = auth("auditor", "ada", None)
"""Reads every family, whatever team holds it (and records nothing)."""

CHILD_DOB = date(2016, 5, 4)
BABY_DOB = date(2026, 3, 1)


def register(client: TestClient, policy: str = "durham-one-point", team: str = "north") -> dict[str, Any]:
    response = post_family(client, headers=PRACTITIONER, json={
        "policy": policy, "team": team,
        "members": [
            {"given_name": "Ava", "family_name": "Stone", "date_of_birth": CHILD_DOB.isoformat(), "kind": "child"},
            {"given_name": "Ben", "family_name": "Stone", "date_of_birth": BABY_DOB.isoformat(), "kind": "child"},
            {"given_name": "Cara", "family_name": "Stone", "date_of_birth": "1990-02-03", "kind": "adult"},
        ],
    })
    assert response.status_code == 201, response.text
    return response.json()


def command(client: TestClient, family_id: str, body: dict[str, Any], headers: dict[str, str] | None = None,
            **extra_headers: str) -> Any:
    return client.post(f"/families/{family_id}/commands", json=body,
                       headers={**(headers or PRACTITIONER), **extra_headers})


def version(client: TestClient, family_id: str) -> int:
    return client.get(f"/families/{family_id}", headers=AUDITOR).json()["version"]


def deadlines(client: TestClient, family_id: str, as_of: str,
              headers: dict[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """GET /families/{id}/deadlines?as_of=..., as {rule id: [its clocks]} (in due order)."""
    response = client.get(f"/families/{family_id}/deadlines", params={"as_of": as_of}, headers=headers or PRACTITIONER)
    assert response.status_code == 200, response.text
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for row in response.json()["deadlines"]:
        by_rule.setdefault(row["rule"], []).append(row)
    return by_rule


def ok(client: TestClient, family_id: str, body: dict[str, Any],
       headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Record a command that must be accepted; its 201 body."""
    r = command(client, family_id, body, headers)
    assert r.status_code == 201, (body.get("type"), r.text)
    return r.json()  # type: ignore[no-any-return]


def close_episode(client: TestClient, family_id: str) -> None:
    """Close the family's open Durham episode in the pack's order: proposed, authorised, the
    family survey sent, closed."""
    for headers, body in ((PRACTITIONER, {"type": "ClosureProposed", "reason": "outcomes_met"}),
                          (MANAGER, {"type": "ClosureAuthorised"}),
                          (PRACTITIONER, {"type": "DocumentRecorded", "document": "family-survey"}),
                          (PRACTITIONER, {"type": "EpisodeClosed", "reason": "outcomes_met"})):
        ok(client, family_id, body, headers)


def refused(client: TestClient, family_id: str, body: dict[str, Any], headers: dict[str, str] | None = None,
            status: int = 409, contains: str = "", **extra_headers: str) -> dict[str, Any]:
    """Record a command that must be refused: the status, a problem+json body saying
    what is wrong, and nothing recorded (the family's version is unchanged)."""
    before = version(client, family_id)
    r = command(client, family_id, body, headers, **extra_headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert contains in problem["detail"], problem["detail"]
    assert version(client, family_id) == before, "a refused command must record nothing"
    return problem  # type: ignore[no-any-return]


def flagged(client: TestClient, family_id: str, body: dict[str, Any], headers: dict[str, str] | None = None,
            rule: str = "", contains: str = "") -> dict[str, Any]:
    """Record a command that breaks a good-practice ordering rule of the pack: it is
    recorded (201: a system of record records what happened) and the breach is flagged on
    the family's deadlines, as a ``breach`` row started by the entry and in ``breaches``,
    naming the rule and its seed lines. The 201 body."""
    r = command(client, family_id, body, headers)
    assert r.status_code == 201, (body.get("type"), r.text)
    event_id = r.json()["event_id"]
    found = client.get(f"/families/{family_id}/deadlines", headers=AUDITOR).json()
    breaches = [b for b in found["breaches"] if b["event_id"] == event_id]
    assert rule in [b["rule"] for b in breaches], (rule, found["breaches"])
    breach = next(b for b in breaches if b["rule"] == rule)
    assert contains in breach["reason"], breach["reason"]
    assert breach["on_breach"] == "flag" and breach["source"]["seed"] and breach["source"]["lines"]
    assert any(row["state"] == "breach" and row["rule"] == rule and row["started_by"] == event_id
               for row in found["deadlines"])
    return r.json()  # type: ignore[no-any-return]


def breaches(client: TestClient, family_id: str, event_id: str) -> list[str]:
    """The ordering rules the family's deadlines show as broken by one entry."""
    found = client.get(f"/families/{family_id}/deadlines", headers=AUDITOR).json()["breaches"]
    return sorted(b["rule"] for b in found if b["event_id"] == event_id)


def not_flagged(client: TestClient, family_id: str, body: dict[str, Any],
                headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Record a command that must be accepted and breaks no ordering rule."""
    r = command(client, family_id, body, headers)
    assert r.status_code == 201, (body.get("type"), r.text)
    event_id = r.json()["event_id"]
    found = client.get(f"/families/{family_id}/deadlines", headers=AUDITOR).json()
    assert not [b for b in found["breaches"] if b["event_id"] == event_id], found["breaches"]
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def ledger_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``ledger ...`` in this process, on the test's database."""
    from ledger.settings import get_settings

    monkeypatch.setenv("LEDGER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LEDGER_JWT_SECRET", SECRET)
    if settings.is_postgres:
        monkeypatch.setenv("LEDGER_DATABASE_URL", settings.database_url or "")
        monkeypatch.setenv("LEDGER_DATABASE_SCHEMA", settings.database_schema)
    else:
        monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    get_settings.cache_clear()

    from typer.testing import CliRunner

    from cli.main import app as cli

    def run(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(cli, list(args), input=input)

    yield run
    get_settings.cache_clear()
