"""What the ledger knows about each event type is declared once, on its class (ADR 0026).

Adding a type is a change to its own declaration (fields, personal fields, category,
summary, tags) plus the packs that use it; these tests fail when a declaration is
missing or when a consumer keeps a list of its own.
"""

from __future__ import annotations

import ast
import pathlib
import uuid
from typing import Any

import pytest

from aggregates.events import VOCABULARY, FamilyEvent, payload_fields
from aggregates.vocabulary import ENTRY_CATEGORIES, PowerName
from ledger.policies.loader import load_packs
from ledger.policies.schema import Pack

ROOT = pathlib.Path(__file__).resolve().parents[1]
TYPES = sorted(VOCABULARY)


@pytest.mark.parametrize("name", TYPES)
def test_every_event_type_declares_its_category_and_its_own_summary(name: str) -> None:
    cls = VOCABULARY[name]
    assert cls.category in ENTRY_CATEGORIES
    assert "summarise" in vars(cls), f"{name} has no summary of its own"
    assert set(cls.personal) <= set(payload_fields(cls)), f"{name} names personal fields it does not have"


@pytest.fixture(scope="module")
def packs() -> list[Pack]:
    """Every shipped pack, loaded once for the module's summaries: a pack is frozen, so
    ``summarise`` can only read it (loading and validating them took most of each test)."""
    return list(load_packs().values())


@pytest.mark.parametrize("name", TYPES)
def test_every_summary_reads_as_words_for_a_minimal_entry(name: str, packs: list[Pack]) -> None:
    """The summary of each type, made from the values a command would carry, under every
    pack: a sentence, no code left in it, no error."""
    values = _example(VOCABULARY[name])
    for pack in packs:
        text = VOCABULARY[name].summarise(values, pack)
        assert text.strip() and "_" not in text.replace("{m:", ""), (name, text)
        assert "None" not in text, (name, text)


def test_tags_are_consistent() -> None:
    powers = set(PowerName.__args__)  # type: ignore[attr-defined]
    for name, cls in VOCABULARY.items():
        if cls.power is not None:
            assert cls.power in powers and cls.power_needed_to, name
            assert cls.decision_kind, f"{name} needs a pack power, so it records a decision"
        if cls.management_only:
            assert cls.decision_kind, f"only a manager records {name}: it is a decision"
        if cls.sets_pathway:
            assert "pathway" in payload_fields(cls), name
        if cls.assessment:
            assert "assessment_id" in payload_fields(cls), name
    assert [n for n, c in VOCABULARY.items() if c.assessment == "start"] == ["AssessmentStarted"]


ALLOWED = {
    # The engine's own mechanics, not a fact about the events: which entries it cannot
    # carry a walk on over (it starts again from the first).
    ("ledger/deadlines.py", ("EntryCorrected", "FamilyRegistered", "PersonalDataErased")),
    # A pack's standing cadence: a recurring rule that starts when the case does.
    ("ledger/policies/schema.py", ("ReferralReceived", "AllocatedToTeam", "AllocatedToWorker")),
}


def test_no_consumer_keeps_its_own_list_of_event_types() -> None:
    """A module outside ``aggregates/`` that lists three or more event type names in one
    set, tuple or dict is keeping a fact about events that belongs on their classes."""
    names = set(VOCABULARY)
    found = []
    for folder in ("ledger", "projections", "replay", "api", "cli", "queries"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
                    items = node.elts
                elif isinstance(node, ast.Dict):
                    items = [k for k in node.keys if k is not None]
                else:
                    continue
                listed = [i.value for i in items if isinstance(i, ast.Constant) and i.value in names]
                if len(listed) >= 3 and (str(path.relative_to(ROOT)), tuple(listed)) not in ALLOWED:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {listed}")
    assert not found, "event facts kept outside the event classes:\n" + "\n".join(found)


def _example(cls: type[FamilyEvent]) -> dict[str, Any]:
    """The smallest values of a type, as JSON (what a read model hands ``summarise``)."""
    member = uuid.uuid4().hex
    fixed: dict[str, Any] = {
        "team": "north", "members": [{"member_id": member}], "member_id": member, "kind": "child",
        "route": "self", "reason": "a reason", "outcome": "no_answer", "worker_id": "w-1", "method": "phone",
        "party": "family", "children_seen": [member], "children_seen_alone": [], "members_present": [member],
        "given_by": member, "scope": ["support"], "form": "written", "assessment_id": member,
        "rule": "no-such-rule", "extend_by": 5, "outcomes": ["safe at home"], "plan_id": member,
        "shared_with": ["school"], "meeting_kind": "review", "attendees": ["school"], "text": "A note",
        "to_service": "social_care", "from_service": "social_care", "to_team": "south", "from_team": "north",
        "document": "closure-letter", "subject": "plan", "corrects": member, "changes": {}, "legal_basis": "Art. 17",
        "deadlines": {}, "episode_id": member, "date_of_birth": "2026-01-02", "from_date": "2026-01-02",
        "address_lines": ["1 High Street"], "postcode": "DH1 5ZA", "linked_family_id": member,
    }
    if cls.__name__ == "PersonalDataErased":
        fixed["reason"] = "erasure-request"
    if cls.__name__ == "EpisodeClosed" or cls.__name__ == "ClosureProposed":
        fixed["reason"] = "outcomes_met"
    if cls.__name__ in ("EpisodeClosed", "FollowUpCompleted"):
        fixed["outcome"] = "settled at home"
    if cls.__name__ == "WorkPaused":
        fixed["reason"] = "section_47"
    if cls.__name__ == "TriageDecided":
        fixed["outcome"] = "early_help"
    return {name: fixed[name] for name, f in payload_fields(cls).items() if name in fixed}
