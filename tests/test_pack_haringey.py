"""The Haringey pack (seed 001, Early Help Operational Guidance, October 2018) through the
HTTP API: families walked through the Locality Team and step-down routes across weekends
and bank holidays, every ordering rule, the recording rule, and the absence of any
extension or pause in the seed. Every due date below is counted by hand from the seed
text (working days skip weekends and England-and-Wales bank holidays; the day of the
starting event is day 0; weeks and months are calendar)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import (
    AUDITOR,
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

PACK = "haringey-early-help"
SEED = "001_509a4e628a302634.txt"


# --- helpers -------------------------------------------------------------------------------


def state_due(rows: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(r["state"], r["due"]) for r in rows]


def one(dl: dict[str, list[dict[str, Any]]], rule: str) -> tuple[str, str | None]:
    rows = dl[rule]
    assert len(rows) == 1, rows
    return rows[0]["state"], rows[0]["due"]


def members(fam: dict[str, Any]) -> tuple[str, str, str]:
    ava, ben, cara = (m["member_id"] for m in fam["members"])
    return ava, ben, cara


def visit(fam, when: str, method: str = "visit") -> dict[str, Any]:
    ava, ben, cara = members(fam)
    return {"type": "ContactMade", "occurred_at": when, "method": method, "party": "family",
            "members_present": [ava, ben, cara], "children_seen": [ava, ben], "children_seen_alone": []}


def taf(fam, when: str, kind: str = "team_around_the_family") -> dict[str, Any]:
    cara = members(fam)[2]
    return {"type": "MeetingHeld", "occurred_at": when, "meeting_kind": kind,
            "attendees": ["school", "health visitor"], "members_present": [cara]}


def document(doc: str, when: str) -> dict[str, Any]:
    return {"type": "DocumentRecorded", "occurred_at": when, "document": doc}


def plan(when: str) -> dict[str, Any]:
    return {"type": "PlanAgreed", "occurred_at": when, "plan_id": str(uuid.uuid4()),
            "outcomes": ["Ava attends school every day"]}


def consent(fam, when: str, form: str = "written", scope: tuple[str, ...] = ("support",)) -> dict[str, Any]:
    return {"type": "ConsentGiven", "occurred_at": when, "given_by": members(fam)[2],
            "scope": list(scope), "form": form}


def assessment(client, fid, kind: str, started: str, submitted: str, authorised: str | None = None) -> str:
    aid = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "occurred_at": started, "assessment_id": aid,
                     "assessment_kind": kind})
    ok(client, fid, {"type": "AssessmentSubmitted", "occurred_at": submitted, "assessment_id": aid})
    if authorised:
        ok(client, fid, {"type": "AssessmentAuthorised", "occurred_at": authorised, "assessment_id": aid}, MANAGER)
    return aid


def close(client, fid, when: str, reason: str = "outcomes_met") -> None:
    ok(client, fid, {"type": "ClosureProposed", "occurred_at": when, "reason": reason})
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": when}, MANAGER)
    ok(client, fid, {"type": "EpisodeClosed", "occurred_at": when, "reason": reason})


def locality_family(client, allocated: str = "2026-10-05T10:00:00+01:00") -> dict[str, Any]:
    """A Locality Team family up to allocation to a Family Support Worker."""
    fam = register(client, policy=PACK)
    fid = fam["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "occurred_at": "2026-10-01T09:00:00+01:00",
                     "route": "professional", "reason": "school worried", "priority": "green"})
    ok(client, fid, {"type": "TriageDecided", "occurred_at": "2026-10-01T15:00:00+01:00",
                     "outcome": "early_help", "pathway": "locality-team"}, MANAGER)
    ok(client, fid, consent(fam, "2026-10-01T16:00:00+01:00", form="verbal"))
    ok(client, fid, {"type": "AllocatedToTeam", "occurred_at": "2026-10-02T09:00:00+01:00", "team": "north",
                     "pathway": "locality-team"}, MANAGER)
    ok(client, fid, {"type": "AllocatedToWorker", "occurred_at": allocated, "worker_id": "pat"}, SUPERVISOR)
    return fam


# --- a. the Locality Team route, Christmas 2025 to the follow-up call of September 2026 -------


@pytest.fixture
def walked(client):
    """Referred to the SPA as Green on Monday 22 December 2025, closed on Friday 29 May 2026."""
    fam = register(client, policy=PACK)
    fid = fam["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "occurred_at": "2025-12-22T10:00:00+00:00",
                     "route": "professional", "reason": "attendance and a tired, hungry child",
                     "priority": "green"})
    ok(client, fid, {"type": "TriageDecided", "occurred_at": "2025-12-29T10:00:00+00:00",
                     "outcome": "early_help", "pathway": "locality-team"}, MANAGER)
    ok(client, fid, consent(fam, "2025-12-29T11:00:00+00:00", form="verbal"))
    ok(client, fid, {"type": "AllocatedToTeam", "occurred_at": "2025-12-30T10:00:00+00:00", "team": "north",
                     "pathway": "locality-team"}, MANAGER)
    ok(client, fid, {"type": "AllocatedToWorker", "occurred_at": "2025-12-31T10:00:00+00:00",
                     "worker_id": "pat"}, SUPERVISOR)
    ok(client, fid, document("home-visits-risk-assessment", "2026-01-02T10:00:00+00:00"), SUPERVISOR)
    assessment_id = str(uuid.uuid4())
    ok(client, fid, {"type": "AssessmentStarted", "occurred_at": "2026-01-05T10:00:00+00:00",
                     "assessment_id": assessment_id})
    ok(client, fid, visit(fam, "2026-01-09T10:00:00+00:00"))
    ok(client, fid, consent(fam, "2026-01-09T10:30:00+00:00"))
    ok(client, fid, visit(fam, "2026-01-15T10:00:00+00:00"))
    ok(client, fid, document("family-outcome-star", "2026-01-15T11:00:00+00:00"))
    ok(client, fid, {"type": "AssessmentSubmitted", "occurred_at": "2026-01-22T16:00:00+00:00",
                     "assessment_id": assessment_id})
    ok(client, fid, document("baseline-data-initial", "2026-01-23T10:00:00+00:00"))
    ok(client, fid, taf(fam, "2026-01-27T10:00:00+00:00"))
    ok(client, fid, document("baseline-data-update", "2026-01-29T10:00:00+00:00"))
    ok(client, fid, plan("2026-02-02T10:00:00+00:00"))
    ok(client, fid, taf(fam, "2026-03-24T10:00:00+00:00", "review"))
    ok(client, fid, plan("2026-03-24T11:00:00+00:00"))
    ok(client, fid, document("baseline-data-update", "2026-03-24T11:30:00+00:00"))
    ok(client, fid, document("family-outcome-star", "2026-03-24T12:00:00+00:00"))
    ok(client, fid, {"type": "SupervisionRecorded", "occurred_at": "2026-03-26T14:00:00+00:00",
                     "worker_id": "pat"}, SUPERVISOR)
    ok(client, fid, taf(fam, "2026-05-19T10:00:00+01:00", "closure"))
    ok(client, fid, document("baseline-data-final", "2026-05-26T10:00:00+01:00"))
    assessment(client, fid, "celebrating-and-sustaining-change", "2026-05-20T10:00:00+01:00",
               "2026-05-27T16:00:00+01:00", authorised="2026-05-28T10:00:00+01:00")
    close(client, fid, "2026-05-29T14:00:00+01:00")
    ok(client, fid, {"type": "FollowUpCompleted", "occurred_at": "2026-08-28T11:00:00+01:00", "method": "phone",
                     "outcome": "mother worried about eviction", "further_support_needed": True})
    ok(client, fid, {"type": "FollowUpCompleted", "occurred_at": "2026-09-09T10:00:00+01:00", "method": "visit",
                     "outcome": "intervention offered"})
    return fam


def test_spa_allocation_initial_visit_and_c4c_across_christmas(client, walked):
    dl = deadlines(client, walked["family_id"], "2026-01-23T09:00:00+00:00")
    # Green (Tier 2) received Monday 22 December 2025: directed within 3 working days, skipping
    # Christmas Day and Boxing Day and the weekend: due Monday 29 December; triaged that day (L307).
    assert one(dl, "spa-green") == ("met", "2025-12-29")
    # Arrived in the Locality Team on Tuesday 30 December: allocated to a Family Support Worker
    # within 1 working day, Wednesday 31 December; allocated that day (L313).
    assert one(dl, "allocation-to-fsw") == ("met", "2025-12-31")
    # Allocated Wednesday 31 December: first face to face visit within 5 working days, skipping
    # New Year's Day: due Thursday 8 January 2026; visited Friday 9 January (L329-L331).
    assert one(dl, "initial-visit") == ("met_late", "2026-01-08")
    # Signed consent is obtained at the initial visit: the same due date; signed on 9 January (L343-L346).
    # The verbal consent of 29 December, before the case reached the team (L89), does not count.
    assert one(dl, "signed-consent") == ("met_late", "2026-01-08")
    # New families are visited at least weekly (L376-L379): due 7 January (a week after allocation),
    # visited 9 January (late); next due 16 January, visited 15 January; next due 22 January, when the
    # C4C was completed, which ends the 'new family' visits (reading, L352-L355).
    assert state_due(dl["weekly-visits-new-family"]) == [
        ("met_late", "2026-01-07"), ("met", "2026-01-16"), ("not_applicable", "2026-01-22")]
    # Conversation 4 Change within 15 working days of allocation (New Year's Day skipped):
    # Thursday 22 January; completed that day (L351-L355).
    assert one(dl, "c4c") == ("met", "2026-01-22")
    # The initial Baseline Data form has the same 15 working days (L351-L353): not there by 23 January.
    assert one(dl, "baseline-initial") == ("overdue", "2026-01-22")
    # First Checking in on Change and updated Baseline within 20 working days: Thursday 29 January (L390-L394).
    assert one(dl, "cic") == ("open", "2026-01-29")
    assert one(dl, "baseline-update") == ("open", "2026-01-29")
    # Outcome Star revisited at least every 8 weeks: first star 15 January, next by 12 March (L434-L436).
    assert one(dl, "outcome-star-every-8-weeks") == ("open", "2026-03-12")
    # Open cases discussed in supervision at least every three months from allocation: 31 March (L748).
    assert one(dl, "case-discussed-in-supervision") == ("open", "2026-03-31")
    # A rule of the other pathway, and SPA ratings this referral did not carry, never start.
    [step_down] = dl["step-down-cic"]
    assert step_down["state"] == "not_applicable" and "step-down pathway only" in step_down["reason"]
    [red] = dl["spa-red"]
    assert red["state"] == "not_applicable" and red["reason"].startswith("not started")
    assert red["source"] == {"seed": SEED, "lines": [307]}


def test_plan_and_eight_weekly_reviews(client, walked):
    fid = walked["family_id"]
    dl = deadlines(client, fid, "2026-01-30T12:00:00+00:00")
    # No Checking in on Change by Thursday 29 January (L390-L394).
    assert one(dl, "cic") == ("overdue", "2026-01-29")
    assert one(dl, "baseline-update") == ("met", "2026-01-29")
    assert one(dl, "baseline-initial") == ("met_late", "2026-01-22")
    # Initial TAF on Tuesday 27 January: the next TAF every 8 weeks, by Tuesday 24 March (L425-L429).
    assert one(dl, "taf-every-8-weeks") == ("open", "2026-03-24")

    dl = deadlines(client, fid, "2026-03-13T12:00:00+00:00")
    assert one(dl, "cic") == ("met_late", "2026-01-29")
    # Checking in on Change of Monday 2 February: updated within 8 weeks, by Monday 30 March (L425-L429).
    assert one(dl, "cic-every-8-weeks") == ("open", "2026-03-30")
    # Updated Baseline of Thursday 29 January: again by Thursday 26 March (L425-L430).
    assert one(dl, "baseline-every-8-weeks") == ("open", "2026-03-26")
    # The star of 15 January was due again by 12 March (L434-L436).
    assert one(dl, "outcome-star-every-8-weeks") == ("overdue", "2026-03-12")

    dl = deadlines(client, fid, "2026-05-28T09:00:00+01:00")
    # Review TAF on 24 March (on time), final TAF on Tuesday 19 May (on time: 24 March + 8 weeks);
    # the cycle runs on from the final TAF until the case closes (L425-L429).
    assert state_due(dl["taf-every-8-weeks"]) == [
        ("met", "2026-03-24"), ("met", "2026-05-19"), ("open", "2026-07-14")]
    # The star was revisited late on 24 March, and not again by 19 May (L434-L436).
    assert state_due(dl["outcome-star-every-8-weeks"]) == [("met_late", "2026-03-12"), ("overdue", "2026-05-19")]
    # The Checking in on Change of 24 March was not updated by 19 May.
    assert state_due(dl["cic-every-8-weeks"]) == [("met", "2026-03-30"), ("overdue", "2026-05-19")]
    # Case supervision on 26 March (by 31 March); the next by 26 June (L748).
    assert state_due(dl["case-discussed-in-supervision"]) == [("met", "2026-03-31"), ("open", "2026-06-26")]


def test_closure_paperwork_across_the_spring_bank_holiday(client, walked):
    dl = deadlines(client, walked["family_id"], "2026-05-28T09:00:00+01:00")
    # Final TAF Tuesday 19 May 2026: Celebrating and Sustaining Change completed and sent for sign off
    # within 5 working days, skipping the Spring bank holiday (25 May): Wednesday 27 May; sent that day
    # (L443-L448). The final Baseline Data form has the same 5 working days; done 26 May (L443-L446).
    assert one(dl, "csc-document") == ("met", "2026-05-27")
    assert one(dl, "baseline-final") == ("met", "2026-05-27")
    assert one(dl, "follow-up-call")[0] == "not_applicable"


def test_follow_up_call_and_visit_after_closure_across_the_august_bank_holiday(client, walked):
    fid = walked["family_id"]
    body = client.get(f"/families/{fid}/deadlines", params={"as_of": "2026-08-20T12:00:00+01:00"},
                      headers=PRACTITIONER).json()
    assert body["policy"] == PACK and body["pathway"] == "locality-team" and body["episode_open"] is False
    dl = deadlines(client, fid, "2026-08-20T12:00:00+01:00")
    # Closed Friday 29 May 2026: telephoned 3 months after closure, by Saturday 29 August (L462-L470).
    assert one(dl, "follow-up-call") == ("open", "2026-08-29")
    # Closing ended the case's running clocks: not yet due (not applicable) or already late (overdue).
    assert state_due(dl["case-discussed-in-supervision"])[-1] == ("not_applicable", "2026-06-26")
    assert state_due(dl["cic-every-8-weeks"])[-1] == ("overdue", "2026-05-19")
    assert state_due(dl["taf-every-8-weeks"])[-1] == ("not_applicable", "2026-07-14")

    dl = deadlines(client, fid, "2026-09-04T12:00:00+01:00")
    # Called Friday 28 August and judged to need more help: visited within 5 working days of the
    # call, skipping the Summer bank holiday (31 August): Monday 7 September (L485-L488).
    assert one(dl, "follow-up-call") == ("met", "2026-08-29")
    assert one(dl, "follow-up-visit") == ("open", "2026-09-07")
    assert one(deadlines(client, fid, "2026-09-08T12:00:00+01:00"), "follow-up-visit") == ("overdue", "2026-09-07")
    # Visited Wednesday 9 September.
    assert one(deadlines(client, fid, "2026-09-10T12:00:00+01:00"), "follow-up-visit") == ("met_late", "2026-09-07")


# --- a. the step-down route across Easter and the Early May bank holiday ----------------------


def test_step_down_family_goes_straight_to_checking_in_on_change(client):
    fam = register(client, policy=PACK)
    fid = fam["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "occurred_at": "2026-04-01T09:00:00+01:00", "route": "step_down",
                     "reason": "agreed for step down at the CYPS Transfer Panel"})
    ok(client, fid, {"type": "SteppedDown", "occurred_at": "2026-04-01T09:30:00+01:00",
                     "from_service": "childrens_social_care", "reason": "need reduced below Level 3",
                     "pathway": "step-down"}, MANAGER)
    ok(client, fid, taf(fam, "2026-04-01T10:00:00+01:00", "step_up_step_down"))
    ok(client, fid, consent(fam, "2026-04-01T10:30:00+01:00"))
    ok(client, fid, {"type": "AllocatedToTeam", "occurred_at": "2026-04-02T10:00:00+01:00", "team": "north",
                     "pathway": "step-down"}, MANAGER)
    ok(client, fid, {"type": "AllocatedToWorker", "occurred_at": "2026-04-15T10:00:00+01:00",
                     "worker_id": "pat"}, SUPERVISOR)
    # No initial TAF ordering on this route: the joint CIN/TAF meeting was the transfer (L399-L406).
    ok(client, fid, plan("2026-05-07T15:00:00+01:00"))

    # Arrived in the Locality Team on Thursday 2 April 2026: allocated within 1 working day, skipping
    # Good Friday and Easter Monday: due Tuesday 7 April (L313; 'Stages 1 and 2 remain the same', L407).
    assert one(deadlines(client, fid, "2026-04-07T12:00:00+01:00"), "allocation-to-fsw") == ("open", "2026-04-07")
    assert one(deadlines(client, fid, "2026-04-08T12:00:00+01:00"), "allocation-to-fsw") == ("overdue", "2026-04-07")

    dl = deadlines(client, fid, "2026-05-08T12:00:00+01:00")
    assert one(dl, "allocation-to-fsw") == ("met_late", "2026-04-07")
    # Allocated Wednesday 15 April: first Checking in on Change within 15 working days for a step down,
    # skipping the Early May bank holiday (4 May): Thursday 7 May; agreed that day (L396-L399).
    assert one(dl, "step-down-cic") == ("met", "2026-05-07")
    assert one(dl, "step-down-baseline-update") == ("overdue", "2026-05-07")
    # The joint CIN/TAF meeting of Wednesday 1 April is the first TAF: the next by 27 May (L425-L429).
    assert one(dl, "taf-every-8-weeks") == ("open", "2026-05-27")
    assert one(dl, "cic-every-8-weeks") == ("open", "2026-07-02")
    # Stages 3 and 4 and the standard 20 working days belong to the Locality Team route.
    for rule in ("initial-visit", "signed-consent", "weekly-visits-new-family", "c4c", "baseline-initial", "cic"):
        [row] = dl[rule]
        assert row["state"] == "not_applicable" and "locality-team pathway only" in row["reason"], rule
    # A step down carries no SPA rating, so no SPA clock runs (L307, L667).
    for rule in ("spa-red", "spa-amber", "spa-green"):
        assert one(dl, rule) == ("not_applicable", None)


# --- a. SPA hours across the clock change ---------------------------------------------------------


def test_spa_red_and_amber_are_counted_in_clock_hours(client):
    red = register(client, policy=PACK)["family_id"]
    ok(client, red, {"type": "ReferralReceived", "occurred_at": "2026-03-27T15:00:00+00:00",
                     "route": "professional", "reason": "injury seen at school", "priority": "red"})
    # Red (Tier 4): directed within four hours of the SPA receiving it, 19:00 on Friday 27 March (L307).
    red_due = "2026-03-27T19:00:00.000000Z"
    assert one(deadlines(client, red, "2026-03-27T18:00:00+00:00"), "spa-red") == ("open", red_due)
    assert one(deadlines(client, red, "2026-03-27T19:01:00+00:00"), "spa-red") == ("overdue", red_due)
    ok(client, red, {"type": "TriageDecided", "occurred_at": "2026-03-27T19:30:00+00:00", "outcome": "step_up"},
       MANAGER)
    assert one(deadlines(client, red, "2026-03-28T12:00:00+00:00"), "spa-red") == ("met_late", red_due)

    amber = register(client, policy=PACK)["family_id"]
    ok(client, amber, {"type": "ReferralReceived", "occurred_at": "2026-03-28T12:00:00+00:00",
                       "route": "professional", "reason": "parent struggling", "priority": "amber"})
    # Amber (Tier 3): within 24 hours of noon on Saturday 28 March; the clocks go forward that night,
    # so the 24 hours end at 13:00 British Summer Time on Sunday 29 March (L307): 12:00 UTC.
    ok(client, amber, {"type": "TriageDecided", "occurred_at": "2026-03-29T12:30:00+01:00",
                       "outcome": "early_help", "pathway": "locality-team"}, MANAGER)
    dl = deadlines(client, amber, "2026-03-30T12:00:00+01:00")
    assert one(dl, "spa-amber") == ("met", "2026-03-29T12:00:00.000000Z")
    assert one(dl, "spa-red") == ("not_applicable", None)


# --- b. every ordering rule ---------------------------------------------------------------------


def test_a_case_entering_the_locality_team_workflow_before_consent_is_flagged(client):
    fam = register(client, policy=PACK)
    fid = fam["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "occurred_at": "2026-10-01T09:00:00+01:00",
                     "route": "professional", "reason": "school worried", "priority": "green"})
    allocate = {"type": "AllocatedToTeam", "occurred_at": "2026-10-02T09:00:00+01:00", "team": "north",
                "pathway": "locality-team"}
    # 'Once consent is obtained ... an Early Help Contact will be initiated' (L89). The case
    # reached the team without it: the arrival is recorded and the breach flagged.
    arrived = flagged(client, fid, allocate, MANAGER, rule="consent-before-workflow", contains="L89")
    # Consent to share information alone is not consent to early help support.
    ok(client, fid, consent(fam, "2026-10-01T15:00:00+01:00", form="verbal", scope=("information_sharing",)))
    assert breaches(client, fid, arrived["event_id"]) == ["consent-before-workflow"]
    # Verbal consent to support given on Thursday 1 October, typed in after the arrival: it
    # came first in the world, so the arrival breaks no rule.
    ok(client, fid, consent(fam, "2026-10-01T16:00:00+01:00", form="verbal"))
    assert breaches(client, fid, arrived["event_id"]) == []
    # Arrived Friday 2 October 2026: allocation due Monday 5 October (L313).
    assert one(deadlines(client, fid, "2026-10-05T12:00:00+01:00"), "allocation-to-fsw") == ("open", "2026-10-05")


def test_an_initial_home_visit_before_the_home_visits_risk_assessment_is_flagged(client):
    fam = locality_family(client)
    fid = fam["family_id"]
    # The allocating supervisor and the FSW complete the form 'prior to the initial home visit' (L313-L328).
    flagged(client, fid, visit(fam, "2026-10-06T10:00:00+01:00"), rule="risk-assessment-before-home-visit",
            contains="L313")
    flagged(client, fid, visit(fam, "2026-10-06T11:00:00+01:00", "unannounced_visit"),
            rule="risk-assessment-before-home-visit")
    # A meeting at the school, the location of the family's choosing (L519), is not a home visit.
    not_flagged(client, fid, visit(fam, "2026-10-06T14:00:00+01:00", "school"))
    ok(client, fid, document("home-visits-risk-assessment", "2026-10-07T09:00:00+01:00"), SUPERVISOR)
    not_flagged(client, fid, visit(fam, "2026-10-07T10:00:00+01:00"))
    # Allocated Monday 5 October 2026: the home visit of Tuesday 6 October, recorded though
    # it came before the risk assessment, met the 5 working days (L329-L331).
    dl = deadlines(client, fid, "2026-10-08T12:00:00+01:00")
    assert one(dl, "initial-visit") == ("met", "2026-10-12")
    assert dl["initial-visit"][0]["stopped_at"] == "2026-10-06T09:00:00.000000Z"  # 10:00 BST


def test_a_checking_in_on_change_before_the_initial_taf_is_flagged(client):
    fam = locality_family(client)
    fid = fam["family_id"]
    # 'The initial TAF can be held at any point prior to completing the Checking in on Change' (L390-L394).
    cic = flagged(client, fid, plan("2026-10-20T10:00:00+01:00"), rule="initial-taf-before-cic", contains="L390")
    # A professionals' meeting that morning is not the initial TAF.
    ok(client, fid, taf(fam, "2026-10-20T09:00:00+01:00", "professionals"))
    assert breaches(client, fid, cic["event_id"]) == ["initial-taf-before-cic"]
    # The initial TAF was held at 09:30, before the Checking in on Change, and typed in
    # after it: in the order things happened, the rule is kept.
    ok(client, fid, taf(fam, "2026-10-20T09:30:00+01:00"))
    assert breaches(client, fid, cic["event_id"]) == []
    not_flagged(client, fid, plan("2026-10-21T10:00:00+01:00"))
    # Allocated Monday 5 October: 20 working days, Monday 2 November (L390-L394).
    assert one(deadlines(client, fid, "2026-10-21T12:00:00+01:00"), "cic") == ("met", "2026-11-02")


def test_celebrating_and_sustaining_change_is_signed_off_before_closure(client):
    fam = locality_family(client)
    fid = fam["family_id"]
    ok(client, fid, taf(fam, "2026-11-02T10:00:00+00:00", "closure"))
    ok(client, fid, {"type": "ClosureProposed", "occurred_at": "2026-11-05T10:00:00+00:00", "reason": "outcomes_met"})
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": "2026-11-05T11:00:00+00:00"}, MANAGER)
    closing = {"type": "EpisodeClosed", "occurred_at": "2026-11-05T12:00:00+00:00", "reason": "outcomes_met"}
    # 'The authorising Manager will complete a review ... prior to closure' (L447-L455).
    refused(client, fid, closing, contains="csc-signed-off-before-closure")
    # A signed-off C4C is not the closing document.
    assessment(client, fid, "early-help-assessment", "2026-10-06T10:00:00+01:00", "2026-10-20T10:00:00+01:00",
               authorised="2026-10-21T10:00:00+01:00")
    refused(client, fid, closing, contains="csc-signed-off-before-closure")
    aid = assessment(client, fid, "celebrating-and-sustaining-change", "2026-11-03T10:00:00+00:00",
                     "2026-11-04T10:00:00+00:00")
    refused(client, fid, closing, contains="csc-signed-off-before-closure")
    # Only a manager signs off (L447-L448): a supervisor is refused with 403.
    refused(client, fid, {"type": "AssessmentAuthorised", "occurred_at": "2026-11-05T09:00:00+00:00",
                          "assessment_id": aid}, SUPERVISOR, status=403)
    ok(client, fid, {"type": "AssessmentAuthorised", "occurred_at": "2026-11-05T09:00:00+00:00",
                     "assessment_id": aid}, MANAGER)
    ok(client, fid, closing)
    # Final TAF Monday 2 November: document sent by Monday 9 November; sent 4 November (L443-L448).
    dl = deadlines(client, fid, "2026-11-06T12:00:00+00:00")
    assert one(dl, "csc-document") == ("met", "2026-11-09")
    # Closed Thursday 5 November: follow-up call by Friday 5 February 2027 (L462-L470).
    assert one(dl, "follow-up-call") == ("open", "2027-02-05")


def step_down_closure(client, fid: str, fam) -> None:
    """A closing TAF, the signed-off Celebrating and Sustaining Change and an authorised
    closure to step the family down (everything but the closure itself)."""
    ok(client, fid, taf(fam, "2026-11-02T10:00:00+00:00", "closure"))
    assessment(client, fid, "celebrating-and-sustaining-change", "2026-11-03T10:00:00+00:00",
               "2026-11-04T10:00:00+00:00", authorised="2026-11-05T09:00:00+00:00")
    ok(client, fid, {"type": "ClosureProposed", "occurred_at": "2026-11-05T10:00:00+00:00", "reason": "step_down"})
    ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": "2026-11-05T11:00:00+00:00"}, MANAGER)


def test_a_step_down_to_universal_services_without_a_handover_meeting_is_flagged(client):
    closing = {"type": "EpisodeClosed", "occurred_at": "2026-11-06T12:00:00+00:00", "reason": "step_down"}
    fam = locality_family(client)
    fid = fam["family_id"]
    step_down_closure(client, fid, fam)
    # The Lead Professional organises 'a case handover meeting' with the receiving service (L618-L622).
    flagged(client, fid, closing, rule="handover-before-step-down-closure", contains="L618")
    # The family is closed all the same.
    assert client.get(f"/families/{fid}/deadlines", headers=AUDITOR).json()["episode_open"] is False

    fam = locality_family(client)
    fid = fam["family_id"]
    step_down_closure(client, fid, fam)
    ok(client, fid, taf(fam, "2026-11-06T10:00:00+00:00", "handover"))
    not_flagged(client, fid, closing)


def test_a_stepped_up_case_closed_before_the_spa_outcome_is_flagged(client):
    closing = {"type": "EpisodeClosed", "occurred_at": "2026-10-22T12:00:00+01:00", "reason": "step_up"}

    def stepped_up() -> str:
        fid = locality_family(client)["family_id"]
        ok(client, fid, {"type": "SteppedUp", "occurred_at": "2026-10-20T10:00:00+01:00",
                         "to_service": "childrens_social_care", "reason": "needs escalated"}, MANAGER)
        ok(client, fid, {"type": "ClosureProposed", "occurred_at": "2026-10-21T10:00:00+01:00", "reason": "step_up"})
        ok(client, fid, {"type": "ClosureAuthorised", "occurred_at": "2026-10-21T11:00:00+01:00"}, MANAGER)
        return fid

    # Not closed to Early Help 'until a SPA Triage outcome is reached' (L625, read as 'stepped up').
    # The first triage of the episode, to early help, is not that outcome.
    fid = stepped_up()
    flagged(client, fid, closing, rule="spa-outcome-before-step-up-closure", contains="L625")

    fid = stepped_up()
    ok(client, fid, {"type": "TriageDecided", "occurred_at": "2026-10-22T10:00:00+01:00", "outcome": "step_up"},
       MANAGER)
    not_flagged(client, fid, closing)
    # A step up is not a planned closure: no Celebrating and Sustaining Change, no follow-up call.
    assert one(deadlines(client, fid, "2026-11-01T12:00:00+00:00"), "follow-up-call")[0] == "not_applicable"


# --- c. and d. no extension and no pause in the seed -------------------------------------------


def test_no_timescale_can_be_extended(client):
    fam = locality_family(client)
    fid = fam["family_id"]
    before = deadlines(client, fid, "2026-10-20T12:00:00+01:00")["c4c"]
    # The seed gives no extension mechanism ('Deliver on the timescales ... for each stage', L567).
    refused(client, fid, {"type": "DeadlineExtended", "rule": "c4c", "extend_by": 5, "reason": "illness"},
            MANAGER, contains="cannot be extended")
    after = deadlines(client, fid, "2026-10-20T12:00:00+01:00")["c4c"]
    # Allocated Monday 5 October 2026: C4C within 15 working days, Monday 26 October (L351-L355).
    assert state_due(after) == state_due(before) == [("open", "2026-10-26")]
    assert after[0]["extended_by"] == 0 and after[0]["extensions"] == []


def test_work_paused_does_not_stop_a_haringey_clock(client):
    fam = locality_family(client)
    fid = fam["family_id"]
    ok(client, fid, {"type": "WorkPaused", "occurred_at": "2026-10-12T10:00:00+01:00", "reason": "section_47"})
    # The seed never stops early help work (not even a step up, L625): the clock runs on.
    assert one(deadlines(client, fid, "2026-10-20T12:00:00+01:00"), "c4c") == ("open", "2026-10-26")
    ok(client, fid, {"type": "WorkResumed", "occurred_at": "2026-10-19T10:00:00+01:00"})
    assert one(deadlines(client, fid, "2026-10-27T12:00:00+00:00"), "c4c") == ("overdue", "2026-10-26")


# --- e. the recording rule -------------------------------------------------------------------------


def test_case_notes_recorded_more_than_3_working_days_late_are_late_entries(client):
    fam = locality_family(client)
    fid = fam["family_id"]
    ava, ben, cara = members(fam)
    phone = {"type": "ContactMade", "method": "phone", "party": "family", "members_present": [cara],
             "children_seen": [], "children_seen_alone": []}
    late = ok(client, fid, {**phone, "occurred_at": "2026-10-29T10:00:00+00:00"})
    in_time = ok(client, fid, {**phone, "occurred_at": "2026-11-20T10:00:00+00:00"})
    now = ok(client, fid, {"type": "CaseNoteRecorded", "text": "Phone call to mother RE: TAF"})
    star = ok(client, fid, document("family-outcome-star", "2026-10-29T11:00:00+00:00"))
    body = client.get(f"/families/{fid}/deadlines", params={"as_of": "2026-11-24T12:00:00+00:00"},
                      headers=PRACTITIONER).json()
    rows = {r["event_id"]: r for r in body["late_entries"]}
    # A call on Thursday 29 October 2026 is entered 'no later than 3 working days': by Tuesday
    # 3 November (L409-L417). Recorded today, 24 November: a late entry.
    assert rows[late["event_id"]]["rule"] == "case-notes-within-3-working-days"
    assert rows[late["event_id"]]["due"] == "2026-11-03"
    assert rows[late["event_id"]]["type"] == "ContactMade"
    # A call on Friday 20 November is due by Wednesday 25 November: in time.
    assert in_time["event_id"] not in rows
    assert now["event_id"] not in rows
    # A document upload is not a case note entry.
    assert star["event_id"] not in rows
    # The allocation of Monday 5 October ('EH case allocated', L517) was entered weeks late too.
    types = sorted(r["type"] for r in body["late_entries"])
    assert types == ["AllocatedToWorker", "ContactMade"]
