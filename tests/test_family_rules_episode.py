"""The aggregate's rules for the work of an episode, as plain Python (no database, no
HTTP: ``tests/family_builder.py``): an episode opens with a referral and nothing but
reopening follows its closure; what an entry names must exist on the family; an act
cannot have happened before what it acts on; consent, assessments, plans, pauses,
extensions and closure go in the order the record can hold."""

from __future__ import annotations

from uuid import uuid4

import pytest

from aggregates.errors import InvalidCommand, RuleBroken
from tests.family_builder import MAX, MEG, PAT, SAM, Case, referred_case

# -- the episode --------------------------------------------------------------------------------


def test_work_needs_an_open_episode_so_a_referral_comes_first():
    case = Case()
    case.refused(RuleBroken, "CaseNoteRecorded", text="first contact",
                 says="CaseNoteRecorded needs an open episode: record ReferralReceived first")
    case.referred()
    case.record("CaseNoteRecorded", text="first contact")
    assert case.state["status"] == "open"


def test_a_document_may_be_recorded_outside_an_episode():
    """A document may be sent when no episode is open (seed 000 L1714: the standard
    closure letter follows the manager's sign-off)."""
    case = Case()
    case.record("DocumentRecorded", document="closure-letter")
    case.referred().closed()
    case.record("DocumentRecorded", document="closure-letter")


def test_nothing_but_reopening_follows_closure():
    case = referred_case()
    case.record("ClosureProposed", reason="outcomes_met", at="2026-10-05T09:00:00+01:00")
    case.record("ClosureAuthorised", MEG, at="2026-10-05T10:00:00+01:00")
    case.record("EpisodeClosed", reason="outcomes_met", at="2026-10-05T11:00:00+01:00")
    case.refused(RuleBroken, "CaseNoteRecorded", text="late note",
                 says="the episode was closed on 05 October 2026: nothing but EpisodeReopened (or a new "
                      "ReferralReceived) may follow")
    case.refused(RuleBroken, "ContactAttempted", method="phone", party="family", outcome="no_answer",
                 says="EpisodeReopened")
    case.record("EpisodeReopened", reason="new concern", at="2026-10-06T09:00:00+01:00")
    case.record("CaseNoteRecorded", text="after reopening")
    assert case.state["status"] == "open" and len(case.state["episodes"]) == 1


def test_a_re_referral_after_closure_opens_a_second_episode():
    case = referred_case().closed()
    case.record("ReferralReceived", route="self", reason="again")
    assert case.state["status"] == "open" and len(case.state["episodes"]) == 2


def test_a_second_referral_during_an_episode_joins_it():
    case = referred_case()
    case.record("ReferralReceived", route="self", reason="school again")
    assert len(case.state["episodes"]) == 1 and len(case.episode["referrals"]) == 2


def test_an_episode_id_is_used_once():
    case = Case()
    episode_id = uuid4()
    case.record("ReferralReceived", episode_id=episode_id, route="self", reason="help")
    case.closed()
    case.refused(InvalidCommand, "ReferralReceived", episode_id=episode_id, route="self", reason="again",
                 says="episode_id already used on this family", field="episode_id")


def test_only_a_closed_episode_is_reopened():
    case = Case()
    case.refused(RuleBroken, "EpisodeReopened", reason="x", says="only a closed episode can be reopened")
    case.referred()
    case.refused(RuleBroken, "EpisodeReopened", reason="x", says="only a closed episode can be reopened")


def test_an_episode_is_not_reopened_before_it_was_closed():
    case = referred_case()
    case.record("ClosureProposed", reason="outcomes_met")
    case.record("ClosureAuthorised", MEG)
    case.record("EpisodeClosed", reason="outcomes_met", at="2026-10-10T12:00:00+01:00")
    case.refused(RuleBroken, "EpisodeReopened", reason="x", at="2026-10-10T11:59:00+01:00",
                 says="before the episode was closed on 10 October 2026 12:00: it cannot have")
    case.record("EpisodeReopened", reason="x", at="2026-10-10T12:00:00+01:00")


