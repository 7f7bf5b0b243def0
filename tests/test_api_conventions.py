"""The API's conventions (ADR 0025): a mistyped query parameter is refused rather than
ignored, every read answers what its response model documents, and a command has one
authorisation point (its family loaded once, its Idempotency-Key looked up only on a
retry), and a read that cannot be written to the access log is not answered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from api.app import create_app, served_routes
from demo import generate
from ledger.application import Ledger
from ledger.settings import Settings
from ledger.storage import LedgerRepository
from tests.conftest import AUDITOR, MANAGER, PRACTITIONER, SECRET, auth, command, open_ledger, register

# --- an unknown query parameter is refused ----------------------------------------------------


def _refused_naming(r: Any, unknown: str, accepted: list[str]) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422 and problem["title"] == "Invalid request"
    assert f"query.{unknown}: unknown parameter" in problem["detail"]
    assert all(name in problem["detail"] for name in accepted), problem["detail"]
    assert problem["accepted"] == accepted or set(accepted) <= set(problem["accepted"])
    error = {"field": f"query.{unknown}", "message": "unknown parameter", "type": "unknown_parameter"}
    assert error in problem["errors"]
    return problem  # type: ignore[no-any-return]


def test_a_mistyped_filter_is_refused_naming_it_and_the_accepted_ones_not_answered_with_everything(client):
    """``states=overdue`` meant ``status=overdue``: answering every clock in every state
    would look like an answer. 422, naming ``states`` and what /deadlines accepts."""
    fid = register(client)["family_id"]
    command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "help",
                          "occurred_at": "2026-10-01T09:00:00+00:00"}, MANAGER)
    r = client.get("/deadlines", params={"states": "overdue"}, headers=AUDITOR)
    accepted = ["team", "worker", "status", "due_before", "as_of", "episodes", "min_position"]
    problem = _refused_naming(r, "states", accepted)
    assert problem["accepted"] == accepted
    meant = client.get("/deadlines", params={"status": "overdue"}, headers=AUDITOR)
    assert meant.status_code == 200 and {row["state"] for row in meant.json()["deadlines"]} <= {"overdue"}


@pytest.mark.parametrize("method, path, params, accepted", [
    ("GET", "/families/{fid}/chronology", {"signifcant": "true"},
     ["member", "format", "significant", "profile", "as_at", "min_position"]),
    ("GET", "/families/{fid}", {"asat": "2026-01-01T00:00:00Z"}, ["as_at"]),
    ("GET", "/families/{fid}/events", {"limit": "5"}, []),
    ("GET", "/exports/annex-a/list-2", {"from": "2026-01-01", "to": "2026-12-31", "until": "2026-12-31"},
     ["from", "to", "format", "as_at", "min_position"]),
    ("GET", "/oversight", {"gaps": "true", "teams": "north"}, ["manager", "gaps", "team", "auditor", "min_position"]),
    ("GET", "/health", {"verbose": "1"}, []),
    ("POST", "/families/{fid}/commands", {"dry_run": "1"}, []),
], ids=lambda v: v if isinstance(v, str) and v.startswith("/") else None)
def test_every_route_refuses_a_parameter_it_does_not_know(client, ledger, method, path, params, accepted):
    fid = register(client)["family_id"]
    before = ledger.recorder.max_notification_id()
    r = client.request(method, path.format(fid=fid), params=params, headers=MANAGER if method == "POST" else AUDITOR,
                       json={"type": "CaseNoteRecorded", "text": "seen at home"} if method == "POST" else None)
    unknown = next(k for k in params if k not in accepted)
    problem = _refused_naming(r, unknown, accepted)
    if not accepted:
        assert "takes no query parameters" in problem["detail"]
    assert ledger.recorder.max_notification_id() == before, "a refused request records nothing"


def test_the_token_is_checked_before_the_parameters(client):
    assert client.get("/deadlines", params={"states": "overdue"}).status_code == 401
    r = client.get("/deadlines", params={"states": "overdue"}, headers=auth("admin", "ann", None))
    assert r.status_code == 403, "who may ask comes first, as for any other malformed request"


def test_a_parameter_repeated_or_empty_is_not_unknown(client):
    r = client.get("/deadlines", params=[("status", "overdue"), ("status", "open")], headers=AUDITOR)
    assert r.status_code == 200, r.text


# --- one authorisation point for a command ----------------------------------------------------


@pytest.fixture
def counted(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the family is loaded and the Idempotency-Key looked up."""
    counts = {"loads": 0, "lookups": 0}
    get, find = LedgerRepository.get, ledger.recorder.find_idempotency  # type: ignore[attr-defined]

    def load(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["loads"] += 1
        return get(self, *args, **kwargs)

    def lookup(*args: Any, **kwargs: Any) -> Any:
        counts["lookups"] += 1
        return find(*args, **kwargs)

    monkeypatch.setattr(LedgerRepository, "get", load)
    monkeypatch.setattr(ledger.recorder, "find_idempotency", lookup)
    return counts


def test_a_command_loads_its_family_once_and_looks_its_key_up_only_on_a_retry(client, counted):
    """Before ADR 0025: twice and twice (the access check loaded the family and checked
    its team, then the ledger did both again, with a second look-up of the key). Since
    ADR 0040 a new key is not looked up at all (its row is inserted with the event); a
    retry collides on it and looks it up once."""
    fid = register(client)["family_id"]
    for key, body in (("k1", {"type": "ReferralReceived", "route": "self", "reason": "help"}),
                      ("k2", {"type": "CaseNoteRecorded", "text": "seen at home"})):
        counted.update(loads=0, lookups=0)
        r = command(client, fid, body, MANAGER, **{"Idempotency-Key": key})
        assert r.status_code == 201, r.text
        assert counted == {"loads": 1, "lookups": 0}, (body["type"], counted)
    counted.update(loads=0, lookups=0)
    again = command(client, fid, {"type": "CaseNoteRecorded", "text": "seen at home"}, MANAGER,
                    **{"Idempotency-Key": "k2"})
    assert again.status_code == 201 and again.json() == r.json() and counted["lookups"] == 1, counted
    counted.update(loads=0, lookups=0)
    assert command(client, fid, {"type": "CaseNoteRecorded", "text": "x"}, MANAGER).status_code == 201
    assert counted == {"loads": 1, "lookups": 0}, "no key, no look-up"


def test_a_command_alone_writes_its_read_models_in_its_own_transaction(client, monkeypatch):
    """ADR 0040: no catch-up after the commit; the read models are at the command's
    position when it is answered, and its chronology entry is there."""
    from projections.projector import Projector

    caught_up: list[int] = []
    catch_up = Projector.catch_up
    monkeypatch.setattr(Projector, "catch_up", lambda self, **kw: caught_up.append(1) or catch_up(self, **kw))
    fid = register(client)["family_id"]
    before = len(client.get(f"/families/{fid}/chronology", headers=PRACTITIONER).json()["entries"])
    r = command(client, fid, {"type": "ReferralReceived", "route": "self", "reason": "help"}, PRACTITIONER)
    assert r.status_code == 201, r.text
    assert caught_up == []
    projector = client.app.state.projector  # type: ignore[attr-defined]
    assert set(projector.positions().values()) == {r.json()["position"]}
    assert len(client.get(f"/families/{fid}/chronology", headers=PRACTITIONER).json()["entries"]) == before + 1


def test_the_team_is_checked_once_where_the_family_is_loaded(client, counted):
    """Another team's write is refused by the aggregate's own rule, as it loads the family
    once; a transfer's receiving team may accept it and nothing else."""
    fid = register(client)["family_id"]
    counted.update(loads=0, lookups=0)
    r = command(client, fid, {"type": "CaseNoteRecorded", "text": "x"}, auth("manager", "sol", "south"))
    assert r.status_code == 403 and "held by team north" in r.json()["detail"]
    assert counted["loads"] == 1
    r = command(client, str(UUID(int=1)), {"type": "CaseNoteRecorded", "text": "x"}, PRACTITIONER)
    assert r.status_code == 404, "no such family"


# --- every read answers what it documents -----------------------------------------------------


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("conventions") / "data", jwt_secret=SECRET)
    generate(settings, families=8, seed=1, until=datetime(2026, 11, 24, tzinfo=timezone.utc))
    ledger = open_ledger(settings)
    try:
        with TestClient(create_app(ledger), raise_server_exceptions=False) as c:
            yield c
    finally:
        ledger.close()


