"""Tamper evidence: every stored event hash-chained within its family and across the ledger.

When an event is stored, the recorder (``ledger/storage.py``), in the same transaction,
writes a row to ``event_hashes`` with

- the event's *stream hash*: SHA-256 over the previous stream hash of its family, the
  family id, the version, the topic and the stored bytes (content and envelope: who,
  when it happened, when it was recorded, under which pack); and
- the *global hash*: SHA-256 over the previous global hash, the event's position and its
  stream hash, in position order.

The stored bytes are hashed as stored, so once personal fields are encrypted the chain
covers the ciphertext and still verifies after a family's key is destroyed.

``verify`` recomputes both chains from the rows as they are and names every event that
was altered, removed, added or reordered directly in the database. It cannot catch an
attacker who rewrites the events and every hash after them consistently; publishing the
head hash it prints (e.g. in a daily report) outside the database closes that gap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

if TYPE_CHECKING:
    from ledger.application import Ledger

GENESIS = "0" * 64
TABLE = "event_hashes"


def stream_hash(prev: str, originator_id: UUID, version: int, topic: str, state: bytes) -> str:
    head = "\x1f".join((prev, originator_id.hex, str(version), topic)).encode()
    return hashlib.sha256(head + b"\x1e" + bytes(state)).hexdigest()


def global_hash(prev: str, position: int, event_hash: str) -> str:
    return hashlib.sha256(f"{prev}\x1f{position}\x1f{event_hash}".encode()).hexdigest()


def chain(
    stored: Sequence[StoredEvent], positions: Sequence[int],
    last_stream: Callable[[UUID], str], last_global: str,
) -> list[tuple[int, str, int, str, str]]:
    """The ``event_hashes`` rows for events just inserted at ``positions``."""
    rows, streams, previous = [], {}, last_global
    for event, position in sorted(zip(stored, positions), key=lambda pair: pair[1]):
        family = UUID(str(event.originator_id))
        prev = streams[family] if family in streams else last_stream(family)
        mine = stream_hash(prev, family, event.originator_version, event.topic, event.state)
        previous = global_hash(previous, position, mine)
        streams[family] = mine
        rows.append((position, family.hex, event.originator_version, mine, previous))
    return rows


@dataclass
class Verified:
    families: int = 0
    events: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(ledger: Ledger, page: int = 5000) -> Verified:
    """Check every family's stream and the global order against the stored hashes."""
    recorder = ledger.recorder
    hashes = {row["notification_id"]: row for row in recorder.select_hashes()}  # type: ignore[attr-defined]
    result = Verified()
    streams: dict[str, tuple[int, str]] = {}
    seen: set[int] = set()
    for position, event in _all_events(ledger, page):
        seen.add(position)
        result.events += 1
        family = UUID(str(event.originator_id))
        name = _name(ledger, event, position)
        version, prev = streams.get(family.hex, (0, GENESIS))
        if event.originator_version != version + 1:
            result.problems.append(f"{name}: follows version {version} of its family (removed or reordered)")
        if not isinstance(event.state, (bytes, bytearray, memoryview)):
            result.problems.append(f"{name}: its stored bytes were turned into {type(event.state).__name__} "
                                   "(altered in the database)")
            streams[family.hex] = (event.originator_version, hashes[position]["stream_hash"]
                                   if position in hashes else prev)
            continue
        expected = stream_hash(prev, family, event.originator_version, event.topic, event.state)
        row = hashes.get(position)
        if row is None:
            result.problems.append(f"{name}: has no hash (added outside the ledger, or its hash row removed)")
        elif (row["originator_id"], row["originator_version"]) != (family.hex, event.originator_version):
            result.problems.append(f"{name}: its position was recorded for version {row['originator_version']} "
                                   f"of family {UUID(row['originator_id'])} (reordered)")
        elif row["stream_hash"] != expected:
            result.problems.append(f"{name}: altered (its content or an earlier event of its family changed)")
        streams[family.hex] = (event.originator_version, row["stream_hash"] if row else expected)
    result.families = len(streams)
    previous = GENESIS
    for position in sorted(hashes):
        row = hashes[position]
        if position not in seen:
            result.problems.append(f"the event at position {position} (family {UUID(row['originator_id'])}, "
                                   f"version {row['originator_version']}) was removed")
        previous_ok = global_hash(previous, position, row["stream_hash"])
        if previous_ok != row["global_hash"]:
            result.problems.append(f"the global chain is broken at position {position}")
        previous = row["global_hash"]
    result.head = previous
    return result


def _all_events(ledger: Ledger, page: int) -> Iterator[tuple[int, Any]]:
    after = 0
    while True:
        notes = ledger.recorder.select_notifications(after + 1, page)
        for note in notes:
            yield note.id, note
        if len(notes) < page:
            return
        after = notes[-1].id


def _name(ledger: Ledger, stored: Any, position: int) -> str:
    where = f"position {position} (family {UUID(str(stored.originator_id))}, version {stored.originator_version}"
    try:
        event = ledger.mapper.to_domain_event(stored)
        return f"event {event.event_id} {event.type} at {where})"  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a tampered event may not even decode
        return f"the event at {where}, which no longer decodes)"
