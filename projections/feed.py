"""The feed: every event in one global order, from any position, for downstream tools.

It is the ledger's notification log itself (the library's ``select_notifications``),
not a copy: positions are the notification ids every command returns, so a consumer
that stores the last position it processed resumes exactly there. Every page says the
ledger's last position, and a cursor beyond it is refused (``CursorAhead``): a consumer
pointed at the wrong or a restored database learns so at once instead of waiting for
positions that will never come.

Two views (ADR 0035): ``full``, every event as ``event_view`` shows it, and
``pseudonymised``, the least a projection service needs: each member id replaced by a
stable pseudonym of this deployment (``Pseudonyms``), and every value the event classes
call personal (``FamilyEvent.personal``, members' names and dates of birth, the free
text of the context, the recorder's name and job title) withheld as erasure blanks
them, text reading ``[withheld]``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from eventsourcing.utils import get_topic

from aggregates.events import PERSONAL_CONTEXT, PERSONAL_MEMBER, VOCABULARY, FamilyEvent
from ledger.sealing import ERASED

if TYPE_CHECKING:
    from ledger.application import Ledger

MAX_LIMIT = 1000
View = Literal["full", "pseudonymised"]

WITHHELD = "[withheld]"
ENTRY_IDS = frozenset({"episode_id", "assessment_id", "plan_id", "corrects", "regarding", "linked_family_id",
                       "not_duplicate_of"})
"""Payload fields that hold ids of the record's own entries, or of families (as every
event's own family id is shown), kept as they are in the pseudonymised view. Every other
id in an event (``about``, ``member_id``, ``children_seen``, ``given_by``, a
registration's members, an erasure's ``member_ids``, and any id field added later) is
taken for a member's and pseudonymised: a new field is hidden until it is listed here,
never shown by mistake."""
PERSONAL_ANYWHERE = frozenset(
    {name for cls in VOCABULARY.values() for name in cls.personal} | set(PERSONAL_MEMBER))
"""Field names personal in any event type: a correction's ``changes`` (whose corrected
type the correction does not say) shows only the fields personal in none."""
ACTOR_SHOWN = ("user_id", "role", "team")
"""What the pseudonymised view keeps of who recorded an event: ids, not names."""


class CursorAhead(Exception):
    """``after`` is beyond the ledger's last position: the consumer's cursor is not of
    this ledger's history (another database, or one restored from an older backup)."""

    def __init__(self, after: int, last_position: int) -> None:
        super().__init__(f"after={after} is beyond the last position of this ledger, {last_position}: the "
                         "cursor was not made by this ledger's history (another database, or one restored from an "
                         f"older backup?). Start again from 0, or from {last_position} to skip what is there.")
        self.after, self.last_position = after, last_position


def last_position(ledger: Ledger) -> int:
    """The latest position in the ledger's global order (0 while it is empty)."""
    return ledger.recorder.max_notification_id() or 0


def page(ledger: Ledger, after: int, limit: int, types: Sequence[str] = (), view: View = "full") -> dict[str, Any]:
    """Events after ``after`` (at most ``limit``), each with its envelope and position,
    the cursor to ask for next and the ledger's last position, in ``view``."""
    from ledger.application import event_view

    unknown = [t for t in types if t not in VOCABULARY]
    if unknown:
        from aggregates.errors import InvalidCommand

        raise InvalidCommand(f"unknown event types {unknown}", field="types")
    topics = [get_topic(VOCABULARY[t]) for t in types]
    if after > (known := last_position(ledger)):  # before asking the log for what cannot be there
        raise CursorAhead(after, known)
    notes = ledger.recorder.select_notifications(after + 1, limit + 1, topics=topics)
    more = len(notes) > limit
    notes = notes[:limit]
    last = last_position(ledger)  # read after the page, so never behind what it shows
    if after > last:
        raise CursorAhead(after, last)
    nxt = notes[-1].id if notes else after
    decoded = [(n.id, ledger.mapper.to_domain_event(n)) for n in notes]
    events = [{"position": position, **event_view(e)} for position, e in decoded
              if isinstance(e, FamilyEvent)]  # the hold register's events are no family's
    if view == "pseudonymised":
        pseudonym = Pseudonyms(ledger.settings.blind_index_key())
        events = [pseudonymised(e, pseudonym) for e in events]
    return {"after": after, "next": nxt, "more": more, "last_position": last, "view": view, "events": events}


