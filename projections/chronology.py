"""The chronology: every entry of a family's record in the order it happened.

One row per event (corrections are not rows: they change the row they correct and are
listed beside it, original value and reason kept). Ordered by ``occurred_at`` then the
family's version, so a visit typed in a week late sits where it happened. Columns: when,
what (the event type and a summary in plain words), the source (who recorded it, their
role and team, the agency), significance, impact on the child and action taken (where
recorded), when it was recorded and by whom, and whether it was recorded later than the
pack's recording-timeliness rules allow.

A child's chronology starts at birth and holds the family-wide entries and the entries
about that child; an entry about one child never appears on a sibling's (seed 000 L1335:
a disclosure "should not be recorded on any other child's records").

``entry`` and ``correct`` are the only places rows are made, used both by the read model
(``ChronologyModel``) and by ``fold`` (the chronology as it stood at a past moment of
recording), so the table and the time-travel answer cannot disagree. Summaries name
members as ``{m:<id>}`` tokens, rendered with the member's name when read.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from operator import itemgetter
from typing import Any, ClassVar, NotRequired, TypedDict, cast
from uuid import UUID

import orjson

from aggregates.corrections import MEMBER_DETAILS
from aggregates.events import VOCABULARY, FamilyEvent, payload_fields
from aggregates.wording import TOKEN, staff_names
from ledger.calendar import LONDON, start_of_day
from ledger.deadlines import late_rules
from ledger.moments import instant
from ledger.policies.schema import Pack
from ledger.serialisation import to_json_value
from ledger.sql import Tx
from ledger.staff import Person, describe
from projections import people, spreadsheet
from projections.base import Change, Context, ReadModel, TableColumns, hexid, iso
from projections.sealed import Sealer

CONTEXT = ("agency", "significance", "impact_on_child", "action_taken", "note", "reference")
COLUMNS = (
    "event_id", "family_id", "position", "version", "occurred_at", "recorded_at", "type", "summary",
    "actor_id", "actor_role", "actor_team", "agency", "significance", "impact_on_child", "action_taken",
    "note", "reference", "significant", "about", "late", "data", "corrections", "actor_name", "actor_job_title",
)
JSON_COLUMNS = ("about", "late", "data", "corrections")
MEMBER_COLUMNS = ("family_id", "member_id", "given_name", "family_name", "kind", "date_of_birth", "added_by")
CSV_HEADER = (
    "date", "time", "event", "summary", "source", "role", "team", "agency", "significance",
    "impact on child", "action taken", "recorded at", "recorded by", "late entry", "corrections",
    "practice breaches",
)


# --- summaries in plain words ------------------------------------------------------------


def summarise(event_type: str, d: dict[str, Any], pack: Pack) -> str:
    """One entry in plain words (member names as tokens): its event class says how."""
    return VOCABULARY[event_type].summarise(d, pack)


# --- rows --------------------------------------------------------------------------------


def event_data(event: FamilyEvent) -> dict[str, Any]:
    data: dict[str, Any] = to_json_value({name: getattr(event, name) for name in payload_fields(type(event))})
    return data


class Correction(TypedDict):
    """A correction shown beside the entry it corrected: who, when, why, each value's
    ``{"from": ..., "to": ...}``."""

    event_id: str
    recorded_at: str | None
    recorded_by: str | None
    role: str | None
    reason: str
    changes: dict[str, dict[str, Any]]
    name: NotRequired[str | None]
    """The corrector's name and job title as their token gave them (ADR 0030)."""
    job_title: NotRequired[str | None]


class ChronologyRow(TypedDict):
    """One entry of a family's chronology (``COLUMNS``): when it happened and was recorded,
    what (type, summary with member tokens, the entry's values as JSON), who recorded it
    and the chronology details, the children it is about, the pack rules it was recorded
    too late for, and its corrections. Times are ISO text in UTC."""

    event_id: str | None  # None only for the "Born" row a child's chronology starts with
    family_id: str
    position: int | None
    version: int
    occurred_at: str
    recorded_at: str | None
    type: str
    summary: str
    actor_id: str | None
    actor_role: str | None
    actor_team: str | None
    agency: str | None
    significance: str | None
    impact_on_child: str | None
    action_taken: str | None
    note: str | None
    reference: str | None
    significant: bool
    about: list[str]
    late: list[str]
    data: dict[str, Any]
    corrections: list[Correction]
    actor_name: str | None
    """The recorder's name and job title as their token gave them when recorded (ADR 0030);
    None for an entry recorded without (the staff directory names them when read)."""
    actor_job_title: str | None
    breaches: NotRequired[list[dict[str, Any]]]
    """Practice rules the entry broke (``with_breaches``: from the deadline engine)."""


