"""Personal data in the read models, sealed under the family's key as the events are.

The read models hold names, dates of birth and free text (chronology summaries and notes,
members, deadline rows naming a child, the children of the period returns, oversight
summaries). Each such column (``ReadModel.sealed``) is written sealed with AES-256-GCM
under the family's own key (the one ``ledger/keys.py`` keeps and an erasure destroys),
bound to the family and the column, and opened only when a permitted read renders it.
So a copy of the database, or a backup taken before an erasure, holds no name or note in
the clear, and once the key is destroyed those columns can never be read again (ADR
0013). Nothing is sorted or filtered on a sealed column; people are found by name or
date of birth through the blind index (``projections/people.py``).

Stored forms: ``s1:<base64 nonce+ciphertext>`` (sealed), ``p1:<text>`` (written for a
family whose key is already destroyed: its values are erased placeholders, nothing
personal) or NULL. A sealed value that does not open (altered in the database) reads as
``[unreadable]``; ``ledger verify`` names the family (it compares the read models with a
rebuild).
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("ledger.projections")
SEALED, PLAIN = "s1:", "p1:"
ERASED = "[erased]"
UNREADABLE = "[unreadable]"


class Keys(Protocol):
    def key_for(self, family_id: UUID, *, create: bool = False) -> bytes | None: ...


class Sealer:
    """Seals and opens the personal columns of the read models with each family's key."""

    def __init__(self, keys: Keys | None, sealed: Mapping[str, Sequence[str]], index_key: bytes = b"") -> None:
        self.keys = keys
        self.sealed = {table: tuple(columns) for table, columns in sealed.items()}
        self.index_key = index_key
        """The blind index's key (``projections/people.py``)."""

    def _cipher(self, family: str, ciphers: dict[str, AESGCM | None] | None = None, *,
                create: bool = False) -> AESGCM | None:
        """The family's cipher (None once its key is destroyed); ``ciphers`` keeps them
        for the rows of one read or write, so a family's key is looked up once."""
        if ciphers is not None and family in ciphers:
            return ciphers[family]
        key = None if self.keys is None else self.keys.key_for(UUID(family), create=create)
        cipher = None if key is None else AESGCM(key)
        if ciphers is not None:
            ciphers[family] = cipher
        return cipher

    def seal(self, family: str, where: str, value: str | None,
             ciphers: dict[str, AESGCM | None] | None = None) -> str | None:
        if value is None:
            return None
        return _sealed(self._cipher(family, ciphers, create=True), f"{family}:{where}", value, os.urandom(12))

    def open(self, family: str, where: str, stored: str | None,
             ciphers: dict[str, AESGCM | None] | None = None) -> str | None:
        if stored is None:
            return None
        if stored.startswith(PLAIN):
            return stored[len(PLAIN):]
        if not stored.startswith(SEALED):
            return stored  # written before sealing (a ledger of an earlier version)
        cipher = self._cipher(family, ciphers)
        if cipher is None:
            return ERASED
        try:
            blob = base64.b64decode(stored[len(SEALED):])
            return cipher.decrypt(blob[:12], blob[12:], f"{family}:{where}".encode()).decode("utf-8")
        except (InvalidTag, ValueError):
            log.warning("a sealed %s of family %s does not open: altered in the database?", where, family)
            return UNREADABLE

    # -- rows --------------------------------------------------------------------------------

    def seal_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                  ciphers: dict[str, AESGCM | None] | None = None) -> list[tuple[Any, ...]]:
        """Rows (tuples in ``columns`` order, with a ``family_id``) with the table's
        personal columns sealed. ``ciphers``: the families' ciphers, kept across the calls
        of one batch (``Context.ciphers``), so each family's key is looked up once. The
        nonces are drawn for all the rows at once (one system call, not one a value)."""
        names = self.sealed.get(table, ())
        if not names:
            return [tuple(r) for r in rows]
        at = [(i, f"{table}.{c}") for i, c in enumerate(columns) if c in names]
        family = columns.index("family_id")
        rows = list(rows)
        nonces = os.urandom(12 * len(at) * len(rows))
        ciphers = {} if ciphers is None else ciphers
        sealed = []
        n = 0
        for row in rows:
            values = list(row)
            present = [(i, where) for i, where in at if values[i] is not None]
            if present:  # a family's key is made when it first has a value to seal, as in ``seal``
                cipher = self._cipher(values[family], ciphers, create=True)
                for i, where in present:
                    values[i] = _sealed(cipher, f"{values[family]}:{where}", values[i], nonces[n:n + 12])
                    n += 12
            sealed.append(tuple(values))
        return sealed

    def seal_row(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row (a mapping with ``family_id``) with the table's personal columns sealed."""
        out = dict(row)
        for column in self.sealed.get(table, ()):
            if column in out:
                out[column] = self.seal(out["family_id"], f"{table}.{column}", out[column])
        return out

    def open_rows(self, table: str, rows: Iterable[dict[str, Any]], *, prefix: str = "") -> list[dict[str, Any]]:
        """Rows read from a table with its personal columns opened (``prefix``: the
        columns as a join named them)."""
        names = self.sealed.get(table, ())
        opened = []
        ciphers: dict[str, AESGCM | None] = {}
        for row in rows:
            out = dict(row)
            for column in names:
                if prefix + column in out:
                    out[prefix + column] = self.open(out["family_id"], f"{table}.{column}", out[prefix + column],
                                                     ciphers)
            opened.append(out)
        return opened


def _sealed(cipher: AESGCM | None, bound: str, value: str, nonce: bytes) -> str:
    """A value's stored form: sealed under ``cipher``, bound to ``bound`` (family and
    column), with ``nonce`` (12 random bytes); plain for a family whose key is destroyed."""
    if cipher is None:  # erased: what is written is placeholders and audit structure only
        return PLAIN + value
    blob = nonce + cipher.encrypt(nonce, value.encode("utf-8"), bound.encode())
    return SEALED + base64.b64encode(blob).decode("ascii")


def unsealed(keys: Keys | None = None) -> Sealer:
    """A sealer for code that writes or reads no personal column (tests, benchmarks)."""
    return Sealer(keys, {})
