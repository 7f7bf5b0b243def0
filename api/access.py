"""Who may call what: one table of every role against every endpoint, enforced in one place.

- practitioners, supervisors and managers read (and write) only families their team holds
  (a transfer moves that right; writes are checked by the aggregate when it records);
- auditors read every family and write nothing; inspectors likewise, with tokens that
  expire (the length of an inspection);
- services read the feed and the read models only, never a family's record as such
  (and, as every signed-in role, the feed's published schemas, which hold no personal data);
- admins manage packs and keys (erasure, legal holds, retention) and the staff directory
  (whose changes the access log keeps), and read no case content.

``POLICY`` maps (method, route) to the roles allowed and how the family is found.
``enforce`` runs before every route (an application-wide dependency): a route missing
from the table is refused (fail closed), a read of a family's record is appended to the
access log once allowed. ``tests/test_access.py`` checks every cell of the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregates.vocabulary import MANAGEMENT_ROLES, ROLES, TEAM_ROLES
from api.auth import current_actor
from api.problems import Problem, problem
from ledger.access_log import Read
from queries.trust import member_family

ALL = frozenset(ROLES)
READERS = TEAM_ROLES | {"auditor", "inspector"}
"""Who reads a family's record."""
READ_MODELS = TEAM_ROLES | {"auditor", "inspector", "service"}
"""Who reads the read models (services included)."""
PACK_READERS = ALL - {"service"}
"""Who reads the policy packs: reference data, not case content, but services read the
feed and the read models only."""
MANAGER_OR_AUDITOR = frozenset({"manager", "auditor"})
ADMIN = frozenset({"admin"})

log = logging.getLogger("ledger.api")


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scope: str | None = None
    """"family": the path names a family and team roles must hold it; "command": the path
    names a family a team role records on, which the command path checks when it loads
    the family (once, in ``Ledger.record``: the aggregate's own team rule, which a
    transfer moves); "member": as "family" for the member's family; "team": team roles
    see only their own team (``team=`` query)."""
    log: str | None = None
    """The access-log action, for reads of a family's record."""
    public: bool = False
    page: bool = False
    """A console page (``console/``): its credentials may come from the console's session
    cookie, which no API route accepts (a cookie sent by the browser on its own would open
    the API's writes to cross-site requests; the pages only read)."""


POLICY: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): Rule(ALL, public=True),
    ("GET", "/policies"): Rule(PACK_READERS),
    ("GET", "/policies/{policy_id}"): Rule(PACK_READERS),
    ("GET", "/teams"): Rule(PACK_READERS),
    ("GET", "/schemas"): Rule(ALL),
    ("GET", "/schemas/{type}"): Rule(ALL),
    ("POST", "/families"): Rule(TEAM_ROLES),
    ("POST", "/families/{family_id}/commands"): Rule(TEAM_ROLES, scope="command"),
    ("GET", "/families"): Rule(READERS, scope="team", log="search"),
    ("GET", "/families/{family_id}"): Rule(READERS, scope="family", log="family"),
    ("GET", "/families/{family_id}/events"): Rule(READERS, scope="family", log="events"),
    ("GET", "/families/{family_id}/deadlines"): Rule(READ_MODELS, scope="family", log="deadlines"),
    ("GET", "/families/{family_id}/chronology"): Rule(READ_MODELS, scope="family", log="chronology"),
    ("GET", "/families/{family_id}/decisions/{event_id}"): Rule(READERS, scope="family", log="decision"),
    ("GET", "/families/{family_id}/oversight"): Rule(READ_MODELS, scope="family", log="oversight"),
    ("GET", "/families/{family_id}/access-log"): Rule(MANAGER_OR_AUDITOR, scope="family", log="access-log"),
    ("GET", "/members/{member_id}/subject-access"): Rule(MANAGER_OR_AUDITOR, scope="member", log="subject-access"),
    ("GET", "/deadlines"): Rule(READ_MODELS, scope="team", log="deadlines-list"),
    ("GET", "/caseloads"): Rule(READ_MODELS, scope="team", log="caseloads"),
    ("GET", "/oversight"): Rule(MANAGEMENT_ROLES | {"auditor", "inspector", "service"}, scope="team",
                                log="oversight-list"),
    ("GET", "/feed"): Rule(frozenset({"service", "auditor"}), log="feed"),
    ("GET", "/people"): Rule(MANAGER_OR_AUDITOR, log="search"),
    ("GET", "/retention/due"): Rule(frozenset({"admin", "auditor"}), log="retention"),
    ("PUT", "/legal-holds/{family_id}"): Rule(ADMIN),
    ("DELETE", "/legal-holds/{family_id}"): Rule(ADMIN),
    ("GET", "/legal-holds"): Rule(frozenset({"admin", "auditor"}), log="legal-holds"),
    ("POST", "/families/{family_id}/erasure"): Rule(ADMIN),
    ("GET", "/staff"): Rule(ADMIN),
    ("GET", "/staff/{user_id}"): Rule(ADMIN),
    ("PUT", "/staff/{user_id}"): Rule(ADMIN, log="staff-update"),
}
EXPORTS = Rule(frozenset({"auditor", "inspector"}), log="export")
"""Council-wide data returns (``/exports/...``): they list every team's children, so no
team role reads them (a team reads only the families it holds); auditors and inspectors do."""


