"""Sign-in with the council's identity provider (issue 22): the API takes the provider's
RS256/ES256 tokens and nothing else, maps their claims to a role and team, and the
console signs in through the provider with the Authorization Code flow and PKCE, all
against a real provider on 127.0.0.1 (``tests/oidc_provider.py``), not a stub of the
verification."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from ledger.application import Ledger
from tests.conftest import open_ledger, settings_for, token
from tests.oidc_provider import (  # noqa: F401  # the fixtures
    AUDIENCE,
    CLIENT_ID,
    Key,
    LocalProvider,
    oidc_provider_fixture,
    oidc_server_fixture,
    oidc_settings,
)
from tests.registration import post_family

pytestmark = pytest.mark.one_database

FAMILY = {"policy": "durham-one-point", "team": "north",
          "members": [{"given_name": "Ava", "family_name": "Stone", "kind": "child"}]}


class Clock:
    """The provider client's clock (key refreshes, expiry): real time, moved on by tests."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def world(database, request, tmp_path, oidc_provider: LocalProvider) -> Iterator[tuple[TestClient, Ledger, Clock]]:
    settings = settings_for(database, tmp_path / "data", request, **oidc_settings(oidc_provider),
                            console_demo_sign_in=True)
    ledger = open_ledger(settings)
    app = create_app(ledger)
    clock = Clock()
    app.state.oidc.clock = clock
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, ledger, clock
    ledger.close()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def _none_alg(provider: LocalProvider) -> str:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    now = int(time.time())
    claims = {**provider.user, "iss": provider.issuer, "aud": AUDIENCE, "exp": now + 600}
    return f"{b64({'alg': 'none', 'kid': 'rsa-1'})}.{b64(claims)}."


# --- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["rsa-1", "ec-1"])
def test_a_providers_token_records_as_the_person_its_claims_name(world, oidc_provider, key) -> None:
    client, _, _ = world
    signed = oidc_provider.sign(key=next(k for k in oidc_provider.keys if k.kid == key))
    r = post_family(client, headers=bearer(signed), json=FAMILY)
    assert r.status_code == 201, r.text
    events = client.get(f"/families/{r.json()['family_id']}/events", headers=bearer(signed)).json()["events"]
    assert events[0]["actor"] == {"user_id": "entra-oid-0001", "role": "manager", "team": "north",
                                  "name": "Meg Hughes", "job_title": "Early Help Team Manager"}


@pytest.mark.parametrize("make, detail", [
    (lambda p: p.sign(key=p.stranger()), "not valid"),
    (lambda p: p.sign(key=Key("unpublished", "ES256", p.stranger().private)), "does not publish"),
    (lambda p: p.sign(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200, nbf=None), "expired"),
    (lambda p: p.sign(nbf=int(time.time()) + 3600), "not valid yet"),
    (lambda p: p.sign(aud="api://someone-else"), "aud"),
    (lambda p: p.sign(iss="https://login.example.org/other"), "iss"),
    (_none_alg, "algorithm 'none'"),
    (lambda p: token("manager", "meg"), "HS256"),
    (lambda p: "not.a.token", "not valid"),
])
def test_a_token_not_genuinely_the_providers_for_this_ledger_is_401_and_logged_without_it(
        world, oidc_provider, caplog, make, detail) -> None:
    client, _, _ = world
    presented = make(oidc_provider)
    with caplog.at_level(logging.WARNING, logger="ledger.auth"):
        r = client.get("/policies", headers=bearer(presented))
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert detail in r.json()["detail"]
    assert caplog.records and all(presented not in m.getMessage() for m in caplog.records)


def test_a_token_a_little_past_its_expiry_is_taken_within_the_skew_allowance(world, oidc_provider) -> None:
    client, _, _ = world
    just = oidc_provider.sign(exp=int(time.time()) - 30)  # 30 s late: within the 60 s allowed
    assert client.get("/policies", headers=bearer(just)).status_code == 200


@pytest.mark.parametrize("claims, detail", [
    ({"roles": None}, "no 'roles' claim"),
    ({"roles": ["Ledger.Nobody", "Mail.Read"]}, "names no role"),
    ({"roles": ["Ledger.Manager", "Ledger.Auditor"]}, "several roles"),
    ({"team": None}, "no 'team' claim"),
])
def test_a_genuine_token_that_maps_to_no_role_is_403_naming_the_claim(world, oidc_provider, claims, detail) -> None:
    client, _, _ = world
    r = client.get("/policies", headers=bearer(oidc_provider.sign(**claims)))
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert detail in r.json()["detail"]


