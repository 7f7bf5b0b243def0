"""People beyond their names (issue 25): the identifiers councils match families by (NHS
number, Unique Pupil Number, the council's own id, former names), a family's address
history and members' contact details, each member's relationship to the children and
parental responsibility, possible duplicates at registration, families linked (never
merged), search by any of these, the returns' child ids, subject access and erasure.

The Stones: Ava (born 4 May 2016, NHS number 943 476 5919, UPN B801200005001), Ben
(born 1 March 2026) and their mother Cara (formerly Cara Smith), registered by the north
team under Durham's pack; they live at 12 Mill Lane, Durham DH1 5ZA, and before that at
3 Elm Grove, Durham DH7 8QR.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, auth, close_episode, ok, refused

pytestmark = pytest.mark.one_database

AVA_NHS, AVA_UPN = "9434765919", "B801200005001"
ADMIN = auth("admin", "adam", None)
SOUTH = auth("practitioner", "sol", "south")
ERASE = {"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"}
STONES = [
    {"given_name": "Ava", "family_name": "Stone", "date_of_birth": "2016-05-04", "kind": "child",
     "nhs_number": "943 476 5919", "upn": "b801200005001", "gender": "2"},
    {"given_name": "Ben", "family_name": "Stone", "date_of_birth": "2026-03-01", "kind": "child", "gender": "1"},
    {"given_name": "Cara", "family_name": "Stone", "date_of_birth": "1990-02-03", "kind": "adult", "gender": "2",
     "relationship": "parent", "parental_responsibility": True, "former_names": ["Cara Smith"],
     "phone": "07700 900123", "email": "cara.stone@example.org", "council_person_id": "DUR-448120"},
]


def _register(client: Any, members: list[dict[str, Any]], headers: dict[str, str] = PRACTITIONER,
              **extra: Any) -> Any:
    return client.post("/families", headers=headers, json={
        "policy": "durham-one-point", "team": "north", "members": members, **extra})


def _families(client: Any) -> int:
    return int(client.get("/families", headers=AUDITOR).json()["total"])


@pytest.fixture
def stones(client: Any) -> dict[str, str]:
    r = _register(client, STONES)
    assert r.status_code == 201, r.text
    found = r.json()
    ids = {"family": found["family_id"], **{m["given_name"].lower(): m["member_id"] for m in found["members"]}}
    ok(client, ids["family"], {"type": "AddressRecorded", "from_date": "2019-06-01",
                               "address_lines": ["3 Elm Grove", "Durham"], "postcode": "dh78qr"})
    ok(client, ids["family"], {"type": "AddressRecorded", "from_date": "2025-09-15",
                               "address_lines": ["12 Mill Lane", "Durham"], "postcode": "DH1 5ZA"})
    return ids


# --- identifiers, checked -------------------------------------------------------------------------


def test_identifiers_are_kept_as_given_in_one_written_form(client, stones):
    family = client.get(f"/families/{stones['family']}", headers=AUDITOR).json()
    by_name = {m["given_name"]: m for m in family["members"]}
    assert by_name["Ava"]["nhs_number"] == AVA_NHS and by_name["Ava"]["upn"] == AVA_UPN
    cara = by_name["Cara"]
    assert (cara["relationship"], cara["parental_responsibility"], cara["former_names"]) == (
        "parent", True, ["Cara Smith"])
    assert (cara["phone"], cara["email"], cara["council_person_id"]) == (
        "07700900123", "cara.stone@example.org", "DUR-448120")
    assert by_name["Ben"]["nhs_number"] is None


@pytest.mark.parametrize("member, field, says", [
    ({"nhs_number": "943 476 5918"}, "members.0.nhs_number", "check digit"),
    ({"nhs_number": "94347659"}, "members.0.nhs_number", "10 digits"),
    ({"upn": "A801200005001"}, "members.0.upn", "check letter"),
    ({"upn": "B80120000500"}, "members.0.upn", "13 characters"),
    ({"phone": "12"}, "members.0.phone", "10 to 15 digits"),
    ({"email": "cara at example"}, "members.0.email", "not an email address"),
    ({"relationship": "aunt"}, "members.0.relationship", ""),
])
def test_a_wrong_identifier_at_registration_is_422_naming_the_field_and_nothing_is_recorded(
        client, member, field, says):
    before = _families(client)
    r = _register(client, [{**STONES[0], **member}])
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text and says in r.text
    assert _families(client) == before


def test_identifiers_are_recorded_later_and_a_wrong_one_is_refused_naming_it(client, stones):
    refused(client, stones["family"], {"type": "MemberDetailsRecorded", "member_id": stones["ben"],
                                       "nhs_number": "4010232137"[:9] + "0"}, status=422, contains="check digit")
    refused(client, stones["family"], {"type": "MemberDetailsRecorded", "member_id": stones["ben"],
                                       "nhs_number": AVA_NHS}, status=422, contains="another member of this family")
    refused(client, stones["family"], {"type": "MemberDetailsRecorded", "member_id": stones["ben"]},
            status=422, contains="give at least one of")
    ok(client, stones["family"], {"type": "MemberDetailsRecorded", "member_id": stones["ben"],
                                  "nhs_number": "401 023 2137", "council_person_id": "DUR-448121"})
    ben = _member(client, stones, "ben")
    assert (ben["nhs_number"], ben["council_person_id"], ben["upn"]) == ("4010232137", "DUR-448121", None)


def test_an_identifier_is_corrected_like_any_fact_and_held_to_the_same_check(client, stones):
    recorded = ok(client, stones["family"], {"type": "MemberDetailsRecorded", "member_id": stones["ben"],
                                             "nhs_number": "4010232137"})
    refused(client, stones["family"], {"type": "EntryCorrected", "corrects": recorded["event_id"],
                                       "changes": {"nhs_number": "4010232138"}, "reason": "typo"},
            status=422, contains="changes.nhs_number")
    ok(client, stones["family"], {"type": "EntryCorrected", "corrects": recorded["event_id"],
                                  "changes": {"nhs_number": "485 777 3457"}, "reason": "mistyped from the letter"})
    assert _member(client, stones, "ben")["nhs_number"] == "4857773457"
    # A member's details as registered are corrected naming the member, checked the same way.
    registration = client.get(f"/families/{stones['family']}/events", headers=AUDITOR).json()["events"][0]
    refused(client, stones["family"], {"type": "EntryCorrected", "corrects": registration["event_id"],
                                       "member": stones["ava"], "changes": {"upn": "A801200005001"},
                                       "reason": "typo"}, status=422, contains="check letter")
    assert found_families(client, nhs_number="4857773457")["total"] == 1
    assert found_families(client, nhs_number="4010232137")["total"] == 0


def test_no_two_members_of_a_family_share_an_nhs_number_or_upn_however_it_is_recorded(client, stones):
    r = _register(client, [{**STONES[0], "given_name": "Eve", "family_name": "Hart", "nhs_number": "4010232137",
                            "upn": None},
                           {**STONES[1], "given_name": "Finn", "family_name": "Hart", "nhs_number": "4010232137"}])
    assert r.status_code == 422 and r.json()["field"] == "members.1.nhs_number", r.text
    registration = client.get(f"/families/{stones['family']}/events", headers=AUDITOR).json()["events"][0]
    refused(client, stones["family"], {"type": "EntryCorrected", "corrects": registration["event_id"],
                                       "member": stones["ben"], "changes": {"nhs_number": AVA_NHS},
                                       "reason": "copied"}, status=422, contains="changes.nhs_number")
    details = ok(client, stones["family"], {"type": "MemberDetailsRecorded", "member_id": stones["ben"],
                                            "upn": "L801200005007"})
    refused(client, stones["family"], {"type": "EntryCorrected", "corrects": details["event_id"],
                                       "changes": {"upn": AVA_UPN}, "reason": "copied"},
            status=422, contains="another member of this family")


def _member(client: Any, ids: dict[str, str], name: str) -> dict[str, Any]:
    family = client.get(f"/families/{ids['family']}", headers=AUDITOR).json()
    return next(m for m in family["members"] if m["member_id"] == ids[name])


# --- address and relationships ---------------------------------------------------------------------


def test_the_address_history_is_in_date_order_and_a_bad_postcode_or_future_move_is_refused(client, stones):
    family = client.get(f"/families/{stones['family']}", headers=AUDITOR).json()
    assert [(a["from_date"], a["postcode"]) for a in family["addresses"]] == [
        ("2019-06-01", "DH7 8QR"), ("2025-09-15", "DH1 5ZA")]
    refused(client, stones["family"], {"type": "AddressRecorded", "from_date": "2026-01-01",
                                       "address_lines": ["1 High Street"], "postcode": "DH1 ZZZ"},
            status=422, contains="postcode")
    refused(client, stones["family"], {"type": "AddressRecorded", "from_date": "2027-01-01",
                                       "address_lines": ["1 High Street"], "postcode": "DH1 1AA"},
            status=422, contains="in the future")
    refused(client, stones["family"], {"type": "AddressRecorded", "from_date": "2026-01-01",
                                       "address_lines": [], "postcode": "DH1 1AA"}, status=422)


def test_the_chronology_names_each_member_with_their_relationship(client, stones):
    r = client.get(f"/families/{stones['family']}/chronology", headers=MANAGER,
                   params={"profile": "court", "format": "json"})
    assert r.status_code == 200, r.text
    assert r.json()["heading"]["household"] == [
        "Ava Stone, child", "Ben Stone, child", "Cara Stone, mother (parental responsibility)"]
    entries = client.get(f"/families/{stones['family']}/chronology", headers=AUDITOR).json()["entries"]
    address = next(e for e in entries if e["type"] == "AddressRecorded" and "Mill Lane" in e["summary"])
    assert address["summary"] == "Address from 15/09/2025: 12 Mill Lane, Durham, DH1 5ZA"


def test_the_court_document_names_cara_stone_mother(client, stones, tmp_path: Path):
    r = client.get(f"/families/{stones['family']}/chronology", headers=MANAGER,
                   params={"profile": "court", "format": "pdf"})
    assert r.status_code == 200, r.text
    path = tmp_path / "court.pdf"
    path.write_bytes(r.content)
    text = " ".join(subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True,
                                   text=True).stdout.split())
    assert "Stone family: Ava Stone, child; Ben Stone, child; Cara Stone, mother (parental responsibility)" in text


# --- duplicates and links -----------------------------------------------------------------------------


@pytest.mark.storage  # the person index's and the links' SQL, on each database
@pytest.mark.parametrize("child, matched_on", [
    ({"given_name": "Eva", "family_name": "Jones", "date_of_birth": "2016-05-04", "nhs_number": AVA_NHS},
     "NHS number"),
    ({"given_name": "Eva", "family_name": "Jones", "date_of_birth": "2016-05-04", "upn": AVA_UPN}, "UPN"),
    ({"given_name": "AVA", "family_name": "stone", "date_of_birth": "2016-05-04"}, "name and date of birth"),
])
def test_registering_a_child_already_on_the_record_answers_409_with_the_possible_matches(
        client, stones, child, matched_on):
    before = _families(client)
    r = client.post("/families", headers=SOUTH, json={"policy": "northamptonshire-0-19", "team": "south",
                                                      "members": [{**child, "kind": "child"}]})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["title"] == "Possible duplicate" and problem["detail"].startswith(
        "1 family on the record may already hold the child of this registration (members.0): check them")
    assert problem["matches"] == [{"family_id": stones["family"], "member_ids": [stones["ava"]],
                                   "matched_on": [matched_on], "member": 0}]
    assert _families(client) == before
    # Only ids and what matched: none of the other family's details.
    assert "Cara" not in r.text and "1990" not in r.text and "DH1" not in r.text


def test_a_new_family_after_checking_is_recorded_with_who_said_so(client, stones):
    child = {"given_name": "Ava", "family_name": "Stone", "date_of_birth": "2016-05-04", "kind": "child"}
    assert _register(client, [child]).status_code == 409
    r = _register(client, [child], not_duplicate_of=[stones["family"]])
    assert r.status_code == 201, r.text
    events = client.get(f"/families/{r.json()['family_id']}/events", headers=AUDITOR).json()["events"]
    registration = events[0]
    assert registration["data"]["not_duplicate_of"] == [stones["family"]]
    assert registration["actor"]["user_id"] == "pat"
    entries = client.get(f"/families/{r.json()['family_id']}/chronology", headers=AUDITOR).json()["entries"]
    assert f"a new family after checking possible matches: {stones['family'][:8]}" in entries[0]["summary"]


def test_a_registration_says_not_a_duplicate_only_of_families_on_the_record(client, stones):
    child = {"given_name": "Ava", "family_name": "Stone", "date_of_birth": "2016-05-04", "kind": "child"}
    before = _families(client)
    r = _register(client, [child], not_duplicate_of=[stones["family"], "6f1c2b1e-0000-4000-8000-000000000001"])
    assert r.status_code == 422 and r.json()["field"] == "not_duplicate_of.1", r.text
    assert _families(client) == before


def test_a_different_child_of_the_same_name_born_another_day_is_no_match(client, stones):
    r = _register(client, [{"given_name": "Ava", "family_name": "Stone", "date_of_birth": "2017-05-04",
                            "kind": "child"}])
    assert r.status_code == 201, r.text


def test_an_erased_family_is_never_a_match(client, stones):
    for body, headers in (({"type": "ReferralReceived", "route": "self", "reason": "help"}, MANAGER),):
        ok(client, stones["family"], body, headers)
    close_episode(client, stones["family"])
    assert client.post(f"/families/{stones['family']}/erasure", headers=ADMIN, json=ERASE).status_code == 201
    r = _register(client, [{**STONES[0], "kind": "child"}])
    assert r.status_code == 201, r.text


@pytest.mark.storage  # the person index's and the links' SQL, on each database
def test_two_families_found_to_be_one_are_linked_on_both_records_never_merged(client, stones):
    other = _register(client, [{"given_name": "Ava", "family_name": "Stone", "date_of_birth": "2016-05-04",
                                "kind": "child"}], not_duplicate_of=[stones["family"]]).json()["family_id"]
    before = client.get(f"/families/{stones['family']}/events", headers=AUDITOR).json()["events"]
    linked = ok(client, other, {"type": "FamiliesLinked", "linked_family_id": stones["family"],
                                "reason": "Same household: registered again by the school"})
    for fid, with_id in ((other, stones["family"]), (stones["family"], other)):
        family = client.get(f"/families/{fid}", headers=AUDITOR).json()
        assert family["linked_families"] == [with_id]
        entries = client.get(f"/families/{fid}/chronology", headers=AUDITOR).json()["entries"]
        assert any(e["type"] == "FamiliesLinked" and with_id[:8] in e["summary"]
                   and "registered again by the school" in e["summary"] for e in entries)
    after = client.get(f"/families/{stones['family']}/events", headers=AUDITOR).json()["events"]
    assert after[:len(before)] == before and len(after) == len(before) + 1  # nothing edited, one added
    assert after[-1]["actor"]["user_id"] == "pat" and linked["family_id"] == other
    refused(client, other, {"type": "FamiliesLinked", "linked_family_id": stones["family"], "reason": "again"},
            status=422, contains="already linked")
    refused(client, other, {"type": "FamiliesLinked", "linked_family_id": other, "reason": "itself"},
            status=422, contains="not linked with itself")
    refused(client, other, {"type": "FamiliesLinked", "linked_family_id": "6f1c2b1e-0000-4000-8000-000000000001",
                            "reason": "nobody"}, status=422, contains="no family")
    refused(client, other, {"type": "EntryCorrected", "corrects": linked["event_id"],
                            "changes": {"linked_family_id": other}, "reason": "wrong"}, status=422)


def test_a_family_is_not_linked_with_an_erased_one(client, stones):
    other = _register(client, [{"given_name": "Zoe", "family_name": "Hill", "date_of_birth": "2018-01-02",
                                "kind": "child"}]).json()["family_id"]
    ok(client, stones["family"], {"type": "ReferralReceived", "route": "self", "reason": "help"}, MANAGER)
    close_episode(client, stones["family"])
    assert client.post(f"/families/{stones['family']}/erasure", headers=ADMIN, json=ERASE).status_code == 201
    refused(client, other, {"type": "FamiliesLinked", "linked_family_id": stones["family"], "reason": "x"},
            status=422, contains="erased")


# --- search -------------------------------------------------------------------------------------------------


def found_families(client: Any, headers: dict[str, str] = AUDITOR, **params: Any) -> dict[str, Any]:
    r = client.get("/families", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.storage  # the person index's and the links' SQL, on each database
def test_a_family_is_found_by_nhs_number_upn_council_id_postcode_and_former_name(client, stones):
    for params in ({"nhs_number": "943 476 5919"}, {"upn": AVA_UPN.lower()}, {"council_person_id": "DUR-448120"},
                   {"postcode": "dh1 5za"}, {"postcode": "DH7 8QR"}, {"name": "cara smith"},
                   {"name": "ava", "nhs_number": AVA_NHS}, {"postcode": "DH1 5ZA", "name": "ava"}):
        found = found_families(client, **params)
        assert [f["family_id"] for f in found["families"]] == [stones["family"]], params
    matched = found_families(client, nhs_number=AVA_NHS)["families"][0]
    assert matched["matched"] == [stones["ava"]]
    assert next(m for m in matched["members"] if m["member_id"] == stones["ava"])["upn"] == AVA_UPN
    for params in ({"nhs_number": "4010232137"}, {"postcode": "DH1 5ZB"}, {"name": "ben", "nhs_number": AVA_NHS}):
        assert found_families(client, **params)["total"] == 0, params


def test_a_search_by_a_wrong_nhs_number_or_postcode_is_refused_naming_it(client, stones):
    for params, field in (({"nhs_number": "9434765918"}, "nhs_number"), ({"upn": "X"}, "upn"),
                          ({"postcode": "12345"}, "postcode")):
        r = client.get("/families", params=params, headers=AUDITOR)
        assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_people_are_found_by_identifier(client, stones):
    r = client.get("/people", params={"nhs_number": AVA_NHS}, headers=AUDITOR)
    assert r.status_code == 200, r.text
    assert [(p["member_id"], p["upn"]) for p in r.json()["people"]] == [(stones["ava"], AVA_UPN)]
    r = client.get("/people", params={"name": "smith"}, headers=AUDITOR)
    assert [p["member_id"] for p in r.json()["people"]] == [stones["cara"]]


def test_a_team_finds_another_teams_family_by_identifier_only_as_a_possible_duplicate(client, stones):
    assert found_families(client, headers=SOUTH, nhs_number=AVA_NHS)["total"] == 0


# --- the returns ----------------------------------------------------------------------------------------------


def test_annex_a_and_the_ssd_extract_use_the_councils_person_id_or_upn(client, stones):
    fid = stones["family"]
    ok(client, fid, {"type": "MemberDetailsRecorded", "member_id": stones["ben"], "council_person_id": "DUR-9"})
    ok(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "help"}, MANAGER)
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat"}, MANAGER)
    ok(client, fid, {"type": "ConsentGiven", "given_by": stones["cara"], "scope": ["support", "information_sharing"]})
    ok(client, fid, {"type": "AssessmentStarted"})
    period = {"from": "2026-01-01", "to": "2026-12-31"}
    rows = client.get("/exports/annex-a/list-2", headers=AUDITOR, params={**period, "format": "json"}).json()["rows"]
    assert sorted(r["child_unique_id"] for r in rows) == [AVA_UPN, "DUR-9"]
    rows = client.get("/exports/ssd/early-help-episodes", headers=AUDITOR,
                      params={**period, "format": "json"}).json()["rows"]
    assert sorted(r["earl_person_id"] for r in rows) == [AVA_UPN, "DUR-9"]


# --- subject access and erasure ------------------------------------------------------------------------------


def test_subject_access_gives_a_person_all_of_their_details_and_none_of_anothers(client, stones):
    ok(client, stones["family"], {"type": "MemberDetailsRecorded", "member_id": stones["ben"],
                                  "nhs_number": "4010232137"})
    r = client.get(f"/members/{stones['cara']}/subject-access", headers=AUDITOR)
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["person"]["former_names"] == ["Cara Smith"] and found["person"]["phone"] == "07700900123"
    assert found["person"]["council_person_id"] == "DUR-448120" and found["person"]["relationship"] == "parent"
    assert [a["postcode"] for a in found["addresses"]] == ["DH7 8QR", "DH1 5ZA"]
    assert "4010232137" not in r.text and AVA_NHS not in r.text  # her children's numbers are theirs
    ava = client.get(f"/members/{stones['ava']}/subject-access", headers=AUDITOR).json()
    assert (ava["person"]["nhs_number"], ava["person"]["upn"]) == (AVA_NHS, AVA_UPN)


@pytest.mark.storage  # the person index's and the links' SQL, on each database
def test_erasure_destroys_identifiers_addresses_and_contact_details_and_the_index_forgets_them(client, stones):
    ok(client, stones["family"], {"type": "ReferralReceived", "route": "self", "reason": "help"}, MANAGER)
    close_episode(client, stones["family"])
    assert client.post(f"/families/{stones['family']}/erasure", headers=ADMIN, json=ERASE).status_code == 201
    family = client.get(f"/families/{stones['family']}", headers=AUDITOR).json()
    cara = next(m for m in family["members"] if m["member_id"] == stones["cara"])
    for name in ("nhs_number", "upn", "council_person_id", "phone", "email"):
        assert all(m[name] in (None, "[erased]") for m in family["members"]), name
    assert cara["former_names"] in ([], None)
    assert all(a["postcode"] == "[erased]" and a["address_lines"] == [] for a in family["addresses"])
    events = client.get(f"/families/{stones['family']}/events", headers=AUDITOR).text
    for secret in (AVA_NHS, AVA_UPN, "DH1 5ZA", "Mill Lane", "07700900123", "cara.stone@example.org", "Smith"):
        assert secret not in events, secret
    for params in ({"nhs_number": AVA_NHS}, {"postcode": "DH1 5ZA"}, {"name": "smith"}):
        assert found_families(client, **params)["total"] == 0


def test_a_registration_retried_with_its_key_is_answered_as_before_not_as_its_own_duplicate(client):
    body = {"policy": "durham-one-point", "team": "north", "members": [STONES[0]]}
    first = client.post("/families", json=body, headers={**PRACTITIONER, "Idempotency-Key": "reg-ava"})
    again = client.post("/families", json=body, headers={**PRACTITIONER, "Idempotency-Key": "reg-ava"})
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json()["family_id"] == first.json()["family_id"]
