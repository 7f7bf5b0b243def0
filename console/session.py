"""The console's session: an HttpOnly, SameSite=Strict cookie carrying a short-lived
bearer token, the same kind of token the API takes (``ledger/tokens.py``), with a session
id (``sid``) that signing out ends.

Why a token in a cookie rather than a server-side session table: the access table
(``api/access.py``) already authorises a token's actor for every route, so a page is
authorised by exactly the API's rules with nothing of its own to get wrong. The cookie is
read only for console pages (``Rule.page``), never by an API route, so the API's writes
stay closed to requests a browser sends on its own (ADR 0029).

The token lasts ``console_session_minutes`` (30 by default); a page opened after half of
that renews it, so an active reader is not signed out and an idle one is. Signing out
clears the cookie and ends the session id in this process (``Sessions``): a copy of the
token is refused afterwards. With several API processes (PostgreSQL), another process
still accepts a copied token until it expires, at most the session's length: the
browser's own cookie is gone at once.

The token is minted for the console's audience (``SESSION_AUDIENCE``), by the demo
sign-in or, where the council's OpenID Connect provider signs staff in, by
``console/oidc.py`` once the provider has (docs/console.md).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime

from fastapi import Request, Response

from api.access import SESSION_COOKIE
from ledger.settings import Settings
from ledger.tokens import SESSION_AUDIENCE, mint


class Sessions:
    """Session ids signed out of, until their tokens would have expired anyway."""

    def __init__(self) -> None:
        self._ended: dict[str, float] = {}
        self._lock = threading.Lock()

    def end(self, session: str, until: float) -> None:
        with self._lock:
            now = time.time()
            self._ended = {s: t for s, t in self._ended.items() if t > now}
            self._ended[session] = until

    def ended(self, session: str | None) -> bool:
        if not session:
            return False
        with self._lock:
            return session in self._ended


def start(response: Response, request: Request, settings: Settings, *, user_id: str, role: str, team: str | None,
          now: datetime, session: str | None = None, name: str | None = None, job_title: str | None = None) -> None:
    """Sign in: set the session cookie with a fresh token (a new session id unless renewing),
    carrying the person's ``name`` and ``job_title`` when known (ADR 0030)."""
    token = mint(settings.signing_key(), sub=user_id, role=role, team=team,
                 hours=settings.console_session_minutes / 60, now=now, session=session or secrets.token_urlsafe(16),
                 name=name, job_title=job_title, audience=SESSION_AUDIENCE)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=settings.console_session_minutes * 60, path="/", httponly=True,
        samesite="strict", secure=request.url.scheme == "https")


def stop(response: Response, request: Request) -> None:
    """Sign out in the browser: the cookie is deleted."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def expiry(request: Request) -> float | None:
    """When the request's session token expires (seconds since the epoch), unverified:
    only read after ``api.access.enforce`` has verified it."""
    import jwt

    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        found = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.InvalidTokenError:
        return None
    return float(found) if isinstance(found, (int, float)) else None


def renew_if_due(response: Response, request: Request, settings: Settings, actor: dict[str, str],
                 now: datetime) -> None:
    """Past half its life, a session's token is renewed (same session id)."""
    expires = expiry(request)
    if expires is None or "session" not in actor:
        return
    left = expires - now.timestamp()
    if left < settings.console_session_minutes * 30:
        start(response, request, settings, user_id=actor["user_id"], role=actor["role"],
              team=actor["team"] or None, now=now, session=actor["session"], name=actor.get("name"),
              job_title=actor.get("job_title"))


def identify(request: Request) -> tuple[str, float] | None:
    """The session id and expiry of the request's own session token, if it is genuine."""
    import jwt

    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        claims = jwt.decode(token, request.app.state.signing_key, algorithms=["HS256"], audience=SESSION_AUDIENCE)
    except jwt.InvalidTokenError:
        return None
    sid, exp = claims.get("sid"), claims.get("exp")
    return (str(sid), float(exp)) if sid and isinstance(exp, (int, float)) else None


def alive(request: Request) -> None:
    """A page refuses a session that has signed out (a copied token included)."""
    from api.problems import Problem

    actor = getattr(request.state, "actor", None)
    if actor and request.app.state.console_sessions.ended(actor.get("session")):
        raise Problem(401, "Unauthorised", "this session has been signed out")