def test_a_role_named_as_the_ledger_names_it_needs_no_mapping(world, oidc_provider) -> None:
    client, _, _ = world
    r = client.get("/families", headers=bearer(oidc_provider.sign(roles="auditor", team=None)))
    assert r.status_code == 200, r.text


def test_a_rotated_key_is_taken_after_one_refresh_and_unknown_kids_refresh_at_most_once_a_minute(
        world, oidc_provider) -> None:
    client, _, clock = world
    assert client.get("/policies", headers=bearer(oidc_provider.sign())).status_code == 200
    assert oidc_provider.requests["/keys"] == 1
    new = oidc_provider.rotate()
    assert client.get("/policies", headers=bearer(oidc_provider.sign(key=new))).status_code == 200
    assert oidc_provider.requests["/keys"] == 2, "an unknown kid fetched the keys again, once"
    for _ in range(5):  # made-up kids within the minute: refused without asking the provider
        made_up = Key(f"made-up-{_}", "ES256", oidc_provider.stranger().private)
        assert client.get("/policies", headers=bearer(oidc_provider.sign(key=made_up))).status_code == 401
    assert oidc_provider.requests["/keys"] == 2
    newer = oidc_provider.rotate()
    assert client.get("/policies", headers=bearer(oidc_provider.sign(key=newer))).status_code == 401
    clock.offset = 61  # a minute on: the next unknown kid may refresh
    assert client.get("/policies", headers=bearer(oidc_provider.sign(key=newer))).status_code == 200
    assert oidc_provider.requests["/keys"] == 3
    assert oidc_provider.requests["/.well-known/openid-configuration"] == 1


def test_local_tokens_are_taken_beside_the_provider_only_where_explicitly_allowed(
        database, request, tmp_path, oidc_provider) -> None:
    settings = settings_for(database, tmp_path / "data", request, **oidc_settings(oidc_provider),
                            oidc_allow_local_tokens=True, console_demo_sign_in=True)
    ledger = open_ledger(settings)
    try:
        with TestClient(create_app(ledger), raise_server_exceptions=False) as client:
            assert client.get("/policies", headers=bearer(token("manager", "meg"))).status_code == 200
            assert client.get("/policies", headers=bearer(oidc_provider.sign())).status_code == 200
            assert client.get("/console/sign-in").text.count('name="user_id"') == 1, "the demo form is offered"
    finally:
        ledger.close()


def test_ledger_token_refuses_to_mint_beside_the_provider(ledger_cli, monkeypatch, oidc_provider) -> None:
    monkeypatch.setenv("LEDGER_OIDC_ISSUER", oidc_provider.issuer)
    monkeypatch.setenv("LEDGER_OIDC_AUDIENCE", AUDIENCE)
    from ledger.settings import get_settings

    get_settings.cache_clear()
    result = ledger_cli("token", "--sub", "meg", "--role", "manager", "--team", "north")
    assert result.exit_code == 2 and "LEDGER_OIDC_ALLOW_LOCAL_TOKENS" in result.output
    monkeypatch.setenv("LEDGER_OIDC_ALLOW_LOCAL_TOKENS", "true")
    get_settings.cache_clear()
    assert ledger_cli("token", "--sub", "meg", "--role", "manager", "--team", "north").exit_code == 0


# --- the console -----------------------------------------------------------------------------


def follow(client: TestClient, response: httpx.Response, provider: LocalProvider) -> httpx.Response:
    """Follow redirects between the app (TestClient) and the provider (over HTTP), as a browser does."""
    with httpx.Client() as browser:
        for _ in range(10):
            if response.status_code not in (302, 303, 307):
                return response
            target = response.headers["location"]
            if target.startswith(provider.issuer):
                response = browser.get(target)
            else:
                parts = urlsplit(target)
                response = client.get(parts.path + (f"?{parts.query}" if parts.query else ""), follow_redirects=False)
    raise AssertionError("too many redirects")


def sign_in(client: TestClient, provider: LocalProvider, next: str = "/console/") -> httpx.Response:
    page = client.get(f"/console/sign-in?next={next}")
    assert page.status_code == 200 and 'id="sign-in-provider"' in page.text
    start = client.get("/console/auth/start", params={"next": next}, follow_redirects=False)
    return follow(client, start, provider)


