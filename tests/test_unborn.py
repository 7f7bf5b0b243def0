"""Children not yet born (issue 21, item 6): a member of kind ``unborn`` with an expected
date and no date of birth, and ``ChildBorn`` when the child is born.

Pre-birth work is early help work: Durham's Pre-Birth Intervention Service works "during
the second stage of pregnancy" (seed 000 L2189) on the "danger to the unborn child (as an
unborn and after birth)" (L2268), and its case clinics select "unborn babies and children
under one" (L1788). Every command here is recorded on Tuesday 24 November 2026 at noon
(``tests/family_builder.py``); the aggregate's rules are tested in plain Python, and one
flow over HTTP.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from aggregates.errors import InvalidCommand, RuleBroken
from aggregates.events import VOCABULARY
from aggregates.wording import TOKEN
from projections.exports import age_in_years
from tests.conftest import MANAGER, PRACTITIONER, SUPERVISOR
from tests.family_builder import MEG, SAM, TODAY, Case, london, referred_case, register
from tests.registration import post_family

DUE = date(2027, 2, 2)
"""Tuesday 2 February 2027: ten weeks after the day every command is recorded."""


def unborn(case: Case, **extra: Any) -> UUID:
    baby = uuid4()
    case.record("MemberAdded", member_id=baby, given_name="Baby", family_name="Stone", kind="unborn",
                expected_date=DUE, **extra)
    return baby


def member(case: Case, member_id: UUID) -> dict[str, Any]:
    return next(m for m in case.state["members"] if m["member_id"] == member_id)


def summary(case: Case, event: Any) -> str:
    values = {name: getattr(event, name) for name in VOCABULARY[event.type].__dataclass_fields__
              if name not in ("timestamp",)}
    text = type(event).summarise(values, case.pack)
    return TOKEN.sub(lambda m: "<member>", text)


# --- an unborn member ------------------------------------------------------------------------------


def test_an_unborn_child_joins_with_an_expected_date_and_no_date_of_birth():
    case = referred_case()
    baby = unborn(case)
    assert {k: member(case, baby)[k] for k in ("kind", "date_of_birth", "expected_date")} == {
        "kind": "unborn", "date_of_birth": None, "expected_date": DUE}
    # The entry never says a child joined: it says an unborn child did, and when it is due.
    assert summary(case, case.event("MemberAdded")) == (
        "<member>, an unborn child (expected 02/02/2027), joined the family record")
    assert baby.hex not in case.family.children(), "an unborn child is no child of the family's per-child rules yet"


def test_a_family_is_registered_with_an_unborn_child():
    baby = uuid4()
    family = register({"member_id": uuid4(), "given_name": "Cara", "family_name": "Stone", "kind": "adult"},
                      {"member_id": baby, "given_name": "Baby", "family_name": "Stone", "kind": "unborn",
                       "expected_date": DUE})
    event = family.pending_events[0]
    text = type(event).summarise({"team": "north", "members": event.members}, Case().pack)  # type: ignore[attr-defined]
    assert TOKEN.sub("<member>", text).endswith(": <member>, <member>, an unborn child (expected 02/02/2027)")


@pytest.mark.parametrize("details, field, says", [
    ({"kind": "unborn", "expected_date": DUE, "date_of_birth": TODAY}, "date_of_birth",
     "an unborn member has no date of birth"),
    ({"kind": "unborn", "expected_date": TODAY + timedelta(weeks=42, days=1)}, "expected_date",
     "more than 42 weeks ahead"),
    ({"kind": "child", "expected_date": DUE}, "expected_date", "expected_date is for an unborn member"),
    ({"kind": "child", "date_of_birth": TODAY + timedelta(days=1)}, "date_of_birth",
     "is in the future: a child not yet born is recorded as kind unborn"),
])
def test_only_what_can_be_is_recorded_of_an_unborn_or_born_child(details, field, says):
    """A date of birth still to come is a child not yet born: recorded as such, not as a
    child born in the future; a due date beyond a pregnancy's 42 weeks is a mistyped year."""
    case = Case()
    case.refused(InvalidCommand, "MemberAdded", member_id=uuid4(), given_name="Baby", family_name="Stone",
                 says=says, field=field, **details)


def test_an_unborn_child_may_join_before_its_due_date_is_known():
    """Refusing is for the impossible: a pregnancy with no due date yet is still recorded."""
    case = Case()
    baby = uuid4()
    case.record("MemberAdded", member_id=baby, given_name="Baby", family_name="Stone", kind="unborn")
    assert member(case, baby)["expected_date"] is None
    assert summary(case, case.event("MemberAdded")) == "<member>, an unborn child, joined the family record"


# --- the birth -------------------------------------------------------------------------------------


