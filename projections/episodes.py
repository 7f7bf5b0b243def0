"""Early help episodes and assessments, one row per child: what Ofsted's Annex A List 2 and
the Standard Safeguarding Dataset's ``ssd_early_help_episodes`` count.

Derived from a family's chronology rows (``projections.chronology.fold``: corrections
applied), walked in the order they were recorded, the way the Family aggregate opens and
closes episodes: a referral with no open episode opens one (a re-referral after closure
opens a second), ``EpisodeClosed`` ends it, ``EpisodeReopened`` reopens the same one.

- An episode covers the children on the record when it opens and those added while it
  is open. Its worker is the latest lead professional allocated in it; its organisation
  is the council whose pack the family is worked under.
- An early help assessment (an assessment kind the pack marks ``early_help_assessment``)
  covers the children its ``about`` names, or every child of its episode if it names
  none. It is complete when the pack says so (``completed_by``): at the manager's sign-off
  in a pack whose clocks wait for one, at the (last standing) submission otherwise. Its
  organisation is the agency recorded on the completing event or the start, else the
  council. An assessment never completed stops counting when its episode ends.

``family_rows`` is the one derivation, used by the read model (``EpisodesModel``, per
family, like the deadlines model) and by time travel (``as_at``), so the two agree.
Dates are London calendar days as ISO text, whose string order is date order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from aggregates import state
from aggregates.events import VOCABULARY, FamilyEvent
from ledger.calendar import london_date
from ledger.policies.schema import Pack
from ledger.sql import Tx
from projections.base import Change, Context, PerFamilyModel, TableColumns, hexid
from projections.chronology import fold
from projections.sealed import Sealer

EPISODE_COLUMNS = (
    "family_id", "seq", "episode_id", "earl_episode_id", "person_id", "start_date", "end_date", "reason_category",
    "end_reason", "organisation", "worker_id", "policy",
)
ASSESSMENT_COLUMNS = (
    "family_id", "seq", "assessment_id", "assessment_kind", "episode_id", "person_id", "start_date",
    "completion_date", "until_date", "organisation", "policy",
)
CHILD_COLUMNS = ("family_id", "person_id", "given_name", "family_name", "date_of_birth", "gender", "ethnicity",
                 "kind", "expected_date", "unique_id")


def completed_by(pack: Pack) -> str:
    """The event that completes an early help assessment under this pack: the sign-off
    (``AssessmentAuthorised``) if one of the pack's clocks stops at the sign-off of an
    early help assessment, else the submission (Haringey, Leicestershire and
    Northamptonshire record completion as ``AssessmentSubmitted``)."""
    kinds = {k.id for k in pack.assessment_kinds if k.early_help_assessment}
    for rule in pack.rules:
        if not rule.timed:
            continue
        for stop in rule.stop:
            if stop.event != "AssessmentAuthorised":
                continue
            wanted = stop.where.get("assessment_kind")
            named = set(wanted if isinstance(wanted, list) else [wanted]) if wanted else kinds
            if named & kinds:
                return "AssessmentAuthorised"
    return "AssessmentSubmitted"


@dataclass
class Episode:
    episode_id: str
    started: datetime
    reason_category: str | None
    """The broad category of the referral that opened it (``ReferralReceived.reason_category``);
    never its free text."""
    children: list[str]
    worker: str | None = None
    ended: datetime | None = None
    end_reason: str | None = None
    assessments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.ended is None


@dataclass
class FamilyRows:
    """One family's rows: episodes and early help assessments per child, and its children."""

    episodes: list[dict[str, Any]]
    assessments: list[dict[str, Any]]
    children: list[dict[str, Any]]


def _day(instant: datetime | None) -> str | None:
    return None if instant is None else london_date(instant).isoformat()


def _instant(stored: str) -> datetime:
    return datetime.fromisoformat(stored)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _child(family_id: str, person: dict[str, Any]) -> dict[str, Any]:
    """A child's row; an unborn child (``kind`` unborn) has an expected date and no date of birth."""
    return {"family_id": family_id, "person_id": hexid(person["member_id"]), "given_name": person["given_name"],
            "family_name": person["family_name"], "date_of_birth": _iso(person.get("date_of_birth")),
            "gender": person.get("gender"), "ethnicity": person.get("ethnicity"), "kind": person["kind"],
            "expected_date": _iso(person.get("expected_date")), "council_person_id": person.get("council_person_id"),
            "upn": person.get("upn"), "unique_id": unique_id(person)}


