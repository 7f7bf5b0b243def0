#!/usr/bin/env python3
"""A reference consumer of the Early Help case ledger's feed (docs/feed.md).

It keeps a small read model of its own in SQLite: for each family, its members (names,
dates of birth, kind) and its entries (event id, type, when it happened), as corrected,
and forgotten when the family is erased. Copy it and change the model to what your
service needs; keep the loop.

What makes it safe to stop at any moment (a deployment, a crash, ``kill -9``):

- it stores one number, the feed's cursor, in the same SQLite transaction as the rows
  of the page it applied. A page is applied whole, cursor and all, or not at all; the
  feed delivers at least once (after a crash the last page comes again) and the
  transaction makes it exactly once;
- it asks for ``after=<cursor>`` and stores the ``next`` the ledger answers: it never
  works positions out itself (they are increasing, not contiguous).

It stops, with the reason, where carrying on would be wrong: a cursor the ledger says
is beyond its last position (409: this model was built from another database, or the
ledger was restored from an older backup), a token refused, or a token that reads the
other view of the feed (pseudonymised and full member ids do not join).

It reads the standard library only, and nothing of the ledger's own code.

    python examples/feed_consumer.py --url http://localhost:8000 --token "$TOKEN" --db families.sqlite
    python examples/feed_consumer.py ... --once     # drain to the end and exit (a cron job, a test)

``--url`` and ``--token`` may come from ``LEDGER_URL`` and ``LEDGER_TOKEN`` instead;
``--token-file`` (``LEDGER_TOKEN_FILE``) names a file holding the token, read again before
each request, for a token something else renews.
Exit status: 0 done (``--once``) or interrupted, 1 an error (the message says which),
3 the cursor is beyond the ledger's last position.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("feed_consumer")

EXIT_ERROR = 1
EXIT_CURSOR = 3

SCHEMA = """
BEGIN;
CREATE TABLE IF NOT EXISTS cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL,      -- the last position applied: ask for after=position
    view TEXT                       -- 'full' or 'pseudonymised': the view this model was built from
);
CREATE TABLE IF NOT EXISTS families (
    family_id TEXT PRIMARY KEY,
    erased_at TEXT                  -- when its personal data was erased (PersonalDataErased)
);
CREATE TABLE IF NOT EXISTS entries (
    event_id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    version INTEGER NOT NULL,       -- the family's own order
    position INTEGER NOT NULL,      -- the feed's order
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,      -- as corrected
    corrections INTEGER NOT NULL DEFAULT 0,
    people TEXT                     -- JSON: the member details a registration, MemberAdded or ChildBorn gives
);
CREATE INDEX IF NOT EXISTS entries_family ON entries (family_id, occurred_at, version);
CREATE TABLE IF NOT EXISTS members (
    family_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    given_name TEXT,                -- NULL: not known to this model (withheld, or erased)
    family_name TEXT,
    date_of_birth TEXT,
    kind TEXT NOT NULL,
    PRIMARY KEY (family_id, member_id)
);
INSERT OR IGNORE INTO cursor (id, position) VALUES (1, 0);
COMMIT;
"""

MEMBER_FIELDS = ("member_id", "given_name", "family_name", "date_of_birth", "kind")
"""What this model keeps of a member (a real one may keep gender, ethnicity...)."""
PERSONAL = ("given_name", "family_name", "date_of_birth")
"""What an erasure makes this model forget; member ids and kinds stay, as in the ledger."""
NOT_SHOWN = ("[withheld]", "[erased]")
"""How the feed shows a value it does not give: withheld (the pseudonymised view) or erased."""


# --- the feed, over HTTP -----------------------------------------------------------------


class Stop(Exception):
    """Carrying on would be wrong: the message says why and what to do."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status


class Unavailable(Exception):
    """The ledger did not answer, or answered 5xx or 429: worth asking again later."""


Token = Callable[[], str]
"""Where the bearer token comes from, asked before each request (a file may be renewed)."""


