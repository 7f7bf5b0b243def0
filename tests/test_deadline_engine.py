"""The deadline engine on a small synthetic pack that uses every rule feature.

Driven through the Family aggregate with no database: events are recorded exactly as the
ledger records them (invariants and pack checks included), then evaluated as of chosen
moments. The council packs have their own walk-through tests (tests/test_pack_*.py).
"""

from __future__ import annotations

import tomllib
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from aggregates.errors import NotAuthorised, RuleBroken
from aggregates.family import Family
from ledger.calendar import LONDON
from ledger.deadlines import evaluate
from ledger.policies.schema import Pack
from tests.conftest import NOW, FixedClock

SEED = "000_5f8893c51560d94f.txt"
SRC = f'{{ seed = "{SEED}", lines = [1] }}'
PACK_TOML = f"""
id = "test-pack"
title = "Synthetic pack"
council = "Test"
version = "1"
effective_from = 2025-01-01
seed = "{SEED}"

[[pathways]]
id = "main"
name = "Main"
source = {SRC}

[[pathways]]
id = "light"
name = "Light touch"
source = {SRC}

[[priorities]]
id = "red"
name = "Red"
source = {SRC}

[[assessment_kinds]]
id = "early-help-assessment"
name = "EHA"
source = {SRC}
early_help_assessment = true

[authority.authorise]
roles = ["manager"]
source = {SRC}
[authority.extend]
roles = ["manager"]
source = {SRC}
[authority.close]
roles = ["manager"]
source = {SRC}
[authority.triage]
roles = ["practitioner", "supervisor", "manager"]
source = {SRC}
[authority.step]
roles = ["manager"]
source = {SRC}
[authority.transfer]
roles = ["manager"]
source = {SRC}
[authority.accept_transfer]
roles = ["manager"]
source = {SRC}

[pause]
start = {{ event = "WorkPaused", where = {{ reason = "section_47" }} }}
stop = {{ event = "WorkResumed" }}

[[rules]]
id = "consent"
title = "Consent within 10 working days of allocation"
category = "consent"
source = {SRC}
start = {{ event = "AllocatedToWorker" }}
stop = [{{ event = "ConsentGiven", where = {{ scope = "support" }} }}]
duration = 10
unit = "working_days"
prior_stop_counts = true

[[rules]]
id = "assessment"
title = "Assessment authorised within 28 working days of consent"
category = "assessment"
source = {SRC}
pathways = ["main"]
start = {{ event = "ConsentGiven", where = {{ scope = "support" }} }}
stop = [{{ event = "AssessmentAuthorised", where = {{ assessment_kind = "early-help-assessment" }} }}]
duration = 28
unit = "working_days"
extension = {{ roles = ["manager"], max_total = 45 }}

[[rules]]
id = "light-review"
title = "Light touch review within 6 weeks"
category = "review"
source = {SRC}
pathways = ["light"]
start = {{ event = "AllocatedToWorker" }}
stop = [{{ event = "MeetingHeld", where = {{ meeting_kind = "review" }} }}]
duration = 6
unit = "weeks"

[[rules]]
id = "seen"
title = "Every child seen at least every 20 working days"
kind = "recurring"
category = "visit"
source = {SRC}
per = "child"
start = {{ event = "AllocatedToWorker" }}
stop = [{{ event = "ContactMade", where = {{ children_seen = "$member" }} }}]
duration = 20
unit = "working_days"
pausable = false

[[rules]]
id = "baby-visits"
title = "Under-ones visited every 10 working days"
kind = "recurring"
category = "visit"
source = {SRC}
per = "child"
age = {{ max_years = 1 }}
start = {{ event = "AllocatedToWorker" }}
stop = [{{ event = "ContactMade", where = {{ children_seen = "$member" }} }}]
duration = 10
unit = "working_days"

[[rules]]
id = "seen-alone"
title = "Children five and over seen alone every 20 working days"
kind = "recurring"
category = "visit"
source = {SRC}
per = "child"
age = {{ min_years = 5 }}
start = {{ event = "AllocatedToWorker" }}
stop = [{{ event = "ContactMade", where = {{ children_seen_alone = "$member" }} }}]
duration = 20
unit = "working_days"

[[rules]]
id = "taf-cycle"
title = "Next TAF within 8 weeks of the last"
kind = "recurring"
category = "meeting"
source = {SRC}
start = {{ event = "MeetingHeld", where = {{ meeting_kind = "team_around_the_family" }} }}
stop = [{{ event = "MeetingHeld", where = {{ meeting_kind = ["team_around_the_family", "review"] }} }}]
duration = 8
unit = "weeks"

[[rules]]
id = "plan-shared"
title = "Plan shared within 10 working days of each TAF"
category = "plan"
source = {SRC}
repeat = "each"
start = {{ event = "MeetingHeld", where = {{ meeting_kind = ["team_around_the_family", "review"] }} }}
stop = [{{ event = "PlanShared" }}]
duration = 10
unit = "working_days"

[[rules]]
id = "red-triage"
title = "Red referrals directed within 4 hours"
category = "triage"
source = {SRC}
start = {{ event = "ReferralReceived", where = {{ priority = "red" }} }}
stop = [{{ event = "TriageDecided" }}]
duration = 4
unit = "hours"

[[rules]]
id = "follow-up"
title = "Follow-up call 3 months after closure"
category = "follow_up"
source = {SRC}
after_closure = true
start = {{ event = "EpisodeClosed" }}
stop = [{{ event = "FollowUpCompleted" }}]
until = [{{ event = "ReferralReceived" }}]
duration = 3
unit = "months"

[[rules]]
id = "notes-on-time"
title = "Contacts recorded within 3 working days"
kind = "recording"
category = "recording"
source = {SRC}
applies_to = ["ContactMade", "CaseNoteRecorded"]
duration = 3
unit = "working_days"

[[rules]]
id = "extension-before-agreement"
title = "The manager extends before it is agreed with the family"
kind = "ordering"
on_breach = "refuse"
category = "assessment"
source = {SRC}
before = {{ event = "DeadlineExtended" }}
after = {{ event = "AgreementRecorded", where = {{ subject = "extension" }} }}
correlate = ["rule"]
"""
PACK = Pack.model_validate(tomllib.loads(PACK_TOML))