def test_a_follow_up_needs_an_episode_to_follow_up():
    """Seed 001 L462-L500: the follow-up call three months after closure."""
    case = Case()
    case.refused(RuleBroken, "FollowUpCompleted", method="phone", says="there is no episode to follow up")
    case.referred().closed()
    case.record("FollowUpCompleted", method="phone", outcome="doing well")


# -- closure ------------------------------------------------------------------------------------


def test_closure_is_proposed_then_authorised_then_the_episode_closed():
    """Seed 000 L1692-L1706: closure proposed, the manager signs it off, the case closes."""
    case = referred_case()
    case.refused(RuleBroken, "ClosureAuthorised", MEG,
                 says="closure must be proposed (ClosureProposed) before it is authorised")
    case.refused(RuleBroken, "EpisodeClosed", reason="outcomes_met",
                 says="an episode is closed only after its closure is proposed and authorised")
    case.record("ClosureProposed", reason="outcomes_met")
    case.refused(RuleBroken, "EpisodeClosed", reason="outcomes_met",
                 says="an episode is closed only after its closure is proposed and authorised")
    case.record("ClosureAuthorised", MEG)
    case.refused(RuleBroken, "ClosureAuthorised", MAX, says="the proposed closure is already authorised")
    case.record("EpisodeClosed", reason="outcomes_met")
    assert case.state["status"] == "closed" and case.state["episodes"][0]["close_reason"] == "outcomes_met"


def test_closure_is_not_authorised_before_it_was_proposed():
    case = referred_case()
    case.record("ClosureProposed", reason="outcomes_met", at="2026-10-10T12:00:00+01:00")
    case.refused(RuleBroken, "ClosureAuthorised", MEG, at="2026-10-10T11:00:00+01:00",
                 says="before closure was proposed on 10 October 2026 12:00: it cannot have")
    case.record("ClosureAuthorised", MEG, at="2026-10-10T12:00:00+01:00")


def test_an_episode_is_not_closed_before_its_closure_was_authorised():
    case = referred_case()
    case.record("ClosureProposed", reason="outcomes_met", at="2026-10-10T12:00:00+01:00")
    case.record("ClosureAuthorised", MEG, at="2026-10-12T12:00:00+01:00")
    case.refused(RuleBroken, "EpisodeClosed", reason="outcomes_met", at="2026-10-11T12:00:00+01:00",
                 says="before its closure was authorised on 12 October 2026 12:00: it cannot have")
    case.record("EpisodeClosed", reason="outcomes_met", at="2026-10-12T12:00:00+01:00")


# -- who an entry names -------------------------------------------------------------------------


def test_an_entry_is_about_members_of_this_family_only():
    """A child-specific entry names only that child (seed 000 L1417)."""
    case = referred_case()
    stranger = uuid4()
    case.refused(InvalidCommand, "CaseNoteRecorded", text="x", about=[stranger],
                 says=f"about names people who are not members of this family: {stranger}", field="about")
    case.record("CaseNoteRecorded", text="x", about=[case.ava])


def test_children_seen_are_this_familys_children():
    """Seed 000 L508, L1348: which children were seen, and seen alone."""
    case = referred_case()
    visit = {"method": "visit", "party": "family"}
    stranger = uuid4()
    case.refused(InvalidCommand, "ContactMade", **visit, members_present=[stranger], children_seen=[],
                 children_seen_alone=[], says="members_present names people who are not members",
                 field="members_present")
    case.refused(InvalidCommand, "ContactMade", **visit, members_present=[case.cara], children_seen=[stranger],
                 children_seen_alone=[], says="children_seen names people who are not members",
                 field="children_seen")
    case.refused(InvalidCommand, "ContactMade", **visit, members_present=[case.cara], children_seen=[case.cara],
                 children_seen_alone=[], says=f"children_seen must list children only: {case.cara}",
                 field="children_seen")
    case.refused(InvalidCommand, "ContactMade", **visit, members_present=[case.cara], children_seen=[case.ava],
                 children_seen_alone=[case.cara], says="children_seen_alone must list children only",
                 field="children_seen_alone")
    case.refused(InvalidCommand, "ContactMade", **visit, members_present=[case.cara], children_seen=[case.ava],
                 children_seen_alone=[case.ben],
                 says=f"children_seen_alone must also be in children_seen: {case.ben}", field="children_seen_alone")
    case.record("ContactMade", **visit, members_present=[case.cara, case.ava, case.ben],
                children_seen=[case.ava, case.ben], children_seen_alone=[case.ava])


