"""One family's life with the service as a discrete-event simulation (``Story``), the
commands it yields (``Step``) and the episode it keeps; one subclass per council."""

from __future__ import annotations

import heapq
import itertools
import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo

from aggregates.identifiers import nhs_check_digit, upn_check_letter
from demo.people import (
    AGENCIES,
    ATTENDEES,
    BOYS,
    ETHNICITY_WEIGHTS,
    GIRLS,
    MEN,
    MIXED,
    NOTES,
    OUTCOMES,
    REFERRALS,
    SURNAMES,
    WOMEN,
)
from demo.staff import SERVICES, Team
from ledger.calendar import WorkingCalendar, london_date

if TYPE_CHECKING:
    from ledger.policies.schema import Pack


LONDON = ZoneInfo("Europe/London")


# --- what a story yields ------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Step:
    """One command of a story: recorded at ``recorded_at`` (the simulated recording clock)."""

    type: str
    occurred_at: datetime
    recorded_at: datetime
    actor: dict[str, str]
    fields: dict[str, Any]
    about: list[UUID]
    context: dict[str, Any]
    deferred: bool = False
    """Typed up days after it happened (recorded after later entries of the family)."""
    barrier: bool = False
    """Entries typed up late are recorded before this one (an episode's closure, a transfer
    accepted by another team: only the team holding the family records on it)."""
    event_id: UUID | None = None


class Horizon(Exception):
    """The story has reached the present: what has not happened yet is not recorded."""


@dataclass(eq=False)
class Episode:
    """What a story keeps about the episode it is working (referral to closure)."""

    number: int
    episode_id: UUID
    team: Team
    referred: date
    planned: str | None = None
    pathway: str | None = None
    worker: dict[str, str] | None = None
    allocated: date | None = None
    worker_allocated: date | None = None
    consented: date | None = None
    engaged: date | None = None
    closing: bool = False
    closed: bool = False
    paused: bool = False
    transferring: bool = False
    risk_assessed: bool = False
    assessment: UUID | None = None
    assessment_state: str | None = None
    plans: list[UUID] = field(default_factory=list)
    authorised_plans: list[UUID] = field(default_factory=list)
    visits: list[Step] = field(default_factory=list)
    notes: list[Step] = field(default_factory=list)
    meetings: list[Step] = field(default_factory=list)
    extended: int = 0
    first_review: bool = False
    reason: str = "outcomes_met"


# --- the story of one family -------------------------------------------------------------------------


