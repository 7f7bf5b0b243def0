"""A family's current facts, folded from its entries: the one place they are worked out.

Which team holds the family, who its members are, its episodes (open or closed, pathway,
lead worker and other workers, consent, pauses, assessments, plans, closure, extensions),
and a transfer waiting to be accepted. The aggregate (``aggregates/family.py``) checks
commands against this state; the deadline engine (``ledger/deadlines.py``) walks it to
know the pathway and episode at each moment; the read models (caseloads, oversight,
episodes, deadlines) report it. They agree because they run this code, on the same
facts (corrections applied) in recording order (``tests/test_state_fold.py`` checks
it after every event of the demo families).

Pure: plain data in (a ``Fact`` per entry) and plain data out (TypedDicts of JSON-friendly
values, so the aggregate's snapshots serialise them as they are). Ids may arrive as
``UUID`` (events) or as hex strings (stored chronology rows); keys are always hex.
Free text is never kept: what the state holds is the audit structure, not the narrative.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, NotRequired, TypedDict, cast
from uuid import UUID

from typing_extensions import TypedDict as ExtensionsTypedDict

from aggregates.corrections import corrected
from aggregates.events import MEMBER_DETAILS_FIELDS, VOCABULARY, FamilyEvent, payload_fields
from aggregates.vocabulary import MANAGEMENT_ROLES


class Fact(NamedTuple):
    """One entry as the fold reads it: its type, when it happened, who recorded it, whom
    it is about and its values (corrections applied)."""

    event_id: UUID
    type: str
    occurred_at: datetime
    actor: Mapping[str, str]
    about: tuple[Any, ...]
    values: Mapping[str, Any]


class MemberDetails(ExtensionsTypedDict, total=False):
    """What may be known of a member beyond who they are (``MEMBER_DETAILS_FIELDS``): the
    state's, the API's family view's and a subject access answer's alike. (The pydantic
    the API documents them with needs ``typing_extensions``' TypedDict before Python 3.12.)"""

    nhs_number: str | None
    upn: str | None
    """Unique Pupil Number."""
    council_person_id: str | None
    former_names: list[str] | None
    phone: str | None
    email: str | None
    relationship: str | None
    """To the family's children: parent, step_parent, carer, sibling, grandparent, other."""
    parental_responsibility: bool | None


class Member(MemberDetails, total=False):
    member_id: Any
    given_name: str
    family_name: str
    kind: str
    date_of_birth: Any
    gender: str | None
    ethnicity: str | None
    expected_date: Any
    """An unborn member's expected date of delivery (kept once they are born)."""
    added_by: Any


class Assessment(TypedDict):
    assessment_id: Any
    kind: str
    status: str  # started, submitted, returned, authorised
    started_at: datetime
    submitted_at: datetime | None
    submitted_by: str | None
    authorised_by: str | None


class Plan(TypedDict):
    plan_id: Any
    status: str  # agreed, authorised
    agreed_at: datetime
    shared_with: list[str]


class Closure(TypedDict):
    reason: str
    proposed_by: str | None
    proposed_at: datetime
    authorised: bool
    authorised_by: str | None
    authorised_at: datetime | None


class Episode(TypedDict):
    """One episode of early help: from a referral to its closure."""

    episode_id: Any
    status: str  # open, closed
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    referrals: list[Any]
    pathway: str | None
    team: str
    worker: str | None
    """The lead professional (the last worker allocated as lead; none after a transfer)."""
    other_workers: list[str]
    """Workers allocated alongside the lead (``lead_professional: false``), in order."""
    consent: dict[str, str]  # scope -> given, refused, withdrawn
    assessments: dict[str, Assessment]
    plans: dict[str, Plan]
    paused: bool
    pause_reason: str | None
    paused_at: datetime | None
    closure: Closure | None
    stepped_up: bool
    extensions: dict[str, int]  # rule id -> days (or units) added
    last_oversight_at: datetime | None
    """When a supervisor or manager last recorded oversight or supervision on it."""
    history: NotRequired[list[Any]]
    """The aggregate's own: the episode's entries as its ordering rules look back at them."""


class PendingTransfer(TypedDict):
    from_team: str
    to_team: str
    event_id: Any
    at: datetime


class Address(TypedDict):
    from_date: Any
    address_lines: list[str]
    postcode: str
    event_id: Any


class FamilyState(TypedDict):
    team: str
    members: dict[str, Member]
    episodes: list[Episode]
    pending_transfer: PendingTransfer | None
    addresses: list[Address]
    """Where the family has lived, by ``from_date`` (the last is where it lives now)."""
    linked_families: list[Any]
    """The families this one was linked with by a ``FamiliesLinked`` recorded on it."""


def facts_of(events: Iterable[FamilyEvent], known_at: datetime | None = None) -> list[Fact]:
    """A family's events as facts, in recording order, each with the corrections recorded
    by ``known_at`` (all, if None) applied; corrections and an erasure are not facts."""
    found: dict[UUID, Fact] = {}
    for event in events:
        if known_at is not None and event.recorded_at > known_at:
            continue
        if event.type == "EntryCorrected":
            target = found.get(event.corrects)  # type: ignore[attr-defined]
            if target is not None:
                occurred_at, about, values = corrected(
                    target.type, target.occurred_at, target.about, target.values,
                    event.changes, getattr(event, "member", None))  # type: ignore[attr-defined]
                found[target.event_id] = target._replace(occurred_at=occurred_at, about=about, values=values)
            continue
        if event.type == "PersonalDataErased":
            continue
        found[event.event_id] = Fact(event.event_id, event.type, event.occurred_at, event.actor,
                                     tuple(event.about),
                                     {name: getattr(event, name) for name in payload_fields(type(event))})
    return list(found.values())


def registered(team: str, members: Iterable[Mapping[str, Any]], event_id: Any = None) -> FamilyState:
    """The state just after registration."""
    return {
        "team": team,
        "members": {key(m["member_id"]): _member(m, event_id) for m in members},
        "episodes": [],
        "pending_transfer": None,
        "addresses": [],
        "linked_families": [],
    }


def fold(facts: Iterable[Fact]) -> FamilyState:
    """The state after these facts (registration first), in the order given."""
    found: FamilyState | None = None
    for fact in facts:
        if found is None:
            if fact.type != "FamilyRegistered":
                raise ValueError("a family's facts start with its registration")
            found = registered(fact.values["team"], fact.values["members"], fact.event_id)
        else:
            apply(found, fact)
    if found is None:
        raise ValueError("no facts: a family's facts start with its registration")
    return found


def copy_of(state: FamilyState, *, appended: str = "") -> FamilyState:
    """A copy of ``state`` that ``apply`` can change without changing ``state``: every dict
    and list copied, every other value shared (ids, times, dates, text, numbers and the
    facts' own values are never changed in place; ``apply`` puts new dicts and lists in,
    and no dict or list is in two places). What ``copy.deepcopy`` gives, at a fraction
    of its cost: the deadline engine and the family cache copy a family's state at every
    command. ``appended``: a key whose list only ever has entries appended, each never
    changed once written (the aggregate's episode ``history``): the list is copied, its
    entries shared, so the copy's cost does not grow with them."""
    return cast(FamilyState, _copied(state, appended))


def _copied(value: Any, appended: str) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: (list(v) if k == appended else _copied(v, appended)) if type(v) in _CONTAINERS else v
                for k, v in value.items()}
    if kind is list:
        return [_copied(v, appended) if type(v) in _CONTAINERS else v for v in value]
    return value