def fetch_page(url: str, token: Token, after: int, limit: int, wait: float) -> dict[str, Any]:
    """One page of ``GET /feed`` after ``after`` (held up to ``wait`` seconds while there
    is nothing new)."""
    query = urllib.parse.urlencode({"after": after, "limit": limit, "wait": wait})
    request = urllib.request.Request(f"{url.rstrip('/')}/feed?{query}", headers={
        "Authorization": f"Bearer {token()}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=wait + 30) as answer:  # the timeout outlasts the wait
            page: dict[str, Any] = json.load(answer)
            return page
    except urllib.error.HTTPError as e:
        problem = _problem(e)
        detail = problem.get("detail") or e.reason
        if e.code == 409:
            last = problem.get("last_position")
            raise Stop(f"the ledger refused cursor {after}: its last position is {last}. This model was not built "
                       "from this ledger's history (another database, or one restored from an older backup?). "
                       "Rebuild it from 0 with a new --db, or decide what to keep before moving the cursor. "
                       f"The ledger said: {detail}", EXIT_CURSOR) from None
        if e.code == 429 or e.code >= 500:
            raise Unavailable(f"{e.code} {detail}") from None
        raise Stop(f"the ledger refused the request ({e.code}): {detail}") from None
    except (OSError, http.client.HTTPException, ValueError) as e:  # refused, reset, timed out, cut short
        raise Unavailable(str(getattr(e, "reason", e))) from None


def _problem(error: urllib.error.HTTPError) -> dict[str, Any]:
    """The problem+json body of an error answer ({} if it has none)."""
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --- the read model ---------------------------------------------------------------------


def open_model(path: str) -> sqlite3.Connection:
    """The consumer's SQLite database, its tables made if new. ``isolation_level=None``:
    transactions are begun and committed here, explicitly, one per page."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")  # others may read the model while it is written
    db.executescript(SCHEMA)  # in one transaction: no reader sees the tables without the cursor
    return db


def stored_cursor(db: sqlite3.Connection) -> tuple[int, str | None]:
    position, view = db.execute("SELECT position, view FROM cursor WHERE id = 1").fetchone()
    return int(position), view


def apply_page(db: sqlite3.Connection, page: Mapping[str, Any]) -> None:
    """Apply a page's events and store its ``next`` cursor, in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        _, view = stored_cursor(db)
        if view is not None and page["view"] != view:
            raise Stop(f"this model was built from the {view} feed, and the token reads the {page['view']} "
                       "one: their member ids do not join. Use the token it was built with, or rebuild from 0 "
                       "with a new --db.")
        for event in page["events"]:
            apply_event(db, event)
        db.execute("UPDATE cursor SET position = ?, view = ? WHERE id = 1", (page["next"], page["view"]))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def apply_event(db: sqlite3.Connection, event: Mapping[str, Any]) -> None:
    """One event. A correction changes the entry it names; an erasure forgets; any other
    event, of a type this consumer knows or not, is an entry (its envelope: id, type,
    when it happened); only a registration's, a MemberAdded's and a ChildBorn's ``data``
    is read, for the member details they give."""
    family, kind, data = event["family_id"], event["type"], event.get("data") or {}
    db.execute("INSERT OR IGNORE INTO families (family_id) VALUES (?)", (family,))
    if kind == "EntryCorrected":
        correct(db, family, data)
        return
    people = _people(kind, data)
    db.execute("INSERT INTO entries (event_id, family_id, version, position, type, occurred_at, people) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               (event["event_id"], family, event["version"], event["position"], kind, event["occurred_at"],
                None if people is None else json.dumps(people)))
    if kind == "PersonalDataErased":
        erase(db, family, event["recorded_at"], data)
    elif people is not None:
        refold_members(db, family)


def _people(kind: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The member details an entry gives, as this model keeps them (None: it gives none)."""
    if kind == "FamilyRegistered":
        return {"members": [_member(m) for m in data.get("members") or []]}
    if kind == "MemberAdded":
        return _member(data)
    if kind == "ChildBorn":
        return {"member_id": data.get("member_id"), "date_of_birth": _shown(data.get("date_of_birth")),
                "given_name": _shown(data.get("given_name"))}
    return None


def _member(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _shown(values.get(name)) if name in PERSONAL else values.get(name) for name in MEMBER_FIELDS}


def _shown(value: Any) -> Any:
    """A personal value, or None where the feed withholds it or it was erased."""
    return None if value in NOT_SHOWN else value


def correct(db: sqlite3.Connection, family: str, data: Mapping[str, Any]) -> None:
    """``EntryCorrected``: new values for some fields of the entry it names (``corrects``).

    Later corrections of the same entry apply over earlier ones, in feed order (a
    correction is never itself corrected: the entry is corrected again). ``occurred_at``
    moves the entry; with ``member``, the changes are that member's details as the
    registration or MemberAdded it names gave them; without, a MemberAdded's or a
    ChildBorn's own fields. Fields this model does not keep (text, about, context...) are
    passed over."""
    found = db.execute("SELECT people FROM entries WHERE event_id = ? AND family_id = ?",
                       (data["corrects"], family)).fetchone()
    if found is None:
        return  # not an entry this model holds
    (people,) = found
    changes: Mapping[str, Any] = data.get("changes") or {}
    if "occurred_at" in changes:
        db.execute("UPDATE entries SET occurred_at = ? WHERE event_id = ?", (changes["occurred_at"], data["corrects"]))
    db.execute("UPDATE entries SET corrections = corrections + 1 WHERE event_id = ?", (data["corrects"],))
    if people is None:
        return
    details = {name: _shown(value) if name in PERSONAL else value
               for name, value in changes.items() if name in MEMBER_FIELDS and name != "member_id"}
    values = json.loads(people)
    member = data.get("member")
    if member is not None:
        for person in values.get("members", [values]):  # a registration lists them; a MemberAdded is one
            if person.get("member_id") == member:
                person.update(details)
    else:
        values.update({name: value for name, value in details.items() if name in values})
    db.execute("UPDATE entries SET people = ? WHERE event_id = ?", (json.dumps(values), data["corrects"]))
    refold_members(db, family)


def refold_members(db: sqlite3.Connection, family: str) -> None:
    """A family's members, folded again from its entries in the family's order (as the
    ledger folds them): a registration's and MemberAdded's members; a ChildBorn makes an
    unborn member a child with its date of birth (and its given name, if it gives one)."""
    members: dict[str, dict[str, Any]] = {}
    for kind, people in db.execute("SELECT type, people FROM entries WHERE family_id = ? AND people IS NOT NULL "
                                   "ORDER BY version", (family,)):
        values = json.loads(people)
        if kind == "FamilyRegistered":
            members.update({m["member_id"]: dict(m) for m in values["members"]})
        elif kind == "MemberAdded":
            members[values["member_id"]] = dict(values)
        elif kind == "ChildBorn" and values["member_id"] in members:
            born = members[values["member_id"]]
            born.update(kind="child", date_of_birth=values["date_of_birth"])
            if values.get("given_name"):
                born["given_name"] = values["given_name"]
    db.execute("DELETE FROM members WHERE family_id = ?", (family,))
    db.executemany("INSERT INTO members (family_id, member_id, given_name, family_name, date_of_birth, kind) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   [(family, m["member_id"], m.get("given_name"), m.get("family_name"), m.get("date_of_birth"),
                     m.get("kind")) for m in members.values()])


def erase(db: sqlite3.Connection, family: str, erased_at: str, data: Mapping[str, Any]) -> None:
    """``PersonalDataErased``: forget the names and dates of birth of the family and of
    its members (``member_ids``) held from its entries up to ``up_to_position``. An
    erasure recorded before its schema version 2 says neither: forget by family. What the
    ledger keeps stays: entries' ids, types and times, members' ids and kinds."""
    up_to = data.get("up_to_position")
    rows = db.execute("SELECT event_id, people FROM entries WHERE family_id = ? AND people IS NOT NULL"
                      + ("" if up_to is None else " AND position <= ?"),
                      (family,) if up_to is None else (family, up_to)).fetchall()
    for event_id, people in rows:
        values = json.loads(people)
        for person in values.get("members", [values]):
            person.update({name: None for name in PERSONAL if name in person})
        db.execute("UPDATE entries SET people = ? WHERE event_id = ?", (json.dumps(values), event_id))
    refold_members(db, family)
    forget = ", ".join(f"{name} = NULL" for name in PERSONAL)
    for member_id in data.get("member_ids") or []:  # what a model keeping people apart from families forgets
        db.execute(f"UPDATE members SET {forget} WHERE member_id = ?", (member_id,))
    db.execute("UPDATE families SET erased_at = ? WHERE family_id = ?", (erased_at, family))


# --- the loop -----------------------------------------------------------------------------


def consume(url: str, token: Token, db: sqlite3.Connection, *, limit: int = 500, wait: float = 25,
            once: bool = False) -> None:
    """Page the feed from the stored cursor, applying each page in its own transaction.
    ``once``: until the ledger says there is no more, then return (an error stops it);
    else for ever, waiting (long polling) while there is nothing new, and asking again
    after a pause while the ledger is unavailable."""
    pause = 1.0
    while True:
        after, _ = stored_cursor(db)
        try:
            page = fetch_page(url, token, after, limit, 0 if once else wait)
        except Unavailable as e:
            if once:
                raise Stop(f"the ledger is unavailable ({e}); run again later: the cursor is stored") from None
            log.warning("the ledger is unavailable (%s); asking again in %.0f s", e, pause)
            time.sleep(pause)
            pause = min(pause * 2, 60)
            continue
        pause = 1.0
        apply_page(db, page)
        if page["events"]:
            log.info("applied %d events: at %d of %d", len(page["events"]), page["next"], page["last_position"])
        if once and not page["more"]:
            return


def arguments(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Keep a small read model of the ledger's families in SQLite, "
                                                 "from its feed (docs/feed.md).")
    parser.add_argument("--url", default=os.environ.get("LEDGER_URL"),
                        help="the ledger's base URL, e.g. http://localhost:8000 (or LEDGER_URL)")
    parser.add_argument("--token", default=os.environ.get("LEDGER_TOKEN"),
                        help="a bearer token of a service (or LEDGER_TOKEN): `ledger token --sub etl --role service`")
    parser.add_argument("--token-file", default=os.environ.get("LEDGER_TOKEN_FILE"),
                        help="a file holding the token, read again before each request, so that whatever renews "
                             "the token can write it there (or LEDGER_TOKEN_FILE)")
    parser.add_argument("--db", default="feed_consumer.sqlite", help="the SQLite file of the read model")
    parser.add_argument("--limit", type=int, default=500, help="events a page, 1 to 1000 (default 500)")
    parser.add_argument("--wait", type=float, default=25, help="seconds a read waits for new events, 0 to 30")
    parser.add_argument("--once", action="store_true", help="apply everything there is, then exit")
    parser.add_argument("--quiet", action="store_true", help="say only what goes wrong")
    found = parser.parse_args(None if argv is None else list(argv))
    if not found.url or not (found.token or found.token_file):
        parser.error("--url and --token or --token-file are needed (or LEDGER_URL and LEDGER_TOKEN)")
    return found


def token_source(token: str | None, path: str | None) -> Token:
    """The token given, or the one in the file ``path`` as it is at each request."""
    def from_file() -> str:
        try:
            return Path(str(path)).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise Stop(f"cannot read the token file: {e}") from None

    return from_file if path else lambda: str(token)


def main(argv: Iterable[str] | None = None) -> int:
    args = arguments(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    db = open_model(args.db)
    try:
        consume(args.url, token_source(args.token, args.token_file), db,
                limit=args.limit, wait=args.wait, once=args.once)
        log.info("done: at position %d", stored_cursor(db)[0])
    except Stop as e:
        log.error("stopped: %s", e)
        return e.status
    except KeyboardInterrupt:
        pass  # the pages applied are stored, and nothing of a page half-applied is
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
