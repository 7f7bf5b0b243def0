"""The reference feed consumer (examples/feed_consumer.py; issue 23, item 7; docs/feed.md).

A council's integration team copies it: it pages ``/feed`` from a cursor it stores in
its own SQLite file, in the same transaction as the page's rows, and keeps each family's
members and entries as corrected, forgetting what an erasure says to forget. Here it
runs as a separate process against a served ledger (the demo's families, a family of our
own with corrections of an entry's time and of members' details, a birth, erasures
before and after the consumer has read the names), is killed with SIGKILL after its
first page, started again, and must end with the rows the ledger's own API shows. A
cursor the ledger never gave stops it, naming the ledger's last position.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from demo import generate
from ledger.application import Ledger
from tests.conftest import AUDITOR, ok, open_ledger, register, settings_for, token
from tests.test_layers import RANK

# Storage-neutral (docs/testing.md): the consumer reads the feed over HTTP; the feed's
# storage is tested in tests/test_feed.py on every database.
pytestmark = pytest.mark.one_database

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "feed_consumer.py"
UNTIL = datetime(2026, 11, 24, tzinfo=timezone.utc)
FULL = token("service", "etl-full", None, scope="feed:full")
"""A projection service granted the full feed (``ledger token --role service --scope feed:full``)."""
PSEUDONYMISED = token("service", "etl", None)
ADMIN = {"Authorization": f"Bearer {token('admin', 'adam', None)}"}
ERASE = {"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"}
PAGE = "25"
"""Events a page: small, so that the first page is a small part of the whole."""


# --- the ledger, served -------------------------------------------------------------------------


class Gate:
    """The app with a gate before ``/feed``: while it is shut, a read after position 0
    waits at it (so a consumer can be caught after its first page), and every read's
    ``after`` is noted (``asked``)."""

    def __init__(self, app: Any) -> None:
        self.app, self.asked, self.open = app, [], threading.Event()
        self.open.set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/feed":
            after = int(parse_qs(scope["query_string"].decode()).get("after", ["0"])[0])
            self.asked.append(after)
            while after and not self.open.is_set():
                await asyncio.sleep(0.01)
        await self.app(scope, receive, send)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free port of 127.0.0.1, on a thread; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = server.force_exit = True  # not waiting for a killed consumer's long poll
        thread.join(10)
        sock.close()


@dataclass
class World:
    ledger: Ledger
    client: TestClient
    gate: Gate
    url: str
    stones: dict[str, str] = field(default_factory=dict)
    erased_later: str = ""


@pytest.fixture(scope="module")
def world(database: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The demo's four families (their own corrections; one closed family erased before
    any consumer reads it), and the Stones: a child born, an entry's time corrected twice,
    a member's name and date of birth corrected, a birth date corrected."""
    settings = settings_for(database, tmp_path_factory.mktemp("consumer"), request)
    ledger = open_ledger(settings)
    generate(settings, families=4, seed=7, until=UNTIL)
    app = create_app(ledger)
    client = TestClient(app, raise_server_exceptions=False)
    closed = [str(f) for f in ledger.family_ids() if ledger.family(f).current_episode
              and ledger.family(f).current_episode["status"] != "open"]
    assert len(closed) >= 2
    erased = client.post(f"/families/{closed[0]}/erasure", headers=ADMIN, json=ERASE)
    assert erased.status_code == 201, erased.text
    gate = Gate(app)
    with serving(gate) as url:
        world = World(ledger, client, gate, url, stones=the_stones(client), erased_later=closed[1])
        yield world
    ledger.close()


