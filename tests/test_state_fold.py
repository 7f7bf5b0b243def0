"""One fold of a family's current facts (``aggregates/state.py``), and everyone agreeing on it.

The aggregate, the deadline engine and the read models (caseloads, oversight, deadlines,
episodes) each report some of a family's current facts: its team, its lead worker and
other workers, its episode and whether it is open, its pathway, a transfer awaiting
acceptance. They all work them out with the one fold, so after every event of the demo
families they must say the same (ADR 0026).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from aggregates import state
from aggregates.family import Family
from demo import generate
from ledger.deadlines import evaluate
from ledger.settings import Settings
from projections.projector import Projector
from tests.conftest import SECRET, open_ledger
from tests.test_demo import events_in_order

# The fold is Python; the read models' SQL is the same on both databases (their storage
# is tested in the storage tests): one database.
pytestmark = pytest.mark.one_database

UNTIL = datetime(2026, 11, 24, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = Settings(data_dir=tmp_path_factory.mktemp("fold"), jwt_secret=SECRET)
    ledger = open_ledger(settings)
    generate(settings, families=10, seed=11, until=UNTIL)
    yield ledger, events_in_order(ledger)
    ledger.close()


def test_the_aggregate_the_engine_and_every_read_model_agree_after_every_event(demo):
    ledger, events = demo
    projector = Projector(ledger)
    families: dict[uuid.UUID, Family] = {}
    streams: dict[uuid.UUID, list[Any]] = {}
    checked = {"non-lead workers": 0, "transfers pending": 0, "closed": 0, "paused": 0}
    for position, event in enumerate(events, start=1):
        fid = event.originator_id
        families[fid] = event.mutate(families.get(fid))  # type: ignore[arg-type]
        streams.setdefault(fid, []).append(event)
        projector.catch_up(until=position)
        expected = _aggregate(families[fid])
        where = f"{event.type} at position {position} of family {fid}"
        outcome = evaluate(streams[fid], ledger.packs[event.policy], as_of=event.recorded_at)
        assert _engine(outcome) == {k: expected[k] for k in _engine(outcome)}, where
        with projector.reading("caseloads", "oversight", "deadlines", "episodes") as tx:
            caseload = tx.one("SELECT * FROM {caseload_families} WHERE family_id = ?", (fid.hex,))
            oversight = tx.one("SELECT * FROM {oversight_families} WHERE family_id = ?", (fid.hex,))
            clocks = tx.rows("SELECT team, worker, episode_open FROM {deadline_clocks} WHERE family_id = ? "
                             "AND current_episode = 1", (fid.hex,))
            episodes = tx.rows("SELECT episode_id, worker_id, end_date FROM {early_help_episodes} "
                               "WHERE family_id = ?", (fid.hex,))
        assert caseload is not None and oversight is not None, where
        assert (caseload["team"], caseload["worker"], bool(caseload["open"]), caseload["pending_team"]) == (
            expected["team"], expected["worker"], expected["episode_open"], expected["pending_team"]), where
        assert (oversight["team"], bool(oversight["open"]), oversight["pending_team"]) == (
            expected["team"], expected["episode_open"], expected["pending_team"]), where
        for clock in clocks:
            assert (clock["team"], clock["worker"], bool(clock["episode_open"])) == (
                expected["team"], expected["worker"], expected["episode_open"]), where
        latest = [e for e in episodes
                  if expected["episode_id"] and uuid.UUID(e["episode_id"]) == expected["episode_id"]]
        for row in latest:  # one row per child of the episode
            assert (row["worker_id"], row["end_date"] is None) == (expected["worker"], expected["episode_open"]), where
        checked["non-lead workers"] += bool(expected["other_workers"])
        checked["transfers pending"] += expected["pending_team"] is not None
        checked["closed"] += expected["episode_id"] is not None and not expected["episode_open"]
        checked["paused"] += expected["paused"]
    # The demo's mix exercises what the fold decides, not just the easy path.
    assert all(checked.values()), checked


def test_a_copy_of_a_state_is_what_a_deep_copy_is_and_changes_apart_from_it(demo):
    """The deadline engine copies a family's state at every command (``state.copy_of``,
    not ``copy.deepcopy``): after every demo event, the copy equals the state, and the
    family's later facts applied to the copy leave the state as a deep copy of it was."""
    import copy

    from ledger.deadlines import as_state_fact, facts

    _, events = demo
    streams: dict[uuid.UUID, list[Any]] = {}
    for event in events:
        streams.setdefault(event.originator_id, []).append(event)
    copies = 0
    for stream in streams.values():
        found = [as_state_fact(f) for f in facts(stream)]
        current = state.fold(found[:1])
        for i, fact in enumerate(found[1:], start=1):
            copied, deep = state.copy_of(current), copy.deepcopy(current)
            assert copied == current
            for later in found[i:]:
                state.apply(copied, later)
            assert current == deep, f"the copy changed the state it was made from, at {fact.type}"
            state.apply(current, fact)
            copies += 1
    assert copies > 100


