"""The OpenAPI document is good enough to build a client from: ``openapi-python-client``
generates a Python client from the app's own ``/openapi.json``, and that client, against
the API served by uvicorn on a free port, registers a family, records a command and reads
the chronology back as typed objects (attributes of generated models, not dicts).

And the document itself: every operation has a readable snake_case id (a generated
client's method names), and every successful GET documents what it answers.
"""

from __future__ import annotations

import importlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from ledger.settings import Settings
from tests.conftest import SECRET, open_ledger, token

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    ledger = open_ledger(Settings(data_dir=tmp_path_factory.mktemp("client") / "data", jwt_secret=SECRET))
    try:
        yield create_app(ledger)
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    return app.openapi()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def client_package(document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The client generated from the document, imported."""
    where = tmp_path_factory.mktemp("generated")
    spec, config = where / "openapi.json", where / "config.json"
    spec.write_text(json.dumps(document), encoding="utf-8")
    config.write_text(json.dumps({"post_hooks": []}), encoding="utf-8")  # no formatter needed to import it
    name = f"ledger_client_{uuid.uuid4().hex[:8]}"
    done = subprocess.run([str(GENERATOR), "generate", "--path", str(spec), "--output-path", str(where / name),
                           "--meta", "none", "--config", str(config)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Unable to process schema" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(where))


@pytest.fixture(scope="module")
def server(app: Any) -> Iterator[str]:
    """The API served by uvicorn in a thread, on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    served = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(timeout=10)


def part(package: Any, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_a_generated_client_registers_a_family_records_a_command_and_reads_the_chronology(
        client_package: Any, server: str) -> None:
    models = part(client_package, "models")
    register_family = part(client_package, "api.families.register_family")
    record_command = part(client_package, "api.families.record_command")
    get_chronology = part(client_package, "api.chronology.get_chronology")
    get_family = part(client_package, "api.families.get_family")
    client = client_package.AuthenticatedClient(base_url=server, token=token("practitioner", "pat", "north"))

    registered = register_family.sync(client=client, idempotency_key="client-register-1", body=models.RegisterFamily(
        policy="durham-one-point", team="north", members=[
            models.MemberIn(given_name="Ava", family_name="Stone", kind=models.MemberInKind.CHILD,
                            date_of_birth=date(2016, 5, 4)),
            models.MemberIn(given_name="Cara", family_name="Stone", kind=models.MemberInKind.ADULT,
                            date_of_birth=date(1990, 2, 3))]))
    assert isinstance(registered, models.Registered)
    assert isinstance(registered.family_id, uuid.UUID) and registered.version == 1 and registered.position >= 1
    assert [m.given_name for m in registered.members] == ["Ava", "Cara"]
    ava = registered.members[0].member_id

    occurred = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
    recorded = record_command.sync(
        registered.family_id, client=client, if_match='"1"', body=models.ReferralReceivedCommand(
            type_="ReferralReceived", route=models.ReferralReceivedCommandRoute.PROFESSIONAL,
            reason="School worried about attendance", referrer_agency="Hill Primary School", occurred_at=occurred,
            about=[ava]))
    assert isinstance(recorded, models.CommandRecorded)
    assert recorded.family_id == registered.family_id and recorded.version == 2
    assert recorded.position > registered.position

    family = get_family.sync(registered.family_id, client=client)
    assert isinstance(family, models.FamilyState)
    assert family.version == 2 and family.team == "north" and family.current_episode is not None

    chronology = get_chronology.sync(registered.family_id, client=client, min_position=recorded.position)
    assert isinstance(chronology, models.Chronology)
    assert chronology.family_id == registered.family_id and chronology.quarantined == []
    entries = chronology.entries
    assert all(isinstance(e, models.ChronologyEntry) for e in entries)
    referral = next(e for e in entries if e.type_ == "ReferralReceived")
    assert referral.event_id == recorded.event_id
    assert referral.occurred_at == occurred and isinstance(referral.recorded_at, datetime)
    assert referral.source.recorded_by == "pat" and referral.source.role == "practitioner"
    assert referral.about == [ava]
    assert referral.late_entry is True and referral.late_rules  # typed up three weeks after it happened

    mine = get_chronology.sync(registered.family_id, client=client, member=ava)
    assert isinstance(mine, models.Chronology) and mine.member == ava
    assert mine.entries[0].type_ == "Born" and mine.entries[0].event_id is None


def test_a_refusal_reaches_the_generated_client_as_its_status(client_package: Any, server: str) -> None:
    list_deadlines = part(client_package, "api.deadlines.list_deadlines")
    client = client_package.AuthenticatedClient(base_url=server, token=token("auditor", "ada", None))
    answered = list_deadlines.sync_detailed(client=client)
    assert answered.status_code == 200 and answered.parsed.count == len(answered.parsed.deadlines)
    refused = client_package.AuthenticatedClient(base_url=server, token="not-a-token")
    assert list_deadlines.sync_detailed(client=refused).status_code == 401


SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_operation_id_is_a_readable_snake_case_name(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)), f"repeated operation ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    unreadable = [i for i in ids if not SNAKE.match(i) or len(i) > 40 or "__" in i or i.endswith(("_get", "_post"))]
    assert not unreadable, unreadable
    named = {(m, p): op["operationId"] for m, p, op in operations(document)}
    assert named[("POST", "/families")] == "register_family"
    assert named[("POST", "/families/{family_id}/commands")] == "record_command"
    assert named[("GET", "/families/{family_id}/chronology")] == "get_chronology"


def test_every_successful_get_documents_what_it_answers(document: dict[str, Any]) -> None:
    """A JSON answer has a schema (a component, with properties); a file answer names
    its media type and is a string."""
    missing = []
    for method, path, op in operations(document):
        if method != "GET":
            continue
        ok = {status: r for status, r in op["responses"].items() if status.startswith("2")}
        if not ok:
            missing.append(f"{method} {path}: no 2xx response")
        for status, response in ok.items():
            content = response.get("content") or {}
            if "application/json" not in content:
                missing.append(f"{method} {path} {status}: no application/json")
            for media, body in content.items():
                schema = body.get("schema") or {}
                if not schema or (schema.get("additionalProperties") is True and "properties" not in schema):
                    missing.append(f"{method} {path} {status} {media}: no schema")
                elif media == "application/json" and not ("$ref" in schema or "anyOf" in schema):
                    missing.append(f"{method} {path} {status}: an inline schema, not a named model: {schema}")
    assert not missing, "\n".join(missing)
    schemas = document["components"]["schemas"]
    for name in ("Chronology", "ChronologyEntry", "FamilyDeadlines", "ClockRow", "DeadlineList", "Caseloads",
                 "FamilyOversight", "FamilyState", "FamilyEvents", "Feed", "Health", "AccessLog", "People",
                 "RetentionDue", "LegalHolds", "Policies", "Pack", "Teams", "AnnexA", "SsdEarlyHelpEpisodes"):
        assert schemas[name].get("properties"), name
