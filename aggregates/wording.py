"""How an event reads in plain words: the helpers each event class's ``summarise`` uses.

A summary names members as ``{m:<hex id>}`` tokens (rendered with the member's name, or
withheld, when it is read: ``projections/chronology.py``), and staff as ``{w:...}``
tokens (rendered with their name and job title from the staff directory when read) and a pack's own vocabulary by
its names (``Terms``: the pack the family is worked under).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from uuid import UUID

TOKEN = re.compile(r"\{m:([0-9a-f]{32})\}")
"""A member named in a summary: ``{m:<hex id>}``."""
STAFF = re.compile(r"\{w:((?:[0-9a-f]{2})*)\}")
"""A member of staff named in a summary (a worker allocated or supervised):
``{w:<their user id, UTF-8, in hex>}``, rendered with their name and job title from the
staff directory when it is read (``staff_names``; ADR 0030), never stored as a name."""


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


def staff(user_id: Any) -> str:
    """A staff token for a user id (``STAFF``)."""
    return "{w:" + str(user_id).encode().hex() + "}"


_STAFF_AND_ROLE = re.compile(STAFF.pattern + r"(?: \(([^()]*)\))?")


def staff_names(text: str, name: Callable[[str], str] | None = None) -> str:
    """``text`` with its staff tokens rendered by ``name`` (user id -> how a person reads
    them); without ``name``, as the user id itself. A role in brackets after a token that
    repeats the job title the name already gives is said once ("Sam Jones, Key Worker",
    not "Sam Jones, Key Worker (Key Worker)")."""
    def render(m: re.Match[str]) -> str:
        person = (name or str)(bytes.fromhex(m.group(1)).decode("utf-8", "replace"))
        role = m.group(2)
        if role is None:
            return person
        return person if plain(person).endswith(", " + plain(role)) else f"{person} ({role})"
    return _STAFF_AND_ROLE.sub(render, text)


def words(value: str | None) -> str:
    """A code as words: ``unannounced_visit`` -> ``unannounced visit``."""
    return (value or "").replace("_", " ")


def join(*parts: str, sep: str = "; ") -> str:
    """The parts that say something, once: a part already said by an earlier one (a
    closure's outcome "outcomes met" after its reason "outcomes met") is left out."""
    given = [part for part in parts if part]
    if len(given) < 2:  # nothing to compare
        return sep.join(given)
    kept: list[str] = []
    said: list[str] = []  # the kept parts folded, each once
    for part in given:
        folded = plain(part)
        if not any(folded in s for s in said):
            kept.append(part)
            said.append(folded)
    return sep.join(kept)


def plain(text: str) -> str:
    """Text folded for comparison: lower case, no underscores or hyphens, single spaces."""
    return " ".join(text.replace("_", " ").replace("-", " ").lower().split())


def day(value: Any) -> str:
    """A date as documents write it (dd/mm/yyyy), from a ``date`` or its ISO text."""
    if not value:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    year, month, dom = text[:10].split("-")
    return f"{dom}/{month}/{year}"


def member_joined(member: Any, kind: str | None, expected: Any = None) -> str:
    """A member joining the record, in words: an unborn child is said to be unborn (with
    the expected date), so no entry says a child joined before they were born."""
    if kind == "unborn":
        return f"{who(member)}, an unborn child" + (f" (expected {day(expected)})" if expected else "")
    return f"{who(member)} ({kind})"


def pathway(terms: Terms, value: str | None) -> str:
    return f"pathway {terms.term_name('pathways', value)}" if value else ""


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, UUID) else _text_hex(str(value))


@functools.lru_cache(maxsize=4096)
def _text_hex(text: str) -> str:
    """A member id as a summary's JSON gives it, in hex (a family's summaries name the
    same few members again and again)."""
    return UUID(text).hex


RELATIONSHIP_WORDS = {
    "parent": ("mother", "father", "parent"), "step_parent": ("stepmother", "stepfather", "step-parent"),
    "grandparent": ("grandmother", "grandfather", "grandparent"), "sibling": ("sister", "brother", "sibling"),
    "carer": ("carer", "carer", "carer"), "other": ("other", "other", "other"),
}
"""A relationship in words by the member's gender (DfE code 2 female, 1 male, else neither)."""


def relationship_word(relationship: str | None, gender: str | None, kind: str | None = None) -> str:
    """"mother" for a parent recorded female, "step-parent" where the gender is not
    known; for a child of the family with no relationship recorded, "child"; else ""."""
    found = RELATIONSHIP_WORDS.get(relationship or "")
    if found is None:
        return {"child": "child", "unborn": "unborn child"}.get(kind or "", "")
    return found[0] if gender == "2" else found[1] if gender == "1" else found[2]