PAT = {"user_id": "pat", "role": "practitioner", "team": "north"}
MEG = {"user_id": "meg", "role": "manager", "team": "north"}


def when(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=LONDON)


class Walk:
    """A family recorded through the aggregate, one command at a time."""

    def __init__(self, children: dict[str, date],
                 registered: datetime = when(2025, 11, 3)) -> None:  # noqa: B008 - a datetime is immutable
        members = [{"member_id": uuid.uuid4(), "given_name": n, "family_name": "Test", "kind": "child",
                    "date_of_birth": dob} for n, dob in children.items()]
        members.append({"member_id": uuid.uuid4(), "given_name": "Carer", "family_name": "Test",
                        "kind": "adult", "date_of_birth": date(1990, 1, 1)})
        self.ids = {m["given_name"]: m["member_id"] for m in members}
        self.recording = FixedClock()  # every event is recorded on 24 November 2026 (recorded_at)
        self.family = Family.register(family_id=uuid.uuid4(), envelope=self.envelope(registered, PAT),
                                      team="north", members=members)
        self.events = list(self.family.collect_events())

    def envelope(self, at: datetime, actor: dict[str, str], about: list[uuid.UUID] | None = None) -> dict[str, Any]:
        return {"event_id": uuid.uuid4(), "occurred_at": at, "actor": actor, "policy": PACK.id,
                "policy_version": PACK.version, "about": about or [], "context": {}, "timestamp": self.recording()}

    def __call__(self, type_name: str, at: datetime, actor: dict[str, str] = PAT,
                 about: list[uuid.UUID] | None = None, **fields: Any) -> uuid.UUID:
        event = self.family.record(type_name, fields, self.envelope(at, actor, about), PACK)
        self.events.extend(self.family.collect_events())
        return event.event_id

    def open(self, at: datetime, pathway: str = "main", **referral: Any) -> None:
        self("ReferralReceived", at, episode_id=uuid.uuid4(), route="self", reason="worried", **referral)
        self("TriageDecided", at + timedelta(hours=1), MEG, outcome="early_help", pathway=pathway)

    def clocks(self, as_of: datetime, **kw: Any) -> dict[str, list[dict[str, Any]]]:
        rows: dict[str, list[dict[str, Any]]] = {}
        for row in evaluate(self.events, PACK, as_of, **kw)["deadlines"]:
            rows.setdefault(row["rule"], []).append(row)
        return rows

    def state(self, rule: str, as_of: datetime, member: str | None = None) -> tuple[str, Any]:
        rows = [r for r in self.clocks(as_of)[rule]
                if member is None or r["member"] == self.ids[member]]
        return rows[-1]["state"], rows[-1]["due"]


