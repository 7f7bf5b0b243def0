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

from aggregates.events import MEMBER_DETAILS_FIELDS, VOCABULARY, FamilyEvent, payload_fields
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
MEMBER_COLUMNS = ("family_id", "member_id", "given_name", "family_name", "kind", "date_of_birth", "added_by",
                  "details")
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


PEOPLE_TYPES = frozenset(name for name, cls in VOCABULARY.items() if cls.about_people)
"""The entries that say who the family's members are, what is known of them and where
the family lives (``FamilyEvent.about_people``): the members' rows and the person index
are worked out from them."""
DETAILS = ("gender", *MEMBER_DETAILS_FIELDS)
"""What a member's row keeps beside their name and date of birth (``details``, sealed)."""


def people_of(rows: Iterable[ChronologyRow]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A family's members (by hex id) and the postcodes of its address history, from its
    rows (corrections applied) in the order they were recorded: one rule for the read
    model and for a fold, so a correction of any of them is a matter of working it out
    again. A member is their registration's or MemberAdded's values, a birth, and each
    ``MemberDetailsRecorded`` over what was known (a field it leaves out stands)."""
    members: dict[str, dict[str, Any]] = {}
    postcodes: list[str] = []
    for row in sorted((r for r in rows if r["type"] in PEOPLE_TYPES), key=lambda r: r["version"]):
        data, kind = row["data"], row["type"]
        if kind == "FamilyRegistered" or kind == "MemberAdded":
            for person in data.get("members", []) if kind == "FamilyRegistered" else [data]:
                key = hexid(person["member_id"]) or ""
                members[key] = {
                    "member_id": key, "given_name": person.get("given_name") or "",
                    "family_name": person.get("family_name") or "", "kind": person.get("kind") or "child",
                    "date_of_birth": person.get("date_of_birth"), "added_by": row["event_id"],
                    **{name: person.get(name) for name in DETAILS}}
        elif kind == "ChildBorn" or kind == "MemberDetailsRecorded":
            member = members.get(hexid(data.get("member_id")) or "")
            if member is None:
                continue
            if kind == "ChildBorn":
                member.update(kind="child", date_of_birth=data.get("date_of_birth"))
                for name in ("given_name", "gender"):
                    if data.get(name):
                        member[name] = data[name]
            else:
                member.update({name: data[name] for name in MEMBER_DETAILS_FIELDS if data.get(name) is not None})
        elif data.get("postcode"):
            postcodes.append(str(data["postcode"]))
    return members, postcodes


def links_of(event: FamilyEvent) -> list[tuple[str, str, str]]:
    """A FamiliesLinked's rows: from the family it was recorded on, and back."""
    this, other = event.originator_id.hex, event.linked_family_id.hex  # type: ignore[attr-defined]
    return [(this, other, event.event_id.hex), (other, this, event.event_id.hex)]


def linked_families(tx: Tx, family_id: UUID) -> list[UUID]:
    """The families linked with this one, whichever of the two the link was recorded on."""
    return [UUID(r["linked_family_id"]) for r in tx.rows(
        "SELECT DISTINCT linked_family_id FROM {family_links} WHERE family_id = ? ORDER BY linked_family_id",
        (family_id.hex,))]


def member_values(family_id: str, member: Mapping[str, Any]) -> tuple[Any, ...]:
    """A member's row in ``MEMBER_COLUMNS`` order, their details as JSON text."""
    details = {name: member[name] for name in DETAILS if member.get(name) is not None}
    return (family_id, member["member_id"], member["given_name"], member["family_name"], member["kind"],
            member["date_of_birth"], member["added_by"], orjson.dumps(details).decode())


def fold(events: Iterable[FamilyEvent], packs: dict[str, Pack], *, words: bool = True,
         positions: Mapping[int, int] | None = None) -> tuple[list[ChronologyRow], dict[str, dict[str, Any]]]:
    """A family's chronology rows and members from its events (in version order): the
    same rows the read model holds, for any prefix of the record (time travel; a
    rebuild's load). ``words=False``: without summaries and late-entry checks (see
    ``entry``); ``positions``: each version's position in the log (else the version)."""
    rows: dict[str, ChronologyRow] = {}
    for event in events:
        pack = packs[event.policy]
        if event.type == "EntryCorrected":
            target = event.corrects.hex  # type: ignore[attr-defined]
            if target in rows:
                rows[target] = correct(rows[target], event, pack, words=words)
            continue
        version = event.originator_version
        rows[event.event_id.hex] = entry(event, positions[version] if positions else version, pack, words=words)
    members, _ = people_of(rows.values())
    return ordered(rows.values()), members


def ordered(rows: Iterable[ChronologyRow]) -> list[ChronologyRow]:
    return sorted(rows, key=lambda r: (r["occurred_at"], r["version"]))


# --- the read model -----------------------------------------------------------------------


class ChronologyModel(ReadModel):
    name = "chronology"
    tables = ("chronology", "chronology_members", "person_index", "family_links")
    keyed_after_loading = ("chronology", "chronology_members", people.TABLE)  # not the links: a link written
    # twice (from both families) meets the first by the key
    sealed: ClassVar[TableColumns] = {
        "chronology": ("summary", "note", "action_taken", "reference", "data", "corrections"),
        "chronology_members": ("given_name", "family_name", "date_of_birth", "details")}
    unsealed_personal = (people.TABLE,)
    version = 6  # 3: person_index keyed (token, family_id, member_id), for the search for families;
    # 4: the recorder's name and job title from the envelope (actor_name, actor_job_title), summaries naming
    # staff as {w:...} tokens; 5: instants in the one shape, ...000000Z (ADR 0036); 6: members' details
    # (identifiers, contact, relationship) and the index's identifier and postcode tokens (issue 25)

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
            "added_by TEXT NOT NULL, details TEXT NOT NULL, PRIMARY KEY (family_id, member_id))",
            *people.ddl(),
            # Both ways: a FamiliesLinked recorded on one family shows on the other's too.
            "CREATE TABLE {family_links} (family_id TEXT NOT NULL, linked_family_id TEXT NOT NULL, "
            "event_id TEXT NOT NULL, PRIMARY KEY (family_id, linked_family_id, event_id))",
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
                if self._correct(tx, event, pack, context) in PEOPLE_TYPES:
                    self._people(tx, event.originator_id.hex, context)
                continue
            inserts.append(_values(entry(event, change.position, pack)))
            if event.type == "FamiliesLinked":
                tx.many("INSERT INTO {family_links} VALUES (?,?,?) ON CONFLICT DO NOTHING", links_of(event))
            if event.type in PEOPLE_TYPES:
                self._flush(tx, inserts, context)
                self._people(tx, event.originator_id.hex, context)
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
        links = [link for c in changes if c.event.type == "FamiliesLinked" for link in links_of(c.event)]
        for family_id, stream in families.items():
            found, _ = fold([c.event for c in stream], context.packs,
                                    positions={c.event.originator_version: c.position for c in stream})
            context.folded[family_id] = found
            rows += map(_values, found)
            found_members, postcodes = people_of(found)
            for member in found_members.values():
                members.append(member_values(family_id.hex, member))
            index += people.rows(context.sealer.index_key, family_id.hex, found_members.values(), postcodes)
        tx.insert("chronology", context.seal_rows("chronology", COLUMNS, rows), bulk=True)
        tx.insert("chronology_members", context.seal_rows("chronology_members", MEMBER_COLUMNS, members), bulk=True)
        tx.insert("person_index", index, bulk=True)
        tx.many("INSERT INTO {family_links} VALUES (?,?,?) ON CONFLICT DO NOTHING", links)

    @staticmethod
    def _flush(tx: Tx, inserts: list[tuple[Any, ...]], context: Context) -> None:
        sealed = context.seal_rows("chronology", COLUMNS, inserts)
        tx.many(f"INSERT INTO {{chronology}} VALUES ({','.join('?' * len(COLUMNS))})", sealed)
        inserts.clear()

    @staticmethod
    def _people(tx: Tx, family_id: str, context: Context) -> None:
        """The family's members' rows (sealed) and its index rows, worked out afresh from
        its rows that say who its members are (``people_of``)."""
        found = [_decoded(r) for r in context.sealer.open_rows("chronology", tx.rows(
            f"SELECT * FROM {{chronology}} WHERE family_id = ? AND type IN ({','.join('?' * len(PEOPLE_TYPES))})",
            (family_id, *sorted(PEOPLE_TYPES))))]
        members, postcodes = people_of(found)
        tx.run("DELETE FROM {chronology_members} WHERE family_id = ?", (family_id,))
        tx.many(f"INSERT INTO {{chronology_members}} VALUES ({','.join('?' * len(MEMBER_COLUMNS))})",
                context.seal_rows("chronology_members", MEMBER_COLUMNS,
                                  [member_values(family_id, m) for m in members.values()]))
        tx.run("DELETE FROM {person_index} WHERE family_id = ?", (family_id,))
        tx.many("INSERT INTO {person_index} VALUES (?,?,?)",
                people.rows(context.sealer.index_key, family_id, members.values(), postcodes))

    def _correct(self, tx: Tx, correction: FamilyEvent, pack: Pack, context: Context) -> str | None:
        """The corrected entry's row made again; the type of the entry (None if unknown)."""
        target = correction.corrects.hex  # type: ignore[attr-defined]
        found = tx.one("SELECT * FROM {chronology} WHERE event_id = ?", (target,))
        if found is None:
            return None
        row = correct(_decoded(context.sealer.open_rows("chronology", [found])[0]), correction, pack)
        tx.run("DELETE FROM {chronology} WHERE event_id = ?", (target,))
        tx.run(f"INSERT INTO {{chronology}} VALUES ({','.join('?' * len(COLUMNS))})",
               context.seal_rows("chronology", COLUMNS, [_values(row)])[0])
        return row["type"]


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
    """Some families' members (by member hex id), opened, their details beside their names."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(family_ids), 500):
        part = list(family_ids[start:start + 500])
        rows = tx.rows(f"SELECT * FROM {{chronology_members}} WHERE family_id IN ({','.join('?' * len(part))})", part)
        found.update({m["member_id"]: _opened(m) for m in sealer.open_rows("chronology_members", rows)})
    return found


def _opened(member: dict[str, Any]) -> dict[str, Any]:
    """A member's row with their details (JSON text; "[erased]" once erased) as fields."""
    text = member.pop("details", None)
    details = orjson.loads(text) if isinstance(text, str) and text.startswith("{") else {}
    return {**member, **{name: details.get(name) for name in DETAILS}}


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
