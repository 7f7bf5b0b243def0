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
        options = wanted if isinstance(wanted, list) else (wanted,)
        substituted = False
        if MEMBER in options:
            if member is ANY_MEMBER:
                continue
            if member is None:
                return False
            options = [member if o == MEMBER else o for o in options]
            substituted = True
        actual = values.get(key)
        if isinstance(actual, (list, tuple)):
            if not any(_same(v, o) for v in actual for o in options):
                return False
        elif actual in options:  # equal by ``==`` is the same by ``_same``
            continue
        elif substituted or isinstance(actual, UUID):  # only then can ``_same`` differ from ``==``
            if not any(_same(actual, o) for o in options):
                return False
        else:  # a pack's own options are text, numbers and booleans: ``==`` is the whole test
            return False
    return True


def _same(value: Any, option: Any) -> bool:
    if type(value) is UUID and type(option) is UUID:  # the common case (a member), without two str()
        return value.int == option.int
    if isinstance(value, UUID) or isinstance(option, UUID):
        return str(value).replace("-", "") == str(option).replace("-", "")
    return bool(value == option)
