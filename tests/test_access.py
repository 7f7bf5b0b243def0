"""Who may call what: every route the app serves against every kind of caller, cell by cell.

``EXPECTED`` below is written from the requirement (issue "Trust", part 1), not from
``api/access.py``, so that the two can disagree:

    practitioners, supervisors and managers read and write only families allocated to
    their team (a transfer moves that right); auditors read every family and write
    nothing; services read the feed and read models only; admins manage packs and keys
    but do not read case content. Ofsted inspectors read families and exports for a
    limited period (their tokens expire: tests/test_exports.py) and write nothing.

Where the requirement leaves a cell open, the stricter reading is taken and said so in a
comment on the row.

Every cell is one test (``test_cell[<database>-<METHOD> <path> | <actor>]``), run on one
database (SQLite; ``--databases=postgres`` runs it on PostgreSQL: docs/testing.md) against
real families registered through the API: a family held by team north ("held") and one
transferred from north to south ("transferred", family routes only),
where the family's own team is south and the old team, north, is the other team.
An allowed cell must succeed (2xx); a refused one must be 403 problem+json (401 for no
token), record nothing and leave nothing in the family's access log.

Adding a route: add one ``Row`` to ``ROUTES`` (who may call it, and a valid request;
``fresh=True`` if an allowed call would spoil the shared family, ``records=`` if it
records other than one event per POST), then
regenerate docs/access.md with ``python -m tests.test_access``. ``test_every_route_is_in_the_matrix``
fails, naming it, until the row is there.
"""

from __future__ import annotations

import itertools
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.app import served_routes as routes_of
from ledger.application import Ledger
from ledger.settings import Settings
from tests.conftest import SECRET, auth, open_ledger, settings_for
from tests.registration import post_family

# Storage-neutral (docs/testing.md): who may call what is decided before storage, so the
# matrix runs on one database; the access log's own storage (a PostgreSQL table lock, the
# rows a read leaves) is tested on every database, marked storage below.
pytestmark = pytest.mark.one_database

# --- the actors (the matrix's columns) ------------------------------------------------------

TEAM_ROLES = ("practitioner", "supervisor", "manager")
OWN = frozenset(TEAM_ROLES)
"""practitioner, supervisor and manager of the team holding the family."""
OTHER = frozenset(f"other {r}" for r in TEAM_ROLES)
"""The same roles of another team (for the transferred family: the team it left)."""
ACTORS: tuple[str, ...] = (*TEAM_ROLES, *(f"other {r}" for r in TEAM_ROLES),
                           "auditor", "inspector", "service", "admin", "no token")
EVERYONE = frozenset(ACTORS)


