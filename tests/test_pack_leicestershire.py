"""Leicestershire County Council's Early Help Practice Guidance (pack leicestershire-early-help),
walked through the HTTP API. Every due date below was counted by hand from the seed
(003_ccbd38c2f9350e87.txt, cited as "seed 003 Lnnn") under the ledger's convention: the
day of the starting event is day 0; working days skip weekends and England-and-Wales
bank holidays; weeks and months are calendar.
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
    register,
)

# Storage-neutral (docs/testing.md): a pack's rules over HTTP, on one database (SQLite).
pytestmark = pytest.mark.one_database

POLICY = "leicestershire-early-help"


def at(day: str, hour: int = 10) -> str:
    """An instant on a day (UTC; 10:00 and 12:00 UTC are the same London day all year)."""
    return f"{day}T{hour:02d}:00:00+00:00"


def one(rows: dict[str, list[dict[str, Any]]], rule: str) -> dict[str, Any]:
    assert len(rows[rule]) == 1, rows[rule]
    return rows[rule][0]


def family(client) -> tuple[str, str, str, str]:
    fam = register(client, policy=POLICY)
    ava, ben, cara = (m["member_id"] for m in fam["members"])
    return fam["family_id"], ava, ben, cara


def referral(client, fid, day):
    ok(client, fid, {"type": "ReferralReceived", "occurred_at": at(day, 9), "route": "professional",
                     "reason": "School worried about behaviour and attendance",
                     "referrer_name": "Ms Head", "referrer_agency": "Hill Primary School"})


def triage(client, fid, day, response, pathway=None, outcome="early_help", priority=None, hour=10):
    body = {"type": "TriageDecided", "occurred_at": at(day, hour), "outcome": outcome, "response": response,
            "rationale": "Risk and Prioritisation template completed"}
    if pathway:
        body["pathway"] = pathway
    if priority:
        body["priority"] = priority
    ok(client, fid, body, MANAGER)


def contact(client, fid, day, cara, ava, party="family", method="visit", hour=10):
    present = [cara] if party == "family" else []
    seen = [ava] if party == "family" and method == "visit" else []
    ok(client, fid, {"type": "ContactMade", "occurred_at": at(day, hour), "method": method, "party": party,
                     "members_present": present, "children_seen": seen, "children_seen_alone": []})


def document(client, fid, day, doc, sent_to=(), headers=None, hour=10):
    ok(client, fid, {"type": "DocumentRecorded", "occurred_at": at(day, hour), "document": doc,
                     "sent_to": list(sent_to)}, headers)


# --------------------------------------------------------------------------------------
# a. Walk-throughs
# --------------------------------------------------------------------------------------


def test_a_targeted_family_walked_through_christmas_and_easter(client):
    fid, ava, _ben, cara = family(client)
    referral(client, fid, "2025-12-19")
    # Team Leader prioritises on Monday 22 December 2025: outcome 6, "FSW for targeted assessed
    # intervention ... Within 10 working days" (seed 003 L65, L86).
    triage(client, fid, "2025-12-22", "fsw-targeted-intervention", pathway="targeted", priority="medium")
    # The worker receives the work on Tuesday 23 December (seed 003 L71, L118).
    ok(client, fid, {"type": "AllocatedToWorker", "occurred_at": at("2025-12-23"), "worker_id": "pat",
                     "worker_role": "Family STEPs Worker"}, MANAGER)

    d = deadlines(client, fid, at("2025-12-31", 12))
    # Contact within 10 working days of Monday 22 December: 23, 24, 29, 30, 31 December, 2, 5, 6,
    # 7, 8 January (25/26 December and 1 January are bank holidays): Thursday 8 January 2026
    # (seed 003 L86).
    assert one(d, "outcome-6-targeted-contact")["due"] == "2026-01-08"
    assert one(d, "outcome-6-targeted-contact")["state"] == "open"
    # Referrer contacted within 5 working days of the worker receiving the referral: 24, 29, 30,
    # 31 December, 2 January: Friday 2 January 2026 (seed 003 L140).
    assert one(d, "referrer-contact")["due"] == "2026-01-02"
    assert one(d, "referrer-contact")["state"] == "open"

    # First attempt to reach the family on Monday 5 January (seed 003 L73, L924, L957).
    ok(client, fid, {"type": "ContactAttempted", "occurred_at": at("2026-01-05"), "method": "phone",
                     "party": "family", "outcome": "no_answer"})
    # Referrer reached on Wednesday 7 January, after the 2 January due date.
    contact(client, fid, "2026-01-07", cara, ava, party="referrer", method="phone")
    # Start of engagement: the worker first meets the family on Friday 9 January (seed 003 L163).
    contact(client, fid, "2026-01-09", cara, ava)
    # The parental consent form comes back at the next visit, Monday 12 January (seed 003 L159).
    document(client, fid, "2026-01-12", "parental-consent-form")

    d = deadlines(client, fid, at("2026-01-31", 12))
    assert one(d, "outcome-6-targeted-contact")["state"] == "met"
    assert one(d, "referrer-contact")["state"] == "met_late"
    # Parental consent form "to be completed on the first meeting" (seed 003 L159): due Friday
    # 9 January itself, completed Monday 12 January.
    assert one(d, "parental-consent-form")["due"] == "2026-01-09"
    assert one(d, "parental-consent-form")["state"] == "met_late"
    # Assessment and plan within 6 weeks of Friday 9 January: Friday 20 February 2026
    # (seed 003 L163, L293, L963).
    assert (one(d, "assessment")["due"], one(d, "assessment")["state"]) == ("2026-02-20", "open")
    assert (one(d, "plan-targeted")["due"], one(d, "plan-targeted")["state"]) == ("2026-02-20", "open")
    # Initial case summary within four months of the work starting: Saturday 9 May 2026
    # (seed 003 L730, L753).
    assert one(d, "case-summary")["due"] == "2026-05-09"
    # Targeted intervention "up to 4 months" (seed 003 L86, L950): Saturday 9 May 2026.
    assert one(d, "targeted-intervention-length")["due"] == "2026-05-09"
    # Rules of other pathways are not applicable (seed 003 L1015: intensive reviews; L85: brief).
    review_intensive = one(d, "review-intensive")
    assert review_intensive["state"] == "not_applicable"
    assert review_intensive["reason"] == "applies to the intensive pathway only"
    assert one(d, "brief-intervention-length")["state"] == "not_applicable"
    assert one(d, "plan-intensive")["state"] == "not_applicable"
    # An outcome that was not chosen never starts (seed 003 L80).
    assert one(d, "outcome-3-urgent-contact")["state"] == "not_applicable"
    assert one(d, "outcome-3-urgent-contact")["reason"].startswith("not started")

    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "occurred_at": at("2026-01-12", 11), "assessment_id": aid})
    ok(client, fid, {"type": "AssessmentSubmitted", "occurred_at": at("2026-02-19"), "assessment_id": aid})
    plan = str(uuid.uuid4())
    ok(client, fid, {"type": "PlanAgreed", "occurred_at": at("2026-02-23"), "plan_id": plan,
                     "outcomes": ["Children at school on time"]})

    d = deadlines(client, fid, at("2026-03-01", 12))
    assert one(d, "assessment")["state"] == "met"            # Thursday 19 Feb <= Friday 20 Feb
    assert one(d, "plan-targeted")["state"] == "met_late"    # Monday 23 Feb > Friday 20 Feb
    # "this plan will be reviewed in 6 weeks for Targeted Interventions" (seed 003 L415, L417):
    # 6 weeks from Monday 23 February is Easter Monday 6 April 2026; weeks are calendar weeks,
    # so the bank holiday does not move it.
    assert (one(d, "review-targeted")["due"], one(d, "review-targeted")["state"]) == ("2026-04-06", "open")

    # Review completed on Thursday 2 April; the next is due 6 weeks later, Thursday 14 May
    # ("every 6 weeks", seed 003 L974).
    document(client, fid, "2026-04-02", "family-star-review")
    d = deadlines(client, fid, at("2026-04-30", 12))
    first, second = d["review-targeted"]
    assert (first["due"], first["state"]) == ("2026-04-06", "met")
    assert (second["due"], second["state"]) == ("2026-05-14", "open")
    assert one(d, "case-summary")["state"] == "open"
    assert one(d, "targeted-intervention-length")["state"] == "open"

    # Nothing more by Wednesday 20 May 2026: the review, the case summary and the 4-month
    # targeted intervention are all overdue (seed 003 L730, L950, L974).
    d = deadlines(client, fid, at("2026-05-20", 12))
    assert [r["state"] for r in d["review-targeted"]] == ["met", "overdue"]
    assert one(d, "case-summary")["state"] == "overdue"
    assert one(d, "targeted-intervention-length")["state"] == "overdue"

    # The case summary done on Friday 22 May is late; the next is due four months after it,
    # Saturday 22 September 2026 (seed 003 L753 "at least every 4 months").
    document(client, fid, "2026-05-22", "case-summary")
    d = deadlines(client, fid, at("2026-05-25", 12))
    assert [(r["due"], r["state"]) for r in d["case-summary"]] == [("2026-05-09", "met_late"),
                                                                   ("2026-09-22", "open")]


def test_an_intensive_family_held_over_easter_then_assessed_with_an_extension(client):
    fid, ava, _ben, cara = family(client)
    referral(client, fid, "2026-03-30")
    # Outcome 4: "FSW allocated for early/holding contact ... Within 5 working days and for up to
    # 5 weeks until intensive family support worker available" (seed 003 L81, L84), decided on
    # Wednesday 1 April 2026.
    triage(client, fid, "2026-04-01", "fsw-holding-contact", pathway="holding", priority="medium-high")
    ok(client, fid, {"type": "AllocatedToWorker", "occurred_at": at("2026-04-02"), "worker_id": "pat"}, MANAGER)

    d = deadlines(client, fid, at("2026-04-02", 12))
    # 5 working days from Wednesday 1 April: Thursday 2, (Good Friday 3 and Easter Monday 6 are
    # bank holidays) Tuesday 7, Wednesday 8, Thursday 9, Friday 10 April 2026 (seed 003 L81).
    assert one(d, "outcome-4-holding-contact")["due"] == "2026-04-10"
    # Holding for up to 5 weeks from 1 April: Wednesday 6 May 2026 (seed 003 L81, L84).
    assert one(d, "outcome-4-holding-support-limit")["due"] == "2026-05-06"
    # Referrer within 5 working days of the worker's allocation on Thursday 2 April: Tuesday 7,
    # Wednesday 8, Thursday 9, Friday 10, Monday 13 April (seed 003 L140).
    assert one(d, "referrer-contact")["due"] == "2026-04-13"

    contact(client, fid, "2026-04-09", cara, ava)                      # the holding worker meets the family
    document(client, fid, "2026-04-09", "parental-consent-form", hour=11)
    contact(client, fid, "2026-04-13", cara, ava, party="referrer", method="phone")

    d = deadlines(client, fid, at("2026-04-20", 12))
    assert one(d, "outcome-4-holding-contact")["state"] == "met"
    assert one(d, "referrer-contact")["state"] == "met"                # on the due day itself
    assert one(d, "parental-consent-form")["state"] == "met"           # same day as the first meeting
    # The intensive assessment waits for the intensive worker's engagement (seed 003 L84, L293).
    assessment = one(d, "assessment")
    assert assessment["state"] == "not_applicable"
    assert assessment["reason"] == "applies to the targeted, intensive pathway only"
    # The case summary runs from the work starting on 9 April: Sunday 9 August 2026 (seed 003 L730).
    assert one(d, "case-summary")["due"] == "2026-08-09"

    # The intensive worker becomes available on Tuesday 12 May, after the 5 weeks (seed 003 L84).
    ok(client, fid, {"type": "AllocatedToTeam", "occurred_at": at("2026-05-12"), "team": "north",
                     "pathway": "intensive"}, MANAGER)
    ok(client, fid, {"type": "AllocatedToWorker", "occurred_at": at("2026-05-12", 11), "worker_id": "ivy",
                     "worker_role": "Family Support Worker"}, MANAGER)
    # Intensive engagement starts on Thursday 14 May 2026 (seed 003 L163).
    contact(client, fid, "2026-05-14", cara, ava)

    d = deadlines(client, fid, at("2026-06-20", 12))
    assert one(d, "outcome-4-holding-support-limit")["state"] == "met_late"
    # Assessment within 6 weeks of 14 May: Thursday 25 June 2026 (seed 003 L293, L1004).
    assert (one(d, "assessment")["due"], one(d, "assessment")["state"]) == ("2026-06-25", "open")
    # Intensive plan "week 6/7" (seed 003 L1011): 7 weeks, Thursday 2 July 2026.
    assert one(d, "plan-intensive")["due"] == "2026-07-02"
    # Intensive intervention "up to 12 months" (seed 003 L988): Friday 14 May 2027.
    assert (one(d, "intensive-intervention-length")["due"],
            one(d, "intensive-intervention-length")["state"]) == ("2027-05-14", "open")
    assert one(d, "plan-targeted")["state"] == "not_applicable"

    # c. Extensions (seed 003 L301: "management discussion ... apply for a time extension").
    # A supervisor may not extend under this pack: 403, nothing recorded.
    refused(client, fid, {"type": "DeadlineExtended", "occurred_at": at("2026-06-22"), "rule": "assessment",
                          "extend_by": 1, "reason": "family illness"}, SUPERVISOR, status=403,
            contains="lets a manager extend a deadline")
    assert one(deadlines(client, fid, at("2026-06-23", 12)), "assessment")["extended_by"] == 0
    # The manager extends by 2 weeks on Monday 22 June: due Thursday 9 July 2026, state extended.
    ok(client, fid, {"type": "DeadlineExtended", "occurred_at": at("2026-06-22"), "rule": "assessment",
                     "extend_by": 2, "reason": "family illness"}, MANAGER)
    row = one(deadlines(client, fid, at("2026-06-30", 12)), "assessment")
    assert (row["due"], row["state"], row["extended_by"]) == ("2026-07-09", "extended", 2)
    # The pack caps the assessment at 12 weeks in all (seed 003 L301 gives no maximum; the
    # pack's reading): 6 + 2 + 5 = 13 is refused with 409 and changes nothing.
    refused(client, fid, {"type": "DeadlineExtended", "occurred_at": at("2026-06-29"), "rule": "assessment",
                          "extend_by": 5, "reason": "more time"}, MANAGER, contains="at most 12")
    assert one(deadlines(client, fid, at("2026-06-30", 12)), "assessment")["due"] == "2026-07-09"

    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "occurred_at": at("2026-05-20"), "assessment_id": aid})
    ok(client, fid, {"type": "AssessmentSubmitted", "occurred_at": at("2026-07-08"), "assessment_id": aid})
    ok(client, fid, {"type": "PlanAgreed", "occurred_at": at("2026-07-09"), "plan_id": str(uuid.uuid4()),
                     "outcomes": ["Dale manages his anger"]})
    document(client, fid, "2026-08-07", "case-summary")
    # Review on the August bank holiday, Monday 31 August 2026.
    document(client, fid, "2026-08-31", "family-star-review")

    d = deadlines(client, fid, at("2026-11-24", 12))
    assert one(d, "assessment")["state"] == "met"          # 8 July, within the extended 9 July
    assert one(d, "plan-intensive")["state"] == "met_late"  # 9 July, after 2 July
    # Reviews every 12 weeks (seed 003 L415, L418, L1015): first due 12 weeks after the plan of
    # 9 July, Thursday 1 October, met on 31 August; the next 12 weeks after that, Monday
    # 23 November 2026, overdue on 24 November.
    assert [(r["due"], r["state"]) for r in d["review-intensive"]] == [("2026-10-01", "met"),
                                                                        ("2026-11-23", "overdue")]
    # Case summary met on 7 August; the next due four months later, Monday 7 December 2026.
    assert [(r["due"], r["state"]) for r in d["case-summary"]] == [("2026-08-09", "met"),
                                                                   ("2026-12-07", "open")]
    assert one(d, "review-targeted")["state"] == "not_applicable"


def test_a_brief_intervention_over_whitsun_extended_by_one_session_then_closed(client):
    fid, ava, _ben, cara = family(client)
    referral(client, fid, "2026-05-15")
    # Outcome 5 on Monday 18 May 2026: "Within 10 working days and for up to 6
    # weeks/sessions/visits" (seed 003 L85).
    triage(client, fid, "2026-05-18", "fsw-brief-intervention", pathway="brief", priority="low-medium")
    ok(client, fid, {"type": "AllocatedToWorker", "occurred_at": at("2026-05-18", 11), "worker_id": "pat"}, MANAGER)
    d = deadlines(client, fid, at("2026-05-19", 12))
    # 19, 20, 21, 22 May, (Spring bank holiday 25 May) 26, 27, 28, 29 May, 1, 2 June: Tuesday
    # 2 June 2026.
    assert (one(d, "outcome-5-brief-contact")["due"], one(d, "outcome-5-brief-contact")["state"]) == \
        ("2026-06-02", "open")

    contact(client, fid, "2026-06-03", cara, ava)       # first contact, a day late
    d = deadlines(client, fid, at("2026-06-10", 12))
    assert one(d, "outcome-5-brief-contact")["state"] == "met_late"
    # Brief intervention up to 6 weeks from engagement on Wednesday 3 June: Wednesday 15 July
    # (seed 003 L85, L918).
    assert (one(d, "brief-intervention-length")["due"], one(d, "brief-intervention-length")["state"]) == \
        ("2026-07-15", "open")
    # Assessed-intervention clocks do not apply to a brief intervention (seed 003 L295).
    assert one(d, "assessment")["state"] == "not_applicable"
    assert one(d, "review-targeted")["state"] == "not_applicable"

    # "requires one more session ... manager case notes any decision to extend" (seed 003 L938,
    # L940): one more week, to Wednesday 22 July.
    ok(client, fid, {"type": "DeadlineExtended", "occurred_at": at("2026-07-13"), "rule": "brief-intervention-length",
                     "extend_by": 1, "reason": "one more session on school place"}, MANAGER)
    row = one(deadlines(client, fid, at("2026-07-16", 12)), "brief-intervention-length")
    assert (row["due"], row["state"]) == ("2026-07-22", "extended")
    # A second week would make 8 weeks, past the pack's 7-week cap (seed 003 L938): 409.
    refused(client, fid, {"type": "DeadlineExtended", "occurred_at": at("2026-07-14"),
                          "rule": "brief-intervention-length", "extend_by": 1, "reason": "again"},
            MANAGER, contains="at most 7")

    # Closure of a brief intervention with reasonable progress (seed 003 L816, L831, L944-L945).
    # "closure should be agreed in supervision" (seed 003 L816): proposed on Monday 20 July
    # with no supervision on the record, the proposal is recorded and flagged.
    proposed = flagged(client, fid, {"type": "ClosureProposed", "occurred_at": at("2026-07-20"),
                                     "reason": "outcomes_met"}, rule="closure-agreed-in-supervision",
                       contains="L816")
    # The supervision that agreed it was on Friday 17 July, typed in afterwards: in the order
    # things happened, closure was agreed in supervision first.
    ok(client, fid, {"type": "SupervisionRecorded", "occurred_at": at("2026-07-17"), "worker_id": "pat",
                     "text": "closure agreed"}, MANAGER)
    assert breaches(client, fid, proposed["event_id"]) == []
    # Closure is signed off only by managers (seed 003 L144, L944): a supervisor is refused.
    refused(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-07-20", 11)}, SUPERVISOR,
            status=403, contains="authorise closure")
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-07-20", 11)}, MANAGER)
    # The brief intervention's closure summary (seed 003 L831, L945) and the manager's
    # closure summary case note (L944) come before the case is closed: closed without
    # either, the closure is recorded and both are flagged.
    closed = flagged(client, fid, {"type": "EpisodeClosed", "occurred_at": at("2026-07-21"), "reason": "outcomes_met"},
                     rule="brief-closure-summary-before-closing", contains="L945")
    assert breaches(client, fid, closed["event_id"]) == ["brief-closure-summary-before-closing",
                                                         "manager-closure-summary-note"]
    # The summary was written that morning and is typed in after the closure (a document may
    # be recorded after closure): that breach goes, the manager's missing note stays.
    document(client, fid, "2026-07-21", "brief-closure-summary", hour=9)
    assert breaches(client, fid, closed["event_id"]) == ["manager-closure-summary-note"]
    # A case note cannot be added to a closed episode: the manager's note had to come first.
    refused(client, fid, {"type": "CaseNoteRecorded", "occurred_at": at("2026-07-21", 9),
                          "text": "Closure summary: outcomes met", "contact_type": "closure-summary"}, MANAGER,
            contains="closed")
    row = one(deadlines(client, fid, at("2026-07-31", 12)), "brief-intervention-length")
    # Closed on Tuesday 21 July, within the extended Wednesday 22 July.
    assert (row["due"], row["state"]) == ("2026-07-22", "met")


# --------------------------------------------------------------------------------------
# The Risk and Prioritisation outcomes' own timescales (seed 003 L73-L98)
# --------------------------------------------------------------------------------------


def test_urgent_contact_by_the_end_of_day_two_over_christmas(client):
    fid, ava, _ben, cara = family(client)
    referral(client, fid, "2025-12-23")
    # Outcome 3 on Wednesday 24 December 2025, "By end of day two" (seed 003 L80): day one is
    # Monday 29 December (Christmas, Boxing Day and the weekend are not working days), day two
    # Tuesday 30 December 2025.
    triage(client, fid, "2025-12-24", "fsw-urgent-contact", pathway="targeted", priority="high")
    row = one(deadlines(client, fid, at("2025-12-29", 12)), "outcome-3-urgent-contact")
    assert (row["due"], row["state"]) == ("2025-12-30", "open")
    contact(client, fid, "2025-12-30", cara, ava, hour=16)
    row = one(deadlines(client, fid, at("2026-01-05", 12)), "outcome-3-urgent-contact")
    assert row["state"] == "met"


def test_immediate_contact_for_intensive_support(client):
    fid, _ava, _ben, _cara = family(client)
    referral(client, fid, "2025-12-29")
    # Outcome 7, "Immediate" (seed 003 L87): by the end of Tuesday 30 December 2025 itself.
    triage(client, fid, "2025-12-30", "fsw-intensive-support", pathway="intensive", priority="high-medium")
    ok(client, fid, {"type": "ContactAttempted", "occurred_at": at("2025-12-31"), "method": "phone",
                     "party": "family", "outcome": "message_left"})
    row = one(deadlines(client, fid, at("2026-01-02", 12)), "outcome-7-intensive-contact")
    assert (row["due"], row["state"]) == ("2025-12-30", "met_late")


def test_hub_discussion_within_ten_working_days_over_the_spring_bank_holiday(client):
    fid, _ava, _ben, _cara = family(client)
    referral(client, fid, "2026-05-21")
    # Outcome 8 on Friday 22 May 2026, "To Hub within 10 working days" (seed 003 L88): 26, 27,
    # 28, 29 May, 1-5 June, 8 June (Monday 25 May is a bank holiday): Monday 8 June 2026.
    triage(client, fid, "2026-05-22", "hub-discussion", priority="medium-low")
    row = one(deadlines(client, fid, at("2026-06-08", 20)), "outcome-8-hub-discussion")
    assert (row["due"], row["state"]) == ("2026-06-08", "open")
    assert one(deadlines(client, fid, at("2026-06-09", 12)), "outcome-8-hub-discussion")["state"] == "overdue"
    ok(client, fid, {"type": "MeetingHeld", "occurred_at": at("2026-06-10"), "meeting_kind": "hub_discussion",
                     "attendees": ["Hub"], "members_present": []})
    assert one(deadlines(client, fid, at("2026-06-12", 12)), "outcome-8-hub-discussion")["state"] == "met_late"


def test_signposting_contact_within_28_calendar_days(client):
    fid, ava, _ben, cara = family(client)
    referral(client, fid, "2026-04-30")
    # Outcome 1 on Friday 1 May 2026, "Within 28 days" (seed 003 L78), read as calendar days:
    # Friday 29 May 2026 (the 4 and 25 May bank holidays do not move it).
    triage(client, fid, "2026-05-01", "lsc-signpost", outcome="signpost", priority="low-medium")
    contact(client, fid, "2026-05-28", cara, ava, method="phone")
    row = one(deadlines(client, fid, at("2026-06-01", 12)), "outcome-1-signpost-contact")
    assert (row["due"], row["state"]) == ("2026-05-29", "met")


def test_needs_not_met_referrer_and_family_notified_after_closure(client):
    fid, _ava, _ben, _cara = family(client)
    referral(client, fid, "2026-08-27")
    # Outcome 15 on Friday 28 August 2026, "Referrer and family notified within 5 working days"
    # (seed 003 L95): (Monday 31 August is a bank holiday) 1, 2, 3, 4, 7 September: Monday 7 September.
    triage(client, fid, "2026-08-28", "close-needs-not-met", outcome="no_further_action", priority="low", hour=9)
    ok(client, fid, {"type": "ClosureProposed", "occurred_at": at("2026-08-28", 10), "reason": "no_further_action"})
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-08-28", 11)}, MANAGER)
    ok(client, fid, {"type": "CaseNoteRecorded", "occurred_at": at("2026-08-28", 11),
                     "text": "Closed at prioritisation", "contact_type": "closure-summary"}, MANAGER)
    ok(client, fid, {"type": "EpisodeClosed", "occurred_at": at("2026-08-28", 12), "reason": "no_further_action"})
    # The letter to the referrer goes after closure, on Thursday 3 September.
    document(client, fid, "2026-09-03", "outcome-notification", sent_to=["referrer"])

    d = deadlines(client, fid, at("2026-09-04", 12))
    assert (one(d, "outcome-15-referrer-notified")["due"], one(d, "outcome-15-referrer-notified")["state"]) == \
        ("2026-09-07", "met")
    assert (one(d, "outcome-15-family-notified")["due"], one(d, "outcome-15-family-notified")["state"]) == \
        ("2026-09-07", "open")
    assert one(deadlines(client, fid, at("2026-09-10", 12)), "outcome-15-family-notified")["state"] == "overdue"


def test_withdrawal_confirmation_ends_when_safeguarding_concerns_lead_to_a_step_up(client):
    fid, _ava, _ben, _cara = family(client)
    referral(client, fid, "2026-10-30")
    # Outcome 16 on Monday 2 November 2026: "Within 5 working days confirm to referrer/family -
    # unless safeguard concerns identified" (seed 003 L98): due Monday 9 November.
    triage(client, fid, "2026-11-02", "close-withdrawn", outcome="no_further_action")
    row = one(deadlines(client, fid, at("2026-11-03", 12)), "outcome-16-withdrawal-confirmed")
    assert (row["due"], row["state"]) == ("2026-11-09", "open")
    # b. A step up "should be preceded by manager to manager discussion which is case noted"
    # (seed 003 L783): stepped up on Wednesday 4 November with no such discussion on the
    # record, the step up is recorded and flagged.
    step_up = {"type": "SteppedUp", "occurred_at": at("2026-11-04"), "to_service": "childrens_social_care",
               "reason": "safeguarding concerns"}
    stepped = flagged(client, fid, step_up, MANAGER, rule="step-up-after-manager-discussion", contains="L783")
    # The worker's own record of such a meeting is not a manager's discussion.
    ok(client, fid, {"type": "MeetingHeld", "occurred_at": at("2026-11-03", 14), "meeting_kind": "step_up_step_down",
                     "attendees": ["FSW"], "members_present": []})
    assert breaches(client, fid, stepped["event_id"]) == ["step-up-after-manager-discussion"]
    # The managers' discussion of Tuesday 3 November, case noted after the step up: it came
    # first in the world, so the step up breaks no rule.
    ok(client, fid, {"type": "MeetingHeld", "occurred_at": at("2026-11-03", 15), "meeting_kind": "step_up_step_down",
                     "attendees": ["Team Leader", "Strengthening Families Team Manager"], "members_present": []},
       MANAGER)
    assert breaches(client, fid, stepped["event_id"]) == []
    row = one(deadlines(client, fid, at("2026-11-20", 12)), "outcome-16-withdrawal-confirmed")
    assert row["state"] == "not_applicable" and row["reason"] == "ended by SteppedUp"


# --------------------------------------------------------------------------------------
# b. Ordering rules
# --------------------------------------------------------------------------------------


def targeted(client) -> str:
    """A targeted family referred on Tuesday 1 September 2026 and met on Monday 7 September."""
    fid, ava, _ben, cara = family(client)
    referral(client, fid, "2026-09-01")
    triage(client, fid, "2026-09-02", "fsw-targeted-intervention", pathway="targeted")
    ok(client, fid, {"type": "AllocatedToWorker", "occurred_at": at("2026-09-02", 11), "worker_id": "pat"}, MANAGER)
    contact(client, fid, "2026-09-07", cara, ava)
    return fid


@pytest.fixture
def targeted_family(client):
    return targeted(client)


def test_a_targeted_closure_without_supervision_review_closure_form_or_managers_note_is_flagged(
        client, targeted_family):
    fid = targeted_family
    proposal = {"type": "ClosureProposed", "occurred_at": at("2026-11-10"), "reason": "outcomes_met"}
    # "closure should be agreed in supervision" (seed 003 L816), and "A review should always
    # be completed in the two weeks prior to closure" (seed 003 L816, L981).
    proposed = flagged(client, fid, proposal, rule="closure-agreed-in-supervision", contains="L816")
    assert breaches(client, fid, proposed["event_id"]) == ["closure-agreed-in-supervision", "review-before-closure"]
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-11-10", 11)}, MANAGER)
    # "a brief case note ... of closure summary by the Team Leader / Senior FOW" (seed 003 L819):
    # a practitioner's note of that type does not count.
    note = {"type": "CaseNoteRecorded", "occurred_at": at("2026-11-11", 11), "text": "closure summary",
            "contact_type": "closure-summary"}
    ok(client, fid, note)
    closing = {"type": "EpisodeClosed", "occurred_at": at("2026-11-12"), "reason": "outcomes_met"}
    # "On youngest child complete closure form" (seed 003 L816, L983).
    closed = flagged(client, fid, closing, rule="closure-form-before-closing", contains="L983")
    assert breaches(client, fid, closed["event_id"]) == ["closure-form-before-closing", "manager-closure-summary-note"]
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["status"] == "closed"

    # The same closure in the order the guidance gives: nothing is flagged.
    fid = targeted(client)
    ok(client, fid, {"type": "SupervisionRecorded", "occurred_at": at("2026-11-03"), "worker_id": "pat"}, MANAGER)
    document(client, fid, "2026-11-05", "family-star-review")
    not_flagged(client, fid, proposal)
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-11-10", 11)}, MANAGER)
    document(client, fid, "2026-11-11", "closure-form")
    ok(client, fid, note)
    ok(client, fid, {**note, "occurred_at": at("2026-11-11", 12)}, MANAGER)
    not_flagged(client, fid, closing)
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["status"] == "closed"


def test_a_family_that_never_engaged_closes_on_the_managers_note_alone(client, targeted_family):
    # Never engaged: "the manager must as a minimum enter a case-note agreeing to the closure"
    # (seed 003 L813); no review, closure form or supervision is asked (Fwi "Family refused
    # service - i.e. no work was undertaken", L827).
    proposal = {"type": "ClosureProposed", "occurred_at": at("2026-11-10"), "reason": "consent_withdrawn"}
    closing = {"type": "EpisodeClosed", "occurred_at": at("2026-11-12"), "reason": "consent_withdrawn"}
    fid = targeted_family
    not_flagged(client, fid, proposal)
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-11-10", 11)}, MANAGER)
    # Closed without the manager's note: that, and only that, is flagged.
    closed = flagged(client, fid, closing, rule="manager-closure-summary-note", contains="L813")
    assert breaches(client, fid, closed["event_id"]) == ["manager-closure-summary-note"]

    fid = targeted(client)
    not_flagged(client, fid, proposal)
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": at("2026-11-10", 11)}, MANAGER)
    ok(client, fid, {"type": "CaseNoteRecorded", "occurred_at": at("2026-11-11"), "text": "Closed: never engaged",
                     "contact_type": "closure-summary"}, MANAGER)
    not_flagged(client, fid, closing)


def test_a_transfer_before_the_managers_discussion_is_flagged(client, targeted_family):
    # "If work is transferring within Early Help, a case note recording discussion between
    # managers is sufficient" (seed 003 L783).
    transfer = {"type": "TransferredOut", "occurred_at": at("2026-10-01"), "to_team": "south", "reason": "moved"}
    discussion = {"type": "MeetingHeld", "occurred_at": at("2026-09-30"), "meeting_kind": "handover",
                  "attendees": ["north Team Leader", "south Team Leader"], "members_present": []}
    fid = targeted_family
    flagged(client, fid, transfer, MANAGER, rule="transfer-after-manager-discussion", contains="L783")
    # The transfer is recorded: the family waits for the south team to accept it.
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["pending_transfer"]["to_team"] == "south"

    fid = targeted(client)
    # The practitioner's own note of the handover is not the managers' discussion.
    ok(client, fid, {**discussion, "attendees": ["FSW"]})
    flagged(client, fid, transfer, MANAGER, rule="transfer-after-manager-discussion")

    fid = targeted(client)
    ok(client, fid, discussion, MANAGER)
    not_flagged(client, fid, transfer, MANAGER)
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["pending_transfer"]["to_team"] == "south"


def test_the_final_letter_gives_the_family_ten_calendar_days(client, targeted_family):
    fid = targeted_family
    # "letter ... asking to make contact within 10 days if require support or case to close"
    # (seed 003 L153), sent on Thursday 24 September 2026: Sunday 4 October 2026.
    document(client, fid, "2026-09-24", "final-contact-letter", sent_to=["family"])
    row = one(deadlines(client, fid, at("2026-10-02", 12)), "final-letter-response")
    assert (row["due"], row["state"]) == ("2026-10-04", "open")
    assert one(deadlines(client, fid, at("2026-10-05", 12)), "final-letter-response")["state"] == "overdue"


def test_the_pack_is_served_with_its_sixteen_outcomes(client):
    r = client.get(f"/policies/{POLICY}", headers=PRACTITIONER)
    assert r.status_code == 200
    pack = r.json()
    assert [t["id"] for t in pack["pathways"]] == ["brief", "targeted", "intensive", "holding"]
    assert len(pack["triage_responses"]) == 16
    assert pack["authority"]["close"]["roles"] == ["manager"]
    # An outcome the pack does not have is refused with 422 and the list of valid ones.
    fid, *_ = family(client)
    referral(client, fid, "2026-01-05")
    problem = refused(client, fid, {"type": "TriageDecided", "occurred_at": at("2026-01-06"),
                                    "outcome": "early_help", "response": "outcome-17"}, MANAGER, status=422)
    assert "close-withdrawn" in problem["detail"]