def test_a_meeting_names_members_of_this_family_only():
    case = referred_case()
    case.refused(InvalidCommand, "MeetingHeld", meeting_kind="team_around_the_family", attendees=["school"],
                 members_present=[uuid4()], says="members_present names people who are not members",
                 field="members_present")
    case.record("MeetingHeld", meeting_kind="team_around_the_family", attendees=["school"],
                members_present=[case.cara])


@pytest.mark.parametrize("type_name, fields, field, says", [
    ("TriageDecided", {"outcome": "early_help", "pathway": "made-up"}, "pathway",
     "pathway 'made-up' is not one of the durham-one-point pack's pathways: intensive-family-support, family-hub"),
    ("AssessmentStarted", {"assessment_kind": "horoscope"}, "assessment_kind",
     "assessment_kind 'horoscope' is not one of the durham-one-point pack's assessment kinds"),
    ("DocumentRecorded", {"document": "napkin"}, "document",
     "document 'napkin' is not one of the durham-one-point pack's documents"),
    ("AgreementRecorded", {"subject": "extension", "rule": "no-such-rule"}, "rule",
     "the durham-one-point pack has no rule 'no-such-rule'"),
])
def test_a_packs_own_terms_are_the_only_ones_it_takes(type_name, fields, field, says):
    """Pathways, assessment kinds, documents and rules are each pack's own vocabulary."""
    case = referred_case()
    case.refused(InvalidCommand, type_name, MEG, says=says, field=field, **fields)


def test_southampton_takes_its_own_documents_and_assessment_kinds_not_another_packs():
    case = referred_case("southampton-0-19")
    case.refused(InvalidCommand, "DocumentRecorded", document="outcome-star", field="document",
                 says="document 'outcome-star' is not one of the southampton-0-19 pack's documents: ")
    case.refused(InvalidCommand, "AssessmentStarted", assessment_kind="cin-plan", field="assessment_kind",
                 says="assessment_kind 'cin-plan' is not one of the southampton-0-19 pack's assessment kinds: "
                      "early-help-assessment, closing-summary")
    case.record("DocumentRecorded", document="keep-going-plan-review")


# -- consent ------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", ["ConsentGiven", "ConsentRefused", "ConsentWithdrawn"])
def test_consent_is_a_members_and_for_something(type_name):
    """Consent, who gave it and for what (seed 000 L617, L637)."""
    case = referred_case()
    stranger = uuid4()
    case.refused(InvalidCommand, type_name, given_by=stranger, scope=["support"],
                 says=f"given_by names people who are not members of this family: {stranger}", field="given_by")
    case.refused(InvalidCommand, type_name, given_by=case.cara, scope=[],
                 says="scope must name at least one of support, information_sharing", field="scope")


def test_only_consent_given_can_be_withdrawn():
    case = referred_case()
    case.refused(RuleBroken, "ConsentWithdrawn", given_by=case.cara, scope=["support"],
                 says="consent for support was not given, so cannot be withdrawn")
    case.record("ConsentRefused", given_by=case.cara, scope=["information_sharing"])
    case.record("ConsentGiven", given_by=case.cara, scope=["support"])
    case.refused(RuleBroken, "ConsentWithdrawn", given_by=case.cara, scope=["support", "information_sharing"],
                 says="consent for information_sharing was not given")
    case.record("ConsentWithdrawn", given_by=case.cara, scope=["support"])
    assert case.episode["consent"] == {"information_sharing": "refused", "support": "withdrawn"}


