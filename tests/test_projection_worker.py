"""The projection worker and rebuilds, on SQLite and PostgreSQL: a worker killed mid-stream
resumes with nothing skipped and nothing applied twice; a rebuild gives exactly what
incremental processing gave; an interrupted rebuild leaves the live read models alone."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.application import Ledger
from ledger.settings import Settings
from projections.projector import Projector
from queries import reading
from replay.rebuild import SUFFIX, rebuild
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, SUPERVISOR, command, ok, open_ledger, register
from tests.walkthrough import SOUTH_PRACTITIONER, every_command

# Storage tests (docs/testing.md): the projector's tracking, transactions, workers
# killed mid-page and rebuilds, on every database.
pytestmark = pytest.mark.storage

ROOT = Path(__file__).resolve().parents[1]
PAT = {"user_id": "pat", "role": "practitioner", "team": "north"}
MEG = {"user_id": "meg", "role": "manager", "team": "north"}


def dump(projector: Projector) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model, personal columns opened, in a stable order."""
    return projector.dump()


def many_families(ledger: Ledger, families: int, notes: int) -> int:
    """Families recorded straight through the application (no projector attached)."""
    for i in range(families):
        r = ledger.register_family(policy="northamptonshire-0-19", team="north", actor=PAT, members=[
            {"given_name": "Kid", "family_name": f"F{i}", "kind": "child"},
            {"given_name": "Mum", "family_name": f"F{i}", "kind": "adult"}])
        ledger.record(r.family_id, "ReferralReceived", {"episode_id": uuid.uuid4(), "route": "self", "reason": "x"},
                      actor=PAT)
        ledger.record(r.family_id, "AllocatedToTeam", {"team": "north", "pathway": "parenting"}, actor=MEG)
        ledger.record(r.family_id, "AllocatedToWorker", {"worker_id": f"w{i % 3}"}, actor=MEG)
        for j in range(notes):
            ledger.record(r.family_id, "CaseNoteRecorded", {"text": f"note {j}"}, actor=PAT)
    return ledger.recorder.max_notification_id()


def caught_up(ledger: Ledger, families: int, notes: int) -> tuple[Projector, dict[str, list[tuple[Any, ...]]]]:
    """``many_families``, then a projector caught up with them, and its rows."""
    many_families(ledger, families, notes)
    projector = Projector(ledger)
    projector.catch_up()
    return projector, dump(projector)


class Killed(Exception):
    pass


def die(events: int, total: int) -> None:
    """An ``on_progress`` that stops a rebuild after its first page."""
    raise Killed


def worker_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "LEDGER_DATA_DIR": str(settings.data_dir), "LEDGER_JWT_SECRET": "x" * 40,
           "PYTHONPATH": str(ROOT)}
    if settings.is_postgres:
        env.update(LEDGER_DATABASE_URL=settings.database_url or "", LEDGER_DATABASE_SCHEMA=settings.database_schema)
    else:
        env.pop("LEDGER_DATABASE_URL", None)
    return env


def test_reads_naming_a_position_wait_for_a_separate_worker(settings, monkeypatch):
    settings = settings.model_copy(update={"projections": "worker"})
    ledger = open_ledger(settings)
    try:
        with TestClient(create_app(ledger), raise_server_exceptions=False) as client:
            fid = register(client)["family_id"]
            position = ok(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "not yet projected"})[
                "position"]
            # No worker running: the read model has not seen it, and a read that insists waits, then says so.
            assert client.get(f"/families/{fid}/chronology", headers=PRACTITIONER).json()["entries"] == []
            monkeypatch.setattr(reading, "WAIT_SECONDS", 0.3)
            late = client.get(f"/families/{fid}/chronology", params={"min_position": position}, headers=PRACTITIONER)
            assert late.status_code == 503 and late.headers["retry-after"] == "1"
            assert late.headers["content-type"].startswith("application/problem+json")
            # With the worker following the log, the same read sees the write.
            stop = threading.Event()
            worker = threading.Thread(target=client.app.state.projector.run_forever, args=(stop,),
                                      kwargs={"idle": 0.05})
            worker.start()
            try:
                monkeypatch.setattr(reading, "WAIT_SECONDS", 10)
                seen = client.get(f"/families/{fid}/chronology", params={"min_position": position},
                                  headers=PRACTITIONER).json()["entries"]
                assert [e["summary"] for e in seen if e["type"] == "ReferralReceived"] == \
                    ["Referral received from self; not yet projected"]
            finally:
                stop.set()
                worker.join()
    finally:
        ledger.close()


