"""The management-oversight footprint: every decision a supervisor or manager recorded on a
family, with who and when; each manager's footprint across families; the gaps; and the
auditor-independence check.

Durham asks that the management oversight "footprint" be "evident across all decision
making and easily found on the child's case file" (seed 000 L1748); Northamptonshire has
audits done by people who "have had no 'footprint' on cases audited" (seed 002 L317).

- ``oversight_decisions``: threshold (triage) decisions, allocations, authorisations and
  returns, extensions, oversight notes, supervision, step up and down, transfers, pauses,
  closure and reopening, when recorded by a supervisor or manager.
- ``oversight_families``: per family, its team, whether its episode is open, when the
  episode opened and when management oversight or supervision was last recorded in it,
  so the gaps (no oversight within the pack's cadence) are one query.
- ``footprints``: per family and person, every role in which they recorded anything on
  it and when: an auditor with a footprint on a case is not independent of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from aggregates import state
from aggregates.events import VOCABULARY
from aggregates.vocabulary import MANAGEMENT_ROLES
from aggregates.wording import TOKEN, staff_names
from ledger.calendar import WorkingCalendar
from ledger.policies.schema import Pack
from ledger.sql import Tx
from projections.base import Change, Context, ReadModel, TableColumns, iso, upsert
from projections.chronology import Describe, event_data, members_stored, summarise, unlisted
from projections.sealed import Sealer

FAMILY_COLUMNS = ("family_id", "policy", "team", "open", "opened_at", "last_oversight_at", "pending_team")


DECISION_COLUMNS = ("event_id", "family_id", "position", "occurred_at", "recorded_at", "user_id", "role", "team",
                    "type", "kind", "summary", "actor_name", "actor_job_title")


class OversightModel(ReadModel):
    name = "oversight"
    tables = ("oversight_decisions", "oversight_families", "footprints")
    keyed_after_loading = ("oversight_decisions", "footprints")  # one row a decision, a footprint
    sealed: ClassVar[TableColumns] = {"oversight_decisions": ("summary",)}
    version = 5  # 3: families' rows from the one fold: corrections move them too; 4: the decider's name and
    # job title from the envelope (ADR 0030), summaries naming staff as {w:...} tokens; 5: instants in the one
    # shape, ...000000Z (ADR 0036)

    def ddl(self) -> list[str]:
        return [
            "CREATE TABLE {oversight_decisions} (event_id TEXT PRIMARY KEY, family_id TEXT NOT NULL, "
            "position BIGINT NOT NULL, occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL, user_id TEXT NOT NULL, "
            "role TEXT NOT NULL, team TEXT, type TEXT NOT NULL, kind TEXT NOT NULL, summary TEXT NOT NULL, "
            "actor_name TEXT, actor_job_title TEXT)",
            "CREATE INDEX oversight_decisions_family{ix} ON {oversight_decisions} (family_id, occurred_at)",
            "CREATE INDEX oversight_decisions_user{ix} ON {oversight_decisions} (user_id, occurred_at)",
            "CREATE TABLE {oversight_families} (family_id TEXT PRIMARY KEY, policy TEXT NOT NULL, team TEXT NOT NULL, "
            "open INTEGER NOT NULL, opened_at TEXT, last_oversight_at TEXT, pending_team TEXT)",
            "CREATE INDEX oversight_families_team{ix} ON {oversight_families} (team, open)",
            "CREATE TABLE {footprints} (family_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL, "
            "first_at TEXT NOT NULL, last_at TEXT NOT NULL, entries INTEGER NOT NULL, "
            "PRIMARY KEY (family_id, user_id, role))",
            "CREATE INDEX footprints_user{ix} ON {footprints} (user_id)",
        ]

    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        # Footprints are summed over the batch first, then upserted once per (family,
        # person, role): the same rows as one upsert per event, with far fewer statements.
        prints: dict[tuple[str, str, str], list[Any]] = {}
        decisions: list[tuple[Any, ...]] = []
        for change in changes:
            e = change.event
            fid, user, role = e.originator_id.hex, e.actor.get("user_id", ""), e.actor.get("role", "")
            when = iso(e.occurred_at)
            found = prints.get((fid, user, role))
            if found is None:
                prints[(fid, user, role)] = [when, when, 1]
            else:
                found[0], found[1], found[2] = min(found[0], when), max(found[1], when), found[2] + 1
            kind = VOCABULARY[e.type].decision_kind
            if kind and role in MANAGEMENT_ROLES:
                pack = context.packs[e.policy]
                decisions.append((e.event_id.hex, fid, change.position, when, iso(e.recorded_at), user, role,
                                  e.actor.get("team"), e.type, kind,
                                  summarise(e.type, event_data(e), pack), e.actor.get("name"),
                                  e.actor.get("job_title")))
        footprints = [(*key, *value) for key, value in prints.items()]
        if context.rebuilding:  # fresh tables, whole families: no footprint is there yet
            tx.insert("footprints", footprints, bulk=True)
        else:
            tx.many("INSERT INTO {footprints} VALUES (?,?,?,?,?,?) ON CONFLICT (family_id, user_id, role) DO UPDATE "
                    "SET first_at = CASE WHEN excluded.first_at < {footprints}.first_at THEN excluded.first_at "
                    "ELSE {footprints}.first_at END, last_at = CASE WHEN excluded.last_at > {footprints}.last_at "
                    "THEN excluded.last_at ELSE {footprints}.last_at END, "
                    "entries = {footprints}.entries + excluded.entries", footprints)
        tx.insert("oversight_decisions", context.seal_rows("oversight_decisions", DECISION_COLUMNS, decisions),
                  bulk=context.rebuilding)
        upsert(tx, "oversight_families", FAMILY_COLUMNS, [
            self._family(family_id, context) for family_id in
            sorted({c.event.originator_id for c in changes if c.event.type in state.CHANGES_STATE}, key=str)],
            fresh=context.rebuilding)

    @staticmethod
    def _family(family_id: UUID, context: Context) -> dict[str, Any]:
        """The family's row from its current facts (the one fold)."""
        now = context.family_state(family_id)
        episode = state.current(now)
        pending = now["pending_transfer"]
        return {"family_id": family_id.hex, "policy": context.family_events(family_id)[0].policy,
                "team": now["team"], "open": int(state.is_open(now)),
                "opened_at": iso(episode["opened_at"]) if episode else None,
                "last_oversight_at": iso(episode["last_oversight_at"]) if episode else None,
                "pending_team": pending["to_team"] if pending else None}