# -- assessments --------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name, actor, extra", [
    ("AssessmentSubmitted", PAT, {}),
    ("AssessmentReturned", MEG, {"reason": "more work"}),
    ("AssessmentAuthorised", MEG, {}),
])
def test_an_assessment_acted_on_was_started_in_this_episode(type_name, actor, extra):
    case = referred_case()
    aid = uuid4()
    case.refused(InvalidCommand, type_name, actor, assessment_id=aid, **extra,
                 says=f"no assessment {aid} has been started in this episode", field="assessment_id")


def test_an_assessment_of_an_earlier_episode_is_not_this_ones():
    case = referred_case()
    aid = case.assessment(submit=False)
    case.closed()
    case.referred()
    case.refused(InvalidCommand, "AssessmentSubmitted", assessment_id=aid,
                 says="has been started in this episode", field="assessment_id")


def test_an_assessment_id_is_used_once_in_an_episode():
    case = referred_case()
    aid = case.assessment(submit=False)
    case.refused(InvalidCommand, "AssessmentStarted", assessment_id=aid,
                 says="assessment_id already used in this episode", field="assessment_id")


def test_an_assessment_is_submitted_when_started_or_returned():
    """Submitted to the manager for QA (seed 000 L645); returned for more work and
    submitted again (seed 000 L876-L883)."""
    case = referred_case()
    aid = case.assessment()
    case.refused(RuleBroken, "AssessmentSubmitted", assessment_id=aid,
                 says="the assessment is submitted; only a started or returned assessment can be submitted")
    case.record("AssessmentReturned", MEG, assessment_id=aid, reason="more on dad")
    case.record("AssessmentSubmitted", assessment_id=aid)
    case.record("AssessmentAuthorised", MEG, assessment_id=aid)
    case.refused(RuleBroken, "AssessmentSubmitted", assessment_id=aid,
                 says="the assessment is authorised; only a started or returned assessment can be submitted")


def test_an_assessment_is_not_submitted_before_it_was_started():
    case = referred_case()
    aid = uuid4()
    case.record("AssessmentStarted", assessment_id=aid, at="2026-10-06T09:00:00+01:00")
    case.refused(RuleBroken, "AssessmentSubmitted", assessment_id=aid, at="2026-10-06T08:00:00+01:00",
                 says="before the assessment was started on 06 October 2026 09:00: it cannot have")
    case.record("AssessmentSubmitted", assessment_id=aid, at="2026-10-06T09:00:00+01:00")


def test_only_a_submitted_assessment_is_returned():
    """Returned by the manager for more work (seed 000 L876-L883)."""
    case = referred_case()
    aid = case.assessment(submit=False)
    case.refused(RuleBroken, "AssessmentReturned", MEG, assessment_id=aid, reason="x",
                 says="the assessment is started; only a submitted assessment can be returned")


def test_an_assessment_is_not_returned_before_it_was_submitted():
    case = referred_case()
    aid = case.assessment(submit=False)
    case.record("AssessmentSubmitted", assessment_id=aid, at="2026-11-10T09:00:00+00:00")
    case.refused(RuleBroken, "AssessmentReturned", MEG, assessment_id=aid, reason="x",
                 at="2026-11-09T09:00:00+00:00", says="before the assessment was submitted on 10 November 2026 09:00")


def test_an_assessment_is_authorised_only_once_submitted():
    """The product brief's invariant: an assessment cannot be authorised before it is submitted."""
    case = referred_case()
    aid = case.assessment(submit=False)
    case.refused(RuleBroken, "AssessmentAuthorised", MEG, assessment_id=aid,
                 says="the assessment is started; it must be submitted before it is authorised")
    case.record("AssessmentSubmitted", assessment_id=aid)
    case.record("AssessmentAuthorised", MEG, assessment_id=aid)
    case.refused(RuleBroken, "AssessmentAuthorised", MAX, assessment_id=aid,
                 says="the assessment is authorised; it must be submitted before it is authorised")


