"""Tamper evidence covers what people are shown (ADR 0013): each way of changing the
record behind the ledger's back that the review found unseen is named by ``ledger
verify``, which exits 1. (Events altered, removed, reordered or added, and the access
log edited: tests/test_integrity.py.)"""

from __future__ import annotations

import json
from uuid import UUID

import orjson
import pytest

from ledger import integrity
from ledger.sql import Database
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, auth, ok, register
from tests.test_integrity import Rows

# Storage tests (docs/testing.md): tamper evidence over stored rows, snapshots, keys and
# read models edited in the database, on every database.
pytestmark = pytest.mark.storage

ADMIN = auth("admin", "root", None)


def _family(client) -> dict:
    family = register(client)
    fid = family["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "worry",
                     "occurred_at": "2026-10-01T09:00:00+00:00"})
    ok(client, fid, {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub",
                     "occurred_at": "2026-10-02T09:00:00+00:00"}, MANAGER)
    ok(client, fid, {"type": "CaseNoteRecorded", "text": "Ava said she was scared at home", "significance": "high",
                     "occurred_at": "2026-10-03T09:00:00+00:00"})
    return family


def _verify(ledger_cli, *args: str):
    out = ledger_cli("verify", *args)
    if out.exception is not None and not isinstance(out.exception, SystemExit):
        raise out.exception
    return out.exit_code, out.output


def test_an_untouched_record_verifies_read_models_included(client, ledger_cli):
    _family(client)
    code, output = _verify(ledger_cli)
    assert code == 0, output
    assert "access log, keys, snapshots and read models checked" in output


def test_a_read_model_row_edited_in_the_database_is_named(client, ledger, ledger_cli):
    """A court chronology is read from the read model: forged wording there is tampering."""
    fid = _family(client)["family_id"]
    db = Database.of(ledger)
    table = db.table("chronology")
    with db.transaction() as tx:
        tx.run(f"UPDATE {table} SET summary = 'p1:Ava said she was happy at home' "
               "WHERE family_id = ? AND type = 'CaseNoteRecorded'", (UUID(fid).hex,))
    entries = client.get(f"/families/{fid}/chronology", headers=AUDITOR).json()["entries"]
    assert "Ava said she was happy at home" in [e["summary"] for e in entries]  # what a clerk would be shown
    code, output = _verify(ledger_cli)
    assert code == 1
    assert f"read model chronology: the chronology rows of family {fid} are not what its events give" in output


def test_the_newest_access_log_rows_removed_are_named(client, ledger, ledger_cli):
    fid = _family(client)["family_id"]
    for _ in range(3):
        assert client.get(f"/families/{fid}", headers=AUDITOR).status_code == 200
    ok(client, fid, {"type": "CaseNoteRecorded", "text": "after the reads"})  # its hash row carries the log's head
    last = ledger.access_log.head()[0]
    db = Database.of(ledger)
    with db.transaction() as tx:
        tx.run(f"DELETE FROM {db.table('access_log')} WHERE seq >= ?", (last - 1,))
    code, output = _verify(ledger_cli, "--skip-read-models")
    assert code == 1
    assert f"access log: row {last} is gone, though the event at position" in output


def test_access_log_rows_after_the_newest_event_are_pinned_by_a_published_head(client, ledger, ledger_cli):
    fid = _family(client)["family_id"]
    for _ in range(2):
        assert client.get(f"/families/{fid}", headers=AUDITOR).status_code == 200
    code, output = _verify(ledger_cli, "--skip-read-models", "--publish")
    assert code == 0, output
    published = output.strip().splitlines()[-1]
    body = json.loads(published)
    assert body["access_log"]["seq"] == ledger.access_log.head()[0] and body["mac"]
    db = Database.of(ledger)
    with db.transaction() as tx:
        tx.run(f"DELETE FROM {db.table('access_log')} WHERE seq = ?", (body["access_log"]["seq"],))
    code, output = _verify(ledger_cli, "--skip-read-models", "--expect", published)
    assert code == 1 and f"access log: row {body['access_log']['seq']} is not the one published" in output
    forged = published.replace(body["head"], "0" * 64)
    code, output = _verify(ledger_cli, "--skip-read-models", "--expect", forged)
    assert code == 1 and "signature does not match" in output


