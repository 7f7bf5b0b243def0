"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation in ``/openapi.json`` gets requests generated from its schema, both valid
ones (positive mode) and ones that break it (negative mode: wrong types, missing or
unknown fields, malformed UUIDs and dates), sent in-process over ASGI with a valid token
of a role the operation admits (a manager of team north, who records, where it may) and,
where a path names a family or an event, mostly the ids of real registered ones, so the
requests get past authorisation to the code behind it. For every response:

- no 5xx, ever;
- every 4xx is ``application/problem+json`` with its status, a title and a ``detail``;
- a refused request recorded nothing: the ledger's latest position is unchanged.

Bounded to stay in the suite: a fixed number of examples per operation and mode,
``derandomize`` (the same examples every run: a failure here is reproducible, not
flaky) and no deadline. It runs on SQLite and PostgreSQL both.
"""

from __future__ import annotations

import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api import access
from tests.conftest import AUDITOR, MANAGER, auth, ok, register

# Storage tests (docs/testing.md): fuzzed values reach each database's SQL (a NUL or an
# out-of-range integer is fine for SQLite and an error for PostgreSQL), so on every database.
pytestmark = pytest.mark.storage

EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "25"))
"""Examples per operation and mode; with ~17 operations, two modes and two databases,
this keeps the whole module near a minute on two cores. Set LEDGER_FUZZ_EXAMPLES to
search deeper (the examples stay derandomized, so a run is repeatable)."""

ADMIN = auth("admin", "ann", None)
SERVICE = auth("service", "svc", None)


def headers_for(method: str, path: str) -> dict[str, str]:
    """A valid token of a role the access table admits for this operation: the north
    manager (who records) wherever a manager may, else an auditor, else admin/service."""
    rule = access.rule_for(method, path)
    roles = rule.roles if rule is not None else frozenset({"manager"})
    for role, headers in (("manager", MANAGER), ("auditor", AUDITOR), ("admin", ADMIN), ("service", SERVICE)):
        if role in roles:
            return headers
    return MANAGER


def problems_with(response: Any, before: int, after: int) -> list[str]:
    """What is wrong with one response, by the house rules (empty if nothing)."""
    found = []
    status = response.status_code
    if status >= 500:
        found.append(f"server error {status}: {response.text[:500]}")
    if status >= 400:
        ctype = (response.headers.get("content-type") or [""])[0]
        if not ctype.startswith("application/problem+json"):
            found.append(f"{status} is {ctype!r}, not application/problem+json: {response.text[:300]}")
        else:
            body = response.json()
            if body.get("status") != status or not body.get("title") or not body.get("detail"):
                found.append(f"{status} problem lacks status/title/detail: {body}")
        if after != before:
            found.append(f"refused with {status} yet the ledger moved from position {before} to {after}")
    return found


@pytest.fixture
def fuzz_target(client) -> dict[str, Any]:
    """Real families (one with a referral, so it has an episode and decisions) and the
    app's own OpenAPI document."""
    families = [register(client), register(client, policy="southampton-0-19")]
    referral = ok(client, families[0]["family_id"], {
        "type": "ReferralReceived", "route": "professional", "reason": "school attendance",
        "referrer_agency": "Hill Primary School"}, MANAGER)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    ids = {
        "family_id": [f["family_id"] for f in families],
        "event_id": [referral["event_id"]],
        "member_id": [m["member_id"] for f in families for m in f["members"]],
        "policy_id": list(client.app.state.ledger.packs),
    }

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
        # Mostly real ids (so the request reaches the code behind authorisation),
        # sometimes what the generator made (unknown or malformed ids).
        known = {k: v for k, v in ids.items() if k in (path_parameters or {})}
        if not known:
            return st.just(path_parameters)
        real = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in known.items()})
        return st.one_of(real.map(lambda r: {**path_parameters, **r}), st.just(path_parameters),
                         real.map(lambda r: {**path_parameters, **r}))

    return {"schema": schema, "ledger": client.app.state.ledger}


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_the_schema_allows_or_breaks_gives_a_server_error_or_records_when_refused(fuzz_target, mode):
    schema, ledger = fuzz_target["schema"], fuzz_target["ledger"]
    failures: list[str] = []
    for operation in operations(schema):
        headers = headers_for(operation.method.upper(), operation.path)

        @hypothesis.settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.explicit,
                                                                             hypothesis.Phase.generate])
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            before = ledger.recorder.max_notification_id() or 0
            try:
                response = case.call(headers=headers)  # noqa: B023 - run() is called in this same pass of the loop
            except Exception as e:  # noqa: BLE001 - the in-process transport re-raises what the app's 500 handler saw
                found = [f"server error: {type(e).__name__}: {e}"]
            else:
                found = problems_with(response, before, ledger.recorder.max_notification_id() or 0)
            failures.extend(f"{operation.method.upper()} {operation.path}: {problem}\n"  # noqa: B023 - as above
                            f"    {case.as_curl_command(headers=headers)}" for problem in found)  # noqa: B023

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            # No invalid request exists for an operation without parameters or body.
            assert mode is GenerationMode.NEGATIVE and not operation.query and not operation.body, operation.path
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:20])
