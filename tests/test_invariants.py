"""Every invariant refuses with the right status, a problem+json body, and records nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.conftest import MANAGER, PRACTITIONER, SUPERVISOR, auth, command, refused, register, version
from tests.registration import post_family

# Storage-neutral (docs/testing.md): runs on one database (SQLite).
pytestmark = pytest.mark.one_database


@pytest.fixture
def family(client):
    fam = register(client)
    fid = fam["family_id"]
    ok = command(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "worry",
                               "occurred_at": "2026-01-05T09:00:00+00:00"})
    assert ok.status_code == 201
    assert command(client, fid, {"type": "TriageDecided", "outcome": "early_help",
                                 "pathway": "family-hub"}, MANAGER).status_code == 201
    return fam


def _assessment(client, fid, submit=True):
    aid = str(uuid.uuid4())
    assert command(client, fid, {"type": "AssessmentStarted", "assessment_id": aid}).status_code == 201
    if submit:
        assert command(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid}).status_code == 201
    return aid


def _close(client, fid):
    for headers, body in [
        (PRACTITIONER, {"type": "ClosureProposed", "reason": "outcomes_met"}),
        (MANAGER, {"type": "ClosureAuthorised"}),
        (PRACTITIONER, {"type": "DocumentRecorded", "document": "family-survey"}),
        (PRACTITIONER, {"type": "EpisodeClosed", "reason": "outcomes_met"}),
    ]:
        assert command(client, fid, body, headers).status_code == 201


def test_nothing_but_reopening_after_closure(client, family):
    fid = family["family_id"]
    _close(client, fid)
    refused(client, fid, {"type": "CaseNoteRecorded", "text": "late note"}, contains="closed")
    refused(client, fid, {"type": "ContactAttempted", "method": "phone", "party": "family",
                          "outcome": "no_answer"}, contains="EpisodeReopened")
    assert command(client, fid, {"type": "EpisodeReopened", "reason": "new concern"}).status_code == 201
    assert command(client, fid, {"type": "CaseNoteRecorded", "text": "after reopening"}).status_code == 201


def test_a_re_referral_after_closure_opens_a_second_episode(client, family):
    fid = family["family_id"]
    _close(client, fid)
    assert command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "again"}).status_code == 201
    state = client.get(f"/families/{fid}", headers=PRACTITIONER).json()
    assert len(state["episodes"]) == 2 and state["status"] == "open"


def test_episode_commands_need_a_referral_first(client):
    fid = register(client)["family_id"]
    refused(client, fid, {"type": "CaseNoteRecorded", "text": "x"}, contains="ReferralReceived")


def test_assessment_authorised_only_when_submitted(client, family):
    fid = family["family_id"]
    aid = _assessment(client, fid, submit=False)
    refused(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid}, MANAGER,
            contains="must be submitted")


def test_assessment_never_authorised_by_its_submitter(client, family):
    fid = family["family_id"]
    aid = str(uuid.uuid4())
    meg = MANAGER
    assert command(client, fid, {"type": "AssessmentStarted", "assessment_id": aid}, meg).status_code == 201
    assert command(client, fid, {"type": "AssessmentSubmitted", "assessment_id": aid}, meg).status_code == 201
    refused(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid}, meg,
            contains="person who submitted")


def test_assessment_authorised_only_by_a_role_the_pack_allows(client, family):
    fid = family["family_id"]
    aid = _assessment(client, fid)
    refused(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid},
            auth("practitioner", "other"), status=403, contains="authorise")
    assert command(client, fid, {"type": "AssessmentAuthorised", "assessment_id": aid}, SUPERVISOR).status_code == 201


def test_unknown_assessment_is_422(client, family):
    refused(client, family["family_id"], {"type": "AssessmentSubmitted", "assessment_id": str(uuid.uuid4())},
            status=422, contains="no assessment")


def test_closure_authorised_only_after_a_proposal_and_by_a_manager_role(client, family):
    fid = family["family_id"]
    refused(client, fid, {"type": "ClosureAuthorised"}, MANAGER, contains="proposed")
    assert command(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met"}).status_code == 201
    refused(client, fid, {"type": "ClosureAuthorised"}, PRACTITIONER, status=403)
    refused(client, fid, {"type": "EpisodeClosed", "reason": "outcomes_met"}, contains="authorised")
    assert command(client, fid, {"type": "ClosureAuthorised"}, MANAGER).status_code == 201


def test_corrections_only_of_events_on_this_family(client, family):
    fid = family["family_id"]
    other = register(client)["family_id"]
    other_event = client.get(f"/families/{other}/events", headers=PRACTITIONER).json()["events"][0]["event_id"]
    refused(client, fid, {"type": "EntryCorrected", "corrects": other_event, "changes": {"team": "x"},
                          "reason": "typo"}, status=422, contains="no event")
    events = client.get(f"/families/{fid}/events", headers=PRACTITIONER).json()["events"]
    referral = events[1]["event_id"]
    refused(client, fid, {"type": "EntryCorrected", "corrects": referral, "changes": {"colour": "red"},
                          "reason": "typo"}, status=422, contains="no field colour")
    refused(client, fid, {"type": "EntryCorrected", "corrects": referral, "changes": {"route": "carrier pigeon"},
                          "reason": "typo"}, status=422, contains="changes.route")
    ok = command(client, fid, {"type": "EntryCorrected", "corrects": referral,
                               "changes": {"occurred_at": "2026-01-04T16:00:00+00:00"}, "reason": "date misread"})
    assert ok.status_code == 201, ok.text


def test_extensions_need_authority_and_respect_the_cap(client, family):
    fid = family["family_id"]
    body = {"type": "DeadlineExtended", "rule": "ifst-assessment", "extend_by": 10, "reason": "illness"}
    refused(client, fid, body, PRACTITIONER, status=403)
    # One extension beyond the pack's cap is a malformed number (422); one that only the
    # extensions already granted push past it breaks the rule (409).
    refused(client, fid, {**body, "extend_by": 18}, MANAGER, status=422, contains="at most 17")
    refused(client, fid, {**body, "rule": "no-such-rule"}, MANAGER, status=422)
    assert command(client, fid, body, MANAGER).status_code == 201
    refused(client, fid, {**body, "extend_by": 8}, MANAGER, contains="at most 45")


def test_children_seen_must_be_this_familys_children(client, family):
    fid = family["family_id"]
    ava, ben, cara = (m["member_id"] for m in family["members"])
    base = {"type": "ContactMade", "method": "visit", "party": "family", "members_present": [ava, cara]}
    refused(client, fid, {**base, "children_seen": [ava], "children_seen_alone": [ben]}, status=422,
            contains="children_seen_alone")
    refused(client, fid, {**base, "children_seen": [cara], "children_seen_alone": []}, status=422,
            contains="children only")
    refused(client, fid, {**base, "children_seen": [str(uuid.uuid4())], "children_seen_alone": []},
            status=422, contains="not members")


@pytest.mark.parametrize("body, status, contains", [
    ({"type": "Teleported"}, 422, "type"),
    ({"type": "CaseNoteRecorded", "text": "x", "mood": "sunny"}, 422, "mood"),
    ({"type": "CaseNoteRecorded"}, 422, "text"),
    ({"type": "ContactAttempted", "method": "pigeon", "party": "family", "outcome": "no_answer"}, 422, "method"),
    ({"type": "CaseNoteRecorded", "text": "x", "occurred_at": "2026-01-05T09:00:00"}, 422, "occurred_at"),
    ({"type": "CaseNoteRecorded", "text": "x", "occurred_at": "not a date"}, 422, "occurred_at"),
])
def test_malformed_commands_are_422_and_say_what_is_wrong(client, family, body, status, contains):
    refused(client, family["family_id"], body, status=status, contains=contains)


def test_occurred_at_in_the_future_is_refused(client, family, clock):
    future = (clock() + timedelta(hours=2)).isoformat()
    refused(client, family["family_id"], {"type": "CaseNoteRecorded", "text": "x", "occurred_at": future},
            status=422, contains="future")
    slight = (clock() + timedelta(seconds=30)).isoformat()
    assert command(client, family["family_id"], {"type": "CaseNoteRecorded", "text": "x",
                                                 "occurred_at": slight}).status_code == 201


def test_unknown_family_is_404(client):
    r = command(client, str(uuid.uuid4()), {"type": "CaseNoteRecorded", "text": "x"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/families/{uuid.uuid4()}", headers=PRACTITIONER).status_code == 404
    assert client.get(f"/families/{uuid.uuid4()}/events", headers=PRACTITIONER).status_code == 404
    assert client.get("/families/not-a-uuid", headers=PRACTITIONER).status_code == 422


def test_unknown_policy_pack_is_422(client):
    r = post_family(client, headers=PRACTITIONER, json={
        "policy": "atlantis", "team": "north",
        "members": [{"given_name": "A", "family_name": "B", "kind": "child"}]})
    assert r.status_code == 422 and "atlantis" in r.json()["detail"]


def test_stale_if_match_is_409_and_records_nothing(client, family):
    fid = family["family_id"]
    current = version(client, fid)
    refused(client, fid, {"type": "CaseNoteRecorded", "text": "x"}, status=409, contains="version",
            **{"If-Match": f'"{current - 1}"'})
    ok = command(client, fid, {"type": "CaseNoteRecorded", "text": "x"}, **{"If-Match": f'"{current}"'})
    assert ok.status_code == 201 and ok.headers["etag"] == f'"{current + 1}"'


def test_body_that_is_not_json_is_422(client, family):
    r = client.post(f"/families/{family['family_id']}/commands", content=b"{not json",
                    headers={**PRACTITIONER, "content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_only_the_team_holding_a_family_records_on_it_and_a_transfer_moves_that_right(client, family):
    fid = family["family_id"]
    south = auth("manager", "sol", "south")
    refused(client, fid, {"type": "CaseNoteRecorded", "text": "not our family"}, south, status=403,
            contains="held by team north")
    transfer_out = {"type": "TransferredOut", "to_team": "south", "reason": "moved"}
    assert command(client, fid, transfer_out, MANAGER).status_code == 201
    refused(client, fid, {"type": "TransferredIn", "from_team": "north"}, auth("manager", "wes", "west"),
            status=403, contains="the transfer is to team south: only that team accepts it")
    assert command(client, fid, {"type": "TransferredIn", "from_team": "north"}, south).status_code == 201
    refused(client, fid, {"type": "CaseNoteRecorded", "text": "after the transfer"}, PRACTITIONER, status=403,
            contains="held by team south")
    assert command(client, fid, {"type": "CaseNoteRecorded", "text": "ours now"}, south).status_code == 201


def test_a_family_is_registered_by_its_own_team(client):
    r = post_family(client, headers=PRACTITIONER, json={
        "policy": "durham-one-point", "team": "south",
        "members": [{"given_name": "Ava", "family_name": "Stone", "kind": "child"}]})
    assert r.status_code == 403 and "registers families for team north" in r.json()["detail"]
