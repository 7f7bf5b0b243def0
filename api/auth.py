"""Who is calling: the bearer token of a request, checked (``ledger/tokens.py`` says what
a valid token is), as the ``Actor`` dependency every route takes.

A refused token is 401 problem+json with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import Problem
from ledger.tokens import TokenRefused, decode

bearer = HTTPBearer(auto_error=False, description="JWT from `ledger token`")


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
        return decode(request.app.state.signing_key, credentials.credentials)
    except TokenRefused as e:
        raise unauthorised(str(e)) from None


Actor = Annotated[dict[str, str], Depends(current_actor)]
"""The caller: ``user_id``, ``role`` and ``team`` from their token."""
