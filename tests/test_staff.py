"""People named as people (issue 21, item 3; ADR 0030): the staff directory over HTTP and
the CLI, names from the token's claims recorded in the envelope, the directory for the
rest, an unknown user marked as such, and staff surviving a family's erasure."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from ledger.staff import Person, StaffEntry, describe
from ledger.tokens import TokenRefused, decode, mint
from tests.conftest import AUDITOR, MANAGER, SECRET, auth, command, register

# Storage tests (docs/testing.md): the directory is a table of its own, written and read
# on each database; the HTTP and wording tests need one.
pytestmark = pytest.mark.one_database

ADMIN = auth("admin", "admin-1", None)
SAM = {"Authorization": "Bearer " + mint(SECRET, sub="sot-sfsw-06", role="practitioner", team="north",
                                         name="Sam Jones", job_title="Family Support Worker")}


def _open(client: Any) -> str:
    """A family registered (by "pat", whose token has no name) with a referral received."""
    fid: str = register(client)["family_id"]
    r = command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "help"}, MANAGER)
    assert r.status_code == 201, r.text
    return fid


def _entries(client: Any, fid: str) -> list[dict[str, Any]]:
    r = client.get(f"/families/{fid}/chronology", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return r.json()["entries"]  # type: ignore[no-any-return]


# --- describe ----------------------------------------------------------------------------------


def test_describe_names_from_the_envelope_then_the_directory_then_the_id_marked_unknown() -> None:
    directory = {"kim": StaffEntry("kim", "Kim Reid", "Team Manager", "2026-01-01T00:00:00+00:00", "admin")}
    assert describe("sam", name="Sam Jones", job_title="Family Support Worker") == Person(
        "sam", "Sam Jones", "Family Support Worker", True, "Sam Jones, Family Support Worker")
    assert describe("sam", name="Sam Jones").text == "Sam Jones"
    assert describe("kim", directory=directory).text == "Kim Reid, Team Manager"
    assert describe("kim", name="Kim Smith", directory=directory).text == "Kim Smith", "the envelope wins"
    unknown = describe("sot-sfsw-06", directory=directory)
    assert not unknown.known and unknown.text == "sot-sfsw-06 (not in the staff directory)"


# --- the directory over HTTP ---------------------------------------------------------------------


def test_an_admin_keeps_the_directory_over_http_and_each_change_is_logged(client, ledger) -> None:
    assert client.get("/staff", headers=ADMIN).json() == {"staff": []}
    assert client.get("/staff/sot-sfsw-06", headers=ADMIN).status_code == 404
    r = client.put("/staff/sot-sfsw-06", headers=ADMIN,
                   json={"name": "Sam Jones", "job_title": "Family Support Worker"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Sam Jones" and r.json()["updated_by"] == "admin-1"
    r = client.put("/staff/sot-sfsw-06", headers=ADMIN, json={"name": "Sam Jones-Reid"})
    assert r.status_code == 200 and r.json()["job_title"] is None
    found = client.get("/staff/sot-sfsw-06", headers=ADMIN).json()
    assert found["name"] == "Sam Jones-Reid"
    assert [s["user_id"] for s in client.get("/staff", headers=ADMIN).json()["staff"]] == ["sot-sfsw-06"]
    with ledger.access_log._tx(commit=False) as tx:
        rows = tx.rows("SELECT * FROM {access_log} WHERE action = 'staff-update' ORDER BY seq")
    assert [(x["user_id"], x["path"], x["outcome"]) for x in rows] == [
        ("admin-1", "/staff/sot-sfsw-06", "allowed")] * 2


@pytest.mark.parametrize("headers", [MANAGER, AUDITOR, auth("practitioner", "pat", "north"),
                                     auth("service", "svc", None), auth("inspector", "ina", None)])
def test_no_one_but_an_admin_reads_or_changes_the_directory(client, ledger, headers) -> None:
    assert client.put("/staff/pat", headers=headers, json={"name": "Pat Smith"}).status_code == 403
    assert client.get("/staff", headers=headers).status_code == 403
    assert client.get("/staff/pat", headers=headers).status_code == 403
    assert ledger.staff.all() == []


@pytest.mark.parametrize("body", [
    {"name": ""}, {"name": "   "}, {}, {"name": "x" * 121}, {"name": "Sam", "job_title": "y" * 121},
    {"name": "Sam\nJones"}, {"name": "Sam", "job_title": "Worker\x00"}, {"name": "Sam", "extra": 1},
    {"name": 7}, ["Sam"],
])
def test_bad_input_is_422_problem_json_and_nothing_is_written(client, ledger, body) -> None:
    r = client.put("/staff/sot-sfsw-06", headers=ADMIN, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert ledger.staff.all() == []


def test_a_user_id_with_spaces_or_too_long_is_refused(client, ledger) -> None:
    assert client.put("/staff/a%20b", headers=ADMIN, json={"name": "Sam"}).status_code == 422
    assert client.put("/staff/" + "a" * 129, headers=ADMIN, json={"name": "Sam"}).status_code == 422
    assert ledger.staff.all() == []


# --- tokens and the envelope ---------------------------------------------------------------------


def test_a_token_carries_name_and_job_title_into_the_actor() -> None:
    actor = decode(SECRET, SAM["Authorization"].split()[1])
    assert actor["name"] == "Sam Jones" and actor["job_title"] == "Family Support Worker"
    plain = decode(SECRET, mint(SECRET, sub="pat", role="practitioner", team="north"))
    assert "name" not in plain and "job_title" not in plain
    with pytest.raises(ValueError):
        mint(SECRET, sub="pat", role="practitioner", team="north", name="x" * 121)
    import jwt

    forged = jwt.encode({"sub": "pat", "role": "auditor", "exp": 4_102_444_800, "name": "a\nb"}, SECRET,
                        algorithm="HS256")
    with pytest.raises(TokenRefused):
        decode(SECRET, forged)


def test_the_name_in_the_token_is_recorded_in_the_envelope_and_shown_in_the_chronology(client, ledger) -> None:
    fid = _open(client)
    r = command(client, fid, {"type": "CaseNoteRecorded", "text": "seen at home"}, SAM)
    assert r.status_code == 201, r.text
    events = client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
    assert events[-1]["actor"] == {"user_id": "sot-sfsw-06", "role": "practitioner", "team": "north",
                                   "name": "Sam Jones", "job_title": "Family Support Worker"}
    note = _entries(client, fid)[-1]
    assert note["source"]["recorded_by"] == "sot-sfsw-06"
    assert note["source"]["recorded_by_name"] == "Sam Jones, Family Support Worker"
    # The envelope wins over a later directory entry: what was true when recorded.
    ledger.staff.put("sot-sfsw-06", "Samantha Jones", "Senior Family Support Worker", "admin-1")
    assert _entries(client, fid)[-1]["source"]["recorded_by_name"] == "Sam Jones, Family Support Worker"
    from ledger import integrity

    assert integrity.verify(ledger).ok, "the chain covers envelopes with and without names"


def test_a_user_with_no_name_on_file_reads_as_the_directory_names_them_or_as_unknown(client, ledger) -> None:
    fid = register(client)["family_id"]  # by "pat", whose token has no name
    assert _entries(client, fid)[0]["source"]["recorded_by_name"] == "pat (not in the staff directory)"
    ledger.staff.put("pat", "Pat Okafor", "Key Worker", "admin-1")
    entry = _entries(client, fid)[0]
    assert entry["source"]["recorded_by"] == "pat" and entry["source"]["recorded_by_name"] == "Pat Okafor, Key Worker"


def test_a_worker_named_in_a_summary_is_shown_by_name_at_read_time(client, ledger) -> None:
    fid = _open(client)
    body = {"type": "AllocatedToWorker", "worker_id": "dur-kw-01", "worker_role": "KW"}
    assert command(client, fid, body, MANAGER).status_code == 201
    allocated = _entries(client, fid)[-1]
    assert allocated["summary"] == "Allocated to dur-kw-01 (not in the staff directory) (KW) as lead professional"
    ledger.staff.put("dur-kw-01", "Kim Reid", "Key Worker", "admin-1")
    assert _entries(client, fid)[-1]["summary"] == "Allocated to Kim Reid, Key Worker (KW) as lead professional"
    csv = client.get(f"/families/{fid}/chronology", params={"format": "csv"}, headers=AUDITOR).text
    assert "Kim Reid, Key Worker" in csv and "{w:" not in csv


def test_a_correction_names_who_corrected_it(client, ledger) -> None:
    fid = _open(client)
    note = command(client, fid, {"type": "CaseNoteRecorded", "text": "seen at hme"}, SAM).json()
    r = command(client, fid, {"type": "EntryCorrected", "corrects": note["event_id"], "reason": "typo",
                              "changes": {"text": "seen at home"}}, SAM)
    assert r.status_code == 201, r.text
    corrected = next(e for e in _entries(client, fid) if e["event_id"] == note["event_id"])
    assert corrected["corrections"][0]["recorded_by_name"] == "Sam Jones, Family Support Worker"
    assert "name" not in corrected["corrections"][0]


def test_oversight_names_the_decider(client, ledger) -> None:
    ledger.staff.put("meg", "Meg Walsh", "Team Manager", "admin-1")
    fid = _open(client)
    assert command(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat"}, MANAGER).status_code == 201
    found = client.get(f"/families/{fid}/oversight", headers=AUDITOR).json()
    allocation = next(d for d in found["decisions"] if d["type"] == "AllocatedToWorker")
    assert allocation["by"]["name"] == "Meg Walsh, Team Manager" and allocation["by"]["user_id"] == "meg"
    assert allocation["summary"] == "Allocated to pat (not in the staff directory) as lead professional"
    assert {p["name"] for p in found["footprints"]} >= {"Meg Walsh, Team Manager"}


# --- erasure -------------------------------------------------------------------------------------


@pytest.mark.storage
def test_erasing_a_family_leaves_the_staff_directory(client, ledger) -> None:
    ledger.staff.put("kim", "Kim Reid", "Team Manager", "admin-1")
    sam = {"user_id": "sot-sfsw-06", "role": "practitioner", "team": "north", "name": "Sam Jones",
           "job_title": "Family Support Worker"}
    fid = str(ledger.register_family(policy="durham-one-point", team="north", actor=sam, members=[
        {"given_name": "Ava", "family_name": "Stone", "date_of_birth": date(2016, 5, 4), "kind": "child"}]).family_id)
    r = client.post(f"/families/{fid}/erasure", headers=ADMIN,
                    json={"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"})
    assert r.status_code == 201, r.text
    assert [(e.user_id, e.name) for e in ledger.staff.all()] == [("kim", "Kim Reid")]
    names = {e["source"]["recorded_by_name"] for e in _entries(client, fid)}
    assert "Sam Jones, Family Support Worker" in names, "staff names are not the family's personal data"


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.storage
def test_ledger_staff_add_list_update(ledger_cli, settings) -> None:
    r = ledger_cli("staff", "add", "sot-sfsw-06", "--name", "Sam Jones", "--job-title", "Family Support Worker")
    assert r.exit_code == 0, r.output
    assert "Sam Jones, Family Support Worker" in r.output
    r = ledger_cli("staff", "update", "sot-sfsw-06", "--job-title", "Senior Family Support Worker")
    assert r.exit_code == 0, r.output
    r = ledger_cli("staff", "list")
    assert r.exit_code == 0 and "sot-sfsw-06" in r.output and "Senior Family Support Worker" in r.output
    assert "Sam Jones" in r.output
    r = ledger_cli("staff", "update", "nobody", "--name", "X")
    assert r.exit_code == 2 and "not in the staff directory" in r.output
    r = ledger_cli("staff", "add", "kim", "--name", "  ")
    assert r.exit_code == 2 and "name" in r.output
    r = ledger_cli("token", "--sub", "sot-sfsw-06", "--role", "practitioner", "--team", "north",
                   "--name", "Sam Jones", "--job-title", "Family Support Worker")
    assert r.exit_code == 0, r.output
    actor = decode(SECRET, r.output.strip())
    assert (actor["name"], actor["job_title"]) == ("Sam Jones", "Family Support Worker")
    assert json.dumps(actor)