@dataclass
class World:
    """One database's families, built once per module and database."""

    client: TestClient
    ledger: Ledger
    held: str
    """A family registered, and still held, by team north."""
    transferred: str
    """A family registered by north and transferred to south (TransferredOut, TransferredIn)."""
    decisions: dict[str, str] = field(default_factory=dict)
    """family id -> the event id of a decision recorded on it."""
    teams: dict[str, tuple[str, str]] = field(default_factory=dict)
    """family id -> (its team, the other team)."""

    def family(self, transferred: bool) -> str:
        """A new family of north's, with an episode and a decision; if ``transferred``,
        transferred to south."""
        north = auth("manager", "manager-north", "north")
        fid = str(self.post("/families", _register_body("north"), north)["family_id"])
        self.post(f"/families/{fid}/commands", {"type": "ReferralReceived", "route": "self", "reason": "help",
                                                "occurred_at": "2026-03-02T09:00:00+00:00"}, north)
        decision = self.post(f"/families/{fid}/commands",
                             {"type": "ManagementOversightRecorded", "text": "plan agreed"}, north)
        self.decisions[fid] = str(decision["event_id"])
        self.teams[fid] = ("north", "south")
        if transferred:
            self.post(f"/families/{fid}/commands", {"type": "TransferredOut", "to_team": "south",
                                                    "reason": "moved house"}, north)
            self.post(f"/families/{fid}/commands", {"type": "TransferredIn", "from_team": "north"},
                      auth("manager", "manager-south", "south"))
            self.teams[fid] = ("south", "north")
            assert self.ledger.family(uuid.UUID(fid)).team == "south"
        return fid

    def post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        r = post_family(self.client, json=body, headers=headers) if url == "/families" else self.client.post(
            url, json=body, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def headers(self, actor: str, family_id: str) -> dict[str, str]:
        own, other = self.teams[family_id]
        if actor == "no token":
            return {}
        if actor in OWN:
            return auth(actor, f"{actor}-{own}", own)
        if actor in OTHER:
            role = actor.removeprefix("other ")
            return auth(role, f"{role}-{other}", other)
        return auth(actor, f"{actor}-1", None)


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None


_REGISTERED = itertools.count(1)


def _register_body(team: str) -> dict[str, Any]:
    """A family of its own: its child's name is numbered, so no registration that may be
    made is another's possible duplicate (answered 409)."""
    return {"policy": "durham-one-point", "team": team, "members": [
        {"given_name": f"Ava {next(_REGISTERED)}", "family_name": "Stone", "date_of_birth": "2016-05-04",
         "kind": "child"},
        {"given_name": "Cara", "family_name": "Stone", "date_of_birth": "1990-02-03", "kind": "adult"},
    ]}


@dataclass(frozen=True)
class Row:
    """One route: who may call it (``allowed``, a set of ``ACTORS``) and a valid request."""

    allowed: frozenset[str]
    call: Callable[[World, str], Call]
    """(world, family id) -> a well-formed request that succeeds when allowed."""
    note: str = ""
    """Shown in docs/access.md."""
    records: int | None = None
    """Events an allowed call records (default: 1 for POST, none otherwise)."""
    logged: bool | None = None
    """Whether an allowed call appends to the family's access log (default: GETs of a
    family's routes do)."""
    fresh: bool = False
    """Each cell gets a family of its own (for calls that change it beyond recording one
    event, e.g. an erasure), registered and, for "transferred", transferred first."""

    def events(self, method: str) -> int:
        return self.records if self.records is not None else int(method == "POST")

    def logs(self, method: str, path: str) -> bool:
        return self.logged if self.logged is not None else method == "GET" and "{family_id}" in path


PERIOD = {"from": "2026-01-01", "to": "2026-12-31"}
HOLD_EVENTS = -1
"""``records`` of a call that records on the hold register (none, if the hold was already
in force): the family's own version is unchanged."""

# --- the matrix (the rows) -------------------------------------------------------------------

ROUTES: dict[tuple[str, str], Row] = {
    ("GET", "/health"): Row(
        EVERYONE, lambda w, f: Call("GET", "/health"),
        "public: liveness for load balancers, no case content"),

    # Packs are the council's published policy, not case content: every signed-in role
    # reads them (admins manage them) except services, which read "the feed and read
    # models only" (stricter reading).
    ("GET", "/policies"): Row(
        EVERYONE - {"service", "no token"}, lambda w, f: Call("GET", "/policies"),
        "reference data, any team; not services (feed and read models only)"),
    ("GET", "/policies/{policy_id}"): Row(
        EVERYONE - {"service", "no token"}, lambda w, f: Call("GET", "/policies/durham-one-point"),
        "reference data, any team; not services (feed and read models only)"),
    ("GET", "/teams"): Row(
        EVERYONE - {"service", "no token"}, lambda w, f: Call("GET", "/teams"),
        "the team directory: reference data, as the packs"),
    # The feed's published JSON Schemas: made from the event classes, no personal data;
    # services read them above all (to validate the feed).
    ("GET", "/schemas"): Row(
        EVERYONE - {"no token"}, lambda w, f: Call("GET", "/schemas"),
        "the feed's schemas: no personal data, any signed-in role"),
    ("GET", "/schemas/{type}"): Row(
        EVERYONE - {"no token"}, lambda w, f: Call("GET", "/schemas/CaseNoteRecorded"),
        "one event type's JSON Schema (or the envelope's)"),

    # Registering a family is a write for the team it names: "the family's team" here is
    # the team in the body, so another team registering it is refused.
    ("POST", "/families"): Row(
        OWN, lambda w, f: Call("POST", "/families", json=_register_body(w.teams[f][0])),
        "for their own team only"),
    ("POST", "/families/{family_id}/commands"): Row(
        OWN, lambda w, f: Call("POST", f"/families/{f}/commands",
                               json={"type": "CaseNoteRecorded", "text": "seen at home"}),
        "own team only; a transfer moves the right"),

    # The family's record as such: its team, auditors, inspectors; not services or admins.
    ("GET", "/families/{family_id}"): Row(
        OWN | {"auditor", "inspector"}, lambda w, f: Call("GET", f"/families/{f}"), "own team only"),
    ("GET", "/families/{family_id}/events"): Row(
        OWN | {"auditor", "inspector"}, lambda w, f: Call("GET", f"/families/{f}/events"), "own team only"),
    ("GET", "/families/{family_id}/decisions/{event_id}"): Row(
        OWN | {"auditor", "inspector"}, lambda w, f: Call("GET", f"/families/{f}/decisions/{w.decisions[f]}"),
        "own team only; the record as it stood"),

    # A family's read models: as its record, and services too.
    ("GET", "/families/{family_id}/deadlines"): Row(
        OWN | {"auditor", "inspector", "service"}, lambda w, f: Call("GET", f"/families/{f}/deadlines"),
        "own team only; a read model, so services too"),
    ("GET", "/families/{family_id}/chronology"): Row(
        OWN | {"auditor", "inspector", "service"}, lambda w, f: Call("GET", f"/families/{f}/chronology"),
        "own team only; a read model, so services too"),
    ("GET", "/families/{family_id}/oversight"): Row(
        OWN | {"auditor", "inspector", "service"}, lambda w, f: Call("GET", f"/families/{f}/oversight"),
        "own team only; a read model, so services too"),

    # Who read the family: an audit and management tool. The requirement does not name it;
    # stricter reading: the team's manager and auditors only (not practitioners,
    # supervisors, inspectors or services).
    ("GET", "/families/{family_id}/access-log"): Row(
        frozenset({"manager", "auditor"}), lambda w, f: Call("GET", f"/families/{f}/access-log"),
        "own team's manager; auditors"),

    # Views across families: a team role sees its own team's (asking for another team is
    # refused); auditors, inspectors and services (read models) every team's.
    ("GET", "/deadlines"): Row(
        OWN | {"auditor", "inspector", "service"},
        lambda w, f: Call("GET", "/deadlines", params={"team": w.teams[f][0]}),
        "own team only; a read model, so services too"),
    ("GET", "/caseloads"): Row(
        OWN | {"auditor", "inspector", "service"},
        lambda w, f: Call("GET", "/caseloads", params={"team": w.teams[f][0]}),
        "own team only; a read model, so services too"),
    # Management oversight across families (gaps, a manager's footprint): stricter
    # reading, supervisors and managers of the team, not practitioners.
    ("GET", "/oversight"): Row(
        frozenset({"supervisor", "manager", "auditor", "inspector", "service"}),
        lambda w, f: Call("GET", "/oversight", params={"gaps": "true", "team": w.teams[f][0]}),
        "own team's supervisors and managers only (and only their own footprint)"),

    # Every event of every family: services and auditors (who read every family). Not
    # team roles (other teams' families), not inspectors (families and exports only:
    # stricter reading), not admins.
    ("GET", "/feed"): Row(
        frozenset({"service", "auditor"}), lambda w, f: Call("GET", "/feed", params={"limit": 5}),
        "every family's events; a service's pseudonymised unless its token has the `feed:full` scope"),
    # Finding a family (by a member's name or date of birth, an id, team, worker, pack,
    # status; or browsing): whoever reads family records, a team role within its own team
    # (asking for another team is refused); not services (they read the feed and read
    # models, and this opens members' names and dates of birth) or admins.
    ("GET", "/families"): Row(
        OWN | {"auditor", "inspector"}, lambda w, f: Call("GET", "/families", params={"team": w.teams[f][0]}),
        "own team only; each family shown is logged, names and dates of birth withheld"),
    # Finding a person by name or date of birth (the blind index): a manager finds the
    # people of the families their team holds, an auditor anyone's.
    ("GET", "/people"): Row(
        frozenset({"manager", "other manager", "auditor"}),
        lambda w, f: Call("GET", "/people", params={"name": "Ava Sto"}),
        "search by name and date of birth (blind index); a manager within their team"),

    # Council-wide returns hold every team's children, so no team role may read them
    # ("only families allocated to their team"); auditors and inspectors do.
    ("GET", "/exports/annex-a/list-2"): Row(
        frozenset({"auditor", "inspector"}), lambda w, f: Call("GET", "/exports/annex-a/list-2", params=PERIOD),
        "council-wide: every team's children"),
    ("GET", "/exports/ssd/early-help-episodes"): Row(
        frozenset({"auditor", "inspector"}),
        lambda w, f: Call("GET", "/exports/ssd/early-help-episodes", params=PERIOD),
        "council-wide: every team's children"),

    # A person's whole record (UK GDPR Art. 15): answered by the family's team manager
    # (the council officer handling the request) or an auditor; stricter reading: not
    # practitioners, supervisors, inspectors or services. Logged in the family's access log.
    ("GET", "/members/{member_id}/subject-access"): Row(
        frozenset({"manager", "auditor"}), lambda w, f: Call("GET", f"/members/{_member(w, f)}/subject-access"),
        "own team's manager; auditors", logged=True),

    # Retention and erasure: admins manage keys, so they erase (destroying the family's
    # key) and place and lift legal holds, without reading case content; auditors may see
    # what is due and held. No team role, inspector or service.
    ("POST", "/families/{family_id}/erasure"): Row(
        frozenset({"admin"}), lambda w, f: _closed(w, f, Call("POST", f"/families/{f}/erasure", json={
            "reason": "erasure-request", "legal_basis": "UK GDPR Art. 17(1)(a)"})),
        "admins only (destroys the family's key); no case content in the answer", fresh=True),
    ("GET", "/legal-holds"): Row(
        frozenset({"admin", "auditor"}), lambda w, f: Call("GET", "/legal-holds"),
        "admins; auditors may see them"),
    ("PUT", "/legal-holds/{family_id}"): Row(
        frozenset({"admin"}), lambda w, f: Call("PUT", f"/legal-holds/{f}", json={"reason": "litigation hold"}),
        "admins only (an event of the hold register, not of the family)", logged=False, records=HOLD_EVENTS),
    ("DELETE", "/legal-holds/{family_id}"): Row(
        frozenset({"admin"}), lambda w, f: _held(w, f, Call("DELETE", f"/legal-holds/{f}")),
        "admins only (an event of the hold register, not of the family)", logged=False, records=HOLD_EVENTS),
    ("GET", "/retention/due"): Row(
        frozenset({"admin", "auditor"}), lambda w, f: Call("GET", "/retention/due"),
        "admins; auditors may see them (ids and dates only)"),

    # The staff directory (names and job titles of users, not of families): admins keep
    # it; everyone else reads the names where the ledger shows them. A change is logged
    # in the access log (action staff-update), not in a family's.
    ("GET", "/staff"): Row(
        frozenset({"admin"}), lambda w, f: Call("GET", "/staff"), "admins only; staff names, no case content"),
    ("GET", "/staff/{user_id}"): Row(
        frozenset({"admin"}), lambda w, f: _staffed(w, Call("GET", "/staff/sot-sfsw-06")),
        "admins only; staff names, no case content"),
    ("PUT", "/staff/{user_id}"): Row(
        frozenset({"admin"}), lambda w, f: Call("PUT", "/staff/sot-sfsw-06", json={
            "name": "Sam Jones", "job_title": "Family Support Worker"}),
        "admins only; each change is in the access log", logged=False),
}
EXPECTED: dict[tuple[str, str], frozenset[str]] = {k: r.allowed for k, r in ROUTES.items()}


def _member(w: World, family_id: str) -> str:
    """The first member of the family (a child)."""
    return str(next(iter(w.ledger.family(uuid.UUID(family_id)).members.values()))["member_id"])


def _closed(w: World, family_id: str, call: Call) -> Call:
    """The family's episode closed first (a family with an open episode is not erased)."""
    manager = w.headers("manager", family_id)
    for body in ({"type": "ClosureProposed", "reason": "outcomes_met"}, {"type": "ClosureAuthorised"},
                 {"type": "DocumentRecorded", "document": "family-survey"},
                 {"type": "EpisodeClosed", "reason": "outcomes_met"}):
        w.post(f"/families/{family_id}/commands", body, manager)
    return call


def _staffed(w: World, call: Call) -> Call:
    """Someone put in the staff directory first, so that reading them can succeed."""
    w.ledger.staff.put("sot-sfsw-06", "Sam Jones", "Family Support Worker", "test-setup")
    return call


def _held(w: World, family_id: str, call: Call) -> Call:
    """A hold placed first, so that lifting it can succeed."""
    r = w.client.put(f"/legal-holds/{family_id}", json={"reason": "litigation hold"},
                     headers=auth("admin", "admin-1", None))
    assert r.status_code == 200, r.text
    return call

PUBLIC_UNLISTED = {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}
"""Served without a token and left out of the matrix: the API's own description."""

FAMILY_ROUTES = [k for k in ROUTES if "{family_id}" in k[1]]
CELLS = [pytest.param("held", k, a, id=f"{k[0]} {k[1]} | {a}") for k in ROUTES for a in ACTORS]
CELLS += [pytest.param("transferred", k, a, id=f"transferred: {k[0]} {k[1]} | {a}")
          for k in FAMILY_ROUTES for a in ACTORS]


# --- the world, once per database ------------------------------------------------------------


@pytest.fixture(scope="module")
def world(database: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = settings_for(database, tmp_path_factory.mktemp("access") / "data", request)
    ledger = open_ledger(settings)
    try:
        with TestClient(create_app(ledger), raise_server_exceptions=False) as client:
            yield _build(client, ledger)
    finally:
        ledger.close()


def _build(client: TestClient, ledger: Ledger) -> World:
    world = World(client, ledger, held="", transferred="")
    world.held = world.family(transferred=False)
    world.transferred = world.family(transferred=True)
    return world


# --- every cell ------------------------------------------------------------------------------


def _send(world: World, call: Call, headers: dict[str, str]) -> Any:
    return world.client.request(call.method, call.url, params=call.params, json=call.json, headers=headers)


@pytest.mark.parametrize("which, route, actor", CELLS)
def test_cell(world: World, which: str, route: tuple[str, str], actor: str) -> None:
    row = ROUTES[route]
    family_id = world.family(which == "transferred") if row.fresh else getattr(world, which)
    fid = uuid.UUID(family_id)
    call = row.call(world, family_id)
    position = world.ledger.recorder.max_notification_id()
    version = world.ledger.family(fid).version
    reads = len(world.client.app.state.access_log.for_family(fid))  # type: ignore[attr-defined]

    r = _send(world, call, world.headers(actor, family_id))

    log = world.client.app.state.access_log.for_family(fid)  # type: ignore[attr-defined]
    after_reads = len(log)
    if actor in row.allowed:
        assert 200 <= r.status_code < 300, f"{actor} should be allowed {route}: {r.status_code} {r.text}"
        if row.logs(*route):
            assert after_reads == reads + 1, "an allowed read of a family's record is logged"
            assert log[-1]["outcome"] == "allowed"
        else:
            assert after_reads in (reads, reads + 1), "a list logs the families it shows, once each"
        if row.records == HOLD_EVENTS:
            assert world.ledger.recorder.max_notification_id() >= position
            assert world.ledger.family(fid).version == version
        else:
            assert world.ledger.recorder.max_notification_id() == position + row.events(route[0])
        return
    expected = 401 if actor == "no token" else 403
    assert r.status_code == expected, f"{actor} should be refused {route}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == expected and problem["detail"]
    if expected == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert world.ledger.recorder.max_notification_id() == position, "a refused request records nothing"
    assert world.ledger.family(fid).version == version, "a refused request records nothing"
    if expected == 403 and row.logs(*route):  # the attempt is logged, refused
        assert after_reads == reads + 1 and log[-1]["outcome"] == "refused", (route, actor, log[-1:])
    else:
        assert after_reads == reads, "no token (401), or a route that shows no family's record: nothing logged"


# --- the matrix covers the app, and the app the matrix ---------------------------------------


def served_routes() -> set[tuple[str, str]]:
    app = create_app(settings=Settings(data_dir=Path("/nonexistent-not-opened"), jwt_secret=SECRET))
    found = set()
    for route in routes_of(app):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, route.path))  # type: ignore[attr-defined]
    return found


