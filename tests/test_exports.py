"""Exports that leave the ledger (on one database; the returns SQL selects, on both:
docs/testing.md), from families recorded through the real command path with a recording
clock the test controls (so late entries are late and every "as at" is exact):

- the Stone family (Durham, Family Hub): referred by Hill Primary School on Monday
  5 January 2026, a home visit on the 9th typed in on the 14th (a late entry), an early
  help assessment started on the 12th (corrected to the 13th), signed off on the 22nd, a
  disclosure on the 26th, stepped up to children's social care and closed (step up) on
  the 30th; re-referred (stepped down) on 2 March, a second assessment by the school
  started on the 10th and submitted, not yet signed off;
- the Lee family (Haringey, no sign-off of the C4C): referred on 2 February, its early
  help assessment started on the 10th and completed (submitted) on the 24th.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import docx
import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.settings import Settings
from ledger.tokens import INSPECTOR_MAX_HOURS, TokenTooLong, mint
from projections.episodes import episode_row_id
from projections.projector import Projector
from replay.rebuild import rebuild
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, SECRET, SUPERVISOR, auth, open_ledger
from tests.registration import post_family

# Storage-neutral (docs/testing.md): export formats and wording, on one database; the
# returns whose rows SQL selects by period, and the episodes rebuild, are marked storage.
pytestmark = pytest.mark.one_database

UTC = timezone.utc
INSPECTOR = auth("inspector", "ofsted-hmi-1", None)
DURHAM, HARINGEY = "Durham County Council", "London Borough of Haringey"
COURT = ["serial number", "date", "event detail", "witness or document reference"]
PRACTICE = ["date or period", "source (person and agency)", "significant event", "impact on the child",
            "action taken (or why none)"]
REVIEW = ["occurred", "recorded", "recorded by", "event", "summary", "agency", "significance", "impact on child",
          "action taken", "reference", "late entry", "corrections", "management decision", "practice breach"]
ANNEX_A = ["Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)",
           "Assessment start date", "Assessment completion date", "Organisation completing assessment"]
SSD = ["earl_episode_id", "earl_person_id", "earl_episode_start_date", "earl_episode_end_date",
       "earl_episode_reason", "earl_episode_end_reason", "earl_episode_organisation", "earl_episode_worker_id"]
BEFORE_CORRECTIONS = "2026-01-27T08:00:00+00:00"


class Clock:
    """The ledger's recording clock: set to each command's recording moment."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        assert moment >= self.now, "recording moments only move forward"
        self.now = moment


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    ledger = open_ledger(settings, clock)  # type: ignore[arg-type]
    try:
        with TestClient(create_app(ledger), raise_server_exceptions=False) as c:
            yield c
    finally:
        ledger.close()


