"""Subject access (UK GDPR Art. 15): everything the ledger holds about one person.

Built from the family's events, its chronology read model and its deadlines, then cut
down to what the person is entitled to: events that are about them or about the whole
family (not those about a sibling alone), their own entry in member lists (no one
else's name, date of birth or details), their chronology (``chronology.view`` with
other members' names replaced), and the clocks that concern them or the family.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from aggregates.events import MEMBER_DETAILS_FIELDS, VOCABULARY
from ledger.moments import instant
from ledger.serialisation import answer_json
from projections import spreadsheet

OTHERS = "[another household member]"
CSV_HEADER = ("section", "id", "type", "occurred_at", "recorded_at", "recorded_by", "summary", "detail")


def _mine(subject: UUID, about: Sequence[Any]) -> bool:
    return not about or subject in {UUID(str(a)) for a in about}


def events(subject: UUID, views: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The family's events (``event_view`` shape) that the subject may see, redacted."""
    kept: list[dict[str, Any]] = []
    shown: set[str] = set()
    for view in views:
        data = dict(view["data"])
        if not _mine(subject, view["about"]):
            continue
        # another member joining, being born or their details recorded is theirs
        if VOCABULARY[view["type"]].one_members_own and data.get("member_id") not in (subject, str(subject)):
            continue
        if view["type"] == "EntryCorrected" and str(data.get("corrects")) not in shown:
            continue
        if isinstance(data.get("members"), list):
            data["members"] = [m for m in data["members"] if str(m.get("member_id")) == str(subject)]
        shown.add(str(view["event_id"]))
        kept.append({**view, "data": data})
    return kept


def report(subject: UUID, member: dict[str, Any], family_id: UUID, event_views: Sequence[dict[str, Any]],
           chronology: Sequence[dict[str, Any]], deadlines: Sequence[dict[str, Any]],
           addresses: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {
        "member_id": subject, "family_id": family_id,
        "person": {k: member.get(k) for k in ("given_name", "family_name", "kind", "date_of_birth", "gender",
                                               "ethnicity", *MEMBER_DETAILS_FIELDS)},
        "addresses": [{k: a.get(k) for k in ("from_date", "address_lines", "postcode")} for a in addresses],
        "events": events(subject, event_views),
        "chronology": list(chronology),
        "deadlines": [d for d in deadlines if d.get("member") in (None, subject, str(subject))],
        "withheld": "entries about other members of the household alone, and their names and details "
                    "(UK GDPR Art. 15(4): the rights of others)",
    }


def to_csv(found: dict[str, Any]) -> str:
    """One table: every event, chronology entry and clock, one per line."""
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(CSV_HEADER)
    def dump(v: Any) -> str:
        return answer_json(v, orjson.OPT_SORT_KEYS).decode()

    writer.writerow(("person", found["member_id"], "", "", "", "", "", dump(found["person"])))
    for e in found["events"]:
        writer.writerow(("event", e["event_id"], e["type"], _text(e["occurred_at"]), _text(e["recorded_at"]),
                         e["actor"].get("user_id"), "", dump({"data": e["data"], "context": e["context"]})))
    for c in found["chronology"]:
        writer.writerow(("chronology", c["event_id"] or "", c["type"], c["occurred_at"], c["recorded_at"] or "",
                         c["source"]["recorded_by"] or "", c["summary"], dump(
                             {k: c[k] for k in ("significance", "impact_on_child", "action_taken", "note",
                                                "late_entry", "corrections")})))
    for d in found["deadlines"]:
        writer.writerow(("deadline", d["rule"], d["state"], _text(d["started_at"]), "", "", d["title"], dump(
            {"due": d["due"], "stopped_at": d["stopped_at"], "source": d["source"]})))
    return out.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return instant(value)  # as every instant of the file (ADR 0036)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
