"""Caseloads: who holds which open families and how many children, against the pack's caps.

One row per family: its team, its lead worker, whether its episode is open, how many
children it has. Views count per worker and per team and compare with the caps the
family's pack states (seed 002 L123: "10 families or 25 children, whichever is reached
first"; seed 000 L490: "approximately 25 children"). A worker holding families under
several packs is held to the strictest cap among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aggregates import state
from ledger.sql import Tx
from projections.base import Change, Context, ReadModel, upsert

COLUMNS = ("family_id", "policy", "team", "worker", "open", "children", "pending_team")


class CaseloadsModel(ReadModel):
    name = "caseloads"
    tables = ("caseload_families",)
    version = 2  # rows from the one fold: corrections move them too

    def ddl(self) -> list[str]:
        return [
            "CREATE TABLE {caseload_families} (family_id TEXT PRIMARY KEY, policy TEXT NOT NULL, team TEXT NOT NULL, "
            "worker TEXT, open INTEGER NOT NULL, children INTEGER NOT NULL, pending_team TEXT)",
            # Covering the caseload query (open families of a team, counted per worker and
            # pack), so it reads the team's index entries only, however many families the
            # table holds.
            "CREATE INDEX caseload_families_team{ix} ON {caseload_families} (team, open, worker, policy, children)",
        ]

    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        """Each family's row again from its current facts (the one fold): team, lead
        worker, open or not, children, a transfer awaiting acceptance."""
        families = sorted({c.event.originator_id for c in changes if c.event.type in state.CHANGES_STATE}, key=str)
        rows = []
        for family_id in families:
            now = context.family_state(family_id)
            episode = state.current(now)
            pending = now["pending_transfer"]
            rows.append({"family_id": family_id.hex, "policy": context.family_events(family_id)[0].policy,
                         "team": now["team"], "worker": episode["worker"] if episode else None,
                         "open": int(state.is_open(now)), "children": state.children(now),
                         "pending_team": pending["to_team"] if pending else None})
        upsert(tx, "caseload_families", COLUMNS, rows)


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
