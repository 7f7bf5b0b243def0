"""The Southampton 0-19 pack (seed 004) through the HTTP API.

Every expected date below was counted by hand from the seed text (ADR 0007: the day of
the starting event is day 0; weekends and England-and-Wales bank holidays are skipped
for working days; weeks and months add to the date). Bank holidays crossed: 25 and 26
December 2025, 1 January 2026, Good Friday 3 April, Easter Monday 6 April, 4 May,
25 May and 31 August 2026. "Lnnn" is a line of seeds/004_d8b75450bec0661a.txt.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import (
    MANAGER,
    PRACTITIONER,
    SUPERVISOR,
    auth,
    breaches,
    command,
    deadlines,
    flagged,
    not_flagged,
    refused,
    register,
)
from tests.registration import post_family

# Storage-neutral (docs/testing.md): a pack's rules over HTTP, on one database (SQLite).
pytestmark = pytest.mark.one_database

POLICY = "southampton-0-19"
INTENSIVE = "intensive-family-support"
LONDON = ZoneInfo("Europe/London")


# -- helpers ----------------------------------------------------------------------------


def at(day: str, clock: str = "10:00") -> str:
    """A London wall-clock moment as an ISO instant with its offset (GMT or BST)."""
    return datetime.fromisoformat(f"{day}T{clock}:00").replace(tzinfo=LONDON).isoformat()


def rec(client, fid: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = command(client, fid, body, headers)
    assert r.status_code == 201, r.text
    return r.json()


def one(rows: dict[str, list[dict[str, Any]]], rule: str) -> dict[str, Any]:
    assert len(rows[rule]) == 1, rows[rule]
    return rows[rule][0]


def states(rows: dict[str, list[dict[str, Any]]], rule: str) -> list[tuple[str | None, str]]:
    return [(r["due"], r["state"]) for r in rows[rule]]


def by_member(rows: dict[str, list[dict[str, Any]]], rule: str) -> dict[str, dict[str, Any]]:
    return {r["member_name"]: r for r in rows[rule]}


def family_of(client, members: list[dict[str, Any]]) -> dict[str, Any]:
    r = post_family(client, headers=PRACTITIONER, json={"policy": POLICY, "team": "north", "members": members})
    assert r.status_code == 201, r.text
    body = r.json()
    body["ids"] = {m["given_name"]: m["member_id"] for m in body["members"]}
    return body


def stone_family(client) -> tuple[str, dict[str, str]]:
    fam = register(client, policy=POLICY)
    return fam["family_id"], {m["given_name"]: m["member_id"] for m in fam["members"]}


def visit(client, fid, ids, day, seen=("Ava", "Ben"), alone=("Ava",), method="visit", clock="10:00"):
    return rec(client, fid, {
        "type": "ContactMade", "method": method, "party": "family", "occurred_at": at(day, clock),
        "members_present": list(ids.values()), "children_seen": [ids[n] for n in seen],
        "children_seen_alone": [ids[n] for n in alone],
    })


def front_door(client, fid, referral, triage, team, worker, pathway=INTENSIVE):
    rec(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "multiple and complex needs",
                      "occurred_at": at(referral)})
    rec(client, fid, {"type": "TriageDecided", "outcome": "early_help", "pathway": pathway,
                      "occurred_at": at(triage)}, SUPERVISOR)
    rec(client, fid, {"type": "AllocatedToTeam", "team": "north", "occurred_at": at(team)}, SUPERVISOR)
    rec(client, fid, {"type": "AllocatedToWorker", "worker_id": "pat", "worker_role": "SFSW",
                      "occurred_at": at(worker)}, SUPERVISOR)


def walk_to_assessment_authorised(client) -> tuple[str, dict[str, str], str]:
    """The Stone family, Easter 2026, from referral to the EHA's authorisation."""
    fid, ids = stone_family(client)
    # Referral Tue 24 March; Hub decision Wed 25; locality allocation Thu 26; SFSW Wed 1 April.
    front_door(client, fid, "2026-03-24", "2026-03-25", "2026-03-26", "2026-04-01")
    rec(client, fid, {"type": "ContactAttempted", "method": "phone", "party": "family", "outcome": "no_answer",
                      "occurred_at": at("2026-04-02")})
    visit(client, fid, ids, "2026-04-09")  # first home visit: Ava seen alone; Ben (5 weeks old) seen
    rec(client, fid, {"type": "ConsentGiven", "given_by": ids["Cara"], "scope": ["support", "information_sharing"],
                      "occurred_at": at("2026-04-09", "10:30")})
    aid = str(uuid.uuid4())
    rec(client, fid, {"type": "AssessmentStarted", "assessment_id": aid, "occurred_at": at("2026-04-09", "11:00")})
    rec(client, fid, {"type": "ManagementOversightRecorded", "about": [ids["Ben"]],
                      "text": "Ben is six weeks old and cannot be spoken to alone; seen with his mother.",
                      "decision": "child not seen alone: agreed", "occurred_at": at("2026-04-13", "09:00")}, SUPERVISOR)
    rec(client, fid, {"type": "MeetingHeld", "meeting_kind": "team_around_the_family",
                      "attendees": ["school", "health visitor"], "members_present": [ids["Cara"]],
                      "occurred_at": at("2026-04-13", "14:00")})
    visit(client, fid, ids, "2026-04-15")
    visit(client, fid, ids, "2026-04-23")
    rec(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid, "occurred_at": at("2026-04-24")})
    plan_id = str(uuid.uuid4())
    rec(client, fid, {"type": "PlanAgreed", "plan_id": plan_id, "outcomes": ["Ava in school every day"],
                      "occurred_at": at("2026-04-28")})
    rec(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid, "occurred_at": at("2026-05-12")},
        SUPERVISOR)
    return fid, ids, plan_id


