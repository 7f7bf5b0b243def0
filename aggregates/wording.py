"""How an event reads in plain words: the helpers each event class's ``summarise`` uses.

A summary names members as ``{m:<hex id>}`` tokens (rendered with the member's name, or
withheld, when it is read: ``projections/chronology.py``) and a pack's own vocabulary by
its names (``Terms``: the pack the family is worked under).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Protocol
from uuid import UUID

TOKEN = re.compile(r"\{m:([0-9a-f]{32})\}")
"""A member named in a summary: ``{m:<hex id>}``."""


class RuleView(Protocol):
    title: str
    unit: str | None


class Terms(Protocol):
    """What a summary needs of a policy pack (``ledger.policies.schema.Pack``)."""

    council: str

    def term_name(self, vocabulary: str, value: str | None) -> str: ...

    def rule(self, rule_id: str) -> Any: ...


def who(members: Any) -> str:
    """Member tokens for one id or a list of ids."""
    ids: Iterable[Any] = members if isinstance(members, (list, tuple)) else [members]
    return ", ".join(f"{{m:{_hex(i)}}}" for i in ids if i)


def words(value: str | None) -> str:
    """A code as words: ``unannounced_visit`` -> ``unannounced visit``."""
    return (value or "").replace("_", " ")


def join(*parts: str, sep: str = "; ") -> str:
    """The parts that say something, once: a part already said by an earlier one (a
    closure's outcome "outcomes met" after its reason "outcomes met") is left out."""
    kept: list[str] = []
    for part in parts:
        if part and not any(plain(part) in plain(k) for k in kept):
            kept.append(part)
    return sep.join(kept)


def plain(text: str) -> str:
    """Text folded for comparison: lower case, no underscores or hyphens, single spaces."""
    return " ".join(text.replace("_", " ").replace("-", " ").lower().split())


def pathway(terms: Terms, value: str | None) -> str:
    return f"pathway {terms.term_name('pathways', value)}" if value else ""


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, UUID) else UUID(str(value)).hex
