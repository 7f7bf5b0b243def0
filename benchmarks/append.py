"""Append: commands recorded through the application, and through HTTP by concurrent
clients; the reference is the same number of single-row INSERT transactions of the
same stored bytes, from one plain connection on the same database.

Each family gets ``per_family`` commands: its registration, a referral, then case notes
(the commonest entry in a real record). Through the application they are recorded one
after another (sealing, hash chain, idempotency-free); over HTTP, ``clients`` clients
each work their own families, every request carrying a fresh ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx2
import orjson

from benchmarks.dataset import SECRET
from benchmarks.targets import Target

POLICY, TEAM = "durham-one-point", "north"
ACTOR = {"user_id": "bench-pat", "role": "practitioner", "team": TEAM}
MEMBERS = [
    {"given_name": "Ava", "family_name": "Stone", "date_of_birth": "2016-05-04", "kind": "child"},
    {"given_name": "Cara", "family_name": "Stone", "date_of_birth": "1990-02-03", "kind": "adult"},
]
REFERRAL = {"route": "professional", "reason": "School worried about attendance",
            "referrer_agency": "Hill Primary School"}


def note(i: int) -> dict[str, Any]:
    return {"text": f"Home visit {i}: Ava settled, attendance improving; plan reviewed with Cara"}


def commands_of(per_family: int) -> list[tuple[str, dict[str, Any]]]:
    """The commands after registration: a referral, then case notes."""
    return [("ReferralReceived", REFERRAL)] + [("CaseNoteRecorded", note(i)) for i in range(per_family - 2)]


def open_ledger(settings: Any) -> Any:
    """The phase's Ledger, with the benchmark's team in the team directory."""
    from ledger.application import Ledger

    ledger = Ledger(settings)
    if ledger.teams.get(TEAM) is None:
        ledger.teams.add(TEAM, name="North locality", by="benchmark")
    return ledger


def through_application(tgt: Target, families: int, per_family: int) -> dict[str, Any]:
    """Commands/s recorded with ``Ledger.register_family`` and ``Ledger.record``."""

    ledger = open_ledger(tgt.settings("append"))
    try:
        steps = commands_of(per_family)
        started = time.perf_counter()
        members = [{**m, "date_of_birth": date.fromisoformat(m["date_of_birth"])} for m in MEMBERS]
        for _ in range(families):
            family = ledger.register_family(policy=POLICY, team=TEAM, members=members, actor=ACTOR)
            for type_name, fields in steps:
                ledger.record(family.family_id, type_name, _filled(type_name, fields), actor=ACTOR)
        seconds = time.perf_counter() - started
    finally:
        ledger.close()
    commands = families * per_family
    return {"commands": commands, "seconds": seconds, "rate": commands / seconds}


def by_family_length(tgt: Target, lengths: tuple[int, ...], samples: int) -> dict[int, float]:
    """Milliseconds per command (a case note, recorded with the read models projected
    inline, as the API does) on one family as its record grows to each of ``lengths``
    events: the median of ``samples`` commands at each length."""
    from statistics import median

    from projections.projector import Projector

    ledger = open_ledger(tgt.settings("long_family"))
    try:
        projector = Projector(ledger)
        ledger.listeners.append(lambda recorded: projector.catch_up(covering=recorded.position))
        members = [{**m, "date_of_birth": date.fromisoformat(m["date_of_birth"])} for m in MEMBERS]
        family_id = ledger.register_family(policy=POLICY, team=TEAM, members=members, actor=ACTOR).family_id
        ledger.record(family_id, "ReferralReceived", _filled("ReferralReceived", REFERRAL), actor=ACTOR)
        size, found = 2, {}
        for length in sorted(lengths):
            timings = []
            while size < length + samples:
                fields = _filled("CaseNoteRecorded", note(size))
                started = time.perf_counter()
                ledger.record(family_id, "CaseNoteRecorded", fields, actor=ACTOR)
                if size >= length:
                    timings.append(time.perf_counter() - started)
                size += 1
            found[length] = median(timings) * 1000
        return found
    finally:
        ledger.close()


def _filled(type_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A command's event fields as the API's command model gives them (generated ids and
    defaults filled in): the same fields an HTTP command would record."""
    from api.models import COMMAND_MODELS

    return COMMAND_MODELS[type_name].model_validate({"type": type_name, **fields}).split()[1]


def reference_inserts(tgt: Target, phase: str) -> dict[str, Any]:
    """Single-row INSERT transactions of the phase's stored event rows (the same bytes),
    one plain autocommit connection, into a table shaped like the events table."""
    table = tgt.events_table()
    with tgt.plain(phase) as conn:
        rows = conn.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "
                            f"ORDER BY {tgt.position_column()}").fetchall()
        conn.execute("DROP TABLE IF EXISTS bench_reference")
        kind = "uuid" if tgt.kind == "postgres" else "TEXT"
        blob = "bytea" if tgt.kind == "postgres" else "BLOB"
        conn.execute(f"CREATE TABLE bench_reference (originator_id {kind} NOT NULL, originator_version BIGINT "
                     f"NOT NULL, topic TEXT, state {blob}, PRIMARY KEY (originator_id, originator_version))")
        insert = tgt.mark("INSERT INTO bench_reference VALUES (?,?,?,?)")
        started = time.perf_counter()
        for row in rows:
            conn.execute(insert, tuple(row))  # autocommit: one transaction per row
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_reference")
    return {"inserts": len(rows), "seconds": seconds, "rate": len(rows) / seconds if seconds else 0.0}


