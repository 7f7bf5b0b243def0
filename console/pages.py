"""The console's pages: each parses its form, calls the same query functions as the API
(``queries/``) and renders a template. The access table has authorised the page and
will log the read before any of this runs (``api/access.py``, ``console/access.py``)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from aggregates.errors import InvalidCommand
from aggregates.events import VOCABULARY
from aggregates.vocabulary import ROLES, TEAM_ROLES
from api.access import MANAGER_OR_AUDITOR, own_team
from api.auth import Actor
from api.dependencies import LedgerDep, ReadModels, Shown
from api.headers import file
from console import oidc, session
from console.access import PREFIX
from console.folding import Line, fold
from console.rendering import UK, page
from console.timeline import timeline_svg
from documents import chronology as documents
from queries import chronology, deadlines, exports, families, oversight, policies, trust
from queries.search import find_families

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(session.alive)])
home = APIRouter(include_in_schema=False)

PROFILES = {"court": "Court (PD12A)", "practice": "Practice (multi-agency)", "review": "Case review"}
ENTRIES_A_PAGE = 100
"""The chronology's entries on one page of the family page (the downloads hold them all)."""
DOWNLOADS = ("pdf", "docx", "csv")


@home.get("/")
def root() -> RedirectResponse:
    """The service's front door is the console."""
    return RedirectResponse(f"{PREFIX}/", status_code=303)


# -- signing in and out -----------------------------------------------------------------------


@router.get("/sign-in")
def sign_in_form(request: Request, ledger: LedgerDep, next: str = f"{PREFIX}/") -> Response:
    """The sign-in page: through the council's identity provider where one is set up
    (``console/oidc.py``), a local demo sign-in where the settings allow it."""
    return page(request, "sign_in.html", title="Sign in", next=_local(next), errors={},
                oidc=request.app.state.oidc is not None,
                start=f"{PREFIX}/auth/start?" + urlencode({"next": _local(next)}),
                roles=[r for r in ROLES if r != "service"], teams=ledger.teams.all(),
                form={"role": "auditor", "team": "", "user_id": ""}, actor=None)


@router.post("/sign-in")
def sign_in(request: Request, ledger: LedgerDep,
            user_id: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
            team: Annotated[str, Form()] = "", next: Annotated[str, Form()] = f"{PREFIX}/") -> Response:
    """Sign a demo user in (only where ``console_demo_sign_in`` is on)."""
    settings = ledger.settings
    if not request.app.state.console_demo:  # off, or refused where the identity provider signs staff in
        return page(request, "sign_in.html", status=403, title="Sign in", next=_local(next), actor=None,
                    errors={"": "Demo sign-in is turned off in this deployment."}, roles=[], teams=[], form={})
    errors: dict[str, str] = {}
    user_id = user_id.strip()
    if not user_id or len(user_id) > 64 or not user_id.isprintable():
        errors["user_id"] = "Enter a user id of 1 to 64 printable characters"
    if role not in ROLES or role == "service":
        errors["role"] = "Choose a role"
    if role in TEAM_ROLES and ledger.teams.get(team) is None:
        errors["team"] = f"Choose the team a {role or 'team member'} works in"
    if errors:
        return page(request, "sign_in.html", status=422, title="Sign in", next=_local(next), errors=errors,
                    roles=[r for r in ROLES if r != "service"], teams=ledger.teams.all(), actor=None,
                    form={"user_id": user_id, "role": role, "team": team})
    response = RedirectResponse(_local(next), status_code=303)
    known = ledger.staff.get(user_id)  # the demo's staff directory names the person signing in (ADR 0030)
    session.start(response, request, settings, user_id=user_id, role=role,
                  team=team if role in TEAM_ROLES else None, now=datetime.now(timezone.utc),
                  name=known.name if known else None, job_title=known.job_title if known else None)
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    """End the session: the cookie goes, and its session id is refused from now on."""
    ended = session.identify(request)
    if ended is not None:
        request.app.state.console_sessions.end(*ended)
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    session.stop(response, request)
    return oidc.end_provider_session(request, response)


def _local(target: str) -> str:
    """Where to go after signing in: a console page of this app, never another site."""
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"


# -- home, search -----------------------------------------------------------------------------


@router.get("/")
def start_page(request: Request, actor: Actor, ledger: LedgerDep) -> Response:
    """What the signed-in person can do from here, by role."""
    return page(request, "home.html", title="Early Help case ledger", teams=ledger.teams.all(),
                policies=policies.policies(ledger)["policies"], can_search=actor["role"] in _readers())


def _readers() -> frozenset[str]:
    from api.access import READERS

    return READERS


