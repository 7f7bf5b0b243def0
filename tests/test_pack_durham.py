"""Durham County Council One Point Service pack (seed 000), walked through the HTTP API.

Every expected date below was counted by hand from the seed text: "wd" is a working day
(Monday to Friday, not an England-and-Wales bank holiday); the day of the starting event
is day 0 (ADR 0007). Bank holidays crossed: 25, 26 December 2025, 1 January 2026, Good
Friday 3 April and Easter Monday 6 April 2026, 4 and 25 May 2026, 31 August 2026.
Seed lines are cited as L<n> of 000_5f8893c51560d94f.txt. Times are given in UTC (the
same as London in winter, one hour behind it from 29 March to 25 October 2026).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import (
    AUDITOR,
    MANAGER,
    PRACTITIONER,
    SUPERVISOR,
    auth,
    breaches,
    deadlines,
    flagged,
    not_flagged,
    ok,
    refused,
)
from tests.registration import post_family

# Storage-neutral (docs/testing.md): a pack's rules over HTTP, on one database (SQLite).
pytestmark = pytest.mark.one_database

PACK = "durham-one-point"
SEED = "000_5f8893c51560d94f.txt"
OTHER_PRACTITIONER = auth("practitioner", "kim")


# --- helpers ---------------------------------------------------------------------------


def at(day: str, hour: int = 10, minute: int = 0) -> str:
    return f"{day}T{hour:02d}:{minute:02d}:00+00:00"


def register_family(client, *children: tuple[str, str]) -> tuple[str, dict[str, str]]:
    """A Durham family with the given (name, date of birth) children and Cara, an adult."""
    members = [{"given_name": n, "family_name": "Hall", "date_of_birth": dob, "kind": "child"} for n, dob in children]
    members.append({"given_name": "Cara", "family_name": "Hall", "date_of_birth": "1990-02-03", "kind": "adult"})
    r = post_family(client, headers=PRACTITIONER, json={"policy": PACK, "team": "north", "members": members})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["family_id"], {m["given_name"]: m["member_id"] for m in body["members"]}


def one(rows: dict[str, list[dict[str, Any]]], rule: str) -> dict[str, Any]:
    assert len(rows[rule]) == 1, rows[rule]
    return rows[rule][0]


def clock(rows, rule: str, due: str) -> dict[str, Any]:
    """The clock of ``rule`` due on ``due`` (for rules with several clocks)."""
    found = [r for r in rows[rule] if r["due"] == due]
    assert len(found) == 1, (due, [(r["due"], r["state"]) for r in rows[rule]])
    return found[0]


def of_child(rows, rule: str, member: str) -> list[tuple[str, str]]:
    """(due, state) of every clock of a per-child rule for one child, in due order."""
    return [(r["due"], r["state"]) for r in rows[rule] if r["member"] == member]


def state(rows, rule: str) -> tuple[str | None, str]:
    row = one(rows, rule)
    return row["due"], row["state"]


def refer(client, fid: str, day: str, pathway: str, triage: str, tray: str) -> None:
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "school worried",
                     "occurred_at": at(day)})
    ok(client, fid, {"type": "TriageDecided", "outcome": "early_help", "pathway": pathway,
                     "occurred_at": at(triage)})
    ok(client, fid, {"type": "AllocatedToTeam", "team": "north", "pathway": pathway, "occurred_at": at(tray)})


# --- a. the two pathways, walked through ---------------------------------------------------------


def test_an_ifst_family_walked_through_christmas_new_year_and_easter(client):
    fid, m = register_family(client, ("Ava", "2016-05-04"), ("Dan", "2025-09-15"))
    ava, dan, cara = m["Ava"], m["Dan"], m["Cara"]

    # A school's request reaches Early Help Triage on Thursday 18 December 2025.
    refer(client, fid, "2025-12-18", "intensive-family-support", triage="2025-12-22", tray="2025-12-23")
    ok(client, fid, {"type": "DocumentRecorded", "document": "case-summary", "title": "Initial case summary",
                     "occurred_at": at("2025-12-24")}, SUPERVISOR)
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "worker_role": "Key Worker",
                     "occurred_at": at("2026-01-02")}, SUPERVISOR)
    ok(client, fid, {"type": "DocumentRecorded", "document": "home-visit-risk-assessment",
                     "occurred_at": at("2026-01-05")})
    ok(client, fid, {"type": "ContactMade", "method": "visit", "party": "family", "members_present": [ava, dan, cara],
                     "children_seen": [ava, dan], "children_seen_alone": [ava], "occurred_at": at("2026-01-07")})
    ok(client, fid, {"type": "ConsentGiven", "given_by": cara, "scope": ["support", "information_sharing"],
                     "occurred_at": at("2026-01-07", 11)})
    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "assessment_id": aid, "occurred_at": at("2026-01-08")})

    rows = deadlines(client, fid, at("2026-01-09", 12))
    # EHTW has up to 5 wd to progress the request (L376, L456): Fri 19, Mon 22, Tue 23,
    # Wed 24, (25, 26 Dec bank holidays, weekend) Mon 29 December; in the tray on the 23rd.
    assert state(rows, "triage-progressed") == ("2025-12-29", "met")
    # Key Worker allocated within 2 wd of the team tray (L476): Wed 24, Mon 29 December;
    # allocated on Friday 2 January 2026 (1 January a bank holiday), so late.
    assert state(rows, "ifst-key-worker-allocated") == ("2025-12-29", "met_late")
    # The initial case summary belongs to the same step (L477): written on 24 December.
    assert state(rows, "ifst-initial-case-summary") == ("2025-12-29", "met")
    # 28 wd from consent on Wednesday 7 January, manager QA included (L685, L689):
    # 8, 9 Jan (2), 12-16 (7), 19-23 (12), 26-30 (17), 2-6 Feb (22), 9-13 (27), Mon 16 Feb.
    assert state(rows, "ifst-assessment") == ("2026-02-16", "open")
    # The Family Network Meeting and the initial TAF fall in the same 28 wd (L510, L511, L1226).
    assert state(rows, "ifst-family-network-meeting") == ("2026-02-16", "open")
    assert state(rows, "ifst-initial-taf") == ("2026-02-16", "open")
    # Family Hub rules do not apply to an IFST family.
    for rule in ("fh-consent", "fh-practitioner-allocated", "fh-assessment-submitted", "fh-assessment-finalised"):
        row = one(rows, rule)
        assert row["state"] == "not_applicable" and row["reason"] == "applies to the family-hub pathway only"

    ok(client, fid, {"type": "MeetingHeld", "meeting_kind": "family_network", "attendees": ["grandmother"],
                     "members_present": [cara], "occurred_at": at("2026-02-05")})
    ok(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid, "occurred_at": at("2026-02-11")})
    ok(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid, "occurred_at": at("2026-02-13")}, SUPERVISOR)

    rows = deadlines(client, fid, at("2026-02-20", 12))
    assert state(rows, "ifst-family-network-meeting") == ("2026-02-16", "met")
    # Signed off by the Senior Key Worker on Friday 13 February, within the 28 wd (L685, L750).
    assert state(rows, "ifst-assessment") == ("2026-02-16", "met")
    # No TAF by Friday 20 February: the initial TAF is overdue (L1226).
    assert state(rows, "ifst-initial-taf") == ("2026-02-16", "overdue")
    # The annual review of the assessment is due a year after sign-off (L764).
    assert state(rows, "assessment-annual-review") == ("2027-02-13", "open")

    ok(client, fid, {"type": "MeetingHeld", "meeting_kind": "team_around_the_family", "attendees": ["school", "GP"],
                     "members_present": [cara], "occurred_at": at("2026-02-24")})
    plan = str(uuid.uuid4())
    ok(client, fid, {"type": "PlanAgreed", "plan_id": plan, "outcomes": ["Ava in school every day"],
                     "occurred_at": at("2026-02-25")})
    ok(client, fid, {"type": "PlanShared", "plan_id": plan, "shared_with": ["family", "school", "GP"],
                     "occurred_at": at("2026-03-11")})

    rows = deadlines(client, fid, at("2026-03-20", 12))
    assert state(rows, "ifst-initial-taf") == ("2026-02-16", "met_late")
    # Plan updated on LiquidLogic within 5 wd of the TAF on Tuesday 24 February (L1265):
    # 25, 26, 27 Feb, 2, 3 March; agreed on the 25th.
    assert state(rows, "taf-plan-updated") == ("2026-03-03", "met")
    # Sent to the family and TAF members within 10 wd (L1007, L1293, L1337): 25-27 Feb (3),
    # 2-6 Mar (8), 9, Tue 10 March; shared on Wednesday 11 March.
    assert state(rows, "taf-plan-circulated") == ("2026-03-10", "met_late")
    # Next TAF within 30 wd of the last (L1007, L1297): 25-27 Feb (3), 2-6 Mar (8), 9-13 (13),
    # 16-20 (18), 23-27 (23), 30, 31 Mar, 1, 2 Apr (27), Good Friday and Easter Monday
    # skipped, 7, 8, Thursday 9 April (30).
    assert state(rows, "taf-review-interval") == ("2026-04-09", "open")
    # The chronology is brought up to date after each TAF, within the 30 wd (L1341).
    assert state(rows, "chronology-updated-after-taf") == ("2026-04-09", "open")

    ok(client, fid, {"type": "MeetingHeld", "meeting_kind": "review", "attendees": ["school"],
                     "members_present": [cara], "occurred_at": at("2026-04-14")})
    rows = deadlines(client, fid, at("2026-05-20", 12))
    first, second = rows["taf-review-interval"]
    assert (first["due"], first["state"]) == ("2026-04-09", "met_late")
    # From the review TAF on Tuesday 14 April: 15-17 Apr (3), 20-24 (8), 27 Apr-1 May (13),
    # 4 May bank holiday, 5-8 (17), 11-15 (22), 18-22 (27), 25 May bank holiday, 26, 27,
    # Thursday 28 May (30).
    assert (second["due"], second["state"]) == ("2026-05-28", "open")
    assert second["started_by"] == first["stopped_by"]
    # No chronology update after either TAF: the first is overdue, the second still open (L1341).
    assert [(r["due"], r["state"]) for r in rows["chronology-updated-after-taf"]] == [
        ("2026-04-09", "overdue"), ("2026-05-28", "open")]
    # The review TAF started its own plan clocks: 5 wd to Tue 21 April, 10 wd to Tue 28 April.
    assert clock(rows, "taf-plan-updated", "2026-04-21")["state"] == "overdue"
    assert clock(rows, "taf-plan-circulated", "2026-04-28")["state"] == "overdue"


def test_a_family_hub_family_walked_through_christmas_and_new_year(client):
    fid, m = register_family(client, ("Ava", "2016-05-04"))
    ava, cara = m["Ava"], m["Cara"]

    refer(client, fid, "2025-12-08", "family-hub", triage="2025-12-10", tray="2025-12-11")
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "worker_role": "Early Help Practitioner",
                     "occurred_at": at("2025-12-22")}, MANAGER)

    rows = deadlines(client, fid, at("2025-12-22", 16))
    # Triage within 5 wd of Monday 8 December (L376, L456): 9-12 Dec (4), Monday 15.
    assert state(rows, "triage-progressed") == ("2025-12-15", "met")
    # The FHTM allocates within 7 wd of the Family Hub in-tray on Thursday 11 December
    # (L599): Fri 12 (1), 15-19 (6), Monday 22 December (7): allocated on the day.
    assert state(rows, "fh-practitioner-allocated") == ("2025-12-22", "met")
    # A Family Hub family allocated on Monday 22 December 2025 is due to give consent by
    # Thursday 8 January 2026 (L617): 23, 24 Dec (2), 25 and 26 Dec bank holidays, 29, 30,
    # 31 Dec (5), 1 Jan bank holiday, 2 Jan (6), 5, 6, 7, Thursday 8 January (10).
    assert state(rows, "fh-consent") == ("2026-01-08", "open")
    # IFST rules do not apply to a Family Hub family.
    row = one(rows, "ifst-assessment")
    assert row["state"] == "not_applicable" and row["reason"] == "applies to the intensive-family-support pathway only"

    assert state(deadlines(client, fid, at("2026-01-08", 17)), "fh-consent") == ("2026-01-08", "open")
    assert state(deadlines(client, fid, at("2026-01-09", 9)), "fh-consent") == ("2026-01-08", "overdue")

    ok(client, fid, {"type": "DocumentRecorded", "document": "home-visit-risk-assessment",
                     "occurred_at": at("2026-01-05")})
    ok(client, fid, {"type": "ContactMade", "method": "visit", "party": "family", "members_present": [ava, cara],
                     "children_seen": [ava], "children_seen_alone": [ava], "occurred_at": at("2026-01-06")})
    ok(client, fid, {"type": "ConsentGiven", "given_by": cara, "scope": ["support", "information_sharing"],
                     "occurred_at": at("2026-01-09")})
    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "assessment_id": aid, "occurred_at": at("2026-01-12")})
    ok(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid, "occurred_at": at("2026-01-29")})

    rows = deadlines(client, fid, at("2026-01-30", 12))
    assert state(rows, "fh-consent") == ("2026-01-08", "met_late")
    # Proportionate assessment submitted within 15 wd of consent on Friday 9 January
    # (L637, L645): 12-16 (5), 19-23 (10), 26-30 January (15); submitted on the 29th.
    assert state(rows, "fh-assessment-submitted") == ("2026-01-30", "met")
    # The FHTM quality assures within 5 wd of the submission (L645): 30 Jan, 2-5 Feb.
    assert state(rows, "fh-assessment-quality-assured") == ("2026-02-05", "open")
    # Finalised within 20 wd of consent (L879): 2-6 February (20).
    assert state(rows, "fh-assessment-finalised") == ("2026-02-06", "open")

    ok(client, fid, {"type": "AssessmentReturned", "assessment_id": aid, "reason": "child's voice missing",
                     "occurred_at": at("2026-02-02")}, MANAGER)
    ok(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid, "occurred_at": at("2026-02-04")})
    ok(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid, "occurred_at": at("2026-02-10")}, MANAGER)
    plan = str(uuid.uuid4())
    ok(client, fid, {"type": "PlanAgreed", "plan_id": plan, "outcomes": ["calmer bedtimes"],
                     "occurred_at": at("2026-02-11")})

    rows = deadlines(client, fid, at("2026-02-12", 12))
    # Returned on Monday 2 February (QA done in time); the resubmission on Wednesday 4
    # February has its own 5 wd: 5, 6, 9, 10, Wednesday 11 February; signed off on the 10th.
    assert [(r["due"], r["state"]) for r in rows["fh-assessment-quality-assured"]] == [
        ("2026-02-05", "met"), ("2026-02-11", "met")]
    assert state(rows, "fh-assessment-finalised") == ("2026-02-06", "met_late")
    # Six weeks of Family Hub work from the plan on Wednesday 11 February (L1126): 25 March.
    assert state(rows, "fh-six-week-review") == ("2026-03-25", "open")

    ok(client, fid, {"type": "MeetingHeld", "meeting_kind": "case_discussion", "attendees": ["FHTM"],
                     "members_present": [], "occurred_at": at("2026-03-26")}, MANAGER)
    rows = deadlines(client, fid, at("2026-04-20", 12))
    assert state(rows, "fh-six-week-review") == ("2026-03-25", "met_late")
    # The FHTM may continue the work for four more weeks, reviewed at the next case
    # discussion (L1013): four weeks from Thursday 26 March is Thursday 23 April.
    assert state(rows, "fh-continuation-review") == ("2026-04-23", "open")
    assert state(deadlines(client, fid, at("2026-04-24", 12)), "fh-continuation-review") == ("2026-04-23", "overdue")


def test_ifst_step_down_to_a_family_hub_over_the_august_bank_holiday(client):
    fid, m = register_family(client, ("Ava", "2016-05-04"))
    ava, cara = m["Ava"], m["Cara"]
    refer(client, fid, "2026-06-01", "intensive-family-support", triage="2026-06-02", tray="2026-06-03")
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "occurred_at": at("2026-06-04")}, SUPERVISOR)
    ok(client, fid, {"type": "ConsentGiven", "given_by": cara, "scope": ["support"], "occurred_at": at("2026-06-05")})
    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "assessment_id": aid, "occurred_at": at("2026-06-08")})
    # The TAF discusses the step down and the family agrees (L1587, L1609, L1617).
    ok(client, fid, {"type": "AgreementRecorded", "subject": "step_down", "with_team_around_the_family": True,
                     "occurred_at": at("2026-08-26")})
    ok(client, fid, {"type": "SteppedDown", "from_service": "intensive-family-support", "reason": "needs reduced",
                     "pathway": "family-hub", "occurred_at": at("2026-08-27")}, SUPERVISOR)

    rows = deadlines(client, fid, at("2026-09-03", 12))
    # The IFST assessment clock (due 28 wd after 5 June: Wednesday 15 July) was already
    # late when the family left IFST, so it stays overdue.
    row = one(rows, "ifst-assessment")
    assert (row["due"], row["state"], row["reason"]) == ("2026-07-15", "overdue", "pathway changed to family-hub")
    # Joint home visit within 5 wd of the step down on Thursday 27 August (L1637): Fri 28,
    # 31 August bank holiday, Tue 1, Wed 2, Thu 3, Friday 4 September.
    assert state(rows, "ifst-step-down-joint-visit") == ("2026-09-04", "open")
    # The FHTM allocates within 7 wd of the transfer (L599, L1633): 28 Aug, 1-4 Sep, 7, Tuesday 8.
    assert state(rows, "fh-practitioner-allocated") == ("2026-09-08", "open")

    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "kim", "worker_role": "Early Help Practitioner",
                     "occurred_at": at("2026-09-07")}, MANAGER)
    ok(client, fid, {"type": "DocumentRecorded", "document": "home-visit-risk-assessment",
                     "occurred_at": at("2026-09-07")})
    ok(client, fid, {"type": "ContactMade", "method": "visit", "party": "family", "members_present": [ava, cara],
                     "children_seen": [ava], "children_seen_alone": [], "joint": True, "joint_with": ["IFS Key Worker"],
                     "occurred_at": at("2026-09-08")}, OTHER_PRACTITIONER)
    rows = deadlines(client, fid, at("2026-09-10", 12))
    assert state(rows, "ifst-step-down-joint-visit") == ("2026-09-04", "met_late")
    assert state(rows, "fh-practitioner-allocated") == ("2026-09-08", "met")
    # Consent given in June still counts: the Family Hub consent clock is met at once (L617).
    row = one(rows, "fh-consent")
    assert (row["due"], row["state"]) == ("2026-09-21", "met") and row["stopped_at"].startswith("2026-06-05")


# --- b. ordering rules ----------------------------------------------------------------------------


def ifst_family(client) -> tuple[str, dict[str, str]]:
    """An IFST family referred on Thursday 1 October 2026 and allocated to a Key Worker."""
    fid, m = register_family(client, ("Ava", "2016-05-04"))
    refer(client, fid, "2026-10-01", "intensive-family-support", triage="2026-10-02", tray="2026-10-05")
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "occurred_at": at("2026-10-06")}, SUPERVISOR)
    return fid, m


def hub_family(client) -> tuple[str, dict[str, str]]:
    """A Family Hub family referred on Thursday 1 October 2026 and allocated to an EHP."""
    fid, m = register_family(client, ("Ava", "2016-05-04"))
    refer(client, fid, "2026-10-01", "family-hub", triage="2026-10-02", tray="2026-10-05")
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "occurred_at": at("2026-10-06")}, MANAGER)
    return fid, m


@pytest.fixture
def ifst(client):
    return ifst_family(client)


@pytest.fixture
def hub(client):
    return hub_family(client)


def _visit(m, method="visit", party="family", day="2026-10-07"):
    seen = [m["Ava"]] if party == "family" else []
    return {"type": "ContactMade", "method": method, "party": party, "members_present": [m["Cara"], *seen],
            "children_seen": seen, "children_seen_alone": [], "occurred_at": at(day)}


def test_a_home_visit_before_the_rapid_risk_assessment_is_flagged(client, ifst):
    fid, m = ifst
    # L503-L504, L621-L627: the Home Visit Risk Assessment comes before the first home visit.
    # The visit happened, so it is recorded; the breach is shown on the family's deadlines.
    flagged(client, fid, _visit(m), rule="risk-assessment-before-home-visit", contains="L503")
    flagged(client, fid, _visit(m, "unannounced_visit", day="2026-10-08"), rule="risk-assessment-before-home-visit",
            contains="L621")
    not_flagged(client, fid, _visit(m, "phone", day="2026-10-08"))  # a phone call is not a home visit
    ok(client, fid, {"type": "DocumentRecorded", "document": "home-visit-risk-assessment",
                     "occurred_at": at("2026-10-09")})
    not_flagged(client, fid, _visit(m, day="2026-10-12"))
    # Breaches are judged in the order things happened: a visit typed in after the RAPID
    # but stated to have happened before it is still a visit without a risk assessment.
    flagged(client, fid, _visit(m, day="2026-10-08"), rule="risk-assessment-before-home-visit")


def test_family_hub_contact_with_professionals_before_the_familys_agreement_is_flagged(client, hub):
    fid, m = hub
    professional = _visit(m, "phone", "professional")
    # L619: "with the agreement of the family contact them"; the referrer may be called first (L613).
    flagged(client, fid, professional, rule="fh-professionals-contacted-with-agreement", contains="L619")
    not_flagged(client, fid, _visit(m, "phone", "referrer"))
    ok(client, fid, {"type": "ConsentGiven", "given_by": m["Cara"], "scope": ["support"],
                     "occurred_at": at("2026-10-08")})
    # Consent to support alone is not the agreement to share information with professionals.
    flagged(client, fid, _visit(m, "phone", "professional", day="2026-10-09"),
            rule="fh-professionals-contacted-with-agreement", contains="information_sharing")
    ok(client, fid, {"type": "ConsentGiven", "given_by": m["Cara"], "scope": ["information_sharing"],
                     "occurred_at": at("2026-10-12")})
    not_flagged(client, fid, _visit(m, "phone", "professional", day="2026-10-13"))


def test_an_ifst_taf_held_before_the_family_consents_to_who_attends_is_flagged(client, ifst):
    fid, m = ifst
    taf = {"type": "MeetingHeld", "meeting_kind": "team_around_the_family", "attendees": ["school", "GP"],
           "members_present": [m["Cara"]]}
    # L511: "With consent from the family agree which professionals ... they want to attend".
    flagged(client, fid, taf, rule="ifst-taf-with-consent", contains="L511")
    flagged(client, fid, {**taf, "meeting_kind": "review"}, rule="ifst-taf-with-consent")
    not_flagged(client, fid, {**taf, "meeting_kind": "family_network"})  # the family's own network needs no consent
    ok(client, fid, {"type": "ConsentGiven", "given_by": m["Cara"], "scope": ["support", "information_sharing"]})
    not_flagged(client, fid, taf)


def test_an_ifst_plan_shared_with_tafs_before_consent_is_flagged(client, ifst):
    fid, m = ifst
    plan = str(uuid.uuid4())
    ok(client, fid, {"type": "PlanAgreed", "plan_id": plan, "outcomes": ["school"]})
    shared = {"type": "PlanShared", "plan_id": plan, "shared_with": ["family", "school"]}
    # L1007: shared with the family and TAF members "(with family consent)".
    flagged(client, fid, shared, rule="ifst-plan-shared-with-consent", contains="L1007")
    ok(client, fid, {"type": "ConsentGiven", "given_by": m["Cara"], "scope": ["support", "information_sharing"]})
    not_flagged(client, fid, shared)


def test_a_step_up_meeting_before_the_family_hub_assessment_is_finalised_is_flagged(client, hub):
    fid, _ = hub
    meeting = {"type": "MeetingHeld", "meeting_kind": "step_up_step_down", "attendees": ["FF TM", "IFS TM"],
               "members_present": []}
    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "assessment_id": aid})
    ok(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid})
    # L1653: the FHTM ensures the assessment is finalised prior to the Step-Up meeting.
    flagged(client, fid, meeting, MANAGER, rule="fh-assessment-finalised-before-step-up-meeting", contains="L1653")
    ok(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid}, MANAGER)
    not_flagged(client, fid, meeting, MANAGER)


def test_a_step_down_before_the_familys_agreement_is_flagged(client, ifst):
    fid, _ = ifst
    step = {"type": "SteppedDown", "from_service": "intensive-family-support", "reason": "needs met",
            "pathway": "family-hub"}
    agreement = {"type": "AgreementRecorded", "subject": "step_down", "with_team_around_the_family": True}
    # L1587, L1617: the family understand and consent to stepping down.
    stepped = flagged(client, fid, step, SUPERVISOR, rule="family-agrees-step-down", contains="L1587")
    # The step down is on the record: the family is now on the Family Hub pathway.
    assert client.get(f"/families/{fid}/deadlines", headers=AUDITOR).json()["pathway"] == "family-hub"
    # An agreement recorded afterwards does not undo the breach.
    ok(client, fid, agreement)
    assert breaches(client, fid, stepped["event_id"]) == ["family-agrees-step-down"]
    # Agreed first, then stepped down: nothing to flag.
    other, _ = ifst_family(client)
    ok(client, other, agreement)
    not_flagged(client, other, step, SUPERVISOR)


def test_ifst_closure_without_the_taf_discussion_the_supervision_form_or_the_survey_is_flagged(client, ifst):
    fid, m = ifst
    ok(client, fid, {"type": "ConsentGiven", "given_by": m["Cara"], "scope": ["support", "information_sharing"]})
    ok(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met"})
    # L1712-L1714: the standard closure letter follows the manager's sign-off.
    letter = {"type": "DocumentRecorded", "document": "closure-letter", "sent_to": ["Cara Hall"]}
    flagged(client, fid, letter, rule="closure-letter-after-sign-off", contains="L1714")
    # L1673: the TAF has discussed closure with the family (L1692), and the case discussion
    # is on the Case Supervision Form (L1704), before the manager agrees to close. Neither
    # is on the record: the closure is agreed and both breaches are flagged.
    agreed = flagged(client, fid, {"type": "ClosureAuthorised"}, MANAGER, rule="ifst-closure-discussed-at-taf",
                     contains="L1692")
    assert breaches(client, fid, agreed["event_id"]) == ["ifst-closure-discussed-at-taf",
                                                         "ifst-closure-on-supervision-form"]
    # L1673, L1702: not closed until there is evidence of a Family Survey offered.
    flagged(client, fid, {"type": "EpisodeClosed", "reason": "outcomes_met"}, rule="family-survey-before-closure",
            contains="L1702")

    # The same closure in the order the seed gives: nothing is flagged.
    fid, m = ifst_family(client)
    ok(client, fid, {"type": "ConsentGiven", "given_by": m["Cara"], "scope": ["support", "information_sharing"]})
    ok(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met"})
    ok(client, fid, {"type": "MeetingHeld", "meeting_kind": "closure", "attendees": ["school"],
                     "members_present": [m["Cara"]]})
    ok(client, fid, {"type": "SupervisionRecorded", "worker_id": "pat", "text": "closure agreed"}, SUPERVISOR)
    not_flagged(client, fid, {"type": "ClosureAuthorised"}, SUPERVISOR)
    not_flagged(client, fid, letter)
    ok(client, fid, {"type": "DocumentRecorded", "document": "family-survey", "sent_to": ["Cara Hall", "Ava Hall"]})
    not_flagged(client, fid, {"type": "EpisodeClosed", "reason": "outcomes_met"})


def test_a_family_hub_closure_is_flagged_only_for_a_missing_survey(client, hub):
    fid, _ = hub
    # The TAF and supervision-form orderings are IFST's (L1673); a Family Hub family may
    # have had no TAF (L1120, L1678). The survey applies to both (L1702).
    ok(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met"})
    not_flagged(client, fid, {"type": "ClosureAuthorised"}, MANAGER)
    flagged(client, fid, {"type": "EpisodeClosed", "reason": "outcomes_met"}, rule="family-survey-before-closure",
            contains="L1673")

    fid, _ = hub_family(client)
    ok(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met"})
    ok(client, fid, {"type": "ClosureAuthorised"}, MANAGER)
    ok(client, fid, {"type": "DocumentRecorded", "document": "family-survey", "sent_to": ["Cara Hall"]})
    not_flagged(client, fid, {"type": "EpisodeClosed", "reason": "outcomes_met"})


# --- c. extension of the IFST assessment -------------------------------------------------------------


def test_only_a_manager_extends_the_ifst_assessment_and_never_past_45_working_days(client):
    fid, m = register_family(client, ("Ava", "2016-05-04"))
    refer(client, fid, "2026-03-02", "intensive-family-support", triage="2026-03-03", tray="2026-03-04")
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "occurred_at": at("2026-03-05")}, SUPERVISOR)
    ok(client, fid, {"type": "ConsentGiven", "given_by": m["Cara"], "scope": ["support"],
                     "occurred_at": at("2026-03-12")})

    # 28 wd from consent on Thursday 12 March (L685, L689): 13 Mar (1), 16-20 (6), 23-27 (11),
    # 30 Mar-2 Apr (15), Good Friday and Easter Monday skipped, 7-10 (19), 13-17 (24),
    # 20, 21, 22, Thursday 23 April (28).
    assert state(deadlines(client, fid, at("2026-04-14")), "ifst-assessment") == ("2026-04-23", "open")

    body = {"type": "DeadlineExtended", "rule": "ifst-assessment", "extend_by": 10, "reason": "new disclosure",
            "occurred_at": at("2026-04-14")}
    # "with agreement from Manager" (L507), "with Management approval" (L689): not a
    # practitioner, and not a Senior Key Worker either.
    refused(client, fid, body, PRACTITIONER, status=403, contains="lets a manager extend a deadline")
    refused(client, fid, body, SUPERVISOR, status=403, contains="lets a manager extend a deadline")
    assert state(deadlines(client, fid, at("2026-04-20")), "ifst-assessment") == ("2026-04-23", "open")

    ext = ok(client, fid, body, MANAGER)
    rows = deadlines(client, fid, at("2026-04-28"))
    # 38 wd: Fri 24 Apr (29), 27 Apr-1 May (34), 4 May bank holiday, 5, 6, 7, Friday 8 May (38).
    row = one(rows, "ifst-assessment")
    assert (row["due"], row["state"], row["extended_by"]) == ("2026-05-08", "extended", 10)
    assert row["extensions"] == [ext["event_id"]]

    # "No assessments should exceed 45 days from the date of consent" (L689): 38 + 8 = 46.
    refused(client, fid, {**body, "extend_by": 8}, MANAGER, contains="at most 45")
    ok(client, fid, {**body, "extend_by": 7, "occurred_at": at("2026-05-06")}, MANAGER)
    # 45 wd: 11-15 May (43), Mon 18 (44), Tuesday 19 May (45).
    assert state(deadlines(client, fid, at("2026-05-12")), "ifst-assessment") == ("2026-05-19", "extended")
    assert state(deadlines(client, fid, at("2026-05-20")), "ifst-assessment") == ("2026-05-19", "overdue")

    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "assessment_id": aid, "occurred_at": at("2026-05-11")})
    ok(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid, "occurred_at": at("2026-05-15")})
    ok(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid, "occurred_at": at("2026-05-18")}, MANAGER)
    assert state(deadlines(client, fid, at("2026-05-20")), "ifst-assessment") == ("2026-05-19", "met")


# --- e. recording timeliness -------------------------------------------------------------------


def test_late_case_recording_is_flagged_against_both_durham_standards(client):
    fid, m = register_family(client, ("Ava", "2016-05-04"))
    ok(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "asked for help",
                     "occurred_at": at("2025-12-19", 9)})
    note = ok(client, fid, {"type": "CaseNoteRecorded", "text": "Mam rang about Ava's sleep",
                            "occurred_at": at("2025-12-19", 15, 30)})
    on_time = ok(client, fid, {"type": "CaseNoteRecorded", "text": "recorded as it happened"})

    r = client.get(f"/families/{fid}/deadlines", params={"as_of": at("2026-11-24", 0)}, headers=PRACTITIONER)
    assert r.status_code == 200, r.text
    late = r.json()["late_entries"]
    flagged = {(e["event_id"], e["rule"]): e for e in late}
    # A case note of Friday 19 December 2025, 15:30, typed up in November 2026:
    # "recording within 24 hours" (L1333) was due by Saturday 20 December 15:30 ...
    row = flagged[(note["event_id"], "recording-within-24-hours")]
    assert row["due"] == "2025-12-20T15:30:00.000000Z"
    assert row["source"] == {"seed": SEED, "lines": [1333]}
    # ... and "on LiquidLogic EHM within 1 working day" (L1343) by Monday 22 December.
    assert flagged[(note["event_id"], "recording-within-1-working-day")]["due"] == "2025-12-22"
    # The referral is case recording (L1343) but not one of the L1333 contemporaneous records.
    referral = [e for e in late if e["type"] == "ReferralReceived"]
    assert [(e["rule"], e["due"]) for e in referral] == [("recording-within-1-working-day", "2025-12-22")]
    # A note recorded as it happened is not late.
    assert not [e for e in late if e["event_id"] == on_time["event_id"]]
    assert len(late) == 3


# --- f. per-child visiting rules, with ages ---------------------------------------------------------


def test_every_child_seen_the_over_fives_alone_and_the_under_ones_visited(client):
    fid, m = register_family(client, ("Ava", "2016-05-04"), ("Eve", "2021-01-20"), ("Dan", "2025-09-15"),
                             ("Fay", "2025-01-12"))
    ava, eve, dan, fay, cara = m["Ava"], m["Eve"], m["Dan"], m["Fay"], m["Cara"]
    refer(client, fid, "2025-12-29", "intensive-family-support", triage="2025-12-30", tray="2025-12-30")
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "occurred_at": at("2026-01-02")}, SUPERVISOR)
    ok(client, fid, {"type": "DocumentRecorded", "document": "home-visit-risk-assessment",
                     "occurred_at": at("2026-01-05")})
    ok(client, fid, {"type": "ContactMade", "method": "visit", "party": "family",
                     "members_present": [ava, eve, dan, cara], "children_seen": [ava, eve, dan],
                     "children_seen_alone": [ava], "occurred_at": at("2026-01-14")})

    rows = deadlines(client, fid, at("2026-02-09", 12))
    # Every child seen at least every 20 wd from allocation on Friday 2 January (L683):
    # 5-9 (5), 12-16 (10), 19-23 (15), 26-30 January (20). Seen on Wednesday 14 January,
    # the next is due 20 wd later: 15, 16 (2), 19-23 (7), 26-30 (12), 2-6 Feb (17), 9, 10,
    # Wednesday 11 February (20). Fay was not seen.
    for child in (ava, eve, dan):
        assert of_child(rows, "child-seen", child) == [("2026-01-30", "met"), ("2026-02-11", "open")]
    assert of_child(rows, "child-seen", fay) == [("2026-01-30", "overdue")]
    # Seen alone if 5+ (L683): Ava (9) was; Eve turned 5 on Tuesday 20 January and joins
    # the rule that day, due 20 wd later: 21-23 (3), 26-30 (8), 2-6 Feb (13), 9-13 (18),
    # 16, Tuesday 17 February (20). The babies are not in it.
    assert of_child(rows, "child-seen-alone", ava) == [("2026-01-30", "met"), ("2026-02-11", "open")]
    eve_alone = [r for r in rows["child-seen-alone"] if r["member"] == eve]
    assert [(r["due"], r["state"], r["reason"]) for r in eve_alone] == [("2026-02-17", "open", "child turned 5")]
    assert of_child(rows, "child-seen-alone", dan) == of_child(rows, "child-seen-alone", fay) == []
    # Under-ones visited every 10 wd (L683): Dan, from Friday 2 January: 5-9 (5), 12-16 (10);
    # visited on the 14th, then 15, 16, 19-23, 26, 27, Wednesday 28 January (10).
    assert of_child(rows, "under-one-visited", dan) == [("2026-01-16", "met"), ("2026-01-28", "overdue")]
    # Fay turned one on Monday 12 January, before her visit was due: she leaves the rule.
    fay_visits = [r for r in rows["under-one-visited"] if r["member"] == fay]
    assert [(r["due"], r["state"], r["reason"]) for r in fay_visits] == [
        ("2026-01-16", "not_applicable", "child turned 1")]
    assert of_child(rows, "under-one-visited", ava) == []
    # The OPS worker's face to face contact every 10 wd (L683): met on the 14th, then due
    # Wednesday 28 January, overdue.
    assert [(r["due"], r["state"]) for r in rows["face-to-face-contact"]] == [
        ("2026-01-16", "met"), ("2026-01-28", "overdue")]

    rows = deadlines(client, fid, at("2026-02-20", 12))
    assert of_child(rows, "child-seen", ava)[-1] == ("2026-02-11", "overdue")
    assert [(r["due"], r["state"]) for r in rows["child-seen-alone"] if r["member"] == eve] == [
        ("2026-02-17", "overdue")]