def test_a_deadline_is_open_then_met_or_met_late_or_overdue():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2025, 12, 15))
    walk("AllocatedToWorker", when(2025, 12, 22), MEG, worker_id="pat")
    # Allocated Monday 22 December 2025: consent due Thursday 8 January 2026.
    assert walk.state("consent", when(2026, 1, 5)) == ("open", date(2026, 1, 8))
    assert walk.state("consent", when(2026, 1, 9)) == ("overdue", date(2026, 1, 8))
    walk("ConsentGiven", when(2026, 1, 12), given_by=walk.ids["Carer"], scope=["support"])
    assert walk.state("consent", when(2026, 1, 12, 12)) == ("met_late", date(2026, 1, 8))
    # As of before the consent, it was overdue: the record answers "what was late then".
    assert walk.state("consent", when(2026, 1, 9))[0] == "overdue"


def test_consent_given_before_allocation_already_satisfies_the_clock():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2025, 12, 15))
    walk("ConsentGiven", when(2025, 12, 16), given_by=walk.ids["Carer"], scope=["support"])
    walk("AllocatedToWorker", when(2025, 12, 22), MEG, worker_id="pat")
    row = walk.clocks(when(2026, 2, 1))["consent"][0]
    assert row["state"] == "met" and row["stopped_at"] < row["started_at"]


def test_an_extension_moves_the_due_date_within_the_cap_and_is_refused_beyond_it_or_without_authority():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    walk("ConsentGiven", when(2026, 1, 5), given_by=walk.ids["Carer"], scope=["support"])
    # 28 working days from Monday 5 January 2026: Thursday 12 February.
    assert walk.state("assessment", when(2026, 1, 6)) == ("open", date(2026, 2, 12))
    with pytest.raises(NotAuthorised):
        walk("DeadlineExtended", when(2026, 2, 2), PAT, rule="assessment", extend_by=5, reason="more time")
    walk("DeadlineExtended", when(2026, 2, 2), MEG, rule="assessment", extend_by=10, reason="late disclosure")
    # Extended by 10 to 38 working days: Thursday 26 February.
    assert walk.state("assessment", when(2026, 2, 13)) == ("extended", date(2026, 2, 26))
    with pytest.raises(RuleBroken, match="at most 45"):
        walk("DeadlineExtended", when(2026, 2, 3), MEG, rule="assessment", extend_by=8, reason="again")
    walk("DeadlineExtended", when(2026, 2, 3), MEG, rule="assessment", extend_by=7, reason="again")
    # 45 working days, the cap: Monday 9 March; overdue from Tuesday 10 March.
    assert walk.state("assessment", when(2026, 3, 9)) == ("extended", date(2026, 3, 9))
    assert walk.state("assessment", when(2026, 3, 10)) == ("overdue", date(2026, 3, 9))


def test_an_ordering_rule_refuses_the_family_agreement_before_the_managers_extension_of_that_rule():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    walk("ConsentGiven", when(2026, 1, 5), given_by=walk.ids["Carer"], scope=["support"])
    with pytest.raises(RuleBroken, match="DeadlineExtended must be recorded for the same rule"):
        walk("AgreementRecorded", when(2026, 1, 20), subject="extension", rule="assessment")
    walk("DeadlineExtended", when(2026, 1, 21), MEG, rule="assessment", extend_by=5, reason="needs more")
    with pytest.raises(RuleBroken):  # an extension of another rule does not count
        walk("AgreementRecorded", when(2026, 1, 22), subject="extension", rule="consent")
    walk("AgreementRecorded", when(2026, 1, 22), subject="extension", rule="assessment")


