"""PostgreSQL stopped and restarted under load: clients get 503 problem+json while it is
down (never a 500, never a hang), the service recovers by itself once it is back, and
every command that was acknowledged is in the record afterwards.

The machine's shared PostgreSQL is left alone (other tests use it): each run starts a
private PostgreSQL cluster of its own in a temporary folder on a free port (``initdb`` and
``pg_ctl`` run as the ``postgres`` user, as the tests run as root), and the real service
(``ledger serve``, uvicorn) in a subprocess against it. Four clients post commands over
loopback for about thirteen seconds; two seconds in, the cluster is stopped with ``pg_ctl
stop -m immediate`` (a crash: no clean shutdown, recovery from the WAL), and five seconds
later started again. Without ``initdb`` the test is skipped saying so, except in CI,
where it fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx2
import pytest

from tests.conftest import SECRET, auth
from tests.registration import post_family

# Storage tests (docs/testing.md): lost connections, retries and outages of the database,
# on every database.
pytestmark = pytest.mark.storage

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 4
LOAD_SECONDS = 13.0
DOWN_AT, UP_AT = 2.0, 7.0
"""Seconds into the load when PostgreSQL is stopped, and when it is started again."""
DATABASE_TIMEOUT = 2
"""LEDGER_DATABASE_TIMEOUT for the service: how long a request waits for a connection
before its 503 (a shorter outage than the default 3 s would need to fit several in)."""
CLIENT_TIMEOUT = 15.0
"""No request may take longer than this, outage or not."""
RECOVERY_SECONDS = 15.0
"""How soon after PostgreSQL is back every command must succeed again."""
LOAD_AFTER_UP = 6.0
"""The load goes on at least this long after PostgreSQL is back (its stop and start take
seconds longer than planned on a busy machine, which left 3 s to see a recovery in)."""


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: (not p.startswith(
        "/usr/lib/postgresql/15/"), p))
    return Path(found[0]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A throwaway PostgreSQL cluster owned by the ``postgres`` user, on its own port."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="ledger-faults-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "--no-sync", "--no-instructions")

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
                              timeout=120, cwd=self.dir)
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout}{done.stderr}"
        return done

    def start(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                          "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _pg_bin()
    reason = None
    if bin_dir is None:
        reason = "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql"
    elif shutil.which("runuser") is None:
        reason = "runuser is not available to run initdb as the postgres user"
    elif os.geteuid() != 0:
        reason = "the fault test starts its own PostgreSQL as the postgres user, which needs root"
    else:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            reason = "there is no postgres user to own a private cluster"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the PostgreSQL fault test must run in CI: {reason}")
        pytest.skip(reason)
    assert bin_dir is not None
    cluster = PrivatePostgres(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def add_teams(env: dict[str, str], args: list[str] = (), teams: tuple[str, ...] = ("north", "south")) -> None:  # type: ignore[assignment]
    """``ledger teams add`` for the tests' teams, on the service's database."""
    for team in teams:
        done = subprocess.run([sys.executable, "-m", "cli", "teams", "add", team, "--name", team.title(),
                               *args], env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr


@contextmanager
def ledger_service(args: list[str], env: dict[str, str], log_path: Path,
                   start_timeout: float = 60) -> Iterator[tuple[str, subprocess.Popen[bytes], Any]]:
    """``ledger serve --port <free> ARGS`` in its own process, once it answers /health:
    its base URL, the process and its log (stopped at the end)."""
    port = _free_port()
    log = open(log_path, "w+")  # noqa: SIM115 - the server writes to it until the context's end, then it is closed
    process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port), *args],
                               env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            assert process.poll() is None, _tail(log)
            try:
                if httpx2.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start:\n" + _tail(log)
            time.sleep(0.2)
        yield base, process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def service(private_postgres: PrivatePostgres, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``ledger serve`` against the private cluster, in its own process."""
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data"), "LEDGER_JWT_SECRET": SECRET,
           "LEDGER_POOL_SIZE": "4", "LEDGER_DATABASE_TIMEOUT": str(DATABASE_TIMEOUT)}
    database = ["--database-url", private_postgres.url]
    with ledger_service(database, env, tmp_path / "service.log") as (base, process, log):
        add_teams(env, database)
        yield {"base": base, "process": process, "log": log, "postgres": private_postgres}