@router.get("/families")
def search(
    request: Request, actor: Actor, ledger: LedgerDep, read_models: ReadModels, shown: Shown,
    name: str = "", date_of_birth: str = "", id: str = "", team: str = "", worker: str = "", policy: str = "",
    nhs_number: str = "", upn: str = "", postcode: str = "",
    status: Literal["any", "open", "closed"] = "any", sort: str = "recent",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """Find a family: by a member's name (or former name), date of birth, NHS number or
    UPN, a postcode it has lived at (the blind index), an id, the team, worker, pack and
    whether it is open; closed families included."""
    errors: dict[str, str] = {}
    born: date | None = None
    if date_of_birth.strip():
        try:
            born = date.fromisoformat(date_of_birth.strip())
        except ValueError:
            errors["date_of_birth"] = "Enter a date of birth as a real date, for example 2019-03-27"
    found = None
    criteria = {k: v for k, v in {"name": name, "date_of_birth": date_of_birth, "id": id, "team": team,
                                   "worker": worker, "policy": policy, "nhs_number": nhs_number, "upn": upn,
                                   "postcode": postcode}.items() if v.strip()}
    if not errors:
        try:
            found = find_families(
                read_models, name=name.strip() or None, date_of_birth=born, family_or_member_id=id.strip() or None,
                team=own_team(actor, team.strip() or None), worker=worker.strip() or None,
                policy=policy.strip() or None, status=status, sort=sort, page=page_number, per_page=25,
                within_team=actor["team"] if actor["role"] in TEAM_ROLES else None,
                nhs_number=nhs_number.strip() or None, upn=upn.strip() or None, postcode=postcode.strip() or None)
        except InvalidCommand as e:
            errors[_form_field(e.field)] = e.detail
    if found is not None:
        shown(r["family_id"] for r in found["families"])
    form = {"name": name, "date_of_birth": date_of_birth, "id": id, "team": team, "worker": worker,
            "policy": policy, "nhs_number": nhs_number, "upn": upn, "postcode": postcode, "status": status,
            "sort": sort}
    return page(request, "search.html", status=422 if errors else 200, title="Find a family", form=form,
                errors=errors, found=found, searched=bool(criteria) or status != "any",
                teams=ledger.teams.all(), policies=policies.policies(ledger)["policies"],
                page_link=lambda n: f"{PREFIX}/families?" + urlencode(
                    {**{k: v for k, v in form.items() if v and v != "any"}, "page": n}))


def _form_field(field: str | None) -> str:
    """The form's name for a field a query named."""
    return "id" if field == "family_or_member_id" else field or ""


# -- a family ---------------------------------------------------------------------------------


def _moment(value: str, field: str, errors: dict[str, str], *, end_of_day: bool = False) -> datetime | None:
    """A date or date-and-time from the form (UK time), as an instant; '' is none."""
    value = value.strip()
    if not value:
        return None
    try:
        if "T" in value:
            return datetime.fromisoformat(value).replace(tzinfo=UK).astimezone(timezone.utc)
        day = date.fromisoformat(value)
    except ValueError:
        errors[field] = "Enter a real date (and time), for example 2026-03-27 or 2026-03-27T14:30"
        return None
    moment = datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time(), UK)
    return moment.astimezone(timezone.utc)


