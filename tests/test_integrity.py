"""Tamper evidence: rows altered, removed, reordered or added directly in the database
are named by ``ledger verify``, which exits 1; the access log's own chain likewise."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
import pytest

from ledger import integrity
from ledger.sql import Database
from tests.conftest import AUDITOR, MANAGER, command, register

# Storage tests (docs/testing.md): tamper evidence over rows edited in the database, on
# every database.
pytestmark = pytest.mark.storage


@pytest.fixture
def recorded(client, ledger):
    """Two families with a few events each; the Stones' event ids in version order."""
    ids = []
    for _ in range(2):
        fid = register(client)["family_id"]
        for body, headers in (
            ({"type": "ReferralReceived", "route": "professional", "reason": "worry"}, None),
            ({"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub"}, MANAGER),
            ({"type": "CaseNoteRecorded", "text": "first visit"}, None),
        ):
            assert command(client, fid, body, headers).status_code == 201
        ids.append(fid)
    events = client.get(f"/families/{ids[0]}/events", headers=AUDITOR).json()["events"]
    return {"family_id": UUID(ids[0]), "event_ids": [e["event_id"] for e in events]}


class Rows:
    """The ledger's event rows, straight from the database."""

    def __init__(self, ledger: Any) -> None:
        self.db = Database.of(ledger)
        self.postgres = ledger.settings.is_postgres
        self.table = self.db.table(ledger.recorder.events_table_name)
        self.position = "notification_id" if self.postgres else "rowid"

    def key(self, family_id: UUID) -> Any:
        return family_id if self.postgres else family_id.hex

    def one(self, family_id: UUID, version: int) -> dict[str, Any]:
        with self.db.transaction(commit=False) as tx:
            row = tx.one(f"SELECT {self.position} AS position, topic, state FROM {self.table} "
                         "WHERE originator_id = ? AND originator_version = ?", (self.key(family_id), version))
        assert row is not None
        return row

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self.db.transaction() as tx:
            tx.run(sql.replace("{events}", self.table).replace("{pos}", self.position), params)


def _problems(ledger) -> list[str]:
    return integrity.verify(ledger).problems


def test_an_untouched_ledger_verifies_and_prints_its_head_hash(recorded, ledger, ledger_cli):
    result = integrity.verify(ledger)
    assert result.ok and (result.events, result.families) == (8, 2)
    out = ledger_cli("verify")
    assert out.exit_code == 0, out.output
    assert "ok: 8 events in 2 families" in out.output and f"head hash {result.head}" in out.output


def test_an_event_altered_in_the_database_is_named(recorded, ledger, ledger_cli):
    rows, fid = Rows(ledger), recorded["family_id"]
    row = rows.one(fid, 3)  # the triage decision
    state = orjson.loads(bytes(row["state"]))
    state["outcome"] = "no_further_action"
    rows.run("UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = 3",
             (orjson.dumps(state), rows.key(fid)))
    problems = _problems(ledger)
    assert any(recorded["event_ids"][2] in p and "altered" in p for p in problems), problems
    out = ledger_cli("verify")
    assert out.exit_code == 1 and recorded["event_ids"][2] in out.output and "FAILED" in out.output


def test_an_event_removed_from_the_database_is_named(recorded, ledger):
    rows, fid = Rows(ledger), recorded["family_id"]
    position = rows.one(fid, 2)["position"]
    rows.run("DELETE FROM {events} WHERE originator_id = ? AND originator_version = 2", (rows.key(fid),))
    problems = _problems(ledger)
    assert any(f"position {position}" in p and "removed" in p for p in problems), problems
    assert any("follows version 1" in p for p in problems), problems


def test_events_reordered_in_the_database_are_named(recorded, ledger):
    rows, fid = Rows(ledger), recorded["family_id"]
    second, third = rows.one(fid, 2), rows.one(fid, 3)
    for version, row in ((2, third), (3, second)):  # swap what the two rows say
        rows.run("UPDATE {events} SET topic = ?, state = ? WHERE originator_id = ? AND originator_version = ?",
                 (row["topic"], bytes(row["state"]), rows.key(fid), version))
    problems = _problems(ledger)
    named = " ".join(problems)
    assert recorded["event_ids"][1] in named and recorded["event_ids"][2] in named, problems


def test_an_event_inserted_in_the_database_is_named(recorded, ledger):
    rows, fid = Rows(ledger), recorded["family_id"]
    last = rows.one(fid, 4)
    forged = orjson.loads(bytes(last["state"]))
    forged["event_id"] = "0b6f3f5e-6a43-4d8e-9c1e-000000000001"
    rows.run("INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (?, 5, ?, ?)",
             (rows.key(fid), last["topic"], orjson.dumps(forged)))
    problems = _problems(ledger)
    assert any("0b6f3f5e-6a43-4d8e-9c1e-000000000001" in p and "no hash" in p for p in problems), problems


def test_the_access_log_cannot_be_edited_unseen(client, recorded, ledger, ledger_cli):
    fid = recorded["family_id"]
    for _ in range(3):
        assert client.get(f"/families/{fid}", headers=AUDITOR).status_code == 200
    assert ledger_cli("verify").exit_code == 0
    db = Database.of(ledger)
    table = db.table("access_log")
    with db.transaction() as tx:
        tx.run(f"UPDATE {table} SET user_id = 'nobody' WHERE seq = 2")
        tx.run(f"DELETE FROM {table} WHERE seq = 3")
    out = ledger_cli("verify")
    assert out.exit_code == 1
    assert "access log: row 2 was altered" in out.output, out.output
    assert "access log: row 3 is missing" in out.output, out.output
    # And no route writes to it: the API has no way to change or delete a read.
    for method in ("put", "post", "delete", "patch"):
        r = client.request(method, f"/families/{fid}/access-log", headers=AUDITOR)
        assert r.status_code in (403, 405), (method, r.status_code)