def unique_id(person: Mapping[str, Any]) -> str | None:
    """The id the returns know a child by, where one is recorded: the council's own person
    id (the case management system's, which Annex A's "child unique ID" and the SSD's
    person id are in a council's own returns), else the child's UPN; None for the
    ledger's own id to stand in."""
    return person.get("council_person_id") or person.get("upn") or None


CHILD_KINDS = frozenset({"child", "unborn"})
"""The members the returns count: children, born or not (Annex A gives an unborn child an
age of -1)."""


READ = frozenset({"family", "front door", "allocation", "assessment", "transfer", "closure", "correction"})
"""The categories of entry that can move an episode's rows (``FamilyEvent.category``)."""


def read_here(event: FamilyEvent) -> bool:
    """Whether the episodes' rows can depend on this event."""
    return VOCABULARY[event.type].category in READ


def walk(rows: Iterable[Mapping[str, Any]], pack: Pack) -> tuple[list[Episode], dict[str, dict[str, Any]]]:
    """A family's episodes (with their assessments) and its children, from its chronology
    rows in the order they were recorded. When episodes open and close and who their lead
    worker is come from the one fold of the family's facts (``aggregates/state.py``)."""
    children: dict[str, dict[str, Any]] = {}
    episodes: list[Episode] = []
    now: state.FamilyState | None = None
    early_help = {k.id for k in pack.assessment_kinds if k.early_help_assessment}
    completing = completed_by(pack)
    for row in sorted(rows, key=lambda r: r["version"]):
        kind = row["type"]
        data, when = row["data"], _instant(row["occurred_at"])
        family_id = row["family_id"]
        fact = state.Fact(UUID(row["event_id"]), kind, when,
                          {"user_id": row.get("actor_id") or "", "role": row.get("actor_role") or ""},
                          tuple(row["about"]), data)
        opened = len(now["episodes"]) if now is not None else 0
        if now is None:
            now = state.fold([fact])
        else:
            state.apply(now, fact)
        if len(now["episodes"]) > opened:  # a referral with no open episode opened one
            episodes.append(Episode(hexid(data["episode_id"]) or "", when, data.get("reason_category"),
                                    list(children)))
        folded = state.current(now)
        current = episodes[-1] if episodes else None
        if current is not None and folded is not None:
            current.worker, current.ended, current.end_reason = (
                folded["worker"], folded["closed_at"], folded["close_reason"])
        if kind in ("FamilyRegistered", "MemberAdded"):
            people = data["members"] if kind == "FamilyRegistered" else [data]
            for person in people:
                key = hexid(person["member_id"]) or ""
                if person["kind"] in CHILD_KINDS:
                    children[key] = _child(family_id, person)
                    if current is not None and current.open and key not in current.children:
                        current.children.append(key)
                else:
                    children.pop(key, None)
        elif kind == "MemberDetailsRecorded":
            child = children.get(hexid(data["member_id"]) or "")
            if child is not None:
                child.update({n: data[n] for n in ("council_person_id", "upn") if data.get(n) is not None})
                child["unique_id"] = unique_id(child)
        elif kind == "ChildBorn":
            key = hexid(data["member_id"]) or ""
            if key in children:
                child = children[key]
                child.update(kind="child", date_of_birth=_iso(data["date_of_birth"]))
                for name in ("given_name", "gender"):
                    if data.get(name):
                        child[name] = data[name]
        elif current is None or VOCABULARY[kind].assessment is None:
            continue
        elif kind == "AssessmentStarted":
            if data.get("assessment_kind", "early-help-assessment") in early_help:
                named = [m for m in row["about"] if m in current.children]
                current.assessments[hexid(data["assessment_id"]) or ""] = {
                    "kind": data.get("assessment_kind", "early-help-assessment"), "started": when,
                    "children": named or list(current.children), "agency": row.get("agency"),
                    "submitted": None, "authorised": None, "completing_agency": None,
                }
        else:
            found = current.assessments.get(hexid(data["assessment_id"]) or "")
            if found is None:
                continue
            if kind == "AssessmentSubmitted":
                found["submitted"] = when
            elif kind == "AssessmentReturned":
                found["submitted"] = None
            else:
                found["authorised"] = when
            if kind == completing:
                found["completing_agency"] = row.get("agency")
    return episodes, children


