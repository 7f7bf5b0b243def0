"""What a correction does to the entry it corrects: one rule, used by every fold.

A correction (``EntryCorrected``) names an entry and gives new values for some of its
fields, and says why. Applied, the entry reads with those values; the original and the
correction both stay in the record. With ``member``, the correction is of one member's
details as the entry that put them on the record gave them: the registration (which
lists every first member) or their MemberAdded. The aggregate's state, the deadline
engine's facts and the chronology all apply corrections through ``corrected``, so they
cannot read one differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from aggregates.events import MEMBER_DETAILS_FIELDS

MEMBER_DETAILS = ("given_name", "family_name", "date_of_birth", "gender", "ethnicity", "kind", "expected_date",
                  *MEMBER_DETAILS_FIELDS)
"""What a correction may change about one member (``EntryCorrected.member``)."""
ENVELOPE_CHANGES = ("occurred_at", "about", "context")
"""Besides its own fields, when an entry happened, whom it concerns and its chronology context."""


def corrected(kind: str, occurred_at: datetime, about: tuple[UUID, ...], fields: Mapping[str, Any],
              changes: Mapping[str, Any], member: UUID | None = None,
              ) -> tuple[datetime, tuple[UUID, ...], dict[str, Any]]:
    """(occurred_at, about, fields) of an entry once ``changes`` are applied; fields the
    entry does not hold (``context``, or ones a fold leaves out) are not added."""
    values = dict(fields)
    if member is not None:
        details = {k: v for k, v in changes.items() if k in MEMBER_DETAILS}
        if kind == "FamilyRegistered":
            values["members"] = [{**m, **details} if _same(m.get("member_id"), member) else m
                                 for m in values.get("members", [])]
        elif _same(values.get("member_id"), member):
            values.update({k: v for k, v in details.items() if k in values})
        return occurred_at, about, values
    for name, value in changes.items():
        if name == "occurred_at":
            occurred_at = value
        elif name == "about":
            about = tuple(value)
        elif name in values:
            values[name] = value
    return occurred_at, about, values


def member_changes(kind: str, fields: Mapping[str, Any], changes: Mapping[str, Any],
                   member: UUID | None) -> list[tuple[UUID, dict[str, Any]]]:
    """The members whose details a correction changes, each with the new details: the one
    it names, or (a correction of a MemberAdded naming none) the member that entry added."""
    if member is not None:
        return [(member, {k: v for k, v in changes.items() if k in MEMBER_DETAILS})]
    if kind == "MemberAdded" and fields.get("member_id") is not None:
        details = {k: v for k, v in changes.items() if k in MEMBER_DETAILS}
        return [(UUID(str(fields["member_id"])), details)] if details else []
    return []


def _same(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a).replace("-", "") == str(b).replace("-", "")
