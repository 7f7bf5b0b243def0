"""Corrections, as plain Python (no database, no HTTP: ``tests/family_builder.py``).

Corrections never edit: an ``EntryCorrected`` names the entry it corrects, the new values
and why. A correction is held to every rule the entry it corrects was (product brief,
"Invariants"): it is made by someone who could record that entry, it cannot point an
entry at another thing or move the family, and it must leave every entry of the record
within the rules. Values are given typed, as ``Ledger`` hands them to the aggregate once
the command model has read them (``ledger.commands.corrected_command``)."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from aggregates.errors import InvalidCommand, NotAuthorised, RuleBroken
from tests.family_builder import (
    MAX,
    MEG,
    PAT,
    PIP,
    SAM,
    SOL,
    SUE,
    TODAY,
    Case,
    london,
    person,
    referred_case,
    variant_pack,
)


def corrects(case, event, changes, actor=PAT, *, reason="review", member=None):
    """Correct an entry: the fields as ``Ledger`` hands them to the aggregate, the changes
    already typed (``Ledger._checked_changes``; its own checks are not the aggregate's)."""
    return case.record("EntryCorrected", actor, raw=True, corrects=event.event_id, changes=changes,
                       reason=reason, member=member)


def refused_correction(case, error, event, changes, actor=PAT, *, says, field=None, reason="review", member=None):
    return case.refused(error, "EntryCorrected", actor, raw=True, corrects=event.event_id, changes=changes,
                        reason=reason, member=member, says=says, field=field)


def ifst():
    """A Durham IFST family: consent, an assessment submitted and authorised, and a
    manager's 5 working day extension of the assessment clock."""
    case = referred_case(pathway="intensive-family-support")
    case.consented(at="2026-10-05T09:00:00+01:00")
    case.record("DeadlineExtended", MEG, rule="ifst-assessment", extend_by=5, reason="illness",
                at="2026-10-20T09:00:00+01:00")
    aid = uuid4()
    case.record("AssessmentStarted", assessment_id=aid, at="2026-10-06T09:00:00+01:00")
    case.record("AssessmentSubmitted", assessment_id=aid, at="2026-11-10T09:00:00+00:00")
    case.record("AssessmentAuthorised", MEG, assessment_id=aid, at="2026-11-12T09:00:00+00:00")
    return case


# -- what is corrected ----------------------------------------------------------------------------


def test_a_correction_names_an_entry_of_this_family():
    case = referred_case()
    other = Case().registration
    refused_correction(case, InvalidCommand, other, {"occurred_at": london("2026-10-01T08:00:00+01:00")},
                       says=f"no event {other.event_id} exists on this family", field="corrects")


def test_a_correction_is_not_itself_corrected():
    """Correct the entry it corrects again instead."""
    case = referred_case()
    note = case.record("CaseNoteRecorded", text="Ava worried about dad")
    fix = corrects(case, note, {"text": "Ava worried about her uncle"})
    refused_correction(case, InvalidCommand, fix, {"reason": "again"},
                       says="a EntryCorrected cannot be corrected: correct the entry it corrects again",
                       field="corrects")


def test_a_correction_changes_something_and_says_why():
    case = referred_case()
    note = case.record("CaseNoteRecorded", text="x")
    refused_correction(case, InvalidCommand, note, {},
                       says="changes must name at least one field and its new value", field="changes")
    refused_correction(case, InvalidCommand, note, {"text": "y"}, reason="  ",
                       says="a correction must say why", field="reason")


def test_a_correction_changes_only_fields_the_entry_has():
    case = referred_case()
    referral = case.event("ReferralReceived")
    refused_correction(case, InvalidCommand, referral, {"colour": "red"},
                       says="ReferralReceived has no field colour to correct (correctable: ", field="changes")


def test_what_an_entry_is_about_cannot_be_pointed_elsewhere():
    """An authorisation stays the authorisation of the assessment it authorised."""
    case = ifst()
    authorised = case.event("AssessmentAuthorised")
    refused_correction(case, InvalidCommand, authorised, {"assessment_id": uuid4()}, MEG,
                       says="assessment_id says which thing the entry is about and cannot be corrected",
                       field="changes.assessment_id")


@pytest.mark.parametrize("type_name, name, says", [
    ("FamilyRegistered", "team", "a family moves to another team by TransferredOut"),
    ("FamilyRegistered", "members", "members join by MemberAdded"),
    ("AllocatedToTeam", "team", "a family moves to another team by TransferredOut"),
    ("TransferredOut", "to_team", "a transfer goes to the team it was sent to"),
    ("TransferredIn", "from_team", "the team a transfer came from is the team that held the family"),
])
def test_a_correction_does_not_move_the_family_or_change_who_is_in_it(type_name, name, says):
    case = referred_case()
    case.record("AllocatedToTeam", MEG, team="north")
    case.record("TransferredOut", MEG, to_team="south", reason="moved")
    case.record("TransferredIn", SOL, from_team="north")
    entry = case.event(type_name)
    refused_correction(case, InvalidCommand, entry, {name: "east" if name != "members" else []}, SOL,
                       says=f"{type_name}.{name} cannot be corrected: {says}", field=f"changes.{name}")


def test_a_correction_names_members_of_this_family_only():
    case = referred_case()
    note = case.record("CaseNoteRecorded", text="x")
    stranger = uuid4()
    refused_correction(case, InvalidCommand, note, {"about": [stranger]},
                       says=f"changes.about names people who are not members of this family: {stranger}",
                       field="changes.about")
    corrects(case, note, {"about": [case.ava]})


def test_an_entry_is_not_corrected_to_be_about_someone_not_yet_on_the_record():
    """Dan joined the record after the note was written: the note cannot have been about him."""
    case = referred_case()
    note = case.record("CaseNoteRecorded", text="x")
    dan = uuid4()
    case.record("MemberAdded", member_id=dan, given_name="Dan", family_name="Stone", kind="child")
    refused_correction(case, InvalidCommand, note, {"about": [dan]},
                       says="the corrected CaseNoteRecorded: about names people who are not members of this "
                            "family", field="about")


def test_a_member_added_is_corrected_to_a_date_of_birth_that_can_be():
    case = Case()
    added = case.record("MemberAdded", member_id=uuid4(), given_name="Eve", family_name="Stone", kind="adult")
    for dob, says in [(TODAY + timedelta(days=1), "is in the future"), (date(1850, 1, 1), "is before 1900")]:
        refused_correction(case, InvalidCommand, added, {"date_of_birth": dob}, says=f"changes.date_of_birth "
                           f"{dob.isoformat()} {says}", field="changes.date_of_birth")
    refused_correction(case, InvalidCommand, added, {"kind": "child", "date_of_birth": TODAY + timedelta(weeks=3)},
                       says="is in the future: a child not yet born is recorded as kind unborn",
                       field="changes.date_of_birth")
    corrects(case, added, {"date_of_birth": date(1988, 7, 1)})
    eve = next(m for m in case.state["members"] if m["given_name"] == "Eve")
    assert eve["date_of_birth"] == date(1988, 7, 1)


# -- who corrects --------------------------------------------------------------------------------


def test_a_correction_is_made_by_someone_who_could_record_the_entry():
    """Durham: only a manager extends the assessment clock (seed 000 L507, L689), so only a
    manager corrects an extension."""
    case = ifst()
    extension = case.event("DeadlineExtended")
    refused_correction(case, NotAuthorised, extension, {"extend_by": 10},
                       says="the durham-one-point pack lets a manager extend a deadline, not a practitioner")


def test_a_decision_is_corrected_only_by_its_maker_or_a_manager():
    """An authorisation records someone's decision under authority."""
    case = ifst()
    authorised = case.event("AssessmentAuthorised")
    note = {"context": {"note": "checked"}}
    refused_correction(case, NotAuthorised, authorised, note, SAM,
                       says="AssessmentAuthorised records a decision by meg (manager): only they or a manager "
                            "of team north may correct it")
    corrects(case, authorised, note, MEG)
    corrects(case, authorised, note, MAX)


def test_a_supervisors_own_decision_is_theirs_to_correct():
    case = referred_case()
    supervision = case.record("SupervisionRecorded", SAM, worker_id="pat")
    corrects(case, supervision, {"worker_id": "pip"}, SAM)
    refused_correction(case, NotAuthorised, supervision, {"worker_id": "pat"}, person("sid", "supervisor"),
                       says="SupervisionRecorded records a decision by sam (supervisor): only they or a manager")


def test_a_case_note_is_corrected_by_anyone_of_the_team_that_holds_the_family():
    case = referred_case()
    note = case.record("CaseNoteRecorded", text="x")
    corrects(case, note, {"text": "y"}, PIP)
    refused_correction(case, NotAuthorised, note, {"text": "z"}, SUE, says="held by team north")


# -- the record stays within the rules -----------------------------------------------------------


def test_a_corrected_entry_is_held_to_the_rules_as_if_recorded_so_now():
    """The manager who extended is held to the pack's cap as if extending now (Durham: 17
    working days beyond the 28, seed 000 L507, L689)."""
    case = ifst()
    extension = case.event("DeadlineExtended")
    refused_correction(case, InvalidCommand, extension, {"extend_by": 400}, MEG,
                       says="the corrected DeadlineExtended: rule 'ifst-assessment' may be extended by at most 17",
                       field="changes.extend_by")
    refused_correction(case, InvalidCommand, extension, {"rule": "no-such-rule"}, MEG,
                       says="the corrected DeadlineExtended: the durham-one-point pack has no rule",
                       field="changes.rule")
    refused_correction(case, RuleBroken, extension, {"rule": "ifst-family-network-meeting"}, MEG,
                       says="cannot be extended")
    corrects(case, extension, {"extend_by": 17}, MEG)
    assert case.episode["extensions"] == {"ifst-assessment": 17}


def test_an_authorisation_is_not_back_dated_before_what_it_authorised():
    case = ifst()
    authorised = case.event("AssessmentAuthorised")
    refused_correction(case, RuleBroken, authorised, {"occurred_at": london("2026-11-09T09:00:00+00:00")}, MEG,
                       says="the corrected AssessmentAuthorised: this is stated to have happened on 09 November 2026 "
                            "09:00, before the assessment was submitted on 10 November 2026 09:00")
    corrects(case, authorised, {"occurred_at": london("2026-11-10T09:00:00+00:00")}, MEG)


def test_a_correction_does_not_make_a_later_entry_break_a_rule():
    """Moving the submission after its authorisation would leave an authorisation of an
    assessment not yet submitted."""
    case = ifst()
    submitted = case.event("AssessmentSubmitted")
    refused_correction(case, RuleBroken, submitted, {"occurred_at": london("2026-11-13T09:00:00+00:00")},
                       says="the correction would make later entries break the record's rules: this is stated to "
                            "have happened on 12 November 2026 09:00, before the assessment was submitted on "
                            "13 November 2026 09:00: it cannot have (AssessmentAuthorised of 12 November 2026 09:00)")


def test_consent_is_not_corrected_away_from_under_its_withdrawal():
    case = referred_case()
    given = case.record("ConsentGiven", given_by=case.cara, scope=["support", "information_sharing"])
    case.record("ConsentWithdrawn", given_by=case.cara, scope=["information_sharing"])
    refused_correction(case, RuleBroken, given, {"scope": ["support"]},
                       says="later entries break the record's rules: consent for information_sharing was not "
                            "given, so cannot be withdrawn (ConsentWithdrawn of ")
    corrects(case, given, {"form": "verbal"})


def test_a_correction_is_not_blamed_for_a_rule_the_record_broke_already():
    """An agreement recorded before the pack made the manager's sign-off a refusing rule
    stays on the record; correcting something else about it is allowed."""

    def before_the_rule(raw):
        raw["rules"] = [r for r in raw["rules"] if r["id"] != "closure-authorised-before-agreement"]

    case = referred_case("northamptonshire-0-19", pathway="parenting")
    earlier = variant_pack("northamptonshire-0-19", before_the_rule)
    agreement = case.record("AgreementRecorded", subject="closure", pack=earlier)
    corrects(case, agreement, {"with_team_around_the_family": True})
    case.refused(RuleBroken, "AgreementRecorded", subject="closure", says="ClosureAuthorised must be recorded")


def test_a_correction_changes_what_the_family_is_now():
    """The state is the corrected record: a triage decision's pathway corrected by the
    manager who made it is the episode's pathway."""
    case = referred_case(pathway="family-hub")
    triage = case.event("TriageDecided")
    refused_correction(case, NotAuthorised, triage, {"pathway": "intensive-family-support"}, PAT,
                       says="TriageDecided records a decision by meg (manager)")
    corrects(case, triage, {"pathway": "intensive-family-support"}, MEG)
    assert case.episode["pathway"] == "intensive-family-support"
    assert case.family.pending_events[-1].type == "EntryCorrected" and triage.pathway == "family-hub"


def test_an_entry_is_corrected_to_when_it_happened():
    case = referred_case()
    referral = case.event("ReferralReceived")
    corrects(case, referral, {"occurred_at": london("2026-09-30T16:00:00+01:00")}, reason="date misread")
    assert case.episode["opened_at"] == london("2026-09-30T16:00:00+01:00")


# -- a member's details ------------------------------------------------------------------------------


def test_a_members_details_are_corrected_by_naming_the_member_on_the_entry_that_added_them():
    case = referred_case()
    registration = case.registration
    corrects(case, registration, {"given_name": "Eva"}, member=case.ava)
    assert [m["given_name"] for m in case.state["members"]] == ["Eva", "Ben", "Cara"]


def test_a_member_who_joined_later_is_corrected_on_their_member_added():
    case = referred_case()
    dan = uuid4()
    added = case.record("MemberAdded", member_id=dan, given_name="Dan", family_name="Stone", kind="child")
    corrects(case, added, {"given_name": "Daniel", "gender": "1"}, member=dan)
    daniel = next(m for m in case.state["members"] if m["member_id"] == dan)
    assert daniel["given_name"] == "Daniel" and daniel["gender"] == "1"


def test_a_member_is_named_only_on_a_registration_or_member_added():
    case = referred_case()
    note = case.record("CaseNoteRecorded", text="x")
    refused_correction(case, InvalidCommand, note, {"given_name": "Eva"}, member=case.ava,
                       says="member names whose details are corrected: it goes with a correction of the "
                            "registration or the MemberAdded", field="member")


def test_a_member_is_corrected_on_the_entry_that_put_them_on_the_record():
    case = referred_case()
    added = case.record("MemberAdded", member_id=uuid4(), given_name="Dan", family_name="Stone", kind="child")
    refused_correction(case, InvalidCommand, added, {"given_name": "Eva"}, member=case.ava,
                       says=f"{case.ava} was not put on the record by this MemberAdded", field="member")


def test_only_a_members_details_are_corrected_by_naming_them():
    case = referred_case()
    refused_correction(case, InvalidCommand, case.registration, {"team": "south"}, member=case.ava,
                       says="a member's correctable details are given_name, family_name, date_of_birth, gender, "
                            "ethnicity, kind, expected_date, nhs_number, upn, council_person_id, former_names, "
                            "phone, email, relationship, parental_responsibility, not team", field="changes")


@pytest.mark.parametrize("changes, field, says", [
    ({"given_name": " "}, "changes.given_name", "changes.given_name must not be empty"),
    ({"family_name": ""}, "changes.family_name", "changes.family_name must not be empty"),
    ({"date_of_birth": TODAY + timedelta(days=1)}, "changes.date_of_birth", "is in the future"),
    ({"date_of_birth": date(1899, 12, 31)}, "changes.date_of_birth", "is before 1900"),
])
def test_a_members_corrected_details_are_held_to_the_registration_rules(changes, field, says):
    case = referred_case()
    refused_correction(case, InvalidCommand, case.registration, changes, member=case.cara, says=says, field=field)


def test_a_child_is_corrected_to_unborn_with_an_expected_date_of_delivery_within_42_weeks():
    """A child put on the record as born who is not born yet is corrected to unborn, with
    the expected date and no date of birth (ADR 0032)."""
    case = referred_case()
    refused_correction(case, InvalidCommand, case.registration, {"kind": "unborn"}, member=case.ben,
                       says="an unborn member has no date of birth", field="changes.date_of_birth")
    refused_correction(case, InvalidCommand, case.registration,
                       {"kind": "unborn", "date_of_birth": None, "expected_date": TODAY + timedelta(weeks=42, days=1)},
                       member=case.ben, says="more than 42 weeks ahead", field="changes.expected_date")
    corrects(case, case.registration, {"kind": "unborn", "date_of_birth": None,
                                       "expected_date": TODAY + timedelta(weeks=42)}, member=case.ben)
