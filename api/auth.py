"""Who is calling: the bearer token of a request, checked (``ledger/tokens.py`` says what
a valid token is), as the ``Actor`` dependency every route takes.

A refused token is 401 problem+json with ``WWW-Authenticate: Bearer``. Where staff sign
in through an OpenID Connect provider (``LEDGER_OIDC_ISSUER``), a bearer token is the
provider's (``ledger/oidc.py``): an HS256 token of the local key is refused unless
``LEDGER_OIDC_ALLOW_LOCAL_TOKENS`` allows it, and a genuine token that maps to no role is
403. The console's own session cookie (``console/session.py``) stays a token of the local
key, minted for the console's audience once the provider has signed the person in.
A refusal is logged with its reason, never with the token.
"""

from __future__ import annotations

import logging
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import Problem
from ledger.oidc import ProviderUnavailable, RoleRefused
from ledger.tokens import SESSION_AUDIENCE, TokenRefused, decode

bearer = HTTPBearer(auto_error=False, description="JWT from the council's OpenID Connect provider or `ledger token`")
log = logging.getLogger("ledger.auth")


def unauthorised(detail: str) -> Problem:
    return Problem(401, "Unauthorised", detail, {"WWW-Authenticate": 'Bearer realm="ledger"'})


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, str]:
    checked = getattr(request.state, "actor", None)
    if checked is not None:
        return checked  # type: ignore[no-any-return]  # access.enforce decoded this request's token
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


def _actor(request: Request, token: str) -> dict[str, str]:
    """The actor of a token (the local key's, or the provider's), with the scopes it
    grants (``scopes``, space-separated) where it grants any."""
    actor = _checked(request, token)
    granted = scopes(jwt.decode(token, options={"verify_signature": False}),  # checked just now
                     getattr(request.app.state.settings, "oidc_role_claim", "roles"))
    return {**actor, "scopes": " ".join(sorted(granted))} if granted else actor


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


Actor = Annotated[dict[str, str], Depends(current_actor)]
"""The caller: ``user_id``, ``role`` and ``team`` from their token."""