def _aggregate(family: Family) -> dict[str, Any]:
    view = family.state()
    episode = view["current_episode"] or {}
    return {
        "team": view["team"], "worker": episode.get("worker"), "other_workers": episode.get("other_workers", []),
        "pathway": episode.get("pathway"), "episode_id": episode.get("episode_id"),
        "episode_open": episode.get("status") == "open", "paused": bool(episode.get("paused")),
        "pending_team": (view["pending_transfer"] or {}).get("to_team"),
    }


def _engine(outcome: dict[str, Any]) -> dict[str, Any]:
    return {k: outcome[k] for k in ("team", "worker", "other_workers", "pathway", "episode_id", "episode_open")}


# --- the lead worker and the others ------------------------------------------------------


def _fact(kind: str, **values: Any) -> state.Fact:
    return state.Fact(uuid.uuid4(), kind, UNTIL, {"user_id": "meg", "role": "manager"}, (), values)


def test_a_worker_allocated_alongside_the_lead_does_not_replace_the_lead():
    child = uuid.uuid4()
    now = state.fold([
        _fact("FamilyRegistered", team="north", members=[{"member_id": child, "kind": "child"}]),
        _fact("ReferralReceived", episode_id=uuid.uuid4()),
        _fact("AllocatedToWorker", worker_id="pat", lead_professional=True),
        _fact("AllocatedToWorker", worker_id="sam", lead_professional=False),
    ])
    episode = state.current(now)
    assert episode is not None
    assert (episode["worker"], episode["other_workers"]) == ("pat", ["sam"])
    # A new lead replaces the lead and leaves the others' list; the lead allocated again
    # as not the lead stops being it.
    state.apply(now, _fact("AllocatedToWorker", worker_id="sam", lead_professional=True))
    assert (episode["worker"], episode["other_workers"]) == ("sam", [])
    state.apply(now, _fact("AllocatedToWorker", worker_id="sam", lead_professional=False))
    assert (episode["worker"], episode["other_workers"]) == (None, ["sam"])
    # A transfer to another team leaves the episode with no worker until that team allocates.
    state.apply(now, _fact("TransferredOut", to_team="south"))
    assert now["pending_transfer"] is not None and now["team"] == "north"
    state.apply(now, _fact("TransferredIn", from_team="north"))
    assert (now["team"], now["pending_transfer"], episode["worker"], episode["other_workers"]) == (
        "south", None, None, [])


def test_the_family_the_deadlines_and_the_caseloads_name_the_same_lead_worker(client):
    """The bug this fold fixed: a lead then a non-lead worker; the family view named the
    second, the deadlines and caseloads the first."""
    from tests.conftest import MANAGER, ok
    from tests.test_read_models import NCC, family, open_and_allocate

    fid = family(client, NCC)
    open_and_allocate(client, fid, "pat", "parenting")
    ok(client, fid, {"type": "AllocatedToWorker", "worker_id": "sam", "lead_professional": False,
                     "occurred_at": "2026-03-02T12:00:00+00:00"}, MANAGER)
    episode = client.get(f"/families/{fid}", headers=MANAGER).json()["current_episode"]
    assert (episode["worker"], episode["other_workers"]) == ("pat", ["sam"])
    deadlines = client.get(f"/families/{fid}/deadlines", headers=MANAGER).json()
    assert deadlines["worker"] == "pat" and deadlines["other_workers"] == ["sam"]
    caseloads = client.get("/caseloads", headers=MANAGER).json()
    workers = {w["worker"] for t in caseloads["teams"] for w in t["workers"]}
    assert "pat" in workers and "sam" not in workers