def episode_row_id(episode_id: str, person_id: str) -> str:
    """The SSD's ``earl_episode_id`` (one row per child per episode): a name-based UUID
    of the family's episode and the child, the same on every export and rebuild."""
    return str(uuid.uuid5(UUID(episode_id), person_id))


def family_rows(rows: Sequence[Mapping[str, Any]], pack: Pack) -> FamilyRows:
    """The episode, assessment and child rows of one family's chronology rows."""
    episodes, children = walk(rows, pack)
    family_id = rows[0]["family_id"] if rows else ""
    completing = "authorised" if completed_by(pack) == "AssessmentAuthorised" else "submitted"
    episode_rows: list[dict[str, Any]] = []
    assessment_rows: list[dict[str, Any]] = []
    for episode in episodes:
        for person in (p for p in episode.children if p in children):  # not one corrected to an adult
            episode_rows.append({
                "family_id": family_id, "seq": len(episode_rows), "episode_id": episode.episode_id,
                "earl_episode_id": episode_row_id(episode.episode_id, person), "person_id": person,
                "start_date": _day(episode.started), "end_date": _day(episode.ended),
                "reason_category": episode.reason_category, "end_reason": episode.end_reason,
                "organisation": pack.council, "worker_id": episode.worker,
                "policy": pack.id,
            })
        for assessment_id, found in episode.assessments.items():
            completed = found[completing]
            for person in (p for p in found["children"] if p in children):
                assessment_rows.append({
                    "family_id": family_id, "seq": len(assessment_rows), "assessment_id": assessment_id,
                    "assessment_kind": found["kind"], "episode_id": episode.episode_id, "person_id": person,
                    "start_date": _day(found["started"]), "completion_date": _day(completed),
                    "until_date": _day(completed or episode.ended),
                    # Another agency's name as recorded; none for the council's own (the export
                    # names it as the deployment configures: queries/exports.py).
                    "organisation": (found["completing_agency"] if completed else None) or found["agency"],
                    "policy": pack.id,
                })
    return FamilyRows(episode_rows, assessment_rows, list(children.values()))


def from_events(events: Sequence[FamilyEvent], packs: dict[str, Pack],
                folded: Sequence[Mapping[str, Any]] | None = None) -> FamilyRows:
    """One family's rows from its events (in version order), corrections applied. Only
    the events ``walk`` reads are folded (with the corrections, which name what they
    correct): a family's case notes and contacts, most of its record, change nothing here.
    ``folded``: the family's chronology rows, all of them, already folded (a rebuild's
    chronology model did): the rows of the events ``walk`` reads are taken from them."""
    if folded is None:
        rows: Sequence[Mapping[str, Any]] = fold([e for e in events if read_here(e)], packs, words=False)[0]
    else:
        rows = [r for r in folded if VOCABULARY[r["type"]].category in READ]
    return family_rows(rows, packs[events[0].policy])


# --- the read model -------------------------------------------------------------------------


