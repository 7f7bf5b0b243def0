"""Exports that leave the ledger, built from the read models: court, practice and review
chronologies (JSON, CSV; as PDF and Word: ``documents/chronology.py``), Ofsted Annex A
List 2, and the Standard Safeguarding Dataset's ``ssd_early_help_episodes``.
``docs/exports.md`` describes each and its source.

Everything here is a pure function of rows the caller read (the chronology read model
for "now", the same fold over a prefix of the record for ``as_at``; the episodes read
model or its in-memory twin) and of the moment the export is as at, never of the wall
clock: the same inputs give the same bytes, whoever asks (HTTP or ``ledger export``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID

import orjson

from aggregates.events import VOCABULARY
from aggregates.vocabulary import MANAGEMENT_ROLES, REASON_CATEGORIES
from aggregates.wording import relationship_word
from ledger.calendar import LONDON
from ledger.moments import instant, local_instant
from ledger.policies.schema import Pack
from ledger.serialisation import answer_json
from projections import chronology as chronology_model
from projections import episodes as episode_model
from projections import spreadsheet
from projections.chronology import ChronologyRow

PROFILES = ("court", "practice", "review")
CHRONOLOGY_FORMATS = ("json", "csv", "pdf", "docx")
"""JSON and CSV here; PDF and Word are documents (``documents/chronology.py``)."""
RETURN_FORMATS = ("csv", "json")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
PD12A = "https://www.justice.gov.uk/courts/procedure-rules/family/practice_directions/pd_part_12a"
ANNEX_A = "https://www.gov.uk/government/publications/inspecting-local-authority-childrens-services-from-2018"
SSD = "https://data-to-insight.github.io/ssd-data-model/"


@dataclass(frozen=True)
class Export:
    """An export's bytes, media type and the file name to offer."""

    content: bytes
    media_type: str
    filename: str
    families: tuple[str, ...] = ()
    """The families whose records it carries (for the access log)."""


# --- small formats -----------------------------------------------------------------------------


def local_time(stored: str | datetime | None) -> datetime | None:
    """A stored moment (ISO text) or a datetime, in London time; None for none."""
    if not stored:
        return None
    return (datetime.fromisoformat(stored) if isinstance(stored, str) else stored).astimezone(LONDON)


def long_date(day: date) -> str:
    """``3 March 2026``: how a summary of involvement writes a date."""
    return f"{day.day} {day:%B %Y}"


def short_date(day: date | None) -> str:
    """``03/03/2026``: how every document writes a date."""
    return "" if day is None else f"{day:%d/%m/%Y}"


def short_moment(stored: str | datetime | None) -> str:
    """``03/03/2026 14:05`` in London time: how every document writes a moment."""
    found = local_time(stored)
    return "" if found is None else f"{found:%d/%m/%Y %H:%M}"


def _csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue().encode("utf-8")


def _json(document: dict[str, Any]) -> bytes:
    return answer_json(document, orjson.OPT_INDENT_2)


def latest_recorded(rows: Sequence[Mapping[str, Any]]) -> datetime:
    """The latest moment anything in these rows was recorded (an entry or a correction):
    what an export without ``as_at`` is as at, fixed by the record, not the clock."""
    moments = [r["recorded_at"] for r in rows if r.get("recorded_at")]
    moments += [c["recorded_at"] for r in rows for c in r.get("corrections", [])]
    return datetime.fromisoformat(max(moments)) if moments else datetime(1900, 1, 1, tzinfo=timezone.utc)


# --- chronologies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    entries: list[dict[str, Any]]
    """One JSON object per row."""
    cells: list[list[str]]
    """The same rows as text, for CSV and Word."""


def _court(entries: list[dict[str, Any]], pack: Pack) -> Table:
    """PD12A: serial number, date, event detail, witness or document reference."""
    rows, cells = [], []
    for serial, e in enumerate(entries, start=1):
        day = local_time(e["occurred_at"]).date()  # type: ignore[union-attr]
        rows.append({"serial_number": serial, "date": day.isoformat(), "event_detail": e["summary"],
                     "witness_or_document_reference": e["reference"], "documents": e.get("documents", []),
                     "event_id": e["event_id"]})
        cells.append([str(serial), short_date(day), e["summary"],
                      "; ".join(r for r in (e["reference"], *e.get("documents", [])) if r)])
    return Table(("serial number", "date", "event detail", "witness or document reference"), rows, cells)


