"""A small OpenID Connect provider on 127.0.0.1, for the tests (issue 22): a discovery
document, its keys (JWKS), an authorisation endpoint that signs the configured test user
in at once and redirects back with a code, a token endpoint that exchanges the code and
its PKCE verifier for an ID token and an access token, and an end-session endpoint.

Keys are made per run (``cryptography``): one RSA 2048 key and one EC P-256 key for the
session, and ``rotate()`` adds a fresh key under a new ``kid``. ``sign`` signs any claims
with any of them, or with a key the provider never publishes (``stranger``), so the API
tests can present every kind of token. ``requests`` counts what was asked of it.

A test module takes the fixtures by importing ``oidc_server_fixture`` and
``oidc_provider_fixture``; a test asks for ``oidc_provider``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "api://early-help-ledger"
CLIENT_ID = "ledger-console-client"


@dataclass
class Key:
    kid: str
    algorithm: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        make = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        found: dict[str, Any] = json.loads(make.to_jwk(self.private.public_key()))
        return {**found, "kid": self.kid, "use": "sig", "alg": self.algorithm}


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # once per run: the slow one
_EC = ec.generate_private_key(ec.SECP256R1())


@dataclass
class LocalProvider:
    """The provider's state: its keys, the user it signs in, the codes it has issued."""

    issuer: str = ""
    keys: list[Key] = field(default_factory=list)
    user: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    end_session: bool = True
    logged_out: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.keys = [Key("rsa-1", "RS256", _RSA), Key("ec-1", "ES256", _EC)]
        self.user = {"sub": "entra-oid-0001", "roles": ["Ledger.Manager"], "team": "north", "name": "Meg Hughes",
                     "jobTitle": "Early Help Team Manager"}
        self.codes.clear()
        self.requests.clear()
        self.logged_out.clear()
        self.end_session = True

    def rotate(self) -> Key:
        """A new key, published from now on (an RSA key is slow to make: an EC one)."""
        key = Key(f"ec-{len(self.keys) + 1}-{secrets.token_hex(3)}", "ES256", ec.generate_private_key(ec.SECP256R1()))
        self.keys.append(key)
        return key

    @staticmethod
    def stranger() -> Key:
        """A key this provider never publishes, under a kid it does."""
        return Key("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))

    def sign(self, claims: dict[str, Any] | None = None, *, key: Key | None = None, **changes: Any) -> str:
        """A token of this provider for the API: the test user's claims, an hour long,
        changed by ``changes`` (a value of ``None`` leaves the claim out)."""
        key = key or self.keys[0]
        now = int(time.time())
        found = {"iss": self.issuer, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 3600,
                 **self.user, **(claims or {}), **changes}
        return jwt.encode({k: v for k, v in found.items() if v is not None}, key.private, algorithm=key.algorithm,
                          headers={"kid": key.kid})

    def discovery(self) -> dict[str, Any]:
        found = {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                 "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/keys",
                 "response_types_supported": ["code"], "subject_types_supported": ["public"],
                 "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                 "code_challenge_methods_supported": ["S256"]}
        if self.end_session:
            found["end_session_endpoint"] = f"{self.issuer}/logout"
        return found


def _handler(provider: LocalProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _json(self, body: Any, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, target: str) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            provider.requests[url.path] += 1
            if url.path == "/.well-known/openid-configuration":
                return self._json(provider.discovery())
            if url.path == "/keys":
                return self._json({"keys": [k.public_jwk() for k in provider.keys]})
            if url.path == "/authorize":
                if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
                    return self._redirect(query.get("redirect_uri", "/") + "?" + urlencode(
                        {"error": "invalid_request", "state": query.get("state", "")}))
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query
                return self._redirect(query["redirect_uri"] + "?" + urlencode(
                    {"code": code, "state": query["state"]}))
            if url.path == "/logout":
                provider.logged_out.append(query)
                return self._redirect(query.get("post_logout_redirect_uri", "/"))
            return self._json({"error": "not_found"}, 404)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            provider.requests[url.path] += 1
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if url.path != "/token":
                return self._json({"error": "not_found"}, 404)
            asked = provider.codes.pop(form.get("code", ""), None)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
            if (asked is None or form.get("grant_type") != "authorization_code"
                    or form.get("redirect_uri") != asked["redirect_uri"] or form.get("client_id") != CLIENT_ID
                    or challenge.rstrip(b"=").decode() != asked["code_challenge"]):
                return self._json({"error": "invalid_grant"}, 400)
            id_token = provider.sign(aud=CLIENT_ID, nonce=asked["nonce"])
            return self._json({"token_type": "Bearer", "expires_in": 3600, "id_token": id_token,
                               "access_token": provider.sign()})

    return Handler


@pytest.fixture(scope="session", name="oidc_server")
def oidc_server_fixture() -> Iterator[LocalProvider]:
    """The provider, serving on a free port of 127.0.0.1 for the whole run."""
    provider = LocalProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(name="oidc_provider")
def oidc_provider_fixture(oidc_server: LocalProvider) -> Iterator[LocalProvider]:
    """The provider as a test starts it: its first keys, its test user, nothing asked yet."""
    oidc_server.reset()
    yield oidc_server
    oidc_server.reset()


def oidc_settings(provider: LocalProvider) -> dict[str, Any]:
    """The ledger's settings for this provider."""
    return {"oidc_issuer": provider.issuer, "oidc_audience": AUDIENCE, "oidc_client_id": CLIENT_ID,
            "oidc_role_map": {"Ledger.Manager": "manager", "Ledger.Auditor": "auditor"}}
