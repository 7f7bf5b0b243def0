"""The aggregate's rules for registering a family, its members, unknown commands and
erasure, as plain Python: a ``Family`` and a loaded pack, no database, no HTTP
(``tests/family_builder.py``). Dates of birth are judged against the day the ledger's
clock says (the envelope's ``timestamp``): fixed here at 24 November 2026."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from uuid import uuid4

import pytest

from aggregates.errors import InvalidCommand, NotAuthorised, RuleBroken
from tests.family_builder import (
    MEG,
    PAT,
    SOL,
    SUE,
    TODAY,
    Case,
    referred_case,
    register,
)

WEEKS_42 = timedelta(weeks=42)


def _member(**overrides):
    return {"member_id": uuid4(), "given_name": "Dan", "family_name": "Stone", "kind": "child", **overrides}


def _register(*members, team="north", actor=PAT):
    return register(*members, team=team, actor=actor)


# -- registration --------------------------------------------------------------------------------


def test_a_family_is_registered_with_its_members_and_pack():
    case = Case()
    state = case.state
    assert state["version"] == 1 and state["team"] == "north" and state["status"] == "no_episode"
    assert state["policy"] == "durham-one-point" and state["policy_version"] == case.pack.version
    assert [m["given_name"] for m in state["members"]] == ["Ava", "Ben", "Cara"]
    assert [e.type for e in case.family.pending_events] == ["FamilyRegistered"]


def test_a_family_is_registered_for_a_named_team():
    with pytest.raises(InvalidCommand) as caught:
        _register(_member(), team="  ")
    assert caught.value.field == "team" and "team must not be empty" in caught.value.detail


def test_a_family_is_registered_by_its_own_team():
    """A member of team south cannot put a family on team north's caseload."""
    with pytest.raises(NotAuthorised) as caught:
        _register(_member(), team="north", actor=SUE)
    assert "a member of team south registers families for team south, not north" in caught.value.detail
    assert _register(_member(), team="south", actor=SOL).team == "south"


@pytest.mark.parametrize("name", ["given_name", "family_name"])
def test_every_member_has_a_given_and_a_family_name(name):
    with pytest.raises(InvalidCommand) as caught:
        _register(_member(**{name: "   "}))
    assert caught.value.field == name and f"{name} must not be empty" in caught.value.detail


def test_a_member_may_be_registered_without_a_date_of_birth():
    family = _register(_member(), _member(kind="adult", given_name="Eve"))
    assert [m.get("date_of_birth") for m in family.state()["members"]] == [None, None]


def test_an_expected_baby_is_registered_unborn_up_to_42_weeks_ahead_and_no_further():
    """An unborn child goes on the record as unborn with its expected date of delivery (ADR
    0032; it was a child with a date of birth to come); a pregnancy lasts at most about 42
    weeks, so a later date is a mistyped year. A child's date of birth is never to come."""
    assert _register(_member(kind="unborn", expected_date=TODAY + WEEKS_42)).version == 1
    with pytest.raises(InvalidCommand) as caught:
        _register(_member(kind="unborn", expected_date=TODAY + WEEKS_42 + timedelta(days=1)))
    assert caught.value.field == "expected_date" and "more than 42 weeks ahead" in caught.value.detail
    with pytest.raises(InvalidCommand) as caught:
        _register(_member(date_of_birth=TODAY + timedelta(days=1)))
    assert caught.value.field == "date_of_birth" and "is in the future" in caught.value.detail


def test_an_adult_is_born_by_today():
    assert _register(_member(kind="adult", date_of_birth=TODAY)).version == 1
    with pytest.raises(InvalidCommand) as caught:
        _register(_member(kind="adult", date_of_birth=TODAY + timedelta(days=1)))
    assert caught.value.field == "date_of_birth" and "is in the future" in caught.value.detail


def test_no_one_on_the_record_was_born_before_1900():
    """A birth before 1900 is a mistyped year (0001, 1800)."""
    assert _register(_member(kind="adult", date_of_birth=date(1900, 1, 1))).version == 1
    with pytest.raises(InvalidCommand) as caught:
        _register(_member(kind="adult", date_of_birth=date(1899, 12, 31)))
    assert caught.value.field == "date_of_birth" and "1899-12-31 is before 1900" in caught.value.detail


# -- members joining later ------------------------------------------------------------------------


def test_a_member_joins_by_member_added_even_before_a_referral():
    """Seed 000 L509: every member of the household is on the record; a baby may be born."""
    case = Case()
    dan = uuid4()
    case.record("MemberAdded", member_id=dan, given_name="Dan", family_name="Stone", kind="child",
                date_of_birth=TODAY)
    assert dan in [m["member_id"] for m in case.state["members"]]


