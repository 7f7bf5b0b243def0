"""The read models against a rebuild from the verified events (``ledger verify``).

What people are shown comes from the read models, so an edit to their rows (a court
chronology's wording changed in the database, a deadline marked met) is tampering with
what the record says, though the events are intact. ``differences`` rebuilds every read
model from the log into scratch tables (``<table>__verify``), up to the position the live
models have reached, compares the two row by row (personal columns opened, since sealing
never repeats itself), names each family whose rows differ, and drops the scratch
tables. A family held back (quarantined) is left out: its live rows stop before the event
no model could take, by design.
"""

from __future__ import annotations

from typing import Any

from projections.projector import Projector
from replay.rebuild import build, drop_fresh

SUFFIX = "__verify"


def differences(projector: Projector) -> list[str]:
    """Each read-model table's families whose rows are not what the events give."""
    projector.catch_up()
    positions = projector.positions()
    position = min(positions.values()) if positions else 0
    held = {(r["model"], r["family_id"]) for r in projector.store.quarantine_rows()}
    problems: list[str] = []
    try:
        build(projector, projector.models, SUFFIX, position, workers=1)
        for model in projector.models:
            for table in model.tables:
                live, rebuilt = _rows(projector, table, ""), _rows(projector, table, SUFFIX)
                for family in sorted(set(live) | set(rebuilt)):
                    if (model.name, family) in held:
                        continue
                    if sorted(live.get(family, [])) != sorted(rebuilt.get(family, [])):
                        problems.append(f"read model {model.name}: the {table} rows of family {_id(family)} are not "
                                        "what its events give (altered in the database)")
    finally:
        with projector.store.transaction() as tx:
            drop_fresh(projector, tx, projector.models, SUFFIX)
    return problems


def _rows(projector: Projector, table: str, suffix: str) -> dict[str, list[tuple[str, ...]]]:
    with projector.store.transaction(commit=False) as tx:
        rows = tx.rows(f"SELECT * FROM {projector.store.table(table + suffix)}")
    if table in projector.sealer.sealed:
        rows = projector.sealer.open_rows(table, rows)
    found: dict[str, list[tuple[str, ...]]] = {}
    for row in rows:
        found.setdefault(str(row.get("family_id")), []).append(tuple(str(v) for v in row.values()))
    return found


def _id(family: Any) -> str:
    from uuid import UUID

    try:
        return str(UUID(str(family)))
    except ValueError:
        return str(family)
