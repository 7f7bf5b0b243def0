"""The facts retention needs for every family, from the caseload and episodes read models:
whether an episode is open, when the last one closed, and the youngest child's birth."""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.store import Tx

TABLES = ("caseload_families", "early_help_episodes", "early_help_children")


def families(tx: Tx) -> list[dict[str, Any]]:
    rows = tx.rows(
        "SELECT c.family_id, c.policy, c.team, c.open, "
        "(SELECT MAX(e.end_date) FROM {early_help_episodes} e WHERE e.family_id = c.family_id) AS closed_on, "
        "(SELECT MAX(k.date_of_birth) FROM {early_help_children} k WHERE k.family_id = c.family_id) AS youngest "
        "FROM {caseload_families} c ORDER BY c.family_id")
    return [{**r, "open": bool(r["open"]), "closed_on": _day(r["closed_on"]), "youngest": _day(r["youngest"])}
            for r in rows]


def _day(value: str | None) -> date | None:
    return None if not value else date.fromisoformat(value[:10])
