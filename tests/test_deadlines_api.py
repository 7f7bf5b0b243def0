"""GET /families/{id}/deadlines and GET /deadlines: a family's clocks, and team and
worker views of what is due and overdue, with bad input refused as problem+json."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, auth, command, deadlines, register
from tests.registration import post_family

# Storage-neutral (docs/testing.md): runs on one database (SQLite).
pytestmark = pytest.mark.one_database

SOUTH = auth("manager", "sol", "south")


def _family_hub_family(client, team="north", worker="pat", allocated="2025-12-22T09:00:00+00:00", headers=MANAGER):
    fam = register(client, team=team) if team == "north" else _register_south(client)
    fid = fam["family_id"]
    for body in (
        {"type": "ReferralReceived", "route": "self", "reason": "asked for help",
         "occurred_at": "2025-12-15T09:00:00+00:00"},
        {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub",
         "occurred_at": "2025-12-16T09:00:00+00:00"},
        {"type": "AllocatedToWorker", "worker_id": worker, "occurred_at": allocated},
    ):
        r = command(client, fid, body, headers)
        assert r.status_code == 201, r.text
    return fam


def _register_south(client):
    r = post_family(client, headers=SOUTH, json={
        "policy": "durham-one-point", "team": "south",
        "members": [{"given_name": "Dee", "family_name": "Lane", "kind": "child", "date_of_birth": "2019-09-09"},
                    {"given_name": "Eve", "family_name": "Lane", "kind": "adult"}]})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_familys_deadlines_show_state_due_date_events_and_source(client):
    fam = _family_hub_family(client)
    fid = fam["family_id"]
    body = client.get(f"/families/{fid}/deadlines", params={"as_of": "2026-01-09T12:00:00+00:00"},
                      headers=PRACTITIONER).json()
    assert body["policy"] == "durham-one-point" and body["team"] == "north" and body["worker"] == "pat"
    consent = next(r for r in body["deadlines"] if r["rule"] == "fh-consent")
    # Allocated Monday 22 December 2025: consent due Thursday 8 January 2026 (seed 000 L617).
    assert (consent["state"], consent["due"]) == ("overdue", "2026-01-08")
    events = client.get(f"/families/{fid}/events", headers=PRACTITIONER).json()["events"]
    allocation = next(e for e in events if e["type"] == "AllocatedToWorker")
    assert consent["started_by"] == allocation["event_id"] and consent["stopped_by"] is None
    assert consent["source"] == {"seed": "000_5f8893c51560d94f.txt", "lines": [617]}


def test_as_of_answers_what_was_due_then(client):
    fid = _family_hub_family(client)["family_id"]
    state = client.get(f"/families/{fid}", headers=PRACTITIONER).json()
    adult = next(m["member_id"] for m in state["members"] if m["kind"] == "adult")
    assert command(client, fid, {"type": "ConsentGiven", "given_by": adult, "scope": ["support"],
                                 "occurred_at": "2026-01-12T10:00:00+00:00"}).status_code == 201
    assert deadlines(client, fid, "2026-01-05T12:00:00+00:00")["fh-consent"][0]["state"] == "open"
    assert deadlines(client, fid, "2026-01-09T12:00:00+00:00")["fh-consent"][0]["state"] == "overdue"
    assert deadlines(client, fid, "2026-01-13T12:00:00+00:00")["fh-consent"][0]["state"] == "met_late"


def test_team_and_worker_views_filter_by_team_worker_state_and_due_date(client):
    north_pat = _family_hub_family(client)["family_id"]
    north_kim = _family_hub_family(client, worker="kim", allocated="2026-01-05T09:00:00+00:00")["family_id"]
    south = _family_hub_family(client, team="south", worker="sue", headers=SOUTH)["family_id"]
    as_of = {"as_of": "2026-01-12T12:00:00+00:00"}

    def view(**params):
        r = client.get("/deadlines", params={**as_of, **params}, headers=AUDITOR)
        assert r.status_code == 200, r.text
        return [(row["family_id"], row["rule"], row["state"], row["due"]) for row in r.json()["deadlines"]
                if row["rule"] == "fh-consent"]

    # Allocated 22 December: due 8 January (overdue); allocated 5 January: due 19 January.
    assert view(team="north") == [(north_pat, "fh-consent", "overdue", "2026-01-08"),
                                  (north_kim, "fh-consent", "open", "2026-01-19")]
    assert view(worker="kim") == [(north_kim, "fh-consent", "open", "2026-01-19")]
    assert view(status="overdue", team="south") == [(south, "fh-consent", "overdue", "2026-01-08")]
    # Soonest due first; equal due dates in family id order (the same in the table and the engine).
    tied = sorted([north_pat, south], key=lambda f: uuid.UUID(f).hex)
    assert [f for f, *_ in view(status="overdue")] == tied
    assert view(due_before="2026-01-19") == [(f, "fh-consent", "overdue", "2026-01-08") for f in tied]
    assert view(status=["open", "extended"], team="north") == [(north_kim, "fh-consent", "open", "2026-01-19")]


def test_a_team_role_sees_only_its_own_teams_view(client):
    _family_hub_family(client)
    _family_hub_family(client, team="south", worker="sue", headers=SOUTH)
    mine = client.get("/deadlines", params={"as_of": "2026-01-12T12:00:00+00:00"}, headers=MANAGER).json()
    assert {r["team"] for r in mine["deadlines"]} == {"north"}
    other = client.get("/deadlines", params={"team": "south"}, headers=MANAGER)
    assert other.status_code == 403 and other.headers["content-type"].startswith("application/problem+json")
    assert "sees only that team" in other.json()["detail"]


def test_a_closed_family_leaves_the_team_view(client):
    fid = _family_hub_family(client)["family_id"]
    for headers, body in [(PRACTITIONER, {"type": "ClosureProposed", "reason": "no_further_action",
                                          "occurred_at": "2026-01-06T10:00:00+00:00"}),
                          (MANAGER, {"type": "ClosureAuthorised", "occurred_at": "2026-01-06T11:00:00+00:00"}),
                          (MANAGER, {"type": "DocumentRecorded", "document": "family-survey",
                                     "occurred_at": "2026-01-06T11:30:00+00:00"}),
                          (MANAGER, {"type": "EpisodeClosed", "reason": "no_further_action",
                                     "occurred_at": "2026-01-06T12:00:00+00:00"})]:
        assert command(client, fid, body, headers).status_code == 201
    rows = client.get("/deadlines", params={"team": "north", "as_of": "2026-01-12T12:00:00+00:00"},
                      headers=MANAGER).json()["deadlines"]
    assert fid not in {r["family_id"] for r in rows}
    # The family's own record still shows the consent clock, ended by the closure.
    consent = deadlines(client, fid, "2026-01-12T12:00:00+00:00")["fh-consent"][0]
    assert (consent["state"], consent["reason"]) == ("not_applicable", "episode closed")


def test_bad_deadline_queries_are_clear_problems(client):
    fid = _family_hub_family(client)["family_id"]
    cases = [
        (f"/families/{fid}/deadlines", {"as_of": "2026-01-09T12:00:00"}, 422, "timezone"),
        (f"/families/{fid}/deadlines", {"as_of": "next tuesday"}, 422, "as_of"),
        (f"/families/{uuid.uuid4()}/deadlines", {}, 404, "no family"),
        ("/families/not-a-uuid/deadlines", {}, 422, "family_id"),
        (f"/families/{fid}/deadlines", {"as_at": "2000-01-01T00:00:00+00:00"}, 404, "had not been recorded"),
        ("/deadlines", {"status": "late"}, 422, "status"),
        ("/deadlines", {"due_before": "31/01/2026"}, 422, "due_before"),
    ]
    for path, params, status, words in cases:
        r = client.get(path, params=params, headers=PRACTITIONER)
        assert r.status_code == status, (path, params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.json()["detail"], (words, r.json()["detail"])


def test_a_familys_deadlines_read_again_are_what_a_fresh_walk_of_its_record_gives(client, ledger):
    """The ledger holds the engine's walk of a family it has read (ADR 0037): a second read
    with nothing new decodes and walks nothing, but every answer, after a new entry, a
    correction (which changes a fact already walked) or for an earlier day, is the one the
    engine gives from the whole record."""
    from ledger import deadlines as engine

    fid = _family_hub_family(client)["family_id"]
    family_id = uuid.UUID(fid)

    def fresh(as_of):
        events = ledger.family_events(family_id)
        return {"family_id": family_id, **engine.evaluate(events, ledger.pack(events[0].policy), as_of)}

    def read_both(day):
        as_of = engine.datetime.fromisoformat(day)
        first, again = (ledger.deadlines(family_id, as_of=as_of) for _ in range(2))
        assert first == again == fresh(as_of)
        return again

    consent = next(r for r in read_both("2026-01-09T12:00:00+00:00")["deadlines"] if r["rule"] == "fh-consent")
    decoded = []
    real = ledger.family_events
    ledger.family_events = lambda f: decoded.append(f) or real(f)
    ledger.deadlines(family_id, as_of=engine.datetime.fromisoformat("2026-02-09T12:00:00+00:00"))
    assert decoded == []  # nothing new recorded: the held walk answered
    ledger.family_events = real
    assert consent["state"] == "overdue"
    state = client.get(f"/families/{fid}", headers=PRACTITIONER).json()
    adult = next(m["member_id"] for m in state["members"] if m["kind"] == "adult")
    r = command(client, fid, {"type": "ConsentGiven", "given_by": adult, "scope": ["support"],
                              "occurred_at": "2026-01-05T10:00:00+00:00"}, MANAGER)
    assert r.status_code == 201, r.text
    events = client.get(f"/families/{fid}/events", headers=PRACTITIONER).json()["events"]
    referral = next(e for e in events if e["type"] == "ReferralReceived")
    read_both("2026-01-09T12:00:00+00:00")
    r = command(client, fid, {"type": "EntryCorrected", "corrects": referral["event_id"], "reason": "wrong day",
                              "changes": {"occurred_at": "2025-12-12T09:00:00+00:00"}}, MANAGER)
    assert r.status_code == 201, r.text
    read_both("2026-01-09T12:00:00+00:00")
    read_both("2025-12-17T12:00:00+00:00")  # before the allocation: fewer facts had happened
    read_both("2026-03-01T12:00:00+00:00")
