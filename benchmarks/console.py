"""``python -m benchmarks.console [--quick] [--database sqlite|postgres|both] [--profile DIR]``

The review console against the JSON API (issue 20, item 12): the family page of a
1,000-event family, and a search over 100,000 families by name and by team, each timed
beside the same read through the API, over real HTTP, on a fixed clock with warm caches.

- **The data.** One long family (about 1,000 events in one open episode: visits, phone
  calls, case notes about a child, attempts, and a correction every hundred entries) and
  100,000 small ones (a registration with two to five members named from the demo's
  lists, and for nine in ten a referral, which opens an episode) in 40 teams, all
  recorded through the real command path (``Ledger.register_family`` and
  ``Ledger.record``, every rule checked) once into a SQLite file in ``--cache``
  (``console-100000-families-1000-40.sqlite``, outside the repository). Each run copies
  the stored rows into a fresh database and brings the read models up to date from them
  with the projector (``ledger project``), so the search reads the rows the read models'
  own code wrote: the caseload rows, the blind person index and the sealed member rows.
- **The reads.** Served by ``uvicorn`` (one process, as ``ledger serve`` runs it) with
  the ledger on a fixed clock; one client on a kept-alive connection (``http.client``),
  the same for both sides; what the client, uvicorn and the app's middleware cost with
  no query is measured as the floor (``GET /``, a redirect). Each sample times the
  console page, then the API's requests for the same content one after another (or the
  other way round: the order alternates): the family page (its first page of 100
  chronology entries, its deadlines folded) against ``GET /families/{id}`` +
  ``/chronology?limit=100`` + ``/deadlines``; a search by two word beginnings (``name=ava sh``)
  against ``GET /families?name=``; a team's open families at a random page of them
  against ``GET /families?team=&status=open&page=``. As an auditor, who reads every
  family, so a search runs over all 100,000.
- **Where the time goes** (``--profile DIR``): afterwards each read is profiled with
  pyinstrument in this process (``profile``), and its time split into the access check,
  the access-log write, the query, the timeline SVG, the template and the JSON encoding.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import random
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks import dataset
from benchmarks.append import _filled, _free_port, _pct, _stop
from benchmarks.targets import DEFAULT_PG_ADMIN, Target, copy_events, target

GOAL_MS = 150.0
"""The issue's goal: each page within 150 ms p99 on this machine."""
PHASE = "console"
SEED = 20


@dataclass(frozen=True)
class Scale:
    families: int  # small families, besides the long one
    long_events: int  # events of the long family
    teams: int
    samples: int  # timed samples of each read (after the warm-up)
    warmup: int


FULL = Scale(100_000, 1_000, 40, 200, 20)
QUICK = Scale(120, 60, 4, 8, 2)


# -- the data set -----------------------------------------------------------------------------

PACK = "durham-one-point"
DUTY = {"user_id": "bench-duty", "role": "supervisor"}
LEAD = {"user_id": "bench-lead", "role": "practitioner"}
WINDOW_DAYS = 3 * 365
"""The small families are registered over the three years before the fixed "today"."""


def team_id(n: int) -> str:
    return f"locality-{n + 1:02d}"


@dataclass(frozen=True)
class Plan:
    """One small family, as the data set records it (the same from the same seed)."""

    index: int
    team: str
    registered_at: datetime
    members: list[dict[str, Any]]
    referred: bool


def plan(index: int, teams: int) -> Plan:
    """The ``index``-th small family: its team, when it was registered, its members (one or
    two adults, one to three children, names from the demo's lists) and whether it was
    referred."""
    from demo.people import BOYS, GIRLS, MEN, SURNAMES, WOMEN

    rng = random.Random(f"{SEED}:{index}")
    registered = dataset.UNTIL - timedelta(days=WINDOW_DAYS) + timedelta(minutes=rng.randrange(WINDOW_DAYS * 1440))
    surname = rng.choice(SURNAMES)
    today = registered.date()
    adults = [{"given_name": rng.choice(WOMEN), "family_name": surname, "kind": "adult",
               "date_of_birth": date(rng.randint(1975, 2002), rng.randint(1, 12), rng.randint(1, 28))}]
    if rng.random() < 0.4:
        adults.append({"given_name": rng.choice(MEN), "family_name": rng.choice((surname, rng.choice(SURNAMES))),
                       "kind": "adult",
                       "date_of_birth": date(rng.randint(1970, 2000), rng.randint(1, 12), rng.randint(1, 28))})
    children = [{"given_name": rng.choice(GIRLS if rng.random() < 0.5 else BOYS), "family_name": surname,
                 "kind": "child", "date_of_birth": today - timedelta(days=rng.randint(60, 17 * 365))}
                for _ in range(rng.choice((1, 1, 2, 2, 2, 3)))]
    return Plan(index, team_id(index % teams), registered, children + adults, rng.random() < 0.9)


