"""The facts retention needs for every family, from the caseload and episodes read models:
whether an episode is open, when the last one closed, and the youngest child's birth."""

from __future__ import annotations

from datetime import date
from typing import Any

from ledger.sql import Tx
from projections.sealed import Sealer

TABLES = ("caseload_families", "early_help_episodes", "early_help_children")


def families(tx: Tx, sealer: Sealer) -> list[dict[str, Any]]:
    """Every family with whether it is open, when its last episode closed and (for a
    closed family: an open one is never due) its youngest child's date of birth, opened
    from the sealed children rows."""
    rows = tx.rows(
        "SELECT c.family_id, c.policy, c.team, c.open, "
        "(SELECT MAX(e.end_date) FROM {early_help_episodes} e WHERE e.family_id = c.family_id) AS closed_on "
        "FROM {caseload_families} c ORDER BY c.family_id")
    youngest: dict[str, date] = {}
    children = tx.rows("SELECT k.family_id, k.date_of_birth FROM {early_help_children} k "
                       "JOIN {caseload_families} c ON c.family_id = k.family_id WHERE c.open = 0")
    for child in sealer.open_rows("early_help_children", children):
        born = _day(child["date_of_birth"])
        if born is not None and (child["family_id"] not in youngest or born > youngest[child["family_id"]]):
            youngest[child["family_id"]] = born
    return [{**r, "open": bool(r["open"]), "closed_on": _day(r["closed_on"]), "youngest": youngest.get(r["family_id"])}
            for r in rows]


def _day(value: str | None) -> date | None:
    if not value or value.startswith("["):  # an erased date of birth reads as a placeholder
        return None
    return date.fromisoformat(value[:10])
