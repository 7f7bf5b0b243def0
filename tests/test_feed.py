"""The feed a projection service builds on (issue 23; ADR 0035; docs/feed.md).

A consumer pages ``/feed`` from a position it stores. Every page says the ledger's last
position, and a cursor beyond it is refused (409) naming it. ``wait`` holds a read until
the next event is recorded, woken on PostgreSQL by ``LISTEN/NOTIFY`` from any process and
on SQLite by this process's own commits. The same page reads as a CloudEvents 1.0 batch.
A service reads it pseudonymised unless its token carries ``feed:full``; every page read
is logged once for each family it showed, with the view. An erasure tells a consumer
what to forget and carries no snapshot of deadlines.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import jwt
import pytest

from aggregates.events import ENVELOPE_FIELDS, LIBRARY_FIELDS, VOCABULARY, payload_fields
from api.auth import FULL_FEED, scopes
from ledger import deadlines as deadline_engine
from ledger.application import Ledger
from projections.feed import ENTRY_IDS, Pseudonyms
from queries.service import CLOUDEVENTS_BATCH
from tests.conftest import AUDITOR, MANAGER, SECRET, auth, ok, open_ledger, register
from tests.walkthrough import SOUTH_MANAGER, every_command

# Storage tests (docs/testing.md): the notification log, its last position, LISTEN/NOTIFY
# and the in-process signal differ by database; the shapes of the answers do not, and
# those tests are marked one_database.
pytestmark = pytest.mark.storage

SERVICE = auth("service", "etl", None)
"""A projection service's token: the pseudonymised feed."""
ADMIN = auth("admin", "adam", None)
PRACTITIONER_ACTOR = {"user_id": "pat", "role": "practitioner", "team": "north"}