def rule_for(method: str, path: str, policy: dict[tuple[str, str], Rule] | None = None) -> Rule | None:
    """The rule for a route: from ``policy`` (an app's table: ``POLICY`` and, where the
    console is served, its pages' rules, ``app.state.policy``), else ``POLICY``."""
    found = (POLICY if policy is None else policy).get((method, path))
    if found is None and method == "GET" and path.startswith("/exports/"):
        return EXPORTS
    return found


async def enforce(request: Request) -> None:
    """Refuse what the actor's role may not do; log reads of a family's record. In the
    event loop, but for what reads the database (a member's family, a family's team),
    which runs in the thread pool as a ``def`` dependency would. It runs before every
    route, so it takes the ledger and projector from the app's state rather than as
    dependencies of its own: each dependency FastAPI resolves costs every request some
    10-25 us of CPU (ADR 0046)."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise Problem(422, "Invalid request", f"query.{name.replace(chr(0), '')}: contains a NUL character "
                          "(%00), which no parameter may hold", field=f"query.{name.replace(chr(0), '')}")
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = rule_for(request.method, path, getattr(request.app.state, "policy", None))
    if rule is not None and rule.public:
        return
    actor = await current_actor(request, _credentials(request, session=rule is not None and rule.page))
    if rule is None:
        raise Problem(403, "Forbidden", f"{request.method} {path} is not open to any role")
    role = actor["role"]
    access: dict[str, Any] | None = None
    if rule.log is not None:  # written when the answer is known, allowed or not (``LogReads``)
        access = {"actor": actor, "action": rule.log, "path": request.url.path,
                  "query": withheld(request.query_params.multi_items()), "family_id": None, "member_id": None}
        request.state.access = access
    family_id: UUID | None = None
    member_id: UUID | None = None
    params: dict[str, Any] = request.path_params
    if rule.scope in ("family", "command"):
        family_id = _uuid(params.get("family_id"), "family_id")
        if access is not None:
            access["family_id"] = family_id
    if rule.scope == "member":
        member_id = _uuid(params.get("member_id"), "member_id")
        if access is not None:
            access["member_id"] = member_id
        family_id = await run_in_threadpool(member_family, request.app.state.projector, member_id)
    if role not in rule.roles:
        if access is not None:
            access["family_id"] = family_id
        raise Problem(403, "Forbidden", f"a {role} may not {request.method} {path}")
    if access is not None and family_id is not None:
        access["family_id"] = family_id
    if family_id is not None and role in TEAM_ROLES and rule.scope != "command":
        team = (await run_in_threadpool(request.app.state.ledger.family, family_id, copy=False)).team
        if team != actor["team"]:
            raise Problem(403, "Forbidden", f"the family is held by team {team}, not {actor['team']}")
    if rule.scope == "team" and role in TEAM_ROLES:
        _own_team_only(request, path, actor)
    request.state.actor = actor


def log_as(request: Request, action: str) -> None:
    """Log this read under ``action`` instead of its rule's: a route that knows more than
    the table (the feed says which view it answered: ``feed-full``, ``feed-pseudonymised``)."""
    access = getattr(request.state, "access", None)
    if access is not None:
        access["action"] = action


WITHHELD = frozenset({"name", "date_of_birth", "nhs_number", "upn", "council_person_id", "postcode"})
"""Query parameters that are themselves personal data (a search): logged as withheld."""


def withheld(items: Any) -> str:
    """A request's query as the access log keeps it: personal search terms withheld."""
    return urlencode([(k, "[withheld]" if k in WITHHELD else v) for k, v in items])