def close_with_summary(client, fid, day, reason="outcomes_met", letter=True):
    sid = str(uuid.uuid4())
    rec(client, fid, {"type": "AssessmentStarted", "assessment_id": sid, "assessment_kind": "closing-summary",
                      "occurred_at": at(day, "09:00")})
    rec(client, fid, {"type": "AssessmentSubmitted", "assessment_id": sid, "occurred_at": at(day, "09:30")})
    rec(client, fid, {"type": "AssessmentAuthorised", "assessment_id": sid, "occurred_at": at(day, "10:00")},
        SUPERVISOR)
    rec(client, fid, {"type": "ClosureAuthorised", "occurred_at": at(day, "10:30")}, SUPERVISOR)
    if letter:
        rec(client, fid, {"type": "DocumentRecorded", "document": "closure-letter", "sent_to": ["family", "referrer"],
                          "occurred_at": at(day, "11:00")})
    rec(client, fid, {"type": "EpisodeClosed", "reason": reason, "occurred_at": at(day, "12:00")})


# -- a. the intensive pathway, walked through Easter 2026 --------------------------------


def test_stone_family_from_referral_to_assessment_over_easter(client):
    fid, ids = stone_family(client)
    front_door(client, fid, "2026-03-24", "2026-03-25", "2026-03-26", "2026-04-01")
    rec(client, fid, {"type": "ContactAttempted", "method": "phone", "party": "family", "outcome": "no_answer",
                      "occurred_at": at("2026-04-02")})

    rows = deadlines(client, fid, at("2026-04-08", "12:00"))
    # Referred Tuesday 24 March; the allocation target is 5 (working) days from referral
    # (L220, L97): due Tuesday 31 March. The SFSW was allocated Wednesday 1 April: late.
    assert (one(rows, "allocation")["due"], one(rows, "allocation")["state"]) == ("2026-03-31", "met_late")
    # Allocated to the SFSW on Wednesday 1 April: initial contact and visit within five
    # working days (L220, L99), skipping Good Friday 3 and Easter Monday 6 April: Friday 10 April.
    assert (one(rows, "initial-contact-visit")["due"], one(rows, "initial-contact-visit")["state"]) == (
        "2026-04-10", "open")
    # Each child to be seen and spoken to alone at that visit (L221), one clock per child.
    seen_alone = by_member(rows, "child-seen-alone")
    assert {n: (r["due"], r["state"]) for n, r in seen_alone.items()} == {
        "Ava Stone": ("2026-04-10", "open"), "Ben Stone": ("2026-04-10", "open")}
    # Allocated to the locality on Thursday 26 March: initial TAF within 10 working days
    # (L105, L401; "the allocation" = locality, L97): Monday 13 April after Easter.
    assert (one(rows, "initial-taf")["due"], one(rows, "initial-taf")["state"]) == ("2026-04-13", "open")
    # EHA and plan within 20 working days of locality allocation (L94, L97, L215, L217): Monday 27 April.
    assert one(rows, "eha-completed")["due"] == "2026-04-27"
    assert one(rows, "ehp-completed")["due"] == "2026-04-27"
    # Authorised within 30 working days (L95, L215), over the 4 May bank holiday: Tuesday 12 May.
    assert (one(rows, "eha-authorised")["due"], one(rows, "eha-authorised")["state"]) == ("2026-05-12", "open")
    assert one(rows, "ehp-authorised")["due"] == "2026-05-12"
    # First unsuccessful attempt Thursday 2 April: 15 working days of attempts (L427) end Monday 27 April.
    assert (one(rows, "non-engagement-attempts")["due"], one(rows, "non-engagement-attempts")["state"]) == (
        "2026-04-27", "open")
    # No face-to-face visit yet, so the weekly cadence (L268) has not started.
    assert one(rows, "weekly-visits")["state"] == "not_applicable"
    assert one(rows, "taf-review")["state"] == "not_applicable"

    # The rest of April and May (as walk_to_assessment_authorised records it).
    visit(client, fid, ids, "2026-04-09")
    rec(client, fid, {"type": "ConsentGiven", "given_by": ids["Cara"], "scope": ["support", "information_sharing"],
                      "occurred_at": at("2026-04-09", "10:30")})
    aid = str(uuid.uuid4())
    rec(client, fid, {"type": "AssessmentStarted", "assessment_id": aid, "occurred_at": at("2026-04-09", "11:00")})
    rec(client, fid, {"type": "ManagementOversightRecorded", "about": [ids["Ben"]], "text": "Ben is a baby.",
                      "occurred_at": at("2026-04-13", "09:00")}, SUPERVISOR)
    rec(client, fid, {"type": "MeetingHeld", "meeting_kind": "team_around_the_family", "attendees": ["school"],
                      "members_present": [ids["Cara"]], "occurred_at": at("2026-04-13", "14:00")})
    visit(client, fid, ids, "2026-04-15")
    visit(client, fid, ids, "2026-04-23")
    rec(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid, "occurred_at": at("2026-04-24")})
    rec(client, fid, {"type": "PlanAgreed", "plan_id": str(uuid.uuid4()), "outcomes": ["routines"],
                      "occurred_at": at("2026-04-28")})
    rec(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid, "occurred_at": at("2026-05-12")},
        SUPERVISOR)

    rows = deadlines(client, fid, at("2026-05-13", "12:00"))
    # Home visit Thursday 9 April, due Friday 10 April: met (L220).
    assert (one(rows, "initial-contact-visit")["due"], one(rows, "initial-contact-visit")["state"]) == (
        "2026-04-10", "met")
    # Ava seen alone on 9 April: met. Ben: the supervising manager recorded on Monday 13 April
    # why he could not be spoken to alone (L221-L223), after the Friday 10 April due date: met late.
    seen_alone = by_member(rows, "child-seen-alone")
    assert {n: (r["due"], r["state"]) for n, r in seen_alone.items()} == {
        "Ava Stone": ("2026-04-10", "met"), "Ben Stone": ("2026-04-10", "met_late")}
    # Initial TAF on its due day, Monday 13 April (L105): met.
    assert one(rows, "initial-taf")["state"] == "met"
    # EHA submitted Friday 24 April (due 27 April): met; plan agreed Tuesday 28 April: met late (L215).
    assert (one(rows, "eha-completed")["due"], one(rows, "eha-completed")["state"]) == ("2026-04-27", "met")
    assert (one(rows, "ehp-completed")["due"], one(rows, "ehp-completed")["state"]) == ("2026-04-27", "met_late")
    # EHA authorised by the Team Co-ordinator on its due day, Tuesday 12 May (L215, L236): met.
    assert (one(rows, "eha-authorised")["due"], one(rows, "eha-authorised")["state"]) == ("2026-05-12", "met")
    # The plan is not yet authorised on Wednesday 13 May: overdue.
    assert (one(rows, "ehp-authorised")["due"], one(rows, "ehp-authorised")["state"]) == ("2026-05-12", "overdue")
    # Weekly visits (L268): 9 April -> due 16 April, visited 15 April (met); -> due 22 April,
    # visited 23 April (met late); -> due 30 April, no visit since: overdue.
    assert states(rows, "weekly-visits") == [
        ("2026-04-16", "met"), ("2026-04-22", "met_late"), ("2026-04-30", "overdue")]
    # The family engaged on 9 April, inside the 15 working days (L427): met.
    assert one(rows, "non-engagement-attempts")["state"] == "met"
    # Case supervised at least every 8 weeks (L353): from 1 April, due Wednesday 27 May: open.
    assert (one(rows, "case-supervision")["due"], one(rows, "case-supervision")["state"]) == ("2026-05-27", "open")
    # Case summary and chronology every 3 months from allocation (L277, L281): 1 July.
    assert (one(rows, "case-summary")["due"], one(rows, "case-summary")["state"]) == ("2026-07-01", "open")
    assert one(rows, "chronology-update")["due"] == "2026-07-01"
    # Supervision summary every 6 months (L280): 1 October.
    assert one(rows, "supervision-summary")["due"] == "2026-10-01"
    # TAF closure meeting no later than 6 months (L135, L247) from locality allocation: 26 September.
    assert (one(rows, "taf-closure-meeting")["due"], one(rows, "taf-closure-meeting")["state"]) == (
        "2026-09-26", "open")
    # Review TAF clocks start only when the plan is signed off (L244).
    assert one(rows, "taf-review")["state"] == "not_applicable"
    assert one(rows, "keep-going-plan-review")["state"] == "not_applicable"
    assert one(rows, "non-engagement-letter-reply")["state"] == "not_applicable"