def test_every_route_is_in_the_matrix_and_every_row_is_a_route() -> None:
    served = served_routes()
    missing = sorted(served - set(ROUTES) - PUBLIC_UNLISTED)
    stale = sorted(set(ROUTES) - served)
    assert not missing, f"routes the app serves that tests/test_access.py ROUTES lacks: {missing}"
    assert not stale, f"rows in tests/test_access.py ROUTES the app does not serve: {stale}"
    assert served >= PUBLIC_UNLISTED


def test_the_routes_left_out_of_the_matrix_are_the_api_description_and_need_no_token(world: World) -> None:
    app = world.client.app
    assert {(m, r.path) for r in routes_of(app) if not isinstance(r, APIRoute)  # type: ignore[attr-defined,arg-type]
            for m in r.methods if m != "HEAD"} == PUBLIC_UNLISTED  # type: ignore[attr-defined]
    for _, path in sorted(PUBLIC_UNLISTED - {("GET", "/docs/oauth2-redirect")}):
        assert world.client.get(path).status_code == 200, path


def test_views_across_families_show_a_team_only_its_own_families(world: World) -> None:
    """Without ``team=``, a team role's cross-family views are its own team's: south sees
    the transferred family and not the held one, north the reverse."""
    for team, mine, theirs in (("north", world.held, world.transferred), ("south", world.transferred, world.held)):
        for role in TEAM_ROLES:
            headers = auth(role, f"{role}-{team}", team)
            rows = world.client.get("/deadlines", headers=headers).json()["deadlines"]
            assert mine in {r["family_id"] for r in rows} and theirs not in {r["family_id"] for r in rows}
            assert {r["team"] for r in rows} == {team}
            teams = world.client.get("/caseloads", headers=headers).json()["teams"]
            assert [t["team"] for t in teams] == [team]
            if role != "practitioner":
                gaps = world.client.get("/oversight", params={"gaps": "true"}, headers=headers).json()
                assert gaps["team"] == team and theirs not in str(gaps)
        r = world.client.get("/oversight", params={"manager": "someone-else"}, headers=auth("manager", "m", team))
        assert r.status_code == 403, "a manager looks up only their own footprint"


