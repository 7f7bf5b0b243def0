"""One shape for every instant in every JSON answer (issue 23, item 5; ADR 0036).

An instant is written ``2026-03-02T09:15:00.000000Z``: RFC 3339, in UTC, ending ``Z``,
with microseconds always. A calendar date is ``2026-03-02``. Where a person reads the
moment an export is as at, the London time is added beside it (``as_at_local``), never
instead of it. A consumer can then compare two instants as text, whichever endpoint they
came from, and parse every one with the same pattern.

The walk below puts a small family through every command type (corrections included),
erases another, places and lifts legal holds and names a member of staff, then asks every
GET route the OpenAPI document lists (each in the variants that change its answer's
shape: time travel, ``as_of``, profiles, JSON exports) and checks every string of every
answer, and of the answers to the writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.moments import instant, local_instant
from projections.projector import Projector
from tests.conftest import AUDITOR, MANAGER, NOW, PRACTITIONER, FixedClock, auth, command, register
from tests.walkthrough import SOUTH_MANAGER, SOUTH_PRACTITIONER, every_command

pytestmark = pytest.mark.storage  # stored strings and what each database hands back differ

INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}[+-]\d{2}:\d{2}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LOOKS_TIMED = re.compile(r"\d{4}-?\d{2}-?\d{2}[T ]\d{2}")
ADMIN = auth("admin", "ann", None)
CLOUDEVENTS = "application/cloudevents-batch+json"
RECORDED = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
"""When the walk of January 2026 is recorded (its corrections: at ``NOW``, in November)."""


def moments(value: Any, at: str = "") -> Iterator[tuple[str, str, str]]:
    """Every string of a JSON value that reads as an instant or a date: (where, text, kind)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from moments(item, f"{at}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from moments(item, f"{at}[{i}]")
    elif isinstance(value, str):
        if DATE.fullmatch(value):
            yield at, value, "date"
        elif LOOKS_TIMED.match(value):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return
            yield at, value, "instant"


def misshapen(answer: Any) -> list[str]:
    """The instants of an answer not in the one shape (``*_local``: London, with its offset)."""
    wrong = []
    for where, text, kind in moments(answer):
        if kind == "date":
            continue
        shape = LOCAL if where.endswith("_local") else INSTANT
        if not shape.fullmatch(text):
            wrong.append(f"{where} = {text!r}")
    return wrong


@pytest.fixture
def walked(client: TestClient, clock: FixedClock) -> dict[str, Any]:
    """A family walked through every command type in January 2026 (recorded on 2 March)
    and corrected in November; another erased; a legal hold placed, lifted and placed
    again; a member of staff named. What was answered."""
    answers: dict[str, Any] = {}
    clock.set(RECORDED)
    family = register(client)
    answers["POST /families"] = family
    fid = family["family_id"]
    for headers, body in every_command(family["members"]):
        r = command(client, fid, body, headers)
        assert r.status_code == 201, (body["type"], r.text)
    answers["POST /families/{family_id}/commands"] = r.json()
    clock.set(NOW)
    events = client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
    note = next(e for e in events if e["type"] == "CaseNoteRecorded")
    visit = next(e for e in events if e["type"] == "ContactMade")
    for body in ({"type": "EntryCorrected", "corrects": note["event_id"], "reason": "wrong relative recorded",
                  "changes": {"text": "Ava disclosed worry about her uncle"}},
                 {"type": "EntryCorrected", "corrects": visit["event_id"], "reason": "the visit was the day before",
                  "changes": {"occurred_at": "2026-01-08T16:30:00+00:00"}}):
        r = command(client, fid, body, SOUTH_PRACTITIONER)
        assert r.status_code == 201, r.text
    # a later entry stated in summer time (+01:00): inputs keep their offset, answers do not
    r = command(client, fid, {"type": "CaseNoteRecorded", "text": "phoned mum",
                              "occurred_at": "2026-07-01T10:15:00.5+01:00"}, SOUTH_PRACTITIONER)
    assert r.status_code == 201, r.text

    other = register(client)["family_id"]  # an episode closed, then erased: its clocks as frozen at erasure
    for headers, body in ((PRACTITIONER, {"type": "ReferralReceived", "route": "self", "reason": "help",
                                          "occurred_at": "2026-05-05T09:00:00+01:00"}),
                          (MANAGER, {"type": "TriageDecided", "outcome": "early_help", "pathway": "family-hub"}),
                          (PRACTITIONER, {"type": "ClosureProposed", "reason": "outcomes_met"}),
                          (MANAGER, {"type": "ClosureAuthorised"}),
                          (PRACTITIONER, {"type": "DocumentRecorded", "document": "family-survey"}),
                          (PRACTITIONER, {"type": "EpisodeClosed", "reason": "outcomes_met"})):
        r = command(client, other, {"occurred_at": "2026-06-01T09:00:00+01:00", **body}, headers)
        assert r.status_code == 201, (body["type"], r.text)
    r = client.post(f"/families/{other}/erasure", headers=ADMIN,
                    json={"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"})
    assert r.status_code == 201, r.text
    answers["POST /families/{family_id}/erasure"] = r.json()

    for method in ("PUT", "DELETE", "PUT"):
        r = client.request(method, f"/legal-holds/{fid}", headers=ADMIN,
                           json={"reason": "litigation hold"} if method == "PUT" else None)
        assert r.status_code == 200, r.text
        answers[f"{method} /legal-holds/{{family_id}}"] = r.json()
    r = client.put("/staff/meg", headers=ADMIN, json={"name": "Meg Hart", "job_title": "Team Manager"})
    assert r.status_code == 200, r.text
    answers["PUT /staff/{user_id}"] = r.json()
    members = family["members"]
    return {"fid": fid, "other": other, "member": members[0]["member_id"], "answers": answers,
            "decision": next(e["event_id"] for e in events if e["type"] == "AssessmentAuthorised")}


def requests(walked: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Route path -> the requests that show its answer's shapes (a request's ``accept``,
    if any, is sent as its Accept header)."""
    fid, member, erased = walked["fid"], walked["member"], walked["other"]
    past = "2026-03-10T12:00:00+00:00"  # after the walk was recorded, before its corrections
    period = {"from": "2025-01-01", "to": "2026-12-31", "format": "json"}
    return {
        "/health": [("/health", {})],
        "/feed": [("/feed", {"limit": 100}), ("/feed", {"limit": 100, "accept": CLOUDEVENTS})],
        "/schemas": [("/schemas", {})],
        "/schemas/{type}": [("/schemas/EntryCorrected", {}), ("/schemas/PersonalDataErased", {})],
        "/policies": [("/policies", {})],
        "/policies/{policy_id}": [("/policies/durham-one-point", {})],
        "/teams": [("/teams", {})],
        "/families": [("/families", {}), ("/families", {"sort": "registered", "status": "open"})],
        "/families/{family_id}": [(f"/families/{fid}", {}), (f"/families/{fid}", {"as_at": past}),
                                  (f"/families/{erased}", {})],
        "/families/{family_id}/events": [(f"/families/{fid}/events", {}), (f"/families/{erased}/events", {})],
        "/families/{family_id}/decisions/{event_id}": [(f"/families/{fid}/decisions/{walked['decision']}", {})],
        "/families/{family_id}/deadlines": [(f"/families/{fid}/deadlines", {}),
                                            (f"/families/{fid}/deadlines", {"as_at": past, "as_of": past}),
                                            (f"/families/{erased}/deadlines", {})],
        "/deadlines": [("/deadlines", {"episodes": "any"}), ("/deadlines", {"as_of": past, "episodes": "any"})],
        "/families/{family_id}/chronology": [
            (f"/families/{fid}/chronology", {}), (f"/families/{fid}/chronology", {"member": member}),
            (f"/families/{fid}/chronology", {"as_at": past}), (f"/families/{erased}/chronology", {})]
        + [(f"/families/{fid}/chronology", {"profile": p}) for p in ("court", "practice", "review")]
        + [(f"/families/{fid}/chronology", {"profile": "review", "as_at": past})],
        "/caseloads": [("/caseloads", {})],
        "/families/{family_id}/oversight": [(f"/families/{fid}/oversight", {}), (f"/families/{erased}/oversight", {})],
        "/oversight": [("/oversight", {"gaps": "true"}), ("/oversight", {"manager": "meg"}),
                       ("/oversight", {"auditor": "meg"})],
        "/people": [("/people", {"name": "Stone"})],
        "/exports/annex-a/list-2": [("/exports/annex-a/list-2", period),
                                    ("/exports/annex-a/list-2", {**period, "as_at": past})],
        "/exports/ssd/early-help-episodes": [("/exports/ssd/early-help-episodes", period),
                                             ("/exports/ssd/early-help-episodes", {**period, "as_at": past})],
        "/families/{family_id}/access-log": [(f"/families/{fid}/access-log", {})],
        "/members/{member_id}/subject-access": [(f"/members/{member}/subject-access", {})],
        "/legal-holds": [("/legal-holds", {}), ("/legal-holds", {"history": "true"})],
        "/retention/due": [("/retention/due", {"as_of": "2060-01-01"})],
        "/staff": [("/staff", {})],
        "/staff/{user_id}": [("/staff/meg", {})],
    }


ADMIN_READS = {"/staff", "/staff/{user_id}", "/legal-holds", "/retention/due"}
MANAGER_READS = {"/families/{family_id}/access-log"}


def test_every_instant_in_every_json_answer_is_utc_with_z_and_microseconds(client, walked):
    """Every GET the OpenAPI document lists, in the variants that shape its answer, and
    every write's answer: each instant ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, each date
    ``YYYY-MM-DD``; the moments a person reads as London time only beside the UTC ones."""
    paths = client.get("/openapi.json").json()["paths"]
    gets = {path for path, operations in paths.items() if "get" in operations
            and "application/json" in operations["get"]["responses"]["200"].get("content", {})}
    calls = requests(walked)
    assert gets == set(calls), f"routes not walked here: {sorted(gets - set(calls))}"
    wrong, seen = [], {}
    for path, asked in calls.items():
        headers = ADMIN if path in ADMIN_READS else SOUTH_MANAGER if path in MANAGER_READS else AUDITOR
        for url, params in asked:
            accept = {"Accept": params["accept"]} if "accept" in params else {}
            r = client.get(url, params={k: v for k, v in params.items() if k != "accept"},
                           headers={**headers, **accept})
            assert r.status_code == 200, (url, params, r.text)
            assert "json" in r.headers["content-type"], (url, params, r.headers["content-type"])
            answer = r.json()
            wrong += [f"GET {url} {params}: {w}" for w in misshapen(answer)]
            seen.setdefault(path, set()).update(kind for _, _, kind in moments(answer))
    for write, answer in walked["answers"].items():
        wrong += [f"{write}: {w}" for w in misshapen(answer)]
        seen.setdefault(write, set()).update(kind for _, _, kind in moments(answer))
    assert not wrong, "\n".join(wrong[:60])
    # the walk reached the instants it is about (not a pass for want of any)
    timed = {p for p, kinds in seen.items() if "instant" in kinds}
    untimed = {
        "/feed", "/families", "/families/{family_id}", "/families/{family_id}/events",
        "/families/{family_id}/decisions/{event_id}", "/families/{family_id}/deadlines", "/deadlines",
        "/families/{family_id}/chronology", "/families/{family_id}/oversight", "/oversight",
        "/exports/annex-a/list-2", "/exports/ssd/early-help-episodes", "/families/{family_id}/access-log",
        "/members/{member_id}/subject-access", "/legal-holds", "/staff", "/staff/{user_id}",
        "PUT /legal-holds/{family_id}", "DELETE /legal-holds/{family_id}", "PUT /staff/{user_id}",
    } - timed
    assert not untimed, sorted(untimed)
    dated = {p for p, kinds in seen.items() if "date" in kinds}
    assert {"/families/{family_id}", "/exports/annex-a/list-2", "/retention/due"} <= dated


def test_an_instant_stated_in_summer_time_is_answered_in_utc(client, walked):
    """A note stated at 10:15:00.5 British Summer Time is answered at 09:15:00.500000Z,
    everywhere it is shown; the input's offset is accepted as it always was."""
    fid = walked["fid"]
    events = client.get(f"/families/{fid}/events", headers=AUDITOR).json()["events"]
    note = next(e for e in events if e["type"] == "CaseNoteRecorded" and e["data"]["text"] == "phoned mum")
    assert note["occurred_at"] == "2026-07-01T09:15:00.500000Z"
    rows = client.get(f"/families/{fid}/chronology", headers=AUDITOR).json()["entries"]
    assert next(r for r in rows if r["event_id"] == note["event_id"])["occurred_at"] == "2026-07-01T09:15:00.500000Z"
    feed = client.get("/feed", params={"limit": 100}, headers=auth("service", "etl", None)).json()["events"]
    assert next(e for e in feed if e["event_id"] == note["event_id"])["occurred_at"] == "2026-07-01T09:15:00.500000Z"


def test_a_correction_of_when_is_answered_in_the_one_shape(client, walked):
    """The visit corrected to 16:30 the day before reads ``2026-01-08T16:30:00.000000Z``
    in the chronology (stored by the read model) and as time travel sees it."""
    fid = walked["fid"]
    for params in ({}, {"as_at": "2026-12-31T00:00:00Z"}):
        rows = client.get(f"/families/{fid}/chronology", params=params, headers=AUDITOR).json()["entries"]
        visit = next(r for r in rows if r["type"] == "ContactMade")
        assert visit["occurred_at"] == "2026-01-08T16:30:00.000000Z", params
        assert INSTANT.fullmatch(visit["corrections"][0]["recorded_at"])


def test_an_export_says_when_it_is_as_at_in_utc_and_in_london_time(client, walked):
    """A court chronology as at a summer moment: ``as_at`` in UTC, and beside it the London
    time a reader of the bundle expects (BST, +01:00)."""
    fid = walked["fid"]
    r = client.get(f"/families/{fid}/chronology", headers=AUDITOR,
                   params={"profile": "court", "as_at": "2026-07-01T12:00:00+01:00"})
    heading = r.json()["heading"]
    assert heading["as_at"] == "2026-07-01T11:00:00.000000Z"
    assert heading["as_at_local"] == "2026-07-01T12:00:00.000000+01:00"
    period = {"from": "2026-01-01", "to": "2026-12-31", "format": "json", "as_at": "2026-12-01T09:00:00Z"}
    for path in ("/exports/annex-a/list-2", "/exports/ssd/early-help-episodes"):
        found = client.get(path, params=period, headers=AUDITOR).json()
        assert found["as_at"] == "2026-12-01T09:00:00.000000Z"
        assert found["as_at_local"] == "2026-12-01T09:00:00.000000+00:00", "GMT in December"


def test_the_formatter_writes_one_shape_whatever_it_is_given():
    assert instant(datetime(2026, 3, 2, 9, 15, tzinfo=timezone.utc)) == "2026-03-02T09:15:00.000000Z"
    assert instant(datetime(2026, 7, 1, 10, 15, 0, 5, tzinfo=timezone(timedelta(hours=1)))) \
        == "2026-07-01T09:15:00.000005Z"
    assert instant("2026-07-01T10:15:00+01:00") == "2026-07-01T09:15:00.000000Z", "text stored before"
    assert instant("2026-07-01T09:15:00.000000Z") == "2026-07-01T09:15:00.000000Z"
    assert instant(None) is None
    assert local_instant(datetime(2026, 7, 1, 9, 15, tzinfo=timezone.utc)) == "2026-07-01T10:15:00.000000+01:00"
    with pytest.raises(ValueError, match="no offset"):
        instant(datetime(2026, 7, 1, 9, 15))


def test_decisions_stated_in_two_offsets_are_ordered_by_time_in_the_stored_text(client):
    """The oversight footprint is ordered by its stored text (SQL ``ORDER BY occurred_at``):
    a decision stated at 10:30 BST (09:30 UTC) comes before one stated at 09:45 UTC,
    whichever was recorded first."""
    fid = register(client)["family_id"]
    for body in ({"type": "ReferralReceived", "route": "self", "reason": "help", "occurred_at": "2026-07-01T08:00:00Z"},
                 {"type": "ManagementOversightRecorded", "text": "second", "occurred_at": "2026-07-01T09:45:00Z"},
                 {"type": "ManagementOversightRecorded", "text": "first",
                  "occurred_at": "2026-07-01T10:30:00+01:00"}):
        assert command(client, fid, body, MANAGER).status_code == 201
    decisions = client.get(f"/families/{fid}/oversight", headers=AUDITOR).json()["decisions"]
    shown = [d["occurred_at"] for d in decisions if d["occurred_at"].startswith("2026-07-01T09")]
    assert shown == ["2026-07-01T09:30:00.000000Z", "2026-07-01T09:45:00.000000Z"]


def test_read_models_made_before_the_one_shape_are_made_afresh_in_it(client, ledger, walked):
    """A deployment upgraded from the shape ``...+00:00``: the read models whose tables were
    made for the versions before it are made afresh and filled from the log on start, so
    no table holds two shapes (their SQL compares instants as text); the staff directory,
    which is not rebuilt, gives its older rows in the one shape when read."""
    projector = client.app.state.projector
    store = projector.store
    models = {"chronology": ("chronology", "occurred_at", 4), "oversight": ("oversight_decisions", "occurred_at", 4),
              "deadlines": ("deadline_clocks", "started_at", 2), "caseloads": ("caseload_families", "registered_at", 3)}
    before = projector.dump(list(models))
    tables = {**store.tables([table for table, _, _ in models.values()]),
              "projection_formats": store.table("projection_formats"), "staff": ledger.staff.db.table("staff")}
    with store.transaction(tables) as tx:
        for model, (table, column, old) in models.items():
            tx.run(f"UPDATE {{{table}}} SET {column} = REPLACE({column}, 'Z', '+00:00')")
            store.set_format(tx, model, old)
        tx.run("UPDATE {staff} SET updated_at = '2026-11-20T08:00:00.250000+00:00' WHERE user_id = 'meg'")
    assert projector.dump(list(models)) != before
    starting = Projector(ledger)
    starting.catch_up()
    assert starting.dump(list(models)) == before
    ledger.staff.forget()
    assert client.get("/staff/meg", headers=ADMIN).json()["updated_at"] == "2026-11-20T08:00:00.250000Z"