@router.get("/families/{family_id}")
def family_page(
    request: Request, actor: Actor, ledger: LedgerDep, read_models: ReadModels, family_id: UUID,
    profile: Literal["record", "court", "practice", "review"] = "record", member: str = "",
    as_at: str = "", as_of: str = "", page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
    clocks_shown: Annotated[Literal["current", "all"], Query(alias="deadlines")] = "current",
) -> Response:
    """The family: members, episode, team and worker; its chronology (the whole record or
    an export profile, one child's or all), a page of entries at a time; its deadlines as
    a table and a timeline, a recurring rule's earlier clocks folded into its latest
    (``deadlines=all``: every clock on a line of its own); as it stands or as it stood."""
    errors: dict[str, str] = {}
    known_at = _moment(as_at, "as_at", errors)
    state_on = _moment(as_of, "as_of", errors, end_of_day=True)
    if known_at is not None and known_at > ledger.clock():
        errors["as_at"] = "Choose a moment in the past: the record cannot say what it will know"
    if errors:
        known_at = state_on = None
    if state_on is None and known_at is not None:
        state_on = known_at
    chosen: UUID | None = None
    if member.strip():
        try:
            chosen = UUID(member.strip())
        except ValueError:
            errors["member"] = "Choose a child from the list"
    state = families.family(ledger, family_id, known_at, read_models)
    if chosen is not None and all(m["member_id"] != chosen for m in state["members"]):
        errors["member"] = "Choose a member of this family"
        chosen = None
    document = record = past = None
    if known_at is not None:  # the record as it stood: replayed once, whole, for the page and the deadlines
        past = chronology.chronology(ledger, read_models, family_id, member=chosen, as_at=known_at)
    if profile != "record":
        document = json.loads(exports.chronology_export(
            ledger, read_models, family_id, profile=profile, fmt="json", member=chosen, as_at=known_at).content)
    if profile == "record" and past is None:  # only the page is read
        record = chronology.chronology(ledger, read_models, family_id, member=chosen,
                                       offset=(page_number - 1) * ENTRIES_A_PAGE, limit=ENTRIES_A_PAGE)
        if not record["entries"] and record["total"]:  # past the end: the last page
            page_number = _pages(record["total"])
            record = chronology.chronology(ledger, read_models, family_id, member=chosen,
                                           offset=(page_number - 1) * ENTRIES_A_PAGE, limit=ENTRIES_A_PAGE)
        entries, total, shown_from = record["entries"], record["total"], record["offset"]
    else:  # a whole chronology or document, and a page of it shown
        record = past if profile == "record" else None
        whole: list[Any] = list(document["entries"] if document is not None else past["entries"] if past else [])
        total = len(whole)
        page_number = min(page_number, _pages(total))
        shown_from = (page_number - 1) * ENTRIES_A_PAGE
        entries = whole[shown_from:shown_from + ENTRIES_A_PAGE]
    clocks = deadlines.family_deadlines(ledger, family_id, as_of=state_on, as_at=known_at)
    today = (state_on or ledger.clock()).astimezone(UK).date()
    every_clock = clocks_shown == "all"
    lines = [Line(c) for c in clocks["deadlines"]] if every_clock else fold(clocks["deadlines"])
    picture = timeline_svg(clocks["deadlines"], today=today, lines=lines,
                           as_of_label=f"As of {today:%d/%m/%Y}" if state_on is not None else None)
    events = chronology.entry_kinds(read_models, family_id, [e for line in lines for e in (
        line.clock["started_by"], line.clock["stopped_by"])]) if past is None else {
        e["event_id"]: e for e in past["entries"] if e["event_id"]}
    keep = {k: v for k, v in {"as_at": as_at, "as_of": as_of, "member": member}.items() if v and k not in errors}
    if every_clock:
        keep["deadlines"] = "all"
    return page(
        request, "family.html", status=422 if errors else 200, title=_family_title(state), family=state,
        record=record, document=document, lines=lines, every_clock=every_clock,
        events=events, shown=entries, shown_from=shown_from, total=total,
        page_number=page_number, pages=_pages(total),
        profile=profile, profiles=PROFILES, clocks=clocks, timeline=picture, errors=errors,
        past=known_at is not None or state_on is not None, known_at=known_at, state_on=state_on,
        form={"as_at": as_at, "as_of": as_of, "member": member}, chosen=chosen,
        decisions={name for name, cls in VOCABULARY.items() if cls.decision_kind},
        link=lambda **changes: f"{PREFIX}/families/{family_id}?" + urlencode({**keep, "profile": profile, **changes}),
        downloads=DOWNLOADS, can_read_log=actor["role"] in MANAGER_OR_AUDITOR,
        now=ledger.clock())