@pytest.mark.slow
def test_a_worker_killed_mid_stream_resumes_with_nothing_skipped_and_nothing_applied_twice(settings):
    settings = settings.model_copy(update={"projections": "worker"})
    ledger = open_ledger(settings)
    try:
        families, notes = 40, 8
        total = many_families(ledger, families, notes)
        for kill in range(3):  # kill it three times at different points of the stream
            worker = subprocess.Popen(
                [sys.executable, "-m", "cli", "project", "--page", "7"], env=worker_env(settings),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
            assert worker.stdout is not None
            pages = 0
            for line in worker.stdout:
                pages += line.startswith("position ")
                if pages >= 2 + 3 * kill:
                    break
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        projector = Projector(ledger)
        reached = projector.positions()
        assert 0 < min(reached.values()) < total, f"the worker was not killed mid-stream: {reached} of {total}"
        finished = subprocess.run([sys.executable, "-m", "cli", "project", "--until-caught-up"],
                                  env=worker_env(settings), capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert set(projector.positions().values()) == {total}
        events = families * (notes + 4)
        with projector.reading("chronology", "oversight", "caseloads") as tx:
            assert tx.one("SELECT COUNT(*) AS n FROM {chronology}")["n"] == events
            # The footprint counts every entry a person recorded: a page applied twice would show.
            assert tx.one("SELECT SUM(entries) AS n FROM {footprints}")["n"] == events
            assert tx.one("SELECT COUNT(*) AS n FROM {oversight_decisions}")["n"] == families * 2
            assert tx.one("SELECT SUM(children) AS n, SUM(open) AS o FROM {caseload_families}") == \
                {"n": families, "o": families}
        incremental = dump(projector)
        rebuild(projector)
        assert dump(projector) == incremental
    finally:
        ledger.close()


def test_a_rebuild_gives_exactly_what_incremental_processing_gave(client):
    """Every command type, a correction, a transfer and a closure, projected as they were
    recorded; then every read model rebuilt from position 0 into fresh tables."""
    fam = register(client)
    fid = fam["family_id"]
    for headers, body in every_command(fam["members"]):
        assert command(client, fid, body, headers).status_code == 201, body["type"]
    note = next(e for e in client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
                if e["type"] == "CaseNoteRecorded")
    ok(client, fid, {"type": "EntryCorrected", "corrects": note["event_id"], "changes": {"text": "corrected"},
                     "reason": "wrong person"}, SOUTH_PRACTITIONER)
    other = register(client, policy="southampton-0-19")["family_id"]
    ok(client, other, {"type": "ReferralReceived", "route": "self", "reason": "help",
                       "occurred_at": "2026-02-02T09:00:00+00:00"}, MANAGER)
    ok(client, other, {"type": "SupervisionRecorded", "worker_id": "pat", "occurred_at": "2026-02-10T09:00:00+00:00"},
       SUPERVISOR)
    projector: Projector = client.app.state.projector
    incremental = dump(projector)
    assert sum(len(rows) for rows in incremental.values()) > 50
    done = rebuild(projector, page=9)
    assert done.position == projector.ledger.recorder.max_notification_id()
    assert dump(projector) == incremental
    # One read model on its own, too.
    rebuild(projector, ["chronology"])
    assert dump(projector) == incremental


def test_an_interrupted_rebuild_leaves_the_live_read_models_untouched_and_the_next_starts_afresh(client):
    fam = register(client)
    for headers, body in every_command(fam["members"])[:12]:
        assert command(client, fam["family_id"], body, headers).status_code == 201
    projector: Projector = client.app.state.projector
    before, positions = dump(projector), projector.positions()

    with pytest.raises(Killed):
        rebuild(projector, page=4, on_progress=die)
    assert dump(projector) == before and projector.positions() == positions
    assert projector.store.existing("chronology" + SUFFIX)  # the half-built tables were left behind
    # Live processing carries on meanwhile, and the next rebuild starts again cleanly.
    ok(client, fam["family_id"], {"type": "CaseNoteRecorded", "text": "while the rebuild was down"})
    after = dump(projector)
    rebuild(projector, page=4)
    assert dump(projector) == after
    assert not projector.store.existing("chronology" + SUFFIX)


@pytest.mark.slow
def test_a_replay_killed_part_way_leaves_the_live_read_models_untouched(settings):
    ledger = open_ledger(settings)
    try:
        projector, before = caught_up(ledger, 30, 6)
        positions = projector.positions()
        replay = subprocess.Popen([sys.executable, "-m", "cli", "replay", "--page", "5"],
                                  env=worker_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, cwd=ROOT)
        assert replay.stdout is not None
        first = replay.stdout.readline()
        assert " events (" in first, first
        replay.send_signal(signal.SIGKILL)
        replay.wait(timeout=30)
        assert dump(projector) == before and projector.positions() == positions
        again = subprocess.run([sys.executable, "-m", "cli", "replay"], env=worker_env(settings),
                               capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert dump(projector) == before
    finally:
        ledger.close()


def test_ledger_replay_rebuilds_from_the_command_line_with_a_rate(client, settings):
    for _ in range(2):
        fam = register(client)
        ok(client, fam["family_id"], {"type": "ReferralReceived", "route": "self", "reason": "help"})
    projector: Projector = client.app.state.projector
    before = dump(projector)
    # A page per family, applied by two worker processes.
    result = subprocess.run([sys.executable, "-m", "cli", "replay", "--projection", "chronology",
                             "--page", "1", "--workers", "2"],
                            env=worker_env(settings), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rebuilt chronology: 4 events" in result.stdout and "events/s" in result.stdout
    assert dump(projector) == before
    wrong = subprocess.run([sys.executable, "-m", "cli", "replay", "--projection", "nope"],
                           env=worker_env(settings), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert wrong.returncode == 2 and "no read model 'nope'" in wrong.stderr


KILL_MID_PAGE = """
import os, signal, sys
from ledger.application import Ledger
from ledger.settings import Settings
from projections.projector import Projector

projector = Projector(Ledger(Settings()), page=7)
last = projector.models[-1]
apply, pages = last.apply, []

def apply_then_die(tx, changes, context):
    pages.append(len(changes))
    if len(pages) == 3:  # the third page: every other model has written its rows in this transaction
        os.kill(os.getpid(), signal.SIGKILL)
    return apply(tx, changes, context)

last.apply = apply_then_die
projector.catch_up()
sys.exit("not killed")
"""


def test_a_worker_killed_inside_a_page_leaves_none_of_it_applied_and_resumes_exactly(settings):
    """SIGKILL at a chosen point: in the middle of a page's transaction, after the other
    read models have written their rows for it and before the last one has (the test
    above kills wherever the worker happens to be)."""
    settings = settings.model_copy(update={"projections": "worker"})
    ledger = open_ledger(settings)
    try:
        families, notes = 4, 3
        total = many_families(ledger, families, notes)
        killed = subprocess.run([sys.executable, "-c", KILL_MID_PAGE], env=worker_env(settings), cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        projector = Projector(ledger)
        assert set(projector.positions().values()) == {14}, "two whole pages, none of the third"
        with projector.reading("chronology") as tx:
            assert tx.one("SELECT COUNT(*) AS n FROM {chronology}")["n"] == 14
        finished = subprocess.run([sys.executable, "-m", "cli", "project", "--until-caught-up"],
                                  env=worker_env(settings), capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert set(projector.positions().values()) == {total}
        events = families * (notes + 4)
        with projector.reading("chronology", "oversight") as tx:
            assert tx.one("SELECT COUNT(*) AS n FROM {chronology}")["n"] == events
            assert tx.one("SELECT SUM(entries) AS n FROM {footprints}")["n"] == events
        incremental = dump(projector)
        rebuild(projector)
        assert dump(projector) == incremental
    finally:
        ledger.close()


def test_a_command_on_a_long_family_decodes_its_own_events_not_the_whole_record_again(ledger):
    """Deadlines and episodes derive a family afresh on every event; the projector hands
    them the family's stream from its cache, extended with the new event, so what one
    more command costs does not grow with the length of the family's record."""
    projector = Projector(ledger)
    ledger.listeners.append(lambda recorded: projector.catch_up(covering=recorded.position))
    many_families(ledger, 1, 0)
    family_id = next(iter(projector.families(ledger.recorder.max_notification_id())))[0]
    for j in range(60):
        ledger.record(family_id, "CaseNoteRecorded", {"text": f"note {j}"}, actor=PAT)
    decoded = []
    original = ledger.mapper.to_domain_event

    def counting(stored: Any) -> Any:
        decoded.append(stored)
        return original(stored)

    ledger.mapper.to_domain_event = counting  # type: ignore[method-assign]
    ledger.record(family_id, "CaseNoteRecorded", {"text": "one more"}, actor=PAT)
    assert len(decoded) <= 3, f"{len(decoded)} events decoded for one command on a 64-event family"
    assert ledger.family_events(family_id)[-1].text == "one more"

    # And the rows are what a rebuild from the whole record gives.
    incremental = dump(projector)
    rebuild(projector)
    assert dump(projector) == incremental


def test_a_familys_registration_is_projected_from_its_own_events_not_read_back(ledger, monkeypatch):
    """A family registered, and a page that starts at a family's first event, give the
    read models the family's whole stream from the page itself: its events are not read
    back from the store (nor decoded again) to derive its deadlines and episodes, and the
    rows are what a rebuild gives."""
    projector = Projector(ledger)
    ledger.inline = projector
    ledger.listeners.append(lambda recorded: projector.recorded(recorded.position, recorded.projected))
    read_back: list[uuid.UUID] = []
    original = Projector.family_changes

    def counting(self: Projector, tx: Any, family_id: uuid.UUID) -> Any:
        read_back.append(family_id)
        return original(self, tx, family_id)

    monkeypatch.setattr(Projector, "family_changes", counting)
    many_families(ledger, 3, 2)  # registered and recorded one command at a time, inline
    assert read_back == []
    late = Projector(ledger)  # meets the families for the first time, in one page
    late.catch_up()
    assert read_back == []
    incremental = dump(projector)
    assert dump(late) == incremental
    rebuild(projector)
    assert dump(projector) == incremental


def test_a_projector_that_missed_a_familys_events_reads_its_stream_again(ledger):
    """Two projectors on one database (two worker processes): when one has applied a
    family's newer events, the other's held copy of the stream has a gap and is read
    again, so its derived rows are still those of the whole record."""
    first, second = Projector(ledger), Projector(ledger)
    many_families(ledger, 2, 2)
    first.catch_up()
    family_id = first.families(ledger.recorder.max_notification_id())[0][0]
    ledger.record(family_id, "CaseNoteRecorded", {"text": "seen by the second only"}, actor=PAT)
    ledger.record(family_id, "AllocatedToWorker", {"worker_id": "w9"}, actor=MEG)
    second.catch_up()
    ledger.record(family_id, "CaseNoteRecorded", {"text": "seen by the first"}, actor=PAT)
    assert first.catch_up() == 1  # the first's held stream stops three versions short
    incremental = dump(first)
    assert any("w9" in row for row in incremental["deadline_clocks"])
    rebuild(first)
    assert dump(first) == incremental


def test_a_projector_writes_a_familys_clocks_over_rows_another_projector_wrote_since(ledger):
    """A projector writes only the deadline rows that changed since it last wrote the
    family (ADR 0050), and only while no other projector has written the family since:
    here the second moves the lead worker to w9 and the first's next event moves them
    back, so the rows the first derives equal those it last wrote, while the table holds
    the second's. The first writes them again, whole; the table says w0, as a rebuild does."""
    first, second = Projector(ledger), Projector(ledger)
    many_families(ledger, 1, 1)
    first.catch_up()
    family_id = first.families(ledger.recorder.max_notification_id())[0][0]
    worker = {row[4] for row in dump(first)["deadline_clocks"]}
    assert worker == {"w0"}
    ledger.record(family_id, "AllocatedToWorker", {"worker_id": "w9"}, actor=MEG)
    second.catch_up()
    assert {row[4] for row in dump(second)["deadline_clocks"]} == {"w9"}
    ledger.record(family_id, "AllocatedToWorker", {"worker_id": "w0"}, actor=MEG)
    assert first.catch_up() == 1
    incremental = dump(first)
    assert {row[4] for row in incremental["deadline_clocks"]} == {"w0"}
    rebuild(first)
    assert dump(first) == incremental


def test_a_case_note_that_moves_no_clock_writes_no_deadline_row(ledger, monkeypatch):
    """Between rebuilds the deadlines model writes a family's rows only where they changed
    (ADR 0050): a case note moves no clock, so its page sends the deadline table nothing;
    a submitted assessment stops the assessment's clock, and its page writes that row, not
    the family's others. Either way the rows are those a rebuild gives."""
    from ledger.sql import Tx

    projector = Projector(ledger)
    many_families(ledger, 2, 1)
    projector.catch_up()
    family_id = projector.families(ledger.recorder.max_notification_id())[0][0]
    sent: list[str] = []
    for name in ("run", "many"):
        original = getattr(Tx, name)

        def spy(self: Tx, text: str, params: Any = (), _original: Any = original) -> Any:
            if "deadline_clocks" in text:
                sent.append(text.split(" ")[0])
            return _original(self, text, params)

        monkeypatch.setattr(Tx, name, spy)
    ledger.record(family_id, "CaseNoteRecorded", {"text": "a visit"}, actor=PAT)
    assert projector.catch_up() == 1
    assert sent == []
    assessment = uuid.uuid4()
    ledger.record(family_id, "AssessmentStarted", {"assessment_id": assessment}, actor=PAT)
    ledger.record(family_id, "AssessmentSubmitted", {"assessment_id": assessment}, actor=PAT)
    before = [row for row in dump(projector)["deadline_clocks"] if row[0] == family_id.hex]
    assert projector.catch_up() == 2
    assert sent == ["INSERT"]
    after = [row for row in dump(projector)["deadline_clocks"] if row[0] == family_id.hex]
    assert len(after) == len(before) and 0 < sum(a != b for a, b in zip(after, before, strict=True)) < len(after)
    incremental = dump(projector)
    rebuild(projector)
    assert dump(projector) == incremental


def test_read_model_positions_only_move_forward(ledger):
    """A page advances every read model's tracking position in one statement; like the
    library's tracking insert, it refuses to move a position back or leave it standing,
    and the refused transaction leaves every position as it was."""
    projector = Projector(ledger)
    many_families(ledger, 2, 1)
    projector.catch_up()
    names = [m.name for m in projector.models]
    at = projector.positions()
    end = ledger.recorder.max_notification_id()
    assert set(at.values()) == {end}
    for position in (end, end - 1):
        with pytest.raises(IntegrityError), projector.store.transaction() as tx:
            projector.store.lock_positions(tx, names)
            projector.store.advance(tx, names, position)
    assert projector.positions() == at
    ledger.record(projector.families(end)[0][0], "CaseNoteRecorded", {"text": "one more"}, actor=PAT)
    assert projector.catch_up() == 1
    assert set(projector.positions().values()) == {end + 1}


def test_a_projector_with_nothing_new_takes_no_write_lock(ledger, monkeypatch):
    """A worker polling an idle ledger (``run_forever``) asks whether anything is new with
    reads alone: no page transaction, so no write lock on SQLite and nothing committed."""
    projector = Projector(ledger)
    many_families(ledger, 1, 1)
    assert projector.catch_up() > 0
    pages = []
    original = projector.store.lock_positions
    monkeypatch.setattr(projector.store, "lock_positions", lambda *a: pages.append(a) or original(*a))
    for _ in range(3):
        assert projector.catch_up() == 0
    assert pages == []
    family_id = projector.families(ledger.recorder.max_notification_id())[0][0]
    ledger.record(family_id, "CaseNoteRecorded", {"text": "new"}, actor=PAT)
    assert projector.catch_up() == 1 and len(pages) == 1


@pytest.mark.one_database  # the engine's walk on against its whole walk is Python; rebuilds on each database are above
def test_deadlines_walked_on_command_by_command_equal_a_walk_of_the_whole_record(ledger, monkeypatch):
    """The deadline engine walks a family on from where its last walk got to (``Progress``)
    when the new events simply follow; corrections, back-dated entries and erasures make
    it walk the whole record. Over the demo's families (every pack; late, overdue,
    extended, paused, stepped up and down, transferred, closed and re-referred, corrected),
    projected command by command as recorded, the rows equal those of a rebuild, which
    walks every family's whole record once."""
    from datetime import datetime, timezone

    from demo import generate
    from ledger import deadlines as engine

    walked_on, restarted = [], []
    original = engine.evaluate_on

    def counting(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        (walked_on if found is not None else restarted).append(1)
        return found

    monkeypatch.setattr("projections.deadlines.evaluate_on", counting)
    projector = Projector(ledger)
    generate(ledger.settings, families=10, seed=11, until=datetime(2026, 11, 24, tzinfo=timezone.utc),
             on_recorded=lambda recorded: projector.catch_up(covering=recorded.position))
    assert len(walked_on) > 5 * len(restarted) > 0, (len(walked_on), len(restarted))
    incremental = dump(projector)
    assert len(incremental["deadline_clocks"]) > 50
    held = projector.model("deadlines").progress  # type: ignore[attr-defined]
    assert len(held) == 10
    held.put(next(iter(projector.families(ledger.recorder.max_notification_id())))[0], None)
    rebuild(projector)
    assert dump(projector) == incremental
    # A rebuild walks each family whole, once, and keeps no walk for later (it would only
    # hold memory: at 200,000 events it took 35% more time and 176 MB more).
    assert len(held) == 9


def test_a_rebuild_in_several_processes_gives_what_one_process_gives(settings):
    """Pages applied by two worker processes (on SQLite through scratch files gathered at
    the end, on PostgreSQL straight into the fresh tables) give exactly the rows that
    incremental processing and a one-process rebuild give, over the demo's families."""
    from datetime import datetime, timezone

    from demo import generate

    ledger = open_ledger(settings)
    try:
        generate(settings, families=8, seed=5, until=datetime(2026, 11, 24, tzinfo=timezone.utc))
        projector = Projector(ledger)
        projector.catch_up()
        incremental = dump(projector)
        assert sum(len(rows) for rows in incremental.values()) > 500
        done = rebuild(projector, page=60, workers=2)
        assert done.events == ledger.recorder.max_notification_id() == done.position
        assert dump(projector) == incremental
        assert not list(settings.sqlite_path().parent.glob(".ledger-rebuild-*"))  # scratch files removed
        rebuild(projector, ["deadlines", "episodes"], page=60, workers=2)
        assert dump(projector) == incremental
    finally:
        ledger.close()


def test_worker_processes_start_side_by_side_and_copy_pages_a_few_at_a_time(settings, monkeypatch):
    """What starts a worker reaches it in the pipe's buffer (the packs, a third of a
    megabyte pickled, go in a file): a spawned worker's start arguments, written down a
    pipe the parent waits on until the child has read them, made the workers start one
    after the other. On SQLite the parent copies finished pages several at a time; rows
    are the same whatever the batches (here one family a page, in batches of three)."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    import replay.workers as workers

    started: list[bytes] = []

    class Pool(ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started.append(pickle.dumps(kwargs["initargs"]))
            super().__init__(*args, **kwargs)

    copies: list[int] = []
    gather = workers._Gatherer.copy

    def copy(self: Any, paths: list[Path]) -> None:
        copies.append(len(paths))
        gather(self, paths)

    monkeypatch.setattr(workers, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(workers._Gatherer, "copy", copy)
    monkeypatch.setattr(workers, "BATCH_FILES", 3)
    ledger = open_ledger(settings)
    try:
        projector, before = caught_up(ledger, 8, 2)
        assert len(pickle.dumps(ledger.packs)) > 65_536  # what no longer goes down the pipe
        rebuild(projector, page=1, workers=2)
        assert dump(projector) == before
        assert len(started) == 1 and len(started[0]) < 16_384
        if not projector.store.postgres:
            assert sum(copies) == 8 and copies[:2] == [3, 3], copies
    finally:
        ledger.close()


def test_a_rebuild_in_processes_ends_on_smaller_pages():
    """Pages in several processes: the last ``tail`` events in pages of a quarter, so that
    no process works a whole page alone at the end; every family once, in order."""
    from replay.rebuild import _pages

    families = [(uuid.UUID(int=n), 10) for n in range(100)]  # 1,000 events
    alone = list(_pages(families, 100))
    assert [len(p) for p in alone] == [10] * 10
    tapered = list(_pages(families, 100, tail=200))
    assert [len(p) for p in tapered] == [10] * 8 + [2] * 10
    assert [f for p in tapered for f in p] == [f for f, _ in families]
    assert [len(p) for p in _pages([(uuid.UUID(int=1), 500)], 100, tail=200)] == [1]  # a big family whole


def test_an_interrupted_rebuild_in_several_processes_leaves_the_live_read_models_and_no_scratch(settings):
    ledger = open_ledger(settings)
    try:
        projector, before = caught_up(ledger, 12, 3)
        positions = projector.positions()

        with pytest.raises(Killed):
            rebuild(projector, page=10, workers=2, on_progress=die)
        assert dump(projector) == before and projector.positions() == positions
        assert not list(settings.sqlite_path().parent.glob(".ledger-rebuild-*"))

        def kill_the_workers(events: int, total: int) -> None:  # as the out-of-memory killer would
            for child in multiprocessing.active_children():
                # A worker may be gone between the listing and the kill: the pool, finding the
                # first one killed, stops the others itself.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)

        with pytest.raises(BrokenProcessPool):  # an error, not a wait for the pages they held
            rebuild(projector, page=1, workers=2, on_progress=kill_the_workers)
        assert dump(projector) == before and projector.positions() == positions
        assert not list(settings.sqlite_path().parent.glob(".ledger-rebuild-*"))
        rebuild(projector, page=10, workers=2)
        assert dump(projector) == before
    finally:
        ledger.close()


def schema_names(store: Any, kind: str) -> list[str]:
    """The names of the read models' tables (``kind`` "table") or indexes ("index")."""
    with store.transaction() as tx:
        if not store.postgres:
            rows = tx.rows("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
        elif kind == "index":
            rows = tx.rows("SELECT indexname AS name FROM pg_indexes WHERE schemaname = ?",
                           (store.datastore.schema or "public",))
        else:
            rows = tx.rows("SELECT tablename AS name FROM pg_tables WHERE schemaname = ?",
                           (store.datastore.schema or "public",))
    return [r["name"] for r in rows]


def test_a_rebuild_makes_every_secondary_index_after_loading(settings):
    """A rebuild loads its fresh tables with no secondary index and builds them all once
    the rows are in. Nothing in its load looks a row up but by key: an erased family is
    not deleted and derived again in its page (ADR 0054); when it was, the person index's
    family index had to be there while loading, or each delete scanned the table."""
    ledger = open_ledger(settings)
    try:
        for n in range(3):
            ledger.register_family(policy="durham-one-point", team="north", actor=PAT, members=[
                {"given_name": f"Ava{n}", "family_name": "Stone", "kind": "child", "date_of_birth": None}])
        projector = Projector(ledger)
        store = projector.store
        named = [s.split()[2].split("{")[0] for m in projector.models for s in m.ddl()
                 if s.lstrip().upper().startswith("CREATE INDEX")]
        assert "person_index_family" in named and "chronology_family" in named
        fresh = re.compile(rf"^({'|'.join(named)})_[0-9a-f]{{8}}$")  # a rebuild's: "{ix}" is "_<token>"

        def indexes() -> set[str]:
            return {found[1] for name in schema_names(store, "index") if (found := fresh.match(name))}

        seen: list[set[str]] = []
        rebuild(projector, page=1, workers=1, on_progress=lambda events, total: seen.append(indexes()))
        assert len(seen) == 3 and all(found == set() for found in seen), seen
        assert indexes() == set(named)  # all there once swapped in
    finally:
        ledger.close()


def test_a_rebuild_keys_the_tables_it_only_appends_to_after_loading(settings):
    """The tables whose key nothing uses while a rebuild loads (``keyed_after_loading``:
    the chronology, the person index, deadlines, ...) are loaded without their primary
    key, which is added with the indexes: one sorted build instead of a b-tree insert per
    row at a random place (ADR 0055; on SQLite the rows are moved into the table made
    again with its key, ADR 0057, a table at a time). Once swapped in, every table has its
    key again, refuses a duplicate as before, and no loaded table is left, one left by a
    rebuild that stopped included."""
    ledger = open_ledger(settings)
    try:
        projector, before = caught_up(ledger, 4, 2)
        store = projector.store
        appended = [t for m in projector.models for t in m.keyed_after_loading]
        assert {"chronology", "person_index", "deadline_clocks"} <= set(appended)

        def keyed(tables: list[str]) -> set[str]:
            """Which of the tables have a primary key."""
            with store.transaction() as tx:
                if store.postgres:
                    rows = tx.rows("SELECT c.relname AS name FROM pg_constraint k JOIN pg_class c "
                                   "ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE k.contype = 'p' AND n.nspname = ?", (store.datastore.schema or "public",))
                    return {r["name"] for r in rows} & set(tables)
                return {t for t in tables if any(r["pk"] for r in tx.rows(f'PRAGMA table_info("{t}")'))}

        with store.transaction() as tx:  # as a rebuild stopped while keying would leave it (SQLite)
            tx.run(f"CREATE TABLE {store.table('chronology' + SUFFIX + '__loaded')} (event_id TEXT)")
        seen: list[set[str]] = []
        rebuild(projector, page=1, workers=1, on_progress=lambda events, total: seen.append(
            keyed([t + SUFFIX for t in appended])))
        assert seen and all(found == set() for found in seen), seen
        assert keyed(appended) == set(appended)  # every key there once the tables are swapped in
        assert not [name for name in schema_names(store, "table") if name.endswith(("__loaded", "__retired", SUFFIX))]
        assert dump(projector) == before
        for table in ("chronology", "person_index", "deadline_clocks"):
            name = store.table(table)
            with pytest.raises(Exception, match=r"(?i)unique|duplicate"), store.transaction() as tx:
                tx.run(f"INSERT INTO {name} SELECT * FROM {name} LIMIT 1")
    finally:
        ledger.close()


def test_a_sqlite_rebuild_keys_a_table_without_holding_the_write_lock_for_all_its_rows(settings, monkeypatch):
    """SQLite has one write lock, and a command on the live ledger waits for it 10 s at
    most (``SQLITE_LOCK_TIMEOUT``). Keying a loaded table (ADR 0057) held it while all the
    table's rows were sorted and moved in: 6.4-7.1 s for the chronology at a million
    events. The rows are now
    sorted into a temporary table, which takes no write lock, and moved in a range at a
    time, each range its own short transaction; the tables come out the same (ADR 0058)."""
    if settings.is_postgres:
        pytest.skip("PostgreSQL adds a key to a loaded table in place, and locks the fresh table only")
    import sqlite3

    import replay.rebuild as rebuilding

    ledger = open_ledger(settings)
    probes: list[tuple[str, bool]] = []  # (the keying statement running, whether a writer could start)

    def probing(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real(*args, **kwargs)
        running = [""]
        connection.set_trace_callback(lambda sql: running.__setitem__(0, " ".join(sql.split())))

        def probe() -> int:
            if running[0].startswith(("CREATE TEMP TABLE", "INSERT INTO")):
                writer = real(ledger.settings.sqlite_path(), isolation_level=None, timeout=0)
                try:
                    writer.execute("BEGIN IMMEDIATE")
                    writer.execute("ROLLBACK")
                    probes.append((running[0].split()[0], True))
                except sqlite3.OperationalError:
                    probes.append((running[0].split()[0], False))
                finally:
                    writer.close()
            return 0

        connection.set_progress_handler(probe, 200)
        return connection

    real = sqlite3.connect
    try:
        projector, before = caught_up(ledger, 4, 2)
        with projector.store.read() as tx:
            rows = tx.one(f"SELECT count(*) AS n FROM {projector.store.table('chronology')}")
        monkeypatch.setattr(rebuilding, "KEYING_ROWS", 3)
        monkeypatch.setattr(rebuilding.sqlite3, "connect", probing)
        rebuild(projector, page=1, workers=1)
        monkeypatch.undo()
        assert dump(projector) == before  # every row moved once, none lost between ranges
        assert rows and rows["n"] > 3
        sorting = [free for statement, free in probes if statement == "CREATE"]
        moving = [free for statement, free in probes if statement == "INSERT"]
        assert sorting and all(sorting), "a writer can start while a loaded table's rows are sorted"
        assert moving and not any(moving), "a range's move holds the lock (the probe can tell)"
    finally:
        ledger.close()


def test_a_rebuilds_swap_sets_the_live_tables_aside_and_drops_them_after_a_table_at_a_time(settings, monkeypatch):
    """The swap holds the lock that live commands wait for (on SQLite the one write lock,
    10 s at most). Dropping the live tables in it walked every page of each: at a million
    events 12.7 s, 7.7 of them the chronology's, reading from the disk. The swap now
    renames them aside (``<table>__retired``), and they are dropped after its commit, a
    table a transaction, their pages read first outside any write (ADR 0058). One left by
    a rebuild stopped just after its swap goes with the next rebuild; a live table missing
    is made by the rebuild, as when the swap dropped them."""
    import sqlite3

    statements: list[tuple[int, str]] = []
    real = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real(*args, **kwargs)
        key = id(connection)
        connection.set_trace_callback(lambda sql: statements.append((key, " ".join(sql.split()))))
        return connection

    monkeypatch.setattr(sqlite3, "connect", traced)
    ledger = open_ledger(settings)
    try:
        projector, before = caught_up(ledger, 3, 2)
        store = projector.store
        with store.transaction() as tx:  # as a rebuild stopped just after its swap would leave it
            tx.run(f"CREATE TABLE {store.table('person_index__retired')} (token TEXT)")
        with store.transaction() as tx:  # a live table gone (by hand): rebuilt, as before
            tx.run(f"DROP TABLE {store.table('family_links')}")
        statements.clear()
        rebuild(projector, page=2, workers=1)
        assert dump(projector) == before
        assert not [name for name in schema_names(store, "table") if name.endswith("__retired")]
    finally:
        ledger.close()
    if settings.is_postgres:
        return
    transactions: list[list[str]] = []
    open_: dict[int, list[str]] = {}
    for key, sql in statements:
        if sql.upper().startswith("BEGIN"):
            open_[key] = []
        elif sql.upper() in ("COMMIT", "ROLLBACK") and key in open_:
            transactions.append(open_.pop(key))
        elif key in open_:
            open_[key].append(sql)
    tables = [t for m in projector.models for t in m.tables]
    swap = [tx for tx in transactions if any(s.endswith('RENAME TO "chronology"') for s in tx)]
    assert len(swap) == 1 and not [s for s in swap[0] if s.upper().startswith("DROP")], swap
    after = transactions[transactions.index(swap[0]) + 1:]
    drops = [[s for s in tx if s.upper().startswith("DROP TABLE")] for tx in after]
    assert sorted(d for d in drops if d) == sorted([f'DROP TABLE IF EXISTS "{t}__retired"'] for t in tables)


def test_a_table_keyed_after_loading_has_its_key_taken_out_and_added_back():
    """A table's key, a column's ``PRIMARY KEY`` or the table's last clause, is taken out
    of its statement and made a statement of its own; a model naming a table with no key,
    or none, is told so rather than loaded with no key ever added."""
    from replay.rebuild import key_after_loading

    made, keys = key_after_loading(["CREATE TABLE {t} (a TEXT NOT NULL, b INTEGER, PRIMARY KEY (a, b))",
                                    "CREATE INDEX t_b{ix} ON {t} (b)",
                                    "CREATE TABLE {u} (id TEXT PRIMARY KEY, c TEXT)",
                                    "CREATE TABLE {v} (id TEXT PRIMARY KEY)"], ["t", "u"])
    assert made == ["CREATE TABLE {t} (a TEXT NOT NULL, b INTEGER)", "CREATE INDEX t_b{ix} ON {t} (b)",
                    "CREATE TABLE {u} (id TEXT NOT NULL, c TEXT)", "CREATE TABLE {v} (id TEXT PRIMARY KEY)"]
    assert keys == [["ALTER TABLE {t} ADD PRIMARY KEY (a, b)"], ["ALTER TABLE {u} ADD PRIMARY KEY (id)"]]
    # SQLite cannot add a key: the loaded table is renamed, made again with it, and its
    # rows moved in in the key's order.
    made, keys = key_after_loading(["CREATE TABLE {t} (a TEXT NOT NULL, b INTEGER, PRIMARY KEY (a, b))",
                                    "CREATE TABLE {u} (id TEXT PRIMARY KEY, c TEXT)"], ["t", "u"], postgres=False)
    assert made == ["CREATE TABLE {t} (a TEXT NOT NULL, b INTEGER)", "CREATE TABLE {u} (id TEXT NOT NULL, c TEXT)"]
    assert keys == [["ALTER TABLE {t} RENAME TO {t__loaded}",
                     "CREATE TABLE {t} (a TEXT NOT NULL, b INTEGER, PRIMARY KEY (a, b))",
                     "CREATE TEMP TABLE {t__sorted} AS SELECT * FROM {t__loaded} ORDER BY a, b",
                     "INSERT INTO {t} SELECT * FROM {t__sorted} WHERE rowid BETWEEN ? AND ? ORDER BY rowid"],
                    ["ALTER TABLE {u} RENAME TO {u__loaded}", "CREATE TABLE {u} (id TEXT PRIMARY KEY, c TEXT)",
                     "CREATE TEMP TABLE {u__sorted} AS SELECT * FROM {u__loaded} ORDER BY id",
                     "INSERT INTO {u} SELECT * FROM {u__sorted} WHERE rowid BETWEEN ? AND ? ORDER BY rowid"]]
    with pytest.raises(ValueError, match="no PRIMARY KEY"):
        key_after_loading(["CREATE TABLE {t} (a TEXT, b INTEGER)"], ["t"])
    with pytest.raises(ValueError, match="no CREATE TABLE"):
        key_after_loading(["CREATE TABLE {t} (a TEXT PRIMARY KEY)"], ["t", "w"])