def test_a_person_signs_in_through_the_provider_with_pkce_state_and_nonce(world, oidc_provider) -> None:
    client, _, _ = world
    start = client.get("/console/auth/start", params={"next": "/console/families"}, follow_redirects=False)
    asked = parse_qs(urlsplit(start.headers["location"]).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["client_id"] == [CLIENT_ID]
    assert asked["redirect_uri"] == ["http://testserver/console/auth/callback"]
    assert {"state", "nonce", "code_challenge"} <= set(asked)
    cookie = start.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console/auth" in cookie
    done = follow(client, start, oidc_provider)
    assert done.status_code == 200, done.text
    assert 'http-equiv="refresh" content="0;url=/console/families"' in done.text
    session = done.headers.get_list("set-cookie")
    assert any(c.startswith("ledger_session=") and "SameSite=strict" in c and "HttpOnly" in c for c in session)
    home = client.get("/console/")
    assert home.status_code == 200 and "Meg Hughes" in home.text and "manager" in home.text
    assert oidc_provider.requests["/token"] == 1


def test_a_callback_without_this_browsers_state_is_refused(world, oidc_provider) -> None:
    client, _, _ = world
    start = client.get("/console/auth/start", follow_redirects=False)
    at_provider = httpx.get(start.headers["location"])
    callback = urlsplit(at_provider.headers["location"])
    forged = client.get(f"{callback.path}?code={parse_qs(callback.query)['code'][0]}&state=someone-elses")
    assert forged.status_code == 400 and "state" in forged.text
    client.cookies.clear()
    replayed = client.get(f"{callback.path}?{callback.query}")
    assert replayed.status_code == 400
    assert oidc_provider.requests["/token"] == 0, "no code was exchanged"
    assert "ledger_session" not in client.cookies


def test_a_person_the_provider_gives_no_role_is_told_which_claim(world, oidc_provider) -> None:
    client, _, _ = world
    oidc_provider.user["roles"] = []
    done = sign_in(client, oidc_provider)
    assert done.status_code == 403 and "roles" in done.text
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_demo_sign_in_is_refused_beside_the_provider(world) -> None:
    client, _, _ = world
    assert 'name="user_id"' not in client.get("/console/sign-in").text
    r = client.post("/console/sign-in", data={"user_id": "eve", "role": "auditor", "team": ""},
                    follow_redirects=False)
    assert r.status_code == 403 and "ledger_session" not in client.cookies


def test_signing_out_ends_the_session_and_the_providers(world, oidc_provider) -> None:
    client, _, _ = world
    sign_in(client, oidc_provider)
    copy = client.cookies["ledger_session"]
    out = client.post("/console/sign-out", follow_redirects=False)
    assert out.status_code == 200
    target = f"{oidc_provider.issuer}/logout?client_id={CLIENT_ID}"
    assert target in out.text.replace("&amp;", "&")
    assert "ledger_session" not in client.cookies
    back = httpx.get(out.text.split('content="0;url=')[1].split('"')[0].replace("&amp;", "&"))
    assert back.headers["location"] == "http://testserver/console/sign-in"
    assert oidc_provider.logged_out and oidc_provider.logged_out[0]["client_id"] == CLIENT_ID
    client.cookies.set("ledger_session", copy)
    assert client.get("/console/", follow_redirects=False).status_code == 303, "the copy is refused"


def test_without_an_end_session_endpoint_signing_out_is_local(world, oidc_provider) -> None:
    client, _, _ = world
    oidc_provider.end_session = False
    sign_in(client, oidc_provider)
    out = client.post("/console/sign-out", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"


def test_without_a_provider_the_console_has_no_provider_sign_in(ledger) -> None:
    with TestClient(create_app(ledger), raise_server_exceptions=False) as client:
        assert client.get("/console/auth/start", follow_redirects=False).status_code == 404
        assert 'id="sign-in-provider"' not in client.get("/console/sign-in").text


def test_a_session_cookie_is_the_consoles_and_a_provider_token_in_it_is_refused(world, oidc_provider) -> None:
    client, _, _ = world
    client.cookies.set("ledger_session", oidc_provider.sign())
    assert client.get("/console/", follow_redirects=False).status_code == 303
    client.cookies.set("ledger_session", token("manager", "meg"))  # a `ledger token` one: not minted for it
    assert client.get("/console/", follow_redirects=False).status_code == 303