_CONTAINERS = (dict, list)


def apply(state: FamilyState, fact: Fact) -> None:
    """Change ``state`` by one fact (in place)."""
    handler = HANDLERS.get(fact.type)
    if handler is not None:
        handler(state, fact)
    if VOCABULARY[fact.type].sets_pathway and fact.values.get("pathway"):
        episode = _episode(state)
        if episode is not None:
            episode["pathway"] = fact.values["pathway"]


def current(state: FamilyState) -> Episode | None:
    """The latest episode, open or closed (None before the first referral)."""
    return state["episodes"][-1] if state["episodes"] else None


def is_open(state: FamilyState) -> bool:
    episode = current(state)
    return episode is not None and episode["status"] == "open"


def children(state: FamilyState) -> int:
    return sum(1 for m in state["members"].values() if m.get("kind") == "child")


def key(value: Any) -> str:
    """An id as the state keys it: 32 hex digits."""
    return value.hex if isinstance(value, UUID) else UUID(str(value)).hex


# --- how each entry changes the state ----------------------------------------------------


def _member(values: Mapping[str, Any], added_by: Any) -> Member:
    member: Member = {
        "member_id": values["member_id"], "given_name": values.get("given_name", ""),
        "family_name": values.get("family_name", ""), "kind": values["kind"],
        "date_of_birth": values.get("date_of_birth"), "gender": values.get("gender"),
        "ethnicity": values.get("ethnicity"), "expected_date": values.get("expected_date"),
    }
    for name in MEMBER_DETAILS_FIELDS:
        member[name] = values.get(name)  # type: ignore[literal-required]
    if added_by is not None:
        member["added_by"] = added_by
    return member


def _episode(state: FamilyState) -> Episode | None:
    return state["episodes"][-1] if state["episodes"] else None


def _member_added(state: FamilyState, f: Fact) -> None:
    state["members"][key(f.values["member_id"])] = _member(f.values, f.event_id)