def test_a_paused_clock_shows_paused_and_its_due_date_moves_by_the_paused_working_days():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 2, 27))
    walk("ConsentGiven", when(2026, 3, 2), given_by=walk.ids["Carer"], scope=["support"])
    # 28 working days from Monday 2 March 2026, over Easter (3 and 6 April): Monday 13 April.
    assert walk.state("assessment", when(2026, 3, 3)) == ("open", date(2026, 4, 13))
    walk("WorkPaused", when(2026, 3, 9), reason="section_47", note="strategy discussion")
    assert walk.state("assessment", when(2026, 3, 12))[0] == "paused"
    walk("WorkResumed", when(2026, 3, 16), reason="no further action")
    # Paused Monday 9 to Monday 16 March: 5 working days lost, due Monday 20 April.
    assert walk.state("assessment", when(2026, 3, 17)) == ("open", date(2026, 4, 20))
    # A rule that is not pausable runs on through the pause.
    assert walk.clocks(when(2026, 3, 12))["seen"][0]["state"] != "paused"


def test_per_child_recurring_visits_are_stopped_only_by_seeing_that_child():
    walk = Walk({"Ava": date(2016, 5, 4), "Cal": date(2018, 2, 1)})
    walk.open(when(2026, 1, 2))
    walk("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    walk("ContactMade", when(2026, 1, 14), method="visit", party="family",
         members_present=[walk.ids["Ava"]], children_seen=[walk.ids["Ava"]], children_seen_alone=[])
    rows = walk.clocks(when(2026, 2, 3))["seen"]
    ava = [r for r in rows if r["member"] == walk.ids["Ava"]]
    cal = [r for r in rows if r["member"] == walk.ids["Cal"]]
    # Ava seen on Wednesday 14 January: met, and her next visit is due 20 working days
    # later, Wednesday 11 February. Cal, never seen: due Monday 2 February, overdue.
    assert [(r["state"], r["due"]) for r in ava] == [("met", date(2026, 2, 2)), ("open", date(2026, 2, 11))]
    assert [(r["state"], r["due"]) for r in cal] == [("overdue", date(2026, 2, 2))]
    assert cal[0]["member_name"] == "Cal Test"


