"""A pack's ordering rules, as plain Python (no database, no HTTP:
``tests/family_builder.py``). A sign-off that must precede an act refuses the act
(``on_breach = "refuse"``); good practice is recorded and flagged (``on_breach =
"flag"``): the visit happened, so it is on the record, and the breach shows on the
family's deadlines (ADR 0019). The flags are read from the deadline engine run over the
family's events, as the deadlines view reads them."""

from __future__ import annotations

from aggregates.errors import RuleBroken
from tests.family_builder import MEG, PAT, SAM, Case, referred_case

# -- sign-offs that must come first: refused ----------------------------------------------------


def test_northamptonshire_the_manager_agrees_an_extension_before_the_family_does():
    """Seed 002 L157, L307: the team manager agrees any extension in advance, before it is
    agreed with the TAF and family (rule extension-before-family-agreement)."""
    case = referred_case("northamptonshire-0-19", pathway="parenting")
    agreement = {"subject": "extension", "rule": "intervention-duration"}
    problem = case.refused(RuleBroken, "AgreementRecorded", **agreement,
                           says="DeadlineExtended must be recorded")
    assert "rule extension-before-family-agreement" in problem.detail
    assert "002_6924756e8b581caa.txt L157, L307" in problem.detail
    case.record("DeadlineExtended", MEG, rule="intervention-duration", extend_by=4, reason="more time")
    case.record("AgreementRecorded", **agreement)


def test_northamptonshire_the_family_agrees_to_the_extension_the_manager_made():
    """The agreement is about the same rule the manager extended (correlate = rule)."""
    case = referred_case("northamptonshire-0-19", pathway="parenting")
    case.record("DeadlineExtended", MEG, rule="intervention-duration", extend_by=4, reason="more time")
    case.refused(RuleBroken, "AgreementRecorded", subject="extension",
                 says="must be recorded for the same rule before")


def test_a_sign_off_counts_only_if_it_is_stated_to_have_happened_first():
    """A manager's extension recorded now but stated to have happened after the family
    agreed does not come before the agreement (ADR 0019)."""
    case = referred_case("northamptonshire-0-19", pathway="parenting")
    case.record("DeadlineExtended", MEG, rule="intervention-duration", extend_by=4, reason="more time",
                at="2026-10-20T09:00:00+01:00")
    agreement = {"subject": "extension", "rule": "intervention-duration"}
    case.refused(RuleBroken, "AgreementRecorded", **agreement, at="2026-10-20T08:59:00+01:00",
                 says="this is stated to have happened on 20 October 2026 08:59, before what must come first was "
                      "done: ")
    case.record("AgreementRecorded", **agreement, at="2026-10-20T09:00:00+01:00")


def test_a_sign_off_stated_first_counts_whatever_was_recorded_in_between():
    """Entries stated to have happened after the agreement (a note typed up later) do not
    hide a sign-off that came before it."""
    case = referred_case("northamptonshire-0-19", pathway="parenting")
    case.record("DeadlineExtended", MEG, rule="intervention-duration", extend_by=4, reason="more time",
                at="2026-10-20T09:00:00+01:00")
    case.record("CaseNoteRecorded", text="family told", at="2026-10-22T09:00:00+01:00")
    case.record("AgreementRecorded", subject="extension", rule="intervention-duration",
                at="2026-10-21T09:00:00+01:00")


def test_northamptonshire_the_manager_authorises_closure_before_the_family_agrees_it():
    """Seed 002 L80, L309 (rule closure-authorised-before-agreement)."""
    case = referred_case("northamptonshire-0-19", pathway="parenting")
    case.record("ClosureProposed", reason="outcomes_met")
    case.refused(RuleBroken, "AgreementRecorded", subject="closure",
                 says="ClosureAuthorised must be recorded before AgreementRecorded")
    case.record("ClosureAuthorised", MEG)
    case.record("AgreementRecorded", subject="closure")


def test_the_sign_off_must_be_in_this_episode():
    """Ordering rules look at the episode the entry belongs to: an extension agreed in an
    earlier episode is not this one's."""
    case = referred_case("northamptonshire-0-19", pathway="parenting")
    case.record("DeadlineExtended", MEG, rule="intervention-duration", extend_by=4, reason="more time")
    case.closed()
    case.referred()
    case.refused(RuleBroken, "AgreementRecorded", subject="extension", rule="intervention-duration",
                 says="must be recorded")


def test_southampton_a_case_closes_only_with_its_closing_summary_authorised():
    """Seed 004 L251, L282, L283, L415: a closing summary on all cases, authorised by the
    manager, before the case is closed (rule closing-summary-before-closure)."""
    case = referred_case("southampton-0-19", pathway="short-term-support")
    case.record("ClosureProposed", reason="outcomes_met")
    case.record("ClosureAuthorised", MEG)
    problem = case.refused(RuleBroken, "EpisodeClosed", reason="outcomes_met",
                           says="Closing summary authorised by the manager before the case is closed")
    assert "004_d8b75450bec0661a.txt L251, L282, L283, L415" in problem.detail
    case.assessment(kind="early-help-assessment", authorise=True)
    case.refused(RuleBroken, "EpisodeClosed", reason="outcomes_met", says="must be recorded")
    case.assessment(kind="closing-summary", authorise=True)
    case.record("EpisodeClosed", reason="outcomes_met")


