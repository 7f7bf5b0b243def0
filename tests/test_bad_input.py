"""Bad input (on one database: docs/testing.md): whatever arrives, the answer is a
problem+json saying what is wrong, never a 500, and nothing is recorded.

Oversized bodies (with and without Content-Length), JSON nested 10,000 deep, bytes that
are not UTF-8, dates in the far past and future, unknown fields and malformed UUIDs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, ok, register

# Storage-neutral (docs/testing.md): runs on one database (SQLite).
pytestmark = pytest.mark.one_database

JSON = {"Content-Type": "application/json"}


def position(client: TestClient) -> int:
    return client.app.state.ledger.recorder.max_notification_id() or 0


def refused(client: TestClient, method: str, url: str, status: int | tuple[int, ...], contains: str = "",
            **kwargs: Any) -> dict[str, Any]:
    """Send a request that must be refused: the status, problem+json with a detail that
    says what is wrong, and the ledger's latest position unchanged."""
    before = position(client)
    r = client.request(method, url, **kwargs)
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    problem = r.json()
    assert problem["status"] == r.status_code and problem["title"] and problem["detail"], problem
    assert contains in problem["detail"], problem["detail"]
    assert position(client) == before, "a refused request must record nothing"
    return problem  # type: ignore[no-any-return]


@pytest.fixture
def family(client: TestClient) -> dict[str, Any]:
    fam = register(client)
    ok(client, fam["family_id"], {"type": "ReferralReceived", "route": "self", "reason": "help"})
    return fam


# -- size --------------------------------------------------------------------------------


def test_a_body_over_max_body_bytes_is_refused_with_413_before_anything_reads_it(client, family):
    """Bug: LEDGER_MAX_BODY_BYTES was documented but nothing enforced it (a 5 kB body
    reached the route with the limit at 1 kB)."""
    limit = client.app.state.settings.max_body_bytes
    body = b'{"type": "CaseNoteRecorded", "text": "' + b"x" * limit + b'"}'
    problem = refused(client, "POST", f"/families/{family['family_id']}/commands", 413, f"{limit} bytes",
                      content=body, headers={**PRACTITIONER, **JSON})
    assert problem["title"] == "Content too large"
    refused(client, "POST", "/families", 413, content=body, headers={**PRACTITIONER, **JSON})


def test_a_chunked_body_without_content_length_is_counted_as_it_arrives(client, family):
    """The same limit when the client sends no Content-Length (Transfer-Encoding: chunked)."""
    limit = client.app.state.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        yield b'{"type": "CaseNoteRecorded", "text": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    refused(client, "POST", f"/families/{family['family_id']}/commands", 413, f"{limit} bytes",
            content=chunks(), headers={**PRACTITIONER, **JSON})


def test_a_body_just_under_the_limit_is_read_whole(client, family, settings):
    """The limit refuses only what passes it: a chunked body under it still gets through."""
    def chunks() -> Iterator[bytes]:
        yield b'{"type": "CaseNoteRecorded", '
        yield b'"text": "sent in pieces"}'

    r = client.post(f"/families/{family['family_id']}/commands", content=chunks(), headers={**PRACTITIONER, **JSON})
    assert r.status_code == 201, r.text


# -- shape -------------------------------------------------------------------------------


def test_json_nested_ten_thousand_deep_is_a_clear_422_not_a_recursion_error(client, family):
    """Bug: FastAPI's parser hit RecursionError and answered 400 "There was an error
    parsing the body", which does not say what is wrong."""
    nested = "[" * 10_000 + "]" * 10_000
    for url in (f"/families/{family['family_id']}/commands", "/families"):
        problem = refused(client, "POST", url, 422, "nested too deeply", content=nested,
                          headers={**PRACTITIONER, **JSON})
        assert problem["errors"][0]["field"] == "body"
    as_object = '{"type": "CaseNoteRecorded", "text": "x", "note": ' + nested + "}"
    refused(client, "POST", f"/families/{family['family_id']}/commands", 422, "nested too deeply",
            content=as_object, headers={**PRACTITIONER, **JSON})


def test_a_correction_nested_deeper_than_any_field_is_refused_not_a_500(client, family):
    """Bug: a correction's ``context`` (any JSON then) nested 300 deep passed parsing
    and broke serialisation (orjson's recursion limit: 500)."""
    note = ok(client, family["family_id"], {"type": "CaseNoteRecorded", "text": "x"})
    nested: Any = "x"
    for _ in range(300):
        nested = [nested]
    refused(client, "POST", f"/families/{family['family_id']}/commands", 422, "nested more than 8 levels",
            json={"type": "EntryCorrected", "corrects": note["event_id"], "reason": "typo",
                  "changes": {"context": {"note": nested}}}, headers=PRACTITIONER)