def test_an_under_one_leaves_the_baby_rule_on_their_first_birthday_and_a_four_year_old_joins_seen_alone_at_five():
    walk = Walk({"Baby": date(2025, 2, 10), "Four": date(2021, 2, 20)})
    walk.open(when(2026, 1, 2))
    walk("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    clocks = walk.clocks(when(2026, 3, 2))
    baby = [r for r in clocks["baby-visits"] if r["member"] == walk.ids["Baby"]]
    # Due Monday 19 January, never visited: overdue, then the rule ends on 10 February.
    assert baby[0]["state"] == "overdue" and baby[0]["reason"] == "child turned 1"
    assert not [r for r in clocks["baby-visits"] if r["member"] == walk.ids["Four"]]
    alone = [r for r in clocks["seen-alone"] if r["member"] == walk.ids["Four"]]
    # Five on Friday 20 February 2026: 20 working days later is Friday 20 March.
    assert [(r["state"], r["due"], r["reason"]) for r in alone] == [("open", date(2026, 3, 20), "child turned 5")]


def test_a_baby_born_during_the_episode_joins_the_per_child_rules():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    walk("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    walk("MemberAdded", when(2026, 3, 2), member_id=uuid.uuid4(), given_name="New", family_name="Test",
         kind="child", date_of_birth=date(2026, 2, 27))
    new = walk.family.members
    baby_id = next(m["member_id"] for m in new.values() if m["given_name"] == "New")
    rows = [r for r in walk.clocks(when(2026, 3, 3))["baby-visits"] if r["member"] == baby_id]
    assert [(r["state"], r["due"]) for r in rows] == [("open", date(2026, 3, 16))]


def test_each_taf_starts_its_own_plan_clock_and_the_taf_cycle_recurs():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    taf = {"attendees": ["school"], "members_present": []}
    walk("MeetingHeld", when(2026, 1, 6), meeting_kind="team_around_the_family", **taf)
    walk("MeetingHeld", when(2026, 2, 24), meeting_kind="review", **taf)
    walk("PlanAgreed", when(2026, 1, 6), plan_id=(plan := uuid.uuid4()), outcomes=["attendance"])
    walk("PlanShared", when(2026, 1, 13), plan_id=plan, shared_with=["family"])
    clocks = walk.clocks(when(2026, 3, 16))
    assert [(r["state"], r["due"]) for r in clocks["plan-shared"]] == [
        ("met", date(2026, 1, 20)), ("overdue", date(2026, 3, 10))]
    # TAF on 6 January; review on 24 February (within 8 weeks: 3 March); next by 21 April.
    assert [(r["state"], r["due"]) for r in clocks["taf-cycle"]] == [
        ("met", date(2026, 3, 3)), ("open", date(2026, 4, 21))]


def test_an_hours_rule_is_due_at_an_instant():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk("ReferralReceived", when(2026, 3, 5, 9), episode_id=uuid.uuid4(), route="professional",
         reason="urgent", priority="red")
    row = walk.clocks(when(2026, 3, 5, 14))["red-triage"][0]
    assert row["state"] == "overdue" and row["due"] == when(2026, 3, 5, 13)
    walk("TriageDecided", when(2026, 3, 5, 12), MEG, outcome="early_help", pathway="main")
    assert walk.clocks(when(2026, 3, 5, 14))["red-triage"][0]["state"] == "met"


def test_closing_ends_open_clocks_and_starts_the_follow_up_which_a_re_referral_ends():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    walk("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    walk("ConsentGiven", when(2026, 1, 6), given_by=walk.ids["Carer"], scope=["support"])
    walk("ClosureProposed", when(2026, 1, 8), reason="outcomes_met")
    walk("ClosureAuthorised", when(2026, 1, 9), MEG)
    walk("EpisodeClosed", when(2026, 1, 9, 12), MEG, reason="outcomes_met")
    clocks = walk.clocks(when(2026, 4, 10))
    # The assessment clock (due 13 February) was ended by closure before it fell due;
    # Ava's visit clock (due 2 February) too.
    assert clocks["assessment"][0]["state"] == "not_applicable"
    assert clocks["assessment"][0]["reason"] == "episode closed"
    # Closed Friday 9 January: the follow-up call is due 3 months later, 9 April.
    assert (clocks["follow-up"][0]["state"], clocks["follow-up"][0]["due"]) == ("overdue", date(2026, 4, 9))
    walk("ReferralReceived", when(2026, 4, 1), episode_id=uuid.uuid4(), route="self", reason="again")
    follow = walk.clocks(when(2026, 4, 10))["follow-up"][0]
    assert (follow["state"], follow["reason"]) == ("not_applicable", "ended by ReferralReceived")


def test_closing_after_a_clock_fell_due_leaves_it_overdue():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    walk("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    walk("ClosureProposed", when(2026, 1, 27), reason="disengaged")
    walk("ClosureAuthorised", when(2026, 1, 28), MEG)
    walk("EpisodeClosed", when(2026, 1, 28, 12), MEG, reason="disengaged")
    row = walk.clocks(when(2026, 2, 10))["consent"][0]
    assert (row["state"], row["due"]) == ("overdue", date(2026, 1, 19))


def test_reopening_restarts_the_recurring_clocks():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    walk("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    walk("ClosureProposed", when(2026, 1, 8), reason="outcomes_met")
    walk("ClosureAuthorised", when(2026, 1, 9), MEG)
    walk("EpisodeClosed", when(2026, 1, 9, 12), MEG, reason="outcomes_met")
    walk("EpisodeReopened", when(2026, 1, 12), MEG, reason="new worry")
    rows = walk.clocks(when(2026, 1, 13))["seen"]
    assert [(r["state"], r["due"], r["reason"]) for r in rows] == [
        ("not_applicable", date(2026, 2, 2), "episode closed"),
        ("open", date(2026, 2, 9), "episode reopened")]


def test_a_rule_of_another_pathway_is_not_applicable_and_a_pathway_change_ends_its_clock():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2), pathway="light")
    walk("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    walk("ConsentGiven", when(2026, 1, 6), given_by=walk.ids["Carer"], scope=["support"])
    clocks = walk.clocks(when(2026, 1, 7))
    assert clocks["assessment"][0]["state"] == "not_applicable"
    assert "main" in clocks["assessment"][0]["reason"]
    assert (clocks["light-review"][0]["state"], clocks["light-review"][0]["due"]) == ("open", date(2026, 2, 16))
    walk("AllocatedToTeam", when(2026, 1, 20), MEG, team="north", pathway="main")
    row = walk.clocks(when(2026, 1, 21))["light-review"][0]
    assert (row["state"], row["reason"]) == ("not_applicable", "pathway changed to main")


def test_events_recorded_later_than_the_recording_rule_allows_are_late_entries():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    ava = walk.ids["Ava"]
    late = walk("ContactMade", when(2026, 1, 5), method="visit", party="family", members_present=[ava],
                children_seen=[ava], children_seen_alone=[])
    on_time = walk("CaseNoteRecorded", NOW - timedelta(minutes=5), text="just now")
    entries = evaluate(walk.events, PACK, NOW + timedelta(minutes=1))["late_entries"]
    assert [(e["event_id"], e["rule"], e["due"]) for e in entries] == [(late, "notes-on-time", date(2026, 1, 8))]
    assert on_time not in {e["event_id"] for e in entries}


def test_a_correction_of_when_something_happened_moves_the_clock_unless_it_was_not_yet_recorded():
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2025, 12, 15))
    walk("AllocatedToWorker", when(2025, 12, 22), MEG, worker_id="pat")
    consent = walk("ConsentGiven", when(2026, 1, 12), given_by=walk.ids["Carer"], scope=["support"])
    before_correction = walk.events[-1].recorded_at
    walk("EntryCorrected", when(2026, 1, 13), corrects=consent,
         changes={"occurred_at": when(2026, 1, 7)}, reason="date mistyped")
    assert walk.state("consent", when(2026, 2, 1)) == ("met", date(2026, 1, 8))
    as_it_stood = walk.clocks(when(2026, 2, 1), known_at=before_correction)["consent"][0]
    assert as_it_stood["state"] == "met_late"


def test_the_pack_refuses_a_priority_it_does_not_have():
    walk = Walk({"Ava": date(2016, 5, 4)})
    from aggregates.errors import InvalidCommand

    with pytest.raises(InvalidCommand, match="red"):
        walk("ReferralReceived", when(2026, 1, 2), episode_id=uuid.uuid4(), route="self", reason="x",
             priority="purple")


def test_an_unborn_child_has_no_clock_until_born_and_then_joins():
    walk = Walk({"Ava": date(2016, 5, 4), "Due": date(2026, 2, 16)})  # expected, registered before birth
    walk.open(when(2026, 1, 2))
    walk("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    before = walk.clocks(when(2026, 2, 10))
    assert not [r for r in before["seen"] if r["member"] == walk.ids["Due"]]
    after = [r for r in walk.clocks(when(2026, 2, 17))["baby-visits"] if r["member"] == walk.ids["Due"]]
    # Born Monday 16 February 2026: first visit due 10 working days later, Monday 2 March.
    assert [(r["state"], r["due"], r["reason"]) for r in after] == [("open", date(2026, 3, 2), "child born")]


def test_a_document_after_closure_is_ordered_against_the_closed_episode():
    pack = Pack.model_validate(tomllib.loads(PACK_TOML + f"""
[[documents]]
id = "closure-letter"
name = "Closure letter"
source = {SRC}

[[rules]]
id = "letter-after-authorisation"
title = "The closure letter follows the manager's authorisation"
kind = "ordering"
on_breach = "refuse"
category = "closure"
source = {SRC}
before = {{ event = "ClosureAuthorised" }}
after = {{ event = "DocumentRecorded", where = {{ document = "closure-letter" }} }}
"""))
    walk = Walk({"Ava": date(2016, 5, 4)})
    walk.open(when(2026, 1, 2))
    walk.family.record("ClosureProposed", {"reason": "outcomes_met"}, walk.envelope(when(2026, 1, 8), PAT), pack)
    with pytest.raises(RuleBroken, match="ClosureAuthorised must be recorded before"):
        walk.family.record("DocumentRecorded", {"document": "closure-letter"}, walk.envelope(when(2026, 1, 8), PAT),
                           pack)
    walk.family.record("ClosureAuthorised", {}, walk.envelope(when(2026, 1, 9), MEG), pack)
    walk.family.record("EpisodeClosed", {"reason": "outcomes_met"}, walk.envelope(when(2026, 1, 9, 12), MEG), pack)
    letter = walk.family.record("DocumentRecorded", {"document": "closure-letter"},
                                walk.envelope(when(2026, 1, 12), PAT), pack)
    assert letter.type == "DocumentRecorded"


def test_walking_on_from_a_familys_progress_gives_what_walking_its_whole_record_gives():
    """The deadlines read model has the engine walk on from where its last walk of a
    family got to (``evaluate_on``) instead of walking the whole record for every event.
    At every step of a busy year (a baby turning one, a four-year-old turning five, a
    pause, an extension, visits, a newborn, a closure and a re-referral) the outcome is
    the whole walk's; a correction and a back-dated entry make it decline, and the
    caller walks the whole record. Walking on twice from one progress (a page applied
    again after its transaction failed) gives the same: the progress is not changed."""
    from ledger.deadlines import evaluate_from_start, evaluate_on

    walk = Walk({"Baby": date(2025, 2, 10), "Four": date(2021, 2, 20)})
    steps: list[tuple[str, Any]] = []

    def step(*args: Any, **kwargs: Any) -> uuid.UUID:
        found = walk(*args, **kwargs)
        steps.append((args[0], len(walk.events)))
        return found

    step("ReferralReceived", when(2026, 1, 2), episode_id=uuid.uuid4(), route="self", reason="worried")
    step("TriageDecided", when(2026, 1, 2, 11), MEG, outcome="early_help", pathway="main")
    step("AllocatedToWorker", when(2026, 1, 5), MEG, worker_id="pat")
    step("ConsentGiven", when(2026, 1, 8), given_by=walk.ids["Carer"], scope=["support"])
    step("ContactMade", when(2026, 1, 14), method="visit", party="family", members_present=[walk.ids["Baby"]],
         children_seen=[walk.ids["Baby"]], children_seen_alone=[])
    step("WorkPaused", when(2026, 1, 19), reason="section_47", note="strategy discussion")
    step("WorkResumed", when(2026, 1, 26), reason="no further action")
    step("DeadlineExtended", when(2026, 2, 3), MEG, rule="assessment", extend_by=5, reason="needs more")
    step("MemberAdded", when(2026, 3, 2), member_id=uuid.uuid4(), given_name="New", family_name="Test",
         kind="child", date_of_birth=date(2026, 2, 27))
    consent = next(e.event_id for e in walk.events if e.type == "ConsentGiven")
    step("EntryCorrected", when(2026, 3, 3), corrects=consent, changes={"occurred_at": when(2026, 1, 6)},
         reason="date mistyped")
    step("CaseNoteRecorded", when(2026, 3, 4), text="review")
    step("CaseNoteRecorded", when(2026, 2, 20), text="a visit in February, written up late")
    step("ContactMade", when(2026, 3, 9), method="visit", party="family", members_present=[walk.ids["Four"]],
         children_seen=[walk.ids["Four"]], children_seen_alone=[walk.ids["Four"]])
    step("ClosureProposed", when(2026, 3, 31), reason="outcomes_met")
    step("ClosureAuthorised", when(2026, 4, 1), MEG)
    step("EpisodeClosed", when(2026, 4, 1, 12), MEG, reason="outcomes_met")
    step("ReferralReceived", when(2026, 6, 1), episode_id=uuid.uuid4(), route="self", reason="again")

    progress = None
    declined = []
    for type_name, upto in steps:
        events = walk.events[:upto]
        as_of = max(e.occurred_at for e in events) + timedelta(hours=1)
        if progress is not None:
            evaluate_on(progress, events, as_of)  # a page that failed and is applied again
        held = progress
        walked = evaluate_on(progress, events, as_of) if progress is not None else None
        if walked is None:
            declined.append(type_name)
            walked = evaluate_from_start(events, PACK, as_of)
        result, progress = walked
        assert result == evaluate(events, PACK, as_of), type_name
        # What a read model asks for: the same rows, less the rules never started.
        rows, _ = evaluate_from_start(events, PACK, as_of, progress=False, rows_only=True)
        assert rows == {**{k: result[k] for k in rows if k != "deadlines"},
                        "deadlines": [r for r in result["deadlines"] if r["started_at"] is not None]}, type_name
        if held is not None and type_name not in declined:  # the read model walks on asking for rows only
            assert evaluate_on(held, events, as_of, rows_only=True)[0] == rows, type_name
    # The first step has no progress yet; the correction and the back-dated note decline.
    assert declined == ["ReferralReceived", "EntryCorrected", "CaseNoteRecorded"]