def full_service() -> dict[str, str]:
    """A service token granted the full feed (``ledger token --scope feed:full``)."""
    now = int(time.time())
    token = jwt.encode({"sub": "etl-full", "role": "service", "iat": now, "exp": now + 3600,
                        "scope": f"profile {FULL_FEED}"}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def referred(client) -> str:
    """A family with an open episode (a referral), its id."""
    fid: str = register(client)["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "asked for help"})
    return fid


def feed(client, headers=SERVICE, **params: Any) -> dict[str, Any]:
    r = client.get("/feed", params={"limit": 1000, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# --- cursors that cannot lie ------------------------------------------------------------------


def test_every_page_says_the_last_position_and_a_cursor_past_it_is_refused_naming_it(client):
    fid = referred(client)
    note = ok(client, fid, {"type": "CaseNoteRecorded", "text": "first visit booked"})
    page = feed(client, after=0, limit=1)
    assert page["last_position"] == note["position"] and page["more"] is True
    assert page["next"] < page["last_position"]  # the lag a consumer shows: last_position - next
    end = client.get("/feed", params={"after": note["position"]}, headers=SERVICE)
    assert end.status_code == 200 and end.json()["events"] == [] and end.json()["next"] == note["position"]
    assert end.headers["Ledger-Last-Position"] == str(note["position"])
    assert end.headers["Link"] == f'<http://testserver/feed?after={note["position"]}>; rel="next"'
    beyond = client.get("/feed", params={"after": note["position"] + 1, "wait": 5}, headers=SERVICE)
    assert beyond.status_code == 409 and beyond.headers["content-type"].startswith("application/problem+json")
    problem = beyond.json()
    assert problem["last_position"] == note["position"]
    assert f"beyond the last position of this ledger, {note['position']}" in problem["detail"]


def test_the_cursor_moves_over_the_hold_registers_events_which_are_no_familys(client):
    fid = register(client)["family_id"]
    before = feed(client)["last_position"]
    assert client.put(f"/legal-holds/{fid}", headers=ADMIN, json={"reason": "Pre-action disclosure"}).status_code == 200
    page = feed(client, after=before)
    assert page["events"] == [] and page["next"] == page["last_position"] > before
    assert feed(client, after=page["next"])["events"] == []


# --- waiting ----------------------------------------------------------------------------------


def writer(ledger: Ledger, settings, database: str) -> tuple[Ledger, bool]:
    """Who records while a reader waits: on PostgreSQL another ledger (another process, as
    far as this one can tell: only LISTEN/NOTIFY can wake the reader), on SQLite this one."""
    if database == "postgres":
        return open_ledger(settings), True
    return ledger, False


def test_a_waiting_reader_is_answered_as_soon_as_an_event_is_recorded(client, ledger, settings, database):
    fid = referred(client)
    last = feed(client)["last_position"]
    other, opened = writer(ledger, settings, database)
    recorded: list[Any] = []
    timer = threading.Timer(0.5, lambda: recorded.append(
        other.record(UUID(fid), "CaseNoteRecorded", {"text": "called back"}, actor=PRACTITIONER_ACTOR)))
    try:
        started = time.monotonic()
        timer.start()
        page = feed(client, after=last, wait=20)
        took = time.monotonic() - started
    finally:
        timer.join()
        if opened:
            other.close()
    assert [e["position"] for e in page["events"]] == [recorded[0].position]
    assert page["events"][0]["type"] == "CaseNoteRecorded" and page["next"] == recorded[0].position
    assert took < 15, f"answered after {took:.1f} s: the wait was not cut short by the event"


def test_a_wait_with_nothing_recorded_ends_with_an_empty_page_and_reads_the_log_only_a_few_times(
        client, ledger, database, monkeypatch):
    last = feed(client, headers=AUDITOR)["last_position"]
    reads = []
    select = ledger.recorder.select_notifications

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return select(*args, **kwargs)

    monkeypatch.setattr(ledger.recorder, "select_notifications", counted)
    started = time.monotonic()
    page = feed(client, headers=AUDITOR, after=last, wait=1)
    assert time.monotonic() - started >= 0.9
    assert page["events"] == [] and page["next"] == last and page["more"] is False
    if database == "sqlite":  # on PostgreSQL other schemas' writes (tests running beside) wake it too
        assert len(reads) <= 2, f"{len(reads)} reads of the log in a one-second wait: a busy loop"
    assert ledger.arrivals.waiters == 0


@pytest.mark.one_database
@pytest.mark.parametrize("wait", ["-1", "30.5", "soon"])
def test_a_wait_is_between_0_and_30_seconds(client, wait):
    r = client.get("/feed", params={"wait": wait}, headers=SERVICE)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "wait" in r.json()["detail"]


# --- CloudEvents ------------------------------------------------------------------------------

ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,20}")
"""CloudEvents 1.0: attribute names are lower-case ASCII letters and digits, at most 20."""
REQUIRED = ("specversion", "id", "source", "type")


@pytest.mark.one_database
def test_the_feed_reads_as_a_cloudevents_batch_in_structured_mode(client):
    family = register(client)
    fid = family["family_id"]
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "school worried",
                     "occurred_at": "2026-01-05T09:00:00+00:00", "about": [family["members"][0]["member_id"]]})
    plain = feed(client, headers=AUDITOR)
    r = client.get("/feed", params={"limit": 1000}, headers={**AUDITOR, "Accept": CLOUDEVENTS_BATCH})
    assert r.status_code == 200 and r.headers["content-type"].startswith(CLOUDEVENTS_BATCH)
    assert r.headers["Ledger-Last-Position"] == str(plain["last_position"]) and 'rel="next"' in r.headers["Link"]
    batch = r.json()
    assert isinstance(batch, list) and len(batch) == len(plain["events"])
    for cloud, event in zip(batch, plain["events"], strict=True):
        for name in REQUIRED:  # required, non-empty strings
            assert isinstance(cloud[name], str) and cloud[name], name
        assert all(ATTRIBUTE_NAME.fullmatch(k) for k in cloud), sorted(cloud)
        assert cloud["specversion"] == "1.0"
        assert cloud["id"] == event["event_id"] and cloud["subject"] == event["family_id"] == fid
        assert cloud["type"] == f"uk.gov.early-help-ledger.{event['type']}.v{event['schema_version']}"
        assert cloud["source"].startswith("urn:early-help-ledger:")
        assert datetime.fromisoformat(cloud["time"].replace("Z", "+00:00")) == datetime.fromisoformat(
            event["recorded_at"].replace("Z", "+00:00"))
        assert cloud["dataschema"] == f"http://testserver/schemas/{event['type']}"
        assert cloud["datacontenttype"] == "application/json"
        # data: the type's fields, with the envelope a consumer needs beside them.
        assert cloud["data"] == {**event["data"], **{k: event[k] for k in (
            "position", "version", "occurred_at", "actor", "policy", "policy_version", "about", "context")}}
    assert len({(c["source"], c["id"]) for c in batch}) == len(batch)  # what a consumer deduplicates on
    referral = next(c for c in batch if c["type"].startswith("uk.gov.early-help-ledger.ReferralReceived."))
    assert referral["data"]["route"] == "professional" and referral["data"]["occurred_at"].startswith("2026-01-05")
    # Plain JSON stays the default, and wins where the client prefers it.
    for accept in ("application/json", "*/*", f"application/json, {CLOUDEVENTS_BATCH};q=0.5"):
        r = client.get("/feed", headers={**AUDITOR, "Accept": accept})
        assert r.headers["content-type"].startswith("application/json") and "events" in r.json(), accept
    empty = client.get("/feed", params={"after": plain["last_position"]},
                       headers={**AUDITOR, "Accept": CLOUDEVENTS_BATCH})
    assert empty.status_code == 200 and empty.json() == []


@pytest.mark.one_database
def test_the_cloudevents_source_is_the_deployments_and_the_same_in_every_process(settings):
    same = settings.model_copy()
    assert settings.deployment() == same.deployment()
    assert re.fullmatch(r"urn:early-help-ledger:[0-9a-f]{16}", settings.deployment())
    named = settings.model_copy(update={"deployment_uri": "urn:early-help-ledger:example-council"})
    assert named.deployment() == "urn:early-help-ledger:example-council"


@pytest.mark.one_database
def test_no_field_of_an_event_type_takes_a_name_the_cloudevents_data_gives_the_envelope():
    envelope = set(ENVELOPE_FIELDS) | {"position", "version"}
    clashes = {name: sorted(set(payload_fields(cls)) & envelope) for name, cls in VOCABULARY.items()}
    assert not {k: v for k, v in clashes.items() if v}


# --- least data -------------------------------------------------------------------------------

PERSONAL_TEXT = (
    "Ava", "Ben", "Cara", "Stone", "Dan", "Eli", "2016-05-04", "1990-02-03", "1988-07-01",
    "Ms Head", "poor attendance", "multiple needs", "does not want school", "still unwilling",
    "child's voice missing", "late disclosure", "95%", "health visitor", "disclosed worry", "discussed with manager",
    "Reviewed disclosure", "continue IFST", "plan on track", "escalating concern", "no further statutory role",
    "strategy discussion", "enquiry concluded", "Case summary at transfer", "family agreed the move",
    "moved house", "attendance restored", "all well", "new worry", "Sam Jones", "typed the wrong day",
)


@pytest.fixture
def walked(client) -> dict[str, Any]:
    """The Stone family through every command type, a correction of a note's text and
    time, and one of a member's name (recorded by a named worker)."""
    family = register(client)
    fid = family["family_id"]
    members = family["members"]
    for headers, body in every_command(members):
        ok(client, fid, body, headers)
    events = client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
    note = next(e for e in events if e["type"] == "CaseNoteRecorded")
    named = {"Authorization": "Bearer " + jwt.encode({
        "sub": "sol", "role": "manager", "team": "south", "name": "Sam Jones", "iat": int(time.time()),
        "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")}
    ok(client, fid, {"type": "EntryCorrected", "corrects": note["event_id"], "reason": "typed the wrong day",
                     "changes": {"text": "Ava disclosed worry about dad at school",
                                 "occurred_at": "2026-01-28T10:00:00+00:00"}}, named)
    ok(client, fid, {"type": "EntryCorrected", "corrects": events[0]["event_id"], "member": members[0]["member_id"],
                     "reason": "typed the wrong day", "changes": {"given_name": "Avah"}}, SOUTH_MANAGER)
    ids = [m["member_id"] for m in members] + [e["data"]["member_id"] for e in events if e["type"] == "MemberAdded"]
    return {"fid": fid, "member_ids": ids, "note": note["event_id"]}


@pytest.mark.one_database
def test_a_service_reads_the_feed_pseudonymised_and_with_feed_full_in_full(client, walked):
    page = feed(client)
    assert page["view"] == "pseudonymised"
    text = json.dumps(page)
    for secret in PERSONAL_TEXT:
        assert secret not in text, secret
    for member in walked["member_ids"]:
        assert member not in text and UUID(member).hex not in text, member
    events = {e["type"]: e for e in page["events"]}
    pseudonyms = [m["member_id"] for m in events["FamilyRegistered"]["data"]["members"]]
    assert all(UUID(p).version == 8 for p in pseudonyms)
    # Stable: the same member has the same pseudonym everywhere, on every read.
    assert events["ContactMade"]["data"]["children_seen"] == pseudonyms[:2]
    assert events["ContactMade"]["data"]["children_seen_alone"] == pseudonyms[:1]
    assert events["ConsentGiven"]["data"]["given_by"] == pseudonyms[2]
    assert events["ReferralReceived"]["about"] == pseudonyms[:1]
    assert feed(client)["events"] == page["events"]
    # What is not personal stays: codes, entry ids, times, corrections of them.
    assert events["FamilyRegistered"]["data"]["members"][0]["kind"] == "child"
    assert events["FamilyRegistered"]["data"]["members"][0]["given_name"] == "[withheld]"
    assert events["FamilyRegistered"]["data"]["members"][0]["date_of_birth"] is None
    started = events["AssessmentStarted"]["data"]["assessment_id"]
    assert events["AssessmentSubmitted"]["data"]["assessment_id"] == started
    assert events["CaseNoteRecorded"]["data"]["text"] == "[withheld]"
    assert events["CaseNoteRecorded"]["context"]["action_taken"] == "[withheld]"
    assert events["CaseNoteRecorded"]["context"]["significance"] == "high"
    corrections = [e for e in page["events"] if e["type"] == "EntryCorrected"]
    assert corrections[0]["data"]["corrects"] == walked["note"]
    changes = corrections[0]["data"]["changes"]
    assert set(changes) == {"text", "occurred_at"} and changes["text"] == "[withheld]"
    assert changes["occurred_at"].startswith("2026-01-28T10:00:00")
    assert corrections[0]["data"]["reason"] == "[withheld]" and corrections[0]["actor"] == {
        "user_id": "sol", "role": "manager", "team": "south"}
    assert corrections[1]["data"]["member"] == pseudonyms[0] and corrections[1]["data"]["changes"] == {
        "given_name": "[withheld]"}
    # In full, with the scope; an auditor, always.
    for headers in (full_service(), AUDITOR):
        whole = feed(client, headers)
        assert whole["view"] == "full" and "Ava" in json.dumps(whole) and walked["member_ids"][0] in json.dumps(whole)


@pytest.mark.one_database
def test_every_member_id_field_is_known_for_what_it_holds():
    """A new field holding an id is pseudonymised unless it is listed as an entry's id
    (``ENTRY_IDS``): this list says which are members', so adding one is a decision."""
    held = {name for cls in VOCABULARY.values() for name, f in payload_fields(cls).items()
            if "UUID" in str(f.type) and name not in LIBRARY_FIELDS}
    assert held - ENTRY_IDS == {"member_id", "members_present", "children_seen", "children_seen_alone", "given_by",
                                "member", "member_ids"}


@pytest.mark.one_database
def test_a_pseudonym_is_the_deployments_own():
    member = UUID("6f1c2a8e-1d3b-4c5e-9f00-1234567890ab")
    one, other = Pseudonyms(b"k" * 48), Pseudonyms(b"j" * 48)
    assert one(member) == Pseudonyms(b"k" * 48)(member) != other(member)
    assert one(member) != member and one(member).version == 8


@pytest.mark.one_database
def test_the_full_feed_scope_is_read_from_scope_scp_or_the_role_claim():
    assert scopes({"scope": "openid feed:full"}) == {FULL_FEED}
    assert scopes({"scp": "feed:full Ledger.Read"}) == {FULL_FEED}
    assert scopes({"roles": ["Ledger.Service", "feed:full"]}) == {FULL_FEED}
    assert scopes({"scope": "openid profile", "roles": ["Ledger.Service"]}) == set()


def test_each_page_read_is_logged_once_for_each_family_it_showed_with_the_view(client, ledger):
    a, b = referred(client), referred(client)
    for fid in (a, b):
        for text in ("one", "two", "three"):
            ok(client, fid, {"type": "CaseNoteRecorded", "text": text})
    reads = [(SERVICE, {}, "feed-pseudonymised"), (full_service(), {}, "feed-full"),
             (AUDITOR, {"Accept": CLOUDEVENTS_BATCH}, "feed-full"),
             (SERVICE, {"Accept": CLOUDEVENTS_BATCH}, "feed-pseudonymised")]
    for headers, extra, _ in reads:
        assert client.get("/feed", params={"limit": 1000}, headers={**headers, **extra}).status_code == 200
    for fid in (a, b):
        rows = [r for r in ledger.access_log.for_family(UUID(fid)) if r["path"] == "/feed"]
        assert [(r["user_id"], r["action"], r["outcome"]) for r in rows] == [
            ("etl", "feed-pseudonymised", "allowed"), ("etl-full", "feed-full", "allowed"),
            ("ada", "feed-full", "allowed"), ("etl", "feed-pseudonymised", "allowed")]


# --- erasure ----------------------------------------------------------------------------------


def _outcome(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "member_name"} for row in result["deadlines"]]


def test_an_erasure_on_the_feed_says_what_to_forget_and_carries_no_deadlines(client, ledger):
    family = register(client)
    fid = family["family_id"]
    members = [m["member_id"] for m in family["members"]]
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "school worried",
                     "occurred_at": "2026-01-05T09:00:00+00:00"})
    ok(client, fid, {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub",
                     "occurred_at": "2026-01-06T09:00:00+00:00"}, MANAGER)
    for headers, body in ((None, {"type": "ClosureProposed", "reason": "outcomes_met"}),
                          (MANAGER, {"type": "ClosureAuthorised"})):
        ok(client, fid, {**body, "occurred_at": "2026-01-12T09:00:00+00:00"}, headers)
    last = ok(client, fid, {"type": "EpisodeClosed", "reason": "outcomes_met",
                            "occurred_at": "2026-01-12T10:00:00+00:00"})
    before = ledger.deadlines(UUID(fid))
    assert client.post(f"/families/{fid}/erasure", headers=ADMIN, json={
        "reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"}).status_code == 201
    assert _outcome(ledger.deadlines(UUID(fid))) == _outcome(before)  # the ledger's own answers, unchanged

    full = feed(client, AUDITOR, after=last["position"])["events"]
    assert [e["type"] for e in full] == ["PersonalDataErased"] and full[0]["schema_version"] == 2
    erased = full[0]["data"]
    assert erased == {"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)",
                      "member_ids": members, "up_to_position": last["position"]}
    assert len(json.dumps(full[0])) < 2000
    pseudonymised = feed(client, after=0)["events"]
    registered = next(e for e in pseudonymised if e["type"] == "FamilyRegistered" and e["family_id"] == fid)
    gone = next(e for e in pseudonymised if e["type"] == "PersonalDataErased")
    assert gone["data"]["member_ids"] == [m["member_id"] for m in registered["data"]["members"]]
    assert "deadlines" not in json.dumps(gone)