def test_a_managers_footprint_leaves_out_families_their_team_no_longer_holds(world: World) -> None:
    """manager-north recorded decisions on both families; after the transfer their own
    footprint (/oversight?manager=, ?auditor=) shows only the family north still holds.
    An auditor still sees both."""
    me = auth("manager", "manager-north", "north")
    for params, key in (({"manager": "manager-north"}, "families"), ({"auditor": "manager-north"}, "footprint")):
        mine = world.client.get("/oversight", params=params, headers=me)
        assert mine.status_code == 200, mine.text
        assert world.held in {f["family_id"] for f in mine.json()[key]}
        assert world.transferred not in mine.text, "the old team reads nothing of a family transferred away"
        audit = world.client.get("/oversight", params=params, headers=auth("auditor", "ada", None)).json()
        assert {world.held, world.transferred} <= {f["family_id"] for f in audit[key]}


def test_a_route_missing_from_the_policy_is_refused_to_every_role(world: World) -> None:
    """Fail closed: a route added without a row in api/access.py's POLICY is 403 to all."""
    app = create_app(world.ledger)

    @app.get("/not-in-the-policy")
    def unlisted() -> dict[str, str]:
        return {"leaked": "yes"}

    with TestClient(app, raise_server_exceptions=False) as client:
        for actor in ACTORS:
            r = client.get("/not-in-the-policy", headers=world.headers(actor, world.held))
            assert r.status_code == (401 if actor == "no token" else 403), (actor, r.text)
            assert "leaked" not in r.text