def _requests(c: TestClient) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """route path -> requests that exercise its answer's shapes (as an auditor)."""
    ledger = c.app.state.ledger  # type: ignore[attr-defined]
    families = ledger.family_ids()
    fid = next(f for f in families if len(ledger.family(f).episodes) > 1 or ledger.family(f).episodes)
    events = ledger.family_events(fid)
    decision = next(e.event_id for e in events if e.type in ("TriageDecided", "ManagementOversightRecorded"))
    member = next(iter(ledger.family(fid).members.values()))["member_id"]
    worker = next(e.actor["user_id"] for e in events if e.actor.get("role") in ("manager", "supervisor"))
    c.put(f"/legal-holds/{fid}", json={"reason": "litigation hold"}, headers=auth("admin", "ann", None))
    past = "2026-06-01T00:00:00+00:00"
    return {
        "/health": [("/health", {})],
        "/feed": [("/feed", {"limit": 50})],
        "/policies": [("/policies", {})],
        "/policies/{policy_id}": [(f"/policies/{p}", {}) for p in ledger.packs],
        "/teams": [("/teams", {})],
        "/schemas": [("/schemas", {})],
        "/schemas/{type}": [("/schemas/envelope", {}), ("/schemas/ContactMade", {})],
        "/families/{family_id}": [(f"/families/{f}", {}) for f in families] + [(f"/families/{fid}", {"as_at": past})],
        "/families/{family_id}/events": [(f"/families/{f}/events", {}) for f in families],
        "/families/{family_id}/decisions/{event_id}": [(f"/families/{fid}/decisions/{decision}", {})],
        "/families/{family_id}/deadlines": [(f"/families/{f}/deadlines", {}) for f in families]
        + [(f"/families/{fid}/deadlines", {"as_at": past, "as_of": past})],
        "/deadlines": [("/deadlines", {}), ("/deadlines", {"as_of": past})],
        "/families/{family_id}/chronology": [(f"/families/{f}/chronology", {}) for f in families]
        + [(f"/families/{fid}/chronology", {"member": str(member)}), (f"/families/{fid}/chronology", {"as_at": past}),
           (f"/families/{fid}/chronology", {"profile": "court"})],
        "/caseloads": [("/caseloads", {})],
        "/families/{family_id}/oversight": [(f"/families/{f}/oversight", {}) for f in families],
        "/oversight": [("/oversight", {"gaps": "true"}), ("/oversight", {"manager": worker}),
                       ("/oversight", {"auditor": worker})],
        "/people": [("/people", {"name": "a"})],
        "/families": [("/families", {}), ("/families", {"name": "a", "status": "closed", "per_page": 100}),
                      ("/families", {"id": str(fid), "sort": "team"})],
        "/exports/annex-a/list-2": [("/exports/annex-a/list-2", {"from": "2025-01-01", "to": "2026-12-31",
                                                                  "format": "json"})],
        "/exports/ssd/early-help-episodes": [("/exports/ssd/early-help-episodes", {
            "from": "2025-01-01", "to": "2026-12-31", "format": "json"})],
        "/families/{family_id}/access-log": [(f"/families/{fid}/access-log", {})],
        "/members/{member_id}/subject-access": [(f"/members/{member}/subject-access", {})],
        "/legal-holds": [("/legal-holds", {}), ("/legal-holds", {"history": "true"})],
        "/retention/due": [("/retention/due", {"as_of": "2060-01-01"})],
        "/staff": [("/staff", {})],
        "/staff/{user_id}": [(f"/staff/{worker}", {})],
    }