def the_stones(client: TestClient) -> dict[str, str]:
    fam = register(client)
    fid = fam["family_id"]
    ava, ben, cara = (m["member_id"] for m in fam["members"])
    baby = str(uuid.uuid4())
    registration = client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"][0]["event_id"]
    ok(client, fid, {"type": "MemberAdded", "member_id": baby, "given_name": "Baby", "family_name": "Stone",
                     "kind": "unborn", "expected_date": "2026-11-30", "occurred_at": "2026-11-02T09:00:00+00:00"})
    born = ok(client, fid, {"type": "ChildBorn", "member_id": baby, "date_of_birth": "2026-11-20",
                            "given_name": "Isla", "occurred_at": "2026-11-21T09:00:00+00:00"})
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "school worried about Ava",
                     "occurred_at": "2026-11-05T09:00:00+00:00"})
    note = ok(client, fid, {"type": "CaseNoteRecorded", "text": "Ava loves drawing", "about": [ava],
                            "occurred_at": "2026-11-07T09:00:00+00:00"})
    for body in (
        {"corrects": note["event_id"], "changes": {"occurred_at": "2026-11-06T10:30:00+01:00"}, "reason": "typed late"},
        {"corrects": note["event_id"], "changes": {"occurred_at": "2026-11-04T11:30:00Z", "text": "Ava paints"},
         "reason": "the visit was on the Wednesday"},
        {"corrects": registration, "member": ava, "changes": {"given_name": "Eva", "date_of_birth": "2016-05-05"},
         "reason": "spelt wrong at registration"},
        {"corrects": born["event_id"], "changes": {"date_of_birth": "2026-11-19"}, "reason": "born before midnight"},
    ):
        ok(client, fid, {"type": "EntryCorrected", **body})
    return {"family_id": fid, "ava": ava, "ben": ben, "cara": cara, "baby": baby, "note": note["event_id"],
            "born": born["event_id"]}


# --- the consumer, run ------------------------------------------------------------------------


