"""The feed's published JSON Schemas (issue 23, item 1; ADR 0034): generated from the event
classes, served at ``/schemas``, every event of the demo data set valid against them, and
held to the snapshot in tests/schemas/ so that a change which breaks a published schema
fails here unless the type's version was raised (with an upcaster that keeps its stored
events readable, shown working below).

Refreshing the snapshot deliberately: ``ledger schemas write`` (docs/testing.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator, FormatChecker

from aggregates.events import VOCABULARY, FamilyEvent
from api.app import create_app
from cli.schemas import read_folder
from demo import generate
from ledger.application import Ledger, event_view
from ledger.serialisation import to_json_value
from queries.schemas import ENVELOPE, compare, event_schema, published
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, auth, command, open_ledger, register, settings_for

# Storage-neutral (docs/testing.md): the schemas are made from the classes and the feed is
# read over HTTP; the upcaster test stores bytes and reads them back, on every database.
pytestmark = pytest.mark.one_database

SNAPSHOT = Path(__file__).resolve().parent / "schemas"
UNTIL = datetime(2026, 11, 24, tzinfo=timezone.utc)
SERVICE = auth("service", "svc-projections", None)
ADMIN = auth("admin", "adam", None)
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _moment(value: object) -> bool:
    """An RFC 3339 moment with its offset (jsonschema checks ``date-time`` only with an
    extra package installed: checked here with the standard library)."""
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


# --- every event of the demo data set, read through the feed ----------------------------------


@pytest.fixture(scope="module")
def demo(database: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The demo data set (twenty families, every pack), a family of our own given the four
    types the demo never records, and two closed demo families erased."""
    settings = settings_for(database, tmp_path_factory.mktemp("schemas"), request, pool_size=4)
    ledger = open_ledger(settings)
    generate(settings, families=20, seed=7, until=UNTIL)
    with TestClient(create_app(ledger), raise_server_exceptions=False) as client:
        _the_rest_of_the_vocabulary(client)
        closed = [f for f in ledger.family_ids()
                  if ledger.family(f).current_episode and ledger.family(f).current_episode["status"] != "open"]
        for family_id in closed[:2]:
            r = client.post(f"/families/{family_id}/erasure", headers=ADMIN,
                            json={"reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"})
            assert r.status_code == 201, r.text
        yield client, ledger, closed[:2]
    ledger.close()


def _the_rest_of_the_vocabulary(client: TestClient) -> None:
    """Consent refused and withdrawn, an assessment returned, an episode reopened."""
    family = register(client)
    fid, cara = family["family_id"], family["members"][2]["member_id"]
    for headers, body in [
        (PRACTITIONER, {"type": "ReferralReceived", "route": "professional", "reason": "school worried"}),
        (PRACTITIONER, {"type": "ConsentRefused", "given_by": cara, "scope": ["information_sharing"],
                        "reason": "wants to talk first"}),
        (PRACTITIONER, {"type": "ConsentGiven", "given_by": cara, "scope": ["support", "information_sharing"]}),
        (PRACTITIONER, {"type": "ConsentWithdrawn", "given_by": cara, "scope": ["information_sharing"],
                        "reason": "changed her mind"}),
        (PRACTITIONER, {"type": "AssessmentStarted", "assessment_id": str(uuid4())}),
    ]:
        r = command(client, fid, body, headers)
        assert r.status_code == 201, (body["type"], r.text)
    assessment = next(e["data"]["assessment_id"] for e in _events(client, fid) if e["type"] == "AssessmentStarted")
    for headers, body in [
        (PRACTITIONER, {"type": "AssessmentSubmitted", "assessment_id": assessment}),
        (MANAGER, {"type": "AssessmentReturned", "assessment_id": assessment, "reason": "more on Ava's school"}),
        (PRACTITIONER, {"type": "ClosureProposed", "reason": "outcomes_met"}),
        (MANAGER, {"type": "ClosureAuthorised"}),
        (PRACTITIONER, {"type": "DocumentRecorded", "document": "family-survey"}),
        (PRACTITIONER, {"type": "EpisodeClosed", "reason": "outcomes_met"}),
        (PRACTITIONER, {"type": "EpisodeReopened", "reason": "a new worry"}),
    ]:
        r = command(client, fid, body, headers)
        assert r.status_code == 201, (body["type"], r.text)