def test_during_a_transfer_the_receiving_team_only_accepts_it(world: World) -> None:
    """Between TransferredOut and TransferredIn the family is still the sending team's: the
    receiving team may record accepting it and nothing else, and reads nothing yet."""
    north = auth("manager", "manager-north", "north")
    west = auth("practitioner", "practitioner-west", "west")
    r = post_family(world.client, json=_register_body("north"), headers=north)
    fid = r.json()["family_id"]
    r = world.client.post(f"/families/{fid}/commands", headers=north,
                          json={"type": "ReferralReceived", "route": "self", "reason": "help"})
    assert r.status_code == 201, r.text
    r = world.client.post(f"/families/{fid}/commands", headers=north,
                          json={"type": "TransferredOut", "to_team": "west", "reason": "moved"})
    assert r.status_code == 201, r.text
    version = world.ledger.family(uuid.UUID(fid)).version
    assert world.client.get(f"/families/{fid}", headers=west).status_code == 403
    r = world.client.post(f"/families/{fid}/commands", headers=west, json={"type": "CaseNoteRecorded", "text": "x"})
    assert r.status_code == 403 and world.ledger.family(uuid.UUID(fid)).version == version
    assert world.client.get(f"/families/{fid}", headers=north).status_code == 200
    r = world.client.post(f"/families/{fid}/commands", headers=west,
                          json={"type": "TransferredIn", "from_team": "north"})
    assert r.status_code == 403 and "supervisor or manager" in r.json()["detail"], r.text  # a team's manager accepts
    west_manager = auth("manager", "wes", "west")
    r = world.client.post(f"/families/{fid}/commands", headers=west_manager,
                          json={"type": "TransferredIn", "from_team": "north"})
    assert r.status_code == 201, r.text
    assert world.client.get(f"/families/{fid}", headers=west).status_code == 200
    assert world.client.get(f"/families/{fid}", headers=north).status_code == 403