def test_a_birth_makes_the_unborn_member_a_child_from_that_day():
    case = referred_case()
    baby = unborn(case)
    born = case.record("ChildBorn", member_id=baby, date_of_birth=date(2026, 11, 20), given_name="Isla",
                       gender="2", at="2026-11-23T10:00+00:00")
    found = member(case, baby)
    assert (found["kind"], found["date_of_birth"], found["given_name"], found["gender"], found["expected_date"]) == (
        "child", date(2026, 11, 20), "Isla", "2", DUE)
    assert baby.hex in case.family.children()
    assert summary(case, born) == "<member> was born on 20/11/2026"
    assert born.personal == ("date_of_birth", "given_name"), "sealed like every date of birth and name"


def test_a_birth_is_recorded_once_of_an_unborn_member():
    case = referred_case()
    baby = unborn(case)
    case.record("ChildBorn", member_id=baby, date_of_birth=date(2026, 11, 20), at="2026-11-23T10:00+00:00")
    case.refused(RuleBroken, "ChildBorn", member_id=baby, date_of_birth=date(2026, 11, 21),
                 says="is recorded as a child (born 20/11/2026), not unborn: a birth is recorded once")
    case.refused(RuleBroken, "ChildBorn", member_id=case.cara, date_of_birth=date(2026, 11, 21),
                 says="is recorded as an adult")
    case.refused(InvalidCommand, "ChildBorn", member_id=uuid4(), date_of_birth=date(2026, 11, 21),
                 says="is not a member of this family", field="member_id")


def test_a_birth_cannot_be_in_the_future_nor_after_the_entry_says_it_happened():
    case = referred_case()
    baby = unborn(case)
    case.refused(InvalidCommand, "ChildBorn", member_id=baby, date_of_birth=TODAY + timedelta(days=1),
                 says="is in the future", field="date_of_birth")
    case.refused(InvalidCommand, "ChildBorn", member_id=baby, date_of_birth=date(2026, 11, 23),
                 at="2026-11-22T10:00+00:00", says="is after the day this entry says", field="date_of_birth")
    assert member(case, baby)["kind"] == "unborn"


def test_a_born_child_joins_the_per_child_rules_on_the_day_of_its_birth():
    """Durham's every-child-seen rule (per child) runs from the lead worker's allocation; an
    unborn child has no clock of it until born, then one from the birth."""
    case = referred_case(pathway="family-hub")
    case.record("AllocatedToWorker", SAM, worker_id="pat", at="2026-10-05T09:00+01:00")
    baby = unborn(case)

    def clocks(member_id: UUID) -> list[dict[str, Any]]:
        return [r for r in case.deadlines()["deadlines"] if r.get("member") == member_id]

    assert clocks(baby) == []
    case.record("ChildBorn", member_id=baby, date_of_birth=date(2026, 11, 20), at="2026-11-20T08:00+00:00")
    found = clocks(baby)
    assert found and {r["reason"] for r in found} == {"child born"}


def test_a_birth_date_is_corrected_to_one_that_can_be():
    case = referred_case()
    baby = unborn(case)
    born = case.record("ChildBorn", member_id=baby, date_of_birth=date(2026, 11, 20), at="2026-11-23T10:00+00:00")
    case.refuses(InvalidCommand, lambda: case.record("EntryCorrected", MEG, corrects=born.event_id,
                                                     changes={"date_of_birth": TODAY + timedelta(days=2)},
                                                     reason="typo"),
                 says="is in the future", field="changes.date_of_birth")
    case.record("EntryCorrected", MEG, corrects=born.event_id, changes={"date_of_birth": date(2026, 11, 19)},
                reason="born the day before")
    assert member(case, baby)["date_of_birth"] == date(2026, 11, 19)


def test_annex_a_gives_an_unborn_child_the_age_minus_one_whatever_the_due_date():
    assert age_in_years(DUE, date(2026, 12, 31), unborn=True) == -1
    assert age_in_years(date(2026, 1, 1), date(2026, 12, 31), unborn=True) == -1, "overdue, not yet recorded born"
    assert age_in_years(date(2026, 11, 20), date(2026, 12, 31)) == 0
    assert age_in_years(None, date(2026, 12, 31)) is None


# --- over HTTP ---------------------------------------------------------------------------------------


def expecting(client: TestClient, registered_at: str) -> tuple[str, str, str]:
    """Cara Stone and her unborn baby (due 1 December 2026) registered over HTTP at
    ``registered_at``: (family id, Cara's member id, the baby's)."""
    r = post_family(client, headers=PRACTITIONER, json={
        "policy": "durham-one-point", "team": "north", "occurred_at": registered_at,
        "members": [{"given_name": "Cara", "family_name": "Stone", "kind": "adult"},
                    {"given_name": "Baby", "family_name": "Stone", "kind": "unborn", "expected_date": "2026-12-01"}]})
    assert r.status_code == 201, r.text
    cara, baby = (m["member_id"] for m in r.json()["members"])
    return r.json()["family_id"], cara, baby


