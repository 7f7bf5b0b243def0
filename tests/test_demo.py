"""The demo data (issue 5): synthetic families walked through every pack's pathways over
simulated months, through the real command path (on one database: docs/testing.md).

Every command a story records must be accepted by the aggregate and its pack (a refusal
stops the run), so the first checks are that the record holds exactly what the generator
planned; the rest check, through the deadline engine and the record, that the mix a real
service has is there, and that a seed always gives the same history.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aggregates.events import FamilyEvent
from demo import PACK_ORDER, DemoAlreadyLoaded, generate
from ledger.application import Ledger, event_view
from ledger.calendar import london_date
from ledger.sealing import ERASED
from ledger.settings import Settings
from tests.conftest import FixedClock, open_ledger, settings_for

# Storage-neutral (docs/testing.md): the demo generator's stories, mix and determinism are
# Python over the public command path; the event store under it is tested by the storage
# tests, so on one database.
pytestmark = pytest.mark.one_database

UNTIL = datetime(2026, 11, 24, tzinfo=timezone.utc)
"""Histories end here (midnight starting 24 November 2026), so every assertion is stable
whatever day the suite runs on."""


def events_in_order(ledger: Ledger) -> list[FamilyEvent]:
    """Every event in global order (the notification log)."""
    found: list[FamilyEvent] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, 1000)
        found.extend(ledger.mapper.to_domain_event(n) for n in page)  # type: ignore[misc]
        if len(page) < 1000:
            return found
        start = page[-1].id + 1


def by_family(events: list[FamilyEvent]) -> dict[uuid.UUID, list[FamilyEvent]]:
    families: dict[uuid.UUID, list[FamilyEvent]] = {}
    for e in events:
        families.setdefault(e.originator_id, []).append(e)
    return families


@pytest.fixture(scope="module")
def demo(database: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Twenty families (four per pack) recorded into a fresh database, once per database
    kind for the tests of this module that only read them (as ``settings`` makes them)."""
    settings = settings_for(database, tmp_path_factory.mktemp("demo"), request, pool_size=4)
    ledger = open_ledger(settings)
    summary = generate(settings, families=20, seed=7, until=UNTIL)
    events = events_in_order(ledger)
    yield ledger, summary, events
    ledger.close()


def test_every_family_is_recorded_through_the_command_path_across_every_pack(demo):
    ledger, summary, events = demo
    families = by_family(events)
    # Every command the stories planned was accepted: the record holds all of them.
    assert len(events) == summary["events"] == ledger.recorder.max_notification_id()
    assert summary["event_types"] == dict(sorted(Counter(e.type for e in events).items()))
    assert "PersonalDataErased" not in summary["event_types"]  # none unless asked (``erasures``)
    assert len(families) == len(ledger.family_ids()) == summary["families"] == 20
    # All five packs, four families each, each worked by several teams and workers.
    packs = Counter(stream[0].policy for stream in families.values())
    assert packs == {pack: 4 for pack in PACK_ORDER}
    assert summary["families_per_pack"] == {pack: 4 for pack in sorted(PACK_ORDER)}
    for pack in PACK_ORDER:
        stream = [e for e in events if e.policy == pack]
        teams = {e.actor["team"] for e in stream}
        workers = {e.worker_id for e in stream if e.type == "AllocatedToWorker"}
        roles = {e.actor["role"] for e in stream}
        assert len(teams) >= 3, (pack, teams)
        assert len(workers) >= 3, (pack, workers)
        assert roles == {"practitioner", "supervisor", "manager"}, (pack, roles)
        # Staff ids read like staff ids: the council's prefix, a role code, a number.
        assert all(e.actor["user_id"].split("-")[0] == stream[0].actor["user_id"].split("-")[0] for e in stream)
        assert all(e.actor["user_id"][-2:].isdigit() for e in stream)


def test_one_timeline_in_the_order_things_were_recorded(demo):
    ledger, summary, events = demo
    # Positions follow the simulated recording clock, which never goes backwards; nothing
    # is recorded before it happened, and the history ends before the run's "now".
    recorded = [e.recorded_at for e in events]
    assert recorded == sorted(recorded)
    assert all(e.occurred_at <= e.recorded_at < UNTIL for e in events)
    assert min(recorded) >= UNTIL - timedelta(days=460)
    # The families are interleaved on it, as in a live service, not recorded one by one.
    first_family = events[0].originator_id
    last_of_first = max(i for i, e in enumerate(events) if e.originator_id == first_family)
    assert len({e.originator_id for e in events[:last_of_first]}) > 5
    # Mostly typed up the day it happened; some entries days later.
    same_day = sum(london_date(e.occurred_at) == london_date(e.recorded_at) for e in events)
    days_late = [e for e in events if e.recorded_at - e.occurred_at > timedelta(days=2)]
    assert same_day > 0.8 * len(events)
    assert days_late and summary["entries_recorded_late"] > 0