def _pages(entries: int) -> int:
    """How many pages of the chronology ``entries`` fill (one, when there are none)."""
    return max(1, -(-entries // ENTRIES_A_PAGE))


def _family_title(state: Any) -> str:
    """A family's name as staff say it: the family names of its members ("Stone family")."""
    names = list(dict.fromkeys(m["family_name"] for m in state["members"] if m.get("family_name")))
    return (" / ".join(names[:3]) + " family") if names else f"Family {str(state['family_id'])[:8]}"


@router.get("/families/{family_id}/decisions/{event_id}")
def decision_page(request: Request, actor: Actor, ledger: LedgerDep, family_id: UUID, event_id: UUID) -> Response:
    """What the decision-maker saw: the record, deadlines and overdue clocks just before
    the decision was recorded (the same query as ``GET /families/{id}/decisions/{event_id}``)."""
    found = families.decision(ledger, family_id, event_id)
    at = found["as_at"]
    picture = timeline_svg(found["deadlines"]["deadlines"], today=at.astimezone(UK).date(), folded=True,
                           as_of_label=f"Decision {at.astimezone(UK):%d/%m/%Y}")
    overdue = [c for c in found["deadlines"]["deadlines"] if c["state"] == "overdue"]
    return page(request, "decision.html", title=f"What the decision-maker saw: {_family_title(found['family'])}",
                found=found, family=found["family"], timeline=picture, overdue=overdue,
                kind=VOCABULARY[found["decision"]["type"]].decision_kind)


@router.get("/families/{family_id}/oversight")
def oversight_page(request: Request, actor: Actor, ledger: LedgerDep, read_models: ReadModels,
                   family_id: UUID) -> Response:
    """Who decided what on the family, who has a footprint on it, and its oversight gap."""
    found = oversight.family_oversight(ledger, read_models, family_id,
                                       auditor=actor["user_id"] if actor["role"] == "auditor" else None)
    state = families.family(ledger, family_id)
    return page(request, "oversight.html", title=f"Oversight: {_family_title(state)}", found=found, family=state)


@router.get("/families/{family_id}/access-log")
def access_log_page(request: Request, actor: Actor, ledger: LedgerDep, family_id: UUID) -> Response:
    """Who read the family's record, when, what, and whether they were let."""
    found = trust.access_log(ledger, family_id)
    state = families.family(ledger, family_id)
    return page(request, "access_log.html", title=f"Access log: {_family_title(state)}",
                reads=list(reversed(found["reads"])), family=state)


@router.get("/families/{family_id}/download")
def download(actor: Actor, ledger: LedgerDep, read_models: ReadModels, family_id: UUID,
             profile: Literal["court", "practice", "review"], format: Literal["csv", "pdf", "docx"],
             member: UUID | None = None, case_number: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """The chronology in a profile as a file, as the signed-in person (logged as an export)."""
    return file(exports.chronology_export(ledger, read_models, family_id, profile=profile, fmt=format,
                                          member=member, case_number=case_number,
                                          prepared_by=exports.prepared_by(ledger, actor)))


@router.get("/families/{family_id}/document")
def document_page(actor: Actor, ledger: LedgerDep, read_models: ReadModels, family_id: UUID,
                  profile: Literal["court", "practice", "review"] = "court", member: UUID | None = None,
                  case_number: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """The chronology document as the PDF prints it, from the same template
    (``documents/templates/chronology.html``), to read or print from the browser (logged
    as an export, like the download)."""
    found = exports.chronology_document(ledger, read_models, family_id, profile=profile, member=member,
                                        case_number=case_number, prepared_by=exports.prepared_by(ledger, actor))
    query = {k: v for k, v in {"profile": profile, "member": str(member) if member else "",
                               "case_number": found.case_number or ""}.items() if v}
    links = {"Back to the family": f"{PREFIX}/families/{family_id}",
             **{f"Download {fmt.upper()}": f"{PREFIX}/families/{family_id}/download?"
                + urlencode({**query, "format": fmt}) for fmt in DOWNLOADS}}
    return HTMLResponse(documents.html(found, stylesheet=f"{PREFIX}/static/documents/print.css", preview=links))


# -- a team -----------------------------------------------------------------------------------


@router.get("/team")
def team_page(request: Request, actor: Actor, ledger: LedgerDep, read_models: ReadModels, shown: Shown,
              team: str = "", show: Literal["overdue", "week"] = "overdue",
              episodes: Literal["open", "closed", "any"] = "open") -> Response:
    """A team's caseloads against their caps, and its overdue or due-this-week clocks, of
    open families (or, for a review, closed ones)."""
    chosen = own_team(actor, team or None)
    if chosen is None:
        return page(request, "team_choose.html", title="Choose a team", teams=ledger.teams.all())
    loads = oversight.caseloads(ledger, read_models, chosen)
    today = ledger.clock().astimezone(UK).date()
    if show == "overdue":
        listed = deadlines.deadlines(ledger, read_models, team=chosen, states={"overdue"}, episodes=episodes)
    else:
        listed = deadlines.deadlines(ledger, read_models, team=chosen, states={"running"},
                                     due_before=today + timedelta(days=8), episodes=episodes)
    shown(c["family_id"] for c in listed["deadlines"])
    known = ledger.teams.get(chosen)
    return page(request, "team.html", title=f"Team {known['name'] if known else chosen}", team=chosen,
                team_name=known["name"] if known else chosen, loads=loads, listed=listed, show=show,
                today=today, teams=ledger.teams.all(), episodes=episodes)


# -- policy packs -----------------------------------------------------------------------------


@router.get("/policies")
def policies_page(request: Request, actor: Actor, ledger: LedgerDep) -> Response:
    return page(request, "policies.html", title="Policy packs", found=policies.policies(ledger)["policies"])


@router.get("/policies/{policy_id}")
def policy_page(request: Request, actor: Actor, ledger: LedgerDep, policy_id: str) -> Response:
    """A pack's rules: title, timescale, start and stop, seed citation, and the reading
    recorded where the seed's text is ambiguous."""
    pack = policies.policy(ledger, policy_id)
    return page(request, "policy.html", title=pack.title, pack=pack)