def _source(e: dict[str, Any], pack: Pack) -> tuple[str, str]:
    """(person, agency): who recorded it, and their agency (the council's service when
    the entry names no other)."""
    s = e["source"]
    if s["recorded_by"] is None:
        return "", s["agency"] or ""
    person = s.get("recorded_by_name") or f"{s['recorded_by']} ({s['role']})"
    return person, s["agency"] or f"{pack.council} early help, team {s['team']}"


def _practice(entries: list[dict[str, Any]], pack: Pack) -> Table:
    """The safeguarding-partnership layout: date, source, significant event, impact on the
    child, action taken (or why none)."""
    rows, cells = [], []
    for e in entries:
        day = local_time(e["occurred_at"]).date()  # type: ignore[union-attr]
        person, agency = _source(e, pack)
        rows.append({"date": day.isoformat(), "source": {"person": person or None, "agency": agency or None},
                     "significant_event": e["summary"], "impact_on_child": e["impact_on_child"],
                     "action_taken": e["action_taken"], "event_id": e["event_id"]})
        cells.append([short_date(day), ", ".join(p for p in (person, agency) if p), e["summary"],
                      e["impact_on_child"] or "", e["action_taken"] or "none recorded"])
    return Table(("date or period", "source (person and agency)", "significant event", "impact on the child",
                  "action taken (or why none)"), rows, cells)


def decision(e: dict[str, Any]) -> str | None:
    """The kind of management decision an entry records (by a supervisor or manager)."""
    kind = VOCABULARY[e["type"]].decision_kind
    if e["source"]["role"] in MANAGEMENT_ROLES and kind:
        return kind
    return None


def changed(value: Any) -> str:
    """A value a correction changed, in a cell: a time dd/mm/yyyy HH:MM (London), a day
    dd/mm/yyyy, never ISO (the JSON keeps ISO, for machines)."""
    text = str(value)
    if isinstance(value, str) and len(text) >= 16 and text[4:5] == "-" and text[10:11] == "T":
        return short_moment(text)
    if isinstance(value, str) and len(text) == 10 and text[4:5] == "-" and text[7:8] == "-":
        return short_date(date.fromisoformat(text))
    return text


def _correction_text(c: dict[str, Any]) -> str:
    changes = "; ".join(f"{name} was {changed(ch['from'])}, now {changed(ch['to'])}"
                        for name, ch in c["changes"].items())
    who = c.get("recorded_by_name") or c["recorded_by"]
    return f"{short_moment(c['recorded_at'])} {who} ({c['role']}): {changes} (reason: {c['reason']})"


def _review(entries: list[dict[str, Any]], pack: Pack) -> Table:
    """Everything: both times, who recorded it, late entries, corrections beside what
    they corrected, management decisions in line."""
    rows, cells = [], []
    for e in entries:
        kind = decision(e)
        s = e["source"]
        rows.append({
            "event_id": e["event_id"], "type": e["type"], "occurred_at": e["occurred_at"],
            "recorded_at": e["recorded_at"],
            "recorded_by": {"user_id": s["recorded_by"], "name": s.get("recorded_by_name"), "role": s["role"],
                            "team": s["team"]},
            "agency": s["agency"], "summary": e["summary"], "significance": e["significance"],
            "significant": e["significant"], "impact_on_child": e["impact_on_child"],
            "action_taken": e["action_taken"], "note": e["note"], "reference": e["reference"],
            "documents": e.get("documents", []),
            "late_entry": e["late_entry"], "late_rules": e["late_rules"], "management_decision": kind,
            "breaches": e.get("breaches", []),
            "corrections": e["corrections"], "about": e["about"],
        })
        name = s.get("recorded_by_name") or s["recorded_by"]
        who = f"{name} ({s['role']}, team {s['team']})" if s["recorded_by"] else ""
        cells.append([
            short_moment(e["occurred_at"]), short_moment(e["recorded_at"]), who, e["type"], e["summary"],
            s["agency"] or "",
            e["significance"] or "", e["impact_on_child"] or "", e["action_taken"] or "",
            "; ".join(r for r in (e["reference"], *e.get("documents", [])) if r),
            ("yes: " + ", ".join(e["late_rules"])) if e["late_entry"] else "",
            " | ".join(_correction_text(c) for c in e["corrections"]),
            f"{kind} by {s['role']} {name}" if kind else "",
            "; ".join(f"{b['title']} ({b['rule']})" for b in e.get("breaches", [])),
        ])
    return Table(("occurred", "recorded", "recorded by", "event", "summary", "agency", "significance",
                  "impact on child", "action taken", "reference", "late entry", "corrections",
                  "management decision", "practice breach"), rows, cells)


