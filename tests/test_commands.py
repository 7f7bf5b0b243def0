"""Every command type round-trips: recorded over HTTP, read back with its envelope."""

from __future__ import annotations

from datetime import datetime

import pytest

from aggregates.events import COMMAND_TYPES
from api.models import CONTEXT_FIELDS
from tests.conftest import AUDITOR, PRACTITIONER, command, register
from tests.registration import post_family
from tests.walkthrough import SOUTH_PRACTITIONER, every_command

# Storage-neutral (docs/testing.md): command shapes and answers over HTTP, on one database;
# every command type's round trip through the event store is marked storage.
pytestmark = pytest.mark.one_database

ENVELOPE = {"type", "occurred_at", "about", *CONTEXT_FIELDS}


def _same(sent, stored):
    if isinstance(sent, str) and isinstance(stored, str) and "T" in sent and sent[:4].isdigit():
        return datetime.fromisoformat(sent) == datetime.fromisoformat(stored)
    return sent == stored


@pytest.mark.storage
def test_every_command_type_round_trips_with_its_envelope(client):
    family = register(client)
    fid = family["family_id"]
    other = post_family(client, headers=PRACTITIONER, json={"policy": "durham-one-point", "team": "north", "members": [
        {"given_name": "Zoe", "family_name": "Hill", "date_of_birth": "2018-01-02", "kind": "child"}]})
    steps = every_command(family["members"], linked_family=other.json()["family_id"])
    sent_types = {body["type"] for _, body in steps}
    last = None
    for headers, body in steps:
        r = command(client, fid, body, headers)
        assert r.status_code == 201, (body["type"], r.text)
        assert r.json()["family_id"] == fid
        last = r.json()
    # a correction of the case note closes the walk: the original stays as it was
    events = client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
    note = next(e for e in events if e["type"] == "CaseNoteRecorded")
    r = command(client, fid, {"type": "EntryCorrected", "corrects": note["event_id"],
                              "changes": {"text": "Ava disclosed worry about her uncle"},
                              "reason": "wrong relative recorded"}, SOUTH_PRACTITIONER)
    assert r.status_code == 201, r.text
    sent_types.add("EntryCorrected")
    assert sent_types == set(COMMAND_TYPES), set(COMMAND_TYPES) - sent_types

    listing = client.get(f"/families/{fid}/events", headers=AUDITOR)
    assert listing.headers["etag"] == f'"{r.json()["version"]}"'
    events = listing.json()["events"]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "FamilyRegistered"
    positions_ok = last["position"] < r.json()["position"]
    assert positions_ok
    # events[1:] ends with the correction that closes the walk, which has no step: not strict.
    for (_, body), event in zip(steps, events[1:], strict=False):
        assert event["type"] == body["type"]
        assert _same(body["occurred_at"], event["occurred_at"])
        assert event["actor"]["user_id"] in {"pat", "sam", "meg", "sol"}
        assert event["policy"] == "durham-one-point" and event["policy_version"]
        assert datetime.fromisoformat(event["recorded_at"]) >= datetime.fromisoformat(event["occurred_at"])
        for key, value in body.items():
            if key in ENVELOPE:
                continue
            assert _same(value, event["data"][key]), (body["type"], key, value, event["data"][key])
        for key in CONTEXT_FIELDS:
            if key in body:
                assert event["context"][key] == body[key]
        assert event["about"] == body.get("about", [])
    corrected = events[-1]
    assert corrected["type"] == "EntryCorrected"
    assert corrected["data"]["corrects"] == note["event_id"]
    assert next(e for e in events if e["event_id"] == note["event_id"])["data"]["text"] == \
        "Ava disclosed worry about dad"


def test_occurred_at_defaults_to_now_and_state_reflects_the_record(client, clock):
    family = register(client)
    fid = family["family_id"]
    before = clock()
    r = command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "asked for help"})
    assert r.status_code == 201
    event = client.get(f"/families/{fid}/events", headers=PRACTITIONER).json()["events"][-1]
    assert datetime.fromisoformat(event["occurred_at"]) >= before.replace(microsecond=0)
    state = client.get(f"/families/{fid}", headers=PRACTITIONER)
    assert state.headers["etag"] == '"2"'
    body = state.json()
    assert body["version"] == 2 and body["status"] == "open"
    assert {m["given_name"] for m in body["members"]} == {"Ava", "Ben", "Cara"}
    assert client.get(f"/families/{fid}", headers={**PRACTITIONER, "If-None-Match": '"2"'}).status_code == 304


def test_registration_returns_member_ids_and_policy(client):
    family = register(client, policy="durham-one-point")
    assert family["version"] == 1
    assert len({m["member_id"] for m in family["members"]}) == 3
    state = client.get(f"/families/{family['family_id']}", headers=PRACTITIONER).json()
    assert state["policy"] == "durham-one-point" and state["team"] == "north"


def test_openapi_lists_every_command_variant(client):
    schema = client.get("/openapi.json").json()
    names = set(schema["components"]["schemas"])
    for type_name in COMMAND_TYPES:
        assert f"{type_name}Command" in names