def test_an_unborn_child_is_registered_born_and_read_over_http(client: TestClient):
    """Registered unborn on 2 November, born on the 20th (recorded on the 24th): the family
    shows a child, the chronology says when the unborn child joined and when it was born,
    never that a child joined before birth; a birth date to come is a 422 that records nothing."""
    fid, _, baby = expecting(client, "2026-11-02T09:00:00+00:00")
    wrong = client.post(f"/families/{fid}/commands", headers=PRACTITIONER, json={
        "type": "ChildBorn", "member_id": baby, "date_of_birth": "2026-11-25"})
    assert wrong.status_code == 422 and wrong.headers["content-type"] == "application/problem+json"
    assert "in the future" in wrong.json()["detail"]
    assert client.get(f"/families/{fid}", headers=PRACTITIONER).json()["version"] == 1
    r = client.post(f"/families/{fid}/commands", headers=PRACTITIONER, json={
        "type": "ChildBorn", "member_id": baby, "date_of_birth": "2026-11-20", "given_name": "Isla",
        "occurred_at": "2026-11-20T07:00:00+00:00"})
    assert r.status_code == 201, r.text
    family = client.get(f"/families/{fid}", headers=PRACTITIONER).json()
    isla = next(m for m in family["members"] if m["member_id"] == baby)
    assert (isla["kind"], isla["given_name"], isla["date_of_birth"]) == ("child", "Isla", "2026-11-20")
    entries = client.get(f"/families/{fid}/chronology", headers=MANAGER).json()["entries"]
    said = [e["summary"] for e in entries]
    assert said[0].endswith("Cara Stone, Isla Stone, an unborn child (expected 01/12/2026)"), said
    assert said[1] == "Isla Stone was born on 20/11/2026"
    assert not any("joined" in s and "(child)" in s for s in said)
    found = client.get("/families", headers=SUPERVISOR, params={"name": "isla"}).json()
    assert [f["family_id"] for f in found["families"]] == [fid], "the blind index has the child's new name"
    assert london("2026-11-20T07:00+00:00")  # the birth's own moment orders it in the chronology


@pytest.mark.storage
def test_an_unborn_childs_expected_date_birth_date_and_name_are_sealed_at_rest(client: TestClient, ledger):
    """The expected date, the date of birth and the name given at birth are personal data,
    sealed like every other (ADR 0013): none is in the stored bytes, events or read models."""
    from tests.test_at_rest import _stored_bytes

    r = post_family(client, headers=PRACTITIONER, json={
        "policy": "durham-one-point", "team": "north", "occurred_at": "2026-10-01T09:00:00+00:00",
        "members": [{"given_name": "Marguerite", "family_name": "Quillfeather", "kind": "adult"},
                    {"given_name": "Baby", "family_name": "Quillfeather", "kind": "unborn",
                     "expected_date": "2027-01-13"}]})
    assert r.status_code == 201, r.text
    fid, baby = r.json()["family_id"], r.json()["members"][1]["member_id"]
    r = client.post(f"/families/{fid}/commands", headers=PRACTITIONER, json={
        "type": "ReferralReceived", "route": "professional", "reason": "pre-birth",
        "reason_category": "parenting_family_dynamics", "occurred_at": "2026-10-02T09:00:00+00:00"})
    assert r.status_code == 201, r.text
    r = client.post(f"/families/{fid}/commands", headers=PRACTITIONER, json={
        "type": "ChildBorn", "member_id": baby, "date_of_birth": "2026-11-19", "given_name": "Xanthippe",
        "occurred_at": "2026-11-20T09:00:00+00:00"})
    assert r.status_code == 201, r.text
    found = client.get("/families", headers=SUPERVISOR, params={"name": "xanth"}).json()["families"]
    assert [f["family_id"] for f in found] == [fid]
    stored = _stored_bytes(ledger)
    assert [s for s in (b"Xanthippe", b"Quillfeather", b"2027-01-13", b"13/01/2027", b"2026-11-19", b"19/11/2026")
            if s in stored] == []


def test_a_birth_is_the_childs_in_a_subject_access_export_not_a_parents(client: TestClient):
    """The birth entry holds the child's name and date of birth: a parent's subject access
    export leaves it out (the rights of others), the child's keeps it."""
    fid, cara, baby = expecting(client, "2026-10-01T09:00:00+00:00")
    r = client.post(f"/families/{fid}/commands", headers=PRACTITIONER, json={
        "type": "ChildBorn", "member_id": baby, "date_of_birth": "2026-11-20", "given_name": "Isla",
        "occurred_at": "2026-11-20T09:00:00+00:00"})
    assert r.status_code == 201, r.text

    def types(member_id: str) -> list[str]:
        found = client.get(f"/members/{member_id}/subject-access", headers=MANAGER)
        assert found.status_code == 200, found.text
        return [e["type"] for e in found.json()["events"]]

    assert "ChildBorn" not in types(cara)
    assert "ChildBorn" in types(baby)