TABLES: dict[str, Callable[[list[dict[str, Any]], Pack], Table]] = {
    "court": _court, "practice": _practice, "review": _review,
}
TITLES = {
    "court": ("Social work chronology",
              f"Family Procedure Rules, Practice Direction 12A (social work chronology): {PD12A}"),
    "practice": ("Multi-agency chronology of significant events",
                 "Safeguarding partnership chronology layout: date, source, significant event, impact on "
                 "the child, action taken"),
    "review": ("Chronology for case review",
               "Every entry with both times, who recorded it, late entries, corrections and management "
               "decisions"),
}


def _name(member: dict[str, Any]) -> str:
    return f"{member['given_name']} {member['family_name']}"


def household(members: dict[str, dict[str, Any]]) -> list[str]:
    """The family's members as a chronology's "Family" line lists them: each with their
    relationship to the children where recorded ("Cara Stone, mother"), a child as a child,
    and who holds parental responsibility; the children first, the eldest first, then the
    adults."""
    found = []
    for m in sorted(members.values(), key=lambda m: (m.get("kind") not in ("child", "unborn"),
                                                    str(m.get("date_of_birth") or "9999"), _name(m))):
        word = relationship_word(m.get("relationship"), m.get("gender"), m.get("kind"))
        if m.get("parental_responsibility") and m.get("kind") == "adult":
            word = f"{word} (parental responsibility)" if word else "parental responsibility"
        found.append(_name(m) + (f", {word}" if word else ""))
    return found


def involvement(rows: Sequence[Mapping[str, Any]], members: dict[str, dict[str, Any]], pack: Pack,
                member: UUID | None, moment: datetime) -> dict[str, Any]:
    """The succinct summary of the length of the council's involvement with the family
    and, for a child's chronology, with the child (PD12A), with its episodes."""
    found, _ = episode_model.walk(rows, pack)
    surnames = list(dict.fromkeys(m["family_name"] for m in members.values()))
    family = f"{' and '.join(surnames)} family"
    today = moment.astimezone(LONDON).date()
    shown: list[dict[str, Any]] = []
    for episode in found:
        start = episode.started.astimezone(LONDON).date()
        end = episode.ended.astimezone(LONDON).date() if episode.ended else None
        shown.append({"episode_id": str(UUID(episode.episode_id)), "start": start.isoformat(),
                      "end": end.isoformat() if end else None, "end_reason": episode.end_reason,
                      "days": ((end or today) - start).days + 1, "children": episode.children})
    if not shown:
        text = f"{pack.council} had no early help episode with the {family} as at {long_date(today)}."
    else:
        parts = [f"{long_date(date.fromisoformat(e['start']))} to "
                 + (f"{long_date(date.fromisoformat(e['end']))}, closed ({(e['end_reason'] or '').replace('_', ' ')})"
                    if e["end"] else f"{long_date(today)}, open") for e in shown]
        count = f"{len(shown)} episode{'s' if len(shown) > 1 else ''} of early help"
        since = long_date(date.fromisoformat(shown[0]["start"]))
        text = (f"{pack.council} has been involved with the {family} since {since}: "
                f"{count} ({'; '.join(parts)}), {sum(e['days'] for e in shown)} days in all as at {long_date(today)}.")
    child = None
    if member is not None:
        person = members[member.hex]
        dob = person.get("date_of_birth")
        child = {"member_id": str(member), "name": _name(person), "date_of_birth": dob}
        own = [e for e in shown if member.hex in e["children"]]
        born = f" (born {long_date(date.fromisoformat(dob))})" if dob else ""
        if person.get("kind") == "child":
            text += (f" {_name(person)}{born} was included in {len(own)} of these episodes"
                     + (f", {sum(e['days'] for e in own)} days, the first from "
                        f"{long_date(date.fromisoformat(own[0]['start']))}." if own else "."))
    for e in shown:
        e["children"] = [str(UUID(c)) for c in e["children"]]
    return {"summary": text, "family": family, "child": child, "episodes": shown}


