"""Bearer tokens: HS256 JWTs carrying ``sub``, ``role`` and ``team`` (and, optionally, the
person's ``name`` and ``job_title``, which the ledger records with each event they make:
ADR 0030).

Both entry points use them: ``ledger token`` mints one (``mint``), the HTTP API checks
the one a request carries (``decode``, through ``api/auth.py``). They live here, below
both, because a token is the deployment's word for who someone is, signed with a key of
its settings (``Settings.signing_key``), not something of HTTP's.

Only HS256 is accepted (so ``alg: none`` and algorithm-confusion tokens are refused),
``exp`` is required, and the role must be one of the ledger's. Inspectors read for a
limited period: an ``inspector`` token must say when it was issued (``iat``) and may be
valid for at most ``INSPECTOR_MAX_HOURS`` (14 days, the two weeks inspectors spend on
site in an Ofsted ILACS standard inspection, the longest of its inspections); a longer
one is refused when minted and when presented.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import jwt

from aggregates.vocabulary import ROLES, TEAM_ROLES

ALGORITHM = "HS256"
INSPECTOR_MAX_HOURS = 14 * 24
"""The longest an inspector's token may be valid: two weeks, an ILACS standard inspection
on site (docs/exports.md). A longer inspection gets a fresh token."""


class TokenTooLong(ValueError):
    """A token asked for longer than its role may have one."""


class TokenRefused(Exception):
    """A presented token that is not valid (the API answers 401 with this detail)."""


SESSION_AUDIENCE = "ledger-console"
"""The ``aud`` of a console session's token: the console's own cookie, which it takes
even where bearer tokens come from an OpenID Connect provider (``ledger/oidc.py``)."""

NAME_CLAIMS = ("name", "job_title")
"""Optional claims naming the person (``name`` as OpenID Connect has it; ``job_title``):
recorded in the envelope of each event the token's holder records."""
MAX_NAME_CLAIM = 120


def mint(key: str, *, sub: str, role: str, team: str | None, hours: float = 8.0, now: datetime | None = None,
         session: str | None = None, name: str | None = None, job_title: str | None = None,
         audience: str | None = None, scope: str | None = None) -> str:
    """A token for ``sub`` in ``role`` (and ``team``), valid for ``hours``; ``session``
    names the console session it belongs to (``sid``), which signing out ends; ``name``
    and ``job_title`` name the person ("Sam Jones", "Family Support Worker"); ``scope``
    grants scopes, space-separated (``feed:full``: a service reads the feed in full)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "inspector" and hours > INSPECTOR_MAX_HOURS:
        raise TokenTooLong(f"an inspector token may be valid for at most {INSPECTOR_MAX_HOURS} hours "
                           f"(14 days, an inspection on site), not {hours:g}")
    now = now or datetime.now(timezone.utc)
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + timedelta(hours=hours)}
    if team:
        claims["team"] = team
    if session:
        claims["sid"] = session
    if audience:
        claims["aud"] = audience
    if scope:
        claims["scope"] = scope
    for claim, value in (("name", name), ("job_title", job_title)):
        text = (value or "").strip()
        if len(text) > MAX_NAME_CLAIM or any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ValueError(f"{claim} must be at most {MAX_NAME_CLAIM} characters, without control characters")
        if text:
            claims[claim] = text
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode(key: str, token: str, *, audience: str | None = None) -> dict[str, str]:
    """The actor a token speaks for (``user_id``, ``role``, ``team``), or ``TokenRefused``;
    with ``audience``, only a token minted for it (a console session's)."""
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=audience,
            options={"require": ["sub", "role", "exp", *(["aud"] if audience else [])],
                     "verify_aud": audience is not None}
        )
    except jwt.ExpiredSignatureError:
        raise TokenRefused("the token has expired") from None
    except jwt.InvalidTokenError as e:
        raise TokenRefused(f"the token is not valid: {e}") from None
    role = claims.get("role")
    if role not in ROLES:
        raise TokenRefused(f"the token's role {role!r} is not one of {', '.join(ROLES)}")
    if role == "inspector":
        inspector_period(claims)
    team = claims.get("team") or ""
    if role in TEAM_ROLES and not team:
        raise TokenRefused(f"a {role} token must name a team")
    actor = {"user_id": str(claims["sub"]), "role": role, "team": str(team)}
    if claims.get("sid"):
        actor["session"] = str(claims["sid"])
    for claim in NAME_CLAIMS:
        text = person_claim(claim, claims.get(claim))
        if text:
            actor[claim] = text
    return actor


def person_claim(claim: str, value: object) -> str | None:
    """A name or job title claim as recorded (trimmed), or ``TokenRefused`` if it is too
    long or holds control characters; ``None`` if there is none."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if len(text) > MAX_NAME_CLAIM or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise TokenRefused(f"the token's {claim} claim must be at most {MAX_NAME_CLAIM} characters, "
                           "without control characters")
    return text


def inspector_period(claims: dict[str, object]) -> None:
    """An inspector's token says when it was issued and lasts at most two weeks."""
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, (int, float)):
        raise TokenRefused("an inspector token must say when it was issued (iat)")
    if not isinstance(expires, (int, float)) or expires - issued > INSPECTOR_MAX_HOURS * 3600:
        raise TokenRefused(f"an inspector token may be valid for at most {INSPECTOR_MAX_HOURS} hours "
                           "(14 days, an inspection on site)")