# --- views ------------------------------------------------------------------------------------


def _decisions(rows: list[dict[str, Any]], names: dict[str, str], staff: Describe | None) -> list[dict[str, Any]]:
    who = staff or unlisted
    return [{
        "event_id": str(UUID(r["event_id"])), "family_id": str(UUID(r["family_id"])), "type": r["type"],
        "kind": r["kind"], "occurred_at": r["occurred_at"], "recorded_at": r["recorded_at"],
        "by": {"user_id": r["user_id"], "name": who(r["user_id"], r["actor_name"], r["actor_job_title"]).text,
               "role": r["role"], "team": r["team"]},
        "summary": staff_names(TOKEN.sub(lambda m: names.get(m.group(1), "a family member"), r["summary"]),
                               lambda user: who(user, None, None).text),
    } for r in rows]


def _named(prints: list[dict[str, Any]], staff: Describe | None) -> list[dict[str, Any]]:
    """Footprint rows with each person's name (the staff directory's)."""
    who = staff or unlisted
    return [{**p, "name": who(p["user_id"], None, None).text} for p in prints]


def _names(tx: Tx, family_ids: Sequence[str], sealer: Sealer) -> dict[str, str]:
    if not family_ids or "chronology_members" not in tx.tables:
        return {}
    return {key: f"{m['given_name']} {m['family_name']}"
            for key, m in members_stored(tx, list(family_ids), sealer).items()}


def gap(family: dict[str, Any], packs: dict[str, Pack], now: datetime) -> dict[str, Any] | None:
    """Why an open family lacks oversight, or None: none within the pack's cadence, or
    (where the pack states none) none at all in this episode."""
    if not family["open"]:
        return None
    pack = packs.get(family["policy"])
    cadence = pack.oversight_interval if pack is not None else None
    last = family["last_oversight_at"]
    if cadence is None:
        if last is None:
            return {"reason": "no management oversight or supervision recorded in this episode "
                              "(the pack states no interval)", "interval": None, "due": None}
        return None
    assert cadence.duration is not None and cadence.unit is not None and pack is not None
    since = last or family["opened_at"]
    due = WorkingCalendar.with_closures(pack.closure_days).due(datetime.fromisoformat(since), cadence.duration,
                                                                cadence.unit)
    if due.met_by(now):
        return None
    return {"reason": f"no management oversight or supervision since {since[:10]}",
            "interval": {"rule": cadence.id, "duration": cadence.duration, "unit": cadence.unit,
                         "source": cadence.source.model_dump()},
            "due": due.shown.isoformat()}