def _tail(log: Any, chars: int = 4000) -> str:
    log.flush()
    log.seek(0)
    return str(log.read())[-chars:]


@dataclass
class Outcome:
    client: int
    family_id: str
    key: str
    started: float
    """Seconds since the load began."""
    took: float
    status: int | None
    """None: no HTTP answer (timeout or connection error; see ``error``)."""
    body: dict[str, Any]
    content_type: str = ""
    retry_after: str | None = None
    error: str = ""


def _post_commands(base: str, client: int, family_id: str, began: float, stop: threading.Event,
                   outcomes: list[Outcome], lock: threading.Lock) -> None:
    headers = auth("practitioner", f"worker-{client}")
    with httpx2.Client(base_url=base, headers=headers, timeout=CLIENT_TIMEOUT) as http:
        n = 0
        while not stop.is_set():
            n += 1
            key = f"c{client}-{n}"
            started = time.monotonic()
            try:
                r = http.post(f"/families/{family_id}/commands", headers={"Idempotency-Key": key},
                              json={"type": "CaseNoteRecorded", "text": f"note {key}"})
                body = r.json() if r.content else {}
                outcome = Outcome(client, family_id, key, started - began, time.monotonic() - started, r.status_code,
                                  body, r.headers.get("content-type", ""), r.headers.get("retry-after"))
            except (httpx2.HTTPError, ValueError) as e:
                outcome = Outcome(client, family_id, key, started - began, time.monotonic() - started, None, {},
                                  error=f"{type(e).__name__}: {e}")
                time.sleep(0.1)
            with lock:
                outcomes.append(outcome)
            if outcome.status == 503:
                time.sleep(0.1)  # a client that honours Retry-After would wait longer; keep the pressure on


