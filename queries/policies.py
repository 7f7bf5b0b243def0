"""Reference data: the policy packs this ledger works under, and the team directory."""

from __future__ import annotations

from datetime import date

from typing_extensions import TypedDict

from aggregates.errors import NotFound
from ledger.application import Ledger
from ledger.policies.schema import Pack


class Pathway(TypedDict):
    id: str
    name: str


class PackSummary(TypedDict):
    id: str
    title: str
    council: str
    version: str
    effective_from: date
    seed: str
    """The seed procedure the pack is written from."""
    summary: str
    pathways: list[Pathway]
    rules: int
    """How many rules the pack has (``GET /policies/{id}`` lists them)."""


class Policies(TypedDict):
    policies: list[PackSummary]


class Team(TypedDict):
    team_id: str
    name: str


class Teams(TypedDict):
    teams: list[Team]


def policies(ledger: Ledger) -> Policies:
    """Every policy pack this ledger knows, with its version and pathways."""
    return Policies(policies=[
        PackSummary(id=p.id, title=p.title, council=p.council, version=p.version, effective_from=p.effective_from,
                    seed=p.seed, summary=p.summary, pathways=[Pathway(id=t.id, name=t.name) for t in p.pathways],
                    rules=len(p.rules))
        for p in ledger.packs.values()
    ])


def policy(ledger: Ledger, policy_id: str) -> Pack:
    """One pack whole: its vocabularies, authority, and every rule with its source."""
    if policy_id not in ledger.packs:
        raise NotFound(f"no policy pack {policy_id!r}; known: {', '.join(sorted(ledger.packs))}")
    return ledger.packs[policy_id]


def teams(ledger: Ledger) -> Teams:
    """The team directory: the teams families are registered for and transferred to."""
    return Teams(teams=[Team(team_id=t["team_id"], name=t["name"]) for t in ledger.teams.all()])
