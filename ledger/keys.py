"""The key store: one data key per family, wrapped by a master key (ADR 0013).

- A family's key is 32 random bytes made when its first event is stored, kept in
  ``family_keys`` wrapped (AES-256-GCM) by the current master key, with the family id as
  associated data so a wrapped key cannot be moved to another family.
- Master keys form a keyring (``LEDGER_MASTER_KEYS="id:base64key,..."``, newest first;
  without it, one is generated into ``LEDGER_DATA_DIR/master-keys``). ``rotate`` re-wraps
  every family key under the newest master key; older master keys can then be retired.
- Erasure destroys a family's key: the wrapped bytes are overwritten with NULL and the
  row kept (who, when, why), so the key is never made again for that family.
- Keys are cached in each process for ``CACHE_SECONDS``: a key destroyed by another
  process stops decrypting there within that time.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aggregates.errors import RuleBroken
from ledger.clock import Clock, stamp, utc_now
from ledger.settings import create_once
from ledger.sql import Database, Tx

TABLE = "family_keys"
DDL = [
    "CREATE TABLE {family_keys} (family_id TEXT PRIMARY KEY, master_key_id TEXT, wrapped TEXT, "
    "created_at TEXT NOT NULL, destroyed_at TEXT, destroyed_by TEXT, reason TEXT)",
]
CACHE_SECONDS = 30.0


class KeyDestroyed(RuleBroken):
    """The family's key was destroyed: its personal data can no longer be written or read."""


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes


def parse_keyring(text: str) -> list[MasterKey]:
    """``id:base64key,id:base64key`` (newest first) as master keys."""
    ring = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key_id, _, encoded = item.partition(":")
        key = base64.b64decode(encoded)
        if not key_id or len(key) != 32:
            raise ValueError("each master key is 'id:<32 bytes, base64>'")
        ring.append(MasterKey(key_id, key))
    if not ring:
        raise ValueError("the master keyring is empty")
    ids = [m.id for m in ring]
    if len(set(ids)) != len(ids):
        raise ValueError(f"master key ids must differ: {ids}")
    return ring


def new_key_id() -> str:
    """A master key's id: when it was made, and random bits so two made in one second differ."""
    return f"m{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_hex(4)}"


def keyring_text(ring: list[MasterKey]) -> str:
    return ",".join(f"{m.id}:{base64.b64encode(m.key).decode()}" for m in ring)


def load_keyring(configured: str | None, data_dir: Path) -> list[MasterKey]:
    """The configured keyring, else one kept in the data folder (made on first use)."""
    if configured:
        return parse_keyring(configured)
    text = create_once(data_dir / "master-keys",
                       lambda: keyring_text([MasterKey(new_key_id(), secrets.token_bytes(32))]))
    return parse_keyring(text)


