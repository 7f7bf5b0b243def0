"""Every request of the adversarial review of the write path (issue "A record that one
request cannot break and a correction cannot bend"), replayed (on one database:
docs/testing.md) with an ordinary practitioner's token (and, where it matters, a
manager's): each is refused with problem+json, records nothing, and leaves every read
model current. docs/security.md lists each attack with the test here that shows it refused.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, SUPERVISOR, auth, command, ok, register
from tests.registration import post_family

# Storage-neutral (docs/testing.md): each attack is refused by validation or the aggregate
# before anything is stored, so on one database; the one about stored bytes is marked storage.
pytestmark = pytest.mark.one_database

NORTH_MANAGER = MANAGER
SOUTH_MANAGER = auth("manager", "sol", "south")
SOUTH_PRACTITIONER = auth("practitioner", "sue", "south")


def position(client: TestClient) -> int:
    return client.app.state.ledger.recorder.max_notification_id() or 0  # type: ignore[attr-defined,no-any-return]


def refused(client: TestClient, family_id: str, body: Any, headers: dict[str, str], statuses: tuple[int, ...],
            contains: str = "", raw: bytes | None = None, **extra: str) -> dict[str, Any]:
    """The attack is refused with problem+json naming what is wrong, nothing is recorded,
    and the read models are still current and healthy afterwards."""
    before = position(client)
    if raw is not None:
        r = client.post(f"/families/{family_id}/commands", content=raw,
                        headers={**headers, "Content-Type": "application/json", **extra})
    else:
        r = client.post(f"/families/{family_id}/commands", json=body, headers={**headers, **extra})
    assert r.status_code in statuses, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert contains in problem["detail"], problem["detail"]
    assert position(client) == before, "a refused request must record nothing"
    _still_current(client)
    return problem  # type: ignore[no-any-return]


def _still_current(client: TestClient) -> None:
    """Another family can still be recorded and read back through every read model."""
    other = register(client)
    note = ok(client, other["family_id"], {"type": "ReferralReceived", "route": "self", "reason": "checking"})
    for path in (f"/families/{other['family_id']}/chronology", "/deadlines", "/caseloads"):
        r = client.get(path, params={"min_position": note["position"]}, headers=MANAGER)
        assert r.status_code == 200, (path, r.text)
    health = client.get("/health").json()
    assert health["status"] == "ok", health


@pytest.fixture
def ifst(client: TestClient) -> dict[str, Any]:
    """A Durham IFST family with consent, an assessment submitted and authorised, and a
    manager's 5-day extension of the assessment clock."""
    family = register(client)
    fid = family["family_id"]
    ava, ben, cara = (m["member_id"] for m in family["members"])
    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "help",
                     "occurred_at": "2026-10-01T09:00:00+01:00"})
    ok(client, fid, {"type": "TriageDecided", "outcome": "early_help", "pathway": "intensive-family-support",
                     "occurred_at": "2026-10-02T09:00:00+01:00"}, MANAGER)
    ok(client, fid, {"type": "ConsentGiven", "given_by": cara, "scope": ["support", "information_sharing"],
                     "occurred_at": "2026-10-05T09:00:00+01:00"})
    extension = ok(client, fid, {"type": "DeadlineExtended", "rule": "ifst-assessment", "extend_by": 5,
                                 "reason": "illness", "occurred_at": "2026-10-20T09:00:00+01:00"}, MANAGER)
    ok(client, fid, {"type": "AssessmentStarted", "assessment_id": aid, "occurred_at": "2026-10-06T09:00:00+01:00"})
    ok(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid,
                     "occurred_at": "2026-11-10T09:00:00+00:00"})
    authorised = ok(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid,
                                  "occurred_at": "2026-11-12T09:00:00+00:00"}, MANAGER)
    events = client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
    return {"family_id": fid, "ava": ava, "cara": cara, "registration": events[0]["event_id"],
            "extension": extension["event_id"], "authorised": authorised["event_id"], "assessment": aid}


def correction(corrects: str, changes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "EntryCorrected", "corrects": corrects, "changes": changes, "reason": "review", **extra}


# -- broken by one request --------------------------------------------------------------------


def test_a_registration_corrected_to_malformed_members_is_refused(client, ifst):
    refused(client, ifst["family_id"], correction(ifst["registration"], {"members": [{"x": 1}]}), PRACTITIONER,
            (422,), "members")


