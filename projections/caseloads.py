"""Caseloads: who holds which open families and how many children, against the pack's caps.

One row per family: its team, its lead worker, whether its episode is open, how many
children it has. Views count per worker and per team and compare with the caps the
family's pack states (seed 002 L123: "10 families or 25 children, whichever is reached
first"; seed 000 L490: "approximately 25 children"). A worker holding families under
several packs is held to the strictest cap among them.

The same rows answer the search for families (``search``, ``queries/search.py``): each
also says when the family was registered, its last entry (its position in the log and
when it was recorded), whether it has had an episode, and whether its personal data were
erased (an erased family is never found: its row stays for retention, unfindable).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from aggregates import state
from ledger.sql import Tx
from projections import people
from projections.base import Change, Context, ReadModel, iso, upsert

COLUMNS = ("family_id", "policy", "team", "worker", "open", "children", "pending_team",
           "status", "registered_at", "last_position", "last_recorded_at", "erased")
ERASURE = "PersonalDataErased"


class CaseloadsModel(ReadModel):
    name = "caseloads"
    tables = ("caseload_families",)
    version = 4  # 3: registered_at, the last entry, status and erased (the search for families);
    # 4: instants in the one shape, ...000000Z (ADR 0036)

    def ddl(self) -> list[str]:
        return [
            "CREATE TABLE {caseload_families} (family_id TEXT PRIMARY KEY, policy TEXT NOT NULL, team TEXT NOT NULL, "
            "worker TEXT, open INTEGER NOT NULL, children INTEGER NOT NULL, pending_team TEXT, "
            "status TEXT NOT NULL, registered_at TEXT NOT NULL, last_position BIGINT NOT NULL, "
            "last_recorded_at TEXT NOT NULL, erased INTEGER NOT NULL)",
            # Covering the caseload query (open families of a team, counted per worker and
            # pack), so it reads the team's index entries only, however many families the
            # table holds.
            "CREATE INDEX caseload_families_team{ix} ON {caseload_families} (team, open, worker, policy, children)",
            # The search (``search``): every index leads with ``erased`` (always asked for)
            # and holds the columns a search filters on, so a page of the latest families
            # (of all, of a team, of a worker) is read in order and stops, and a count
            # reads index entries only, however many families the table holds. Positions
            # are unique (one family's event each), so they order without ties.
            "CREATE INDEX caseload_families_recent{ix} ON {caseload_families} (erased, last_position, status, policy)",
            "CREATE INDEX caseload_families_team_recent{ix} ON {caseload_families} "
            "(erased, team, last_position DESC, status, policy, worker)",
            "CREATE INDEX caseload_families_worker{ix} ON {caseload_families} (erased, worker, last_position)",
            "CREATE INDEX caseload_families_registered{ix} ON {caseload_families} (erased, registered_at, family_id)",
            # A search by name or id finds family ids first (the person index): each is
            # looked up, filtered and ordered from this index alone, not the table's row.
            "CREATE INDEX caseload_families_found{ix} ON {caseload_families} "
            "(family_id, erased, team, status, policy, worker, last_position, registered_at)",
        ]

    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        """Each family whose facts changed: its row again from its current facts (the
        one fold): team, lead worker, open or not, children, a transfer awaiting
        acceptance. Every family of the batch: its last entry."""
        last: dict[UUID, Change] = {}
        for change in changes:
            last[change.event.originator_id] = change  # in global order: the latest wins
        families = sorted({c.event.originator_id for c in changes if c.event.type in state.CHANGES_STATE}, key=str)
        rows = []
        for family_id in families:
            now = context.family_state(family_id)
            events = context.family_events(family_id)
            episode = state.current(now)
            pending = now["pending_transfer"]
            rows.append({"family_id": family_id.hex, "policy": events[0].policy,
                         "team": now["team"], "worker": episode["worker"] if episode else None,
                         "open": int(state.is_open(now)), "children": state.children(now),
                         "pending_team": pending["to_team"] if pending else None,
                         "status": episode["status"] if episode else "no_episode",
                         "registered_at": iso(events[0].occurred_at),
                         "last_position": last[family_id].position,
                         "last_recorded_at": iso(last[family_id].event.recorded_at),
                         "erased": int(any(e.type == ERASURE for e in events))})
        upsert(tx, "caseload_families", COLUMNS, rows, fresh=context.rebuilding)
        changed = set(families)
        tx.many("UPDATE {caseload_families} SET last_position = ?, last_recorded_at = ? WHERE family_id = ?",
                [(c.position, iso(c.event.recorded_at), f.hex) for f, c in sorted(last.items(), key=lambda i: str(i[0]))
                 if f not in changed])


# --- the search for families -------------------------------------------------------------------

SORTS = {
    "recent": "c.last_position DESC",
    "registered": "c.registered_at DESC, c.family_id DESC",
    "team": "c.team, c.last_position DESC",
}
"""The orders a search answers in: the latest entry first; the latest registered first;
by team, and in each the latest entry first. No two families share a last position, and
the family id breaks ties of registration, so pages never overlap."""


def search(tx: Tx, *, tokens: Sequence[str] = (), family_tokens: Sequence[str] = (),
           families: Sequence[str] | None = None, team: str | None = None,
           worker: str | None = None, policy: str | None = None, status: str | None = None,
           sort: str = "recent", limit: int = 25, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """The families meeting every criterion given, never an erased one: how many, and
    the rows of ``limit`` of them from ``offset`` in ``sort`` order. ``tokens``: blind
    tokens one member of the family has all of (``people.wanted``); ``family_tokens``:
    the family's own (postcodes it has lived at, ``people.wanted_postcode``); ``families``: hex
    ids, the family must be one of them; ``status``: ``open``, ``closed`` or ``no_episode``. Narrowed,
    counted and paged by the database, through its indexes."""
    where, args = ["c.erased = 0"], []
    if families is not None:
        if not families:
            return 0, []
        where.append(f"c.family_id IN ({','.join('?' * len(families))})")
        args += list(families)
    if tokens:
        sql, more = people.having_all(tokens, select=("family_id",))
        where.append(f"c.family_id IN ({sql})")
        args += more
    if family_tokens:
        sql, more = people.at_postcode(family_tokens)
        where.append(f"c.family_id IN ({sql})")
        args += more
    for column, value in (("team", team), ("worker", worker), ("policy", policy)):
        if value is not None:
            where.append(f"c.{column} = ?")
            args.append(value)
    if status is not None:
        where.append("c.status = ?")
        args.append(status)
    condition = " AND ".join(where)
    total = tx.one(f"SELECT COUNT(*) AS n FROM {{caseload_families}} c WHERE {condition}", args)
    count = int(total["n"]) if total else 0
    if offset >= count:
        return count, []
    rows = tx.rows(f"SELECT c.* FROM {{caseload_families}} c WHERE {condition} ORDER BY {SORTS[sort]} "
                   f"LIMIT {int(limit)} OFFSET {int(offset)}", args)
    return count, rows


def families_with_id(tx: Tx, family: str) -> list[str]:
    """The families (hex ids, never an erased one) whose id is ``family`` (32 hex digits)
    or begins with it."""
    if len(family) == 32:
        rows = tx.rows("SELECT family_id FROM {caseload_families} WHERE family_id = ? AND erased = 0", (family,))
    else:  # a range of the primary key, then the beginning checked whatever the collation
        rows = tx.rows("SELECT family_id FROM {caseload_families} WHERE family_id >= ? AND family_id < ? "
                       "AND substr(family_id, 1, ?) = ? AND erased = 0", (family, family + "g", len(family), family))
    return [r["family_id"] for r in rows]


def view(tx: Tx, packs: dict[str, Any], team: str | None = None) -> dict[str, Any]:
    """Per team and per worker: open families and children, the caps, who is over them."""
    where, args = ("WHERE open = 1 AND team = ?", [team]) if team is not None else ("WHERE open = 1", [])
    rows = tx.rows(
        "SELECT team, worker, policy, COUNT(*) AS families, SUM(children) AS children "
        f"FROM {{caseload_families}} {where} GROUP BY team, worker, policy ORDER BY team, worker, policy", args)
    teams: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = teams.setdefault(r["team"], {"team": r["team"], "families": 0, "children": 0, "unallocated": 0,
                                          "workers": {}})
        t["families"] += r["families"]
        t["children"] += r["children"]
        if r["worker"] is None:
            t["unallocated"] += r["families"]
            continue
        w = t["workers"].setdefault(r["worker"], {"worker": r["worker"], "families": 0, "children": 0,
                                                  "max_families": None, "max_children": None, "policies": []})
        w["families"] += r["families"]
        w["children"] += r["children"]
        w["policies"].append(r["policy"])
        cap = packs[r["policy"]].caseload if r["policy"] in packs else None
        if cap is not None:
            for key in ("max_families", "max_children"):
                limit = getattr(cap, key)
                if limit is not None and (w[key] is None or limit < w[key]):
                    w[key] = limit
    result = []
    for t in teams.values():
        workers = []
        for w in t["workers"].values():
            over = [f"{w[kind]} {kind}, cap {w['max_' + kind]}" for kind in ("families", "children")
                    if w["max_" + kind] is not None and w[kind] > w["max_" + kind]]
            workers.append({**w, "policies": sorted(set(w["policies"])), "over_cap": bool(over), "over": over})
        result.append({**t, "workers": workers})
    return {"teams": result, "over_cap": [
        {"team": t["team"], "worker": w["worker"], "over": w["over"]}
        for t in result for w in t["workers"] if w["over_cap"]]}