class KeyStore:
    def __init__(self, db: Database, keyring: list[MasterKey],
                 reload: Callable[[], list[MasterKey]] | None = None, clock: Clock = utc_now) -> None:
        self.db, self.keyring, self._reload, self.clock = db, keyring, reload, clock
        self._cache: dict[UUID, tuple[bytes | None, float]] = {}
        self._lock = threading.Lock()
        db.create(TABLE, DDL)

    def _tables(self) -> dict[str, str]:
        return {TABLE: self.db.table(TABLE)}

    def _unwrap(self, family_id: UUID, row: dict[str, Any]) -> bytes | None:
        if row["wrapped"] is None:
            return None
        master = next((m for m in self.keyring if m.id == row["master_key_id"]), None)
        if master is None and self._reload is not None:  # rotated by another process
            self.keyring = self._reload()
            master = next((m for m in self.keyring if m.id == row["master_key_id"]), None)
        if master is None:
            raise LookupError(f"master key {row['master_key_id']!r} is not in the keyring")
        blob = base64.b64decode(row["wrapped"])
        return AESGCM(master.key).decrypt(blob[:12], blob[12:], family_id.bytes)

    def _wrap(self, family_id: UUID, key: bytes) -> tuple[str, str]:
        master = self.keyring[0]
        nonce = os.urandom(12)
        return master.id, base64.b64encode(nonce + AESGCM(master.key).encrypt(nonce, key, family_id.bytes)).decode()

    def key_for(self, family_id: UUID, *, create: bool = False) -> bytes | None:
        """The family's key; None once destroyed. ``create``: make it if there is none."""
        cached = self._cache.get(family_id)  # one dict read is atomic: the lock guards the writes
        if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        with self.db.read(self._tables()) as tx:
            row = tx.one("SELECT * FROM {family_keys} WHERE family_id = ?", (family_id.hex,))
        if row is None:
            if not create:
                return None
            fresh = secrets.token_bytes(32)
            master_id, wrapped = self._wrap(family_id, fresh)
            with self.db.transaction(self._tables()) as tx:
                tx.run("INSERT INTO {family_keys} (family_id, master_key_id, wrapped, created_at) VALUES (?,?,?,?) "
                       "ON CONFLICT (family_id) DO NOTHING", (family_id.hex, master_id, wrapped, stamp(self.clock)))
                row = tx.one("SELECT * FROM {family_keys} WHERE family_id = ?", (family_id.hex,))
            assert row is not None
        key = self._unwrap(family_id, row)
        with self._lock:
            self._cache[family_id] = (key, time.monotonic())
        return key

    def new_family_key(self, family_id: UUID) -> Callable[[Any], None]:
        """A key for a family not yet on the record, held here for sealing its first
        events, and the step that stores it (wrapped) inside those events' transaction
        (``Ledger.register_family``): a registration is one write, and a registration
        that is not recorded leaves no key behind. ``forget`` drops it if it is not."""
        fresh = secrets.token_bytes(32)
        master_id, wrapped = self._wrap(family_id, fresh)
        created_at = stamp(self.clock)
        with self._lock:
            self._cache[family_id] = (fresh, time.monotonic())

        def store(cursor: Any) -> None:
            Tx(self.db, cursor, self._tables()).run(
                "INSERT INTO {family_keys} (family_id, master_key_id, wrapped, created_at) VALUES (?,?,?,?)",
                (family_id.hex, master_id, wrapped, created_at))
        return store

    def forget(self, family_id: UUID) -> None:
        """Read the family's key from the store next time (a new key whose events were
        not recorded is in none)."""
        with self._lock:
            self._cache.pop(family_id, None)

    def preload(self, family_ids: Sequence[UUID], *, afresh: bool = False) -> None:
        """Read many families' keys in one query into the cache (a rebuild reads its
        events family by family; a key per query cost a round trip per family).
        ``afresh``: every one from the store, cached or not (another process may have
        destroyed one since)."""
        now = time.monotonic()
        with self._lock:
            wanted = list(family_ids) if afresh else [
                f for f in family_ids if f not in self._cache or now - self._cache[f][1] >= CACHE_SECONDS]
        if not wanted:
            return
        found: dict[UUID, bytes | None] = {}
        with self.db.read(self._tables()) as tx:  # each part one statement: no snapshot across them needed
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                for row in tx.rows(f"SELECT * FROM {{family_keys}} WHERE family_id IN ({','.join('?' * len(part))})",
                                   [f.hex for f in part]):
                    family_id = UUID(row["family_id"])
                    found[family_id] = self._unwrap(family_id, row)
        now = time.monotonic()
        with self._lock:
            self._cache.update({f: (key, now) for f, key in found.items()})

    def destroy(self, family_id: UUID, *, by: str, reason: str) -> None:
        """Crypto-shred a family: its key is gone for good (the row records who and why)."""
        with self.db.transaction(self._tables()) as tx:
            tx.run("INSERT INTO {family_keys} (family_id, created_at) VALUES (?, ?) ON CONFLICT (family_id) DO NOTHING",
                   (family_id.hex, stamp(self.clock)))
            tx.run("UPDATE {family_keys} SET wrapped = NULL, master_key_id = NULL, destroyed_at = ?, "
                   "destroyed_by = ?, reason = ? WHERE family_id = ?", (stamp(self.clock), by, reason, family_id.hex))
        with self._lock:
            self._cache[family_id] = (None, time.monotonic())

    def forget_cached(self, family_id: UUID) -> None:
        """Read the family's key from the store next time (another process may have destroyed it)."""
        with self._lock:
            self._cache.pop(family_id, None)

    def destroyed(self, family_id: UUID) -> dict[str, Any] | None:
        with self.db.transaction(self._tables(), commit=False) as tx:
            row = tx.one("SELECT destroyed_at, destroyed_by, reason FROM {family_keys} "
                         "WHERE family_id = ? AND destroyed_at IS NOT NULL", (family_id.hex,))
        return row

    def rotate(self) -> int:
        """Re-wrap every live family key under the newest master key; how many."""
        newest = self.keyring[0].id
        with self.db.transaction(self._tables()) as tx:
            rows = tx.rows("SELECT * FROM {family_keys} WHERE wrapped IS NOT NULL AND master_key_id <> ?", (newest,))
            for row in rows:
                family_id = UUID(row["family_id"])
                key = self._unwrap(family_id, row)
                assert key is not None
                master_id, wrapped = self._wrap(family_id, key)
                tx.run("UPDATE {family_keys} SET master_key_id = ?, wrapped = ? WHERE family_id = ?",
                       (master_id, wrapped, row["family_id"]))
        return len(rows)