class EpisodesModel(PerFamilyModel):
    """Per child: early help episodes and early help assessments, for the period returns.

    An event ``walk`` reads, or a correction, re-derives its family's rows (a correction
    can move any of them); a family whose new events are none of those (case notes,
    contacts: most of a record) keeps its rows, which no such event can change. A rebuild
    hands a family's events over in one batch, so it is derived once. An erasure is
    re-derived by the projector (``Projector.reproject``), names and all."""

    name = "episodes"
    tables = ("early_help_episodes", "early_help_assessments", "early_help_children")
    keyed_after_loading = tables
    sealed: ClassVar[TableColumns] = {
        "early_help_children": ("given_name", "family_name", "date_of_birth", "expected_date", "unique_id")}
    version = 5  # 4: the referral's reason category (not its free text), unborn children, the council's own
    # assessments without an organisation name (named at export); 5: a child's unique id for the returns
    columns: ClassVar[TableColumns] = {
        "early_help_episodes": EPISODE_COLUMNS, "early_help_assessments": ASSESSMENT_COLUMNS,
        "early_help_children": CHILD_COLUMNS}

    def ddl(self) -> list[str]:
        return [
            "CREATE TABLE {early_help_episodes} (family_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "episode_id TEXT NOT NULL, earl_episode_id TEXT NOT NULL, person_id TEXT NOT NULL, "
            "start_date TEXT NOT NULL, end_date TEXT, reason_category TEXT, end_reason TEXT, "
            "organisation TEXT NOT NULL, worker_id TEXT, policy TEXT NOT NULL, PRIMARY KEY (family_id, seq))",
            "CREATE INDEX early_help_episodes_dates{ix} ON {early_help_episodes} (start_date, end_date)",
            "CREATE TABLE {early_help_assessments} (family_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "assessment_id TEXT NOT NULL, assessment_kind TEXT NOT NULL, episode_id TEXT NOT NULL, "
            "person_id TEXT NOT NULL, start_date TEXT NOT NULL, completion_date TEXT, until_date TEXT, "
            "organisation TEXT, policy TEXT NOT NULL, PRIMARY KEY (family_id, seq))",
            "CREATE INDEX early_help_assessments_dates{ix} ON {early_help_assessments} (start_date, until_date)",
            "CREATE TABLE {early_help_children} (family_id TEXT NOT NULL, person_id TEXT NOT NULL, "
            "given_name TEXT NOT NULL, family_name TEXT NOT NULL, date_of_birth TEXT, gender TEXT, "
            "ethnicity TEXT, kind TEXT NOT NULL, expected_date TEXT, unique_id TEXT, "
            "PRIMARY KEY (family_id, person_id))",
        ]

    def apply(self, tx: Tx, changes: Sequence[Change], context: Context) -> None:
        super().apply(tx, [c for c in changes if read_here(c.event)], context)

    def derive(self, family_id: UUID, context: Context) -> dict[str, list[tuple[Any, ...]]]:
        events = context.family_events(family_id)
        if not events:
            return {}
        found = from_events(events, context.packs, context.folded.get(family_id))
        return {table: [tuple(r[c] for c in columns) for r in rows]
                for table, columns, rows in (("early_help_episodes", EPISODE_COLUMNS, found.episodes),
                                             ("early_help_assessments", ASSESSMENT_COLUMNS, found.assessments),
                                             ("early_help_children", CHILD_COLUMNS, found.children))}


# --- queries ----------------------------------------------------------------------------------


def overlaps(start: str, until: str | None, first: date, last: date) -> bool:
    """Whether something from ``start`` to ``until`` (open if None) touches the period."""
    return start <= last.isoformat() and (until is None or until >= first.isoformat())


def _with_child(rows: Iterable[dict[str, Any]],
                children: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    joined = []
    for row in rows:
        child = children.get((row["family_id"], row["person_id"]), {})
        joined.append({**row, **{c: child.get(c) for c in CHILD_COLUMNS[2:]}})
    return joined


def in_period(found: Iterable[FamilyRows], first: date,
              last: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(episode rows, assessment rows) touching the period, each with its child's details:
    the same answer as ``stored_in_period``, from rows derived in memory (time travel)."""
    episodes, assessments, children = [], [], {}
    for family in found:
        children.update({(c["family_id"], c["person_id"]): c for c in family.children})
        episodes += [r for r in family.episodes if overlaps(r["start_date"], r["end_date"], first, last)]
        assessments += [r for r in family.assessments if overlaps(r["start_date"], r["until_date"], first, last)]
    return (_with_child(sorted(episodes, key=_in_order), children),
            _with_child(sorted(assessments, key=_in_order), children))


def _in_order(row: dict[str, Any]) -> tuple[str, str, int]:
    """The order of the stored queries: start date, family, row."""
    return row["start_date"], row["family_id"], row["seq"]


def stored_in_period(tx: Tx, first: date, last: date,
                     sealer: Sealer) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(episode rows, assessment rows) touching the period, each with its child's details."""
    child = ", ".join(f"c.{c}" for c in CHILD_COLUMNS[2:])
    join = "LEFT JOIN {early_help_children} c ON c.family_id = r.family_id AND c.person_id = r.person_id"
    period = (last.isoformat(), first.isoformat())
    episodes = tx.rows(
        f"SELECT r.*, {child} FROM {{early_help_episodes}} r {join} "
        "WHERE r.start_date <= ? AND (r.end_date IS NULL OR r.end_date >= ?) "
        "ORDER BY r.start_date, r.family_id, r.seq", period)
    assessments = tx.rows(
        f"SELECT r.*, {child} FROM {{early_help_assessments}} r {join} "
        "WHERE r.start_date <= ? AND (r.until_date IS NULL OR r.until_date >= ?) "
        "ORDER BY r.start_date, r.family_id, r.seq", period)
    children = "early_help_children"
    return sealer.open_rows(children, episodes), sealer.open_rows(children, assessments)