class SetClock:
    """The recording's clock: the moment each command is recorded, set before it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _settings(path: Path) -> Any:
    return dataset.settings_for(path.parent, f"sqlite:///{path}")


def _open(path: Path, clock: SetClock, seed: str) -> Any:
    from ledger.application import Ledger

    rng = random.Random(seed)
    return Ledger(_settings(path), clock=clock, new_id=lambda: uuid.UUID(int=rng.getrandbits(128), version=4))


def _record_small(path: str, first: int, last: int, teams: int) -> int:
    """Record the small families ``first..last-1`` (one process's share); events recorded."""
    clock = SetClock(dataset.UNTIL)
    ledger = _open(Path(path), clock, f"{SEED}:ids:{first}")
    referral = _filled("ReferralReceived", {"route": "professional", "reason": "School worried about attendance",
                                            "referrer_agency": "Hill Primary School", "consent_to_refer": True})
    events = 0
    try:
        for index in range(first, last):
            p = plan(index, teams)
            actor = {**LEAD, "team": p.team}
            clock.now = p.registered_at + timedelta(minutes=5)
            family = ledger.register_family(policy=PACK, team=p.team, members=p.members, actor=actor,
                                            occurred_at=p.registered_at)
            events += 1
            if p.referred:
                clock.now += timedelta(minutes=5)
                ledger.record(family.family_id, "ReferralReceived", {**referral, "episode_id": ledger.new_id()},
                              actor={**DUTY, "team": p.team}, occurred_at=p.registered_at + timedelta(minutes=2))
                events += 1
    finally:
        ledger.close()
    return events


LONG_TEAM = 0
LONG_MEMBERS = [
    {"given_name": "Ava", "family_name": "Stone", "date_of_birth": date(2016, 5, 4), "kind": "child"},
    {"given_name": "Ben", "family_name": "Stone", "date_of_birth": date(2019, 9, 12), "kind": "child"},
    {"given_name": "Cara", "family_name": "Stone", "date_of_birth": date(1990, 2, 3), "kind": "adult"},
]


def _record_long(path: str, events: int) -> uuid.UUID:
    """The long family: registered, referred, triaged, allocated, consent given, then
    visits, calls, case notes and attempts, every entry half a working day after the last,
    up to the day before "today", with an earlier note corrected every hundred entries."""
    team = team_id(LONG_TEAM)
    clock = SetClock(dataset.UNTIL)
    ledger = _open(Path(path), clock, f"{SEED}:long")
    lead, duty = {**LEAD, "team": team}, {**DUTY, "team": team}
    step = timedelta(hours=12)
    when = dataset.UNTIL - timedelta(days=1) - step * (events + 2)
    try:
        clock.now = when + timedelta(minutes=30)
        family = ledger.register_family(policy=PACK, team=team, members=LONG_MEMBERS, actor=lead, occurred_at=when)
        fid = family.family_id
        ava, ben, cara = (m["member_id"] for m in family.members)
        notes: list[uuid.UUID] = []

        def record(type_name: str, fields: dict[str, Any], actor: dict[str, str] = lead,
                   about: list[uuid.UUID] | None = None) -> uuid.UUID:
            nonlocal when
            when += step
            clock.now = when + timedelta(minutes=30)
            done = ledger.record(fid, type_name, _filled(type_name, fields), actor=actor, occurred_at=when,
                                 about=about)
            return done.event_id  # type: ignore[no-any-return]

        record("ReferralReceived", {"route": "professional", "reason": "School worried about attendance",
                                    "referrer_agency": "Hill Primary School", "consent_to_refer": True}, duty)
        record("TriageDecided", {"outcome": "early_help", "pathway": "family-hub",
                                 "rationale": "Needs met below the safeguarding threshold"}, duty)
        record("AllocatedToTeam", {"team": team, "pathway": "family-hub"}, duty)
        record("AllocatedToWorker", {"worker_id": lead["user_id"], "worker_role": "Early Help Practitioner",
                                     "lead_professional": True}, duty)
        record("ConsentGiven", {"given_by": cara, "scope": ["support", "information_sharing"], "form": "written"})
        visit = {"method": "visit", "party": "family", "members_present": [cara, ava, ben],
                 "children_seen": [ava, ben], "children_seen_alone": [ava], "location": "home"}
        call = {"method": "phone", "party": "family", "members_present": [cara], "children_seen": [],
                "children_seen_alone": []}
        for n in range(6, events):
            if n % 100 == 0 and notes:
                record("EntryCorrected", {"corrects": notes[-1], "reason": "Remark attributed to the wrong "
                                          "professional; corrected after checking with school",
                                          "changes": {"text": f"Note {n - 1}: Ava said school is better now "
                                                              "(said to the worker, not to the teacher)"}})
            elif n % 4 == 0:
                record("ContactMade", visit)
            elif n % 4 == 1:
                notes.append(record("CaseNoteRecorded", {"text": f"Note {n}: Ava said school is better now and "
                                                                 "showed a reading certificate",
                                                         "contact_type": "direct work"}, about=[ava]))
            elif n % 4 == 2:
                record("ContactMade", call)
            elif n % 12 == 3:
                record("ContactAttempted", {"method": "phone", "party": "family", "outcome": "message_left"})
            else:
                record("CaseNoteRecorded", {"text": f"Note {n}: plan reviewed with Cara; Ben settled at nursery"})
        return fid  # type: ignore[no-any-return]
    finally:
        ledger.close()


def source(cache: Path, scale: Scale, log: Callable[[str], None] = print) -> Path:
    """The cached SQLite file holding the long family and ``scale.families`` small ones
    (recorded if missing, in two processes, on a RAM disk where there is one, so commits
    do not wait on the disk: the rows are the same)."""
    cache.mkdir(parents=True, exist_ok=True)
    name = f"console-{scale.families}-families-{scale.long_events}-{scale.teams}.sqlite"
    path = cache / name
    if path.exists():
        return path
    ram = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="ledger-console-", dir=ram if ram.is_dir() else None) as work:
        partial = Path(work) / name
        from ledger.application import Ledger

        started = time.perf_counter()
        ledger = Ledger(_settings(partial))  # the tables, and the teams, before the writers start
        for n in range(scale.teams):
            ledger.teams.add(team_id(n), name=f"Locality {n + 1}", by="benchmark")
        ledger.close()
        log(f"recording the long family ({scale.long_events:,} events) and {scale.families:,} families "
            "through the command path ...")
        processes = 2 if scale.families >= 1000 else 1
        bounds = [scale.families * i // processes for i in range(processes + 1)]
        jobs = [(str(partial), bounds[i], bounds[i + 1], scale.teams) for i in range(processes)]
        if processes == 1:
            long = _record_long(str(partial), scale.long_events)
            _record_small(*jobs[0])
        else:
            with multiprocessing.get_context("spawn").Pool(processes + 1) as pool:
                waiting = pool.apply_async(_record_long, (str(partial), scale.long_events))
                pool.starmap(_record_small, jobs)
                long = waiting.get()
        with sqlite3.connect(partial) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        seconds = time.perf_counter() - started
        events = dataset.event_count(partial)
        (Path(work) / "recorded.json").write_text(json.dumps({
            "events": events, "seconds": round(seconds, 1), "long_family": str(long), "families": scale.families,
            "long_events": scale.long_events, "teams": scale.teams, "processes": processes,
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        log(f"recorded {events:,} events in {seconds:,.0f} s ({events / seconds:,.0f} events/s)")
        shutil.copyfile(partial, cache / f"{name}.partial")
        shutil.copyfile(Path(work) / "recorded.json", cache / f"{name}.json")
        (cache / f"{name}.partial").rename(path)
    return path


def recorded(path: Path) -> dict[str, Any]:
    """How many events the data set holds and how long recording it took."""
    found: dict[str, Any] = json.loads(Path(f"{path}.json").read_text())
    return found


# -- a database holding the data set ------------------------------------------------------------


def prepare(tgt: Target, source_file: Path, teams: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The data set's stored rows copied into the target's fresh ledger tables, the teams
    added, and every read model brought up to the log's end by the projector
    (``Projector.catch_up``, what ``ledger project`` runs: page by page into the live
    tables, their indexes in place); how long that took.

    Not ``replay.rebuild``: at this size it did not finish here (see docs/benchmarks.md,
    "Console pages"): its workers fill tables without their secondary indexes, and the
    person index deletes a member's rows by ``member_id`` before writing them, a scan of
    the worker's whole table for every member."""
    from ledger.application import Ledger
    from projections.projector import Projector

    settings = tgt.settings(PHASE)
    ledger = Ledger(settings)  # the ledger's tables, empty
    for n in range(teams):
        ledger.teams.add(team_id(n), name=f"Locality {n + 1}", by="benchmark")
    ledger.close()
    started = time.perf_counter()
    events = copy_events(source_file, tgt, PHASE, 1, dataset.event_count(source_file))
    copied = time.perf_counter() - started
    log(f"[{tgt.kind}] copied {events:,} events in {copied:.0f} s; bringing the read models up to date ...")
    ledger = Ledger(settings)  # indexes the copied families' members, as at any start after a restore
    try:
        started = time.perf_counter()
        applied = Projector(ledger).catch_up()
        projected = time.perf_counter() - started
    finally:
        ledger.close()
    if tgt.kind == "postgres":
        with tgt.plain(PHASE) as conn:
            conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
    log(f"[{tgt.kind}] {applied:,} events projected in {projected:.0f} s ({applied / projected:,.0f} events/s)")
    return {"events": events, "copy_s": round(copied, 1), "project_s": round(projected, 1)}


# -- the served app -----------------------------------------------------------------------------

CLOCK_ENV = "LEDGER_BENCH_CLOCK"


def served() -> Any:
    """The app ``ledger serve`` runs (the API with the console on it), its ledger on the
    fixed clock in ``LEDGER_BENCH_CLOCK``: ``uvicorn --factory benchmarks.console:served``."""
    from console.app import create_app
    from ledger.application import Ledger
    from ledger.settings import Settings

    moment = datetime.fromisoformat(os.environ[CLOCK_ENV])
    return create_app(Ledger(Settings(), clock=lambda: moment))


@contextmanager
def server(settings: Any, clock: datetime) -> Iterator[int]:
    """``uvicorn`` serving ``served()`` on 127.0.0.1 (one process, no access log on the
    console: uvicorn's own, not the ledger's); its port."""
    env = {**os.environ, "LEDGER_DATA_DIR": str(settings.data_dir), "LEDGER_JWT_SECRET": dataset.SECRET,
           "LEDGER_MASTER_KEYS": settings.master_keys, "LEDGER_DATABASE_SCHEMA": settings.database_schema,
           "LEDGER_DATABASE_URL": settings.database_url or "", CLOCK_ENV: clock.isoformat()}
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.console:served", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=Path(__file__).resolve().parent.parent)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the app exited with {process.returncode}")
            try:
                with _connection(port) as conn:
                    if _get(conn, "/health", {})[0] == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the app did not answer /health within 120 s")
            time.sleep(0.2)
        yield port
    finally:
        _stop(process)


@contextmanager
def _connection(port: int) -> Iterator[http.client.HTTPConnection]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        yield conn
    finally:
        conn.close()


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn.request("GET", path, headers=headers)
    answer = conn.getresponse()
    return answer.status, answer.read()


# -- the reads ----------------------------------------------------------------------------------

READS = {"family": "family page, {long:,}-event family",
         "name": "search by name, {families:,} families",
         "team": "a team's open families, a page, {families:,} families"}


@dataclass
class Compared:
    """One read, the console's page beside the same content through the API."""

    read: str
    database: str
    api_ms: dict[str, float]  # p50, p95, p99
    console_ms: dict[str, float]
    ratio_p50: float
    ratio_p99: float
    goal_met: bool
    detail: dict[str, Any]


def _percentiles(took: list[float]) -> dict[str, float]:
    took = sorted(took)
    return {f"p{p}": round(_pct(took, p) * 1000, 2) for p in (50, 95, 99)}


def _search_words(rng: random.Random, families: int, teams: int) -> str:
    """Two word beginnings of a real member's names ("ava sh"): a given name's first two
    to four letters and a family name's."""
    member = rng.choice(plan(rng.randrange(families), teams).members)
    return f"{member['given_name'][:rng.randint(2, 4)]} {member['family_name'][:rng.randint(2, 4)]}".lower()


def measure(port: int, scale: Scale, long_family: str, database: str, log: Callable[[str], None]) -> list[Compared]:
    """Each read's samples, console and API alternating which goes first."""
    from ledger.tokens import mint

    rng = random.Random(SEED)
    now = datetime.now(timezone.utc)
    api = {"Authorization": f"Bearer {mint(dataset.SECRET, sub='bench-auditor', role='auditor', team=None, now=now)}"}
    session = mint(dataset.SECRET, sub="bench-auditor", role="auditor", team=None, hours=0.5, now=now,
                   session=secrets.token_urlsafe(16))
    page = {"Cookie": f"ledger_session={session}"}
    runs = scale.warmup + scale.samples
    out = []
    with _connection(port) as conn:
        floor = []
        for _ in range(runs):
            started = time.perf_counter()
            _get(conn, "/", {})
            floor.append(time.perf_counter() - started)
        health = _percentiles(floor[scale.warmup:])

        def ok(path: str, headers: dict[str, str]) -> bytes:
            status, body = _get(conn, path, headers)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body[:300].decode(errors='replace')}")
            return body

        pages: dict[str, int] = {}
        for n in range(scale.teams):
            found = json.loads(ok("/families?" + urlencode({"team": team_id(n), "status": "open",
                                                            "per_page": 1}), api))
            pages[team_id(n)] = max(1, -(-found["total"] // 25))
        names = [_search_words(rng, scale.families, scale.teams) for _ in range(runs)]
        teams = [team_id(rng.randrange(scale.teams)) for _ in range(runs)]
        picks: dict[str, list[tuple[list[str], str]]] = {
            "family": [([f"/families/{long_family}", f"/families/{long_family}/chronology?limit=100",
                         f"/families/{long_family}/deadlines"], f"/console/families/{long_family}")] * runs,
            "name": [([f"/families?{urlencode({'name': n})}"], f"/console/families?{urlencode({'name': n})}")
                     for n in names],
            "team": [([f"/families?{q}"], f"/console/families?{q}") for q in (
                urlencode({"team": t, "status": "open", "page": rng.randint(1, pages[t])}) for t in teams)],
        }
        for read, chosen in picks.items():
            log(f"[{database}] {READS[read].format(long=scale.long_events, families=scale.families)} ...")
            api_took, console_took, found = [], [], []
            for i, (api_paths, console_path) in enumerate(chosen):
                timings = {}
                for side in (("api", "console") if i % 2 == 0 else ("console", "api")):
                    started = time.perf_counter()
                    if side == "api":
                        bodies = [ok(path, api) for path in api_paths]
                    else:
                        shown = ok(console_path, page)
                    timings[side] = time.perf_counter() - started
                if i >= scale.warmup:
                    api_took.append(timings["api"])
                    console_took.append(timings["console"])
                    if read != "family":
                        found.append(json.loads(bodies[0])["total"])
            if read == "family" and b"Stone" not in shown:
                raise RuntimeError("the family page does not show the family's name")
            a, c = _percentiles(api_took), _percentiles(console_took)
            detail: dict[str, Any] = {"samples": len(api_took), "warmup": scale.warmup, "floor_ms": health,
                                      "api_requests": len(chosen[0][0]), "console_bytes": len(shown)}
            if found:
                detail["found_median"] = sorted(found)[len(found) // 2]
                detail["found_max"] = max(found)
            out.append(Compared(READS[read].format(long=scale.long_events, families=scale.families), database, a, c,
                                round(c["p50"] / a["p50"], 3), round(c["p99"] / a["p99"], 3),
                                c["p99"] <= GOAL_MS, detail))
    return out


# -- where the time goes -------------------------------------------------------------------------

PARTS = (
    ("access check", ("api/access.py",), ("enforce",)),
    ("access log write", ("ledger/access_log.py",), ()),
    ("timeline SVG", ("console/timeline.py",), ()),
    ("template rendering", ("console/rendering.py", "/jinja2/", ".html"), ()),
    ("query", ("/queries/",), ()),
    ("JSON encoding", ("api/responses.py",), ()),
)
"""What a request's time is split into: the first frame on a call stack that is in one
of these files (and, where named, one of these functions) takes the time under it; the
rest is HTTP, FastAPI and the app's middleware (``other``)."""


def _split(frame: Any, into: dict[str, float]) -> None:
    path = (frame.file_path or "").replace("\\", "/")
    for part, files, functions in PARTS:
        if any(f in path for f in files) and (not functions or frame.function in functions):
            into[part] = into.get(part, 0.0) + frame.time
            return
    for child in frame.children:
        _split(child, into)


def profile(settings: Any, scale: Scale, long_family: str, database: str, folder: Path,
            log: Callable[[str], None]) -> dict[str, dict[str, dict[str, float]]]:
    """Each read's console page and API requests profiled with pyinstrument, in this
    process: the app driven through ``httpx.ASGITransport`` with its thread-pool calls run
    inline (``anyio.to_thread.run_sync``), so that every part of a request runs on the
    thread the profiler samples. The text and HTML profiles are written to ``folder``;
    the answer is each read's milliseconds a request in each of ``PARTS``."""
    import asyncio

    import anyio.to_thread
    import httpx
    from pyinstrument import Profiler

    from console.app import create_app
    from ledger.application import Ledger
    from ledger.tokens import mint

    folder.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings, clock=lambda: dataset.UNTIL)
    app = create_app(ledger)
    api = {"Authorization": f"Bearer {mint(dataset.SECRET, sub='bench-auditor', role='auditor', team=None)}"}
    cookie = mint(dataset.SECRET, sub="bench-auditor", role="auditor", team=None, hours=0.5,
                  session=secrets.token_urlsafe(16))
    rng = random.Random(SEED + 1)
    runs = max(5, scale.samples // 4)
    name = _search_words(rng, scale.families, scale.teams)
    team = urlencode({"team": team_id(LONG_TEAM), "status": "open"})
    reads = {"family": ([f"/families/{long_family}", f"/families/{long_family}/chronology?limit=100",
                         f"/families/{long_family}/deadlines"], f"/console/families/{long_family}"),
             "name": ([f"/families?{urlencode({'name': name})}"], f"/console/families?{urlencode({'name': name})}"),
             "team": ([f"/families?{team}"], f"/console/families?{team}")}
    found: dict[str, dict[str, dict[str, float]]] = {}

    async def inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    async def drive() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     cookies={"ledger_session": cookie}) as client:
            for read, (api_paths, console_path) in reads.items():
                for side, paths, headers in (("api", api_paths, api), ("console", [console_path], {})):
                    for _ in range(3):  # warm
                        for path in paths:
                            (await client.get(path, headers=headers)).raise_for_status()
                    profiler = Profiler(interval=0.0005, async_mode="disabled")
                    profiler.start()
                    for _ in range(runs):
                        for path in paths:
                            (await client.get(path, headers=headers)).raise_for_status()
                    profiler.stop()
                    stem = folder / f"{database}-{read}-{side}"
                    stem.with_suffix(".txt").write_text(profiler.output_text(show_all=False))
                    profiler.write_html(stem.with_suffix(".html"))
                    root = profiler.last_session.root_frame() if profiler.last_session else None
                    parts: dict[str, float] = {}
                    if root is not None:
                        _split(root, parts)
                        parts["other"] = max(0.0, root.time - sum(parts.values()))
                    found.setdefault(read, {})[side] = {k: round(v / runs * 1000, 2) for k, v in parts.items()}

    original = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    try:
        log(f"[{database}] profiling each read ({runs} requests a side) into {folder} ...")
        asyncio.run(drive())
    finally:
        anyio.to_thread.run_sync = original
        ledger.close()
    return found


# -- the run ------------------------------------------------------------------------------------


def run(*, quick: bool, databases: list[str], output: Path, cache: Path, pg_admin: str = DEFAULT_PG_ADMIN,
        scale: Scale | None = None, profile_to: Path | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Each database in turn: a fresh copy of the data set, the app served, every read
    timed (and, with ``profile_to``, profiled in this process afterwards); written as JSON
    to ``output``."""
    scale = scale or (QUICK if quick else FULL)
    started = time.perf_counter()
    out: list[Compared] = []
    prepared, profiles, load = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="ledger-bench-console-") as tmp:
        source_file = source(Path(tmp) / "quick" if quick else cache, scale, log)
        made = recorded(source_file)
        for kind in databases:
            with target(kind, Path(tmp), pg_admin) as tgt:
                prepared[kind] = prepare(tgt, source_file, scale.teams, log)
                before = os.getloadavg()[0]
                with server(tgt.settings(PHASE), dataset.UNTIL) as port:
                    out += measure(port, scale, made["long_family"], kind, log)
                load[kind] = {"before": round(before, 2), "after": round(os.getloadavg()[0], 2)}
                if profile_to is not None:
                    profiles[kind] = profile(tgt.settings(PHASE), scale, made["long_family"], kind, profile_to, log)
    result = {
        "quick": quick, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count() or 0, "python": platform.python_version(),
                    "platform": platform.platform(), "load_average_1min": load},
        "scale": asdict(scale), "dataset": {**made, "file": str(source_file)}, "prepared": prepared,
        "goal_ms": GOAL_MS, "seconds": round(time.perf_counter() - started, 1), "reads": [asdict(c) for c in out],
        "profiles": profiles,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    return result


def table(result: dict[str, Any]) -> Any:
    """The reads as one rich table: each side's p50 / p95 / p99, the ratios, the goal."""
    from rich.table import Table

    made = result["dataset"]
    t = Table(title=f"Console pages against the JSON API{' (quick)' if result['quick'] else ''}: "
                    f"{made['families']:,} families + one of {made['long_events']:,} events "
                    f"({made['events']:,} events), {result['machine']['cpus']} CPUs, over HTTP")
    for column in ("read", "database", "API p50 / p95 / p99", "console p50 / p95 / p99", "console/API p50",
                   "console/API p99", f"goal: console p99 <= {result['goal_ms']:.0f} ms"):
        t.add_column(column, justify="left" if column in ("read", "database") or column.startswith("goal")
                     else "right")
    for r in result["reads"]:
        a, c = r["api_ms"], r["console_ms"]
        t.add_row(r["read"], r["database"], f"{a['p50']:.1f} / {a['p95']:.1f} / {a['p99']:.1f} ms",
                  f"{c['p50']:.1f} / {c['p95']:.1f} / {c['p99']:.1f} ms", f"{r['ratio_p50']:.2f}",
                  f"{r['ratio_p99']:.2f}", "met" if r["goal_met"] else "NOT met")
    return t


def parts_table(result: dict[str, Any]) -> Any:
    """Where a request's time goes, from the profiles: milliseconds a request in each part."""
    from rich.table import Table

    names = [name for name, _, _ in PARTS] + ["other"]
    t = Table(title="Where the time goes (pyinstrument, in process, ms a sample: the API's requests together)")
    for column in ("database", "read", "side", *names):
        t.add_column(column, justify="left" if column in ("database", "read", "side") else "right")
    for database, reads in result["profiles"].items():
        for read, sides in reads.items():
            for side, parts in sides.items():
                t.add_row(database, read, side, *(f"{parts.get(n, 0.0):.1f}" for n in names))
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny scale, seconds not minutes (the smoke test's)")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/console.json"))
    parser.add_argument("--cache", type=Path, default=dataset.default_cache(),
                        help="where the full run's data set is recorded once (outside the repository)")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_PG_ADMIN),
                        help="an admin URL: a fresh database is created there for the run and dropped after")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="afterwards, profile each read with pyinstrument (the bench extra) into DIR")
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console(width=200 if not sys.stdout.isatty() else None)
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    result = run(quick=args.quick, databases=databases, output=args.output, cache=args.cache,
                 pg_admin=args.postgres, profile_to=args.profile, log=lambda line: console.print(line, style="dim"))
    console.print(table(result))
    if result["profiles"]:
        console.print(parts_table(result))
    floor = {r["database"]: r["detail"]["floor_ms"] for r in result["reads"]}
    console.print("the floor, GET / (a redirect: the client, uvicorn, FastAPI and the app's middleware): " + "; ".join(
        f"{db} p50 {h['p50']:.2f} ms, p99 {h['p99']:.2f} ms" for db, h in floor.items()))
    console.print(f"written to {args.output} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
