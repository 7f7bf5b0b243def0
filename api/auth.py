"""Bearer tokens: HS256 JWTs carrying ``sub``, ``role`` and ``team``.

Only HS256 is accepted (so ``alg: none`` and algorithm-confusion tokens are refused),
``exp`` is required, and the role must be one of the ledger's. ``mint`` is what
``ledger token`` prints.

Inspectors read for a limited period: an ``inspector`` token must say when it was issued
(``iat``) and may be valid for at most ``INSPECTOR_MAX_HOURS`` (14 days, the two weeks
inspectors spend on site in an Ofsted ILACS standard inspection, the longest of its
inspections); a longer one is refused when minted and when presented.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aggregates.vocabulary import ROLES
from api.problems import Problem

ALGORITHM = "HS256"
TEAM_ROLES = frozenset({"practitioner", "supervisor", "manager"})
INSPECTOR_MAX_HOURS = 14 * 24
"""The longest an inspector's token may be valid: two weeks, an ILACS standard inspection
on site (docs/exports.md). A longer inspection gets a fresh token."""

bearer = HTTPBearer(auto_error=False, description="JWT from `ledger token`")


class TokenTooLong(ValueError):
    """A token asked for longer than its role may have one."""


def mint(key: str, *, sub: str, role: str, team: str | None, hours: float = 8.0, now: datetime | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "inspector" and hours > INSPECTOR_MAX_HOURS:
        raise TokenTooLong(f"an inspector token may be valid for at most {INSPECTOR_MAX_HOURS} hours "
                           f"(14 days, an inspection on site), not {hours:g}")
    now = now or datetime.now(timezone.utc)
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + timedelta(hours=hours)}
    if team:
        claims["team"] = team
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def _unauthorised(detail: str) -> Problem:
    return Problem(401, "Unauthorised", detail, {"WWW-Authenticate": 'Bearer realm="ledger"'})


def decode(key: str, token: str) -> dict[str, str]:
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorised("the token has expired") from None
    except jwt.InvalidTokenError as e:
        raise _unauthorised(f"the token is not valid: {e}") from None
    role = claims.get("role")
    if role not in ROLES:
        raise _unauthorised(f"the token's role {role!r} is not one of {', '.join(ROLES)}")
    if role == "inspector":
        issued = claims.get("iat")
        if not isinstance(issued, (int, float)):
            raise _unauthorised("an inspector token must say when it was issued (iat)")
        if claims["exp"] - issued > INSPECTOR_MAX_HOURS * 3600:
            raise _unauthorised(f"an inspector token may be valid for at most {INSPECTOR_MAX_HOURS} hours "
                                "(14 days, an inspection on site)")
    team = claims.get("team") or ""
    if role in TEAM_ROLES and not team:
        raise _unauthorised(f"a {role} token must name a team")
    return {"user_id": str(claims["sub"]), "role": role, "team": str(team)}


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, str]:
    checked = getattr(request.state, "actor", None)
    if checked is not None:
        return checked  # type: ignore[no-any-return]  # access.enforce decoded this request's token
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorised("send Authorization: Bearer <token> (make one with `ledger token`)")
    return decode(request.app.state.signing_key, credentials.credentials)


Actor = Annotated[dict[str, str], Depends(current_actor)]