def test_no_one_authorises_their_own_assessment():
    """The product brief's invariant: no authorising one's own submission (the manager's QA,
    seed 000 L645, is of someone else's work)."""
    case = referred_case()
    aid = case.assessment(by=MEG)
    case.refused(RuleBroken, "AssessmentAuthorised", MEG, assessment_id=aid,
                 says="an assessment may not be authorised by the person who submitted it")
    case.record("AssessmentAuthorised", MAX, assessment_id=aid)


def test_an_assessment_is_not_authorised_before_it_was_submitted():
    case = referred_case()
    aid = case.assessment(submit=False)
    case.record("AssessmentSubmitted", assessment_id=aid, at="2026-11-10T09:00:00+00:00")
    case.refused(RuleBroken, "AssessmentAuthorised", MEG, assessment_id=aid, at="2026-11-10T08:59:59+00:00",
                 says="before the assessment was submitted on 10 November 2026 09:00: it cannot have")
    case.record("AssessmentAuthorised", MEG, assessment_id=aid, at="2026-11-10T09:00:00+00:00")


# -- plans --------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name, actor, extra", [
    ("PlanAuthorised", MEG, {}),
    ("PlanShared", PAT, {"shared_with": ["school"]}),
])
def test_a_plan_acted_on_was_agreed_in_this_episode(type_name, actor, extra):
    case = referred_case()
    pid = uuid4()
    case.refused(InvalidCommand, type_name, actor, plan_id=pid, **extra,
                 says=f"no plan {pid} has been agreed in this episode", field="plan_id")


def test_a_plan_id_is_used_once_in_an_episode():
    case = referred_case()
    pid = case.plan()
    case.refused(InvalidCommand, "PlanAgreed", plan_id=pid, outcomes=["x"],
                 says="plan_id already used in this episode", field="plan_id")


def test_a_plan_is_authorised_once():
    """Manager review and sign-off of the plan (seed 002 L59, L289)."""
    case = referred_case()
    pid = case.plan(authorise=True)
    case.refused(RuleBroken, "PlanAuthorised", MAX, plan_id=pid, says="the plan is already authorised")


def test_a_plan_is_not_authorised_or_shared_before_it_was_agreed():
    case = referred_case()
    pid = uuid4()
    case.record("PlanAgreed", plan_id=pid, outcomes=["x"], at="2026-10-20T10:00:00+01:00")
    case.refused(RuleBroken, "PlanAuthorised", MEG, plan_id=pid, at="2026-10-19T10:00:00+01:00",
                 says="before the plan was agreed on 20 October 2026 10:00: it cannot have")
    case.refused(RuleBroken, "PlanShared", plan_id=pid, shared_with=["school"], at="2026-10-19T10:00:00+01:00",
                 says="before the plan was agreed on 20 October 2026 10:00: it cannot have")
    case.record("PlanAuthorised", MEG, plan_id=pid, at="2026-10-20T10:00:00+01:00")
    case.record("PlanShared", plan_id=pid, shared_with=["school"], at="2026-10-20T10:00:00+01:00")


def test_a_plan_is_shared_with_someone():
    """Plan circulated to the family and TAF members (seed 000 L1293)."""
    case = referred_case()
    pid = case.plan()
    case.refused(InvalidCommand, "PlanShared", plan_id=pid, shared_with=[],
                 says="shared_with must name who the plan was shared with", field="shared_with")
    case.record("PlanShared", plan_id=pid, shared_with=["family", "school"])
    assert case.episode["plans"][0]["shared_with"] == ["family", "school"]


# -- pauses -------------------------------------------------------------------------------------


def test_work_is_paused_and_resumed_in_turn():
    """Early help work stops, e.g. during a Section 47 enquiry (seed 002), and resumes."""
    case = referred_case()
    case.refused(RuleBroken, "WorkResumed", says="work is not paused")
    case.record("WorkPaused", reason="section_47", at="2026-10-20T10:00:00+01:00")
    case.refused(RuleBroken, "WorkPaused", reason="family_request", says="work is already paused")
    case.refused(RuleBroken, "WorkResumed", at="2026-10-20T09:00:00+01:00",
                 says="before work was paused on 20 October 2026 10:00: it cannot have")
    case.record("WorkResumed", at="2026-10-20T10:00:00+01:00")
    assert case.episode["paused"] is False