ADMIN_READS = {"/staff", "/staff/{user_id}"}
"""Reads only an admin makes (the staff directory); every other read is made as an auditor."""


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def undocumented(value: Any, schema: dict[str, Any], components: dict[str, Any], at: str = "") -> list[str]:
    """Keys the answer has that its schema does not name, and keys it names as required
    that the answer lacks (the types are pydantic's to check)."""
    schema = _resolve(schema, components)
    if "anyOf" in schema:
        return min((undocumented(value, s, components, at) for s in schema["anyOf"]), key=len)
    if isinstance(value, dict) and "properties" in schema:
        found = [f"{at}.{k}: not documented" for k in value if k not in schema["properties"]]
        found += [f"{at}.{k}: documented as required, missing" for k in schema.get("required", []) if k not in value]
        for key, sub in schema["properties"].items():
            if key in value:
                found += undocumented(value[key], sub, components, f"{at}.{key}")
        return found
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        return [p for k, v in value.items() for p in undocumented(v, schema["additionalProperties"], components,
                                                                  f"{at}.{k}")]
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [p for i, v in enumerate(value) for p in undocumented(v, schema["items"], components, f"{at}[{i}]")]
    return []


def test_every_read_answers_what_its_response_model_documents(demo_client):
    """Each GET's JSON answer, on the demo families (every council's story), validates
    against the response model the route declares, and has no key its schema leaves out:
    the OpenAPI document (and a client generated from it) says what the API answers."""
    c = demo_client
    document = c.get("/openapi.json").json()
    components = document["components"]["schemas"]
    routes = {r.path: r for r in served_routes(c.app) if isinstance(r, APIRoute) and "GET" in r.methods}
    calls = _requests(c)
    assert set(calls) == set(routes), f"routes without a request here: {sorted(set(routes) - set(calls))}"
    problems = []
    for path, requests in calls.items():
        adapter = TypeAdapter(routes[path].response_model)
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        for url, params in requests:
            r = c.get(url, params=params, headers=auth("admin", "ann", None) if path in ADMIN_READS else AUDITOR)
            assert r.status_code == 200, (url, params, r.text)
            try:
                adapter.validate_json(r.content)
            except Exception as e:  # noqa: BLE001 - every failure listed at the end
                problems.append(f"{url} {params}: {e}")
            problems += [f"{url} {params}: {p}" for p in undocumented(r.json(), schema, components)]
    assert not problems, "\n".join(problems[:40])


# --- a read that cannot be logged is not answered ------------------------------------------------


def test_a_read_that_cannot_be_written_to_the_access_log_is_not_answered(client, ledger, monkeypatch):
    family = register(client)["family_id"]
    assert client.get(f"/families/{family}", headers=PRACTITIONER).status_code == 200

    def broken(reads: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ledger.access_log, "record_all", broken)
    r = client.get(f"/families/{family}", headers=PRACTITIONER)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "2"
    assert "access log" in r.json()["detail"]
    assert "Stone" not in r.text  # nothing of the family's record is sent
    # A command is not a read: it is answered (its own record is the events').
    assert command(client, family, {"type": "ReferralReceived", "route": "self", "reason": "load"}).status_code == 201