def test_a_correction_of_context_must_fit_the_context_fields(client, family):
    """Bug: a correction's ``context`` took any JSON, so {"note": []} was recorded (201)
    and then every projection of the log failed on it (the list could not be bound as a
    column), leaving the read models stuck at that position for good."""
    fid = family["family_id"]
    note = ok(client, fid, {"type": "CaseNoteRecorded", "text": "x", "agency": "school"})
    url = f"/families/{fid}/commands"
    correction = {"type": "EntryCorrected", "corrects": note["event_id"], "reason": "typo"}
    refused(client, "POST", url, 422, "changes.context.note: Input should be a valid string",
            json={**correction, "changes": {"context": {"note": []}}}, headers=PRACTITIONER)
    refused(client, "POST", url, 422, "changes.context.colour",
            json={**correction, "changes": {"context": {"colour": "red"}}}, headers=PRACTITIONER)
    refused(client, "POST", url, 422, "changes.context.significance",
            json={**correction, "changes": {"context": {"significance": "huge"}}}, headers=PRACTITIONER)
    fixed = ok(client, fid, {**correction, "changes": {"context": {"agency": "health visitor", "note": None}}})
    # The read models followed: the correction is in the chronology beside the original.
    entries = client.get(f"/families/{fid}/chronology", params={"min_position": fixed["position"]},
                         headers=PRACTITIONER).json()["entries"]
    corrected = next(e for e in entries if e["event_id"] == note["event_id"])
    assert corrected["source"]["agency"] == "health visitor", corrected


def test_bytes_that_are_not_utf8_are_a_clear_422(client, family):
    """Bug: invalid UTF-8 got 400 "There was an error parsing the body"."""
    body = b'{"type": "CaseNoteRecorded", "text": "\xff\xfe caf\xe9"}'
    problem = refused(client, "POST", f"/families/{family['family_id']}/commands", 422, "not valid UTF-8",
                      content=body, headers={**PRACTITIONER, **JSON})
    assert problem["errors"][0]["field"] == "body"
    refused(client, "POST", "/families", 422, "not valid UTF-8", content=body, headers={**PRACTITIONER, **JSON})


def test_unknown_fields_in_a_command_or_a_registration_are_named(client, family):
    refused(client, "POST", f"/families/{family['family_id']}/commands", 422, "CaseNoteRecorded.colour",
            json={"type": "CaseNoteRecorded", "text": "x", "colour": "red"}, headers=PRACTITIONER)
    problem = refused(client, "POST", "/families", 422, "members.0.shoe_size", headers=PRACTITIONER, json={
        "policy": "durham-one-point", "team": "north", "pet": "cat",
        "members": [{"given_name": "A", "family_name": "B", "kind": "child", "shoe_size": 3}]})
    assert "pet" in problem["detail"]
    assert {e["field"] for e in problem["errors"]} == {"pet", "members.0.shoe_size"}


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "00000000-0000-0000-0000-00000000000g", "%20"])
def test_malformed_uuids_in_paths_are_422_naming_the_parameter(client, family, bad):
    fid = family["family_id"]
    for method, url, headers in [
        ("GET", f"/families/{bad}", PRACTITIONER),
        ("GET", f"/families/{bad}/events", AUDITOR),
        ("GET", f"/families/{bad}/deadlines", PRACTITIONER),
        ("GET", f"/families/{bad}/chronology", PRACTITIONER),
        ("GET", f"/families/{fid}/decisions/{bad}", PRACTITIONER),
    ]:
        problem = refused(client, method, url, 422, headers=headers)
        assert "UUID" in problem["detail"] or "uuid" in problem["detail"], problem
    problem = refused(client, "POST", f"/families/{bad}/commands", 422, "family_id", headers=PRACTITIONER,
                      json={"type": "CaseNoteRecorded", "text": "x"})
    assert "UUID" in problem["detail"]


# -- dates -------------------------------------------------------------------------------

FAR_PAST = ["0001-01-01T00:00:00+00:00", "1800-06-01T12:00:00+00:00", "1899-12-31T23:59:59+00:00"]
FAR_FUTURE = ["3000-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59-05:00"]


@pytest.mark.parametrize("when", FAR_PAST + FAR_FUTURE)
def test_occurred_at_in_the_far_past_or_future_is_refused(client, family, when):
    expected = "before 1900" if when < "1900" else "in the future"
    refused(client, "POST", f"/families/{family['family_id']}/commands", 422, expected,
            json={"type": "CaseNoteRecorded", "text": "x", "occurred_at": when}, headers=PRACTITIONER)
    refused(client, "POST", "/families", 422, expected, headers=PRACTITIONER, json={
        "policy": "durham-one-point", "team": "north", "occurred_at": when,
        "members": [{"given_name": "A", "family_name": "B", "kind": "child"}]})


@pytest.mark.parametrize("when", FAR_PAST + FAR_FUTURE)
def test_a_correction_cannot_move_an_entry_to_the_far_past_or_future(client, family, when):
    """Bug: a correction's occurred_at was only checked for a timezone, so an entry
    could be moved to year 1 or 9999 (and the deadline engine overflowed on it)."""
    note = ok(client, family["family_id"], {"type": "CaseNoteRecorded", "text": "x"})
    expected = "before 1900" if when < "1900" else "in the future"
    problem = refused(client, "POST", f"/families/{family['family_id']}/commands", 422, expected,
                      json={"type": "EntryCorrected", "corrects": note["event_id"], "reason": "typo",
                            "changes": {"occurred_at": when}}, headers=PRACTITIONER)
    assert problem["field"] == "changes.occurred_at", problem