def _events(client: TestClient, family_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/families/{family_id}/events", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return r.json()["events"]  # type: ignore[no-any-return]


def whole_feed(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        r = client.get("/feed", params={"after": after, "limit": 1000}, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        events += page["events"]
        if not page["more"]:
            return events
        after = page["next"]


@pytest.mark.parametrize("reader", ["auditor", "service"])
def test_every_event_of_the_demo_data_set_is_valid_against_its_published_schema(demo, reader):
    """Every event the feed gives (as an auditor reads it, and as a service does), erased
    families' included, against the envelope's schema and its type's, served at the URLs
    the index names; its ``data`` has exactly the fields its schema names, and its
    ``schema_version`` is the one published."""
    client, ledger, erased = demo
    headers = AUDITOR if reader == "auditor" else SERVICE
    index = client.get("/schemas", headers=headers).json()
    served = {link["type"]: client.get(link["url"], headers=headers).json() for link in index["types"]}
    envelope = validator(client.get(index["envelope"], headers=headers).json())
    by_type = {name: validator(schema) for name, schema in served.items()}
    versions = {link["type"]: link["schema_version"] for link in index["types"]}

    events = whole_feed(client, headers)
    assert len(events) == ledger.recorder.max_notification_id()
    problems = []
    for event in events:
        where = f"{event['type']} at {event['position']}"
        problems += [f"{where} (envelope): {e.message}" for e in envelope.iter_errors(event)]
        problems += [f"{where}: data.{'.'.join(map(str, e.path))}: {e.message}"
                     for e in by_type[event["type"]].iter_errors(event["data"])]
        if set(event["data"]) != set(served[event["type"]]["properties"]):
            problems.append(f"{where}: data has {sorted(event['data'])}, the schema names "
                            f"{sorted(served[event['type']]['properties'])}")
        if event["schema_version"] != versions[event["type"]]:
            problems.append(f"{where}: schema_version {event['schema_version']}, published {versions[event['type']]}")
    assert not problems, "\n".join(problems[:30])
    assert {e["type"] for e in events} == set(VOCABULARY), "every type of the vocabulary is in the feed"
    erased_ids = {str(f) for f in erased}
    assert len(erased_ids) == 2
    assert {e["type"] for e in events if e["family_id"] in erased_ids} >= {"FamilyRegistered", "PersonalDataErased"}
    if reader == "auditor":  # an erased family's names read as erased, and are still valid
        registered = [e for e in events if e["family_id"] in erased_ids and e["type"] == "FamilyRegistered"]
        assert {m["given_name"] for e in registered for m in e["data"]["members"]} == {"[erased]"}


def test_an_erased_childs_date_of_birth_reads_as_null_which_its_schema_allows():
    """Erasure blanks a date to null: a personal date the class requires is nullable in
    its published schema, and marked personal."""
    born = event_schema(VOCABULARY["ChildBorn"])
    assert born["properties"]["date_of_birth"]["x-personal"] is True
    assert "date_of_birth" in born["required"]
    check = validator(born)
    member = str(uuid4())
    assert check.is_valid({"member_id": member, "date_of_birth": None, "given_name": "[erased]", "gender": None})
    assert not check.is_valid({"member_id": member, "date_of_birth": "4 May 2016"})
    assert "x-personal" not in born["properties"]["member_id"]


# --- over HTTP ---------------------------------------------------------------------------------




def test_the_index_lists_every_type_with_its_version_and_url_and_the_envelope(client):
    r = client.get("/schemas", headers=SERVICE)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    index = r.json()
    assert index["dialect"] == "https://json-schema.org/draft/2020-12/schema"
    assert index["envelope"] == "/schemas/envelope"
    assert [(t["type"], t["schema_version"], t["url"]) for t in index["types"]] == [
        (name, cls.class_version, f"/schemas/{name}") for name, cls in VOCABULARY.items()]


@pytest.mark.parametrize("name", [ENVELOPE, "FamilyRegistered", "ContactMade", "PersonalDataErased"])
def test_a_schema_is_served_as_schema_json_with_its_url_as_its_id(client, name):
    r = client.get(f"/schemas/{name}", headers=auth("practitioner", "pat", "north"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/schema+json"
    schema = r.json()
    assert schema["$id"] == f"/schemas/{name}" and schema["$schema"].endswith("/draft/2020-12/schema")
    Draft202012Validator.check_schema(schema)
    if name != ENVELOPE:
        assert schema["x-schema-version"] == VOCABULARY[name].class_version
        assert schema == json.loads(json.dumps(event_schema(VOCABULARY[name])))


def test_contact_made_says_which_fields_are_required_personal_and_described(client):
    made = client.get("/schemas/ContactMade", headers=SERVICE).json()
    assert set(made["properties"]) == {f.name for f in fields(VOCABULARY["ContactMade"])} - {
        "originator_id", "originator_version", "timestamp", "event_id", "occurred_at", "actor", "policy",
        "policy_version", "about", "context"}
    assert made["required"] == ["method", "party", "members_present", "children_seen", "children_seen_alone"]
    assert made["properties"]["location"]["x-personal"] is True and "x-personal" not in made["properties"]["joint"]
    assert made["properties"]["method"]["enum"][:3] == ["phone", "text", "letter"]
    assert made["properties"]["joint"]["description"].startswith("A joint visit with another professional")
    assert made["description"].startswith("Contact or a visit")


def test_an_unknown_type_is_404_problem_json_and_a_schema_needs_a_token(client):
    r = client.get("/schemas/ChildAdopted", headers=SERVICE)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "ChildAdopted" in r.json()["detail"] and "/schemas" in r.json()["detail"]
    assert client.get("/schemas/ContactMade").status_code == 401
    assert client.get("/schemas").status_code == 401


def test_the_openapi_document_points_from_the_feed_to_the_schemas(client):
    document = client.get("/openapi.json").json()
    event = document["components"]["schemas"]["FeedEvent"]
    assert "/schemas/{type}" in event["properties"]["data"]["description"]
    assert "schema_version" in event["required"]
    assert "/schemas/{type}" in event["properties"]["schema_version"]["description"]
    assert {"/schemas", "/schemas/{type}"} <= set(document["paths"])
    served = document["paths"]["/schemas/{type}"]["get"]["responses"]["200"]["content"]
    assert "application/schema+json" in served


# --- the published schemas against the snapshot -----------------------------------------------


def test_no_published_schema_is_broken_without_its_version_raised():
    """A change to an event class that removes or renames a field, changes a field's type
    or makes an optional field required fails here, naming the type and what to do."""
    breaking = [str(c) for c in compare(read_folder(SNAPSHOT), published()) if c.breaking]
    assert not breaking, "\n".join(breaking)


def test_the_snapshot_is_up_to_date():
    """A compatible change (an optional field added, a version raised with its upcaster)
    is written to the snapshot deliberately, so that the next change is compared with it."""
    stale = [str(c) for c in compare(read_folder(SNAPSHOT), published()) if not c.breaking]
    assert not stale, "\n".join(stale) + "\nrefresh the snapshot with `ledger schemas write` (docs/testing.md)"


def test_every_raised_version_has_an_upcaster_for_each_step():
    missing = [f"{name}.upcast_v{v}_v{v + 1}" for name, cls in VOCABULARY.items()
               for v in range(1, cls.class_version) if not callable(getattr(cls, f"upcast_v{v}_v{v + 1}", None))]
    assert not missing, f"raised without an upcaster (ADR 0034): {missing}"


def test_ledger_schemas_write_refreshes_a_snapshot_and_refuses_a_breaking_change(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app as cli

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["schemas", "write", "--to", str(tmp_path), *args])

    assert run().exit_code == 0
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(published())
    checked = run("--check")
    assert checked.exit_code == 0 and "up to date" in checked.output
    # As if the class had since lost a required field the published schema has.
    held = tmp_path / "ContactMade.json"
    schema = json.loads(held.read_text(encoding="utf-8"))
    schema["properties"]["visited_by"] = {"type": "string"}
    schema["required"].append("visited_by")
    held.write_text(json.dumps(schema), encoding="utf-8")
    refused = run()
    assert refused.exit_code == 1
    assert "ContactMade: removes visited_by: bump schema_version of ContactMade" in refused.output
    assert "visited_by" in held.read_text(encoding="utf-8"), "nothing written"
    assert run("--check").exit_code == 1
    assert run("--force").exit_code == 0 and "visited_by" not in held.read_text(encoding="utf-8")


# What counts as breaking, shown on a type of the tests' own at its first version and
# changed one way at a time (each class a version of "Visit").


class Visit(FamilyEvent):
    category = "contact"
    personal = ("note",)
    place: str
    method: Literal["phone", "visit"]
    minutes: int | None = None
    note: str = ""


class VisitWithoutMinutes(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["phone", "visit"]
    note: str = ""


class VisitWithMinutesRenamed(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["phone", "visit"]
    duration: int | None = None
    note: str = ""


class VisitWithMinutesAsText(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["phone", "visit"]
    minutes: str | None = None
    note: str = ""


class VisitWithNoteRequired(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["phone", "visit"]
    note: str
    minutes: int | None = None


class VisitWithFewerMethods(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["visit"]
    minutes: int | None = None
    note: str = ""


class VisitWithMoreMethods(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["phone", "visit", "video"]
    minutes: int | None = None
    note: str = ""


class VisitWithAnOptionalField(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["phone", "visit"]
    minutes: int | None = None
    note: str = ""
    seen_alone: bool = False


class VisitWithARequiredField(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["phone", "visit"]
    seen_alone: bool
    minutes: int | None = None
    note: str = ""


class VisitWithANewListField(FamilyEvent):
    personal = ("note",)
    place: str
    method: Literal["phone", "visit"]
    minutes: int | None = None
    note: str = ""
    attendees: list[str] = field(default_factory=list)


class VisitAtVersion2(VisitWithoutMinutes):
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.pop("minutes", None)


def changes_from_visit(cls: type[FamilyEvent]) -> list[tuple[bool, str]]:
    return [(c.breaking, c.what) for c in compare({"Visit": event_schema(Visit)}, {"Visit": event_schema(cls)})]


@pytest.mark.parametrize("changed, says", [
    (VisitWithoutMinutes, "removes minutes"),
    (VisitWithMinutesRenamed, "removes minutes"),
    (VisitWithMinutesAsText, "changes the type of minutes"),
    (VisitWithNoteRequired, "makes note required"),
    (VisitWithFewerMethods, "changes the type of method"),
    (VisitWithARequiredField, "adds seen_alone as a required field"),
    (VisitWithANewListField, "adds attendees without a plain default"),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_a_breaking_change_fails_saying_to_bump_the_version_and_add_an_upcaster(changed, says):
    [(breaking, what)] = changes_from_visit(changed)
    assert breaking, what
    assert says in what
    assert "bump schema_version of Visit (class_version = 2) and add an upcaster (upcast_v1_v2)" in what


@pytest.mark.parametrize("changed", [VisitWithAnOptionalField, VisitWithMoreMethods, VisitAtVersion2],
                         ids=lambda v: v.__name__)
def test_an_optional_field_a_new_code_or_a_raised_version_breaks_nothing_but_needs_the_snapshot_refreshed(changed):
    [(breaking, what)] = changes_from_visit(changed)
    assert not breaking and "the snapshot is out of date" in what


def test_descriptions_a_lowered_version_a_type_removed_and_the_envelope():
    visit = event_schema(Visit)
    described = copy.deepcopy(visit)
    described["properties"]["place"]["description"] = "Where the visit was."
    assert not compare({"Visit": visit}, {"Visit": described})[0].breaking
    assert compare({"Visit": visit}, {"Visit": visit}) == []
    lowered = compare({"Visit": event_schema(VisitAtVersion2)}, {"Visit": visit})
    assert [(c.breaking, c.what) for c in lowered] == [(True, "schema_version went down from 2 to 1")]
    [gone] = compare({"Visit": visit}, {})
    assert gone.breaking and "removed" in gone.what
    envelope = published()[ENVELOPE]
    narrowed = copy.deepcopy(envelope)
    del narrowed["properties"]["position"]
    [change] = compare({ENVELOPE: envelope}, {ENVELOPE: narrowed})
    assert change.breaking and "removes position" in change.what and "every consumer reads the envelope" in change.what
    told = copy.deepcopy(envelope)  # who recorded it: a new optional claim beside the others
    told["$defs"]["Actor"]["properties"]["email"] = {"type": "string"}
    [change] = compare({ENVELOPE: envelope}, {ENVELOPE: told})
    assert not change.breaking


# --- an upcaster keeps old events readable (the library's own upcasting) ------------------------


class HomeVisitV1(FamilyEvent):
    """``HomeVisit`` as first published: how long the visit lasted, in ``minutes``."""

    category = "contact"
    personal = ("note",)
    note: str
    minutes: int


class HomeVisit(FamilyEvent):
    """Version 2: ``minutes`` renamed ``duration_minutes``, and a required ``place``."""

    category = "contact"
    personal = ("note",)
    class_version = 2
    note: str
    duration_minutes: int
    place: Literal["home", "office"]

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["duration_minutes"] = state.pop("minutes")
        state["place"] = "home"  # every visit before version 2 was a home visit


@pytest.mark.storage
def test_an_event_stored_at_version_1_is_read_back_at_version_2_through_its_upcaster(client, ledger: Ledger):
    """A v1 event's stored bytes (its personal ``note`` sealed with the family's key) read
    by the v2 class: the library's mapper runs ``upcast_v1_v2``, the event reads at
    schema_version 2, valid against the v2 schema, its note unsealed. A v2 event is
    stored with its version and read back as it was."""
    family = UUID(register(client)["family_id"])
    envelope = {"timestamp": datetime(2026, 11, 24, 12, tzinfo=timezone.utc),
                "occurred_at": datetime(2026, 11, 23, 10, tzinfo=timezone.utc),
                "actor": {"user_id": "pat", "role": "practitioner", "team": "north"},
                "policy": "durham-one-point", "policy_version": "1", "about": [], "context": {}}
    old = HomeVisitV1(originator_id=family, originator_version=2, event_id=uuid4(), note="Ava showed her drawings",
                      minutes=45, **envelope)
    stored = ledger.mapper.to_stored_event(old)
    assert b"Ava showed" not in stored.state and b"class_version" not in stored.state
    ledger.recorder.insert_events([StoredEvent(stored.originator_id, stored.originator_version,
                                               get_topic(HomeVisit), stored.state)])
    new = HomeVisit(originator_id=family, originator_version=3, event_id=uuid4(), note="Ben asleep",
                    duration_minutes=20, place="office", **envelope)
    ledger.recorder.insert_events([ledger.mapper.to_stored_event(new)])

    read = [ledger.mapper.to_domain_event(s) for s in ledger.recorder.select_events(family)][1:]
    assert [type(e) for e in read] == [HomeVisit, HomeVisit]
    views = [to_json_value(event_view(e)) for e in read]
    assert [(v["schema_version"], v["data"]) for v in views] == [
        (2, {"note": "Ava showed her drawings", "duration_minutes": 45, "place": "home"}),
        (2, {"note": "Ben asleep", "duration_minutes": 20, "place": "office"}),
    ]
    check = validator(event_schema(HomeVisit))
    assert all(check.is_valid(v["data"]) for v in views)
    assert not validator(event_schema(HomeVisitV1)).is_valid(views[0]["data"]), "v1's schema is not v2's"
