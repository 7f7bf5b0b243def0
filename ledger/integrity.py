"""Tamper evidence: every stored event hash-chained within its family and across the ledger.

When an event is stored, the recorder (``ledger/storage.py``), in the same transaction,
writes a row to ``event_hashes`` with

- the event's *stream hash*: HMAC-SHA256, under the chain key kept outside the database
  (``LEDGER_CHAIN_KEY``), over the previous stream hash of its family, the family id, the
  version, the topic and the stored bytes (content and envelope: who, when it happened,
  when it was recorded, under which pack); and
- the *global hash*: HMAC-SHA256 over the previous global hash, the event's position, its
  stream hash and the access log's head at that moment, in position order.

Legal holds are events of the hold register in the same table and chain, and an erasure
is an event; the access log's rows are chained under the same key.

The stored bytes are hashed as stored, so once personal fields are encrypted the chain
covers the ciphertext and still verifies after a family's key is destroyed.

``verify`` recomputes both chains from the rows as they are and names every event that
was altered, removed, added or reordered directly in the database; without the key, no
one can rewrite an event and its hashes consistently. It also checks the access log's
rows against the heads the events carry, every destroyed key against its erasure event,
and that every snapshot decodes. ``statement`` signs the head for keeping outside the
database, and ``expected`` compares the record with one published earlier: rows added
after the newest event (the log's tail) and a thief holding the key are caught that way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.moments import instant

if TYPE_CHECKING:
    from ledger.application import Ledger

GENESIS = "0" * 64
TABLE = "event_hashes"


def stream_hash(key: bytes, prev: str, originator_id: UUID, version: int, topic: str,
                state: bytes | bytearray | memoryview) -> str:
    head = "\x1f".join((prev, originator_id.hex, str(version), topic)).encode()
    return hmac.new(key, head + b"\x1e" + bytes(state), hashlib.sha256).hexdigest()


def global_hash(key: bytes, prev: str, position: int, event_hash: str, log_seq: int = 0,
                log_hash: str = GENESIS) -> str:
    text = f"{prev}\x1f{position}\x1f{event_hash}\x1f{log_seq}\x1f{log_hash}"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def chain(
    key: bytes, stored: Sequence[StoredEvent], positions: Sequence[int],
    last_stream: Callable[[UUID], str], last_global: str, log_head: tuple[int, str] = (0, GENESIS),
) -> list[tuple[int, str, int, str, str, int, str]]:
    """The ``event_hashes`` rows for events just inserted at ``positions``: each keyed
    by the chain key, and each global link carrying the access log's head at that moment."""
    rows: list[tuple[int, str, int, str, str, int, str]] = []
    streams: dict[UUID, str] = {}
    previous = last_global
    log_seq, log_hash = log_head
    for event, position in sorted(zip(stored, positions, strict=True), key=lambda pair: pair[1]):
        family = UUID(str(event.originator_id))
        prev = streams[family] if family in streams else last_stream(family)
        mine = stream_hash(key, prev, family, event.originator_version, event.topic, event.state)
        previous = global_hash(key, previous, position, mine, log_seq, log_hash)
        streams[family] = mine
        rows.append((position, family.hex, event.originator_version, mine, previous, log_seq, log_hash))
    return rows


@dataclass
class Verified:
    families: int = 0
    events: int = 0
    head: str = GENESIS
    position: int = 0
    log_head: tuple[int, str] = (0, GENESIS)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(ledger: Ledger, page: int = 5000) -> Verified:
    """Check every stream and the global order against the stored keyed hashes, the
    access log against the heads the events carry, each destroyed family key against its
    erasure event, and every snapshot decodes. (The read models against a rebuild:
    ``replay.compare``.)"""
    key = ledger.settings.hash_chain_key()
    recorder = ledger.recorder
    hashes = {row["notification_id"]: row for row in recorder.select_hashes()}
    result = Verified()
    streams: dict[str, tuple[int, str]] = {}
    seen: set[int] = set()
    erased: set[str] = set()
    for position, event in _all_events(ledger, page):
        seen.add(position)
        result.events += 1
        family = UUID(str(event.originator_id))
        name = _name(ledger, event, position)
        if event.topic.endswith(":PersonalDataErased"):
            erased.add(family.hex)
        version, prev = streams.get(family.hex, (0, GENESIS))
        if event.originator_version != version + 1:
            result.problems.append(f"{name}: follows version {version} of its family (removed or reordered)")
        if not isinstance(event.state, (bytes, bytearray, memoryview)):
            result.problems.append(f"{name}: its stored bytes were turned into {type(event.state).__name__} "
                                   "(altered in the database)")
            streams[family.hex] = (event.originator_version, hashes[position]["stream_hash"]
                                   if position in hashes else prev)
            continue
        expected = stream_hash(key, prev, family, event.originator_version, event.topic, event.state)
        row = hashes.get(position)
        if row is None:
            result.problems.append(f"{name}: has no hash (added outside the ledger, or its hash row removed)")
        elif (row["originator_id"], row["originator_version"]) != (family.hex, event.originator_version):
            result.problems.append(f"{name}: its position was recorded for version {row['originator_version']} "
                                   f"of family {UUID(row['originator_id'])} (reordered)")
        elif not hmac.compare_digest(row["stream_hash"], expected):
            result.problems.append(f"{name}: altered (its content or an earlier event of its family changed, "
                                   "or its hashes were made without the chain key)")
        streams[family.hex] = (event.originator_version, row["stream_hash"] if row else expected)
    result.families = len(streams)
    previous = GENESIS
    for position in sorted(hashes):
        row = hashes[position]
        if position not in seen:
            result.problems.append(f"the event at position {position} (family {UUID(row['originator_id'])}, "
                                   f"version {row['originator_version']}) was removed")
        link = global_hash(key, previous, position, row["stream_hash"], row["log_seq"], row["log_hash"])
        if not hmac.compare_digest(link, row["global_hash"]):
            result.problems.append(f"the global chain is broken at position {position}")
        previous = row["global_hash"]
        result.position = position
    result.head = previous
    result.problems += _log_anchors(ledger, hashes)
    result.problems += _keys_and_erasures(ledger, erased)
    result.problems += _snapshots(ledger)
    result.log_head = ledger.access_log.head()
    return result


