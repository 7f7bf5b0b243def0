"""Personal data at rest: nothing personal in the database in the clear, private files,
keys of a length that cannot be guessed, and passwords kept off the command line
(ADR 0013, docs/security.md)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from ledger.settings import Settings
from projections.projector import Projector
from replay.rebuild import rebuild
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, auth, ok
from tests.registration import post_family

# Storage tests (docs/testing.md): what the stored bytes hold, read back from the SQLite file
# and WAL or the PostgreSQL tables, on every database.
pytestmark = pytest.mark.storage

CHILD, ADULT = ("Zephyrine", "Quillfeather", "2017-03-14"), ("Marguerite", "Quillfeather", "1985-07-22")
SECRETS = (b"Zephyrine", b"Quillfeather", b"Marguerite", b"2017-03-14", b"1985-07-22", b"shouted at the school gate",
           b"9434765919", b"B801200005001", b"QF-77120", b"Thistledown", b"07700900461", b"quill@example.org",
           b"Bramblewick", b"DH9 7QX", b"DH97QX")
"""Names, dates of birth, a note, and (issue 25) an NHS number, a UPN, a council id, a
former name, a phone number, an email address and an address."""


def _record(client) -> dict[str, Any]:
    r = post_family(client, headers=PRACTITIONER, json={"policy": "durham-one-point", "team": "north", "members": [
        {"given_name": CHILD[0], "family_name": CHILD[1], "date_of_birth": CHILD[2], "kind": "child",
         "nhs_number": "943 476 5919", "council_person_id": "QF-77120"},
        {"given_name": ADULT[0], "family_name": ADULT[1], "date_of_birth": ADULT[2], "kind": "adult",
         "former_names": ["Marguerite Thistledown"], "phone": "07700 900461", "email": "quill@example.org",
         "relationship": "parent"}]})
    assert r.status_code == 201, r.text
    family = r.json()
    fid = family["family_id"]
    ok(client, fid, {"type": "MemberDetailsRecorded", "member_id": family["members"][0]["member_id"],
                     "upn": "B801200005001"})
    ok(client, fid, {"type": "AddressRecorded", "from_date": "2024-04-01", "address_lines": ["7 Bramblewick Row"],
                     "postcode": "dh9 7qx"})
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "occurred_at": "2026-10-01T09:00:00+00:00",
                     "reason": "Zephyrine Quillfeather's mother shouted at the school gate"})
    ok(client, fid, {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub",
                     "occurred_at": "2026-10-02T09:00:00+00:00"}, MANAGER)
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "occurred_at": "2026-10-02T10:00:00+00:00"},
       MANAGER)  # starts "every child seen every 20 working days": a deadline row naming the child
    ok(client, fid, {"type": "CaseNoteRecorded", "text": "Marguerite Quillfeather shouted at the school gate",
                     "occurred_at": "2026-10-03T09:00:00+00:00", "note": "Zephyrine upset"})
    ok(client, fid, {"type": "ManagementOversightRecorded", "text": "Zephyrine seen; Quillfeather family engaged",
                     "occurred_at": "2026-10-04T09:00:00+00:00"}, MANAGER)
    return family


def _stored_bytes(ledger) -> bytes:
    """Everything the database holds, as a copy or a backup would: the SQLite file and its
    WAL, or every table of the PostgreSQL schema dumped as text."""
    settings = ledger.settings
    if not settings.is_postgres:
        path = settings.sqlite_path()
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    found = []
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                            (settings.database_schema,))]
        for table in tables:
            with conn.cursor().copy(f'COPY "{settings.database_schema}"."{table}" TO STDOUT') as copy:
                for block in copy:
                    found.append(bytes(block))
    return b"".join(found)


def test_no_name_date_of_birth_or_note_is_stored_in_the_clear(client, ledger):
    family = _record(client)
    # Everything a reader is shown is there when they read it...
    chronology = client.get(f"/families/{family['family_id']}/chronology", headers=AUDITOR).json()["entries"]
    assert any("Zephyrine Quillfeather" in e["summary"] for e in chronology)
    team = client.get("/deadlines", headers=MANAGER).json()["deadlines"]
    assert "Zephyrine Quillfeather" in {r["member_name"] for r in team}
    found = client.get("/people", params={"name": "zeph quill"}, headers=AUDITOR).json()["people"]
    assert [(p["given_name"], p["date_of_birth"]) for p in found] == [(CHILD[0], CHILD[2])]
    by_birth = client.get("/people", params={"date_of_birth": ADULT[2]}, headers=AUDITOR).json()["people"]
    assert [p["given_name"] for p in by_birth] == [ADULT[0]]
    for params in ({"nhs_number": "9434765919"}, {"upn": "B801200005001"}, {"council_person_id": "QF-77120"},
                   {"postcode": "DH9 7QX"}, {"name": "thistledown"}):
        found = client.get("/families", params=params, headers=AUDITOR).json()["families"]
        assert [f["family_id"] for f in found] == [family["family_id"]], params
    # ...and none of it is in the stored bytes (the search terms neither: the log withholds them).
    stored = _stored_bytes(ledger)
    assert stored
    assert [s for s in SECRETS if s in stored] == []


def _erase(client, fid: str) -> None:
    for headers, body in ((PRACTITIONER, {"type": "ClosureProposed", "reason": "outcomes_met"}),
                          (MANAGER, {"type": "ClosureAuthorised"}),
                          (PRACTITIONER, {"type": "DocumentRecorded", "document": "family-survey"}),
                          (PRACTITIONER, {"type": "EpisodeClosed", "reason": "outcomes_met"})):
        ok(client, fid, body, headers)
    r = client.post(f"/families/{fid}/erasure", headers=auth("admin", "root", None),
                    json={"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"})
    assert r.status_code == 201, r.text


def test_an_erased_family_leaves_no_index_rows_and_is_never_found(client, ledger):
    family = _record(client)
    fid = family["family_id"]
    _erase(client, fid)
    if not ledger.settings.is_postgres:  # the WAL was checkpointed and truncated at once
        wal = Path(f"{ledger.settings.sqlite_path()}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    assert client.get("/people", params={"name": "Zephyrine"}, headers=AUDITOR).json()["people"] == []
    with client.app.state.projector.reading("chronology") as tx:
        assert tx.rows("SELECT * FROM {person_index} WHERE family_id = ?", (fid.replace("-", ""),)) == []
    assert [s for s in SECRETS if s in _stored_bytes(ledger)] == []


def test_a_rebuild_leaves_no_index_token_behind_once_the_family_is_erased(client, ledger):
    """A rebuild drops the read-model tables it replaces. Where all they hold of a person
    is sealed under the family's key, their pages are left to be reused as they are (ADR
    0053); the blind index's tokens are keyed for the whole ledger, so the index's pages
    are zeroed. A family erased after the rebuild leaves none of its tokens in the
    database's file (or in any table on PostgreSQL), and every connection zeroes again."""
    family = _record(client)
    fid = family["family_id"]
    with client.app.state.projector.reading("chronology") as tx:
        tokens = {r["token"].encode() for r in tx.rows("SELECT token FROM {person_index} WHERE family_id = ?",
                                                       (fid.replace("-", ""),))}
    assert len(tokens) > 10
    stored = _stored_bytes(ledger)
    assert all(t in stored for t in tokens)
    rebuild(Projector(ledger))
    _erase(client, fid)
    assert client.get("/families", params={"name": "zephyrine"}, headers=AUDITOR).json()["families"] == []
    assert [t for t in tokens if t in _stored_bytes(ledger)] == []
    if not ledger.settings.is_postgres:  # the connection that dropped tables unzeroed zeroes again
        store = client.app.state.projector.store
        with store.transaction() as tx:
            tx.run("CREATE TABLE scratch (a INTEGER)")
            store.drop(tx, ["scratch"], zeroed=[])
            assert tx.rows("PRAGMA secure_delete") == [{"secure_delete": 1}]


