"""The demo's teams and staff: how each council's service names its teams and people."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

FAMILIES_PER_TEAM = 60
"""Families a team takes over the window (teams per pack grow with the families)."""


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
    supervisor_title: str = "Senior Practitioner"
    manager_title: str = "Team Manager"


SERVICES: dict[str, Service] = {
    "durham-one-point": Service("dur", ("durham-city", "chester-le-street", "derwentside", "easington",
                                        "sedgefield", "wear-valley", "teesdale"), ("kw", "skw", "tm"), "Key Worker",
                                "Senior Key Worker"),
    "haringey-early-help": Service("har", ("tottenham", "wood-green", "hornsey", "muswell-hill", "seven-sisters"),
                                   ("fsw", "sfsw", "tm"), "Family Support Worker", "Senior Family Support Worker"),
    "northamptonshire-0-19": Service("nor", ("northampton", "corby", "kettering", "wellingborough", "daventry",
                                             "towcester"), ("fsw", "sp", "tm"), "Family Support Worker"),
    "leicestershire-early-help": Service("lei", ("charnwood", "hinckley", "melton", "blaby", "harborough",
                                                 "coalville"), ("fw", "sfw", "tl"), "Family Wellbeing Worker",
                                      "Senior Family Wellbeing Worker", "Team Leader"),
    "southampton-0-19": Service("sot", ("east", "west", "central", "north", "itchen"), ("sfsw", "tc", "om"),
                                "Senior Family Support Worker", "Team Coordinator", "Operations Manager"),
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
        name = f"{service.prefix}-{locality}" + (
            f"-{n // len(service.localities) + 1}" if n >= len(service.localities) else "")
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



# --- the staff directory ----------------------------------------------------------------------

GIVEN = ("Sam", "Alex", "Priya", "Tom", "Aisha", "Gareth", "Nadia", "Chris", "Hannah", "Kwame", "Leanne", "Marek",
         "Joanne", "Imran", "Ruth", "Dev", "Claire", "Tunde", "Fiona", "Owen", "Bethan", "Ravi", "Lucy", "Sean")
FAMILY = ("Jones", "Patel", "Okafor", "Walsh", "Hughes", "Kowalski", "Reid", "Begum", "Thornton", "Mensah",
          "Griffiths", "Ahmed", "Lawson", "Doyle", "Nowak", "Sharma", "Pryce", "Campbell", "Whitfield", "Osei")
"""Made-up staff names (not the demo families' surnames): no real person is meant."""


def staff_directory(pack_id: str, teams: list[Team], seed: int) -> list[tuple[str, str, str]]:
    """(user id, name, job title) for every member of the teams' staff: a made-up name,
    the same for a seed, and the title the council's service gives the role."""
    service = SERVICES[pack_id]
    titles = {"practitioner": service.title, "supervisor": service.supervisor_title,
              "manager": service.manager_title}
    found = []
    for team in teams:
        for person in (team.manager, team.supervisor, *team.practitioners):
            rng = random.Random(f"{seed}:staff:{person['user_id']}")
            found.append((person["user_id"], f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}", titles[person["role"]]))
    return found