def entry(event: FamilyEvent, position: int, pack: Pack, *, words: bool = True) -> ChronologyRow:
    """The chronology row of one (non-correction) event. ``words=False``: without the
    summary and the late-entry check (the episodes model reads neither)."""
    kind = event.type
    data = event_data(event)
    context, actor = event.context, event.actor
    agency = context.get("agency")
    if kind == "ReferralReceived" and not agency and data.get("referrer_agency"):
        agency = data["referrer_agency"]
    return cast(ChronologyRow, {
        "event_id": event.event_id.hex, "family_id": event.originator_id.hex, "position": position,
        "version": event.originator_version, "occurred_at": iso(event.occurred_at),
        "recorded_at": iso(event.recorded_at), "type": kind,
        "summary": summarise(kind, data, pack) if words else "",
        "actor_id": actor.get("user_id"), "actor_role": actor.get("role"), "actor_team": actor.get("team"),
        "agency": agency, "significance": context.get("significance"),
        "impact_on_child": context.get("impact_on_child"), "action_taken": context.get("action_taken"),
        "note": context.get("note"), "reference": context.get("reference"),
        "significant": kind in pack.significant_events or context.get("significance") == "high",
        "about": [hexid(m) for m in event.about],
        "late": [r.id for r, _ in late_rules(kind, event.occurred_at, event.recorded_at, pack)] if words else [],
        "data": data, "corrections": [],
        "actor_name": actor.get("name"), "actor_job_title": actor.get("job_title"),
    })


def correct(row: ChronologyRow, correction: FamilyEvent, pack: Pack, *, words: bool = True) -> ChronologyRow:
    """A row with a correction applied; the original values and the reason kept beside it."""
    changes = to_json_value(dict(correction.changes))  # type: ignore[attr-defined]
    row = cast(ChronologyRow, {**row, "data": dict(row["data"]), "corrections": list(row["corrections"])})
    shown: dict[str, Any] = {}
    member = getattr(correction, "member", None)
    if member is not None:  # one member's details, as this entry put them on the record
        key = member.hex
        if row["type"] == "FamilyRegistered":
            row["data"]["members"] = people = [dict(p) for p in row["data"].get("members", [])]
        else:
            people = [row["data"]]
        for person in people:
            if hexid(person.get("member_id")) == key:
                for name, value in changes.items():
                    shown[name] = {"from": person.get(name), "to": value}
                    person[name] = value
        changes = {}
    for name, value in changes.items():
        if name == "occurred_at":
            before = row["occurred_at"]
            row["occurred_at"] = str(iso(datetime.fromisoformat(value)))
            shown[name] = {"from": before, "to": row["occurred_at"]}
        elif name == "about":
            shown[name] = {"from": row["about"], "to": [hexid(m) for m in value]}
            row["about"] = shown[name]["to"]
        elif name == "context":
            for key, new in value.items():
                if key in CONTEXT:
                    shown[key] = {"from": row.get(key), "to": new}
                    row[key] = new  # type: ignore[literal-required]
        else:
            shown[name] = {"from": row["data"].get(name), "to": value}
            row["data"][name] = value
    row["significant"] = row["type"] in pack.significant_events or row.get("significance") == "high"
    if words:
        row["summary"] = summarise(row["type"], row["data"], pack)
        row["late"] = [r.id for r, _ in late_rules(row["type"], datetime.fromisoformat(row["occurred_at"]),
                                                    datetime.fromisoformat(str(row["recorded_at"])), pack)]
    row["corrections"].append({
        "event_id": correction.event_id.hex, "recorded_at": iso(correction.recorded_at),
        "recorded_by": correction.actor.get("user_id"), "role": correction.actor.get("role"),
        "reason": correction.reason, "changes": shown,  # type: ignore[attr-defined]
        "name": correction.actor.get("name"), "job_title": correction.actor.get("job_title"),
    })
    return row