def test_the_mix_of_a_real_service(demo):
    ledger, summary, events = demo
    families = by_family(events)
    states: Counter[str] = Counter()
    late_entries = 0
    breaches: Counter[str] = Counter()
    for family_id in families:
        found = ledger.deadlines(family_id, as_of=UNTIL)
        states.update(row["state"] for row in found["deadlines"])
        late_entries += len(found["late_entries"])
        breaches.update(b["rule"] for b in found["breaches"])
    # Now and then a home visit goes ahead before its risk assessment: recorded and
    # flagged (ADR 0019), never a sign-off that must come first.
    assert breaches["risk-assessment-before-home-visit"] > 0, breaches
    # Most clocks met on time; some met late; some overdue today; an extension running.
    assert states["met"] > 4 * (states["met_late"] + states["overdue"]) > 0
    assert states["met_late"] and states["overdue"] and states["open"]
    # Entries recorded later than a pack's recording rule allows (Durham, Haringey, Southampton).
    assert late_entries > 0
    types = Counter(e.type for e in events)
    # Extensions by a manager (or Southampton's Team Co-ordinator), the family's agreement
    # recorded after the Team Manager's where Northamptonshire orders it (L307).
    extensions = [e for e in events if e.type == "DeadlineExtended"]
    assert extensions and all(e.actor["role"] in ("manager", "supervisor") for e in extensions)
    northants = [e for e in extensions if e.policy == "northamptonshire-0-19"]
    assert northants
    for extension in northants:
        stream = families[extension.originator_id]
        agreed = [e for e in stream if e.type == "AgreementRecorded" and e.subject == "extension"]
        assert agreed and agreed[0].originator_version > extension.originator_version
        assert agreed[0].rule == extension.rule
    # A Section 47 pause under Northamptonshire's pack, and work resumed after it.
    pauses = [e for e in events if e.type == "WorkPaused" and e.reason == "section_47"]
    assert any(e.policy == "northamptonshire-0-19" for e in pauses)
    for pause in pauses:
        assert any(e.type == "WorkResumed" and e.originator_version > pause.originator_version
                   for e in families[pause.originator_id]) or pause.recorded_at > UNTIL - timedelta(days=40)
    # Step-ups, step-downs, transfers accepted by the receiving team, closures.
    assert types["SteppedUp"] and types["SteppedDown"] and types["EpisodeClosed"]
    for accepted in (e for e in events if e.type == "TransferredIn"):
        stream = families[accepted.originator_id]
        out = next(e for e in reversed(stream[:accepted.originator_version - 1]) if e.type == "TransferredOut")
        assert accepted.actor["team"] == out.to_team != out.actor["team"] == accepted.from_team
    assert types["TransferredIn"]
    # Re-referrals: a second episode opened after the first was closed.
    rereferred = [s for s in families.values()
                  if any(e.type == "ReferralReceived"
                         and any(p.type == "EpisodeClosed" for p in s[:e.originator_version - 1])
                         for e in s)]
    assert rereferred and summary["re_referrals"] == len(
        [e for e in events if e.type == "ReferralReceived"]) - len(families)
    # Corrections name an earlier entry of the family and say why.
    corrections = [e for e in events if e.type == "EntryCorrected"]
    assert corrections
    for correction in corrections:
        ids = {e.event_id for e in families[correction.originator_id][:correction.originator_version - 1]}
        assert correction.corrects in ids and correction.reason.strip() and correction.changes


def test_children_of_every_age_with_synthetic_names_and_dfe_codes(demo):
    ledger, summary, events = demo
    registered = [e for e in events if e.type == "FamilyRegistered"]
    ages, genders, ethnicities = [], Counter(), Counter()
    for e in registered:
        on = london_date(e.occurred_at)
        for member in e.members:
            assert member["given_name"] and member["family_name"] and member["date_of_birth"] <= on
            genders[member["gender"]] += 1
            ethnicities[member["ethnicity"]] += 1
            if member["kind"] == "child":
                ages.append((on - member["date_of_birth"]).days / 365.25)
    assert min(ages) < 1 and max(ages) > 11 and any(5 <= a < 11 for a in ages)
    assert set(genders) <= {"0", "1", "2", "9"} and {"1", "2"} <= set(genders)
    assert ethnicities["WBRI"] and len(ethnicities) > 3
    # Child-specific case notes name one child, and stay off the siblings' chronologies.
    notes = [e for e in events if e.type == "CaseNoteRecorded" and e.about]
    assert notes and all(len(e.about) == 1 for e in notes)
    # An expected baby: added unborn with the date it is due, then born (ChildBorn), named.
    expected = [e for e in events if e.type == "MemberAdded" and e.kind == "unborn"]
    assert expected and all(e.date_of_birth is None and e.expected_date > london_date(e.occurred_at)
                            for e in expected)
    for added in expected:
        born = [e for e in events if e.type == "ChildBorn" and e.member_id == added.member_id]
        assert born and born[0].date_of_birth <= london_date(born[0].occurred_at) and born[0].given_name != "Baby"
    # Referrals carry the broad category of their reason (the SSD's earl_episode_reason), most of them.
    categories = [e.reason_category for e in events if e.type == "ReferralReceived"]
    assert any(categories) and len({c for c in categories if c}) > 3