def test_an_erasure_stored_before_version_2_still_reads_and_keeps_its_deadlines(client, ledger):
    """An erasure recorded before ``member_ids`` (its class at version 1) carries the
    snapshot and nothing else: read through the library's upcasting, it is a version 2
    event with neither member ids nor position, and the deadlines it froze still answer."""
    from eventsourcing.persistence import StoredEvent

    fid = register(client)["family_id"]
    assert client.post(f"/families/{fid}/erasure", headers=ADMIN, json={
        "reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"}).status_code == 201
    stored = ledger.recorder.select_events(UUID(fid), desc=True, limit=1)[0]
    state = ledger.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 2
    state.pop("member_ids"), state.pop("up_to_position")
    old = StoredEvent(originator_id=stored.originator_id, originator_version=stored.originator_version,
                      topic=stored.topic, state=ledger.mapper.transcoder.encode(state))
    event = ledger.mapper.to_domain_event(old)
    assert type(event).__name__ == "PersonalDataErased"
    assert event.member_ids is None and event.up_to_position is None  # type: ignore[attr-defined]
    assert event.deadlines == ledger.mapper.to_domain_event(stored).deadlines  # type: ignore[attr-defined]
    events = ledger.family_events(UUID(fid))
    pack = ledger.pack(events[0].policy)
    now = ledger.now()
    assert (_outcome(deadline_engine.evaluate([*events[:-1], event], pack, now))  # type: ignore[list-item]
            == _outcome(deadline_engine.evaluate(events, pack, now)))


@pytest.mark.one_database
def test_ledger_token_grants_the_full_feed_with_its_scope(client, ledger_cli):
    result = ledger_cli("token", "--sub", "etl", "--role", "service", "--scope", FULL_FEED)
    assert result.exit_code == 0, result.output
    assert feed(client, {"Authorization": f"Bearer {result.output.strip()}"})["view"] == "full"