def test_an_extension_corrected_to_a_trillion_days_is_refused(client, ifst):
    refused(client, ifst["family_id"], correction(ifst["extension"], {"extend_by": 1_000_000_000_000}),
            NORTH_MANAGER, (422,), "extend_by")
    refused(client, ifst["family_id"], correction(ifst["extension"], {"extend_by": 10**30}), NORTH_MANAGER,
            (422,), "extend_by")


@pytest.mark.parametrize("text", ["before\x00after", "\x00"])
def test_text_holding_a_nul_character_is_refused(client, ifst, text):
    refused(client, ifst["family_id"], {"type": "CaseNoteRecorded", "text": text}, PRACTITIONER, (422,), "NUL")
    refused(client, ifst["family_id"], {"type": "CaseNoteRecorded", "text": "x", "note": text}, PRACTITIONER,
            (422,), "NUL")
    refused(client, ifst["family_id"], correction(ifst["authorised"], {"context": {"note": text}}),
            NORTH_MANAGER, (422,), "NUL")


@pytest.mark.parametrize("where", ["text", "reason", "key", "changes"])
def test_a_lone_surrogate_anywhere_is_a_422_not_a_500(client, ifst, where):
    bodies = {
        "text": b'{"type": "CaseNoteRecorded", "text": "bad \\ud800 text"}',
        "reason": b'{"type": "ReferralReceived", "route": "self", "reason": "\\udfff"}',
        "key": b'{"type": "CaseNoteRecorded", "text": "x", "\\ud800": 1}',
        "changes": orjson.dumps(correction(ifst["authorised"], {"context": {"note": "x"}}))
        .replace(b'"note":"x"', b'"note":"\\ud800"'),
    }
    refused(client, ifst["family_id"], None, NORTH_MANAGER, (422,), raw=bodies[where])
    r = client.post("/families", content=b'{"policy": "durham-one-point", "team": "north", "members": '
                                         b'[{"given_name": "\\ud83d", "family_name": "B", "kind": "child"}]}',
                    headers={**PRACTITIONER, "Content-Type": "application/json"})
    assert r.status_code == 422 and "unicode" in r.text


def test_a_nul_in_a_query_parameter_is_refused(client, ifst):
    r = client.get("/deadlines", params={"worker": "pat\x00"}, headers=MANAGER)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "NUL" in r.json()["detail"]


def test_dates_beyond_1900_to_2100_are_refused_wherever_they_are(client, ifst):
    plan = {"type": "PlanAgreed", "plan_id": str(uuid.uuid4()), "outcomes": ["x"]}
    refused(client, ifst["family_id"], {**plan, "review_by": "9999-01-01"}, PRACTITIONER, (422,), "after 2099")
    refused(client, ifst["family_id"], {**plan, "review_by": "1066-10-14"}, PRACTITIONER, (422,), "before 1900")


# -- bent by a correction ---------------------------------------------------------------------


def test_a_practitioner_cannot_correct_a_managers_extension(client, ifst):
    refused(client, ifst["family_id"], correction(ifst["extension"], {"extend_by": 400}), PRACTITIONER,
            (403,), "extend")
    # The manager who made it is held to the pack's cap as if extending now (45 in all).
    refused(client, ifst["family_id"], correction(ifst["extension"], {"extend_by": 400}), NORTH_MANAGER,
            (422,), "at most 17")
    r = command(client, ifst["family_id"], correction(ifst["extension"], {"extend_by": 10}), NORTH_MANAGER)
    assert r.status_code == 201, r.text


def test_a_practitioner_cannot_back_date_a_managers_authorisation(client, ifst):
    refused(client, ifst["family_id"], correction(ifst["authorised"], {"occurred_at": "2026-10-01T09:00:00+00:00"}),
            PRACTITIONER, (403,), "authorise")
    # Nor may the manager move it before the submission it authorises.
    refused(client, ifst["family_id"], correction(ifst["authorised"], {"occurred_at": "2026-11-09T09:00:00+00:00"}),
            NORTH_MANAGER, (409,), "before the assessment was submitted")
    # Another supervisor may not correct the manager's decision either; a manager of the team may.
    refused(client, ifst["family_id"], correction(ifst["authorised"], {"context": {"note": "checked"}}),
            SUPERVISOR, (403,), "only they or a manager")


def test_an_extension_cannot_be_pointed_at_a_rule_that_does_not_exist(client, ifst):
    refused(client, ifst["family_id"], correction(ifst["extension"], {"rule": "no-such-rule"}), NORTH_MANAGER,
            (422,), "no rule")
    refused(client, ifst["family_id"], correction(ifst["extension"], {"rule": "ifst-family-network-meeting"}),
            NORTH_MANAGER, (409,), "cannot be extended")


