"""Synthetic demo data: families walked through their packs' pathways (issue 5).

``generate(ledger, families=N, seed=S)`` records N synthetic families through the real
command path (``Ledger.register_family`` and ``Ledger.record``), so the aggregate's
invariants and each pack's authority and ordering rules check every command; a refused
command is a bug here and stops the run with the family, the command and the reason.

How it works:

- Each family is a *story*: a small discrete-event simulation of one household (its
  members, its council's pathway, its teams and workers) that yields the commands it
  records, in the order they happened. Stories are written per pack, from the packs'
  own walk-throughs (``tests/test_pack_*.py``): front door, allocation, consent,
  assessment, plans and meetings, visits, supervision and oversight, closure in the
  pack's order, and the mix a real service has (late work, missed work, extensions,
  a Section 47 pause, step-ups and step-downs, transfers, re-referrals, corrections,
  expected babies, entries typed up days late).
- Every story runs over simulated months ending now. ``ledger.clock`` (the recording
  clock) is replaced for the run and restored afterwards: each command is recorded at
  its simulated ``recorded_at``, mostly within the hour of ``occurred_at``, sometimes
  days later (late entries). All stories are interleaved on one global timeline, so
  recording times never go backwards and positions follow time, as in a live service.
- Deterministic: the stories draw from ``random.Random`` seeded by the seed and the
  family's number, and ``ledger.new_id`` is replaced by a seeded id source, so a seed
  gives the same events, ids included (for the same ``until``: by default, the start
  of today in London).
- Linear: only the families whose stories are running are held in memory; each command
  costs one ``Ledger.record``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import Repository

from aggregates.errors import LedgerError
from aggregates.events import VOCABULARY, payload_fields
from ledger.calendar import WorkingCalendar, add_years, london_date

if TYPE_CHECKING:
    from ledger.application import Ledger
    from ledger.policies.schema import Pack

LONDON = ZoneInfo("Europe/London")
WINDOW_DAYS = 450
"""How far back the simulated history starts (about fifteen months)."""
CACHED_FAMILIES = 20_000
"""Families kept in memory between their commands while loading (the ones being worked)."""
FAMILIES_PER_TEAM = 60
"""Families a team takes over the window (teams per pack grow with the families)."""


# --- synthetic people ---------------------------------------------------------------------

GIRLS = ("Amelia", "Olivia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Grace", "Ella", "Evie",
         "Sophie", "Poppy", "Rosie", "Ruby", "Willow", "Daisy", "Maya", "Zara", "Aisha", "Amira",
         "Hana", "Layla", "Nia", "Eliza", "Phoebe", "Esme", "Thea", "Orla", "Maisie")
BOYS = ("Oliver", "George", "Noah", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Alfie", "Charlie",
        "Freddie", "Theo", "Archie", "Finley", "Jacob", "Reuben", "Mason", "Ethan", "Zain", "Yusuf",
        "Kian", "Tyler", "Callum", "Rhys", "Kai", "Ibrahim", "Dylan", "Samuel", "Max", "Toby")
WOMEN = ("Sarah", "Emma", "Laura", "Gemma", "Kelly", "Jodie", "Stacey", "Hayley", "Leanne", "Natalie",
         "Amy", "Rebecca", "Kerry", "Nadia", "Fatima", "Shauna", "Chantelle", "Donna", "Michelle", "Joanne")
MEN = ("Craig", "Lee", "Darren", "Wayne", "Dean", "Jason", "Scott", "Ryan", "Carl", "Gary", "Stuart",
       "Mark", "Imran", "Tariq", "Marcus", "Jamal", "Paul", "Steven", "Adam", "Liam")
SURNAMES = ("Abbott", "Barker", "Bennett", "Booth", "Carter", "Cole", "Dawson", "Fletcher", "Foster",
            "Gill", "Hale", "Harper", "Holt", "Hussain", "Jarvis", "Kaur", "Lowe", "Marsh", "Mensah",
            "Nash", "Osei", "Parkin", "Quinn", "Rahman", "Reid", "Shaw", "Slater", "Thorne", "Turner",
            "Walsh", "Webb", "Yates", "Ahmed", "Begum", "Kowalski", "Nowak", "Okafor", "Patel",
            "Murphy", "Doyle")
# DfE ethnicity codes (aggregates.vocabulary.Ethnicity), weighted roughly like an English
# early help caseload.
ETHNICITY_WEIGHTS = {
    "WBRI": 62, "WIRI": 1, "WIRT": 0.5, "WOTH": 6, "WROM": 1, "MWBC": 2, "MWBA": 1, "MWAS": 1.5,
    "MOTH": 2, "AIND": 2.5, "APKN": 3, "ABAN": 2, "AOTH": 1.5, "BCRB": 1.5, "BAFR": 4, "BOTH": 1,
    "CHNE": 0.5, "OOTH": 1.5, "REFU": 1, "NOBT": 3,
}
MIXED = ("MWBC", "MWBA", "MWAS", "MOTH")

SCHOOLS = ("Hillside Primary School", "Meadow Lane Academy", "St Anne's CE Primary", "Brookfield Academy",
           "Oakwood Secondary School", "Riverside Infant School", "Park View Academy")
AGENCIES = {
    "school": SCHOOLS,
    "health visitor": ("Riverside Health Visiting Team", "North Locality Health Visitors"),
    "police": ("Police (MASH notification)",),
    "gp": ("Northgate Medical Practice", "Castle Street Surgery"),
    "housing": ("Housing Options", "Homes and Tenancy Team"),
    "health": ("Community Paediatrics", "CAMHS Single Point of Access"),
    "other": ("Neighbourhood Team", "Children's Centre"),
}
REFERRALS = (
    ("School worried about attendance and a tired, hungry child", "school", "professional"),
    ("Mother asking for help with her teenager's behaviour at home", None, "parent_or_carer"),
    ("Health visitor concerned about home conditions and the baby's weight", "health visitor", "professional"),
    ("Police notification: argument between the parents with the children present", "police", "front_door"),
    ("Parent struggling with low mood and the children's routines", "gp", "professional"),
    ("Young person missing school and staying out late", "school", "professional"),
    ("Family in temporary accommodation with rent arrears", "housing", "partner"),
    ("Child's anxiety and refusal to attend school", "school", "professional"),
    ("Parental alcohol use affecting the children's routines", "gp", "front_door"),
    ("Father asking for parenting support after separation", None, "self"),
    ("Child with additional needs; parents exhausted and asking for support", "health", "professional"),
    ("Neighbour concerns: shouting, children often unsupervised", "other", "front_door"),
)
OUTCOMES = ("Children attend school every day", "Calmer bedtimes and morning routines",
            "Mum feels able to manage the children's behaviour", "Home is safe and warm",
            "Rent arrears repaid and tenancy secure", "Parents communicate without arguing in front of the children",
            "Young person home by the agreed time", "Family linked to the Family Hub groups")
NOTES = ("{c} said school is 'better now' and showed a reading certificate",
         "{c} was quiet and did not want to talk about home",
         "{c} described arguments at home and feeling worried",
         "{c} has been sleeping better since the new routine",
         "Teacher reports {c} arriving late and without breakfast",
         "{c} enjoyed the Family Hub group and wants to go again")
ATTENDEES = ("school", "health visitor", "school nurse", "GP", "housing officer", "youth worker",
             "CAMHS practitioner", "nursery key person")


# --- staff ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    """A team of one pack's service: its manager, a supervisor and its practitioners."""

    id: str
    manager: dict[str, str]
    supervisor: dict[str, str]
    practitioners: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class Service:
    """How a council's service names its teams and staff (ids that read like staff ids)."""

    prefix: str
    localities: tuple[str, ...]
    codes: tuple[str, str, str]  # practitioner, supervisor, manager
    title: str  # the lead practitioner's role title (AllocatedToWorker.worker_role)


SERVICES: dict[str, Service] = {
    "durham-one-point": Service("dur", ("durham-city", "chester-le-street", "derwentside", "easington",
                                        "sedgefield", "wear-valley", "teesdale"), ("kw", "skw", "tm"), "Key Worker"),
    "haringey-early-help": Service("har", ("tottenham", "wood-green", "hornsey", "muswell-hill", "seven-sisters"),
                                   ("fsw", "sfsw", "tm"), "Family Support Worker"),
    "northamptonshire-0-19": Service("nor", ("northampton", "corby", "kettering", "wellingborough", "daventry",
                                             "towcester"), ("fsw", "sp", "tm"), "Family Support Worker"),
    "leicestershire-early-help": Service("lei", ("charnwood", "hinckley", "melton", "blaby", "harborough",
                                                 "coalville"), ("fw", "sfw", "tl"), "Family Wellbeing Worker"),
    "southampton-0-19": Service("sot", ("east", "west", "central", "north", "itchen"), ("sfsw", "tc", "om"),
                                "Senior Family Support Worker"),
}


def staff_teams(pack_id: str, families: int) -> list[Team]:
    """The teams of one pack: at least three, more as the service takes more families."""
    service = SERVICES[pack_id]
    count = max(3, math.ceil(families / FAMILIES_PER_TEAM))
    numbers = {"practitioner": 0, "supervisor": 0, "manager": 0}

    def person(role: str, code: str, team: str) -> dict[str, str]:
        numbers[role] += 1
        return {"user_id": f"{service.prefix}-{code}-{numbers[role]:02d}", "role": role, "team": team}

    teams = []
    for n in range(count):
        locality = service.localities[n % len(service.localities)]
        name = f"{service.prefix}-{locality}" + (f"-{n // len(service.localities) + 1}" if n >= len(service.localities) else "")
        practitioner, supervisor, manager = service.codes
        teams.append(Team(
            id=name,
            manager=person("manager", manager, name),
            supervisor=person("supervisor", supervisor, name),
            practitioners=tuple(person("practitioner", practitioner, name) for _ in range(4 + n % 3)),
        ))
    return teams