# --- docs/access.md --------------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "access.md"
COLUMNS = (*TEAM_ROLES, "auditor", "inspector", "service", "admin", "no token")


def _mark(row: Row, column: str) -> str:
    if column in TEAM_ROLES:
        own, other = column in row.allowed, f"other {column}" in row.allowed
        return "✓" if own and other else "✓ own team" if own else "✗"
    return "✓" if column in row.allowed else "✗"


def render() -> str:
    """docs/access.md, from ``ROUTES``."""
    lines = [
        "# Access by role",
        "",
        "<!-- Generated from tests/test_access.py ROUTES: run `python -m tests.test_access`. -->",
        "",
        "Who may call each endpoint. \"✓ own team\": only on families their team holds (a",
        "transfer moves that right) and, on views across families, only their own team's;",
        "✗ is refused with 403 problem+json (401 without a token). Inspectors' tokens last at",
        "most the two weeks of an inspection. The API description (`/openapi.json`, `/docs`,",
        "`/redoc`) needs no token.",
        "",
        "| Endpoint | " + " | ".join(COLUMNS) + " | Notes |",
        "|---|" + "---|" * len(COLUMNS) + "---|",
    ]
    for (method, path), row in ROUTES.items():
        marks = " | ".join(_mark(row, c) for c in COLUMNS)
        lines.append(f"| `{method} {path}` | {marks} | {row.note} |")
    lines += [
        "",
        "It is tested cell by cell: `tests/test_access.py` holds this table as data and sends",
        "every endpoint a valid request as every role (of the family's team, of another team,",
        "and for a family transferred between teams) on SQLite and PostgreSQL, checking that",
        "allowed calls succeed and refused ones are 403/401 and record nothing; it fails if the",
        "app serves an endpoint the table lacks, or if this page is out of date.",
        "",
    ]
    return "\n".join(lines)