def test_routing_and_identifying_fields_are_not_correctable(client, ifst):
    fid = ifst["family_id"]
    refused(client, fid, correction(ifst["registration"], {"team": "south"}), NORTH_MANAGER, (422,), "TransferredOut")
    refused(client, fid, correction(ifst["registration"], {"members": []}), NORTH_MANAGER, (422,), "MemberAdded")
    refused(client, fid, correction(ifst["authorised"], {"assessment_id": str(uuid.uuid4())}), NORTH_MANAGER,
            (422,), "cannot be corrected")
    events = client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
    triage = next(e["event_id"] for e in events if e["type"] == "TriageDecided")
    refused(client, fid, correction(triage, {"outcome": "step_up", "pathway": "family-hub"}), PRACTITIONER,
            (403,), "only they or a manager")


def test_a_members_details_are_corrected_by_naming_the_member(client, ifst):
    fid = ifst["family_id"]
    refused(client, fid, correction(ifst["registration"], {"given_name": ""}, member=ifst["ava"]), PRACTITIONER,
            (422,), "given_name")
    refused(client, fid, correction(ifst["registration"], {"team": "south"}, member=ifst["ava"]), PRACTITIONER,
            (422,), "correctable details")
    r = command(client, fid, correction(ifst["registration"], {"given_name": "Eva"}, member=ifst["ava"]),
                PRACTITIONER)
    assert r.status_code == 201, r.text
    family = client.get(f"/families/{fid}", headers=AUDITOR).json()
    assert [m["given_name"] for m in family["members"]] == ["Eva", "Ben", "Cara"]
    chronology = client.get(f"/families/{fid}/chronology", headers=AUDITOR).json()["entries"]
    registered = next(e for e in chronology if e["type"] == "FamilyRegistered")
    assert "Eva Stone" in registered["summary"] and "Cara Stone" in registered["summary"], registered
    assert registered["corrections"][0]["changes"] == {"given_name": {"from": "Ava", "to": "Eva"}}
    ava = client.get(f"/families/{fid}/chronology", params={"member": ifst["ava"]}, headers=AUDITOR).json()
    assert ava["entries"][0]["summary"] == "Eva Stone born"


# -- bent by a team move ----------------------------------------------------------------------


def test_a_family_moves_only_to_a_known_team_by_a_transfer_its_managers_make(client, ifst):
    fid = ifst["family_id"]
    refused(client, fid, {"type": "AllocatedToTeam", "team": "south"}, PRACTITIONER, (409,), "TransferredOut")
    refused(client, fid, {"type": "AllocatedToTeam", "team": "made-up"}, NORTH_MANAGER, (409,), "TransferredOut")
    refused(client, fid, {"type": "TransferredOut", "to_team": "south", "reason": "x"}, PRACTITIONER,
            (403,), "supervisor or manager")
    refused(client, fid, {"type": "TransferredOut", "to_team": "made-up", "reason": "x"}, NORTH_MANAGER,
            (422,), "team directory")
    ok(client, fid, {"type": "TransferredOut", "to_team": "south", "reason": "moved house"}, NORTH_MANAGER)
    # Until the receiving team's manager accepts, north still holds it and south reads nothing.
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).status_code == 200
    assert client.get(f"/families/{fid}", headers=SOUTH_PRACTITIONER).status_code == 403
    refused(client, fid, {"type": "TransferredIn", "from_team": "north"}, SOUTH_PRACTITIONER, (403,),
            "supervisor or manager")
    ok(client, fid, {"type": "TransferredIn", "from_team": "north"}, SOUTH_MANAGER)
    assert client.get(f"/families/{fid}", headers=SOUTH_PRACTITIONER).status_code == 200
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).status_code == 403
    # The lists follow the team that holds it.
    assert fid in {r["family_id"] for r in client.get("/deadlines", headers=SOUTH_MANAGER).json()["deadlines"]}
    assert fid not in {r["family_id"] for r in client.get("/deadlines", headers=NORTH_MANAGER).json()["deadlines"]}


def test_a_family_is_registered_only_for_a_known_team(client):
    r = post_family(client, headers=auth("practitioner", "pat", "nrth"), json={
        "policy": "durham-one-point", "team": "nrth",
        "members": [{"given_name": "A", "family_name": "B", "kind": "child"}]})
    assert r.status_code == 422 and "team directory" in r.json()["detail"]
    teams = client.get("/teams", headers=PRACTITIONER).json()["teams"]
    assert {"north", "south"} <= {t["team_id"] for t in teams}


