"""Bearer tokens: missing, expired, forged and alg:none tokens are 401; readers cannot write."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from tests.conftest import SECRET, auth, command, register, token
from tests.registration import post_family

# Storage-neutral (docs/testing.md): runs on one database (SQLite).
pytestmark = pytest.mark.one_database

BODY = {"type": "ReferralReceived", "route": "self", "reason": "help"}


def _none_alg_token() -> str:
    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    exp = int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp())
    header = b64({"alg": "none", "typ": "JWT"})
    claims = b64({"sub": "eve", "role": "manager", "team": "north", "exp": exp})
    return f"{header}.{claims}."


@pytest.mark.parametrize("headers, detail", [
    ({}, "Bearer"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
    ({"Authorization": "Bearer not.a.token"}, "not valid"),
    ({"Authorization": f"Bearer {token(hours=-1)}"}, "expired"),
    ({"Authorization": "Bearer " + jwt.encode({"sub": "eve", "role": "manager", "team": "north",
                                                "exp": datetime.now(timezone.utc) + timedelta(hours=1)},
                                               "someone-elses-key-0123456789abcdef0123", algorithm="HS256")},
     "not valid"),
    ({"Authorization": f"Bearer {_none_alg_token()}"}, "not valid"),
    ({"Authorization": "Bearer " + jwt.encode({"sub": "eve", "role": "overlord", "team": "north",
                                                "exp": datetime.now(timezone.utc) + timedelta(hours=1)},
                                               SECRET, algorithm="HS256")}, "role"),
    ({"Authorization": "Bearer " + jwt.encode({"sub": "eve", "role": "manager"}, SECRET, algorithm="HS256")}, "exp"),
])
def test_bad_tokens_are_401(client, headers, detail):
    fam = register(client)
    r = client.post(f"/families/{fam['family_id']}/commands", json=BODY, headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert detail in r.json()["detail"]
    assert client.get(f"/families/{fam['family_id']}", headers=headers).status_code == 401


@pytest.mark.parametrize("role", ["auditor", "service", "admin"])
def test_readers_cannot_write(client, role):
    fam = register(client)
    headers = auth(role, "reader", None)
    r = command(client, fam["family_id"], BODY, headers)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    r = post_family(client, headers=headers, json={
        "policy": "durham-one-point", "team": "north",
        "members": [{"given_name": "A", "family_name": "B", "kind": "child"}]})
    assert r.status_code == 403
    events = client.get(f"/families/{fam['family_id']}/events", headers=auth("practitioner")).json()["events"]
    assert len(events) == 1


def test_cli_token_is_accepted_by_the_api(client, monkeypatch):
    monkeypatch.setenv("LEDGER_JWT_SECRET", SECRET)
    from ledger.settings import get_settings
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["token", "--sub", "alice", "--role", "manager", "--team", "north"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    minted = result.output.strip()
    claims = jwt.decode(minted, SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["team"]) == ("alice", "manager", "north")
    fam = register(client)
    assert command(client, fam["family_id"], BODY, {"Authorization": f"Bearer {minted}"}).status_code == 201


def test_cli_token_refuses_a_team_role_without_a_team():
    result = CliRunner().invoke(cli, ["token", "--sub", "alice", "--role", "practitioner"])
    assert result.exit_code != 0 and "--team" in result.output