def test_stone_family_reviews_closure_and_keeping_it_going(client):
    fid, ids, plan_id = walk_to_assessment_authorised(client)
    rec(client, fid, {"type": "PlanAuthorised", "plan_id": plan_id, "occurred_at": at("2026-05-14")}, SUPERVISOR)
    rec(client, fid, {"type": "PlanShared", "plan_id": plan_id, "shared_with": ["family"],
                      "occurred_at": at("2026-05-14", "11:00")})
    rec(client, fid, {"type": "SupervisionRecorded", "worker_id": "pat", "occurred_at": at("2026-05-26")}, SUPERVISOR)
    rec(client, fid, {"type": "DocumentRecorded", "document": "case-summary", "occurred_at": at("2026-06-30")})
    rec(client, fid, {"type": "DocumentRecorded", "document": "chronology-update", "occurred_at": at("2026-07-02")})
    rec(client, fid, {"type": "SupervisionRecorded", "worker_id": "pat", "occurred_at": at("2026-07-22")}, SUPERVISOR)

    rows = deadlines(client, fid, at("2026-08-05", "12:00"))
    # Plan signed off Thursday 14 May, two days after its 12 May due date (L215): met late.
    assert one(rows, "ehp-authorised")["state"] == "met_late"
    # First review TAF at a minimum of 60 working days from sign-off (L244), skipping
    # 25 May: Friday 7 August. Still open on 5 August.
    assert states(rows, "taf-review") == [("2026-08-07", "open")]
    # Supervision (L353): due 27 May, held 26 May after the 25 May bank holiday (met);
    # next due 21 July, held 22 July (met late); next due 16 September (open).
    assert states(rows, "case-supervision") == [
        ("2026-05-27", "met"), ("2026-07-21", "met_late"), ("2026-09-16", "open")]
    # Case summary due 1 July, done 30 June (met); next 30 September (L277).
    assert states(rows, "case-summary") == [("2026-07-01", "met"), ("2026-09-30", "open")]
    # Chronology due 1 July, updated 2 July (met late); next 2 October (L281).
    assert states(rows, "chronology-update") == [("2026-07-01", "met_late"), ("2026-10-02", "open")]

    rec(client, fid, {"type": "MeetingHeld", "meeting_kind": "review", "attendees": ["school"],
                      "members_present": [ids["Cara"]], "occurred_at": at("2026-08-06")})
    rows = deadlines(client, fid, at("2026-08-07", "12:00"))
    # Review held Thursday 6 August: met; the next within 60 working days, over the
    # 31 August bank holiday: Friday 30 October (L244).
    assert states(rows, "taf-review") == [("2026-08-07", "met"), ("2026-10-30", "open")]
    # The first review TAF ends the weekly-visit cadence (see the pack's reading of L268);
    # the clock due 30 April was already late, so it ends overdue.
    last_weekly = rows["weekly-visits"][-1]
    assert (last_weekly["due"], last_weekly["state"], last_weekly["reason"]) == (
        "2026-04-30", "overdue", "ended by MeetingHeld")

    # Closure TAF Friday 28 August and closure identified the same day.
    rec(client, fid, {"type": "MeetingHeld", "meeting_kind": "closure", "attendees": ["school"],
                      "members_present": [ids["Cara"]], "occurred_at": at("2026-08-28")})
    rec(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met", "occurred_at": at("2026-08-28", "15:00")})
    rows = deadlines(client, fid, at("2026-09-01", "12:00"))
    # Closure TAF held 28 August, before 26 September (L247): met.
    assert (one(rows, "taf-closure-meeting")["due"], one(rows, "taf-closure-meeting")["state"]) == ("2026-09-26", "met")
    # The closure meeting ends the review cycle before the 30 October review falls due (L247).
    assert states(rows, "taf-review") == [("2026-08-07", "met"), ("2026-10-30", "not_applicable")]
    # Closure actions within two weeks of being identified (L283): Friday 11 September.
    assert (one(rows, "closure-actions")["due"], one(rows, "closure-actions")["state"]) == ("2026-09-11", "open")
    # Keep-going plan review 8 weeks after the closure TAF (L249): Friday 23 October.
    assert (one(rows, "keep-going-plan-review")["due"], one(rows, "keep-going-plan-review")["state"]) == (
        "2026-10-23", "open")
    # Follow-up evaluation 8 months after the closure TAF (L254): 28 April 2027.
    assert one(rows, "follow-up-evaluation")["due"] == "2027-04-28"

    # Closing summary and closure approved by the Team Co-ordinator (L250, L251, L282),
    # closed Thursday 10 September.
    close_with_summary(client, fid, "2026-09-10")
    rows = deadlines(client, fid, at("2026-10-01", "12:00"))
    assert (one(rows, "closure-actions")["due"], one(rows, "closure-actions")["state"]) == ("2026-09-11", "met")
    # Closing the case ends the open clocks that were not yet due.
    assert states(rows, "case-supervision")[-1] == ("2026-09-16", "not_applicable")
    assert states(rows, "case-summary")[-1] == ("2026-09-30", "not_applicable")
    assert one(rows, "supervision-summary")["state"] == "not_applicable"
    # ... but not the keep-going review and the follow-up, which are about after closure.
    assert (one(rows, "keep-going-plan-review")["due"], one(rows, "keep-going-plan-review")["state"]) == (
        "2026-10-23", "open")

    # The keep-going plan is reviewed Monday 26 October, after the family's case closed.
    rec(client, fid, {"type": "DocumentRecorded", "document": "keep-going-plan-review",
                      "occurred_at": at("2026-10-26")})
    response = client.get(f"/families/{fid}/deadlines", params={"as_of": at("2026-11-20", "12:00")},
                          headers=PRACTITIONER)
    assert response.json()["episode_open"] is False
    rows = deadlines(client, fid, at("2026-11-20", "12:00"))
    assert (one(rows, "keep-going-plan-review")["due"], one(rows, "keep-going-plan-review")["state"]) == (
        "2026-10-23", "met_late")
    assert (one(rows, "follow-up-evaluation")["due"], one(rows, "follow-up-evaluation")["state"]) == (
        "2027-04-28", "open")


def test_non_engagement_over_christmas_to_closure(client):
    """Appendix 3: a family that never engages, referred just before Christmas 2025."""
    fam = family_of(client, [
        {"given_name": "Zoe", "family_name": "Hart", "date_of_birth": "2015-09-01", "kind": "child"},
        {"given_name": "Yan", "family_name": "Hart", "date_of_birth": "1988-01-01", "kind": "adult"},
    ])
    fid = fam["family_id"]
    front_door(client, fid, "2025-12-15", "2025-12-15", "2025-12-16", "2025-12-17")
    for day, method, party, outcome in [
        ("2025-12-18", "phone", "family", "no_answer"),
        ("2025-12-19", "text", "family", "no_answer"),
        ("2025-12-22", "phone", "referrer", "message_left"),
        ("2025-12-23", "letter", "family", "letter_sent"),  # the hand-delivered letter (L220)
    ]:
        rec(client, fid, {"type": "ContactAttempted", "method": method, "party": party, "outcome": outcome,
                          "occurred_at": at(day)})

    rows = deadlines(client, fid, at("2026-01-14", "12:00"))
    # Referred Monday 15 December, SFSW allocated Wednesday 17: within 5 days (L220, due Monday 22 December): met.
    assert (one(rows, "allocation")["due"], one(rows, "allocation")["state"]) == ("2025-12-22", "met")
    # Initial contact within five working days of 17 December: Wednesday 24 December; the
    # hand-delivered letter of 23 December is the seed's last resort (L220): met.
    assert (one(rows, "initial-contact-visit")["due"], one(rows, "initial-contact-visit")["state"]) == (
        "2025-12-24", "met")
    # Zoe was never seen alone (L221): overdue since 24 December.
    assert (one(rows, "child-seen-alone")["due"], one(rows, "child-seen-alone")["state"]) == ("2025-12-24", "overdue")
    # Initial TAF within 10 working days of the locality allocation on Tuesday 16 December,
    # skipping 25, 26 December and 1 January: Friday 2 January (L105). None held: overdue.
    assert (one(rows, "initial-taf")["due"], one(rows, "initial-taf")["state"]) == ("2026-01-02", "overdue")
    # 15 working days of unsuccessful attempts from Thursday 18 December (L427): Tuesday 13
    # January. No contact: overdue, the management decision on closure is due.
    assert (one(rows, "non-engagement-attempts")["due"], one(rows, "non-engagement-attempts")["state"]) == (
        "2026-01-13", "overdue")
    # EHA within 20 working days of 16 December (L215): Friday 16 January, still open.
    assert (one(rows, "eha-completed")["due"], one(rows, "eha-completed")["state"]) == ("2026-01-16", "open")
    # ... and authorised within 30: Friday 30 January.
    assert one(rows, "eha-authorised")["due"] == "2026-01-30"

    # Management decision recorded (L427), then the template letter (L429).
    rec(client, fid, {"type": "ManagementOversightRecorded",
                      "text": "15 working days, three methods: close unless contact.",
                      "decision": "non-engagement closure letter", "occurred_at": at("2026-01-15")}, SUPERVISOR)
    rec(client, fid, {"type": "DocumentRecorded", "document": "non-engagement-letter",
                      "sent_to": ["family", "referrer"], "occurred_at": at("2026-01-16")})
    # The family has 10 working days from the letter of Friday 16 January (L417, L430, L461): Friday 30 January.
    rows = deadlines(client, fid, at("2026-01-30", "17:00"))
    assert (one(rows, "non-engagement-letter-reply")["due"], one(rows, "non-engagement-letter-reply")["state"]) == (
        "2026-01-30", "open")
    rows = deadlines(client, fid, at("2026-02-02", "09:00"))
    assert one(rows, "non-engagement-letter-reply")["state"] == "overdue"

    # Closure identified Monday 2 February, closed Tuesday 3 February (L430, L283).
    rec(client, fid, {"type": "ClosureProposed", "reason": "disengaged", "occurred_at": at("2026-02-02")})
    close_with_summary(client, fid, "2026-02-03", reason="disengaged")
    rows = deadlines(client, fid, at("2026-02-10", "12:00"))
    # Within two weeks of 2 February, due Monday 16 February (L283): met.
    assert (one(rows, "closure-actions")["due"], one(rows, "closure-actions")["state"]) == ("2026-02-16", "met")
    # Clocks already late when the case closed stay overdue; those not yet due become not applicable.
    assert one(rows, "eha-completed")["state"] == "overdue"
    assert (one(rows, "eha-authorised")["due"], one(rows, "eha-authorised")["state"]) == ("2026-01-30", "overdue")
    assert (one(rows, "case-summary")["due"], one(rows, "case-summary")["state"]) == ("2026-03-17", "not_applicable")
    # No closure TAF, so no keep-going review and no follow-up evaluation (L140, L144).
    assert one(rows, "keep-going-plan-review")["state"] == "not_applicable"
    assert one(rows, "follow-up-evaluation")["state"] == "not_applicable"


def test_short_term_support_family_is_outside_the_sfsw_standards(client):
    fid, _ = stone_family(client)
    # Referred Friday 22 May 2026 and routed to short-term universal support (L388).
    front_door(client, fid, "2026-05-22", "2026-05-22", "2026-05-26", "2026-06-02", pathway="short-term-support")
    rows = deadlines(client, fid, at("2026-06-03", "12:00"))
    # The allocation target applies to every referral: 5 working days from Friday 22 May,
    # skipping the 25 May bank holiday: Monday 1 June (L220). Allocated Tuesday 2 June: met late.
    assert (one(rows, "allocation")["due"], one(rows, "allocation")["state"]) == ("2026-06-01", "met_late")
    # The SFSW standards (L17) do not apply to the short-term pathway.
    for rule in ("eha-completed", "initial-contact-visit", "initial-taf", "case-supervision", "child-seen-alone"):
        row = one(rows, rule)
        assert row["state"] == "not_applicable", rule
        assert row["reason"] == "applies to the intensive-family-support pathway only"


# -- b. ordering rules ------------------------------------------------------------------------


def _intensive_family(client) -> tuple[str, dict[str, str]]:
    fid, ids = stone_family(client)
    front_door(client, fid, "2026-06-01", "2026-06-01", "2026-06-02", "2026-06-03")
    return fid, ids


def test_assessment_taf_and_professional_contact_before_consent_are_flagged(client):
    fid, ids = _intensive_family(client)

    def professional(day: str, clock: str = "11:00") -> dict[str, Any]:
        return {"type": "ContactMade", "method": "phone", "party": "professional", "members_present": [],
                "children_seen": [], "children_seen_alone": [], "occurred_at": at(day, clock)}

    def taf(day: str) -> dict[str, Any]:
        return {"type": "MeetingHeld", "meeting_kind": "team_around_the_family", "attendees": ["school"],
                "members_present": [ids["Cara"]], "occurred_at": at(day, "14:00")}

    def assessment(day: str) -> dict[str, Any]:
        return {"type": "AssessmentStarted", "assessment_id": str(uuid.uuid4()), "occurred_at": at(day, "12:00")}

    # L126, L212, L213: nothing until the family consents. What happened without consent
    # is recorded, and the breach flagged.
    flagged(client, fid, professional("2026-06-04"), rule="consent-before-professional-contact", contains="L212")
    flagged(client, fid, taf("2026-06-05"), rule="consent-before-taf", contains="L213")
    flagged(client, fid, assessment("2026-06-04"), rule="consent-before-assessment", contains="L126")
    rec(client, fid, {"type": "ConsentGiven", "given_by": ids["Cara"], "scope": ["support"],
                      "occurred_at": at("2026-06-08")})
    not_flagged(client, fid, assessment("2026-06-08"))
    # Consent to support is not consent to share with professionals (L212-L213).
    flagged(client, fid, professional("2026-06-08"), rule="consent-before-professional-contact",
            contains="information_sharing")
    flagged(client, fid, taf("2026-06-08"), rule="consent-before-taf", contains="information_sharing")
    rec(client, fid, {"type": "ConsentGiven", "given_by": ids["Cara"], "scope": ["information_sharing"],
                      "occurred_at": at("2026-06-09", "10:30")})
    not_flagged(client, fid, professional("2026-06-09"))
    not_flagged(client, fid, taf("2026-06-09"))


def test_a_plan_shared_before_it_is_approved_is_flagged(client):
    fid, _ = _intensive_family(client)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    rec(client, fid, {"type": "PlanAgreed", "plan_id": first, "outcomes": ["x"], "occurred_at": at("2026-06-10")})
    shared = {"type": "PlanShared", "plan_id": first, "shared_with": ["family"], "occurred_at": at("2026-06-12")}
    # L236-L237: the approved plan is shared with the family.
    flagged(client, fid, shared, rule="plan-approved-before-shared", contains="L236")
    rec(client, fid, {"type": "PlanAgreed", "plan_id": second, "outcomes": ["y"],
                      "occurred_at": at("2026-06-10", "11:00")})
    rec(client, fid, {"type": "PlanAuthorised", "plan_id": second, "occurred_at": at("2026-06-11")}, SUPERVISOR)
    # Another plan's approval is not this plan's.
    flagged(client, fid, {**shared, "occurred_at": at("2026-06-15")}, rule="plan-approved-before-shared",
            contains="for the same plan_id")
    rec(client, fid, {"type": "PlanAuthorised", "plan_id": first, "occurred_at": at("2026-06-16")}, SUPERVISOR)
    not_flagged(client, fid, {**shared, "occurred_at": at("2026-06-17")})


def test_unannounced_visits_before_a_risk_assessment_are_flagged(client):
    fid, ids = _intensive_family(client)
    attempt = {"type": "ContactAttempted", "method": "unannounced_visit", "party": "family", "outcome": "no_one_home",
               "occurred_at": at("2026-06-08")}
    made = {"type": "ContactMade", "method": "unannounced_visit", "party": "family", "members_present": [ids["Cara"]],
            "children_seen": [], "children_seen_alone": [], "occurred_at": at("2026-06-09")}
    # L425-L426: unannounced home visits to unknown families are risk assessed.
    flagged(client, fid, attempt, rule="risk-assessment-before-unannounced-attempt", contains="L425")
    flagged(client, fid, made, rule="risk-assessment-before-unannounced-visit", contains="L425")
    rec(client, fid, {"type": "DocumentRecorded", "document": "home-visit-risk-assessment",
                      "occurred_at": at("2026-06-10")})
    not_flagged(client, fid, {**attempt, "occurred_at": at("2026-06-11")})
    not_flagged(client, fid, {**made, "occurred_at": at("2026-06-12")})


def test_non_engagement_letter_and_closure_steps_in_order(client):
    fid, _ = _intensive_family(client)
    letter = {"type": "DocumentRecorded", "document": "non-engagement-letter", "occurred_at": at("2026-06-25")}
    # L427-L429: the management decision is taken and recorded, then the letter is sent. The
    # letter went with no decision on the record: it is recorded and flagged.
    sent = flagged(client, fid, letter, rule="decision-before-non-engagement-letter", contains="L427")
    # The decision of Wednesday 24 June, recorded after the letter of the 25th: in the order
    # things happened, the decision came first.
    rec(client, fid, {"type": "ManagementOversightRecorded", "text": "close unless contact",
                      "occurred_at": at("2026-06-24")}, SUPERVISOR)
    assert breaches(client, fid, sent["event_id"]) == []

    closure_letter = {"type": "DocumentRecorded", "document": "closure-letter",
                      "occurred_at": at("2026-07-10", "11:00")}
    close = {"type": "EpisodeClosed", "reason": "disengaged", "occurred_at": at("2026-07-10", "12:00")}
    # L250: closure approved by the Team Co-ordinator, then the family informed in writing.
    # A closure letter sent on the morning closure was proposed, before the approval, is
    # flagged, and stays flagged once the approval is recorded.
    early = flagged(client, fid, {**closure_letter, "occurred_at": at("2026-07-09", "09:00")},
                    rule="closure-approved-before-closure-letter", contains="L250")
    rec(client, fid, {"type": "ClosureProposed", "reason": "disengaged", "occurred_at": at("2026-07-09")})
    rec(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-07-09", "11:00")}, SUPERVISOR)
    assert breaches(client, fid, early["event_id"]) == ["closure-approved-before-closure-letter"]
    not_flagged(client, fid, closure_letter)
    # L251, L282: the closing summary is authorised by the manager before the case closes.
    refused(client, fid, close, contains="closing-summary-before-closure")
    sid = str(uuid.uuid4())
    rec(client, fid, {"type": "AssessmentStarted", "assessment_id": sid, "assessment_kind": "closing-summary",
                      "occurred_at": at("2026-07-09", "12:00")})
    rec(client, fid, {"type": "AssessmentSubmitted", "assessment_id": sid, "occurred_at": at("2026-07-09", "13:00")})
    refused(client, fid, close, contains="closing-summary-before-closure")
    rec(client, fid, {"type": "AssessmentAuthorised", "assessment_id": sid, "occurred_at": at("2026-07-10", "09:00")},
        SUPERVISOR)
    rec(client, fid, close)
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["status"] == "closed"


def test_transfer_summary_before_transfer(client):
    fid, _ = _intensive_family(client)
    transfer = {"type": "TransferredOut", "to_team": "west", "reason": "moved", "occurred_at": at("2026-06-20")}
    # The move itself is the supervising Manager's (the pack's reading of L251, L282, L329),
    # not the SFSW's: 403.
    refused(client, fid, transfer, PRACTITIONER, status=403, contains="transfer a family to another team")
    # L251: a transfer/closing summary authorised by the supervising Manager.
    refused(client, fid, transfer, SUPERVISOR, contains="transfer-summary-before-transfer")
    sid = str(uuid.uuid4())
    rec(client, fid, {"type": "AssessmentStarted", "assessment_id": sid, "assessment_kind": "closing-summary",
                      "occurred_at": at("2026-06-18")})
    rec(client, fid, {"type": "AssessmentSubmitted", "assessment_id": sid, "occurred_at": at("2026-06-18", "11:00")})
    rec(client, fid, {"type": "AssessmentAuthorised", "assessment_id": sid, "occurred_at": at("2026-06-19")}, MANAGER)
    rec(client, fid, transfer, SUPERVISOR)
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["pending_transfer"]["to_team"] == "west"


# -- c. extensions ------------------------------------------------------------------------------


def test_closure_actions_extended_only_with_management_agreement(client):
    fid, _ = _intensive_family(client)
    rec(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met", "occurred_at": at("2026-08-28")})
    rows = deadlines(client, fid, at("2026-09-01", "12:00"))
    # Identified for closure Friday 28 August: usually two weeks (L283): Friday 11 September.
    assert (one(rows, "closure-actions")["due"], one(rows, "closure-actions")["state"]) == ("2026-09-11", "open")

    extend = {"type": "DeadlineExtended", "rule": "closure-actions", "extend_by": 2,
              "reason": "closing summary awaited", "occurred_at": at("2026-09-04")}
    # "extension only with management agreement" (L283): not the SFSW.
    refused(client, fid, extend, PRACTITIONER, status=403, contains="lets a supervisor or manager extend a deadline")
    rows = deadlines(client, fid, at("2026-09-14", "12:00"))
    assert (one(rows, "closure-actions")["due"], one(rows, "closure-actions")["state"]) == ("2026-09-11", "overdue")

    rec(client, fid, extend, SUPERVISOR)  # the Team Co-ordinator agrees two more weeks
    rows = deadlines(client, fid, at("2026-09-14", "12:00"))
    row = one(rows, "closure-actions")
    assert (row["due"], row["state"], row["extended_by"]) == ("2026-09-25", "extended", 2)

    # The pack caps the agreed time at 8 weeks in all (reading of L249, L283): 2 + 2 + 5 = 9 is refused.
    refused(client, fid, {**extend, "extend_by": 5, "occurred_at": at("2026-09-18")}, MANAGER, status=409,
            contains="at most 8")
    rec(client, fid, {**extend, "extend_by": 4, "occurred_at": at("2026-09-18")}, MANAGER)
    rows = deadlines(client, fid, at("2026-10-01", "12:00"))
    # 2 + 2 + 4 = 8 weeks from Friday 28 August: Friday 23 October.
    assert (one(rows, "closure-actions")["due"], one(rows, "closure-actions")["state"]) == ("2026-10-23", "extended")
    close_with_summary(client, fid, "2026-10-20")
    rows = deadlines(client, fid, at("2026-10-21", "12:00"))
    assert (one(rows, "closure-actions")["due"], one(rows, "closure-actions")["state"]) == ("2026-10-23", "met")


def test_only_closure_actions_can_be_extended(client):
    fid, _ = _intensive_family(client)
    # The seed allows no extension of the EHA timescales (L95, L215).
    refused(client, fid, {"type": "DeadlineExtended", "rule": "eha-completed", "extend_by": 5, "reason": "x",
                          "occurred_at": at("2026-06-10")}, MANAGER, status=409, contains="cannot be extended")


# -- d. pause ------------------------------------------------------------------------------------


def test_a_section_47_enquiry_does_not_pause_the_clocks(client):
    """L252-L253: early help keeps co-working during S47, so the pack has no pause."""
    fid, _ = _intensive_family(client)
    rec(client, fid, {"type": "WorkPaused", "reason": "section_47", "occurred_at": at("2026-06-08")})
    rows = deadlines(client, fid, at("2026-06-10", "12:00"))
    # Allocated to the SFSW Wednesday 3 June: initial contact due Wednesday 10 June, still open.
    assert (one(rows, "initial-contact-visit")["due"], one(rows, "initial-contact-visit")["state"]) == (
        "2026-06-10", "open")
    rows = deadlines(client, fid, at("2026-06-11", "12:00"))
    assert one(rows, "initial-contact-visit")["state"] == "overdue"


# -- e. recording within 48 hours ----------------------------------------------------------------


def test_events_recorded_more_than_48_hours_after_they_happened_are_late(client, clock):
    fid, ids = stone_family(client)
    front_door(client, fid, "2026-04-09", "2026-04-09", "2026-04-10", "2026-04-13")
    now = clock()
    recent = rec(client, fid, {"type": "CaseNoteRecorded", "text": "phoned mum",
                               "occurred_at": (now - timedelta(hours=47)).isoformat()})
    stale = rec(client, fid, {"type": "CaseNoteRecorded", "text": "school meeting",
                              "occurred_at": (now - timedelta(hours=49)).isoformat()})
    response = client.get(f"/families/{fid}/deadlines", params={"as_of": now.isoformat()}, headers=PRACTITIONER)
    late = {row["event_id"]: row for row in response.json()["late_entries"]}
    events = client.get(f"/families/{fid}/events", headers=PRACTITIONER).json()["events"]
    referral = next(e for e in events if e["type"] == "ReferralReceived")
    # Referral on Thursday 9 April 2026 at 10:00 BST, recorded months later: due within 48 hours (L123, L266).
    row = late[referral["event_id"]]
    assert row["rule"] == "record-within-48-hours"
    assert datetime.fromisoformat(row["due"]) == datetime(2026, 4, 11, 10, 0, tzinfo=LONDON)
    assert row["source"]["lines"] == [123, 266]
    # 49 hours after: late; 47 hours after: in time.
    assert stale["event_id"] in late
    assert recent["event_id"] not in late
    registered = next(e for e in events if e["type"] == "FamilyRegistered")
    assert registered["event_id"] not in late


# -- f. per-child rules with ages --------------------------------------------------------------------


def test_seen_alone_applies_to_each_child_of_the_0_19_service(client):
    fam = family_of(client, [
        {"given_name": "Dan", "family_name": "Reed", "date_of_birth": "2006-01-15",
         "kind": "child"},  # 20 on 15 Jan 2026
        {"given_name": "Eve", "family_name": "Reed", "date_of_birth": "2006-02-01", "kind": "child"},  # 19 throughout
        {"given_name": "Fay", "family_name": "Reed", "date_of_birth": "2005-06-01", "kind": "child"},  # already 20
        {"given_name": "Hal", "family_name": "Reed", "date_of_birth": "2024-01-01", "kind": "child"},  # two
        {"given_name": "Gus", "family_name": "Reed", "date_of_birth": "1980-03-03", "kind": "adult"},
    ])
    fid, ids = fam["family_id"], fam["ids"]
    front_door(client, fid, "2026-01-05", "2026-01-05", "2026-01-06", "2026-01-12")
    rows = deadlines(client, fid, at("2026-01-13", "12:00"))
    # Allocated Monday 12 January: each child of the 0-19 service (L5, L387) is to be seen
    # alone within the initial visit's five working days (L220-L221): Monday 19 January.
    # Fay, already 20, is outside the service.
    assert {n: (r["due"], r["state"]) for n, r in by_member(rows, "child-seen-alone").items()} == {
        "Dan Reed": ("2026-01-19", "open"), "Eve Reed": ("2026-01-19", "open"), "Hal Reed": ("2026-01-19", "open")}

    rec(client, fid, {"type": "ContactMade", "method": "visit", "party": "family", "occurred_at": at("2026-01-16"),
                      "members_present": [ids["Eve"], ids["Hal"], ids["Gus"]],
                      "children_seen": [ids["Eve"], ids["Hal"]], "children_seen_alone": [ids["Eve"]]})
    rec(client, fid, {"type": "ManagementOversightRecorded", "about": [ids["Hal"]], "occurred_at": at("2026-01-20"),
                      "text": "Hal is two: seen with his father, not spoken to alone; agreed."}, MANAGER)
    rows = deadlines(client, fid, at("2026-01-21", "12:00"))
    seen = by_member(rows, "child-seen-alone")
    # Dan turned 20 on Thursday 15 January, before his clock fell due: he left the rule.
    assert (seen["Dan Reed"]["due"], seen["Dan Reed"]["state"], seen["Dan Reed"]["reason"]) == (
        "2026-01-19", "not_applicable", "child turned 20")
    # Eve seen alone Friday 16 January: met. Hal's management agreement came Tuesday 20 January (L221-L223): met late.
    assert (seen["Eve Reed"]["state"], seen["Hal Reed"]["state"]) == ("met", "met_late")
    assert "Fay Reed" not in seen


def test_unknown_pack_terms_are_refused(client):
    fid, _ = _intensive_family(client)
    refused(client, fid, {"type": "DocumentRecorded", "document": "outcome-star", "occurred_at": at("2026-06-05")},
            status=422, contains="keep-going-plan-review")
    refused(client, fid, {"type": "AssessmentStarted", "assessment_id": str(uuid.uuid4()),
                          "assessment_kind": "cin-plan", "occurred_at": at("2026-06-05")},
            status=422, contains="closing-summary")


def test_the_pack_authorises_closure_by_team_co_ordinator_not_the_sfsw(client):
    fid, _ = _intensive_family(client)
    rec(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met", "occurred_at": at("2026-06-20")})
    # L214, L250: the Team Co-ordinator approves closure; the SFSW cannot.
    refused(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-06-21")},
            auth("practitioner", "pia"), status=403)
    rec(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-06-21")}, SUPERVISOR)


@pytest.mark.parametrize("rule", ["allocation", "eha-authorised", "taf-review", "follow-up-evaluation"])
def test_rules_cite_their_seed_lines(client, rule):
    pack = client.get(f"/policies/{POLICY}", headers=PRACTITIONER).json()
    found = next(r for r in pack["rules"] if r["id"] == rule)
    assert found["source"]["seed"] == "004_d8b75450bec0661a.txt"
    assert found["reading"]