def chronology(rows: Sequence[ChronologyRow], members: dict[str, dict[str, Any]], pack: Pack, *,
               family_id: UUID, profile: str, fmt: str, member: UUID | None = None,
               as_at: datetime | None = None, case_number: str | None = None,
               staff: chronology_model.Describe | None = None) -> Export:
    """A chronology export of one family (or one member) in a profile, as JSON or CSV, as
    the record stood at ``as_at`` (the rows given must be that record) or as now recorded.
    PDF and Word are documents: ``documents/chronology.py``."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}")
    if fmt not in ("json", "csv"):
        raise ValueError("format must be json or csv (documents/chronology.py makes PDF and Word)")
    moment = as_at or latest_recorded(rows)
    entries = chronology_model.view(rows, members, member=member, significant_only=profile != "review",
                                    staff=staff)  # staff named by Ledger.describe (ADR 0030)
    documents = documents_by_entry(rows)
    for e in entries:
        e["documents"] = documents.get(e["event_id"] or "", [])
    table = TABLES[profile](entries, pack)
    about = involvement(rows, members, pack, member, moment)
    title, standard = TITLES[profile]
    heading = {
        "title": title, "standard": standard, "council": pack.council, "family_id": str(family_id),
        "family": about["family"], "members": [_name(m) for m in members.values()],
        "household": household(members), "child": about["child"],
        "as_at": instant(moment), "as_at_local": local_instant(moment), "as_at_requested": as_at is not None,
        "case_number": case_number, "involvement": about["summary"], "episodes": about["episodes"],
    }
    name = f"chronology-{profile}-{family_id}" + (f"-{member}" if member else "") + f".{fmt}"
    if fmt == "json":
        content = _json({"profile": profile, "heading": heading, "columns": list(table.columns),
                         "entries": table.entries})
    else:
        content = _csv(table.columns, table.cells)
    return Export(content, MEDIA_TYPES[fmt], name)


def documents_by_entry(rows: Sequence[ChronologyRow]) -> dict[str, list[str]]:
    """The documents recorded for each entry (by its event id as the view shows it): a
    ``DocumentRecorded`` entry names its own document, and the entry it was recorded
    ``regarding`` (when it names one) lists it too, so the witness or document reference
    can point to the bundle (issue 21, item 5)."""
    found: dict[str, list[str]] = {}
    for r in rows:
        if r["type"] != "DocumentRecorded" or not r["event_id"]:
            continue
        text = f"Document: {r['summary']}" + (f" ({r['reference']})" if r.get("reference") else "")
        found.setdefault(str(UUID(r["event_id"])), []).append(text)
        target = r["data"].get("regarding")
        if target:
            found.setdefault(str(UUID(str(target))), []).append(text)
    return found


# --- Ofsted Annex A List 2 and the SSD's early help episodes ---------------------------------------


ANNEX_A_COLUMNS = (
    "Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)",
    "Assessment start date", "Assessment completion date", "Organisation completing assessment",
)
ANNEX_A_KEYS = (
    "child_unique_id", "gender", "ethnicity", "date_of_birth", "age_of_child_years",
    "assessment_start_date", "assessment_completion_date", "organisation_completing_assessment",
)
SSD_COLUMNS = (
    "earl_episode_id", "earl_person_id", "earl_episode_start_date", "earl_episode_end_date",
    "earl_episode_reason", "earl_episode_end_reason", "earl_episode_organisation", "earl_episode_worker_id",
)


@dataclass(frozen=True)
class Council:
    """What a data return needs of the packs (``queries/exports.py`` fills it): the
    organisation each pack's families are named under (as the deployment configures it:
    ``LEDGER_ORGANISATION_NAMES``), each pack's SSD end reason of every closure reason,
    and the one pack the return was filtered to, if any."""

    packs: Mapping[str, Pack]
    names: Mapping[str, str]
    pack: str | None = None

    def organisation(self, policy: str) -> str:
        found = self.packs.get(policy)
        return found.organisation(self.names) if found else self.names.get(policy, policy)

    def end_reason(self, policy: str, closure_reason: str | None) -> str | None:
        """EARL006A: the pack's SSD end reason of the closure reason (None while open)."""
        found = self.packs.get(policy)
        if closure_reason is None or found is None:
            return None if closure_reason is None else "NFA"
        return found.ssd_end_reason(closure_reason)


def reason_category(code: str | None) -> str | None:
    """EARL005A, the broad category of the reason for involvement as the SSD words it; a
    referral that recorded none gives none (a blank cell: the SSD makes the field optional,
    and its "Other" is a reason outside the list, not a reason not recorded)."""
    return REASON_CATEGORIES.get(code, code) if code else None


