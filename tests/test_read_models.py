"""Deadlines, caseloads and oversight read models and the feed, on SQLite and PostgreSQL,
and the reconstruction of what a decision-maker could see."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from demo import generate
from projections import deadlines as deadline_model
from projections.projector import Projector
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, SUPERVISOR, auth, command, ok, open_ledger
from tests.registration import post_family

# Storage tests (docs/testing.md): the team views, caseloads, oversight and the feed are SQL
# run by the database (filters, grouping, ordering, the notification log), so on every
# database; a request refused before any query is marked one_database.
pytestmark = pytest.mark.storage

NCC = "northamptonshire-0-19"
SOUTHAMPTON = "southampton-0-19"


def family(client, policy: str, team: str = "north", children: int = 2, headers=PRACTITIONER) -> str:
    members = [{"given_name": f"Child{i}", "family_name": "Lee", "kind": "child", "date_of_birth": "2015-03-03"}
               for i in range(children)]
    members.append({"given_name": "Pam", "family_name": "Lee", "kind": "adult", "date_of_birth": "1985-01-01"})
    r = post_family(client, headers=headers, json={"policy": policy, "team": team, "members": members})
    assert r.status_code == 201, r.text
    return r.json()["family_id"]


def open_and_allocate(client, fid: str, worker: str, pathway: str, when: str = "2026-03-02", headers=MANAGER):
    ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "concern",
                     "occurred_at": f"{when}T09:00:00+00:00"}, headers)
    ok(client, fid, {"type": "AllocatedToTeam", "team": "north", "pathway": pathway,
                     "occurred_at": f"{when}T10:00:00+00:00"}, headers)
    return ok(client, fid, {"type": "AllocatedToWorker", "worker_id": worker, "occurred_at": f"{when}T11:00:00+00:00"},
              headers)


# --- deadlines ---------------------------------------------------------------------------


def test_the_team_view_reads_the_deadlines_table_and_agrees_with_the_engine(client, clock):
    fids = [family(client, NCC) for _ in range(3)]
    for i, fid in enumerate(fids):
        open_and_allocate(client, fid, f"worker{i % 2}", "parenting", when=f"2026-0{i + 3}-02")
    from_table = client.get("/deadlines", params={"team": "north"}, headers=MANAGER).json()["deadlines"]
    now = clock().isoformat()
    from_engine = client.get("/deadlines", params={"team": "north", "as_of": now}, headers=MANAGER).json()["deadlines"]
    assert from_table and from_table == from_engine
    worker0 = client.get("/deadlines", params={"worker": "worker0", "status": "overdue"}, headers=MANAGER).json()
    assert {r["family_id"] for r in worker0["deadlines"]} == {fids[0], fids[2]}
    assert all(r["state"] == "overdue" for r in worker0["deadlines"])


# --- caseloads ---------------------------------------------------------------------------


def test_caseloads_count_open_families_and_children_per_worker_and_flag_who_is_over_the_cap(client):
    # Northamptonshire: "10 families or 25 children, whichever is reached first" (seed 002 L123).
    for _ in range(11):
        open_and_allocate(client, family(client, NCC, children=1), "pat", "parenting")
    for _ in range(2):
        open_and_allocate(client, family(client, NCC, children=3), "kim", "parenting")
    unallocated = family(client, NCC)
    ok(client, unallocated, {"type": "ReferralReceived", "route": "self", "reason": "asked for help"})
    body = client.get("/caseloads", params={"team": "north"}, headers=MANAGER).json()
    [north] = body["teams"]
    assert (north["families"], north["children"], north["unallocated"]) == (14, 19, 1)
    workers = {w["worker"]: w for w in north["workers"]}
    assert (workers["pat"]["families"], workers["pat"]["children"]) == (11, 11)
    assert (workers["pat"]["max_families"], workers["pat"]["max_children"]) == (10, 25)
    assert workers["pat"]["over_cap"] and workers["pat"]["over"] == ["11 families, cap 10"]
    assert (workers["kim"]["families"], workers["kim"]["children"], workers["kim"]["over_cap"]) == (2, 6, False)
    assert body["over_cap"] == [{"team": "north", "worker": "pat", "worker_name": "pat (not in the staff directory)",
                                 "over": ["11 families, cap 10"]}]


def test_a_transfer_moves_the_family_to_the_receiving_teams_caseload_and_closure_takes_it_off(client):
    fid = family(client, NCC)
    open_and_allocate(client, fid, "pat", "parenting")
    ok(client, fid, {"type": "TransferredOut", "to_team": "south", "reason": "moved house"}, MANAGER)
    ok(client, fid, {"type": "TransferredIn", "from_team": "north"}, auth("manager", "sol", "south"))
    view = client.get("/caseloads", headers=AUDITOR).json()
    teams = {t["team"]: t for t in view["teams"]}
    assert "north" not in teams and teams["south"]["unallocated"] == 1


# --- oversight ---------------------------------------------------------------------------


def test_a_familys_oversight_footprint_lists_management_decisions_with_who_and_when(client):
    fid = family(client, NCC)
    open_and_allocate(client, fid, "pat", "parenting")
    ok(client, fid, {"type": "CaseNoteRecorded", "text": "a practitioner's note"})
    sup = ok(client, fid, {"type": "SupervisionRecorded", "worker_id": "pat", "text": "plan reviewed",
                           "occurred_at": "2026-03-16T10:00:00+00:00"}, SUPERVISOR)
    body = client.get(f"/families/{fid}/oversight", headers=MANAGER).json()
    decisions = [(d["kind"], d["by"]["user_id"], d["by"]["role"]) for d in body["decisions"]]
    assert decisions == [("allocation", "meg", "manager"), ("allocation", "meg", "manager"),
                         ("supervision", "sam", "supervisor")]
    assert body["decisions"][-1]["event_id"] == sup["event_id"]
    assert body["decisions"][-1]["summary"] == "Formal supervision of pat (not in the staff directory): plan reviewed"
    assert body["last_oversight_at"].startswith("2026-03-16T10:00:00")
    by_manager = client.get("/oversight", params={"manager": "sam"}, headers=SUPERVISOR).json()
    assert by_manager["decisions"] == 1 and by_manager["families"][0]["family_id"] == fid


def test_families_without_supervision_within_the_packs_interval_are_gaps(client, clock):
    # Southampton: each case supervised at least every 8 weeks (seed 004 L353).
    supervised, neglected = family(client, SOUTHAMPTON), family(client, SOUTHAMPTON)
    for fid in (supervised, neglected):
        ok(client, fid, {"type": "ReferralReceived", "route": "professional", "reason": "concern",
                         "occurred_at": "2026-05-01T09:00:00+00:00"}, MANAGER)
    ok(client, supervised, {"type": "SupervisionRecorded", "worker_id": "pat", "kind": "formal",
                            "occurred_at": clock().isoformat()}, SUPERVISOR)
    gaps = client.get("/oversight", params={"gaps": "true", "team": "north"}, headers=MANAGER).json()
    assert [g["family_id"] for g in gaps["gaps"]] == [neglected]
    # No supervision since the episode opened on 1 May 2026: due 8 weeks later, 26 June.
    assert gaps["gaps"][0]["due"] == "2026-06-26" and gaps["gaps"][0]["interval"]["rule"] == "case-supervision"


def test_an_auditor_with_a_footprint_on_a_case_is_not_independent_of_it(client):
    fid = family(client, NCC)
    open_and_allocate(client, fid, "pat", "parenting")
    ok(client, fid, {"type": "ManagementOversightRecorded", "text": "risk reviewed", "decision": "continue"},
       auth("supervisor", "ann", "north"))
    # Ann, a Senior Practitioner who recorded oversight, later audits the case (seed 002 L317).
    ann = client.get(f"/families/{fid}/oversight", headers=auth("auditor", "ann", None)).json()["independence"]
    assert ann["independent"] is False and ann["footprint"][0]["role"] == "supervisor"
    bob = client.get(f"/families/{fid}/oversight", params={"auditor": "bob"}, headers=MANAGER).json()["independence"]
    assert bob == {"auditor": "bob", "independent": True, "footprint": []}
    cases = client.get("/oversight", params={"auditor": "ann"}, headers=AUDITOR).json()["footprint"]
    assert [c["family_id"] for c in cases] == [fid]


@pytest.mark.one_database
def test_an_oversight_query_asks_for_one_thing(client):
    r = client.get("/oversight", headers=MANAGER)
    assert r.status_code == 422 and "exactly one" in r.json()["detail"]


# --- feed --------------------------------------------------------------------------------


def test_the_feed_gives_events_in_global_order_with_envelopes_and_a_cursor(client):
    a, b = family(client, NCC), family(client, NCC)
    first = ok(client, a, {"type": "ReferralReceived", "route": "self", "reason": "a"})
    second = ok(client, b, {"type": "ReferralReceived", "route": "self", "reason": "b"})
    after = first["position"] - 1
    page = client.get("/feed", params={"after": after, "limit": 1}, headers=auth("service", "etl", None)).json()
    assert [e["position"] for e in page["events"]] == [first["position"]] and page["more"] is True
    event = page["events"][0]
    assert event["family_id"] == a and event["type"] == "ReferralReceived"
    assert {"occurred_at", "recorded_at", "actor", "policy", "policy_version", "version"} <= set(event)
    rest = client.get("/feed", params={"after": page["next"]}, headers=AUDITOR).json()
    assert [e["position"] for e in rest["events"]] == [second["position"]] and rest["more"] is False
    assert client.get("/feed", params={"after": rest["next"]}, headers=AUDITOR).json()["events"] == []
    only = client.get("/feed", params={"types": "FamilyRegistered"}, headers=AUDITOR).json()["events"]
    assert {e["family_id"] for e in only} >= {a, b} and {e["type"] for e in only} == {"FamilyRegistered"}
    bad = client.get("/feed", params={"types": "Nonsense"}, headers=AUDITOR)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


# --- decisions ---------------------------------------------------------------------------


def test_a_decision_is_shown_with_what_its_maker_could_see_when_they_recorded_it(client):
    fid = family(client, NCC)
    open_and_allocate(client, fid, "pat", "parenting")
    ok(client, fid, {"type": "ClosureProposed", "reason": "outcomes_met", "summary": "draft closure summary"})
    decision = ok(client, fid, {"type": "ClosureAuthorised", "comment": "agreed"}, MANAGER)
    ok(client, fid, {"type": "CaseNoteRecorded", "text": "recorded after the decision"})
    body = client.get(f"/families/{fid}/decisions/{decision['event_id']}", headers=MANAGER).json()
    assert body["decision"]["type"] == "ClosureAuthorised" and body["decision"]["actor"]["user_id"] == "meg"
    summaries = [e["summary"] for e in body["chronology"]]
    assert "Closure proposed: outcomes met; draft closure summary" in summaries
    assert "recorded after the decision" not in summaries
    assert not any(e["type"] == "ClosureAuthorised" for e in body["chronology"])
    assert body["family"]["current_episode"]["closure"]["authorised"] is False
    assert body["deadlines"]["known_at"] == body["as_at"]
    note = next(e for e in client.get(f"/families/{fid}/events", headers=MANAGER).json()["events"]
                if e["type"] == "CaseNoteRecorded")
    r = client.get(f"/families/{fid}/decisions/{note['event_id']}", headers=MANAGER)
    assert r.status_code == 422 and "not a decision" in r.json()["detail"]
    assert client.get(f"/families/{fid}/decisions/{uuid.uuid4()}", headers=MANAGER).status_code == 404


def test_what_the_oversight_view_lists_as_a_decision_the_decision_view_reconstructs(client):
    """One definition of a decision (``FamilyEvent.decision_kind``): a manager's
    allocation is in the oversight footprint and its context can be reconstructed."""
    fid = family(client, NCC)
    open_and_allocate(client, fid, "pat", "parenting")
    events = client.get(f"/families/{fid}/events", headers=MANAGER).json()["events"]
    allocation = next(e for e in events if e["type"] == "AllocatedToTeam")
    body = client.get(f"/families/{fid}/decisions/{allocation['event_id']}", headers=MANAGER)
    assert body.status_code == 200, body.text
    assert body.json()["decision"]["type"] == "AllocatedToTeam"


def test_reads_that_name_a_position_see_that_write(client):
    fid = family(client, NCC)
    r = command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "just now"})
    position = r.json()["position"]
    entries = client.get(f"/families/{fid}/chronology", params={"min_position": position},
                         headers=PRACTITIONER).json()["entries"]
    assert "just now" in entries[-1]["summary"] or any("just now" in e["summary"] for e in entries)


def test_a_view_of_some_states_is_the_whole_view_filtered_at_any_moment(settings):
    """The team and worker views filtered by state (read through the index of running
    clocks where the states are running ones) give exactly the rows of the unfiltered view
    in those states, at moments on each side of a clock's due and exactly at it (an
    hours clock is overdue after its due instant, a day clock on its due day)."""
    generate(settings, families=10, seed=3, until=datetime(2026, 6, 1, tzinfo=timezone.utc))
    ledger = open_ledger(settings)
    projector = Projector(ledger)
    try:
        projector.catch_up()
        with projector.reading("deadlines") as tx:
            running = tx.rows("SELECT DISTINCT due_at, team, worker FROM {deadline_clocks} "
                              "WHERE settled IS NULL AND due_at IS NOT NULL ORDER BY due_at")
        assert len(running) >= 5 and {r["team"] for r in running} != {None}
        moments = [datetime.fromisoformat(r["due_at"]) + timedelta(microseconds=d)
                   for r in running[:: max(1, len(running) // 6)] for d in (-1, 0, 1)]
        choices = [{s} for s in ("open", "overdue", "extended", "paused", "met", "met_late", "breach")]
        choices += [{"open", "overdue"}, {"overdue", "met_late"}, set(deadline_model.RUNNING)]
        seen: set[str] = set()
        for now in moments:
            for who in ({"team": running[0]["team"]}, {"worker": running[0]["worker"]}, {}):
                with projector.reading("deadlines") as tx:
                    whole = deadline_model.view(tx, now=now, sealer=projector.sealer, **who)
                    seen |= {r["state"] for r in whole}
                    for states in choices:
                        some = deadline_model.view(tx, now=now, sealer=projector.sealer, states=states, **who)
                        assert some == [r for r in whole if r["state"] in states], (now, who, states)
        assert {"open", "overdue"} <= seen
    finally:
        ledger.close()
