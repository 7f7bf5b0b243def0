"""Northamptonshire's 0-19 Targeted Early Help Operating Model (seed 002), through the HTTP API.

Every expected date is worked out by hand from the seed text (``SEED`` below, cited as
Lnnn) and the counting convention of docs/policy-packs.md: "Week N" counts from
allocation to the team (L186, L201, L211, L234), weeks add calendar days to the
allocation date, "5 working days" skips weekends and England-and-Wales bank holidays.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import (
    MANAGER,
    PRACTITIONER,
    SUPERVISOR,
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

POLICY = "northamptonshire-0-19"
SEED = "002_6924756e8b581caa.txt"


# --- helpers -------------------------------------------------------------------------


def at(day: str, hour: int = 10) -> str:
    """An instant on a London calendar day (10:00 UTC is 10:00 or 11:00 in London)."""
    return f"{day}T{hour:02d}:00:00+00:00"


def new_family(client, *members: tuple[str, str, str | None]) -> tuple[str, dict[str, str]]:
    """Register a family under this pack: members are (given name, kind, date of birth)."""
    r = post_family(client, headers=PRACTITIONER, json={
        "policy": POLICY, "team": "north",
        "members": [{"given_name": name, "family_name": "Stone", "kind": kind, "date_of_birth": dob}
                    for name, kind, dob in members],
    })
    assert r.status_code == 201, r.text
    body = r.json()
    return body["family_id"], {m["given_name"]: m["member_id"] for m in body["members"]}


def refer_and_allocate(client, fid: str, referred: str, allocated: str, pathway: str) -> None:
    ok(client, fid, {"type": "ReferralReceived", "occurred_at": at(referred), "route": "front_door",
                     "reason": "MASH referral not taken by Social Care"})
    ok(client, fid, {"type": "AllocatedToTeam", "occurred_at": at(allocated), "team": "north",
                     "pathway": pathway}, MANAGER)


def doc(client, fid: str, document: str, day: str, about: list[str] | None = None,
        headers: dict[str, str] | None = None, hour: int = 10) -> dict[str, Any]:
    return ok(client, fid, {"type": "DocumentRecorded", "occurred_at": at(day, hour), "document": document,
                            "about": about or []}, headers or SUPERVISOR)


def visit(day: str, present: list[str], children: list[str]) -> dict[str, Any]:
    return {"type": "ContactMade", "occurred_at": at(day), "method": "visit", "party": "family",
            "members_present": present, "children_seen": children, "children_seen_alone": [],
            "location": "home"}


def one(rows: dict[str, list[dict[str, Any]]], rule: str) -> dict[str, Any]:
    assert len(rows[rule]) == 1, rows[rule]
    return rows[rule][0]


def by_child(rows: dict[str, list[dict[str, Any]]], rule: str) -> dict[str, dict[str, Any]]:
    return {r["member_name"].split()[0]: r for r in rows[rule] if r["member"] is not None}


def state_due(row: dict[str, Any]) -> tuple[str, str | None]:
    return row["state"], row["due"]


def pre_visit_checks(client, fid: str, day: str) -> None:
    """Worker safety, the full risk assessment and the SoS template baseline (L186-L188)."""
    doc(client, fid, "worker-safety", day)
    doc(client, fid, "risk-assessment", day)
    doc(client, fid, "sos-risk-template", day, hour=11)


# --- a. the main pathway -------------------------------------------------------------


def test_a_neglect_family_walked_through_the_six_stages(client):
    fid, m = new_family(client, ("Ava", "child", "2016-05-04"), ("Eli", "child", "2024-06-01"),
                        ("Cara", "adult", "1990-02-03"))
    ava, eli, cara = m["Ava"], m["Eli"], m["Cara"]
    # Referred through Access to Support; allocated to the team on Thursday 18 December 2025
    # on the Neglect pathway (L151): every "Week N" counts from this day (L186, L201, L211, L234).
    refer_and_allocate(client, fid, "2025-12-15", "2025-12-18", "neglect")
    doc(client, fid, "chronology", "2025-12-19")
    pre_visit_checks(client, fid, "2025-12-22")

    d = deadlines(client, fid, at("2025-12-27", 12))
    # Risk assessment "within one week of allocation" (L186): 18 Dec + 7 days = Thursday 25 December
    # (calendar weeks are not moved off a bank holiday); recorded Monday 22 December: met.
    assert state_due(one(d, "risk-assessment")) == ("met", "2025-12-25")
    # Chronology reviewed or started on allocation, held to the same week (L250, L186).
    assert state_due(one(d, "chronology-on-allocation")) == ("met", "2025-12-25")
    # Telephone contact "within 5 working days of allocation" (L201): Fri 19, Mon 22, Tue 23,
    # Wed 24, then Christmas Day, Boxing Day and the weekend are skipped: Monday 29 December.
    # On Saturday 27 December it is still open.
    assert state_due(one(d, "telephone-contact")) == ("open", "2025-12-29")
    # First home visit "within two weeks of allocation" (L211): 18 Dec + 14 = 1 January 2026.
    assert state_due(one(d, "first-home-visit")) == ("open", "2026-01-01")
    assert state_due(one(d, "signed-consent")) == ("open", "2026-01-01")

    # The Senior Practitioner's call goes unanswered on Monday 29 December: met on the due day (L201).
    ok(client, fid, {"type": "ContactAttempted", "occurred_at": at("2025-12-29"), "method": "phone",
                     "party": "family", "outcome": "no_answer"}, SUPERVISOR)
    # First home visit and signed consent on Wednesday 31 December (L210-L211).
    ok(client, fid, visit("2025-12-31", [ava, eli, cara], [ava, eli]))
    ok(client, fid, {"type": "ConsentGiven", "occurred_at": at("2025-12-31", 11), "given_by": cara,
                     "scope": ["support"], "form": "written"})
    eha = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "occurred_at": at("2026-01-05"), "assessment_id": eha})
    # Supervision on Monday 12 January: the chronology is updated the same day (L250) but the
    # Signs of Safety template review is only recorded the next day (L189).
    ok(client, fid, {"type": "SupervisionRecorded", "occurred_at": at("2026-01-12"), "worker_id": "pat"},
       SUPERVISOR)
    doc(client, fid, "chronology", "2026-01-12", hour=15)
    doc(client, fid, "sos-risk-template", "2026-01-13")
    # Genogram completed on Thursday 15 January: "no later than Week 4" (L211) = 18 Dec + 28 days.
    doc(client, fid, "genogram", "2026-01-15", headers=PRACTITIONER)
    doc(client, fid, "voice-of-the-child", "2026-01-20", about=[ava], headers=PRACTITIONER)
    doc(client, fid, "graded-care-profile", "2026-01-23", headers=PRACTITIONER)
    # First TAF on Tuesday 27 January: the plan is agreed there with the family (L282).
    plan = str(uuid.uuid4())
    ok(client, fid, {"type": "MeetingHeld", "occurred_at": at("2026-01-27"), "meeting_kind": "team_around_the_family",
                     "attendees": ["school", "health visitor"], "members_present": [cara]})
    ok(client, fid, {"type": "PlanAgreed", "occurred_at": at("2026-01-27", 11), "plan_id": plan,
                     "outcomes": ["Home conditions safe", "Ava attends school"]})
    ok(client, fid, {"type": "PlanAuthorised", "occurred_at": at("2026-01-29"), "plan_id": plan}, MANAGER)
    ok(client, fid, {"type": "AssessmentSubmitted", "occurred_at": at("2026-02-02"), "assessment_id": eha})
    ok(client, fid, {"type": "AssessmentAuthorised", "occurred_at": at("2026-02-04"), "assessment_id": eha},
       MANAGER)

    d = deadlines(client, fid, at("2026-02-05", 12))
    assert state_due(one(d, "telephone-contact")) == ("met", "2025-12-29")
    assert state_due(one(d, "first-home-visit")) == ("met", "2026-01-01")
    assert state_due(one(d, "signed-consent")) == ("met", "2026-01-01")
    # Every supervision starts a same-day clock for the chronology (L250) and the SoS template (L189).
    assert state_due(one(d, "chronology-at-supervision")) == ("met", "2026-01-12")
    assert state_due(one(d, "sos-template-review")) == ("met_late", "2026-01-12")
    assert state_due(one(d, "genogram")) == ("met", "2026-01-15")
    # End of Week 6 = 18 Dec + 42 days = Thursday 29 January 2026 for: the plan agreed at the
    # first TAF (L59, L282), the TM's sign-off (L59, L289), the Graded Care Profile on the
    # Neglect pathway (L61, L264, L270), the culturegram (L212) and every child's voice (L65).
    assert state_due(one(d, "intervention-plan")) == ("met", "2026-01-29")
    assert state_due(one(d, "plan-sign-off")) == ("met", "2026-01-29")
    assert state_due(one(d, "graded-care-profile")) == ("met", "2026-01-29")
    assert state_due(one(d, "culturegram")) == ("overdue", "2026-01-29")
    voice = by_child(d, "voice-of-every-child")
    assert sorted(voice) == ["Ava", "Eli"]
    assert state_due(voice["Ava"]) == ("met", "2026-01-29")
    assert state_due(voice["Eli"]) == ("overdue", "2026-01-29")
    # EHA "within 4 - 6 weeks of allocation" (L234), read as by the end of Week 6: submitted
    # Monday 2 February, so met late.
    assert state_due(one(d, "early-help-assessment")) == ("met_late", "2026-01-29")
    # Additional assessments "within 6 weeks of allocation" (L270): overdue; "and no later than
    # 2 weeks after the EHA is agreed" (L270): agreed Wednesday 4 February, due 18 February, open.
    assert state_due(one(d, "additional-assessments")) == ("overdue", "2026-01-29")
    assert state_due(one(d, "additional-assessments-after-eha")) == ("open", "2026-02-18")
    # TAF every 4-6 weeks (L80, L299): next due 27 Jan + 6 weeks = 10 March.
    assert state_due(one(d, "taf-review-cycle")) == ("open", "2026-03-10")
    # Intervention of 6 to 26 weeks (L157): 18 Dec 2025 + 182 days = 18 June 2026.
    assert state_due(one(d, "intervention-duration")) == ("open", "2026-06-18")
    # DASH belongs to the Domestic Abuse pathway (L265): not applicable to this family.
    dash = one(d, "dash-risk-assessment")
    assert dash["state"] == "not_applicable" and dash["due"] is None
    assert "domestic-abuse" in dash["reason"]
    # No child is 11 or over (L214): the CSE clock never starts; no medium-high CSE risk (L226).
    assert one(d, "cse-risk-assessment")["state"] == "not_applicable"
    assert one(d, "cse-management-oversight")["state"] == "not_applicable"
    assert one(d, "risk-assessment")["source"] == {"seed": SEED, "lines": [55, 186]}

    doc(client, fid, "additional-assessments", "2026-02-10", headers=PRACTITIONER)
    # Progress reviews on Tuesday 3 March and Tuesday 14 April (over Easter: calendar weeks).
    for day in ("2026-03-03", "2026-04-14"):
        ok(client, fid, {"type": "MeetingHeld", "occurred_at": at(day), "meeting_kind": "review",
                         "attendees": ["school"], "members_present": [cara]})
    # Closure to a new Lead Professional (L301, L309): draft summary to the TM, the TM's
    # authorisation, then the final TAF agrees it and identifies the new Lead Professional.
    ok(client, fid, {"type": "ClosureProposed", "occurred_at": at("2026-05-11"), "reason": "transferred",
                     "summary": "Actions complete; school nurse to take over as Lead Professional"})
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-05-13")}, MANAGER)
    ok(client, fid, {"type": "MeetingHeld", "occurred_at": at("2026-05-19"), "meeting_kind": "closure",
                     "attendees": ["school nurse"], "members_present": [cara]})
    ok(client, fid, {"type": "AgreementRecorded", "occurred_at": at("2026-05-19", 11), "subject": "closure",
                     "with_team_around_the_family": True})
    ok(client, fid, {"type": "AgreementRecorded", "occurred_at": at("2026-05-19", 12),
                     "subject": "lead_professional", "with_team_around_the_family": True,
                     "detail": "school nurse"})
    ok(client, fid, {"type": "EpisodeClosed", "occurred_at": at("2026-05-21"), "reason": "transferred"})

    d = deadlines(client, fid, at("2026-06-01", 12))
    assert state_due(one(d, "additional-assessments")) == ("met_late", "2026-01-29")
    assert state_due(one(d, "additional-assessments-after-eha")) == ("met", "2026-02-18")
    # 10 March (met 3 March); 3 March + 42 = 14 April (met on the day); 14 April + 42 =
    # 26 May (met by the closure TAF on 19 May); the clock restarted then (due 30 June)
    # ended with the episode before it fell due.
    assert [state_due(r) for r in d["taf-review-cycle"]] == [
        ("met", "2026-03-10"), ("met", "2026-04-14"), ("met", "2026-05-26"), ("not_applicable", "2026-06-30"),
    ]
    # Closed on 21 May, within the 26 weeks (L157).
    assert state_due(one(d, "intervention-duration")) == ("met", "2026-06-18")
    # Closing does not excuse work that was already late: the culturegram stays overdue.
    assert state_due(one(d, "culturegram")) == ("overdue", "2026-01-29")


def test_a_domestic_abuse_family_allocated_before_easter(client):
    fid, m = new_family(client, ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1990-02-03"))
    # Allocated on Thursday 2 April 2026, the day before Good Friday, on the Domestic Abuse pathway (L152).
    refer_and_allocate(client, fid, "2026-03-30", "2026-04-02", "domestic-abuse")
    # Telephone contact within 5 working days (L201): Good Friday 3 April, the weekend and Easter
    # Monday 6 April are skipped: Tue 7, Wed 8, Thu 9, Fri 10, Mon 13 April.
    ok(client, fid, {"type": "ContactAttempted", "occurred_at": at("2026-04-10"), "method": "phone",
                     "party": "family", "outcome": "message_left"}, SUPERVISOR)
    d = deadlines(client, fid, at("2026-04-20", 12))
    assert state_due(one(d, "telephone-contact")) == ("met", "2026-04-13")
    # No home visit by 2 April + 14 = 16 April (L211): overdue.
    assert state_due(one(d, "first-home-visit")) == ("overdue", "2026-04-16")
    # Risk assessment within one week (L186): 9 April, not recorded: overdue.
    assert state_due(one(d, "risk-assessment")) == ("overdue", "2026-04-09")
    # DASH with the Stage Four assessments within 6 weeks of allocation (L265, L270): 14 May, open.
    assert state_due(one(d, "dash-risk-assessment")) == ("open", "2026-05-14")
    # The Graded Care Profile belongs to the Neglect pathway (L61, L264).
    gcp = one(d, "graded-care-profile")
    assert gcp["state"] == "not_applicable" and "neglect" in gcp["reason"]
    # DASH completed on Thursday 14 May (after the 4 May bank holiday): met on the due day.
    doc(client, fid, "dash-risk-assessment", "2026-05-14", headers=PRACTITIONER)
    d = deadlines(client, fid, at("2026-05-15", 12))
    assert state_due(one(d, "dash-risk-assessment")) == ("met", "2026-05-14")


# --- b. ordering rules --------------------------------------------------------------------


def test_b_a_first_home_visit_before_worker_safety_risk_assessment_and_template_is_flagged(client):
    fid, m = new_family(client, ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1990-02-03"))
    refer_and_allocate(client, fid, "2026-01-05", "2026-01-06", "parenting")

    def home_visit(day: str, hour: int = 10) -> dict[str, Any]:
        return {**visit(day, [m["Ava"], m["Cara"]], [m["Ava"]]), "occurred_at": at(day, hour)}

    # A phone call is not a home visit: nothing has to precede it.
    not_flagged(client, fid, {"type": "ContactMade", "occurred_at": at("2026-01-07"), "method": "phone",
                              "party": "family", "members_present": [m["Cara"]], "children_seen": [],
                              "children_seen_alone": []}, SUPERVISOR)
    # Worker safety information "prior to the first home visit" (L187), the full risk
    # assessment (L186, L188) and the SoS risk template (L188): a home visit on Wednesday
    # 7 January with none of them is recorded, and all three are flagged.
    first = flagged(client, fid, home_visit("2026-01-07", 11), rule="worker-safety-before-first-visit",
                    contains="L187")
    assert breaches(client, fid, first["event_id"]) == [
        "risk-assessment-before-first-visit", "sos-template-before-first-visit", "worker-safety-before-first-visit"]
    doc(client, fid, "worker-safety", "2026-01-08")
    # "On completion of the full risk assessment and prior to the first home visit" (L188).
    flagged(client, fid, home_visit("2026-01-08", 11), rule="risk-assessment-before-first-visit", contains="L188")
    doc(client, fid, "risk-assessment", "2026-01-08", hour=12)
    # The SoS risk template reviewed with the practitioner before the visit (L188).
    flagged(client, fid, home_visit("2026-01-08", 13), rule="sos-template-before-first-visit", contains="L188")
    # An unannounced visit that finds the family is a home visit too.
    flagged(client, fid, {**home_visit("2026-01-08", 14), "method": "unannounced_visit"},
            rule="sos-template-before-first-visit")
    doc(client, fid, "sos-risk-template", "2026-01-09")
    not_flagged(client, fid, home_visit("2026-01-12"))
    d = deadlines(client, fid, at("2026-01-13", 12))
    # Allocated Tuesday 6 January: visit within two weeks (L211) = 20 January; met by the
    # (flagged) visit of 7 January.
    row = one(d, "first-home-visit")
    assert state_due(row) == ("met", "2026-01-20") and row["stopped_by"] == first["event_id"]


def test_b_closure_is_authorised_before_the_taf_and_family_agree_it(client):
    def proposed() -> tuple[str, dict[str, str]]:
        fid, m = new_family(client, ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1990-02-03"))
        refer_and_allocate(client, fid, "2026-01-05", "2026-01-06", "parenting")
        ok(client, fid, {"type": "ClosureProposed", "occurred_at": at("2026-05-05"), "reason": "transferred",
                         "summary": "draft EHA closure summary"})
        return fid, m

    fid, m = proposed()
    agreement = {"type": "AgreementRecorded", "occurred_at": at("2026-05-12"), "subject": "closure",
                 "with_team_around_the_family": True}
    final_taf = {"type": "MeetingHeld", "occurred_at": at("2026-05-12"), "meeting_kind": "closure",
                 "attendees": ["school"], "members_present": [m["Cara"]]}
    authorised = {"type": "ClosureAuthorised", "occurred_at": at("2026-05-07")}
    # The TM authorises closure "BEFORE it is agreed with the TAF and family" (L309): a
    # sign-off that must come first, so the family's agreement is refused without it ...
    refused(client, fid, agreement, contains="closure-authorised-before-agreement")
    # ... and signs off the closure summary "prior to the final TAF" (L80): the TAF took
    # place, so it is recorded and the missing sign-off flagged.
    taf = flagged(client, fid, final_taf, rule="closure-authorised-before-final-taf", contains="L80")
    # Only the Team Manager may authorise closure (L309).
    refused(client, fid, authorised, SUPERVISOR, status=403)
    # The TM signed off on Thursday 7 May, before the TAF of 12 May, and it is typed in
    # afterwards: in the order things happened, the TAF followed the sign-off.
    ok(client, fid, authorised, MANAGER)
    assert breaches(client, fid, taf["event_id"]) == []
    ok(client, fid, agreement)
    # "close to the service with the identification of a new Lead Professional" (L301).
    closed = {"type": "EpisodeClosed", "occurred_at": at("2026-05-14"), "reason": "transferred"}
    flagged(client, fid, closed, rule="new-lead-professional-before-closure", contains="L301")
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["status"] == "closed"

    # The same closure in the order the seed gives: nothing is flagged.
    fid, m = proposed()
    ok(client, fid, authorised, MANAGER)
    not_flagged(client, fid, {**final_taf, "members_present": [m["Cara"]]})
    not_flagged(client, fid, agreement)
    ok(client, fid, {"type": "AgreementRecorded", "occurred_at": at("2026-05-12", 11),
                     "subject": "lead_professional", "with_team_around_the_family": True})
    not_flagged(client, fid, closed)
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["status"] == "closed"


def test_b_a_family_moving_away_closes_without_a_new_lead_professional(client):
    fid, _ = new_family(client, ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1990-02-03"))
    refer_and_allocate(client, fid, "2026-01-05", "2026-01-06", "parenting")
    ok(client, fid, {"type": "ClosureProposed", "occurred_at": at("2026-02-02"), "reason": "moved_away"})
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-02-03")}, MANAGER)
    # L301: the family moving away is the exception to closing with a new Lead Professional.
    ok(client, fid, {"type": "EpisodeClosed", "occurred_at": at("2026-02-04"), "reason": "moved_away"})
    d = deadlines(client, fid, at("2026-02-10", 12))
    # Closed 4 Feb before the intervention's 26 weeks: met (L157); the EHA (due 17 February,
    # L234) ended with the episode before it fell due: not applicable.
    assert state_due(one(d, "intervention-duration")) == ("met", "2026-07-07")
    assert state_due(one(d, "early-help-assessment")) == ("not_applicable", "2026-02-17")


def test_b_a_referral_to_social_care_before_the_team_managers_oversight_is_flagged(client):
    fid, _ = new_family(client, ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1990-02-03"))
    refer_and_allocate(client, fid, "2026-01-05", "2026-01-06", "parenting")
    referral = {"type": "SteppedUp", "occurred_at": at("2026-02-10"), "to_service": "MASH",
                "reason": "risks increased"}
    # "before seeking management oversight of the decision to make a referral" (L189): the
    # referral was made, so it is recorded and the missing oversight flagged.
    made = flagged(client, fid, referral, SUPERVISOR, rule="oversight-before-csc-referral", contains="L189")
    # The Senior Practitioner's own note is not management oversight of the decision.
    ok(client, fid, {"type": "ManagementOversightRecorded", "occurred_at": at("2026-02-09"),
                     "text": "SoS narrative reviewed; referral proposed"}, SUPERVISOR)
    assert breaches(client, fid, made["event_id"]) == ["oversight-before-csc-referral"]
    # The Team Manager's oversight of Monday 9 February, typed in after the referral of the
    # 10th: in the order things happened, it came first.
    ok(client, fid, {"type": "ManagementOversightRecorded", "occurred_at": at("2026-02-09", 14),
                     "text": "Referral to MASH agreed", "decision": "refer"}, MANAGER)
    assert breaches(client, fid, made["event_id"]) == []


# --- b + c. the intervention's extension --------------------------------------------------


def test_c_the_team_manager_extends_the_intervention_after_supervision_and_before_the_family(client):
    fid, _ = new_family(client, ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1990-02-03"))
    # Allocated Monday 5 January 2026: 26 weeks (L157) = 182 days = Monday 6 July 2026.
    refer_and_allocate(client, fid, "2026-01-02", "2026-01-05", "parenting")
    extension = {"type": "DeadlineExtended", "occurred_at": at("2026-06-03"), "rule": "intervention-duration",
                 "extend_by": 8, "reason": "32 week delivery band (L287)"}
    # Only the Team Manager may extend (L157, L307): 403 for the practitioner and the Senior Practitioner.
    refused(client, fid, extension, PRACTITIONER, status=403)
    refused(client, fid, extension, SUPERVISOR, status=403)
    family_agrees = {"type": "AgreementRecorded", "occurred_at": at("2026-06-09"), "subject": "extension",
                     "rule": "intervention-duration", "with_team_around_the_family": True}
    # The TM "MUST agree to any extension BEFORE it is agreed with the TAF and family" (L307):
    # a sign-off that must come first, so the family's agreement is refused without it.
    refused(client, fid, family_agrees, contains="extension-before-family-agreement")
    d = deadlines(client, fid, at("2026-06-05", 12))
    assert state_due(one(d, "intervention-duration")) == ("open", "2026-07-06")
    assert one(d, "intervention-duration")["extended_by"] == 0

    # "discussed in supervision and then the team manager has agreed any extension" (L157):
    # the TM's extension with no supervision on the record is recorded and flagged.
    recorded = flagged(client, fid, extension, MANAGER, rule="supervision-before-extension", contains="L157")
    # The supervision of Tuesday 2 June, typed in after the extension of the 3rd: in the
    # order things happened, the extension followed it.
    ok(client, fid, {"type": "SupervisionRecorded", "occurred_at": at("2026-06-02"), "worker_id": "pat",
                     "text": "Need for a longer intervention discussed"}, SUPERVISOR)
    assert breaches(client, fid, recorded["event_id"]) == []
    # The family's agreement must name the rule the TM extended (correlate on rule).
    refused(client, fid, {**family_agrees, "rule": None}, contains="same rule")
    refused(client, fid, {**family_agrees, "rule": "telephone-contact"}, contains="same rule")
    ok(client, fid, family_agrees)

    # Extended by 8 weeks: 6 July + 56 days = Monday 31 August 2026 (the summer bank holiday;
    # calendar weeks are not moved). Open and extended on 15 July.
    d = deadlines(client, fid, at("2026-07-15", 12))
    row = one(d, "intervention-duration")
    assert state_due(row) == ("extended", "2026-08-31")
    assert row["extended_by"] == 8 and row["extensions"] == [recorded["event_id"]]
    # The cap is 52 weeks in all (L287: 8 weeks of assessment and planning + 44 of delivery):
    # 26 + 8 + 19 = 53 is refused and changes nothing.
    refused(client, fid, {**extension, "extend_by": 19}, MANAGER, contains="at most 52")
    refused(client, fid, {**extension, "extend_by": 4}, SUPERVISOR, status=403)
    d = deadlines(client, fid, at("2026-09-01", 12))
    assert state_due(one(d, "intervention-duration")) == ("overdue", "2026-08-31")


# --- d. the Section 47 pause ---------------------------------------------------------------


def test_d_section_47_pauses_every_clock_until_work_resumes(client):
    fid, _ = new_family(client, ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1990-02-03"))
    # Allocated Monday 30 March 2026.
    refer_and_allocate(client, fid, "2026-03-27", "2026-03-30", "mental-health")
    d = deadlines(client, fid, at("2026-03-31", 12))
    # Telephone within 5 working days (L201): Tue 31 Mar, Wed 1, Thu 2, (Good Friday, weekend,
    # Easter Monday), Tue 7, Wed 8 April. Risk assessment within one week (L186): 6 April.
    assert state_due(one(d, "telephone-contact")) == ("open", "2026-04-08")
    assert state_due(one(d, "risk-assessment")) == ("open", "2026-04-06")
    assert state_due(one(d, "first-home-visit")) == ("open", "2026-04-13")
    # A Section 47 investigation starts on Wednesday 1 April: "our actions have ceased" (L311).
    ok(client, fid, {"type": "WorkPaused", "occurred_at": at("2026-04-01"), "reason": "section_47"}, SUPERVISOR)
    d = deadlines(client, fid, at("2026-04-08", 12))
    for rule in ("telephone-contact", "risk-assessment", "first-home-visit", "intervention-duration"):
        assert one(d, rule)["state"] == "paused", rule
    # Work resumes on Thursday 9 April after the Section 47 outcome (L311).
    ok(client, fid, {"type": "WorkResumed", "occurred_at": at("2026-04-09"), "reason": "continue EH support"},
       SUPERVISOR)
    d = deadlines(client, fid, at("2026-04-10", 12))
    # Working days lost: Thu 2, Tue 7, Wed 8, Thu 9 April = 4: 8 April + 4 working days = Tue 14 April.
    assert state_due(one(d, "telephone-contact")) == ("open", "2026-04-14")
    # Calendar-week clocks lose the 8 days from 1 to 9 April: 6 April -> 14 April; 13 -> 21 April.
    assert state_due(one(d, "risk-assessment")) == ("open", "2026-04-14")
    assert state_due(one(d, "first-home-visit")) == ("open", "2026-04-21")


def test_d_a_pause_for_another_reason_does_not_stop_the_clocks(client):
    fid, _ = new_family(client, ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1990-02-03"))
    refer_and_allocate(client, fid, "2026-03-27", "2026-03-30", "mental-health")
    # Only a Section 47 investigation stops the work (L311).
    ok(client, fid, {"type": "WorkPaused", "occurred_at": at("2026-04-01"), "reason": "family_request"},
       SUPERVISOR)
    d = deadlines(client, fid, at("2026-04-09", 12))
    assert state_due(one(d, "telephone-contact")) == ("overdue", "2026-04-08")
    assert state_due(one(d, "risk-assessment")) == ("overdue", "2026-04-06")


# --- f. per-child rules with ages -----------------------------------------------------------


def test_f_cse_risk_assessment_for_each_child_aged_11_or_over_and_monthly_oversight(client):
    fid, m = new_family(client, ("Cal", "child", "2013-02-10"), ("Dot", "child", "2015-01-20"),
                        ("Ava", "child", "2016-05-04"), ("Cara", "adult", "1985-09-09"))
    cal, ava = m["Cal"], m["Ava"]
    # Allocated Monday 5 January 2026: Cal is 12, Dot 10 (11 on 20 January), Ava 9.
    refer_and_allocate(client, fid, "2026-01-02", "2026-01-05", "challenging-behaviour")
    d = deadlines(client, fid, at("2026-01-19", 12))
    # CSE risk assessment "for any child aged 11 or over" (L214, L216), in Weeks 3-6 (L67-L70):
    # only Cal, due 5 Jan + 42 = 16 February.
    cse = by_child(d, "cse-risk-assessment")
    assert sorted(cse) == ["Cal"]
    assert state_due(cse["Cal"]) == ("open", "2026-02-16")
    # Every child's voice by end of Week 6 (L65), whatever the age.
    assert sorted(by_child(d, "voice-of-every-child")) == ["Ava", "Cal", "Dot"]
    # Dot turns 11 on Tuesday 20 January and joins the rule that day: 20 Jan + 42 = 3 March.
    d = deadlines(client, fid, at("2026-01-21", 12))
    cse = by_child(d, "cse-risk-assessment")
    assert sorted(cse) == ["Cal", "Dot"]
    assert state_due(cse["Dot"]) == ("open", "2026-03-03")
    assert cse["Dot"]["reason"] == "child turned 11"

    # Cal's assessment on Thursday 12 February finds medium to high risk (9.3, L224); the case is
    # retained, so a 'Management Oversight' note is due at least monthly (L226): 12 March.
    doc(client, fid, "cse-risk-assessment-medium-high", "2026-02-12", about=[cal], headers=PRACTITIONER)
    doc(client, fid, "voice-of-the-child", "2026-02-12", about=[ava], headers=PRACTITIONER, hour=11)
    d = deadlines(client, fid, at("2026-03-04", 12))
    cse = by_child(d, "cse-risk-assessment")
    assert state_due(cse["Cal"]) == ("met", "2026-02-16")
    assert state_due(cse["Dot"]) == ("overdue", "2026-03-03")
    voice = by_child(d, "voice-of-every-child")
    assert state_due(voice["Ava"]) == ("met", "2026-02-16")
    assert state_due(voice["Cal"]) == ("overdue", "2026-02-16")
    assert state_due(one(d, "cse-management-oversight")) == ("open", "2026-03-12")
    # The supervising senior's note comes on Monday 16 March: late; the next is due 16 April.
    ok(client, fid, {"type": "ManagementOversightRecorded", "occurred_at": at("2026-03-16"),
                     "text": "Management Oversight: case reviewed, no further action"}, SUPERVISOR)
    # Re-assessed on Monday 13 April as low to medium (9.2, L222): the monthly notes end.
    doc(client, fid, "cse-risk-assessment-low-medium", "2026-04-13", about=[cal], headers=PRACTITIONER)
    d = deadlines(client, fid, at("2026-04-20", 12))
    assert [state_due(r) for r in d["cse-management-oversight"]] == [
        ("met_late", "2026-03-12"), ("not_applicable", "2026-04-16"),
    ]


def test_f_a_child_turning_11_joins_even_when_no_child_was_11_at_allocation(client):
    fid, _ = new_family(client, ("Dot", "child", "2015-01-20"), ("Cara", "adult", "1985-09-09"))
    refer_and_allocate(client, fid, "2026-01-02", "2026-01-05", "challenging-behaviour")
    # Dot is 10 at allocation (L214: "aged 11 or over"): no clock yet.
    d = deadlines(client, fid, at("2026-01-19", 12))
    assert by_child(d, "cse-risk-assessment") == {}
    # She turns 11 on Tuesday 20 January and joins that day: 20 Jan + 6 weeks = 3 March.
    d = deadlines(client, fid, at("2026-01-21", 12))
    cse = by_child(d, "cse-risk-assessment")
    assert state_due(cse["Dot"]) == ("open", "2026-03-03")