def fresh(settings: Settings, tmp_path: Path, name: str) -> Settings:
    """A second, empty database of the same kind as ``settings``."""
    if not settings.is_postgres:
        return settings.model_copy(update={"data_dir": tmp_path / name})
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.database_url, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return settings.model_copy(update={"database_schema": schema})


def stream_of(settings: Settings, families: int, seed: int) -> list[dict[str, Any]]:
    ledger = open_ledger(settings)
    try:
        generate(settings, families=families, seed=seed, until=UNTIL)
        return [event_view(e) for e in events_in_order(ledger)]
    finally:
        ledger.close()


def test_a_seed_gives_the_same_history_ids_included(settings, tmp_path):
    first = stream_of(settings, 8, 3)
    again = stream_of(fresh(settings, tmp_path, "again"), 8, 3)
    other = stream_of(fresh(settings, tmp_path, "other"), 8, 4)
    assert first == again  # types, fields, occurred_at, recorded_at, actors, family and event ids
    assert {e["family_id"] for e in first}.isdisjoint({e["family_id"] for e in other})
    assert [(e["type"], e["occurred_at"]) for e in first] != [(e["type"], e["occurred_at"]) for e in other]


def test_a_seed_is_loaded_once_and_other_seeds_add_families(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="x" * 40)
    ledger = Ledger(settings, clock=FixedClock())
    try:
        generate(settings, families=2, seed=5, until=UNTIL)
        before = ledger.recorder.max_notification_id()
        with pytest.raises(DemoAlreadyLoaded, match="seed 5"):
            generate(settings, families=2, seed=5, until=UNTIL)
        assert ledger.recorder.max_notification_id() == before
        generate(settings, families=2, seed=6, until=UNTIL)
        assert len(ledger.family_ids()) == 4
    finally:
        ledger.close()


def test_ledger_demo_loads_the_families_and_the_read_models(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["LEDGER_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run([sys.executable, "-m", "cli", "demo", "--families", "8", "--seed", "3"],
                          capture_output=True, text=True, env=env, timeout=300, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "demo data, seed 3: 8 families" in out and "events" in out
    assert "read models caught up to position" in out
    for pack in PACK_ORDER:
        assert pack in out
    again = subprocess.run([sys.executable, "-m", "cli", "demo", "--families", "8", "--seed", "3"],
                           capture_output=True, text=True, env=env, timeout=300, cwd=Path(__file__).parent.parent)
    assert again.returncode == 1 and "already holds the demo families of seed 3" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_a_few_hundred_families_are_all_accepted(tmp_path, seed):
    """Every story of a larger run is accepted by the packs (a refusal raises), on SQLite."""
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="x" * 40)
    ledger = Ledger(settings, clock=FixedClock())
    try:
        summary = generate(settings, families=150, seed=seed, until=UNTIL)
        assert ledger.recorder.max_notification_id() == summary["events"]
        assert summary["families_per_pack"] == {pack: 30 for pack in sorted(PACK_ORDER)}
    finally:
        ledger.close()



def test_families_asking_for_erasure_are_erased_where_their_story_ends_closed(tmp_path):
    # The benchmark's data set erases a share of the families whose story ends closed
    # (``erasures``), so that a rebuild meets erased families all along the log.
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="x" * 40)
    ledger = Ledger(settings, clock=FixedClock())
    try:
        summary = generate(settings, families=30, seed=9, until=UNTIL, erasures=1.0)
        events = events_in_order(ledger)
    finally:
        ledger.close()
    families = by_family(events)
    erased = {f for f, stream in families.items() if stream[-1].type == "PersonalDataErased"}
    episodes = {f: [e.type for e in stream if e.type in ("ReferralReceived", "EpisodeClosed")]
                for f, stream in families.items()}
    ended_closed = {f for f, opened_closed in episodes.items() if opened_closed[-1] == "EpisodeClosed"}
    # Every family ending closed asked (a share of 1), and no family with an open episode
    # was erased (the ledger refuses it): the erasure is the last thing on its record.
    assert erased == ended_closed and 0 < len(erased) < len(families)
    assert summary["event_types"]["PersonalDataErased"] == len(erased)
    assert sum(e.type == "PersonalDataErased" for e in events) == len(erased)
    # On one timeline with the rest: other families' events come after the first erasure.
    first = next(i for i, e in enumerate(events) if e.type == "PersonalDataErased")
    assert {e.originator_id for e in events[first + 1:]} - erased
    # Erased: the names recorded before read as erased; the others' still read.
    for family_id, stream in families.items():
        names = {m["given_name"] for m in stream[0].members}
        assert (names == {ERASED}) == (family_id in erased), family_id
    with pytest.raises(ValueError, match="share"):
        generate(settings, families=1, seed=10, until=UNTIL, erasures=1.5)
