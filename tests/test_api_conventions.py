"""The API's conventions (ADR 0025): every read answers what its response model documents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from api.app import create_app, served_routes
from demo import generate
from ledger.settings import Settings
from tests.conftest import AUDITOR, SECRET, auth, open_ledger

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
        "/exports/annex-a/list-2": [("/exports/annex-a/list-2", {"from": "2025-01-01", "to": "2026-12-31",
                                                                  "format": "json"})],
        "/exports/ssd/early-help-episodes": [("/exports/ssd/early-help-episodes", {
            "from": "2025-01-01", "to": "2026-12-31", "format": "json"})],
        "/families/{family_id}/access-log": [(f"/families/{fid}/access-log", {})],
        "/members/{member_id}/subject-access": [(f"/members/{member}/subject-access", {})],
        "/legal-holds": [("/legal-holds", {}), ("/legal-holds", {"history": "true"})],
        "/retention/due": [("/retention/due", {"as_of": "2060-01-01"})],
    }


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
            r = c.get(url, params=params, headers=AUDITOR)
            assert r.status_code == 200, (url, params, r.text)
            try:
                adapter.validate_json(r.content)
            except Exception as e:  # noqa: BLE001 - every failure listed at the end
                problems.append(f"{url} {params}: {e}")
            problems += [f"{url} {params}: {p}" for p in undocumented(r.json(), schema, components)]
    assert not problems, "\n".join(problems[:40])