def test_a_replayed_registration_key_answers_what_it_first_answered_and_only_to_its_team(client):
    body = {"policy": "durham-one-point", "team": "north",
            "members": [{"given_name": "Ava", "family_name": "Stone", "kind": "child"}]}
    first = post_family(client, json=body, headers={**PRACTITIONER, "Idempotency-Key": "reg-1"})
    assert first.status_code == 201
    fid = first.json()["family_id"]
    member = first.json()["members"][0]["member_id"]
    ok(client, fid, {"type": "MemberAdded", "given_name": "Dan", "family_name": "Stone", "kind": "adult"})
    again = post_family(client, json=body, headers={**PRACTITIONER, "Idempotency-Key": "reg-1"})
    assert again.status_code == 201 and again.json() == first.json()  # not the family as it is now
    log = client.get(f"/families/{fid}/access-log", headers=MANAGER).json()["reads"]
    assert "register-replay" in [row["action"] for row in log]
    ok(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "x"})
    ok(client, fid, {"type": "TransferredOut", "to_team": "south", "reason": "moved"}, NORTH_MANAGER)
    ok(client, fid, {"type": "TransferredIn", "from_team": "north"}, SOUTH_MANAGER)
    before = position(client)
    moved = post_family(client, json=body, headers={**PRACTITIONER, "Idempotency-Key": "reg-1"})
    assert moved.status_code == 403 and "south" in moved.json()["detail"] and member not in moved.text
    assert position(client) == before


def test_a_member_cannot_take_another_familys_member_id(client, ifst):
    other = register(client)
    theirs = other["members"][0]["member_id"]
    refused(client, ifst["family_id"], {"type": "MemberAdded", "member_id": theirs, "given_name": "Ava",
                                        "family_name": "Stone", "kind": "child"}, PRACTITIONER, (422,),
            "another family's record")


# -- smaller defects ----------------------------------------------------------------------------


def test_an_erasure_for_retention_is_refused_before_the_retention_period_has_passed(client, ifst):
    fid = ifst["family_id"]
    for headers, body in ((PRACTITIONER, {"type": "ClosureProposed", "reason": "outcomes_met"}),
                          (NORTH_MANAGER, {"type": "MeetingHeld", "meeting_kind": "closure", "attendees": ["x"],
                                           "members_present": []}),
                          (SUPERVISOR, {"type": "SupervisionRecorded", "worker_id": "pat"}),
                          (NORTH_MANAGER, {"type": "ClosureAuthorised"}),
                          (PRACTITIONER, {"type": "DocumentRecorded", "document": "family-survey"}),
                          (PRACTITIONER, {"type": "EpisodeClosed", "reason": "outcomes_met"})):
        ok(client, fid, body, headers)
    due = client.get("/retention/due", headers=auth("admin", "root", None)).json()["families"]
    assert fid not in {f["family_id"] for f in due}
    r = client.post(f"/families/{fid}/erasure", headers=auth("admin", "root", None),
                    json={"reason": "retention-period-passed", "legal_basis": "UK GDPR Art. 5(1)(e)"})
    assert r.status_code == 409 and "runs until" in r.json()["detail"], r.text


