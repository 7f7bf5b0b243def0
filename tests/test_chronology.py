"""The chronology read model (on one database: docs/testing.md): order, per-child views,
corrections beside what they correct, late entries, CSV, and the record as it stood at a
past moment."""

from __future__ import annotations

import csv
import io
import time
import uuid

import pytest

from tests.conftest import MANAGER, PRACTITIONER, auth, ok, register

# Storage-neutral (docs/testing.md): runs on one database (SQLite).
pytestmark = pytest.mark.one_database

CSV_HEADER = ["date", "time", "event", "summary", "source", "role", "team", "agency", "significance",
              "impact on child", "action taken", "recorded at", "recorded by", "late entry", "corrections",
              "practice breaches"]


def chronology(client, fid, **params):
    r = client.get(f"/families/{fid}/chronology", params=params, headers=PRACTITIONER)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def _family(client):
    fam = register(client)
    fid = fam["family_id"]
    ava, ben, cara = (m["member_id"] for m in fam["members"])
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "School worried about attendance",
                     "referrer_agency": "Hill Primary School", "occurred_at": "2026-01-05T09:00:00+00:00"})
    ok(client, fid, {"type": "CaseNoteRecorded", "text": "Ava said she is frightened at home", "about": [ava],
                     "significance": "high", "impact_on_child": "negative", "action_taken": "discussed with manager",
                     "occurred_at": "2026-01-09T15:00:00+00:00"})
    ok(client, fid, {"type": "DocumentRecorded", "document": "home-visit-risk-assessment",
                     "occurred_at": "2026-01-06T16:00:00+00:00"})  # before any home visit (seed 000 L503)
    # A visit typed in after the note, but which happened before it.
    visit = ok(client, fid, {"type": "ContactMade", "method": "visit", "party": "family", "location": "home",
                             "members_present": [ava, ben, cara], "children_seen": [ava, ben],
                             "children_seen_alone": [ava], "occurred_at": "2026-01-07T11:00:00+00:00"})
    note_about_ben = ok(client, fid, {"type": "CaseNoteRecorded", "text": "Ben's nursery place confirmed",
                                      "about": [ben], "occurred_at": "2026-01-08T10:00:00+00:00"})
    return fid, ava, ben, cara, visit, note_about_ben


def test_entries_are_in_the_order_they_happened_not_the_order_they_were_typed(client):
    fid, ava, ben, cara, visit, _ = _family(client)
    entries = chronology(client, fid)
    dated = [e for e in entries if e["type"] != "FamilyRegistered"]
    assert [e["type"] for e in dated] == ["ReferralReceived", "DocumentRecorded", "ContactMade",
                                          "CaseNoteRecorded", "CaseNoteRecorded"]
    assert dated[2]["event_id"] == visit["event_id"]
    assert dated[2]["summary"] == "Visit with the family at home; seen: Ava Stone, Ben Stone; seen alone: Ava Stone"
    referral = dated[0]
    assert referral["source"] == {"recorded_by": "pat", "recorded_by_name": "pat (not in the staff directory)",
                                  "role": "practitioner", "team": "north", "agency": "Hill Primary School"}
    assert referral["occurred_at"] == "2026-01-05T09:00:00.000000Z"  # UTC, the one shape (ADR 0036)
    disclosure = dated[4]
    assert (disclosure["significance"], disclosure["impact_on_child"], disclosure["action_taken"]) == \
        ("high", "negative", "discussed with manager")
    # Recorded today, months after it happened: later than Durham's 24 hours (seed 000 L1333).
    assert disclosure["late_entry"] and "recording-within-24-hours" in disclosure["late_rules"]


def test_a_childs_chronology_starts_at_birth_and_leaves_out_entries_about_siblings(client):
    fid, ava, ben, cara, _, note_about_ben = _family(client)
    avas = chronology(client, fid, member=ava)
    # born on 4 May 2016: the start of that day in London (BST), in UTC
    assert avas[0]["type"] == "Born" and avas[0]["occurred_at"] == "2016-05-03T23:00:00.000000Z"
    assert note_about_ben["event_id"] not in {e["event_id"] for e in avas}
    assert "Ava said she is frightened at home" in [e["summary"] for e in avas]
    bens = chronology(client, fid, member=ben)
    assert "Ava said she is frightened at home" not in [e["summary"] for e in bens]
    assert note_about_ben["event_id"] in {e["event_id"] for e in bens}
    # The family's own chronology holds both.
    both = {e["event_id"] for e in chronology(client, fid)}
    assert note_about_ben["event_id"] in both


def test_the_significant_events_view_keeps_only_what_the_pack_counts_as_significant(client):
    fid, *_ = _family(client)
    significant = chronology(client, fid, significant="true")
    # Durham counts referrals as significant; the high-significance note is kept; the
    # visit and the ordinary note are not.
    assert [e["type"] for e in significant] == ["ReferralReceived", "CaseNoteRecorded"]