@pytest.mark.slow
def test_postgres_stopped_under_load_gives_503s_loses_nothing_acknowledged_and_recovers(service):
    base, postgres, process = service["base"], service["postgres"], service["process"]
    families = []
    with httpx2.Client(base_url=base, timeout=CLIENT_TIMEOUT) as http:
        for client in range(CLIENTS):
            headers = auth("practitioner", f"worker-{client}")
            r = post_family(http, headers=headers, json={
                "policy": "durham-one-point", "team": "north",
                "members": [{"given_name": "Ava", "family_name": f"Stone{client}", "kind": "child"}]})
            assert r.status_code == 201, r.text
            fid = r.json()["family_id"]
            r = http.post(f"/families/{fid}/commands", headers=headers,
                          json={"type": "ReferralReceived", "route": "self", "reason": "load"})
            assert r.status_code == 201, r.text
            families.append(fid)

    outcomes: list[Outcome] = []
    lock, stop = threading.Lock(), threading.Event()
    began = time.monotonic()
    threads = [threading.Thread(target=_post_commands, args=(base, c, families[c], began, stop, outcomes, lock))
               for c in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        time.sleep(DOWN_AT)
        postgres.stop("immediate")
        down_at = time.monotonic() - began
        time.sleep(UP_AT - DOWN_AT)
        postgres.start()
        up_at = time.monotonic() - began
        time.sleep(max(LOAD_SECONDS - (time.monotonic() - began), LOAD_AFTER_UP))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=CLIENT_TIMEOUT + 5)
    log = _tail(service["log"])
    if os.environ.get("LEDGER_FAULTS_DEBUG"):
        for o in sorted(outcomes, key=lambda o: o.started):
            print(f"{o.started:6.2f} {o.took:5.2f} {o.client} {o.status} {o.error}")

    # The service never died, never hung, never answered 500.
    assert process.poll() is None, "the service exited:\n" + log
    unanswered = [o for o in outcomes if o.status is None]
    assert not unanswered, f"requests without an HTTP answer: {unanswered[:5]}\n{log}"
    assert max(o.took for o in outcomes) < CLIENT_TIMEOUT
    unexpected = [o for o in outcomes if o.status not in (201, 503)]
    assert not unexpected, f"answers other than 201 and 503: {unexpected[:5]}\n{log}"

    # While it was down, clients were told so: 503 problem+json with Retry-After.
    unavailable = [o for o in outcomes if o.status == 503]
    assert unavailable, f"no 503 while PostgreSQL was down ({down_at:.1f}s to {up_at:.1f}s)"
    for o in unavailable:
        assert o.content_type.startswith("application/problem+json"), o
        assert o.body["status"] == 503 and o.body["detail"], o
        assert o.retry_after, o
    told = [o for o in unavailable if o.started >= down_at]
    assert told, f"no request sent while PostgreSQL was down ({down_at:.1f}s to {up_at:.1f}s) was told so"
    during = [o for o in outcomes if down_at <= o.started and o.started + o.took < up_at]
    assert all(o.status == 503 for o in during), [o for o in during if o.status != 503][:5]
    assert max(o.took for o in told) < DATABASE_TIMEOUT * 2 + 1, "a 503 must come within the pool timeout"

    # It recovered without a restart: after PostgreSQL came back, commands succeed again.
    accepted_after = [o for o in outcomes if o.status == 201 and o.started > up_at]
    assert accepted_after, f"no command succeeded after PostgreSQL came back at {up_at:.1f}s\n{log}"
    recovered = min(o.started for o in accepted_after) - up_at
    assert recovered < RECOVERY_SECONDS, f"took {recovered:.1f}s to recover"
    settled = [o for o in outcomes if o.started > up_at + RECOVERY_SECONDS]
    assert all(o.status == 201 for o in settled), [o for o in settled if o.status != 201][:5]

    # Every acknowledged command is in the record, by its event id, exactly once.
    acknowledged = [o for o in outcomes if o.status == 201]
    assert len(acknowledged) > 20, f"too little load to mean anything: {len(acknowledged)} commands"
    auditor = auth("auditor", "ada", None)
    with httpx2.Client(base_url=base, headers=auditor, timeout=CLIENT_TIMEOUT) as http:
        for fid in families:
            r = http.get(f"/families/{fid}/events")
            assert r.status_code == 200, r.text
            stored = [e["event_id"] for e in r.json()["events"]]
            assert len(stored) == len(set(stored))
            mine = {o.body["event_id"] for o in acknowledged if o.family_id == fid}
            missing = mine - set(stored)
            assert not missing, f"acknowledged but not stored on {fid}: {sorted(missing)[:5]}"
        health = http.get("/health")
        assert health.status_code == 200 and health.json()["position"] >= len(acknowledged)
    print(f"\n{len(outcomes)} requests: {len(acknowledged)} acknowledged, {len(unavailable)} 503 while "
          f"PostgreSQL was down {down_at:.1f}s-{up_at:.1f}s; recovered {recovered:.1f}s after restart "
          f"(pid {process.pid} throughout)")


# -- a lost acknowledgement: the answer says what happened (ADR 0020) -----------------------------


def _connection_lost(ledger: Any, monkeypatch: pytest.MonkeyPatch, *, after_commit: bool) -> None:
    """The next append's connection fails: after its transaction committed (the
    acknowledgement is lost on the way back) or before anything was stored."""
    from eventsourcing.persistence import OperationalError

    insert = ledger.recorder.insert_events
    fired: list[bool] = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        if fired:
            return insert(*args, **kwargs)
        fired.append(True)
        if after_commit:
            insert(*args, **kwargs)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(ledger.recorder, "insert_events", failing)