def age_in_years(born: date | None, on: date, *, unborn: bool = False) -> int | None:
    """Age at the last birthday on ``on``: -1 for a child not yet born, as Annex A asks
    (an unborn member, whatever their expected date, or a date of birth still to come)."""
    if unborn:
        return -1
    if born is None:
        return None
    if born > on:
        return -1
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _period(first: date, last: date, as_at: datetime | None, pack: str | None = None) -> dict[str, Any]:
    return {"from": first.isoformat(), "to": last.isoformat(),
            "as_at": instant(as_at), "as_at_local": local_instant(as_at), "pack": pack}


def _named(kind: str, first: date, last: date, council: Council, fmt: str) -> str:
    return f"{kind}-{council.pack + '-' if council.pack else ''}{first}-to-{last}.{fmt}"


def annex_a(assessments: Sequence[dict[str, Any]], first: date, last: date, fmt: str,
            as_at: datetime | None = None, council: Council | None = None) -> Export:
    """Annex A List 2: one row per child per early help assessment touching the period
    (started by its end and not completed before its start); ages at the period's end.
    An unborn child is given the expected date as the date of birth and the age -1; an
    assessment completed by the council itself names the organisation as ``council`` does."""
    council = council or Council({}, {})
    rows = []
    for r in assessments:
        unborn = r.get("kind") == "unborn"
        born = r.get("expected_date") if unborn else r["date_of_birth"]
        rows.append({
            "child_unique_id": r.get("unique_id") or str(UUID(r["person_id"])), "gender": r["gender"],
            "ethnicity": r["ethnicity"],
            "date_of_birth": born, "age_of_child_years": age_in_years(_day(born), last, unborn=unborn),
            "assessment_start_date": r["start_date"], "assessment_completion_date": r["completion_date"],
            "organisation_completing_assessment": r["organisation"] or council.organisation(r["policy"]),
        })
    name = _named("annex-a-list-2", first, last, council, fmt)
    if fmt == "json":
        content = _json({"return": "Ofsted Annex A, List 2: early help", "specification": ANNEX_A,
                         **_period(first, last, as_at, council.pack), "count": len(rows),
                         "columns": list(ANNEX_A_KEYS), "rows": rows})
    else:
        content = _csv(ANNEX_A_COLUMNS, [[
            r["child_unique_id"], r["gender"], r["ethnicity"], short_date(_day(r["date_of_birth"])),
            # a number, not text: -1 (not yet born) is not a formula, and is written as it is
            "" if r["age_of_child_years"] is None else r["age_of_child_years"],
            short_date(_day(r["assessment_start_date"])), short_date(_day(r["assessment_completion_date"])),
            r["organisation_completing_assessment"]] for r in rows])
    return Export(content, MEDIA_TYPES[fmt], name, tuple(sorted({r["family_id"] for r in assessments})))


def ssd_early_help_episodes(episodes: Sequence[dict[str, Any]], first: date, last: date, fmt: str,
                            as_at: datetime | None = None, council: Council | None = None) -> Export:
    """``ssd_early_help_episodes``: one row per child per episode touching the period. The
    reason is the referral's broad category (EARL005A), never its free text; the end reason
    the pack's mapping of the closure reason (EARL006A); the organisation as ``council``
    names the family's pack (EARL007A)."""
    council = council or Council({}, {})
    rows = [{
        "earl_episode_id": r["earl_episode_id"], "earl_person_id": r.get("unique_id") or str(UUID(r["person_id"])),
        "earl_episode_start_date": r["start_date"], "earl_episode_end_date": r["end_date"],
        "earl_episode_reason": reason_category(r["reason_category"]),
        "earl_episode_end_reason": council.end_reason(r["policy"], r["end_reason"]),
        "earl_episode_organisation": council.organisation(r["policy"]), "earl_episode_worker_id": r["worker_id"],
    } for r in episodes]
    name = _named("ssd_early_help_episodes", first, last, council, fmt)
    if fmt == "json":
        content = _json({"table": "ssd_early_help_episodes", "specification": SSD,
                         **_period(first, last, as_at, council.pack), "count": len(rows),
                         "columns": list(SSD_COLUMNS), "rows": rows})
    else:
        content = _csv(SSD_COLUMNS, [[r[c] for c in SSD_COLUMNS] for r in rows])
    return Export(content, MEDIA_TYPES[fmt], name, tuple(sorted({r["family_id"] for r in episodes})))
