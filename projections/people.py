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
from collections.abc import Iterable, Mapping, Sequence
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


def tokens(key: bytes, given_name: str | None, family_name: str | None, date_of_birth: Any,
           former_names: Sequence[str] | None = None, identifiers: Mapping[str, Any] | None = None) -> set[str]:
    """The blind tokens of one member: every beginning of every word of their names and
    former names, their date of birth, each whole name with the date of birth (what a
    duplicate is matched on) and each identifier they have."""
    found = set()
    names = _names(given_name, family_name, former_names)
    for first, last in names:
        for word in words(first) + words(last):
            for end in range(min(SHORTEST, len(word)), len(word) + 1):
                found.add(_hash(key, "n:" + word[:end]))
    born = _day(date_of_birth)
    if born:
        found.add(_hash(key, "d:" + born))
        found |= _whole_names(key, names, born)
    for name, value in (identifiers or {}).items():
        if name in IDENTIFIERS and isinstance(value, str) and value and not ERASED.match(value):
            found.add(_hash(key, identifier_token(name, value)))
    return found


def _names(given_name: str | None, family_name: str | None,
           former_names: Sequence[str] | None) -> list[tuple[str | None, str | None]]:
    """A member's name and each former name (a former name is whole in its first part)."""
    return [(given_name, family_name), *((name, None) for name in former_names or () if isinstance(name, str))]


def _day(date_of_birth: Any) -> str | None:
    """A date of birth as the index writes it (None if none, or erased)."""
    born = date_of_birth.isoformat() if isinstance(date_of_birth, date) else date_of_birth
    return str(born)[:10] if born and not ERASED.match(str(born)) else None


def _whole_names(key: bytes, names: Sequence[tuple[str | None, str | None]], born: str) -> set[str]:
    """The tokens of each whole name with the date of birth: what a duplicate matches on."""
    return {_hash(key, f"x:{whole}|{born}") for first, last in names if (whole := _whole(first, last))}


IDENTIFIERS = ("nhs_number", "upn", "council_person_id")
"""The identifiers a person is found by (issue 25)."""


def identifier_token(name: str, value: str) -> str:
    """An identifier as the index holds it: spaces and case folded away."""
    return f"i:{name}:" + re.sub(r"\s+", "", value).upper()


def postcode_token(postcode: str) -> str:
    return "p:" + re.sub(r"\s+", "", postcode).upper()


def _whole(first: str | None, last: str | None) -> str:
    """A name's words, folded, one space between: "Ava  STONE" and "ava stone" are one."""
    return " ".join(words(first) + words(last))