# -- extensions ---------------------------------------------------------------------------------


def test_an_extension_names_a_rule_of_the_pack():
    case = referred_case(pathway="intensive-family-support")
    case.refused(InvalidCommand, "DeadlineExtended", MEG, rule="no-such-rule", extend_by=5, reason="x",
                 says="the durham-one-point pack has no rule 'no-such-rule'", field="rule")


@pytest.mark.parametrize("pack_id, rule, title", [
    ("durham-one-point", "ifst-family-network-meeting",
     "Family Network Meeting held within the 28 working day assessment period"),
    # The seed gives no extension mechanism (seed 001 L567).
    ("haringey-early-help", "c4c", None),
    # The seed allows no extension of the EHA timescales (seed 004 L95, L215).
    ("southampton-0-19", "eha-completed", None),
])
def test_only_a_rule_the_pack_lets_be_extended_is_extended(pack_id, rule, title):
    case = referred_case(pack_id)
    title = title or case.pack.rule(rule).title
    case.refused(RuleBroken, "DeadlineExtended", MEG, rule=rule, extend_by=5, reason="x",
                 says=f"rule {rule!r} ({title}) cannot be extended under the {pack_id} pack")


@pytest.mark.parametrize("extend_by", [0, -3])
def test_an_extension_is_a_positive_number_of_the_rules_units(extend_by):
    case = referred_case(pathway="intensive-family-support")
    case.refused(InvalidCommand, "DeadlineExtended", MEG, rule="ifst-assessment", extend_by=extend_by, reason="x",
                 says="extend_by must be a positive number of the rule's units", field="extend_by")


def test_an_assessment_clock_is_extended_up_to_the_packs_cap_and_no_further():
    """Durham: the 28 working day assessment may be extended by the manager, up to 45
    working days in all (seed 000 L507, L685, L689). One extension past the cap is a
    number that cannot be; one that only the extensions already granted push past it
    breaks the rule."""
    case = referred_case(pathway="intensive-family-support")
    body = {"rule": "ifst-assessment", "reason": "illness"}
    case.refused(InvalidCommand, "DeadlineExtended", MEG, extend_by=18, **body,
                 says="rule 'ifst-assessment' may be extended by at most 17 working_days in all (to 45); "
                      "extend_by is 18", field="extend_by")
    case.record("DeadlineExtended", MEG, extend_by=10, **body)
    case.refused(RuleBroken, "DeadlineExtended", MEG, extend_by=8, **body,
                 says="rule 'ifst-assessment' may be extended to at most 45 working_days; this would make it 46")
    case.record("DeadlineExtended", MEG, extend_by=7, **body)
    assert case.episode["extensions"] == {"ifst-assessment": 17}


def test_the_whole_extension_may_be_granted_at_once():
    case = referred_case(pathway="intensive-family-support")
    case.record("DeadlineExtended", MEG, rule="ifst-assessment", extend_by=17, reason="illness")
    case.refused(RuleBroken, "DeadlineExtended", MEG, rule="ifst-assessment", extend_by=1, reason="more",
                 says="this would make it 46")


def test_extensions_count_per_episode():
    case = referred_case(pathway="intensive-family-support")
    case.record("DeadlineExtended", MEG, rule="ifst-assessment", extend_by=17, reason="illness")
    case.closed()
    case.referred()
    case.record("DeadlineExtended", MEG, rule="ifst-assessment", extend_by=17, reason="illness again")


def test_a_supervisor_oversees_and_a_manager_extends_under_durham():
    case = referred_case(pathway="intensive-family-support")
    case.record("SupervisionRecorded", SAM, worker_id="pat")
    case.record("DeadlineExtended", MEG, rule="ifst-assessment", extend_by=5, reason="illness")