def family_view(tx: Tx, family_id: UUID, packs: dict[str, Pack], now: datetime, sealer: Sealer,
                auditor: str | None = None, staff: Describe | None = None) -> dict[str, Any]:
    """One family: its management decisions in time order, who has a footprint on it, its
    oversight gap if any, and (for an auditor) whether they are independent of it."""
    fid = family_id.hex
    rows = sealer.open_rows("oversight_decisions", tx.rows(
        "SELECT * FROM {oversight_decisions} WHERE family_id = ? ORDER BY occurred_at, position", (fid,)))
    family = tx.one("SELECT * FROM {oversight_families} WHERE family_id = ?", (fid,))
    prints = _named(tx.rows("SELECT user_id, role, first_at, last_at, entries FROM {footprints} "
                            "WHERE family_id = ? ORDER BY first_at", (fid,)), staff)
    result: dict[str, Any] = {
        "family_id": family_id, "team": family and family["team"], "open": bool(family and family["open"]),
        "last_oversight_at": family and family["last_oversight_at"],
        "gap": gap(family, packs, now) if family else None,
        "decisions": _decisions(rows, _names(tx, [fid], sealer), staff), "footprints": prints,
    }
    if auditor is not None:
        own = [p for p in prints if p["user_id"] == auditor]
        result["independence"] = {"auditor": auditor, "independent": not own, "footprint": own}
    return result


def _held_by(tx: Tx, team: str | None) -> Callable[[dict[str, Any]], bool]:
    """Whether a row's family is held by ``team`` now (every family when ``team`` is None)."""
    if team is None:
        return lambda row: True
    held = {r["family_id"] for r in tx.rows("SELECT family_id FROM {oversight_families} WHERE team = ?", (team,))}
    return lambda row: row["family_id"] in held


def manager_view(tx: Tx, user_id: str, sealer: Sealer, team: str | None = None,
                 staff: Describe | None = None) -> dict[str, Any]:
    """One manager's decisions across every family, family by family; with ``team``, on
    the families that team holds now only (a team reads no other team's families, even
    its own past decisions on one transferred away)."""
    rows = tx.rows("SELECT * FROM {oversight_decisions} WHERE user_id = ? ORDER BY family_id, occurred_at, position",
                   (user_id,))
    held = _held_by(tx, team)
    rows = [r for r in rows if held(r)]
    rows = sealer.open_rows("oversight_decisions", rows)
    names = _names(tx, sorted({r["family_id"] for r in rows}), sealer)
    families: dict[str, list[dict[str, Any]]] = {}
    for decision in _decisions(rows, names, staff):
        families.setdefault(decision["family_id"], []).append(decision)
    return {"manager": user_id, "manager_name": (staff or unlisted)(user_id, None, None).text, "decisions": len(rows),
            "families": [{"family_id": f, "decisions": d} for f, d in families.items()]}


def gaps_view(tx: Tx, packs: dict[str, Pack], now: datetime, team: str | None = None) -> list[dict[str, Any]]:
    """Open families with no oversight or supervision within their pack's cadence."""
    where, args = ("WHERE open = 1 AND team = ?", [team]) if team else ("WHERE open = 1", [])
    found = []
    for family in tx.rows(f"SELECT * FROM {{oversight_families}} {where} ORDER BY team, family_id", args):
        why = gap(family, packs, now)
        if why is not None:
            found.append({"family_id": str(UUID(family["family_id"])), "team": family["team"],
                          "policy": family["policy"], "opened_at": family["opened_at"],
                          "last_oversight_at": family["last_oversight_at"], **why})
    return found


def auditor_view(tx: Tx, user_id: str, team: str | None = None) -> list[dict[str, Any]]:
    """The families a person has a footprint on: the cases they may not audit; with
    ``team``, those the team holds now only."""
    held = _held_by(tx, team)
    return [{**r, "family_id": str(UUID(r["family_id"]))} for r in tx.rows(
        "SELECT family_id, role, first_at, last_at, entries FROM {footprints} WHERE user_id = ? "
        "ORDER BY family_id", (user_id,)) if held(r)]