def at(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00+00:00")


class Recorder:
    """Records commands as a worker would: five minutes after they happen, unless told when."""

    def __init__(self, client: TestClient, clock: Clock) -> None:
        self.client, self.clock = client, clock

    def register(self, policy: str, members: list[dict[str, Any]], when: datetime) -> dict[str, Any]:
        self.clock.set(when)
        r = post_family(self.client, headers=PRACTITIONER, json={"policy": policy, "team": "north",
                                                                       "members": members})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def __call__(self, fid: str, when: datetime, body: dict[str, Any], headers: dict[str, str] = PRACTITIONER,
                 recorded: datetime | None = None) -> dict[str, Any]:
        self.clock.set(recorded or when + timedelta(minutes=5))
        r = self.client.post(f"/families/{fid}/commands", headers=headers,
                             json={**body, "occurred_at": when.isoformat()})
        assert r.status_code == 201, (body["type"], r.text)
        return r.json()  # type: ignore[no-any-return]

    def correct(self, fid: str, recorded: datetime, corrects: str, changes: dict[str, Any], reason: str) -> None:
        self.clock.set(recorded)
        r = self.client.post(f"/families/{fid}/commands", headers=PRACTITIONER, json={
            "type": "EntryCorrected", "corrects": corrects, "changes": changes, "reason": reason})
        assert r.status_code == 201, r.text


@pytest.fixture
def families(client: TestClient, clock: Clock) -> dict[str, Any]:
    record = Recorder(client, clock)
    stone = record.register("durham-one-point", [
        {"given_name": "Ava", "family_name": "Stone", "date_of_birth": "2016-05-04", "kind": "child",
         "gender": "2", "ethnicity": "WBRI"},
        {"given_name": "Ben", "family_name": "Stone", "date_of_birth": "2019-09-15", "kind": "child",
         "gender": "1", "ethnicity": "MWBC"},
        {"given_name": "Cara", "family_name": "Stone", "date_of_birth": "1990-02-03", "kind": "adult",
         "gender": "2", "ethnicity": "WBRI"}], at("2026-01-05", 8))
    fid = stone["family_id"]
    ava, ben, cara = (m["member_id"] for m in stone["members"])
    record(fid, at("2026-01-05", 9), {"type": "ReferralReceived", "route": "professional",
                                      "reason": "School worried about attendance",
                                      "reason_category": "child_wellbeing_development",
                                      "referrer_agency": "Hill Primary School"})
    record(fid, at("2026-01-06"), {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub"},
           MANAGER)
    record(fid, at("2026-01-06", 11), {"type": "AllocatedToTeam", "team": "north", "pathway": "family-hub"}, MANAGER)
    record(fid, at("2026-01-07"), {"type": "AllocatedToWorker", "worker_id": "pat"}, SUPERVISOR)
    record(fid, at("2026-01-08"), {"type": "DocumentRecorded", "document": "home-visit-risk-assessment"})
    record(fid, at("2026-01-09", 11), {"type": "ConsentGiven", "given_by": cara,
                                       "scope": ["support", "information_sharing"]})
    first = str(uuid.uuid4())
    started = record(fid, at("2026-01-12"), {"type": "AssessmentStarted", "assessment_id": first})
    # The home visit of Friday 9 January, typed in on Wednesday the 14th: a late entry.
    visit = record(fid, at("2026-01-09"), {"type": "ContactMade", "method": "visit", "party": "family",
                                           "location": "home", "members_present": [ava, ben, cara],
                                           "children_seen": [ava, ben], "children_seen_alone": [ava]},
                   recorded=at("2026-01-14", 16))
    record(fid, at("2026-01-20"), {"type": "AssessmentSubmitted", "assessment_id": first})
    record(fid, at("2026-01-22"), {"type": "AssessmentAuthorised", "assessment_id": first}, SUPERVISOR)
    note = record(fid, at("2026-01-26", 15), {
        "type": "CaseNoteRecorded", "text": "Ava said she is frightened at home", "about": [ava],
        "significance": "high", "impact_on_child": "negative",
        "action_taken": "Discussed with manager; strategy discussion requested", "reference": "Case note 26/01"})
    record.correct(fid, at("2026-01-27", 9), started["event_id"], {"occurred_at": "2026-01-13T10:00:00+00:00"},
                   "the assessment started on the Tuesday, not the Monday")
    record.correct(fid, at("2026-01-27", 9, 30), note["event_id"],
                   {"context": {"reference": "Statement of Ms Head, paragraph 4"}}, "the school's statement")
    record(fid, at("2026-01-28"), {"type": "SteppedUp", "to_service": "childrens_social_care",
                                   "reason": "disclosure of harm"}, MANAGER)
    record(fid, at("2026-01-29"), {"type": "ClosureProposed", "reason": "step_up"})
    record(fid, at("2026-01-29", 11), {"type": "ClosureAuthorised"}, MANAGER)
    record(fid, at("2026-01-29", 12), {"type": "DocumentRecorded", "document": "family-survey"})
    record(fid, at("2026-01-30"), {"type": "EpisodeClosed", "reason": "step_up"})

    lee = record.register("haringey-early-help", [
        {"given_name": "Dee", "family_name": "Lee", "date_of_birth": "2024-02-29", "kind": "child",
         "gender": "9", "ethnicity": "NOBT"},
        {"given_name": "Eve", "family_name": "Lee", "kind": "adult"}], at("2026-02-02", 8))
    lid = lee["family_id"]
    dee, eve = (m["member_id"] for m in lee["members"])
    record(lid, at("2026-02-02", 9), {"type": "ReferralReceived", "route": "self", "reason": "Help with routines",
                                      "reason_category": "parenting_family_dynamics", "priority": "green"})
    record(lid, at("2026-02-02", 15), {"type": "TriageDecided", "outcome": "early_help", "pathway": "locality-team"},
           MANAGER)
    record(lid, at("2026-02-02", 16), {"type": "ConsentGiven", "given_by": eve, "scope": ["support"],
                                       "form": "verbal"})
    record(lid, at("2026-02-03"), {"type": "AllocatedToTeam", "team": "north", "pathway": "locality-team"}, MANAGER)
    record(lid, at("2026-02-04"), {"type": "AllocatedToWorker", "worker_id": "pat"}, SUPERVISOR)
    c4c = str(uuid.uuid4())
    record(lid, at("2026-02-10"), {"type": "AssessmentStarted", "assessment_id": c4c})
    record(lid, at("2026-02-24"), {"type": "AssessmentSubmitted", "assessment_id": c4c})

    # The Stones are re-referred: stepped down from children's social care on 2 March.
    record(fid, at("2026-03-02", 9), {"type": "ReferralReceived", "route": "step_down",
                                      "reason": "Stepped down from children's social care"})
    record(fid, at("2026-03-03"), {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub"},
           MANAGER)
    record(fid, at("2026-03-03", 11), {"type": "AllocatedToTeam", "team": "north", "pathway": "family-hub"},
           MANAGER)
    record(fid, at("2026-03-04"), {"type": "AllocatedToWorker", "worker_id": "kim"}, SUPERVISOR)
    second = str(uuid.uuid4())
    record(fid, at("2026-03-10"), {"type": "AssessmentStarted", "assessment_id": second,
                                   "assessment_kind": "second-or-subsequent-assessment",
                                   "agency": "Hill Primary School"})
    record(fid, at("2026-03-20"), {"type": "AssessmentSubmitted", "assessment_id": second})
    return {"stone": fid, "ava": ava, "ben": ben, "cara": cara, "lee": lid, "dee": dee, "visit": visit["event_id"],
            "note": note["event_id"], "started": started["event_id"]}


def reader(path: str) -> dict[str, str]:
    """Council-wide returns hold every team's children: an auditor reads them, not a team's
    manager (docs/access.md); a family's exports, its team's manager."""
    return AUDITOR if path.startswith("/exports/") else MANAGER


def get(client: TestClient, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    r = client.get(path, params=params, headers=headers or reader(path))
    assert r.status_code == 200, r.text
    return r


def chronology(client: TestClient, fid: str, headers: dict[str, str] = PRACTITIONER, **params: Any) -> Any:
    return get(client, f"/families/{fid}/chronology", headers, **params)


def rows_of(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


# --- chronology profiles -------------------------------------------------------------------------


def test_the_court_chronology_of_a_child_is_pd12a_numbered_significant_events_with_references(client, families):
    f = families
    r = chronology(client, f["stone"], profile="court", member=f["ava"])
    body = r.json()
    heading = body["heading"]
    assert heading["title"] == "Social work chronology" and "Practice Direction 12A" in heading["standard"]
    assert heading["council"] == DURHAM and heading["child"]["name"] == "Ava Stone"
    # As at the latest entry recorded (the second assessment's submission), never the clock.
    assert heading["as_at"] == "2026-03-20T10:05:00.000000Z" and not heading["as_at_requested"]
    assert heading["as_at_local"] == "2026-03-20T10:05:00.000000+00:00"  # London time beside it (GMT in March)
    # The succinct summary of the length of involvement with the family and the child (PD12A).
    assert heading["involvement"] == (
        "Durham County Council has been involved with the Stone family since 5 January 2026: 2 episodes of early "
        "help (5 January 2026 to 30 January 2026, closed (step up); 2 March 2026 to 20 March 2026, open), "
        "45 days in all as at 20 March 2026. Ava Stone (born 4 May 2016) was included in 2 of these episodes, "
        "45 days, the first from 5 January 2026.")
    assert body["columns"] == COURT
    entries = body["entries"]
    assert [e["serial_number"] for e in entries] == list(range(1, len(entries) + 1))
    assert [(e["date"], e["event_detail"]) for e in entries[:3]] == [
        ("2016-05-04", "Ava Stone born"),
        ("2026-01-05", "Referral received from Hill Primary School; School worried about attendance"),
        ("2026-01-06", "Triage decision: early help; pathway Family Hub")]
    disclosure = next(e for e in entries if e["event_detail"] == "Ava said she is frightened at home")
    # The reference as corrected; the visit (not significant in Durham) and Ben's own entries are not here.
    assert disclosure["witness_or_document_reference"] == "Statement of Ms Head, paragraph 4"
    assert disclosure["date"] == "2026-01-26"
    assert f["visit"] not in {e["event_id"] for e in entries}
    assert [e["event_detail"] for e in entries][-4:] == [
        "Episode closed: step up",
        "Referral received from step down; Stepped down from children's social care",
        "Triage decision: early help; pathway Family Hub",
        "Allocated to kim (not in the staff directory) as lead professional"]

    table = rows_of(chronology(client, f["stone"], profile="court", member=f["ava"], format="csv"))
    assert table[0] == COURT
    assert table[1] == ["1", "04/05/2016", "Ava Stone born", ""]
    assert [row for row in table if row[2] == "Ava said she is frightened at home"] == [
        [str(disclosure["serial_number"]), "26/01/2026", "Ava said she is frightened at home",
         "Statement of Ms Head, paragraph 4"]]
    assert len(table) == len(entries) + 1


def test_the_practice_chronology_gives_source_impact_and_action_for_each_significant_event(client, families):
    f = families
    body = chronology(client, f["stone"], profile="practice").json()
    assert body["heading"]["title"] == "Multi-agency chronology of significant events"
    referral, disclosure = body["entries"][0], next(
        e for e in body["entries"] if e["significant_event"] == "Ava said she is frightened at home")
    assert referral["source"] == {"person": "pat (not in the staff directory)", "agency": "Hill Primary School"}
    assert (disclosure["impact_on_child"], disclosure["action_taken"]) == (
        "negative", "Discussed with manager; strategy discussion requested")
    table = rows_of(chronology(client, f["stone"], profile="practice", format="csv"))
    assert table[0] == PRACTICE
    assert table[1] == ["05/01/2026", "pat (not in the staff directory), Hill Primary School",
                        "Referral received from Hill Primary School; School worried about attendance", "",
                        "none recorded"]
    assert ["26/01/2026", "pat (not in the staff directory), Durham County Council early help, team north",
            "Ava said she is frightened at home", "negative",
            "Discussed with manager; strategy discussion requested"] in table
    # Significant events only: Durham does not count a visit or a document as significant.
    assert not any(row[2].startswith("Visit") for row in table)


def test_the_review_chronology_shows_both_times_late_entries_corrections_and_decisions_in_line(client, families):
    f = families
    body = chronology(client, f["stone"], profile="review").json()
    by_id = {e["event_id"]: e for e in body["entries"]}
    visit = by_id[f["visit"]]
    assert (visit["occurred_at"], visit["recorded_at"]) == ("2026-01-09T10:00:00.000000Z",
                                                            "2026-01-14T16:00:00.000000Z")
    assert visit["late_entry"] and visit["late_rules"] == [
        "recording-within-24-hours", "recording-within-1-working-day"]
    started = by_id[f["started"]]
    assert started["occurred_at"] == "2026-01-13T10:00:00.000000Z"
    [correction] = started["corrections"]
    assert correction["reason"] == "the assessment started on the Tuesday, not the Monday"
    assert correction["changes"]["occurred_at"]["from"].startswith("2026-01-12T10:00:00")
    decisions = [(e["type"], e["management_decision"]) for e in body["entries"] if e["management_decision"]]
    assert decisions[:3] == [("TriageDecided", "threshold decision"), ("AllocatedToTeam", "allocation"),
                             ("AllocatedToWorker", "allocation")]
    assert ("AssessmentAuthorised", "authorisation") in decisions and ("SteppedUp", "step up") in decisions
    assert ("CaseNoteRecorded", None) in [(e["type"], e["management_decision"]) for e in body["entries"]]

    table = rows_of(chronology(client, f["stone"], profile="review", format="csv"))
    assert table[0] == REVIEW
    visit_row = next(row for row in table if row[3] == "ContactMade")
    assert visit_row[:3] == ["09/01/2026 10:00", "14/01/2026 16:00",
                             "pat (not in the staff directory) (practitioner, team north)"]
    assert visit_row[10] == "yes: recording-within-24-hours, recording-within-1-working-day"
    consent_row = next(row for row in table if row[3] == "ConsentGiven")
    assert consent_row[10] == ""  # recorded five minutes after: not late
    started_row = next(row for row in table if row[3] == "AssessmentStarted")
    assert started_row[0] == "13/01/2026 10:00"
    assert "occurred_at was 12/01/2026 10:00, now 13/01/2026 10:00" in started_row[11]
    assert started_row[11].endswith("(reason: the assessment started on the Tuesday, not the Monday)")
    note_row = next(row for row in table if row[3] == "CaseNoteRecorded")
    assert note_row[9] == "Statement of Ms Head, paragraph 4"
    assert "reference was Case note 26/01, now Statement of Ms Head, paragraph 4" in note_row[11]
    triage_row = next(row for row in table if row[3] == "TriageDecided")
    assert triage_row[12] == "threshold decision by manager meg (not in the staff directory)"
    assert note_row[12] == ""


def test_a_chronology_export_as_at_a_moment_leaves_out_later_entries_and_later_corrections(client, families):
    f = families
    then = chronology(client, f["stone"], profile="review", as_at=BEFORE_CORRECTIONS).json()
    assert then["heading"]["as_at"] == "2026-01-27T08:00:00.000000Z" and then["heading"]["as_at_requested"]
    assert then["heading"]["involvement"].startswith(
        "Durham County Council has been involved with the Stone family since 5 January 2026: 1 episode of early "
        "help (5 January 2026 to 27 January 2026, open), 23 days in all")
    by_id = {e["event_id"]: e for e in then["entries"]}
    assert by_id[f["started"]]["occurred_at"] == "2026-01-12T10:00:00.000000Z"
    assert not by_id[f["started"]]["corrections"]
    assert by_id[f["note"]]["reference"] == "Case note 26/01"
    assert "SteppedUp" not in {e["type"] for e in then["entries"]}
    court = rows_of(chronology(client, f["stone"], profile="court", format="csv", as_at=BEFORE_CORRECTIONS))
    assert [row[3] for row in court if row[2] == "Ava said she is frightened at home"] == ["Case note 26/01"]


def test_the_word_chronology_opens_in_python_docx_with_its_heading_and_table(client, families):
    f = families
    r = chronology(client, f["stone"], profile="court", member=f["ava"], format="docx")
    assert r.headers["content-type"] == \
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert f'chronology-court-{f["stone"]}-{f["ava"]}.docx' in r.headers["content-disposition"]
    document = docx.Document(io.BytesIO(r.content))
    text = [p.text for p in document.paragraphs]
    assert text[0] == "Social work chronology"
    assert "Chronology of: Ava Stone, born 4 May 2016" in text
    assert "As at: 20/03/2026 10:05 (the latest entry recorded)" in text
    assert any(t.startswith("Durham County Council has been involved with the Stone family since") for t in text)
    [table] = document.tables
    cells = [[c.text for c in row.cells] for row in table.rows]
    # The CSV's rows, in the document's own column names (tests/test_documents.py reads the layout).
    assert [row[:2] for row in cells[1:]] == [row[:2] for row in rows_of(
        chronology(client, f["stone"], profile="court", member=f["ava"], format="csv"))[1:]]
    # Same bytes every time: core properties and zip entries carry the export's moment.
    props = document.core_properties
    assert props.created == props.modified == datetime(2026, 3, 20, 10, 5, tzinfo=UTC)
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert {i.date_time for i in z.infolist()} == {(2026, 3, 20, 10, 5, 0)}
    assert chronology(client, f["stone"], profile="court", member=f["ava"], format="docx").content == r.content
    review = docx.Document(io.BytesIO(chronology(client, f["stone"], profile="review", format="docx").content))
    assert len(review.tables[0].rows[0].cells) == 6  # the review's columns merged to fit landscape A4
    assert review.sections[0].page_width > review.sections[0].page_height


# --- Annex A and the SSD -----------------------------------------------------------------------


@pytest.mark.storage
def test_annex_a_list_2_has_a_row_per_child_per_early_help_assessment_in_the_period(client, families):
    f = families
    r = get(client, "/exports/annex-a/list-2", **{"from": "2026-01-01", "to": "2026-06-30"})
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    table = rows_of(r)
    assert table[0] == ANNEX_A
    # Durham signs the assessment off (completion = AssessmentAuthorised); the start as corrected; the
    # second one, by the school, is submitted but not signed off: not complete. Haringey asks for no
    # sign-off (completion = AssessmentSubmitted). Ages at the end of the period; adults are not listed.
    assert table[1:] == [
        [f["ava"], "2", "WBRI", "04/05/2016", "10", "13/01/2026", "22/01/2026", DURHAM],
        [f["ben"], "1", "MWBC", "15/09/2019", "6", "13/01/2026", "22/01/2026", DURHAM],
        [f["dee"], "9", "NOBT", "29/02/2024", "2", "10/02/2026", "24/02/2026", HARINGEY],
        [f["ava"], "2", "WBRI", "04/05/2016", "10", "10/03/2026", "", "Hill Primary School"],
        [f["ben"], "1", "MWBC", "15/09/2019", "6", "10/03/2026", "", "Hill Primary School"],
    ]
    body = get(client, "/exports/annex-a/list-2", INSPECTOR,
               **{"from": "2026-02-01", "to": "2026-06-30", "format": "json"}).json()
    # The first assessment was completed before February: not in this period.
    assert (body["from"], body["to"], body["as_at"], body["count"]) == ("2026-02-01", "2026-06-30", None, 3)
    assert body["rows"][0] == {
        "child_unique_id": f["dee"], "gender": "9", "ethnicity": "NOBT", "date_of_birth": "2024-02-29",
        "age_of_child_years": 2, "assessment_start_date": "2026-02-10", "assessment_completion_date": "2026-02-24",
        "organisation_completing_assessment": HARINGEY}
    # As it stood before the corrections were made: the start date then recorded, and nothing since.
    then = rows_of(get(client, "/exports/annex-a/list-2",
                       **{"from": "2026-01-01", "to": "2026-06-30", "as_at": BEFORE_CORRECTIONS}))
    assert then[1:] == [
        [f["ava"], "2", "WBRI", "04/05/2016", "10", "12/01/2026", "22/01/2026", DURHAM],
        [f["ben"], "1", "MWBC", "15/09/2019", "6", "12/01/2026", "22/01/2026", DURHAM]]


@pytest.mark.storage
def test_ssd_early_help_episodes_has_a_row_per_child_per_episode_with_end_reasons(client, families):
    f = families
    table = rows_of(get(client, "/exports/ssd/early-help-episodes", **{"from": "2026-01-01", "to": "2026-06-30"}))
    assert table[0] == SSD
    rows = [dict(zip(SSD, row, strict=True)) for row in table[1:]]
    assert [(r["earl_person_id"], r["earl_episode_start_date"], r["earl_episode_end_date"],
             r["earl_episode_end_reason"], r["earl_episode_organisation"], r["earl_episode_worker_id"])
            for r in rows] == [
        (f["ava"], "2026-01-05", "2026-01-30", "Step-up", DURHAM, "pat"),
        (f["ben"], "2026-01-05", "2026-01-30", "Step-up", DURHAM, "pat"),
        (f["dee"], "2026-02-02", "", "", HARINGEY, "pat"),
        (f["ava"], "2026-03-02", "", "", DURHAM, "kim"),
        (f["ben"], "2026-03-02", "", "", DURHAM, "kim"),
    ]
    # EARL005A is the broad category of the reason recorded on the referral, as the SSD words it,
    # never the referral's free text (personal, sealed); the re-referral recorded no category: blank.
    assert [r["earl_episode_reason"] for r in rows] == [
        "Child well-being and development", "Child well-being and development", "Parenting and family dynamics",
        "", ""]
    assert "School worried" not in "".join(",".join(row) for row in table)
    # One row per child per episode: the re-referral is a second episode, each row its own id.
    assert len({r["earl_episode_id"] for r in rows}) == 5
    events = get(client, f"/families/{f['stone']}/events", PRACTITIONER).json()["events"]
    first, second = [e["data"]["episode_id"] for e in events if e["type"] == "ReferralReceived"]
    assert rows[0]["earl_episode_id"] == episode_row_id(uuid.UUID(first).hex, uuid.UUID(f["ava"]).hex)
    assert rows[4]["earl_episode_id"] == episode_row_id(uuid.UUID(second).hex, uuid.UUID(f["ben"]).hex)
    later = get(client, "/exports/ssd/early-help-episodes", INSPECTOR,
                **{"from": "2026-02-01", "to": "2026-06-30", "format": "json"}).json()
    assert later["table"] == "ssd_early_help_episodes" and later["columns"] == SSD
    assert [r["earl_episode_id"] for r in later["rows"]] == [r["earl_episode_id"] for r in rows[2:]]
    assert later["rows"][0]["earl_episode_end_date"] is None
    then = get(client, "/exports/ssd/early-help-episodes",
               **{"from": "2026-01-01", "to": "2026-06-30", "format": "json", "as_at": BEFORE_CORRECTIONS}).json()
    assert [(r["earl_person_id"], r["earl_episode_end_date"]) for r in then["rows"]] == [
        (f["ava"], None), (f["ben"], None)]


@pytest.mark.storage
def test_the_episodes_read_model_rebuilds_to_exactly_what_incremental_processing_gave(client, families):
    projector: Projector = client.app.state.projector
    model = projector.model("episodes")

    def dump() -> dict[str, list[tuple[str, ...]]]:
        return projector.dump(["episodes"])

    before = dump()
    assert [len(before[t]) for t in model.tables] == [5, 5, 3]
    rebuild(projector, ["episodes"], page=7)
    assert dump() == before


# --- one council's returns, the organisation they name, the SSD's codes (issue 21, items 7 and 8) ----


@pytest.mark.storage
def test_the_returns_are_filtered_to_one_councils_pack_over_http_and_the_command_line(
        client, families, ledger_cli, tmp_path):
    """A deployment holding several councils' families returns one council's: Haringey's
    pack gives the Lee child alone, in both returns; an unknown pack is a 422 that says so."""
    f = families
    period = {"from": "2026-01-01", "to": "2026-06-30"}
    annex = rows_of(get(client, "/exports/annex-a/list-2", **period, pack="haringey-early-help"))
    assert [row[0] for row in annex[1:]] == [f["dee"]] and annex[1][7] == HARINGEY
    ssd = get(client, "/exports/ssd/early-help-episodes", **period, pack="durham-one-point", format="json")
    body = ssd.json()
    assert body["pack"] == "durham-one-point" and body["count"] == 4
    assert {r["earl_episode_organisation"] for r in body["rows"]} == {DURHAM}
    assert "durham-one-point" in ssd.headers["content-disposition"]
    for path in ("/exports/annex-a/list-2", "/exports/ssd/early-help-episodes"):
        r = client.get(path, params={**period, "pack": "durham"}, headers=AUDITOR)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert "pack 'durham' is not one of the ledger's packs" in r.json()["detail"]
    for command, path in (("annex-a", "/exports/annex-a/list-2"), ("ssd", "/exports/ssd/early-help-episodes")):
        out = tmp_path / f"{command}.csv"
        result = ledger_cli("export", command, "--from", "2026-01-01", "--to", "2026-06-30",
                            "--pack", "haringey-early-help", "--output", str(out))
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == get(client, path, **period, pack="haringey-early-help").content
    result = ledger_cli("export", "ssd", "--from", "2026-01-01", "--to", "2026-06-30", "--pack", "nowhere")
    assert result.exit_code == 2 and "is not one of the ledger's packs" in result.output


NORTH_NORTHANTS, WEST_NORTHANTS = "North Northamptonshire Council", "West Northamptonshire Council"


def test_a_reorganised_councils_families_are_returned_under_the_organisation_the_deployment_names(
        client, clock, settings):
    """Northamptonshire County Council, whose 0-19 procedure the pack encodes, was abolished
    on 1 April 2021 for two unitary councils. Until a deployment says which of them it is, the
    returns name both successors, never the old council; with LEDGER_ORGANISATION_NAMES they
    name the one it sets. An unborn child is in the returns too: Annex A gives the expected
    date as the date of birth, and the age -1."""
    record = Recorder(client, clock)
    family = record.register("northamptonshire-0-19", [
        {"given_name": "Fay", "family_name": "Moss", "date_of_birth": "2018-03-01", "kind": "child"},
        {"given_name": "Baby", "family_name": "Moss", "kind": "unborn", "expected_date": "2026-08-20"},
        {"given_name": "Gail", "family_name": "Moss", "kind": "adult"}], at("2026-04-06", 8))
    fid = family["family_id"]
    fay, baby, _ = (m["member_id"] for m in family["members"])
    record(fid, at("2026-04-06", 9), {"type": "ReferralReceived", "route": "professional", "reason": "Low mood",
                                      "reason_category": "mental_health"})
    record(fid, at("2026-04-08"), {"type": "AssessmentStarted", "assessment_id": str(uuid.uuid4())})
    period = {"from": "2026-04-01", "to": "2026-06-30"}

    def returns(c: TestClient) -> tuple[list[list[str]], list[dict[str, Any]]]:
        annex = rows_of(get(c, "/exports/annex-a/list-2", **period, pack="northamptonshire-0-19"))
        ssd = get(c, "/exports/ssd/early-help-episodes", **period, format="json").json()["rows"]
        return annex, ssd

    annex, ssd = returns(client)
    both = f"{NORTH_NORTHANTS} or {WEST_NORTHANTS}"
    assert [(r["earl_person_id"], r["earl_episode_reason"], r["earl_episode_organisation"]) for r in ssd] == [
        (fay, "Mental health", both), (baby, "Mental health", both)]
    assert annex[1:] == [[fay, "", "", "01/03/2018", "8", "08/04/2026", "", both],
                         [baby, "", "", "20/08/2026", "-1", "08/04/2026", "", both]]
    assert "Northamptonshire County Council" not in "".join(",".join(r) for r in annex)

    configured = open_ledger(settings.model_copy(
        update={"organisation_names": {"northamptonshire-0-19": WEST_NORTHANTS}}), clock)  # type: ignore[arg-type]
    try:
        with TestClient(create_app(configured), raise_server_exceptions=False) as other:
            annex, ssd = returns(other)
    finally:
        configured.close()
    assert {r["earl_episode_organisation"] for r in ssd} == {WEST_NORTHANTS}
    assert {row[7] for row in annex[1:]} == {WEST_NORTHANTS}


def test_the_ssd_end_reason_is_the_packs_mapping_of_the_closure_reason():
    """EARL006A is one of "Outcomes met", "Step-up" or "NFA" (the SSD's guidance: "Reason
    Episode endeed e.g. Outcomes met/ Step-up/ NFA"), mapped by the family's pack from the
    ledger's closure reason; an open episode has none. Leicestershire closes a family that
    "met outcomes" or stepped down after progress as outcomes met (seed 003 L823-L824)."""
    from aggregates.vocabulary import CLOSURE_REASONS
    from ledger.policies.loader import shipped_packs
    from projections.exports import Council, ssd_early_help_episodes

    packs = shipped_packs()
    for pack in packs.values():
        assert set(pack.returns.ssd_end_reasons) == set(CLOSURE_REASONS), pack.id
        assert set(pack.returns.ssd_end_reasons.values()) <= {"Outcomes met", "Step-up", "NFA"}, pack.id
    rows = [{"earl_episode_id": str(uuid.uuid4()), "person_id": uuid.uuid4().hex, "family_id": "f",
             "start_date": "2026-01-05", "end_date": None if reason is None else "2026-03-01",
             "reason_category": None, "end_reason": reason, "policy": "leicestershire-early-help", "worker_id": "pat"}
            for reason in ("outcomes_met", "step_down", "step_up", "disengaged", "moved_away", "transferred", None)]
    found = orjson_rows(ssd_early_help_episodes(rows, date(2026, 1, 1), date(2026, 6, 30), "json",
                                                council=Council(packs, {})).content)
    assert [r["earl_episode_end_reason"] for r in found] == [
        "Outcomes met", "Outcomes met", "Step-up", "NFA", "NFA", "NFA", None]
    assert [r["earl_episode_reason"] for r in found] == [None] * 7, "no category recorded: blank, not Other"


def test_a_pack_maps_every_closure_reason_onto_the_ssds_three_end_reasons():
    import tomllib

    from pydantic import ValidationError

    from ledger.policies.loader import PACKS_DIR
    from ledger.policies.schema import Pack

    raw = tomllib.loads((PACKS_DIR / "durham-one-point.toml").read_text(encoding="utf-8"))
    del raw["returns"]["ssd_end_reasons"]["moved_away"]
    with pytest.raises(ValidationError, match="must map every closure reason; missing: moved_away"):
        Pack.model_validate(raw)
    raw["returns"]["ssd_end_reasons"]["moved_away"] = "Moved away"
    with pytest.raises(ValidationError, match="Outcomes met"):
        Pack.model_validate(raw)


def test_no_chronology_says_a_child_joined_before_birth(client, clock):
    """A baby expected on 1 March, put on the record on 2 February and born on 24 February:
    the court chronology says an unborn child joined, then that the child was born."""
    record = Recorder(client, clock)
    family = record.register("durham-one-point", [
        {"given_name": "Hana", "family_name": "Webb", "kind": "adult"}], at("2026-02-01", 9))
    fid = family["family_id"]
    record(fid, at("2026-02-01", 10), {"type": "ReferralReceived", "route": "professional", "reason": "Pre-birth",
                                       "reason_category": "parenting_family_dynamics"})
    baby = str(uuid.uuid4())
    record(fid, at("2026-02-02"), {"type": "MemberAdded", "member_id": baby, "given_name": "Baby",
                                   "family_name": "Webb", "kind": "unborn", "expected_date": "2026-03-01"})
    record(fid, at("2026-02-24", 7), {"type": "ChildBorn", "member_id": baby, "date_of_birth": "2026-02-24",
                                      "given_name": "Ivy"}, recorded=at("2026-02-26"))
    said = [e["summary"] for e in chronology(client, fid).json()["entries"]]
    assert "Ivy Webb, an unborn child (expected 01/03/2026), joined the family record" in said
    assert "Ivy Webb was born on 24/02/2026" in said
    assert said.index("Ivy Webb was born on 24/02/2026") > said.index(
        "Ivy Webb, an unborn child (expected 01/03/2026), joined the family record")
    assert not [s for s in said if "(child) joined" in s]


def orjson_rows(content: bytes) -> list[dict[str, Any]]:
    import orjson

    return orjson.loads(content)["rows"]  # type: ignore[no-any-return]


# --- the same bytes from the command line --------------------------------------------------------




def test_ledger_export_gives_the_same_bytes_as_http_for_every_profile_format_and_return(
        client, families, ledger_cli, tmp_path):
    f = families
    checks: list[tuple[list[str], str, dict[str, Any]]] = []
    for profile in ("court", "practice", "review"):
        # PDF and Word say the day they were prepared (the clock's): tests/test_documents.py
        for fmt in ("json", "csv"):
            checks.append((["chronology", "--family", f["stone"], "--profile", profile, "--format", fmt],
                           f"/families/{f['stone']}/chronology", {"profile": profile, "format": fmt}))
    checks.append((["chronology", "--family", f["stone"], "--member", f["ben"], "--profile", "court", "--format",
                    "csv", "--as-at", BEFORE_CORRECTIONS], f"/families/{f['stone']}/chronology",
                   {"profile": "court", "format": "csv", "member": f["ben"], "as_at": BEFORE_CORRECTIONS}))
    for command, path in (("annex-a", "/exports/annex-a/list-2"), ("ssd", "/exports/ssd/early-help-episodes")):
        for fmt in ("csv", "json"):
            checks.append(([command, "--from", "2026-01-01", "--to", "2026-06-30", "--format", fmt], path,
                           {"from": "2026-01-01", "to": "2026-06-30", "format": fmt}))
        checks.append(([command, "--from", "2026-01-01", "--to", "2026-06-30", "--as-at", BEFORE_CORRECTIONS], path,
                       {"from": "2026-01-01", "to": "2026-06-30", "as_at": BEFORE_CORRECTIONS}))
    for n, (args, path, params) in enumerate(checks):
        out = tmp_path / f"export-{n}"
        result = ledger_cli("export", *args, "--output", str(out))
        assert result.exit_code == 0, (args, result.output)
        assert out.read_bytes() == get(client, path, **params).content, args
    # To standard output as well.
    result = ledger_cli("export", "annex-a", "--from", "2026-01-01", "--to", "2026-06-30")
    assert result.exit_code == 0 and result.stdout_bytes == \
        get(client, "/exports/annex-a/list-2", **{"from": "2026-01-01", "to": "2026-06-30"}).content


def test_ledger_export_refuses_bad_input_with_a_message(client, families, ledger_cli, tmp_path):
    f = families
    for args, words in [
        (["annex-a", "--from", "2026-07-01", "--to", "2026-01-01"], "is after"),
        (["ssd", "--from", "2026-01-01", "--to", "2026-06-30", "--as-at", "2026-01-27T08:00:00"], "timezone"),
        (["chronology", "--family", f["stone"], "--profile", "court", "--member", str(uuid.uuid4())],
         "is not a member"),
        (["chronology", "--family", str(uuid.uuid4()), "--profile", "court"], "no family"),
        (["chronology", "--family", f["stone"], "--profile", "opinion"], "opinion"),
    ]:
        result = ledger_cli("export", *args, "--output", str(tmp_path / "nothing"))
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, result.output
        assert not (tmp_path / "nothing").exists()


# --- bad requests ---------------------------------------------------------------------------------


def test_bad_export_requests_are_clear_problems_and_change_nothing(client, families):
    f = families
    version = client.get(f"/families/{f['stone']}", headers=PRACTITIONER).json()["version"]
    chronology_path = f"/families/{f['stone']}/chronology"
    for path, params, status, words in [
        (chronology_path, {"profile": "opinion"}, 422, "profile"),
        (chronology_path, {"profile": "court", "member": str(uuid.uuid4())}, 422, "is not a member"),
        (chronology_path, {"profile": "court", "as_at": "2026-01-27T08:00:00"}, 422, "timezone"),
        (chronology_path, {"format": "docx"}, 422, "needs a profile"),
        (chronology_path, {"profile": "court", "significant": "true"}, 422, "leave out significant"),
        (chronology_path, {"profile": "court", "format": "rtf"}, 422, "format"),
        (chronology_path, {"profile": "court", "as_at": "2020-01-01T00:00:00+00:00"}, 404, "had not been recorded"),
        (f"/families/{uuid.uuid4()}/chronology", {"profile": "court"}, 404, "no family"),
        ("/exports/annex-a/list-2", {"from": "2026-07-01", "to": "2026-01-01"}, 422, "is after"),
        ("/exports/annex-a/list-2", {"to": "2026-01-01"}, 422, "from"),
        ("/exports/annex-a/list-2", {"from": "2026-01-01", "to": "2026-06-30", "format": "xlsx"}, 422, "format"),
        ("/exports/ssd/early-help-episodes", {"from": "2026-01-01", "to": "June"}, 422, "to"),
        ("/exports/ssd/early-help-episodes", {"from": "2026-01-01", "to": "2026-06-30", "as_at": "2026-01-27"}, 422,
         "as_at"),
    ]:
        r = client.get(path, params=params, headers=reader(path))
        assert r.status_code == status, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.json()["detail"], (params, r.json()["detail"])
    assert client.get(f"/families/{f['stone']}", headers=PRACTITIONER).json()["version"] == version


def test_without_a_profile_the_chronology_answers_as_before(client, families):
    body = chronology(client, families["stone"]).json()
    assert set(body) == {"family_id", "member", "as_at", "significant_only", "entries", "total", "offset",
                         "quarantined"}
    assert rows_of(chronology(client, families["stone"], format="csv"))[0][:3] == ["date", "time", "event"]


# --- the inspector -------------------------------------------------------------------------------


def test_an_inspector_reads_every_export_and_chronology_and_records_nothing(client, families):
    f = families
    for profile in ("court", "practice", "review"):
        # PDF and Word say the day they were prepared (the clock's): tests/test_documents.py
        for fmt in ("json", "csv"):
            chronology(client, f["stone"], INSPECTOR, profile=profile, format=fmt)
    chronology(client, f["stone"], INSPECTOR)
    for path in ("/exports/annex-a/list-2", "/exports/ssd/early-help-episodes"):
        get(client, path, INSPECTOR, **{"from": "2026-01-01", "to": "2026-06-30"})
    refused = client.post(f"/families/{f['stone']}/commands", headers=INSPECTOR,
                          json={"type": "CaseNoteRecorded", "text": "an inspector's note"})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert post_family(client, headers=INSPECTOR, json={
        "policy": "durham-one-point", "team": "north",
        "members": [{"given_name": "A", "family_name": "B", "kind": "child"}]}).status_code == 403
    texts = [e["summary"] for e in chronology(client, f["stone"]).json()["entries"]]
    assert "an inspector's note" not in texts


def test_an_inspector_token_lasts_at_most_the_two_weeks_of_an_inspection(client, families):
    path = f"/families/{families['stone']}/chronology"
    now = datetime.now(UTC)
    longest = mint(SECRET, sub="hmi", role="inspector", team=None, hours=INSPECTOR_MAX_HOURS)
    assert client.get(path, headers={"Authorization": f"Bearer {longest}"}).status_code == 200
    with pytest.raises(TokenTooLong, match="at most 336 hours"):
        mint(SECRET, sub="hmi", role="inspector", team=None, hours=INSPECTOR_MAX_HOURS + 1)
    # Made elsewhere with the same key: too long, or without saying when it was issued.
    too_long = jwt.encode({"sub": "hmi", "role": "inspector", "iat": now, "exp": now + timedelta(days=30)},
                          SECRET, algorithm="HS256")
    undated = jwt.encode({"sub": "hmi", "role": "inspector", "exp": now + timedelta(hours=1)}, SECRET,
                         algorithm="HS256")
    for token, words in ((too_long, "at most 336 hours"), (undated, "iat")):
        r = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and words in r.json()["detail"], r.text
    # An auditor's or a manager's token is not held to it.
    assert mint(SECRET, sub="ada", role="auditor", team=None, hours=24 * 30)


def test_ledger_token_mints_an_inspector_token_for_the_inspection_and_no_longer(client, families, ledger_cli):
    result = ledger_cli("token", "--sub", "ofsted-hmi-1", "--role", "inspector", "--hours", "120")
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), SECRET, algorithms=["HS256"])
    assert (claims["role"], claims["exp"] - claims["iat"]) == ("inspector", 120 * 3600)
    r = client.get("/exports/annex-a/list-2", params={"from": "2026-01-01", "to": "2026-06-30"},
                   headers={"Authorization": f"Bearer {result.output.strip()}"})
    assert r.status_code == 200
    refused = ledger_cli("token", "--sub", "ofsted-hmi-1", "--role", "inspector", "--hours", "720")
    assert refused.exit_code == 2 and "--hours" in refused.output and "336" in refused.output