def test_southampton_a_case_is_transferred_only_with_its_transfer_summary_authorised():
    """Seed 004 L251, L282 (rule transfer-summary-before-transfer)."""
    case = referred_case("southampton-0-19", pathway="short-term-support")
    case.refused(RuleBroken, "TransferredOut", MEG, to_team="south", reason="moved",
                 says="Transfer summary authorised by the manager before the case is transferred")
    case.assessment(kind="closing-summary", authorise=True, authoriser=SAM)
    case.record("TransferredOut", MEG, to_team="south", reason="moved")


def test_haringey_a_case_closed_as_outcomes_met_needs_its_signed_off_csc():
    """Seed 001 L447-L455, L547: the Authorising Manager signs off the Celebrating and
    Sustaining Change before a case is closed with outcomes met or stepped down (rule
    csc-signed-off-before-closure); other closures do not wait for it."""
    case = referred_case("haringey-early-help", pathway="locality-team")
    case.record("ClosureProposed", reason="outcomes_met")
    case.record("ClosureAuthorised", MEG)
    case.refused(RuleBroken, "EpisodeClosed", reason="outcomes_met",
                 says="Authorising Manager signs off the Celebrating and Sustaining Change")
    case.refused(RuleBroken, "EpisodeClosed", reason="step_down", says="celebrating-and-sustaining-change")
    case.assessment(kind="celebrating-and-sustaining-change", authorise=True)
    case.record("EpisodeClosed", reason="outcomes_met")

    moved = referred_case("haringey-early-help", pathway="locality-team")
    moved.record("ClosureProposed", reason="moved_away")
    moved.record("ClosureAuthorised", MEG)
    moved.record("EpisodeClosed", reason="moved_away")


# -- good practice: recorded and flagged ---------------------------------------------------------


def test_a_home_visit_before_its_risk_assessment_is_recorded_and_flagged():
    """Durham: the Home Visit Risk Assessment (RAPID) before the first home visit (seed
    000 L502-L504, L615, L621, L627). The visit happened: it is recorded, and flagged."""
    case = referred_case(pathway="family-hub")
    version = case.family.version
    visit = case.record("ContactMade", method="visit", party="family", members_present=[case.cara],
                        children_seen=[case.ava], children_seen_alone=[])
    assert case.family.version == version + 1
    assert case.breaches(visit) == ["risk-assessment-before-home-visit"]
    breach = case.breach(visit, "risk-assessment-before-home-visit")
    assert breach["on_breach"] == "flag"
    assert breach["source"]["seed"] == "000_5f8893c51560d94f.txt" and 621 in breach["source"]["lines"]


def test_a_home_visit_after_its_risk_assessment_is_not_flagged():
    case = referred_case(pathway="family-hub")
    case.record("DocumentRecorded", document="home-visit-risk-assessment")
    visit = case.record("ContactMade", method="visit", party="family", members_present=[case.cara],
                        children_seen=[case.ava], children_seen_alone=[])
    assert case.breaches(visit) == []


def test_a_durham_closure_without_the_family_survey_is_recorded_and_flagged():
    """Seed 000 L1673, L1702: the Family Survey offered before the family is closed."""
    case = referred_case(pathway="family-hub").closed()
    closed = case.event("EpisodeClosed")
    assert case.state["status"] == "closed"
    assert "family-survey-before-closure" in case.breaches(closed)


def test_northamptonshire_an_extension_not_discussed_in_supervision_is_recorded_and_flagged():
    """Seed 002 L157: the need to extend is discussed in supervision before the Team
    Manager agrees the extension (rule supervision-before-extension, a flag)."""
    case = referred_case("northamptonshire-0-19", pathway="parenting")
    flagged = case.record("DeadlineExtended", MEG, rule="intervention-duration", extend_by=2, reason="x")
    assert case.breaches(flagged) == ["supervision-before-extension"]
    case.record("SupervisionRecorded", SAM, worker_id="pat")
    discussed = case.record("DeadlineExtended", MEG, rule="intervention-duration", extend_by=2, reason="y")
    assert case.breaches(discussed) == []


def test_southampton_a_closure_letter_before_the_approval_is_recorded_and_flagged():
    """Seed 004 L250, L417, L430: the closure letter goes once the Team Co-ordinator has
    approved the closure (rule closure-approved-before-closure-letter, a flag)."""
    case = referred_case("southampton-0-19", pathway="short-term-support")
    case.record("ClosureProposed", reason="outcomes_met")
    early = case.record("DocumentRecorded", PAT, document="closure-letter")
    assert case.breaches(early) == ["closure-approved-before-closure-letter"]
    case.record("ClosureAuthorised", MEG)
    on_time = case.record("DocumentRecorded", PAT, document="closure-letter")
    assert case.breaches(on_time) == []


def test_a_breach_of_good_practice_by_a_case_with_no_pathway_is_still_recorded():
    """Recording is never held up by a flag rule, whatever the pathway."""
    case = Case().referred()
    visit = case.record("ContactMade", method="unannounced_visit", party="family", members_present=[],
                        children_seen=[], children_seen_alone=[])
    assert visit.type == "ContactMade" and "risk-assessment-before-home-visit" in case.breaches(visit)