class Story:
    """One family's life with the service, as a discrete-event simulation yielding Steps.

    Subclasses (one per pack) say how an episode runs; this class keeps the family, the
    time, the agenda of things to do, and the mix (late work, missed work, late entries).
    """

    pack_id: ClassVar[str] = ""

    def __init__(self, *, index: int, seed: int, pack: Pack, teams: list[Team], team: Team,
                 start: datetime, horizon: datetime, features: frozenset[str]) -> None:
        self.index = index
        self.rng = random.Random(f"{seed}:{index}:story")
        self.people_rng = random.Random(f"{seed}:{index}:people")
        """Identifiers, addresses and relationships: drawn apart, so the story's own draws
        (and so its commands and their times) do not depend on them."""
        self.pack = pack
        self.teams = teams
        self.team = team
        self.cal = WorkingCalendar.with_closures(pack.closure_days)
        self.t = start
        self.day = london_date(start)
        self.horizon = horizon
        self.horizon_day = london_date(horizon)
        self.until = horizon + timedelta(days=1)
        self.latest_birth = self.horizon_day
        self.f = features
        self.p_late = 0.35 if "late_work" in features else 0.05
        self.p_skip = 0.3 if "neglect" in features else 0.02
        self.p_defer = 0.35 if "late_recording" in features else 0.03
        self.force_defer = "late_recording" in features
        self.last_recorded = start
        self.agenda: list[tuple[date, int, int, str, Episode | None, Callable[..., Iterator[Step]],
                                tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self.ep: Episode | None = None
        self.episodes = 0
        self.members: list[dict[str, Any]] = []
        self.make_members()

    # -- randomness ---------------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def uid(self) -> UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def skip(self) -> bool:
        """Work that is never done (an overdue clock), in neglectful episodes mostly."""
        return self.chance(self.p_skip)

    def within(self, limit: int, lo: int = 0) -> int:
        """Working days taken over something due within ``limit``: on time mostly, late sometimes."""
        if self.chance(self.p_late + (0.15 if self.pressed else 0)):
            return limit + self.rng.randint(1, max(2, limit // 3 + 1))
        return self.rng.randint(min(lo, limit), limit)

    def gap(self, limit: int) -> int:
        """Working days to the next of a recurring piece of work due every ``limit``."""
        r = self.rng.random()
        if r < self.p_skip / 2 or (self.pressed and r < 0.25):
            return limit + self.rng.randint(5, 20)  # a lapse (or today's pressure): overdue for a while
        if r < self.p_late:
            return limit + self.rng.randint(1, 4)
        return self.rng.randint(max(1, math.ceil(limit * 0.6)), limit)

    # -- time ---------------------------------------------------------------------------------

    @property
    def pressed(self) -> bool:
        """The last weeks before today: caseloads are high and some work is behind (what a
        team view shows as overdue today)."""
        return (self.horizon_day - self.day).days < 40

    def after(self, n: int, day: date | None = None) -> date:
        return self.cal.add_working_days(day or self.day, n)

    def due_by(self, anchor: date, limit: int, lo: int = 0) -> date:
        """A day for work due ``limit`` working days after ``anchor`` (never before today)."""
        return max(self.cal.add_working_days(anchor, self.within(limit, lo)), self.day)

    def move(self, day: date) -> None:
        if day <= self.day:
            local = self.t.astimezone(LONDON)
            self.t += timedelta(minutes=self.rng.randint(5, 50) if local.hour < 18 else self.rng.randint(1, 5))
        else:
            self.t = at(day, self.rng.randint(8 * 60 + 45, 11 * 60 + 30))
        self.day = london_date(self.t)
        if self.t >= self.horizon:
            raise Horizon

    def later(self, lo: int = 5, hi: int = 50) -> None:
        self.t += timedelta(minutes=self.rng.randint(lo, hi))
        self.day = london_date(self.t)
        if self.t >= self.horizon:
            raise Horizon

    # -- the agenda ---------------------------------------------------------------------------

    def _push(self, day: date, prio: int, kind: str, fn: Callable[..., Iterator[Step]], args: tuple[Any, ...]) -> None:
        heapq.heappush(self.agenda, (day, prio, next(self._seq), kind, self.ep, fn, args))

    def once(self, day: date, fn: Callable[..., Iterator[Step]], *args: Any, prio: int = 5) -> None:
        """Episode work on ``day``: dropped once the episode is closing, put off while paused."""
        self._push(day, prio, "work", fn, args)

    def then(self, day: date, fn: Callable[..., Iterator[Step]], *args: Any, prio: int = 3) -> None:
        """A step of a chain already begun (closure, transfer, pause) in this episode."""
        self._push(day, prio, "chain", fn, args)

    def whenever(self, day: date, fn: Callable[..., Iterator[Step]], *args: Any, prio: int = 5) -> None:
        """Anything else (a new referral, follow-up after closure)."""
        self._push(day, prio, "free", fn, args)

    def repeat(self, first: date, limit: Callable[[], int], action: Callable[[], Iterator[Step]],
               prio: int = 6) -> None:
        """Recurring work (visits, supervision) until the episode starts closing."""
        def tick() -> Iterator[Step]:
            yield from action()
            self.once(self.after(self.gap(limit())), tick, prio=prio)
        self.once(first, tick, prio=prio)

    def run(self) -> Iterator[Step]:
        """Every step of the family's story, in the order it happened, up to the present."""
        try:
            registered = self.register()
            yield registered
            yield from self.known_details(registered)
            self.whenever(self.day, self.begin_episode)
            while self.agenda:
                day, prio, _, kind, ep, fn, args = heapq.heappop(self.agenda)
                if kind != "free":
                    if ep is None or ep is not self.ep or ep.closed:
                        continue
                    if kind == "work":
                        if ep.closing:
                            continue
                        if ep.paused or ep.transferring:
                            self._push(self.after(2, max(day, self.day)), prio, kind, fn, args)
                            continue
                self.move(day)
                yield from fn(*args)
        except Horizon:
            return

    # -- steps ----------------------------------------------------------------------------------

    def step(self, type_name: str, actor: dict[str, str], fields: dict[str, Any] | None = None, *,
             about: list[UUID] | None = None, context: dict[str, Any] | None = None,
             deferrable: bool = False, barrier: bool = False) -> Step:
        occurred = self.t
        deferred = deferrable and (self.force_defer or self.chance(self.p_defer))
        if deferred:
            self.force_defer = False
            typed = self.cal.add_working_days(london_date(occurred), self.rng.randint(2, 8))
            recorded = at(typed, self.rng.randint(9 * 60, 17 * 60))
        else:
            r = self.rng.random()
            if r < 0.96:  # typed up within the hour, or later that day
                recorded = occurred + timedelta(
                    minutes=self.rng.randint(2, 40) if r < 0.7 else self.rng.randint(40, 180))
            else:  # first thing the next working day
                recorded = at(self.cal.add_working_days(london_date(occurred), 1),
                              self.rng.randint(8 * 60 + 30, 10 * 60 + 30))
            recorded = min(max(recorded, self.last_recorded), self.until - timedelta(minutes=1))
            self.last_recorded = recorded
        return Step(type_name, occurred, recorded, actor, fields or {}, list(about or ()), context or {},
                    deferred=deferred, barrier=barrier)

    # -- the family -----------------------------------------------------------------------------

    def make_members(self) -> None:
        rng = self.rng
        surname = rng.choice(SURNAMES)
        ethnicity = rng.choices(list(ETHNICITY_WEIGHTS), weights=list(ETHNICITY_WEIGHTS.values()))[0]
        today = self.day
        children = rng.choices((1, 2, 3, 4, 5), weights=(30, 35, 22, 10, 3))[0]
        ages = sorted((self.child_age() for _ in range(children)), reverse=True)
        eldest = ages[0] // 365 if ages else 0
        mother_age = max(eldest + rng.randint(18, 26), rng.randint(19, 30))
        self.add_adult(rng.choice(WOMEN), surname, mother_age, "2", ethnicity)
        if self.chance(0.45):
            other = ethnicity if self.chance(0.8) else rng.choice(list(ETHNICITY_WEIGHTS)[:20])
            self.add_adult(rng.choice(MEN), surname if self.chance(0.6) else rng.choice(SURNAMES),
                           mother_age + rng.randint(-3, 8), "1", other)
        for age_days in ages:
            dob = today - timedelta(days=age_days)
            girl = self.chance(0.49)
            gender = "2" if girl else "1"
            if self.chance(0.02):
                gender = rng.choice(("0", "9"))
            child_ethnicity = ethnicity if self.chance(0.85) else rng.choice(MIXED)
            self.members.append({
                "member_id": self.uid(), "given_name": rng.choice(GIRLS if girl else BOYS),
                "family_name": surname, "date_of_birth": dob, "kind": "child", "gender": gender,
                "ethnicity": child_ethnicity,
            })

    def child_age(self) -> int:
        """A child's age in days: under-ones, toddlers, primary and secondary age."""
        band = self.rng.choices(((14, 364), (365, 1824), (1825, 4014), (4015, 6200)), weights=(15, 25, 35, 25))[0]
        return self.rng.randint(*band)

    def add_adult(self, given: str, surname: str, age: int, gender: str, ethnicity: str) -> None:
        dob = self.day - timedelta(days=age * 365 + self.rng.randint(0, 364))
        self.members.append({"member_id": self.uid(), "given_name": given, "family_name": surname,
                             "date_of_birth": dob, "kind": "adult", "gender": gender, "ethnicity": ethnicity})

    @property
    def adults(self) -> list[dict[str, Any]]:
        return [m for m in self.members if m["kind"] == "adult"]

    def children(self, on: date | None = None) -> list[dict[str, Any]]:
        """The children born by ``on`` (today by default)."""
        on = on or self.day
        return [m for m in self.members if m["kind"] == "child" and m["date_of_birth"] <= on]

    def age(self, member: dict[str, Any], on: date | None = None) -> int:
        on = on or self.day
        dob: date = member["date_of_birth"]
        return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))

    def parent(self) -> dict[str, Any]:
        return self.adults[0]

    def name(self, member: dict[str, Any]) -> str:
        return f"{member['given_name']} {member['family_name']}"

    # -- common commands ----------------------------------------------------------------------------

    @property
    def lead(self) -> dict[str, str]:
        assert self.ep is not None
        return self.ep.worker or self.duty

    @property
    def sup(self) -> dict[str, str]:
        return self.team.supervisor

    @property
    def mgr(self) -> dict[str, str]:
        return self.team.manager

    @property
    def duty(self) -> dict[str, str]:
        return self.team.practitioners[self.index % len(self.team.practitioners)]

    def holding(self, worker: dict[str, str]) -> dict[str, str]:
        """``worker`` if their team still holds the family (only it may record), else its duty worker."""
        return worker if worker["team"] == self.team.id else self.duty

    def register(self) -> Step:
        """The family as the front door registers it: names and dates of birth, the
        children's NHS numbers, the adults' relationship to the children, parental
        responsibility and a telephone number (issue 25)."""
        rng = self.people_rng
        mother = self.adults[0]
        for m in self.members:
            if m["kind"] == "child":
                m["nhs_number"] = nhs_number(rng)
                if rng.random() < 0.3:
                    m["council_person_id"] = f"{self.pack_id[:3].upper()}{rng.randint(100000, 999999)}"
            elif m is mother:
                m.update(relationship="parent", parental_responsibility=True,
                         phone=f"07700 9{rng.randint(0, 99999):05d}")
            else:
                same = m["family_name"] == mother["family_name"]
                m.update(relationship="parent" if same else "step_parent", parental_responsibility=same)
        shown = ("member_id", "given_name", "family_name", "date_of_birth", "kind", "gender", "ethnicity",
                 "nhs_number", "council_person_id", "relationship", "parental_responsibility", "phone")
        members = [{k: m[k] for k in shown if k in m} for m in self.members]
        return self.step("FamilyRegistered", self.duty, {"team": self.team.id, "members": members,
                                                          "policy": self.pack_id})

    def known_details(self, registered: Step) -> Iterator[Step]:
        """What the worker records as the family is registered: its address and, for a
        child of school age, the Unique Pupil Number the school gave (issue 25). Recorded
        a minute after the registration, without drawing on the story's own randomness."""
        rng = self.people_rng
        street = rng.choice(STREETS)
        town, area, la = TOWNS[self.pack_id]
        postcode = f"{area}{rng.randint(1, 9)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}" \
                   f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        lived = london_date(registered.occurred_at) - timedelta(days=rng.randint(30, 2000))
        yield self._alongside(registered, "AddressRecorded", {
            "from_date": lived, "address_lines": [f"{rng.randint(1, 120)} {street}", town], "postcode": postcode})
        for child in self.members:
            if child["kind"] == "child" and self.age(child) >= 5 and rng.random() < 0.6:
                yield self._alongside(registered, "MemberDetailsRecorded", {
                    "member_id": child["member_id"], "upn": upn(rng, la, child["date_of_birth"].year + 4)},
                    context={"agency": "school", "note": "UPN confirmed by the school office"})

    def _alongside(self, registered: Step, type_name: str, fields: dict[str, Any],
                   context: dict[str, Any] | None = None) -> Step:
        recorded = registered.recorded_at + timedelta(minutes=1)
        self.last_recorded = max(self.last_recorded, recorded)
        return Step(type_name, registered.occurred_at, recorded, registered.actor, fields, [], context or {})

    def open_episode(self) -> Episode:
        self.episodes += 1
        self.ep = Episode(number=self.episodes, episode_id=self.uid(), team=self.team, referred=self.day)
        return self.ep

    def referral(self, route: str | None = None, priority: str | None = None) -> Step:
        reason, source, default_route, category = self.rng.choice(REFERRALS)
        agency = self.rng.choice(AGENCIES[source]) if source else None
        fields: dict[str, Any] = {
            "episode_id": self.ep.episode_id, "route": route or default_route, "reason": reason,  # type: ignore[union-attr]
            "referrer_agency": agency, "consent_to_refer": True, "priority": priority, "reason_category": category,
        }
        if agency:
            fields["referrer_name"] = f"{self.rng.choice(WOMEN + MEN)} {self.rng.choice(SURNAMES)}"
        if self.ep.number > 1:  # type: ignore[union-attr]
            fields["reason"] = f"Re-referral: {reason[0].lower()}{reason[1:]}"
        return self.step("ReferralReceived", self.duty, fields,
                         context={"agency": agency, "significance": "high"})

    def allocate_worker(self, actor: dict[str, str], title: str | None = None, lead: bool = True) -> Step:
        ep = self.ep
        assert ep is not None
        others = [p for p in ep.team.practitioners if ep.worker is None or p["user_id"] != ep.worker["user_id"]]
        worker = self.rng.choice(others)
        if lead:
            ep.worker, ep.worker_allocated = worker, self.day
        return self.step("AllocatedToWorker", actor, {"worker_id": worker["user_id"],
                                                     "worker_role": title or SERVICES[self.pack_id].title,
                                                     "lead_professional": lead})

    def visit(self, method: str = "visit", *, alone: float = 0.7, joint_with: list[str] | None = None,
              record: bool = True, actor: dict[str, str] | None = None) -> Step:
        """A face to face contact with the family: who was there, who was seen, seen alone."""
        ep = self.ep
        assert ep is not None
        kids = self.children()
        seen = [c for c in kids if self.chance(0.95)] if len(kids) > 1 else kids
        alone_ids = [c["member_id"] for c in seen if self.age(c) >= 5 and self.chance(alone)]
        present = [a["member_id"] for a in self.adults[: 1 + self.chance(0.4)]]
        location = {"visit": "home", "unannounced_visit": "home", "office": "Family Hub",
                    "school": "school"}.get(method)
        s = self.step("ContactMade", actor or self.lead, {
            "method": method, "party": "family", "members_present": present + [c["member_id"] for c in seen],
            "children_seen": [c["member_id"] for c in seen], "children_seen_alone": alone_ids,
            "location": location, "joint": bool(joint_with), "joint_with": joint_with or [],
        }, deferrable=True)
        if record and not s.deferred:
            ep.visits.append(s)
        if ep.engaged is None:
            ep.engaged = self.day
        return s

    def phone(self, made: bool = True, party: str = "family", actor: dict[str, str] | None = None) -> Step:
        if not made:
            return self.step("ContactAttempted", actor or self.lead, {
                "method": self.rng.choice(("phone", "phone", "text")), "party": party,
                "outcome": self.rng.choice(("no_answer", "message_left"))}, deferrable=True)
        present = [self.parent()["member_id"]] if party == "family" else []
        return self.step("ContactMade", actor or self.lead, {
            "method": "phone", "party": party, "members_present": present, "children_seen": [],
            "children_seen_alone": [], "location": None, "joint": False, "joint_with": []}, deferrable=True)

    def consent(self, scope: tuple[str, ...] = ("support", "information_sharing"), form: str = "written",
                actor: dict[str, str] | None = None) -> Step:
        return self.step("ConsentGiven", actor or self.lead,
                         {"given_by": self.parent()["member_id"], "scope": list(scope), "form": form})

    def document(self, document: str, actor: dict[str, str] | None = None, *, title: str = "",
                 sent_to: list[str] | None = None, about: list[UUID] | None = None) -> Step:
        return self.step("DocumentRecorded", actor or self.lead,
                         {"document": document, "title": title, "sent_to": sent_to or []}, about=about)

    def meeting(self, kind: str, actor: dict[str, str] | None = None, *, family: bool = True,
                attendees: list[str] | None = None, next_meeting: date | None = None) -> Step:
        people = attendees or self.rng.sample(ATTENDEES, self.rng.randint(1, 3))
        present = [a["member_id"] for a in self.adults] if family else []
        s = self.step("MeetingHeld", actor or self.lead, {"meeting_kind": kind, "attendees": people,
                                                          "members_present": present, "next_meeting": next_meeting})
        self.ep.meetings.append(s)  # type: ignore[union-attr]
        return s

    def case_note(self, actor: dict[str, str] | None = None) -> Step | None:
        """A child-specific case note (about one child, off the siblings' chronologies)."""
        kids = self.children()
        if not kids:
            return None
        child = self.rng.choice(kids)
        text = self.rng.choice(NOTES).format(c=child["given_name"])
        impact = "negative" if any(w in text for w in ("worried", "late", "quiet")) else "positive"
        s = self.step("CaseNoteRecorded", actor or self.lead, {"text": text, "contact_type": "direct work"},
                      about=[child["member_id"]], context={"significance": "medium", "impact_on_child": impact,
                                                           "action_taken": "discussed with the family"},
                      deferrable=True)
        if not s.deferred:
            self.ep.notes.append(s)  # type: ignore[union-attr]
        return s

    def supervision(self, text: str = "Case discussed: plan on track", kind: str = "formal",
                    actor: dict[str, str] | None = None) -> Step:
        return self.step("SupervisionRecorded", actor or self.sup,
                         {"worker_id": self.lead["user_id"], "kind": kind, "text": text})

    def oversight(self, text: str = "Case reviewed: progress against the plan noted", decision: str = "continue",
                  actor: dict[str, str] | None = None, about: list[UUID] | None = None) -> Step:
        return self.step("ManagementOversightRecorded", actor or self.mgr, {"text": text, "decision": decision},
                         about=about, context={"significance": "medium"})

    def start_assessment(self, kind: str = "early-help-assessment") -> Step:
        ep = self.ep
        assert ep is not None
        ep.assessment, ep.assessment_state = self.uid(), "started"
        return self.step("AssessmentStarted", self.lead, {"assessment_id": ep.assessment, "assessment_kind": kind})

    def assessment_step(self, type_name: str, actor: dict[str, str], **extra: Any) -> Step:
        ep = self.ep
        assert ep is not None and ep.assessment is not None
        ep.assessment_state = {"AssessmentSubmitted": "submitted", "AssessmentReturned": "returned",
                               "AssessmentAuthorised": "authorised"}[type_name]
        return self.step(type_name, actor, {"assessment_id": ep.assessment, **extra},
                         context={"significance": "high"} if type_name == "AssessmentAuthorised" else None)

    def plan(self, actor: dict[str, str] | None = None) -> Step:
        ep = self.ep
        assert ep is not None
        plan_id = self.uid()
        ep.plans.append(plan_id)
        return self.step("PlanAgreed", actor or self.lead, {
            "plan_id": plan_id, "outcomes": self.rng.sample(OUTCOMES, self.rng.randint(2, 4)),
            "review_by": self.after(30)}, context={"significance": "high"})

    def authorise_plan(self, actor: dict[str, str]) -> Step:
        ep = self.ep
        assert ep is not None
        ep.authorised_plans.append(ep.plans[-1])
        return self.step("PlanAuthorised", actor, {"plan_id": ep.plans[-1]})

    def share_plan(self) -> Step:
        ep = self.ep
        assert ep is not None
        agencies = self.rng.sample(ATTENDEES, self.rng.randint(1, 3))
        return self.step("PlanShared", self.lead, {"plan_id": ep.plans[-1], "shared_with": ["family", *agencies]})

    def propose_closure(self, reason: str, actor: dict[str, str] | None = None) -> Step:
        summary = {"outcomes_met": "Plan outcomes met; family feel able to carry on without support",
                   "step_up": "Needs escalated beyond early help", "disengaged": "Family have not engaged",
                   "moved_away": "Family moved out of the area", "transferred": "Another Lead Professional takes over",
                   "no_further_action": "No early help service needed"}.get(reason, "")
        return self.step("ClosureProposed", actor or self.lead, {"reason": reason, "summary": summary})

    def close_step(self, reason: str, actor: dict[str, str] | None = None) -> Step:
        return self.step("EpisodeClosed", actor or self.lead, {"reason": reason, "outcome": reason.replace("_", " ")},
                         context={"significance": "high"}, barrier=True)

    # -- the episode's end -------------------------------------------------------------------------

    def closed(self) -> None:
        """After EpisodeClosed: the episode's work is over; perhaps a re-referral later."""
        ep = self.ep
        assert ep is not None
        ep.closed = True  # the episode's work still on the agenda is dropped as it comes up
        self.after_closure()
        rereferral = ("rereferral" in self.f and ep.number == 1) or (ep.number < 3 and self.chance(0.12))
        if rereferral:
            back = self.after(self.rng.randint(15, 60) if "rereferral" in self.f else self.rng.randint(30, 120))
            self.whenever(back, self.begin_episode)

    def after_closure(self) -> None:
        """Work after closure (follow-up calls, closure letters): the pack's."""

    # -- the mix ----------------------------------------------------------------------------------

    def plan_mix(self, start: date, end: date) -> None:
        """Corrections, an expected baby and other events that may happen in any episode."""
        ep = self.ep
        assert ep is not None
        span = max(self.cal.working_days_between(start, end), 10)
        if ("correction" in self.f and ep.number == 1) or self.chance(0.08):
            self.once(self.after(self.rng.randint(span // 3, max(span // 3 + 1, span * 2 // 3)), start), self.correct)
        if ("expected_baby" in self.f and ep.number == 1) or (ep.number == 1 and self.chance(0.05)):
            self.once(self.after(self.rng.randint(5, max(6, span // 3)), start), self.expecting)
        if ("transfer" in self.f and ep.number == 1) or self.chance(0.06):
            self.once(self.after(self.rng.randint(span // 4 + 5, max(span // 4 + 6, span * 2 // 3)), start),
                      self.transfer_out)

    def correct(self) -> Iterator[Step]:
        """An earlier entry put right: a visit's date, a note's words, a meeting's attendees."""
        ep = self.ep
        assert ep is not None
        words = [("note", s) for s in ep.notes[-3:]] + [("meeting", s) for s in ep.meetings[-2:]]
        choices = [("visit", s) for s in ep.visits[-4:]] + words
        if "correction" in self.f and words:  # the story's own correction changes what an entry says
            choices = words
        if not choices:
            self.once(self.after(5), self.correct)
            return
        kind, target = self.rng.choice(choices)
        if kind == "visit":
            original = target.occurred_at
            earlier = self.cal.add_working_days(london_date(original) - timedelta(days=4), 1)
            while not self.cal.is_working_day(earlier) or earlier >= london_date(original):
                earlier -= timedelta(days=1)
            fixed = at(earlier, original.astimezone(LONDON).hour * 60 + original.astimezone(LONDON).minute)
            changes: dict[str, Any] = {"occurred_at": fixed}
            reason = f"Visit date mistyped: it took place on {earlier:%A %d %B %Y}"
        elif kind == "note":
            changes = {"text": target.fields["text"] + " (said to the worker, not to the teacher)"}
            reason = "Remark attributed to the wrong professional; corrected after checking with school"
        else:
            changes = {"attendees": [*target.fields["attendees"], "family support worker (second)"]}
            reason = "Attendee left off the list"
        yield self.step("EntryCorrected", self.lead, {"corrects": target, "changes": changes, "reason": reason})

    def expecting(self) -> Iterator[Step]:
        """Mother tells the worker she is expecting: the baby joins the record as unborn, with
        the date it is due, and ChildBorn records the birth (seed 000 L2189, L2268)."""
        ep = self.ep
        assert ep is not None
        due = self.day + timedelta(days=self.rng.randint(25, 110))
        if due > self.latest_birth:  # the aggregate refuses a date of birth after today
            return
        surname = self.adults[0]["family_name"]
        baby = {"member_id": self.uid(), "given_name": "Baby", "family_name": surname, "date_of_birth": None,
                "kind": "unborn", "expected_date": due, "gender": "0", "ethnicity": self.adults[0]["ethnicity"]}
        added = self.step("MemberAdded", self.lead, {k: baby[k] for k in baby}, context={
            "significance": "high", "note": f"Expected baby: due {due:%d %B %Y}"})
        self.members.append(baby)
        yield added
        born = due + timedelta(days=self.rng.randint(-12, 8))
        born = min(born, self.latest_birth)
        if born <= self.day:
            born = self.day + timedelta(days=1)
        baby["born"] = born
        self.whenever(self.cal.add_working_days(born, self.rng.randint(1, 6)), self.birth, baby, added)

    def birth(self, baby: dict[str, Any], added: Step) -> Iterator[Step]:
        girl = self.chance(0.5)
        name = self.rng.choice(GIRLS if girl else BOYS)
        born = baby["born"]
        baby.update(given_name=name, date_of_birth=born, gender="2" if girl else "1", kind="child")
        yield self.step("ChildBorn", self.holding(self.ep.worker or self.duty) if self.ep else self.duty, {
            "member_id": baby["member_id"], "date_of_birth": born, "given_name": name, "gender": baby["gender"]},
            context={"significance": "high"})
        if self.ep is not None and not self.ep.closed and not self.ep.closing:
            yield from self.newborn(baby)

    def newborn(self, baby: dict[str, Any]) -> Iterator[Step]:
        """What the pack asks when a baby is born during an open episode (a visit, mostly)."""
        if self.ep is not None and self.ep.worker is not None and self.ep.risk_assessed:
            self.later(30, 120)
            yield self.visit()

    def transfer_prerequisites(self) -> Iterator[Step]:
        """What the pack orders before a transfer (a handover meeting, a summary)."""
        return iter(())

    def transfer_out(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None or len(self.teams) < 2:
            return
        yield from self.transfer_prerequisites()
        to = self.rng.choice([t for t in self.teams if t.id != ep.team.id])
        self.later()
        ep.transferring = True
        yield self.step("TransferredOut", self.mgr, {"to_team": to.id, "reason": self.rng.choice((
            "Family moved to another part of the county", "Closer to the children's new school",
            "Team caseload rebalanced"))})
        self.then(self.due_by(self.day, 5, lo=1), self.transfer_in, to)

    def transfer_in(self, to: Team) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        old = self.team
        yield self.step("TransferredIn", to.manager, {"from_team": old.id}, barrier=True)
        self.team = ep.team = to
        ep.worker = None
        ep.transferring = False
        self.later(20, 90)
        yield self.allocate_worker(to.supervisor)
        self.later()
        yield self.phone(made=True)

    def begin_episode(self) -> Iterator[Step]:
        raise NotImplementedError


STREETS = ("Church Street", "Station Road", "Victoria Road", "Mill Lane", "Park Avenue", "The Crescent",
           "Queen Street", "Meadow Way", "Elm Grove", "Chapel Row")
TOWNS = {  # the town, a postcode area and the authority's number in a UPN (DfE LA codes)
    "durham-one-point": ("Durham", "DH", 840), "haringey-early-help": ("London", "N", 309),
    "northamptonshire-0-19": ("Kettering", "NN", 940), "leicestershire-early-help": ("Loughborough", "LE", 855),
    "southampton-0-19": ("Southampton", "SO", 852),
}
"""Made-up addresses in the councils' own towns; the postcodes are well formed, not real."""


def nhs_number(rng: random.Random) -> str:
    """A well-formed NHS number (its check digit right), made up."""
    while True:
        first = f"{rng.randint(400000000, 799999999)}"
        check = nhs_check_digit(first)
        if check is not None:
            return first + str(check)


def upn(rng: random.Random, la: int, year: int) -> str:
    """A well-formed Unique Pupil Number issued by authority ``la`` in ``year``, made up."""
    rest = f"{la:03d}{rng.randint(2000, 7999):04d}{year % 100:02d}{rng.randint(1, 999):03d}"
    return upn_check_letter(rest) + rest


def at(day: date, minutes: int) -> datetime:
    """A London wall-clock moment on ``day`` (``minutes`` after midnight), in UTC."""
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=LONDON)
    return local.astimezone(timezone.utc)


def weeks(n: int) -> int:
    """Working days that always fit within ``n`` calendar weeks (a margin for bank holidays)."""
    return max(1, 5 * n - 1 - n // 4)


def months(n: int) -> int:
    """Working days that always fit within ``n`` calendar months."""
    return 19 * n