def _log_anchors(ledger: Ledger, hashes: dict[int, dict[str, Any]]) -> list[str]:
    """Every access-log head an event carries must still be in the log, as it was: rows
    removed from the log's end before the newest event, or rewritten, show here."""
    problems = []
    anchors: dict[int, tuple[int, str]] = {}
    for position in sorted(hashes):
        seq, log_hash = hashes[position]["log_seq"], hashes[position]["log_hash"]
        if seq:
            anchors[seq] = (position, log_hash)
    for seq, (position, log_hash) in sorted(anchors.items()):
        found = ledger.access_log.row_hash(seq)
        if found is None:
            problems.append(f"access log: row {seq} is gone, though the event at position {position} was recorded "
                            "after it (rows removed from the log's end)")
        elif not hmac.compare_digest(found, log_hash):
            problems.append(f"access log: row {seq} is not the row the event at position {position} saw (rewritten)")
    return problems


def _keys_and_erasures(ledger: Ledger, erased: set[str]) -> list[str]:
    """A family key is destroyed only by an erasure, which is an event: a key destroyed
    (or nulled) with no erasure event, or an erasure whose key still opens, shows here."""
    db = ledger.keys.db
    with db.transaction({"family_keys": db.table("family_keys")}, commit=False) as tx:
        rows = tx.rows("SELECT family_id, wrapped FROM {family_keys}")
    problems = []
    destroyed = {r["family_id"] for r in rows if r["wrapped"] is None}
    for family in sorted(destroyed - erased):
        problems.append(f"family {UUID(family)}: its key is destroyed but no PersonalDataErased event records an "
                        "erasure (the key was removed in the database, or an erasure was interrupted: run "
                        "`ledger erase` for it again)")
    for family in sorted(erased - destroyed):
        problems.append(f"family {UUID(family)}: an erasure is recorded but its key is still held")
    return problems


def _snapshots(ledger: Ledger) -> list[str]:
    """Every snapshot decodes (one that does not is passed over when reading, and named here)."""
    if ledger.snapshots is None:
        return []
    recorder = ledger.snapshots.recorder
    db = ledger.keys.db
    table = db.table(recorder.events_table_name)  # type: ignore[attr-defined]
    with db.transaction(commit=False) as tx:
        rows = tx.rows(f"SELECT originator_id, originator_version, topic, state FROM {table}")
    problems = []
    for row in rows:
        family = row["originator_id"] if isinstance(row["originator_id"], UUID) else UUID(row["originator_id"])
        try:
            ledger.mapper.to_domain_event(StoredEvent(family, row["originator_version"], row["topic"],
                                                      bytes(row["state"])))
        except Exception:  # noqa: BLE001 - whatever makes it unreadable
            problems.append(f"the snapshot of family {family} at version {row['originator_version']} does not "
                            "decode (altered in the database); reads pass it over")
    return problems


def statement(ledger: Ledger, result: Verified) -> str:
    """A signed statement of the ledger's head, to keep outside the database: a later
    ``ledger verify --expect <statement>`` shows the record up to it is unchanged."""
    body = {"ledger": "early-help-case-ledger", "position": result.position, "head": result.head,
            "events": result.events, "access_log": {"seq": result.log_head[0], "hash": result.log_head[1]},
            "at": instant(ledger.now())}
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
    mac = hmac.new(ledger.settings.hash_chain_key(), payload.encode(), hashlib.sha256).hexdigest()
    return json.dumps({**body, "mac": mac}, sort_keys=True, separators=(",", ":"))


def expected(ledger: Ledger, result: Verified, published: str) -> list[str]:
    """Problems with a head published earlier: a statement (``statement``) or a bare head
    hash; the record up to it must be the record that was published."""
    text = published.strip()
    if text.startswith("{"):
        try:
            body = json.loads(text)
            mac = body.pop("mac")
        except (ValueError, KeyError):
            return ["the published statement is not one `ledger verify --publish` printed"]
        payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
        good = hmac.new(ledger.settings.hash_chain_key(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, str(mac)):
            return ["the published statement's signature does not match (not made with this ledger's chain key, "
                    "or altered)"]
        problems = []
        row = next((r for r in ledger.recorder.select_hashes()
                    if r["notification_id"] == body["position"]), None)
        if row is None or not hmac.compare_digest(row["global_hash"], body["head"]):
            problems.append(f"the record up to position {body['position']} is not the one published on "
                            f"{body['at']} (its head was {body['head']})")
        seq = body["access_log"]["seq"]
        if seq and ledger.access_log.row_hash(seq) != body["access_log"]["hash"]:
            problems.append(f"access log: row {seq} is not the one published on {body['at']}")
        return problems
    if not any(hmac.compare_digest(r["global_hash"], text)
               for r in ledger.recorder.select_hashes()):
        return [f"the published head {text} is not in the chain: the record it stood for was rewritten"]
    return []


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
