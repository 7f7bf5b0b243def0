"""Signing in to the console through the council's OpenID Connect provider: the
Authorization Code flow with PKCE (``ledger/oidc.py`` speaks to the provider).

``/console/auth/start`` makes a state, a nonce and a PKCE verifier, keeps them in a
short-lived signed cookie (``ledger_sign_in``: HttpOnly, SameSite=Lax so that it comes
back on the provider's redirect, path ``/console/auth``, ten minutes) and sends the
browser to the provider. ``/console/auth/callback`` takes the code only with that cookie
and the same state, exchanges it with the verifier, checks the ID token (signature,
issuer, audience, expiry, the nonce) and maps its claims to a role and team as the API
does; then it sets the console's session cookie as the demo sign-in does
(``console/session.py``).

The callback answers with a page that moves on to the console rather than a redirect:
the session cookie is SameSite=Strict, and a browser does not send it on a redirect
chain that a cross-site navigation (the provider's) started. Signing out ends the local
session and, where the discovery document names an ``end_session_endpoint``, goes on to
it the same way (a page, not a redirect: the Content-Security-Policy's ``form-action
'self'`` refuses a form's redirect to another site).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse

from api.problems import Problem
from console import session
from console.access import PREFIX
from console.rendering import page
from ledger.oidc import Provider, ProviderUnavailable, RoleRefused, pkce
from ledger.tokens import TokenRefused

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(session.alive)])

STATE_COOKIE = "ledger_sign_in"
STATE_PATH = f"{PREFIX}/auth"
STATE_AUDIENCE = "ledger-sign-in"
STATE_MINUTES = 10
CALLBACK = f"{PREFIX}/auth/callback"

Text = Annotated[str, Query(max_length=4000)]


def provider(request: Request) -> Provider:
    found = getattr(request.app.state, "oidc", None)
    if found is None:
        raise Problem(404, "Not found", "sign-in through an identity provider is not set up in this deployment")
    return found  # type: ignore[no-any-return]


def callback_uri(request: Request) -> str:
    """The redirect URI registered with the provider: ``<base>/console/auth/callback``."""
    return str(request.base_url).rstrip("/") + CALLBACK


@router.get("/auth/start")
def start(request: Request, next: Annotated[str, Query(max_length=2000)] = f"{PREFIX}/") -> Response:
    """Off to the provider, with a fresh state, nonce and PKCE challenge."""
    from console.pages import _local

    oidc = provider(request)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier, challenge = pkce()
    try:
        target = oidc.authorization_url(redirect_uri=callback_uri(request), state=state, nonce=nonce,
                                        challenge=challenge)
    except ProviderUnavailable as e:
        raise Problem(503, "Service unavailable", f"the identity provider did not answer: {e}",
                      {"Retry-After": "5"}) from None
    now = datetime.now(timezone.utc)
    kept = jwt.encode({"state": state, "nonce": nonce, "verifier": verifier, "next": _local(next),
                       "aud": STATE_AUDIENCE, "iat": now, "exp": now + timedelta(minutes=STATE_MINUTES)},
                      request.app.state.signing_key, algorithm="HS256")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(STATE_COOKIE, kept, max_age=STATE_MINUTES * 60, path=STATE_PATH, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


@router.get("/auth/callback")
def callback(request: Request, code: Text = "", state: Text = "", error: Text = "", error_description: Text = "",
             error_uri: Text = "", session_state: Text = "", iss: Text = "") -> Response:
    """Back from the provider: the code exchanged, the ID token checked, the session begun."""
    oidc = provider(request)
    kept = _kept(request)
    if not state or not secrets.compare_digest(state, str(kept.get("state", ""))):
        return _failed(request, 400, "The sign-in could not be matched to this browser (its state differs). "
                                     "Start again.")
    if iss and iss != oidc.issuer:
        return _failed(request, 400, "The answer came from another identity provider than this ledger's.")
    if error:
        return _failed(request, 403, f"The identity provider did not sign you in: {error}"
                                     + (f" ({error_description})" if error_description else ""))
    if not code:
        return _failed(request, 400, "The identity provider sent no authorisation code. Start again.")
    try:
        tokens = oidc.exchange(code=code, verifier=str(kept["verifier"]), redirect_uri=callback_uri(request))
        claims = oidc.verify(tokens["id_token"], audience=oidc.client_id, nonce=str(kept["nonce"]))
        actor = oidc.actor(claims)
    except TokenRefused as e:
        return _failed(request, 400, f"The identity provider's answer was refused: {e}.")
    except RoleRefused as e:
        return _failed(request, 403, f"You are signed in to the council, but not to this ledger: {e}. Ask the "
                                     "service's administrator to give you a role in it.")
    except ProviderUnavailable as e:
        return _failed(request, 503, f"The identity provider did not answer: {e}")
    target = str(kept.get("next") or f"{PREFIX}/")
    response = page(request, "moving_on.html", title="Signed in", target=target, actor=None,
                    message="You are signed in.", link="Continue to the case ledger")
    session.start(response, request, request.app.state.settings, user_id=actor["user_id"], role=actor["role"],
                  team=actor["team"] or None, now=datetime.now(timezone.utc), name=actor.get("name"),
                  job_title=actor.get("job_title"))
    _forget(response, request)
    return response


def end_provider_session(request: Request, response: Response) -> Response:
    """After the local session has ended: on to the provider's end-session endpoint, if it has one."""
    oidc: Provider | None = getattr(request.app.state, "oidc", None)
    if oidc is None:
        return response
    try:
        target = oidc.end_session_url(
            post_logout_redirect_uri=str(request.base_url).rstrip("/") + f"{PREFIX}/sign-in")
    except ProviderUnavailable:
        target = None
    if target is None:
        return response
    moving = page(request, "moving_on.html", title="Signed out", target=target, actor=None,
                  message="You are signed out of the case ledger. Signing you out of the council's identity "
                          "provider too.", link="Sign out of the identity provider")
    for value in response.headers.getlist("set-cookie"):
        moving.headers.append("set-cookie", value)
    return moving


def _kept(request: Request) -> dict[str, Any]:
    token = request.cookies.get(STATE_COOKIE)
    if not token:
        return {}
    try:
        found: dict[str, Any] = jwt.decode(token, request.app.state.signing_key, algorithms=["HS256"],
                                           audience=STATE_AUDIENCE)
        return found
    except jwt.InvalidTokenError:
        return {}


def _forget(response: Response, request: Request) -> None:
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH, httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")


def _failed(request: Request, status: int, detail: str) -> Response:
    response = page(request, "error.html", status=status, title="Sign-in failed", detail=detail, errors=[],
                    actor=None, retry_after=None)
    _forget(response, request)
    return response