# --- over HTTP -----------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def through_http(tgt: Target, families: int, per_family: int, clients: int, *, phase: str = "http",
                 projections: str = "inline", app: str = "api.main:app", api_processes: int = 1) -> dict[str, Any]:
    """Commands/s, p50 and p99 latency with ``clients`` concurrent clients against one
    ``uvicorn`` API process (or ``api_processes``, as ``ledger serve --workers`` runs them on
    PostgreSQL; the peak memory is then the supervisor's only), and its peak memory.

    ``projections="worker"``: the API process leaves the read models to a ``ledger project``
    process running beside it (``LEDGER_PROJECTIONS=worker``, ADR 0011) on the same
    cores; ``catch_up_s`` is how long the worker took, after the last command was
    answered, to bring every read model to the log's end. ``app``: another ASGI app to
    drive instead: the ceilings ``benchmarks.empty_api:app`` (an endpoint that does nothing)
    and ``benchmarks.library_api:app`` (the library's own command, nothing of the ledger's)."""
    settings = tgt.settings(phase)
    open_ledger(settings).close()  # the tables made, the team known, before the API starts
    env = {**os.environ, "LEDGER_DATA_DIR": str(settings.data_dir), "LEDGER_JWT_SECRET": SECRET,
           "LEDGER_MASTER_KEYS": settings.master_keys, "LEDGER_DATABASE_SCHEMA": settings.database_schema,
           "LEDGER_DATABASE_URL": settings.database_url or "", "LEDGER_PROJECTIONS": projections}
    root = Path(__file__).resolve().parent.parent
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log",
         *(["--workers", str(api_processes)] if api_processes > 1 else [])],
        env=env, cwd=root)
    worker = None
    caught_up = None
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_up(base, server)
        if projections == "worker":
            worker = subprocess.Popen([sys.executable, "-m", "cli", "project"], env=env, cwd=root,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        latencies, seconds = asyncio.run(_drive(base, families, per_family, clients))
        if worker is not None:
            caught_up = _caught_up(settings, time.perf_counter(), worker)
        peak = _peak_rss_kb(server.pid)
    finally:
        for process in (worker, server):
            if process is not None:
                _stop(process)
    latencies.sort()
    found = {"commands": len(latencies), "seconds": seconds, "rate": len(latencies) / seconds,
             "p50_ms": _pct(latencies, 50) * 1000, "p99_ms": _pct(latencies, 99) * 1000,
             "clients": clients, "api_peak_rss_mb": peak / 1024}
    if caught_up is not None:
        found["catch_up_s"] = caught_up
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _caught_up(settings: Any, since: float, worker: subprocess.Popen[bytes], timeout: float = 600) -> float:
    """Seconds from ``since`` until every read model has reached the log's end."""
    from ledger.application import Ledger
    from projections.projector import Projector

    ledger = Ledger(settings)
    try:
        projector = Projector(ledger)
        end = ledger.recorder.max_notification_id() or 0
        while min(projector.positions().values()) < end:
            if worker.poll() is not None:
                raise RuntimeError(f"the projection worker exited with {worker.returncode}")
            if time.perf_counter() - since > timeout:
                raise RuntimeError(f"the projection worker did not catch up within {timeout:.0f} s")
            time.sleep(0.05)
        return time.perf_counter() - since
    finally:
        ledger.close()


def _wait_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API process exited with {server.returncode}")
        try:
            if httpx2.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API process did not answer /health within 60 s")


async def _drive(base: str, families: int, per_family: int, clients: int) -> tuple[list[float], float]:
    """Drive the commands with ``clients`` concurrent clients, each on its own kept-alive
    connection (aiohttp: about 0.13 ms of the client's CPU a request here, against 1.5 ms
    for httpx, so the load generator leaves the API process its core; ADR 0008,
    docs/benchmarks.md)."""
    import aiohttp

    from ledger.tokens import mint

    headers = {"Authorization": f"Bearer {mint(SECRET, sub='bench-pat', role='practitioner', team=TEAM)}",
               "Content-Type": "application/json"}
    steps = [(type_name, orjson.dumps({"type": type_name, **fields})) for type_name, fields in commands_of(per_family)]
    registered = itertools.count()

    def registration() -> bytes:
        """A family whose child is no other's (the same name and date of birth would be
        answered 409, a possible duplicate): the child's given name numbered."""
        n = next(registered)
        members = [{**MEMBERS[0], "given_name": f"Ava {n}"}, *MEMBERS[1:]]
        return orjson.dumps({"policy": POLICY, "team": TEAM, "members": members})
    latencies: list[float] = []
    shares = [families // clients + (1 if i < families % clients else 0) for i in range(clients)]

    async def post(session: aiohttp.ClientSession, path: str, body: bytes) -> dict[str, Any]:
        started = time.perf_counter()
        async with session.post(path, data=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}) as r:
            answer = await r.read()
            latencies.append(time.perf_counter() - started)
            if r.status != 201:
                raise RuntimeError(f"{path}: {r.status} {answer.decode(errors='replace')}")
        return orjson.loads(answer)  # type: ignore[no-any-return]

    async def worker(share: int) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            for _ in range(share):
                family = await post(session, "/families", registration())
                for _type_name, body in steps:
                    await post(session, f"/families/{family['family_id']}/commands", body)

    started = time.perf_counter()
    await asyncio.gather(*(worker(share) for share in shares if share))
    return latencies, time.perf_counter() - started


def _pct(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]