class LogReads:
    """ASGI middleware: once a read's answer is known (its status), append its access-log
    rows (one for each family a list showed) with the outcome, before the answer is sent.
    A read that cannot be logged is not answered (503): every read of the record is in the
    log. Plain ASGI, not Starlette's ``BaseHTTPMiddleware``: that one ran every request,
    commands included, through a task group and a pair of memory streams (about a tenth
    of the API process's time under load, issue 24)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = False

        async def logged_send(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the read was not logged: its own answer is dropped for the 503
            if message["type"] == "http.response.start" and not await _logged(scope, message["status"]):
                refused = True
                await problem(503, "Service unavailable",
                              "the read could not be written to the access log; retry shortly",
                              {"Retry-After": "2"})(scope, receive, send)
                return
            await send(message)

        await self.app(scope, receive, logged_send)


async def _logged(scope: Scope, status: int) -> bool:
    """Append the access-log rows of the read in ``scope`` answered with ``status``;
    False if they could not be written."""
    state = scope.get("state") or {}
    access = state.get("access")
    if access is None:
        return True
    outcome = ("allowed" if status < 400 else "refused" if status in (401, 403)
               else "not found" if status == 404 else None)
    if outcome is None:
        return True
    families = state.get("families_read") if outcome == "allowed" else None
    base = {k: v for k, v in access.items() if k != "family_id"}
    reads = ([Read(**base, outcome=outcome, family_id=f) for f in families] if families
             else [Read(**base, outcome=outcome, family_id=access.get("family_id"))])
    try:
        await run_in_threadpool(scope["app"].state.access_log.record_all, reads)
    except Exception:  # whatever stops the log stops the answer
        log.exception("a read could not be logged: not answered")
        return False
    return True


def _own_team_only(request: Request, path: str, actor: dict[str, str]) -> None:
    """A team role's views across families are its own team's (``own_team``), and on
    /oversight its own footprint only."""
    query = request.query_params
    if "team" in query and query["team"] != actor["team"]:
        raise Problem(403, "Forbidden", f"a {actor['role']} of team {actor['team']} sees only that team")
    if path == "/oversight":
        wrong = [f"{k}={query[k]}" for k in ("manager", "auditor") if k in query and query[k] != actor["user_id"]]
        if wrong:
            raise Problem(403, "Forbidden",
                          f"a {actor['role']} may look up only their own footprint, not {', '.join(wrong)}")


def own_team(actor: dict[str, str], team: str | None) -> str | None:
    """The team a view across families is limited to: a team role's own team, whatever
    it asked for (``enforce`` has refused any other); for other roles, what they asked."""
    if actor["role"] in TEAM_ROLES:
        return actor["team"]
    return team


def _uuid(value: Any, name: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise Problem(422, "Invalid request", f"path.{name}: not a UUID") from None


SESSION_COOKIE = "ledger_session"
"""The console's session cookie: a short-lived bearer token (``console/session.py``)."""


def _credentials(request: Request, *, session: bool = False) -> HTTPAuthorizationCredentials | None:
    header = request.headers.get("Authorization")
    scheme, token = get_authorization_scheme_param(header)
    if (not header or not scheme or not token) and session and request.cookies.get(SESSION_COOKIE):
        request.state.session_cookie = True  # the console's own token: api/auth.py takes it as such
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=request.cookies[SESSION_COOKIE])
    if not header or not scheme or not token:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