def test_a_command_whose_acknowledgement_is_lost_after_commit_is_answered_201(client, ledger, monkeypatch):
    from tests.conftest import register

    fid = register(client)["family_id"]
    before = ledger.recorder.max_notification_id()
    _connection_lost(ledger, monkeypatch, after_commit=True)
    r = client.post(f"/families/{fid}/commands", json={"type": "ReferralReceived", "route": "self", "reason": "x"},
                    headers={**auth("practitioner", "pat"), "Idempotency-Key": "lost-ack-1"})
    assert r.status_code == 201, r.text
    assert ledger.recorder.max_notification_id() == before + 1 == r.json()["position"]
    events = client.get(f"/families/{fid}/events", headers=auth("auditor", "ada", None)).json()["events"]
    assert [e["event_id"] for e in events if e["type"] == "ReferralReceived"] == [r.json()["event_id"]]
    # The client's retry with its key gets the same answer and records nothing more.
    again = client.post(f"/families/{fid}/commands", json={"type": "ReferralReceived", "route": "self", "reason": "x"},
                        headers={**auth("practitioner", "pat"), "Idempotency-Key": "lost-ack-1"})
    assert again.status_code == 201 and again.json() == r.json()
    assert ledger.recorder.max_notification_id() == before + 1


def test_a_command_that_was_not_stored_is_answered_503_and_a_retry_records_it_once(client, ledger, monkeypatch):
    from tests.conftest import register

    fid = register(client)["family_id"]
    before = ledger.recorder.max_notification_id()
    _connection_lost(ledger, monkeypatch, after_commit=False)
    body = {"type": "ReferralReceived", "route": "self", "reason": "x"}
    headers = {**auth("practitioner", "pat"), "Idempotency-Key": "lost-1"}
    r = client.post(f"/families/{fid}/commands", json=body, headers=headers)
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] and ledger.recorder.max_notification_id() == before
    again = client.post(f"/families/{fid}/commands", json=body, headers=headers)
    assert again.status_code == 201 and ledger.recorder.max_notification_id() == before + 1


def test_a_write_refused_by_the_database_and_a_failed_read_leave_the_one_connection_usable(
        database, request, tmp_path):
    """The events' insert is one pipeline (BEGIN to COMMIT) and a read ends with a plain
    ROLLBACK (issue 24): an insert the database refuses (a version already taken) or a read
    that fails must still leave the connection out of its aborted transaction, and what it
    had prepared consistent, or the next command on it fails. One connection in the pool,
    so the next command is on that very one."""
    from eventsourcing.persistence import IntegrityError, StoredEvent
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ledger.integrity import verify
    from tests.conftest import command, open_ledger, register, settings_for

    app = open_ledger(settings_for(database, tmp_path / "data", request, pool_size=1))
    try:
        with TestClient(create_app(app), raise_server_exceptions=False) as client:
            fid = register(client)["family_id"]
            body = {"type": "ReferralReceived", "route": "self", "reason": "school"}
            assert command(client, fid, body).status_code == 201
            stored = app.recorder.select_events(UUID(fid))
            for _ in range(3):  # a statement prepared on the connection is used again after the failure
                with pytest.raises(IntegrityError):
                    app.recorder.insert_events([StoredEvent(stored[-1].originator_id, stored[-1].originator_version,
                                                            stored[-1].topic, stored[-1].state)])
                with pytest.raises(Exception, match=r"no_such_table|does not exist"), \
                        app.keys.db.transaction(commit=False) as tx:
                    tx.rows("SELECT * FROM no_such_table")
                r = command(client, fid, {"type": "CaseNoteRecorded", "text": "visit"},
                            **{"Idempotency-Key": uuid.uuid4().hex, **auth("practitioner", "pat")})
                assert r.status_code == 201, r.text
            assert len(app.recorder.select_events(UUID(fid))) == len(stored) + 3
            assert verify(app).ok
    finally:
        app.close()
