"""Finding people by name or date of birth without keeping either in the clear: a keyed
blind index.

Names and dates of birth are sealed in the read models (``projections/sealed.py``), so
no query can match them. Instead, when a member is put on the record (or their details
corrected), the chronology model writes the HMAC-SHA256, under the deployment's index
key (``LEDGER_INDEX_KEY``, kept with the master keys, never in the database), of each
normalised token: every beginning of every word of their names ("st", "sto", "ston",
"stone"), case and accents folded, and their date of birth. A search hashes the words it
is given the same way and asks for members that have them all. Someone with the database
but not the key learns neither names nor dates, and cannot test a guess; someone with
both could, which is why the key lives outside the database. An erasure deletes the
family's index rows with the rest of its read-model rows and writes none again (its names
read as erased).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date
from typing import Any
from uuid import UUID

from ledger.sql import Tx

TABLE = "person_index"
SHORTEST = 2
"""The shortest beginning of a word that is indexed (and searched for)."""
ERASED = re.compile(r"^\[[a-z ]+\]$")


def words(text: str | None) -> list[str]:
    """A name's words, lower case, accents and punctuation folded away."""
    if not text or ERASED.match(text):
        return []
    folded = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    return [w for w in re.split(r"[^0-9a-z]+", plain) if w]


def _hash(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def tokens(key: bytes, given_name: str | None, family_name: str | None, date_of_birth: Any) -> set[str]:
    """The blind tokens of one member."""
    found = set()
    for word in words(given_name) + words(family_name):
        for end in range(min(SHORTEST, len(word)), len(word) + 1):
            found.add(_hash(key, "n:" + word[:end]))
    born = date_of_birth.isoformat() if isinstance(date_of_birth, date) else date_of_birth
    if born and not ERASED.match(str(born)):
        found.add(_hash(key, "d:" + str(born)[:10]))
    return found


def index(tx: Tx, key: bytes, family_id: str, member_id: str, given_name: str | None, family_name: str | None,
          date_of_birth: Any) -> None:
    """(Re)write one member's index rows."""
    tx.run("DELETE FROM {person_index} WHERE member_id = ?", (member_id,))
    tx.many("INSERT INTO {person_index} VALUES (?,?,?)",
            [(t, family_id, member_id) for t in sorted(tokens(key, given_name, family_name, date_of_birth))])


def find(tx: Tx, key: bytes, *, name: str | None = None, date_of_birth: date | None = None,
         limit: int = 200) -> list[tuple[str, str]]:
    """Members (family id, member id, hex) whose names begin with every word of ``name``
    and who were born on ``date_of_birth``, as far as each is given."""
    wanted: set[str] = set()
    for word in words(name):
        if len(word) >= SHORTEST or len(words(name)) == 1:
            wanted.add(_hash(key, "n:" + word))
    if date_of_birth is not None:
        wanted.add(_hash(key, "d:" + date_of_birth.isoformat()))
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    rows = tx.rows(f"SELECT family_id, member_id FROM {{person_index}} WHERE token IN ({marks}) "
                   f"GROUP BY family_id, member_id HAVING COUNT(DISTINCT token) = ? "
                   f"ORDER BY family_id, member_id LIMIT {int(limit)}", [*sorted(wanted), len(wanted)])
    return [(r["family_id"], r["member_id"]) for r in rows]


def search(tx: Tx, sealer: Any, *, name: str | None = None, date_of_birth: date | None = None,
           team: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """People found by the blind index (``find``), with their details opened and their
    family's team; with ``team``, only families that team holds now."""
    from projections.chronology import members_stored

    found = find(tx, sealer.index_key, name=name, date_of_birth=date_of_birth, limit=limit * 4 if team else limit)
    families = sorted({f for f, _ in found})
    teams: dict[str, str] = {}
    for start in range(0, len(families), 500):
        part = families[start:start + 500]
        teams.update({r["family_id"]: r["team"] for r in tx.rows(
            f"SELECT family_id, team FROM {{caseload_families}} WHERE family_id IN ({','.join('?' * len(part))})",
            part)})
    members = members_stored(tx, families, sealer)
    people = []
    for family_id, member_id in found:
        member = members.get(member_id)
        if member is None or (team is not None and teams.get(family_id) != team):
            continue
        people.append({"member_id": str(UUID(member_id)), "family_id": str(UUID(family_id)),
                       "given_name": member["given_name"], "family_name": member["family_name"],
                       "date_of_birth": member["date_of_birth"], "kind": member["kind"],
                       "team": teams.get(family_id)})
    return people[:limit]


def ddl() -> list[str]:
    return [
        "CREATE TABLE {person_index} (token TEXT NOT NULL, family_id TEXT NOT NULL, member_id TEXT NOT NULL, "
        "PRIMARY KEY (token, member_id))",
        "CREATE INDEX person_index_family{ix} ON {person_index} (family_id)",
        "CREATE INDEX person_index_member{ix} ON {person_index} (member_id)",
    ]
