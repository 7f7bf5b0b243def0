"""Who is calling: the bearer token of a request, checked (``ledger/tokens.py`` says what
a valid token is), as the ``Actor`` dependency every route takes.

A refused token is 401 problem+json with ``WWW-Authenticate: Bearer``. Where staff sign
in through an OpenID Connect provider (``LEDGER_OIDC_ISSUER``), a bearer token is the
provider's (``ledger/oidc.py``): an HS256 token of the local key is refused unless
``LEDGER_OIDC_ALLOW_LOCAL_TOKENS`` allows it, and a genuine token that maps to no role is
403. The console's own session cookie (``console/session.py``) stays a token of the local
key, minted for the console's audience once the provider has signed the person in.
A refusal is logged with its reason, never with the token.

A token once verified is held (``VerifiedTokens``, keyed by the raw token) and answers
without its signature checked again until it expires: pyjwt's verification was a tenth
of a command's CPU, paid on every request of the same token. Its expiry is checked on
every use, by the clock that checked it first (the provider's, with its leeway).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.problems import Problem
from ledger.oidc import ProviderUnavailable, RoleRefused
from ledger.tokens import SESSION_AUDIENCE, TokenRefused, decode

log = logging.getLogger("ledger.auth")


def unauthorised(detail: str) -> Problem:
    return Problem(401, "Unauthorised", detail, {"WWW-Authenticate": 'Bearer realm="ledger"'})


async def current_actor(request: Request, credentials: HTTPAuthorizationCredentials | None) -> dict[str, str]:
    """The caller, from the request's bearer token: in the event loop where that needs no
    network (a token verified before and not yet expired, or the local key's); in the
    thread pool where the identity provider's keys may have to be fetched. A request's
    token is checked once: by ``access.enforce``, whose answer ``BearerActor`` hands on."""
    if _offline(request, credentials):
        return actor_of(request, credentials)
    return await run_in_threadpool(actor_of, request, credentials)


class BearerActor(HTTPBearer):
    """The ``Actor`` dependency: an ``HTTPBearer`` (so OpenAPI documents the operation's
    bearer security, under the scheme's usual name) that answers with the caller instead
    of the token. One dependency a route resolves, not a caller depending on a token:
    each dependency FastAPI resolves costs every request 10-25 us (ADR 0046)."""

    async def __call__(self, request: Request) -> dict[str, str]:  # type: ignore[override]
        checked = getattr(request.state, "actor", None)
        if checked is not None:
            return checked  # type: ignore[no-any-return]  # access.enforce decoded this request's token
        return await current_actor(request, await super().__call__(request))


def _offline(request: Request, credentials: HTTPAuthorizationCredentials | None) -> bool:
    """Whether ``actor_of`` answers without the network: nothing to verify, no identity
    provider, or the token verified before and not yet expired."""
    state = request.app.state
    if credentials is None or getattr(state, "oidc", None) is None:
        return True
    held: VerifiedTokens | None = getattr(state, "tokens", None)
    key = (credentials.credentials, bool(getattr(request.state, "session_cookie", False)))
    return held is not None and held.get(key, _now(state)) is not None


def actor_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> dict[str, str]:
    """``current_actor``'s answer, worked out here and now (the provider's keys fetched
    if they must be)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorised("send Authorization: Bearer <token> (make one with `ledger token`)")
    try:
        return _actor(request, credentials.credentials)
    except TokenRefused as e:
        log.warning("bearer token refused (401) on %s %s: %s", request.method, request.url.path, e)
        raise unauthorised(str(e)) from None
    except RoleRefused as e:
        log.warning("bearer token refused (403) on %s %s: %s", request.method, request.url.path, e)
        raise Problem(403, "Forbidden", str(e)) from None
    except ProviderUnavailable as e:
        log.error("the identity provider did not answer: %s", e)
        raise Problem(503, "Service unavailable", "the identity provider's keys could not be fetched; retry shortly",
                      {"Retry-After": "5"}) from None


class VerifiedTokens:
    """Tokens this app has verified, with the actor each speaks for and when it expires
    (one app's: a token verified under one signing key is never taken under another)."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._held: dict[tuple[str, bool], tuple[dict[str, str], float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, bool], now: float) -> dict[str, str] | None:
        """The actor of a token verified before and not yet expired at ``now``."""
        found = self._held.get(key)
        if found is None or found[1] <= now:
            return None
        return dict(found[0])

    def put(self, key: tuple[str, bool], actor: dict[str, str], expires: Any) -> None:
        if not isinstance(expires, (int, float)):
            return  # no expiry to enforce from here: verified afresh every time
        with self._lock:
            if len(self._held) >= self.LIMIT:
                self._held.clear()  # dropped tokens are verified again, nothing more
            self._held[key] = (dict(actor), float(expires))


def _actor(request: Request, token: str) -> dict[str, str]:
    """The actor of a token (the local key's, or the provider's), with the scopes it
    grants (``scopes``, space-separated) where it grants any: from the app's verified
    tokens while it has not expired, else verified now."""
    state = request.app.state
    held: VerifiedTokens | None = getattr(state, "tokens", None)
    key = (token, bool(getattr(request.state, "session_cookie", False)))
    now = _now(state)
    found = held.get(key, now) if held is not None else None
    if found is not None:
        return found
    actor = _checked(request, token)
    claims = jwt.decode(token, options={"verify_signature": False})  # checked just now
    granted = scopes(claims, getattr(state.settings, "oidc_role_claim", "roles"))
    if granted:
        actor = {**actor, "scopes": " ".join(sorted(granted))}
    if held is not None:
        held.put(key, actor, claims.get("exp"))
    return actor


def _now(state: Any) -> float:
    """Now, as the app's token checks count it: pyjwt's clock (no leeway) for the local
    key's tokens; the provider's clock less its leeway where it verifies them."""
    provider = getattr(state, "oidc", None)
    if provider is None:
        return time.time()
    return provider.clock() - state.settings.oidc_leeway_seconds  # type: ignore[no-any-return]


FULL_FEED = "feed:full"
"""The scope that lets a ``service`` read the feed in full (member ids, names, dates of
birth, free text); without it a service reads the feed pseudonymised (ADR 0035). Auditors
read it in full whatever their token says."""


def scopes(claims: dict[str, object], role_claim: str = "roles") -> frozenset[str]:
    """The ledger's scopes (``feed:full``, so far) a token's claims grant: in its ``scope``
    (RFC 9068) or ``scp`` (Entra ID's delegated permissions), space-separated, or among
    the values of its role claim (Entra ID gives an application its permissions, here a
    ``feed:full`` app role, as ``roles``). Others' scopes (``openid``...) are not kept."""
    found: set[str] = set()
    for claim in ("scope", "scp", role_claim):
        value = claims.get(claim)
        if isinstance(value, str):
            found.update(value.split() if claim != role_claim else [value])
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found & {FULL_FEED})


def has_scope(actor: dict[str, str], scope: str) -> bool:
    """Whether the caller's token grants ``scope``."""
    return scope in actor.get("scopes", "").split()


def _checked(request: Request, token: str) -> dict[str, str]:
    """The actor of a token: the local key's, or (OpenID Connect) the provider's."""
    state = request.app.state
    provider = getattr(state, "oidc", None)
    if provider is None:
        return decode(state.signing_key, token)
    if getattr(request.state, "session_cookie", False):
        return decode(state.signing_key, token, audience=SESSION_AUDIENCE)
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError as e:
        raise TokenRefused(f"the token is not valid: {e}") from None
    if algorithm == "HS256":
        if state.settings.oidc_allow_local_tokens:
            return decode(state.signing_key, token)
        raise TokenRefused("the token is not valid: tokens come from the council's identity provider here "
                           "(HS256 tokens of `ledger token` are refused)")
    return provider.decode(token)  # type: ignore[no-any-return]


Actor = Annotated[dict[str, str], Depends(BearerActor(
    auto_error=False, scheme_name="HTTPBearer",
    description="JWT from the council's OpenID Connect provider or `ledger token`"))]
"""The caller: ``user_id``, ``role`` and ``team`` from their token."""