def test_the_data_folder_is_private_and_every_file_in_it_too(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "LEDGER_DATA_DIR": str(data), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    env.pop("LEDGER_DATABASE_URL", None)
    env.pop("LEDGER_JWT_SECRET", None)
    for args in (["teams", "add", "north", "--name", "North"], ["token", "--sub", "a", "--role", "auditor"],
                 ["project", "--until-caught-up"]):
        done = subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
    assert {"ledger.sqlite3", "master-keys", "jwt-secret", "index-key", "chain-key"} <= set(files), files
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}


def test_the_wal_and_shared_memory_files_are_private_while_the_database_is_open(client, ledger):
    if ledger.settings.is_postgres:
        pytest.skip("SQLite's files only")
    _record(client)
    path = ledger.settings.sqlite_path()
    for extra in ("-wal", "-shm"):
        found = Path(f"{path}{extra}")
        assert found.exists() and stat.S_IMODE(found.stat().st_mode) == 0o600, extra


@pytest.mark.parametrize("name", ["jwt_secret", "index_key", "chain_key"])
def test_a_key_shorter_than_32_bytes_is_refused_at_start(tmp_path, name):
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(data_dir=tmp_path, **{name: "too-short-to-be-safe"})
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path), f"LEDGER_{name.upper()}": "short",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-m", "cli", "teams", "list"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and f"LEDGER_{name.upper()} is 5 bytes" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_password_is_never_taken_on_the_command_line_and_never_printed(tmp_path, pg_database):
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    with_password = pg_database.replace("postgres@", "postgres:hunter2-secret@")
    done = subprocess.run([sys.executable, "-m", "cli", "teams", "list", "--database-url", with_password],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "LEDGER_DATABASE_PASSWORD" in done.stderr + done.stdout
    # From the environment it is used, and what is printed masks it.
    env.update(LEDGER_DATABASE_URL=with_password, LEDGER_DATABASE_SCHEMA="public")
    from cli.main import masked

    assert masked(with_password) == pg_database.replace("postgres@", "postgres:***@")
    assert "hunter2" not in masked(with_password)