def team_name(team_id: str, council: str) -> str:
    """A demo team's name as its staff would say it: "Durham City 2 (Durham County Council)"."""
    words = team_id.split("-", 1)[1].replace("-", " ").title()
    return f"{words} ({council})"


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
        self.agenda: list[tuple[Any, ...]] = []
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

    def repeat(self, first: date, limit: Callable[[], int], action: Callable[[], Iterator[Step]], prio: int = 6) -> None:
        """Recurring work (visits, supervision) until the episode starts closing."""
        def tick() -> Iterator[Step]:
            yield from action()
            self.once(self.after(self.gap(limit())), tick, prio=prio)
        self.once(first, tick, prio=prio)

    def run(self) -> Iterator[Step]:
        """Every step of the family's story, in the order it happened, up to the present."""
        try:
            yield self.register()
            self.whenever(self.day, self.begin_episode)
            while self.agenda:
                day, prio, _, kind, ep, fn, args = heapq.heappop(self.agenda)
                if kind != "free":
                    if ep is not self.ep or ep.closed:
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
                recorded = occurred + timedelta(minutes=self.rng.randint(2, 40) if r < 0.7 else self.rng.randint(40, 180))
            else:  # first thing the next working day
                recorded = at(self.cal.add_working_days(london_date(occurred), 1), self.rng.randint(8 * 60 + 30, 10 * 60 + 30))
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
        on, dob = on or self.day, member["date_of_birth"]
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
        members = [{k: m[k] for k in ("member_id", "given_name", "family_name", "date_of_birth", "kind",
                                       "gender", "ethnicity")} for m in self.members]
        return self.step("FamilyRegistered", self.duty, {"team": self.team.id, "members": members,
                                                          "policy": self.pack_id})

    def open_episode(self) -> Episode:
        self.episodes += 1
        self.ep = Episode(number=self.episodes, episode_id=self.uid(), team=self.team, referred=self.day)
        return self.ep

    def referral(self, route: str | None = None, priority: str | None = None) -> Step:
        reason, source, default_route = self.rng.choice(REFERRALS)
        agency = self.rng.choice(AGENCIES[source]) if source else None
        fields: dict[str, Any] = {
            "episode_id": self.ep.episode_id, "route": route or default_route, "reason": reason,  # type: ignore[union-attr]
            "referrer_agency": agency, "consent_to_refer": True, "priority": priority,
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
        location = {"visit": "home", "unannounced_visit": "home", "office": "Family Hub", "school": "school"}.get(method)
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
        if "transfer" in self.f and ep.number == 1 or self.chance(0.06):
            self.once(self.after(self.rng.randint(span // 4 + 5, max(span // 4 + 6, span * 2 // 3)), start),
                      self.transfer_out)

    def correct(self) -> Iterator[Step]:
        """An earlier entry put right: a visit's date, a note's words, a meeting's attendees."""
        ep = self.ep
        assert ep is not None
        choices = [("visit", s) for s in ep.visits[-4:]] + [("note", s) for s in ep.notes[-3:]] + \
                  [("meeting", s) for s in ep.meetings[-2:]]
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
        """Mother tells the worker she is expecting: the baby joins the record, then is born."""
        ep = self.ep
        assert ep is not None
        due = self.day + timedelta(days=self.rng.randint(25, 110))
        if due > self.latest_birth:  # the aggregate refuses a date of birth after today
            return
        surname = self.adults[0]["family_name"]
        baby = {"member_id": self.uid(), "given_name": "Baby", "family_name": surname, "date_of_birth": due,
                "kind": "child", "gender": "0", "ethnicity": self.adults[0]["ethnicity"]}
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
        baby.update(given_name=name, date_of_birth=born, gender="2" if girl else "1")
        yield self.step("EntryCorrected", self.holding(self.ep.worker or self.duty) if self.ep else self.duty, {
            "corrects": added, "reason": f"Baby born on {born:%d %B %Y}: name and date of birth recorded",
            "changes": {"given_name": name, "date_of_birth": born, "gender": baby["gender"]}})
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


# --- Durham: One Point Service -------------------------------------------------------------------------


class Durham(Story):
    pack_id = "durham-one-point"
    IFST, HUB = "intensive-family-support", "family-hub"

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        first = ep.number == 1
        wants_ifst = first and ("extension" in self.f or "step_down" in self.f)
        ep.planned = self.IFST if wants_ifst or self.chance(0.55) else self.HUB
        from_csc = not wants_ifst and self.chance(0.08)
        yield self.referral(route="step_down" if from_csc else None)
        if from_csc:
            self.once(self.after(self.rng.randint(1, 3)), self.csc_step_down)
        else:
            self.once(self.due_by(self.day, 5, lo=1), self.triage)

    def triage(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("TriageDecided", self.sup, {"outcome": "early_help", "pathway": ep.planned,
                                                   "rationale": "Needs met below the safeguarding threshold"})
        self.later()
        yield self.step("AllocatedToTeam", self.sup, {"team": ep.team.id, "pathway": ep.planned})
        self.tray()

    def csc_step_down(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("AgreementRecorded", self.sup, {"subject": "step_down", "with_team_around_the_family": True,
                                                       "detail": "Family agreed the step down from social care"})
        self.later()
        yield self.step("SteppedDown", self.mgr, {"from_service": "childrens_social_care",
                                                 "reason": "No further statutory role", "pathway": ep.planned})
        self.tray()

    def tray(self) -> None:
        ep = self.ep
        assert ep is not None
        ep.pathway, ep.allocated = ep.planned, self.day
        if ep.pathway == self.IFST:
            self.once(self.due_by(self.day, 2), self.ifst_allocation)
        else:
            self.once(self.due_by(self.day, 7, lo=1), self.hub_allocation)

    def ifst_allocation(self) -> Iterator[Step]:
        if not self.skip():
            yield self.document("case-summary", self.sup, title="Initial case summary")
            self.later()
        yield self.allocate_worker(self.sup, "Key Worker")
        self.start_work()

    def hub_allocation(self) -> Iterator[Step]:
        yield self.allocate_worker(self.mgr, "Early Help Practitioner")
        self.start_work()

    def start_work(self) -> None:
        ep = self.ep
        assert ep is not None
        self.once(self.after(self.rng.randint(1, 3)), self.first_visit)
        ifst = ep.pathway == self.IFST
        length = self.rng.randint(80, 170) if ifst else self.rng.randint(45, 85)
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, 85)
        end = self.after(length)
        self.once(end, self.close)
        self.repeat(self.after(self.rng.randint(12, 18)), lambda: 18 if self.ep.pathway == self.HUB else 28,  # type: ignore[union-attr]
                    self.supervise)
        self.repeat(self.after(self.rng.randint(15, 30)), lambda: 35, self.oversee, prio=7)
        if "step_up" in self.f and ep.number == 1 or self.chance(0.05):
            self.once(self.after(self.rng.randint(length // 2, length - 5)), self.step_up)
        if ifst and ("step_down" in self.f and ep.number == 1 or self.chance(0.1)):
            self.once(self.after(self.rng.randint(45, max(46, length - 30))), self.step_down)
        self.plan_mix(self.day, end)

    def first_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if self.chance(0.3):
            yield self.phone(made=False)
            self.later(60, 180)
        # Now and then (most in a neglected case) the visit goes ahead before the RAPID is
        # done: it is recorded, and the breach flagged (seed 000 L503, L621-L627; ADR 0019).
        skipped = not ep.risk_assessed and self.chance(self.p_skip)
        if not ep.risk_assessed and not skipped:
            yield self.document("home-visit-risk-assessment")
            ep.risk_assessed = True
            self.later()
        if self.chance(0.5):
            yield self.document("introductory-pack")
            self.later()
        yield self.visit()
        if skipped:
            self.later()
            yield self.document("home-visit-risk-assessment")
            ep.risk_assessed = True
        if self.chance(0.7):
            self.later()
            yield from self.give_consent()
        else:
            self.once(self.due_by(ep.worker_allocated or self.day, 10, lo=2), self.give_consent)
        self.repeat(self.after(self.gap(10)), lambda: 10, self.routine_visit)

    def routine_visit(self) -> Iterator[Step]:
        if self.chance(0.15):
            yield self.phone(made=self.chance(0.7))
            self.later(60, 240)
        young = any(self.age(c) < 1 for c in self.children())
        method = "visit" if young or self.chance(0.8) else self.rng.choice(("office", "school"))
        yield self.visit(method)
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def give_consent(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.consented:
            return
        yield self.consent()
        ep.consented = c = self.day
        self.once(self.due_by(c, 2), self.begin_assessment)
        if ep.pathway == self.IFST:
            if not self.skip():
                self.once(self.due_by(c, 28, lo=8), self.family_network_meeting)
            if not self.skip():
                self.once(self.due_by(c, 28, lo=10), self.taf, "team_around_the_family")
            if "extension" in self.f and ep.number == 1 or self.chance(0.08):
                self.once(self.due_by(c, 25, lo=19), self.extend_assessment)
            else:
                self.once(self.due_by(c, 23, lo=10), self.submit_assessment)
        else:
            self.once(self.due_by(c, 15, lo=5), self.submit_assessment)

    def begin_assessment(self) -> Iterator[Step]:
        yield self.start_assessment()

    def extend_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        by = self.rng.randint(5, 15)
        ep.extended = by
        yield self.step("DeadlineExtended", self.mgr, {
            "rule": "ifst-assessment", "extend_by": by, "agreed_with_family": True,
            "reason": self.rng.choice(("Late disclosure needs exploring", "Family illness delayed the work",
                                       "Awaiting information from CAMHS"))})
        self.once(max(self.day, self.after(28 + by - 3, ep.consented)), self.submit_assessment)

    def submit_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state not in ("started", "returned"):
            self.once(self.after(1), self.submit_assessment)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        quick = 2 if ep.extended else 4
        if ep.assessment_state == "submitted" and self.chance(0.15) and not ep.extended:
            self.once(self.due_by(self.day, 3, lo=1), self.return_assessment)
        else:
            self.once(self.due_by(self.day, quick, lo=1), self.authorise_assessment)

    def approver(self) -> dict[str, str]:
        assert self.ep is not None
        return self.sup if self.ep.pathway == self.IFST and self.chance(0.5) else self.mgr

    def return_assessment(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentReturned", self.approver(),
                                   reason=self.rng.choice(("Child's voice missing", "Analysis needs strengthening")))
        self.once(self.due_by(self.day, 3, lo=1), self.submit_assessment)

    def authorise_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.assessment_step("AssessmentAuthorised", self.approver())
        if self.chance(0.6):
            self.later()
            yield self.document("signed-assessment")
        if ep.pathway == self.HUB:
            self.once(self.due_by(self.day, 5, lo=1), self.hub_plan)

    def hub_plan(self) -> Iterator[Step]:
        yield self.plan()
        if self.chance(0.7):
            self.later()
            yield self.authorise_plan(self.mgr)

    def family_network_meeting(self) -> Iterator[Step]:
        yield self.meeting("family_network", attendees=["grandmother", "aunt"])

    def taf(self, kind: str) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.meeting(kind, next_meeting=self.after(25))
        t = self.day
        if not self.skip():
            self.once(self.due_by(t, 5), self.plan_after_taf)
        if not self.skip():
            self.once(self.due_by(t, 10, lo=3), self.circulate_plan)
        if not self.skip():
            self.once(self.due_by(t, 30, lo=5), self.chronology_update)
        self.once(self.due_by(t, 30, lo=18), self.taf, "review")

    def plan_after_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.plan()
        if not ep.authorised_plans and self.chance(0.6):
            self.later()
            yield self.authorise_plan(self.approver())

    def circulate_plan(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if not ep.plans:
            self.once(self.after(1), self.circulate_plan)
            return
        yield self.share_plan()

    def chronology_update(self) -> Iterator[Step]:
        yield self.document("chronology-update", title="Chronology brought up to date")

    def supervise(self) -> Iterator[Step]:
        yield self.supervision()
        if not self.skip():
            self.later(30, 200)
            yield self.document("case-summary", title="Case summary updated at supervision")

    def oversee(self) -> Iterator[Step]:
        yield self.oversight()

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.step_up)
            return
        ep.closing, ep.reason = True, "step_up"
        if ep.pathway == self.IFST or ep.assessment_state == "authorised":
            yield self.meeting("step_up_step_down", self.mgr, family=False,
                               attendees=["IFS Team Manager", "Children's Social Care Team Manager"])
            self.later()
            yield self.oversight("Family discussed at the Step Up/Step Down meeting: step up agreed",
                                 "step up to Children's Social Care")
            self.later()
        yield self.step("AgreementRecorded", self.lead, {"subject": "step_up", "with_team_around_the_family": True,
                                                        "detail": "Family told of the step up"})
        self.then(self.due_by(self.day, 1), self.stepped_up)

    def stepped_up(self) -> Iterator[Step]:
        yield self.step("SteppedUp", self.mgr, {"to_service": "childrens_social_care",
                                               "reason": "Concerns escalated: referral to Children's Social Care"},
                        context={"significance": "high"})
        yield from self.close_process()

    def step_down(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.pathway != self.IFST or ep.worker is None:
            return
        if ep.assessment_state != "authorised":
            self.once(self.after(5), self.step_down)
            return
        yield self.step("AgreementRecorded", self.lead, {"subject": "step_down", "with_team_around_the_family": True,
                                                        "detail": "Family agree to move to the Family Hub"})
        self.later()
        yield self.step("SteppedDown", self.sup, {"from_service": self.IFST, "pathway": self.HUB,
                                                 "reason": "Needs now met at Family Hub level"})
        ep.pathway = self.HUB
        key_worker = ep.worker
        down = self.day
        self.then(self.due_by(down, 3), self.hub_takes_over, key_worker, down)

    def hub_takes_over(self, key_worker: dict[str, str], down: date) -> Iterator[Step]:
        yield self.allocate_worker(self.mgr, "Early Help Practitioner")
        self.then(max(self.day, self.due_by(down, 5, lo=2)), self.joint_visit, key_worker)

    def joint_visit(self, key_worker: dict[str, str]) -> Iterator[Step]:
        yield self.visit(joint_with=[f"{key_worker['user_id']} (IFST Key Worker)"])
        self.later()
        yield self.plan()

    def close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.close)
            return
        ep.closing = True
        yield from self.close_process()

    def close_process(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.pathway == self.IFST:
            self.later()
            yield self.meeting("closure")
            if ep.plans:
                self.later()
                yield self.share_plan()
            self.then(self.after(self.rng.randint(1, 3)), self.closure_supervision)
        else:
            self.later()
            yield self.propose_closure(ep.reason)
            self.then(self.after(self.rng.randint(0, 2)), self.authorise_closure)

    def closure_supervision(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.supervision("Closure discussed and agreed; recorded on the Case Supervision Form")
        self.later()
        yield self.document("case-summary", title="Closing case summary")
        self.later()
        yield self.propose_closure(ep.reason)
        self.then(self.after(self.rng.randint(0, 2)), self.authorise_closure)

    def authorise_closure(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        approver = self.mgr if ep.pathway == self.HUB else self.approver()
        yield self.step("ClosureAuthorised", approver, {"comment": "Closure agreed"}, context={"significance": "high"})
        self.later()
        yield self.document("closure-letter", sent_to=[self.name(self.parent())])
        self.then(self.after(self.rng.randint(0, 3)), self.final_closure)

    def final_closure(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.document("family-survey", sent_to=[self.name(self.parent())])
        self.later()
        yield self.close_step(ep.reason)
        self.closed()


# --- Haringey: Early Help Locality Teams -------------------------------------------------------------


class Haringey(Story):
    pack_id = "haringey-early-help"
    LOCALITY, STEP_DOWN = "locality-team", "step-down"

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        from_csc = ("step_down" in self.f and ep.number == 1) or self.chance(0.1)
        ep.planned = self.STEP_DOWN if from_csc else self.LOCALITY
        if from_csc:
            yield self.referral(route="step_down")
            self.then(self.day, self.csc_step_down)
            return
        priority = self.rng.choices(("green", "amber", "red"), weights=(70, 25, 5))[0]
        yield self.referral(priority=priority)
        nfa = not self.f and ep.number == 1 and self.chance(0.07)
        if priority == "red":
            self.once(self.day, self.triage, priority, nfa, prio=1)
        elif priority == "amber":
            self.once(self.day if self.chance(0.6) else self.after(1), self.triage, priority, nfa)
        else:
            self.once(self.due_by(self.day, 3), self.triage, priority, nfa)

    def triage(self, priority: str, nfa: bool) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if priority == "red":
            self.later(60, 180 if not self.chance(self.p_late) else 400)
        if nfa:
            yield self.step("TriageDecided", self.mgr, {"outcome": "signpost", "rationale": "Universal services can help"})
            self.later()
            ep.closing, ep.reason = True, "no_further_action"
            yield self.propose_closure("no_further_action", self.duty)
            self.later()
            yield self.step("ClosureAuthorised", self.mgr, {"comment": "Signposted"})
            self.later()
            yield self.close_step("no_further_action", self.duty)
            self.closed()
            return
        yield self.step("TriageDecided", self.mgr, {"outcome": "early_help", "pathway": self.LOCALITY,
                                                   "rationale": "Multiple needs: Locality Team"})
        self.later()
        yield self.consent(("support",), "verbal", self.duty)
        self.later()
        yield from self.to_team()

    def csc_step_down(self) -> Iterator[Step]:
        self.later()
        yield self.step("SteppedDown", self.mgr, {"from_service": "childrens_social_care", "pathway": self.STEP_DOWN,
                                                 "reason": "Agreed for step down at the CYPS Transfer Panel"})
        self.later()
        yield self.meeting("step_up_step_down", attendees=["social worker", "school"], actor=self.mgr)
        self.ep.first_review = True  # type: ignore[union-attr]
        self.later()
        yield self.consent(("support", "information_sharing"), "written", self.duty)
        self.then(self.after(self.rng.randint(0, 1)), self.to_team_action)

    def to_team_action(self) -> Iterator[Step]:
        yield from self.to_team()

    def to_team(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("AllocatedToTeam", self.mgr, {"team": ep.team.id, "pathway": ep.planned})
        ep.pathway, ep.allocated = ep.planned, self.day
        self.once(self.due_by(self.day, 1), self.allocate)

    def allocate(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.allocate_worker(self.sup)
        if self.chance(0.6):
            self.later()
            yield self.document("case-allocation-record", self.sup)
        a = self.day
        step_down = ep.pathway == self.STEP_DOWN
        self.once(self.due_by(a, 5, lo=1), self.initial_visit)
        if step_down:
            if not self.skip():
                self.once(self.due_by(a, 15, lo=5), self.cic_and_baseline)
            self.once(self.after(self.rng.randint(25, 35), a), self.eight_weekly)
        else:
            self.once(self.due_by(a, 15, lo=7), self.submit_c4c)
            if not self.skip():
                self.once(self.due_by(a, 15, lo=5), self.baseline_initial)
            self.once(self.due_by(a, 12, lo=6), self.initial_taf)
        self.repeat(self.after(self.rng.randint(30, 50), a), lambda: months(3) - 2, self.supervise)
        length = self.rng.randint(70, 150)
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, 80)
        end = self.after(length, a)
        self.once(end, self.close)
        if "step_up" in self.f and ep.number == 1 or self.chance(0.05):
            self.once(self.after(self.rng.randint(length // 3, length - 5), a), self.step_up)
        self.plan_mix(a, end)

    def initial_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        skipped = not ep.risk_assessed and self.chance(self.p_skip)  # flagged, not refused (ADR 0019)
        if not ep.risk_assessed and not skipped:
            yield self.document("home-visits-risk-assessment", self.sup)
            ep.risk_assessed = True
            self.later()
        yield self.visit()
        if skipped:
            self.later()
            yield self.document("home-visits-risk-assessment", self.sup)
            ep.risk_assessed = True
        self.later()
        yield self.consent(("support", "information_sharing"), "written")
        ep.consented = self.day
        if ep.pathway == self.LOCALITY:
            self.later()
            yield self.start_assessment()
        if self.chance(0.7):
            self.later()
            yield self.document("family-outcome-star")
        self.repeat(self.after(self.rng.randint(3, 4)), lambda: 4 if self.ep.assessment_state in (None, "started") else 9,  # type: ignore[union-attr]
                    self.routine_visit)

    def routine_visit(self) -> Iterator[Step]:
        yield self.visit(self.rng.choice(("visit", "visit", "visit", "school", "office")))
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def submit_c4c(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state != "started":
            self.once(self.after(1), self.submit_c4c)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)

    def baseline_initial(self) -> Iterator[Step]:
        yield self.document("baseline-data-initial")

    def initial_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.consented is None:
            self.once(self.after(1), self.initial_taf)
            return
        yield self.meeting("team_around_the_family")
        ep.first_review = True
        t = self.day
        self.once(self.due_by(ep.allocated or t, 20, lo=0), self.cic_and_baseline)
        self.once(self.after(self.rng.randint(28, 36), t), self.eight_weekly)

    def cic_and_baseline(self) -> Iterator[Step]:
        yield self.plan()
        self.later()
        yield self.document("baseline-data-update")
        if self.chance(0.5):
            self.later()
            yield self.document("family-outcome-star")

    def eight_weekly(self) -> Iterator[Step]:
        """TAF review with the Checking in on Change, Baseline and Outcome Star updated (L425-L436)."""
        yield self.meeting("review")
        if not self.skip():
            self.later()
            yield self.plan()
        if not self.skip():
            self.later()
            yield self.document("baseline-data-update")
        if not self.skip():
            self.later()
            yield self.document("family-outcome-star")
        self.once(self.after(self.gap(weeks(8) - 3)), self.eight_weekly)

    def supervise(self) -> Iterator[Step]:
        yield self.supervision()
        if self.chance(0.4):
            self.later()
            yield self.oversight()

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.step_up)
            return
        ep.closing, ep.reason = True, "step_up"
        yield self.step("SteppedUp", self.mgr, {"to_service": "childrens_social_care", "reason": "Needs escalated"},
                        context={"significance": "high"})
        self.then(self.after(self.rng.randint(0, 2)), self.spa_outcome)

    def spa_outcome(self) -> Iterator[Step]:
        yield self.step("TriageDecided", self.mgr, {"outcome": "step_up", "rationale": "Accepted by Children's Social Care"})
        self.later()
        yield self.propose_closure("step_up")
        self.later()
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Stepped up"})
        self.later()
        yield self.close_step("step_up")
        self.closed()

    def close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.close)
            return
        ep.closing = True
        yield self.meeting("closure")
        t = self.day
        self.then(self.due_by(t, 5, lo=1), self.closing_documents)

    def closing_documents(self) -> Iterator[Step]:
        yield self.document("baseline-data-final")
        self.later()
        yield self.start_assessment("celebrating-and-sustaining-change")
        self.later(60, 240)
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        self.then(self.after(self.rng.randint(1, 2)), self.sign_off)

    def sign_off(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentAuthorised", self.mgr)
        self.later()
        yield self.propose_closure("outcomes_met")
        self.later()
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Celebrating and Sustaining Change signed off"})
        self.later()
        yield self.document("closure-letter", sent_to=["family", "referrer"])
        self.later()
        yield self.close_step("outcomes_met")
        self.closed()

    def after_closure(self) -> None:
        ep = self.ep
        assert ep is not None
        if ep.reason == "outcomes_met" and not self.skip():
            self.whenever(self.after(self.within(months(3) - 2, lo=50)), self.follow_up_call, ep.worker or self.duty)

    def follow_up_call(self, worker: dict[str, str]) -> Iterator[Step]:
        worker = self.holding(worker)
        needs = self.chance(0.2)
        yield self.step("FollowUpCompleted", worker, {"method": "phone", "further_support_needed": needs,
                                                     "outcome": "Worried about the rent again" if needs else "All well"})
        if needs:
            self.whenever(self.due_by(self.day, 5, lo=1), self.follow_up_visit, worker)

    def follow_up_visit(self, worker: dict[str, str]) -> Iterator[Step]:
        worker = self.holding(worker)
        yield self.step("FollowUpCompleted", worker, {"method": "visit", "outcome": "Support with housing offered",
                                                     "further_support_needed": False})


# --- Northamptonshire: Targeted Early Help 0-19 -------------------------------------------------------


class Northamptonshire(Story):
    pack_id = "northamptonshire-0-19"
    PATHWAYS = ("parenting", "challenging-behaviour", "neglect", "domestic-abuse", "substance-misuse",
                "mental-health", "disability")

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        ep.planned = self.rng.choice(self.PATHWAYS)
        yield self.referral(route=self.rng.choice(("front_door", "professional")))
        self.once(self.due_by(self.day, 3, lo=1), self.allocate)

    def allocate(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("TriageDecided", self.mgr, {"outcome": "early_help", "pathway": ep.planned,
                                                   "rationale": "Targeted Early Help: Access to Support"})
        self.later()
        yield self.step("AllocatedToTeam", self.mgr, {"team": ep.team.id, "pathway": ep.planned})
        ep.pathway = ep.planned
        ep.allocated = a = self.day
        self.later()
        yield self.allocate_worker(self.mgr)
        if not self.skip():
            self.once(self.due_by(a, weeks(1), lo=1), self.chronology, prio=4)
        self.once(self.due_by(a, weeks(1) - 1, lo=1), self.pre_visit_checks, prio=4)
        self.once(self.due_by(a, 5, lo=1), self.telephone)
        self.once(self.due_by(a, weeks(2), lo=4), self.first_home_visit)
        if not self.skip():
            self.once(self.due_by(a, weeks(4), lo=10), self.document_action, "genogram")
        if not self.skip():
            self.once(self.due_by(a, weeks(6), lo=15), self.document_action, "culturegram")
        for child in self.children(a):
            if not self.skip():
                self.once(self.due_by(a, weeks(6), lo=10), self.voice_of_child, child)
            if self.age(child, a) >= 11:
                self.once(self.due_by(a, weeks(6), lo=12), self.cse_assessment, child)
        if ep.planned == "neglect" and not self.skip():
            self.once(self.due_by(a, weeks(6), lo=15), self.document_action, "graded-care-profile")
        if ep.planned == "domestic-abuse" and not self.skip():
            self.once(self.due_by(a, weeks(6), lo=15), self.document_action, "dash-risk-assessment")
        self.once(self.due_by(a, weeks(6) - 4, lo=16), self.first_taf)
        self.once(self.due_by(a, weeks(6) - 6, lo=14), self.submit_assessment)
        self.repeat(self.after(self.rng.randint(12, 18), a), lambda: weeks(4), self.supervise)
        self.repeat(self.after(self.rng.randint(8, 12), a), lambda: 9, self.routine_visit)
        length = self.rng.randint(weeks(10), weeks(24))
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, weeks(14))
        extend = "extension" in self.f and ep.number == 1 or self.chance(0.1)
        if extend:
            length = weeks(26) - self.rng.randint(8, 15)
            self.once(self.after(length, a), self.extension)
        else:
            self.once(self.after(length, a), self.close)
        if "pause" in self.f and ep.number == 1 or self.chance(0.06):
            self.once(self.after(self.rng.randint(10, max(11, length // 2)), a), self.pause)
        if "step_up" in self.f and ep.number == 1 or self.chance(0.04):
            self.once(self.after(self.rng.randint(length // 3, length - 5), a), self.step_up)
        self.plan_mix(a, self.after(length, a))
        # A child turning 11 during the episode joins the CSE rule (L214) on the birthday.
        for child in self.children(a):
            birthday = add_years(child["date_of_birth"], 11)
            if a < birthday <= self.after(length, a):
                self.once(self.due_by(birthday, weeks(6), lo=10), self.cse_assessment, child)

    def chronology(self) -> Iterator[Step]:
        yield self.document("chronology", self.sup, title="Chronology reviewed on allocation")

    def pre_visit_checks(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.risk_assessed:
            return
        yield self.document("worker-safety", self.sup)
        self.later()
        yield self.document("risk-assessment", self.sup)
        self.later()
        yield self.document("sos-risk-template", self.sup, title="Signs of Safety risk template baseline")
        ep.risk_assessed = True

    def telephone(self) -> Iterator[Step]:
        yield self.phone(made=self.chance(0.7), actor=self.sup if self.chance(0.5) else self.lead)

    def first_home_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if not ep.risk_assessed:
            yield from self.pre_visit_checks()
            self.later()
        yield self.visit()
        self.later()
        yield self.consent(("support", "information_sharing"), self.rng.choice(("written", "electronic")))
        ep.consented = self.day
        self.later()
        yield self.start_assessment()

    def routine_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if not ep.risk_assessed or ep.consented is None:
            yield self.phone(made=self.chance(0.6))
            return
        yield self.visit(self.rng.choice(("visit", "visit", "unannounced_visit", "school")))
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def document_action(self, document: str) -> Iterator[Step]:
        yield self.document(document)

    def voice_of_child(self, child: dict[str, Any]) -> Iterator[Step]:
        yield self.document("voice-of-the-child", about=[child["member_id"]],
                            title=f"{child['given_name']}'s wishes and feelings")

    def cse_assessment(self, child: dict[str, Any]) -> Iterator[Step]:
        level = self.rng.choices(("cse-risk-assessment-low", "cse-risk-assessment-low-medium",
                                  "cse-risk-assessment-medium-high"), weights=(70, 20, 10))[0]
        yield self.document(level, about=[child["member_id"]])
        if level.endswith("medium-high"):
            self.once(self.after(self.rng.randint(12, 18)), self.cse_oversight, child, 0)

    def cse_oversight(self, child: dict[str, Any], done: int) -> Iterator[Step]:
        """Monthly management oversight while a child's CSE risk stays medium to high (L226)."""
        if done >= 2:
            yield self.document("cse-risk-assessment-low-medium", about=[child["member_id"]])
            return
        yield self.oversight(f"CSE risk for {child['given_name']} reviewed: remains medium to high",
                             "keep open; monthly oversight", about=[child["member_id"]])
        self.once(self.after(self.gap(18)), self.cse_oversight, child, done + 1)

    def first_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.consented is None:
            self.once(self.after(2), self.first_taf)
            return
        yield self.meeting("team_around_the_family")
        self.later()
        yield self.plan()
        self.once(self.due_by(ep.allocated or self.day, weeks(6), lo=0), self.sign_off_plan)
        self.once(self.after(self.gap(weeks(6) - 1)), self.review)

    def sign_off_plan(self) -> Iterator[Step]:
        yield self.authorise_plan(self.mgr)

    def review(self) -> Iterator[Step]:
        yield self.meeting("review")
        if self.chance(0.4):
            self.later()
            yield self.document("review-notes")
        self.once(self.after(self.gap(weeks(6) - 1)), self.review)

    def submit_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state != "started":
            self.once(self.after(1), self.submit_assessment)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        self.once(self.due_by(self.day, 3, lo=1), self.authorise_assessment)

    def authorise_assessment(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentAuthorised", self.mgr)
        if not self.skip():
            self.once(self.due_by(self.day, 5, lo=0), self.document_action, "additional-assessments")

    def supervise(self) -> Iterator[Step]:
        yield self.supervision(actor=self.sup if self.chance(0.7) else self.mgr)
        self.later(20, 90)
        yield self.document("chronology", self.sup, title="Chronology updated at supervision")
        if not self.skip():
            self.later()
            yield self.document("sos-risk-template", self.sup, title="Signs of Safety template reviewed")

    def pause(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("WorkPaused", self.sup, {"reason": "section_47",
                                                "note": "Strategy discussion: Section 47 enquiry started"},
                        context={"significance": "high"})
        ep.paused = True
        self.then(self.after(self.rng.randint(5, 15)), self.resume)

    def resume(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("WorkResumed", self.sup, {"reason": "Section 47 concluded: early help support continues"})
        ep.paused = False

    def extension(self) -> Iterator[Step]:
        """Supervision discusses a longer intervention; the TM extends, then the family agrees (L157, L307)."""
        ep = self.ep
        assert ep is not None
        yield self.supervision("Longer intervention needed: 32 week delivery band discussed")
        self.later(60, 180)
        by = self.rng.randint(4, 10)
        yield self.step("DeadlineExtended", self.mgr, {"rule": "intervention-duration", "extend_by": by,
                                                      "reason": "Progress made; more time for the plan's outcomes"})
        self.once(self.due_by(self.day, 4, lo=1), self.family_agrees_extension)
        self.once(self.after(weeks(26 + by) - self.cal.working_days_between(ep.allocated or self.day, self.day) - 5),
                  self.close)

    def family_agrees_extension(self) -> Iterator[Step]:
        yield self.step("AgreementRecorded", self.lead, {"subject": "extension", "rule": "intervention-duration",
                                                        "with_team_around_the_family": True})

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        ep.closing, ep.reason = True, "step_up"
        yield self.oversight("Risks increased: referral to MASH agreed", "refer to Children's Social Care")
        self.later()
        yield self.step("SteppedUp", self.sup, {"to_service": "MASH", "reason": "Risks increased"},
                        context={"significance": "high"})
        self.later()
        yield self.propose_closure("step_up")
        self.then(self.after(self.rng.randint(1, 3)), self.authorise_and_close, "step_up")

    def authorise_and_close(self, reason: str) -> Iterator[Step]:
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Closure authorised"})
        self.later()
        yield self.close_step(reason)
        self.closed()

    def close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.close)
            return
        ep.closing = True
        ep.reason = "moved_away" if self.chance(0.1) else self.rng.choice(("outcomes_met", "outcomes_met", "transferred"))
        yield self.propose_closure(ep.reason)
        if ep.reason == "moved_away":
            self.then(self.after(self.rng.randint(1, 3)), self.authorise_and_close, ep.reason)
        else:
            self.then(self.after(self.rng.randint(1, 3)), self.authorise_closure)

    def authorise_closure(self) -> Iterator[Step]:
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Closure summary signed off"})
        self.then(self.after(self.rng.randint(1, 5)), self.final_taf)

    def final_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.meeting("closure")
        self.later()
        yield self.step("AgreementRecorded", self.lead, {"subject": "closure", "with_team_around_the_family": True})
        self.later()
        yield self.step("AgreementRecorded", self.lead, {"subject": "lead_professional", "with_team_around_the_family": True,
                                                        "detail": self.rng.choice(("school nurse", "health visitor",
                                                                                   "school pastoral lead"))})
        self.then(self.after(self.rng.randint(0, 2)), self.final_close)

    def final_close(self) -> Iterator[Step]:
        yield self.close_step(self.ep.reason)  # type: ignore[union-attr]
        self.closed()

    def newborn(self, baby: dict[str, Any]) -> Iterator[Step]:
        yield from super().newborn(baby)
        self.once(self.due_by(self.day, weeks(5), lo=5), self.voice_of_child, baby)


# --- Leicestershire: Early Help practice guidance ----------------------------------------------------


class Leicestershire(Story):
    pack_id = "leicestershire-early-help"

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        yield self.referral()
        if "extension" in self.f and ep.number == 1:
            route = "targeted"
        elif "transfer" in self.f and ep.number == 1:
            route = "targeted"
        else:
            route = self.rng.choices(("targeted", "intensive", "holding", "brief", "close"),
                                     weights=(42, 14, 10, 22, 12))[0]
        ep.planned = route
        self.once(self.due_by(self.day, 2), self.triage, route)

    def triage(self, route: str) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if route == "close":
            yield from self.close_at_prioritisation()
            return
        response, pathway, priority = {
            "targeted": ("fsw-targeted-intervention", "targeted", self.rng.choice(("medium", "low-medium"))),
            "intensive": ("fsw-intensive-support", "intensive", self.rng.choice(("high-medium", "high"))),
            "holding": ("fsw-holding-contact", "holding", "medium-high"),
            "brief": ("fsw-brief-intervention", "brief", self.rng.choice(("low-medium", "low"))),
        }[route]
        yield self.step("TriageDecided", self.mgr, {"outcome": "early_help", "response": response, "pathway": pathway,
                                                   "priority": priority,
                                                   "rationale": "Risk and Prioritisation template completed"})
        ep.pathway = pathway
        self.later()
        yield self.allocate_worker(self.mgr)
        a = self.day
        self.once(self.due_by(a, 5, lo=1), self.referrer_call)
        limit = {"targeted": 10, "brief": 10, "holding": 5, "intensive": 0}[route]
        if route == "intensive":
            self.later(30, 180)
            yield self.phone(made=self.chance(0.5))
            self.once(self.due_by(a, 3, lo=1), self.first_meeting)
        else:
            self.once(self.due_by(a, limit, lo=1), self.first_contact)
        if route == "holding":
            self.once(self.after(self.within(weeks(5) - 2, lo=10), a), self.intensive_worker_available)
        self.repeat(self.after(self.rng.randint(20, 30), a), lambda: 30, self.supervise)

    def close_at_prioritisation(self) -> Iterator[Step]:
        """Outcome 1 (signposted: the family is called within 28 days, then the case closes)
        or outcome 15 (needs not met: closed, referrer and family told within 5 working days)."""
        ep = self.ep
        assert ep is not None
        signpost = self.chance(0.4)
        yield self.step("TriageDecided", self.mgr, {
            "outcome": "signpost" if signpost else "no_further_action",
            "response": "lsc-signpost" if signpost else "close-needs-not-met", "priority": "low",
            "rationale": "Needs can be met by universal services"})
        if signpost:
            self.once(self.due_by(self.day, weeks(4) - 2, lo=3), self.signpost_call)
            return
        yield from self.close_unworked()
        self.whenever(self.due_by(self.day, 5, lo=1), self.outcome_notification)

    def close_unworked(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        ep.closing, ep.reason = True, "no_further_action"
        self.later()
        yield self.propose_closure("no_further_action", self.mgr)
        self.later()
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Closed at prioritisation"})
        self.later()
        yield self.step("CaseNoteRecorded", self.mgr, {"text": "Closure summary: closed at prioritisation",
                                                      "contact_type": "closure-summary"})
        self.later()
        yield self.close_step("no_further_action", self.mgr)
        self.closed()

    def signpost_call(self) -> Iterator[Step]:
        yield self.phone(made=True, actor=self.duty)
        yield from self.close_unworked()

    def outcome_notification(self) -> Iterator[Step]:
        yield self.document("outcome-notification", self.duty, sent_to=["referrer", "family"])

    def referrer_call(self) -> Iterator[Step]:
        yield self.phone(made=True, party="referrer")

    def first_contact(self) -> Iterator[Step]:
        if self.chance(0.4):
            yield self.phone(made=False)
            self.once(self.after(self.rng.randint(1, 3)), self.first_meeting)
        else:
            yield from self.first_meeting()

    def first_meeting(self) -> Iterator[Step]:
        """Start of engagement: the first meeting with the family, consent form signed (L159, L163)."""
        ep = self.ep
        assert ep is not None
        yield self.visit()
        self.later()
        if not self.skip():
            yield self.document("parental-consent-form")
            self.later()
        yield self.consent(("support", "information_sharing"))
        ep.consented = e = self.day
        if ep.pathway == "holding":
            self.repeat(self.after(self.rng.randint(3, 5)), lambda: 5, self.routine_visit)
            return
        yield from self.engaged(e)

    def engaged(self, e: date) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        self.repeat(self.after(self.rng.randint(3, 5)), lambda: 7, self.routine_visit)
        if not self.skip():
            self.once(self.due_by(e, months(4) - 4, lo=40), self.case_summary)
        if ep.pathway == "brief":
            weeks_long = 6
            if "extension" in self.f and self.chance(0.5):
                self.once(self.after(weeks(5), e), self.extend, "brief-intervention-length", 1)
                weeks_long = 7
            self.once(self.after(self.rng.randint(weeks(4), weeks(weeks_long) - 2), e), self.close)
            return
        self.later()
        yield self.start_assessment()
        planned_weeks = 6 if ep.pathway == "targeted" else 7
        if "extension" in self.f and ep.number == 1 and not ep.extended:
            self.once(self.after(weeks(5), e), self.extend, "assessment", 2)
            self.once(self.after(weeks(7) - 1, e), self.submit_assessment)
            self.once(self.after(weeks(planned_weeks), e), self.agree_plan)
        else:
            self.once(self.due_by(e, weeks(6) - 2, lo=15), self.submit_assessment)
            self.once(self.due_by(e, weeks(planned_weeks) - 1, lo=20), self.agree_plan)
        length = months(4) - 5 if ep.pathway == "targeted" else self.rng.randint(months(6), months(11))
        if ep.pathway == "targeted" and self.chance(0.12) and not ep.extended:
            self.once(self.after(months(3) + 10, e), self.extend, "targeted-intervention-length", 2)
            length = months(6) - 5
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, months(3))
        self.once(self.after(self.rng.randint(max(30, length - 20), length), e), self.close)
        if "step_up" in self.f and ep.number == 1 or self.chance(0.05):
            self.once(self.after(self.rng.randint(20, max(21, length - 10)), e), self.step_up)
        self.plan_mix(e, self.after(length, e))

    def intensive_worker_available(self) -> Iterator[Step]:
        """The holding worker hands over to an intensive family support worker (L81, L84)."""
        ep = self.ep
        assert ep is not None
        yield self.step("AllocatedToTeam", self.mgr, {"team": ep.team.id, "pathway": "intensive"})
        ep.pathway = "intensive"
        self.later()
        yield self.allocate_worker(self.mgr, "Family Support Worker (intensive)")
        self.later()
        self.agenda = [item for item in self.agenda if item[5].__name__ != "tick"]
        heapq.heapify(self.agenda)
        self.repeat(self.after(self.rng.randint(20, 30)), lambda: 30, self.supervise)
        self.once(self.after(self.rng.randint(1, 3)), self.intensive_start)

    def intensive_start(self) -> Iterator[Step]:
        yield self.visit()
        yield from self.engaged(self.day)

    def routine_visit(self) -> Iterator[Step]:
        yield self.visit(self.rng.choice(("visit", "visit", "office", "school")))
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def extend(self, rule: str, by: int) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        ep.extended += 1
        yield self.step("DeadlineExtended", self.mgr, {"rule": rule, "extend_by": by,
                                                      "reason": self.rng.choice(("Family illness", "One more session needed",
                                                                                 "New information from school"))})

    def submit_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state != "started":
            self.once(self.after(1), self.submit_assessment)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        if self.chance(0.7):
            self.once(self.after(self.rng.randint(1, 4)), self.authorise_assessment)

    def authorise_assessment(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentAuthorised", self.mgr)

    def agree_plan(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.plan()
        limit = weeks(6) if ep.pathway == "targeted" else weeks(12)
        self.once(self.after(self.gap(limit)), self.star_review)

    def star_review(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.document("family-star-review")
        limit = weeks(6) if ep.pathway == "targeted" else weeks(12)
        self.once(self.after(self.gap(limit)), self.star_review)

    def case_summary(self) -> Iterator[Step]:
        yield self.document("case-summary")
        self.once(self.after(self.gap(months(4) - 4)), self.case_summary)

    def supervise(self) -> Iterator[Step]:
        yield self.supervision(actor=self.sup if self.chance(0.6) else self.mgr)

    def transfer_prerequisites(self) -> Iterator[Step]:
        yield self.meeting("handover", self.mgr, family=False, attendees=["Team Leader (sending)", "Team Leader (receiving)"])

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.step_up)
            return
        ep.closing, ep.reason = True, "step_up"
        yield self.meeting("step_up_step_down", self.mgr, family=False,
                           attendees=["Team Leader", "Strengthening Families Team Manager"])
        self.later()
        yield self.step("SteppedUp", self.mgr, {"to_service": "childrens_social_care", "reason": "Safeguarding concerns"},
                        context={"significance": "high"})
        self.then(self.after(self.rng.randint(1, 3)), self.closure_steps, "step_up")

    def close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.close)
            return
        ep.closing = True
        yield self.supervision("Closure agreed in supervision")
        self.then(self.after(self.rng.randint(0, 2)), self.closure_steps, "outcomes_met")

    def closure_steps(self, reason: str) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        assessed = ep.pathway in ("targeted", "intensive")
        if assessed:
            yield self.document("family-star-review", title="Review before closure")
            self.later()
        yield self.propose_closure(reason)
        self.later()
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Closure signed off"})
        self.then(self.after(self.rng.randint(0, 2)), self.closing_paperwork, reason)

    def closing_paperwork(self, reason: str) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.document("closure-form" if ep.pathway in ("targeted", "intensive") else "brief-closure-summary")
        self.later()
        yield self.step("CaseNoteRecorded", self.mgr, {"text": f"Closure summary: {reason.replace('_', ' ')}",
                                                      "contact_type": "closure-summary"})
        self.later()
        yield self.close_step(reason)
        self.closed()


# --- Southampton: 0-19 Integrated Early Help ----------------------------------------------------------


class Southampton(Story):
    pack_id = "southampton-0-19"
    IFS, SHORT = "intensive-family-support", "short-term-support"

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        forced = ep.number == 1 and bool({"extension", "transfer", "late_recording"} & self.f)
        ep.planned = self.IFS if forced or self.chance(0.75) else self.SHORT
        yield self.referral()
        self.once(self.due_by(self.day, 1), self.triage)

    def triage(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("TriageDecided", self.sup, {"outcome": "early_help", "pathway": ep.planned,
                                                   "rationale": "Hub decision"})
        ep.pathway = ep.planned
        self.later()
        yield self.step("AllocatedToTeam", self.sup, {"team": ep.team.id})
        ep.allocated = self.day
        self.once(self.due_by(ep.referred, 5, lo=1), self.allocate)

    def allocate(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.allocate_worker(self.sup, "SFSW" if ep.pathway == self.IFS else "Family Engagement Worker")
        a = self.day
        if ep.pathway == self.SHORT:
            self.once(self.after(self.rng.randint(1, 5)), self.short_first_visit)
            self.once(self.after(self.rng.randint(weeks(4), weeks(8))), self.close)
            return
        disengaged = not (self.f & {"extension", "transfer", "rereferral"}) and self.chance(0.08)
        if disengaged:
            self.once(self.after(1), self.chase, 0)
            return
        self.once(self.due_by(a, 5, lo=1), self.initial_visit)
        self.repeat(self.after(self.rng.randint(20, 35), a), lambda: weeks(8), self.supervise)
        if not self.skip():
            self.once(self.after(self.gap(months(3) - 3), a), self.case_summary)
        if not self.skip():
            self.once(self.after(self.gap(months(3) - 3), a), self.chronology_update)
        if not self.skip():
            self.once(self.after(self.gap(months(6) - 5), a), self.supervision_summary)
        length = self.rng.randint(months(3) + 5, months(6) - 8)
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, months(3) + 10)
        self.once(self.after(length, ep.allocated or a), self.closure_taf)
        if "step_up" in self.f and ep.number == 1 or self.chance(0.05):
            self.once(self.after(self.rng.randint(length // 3, length - 5), a), self.step_up)
        self.plan_mix(a, self.after(length, a))

    def short_first_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.visit()
        self.later()
        yield self.consent(("support",))
        ep.consented = self.day
        self.repeat(self.after(self.rng.randint(4, 8)), lambda: 10, self.routine_visit)

    def chase(self, tries: int) -> Iterator[Step]:
        """A family that does not engage: attempts, a management decision, the letter (L417-L430)."""
        ep = self.ep
        assert ep is not None
        if tries < 3:
            method = ("phone", "text", "letter")[tries]
            yield self.step("ContactAttempted", self.lead, {"method": method, "party": "family",
                                                           "outcome": "letter_sent" if method == "letter" else "no_answer"},
                            deferrable=True)
            self.once(self.after(self.rng.randint(3, 6)), self.chase, tries + 1)
            return
        yield self.oversight("15 working days of attempts by three methods: close unless the family makes contact",
                             "non-engagement closure letter", actor=self.sup)
        self.later()
        yield self.document("non-engagement-letter", sent_to=["family", "referrer"])
        ep.closing, ep.reason = True, "disengaged"
        self.then(self.after(self.rng.randint(10, 12)), self.propose_then_close)

    def propose_then_close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.propose_closure(ep.reason)
        self.then(self.after(self.rng.randint(1, 3)), self.closing_summary)

    def initial_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if self.chance(0.3):
            yield self.phone(made=False)
            self.later(60, 200)
        yield self.visit(alone=0.95)
        ep.engaged = self.day
        self.later()
        yield self.consent()
        ep.consented = self.day
        self.later()
        yield self.start_assessment()
        for child in self.children():
            if self.age(child) < 4:
                self.once(self.due_by(ep.worker_allocated or self.day, 5, lo=0), self.not_seen_alone, child)
        self.repeat(self.after(self.rng.randint(2, 4)), lambda: 4 if not ep.first_review else 9, self.routine_visit)
        a = ep.allocated or self.day
        self.once(self.due_by(a, 10, lo=self.cal.working_days_between(a, self.day)), self.initial_taf)
        self.once(self.due_by(a, 19, lo=12), self.submit_assessment)
        self.once(self.due_by(a, 19, lo=12), self.agree_plan)

    def not_seen_alone(self, child: dict[str, Any]) -> Iterator[Step]:
        yield self.oversight(f"{child['given_name']} is too young to be spoken to alone; seen with the family",
                             "child not seen alone: agreed", actor=self.sup, about=[child["member_id"]])

    def routine_visit(self) -> Iterator[Step]:
        yield self.visit(self.rng.choice(("visit", "visit", "school", "office")), alone=0.5)
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def initial_taf(self) -> Iterator[Step]:
        yield self.meeting("team_around_the_family")

    def submit_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state != "started":
            self.once(self.after(1), self.submit_assessment)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        self.once(self.due_by(ep.allocated or self.day, 29, lo=self.cal.working_days_between(ep.allocated or self.day, self.day) + 1),
                  self.authorise_assessment)

    def authorise_assessment(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentAuthorised", self.sup)

    def agree_plan(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.plan()
        self.once(self.due_by(ep.allocated or self.day, 29, lo=self.cal.working_days_between(ep.allocated or self.day, self.day) + 1),
                  self.sign_off_plan)

    def sign_off_plan(self) -> Iterator[Step]:
        yield self.authorise_plan(self.sup)
        self.later()
        yield self.share_plan()
        self.once(self.after(self.gap(58)), self.review_taf)

    def review_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.meeting("review")
        ep.first_review = True
        self.once(self.after(self.gap(58)), self.review_taf)

    def supervise(self) -> Iterator[Step]:
        yield self.supervision()

    def case_summary(self) -> Iterator[Step]:
        yield self.document("case-summary")
        self.once(self.after(self.gap(months(3) - 3)), self.case_summary)

    def chronology_update(self) -> Iterator[Step]:
        yield self.document("chronology-update")
        self.once(self.after(self.gap(months(3) - 3)), self.chronology_update)

    def supervision_summary(self) -> Iterator[Step]:
        yield self.document("supervision-summary", self.sup, title="Six-monthly supervision summary")
        self.once(self.after(self.gap(months(6) - 5)), self.supervision_summary)

    def summary(self, title: str) -> Iterator[Step]:
        """A closing or transfer summary, authorised by the Team Co-ordinator (L251, L282)."""
        summary = self.uid()
        yield self.step("AssessmentStarted", self.lead, {"assessment_id": summary, "assessment_kind": "closing-summary"})
        self.later(30, 120)
        yield self.step("AssessmentSubmitted", self.lead, {"assessment_id": summary})
        self.later(30, 120)
        yield self.step("AssessmentAuthorised", self.sup, {"assessment_id": summary}, context={"note": title})

    def transfer_prerequisites(self) -> Iterator[Step]:
        yield from self.summary("Transfer summary")

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.step_up)
            return
        ep.closing, ep.reason = True, "step_up"
        yield self.step("SteppedUp", self.sup, {"to_service": "childrens_social_care",
                                               "reason": "Section 17 assessment needed"}, context={"significance": "high"})
        self.later()
        yield self.propose_closure("step_up")
        self.then(self.after(self.rng.randint(1, 4)), self.closing_summary)

    def closure_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.closure_taf)
            return
        ep.closing = True
        yield self.meeting("closure")
        self.later()
        yield self.propose_closure("outcomes_met")
        if "extension" in self.f and ep.number == 1 or self.chance(0.1):
            self.then(self.after(self.rng.randint(7, 9)), self.extend_closure)
        else:
            self.then(self.due_by(self.day, weeks(2), lo=2), self.closing_summary)

    def extend_closure(self) -> Iterator[Step]:
        by = self.rng.randint(1, 3)
        yield self.step("DeadlineExtended", self.sup if self.chance(0.6) else self.mgr, {
            "rule": "closure-actions", "extend_by": by, "reason": "Closing summary awaiting the school's report"})
        self.then(self.after(self.rng.randint(3, weeks(by))), self.closing_summary)

    def close(self) -> Iterator[Step]:
        """Short-term support ends: closing summary and closure."""
        ep = self.ep
        assert ep is not None
        ep.closing = True
        yield self.propose_closure("outcomes_met")
        self.then(self.after(self.rng.randint(1, 4)), self.closing_summary)

    def closing_summary(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield from self.summary("Closing summary")
        self.later()
        yield self.step("ClosureAuthorised", self.sup, {"comment": "Closure approved by the Team Co-ordinator"})
        self.later()
        yield self.document("closure-letter", sent_to=["family", "referrer"])
        self.later()
        yield self.close_step(ep.reason)
        self.closed()

    def after_closure(self) -> None:
        ep = self.ep
        assert ep is not None
        closure_taf = next((m for m in reversed(ep.meetings) if m.fields["meeting_kind"] == "closure"), None)
        if closure_taf is None or ep.pathway != self.IFS:
            return
        held = london_date(closure_taf.occurred_at)
        worker = ep.worker or self.duty
        if not self.skip():
            self.whenever(max(self.day, self.after(self.within(weeks(8) - 2, lo=20), held)), self.keep_going_review, worker)
        self.whenever(max(self.day, self.after(self.within(months(8) - 5, lo=100), held)), self.follow_up, worker)

    def keep_going_review(self, worker: dict[str, str]) -> Iterator[Step]:
        worker = self.holding(worker)
        yield self.document("keep-going-plan-review", worker)

    def follow_up(self, worker: dict[str, str]) -> Iterator[Step]:
        worker = self.holding(worker)
        yield self.step("FollowUpCompleted", worker, {"method": "phone", "outcome": "Changes sustained",
                                                     "further_support_needed": False})

    def newborn(self, baby: dict[str, Any]) -> Iterator[Step]:
        yield from super().newborn(baby)
        self.later()
        yield from self.not_seen_alone(baby)


STORIES: dict[str, type[Story]] = {cls.pack_id: cls for cls in (Durham, Haringey, Northamptonshire, Leicestershire, Southampton)}
PACK_ORDER = tuple(STORIES)

# The first families of every run carry the mix between them, so even a small run shows
# it: (pack index, features). Later families draw their features at random.
GUARANTEED: tuple[frozenset[str], ...] = tuple(frozenset(f) for f in (
    {"extension", "late_recording", "correction"},            # Durham: IFST assessment extended
    {"step_down", "transfer", "late_recording"},              # Haringey: stepped down from social care, transferred
    {"pause", "extension", "correction"},                     # Northamptonshire: Section 47 pause, intervention extended
    {"rereferral", "transfer", "late_work"},                  # Leicestershire: transferred, re-referred
    {"rereferral", "late_recording", "extension"},            # Southampton: closure actions extended, re-referred
    {"step_down", "rereferral", "neglect"},                   # Durham: IFST stepped down to a Family Hub
    {"step_up", "late_work", "correction"},                   # Haringey: stepped up to social care
    {"rereferral", "step_up", "late_work"},                   # Northamptonshire: stepped up, re-referred
    {"extension", "neglect", "expected_baby"},                # Leicestershire: a baby on the way
    {"transfer", "neglect", "correction", "late_recording"},  # Southampton: transferred with a summary
))
RANDOM_FEATURES = (("late_work", 0.22), ("neglect", 0.1), ("late_recording", 0.2), ("extension", 0.12),
                   ("pause", 0.12), ("transfer", 0.08), ("step_up", 0.06), ("step_down", 0.1),
                   ("rereferral", 0.15), ("correction", 0.15), ("expected_baby", 0.06))


# --- running every story on one timeline ---------------------------------------------------------------


@dataclass(eq=False)
class _Running:
    """A story being recorded: its next step and the family id once registered."""

    index: int
    pack: str
    story: Story
    steps: Iterator[Step]
    family_id: UUID | None = None
    events: int = 0


def recording_order(steps: Iterator[Step], until: datetime) -> Iterator[Step]:
    """A story's steps in the order they are recorded: entries typed up late wait until
    their ``recorded_at`` (or until the episode closes); the family's recording clock
    never goes backwards; what would be typed up after ``until`` is not recorded yet."""
    waiting: list[tuple[datetime, int, Step]] = []
    order = itertools.count()
    last: datetime | None = None

    def release(step: Step, cap: datetime | None = None) -> Step:
        nonlocal last
        if cap is not None and step.recorded_at > cap:
            step.recorded_at = cap
        if last is not None and step.recorded_at < last:
            step.recorded_at = last
        last = step.recorded_at
        return step

    for step in steps:
        if step.deferred:
            heapq.heappush(waiting, (step.recorded_at, next(order), step))
            continue
        while waiting and (step.barrier or waiting[0][0] <= step.recorded_at):
            yield release(heapq.heappop(waiting)[2], step.recorded_at)
        yield release(step)
    while waiting:
        late = heapq.heappop(waiting)[2]
        if late.recorded_at < until:
            yield release(late)


def generate(ledger: Ledger, *, families: int, seed: int,
             on_progress: Callable[[int, int], None] | None = None,
             until: datetime | None = None) -> dict[str, Any]:
    """Record ``families`` synthetic families through the real command path; a summary.

    The history runs over the fifteen months before ``until`` (default: the start of
    today in London). ``ledger.clock`` and ``ledger.new_id`` are replaced while it runs
    and restored afterwards."""
    if families < 1:
        raise ValueError("families must be at least 1")
    packs = [p for p in PACK_ORDER if p in ledger.packs]
    if not packs:
        raise ValueError(f"none of the demo's packs ({', '.join(PACK_ORDER)}) is loaded")
    if until is None:
        until = at(london_date(ledger.now()), 0)
    if until.tzinfo is None:
        raise ValueError("until must be timezone-aware")
    horizon = until - timedelta(days=1)
    first_family = uuid.UUID(int=random.Random(f"{seed}:ids").getrandbits(128), version=4)
    if next(iter(ledger.events.get(first_family, limit=1)), None) is not None:
        raise DemoAlreadyLoaded(f"this database already holds the demo families of seed {seed}: "
                                "use another seed or an empty database")
    per_pack = Counter(packs[i % len(packs)] for i in range(families))
    teams = {p: staff_teams(p, per_pack[p]) for p in packs}
    for p in packs:  # the teams the families are registered for and transferred to
        for team in teams[p]:
            if ledger.teams.get(team.id) is None:
                ledger.teams.add(team.id, name=team_name(team.id, ledger.packs[p].council), by="demo")

    # Who each family is and when its story starts (cheap; the stories are built on demand).
    plans: list[tuple[datetime, int, str, int, frozenset[str]]] = []
    first_day = london_date(until) - timedelta(days=WINDOW_DAYS)
    for i in range(families):
        pack = packs[i % len(packs)]
        rng = random.Random(f"{seed}:{i}:plan")
        if i < len(GUARANTEED) and len(packs) == len(PACK_ORDER):
            features = GUARANTEED[i]
            offset = rng.randint(10, 90)
        else:
            features = frozenset(name for name, p in RANDOM_FEATURES if rng.random() < p)
            if pack != "northamptonshire-0-19":
                features -= {"pause"}
            if "rereferral" in features:
                offset = rng.randint(0, WINDOW_DAYS // 2)
            elif rng.random() < 0.3:  # the newest referrals: the open caseload of today
                offset = rng.randint(WINDOW_DAYS - 120, WINDOW_DAYS - 3)
            else:
                offset = rng.randint(0, WINDOW_DAYS - 3)
        day = first_day + timedelta(days=offset)
        calendar = WorkingCalendar.with_closures(ledger.packs[pack].closure_days)
        while not calendar.is_working_day(day):
            day += timedelta(days=1)
        start = at(day, rng.randint(9 * 60, 15 * 60))
        plans.append((start, i, pack, (i // len(packs)) % len(teams[pack]), features))
    plans.sort(key=lambda p: (p[0], p[1]))

    saved_clock, saved_new_id, saved_repository = ledger.clock, ledger.new_id, ledger._repository
    # The loader is the database's only writer while it runs, so the families being worked
    # are kept in memory between their commands (the library's aggregate cache, brought up
    # to date from the store before each command) instead of being replayed for each one.
    ledger._repository = Repository(event_store=saved_repository.event_store,
                                    snapshot_store=saved_repository.snapshot_store,
                                    cache_maxsize=CACHED_FAMILIES, fastforward=True, deepcopy_from_cache=False)
    now = [until]
    ledger.clock = lambda: now[0]
    id_source = random.Random(f"{seed}:ids")
    ledger.new_id = lambda: uuid.UUID(int=id_source.getrandbits(128), version=4)
    counts: Counter[str] = Counter()
    by_pack: Counter[str] = Counter()
    staff: dict[str, set[str]] = {p: set() for p in packs}
    used_teams: dict[str, set[str]] = {p: set() for p in packs}
    late_entries = episodes = done = 0
    queue: list[tuple[datetime, int, int, Step, _Running]] = []
    order = itertools.count()
    waiting = iter(plans)
    upcoming = next(waiting, None)
    started = time.perf_counter()
    try:
        while queue or upcoming is not None:
            while upcoming is not None and (not queue or upcoming[0] <= queue[0][0]):
                start, i, pack, team_index, features = upcoming
                story = STORIES[pack](index=i, seed=seed, pack=ledger.packs[pack], teams=teams[pack],
                                      team=teams[pack][team_index], start=start, horizon=horizon, features=features)
                running = _Running(i, pack, story, recording_order(story.run(), until))
                first = next(running.steps, None)
                if first is not None:
                    heapq.heappush(queue, (first.recorded_at, i, next(order), first, running))
                upcoming = next(waiting, None)
            if not queue:
                break
            _, _, _, step, running = heapq.heappop(queue)
            now[0] = step.recorded_at
            _record(ledger, running, step)
            counts[step.type] += 1
            staff[running.pack].add(step.actor["user_id"])
            used_teams[running.pack].add(step.actor["team"])
            late_entries += step.deferred
            following = next(running.steps, None)
            if following is not None:
                heapq.heappush(queue, (following.recorded_at, running.index, next(order), following, running))
            else:
                done += 1
                by_pack[running.pack] += 1
                episodes += running.story.episodes
                if on_progress is not None:
                    on_progress(done, families)
    finally:
        ledger.clock, ledger.new_id, ledger._repository = saved_clock, saved_new_id, saved_repository
    seconds = time.perf_counter() - started
    events = sum(counts.values())
    return {
        "seed": seed,
        "families": families,
        "families_per_pack": dict(sorted(by_pack.items())),
        "events": events,
        "episodes_opened": counts["ReferralReceived"],
        "episodes_closed": counts["EpisodeClosed"],
        "re_referrals": episodes - families,
        "teams_per_pack": {p: len(used_teams[p]) for p in packs},
        "staff_per_pack": {p: len(staff[p]) for p in packs},
        "entries_recorded_late": late_entries,
        "from": first_day.isoformat(),
        "until": until.isoformat(),
        "event_types": dict(sorted(counts.items())),
        "seconds": round(seconds, 3),
        "events_per_second": round(events / seconds, 1) if seconds else None,
        "families_per_second": round(families / seconds, 2) if seconds else None,
    }


_DEFAULTS: dict[str, dict[str, Any]] = {}


def _defaults(type_name: str) -> dict[str, Any]:
    """A command's optional fields with their defaults, as the API sends them."""
    found = _DEFAULTS.get(type_name)
    if found is None:
        import dataclasses

        found = {}
        for name, f in payload_fields(VOCABULARY[type_name]).items():
            if f.default is not dataclasses.MISSING:
                found[name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                found[name] = f.default_factory
        _DEFAULTS[type_name] = found
    return found


def _record(ledger: Ledger, running: _Running, step: Step) -> None:
    """One step through the real command path; a refusal is a bug in the story."""
    fields = {k: (v.event_id if isinstance(v, Step) else v) for k, v in step.fields.items()}
    try:
        if step.type == "FamilyRegistered":
            recorded = ledger.register_family(policy=fields["policy"], team=fields["team"], members=fields["members"],
                                              actor=step.actor, occurred_at=step.occurred_at)
            running.family_id = recorded.family_id
        else:
            assert running.family_id is not None
            for name, default in _defaults(step.type).items():
                if name not in fields:
                    fields[name] = default() if callable(default) else default
            recorded = ledger.record(running.family_id, step.type, fields, actor=step.actor,
                                     occurred_at=step.occurred_at, about=step.about, context=step.context)
    except LedgerError as e:
        raise DemoRefused(
            f"demo family {running.index} ({running.pack}, {running.family_id}): {step.type} by "
            f"{step.actor['user_id']} ({step.actor['role']}) occurred {step.occurred_at.isoformat()}, "
            f"recorded {step.recorded_at.isoformat()}, was refused: {e}"
        ) from e
    step.event_id = recorded.event_id
    running.events += 1


class DemoAlreadyLoaded(ValueError):
    """The seed's families are already in the database (ids are the seed's: they would clash)."""


class DemoRefused(RuntimeError):
    """The ledger refused a demo command: the generator, not the ledger, is wrong."""