def members_of(event: FamilyEvent) -> list[dict[str, Any]]:
    """The people a registration or MemberAdded event puts on the record."""
    if event.type == "FamilyRegistered":
        persons = event.members  # type: ignore[attr-defined]
    elif event.type == "MemberAdded":
        persons = [{name: getattr(event, name) for name in payload_fields(type(event))}]
    else:
        return []
    return [{
        "member_id": hexid(p["member_id"]), "given_name": p["given_name"], "family_name": p["family_name"],
        "kind": p["kind"], "date_of_birth": p["date_of_birth"].isoformat() if p.get("date_of_birth") else None,
        "added_by": event.event_id.hex,
    } for p in persons]


def born(member: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A member as a ``ChildBorn`` (its values, corrections applied) leaves them: a child,
    with the date of birth and the given name it gives."""
    dob = values.get("date_of_birth")
    member = {**member, "kind": "child", "date_of_birth": dob.isoformat() if isinstance(dob, date) else dob}
    if values.get("given_name"):
        member["given_name"] = values["given_name"]
    return member


def _corrected_members(correction: FamilyEvent, added: Sequence[dict[str, Any]]) -> list[str]:
    """Which of the members an entry added (``added``) a correction of it changes: the one
    it names, or, for a MemberAdded, its member; none for a registration naming no one."""
    member = getattr(correction, "member", None)
    if member is not None:
        return [m["member_id"] for m in added if m["member_id"] == member.hex]
    return [m["member_id"] for m in added if len(added) == 1 and _details(correction)]


def _details(correction: FamilyEvent) -> dict[str, Any]:
    return {k: v for k, v in dict(correction.changes).items() if k in MEMBER_DETAILS}  # type: ignore[attr-defined]


def _corrected_member(member: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    member = dict(member)
    for name in ("given_name", "family_name", "kind"):
        if name in changes:
            member[name] = changes[name]
    if "date_of_birth" in changes:
        dob = changes["date_of_birth"]
        member["date_of_birth"] = dob.isoformat() if isinstance(dob, date) else dob
    return member


def fold(events: Iterable[FamilyEvent], packs: dict[str, Pack], *, words: bool = True,
         positions: Mapping[int, int] | None = None) -> tuple[list[ChronologyRow], dict[str, dict[str, Any]]]:
    """A family's chronology rows and members from its events (in version order): the
    same rows the read model holds, for any prefix of the record (time travel; a
    rebuild's load). ``words=False``: without summaries and late-entry checks (see
    ``entry``); ``positions``: each version's position in the log (else the version)."""
    rows: dict[str, ChronologyRow] = {}
    members: dict[str, dict[str, Any]] = {}
    for event in events:
        pack = packs[event.policy]
        kind = event.type
        if kind == "EntryCorrected":
            target = event.corrects.hex  # type: ignore[attr-defined]
            if target in rows:
                rows[target] = correct(rows[target], event, pack, words=words)
                if rows[target]["type"] == "ChildBorn" and hexid(rows[target]["data"]["member_id"]) in members:
                    key = hexid(rows[target]["data"]["member_id"]) or ""
                    members[key] = born(members[key], rows[target]["data"])
            for key in _corrected_members(event, [m for m in members.values() if m["added_by"] == target]):
                members[key] = _corrected_member(members[key], _details(event))
            continue
        for member in members_of(event):
            members[member["member_id"]] = member
        if kind == "ChildBorn" and event.member_id.hex in members:  # type: ignore[attr-defined]
            key = event.member_id.hex  # type: ignore[attr-defined]
            members[key] = born(members[key], {n: getattr(event, n) for n in payload_fields(type(event))})
        version = event.originator_version
        rows[event.event_id.hex] = entry(event, positions[version] if positions else version, pack, words=words)
    return ordered(rows.values()), members


def ordered(rows: Iterable[ChronologyRow]) -> list[ChronologyRow]:
    return sorted(rows, key=lambda r: (r["occurred_at"], r["version"]))


# --- the read model -----------------------------------------------------------------------


class ChronologyModel(ReadModel):
    name = "chronology"
    tables = ("chronology", "chronology_members", "person_index")
    loading_indexes = ("person_index_member",)  # people.index rewrites a member's rows by member_id
    sealed: ClassVar[TableColumns] = {
        "chronology": ("summary", "note", "action_taken", "reference", "data", "corrections"),
        "chronology_members": ("given_name", "family_name", "date_of_birth")}
    version = 5  # 3: person_index keyed (token, family_id, member_id), for the search for families;
    # 4: the recorder's name and job title from the envelope (actor_name, actor_job_title), summaries naming
    # staff as {w:...} tokens; 5: instants in the one shape, ...000000Z (ADR 0036)

    def ddl(self) -> list[str]:
        return [
            "CREATE TABLE {chronology} (event_id TEXT PRIMARY KEY, family_id TEXT NOT NULL, "
            "position BIGINT NOT NULL, version BIGINT NOT NULL, occurred_at TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL, type TEXT NOT NULL, summary TEXT NOT NULL, actor_id TEXT, "
            "actor_role TEXT, actor_team TEXT, agency TEXT, significance TEXT, impact_on_child TEXT, "
            "action_taken TEXT, note TEXT, reference TEXT, significant INTEGER NOT NULL, about TEXT NOT NULL, "
            "late TEXT NOT NULL, data TEXT NOT NULL, corrections TEXT NOT NULL, actor_name TEXT, "
            "actor_job_title TEXT)",
            "CREATE INDEX chronology_family{ix} ON {chronology} (family_id, occurred_at, version)",
            "CREATE TABLE {chronology_members} (family_id TEXT NOT NULL, member_id TEXT NOT NULL, "
            "given_name TEXT NOT NULL, family_name TEXT NOT NULL, kind TEXT NOT NULL, date_of_birth TEXT, "
            "added_by TEXT NOT NULL, PRIMARY KEY (family_id, member_id))",
            *people.ddl(),
        ]

    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        if context.rebuilding:
            self._load(tx, changes, context)
            return
        inserts: list[tuple[Any, ...]] = []
        for change in changes:
            event = change.event
            pack = context.packs[event.policy]
            if event.type == "EntryCorrected":
                self._flush(tx, inserts, context)
                self._correct(tx, event, pack, context)
                continue
            for member in members_of(event):
                self._flush(tx, inserts, context)
                self._member(tx, {"family_id": event.originator_id.hex, **member}, context)
            if event.type == "ChildBorn":
                self._flush(tx, inserts, context)
                self._born(tx, event.originator_id.hex, {n: getattr(event, n) for n in payload_fields(type(event))},
                           context)
            inserts.append(_values(entry(event, change.position, pack)))
        self._flush(tx, inserts, context)

    @staticmethod
    def _load(tx: Tx, changes: Sequence[Change], context: Context) -> None:
        """A rebuild's batch (whole families, into fresh tables): each family folded in
        memory (``fold``, corrections applied there rather than row by row in the table)
        and every table's rows written in bulk: the rows the events give one by one."""
        families: dict[UUID, list[Change]] = {}
        for change in changes:
            families.setdefault(change.event.originator_id, []).append(change)
        rows: list[tuple[Any, ...]] = []
        members: list[tuple[Any, ...]] = []
        index: list[tuple[str, str, str]] = []
        for family_id, stream in families.items():
            found, people_of = fold([c.event for c in stream], context.packs,
                                    positions={c.event.originator_version: c.position for c in stream})
            context.folded[family_id] = found
            rows += map(_values, found)
            for member in people_of.values():
                members.append((family_id.hex, *(member[c] for c in MEMBER_COLUMNS[1:])))
                index += people.rows(context.sealer.index_key, family_id.hex, member["member_id"],
                                     member["given_name"], member["family_name"], member["date_of_birth"])
        tx.insert("chronology", context.seal_rows("chronology", COLUMNS, rows), bulk=True)
        tx.insert("chronology_members", context.seal_rows("chronology_members", MEMBER_COLUMNS, members), bulk=True)
        tx.insert("person_index", index, bulk=True)

    @staticmethod
    def _flush(tx: Tx, inserts: list[tuple[Any, ...]], context: Context) -> None:
        sealed = context.seal_rows("chronology", COLUMNS, inserts)
        tx.many(f"INSERT INTO {{chronology}} VALUES ({','.join('?' * len(COLUMNS))})", sealed)
        inserts.clear()

    @staticmethod
    def _member(tx: Tx, member: dict[str, Any], context: Context) -> None:
        """A member's row (sealed) and their blind index rows, written afresh."""
        sealed = context.sealer.seal_row("chronology_members", member)
        tx.run("INSERT INTO {chronology_members} VALUES (?,?,?,?,?,?,?) "
               "ON CONFLICT (family_id, member_id) DO UPDATE SET given_name=excluded.given_name, "
               "family_name=excluded.family_name, kind=excluded.kind, date_of_birth=excluded.date_of_birth",
               tuple(sealed[c] for c in MEMBER_COLUMNS))
        people.index(tx, context.sealer.index_key, member["family_id"], member["member_id"], member["given_name"],
                     member["family_name"], member["date_of_birth"])

    def _born(self, tx: Tx, family_id: str, values: Mapping[str, Any], context: Context) -> None:
        """An unborn member's row (and blind index rows) once they are born."""
        found = tx.rows("SELECT * FROM {chronology_members} WHERE family_id = ? AND member_id = ?",
                        (family_id, hexid(values["member_id"])))
        for member in context.sealer.open_rows("chronology_members", found):
            self._member(tx, born(dict(member), values), context)

    def _correct(self, tx: Tx, correction: FamilyEvent, pack: Pack, context: Context) -> None:
        target = correction.corrects.hex  # type: ignore[attr-defined]
        found = tx.one("SELECT * FROM {chronology} WHERE event_id = ?", (target,))
        if found is not None:
            row = correct(_decoded(context.sealer.open_rows("chronology", [found])[0]), correction, pack)
            tx.run("DELETE FROM {chronology} WHERE event_id = ?", (target,))
            tx.run(f"INSERT INTO {{chronology}} VALUES ({','.join('?' * len(COLUMNS))})",
                   context.seal_rows("chronology", COLUMNS, [_values(row)])[0])
            if row["type"] == "ChildBorn":
                self._born(tx, correction.originator_id.hex, row["data"], context)
        added = context.sealer.open_rows("chronology_members", tx.rows(
            "SELECT * FROM {chronology_members} WHERE family_id = ? AND added_by = ?",
            (correction.originator_id.hex, target)))
        for key in _corrected_members(correction, added):
            member = next(m for m in added if m["member_id"] == key)
            self._member(tx, _corrected_member(member, _details(correction)), context)


def _values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row's values in ``COLUMNS`` order as written: JSON text, 0 or 1, or as they are."""
    values = list(_IN_ORDER(row))
    for at in _JSON_AT:
        values[at] = orjson.dumps(values[at]).decode()
    values[_SIGNIFICANT_AT] = int(values[_SIGNIFICANT_AT])
    return tuple(values)


_IN_ORDER = itemgetter(*COLUMNS)
_JSON_AT = tuple(COLUMNS.index(c) for c in JSON_COLUMNS)
_SIGNIFICANT_AT = COLUMNS.index("significant")


def _decoded(row: dict[str, Any]) -> ChronologyRow:
    return cast(ChronologyRow, {**row, **{c: orjson.loads(row[c]) for c in JSON_COLUMNS},
                                "significant": bool(row["significant"])})


# --- queries ---------------------------------------------------------------------------------


def stored(tx: Tx, family_id: UUID, sealer: Sealer) -> tuple[list[ChronologyRow], dict[str, dict[str, Any]]]:
    """A family's rows and members as the read model holds them, opened."""
    rows = [_decoded(r) for r in sealer.open_rows("chronology", tx.rows(
        "SELECT * FROM {chronology} WHERE family_id = ? ORDER BY occurred_at, version", (family_id.hex,)))]
    return rows, members_stored(tx, [family_id.hex], sealer)


def stored_page(tx: Tx, family_id: UUID, sealer: Sealer, offset: int, limit: int, *,
                significant_only: bool = False) -> tuple[list[ChronologyRow], int, dict[str, dict[str, Any]]]:
    """One page of a family's rows in occurred order (``offset``, at most ``limit``), how
    many rows there are in all, and its members: only the page's rows are read whole and
    opened, so a page of a long record costs a page."""
    where = "family_id = ?" + (" AND significant = 1" if significant_only else "")
    total = tx.one(f"SELECT COUNT(*) AS n FROM {{chronology}} WHERE {where}", (family_id.hex,))
    rows = [_decoded(r) for r in sealer.open_rows("chronology", tx.rows(
        f"SELECT * FROM {{chronology}} WHERE {where} ORDER BY occurred_at, version LIMIT ? OFFSET ?",
        (family_id.hex, limit, offset)))]
    return rows, int(total["n"]) if total else 0, members_stored(tx, [family_id.hex], sealer)


def entry_kinds(tx: Tx, family_id: UUID, event_ids: Sequence[UUID]) -> dict[str, dict[str, Any]]:
    """The type and occurred-at of some of a family's entries (by event id as text), no
    sealed column read: what a deadline's "started by" and "stopped by" name."""
    found: dict[str, dict[str, Any]] = {}
    ids = sorted({e.hex for e in event_ids})
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        for r in tx.rows(f"SELECT event_id, type, occurred_at FROM {{chronology}} WHERE family_id = ? "
                         f"AND event_id IN ({','.join('?' * len(part))})", [family_id.hex, *part]):
            found[str(UUID(r["event_id"]))] = {"type": r["type"], "occurred_at": r["occurred_at"]}
    return found


def members_stored(tx: Tx, family_ids: Sequence[str], sealer: Sealer) -> dict[str, dict[str, Any]]:
    """Some families' members (by member hex id), opened."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(family_ids), 500):
        part = list(family_ids[start:start + 500])
        rows = tx.rows(f"SELECT * FROM {{chronology_members}} WHERE family_id IN ({','.join('?' * len(part))})", part)
        found.update({m["member_id"]: m for m in sealer.open_rows("chronology_members", rows)})
    return found


def member_family(tx: Tx, member_id: UUID) -> UUID | None:
    """The family a member belongs to (None if no family has them)."""
    row = tx.one("SELECT family_id FROM {chronology_members} WHERE member_id = ?", (member_id.hex,))
    return None if row is None else UUID(row["family_id"])


def with_breaches(rows: Sequence[ChronologyRow], found: dict[str, list[dict[str, Any]]]) -> list[ChronologyRow]:
    """Rows with the good-practice ordering rules each entry broke (``breaches``: by the
    entry's hex id, from the deadline engine), shown beside the entry (ADR 0019)."""
    return [cast(ChronologyRow, {**r, "breaches": found.get(r["event_id"] or "", [])}) for r in rows]


def engine_breaches(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The deadline engine's ``breaches`` as ``with_breaches`` takes them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for b in result.get("breaches", []):
        found.setdefault(b["event_id"].hex, []).append(
            {"rule": b["rule"], "title": b["title"], "reason": b["reason"], "source": b["source"]})
    return found


Describe = Callable[[str | None, str | None, str | None], Person]
"""(user id, name, job title) -> the person as read: ``Ledger.describe`` (ADR 0030)."""


def unlisted(user_id: str | None, name: str | None = None, job_title: str | None = None) -> Person:
    """A person described without the staff directory (the envelope's name, or the id)."""
    return describe(user_id, name=name, job_title=job_title)


def view(rows: Sequence[ChronologyRow], members: dict[str, dict[str, Any]], *,
         member: UUID | None = None, significant_only: bool = False,
         others: str | None = None, staff: Describe | None = None) -> list[dict[str, Any]]:
    """The entries a reader sees: names rendered, a child's view filtered (their own and
    family-wide entries, from their birth), optionally significant events only. With
    ``others`` (a subject access request), every other member's name is shown as that.
    Staff are named by ``staff`` (``Ledger.describe``: the envelope's name, else the
    staff directory's, else the id marked unknown): ``source.recorded_by_name``, each
    correction's ``recorded_by_name``, and the workers a summary names."""
    who = staff or unlisted
    chosen = list(rows)
    if member is not None:
        key = member.hex
        chosen = [r for r in chosen if not r["about"] or key in r["about"]]
        child = members[key]
        if child.get("date_of_birth"):
            midnight = start_of_day(date.fromisoformat(child["date_of_birth"]))
            born = {"event_id": None, "type": "Born", "occurred_at": iso(midnight),
                    "summary": f"{{m:{key}}} born", "significant": True, "about": [key], "late": [],
                    "corrections": [], "recorded_at": None, "actor_id": None, "actor_role": None,
                    "actor_team": None, "agency": None, "significance": None, "impact_on_child": None,
                    "action_taken": None, "note": None, "reference": None, "version": 0, "position": None,
                    "actor_name": None, "actor_job_title": None}
            chosen = ordered([cast(ChronologyRow, born), *chosen])
    if significant_only:
        chosen = [r for r in chosen if r["significant"]]

    def name(match: re.Match[str]) -> str:
        if others is not None and member is not None and match.group(1) != member.hex:
            return others
        found = members.get(match.group(1))
        return f"{found['given_name']} {found['family_name']}" if found else "(unknown person)"

    def worker(user_id: str) -> str:
        return who(user_id, None, None).text

    def recorder(r: Mapping[str, Any]) -> str | None:
        if r["actor_id"] is None and not r.get("actor_name"):
            return None  # a child's birth: no one recorded it
        return who(r["actor_id"], r.get("actor_name"), r.get("actor_job_title")).text

    return [{
        "event_id": r["event_id"] and str(UUID(r["event_id"])), "type": r["type"],
        "occurred_at": instant(r["occurred_at"]), "recorded_at": instant(r["recorded_at"]),
        "summary": staff_names(TOKEN.sub(name, r["summary"]), worker),
        "source": {"recorded_by": r["actor_id"], "recorded_by_name": recorder(r), "role": r["actor_role"],
                   "team": r["actor_team"], "agency": r["agency"]},
        "significance": r["significance"], "significant": r["significant"],
        "impact_on_child": r["impact_on_child"], "action_taken": r["action_taken"], "note": r["note"],
        "reference": r.get("reference"),
        "late_entry": bool(r["late"]), "late_rules": r["late"],
        "breaches": r.get("breaches", []),
        "about": [str(UUID(m)) for m in r["about"]],
        "corrections": [{
            **{k: v for k, v in c.items() if k not in ("name", "job_title")}, "event_id": str(UUID(c["event_id"])),
            "recorded_by_name": who(c["recorded_by"], c.get("name"), c.get("job_title")).text,
        } for c in r["corrections"]],
    } for r in chosen]


def _london(shown: str | None) -> str | None:
    """An instant in London time, with its offset: how the CSV, which people read, gives
    the day and time of an entry (JSON gives UTC: ADR 0036)."""
    return None if shown is None else datetime.fromisoformat(shown).astimezone(LONDON).isoformat()


def to_csv(entries: Sequence[dict[str, Any]]) -> str:
    """The chronology as CSV: one line per entry, a header first."""
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(CSV_HEADER)
    for e in entries:
        when = str(_london(e["occurred_at"]))
        day, _, clock = when.partition("T")
        corrections = " | ".join(
            f"{c['recorded_at']} {c.get('recorded_by_name') or c['recorded_by']}: " + "; ".join(
                f"{field} was {ch['from']!s}, now {ch['to']!s}" for field, ch in c["changes"].items())
            + f" (reason: {c['reason']})" for c in e["corrections"])
        writer.writerow([
            day, clock[:5], e["type"], e["summary"],
            e["source"].get("recorded_by_name") or e["source"]["recorded_by"] or "", e["source"]["role"] or "",
            e["source"]["team"] or "", e["source"]["agency"] or "", e["significance"] or "",
            e["impact_on_child"] or "", e["action_taken"] or "", _london(e["recorded_at"]) or "",
            e["source"]["recorded_by"] or "", "yes" if e["late_entry"] else "", corrections,
            "; ".join(f"{b['title']} ({b['rule']})" for b in e.get("breaches", [])),
        ])
    return out.getvalue()