def test_docs_access_md_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/access.md is out of date: run `python -m tests.test_access`")


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)


# --- everything read is logged -------------------------------------------------------------------

NOT_A_READ: dict[tuple[str, str], str] = {
    ("GET", "/health"): "liveness: positions and counts, nothing of any family",
    ("GET", "/policies"): "the packs: published reference data",
    ("GET", "/policies/{policy_id}"): "one pack: published reference data",
    ("GET", "/teams"): "the team directory: reference data",
    ("GET", "/schemas"): "the feed's schemas: made from the event classes",
    ("GET", "/schemas/{type}"): "one event type's schema: made from its class",
    ("GET", "/staff"): "the staff directory: names of users, not of families",
    ("GET", "/staff/{user_id}"): "one user's name in the staff directory",
}
"""The GET routes that show nothing of any family's record, and why. Every other route
that reads is logged; the writes record events, whose own chain says who and when."""


def _log_size(world: World) -> int:
    from ledger.access_log import head

    with world.client.app.state.access_log._tx(commit=False) as tx:  # type: ignore[attr-defined]
        return head(tx)[0]


@pytest.mark.storage
@pytest.mark.parametrize("route", sorted(k for k in ROUTES if k[0] == "GET"), ids=lambda k: f"{k[0]} {k[1]}")
def test_every_read_in_the_openapi_document_is_in_the_access_log_with_its_outcome(world: World, route) -> None:
    paths = world.client.get("/openapi.json").json()["paths"]
    assert route[1] in paths and route[0].lower() in paths[route[1]], route  # the document names it
    row = ROUTES[route]
    actor = next(a for a in ACTORS if a in row.allowed)
    call = row.call(world, world.held)
    before = _log_size(world)
    r = _send(world, call, world.headers(actor, world.held))
    assert 200 <= r.status_code < 300, r.text
    after = world.client.get("/health")  # any other request writes nothing
    assert after.status_code == 200
    if route in NOT_A_READ:
        assert _log_size(world) == before, f"{route} shows no family's record: {NOT_A_READ[route]}"
        return
    assert _log_size(world) > before, f"{route} returned {r.status_code} and left no access-log row"
    with world.client.app.state.access_log._tx(commit=False) as tx:  # type: ignore[attr-defined]
        rows = tx.rows("SELECT * FROM {access_log} WHERE seq > ? ORDER BY seq", (before,))
    assert {x["outcome"] for x in rows} == {"allowed"} and {x["path"] for x in rows} == {call.url}