def _member_details(state: FamilyState, f: Fact) -> None:
    """What a ``MemberDetailsRecorded`` states replaces what was known; what it leaves
    out (None) stands."""
    member = state["members"].get(key(f.values["member_id"]))
    if member is None:  # refused when recorded
        return
    for name in MEMBER_DETAILS_FIELDS:
        if f.values.get(name) is not None:
            member[name] = f.values[name]  # type: ignore[literal-required]


def _address(state: FamilyState, f: Fact) -> None:
    state["addresses"].append({"from_date": f.values["from_date"], "address_lines": list(f.values["address_lines"]),
                               "postcode": f.values["postcode"], "event_id": f.event_id})
    state["addresses"].sort(key=lambda a: str(a["from_date"]))


def _linked(state: FamilyState, f: Fact) -> None:
    if f.values["linked_family_id"] not in state["linked_families"]:
        state["linked_families"].append(f.values["linked_family_id"])


def _child_born(state: FamilyState, f: Fact) -> None:
    """An unborn member becomes a child, born on ``date_of_birth``."""
    member = state["members"].get(key(f.values["member_id"]))
    if member is None:  # refused when recorded
        return
    member["kind"], member["date_of_birth"] = "child", f.values["date_of_birth"]
    for name in ("given_name", "gender"):
        if f.values.get(name):
            member[name] = f.values[name]


def _referral(state: FamilyState, f: Fact) -> None:
    episode = _episode(state)
    if episode is not None and episode["status"] == "open":
        episode["referrals"].append(f.event_id)
        return
    state["episodes"].append({
        "episode_id": f.values["episode_id"], "status": "open", "opened_at": f.occurred_at,
        "closed_at": None, "close_reason": None, "referrals": [f.event_id], "pathway": None,
        "team": state["team"], "worker": None, "other_workers": [], "consent": {}, "assessments": {},
        "plans": {}, "paused": False, "pause_reason": None, "paused_at": None, "closure": None,
        "stepped_up": False, "extensions": {}, "last_oversight_at": None,
    })


def _on_episode(change: Callable[[Episode, Fact], None]) -> Callable[[FamilyState, Fact], None]:
    """A handler of an entry about the current episode (passed over before the first)."""

    def handler(state: FamilyState, f: Fact) -> None:
        episode = _episode(state)
        if episode is not None:
            change(episode, f)
    return handler


def _team(state: FamilyState, f: Fact) -> None:
    state["team"] = f.values["team"]
    episode = _episode(state)
    if episode is not None:
        episode["team"] = f.values["team"]


def _worker(episode: Episode, f: Fact) -> None:
    """A lead professional replaces the lead; another worker joins the others. A worker
    allocated again as not the lead stops being the lead."""
    worker = f.values["worker_id"]
    others = episode["other_workers"]
    if f.values.get("lead_professional", True):
        episode["worker"] = worker
        if worker in others:
            others.remove(worker)
        return
    if episode["worker"] == worker:
        episode["worker"] = None
    if worker not in others:
        others.append(worker)


def _consent(state_name: str) -> Callable[[Episode, Fact], None]:
    def change(episode: Episode, f: Fact) -> None:
        for scope in f.values["scope"]:
            episode["consent"][scope] = state_name
    return change


def _assessment_started(episode: Episode, f: Fact) -> None:
    episode["assessments"][key(f.values["assessment_id"])] = {
        "assessment_id": f.values["assessment_id"], "kind": f.values.get("assessment_kind", "early-help-assessment"),
        "status": "started", "started_at": f.occurred_at, "submitted_at": None, "submitted_by": None,
        "authorised_by": None,
    }


def _assessment(status: str) -> Callable[[Episode, Fact], None]:
    def change(episode: Episode, f: Fact) -> None:
        found = episode["assessments"].get(key(f.values["assessment_id"]))
        if found is None:  # refused when recorded; a stored row may still name one
            return
        found["status"] = status
        if status == "submitted":
            found["submitted_by"], found["submitted_at"] = f.actor.get("user_id"), f.occurred_at
        elif status == "authorised":
            found["authorised_by"] = f.actor.get("user_id")
    return change


def _extended(episode: Episode, f: Fact) -> None:
    rule = f.values["rule"]
    episode["extensions"][rule] = episode["extensions"].get(rule, 0) + f.values["extend_by"]


def _plan_agreed(episode: Episode, f: Fact) -> None:
    episode["plans"][key(f.values["plan_id"])] = {
        "plan_id": f.values["plan_id"], "status": "agreed", "agreed_at": f.occurred_at, "shared_with": [],
    }


def _plan_authorised(episode: Episode, f: Fact) -> None:
    plan = episode["plans"].get(key(f.values["plan_id"]))
    if plan is not None:
        plan["status"] = "authorised"


