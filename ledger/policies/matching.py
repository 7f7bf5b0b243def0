"""How an event is matched against a pack's event match (``start``, ``stop``, ``before``...).

One function, used by the aggregate's ordering check (through ``Pack.ordering_problem``)
and by the deadline engine, so a filter means the same thing everywhere.

An event is seen as its type plus a flat mapping of values: its payload fields and four
derived values every match may filter on: ``pathway`` (the episode's pathway when it was
recorded), ``actor_role``, ``about`` (the members it concerns) and, for
``AssessmentSubmitted`` / ``Returned`` / ``Authorised``, the ``assessment_kind`` of the
assessment it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from uuid import UUID

MEMBER = "$member"
"""In a per-child rule, stands for the child the clock concerns."""

ANY_MEMBER = UUID(int=0)
"""Pass as ``member`` to ask whether an event matches for some child, ignoring ``$member``."""


class Match(Protocol):
    event: str
    where: dict[str, Any]


def matches(match: Match, event_type: str, values: Mapping[str, Any], member: UUID | None = None) -> bool:
    """Does an event of ``event_type`` with ``values`` satisfy ``match``?

    A scalar ``where`` value means "equals" (for a list field: "contains"); a list means
    "one of" (for a list field: "shares one of").
    """
    if event_type != match.event:
        return False
    for key, wanted in match.where.items():
        actual = values.get(key)
        options = wanted if isinstance(wanted, list) else [wanted]
        if member is ANY_MEMBER:
            if MEMBER in options:
                continue
        elif member is not None:
            options = [member if o == MEMBER else o for o in options]
        elif MEMBER in options:
            return False
        found = actual if isinstance(actual, (list, tuple)) else [actual]
        if not any(_same(v, o) for v in found for o in options):
            return False
    return True


def _same(value: Any, option: Any) -> bool:
    if type(value) is UUID and type(option) is UUID:  # the common case (a member), without two str()
        return value.int == option.int
    if isinstance(value, UUID) or isinstance(option, UUID):
        return str(value).replace("-", "") == str(option).replace("-", "")
    return bool(value == option)