@pytest.mark.storage
def test_a_read_of_a_family_that_does_not_exist_is_logged_not_found(world: World) -> None:
    missing = uuid.uuid4()
    r = world.client.get(f"/families/{missing}/chronology", headers=auth("auditor", "auditor-1", None))
    assert r.status_code == 404
    log = world.client.app.state.access_log.for_family(missing)  # type: ignore[attr-defined]
    assert [(x["outcome"], x["user_id"]) for x in log] == [("not found", "auditor-1")]


@pytest.mark.storage
def test_a_search_logs_the_families_it_found_and_withholds_the_terms(world: World) -> None:
    r = world.client.get("/people", params={"name": "stone"}, headers=auth("auditor", "auditor-1", None))
    assert r.status_code == 200 and r.json()["count"] >= 1
    fid = uuid.UUID(r.json()["people"][0]["family_id"])
    last = world.client.app.state.access_log.for_family(fid)[-1]  # type: ignore[attr-defined]
    assert (last["action"], last["query"], last["outcome"]) == ("search", "name=%5Bwithheld%5D", "allowed")


@pytest.mark.storage
@pytest.mark.parametrize("args", [
    ["chronology", "--family", "{family}", "--profile", "review", "--format", "csv"],
    ["annex-a", "--from", "2020-01-01", "--to", "2030-12-31"],
    ["ssd", "--from", "2020-01-01", "--to", "2030-12-31"],
    ["--member", "{member}"],
], ids=["chronology", "annex-a", "ssd", "subject-access"])
def test_every_export_from_the_command_line_is_logged(settings, ledger_cli, args) -> None:
    ledger = open_ledger(settings)
    try:
        with TestClient(create_app(ledger), raise_server_exceptions=False) as client:
            w = World(client, ledger, held="", transferred="")
            family = w.family(transferred=False)
        member = _member(w, family)
        before = ledger.access_log.head()[0]
        result = ledger_cli("export", *[a.format(family=family, member=member) for a in args])
        assert result.exit_code == 0, result.output
        with ledger.access_log._tx(commit=False) as tx:
            rows = tx.rows("SELECT * FROM {access_log} WHERE seq > ? ORDER BY seq", (before,))
        assert rows and all(r["user_id"].startswith("cli:") and r["path"].startswith("ledger export") for r in rows)
        if args[0] in ("chronology", "--member"):  # the family's own record: its row
            assert [r["family_id"] for r in rows] == [uuid.UUID(family).hex]
    finally:
        ledger.close()