def test_a_member_is_added_once():
    case = Case()
    case.refused(InvalidCommand, "MemberAdded", member_id=case.ava, given_name="Ava", family_name="Stone",
                 kind="child", says="already exists", field="member_id")


@pytest.mark.parametrize("details, field, says", [
    ({"kind": "adult", "date_of_birth": TODAY + timedelta(days=1)}, "date_of_birth", "is in the future"),
    ({"kind": "child", "date_of_birth": TODAY + timedelta(days=1)}, "date_of_birth", "is in the future"),
    ({"kind": "unborn", "expected_date": TODAY + WEEKS_42 + timedelta(days=1)}, "expected_date", "42 weeks"),
    ({"kind": "child", "date_of_birth": date(1899, 12, 31)}, "date_of_birth", "before 1900"),
    ({"kind": "child", "given_name": " "}, "given_name", "given_name must not be empty"),
    ({"kind": "child", "family_name": ""}, "family_name", "family_name must not be empty"),
])
def test_a_member_added_is_held_to_the_registration_rules(details, field, says):
    case = Case()
    fields = {"member_id": uuid4(), "given_name": "Dan", "family_name": "Stone", **details}
    case.refused(InvalidCommand, "MemberAdded", says=says, field=field, **fields)


def test_a_member_may_join_after_the_episode_is_closed():
    case = referred_case().closed()
    case.record("MemberAdded", member_id=uuid4(), given_name="Dan", family_name="Stone", kind="child")
    assert len(case.state["members"]) == 4


# -- what can be recorded at all ----------------------------------------------------------------


@pytest.mark.parametrize("type_name", ["Teleported", "FamilyRegistered", "PersonalDataErased"])
def test_only_the_vocabularys_commands_are_recorded(type_name):
    """Registration and erasure have their own way in; anything else is not a word of the
    ledger's vocabulary."""
    case = referred_case()
    case.refused(InvalidCommand, type_name, says=f"unknown command type {type_name!r}", field="type")


# -- erasure ------------------------------------------------------------------------------------


def test_personal_data_is_erased_only_once_the_episode_is_closed():
    case = referred_case()
    case.refuses(RuleBroken, case.erase, says="the family has an open episode: close it before its personal "
                                             "data is erased")
    case.closed()
    event = case.erase()
    assert event.type == "PersonalDataErased" and case.family.version == event.originator_version


def test_a_family_with_no_episode_may_be_erased():
    case = Case()
    assert case.erase().type == "PersonalDataErased"


def test_nothing_more_is_recorded_for_an_erased_family():
    case = Case()
    case.erase()
    case.refused(RuleBroken, "ReferralReceived", route="self", reason="again",
                 says="the family's personal data was erased on 24 November 2026 (erasure-request): "
                      "nothing more can be recorded for it")
    case.refused(RuleBroken, "EntryCorrected", MEG, corrects=case.registration.event_id,
                 changes={"given_name": "Eva"}, member=case.ava, reason="typo", says="was erased")
    case.refuses(RuleBroken, case.erase, says="was erased on 24 November 2026")


# -- reading the record -------------------------------------------------------------------------


def test_the_record_answers_who_its_children_are_and_what_put_them_there():
    case = referred_case()
    dan = uuid4()
    added = case.record("MemberAdded", member_id=dan, given_name="Dan", family_name="Stone", kind="child")
    assert {m["given_name"] for m in case.family.children().values()} == {"Ava", "Ben", "Dan"}
    assert case.family.member_added_by(case.ava) == case.registration.event_id
    assert case.family.member_added_by(dan) == added.event_id
    assert case.family.member_added_by(uuid4()) is None
    assert case.family.type_of(added.event_id) == "MemberAdded"
    assert case.family.type_of(uuid4()) is None


def test_a_copy_of_the_family_records_without_changing_the_original():
    """The ledger's family cache hands each command its own copy (``copy.deepcopy``)."""
    case = referred_case(pathway="intensive-family-support")
    case.consented()
    original = case.snapshot()
    copied = copy.deepcopy(case.family)
    copied.record("CaseNoteRecorded", {"text": "on the copy", "contact_type": None}, case.envelope(PAT),
                  case.pack)
    copied.record("WorkPaused", {"reason": "section_47", "note": ""}, case.envelope(PAT), case.pack)
    assert case.snapshot() == original
    assert copied.version == case.family.version + 2 and copied.state()["current_episode"]["paused"] is True