def rows(key: bytes, family_id: str, members: Iterable[Mapping[str, Any]],
         postcodes: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """A family's index rows: each member's tokens under their id, and the postcodes of
    its address history under no member ("": the family's own)."""
    found = []
    for m in members:
        found += [(t, family_id, m["member_id"]) for t in sorted(tokens(
            key, m.get("given_name"), m.get("family_name"), m.get("date_of_birth"), m.get("former_names"),
            {name: m.get(name) for name in IDENTIFIERS}))]
    found += [(t, family_id, "") for t in sorted({_hash(key, postcode_token(p)) for p in postcodes
                                                   if p and not ERASED.match(p)})]
    return found


def wanted(key: bytes, *, name: str | None = None, date_of_birth: date | None = None,
           identifiers: Mapping[str, str | None] | None = None) -> list[str]:
    """The blind tokens a member must have all of to match ``name`` (each word of it, or
    its beginning; one-letter words are left out of a name of several),
    ``date_of_birth`` and ``identifiers`` (NHS number, UPN, council person id); none if
    nothing gives anything to look for. The likeliest to be rare come first (an
    identifier, the date of birth, then the longest words; ``rarest_first`` asks the
    index)."""
    found: dict[str, tuple[int, str]] = {}
    for word in words(name):
        if len(word) >= SHORTEST or len(words(name)) == 1:
            token = _hash(key, "n:" + word)
            found[token] = (-len(word), token)
    if date_of_birth is not None:
        token = _hash(key, "d:" + date_of_birth.isoformat())
        found[token] = (-100, token)
    for kind, value in (identifiers or {}).items():
        if value:
            token = _hash(key, identifier_token(kind, value))
            found[token] = (-1000, token)
    return sorted(found, key=found.__getitem__)


def wanted_postcode(key: bytes, postcode: str) -> str:
    """The blind token of a family that has lived at ``postcode``."""
    return _hash(key, postcode_token(postcode))


def at_postcode(tokens: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL selecting the families (family_id) that have lived at every one of the
    postcodes whose ``tokens`` are given, and its arguments."""
    sql = " INTERSECT ".join(["SELECT family_id FROM {person_index} WHERE token = ? AND member_id = ''"] * len(tokens))
    return sql, list(tokens)


MATCHED_ON = {"nhs_number": "NHS number", "upn": "UPN"}
NAME_AND_BIRTH = "name and date of birth"


def duplicate_tokens(key: bytes, member: Mapping[str, Any]) -> dict[str, str]:
    """The tokens any one of which an existing member shares with ``member`` makes them a
    possible match (by what: "NHS number", "UPN", "name and date of birth"): same NHS
    number or UPN, or the same name (or former name), in whole words, and date of birth."""
    found = {_hash(key, identifier_token(kind, str(member[kind]))): what
             for kind, what in MATCHED_ON.items() if member.get(kind)}
    born = _day(member.get("date_of_birth"))
    if born:
        names = _names(member.get("given_name"), member.get("family_name"), member.get("former_names"))
        found.update(dict.fromkeys(_whole_names(key, names, born), NAME_AND_BIRTH))
    return found


def members_with_any(tx: Tx, tokens: Sequence[str]) -> list[dict[str, str]]:
    """The members (family_id, member_id, token) who have any of ``tokens``."""
    if not tokens:
        return []
    return tx.rows(f"SELECT family_id, member_id, token FROM {{person_index}} WHERE member_id <> '' AND token IN "
                   f"({','.join('?' * len(tokens))}) ORDER BY family_id, member_id", list(tokens))


RAREST_CAP = 10_000
"""How far ``rarest_first`` counts a token's rows: enough to tell a rare word from a common
beginning, never a count of a common one's every row."""


def rarest_first(tx: Tx, tokens: Sequence[str]) -> list[str]:
    """``tokens`` with the one fewest members have first (``having_all`` starts from it),
    each counted up to ``RAREST_CAP`` rows of the index's key; ties keep their order."""
    if len(tokens) < 2:
        return list(tokens)
    counts = {t: tx.one(f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {{person_index}} WHERE token = ? "
                        f"LIMIT {RAREST_CAP}) AS capped", (t,)) for t in tokens}
    return sorted(tokens, key=lambda t: int((counts[t] or {"n": 0})["n"]))


def having_all(tokens: Sequence[str], select: Sequence[str] = ("family_id", "member_id"),
               families: Sequence[str] = ()) -> tuple[str, list[Any]]:
    """SQL selecting the members (``select``: of family_id, member_id) that have every one
    of ``tokens`` (of ``families`` only, if any are given), and its arguments. It reads
    the first token's members from the index's key and looks each of them up under the
    other tokens (three columns of the key: a point), so a common beginning ("ma") costs
    a look-up per member of a rarer word beside it, not a row per member that has it."""
    columns = ", ".join(f"p0.{c}" for c in select)
    where, args = "p0.token = ?", [tokens[0]]
    if families:
        where += f" AND p0.family_id IN ({','.join('?' * len(families))})"
        args += list(families)
    for i, token in enumerate(tokens[1:], start=1):
        # LIMIT 1 OFFSET 0 keeps the look-up a look-up: PostgreSQL would otherwise make it
        # a join, which may read every row of the commoner token.
        where += (f" AND EXISTS (SELECT 1 FROM {{person_index}} p{i} WHERE p{i}.token = ? "
                  f"AND p{i}.family_id = p0.family_id AND p{i}.member_id = p0.member_id LIMIT 1 OFFSET 0)")
        args.append(token)
    return f"SELECT {columns} FROM {{person_index}} p0 WHERE {where}", args


def find(tx: Tx, key: bytes, *, name: str | None = None, date_of_birth: date | None = None,
         identifiers: Mapping[str, str | None] | None = None, limit: int = 200) -> list[tuple[str, str]]:
    """Members (family id, member id, hex) whose names begin with every word of ``name``,
    who were born on ``date_of_birth`` and have ``identifiers``, as far as each is given."""
    tokens = rarest_first(tx, wanted(key, name=name, date_of_birth=date_of_birth, identifiers=identifiers))
    if not tokens:
        return []
    sql, args = having_all(tokens)
    rows = tx.rows(f"{sql} ORDER BY p0.family_id, p0.member_id LIMIT {int(limit)}", args)
    return [(r["family_id"], r["member_id"]) for r in rows]


def member_families(tx: Tx, member: str) -> list[str]:
    """The families (hex ids) of the member whose hex id is ``member`` or, given fewer
    than 32 hex digits, of every member whose id begins with them: read from the index's
    member column (a member with neither a name of Latin letters or digits nor a date of
    birth has no index rows, and is not found this way)."""
    if len(member) == 32:
        rows = tx.rows("SELECT DISTINCT family_id FROM {person_index} WHERE member_id = ?", (member,))
    else:  # a range of the index, then the beginning checked whatever the collation
        rows = tx.rows("SELECT DISTINCT family_id FROM {person_index} WHERE member_id >= ? AND member_id < ? "
                       "AND substr(member_id, 1, ?) = ?", (member, member + "g", len(member), member))
    return sorted(r["family_id"] for r in rows)


def search(tx: Tx, sealer: Any, *, name: str | None = None, date_of_birth: date | None = None,
           identifiers: Mapping[str, str | None] | None = None, team: str | None = None,
           limit: int = 100) -> list[dict[str, Any]]:
    """People found by the blind index (``find``), with their details opened and their
    family's team; with ``team``, only families that team holds now."""
    from projections.chronology import members_stored

    found = find(tx, sealer.index_key, name=name, date_of_birth=date_of_birth, identifiers=identifiers,
                 limit=limit * 4 if team else limit)
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
                       "team": teams.get(family_id),
                       **{name: member.get(name) for name in ("nhs_number", "upn", "council_person_id",
                                                              "former_names")}})
    return people[:limit]


def ddl() -> list[str]:
    return [
        # Keyed by token, then family: a search reads the families of a token's members
        # from the key alone and looks a member up under another token by the key
        # (``having_all``), never reading a row per match (at 100,000 families a
        # two-letter beginning matches some 10,000 members). A member is of one family,
        # so the key is as unique as (token, member_id) was.
        "CREATE TABLE {person_index} (token TEXT NOT NULL, family_id TEXT NOT NULL, member_id TEXT NOT NULL, "
        "PRIMARY KEY (token, family_id, member_id))",
        "CREATE INDEX person_index_family{ix} ON {person_index} (family_id)",
        "CREATE INDEX person_index_member{ix} ON {person_index} (member_id)",
        # A family's own tokens (its postcodes) are under member "": none is a member's.
    ]