@pytest.mark.parametrize("dob", ["0001-01-01", "1800-02-03", "1899-12-31", "3000-01-01", "9999-12-31"])
def test_dates_of_birth_in_the_far_past_or_future_are_refused(client, family, dob):
    """Bug: a date of birth in year 1 or 1800 was recorded (only the future was refused).
    No one's is in the future: a child not yet born is recorded as unborn, with an expected
    date (ADR 0032), no longer as a child born up to 42 weeks ahead."""
    expected = "before 1900" if dob < "1900" else "in the future"
    refused(client, "POST", "/families", 422, f"date_of_birth {dob} is {expected}", headers=PRACTITIONER, json={
        "policy": "durham-one-point", "team": "north",
        "members": [{"given_name": "A", "family_name": "B", "kind": "child", "date_of_birth": dob}]})
    adult = "before 1900" if dob < "1900" else "in the future"
    refused(client, "POST", "/families", 422, f"date_of_birth {dob} is {adult}", headers=PRACTITIONER, json={
        "policy": "durham-one-point", "team": "north",
        "members": [{"given_name": "A", "family_name": "B", "kind": "adult", "date_of_birth": dob}]})
    fid = family["family_id"]
    refused(client, "POST", f"/families/{fid}/commands", 422, f"date_of_birth {dob} is {expected}",
            headers=PRACTITIONER, json={"type": "MemberAdded", "given_name": "C", "family_name": "B",
                                        "kind": "child", "date_of_birth": dob})
    added = ok(client, fid, {"type": "MemberAdded", "given_name": "D", "family_name": "B", "kind": "child",
                             "date_of_birth": "2020-01-01"})
    event_id = added["event_id"]
    refused(client, "POST", f"/families/{fid}/commands", 422, f"changes.date_of_birth {dob} is {expected}",
            headers=PRACTITIONER, json={"type": "EntryCorrected", "corrects": event_id, "reason": "typo",
                                        "changes": {"date_of_birth": dob}})


@pytest.mark.parametrize("when", FAR_PAST + FAR_FUTURE)
def test_as_of_and_as_at_outside_1900_to_2099_are_a_clear_422(client, family, when):
    """Bug: as_of in year 1 or 9999 overflowed the deadline engine (OverflowError: 500)."""
    fid = family["family_id"]
    for url, name, headers in [
        (f"/families/{fid}/deadlines", "as_of", PRACTITIONER),
        (f"/families/{fid}/deadlines", "as_at", PRACTITIONER),
        ("/deadlines", "as_of", MANAGER),
        (f"/families/{fid}", "as_at", PRACTITIONER),
        (f"/families/{fid}/chronology", "as_at", PRACTITIONER),
    ]:
        problem = refused(client, "GET", url, 422, "out of range: ask about a moment from 1900 to 2099",
                          params={name: when}, headers=headers)
        assert problem["errors"][0]["field"] == f"query.{name}", problem
        assert "Value error" not in problem["detail"]


def test_moments_inside_the_range_still_answer(client, family):
    fid = family["family_id"]
    assert client.get(f"/families/{fid}/deadlines", params={"as_of": "2099-12-31T23:00:00+00:00"},
                      headers=PRACTITIONER).status_code == 200
    assert client.get(f"/families/{fid}", params={"as_at": "2099-12-31T23:00:00+00:00"},
                      headers=PRACTITIONER).status_code == 200
    early = client.get(f"/families/{fid}", params={"as_at": "1900-01-01T00:00:00+00:00"}, headers=PRACTITIONER)
    assert early.status_code == 404 and "had not been recorded" in early.json()["detail"]


# -- positions ---------------------------------------------------------------------------


def test_a_min_position_no_command_returned_is_refused_at_once(client, family):
    """Bug (found by tests/test_fuzz.py): min_position beyond the ledger's latest position
    held the request for five seconds and then answered 503, as if the read models were
    behind; no wait can ever reach a position not yet recorded."""
    latest = position(client)
    problem = refused(client, "GET", "/caseloads", 422, f"beyond the ledger's latest position {latest}",
                      params={"min_position": latest + 1}, headers=MANAGER)
    assert problem["field"] == "min_position"
    assert client.get("/caseloads", params={"min_position": latest}, headers=MANAGER).status_code == 200


def test_positions_beyond_a_64_bit_integer_are_422_not_an_overflow(client, family):
    """Bug (found by tests/test_fuzz.py): /feed?after=10**30 raised OverflowError
    ("Python int too large to convert to SQLite INTEGER"): 500."""
    refused(client, "GET", "/feed", 422, "query.after", params={"after": 10**30}, headers=AUDITOR)
    refused(client, "GET", "/caseloads", 422, "query.min_position", params={"min_position": 10**30}, headers=MANAGER)