# -- the pseudonymised view ---------------------------------------------------------------


class Pseudonyms:
    """Stable pseudonyms of member ids for this deployment: HMAC-SHA256 of the id under a
    key derived from the blind index's (``LEDGER_INDEX_KEY``, kept with the master keys
    and never in the database), shaped as a UUID (version 8, RFC 9562's for ids made a
    deployment's own way). The same member has the same pseudonym on every page and in
    every process; without the key no pseudonym leads back to an id."""

    PURPOSE = b"early-help-ledger feed pseudonyms v1"

    def __init__(self, index_key: bytes) -> None:
        self._key = hmac.new(index_key, self.PURPOSE, hashlib.sha256).digest()

    def __call__(self, member_id: UUID) -> UUID:
        number = int.from_bytes(hmac.new(self._key, member_id.bytes, hashlib.sha256).digest()[:16], "big")
        number = (number & ~(0xF << 76)) | (0x8 << 76)  # version 8
        number = (number & ~(0x3 << 62)) | (0x2 << 62)  # the RFC 9562 variant
        return UUID(int=number)


def _blank(value: Any) -> Any:
    """A personal value withheld as erasure blanks it (``ledger/sealing.py``): text reads
    ``[withheld]`` (``[erased]`` where it was erased), a list or mapping is empty, a date
    or anything else is null."""
    if isinstance(value, str):
        return value if value == ERASED else WITHHELD
    if isinstance(value, (list, tuple)):
        return []
    if isinstance(value, dict):
        return {}
    return None


def _ids(value: Any, pseudonym: Pseudonyms) -> Any:
    """``value`` with every UUID in it pseudonymised."""
    if isinstance(value, UUID):
        return pseudonym(value)
    if isinstance(value, (list, tuple)):
        return [_ids(v, pseudonym) for v in value]
    if isinstance(value, dict):
        return {k: _ids(v, pseudonym) for k, v in value.items()}
    return value


def _fields(values: dict[str, Any], personal: frozenset[str] | tuple[str, ...], pseudonym: Pseudonyms,
            ) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in values.items():
        if name == "changes" and isinstance(value, dict):  # a correction's: personal as a whole when sealed
            shown[name] = _fields(value, PERSONAL_ANYWHERE, pseudonym)
        elif name in personal:
            shown[name] = _blank(value)
        elif name in ENTRY_IDS:
            shown[name] = value
        elif name == "members" and isinstance(value, list):  # a registration's
            shown[name] = [_fields(m, PERSONAL_MEMBER, pseudonym) if isinstance(m, dict) else _ids(m, pseudonym)
                           for m in value]
        elif name == "context" and isinstance(value, dict):
            shown[name] = _context(value, pseudonym)
        else:
            shown[name] = _ids(value, pseudonym)
    return shown


def _context(context: dict[str, Any], pseudonym: Pseudonyms) -> dict[str, Any]:
    return {k: _blank(v) if k in PERSONAL_CONTEXT else _ids(v, pseudonym) for k, v in context.items()}


def pseudonymised(event: dict[str, Any], pseudonym: Pseudonyms) -> dict[str, Any]:
    """A feed event (``event_view`` and its position) in the pseudonymised view."""
    cls = VOCABULARY.get(event["type"])
    personal = frozenset(cls.personal if cls is not None else ())
    return {
        **event,
        "actor": {k: v for k, v in event["actor"].items() if k in ACTOR_SHOWN},
        "about": _ids(event["about"], pseudonym),
        "context": _context(event["context"], pseudonym),
        "data": _fields(event["data"], personal, pseudonym),
    }