def test_a_correction_shows_the_corrected_value_with_the_original_and_the_reason_beside_it(client):
    fid, ava, ben, cara, visit, _ = _family(client)
    ok(client, fid, {"type": "EntryCorrected", "corrects": visit["event_id"],
                     "changes": {"occurred_at": "2026-01-10T11:00:00+00:00", "location": "school"},
                     "reason": "the visit was at school on the Saturday"})
    entries = [e for e in chronology(client, fid) if e["type"] != "FamilyRegistered"]
    assert [e["type"] for e in entries][-1] == "ContactMade"  # moved to where it now says it happened
    corrected = entries[-1]
    assert corrected["summary"].startswith("Visit with the family at school")
    [correction] = corrected["corrections"]
    assert correction["reason"] == "the visit was at school on the Saturday"
    assert correction["changes"]["location"] == {"from": "home", "to": "school"}
    assert correction["changes"]["occurred_at"]["from"].startswith("2026-01-07T11:00:00")


def test_the_chronology_as_at_a_moment_of_recording_leaves_out_later_entries_and_later_corrections(client, clock):
    fid, ava, ben, cara, visit, _ = _family(client)
    time.sleep(0.01)
    before = clock().isoformat()
    time.sleep(0.01)
    ok(client, fid, {"type": "EntryCorrected", "corrects": visit["event_id"], "changes": {"location": "school"},
                     "reason": "wrong place"})
    ok(client, fid, {"type": "CaseNoteRecorded", "text": "written after the moment",
                     "occurred_at": "2026-01-06T09:00:00+00:00"})
    then = chronology(client, fid, as_at=before)
    now = chronology(client, fid)
    assert "written after the moment" not in [e["summary"] for e in then]
    assert "written after the moment" in [e["summary"] for e in now]
    then_visit = next(e for e in then if e["event_id"] == visit["event_id"])
    now_visit = next(e for e in now if e["event_id"] == visit["event_id"])
    assert "at home" in then_visit["summary"] and not then_visit["corrections"]
    assert "at school" in now_visit["summary"] and len(now_visit["corrections"]) == 1
    # Before the family was registered there is nothing to show.
    r = client.get(f"/families/{fid}/chronology", params={"as_at": "2020-01-01T00:00:00+00:00"}, headers=PRACTITIONER)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def test_the_family_as_at_a_moment_is_its_state_then(client, clock):
    fid, *_ = _family(client)
    time.sleep(0.01)
    before = clock().isoformat()
    time.sleep(0.01)
    ok(client, fid, {"type": "TransferredOut", "to_team": "south", "reason": "moved house",
                     "occurred_at": "2026-01-12T09:00:00+00:00"}, MANAGER)
    ok(client, fid, {"type": "TransferredIn", "from_team": "north", "occurred_at": "2026-01-12T10:00:00+00:00"},
       auth("manager", "sol", "south"))
    auditor = auth("auditor", "ada", None)  # north may no longer read it; an auditor reads every family
    then = client.get(f"/families/{fid}", params={"as_at": before}, headers=auditor).json()
    now = client.get(f"/families/{fid}", headers=auditor).json()
    assert then["team"] == "north" and now["team"] == "south"
    assert then["version"] == now["version"] - 2


def test_the_csv_chronology_opens_with_its_header_and_one_line_per_entry(client):
    fid, ava, *_ = _family(client)
    r = client.get(f"/families/{fid}/chronology", params={"format": "csv", "member": ava}, headers=PRACTITIONER)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert f"chronology-{fid}-{ava}.csv" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == CSV_HEADER
    assert rows[1][:3] == ["2016-05-04", "00:00", "Born"]
    disclosure = next(row for row in rows if row[3] == "Ava said she is frightened at home")
    assert disclosure[:3] == ["2026-01-09", "15:00", "CaseNoteRecorded"]
    assert disclosure[8:11] == ["high", "negative", "discussed with manager"] and disclosure[13] == "yes"


def test_bad_chronology_requests_are_clear_problems(client):
    fid, *_ = _family(client)
    for params, status, words in [({"member": str(uuid.uuid4())}, 422, "is not a member"),
                                  ({"format": "rtf"}, 422, "format"),
                                  ({"format": "pdf"}, 422, "needs a profile"),
                                  ({"as_at": "2026-01-01T00:00:00"}, 422, "timezone")]:
        r = client.get(f"/families/{fid}/chronology", params=params, headers=PRACTITIONER)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.json()["detail"], r.json()["detail"]
    assert client.get(f"/families/{uuid.uuid4()}/chronology", headers=PRACTITIONER).status_code == 404


def test_a_long_chronology_is_read_a_page_at_a_time_and_says_how_many_there_are(client):
    fid, _, ben, *_ = _family(client)

    def read(**params):
        r = client.get(f"/families/{fid}/chronology", params=params, headers=PRACTITIONER)
        assert r.status_code == 200, r.text
        return r.json()

    whole = read()
    assert whole["total"] == len(whole["entries"]) >= 4 and whole["offset"] == 0
    for offset, limit in ((0, 2), (2, 2), (1, 3), (len(whole["entries"]) - 1, 5), (len(whole["entries"]), 2)):
        page = read(offset=offset, limit=limit)
        assert page["total"] == whole["total"] and page["offset"] == offset
        assert page["entries"] == whole["entries"][offset:offset + limit]
    significant = read(significant="true")
    page = read(significant="true", offset=1, limit=1)
    assert page["entries"] == significant["entries"][1:2] and page["total"] == len(significant["entries"])
    own = read(member=ben)
    assert read(member=ben, offset=1, limit=2)["entries"] == own["entries"][1:3]
    for bad in ({"limit": 0}, {"offset": -1}, {"limit": 2, "profile": "court"}):
        r = client.get(f"/families/{fid}/chronology", params=bad, headers=PRACTITIONER)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