def test_summaries_say_each_thing_once(client, ifst):
    fid = ifst["family_id"]
    ok(client, fid, {"type": "DocumentRecorded", "document": "home-visit-risk-assessment", "title": "RAPID"})
    entries = client.get(f"/families/{fid}/chronology", headers=AUDITOR).json()["entries"]
    summary = entries[-1]["summary"]
    assert summary.count("RAPID") == 1, summary


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_exports_cannot_carry_formulas(client, ifst, start):
    fid = ifst["family_id"]
    formula = f"{start}HYPERLINK(\"http://evil.example\",\"click\")"
    ok(client, fid, {"type": "CaseNoteRecorded", "text": formula, "action_taken": formula, "significance": "high",
                     "occurred_at": "2026-11-13T09:00:00+00:00"})
    auditor = AUDITOR
    downloads = {
        "chronology": client.get(f"/families/{fid}/chronology", params={"format": "csv"}, headers=auditor),
        "court": client.get(f"/families/{fid}/chronology", params={"format": "csv", "profile": "court"},
                            headers=auditor),
        "practice": client.get(f"/families/{fid}/chronology", params={"format": "csv", "profile": "practice"},
                               headers=auditor),
        "review": client.get(f"/families/{fid}/chronology", params={"format": "csv", "profile": "review"},
                             headers=auditor),
        "subject access": client.get(f"/members/{ifst['cara']}/subject-access", params={"format": "csv"},
                                     headers=MANAGER),
    }
    # The returns: Annex A carries the assessing agency. The SSD no longer carries the
    # referral's free text (only its category from a closed list, ADR 0032): it must not
    # appear at all, quoted or not.
    returns = register(client)
    rid = returns["family_id"]
    ok(client, rid, {"type": "ReferralReceived", "route": "self", "reason": formula,
                     "occurred_at": "2026-11-02T09:00:00+00:00"})
    ok(client, rid, {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub",
                     "occurred_at": "2026-11-02T10:00:00+00:00"}, MANAGER)
    ok(client, rid, {"type": "AssessmentStarted", "assessment_id": str(uuid.uuid4()), "agency": formula,
                     "occurred_at": "2026-11-03T09:00:00+00:00"})
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    downloads["annex a"] = client.get("/exports/annex-a/list-2", params=period, headers=auditor)
    downloads["ssd"] = client.get("/exports/ssd/early-help-episodes", params=period, headers=auditor)
    for name, r in downloads.items():
        assert r.status_code == 200, (name, r.text)
        cells = [cell for row in csv.reader(io.StringIO(r.text)) for cell in row]
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], name
        if name == "ssd":
            assert not [c for c in cells if "HYPERLINK" in c], cells
        elif name != "subject access":  # whose events are in its JSON detail column, quoted
            assert any(c.startswith("'" + start) for c in cells), name


def test_a_sign_off_that_must_come_first_cannot_be_got_round_by_back_dating_the_act(client):
    """Northamptonshire: the Team Manager authorises closure before it is agreed with the
    family (seed 002 L80, L309, a rule that refuses). An agreement stated to have happened
    before the sign-off is refused, even when the sign-off was typed in first."""
    family = register(client, policy="northamptonshire-0-19")
    fid = family["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "school",
                     "occurred_at": "2026-04-01T09:00:00+01:00"}, MANAGER)
    ok(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met", "occurred_at": "2026-05-05T09:00:00+01:00"})
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": "2026-05-13T09:00:00+01:00"}, MANAGER)
    refused(client, fid, {"type": "AgreementRecorded", "subject": "closure",
                          "occurred_at": "2026-05-12T09:00:00+01:00"}, PRACTITIONER, (409,), "stated to have happened")
    r = command(client, fid, {"type": "AgreementRecorded", "subject": "closure",
                              "occurred_at": "2026-05-14T09:00:00+01:00"}, PRACTITIONER)
    assert r.status_code == 201, r.text


def test_ledger_token_refuses_a_lifetime_that_has_already_ended(ledger_cli):
    for hours in ("-1", "0"):
        result = ledger_cli("token", "--sub", "pat", "--role", "practitioner", "--team", "north", "--hours", hours)
        assert result.exit_code == 2 and "--hours" in result.output
        assert "eyJ" not in result.output  # no token printed


@pytest.mark.storage
def test_ledger_verify_names_an_event_whose_bytes_were_turned_into_text(client, ifst, ledger, ledger_cli):
    from ledger.sql import Database

    db = Database.of(ledger)
    table = db.table(ledger.recorder.events_table_name)
    key: Any = uuid.UUID(ifst["family_id"]) if ledger.settings.is_postgres else uuid.UUID(ifst["family_id"]).hex
    if ledger.settings.is_postgres:
        pytest.skip("PostgreSQL's bytea column holds bytes whatever is written into it; SQLite's column takes text")
    sql = f"UPDATE {table} SET state = CAST(state AS TEXT) WHERE originator_id = ? AND originator_version = 2"
    with db.transaction() as tx:
        tx.run(sql, (key,))
    result = ledger_cli("verify")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "TypeError" not in result.output
    assert f"family {ifst['family_id']}, version 2" in result.output


def test_a_database_that_does_not_exist_is_named_without_a_traceback(pg_database, tmp_path):
    import os
    import subprocess
    import sys

    missing = pg_database.rsplit("/", 1)[0].replace("postgres@", "postgres:secret@") + "/no_such_ledger_db"
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data"), "LEDGER_DATABASE_URL": missing}
    done = subprocess.run([sys.executable, "-m", "cli", "teams", "list"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "secret" not in done.stderr
    assert 'database "no_such_ledger_db" does not exist' in done.stderr and "postgres:***@" in done.stderr