def test_a_legal_hold_is_an_event_and_removing_it_is_named(client, ledger, ledger_cli):
    fid = _family(client)["family_id"]
    assert client.put(f"/legal-holds/{fid}", headers=ADMIN, json={"reason": "Inquiry"}).status_code == 200
    events = ledger.recorder.select_notifications(1, 1000)
    placed = next(n for n in events if n.topic.endswith("HoldRegister.Placed"))
    db = Database.of(ledger)
    table = db.table(ledger.recorder.events_table_name)
    position = "notification_id" if ledger.settings.is_postgres else "rowid"
    with db.transaction() as tx:
        tx.run(f"DELETE FROM {table} WHERE {position} = ?", (placed.id,))
    code, output = _verify(ledger_cli, "--skip-read-models")
    assert code == 1 and f"the event at position {placed.id}" in output and "was removed" in output


def test_a_family_key_destroyed_without_an_erasure_event_is_named(client, ledger, ledger_cli):
    fid = _family(client)["family_id"]
    db = Database.of(ledger)
    with db.transaction() as tx:
        tx.run(f"UPDATE {db.table('family_keys')} SET wrapped = NULL WHERE family_id = ?", (UUID(fid).hex,))
    code, output = _verify(ledger_cli, "--skip-read-models")
    assert code == 1 and f"family {fid}: its key is destroyed but no PersonalDataErased event" in output


def test_a_corrupted_snapshot_is_named_and_passed_over_when_reading(client, ledger, ledger_cli):
    fid = _family(client)["family_id"]
    ledger.take_snapshot(UUID(fid))
    db = Database.of(ledger)
    table = db.table(ledger.snapshots.recorder.events_table_name)
    with db.transaction() as tx:
        tx.run(f"UPDATE {table} SET state = ?", (b'{"not": "a snapshot"',))
    ledger.forget_cached(UUID(fid))
    r = client.get(f"/families/{fid}", headers=PRACTITIONER)
    assert r.status_code == 200 and r.json()["version"] == 4  # folded from the events instead
    code, output = _verify(ledger_cli, "--skip-read-models")
    assert code == 1 and f"the snapshot of family {fid} at version 4 does not decode" in output


def test_an_old_event_rewritten_with_every_later_hash_recomputed_is_named(client, ledger, ledger_cli):
    """Without the chain key, a rewrite cannot be made consistent; with the key (a thief
    with the database and the key), a head published earlier still shows it."""
    family = _family(client)
    fid = UUID(family["family_id"])
    code, output = _verify(ledger_cli, "--skip-read-models", "--publish")
    published = output.strip().splitlines()[-1]
    rows = Rows(ledger)
    row = rows.one(fid, 3)  # the triage decision
    state = orjson.loads(bytes(row["state"]))
    state["outcome"] = "no_further_action"
    rows.run("UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = 3",
             (orjson.dumps(state), rows.key(fid)))

    def rechain(key: bytes) -> None:
        db = Database.of(ledger)
        table = db.table("event_hashes")
        with db.transaction() as tx:
            hashes = tx.rows(f"SELECT * FROM {table} ORDER BY notification_id")
            streams: dict[str, str] = {}
            previous = integrity.GENESIS
            for h in hashes:
                stored = next(n for n in ledger.recorder.select_notifications(h["notification_id"], 1))
                mine = integrity.stream_hash(key, streams.get(h["originator_id"], integrity.GENESIS),
                                             UUID(h["originator_id"]), h["originator_version"], stored.topic,
                                             stored.state)
                previous = integrity.global_hash(key, previous, h["notification_id"], mine, h["log_seq"], h["log_hash"])
                streams[h["originator_id"]] = mine
                tx.run(f"UPDATE {table} SET stream_hash = ?, global_hash = ? WHERE notification_id = ?",
                       (mine, previous, h["notification_id"]))

    rechain(b"a key the attacker guessed, not the ledger's chain key")
    code, output = _verify(ledger_cli, "--skip-read-models")
    assert code == 1 and "altered" in output
    rechain(ledger.settings.hash_chain_key())  # the attacker had the key too
    code, output = _verify(ledger_cli, "--skip-read-models")
    assert code == 0, output  # consistent again...
    code, output = _verify(ledger_cli, "--skip-read-models", "--expect", published)
    assert code == 1 and "is not the one published" in output  # ...but not the record that was published