def consumer(url: str, bearer: str, db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(EXAMPLE), "--url", url, "--token", bearer, "--db", str(db),
                             "--limit", PAGE, "--quiet", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def drained(url: str, bearer: str, db: Path) -> subprocess.CompletedProcess[str]:
    """The consumer run with ``--once``, to its end."""
    process = consumer(url, bearer, db, "--once")
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def cursor(db: Path) -> int:
    """The consumer's stored cursor (0 before its first page is committed)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            found = conn.execute("SELECT position FROM cursor").fetchone()
            return int(found[0]) if found else 0
    except sqlite3.OperationalError:  # not made yet
        return 0


def the_consumers_rows(db: Path) -> dict[str, dict[str, Any]]:
    """Each family the consumer holds: its members and its entries, in occurred order."""
    with sqlite3.connect(db) as conn:
        families = [f for (f,) in conn.execute("SELECT family_id FROM families")]
        return {f: {
            "members": {m: (given, family, dob, kind) for m, given, family, dob, kind in conn.execute(
                "SELECT member_id, given_name, family_name, date_of_birth, kind FROM members WHERE family_id = ?",
                (f,))},
            "entries": [tuple(e) for e in conn.execute(
                "SELECT event_id, type, occurred_at FROM entries WHERE family_id = ? ORDER BY occurred_at, version",
                (f,))],
        } for f in families}


def the_ledgers_rows(world: World) -> dict[str, dict[str, Any]]:
    """Each family as the ledger's API shows it: ``/families/{id}``'s members (an erased
    name read as not known) and ``/families/{id}/chronology``'s entries."""
    def known(value: Any) -> Any:
        return None if value == "[erased]" else value

    found = {}
    for family_id in map(str, world.ledger.family_ids()):
        family = world.client.get(f"/families/{family_id}", headers=AUDITOR).json()
        chronology = world.client.get(f"/families/{family_id}/chronology", headers=AUDITOR).json()
        assert chronology["total"] == len(chronology["entries"])
        found[family_id] = {
            "members": {m["member_id"]: (known(m["given_name"]), known(m["family_name"]), m["date_of_birth"],
                                         m["kind"]) for m in family["members"]},
            "entries": [(e["event_id"], e["type"], e["occurred_at"]) for e in chronology["entries"]],
        }
    return found


# --- the tests -----------------------------------------------------------------------------------


def test_a_consumer_killed_after_a_page_resumes_there_and_ends_with_the_ledgers_own_rows(world, tmp_path):
    db = tmp_path / "families.sqlite"
    world.gate.open.clear()  # a read after the first page waits
    first = consumer(world.url, FULL, db, "--wait", "5")  # the run-for-ever mode
    try:
        deadline = time.monotonic() + 30
        while not (cursor(db) and world.gate.asked[-1] == cursor(db)):  # a page committed, the next asked for
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the consumer committed no page"
            time.sleep(0.01)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        world.gate.open.set()
    after_one_page = cursor(db)
    assert 0 < after_one_page < world.ledger.recorder.max_notification_id()

    asked = len(world.gate.asked)
    second = drained(world.url, FULL, db)
    assert second.returncode == 0, second.stderr
    assert world.gate.asked[asked] == after_one_page, "it resumes from its stored cursor, not from 0"
    assert the_consumers_rows(db) == the_ledgers_rows(world)
    stones = the_consumers_rows(db)[world.stones["family_id"]]
    assert stones["members"][world.stones["ava"]] == ("Eva", "Stone", "2016-05-05", "child")
    assert stones["members"][world.stones["baby"]] == ("Isla", "Stone", "2026-11-19", "child")
    assert (world.stones["note"], "CaseNoteRecorded", "2026-11-04T11:30:00.000000Z") in stones["entries"]
    assert any(name is not None for name, *_ in the_consumers_rows(db)[world.erased_later]["members"].values())

    # Then: a family the consumer holds by name is erased, an entry it holds corrected again,
    # a member joins and their name is put right.
    fid = world.stones["family_id"]
    assert world.client.post(f"/families/{world.erased_later}/erasure", headers=ADMIN, json=ERASE).status_code == 201
    ok(world.client, fid, {"type": "EntryCorrected", "corrects": world.stones["note"], "reason": "checked the diary",
                           "changes": {"occurred_at": "2026-11-05T14:00:00Z"}})
    dan = str(uuid.uuid4())
    added = ok(world.client, fid, {"type": "MemberAdded", "member_id": dan, "given_name": "Dan",
                                   "family_name": "Stone", "kind": "adult", "date_of_birth": "1985-01-02"})
    ok(world.client, fid, {"type": "EntryCorrected", "corrects": added["event_id"], "member": dan,
                           "changes": {"given_name": "Daniel"}, "reason": "full name"})
    third = drained(world.url, FULL, db)
    assert third.returncode == 0, third.stderr
    assert cursor(db) == world.ledger.recorder.max_notification_id()
    assert the_consumers_rows(db) == the_ledgers_rows(world)
    erased = the_consumers_rows(db)[world.erased_later]
    assert erased["members"] and all(m[:3] == (None, None, None) for m in erased["members"].values())
    assert the_consumers_rows(db)[fid]["members"][dan] == ("Daniel", "Stone", "1985-01-02", "adult")

    # The pseudonymised feed builds the same entries, with no name or date of birth, and
    # a model built from one view is not carried on with a token reading the other.
    plain = tmp_path / "pseudonymised.sqlite"
    assert drained(world.url, PSEUDONYMISED, plain).returncode == 0
    full, pseudonymised = the_consumers_rows(db), the_consumers_rows(plain)
    assert {f: r["entries"] for f, r in pseudonymised.items()} == {f: r["entries"] for f, r in full.items()}
    for f, rows in pseudonymised.items():
        assert sorted(m[3] for m in rows["members"].values()) == sorted(m[3] for m in full[f]["members"].values())
        assert all(m[:3] == (None, None, None) for m in rows["members"].values())
        assert not set(rows["members"]) & set(full[f]["members"]), "member ids are pseudonyms"
    mixed = drained(world.url, PSEUDONYMISED, db)
    assert mixed.returncode == 1 and "built from the full feed" in mixed.stderr


def test_running_on_it_waits_for_the_next_event_and_applies_it_at_once(world, tmp_path):
    db = tmp_path / "families.sqlite"
    running = consumer(world.url, FULL, db, "--wait", "20")
    try:
        last = world.ledger.recorder.max_notification_id()
        deadline = time.monotonic() + 30
        while cursor(db) != last:
            assert running.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        asked, recorded = len(world.gate.asked), time.monotonic()
        noted = ok(world.client, world.stones["family_id"], {"type": "CaseNoteRecorded", "text": "Phoned Cara"})
        while cursor(db) != noted["position"]:
            assert running.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        applied = time.monotonic() - recorded
    finally:
        running.send_signal(signal.SIGTERM)
        running.wait()
    assert applied < 5, "the waiting read answered when the event was recorded, not when its 20 s ran out"
    assert len(world.gate.asked) - asked <= 2, "one read waited for the event: no polling"
    assert noted["event_id"] in {e[0] for e in the_consumers_rows(db)[world.stones["family_id"]]["entries"]}


def test_a_cursor_the_ledger_never_gave_stops_the_consumer_naming_the_last_position(
        world, database, request, tmp_path):
    """A consumer restored against the wrong database: another ledger, with one family."""
    db = tmp_path / "families.sqlite"
    assert drained(world.url, FULL, db).returncode == 0
    stored = cursor(db)
    other = open_ledger(settings_for(database, tmp_path / "other", request))
    try:
        with TestClient(create_app(other)) as client:
            register(client)
        last = other.recorder.max_notification_id()
        with serving(create_app(other)) as url:
            stopped = drained(url, FULL, db)
    finally:
        other.close()
    assert stopped.returncode == 3
    assert f"refused cursor {stored}: its last position is {last}" in stopped.stderr
    assert cursor(db) == stored


def test_a_refused_token_or_a_ledger_not_answering_stops_a_run_once_with_the_reason(world, tmp_path):
    db = tmp_path / "families.sqlite"
    refused = drained(world.url, "not-a-token", db)
    assert refused.returncode == 1 and "refused the request (401)" in refused.stderr
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        down = drained(f"http://127.0.0.1:{closed.getsockname()[1]}", FULL, db)
    assert down.returncode == 1 and "unavailable" in down.stderr and "run again later" in down.stderr
    assert cursor(db) == 0


def test_an_event_type_it_does_not_know_is_an_entry_and_stops_nothing():
    """Forward compatibility: a type added to the ledger after the consumer was written
    is kept as an entry (its envelope), its data unread."""
    example = _example()
    db = example.open_model(":memory:")
    family = str(uuid.uuid4())
    envelope = {"family_id": family, "occurred_at": "2026-11-24T09:00:00.000000Z",
                "recorded_at": "2026-11-24T09:00:00.000000Z", "schema_version": 1}
    example.apply_page(db, {"view": "full", "next": 7, "events": [
        {**envelope, "position": 5, "version": 1, "event_id": str(uuid.uuid4()), "type": "FamilyRegistered",
         "data": {"team": "north", "members": [{"member_id": "m1", "given_name": "Ava", "family_name": "Stone",
                                                "kind": "child", "date_of_birth": "2016-05-04"}]}},
        {**envelope, "position": 7, "version": 2, "event_id": "e2", "type": "SomethingNew",
         "data": {"shape": ["anything", {"at": 1}]}},
    ]})
    assert db.execute("SELECT type FROM entries WHERE event_id = 'e2'").fetchone() == ("SomethingNew",)
    assert example.stored_cursor(db) == (7, "full")


def test_the_example_reads_nothing_of_the_ledgers_own_code():
    """It is what a council's integration team copies: the standard library only."""
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    assert not imported & set(RANK)


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("feed_consumer", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
