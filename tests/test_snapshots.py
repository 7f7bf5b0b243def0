"""Long family streams load from a snapshot, and the snapshot gives the same state."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from eventsourcing.application import project_aggregate

from aggregates.family import Family

# Storage tests (docs/testing.md): the snapshot store and the aggregate cache over the event
# store, on every database.
pytestmark = pytest.mark.storage

ACTOR = {"user_id": "pat", "role": "practitioner", "team": "north"}


def test_a_family_of_several_snapshot_intervals_loads_from_a_snapshot(ledger):
    """A family whose record crosses the snapshot interval several times (one save
    crossing it twice) loads from its latest snapshot and the events after it, and the
    snapshot gives the state a replay of the whole stream gives.

    Size: 450 case notes in 3 saves of 150, with the default interval of 100 (it was
    5,000 in 10 saves of 500, about a minute a database, as each snapshot holds the whole
    record): snapshots at 100 ... 400, the second save taking two; the load reads the 52
    events after the last one. Snapshot, load and replay take the same path at any length."""
    interval = ledger.settings.snapshot_interval
    recorded = ledger.register_family(
        policy="durham-one-point", team="north", actor=ACTOR,
        members=[{"given_name": "Ava", "family_name": "Stone", "kind": "child", "date_of_birth": None}],
    )
    fid = recorded.family_id
    ledger.record(fid, "ReferralReceived", {"episode_id": uuid.uuid4(), "route": "self", "reason": "help"}, actor=ACTOR)
    family = ledger.family(fid)
    pack = ledger.pack(family.policy)
    when = datetime(2026, 1, 5, 10, tzinfo=timezone.utc)
    for batch in range(3):  # 3 transactions of 150 events, through the aggregate's own checks
        for i in range(3 * interval // 2):
            envelope = ledger._envelope(pack, ACTOR, when, about=[], context={})
            family.record("CaseNoteRecorded", {"text": f"note {batch}-{i}", "contact_type": None}, envelope, pack)
        ledger.save(family)
    assert family.version >= 4 * interval + 2  # four snapshots' worth, and more

    snapshots = list(ledger.snapshots.get(fid, desc=True, limit=1))
    assert snapshots and snapshots[0].originator_version > family.version - ledger.settings.snapshot_interval

    read_events = []
    original = ledger.recorder.select_events

    def counting(*args, **kwargs):
        rows = original(*args, **kwargs)
        read_events.extend(rows)
        return rows

    ledger.recorder.select_events = counting  # type: ignore[method-assign]
    ledger.forget_cached(fid)  # as a process that has not read the family yet
    loaded = ledger.family(fid)
    assert loaded.version == family.version
    assert len(read_events) < ledger.settings.snapshot_interval, "loaded the whole stream, not the snapshot"

    replayed = project_aggregate(None, ledger.events.get(fid))
    assert isinstance(replayed, Family)
    assert replayed.state() == loaded.state()

    # Read again after one more command: the family is held in the cache as it was saved,
    # so the read asks the database for anything newer and finds nothing to decode.
    ledger.record(fid, "CaseNoteRecorded", {"text": "one more", "contact_type": None}, actor=ACTOR)
    read_events.clear()
    assert ledger.family(fid).version == family.version + 1
    assert read_events == []
    # One recorded elsewhere (another process, straight to the store) is read, and only it.
    other = ledger.family(fid)
    other.record("CaseNoteRecorded", {"text": "from elsewhere", "contact_type": None},
                 ledger._envelope(pack, ACTOR, when, about=[], context={}), pack)
    ledger.recorder.insert_events([ledger.mapper.to_stored_event(e) for e in other.collect_events()])
    assert ledger.family(fid).version == family.version + 2
    assert len(read_events) == 1


def test_a_command_works_on_a_copy_that_shares_nothing_it_changes_with_the_cached_family(ledger):
    """The family cache hands each command its own copy (``Family.__deepcopy__``, which
    copies the log of facts flat and each episode's history list by list): a
    command that changes its copy and is never saved leaves the cached family as it was."""
    recorded = ledger.register_family(
        policy="durham-one-point", team="north", actor=ACTOR,
        members=[{"given_name": "Ava", "family_name": "Stone", "kind": "child", "date_of_birth": None}],
    )
    fid = recorded.family_id
    ledger.record(fid, "ReferralReceived", {"episode_id": uuid.uuid4(), "route": "self", "reason": "help"}, actor=ACTOR)
    ledger.record(fid, "CaseNoteRecorded", {"text": "first visit", "contact_type": None}, actor=ACTOR)
    cached = ledger.family(fid, copy=False)
    before = cached.state()
    history = list(cached.current_episode["history"])

    mine = ledger.family(fid)
    assert mine is not cached and mine.state() == before
    pack = ledger.pack(mine.policy)
    envelope = ledger._envelope(pack, ACTOR, None, about=[], context={})
    mine.record("CaseNoteRecorded", {"text": "never saved", "contact_type": None}, envelope, pack)
    next(iter(mine.members.values()))["given_name"] = "Changed"
    mine.current_episode["team"] = "south"

    assert mine.version == cached.version + 1
    assert cached.state() == before
    assert cached.current_episode["history"] == history
    assert len(cached.log) == len(mine.log) - 1
    assert ledger.family(fid).state() == before  # the next command's copy, too


def test_a_familys_events_read_as_the_library_reads_them(ledger):
    """The recorders' own ``select_events`` (the statement made once a shape, rows read as
    tuples) gives, for every shape of read (after a version, up to one, newest first, a
    limit, by id or its hex text), the same stored events as the library's, and nothing of
    another family."""
    from eventsourcing.postgres import PostgresApplicationRecorder
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    library = (SQLiteApplicationRecorder if isinstance(ledger.recorder, SQLiteApplicationRecorder)
               else PostgresApplicationRecorder).select_events
    members = [{"given_name": "Ava", "family_name": "Stone", "kind": "child", "date_of_birth": None}]
    fid = ledger.register_family(policy="durham-one-point", team="north", actor=ACTOR, members=members).family_id
    other = ledger.register_family(policy="durham-one-point", team="north", actor=ACTOR, members=members).family_id
    for family in (fid, other):
        ledger.record(family, "ReferralReceived", {"episode_id": uuid.uuid4(), "route": "self", "reason": "help"},
                      actor=ACTOR)
    for i in range(4):
        ledger.record(fid, "CaseNoteRecorded", {"text": f"note {i}", "contact_type": None}, actor=ACTOR)
        ledger.record(other, "CaseNoteRecorded", {"text": f"other {i}", "contact_type": None}, actor=ACTOR)
    shapes = [{}, {"gt": 2}, {"lte": 4}, {"gt": 1, "lte": 5}, {"desc": True}, {"desc": True, "limit": 1},
              {"limit": 3}, {"gt": 2, "lte": 5, "desc": True, "limit": 2}, {"gt": 6}]
    for shape in shapes:
        for asked in (fid, fid.hex):
            ours = ledger.recorder.select_events(asked, **shape)
            theirs = library(ledger.recorder, asked, **shape)
            assert [(e.originator_id, e.originator_version, e.topic, bytes(e.state)) for e in ours] == \
                [(e.originator_id, e.originator_version, e.topic, bytes(e.state)) for e in theirs], shape
            assert all(type(e.originator_id) is uuid.UUID for e in ours)
    assert [e.originator_version for e in ledger.recorder.select_events(fid)] == [1, 2, 3, 4, 5, 6]