def _plan_shared(episode: Episode, f: Fact) -> None:
    plan = episode["plans"].get(key(f.values["plan_id"]))
    if plan is not None:
        plan["shared_with"] = sorted(set(plan["shared_with"]) | set(f.values.get("shared_with") or ()))


def _stepped_up(episode: Episode, f: Fact) -> None:
    episode["stepped_up"] = True


def _paused(episode: Episode, f: Fact) -> None:
    episode["paused"] = True
    episode["pause_reason"] = f.values["reason"]
    episode["paused_at"] = f.occurred_at


def _resumed(episode: Episode, f: Fact) -> None:
    episode["paused"] = False
    episode["pause_reason"] = None
    episode["paused_at"] = None


def _transferred_out(state: FamilyState, f: Fact) -> None:
    state["pending_transfer"] = {"from_team": state["team"], "to_team": f.values["to_team"],
                                 "event_id": f.event_id, "at": f.occurred_at}


def _transferred_in(state: FamilyState, f: Fact) -> None:
    pending = state["pending_transfer"]
    if pending is None:  # refused when recorded
        return
    state["team"], state["pending_transfer"] = pending["to_team"], None
    episode = _episode(state)
    if episode is not None:
        episode["team"] = pending["to_team"]
        episode["worker"] = None
        episode["other_workers"] = []


def _closure_proposed(episode: Episode, f: Fact) -> None:
    episode["closure"] = {"reason": f.values["reason"], "proposed_by": f.actor.get("user_id"),
                          "proposed_at": f.occurred_at, "authorised": False, "authorised_by": None,
                          "authorised_at": None}


def _closure_authorised(episode: Episode, f: Fact) -> None:
    if episode["closure"] is not None:
        episode["closure"]["authorised"] = True
        episode["closure"]["authorised_by"] = f.actor.get("user_id")
        episode["closure"]["authorised_at"] = f.occurred_at


def _closed(episode: Episode, f: Fact) -> None:
    episode["status"] = "closed"
    episode["closed_at"] = f.occurred_at
    episode["close_reason"] = f.values["reason"]
    episode["paused"] = False


def _reopened(episode: Episode, f: Fact) -> None:
    episode["status"] = "open"
    episode["closed_at"] = None
    episode["close_reason"] = None
    episode["closure"] = None


def _oversight(episode: Episode, f: Fact) -> None:
    if f.actor.get("role") in MANAGEMENT_ROLES:
        last = episode["last_oversight_at"]
        if last is None or last < f.occurred_at:
            episode["last_oversight_at"] = f.occurred_at


HANDLERS: dict[str, Callable[[FamilyState, Fact], None]] = {
    "MemberAdded": _member_added,
    "ChildBorn": _child_born,
    "MemberDetailsRecorded": _member_details,
    "AddressRecorded": _address,
    "FamiliesLinked": _linked,
    "ReferralReceived": _referral,
    "AllocatedToTeam": _team,
    "AllocatedToWorker": _on_episode(_worker),
    "ConsentGiven": _on_episode(_consent("given")),
    "ConsentRefused": _on_episode(_consent("refused")),
    "ConsentWithdrawn": _on_episode(_consent("withdrawn")),
    "AssessmentStarted": _on_episode(_assessment_started),
    "AssessmentSubmitted": _on_episode(_assessment("submitted")),
    "AssessmentReturned": _on_episode(_assessment("returned")),
    "AssessmentAuthorised": _on_episode(_assessment("authorised")),
    "DeadlineExtended": _on_episode(_extended),
    "PlanAgreed": _on_episode(_plan_agreed),
    "PlanAuthorised": _on_episode(_plan_authorised),
    "PlanShared": _on_episode(_plan_shared),
    "ManagementOversightRecorded": _on_episode(_oversight),
    "SupervisionRecorded": _on_episode(_oversight),
    "SteppedUp": _on_episode(_stepped_up),
    "WorkPaused": _on_episode(_paused),
    "WorkResumed": _on_episode(_resumed),
    "TransferredOut": _transferred_out,
    "TransferredIn": _transferred_in,
    "ClosureProposed": _on_episode(_closure_proposed),
    "ClosureAuthorised": _on_episode(_closure_authorised),
    "EpisodeClosed": _on_episode(_closed),
    "EpisodeReopened": _on_episode(_reopened),
}
"""How each type of entry changes the state; an entry of any other type does not."""

CHANGES_STATE = frozenset(HANDLERS) | {name for name, cls in VOCABULARY.items() if cls.sets_pathway} | {
    "FamilyRegistered", "EntryCorrected"}
"""The types after which a reader of the state must look again (a correction can change
any entry, a registration starts the state)."""
