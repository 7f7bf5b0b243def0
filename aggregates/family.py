"""The Family aggregate: one stream per family, its episodes and its invariants.

Commands arrive as ``Family.record(type, fields, envelope, pack)``. Each is checked
against the family's state and the policy pack's authority and ordering rules; a
refused command raises a ``LedgerError`` and triggers nothing, so nothing is recorded.

The state is a fold of the family's *facts*: every event's type, when it happened, who
recorded it, whom it is about and its values (``log``, in version order). A correction
(``EntryCorrected``) changes the fact it names and the state is folded again from the
facts, so what the family is now (its pathway, worker, extensions, consent...) always
reflects the corrected record. A correction is held to every rule the original was: it
is replayed, with the corrected fact in place, through the same checks as the commands
(``_correction_problems``), and refused if it would make any entry break a rule.

State is kept in plain dicts, lists and tuples of JSON-friendly values so that snapshots
serialise with the same transcoder as events.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol, cast
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate

from aggregates import events as ev
from aggregates import state
from aggregates.corrections import MEMBER_DETAILS, corrected
from aggregates.errors import InvalidCommand, LedgerError, NotAuthorised, RuleBroken
from aggregates.state import Assessment, Episode, FamilyState, Member, PendingTransfer, Plan
from aggregates.vocabulary import MANAGEMENT_ROLES

LONDON = ZoneInfo("Europe/London")
STATE_FORMAT = 4  # 4: members' identifiers, contact details and relationship (issue 25)
"""The shape of the state below; a snapshot of another shape is not used (the family is
folded from its events instead, ``ledger.storage.LedgerRepository``)."""

IDENTIFYING = frozenset({"episode_id", "assessment_id", "plan_id", "member_id", "corrects", "linked_family_id"})
"""Fields that say which thing an entry is about: a correction cannot point it elsewhere."""
ROUTING: dict[tuple[str, str], str] = {
    ("FamilyRegistered", "team"): "a family moves to another team by TransferredOut and the receiving "
                                  "team's TransferredIn",
    ("AllocatedToTeam", "team"): "a family moves to another team by TransferredOut and the receiving "
                                 "team's TransferredIn",
    ("TransferredOut", "to_team"): "a transfer goes to the team it was sent to; record another "
                                   "TransferredOut once this one is settled",
    ("TransferredIn", "from_team"): "the team a transfer came from is the team that held the family",
    ("FamilyRegistered", "members"): "members join by MemberAdded; correct one member's details with "
                                     "EntryCorrected naming the member (member: <member_id>)",
}
"""Fields that route the family (which team holds it, who is in it): not correctable."""
NOT_CORRECTABLE_TYPES = frozenset({"EntryCorrected", "PersonalDataErased"})

STATE_PERSONAL: dict[str, tuple[str, ...]] = {
    "MemberAdded": ev.MemberAdded.personal,
    "ChildBorn": ev.ChildBorn.personal,
    "MemberDetailsRecorded": ev.MemberDetailsRecorded.personal,
    "AddressRecorded": ev.AddressRecorded.personal,
    "PlanShared": ev.PlanShared.personal,
}
"""Personal fields the state itself shows (members' names, who a plan went to); the
other personal fields (free text) are not kept in the facts."""

EXPECTED_WITHIN = timedelta(weeks=42)
"""How far ahead an unborn member's expected date of delivery may be: a pregnancy lasts at
most about 42 weeks. An expected baby is a member of kind ``unborn`` with that date and no
date of birth (covered by no per-child rule until ``ChildBorn``, ADR 0032)."""
BIRTH_DETAILS = frozenset({"date_of_birth", "expected_date", "kind"})
"""A member's details whose correction is checked as a new member's would be."""
EARLIEST_BIRTH = date(1900, 1, 1)
"""No one on an early help record was born before 1900: an earlier date of birth is a
mistyped year (0001, 1800), refused like one in the future."""


class PackView(Protocol):
    """What the aggregate needs of a policy pack (``ledger.policies.schema.Pack``)."""

    id: str
    version: str

    def may(self, power: str, role: str) -> bool: ...

    def roles_for(self, power: str) -> list[str]: ...

    def rule(self, rule_id: str) -> Any: ...

    def term_problem(self, event_type: str, fields: Mapping[str, Any]) -> tuple[str, str] | None: ...

    def ordering_problem(
        self, event_type: str, values: Mapping[str, Any], history: list[tuple[str, Mapping[str, Any]]],
        *, on_breach: str | None = None,
    ) -> str | None: ...

    @property
    def refusing_after(self) -> frozenset[str]: ...


def _entry(event: ev.FamilyEvent) -> tuple[Any, ...]:
    """What the state keeps of an event: (type, occurred_at, actor, about, values)."""
    kind = event.type
    keep = STATE_PERSONAL.get(kind, ())
    dropped = set(type(event).personal) - set(keep)
    if kind == "EntryCorrected":
        dropped = {"changes", "reason"}
    values = {name: getattr(event, name) for name in ev.payload_fields(type(event)) if name not in dropped}
    return (kind, event.occurred_at, dict(event.actor), tuple(event.about), values)


def corrected_entry(entry: tuple[Any, ...] | list[Any], changes: Mapping[str, Any],
                    member: UUID | None) -> tuple[Any, ...]:
    """An entry with a correction applied (only the values the entry keeps)."""
    kind, occurred_at, actor, about, values = entry
    occurred_at, about, values = corrected(kind, occurred_at, tuple(about), values, changes, member)
    return (kind, occurred_at, actor, about, values)


_SHARED = (UUID, int, str, bool, float, datetime, date, type(None))
"""Values a copy of a family shares with it: never changed in place."""


class Family(Aggregate):
    """A family worked under one policy pack, with its members and episodes."""

    STATE_FORMAT = STATE_FORMAT

    def __init__(
        self,
        *,
        event_id: UUID,
        occurred_at: datetime,
        actor: dict[str, str],
        policy: str,
        policy_version: str,
        about: list[UUID],
        context: dict[str, Any],
        team: str,
        members: list[dict[str, Any]],
    ) -> None:
        self.state_format = STATE_FORMAT
        self.policy = policy
        self.policy_version = policy_version
        self.registered_at = occurred_at
        self.log: dict[str, tuple[Any, ...]] = {event_id.hex: (
            "FamilyRegistered", occurred_at, dict(actor), tuple(about),
            {"team": team, "members": [dict(m) for m in members]})}
        """Every event's fact, by event id, in version order (corrections applied)."""
        self._reset()

    def _reset(self) -> None:
        """The state just after registration, from the registration's fact."""
        registration_id, registration = next(iter(self.log.items()))
        self.folded: FamilyState = state.registered(registration[4]["team"], registration[4]["members"],
                                                    UUID(registration_id))
        """The family's current facts (``aggregates/state.py``: the one fold of them)."""

    @property
    def team(self) -> str:
        return self.folded["team"]

    @property
    def members(self) -> dict[str, Member]:
        return self.folded["members"]

    @property
    def episodes(self) -> list[Episode]:
        return self.folded["episodes"]

    @property
    def pending_transfer(self) -> PendingTransfer | None:
        return self.folded["pending_transfer"]

    def __deepcopy__(self, memo: dict[int, Any]) -> Family:
        """A copy sharing nothing that is ever changed with this one, as ``copy.deepcopy``
        makes (the ledger's family cache hands each command one), without walking what
        grows with every event value by value: ``log`` maps event ids to facts, each a
        tuple replaced whole (never changed in place), and an episode's ``history`` only
        ever has entries appended, each written once; the copy gets new containers."""
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        fields: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if name == "log":
                fields[name] = dict(value)
            elif name == "folded":
                fields[name] = state.copy_of(value, appended="history")
            elif type(value) in _SHARED:
                fields[name] = value
            else:
                fields[name] = copy.deepcopy(value, memo)
        clone.__dict__.update(fields)
        return clone

    # -- creating -------------------------------------------------------------------

    @staticmethod
    def check_registrar(team: str, actor: Mapping[str, Any]) -> None:
        """A family is registered for the registrar's own team."""
        if not team.strip():
            raise InvalidCommand("team must not be empty", field="team")
        actor_team = actor.get("team")
        if actor_team != team:
            raise NotAuthorised(f"a member of team {actor_team} registers families for team {actor_team}, not {team}")

    @classmethod
    def register(
        cls,
        *,
        family_id: UUID,
        envelope: dict[str, Any],
        team: str,
        members: list[dict[str, Any]],
        not_duplicate_of: list[UUID] | None = None,
    ) -> Family:
        cls.check_registrar(team, envelope["actor"])
        _check_members(members, _today(envelope))
        return cls._create(
            ev.FamilyRegistered, id=family_id, team=team, members=members,
            not_duplicate_of=list(not_duplicate_of) if not_duplicate_of else None, **envelope
        )

    # -- recording ------------------------------------------------------------------

    def record(
        self, type_name: str, fields: dict[str, Any], envelope: dict[str, Any], pack: PackView
    ) -> ev.FamilyEvent:
        """Check a command against the record and the pack, then trigger its event."""
        event_class = ev.VOCABULARY.get(type_name)
        if event_class is None or type_name in ev.SYSTEM_TYPES:
            raise InvalidCommand(f"unknown command type {type_name!r}", field="type")
        self._check_not_erased()
        actor = envelope["actor"]
        self._check_team(type_name, actor)
        self._check_authority(type_name, fields, actor, pack)
        if type_name == "EntryCorrected":
            self._check_correction(fields, envelope, pack)
        else:
            self._check_fact(type_name, fields, envelope, pack)
        before = len(self.pending_events)
        self.trigger_event(event_class, **fields, **envelope)
        return cast(ev.FamilyEvent, self.pending_events[before])

    def link_back(self, other: UUID, reason: str, envelope: dict[str, Any]) -> ev.FamilyEvent:
        """The other side of a link: ``other`` was linked with this family by a
        FamiliesLinked recorded on it, and this family's record says so too, in the same
        transaction, under the same actor. Not held to this family's team (whoever may
        link the other family states what this one is linked with; neither family's
        entries change), but a family erased is linked with nothing."""
        self._check_not_erased()
        self._check_FamiliesLinked({"linked_family_id": other}, envelope, None, False)  # type: ignore[arg-type]
        before = len(self.pending_events)
        self.trigger_event(ev.FamiliesLinked, linked_family_id=other, reason=reason, **envelope)
        return cast(ev.FamilyEvent, self.pending_events[before])

    def erase(self, *, reason: str, legal_basis: str, deadlines: dict[str, Any],
              envelope: dict[str, Any], up_to_position: int | None = None) -> ev.FamilyEvent:
        """Mark the family erased (``Ledger.erase`` has destroyed its key, or is about to),
        naming its members and the position of its last event (what a copy must forget)."""
        self._check_not_erased()
        episode = self.current_episode
        if episode is not None and episode["status"] == "open":
            raise RuleBroken("the family has an open episode: close it before its personal data is erased")
        before = len(self.pending_events)
        self.trigger_event(ev.PersonalDataErased, reason=reason, legal_basis=legal_basis, deadlines=deadlines,
                           member_ids=[UUID(k) for k in self.members], up_to_position=up_to_position, **envelope)
        return cast(ev.FamilyEvent, self.pending_events[before])

    def _check_not_erased(self) -> None:
        erased = getattr(self, "erased", None)
        if erased is not None:
            raise RuleBroken(f"the family's personal data was erased on {erased['at']:%d %B %Y} "
                             f"({erased['reason']}): nothing more can be recorded for it")

    @property
    def current_episode(self) -> Episode | None:
        return self.episodes[-1] if self.episodes else None

    def children(self) -> dict[str, Member]:
        return {k: m for k, m in self.members.items() if m["kind"] == "child"}

    def type_of(self, event_id: UUID) -> str | None:
        """The type of one of this family's events (None if it has no such event)."""
        entry = self.log.get(event_id.hex)
        return None if entry is None else str(entry[0])

    def member_added_by(self, member_id: UUID) -> UUID | None:
        """The event that put a member on the record (registration or MemberAdded)."""
        for event_id, entry in self.log.items():
            if entry[0] == "FamilyRegistered" and any(m["member_id"] == member_id for m in entry[4]["members"]):
                return UUID(event_id)
            if entry[0] == "MemberAdded" and entry[4]["member_id"] == member_id:
                return UUID(event_id)
        return None

    # -- invariants -----------------------------------------------------------------

    def _check_team(self, type_name: str, actor: dict[str, str]) -> None:
        """Only the team holding the family records on it; a transfer moves that right, and
        the receiving team records accepting it (TransferredIn)."""
        team = actor.get("team")
        if type_name == "TransferredIn" and self.pending_transfer is not None:
            if team != self.pending_transfer["to_team"]:
                raise NotAuthorised(
                    f"the transfer is to team {self.pending_transfer['to_team']}: only that team accepts it"
                )
            return
        if team != self.team:
            raise NotAuthorised(f"the family is held by team {self.team}; a member of team {team} may not record on it")

    def _check_authority(self, type_name: str, fields: Mapping[str, Any], actor: Mapping[str, str],
                         pack: PackView) -> None:
        """Whether the actor's role may record this type at all (under the family's pack)."""
        role = actor["role"]
        cls = ev.VOCABULARY[type_name]
        if cls.management_only and role not in MANAGEMENT_ROLES:
            what = cls.power_needed_to or f"record {type_name}"
            raise NotAuthorised(f"only a supervisor or manager may {what}, not a {role}")
        if cls.power is not None and not pack.may(cls.power, role):
            raise NotAuthorised(f"the {pack.id} pack lets a {' or '.join(pack.roles_for(cls.power))} "
                                f"{cls.power_needed_to}, not a {role}")
        if type_name == "DeadlineExtended":
            rule = pack.rule(fields.get("rule") or "")
            if rule is not None and rule.extension is not None and role not in rule.extension.roles:
                raise NotAuthorised(f"a {role} may not extend rule {rule.id!r} under the {pack.id} pack "
                                    f"(it is extended by a {' or '.join(rule.extension.roles)})")

    def _check_fact(self, type_name: str, fields: Mapping[str, Any], envelope: Mapping[str, Any],
                    pack: PackView, *, replaying: bool = False) -> None:
        """The record's rules for one entry, against the state before it: the rules a
        command is held to and, replayed over the whole log, a correction too."""
        self._check_members_known(envelope.get("about", []), "about")
        episode = self.current_episode
        if not ev.VOCABULARY[type_name].outside_episode and (episode is None or episode["status"] != "open"):
            if episode is None:
                raise RuleBroken(
                    f"{type_name} needs an open episode: record ReferralReceived first"
                )
            raise RuleBroken(
                f"the episode was closed on {episode['closed_at']:%d %B %Y}: nothing but "
                "EpisodeReopened (or a new ReferralReceived) may follow"
            )
        term = pack.term_problem(type_name, fields)
        if term is not None:
            raise InvalidCommand(term[1], field=term[0])
        check = getattr(self, f"_check_{type_name}", None)
        if check is not None:
            check(fields, envelope, pack, replaying)
        # The latest episode's history, closed or not: a closure letter recorded after
        # closure is still ordered after the closure's authorisation. Only the sign-offs
        # that must come first refuse; good practice is recorded and flagged (ADR 0019).
        # A sign-off counts only if it is stated to have happened by then (ADR 0019).
        if type_name not in pack.refusing_after:
            return
        history = [(t, v) for t, v in episode.get("history", [])] if episode else []
        values = self._match_values(type_name, fields, envelope["actor"]["role"], envelope.get("about", []))
        problem = pack.ordering_problem(type_name, values, history, on_breach="refuse")
        if problem is not None:
            raise RuleBroken(problem)
        occurred = envelope["occurred_at"]
        happened = [(t, v) for t, v in history if v.get("occurred_at") is None or v["occurred_at"] <= occurred]
        if len(happened) < len(history):
            problem = pack.ordering_problem(type_name, values, happened, on_breach="refuse")
            if problem is not None:
                raise RuleBroken(f"this is stated to have happened on {_when(occurred)}, before what must come "
                                 f"first was done: {problem}")

    def _check_members_known(self, ids: Any, field: str) -> None:
        unknown = [str(i) for i in ids if i.hex not in self.members]
        if unknown:
            raise InvalidCommand(
                f"{field} names people who are not members of this family: {', '.join(unknown)}",
                field=field,
            )

    def _check_children(self, ids: Any, field: str) -> None:
        self._check_members_known(ids, field)
        adults = [str(i) for i in ids if self.members[i.hex]["kind"] != "child"]
        if adults:
            raise InvalidCommand(f"{field} must list children only: {', '.join(adults)}", field=field)

    def _not_before(self, envelope: Mapping[str, Any], earlier: datetime | None, what: str) -> None:
        """An act cannot have happened before what it acts on (an authorisation before the
        submission it authorises): refused, so no one back-dates a decision past its basis."""
        occurred = envelope["occurred_at"]
        if earlier is not None and occurred < earlier:
            raise RuleBroken(f"this is stated to have happened on {_when(occurred)}, before {what} "
                             f"on {_when(earlier)}: it cannot have")

    def _check_MemberAdded(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                           replaying: bool) -> None:
        if f["member_id"].hex in self.members:
            raise InvalidCommand(f"member {f['member_id']} already exists", field="member_id")
        if not replaying:
            _check_members([dict(f)], _today(envelope))
        _check_identifiers_unique([dict(f)], list(self.members.values()))

    def _check_MemberDetailsRecorded(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                     replaying: bool) -> None:
        """Details of a member of this family, saying something, and no NHS number or UPN
        another member of the family has (each identifies one person)."""
        if f["member_id"].hex not in self.members:
            raise InvalidCommand(f"{f['member_id']} is not a member of this family", field="member_id")
        if all(f.get(name) is None for name in ev.MEMBER_DETAILS_FIELDS):
            raise InvalidCommand("give at least one of " + ", ".join(ev.MEMBER_DETAILS_FIELDS), field="member_id")
        _check_identifiers_unique([{**self.members[f["member_id"].hex], **{
            k: v for k, v in f.items() if k in ev.MEMBER_DETAILS_FIELDS and v is not None}}],
            [m for k, m in self.members.items() if k != f["member_id"].hex])

    def _check_AddressRecorded(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                               replaying: bool) -> None:
        """An address the family has lived at from a day that has come (a move still to
        happen is recorded when it has)."""
        if not replaying and f["from_date"] > _today(envelope):
            raise InvalidCommand(f"from_date {f['from_date'].isoformat()} is in the future: record the address "
                                 "once the family lives there", field="from_date")

    def _check_FamiliesLinked(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                              replaying: bool) -> None:
        if replaying:  # what it is linked with was checked when it was recorded
            return
        if f["linked_family_id"] == self.id:
            raise InvalidCommand("a family is not linked with itself", field="linked_family_id")
        if f["linked_family_id"] in self.folded["linked_families"]:
            raise InvalidCommand(f"this family is already linked with {f['linked_family_id']}",
                                 field="linked_family_id")

    def _check_ChildBorn(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                         replaying: bool) -> None:
        """A birth is recorded once, of a member recorded as unborn, on a day that has come
        (and not after the entry says it was recorded as happening)."""
        member = self.members.get(f["member_id"].hex)
        if member is None:
            raise InvalidCommand(f"{f['member_id']} is not a member of this family", field="member_id")
        if member["kind"] != "unborn":
            born = member.get("date_of_birth")
            already = f" (born {born:%d/%m/%Y})" if isinstance(born, date) else ""
            raise RuleBroken(f"{f['member_id']} is recorded as {'a child' if member['kind'] == 'child' else 'an adult'}"
                             f"{already}, not unborn: a birth is recorded once, of an unborn member")
        if not replaying:
            _check_birth(f["date_of_birth"], _today(envelope), kind="born")
        if f["date_of_birth"] > envelope["occurred_at"].astimezone(LONDON).date():
            raise InvalidCommand(f"date_of_birth {f['date_of_birth']:%d/%m/%Y} is after the day this entry says "
                                 "the birth was recorded as happening (occurred_at)", field="date_of_birth")
        if f.get("given_name") is not None and not str(f["given_name"]).strip():
            raise InvalidCommand("given_name must not be empty (leave it out to keep the name on record)",
                                 field="given_name")

    def _check_ReferralReceived(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                replaying: bool) -> None:
        if any(e["episode_id"] == f["episode_id"] for e in self.episodes):
            raise InvalidCommand("episode_id already used on this family", field="episode_id")

    def _check_AllocatedToTeam(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                               replaying: bool) -> None:
        if not f["team"].strip():
            raise InvalidCommand("team must not be empty", field="team")
        if f["team"] != self.team and not replaying:
            raise RuleBroken(f"the family is held by team {self.team}: allocating it to team {f['team']} would "
                             "move it; a family moves to another team by TransferredOut (a supervisor or "
                             "manager of its team) and the receiving team's TransferredIn")

    def _check_ContactMade(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                           replaying: bool) -> None:
        self._check_members_known(f["members_present"], "members_present")
        self._check_children(f["children_seen"], "children_seen")
        self._check_children(f["children_seen_alone"], "children_seen_alone")
        seen = {i.hex for i in f["children_seen"]}
        not_seen = [str(i) for i in f["children_seen_alone"] if i.hex not in seen]
        if not_seen:
            raise InvalidCommand(
                f"children_seen_alone must also be in children_seen: {', '.join(not_seen)}",
                field="children_seen_alone",
            )

    def _check_consent(self, f: Mapping[str, Any]) -> None:
        self._check_members_known([f["given_by"]], "given_by")
        if not f["scope"]:
            raise InvalidCommand("scope must name at least one of support, information_sharing", field="scope")

    def _check_ConsentGiven(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                            replaying: bool) -> None:
        self._check_consent(f)

    def _check_ConsentRefused(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                              replaying: bool) -> None:
        self._check_consent(f)

    def _check_ConsentWithdrawn(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                replaying: bool) -> None:
        self._check_consent(f)
        consent = self._episode()["consent"]
        not_given = [s for s in f["scope"] if consent.get(s) != "given"]
        if not_given:
            raise RuleBroken(f"consent for {', '.join(not_given)} was not given, so cannot be withdrawn")

    def _episode(self) -> Episode:
        episode = self.current_episode
        assert episode is not None  # the open-episode rule has been checked
        return episode

    def _assessment(self, f: Mapping[str, Any]) -> Assessment:
        found = self._episode()["assessments"].get(f["assessment_id"].hex)
        if found is None:
            raise InvalidCommand(
                f"no assessment {f['assessment_id']} has been started in this episode",
                field="assessment_id",
            )
        return found

    def _check_AssessmentStarted(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                 replaying: bool) -> None:
        if f["assessment_id"].hex in self._episode()["assessments"]:
            raise InvalidCommand("assessment_id already used in this episode", field="assessment_id")

    def _check_AssessmentSubmitted(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                   replaying: bool) -> None:
        assessment = self._assessment(f)
        if assessment["status"] not in ("started", "returned"):
            raise RuleBroken(f"the assessment is {assessment['status']}; "
                             "only a started or returned assessment can be submitted")
        self._not_before(envelope, assessment["started_at"], "the assessment was started")

    def _check_AssessmentReturned(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                  replaying: bool) -> None:
        assessment = self._assessment(f)
        if assessment["status"] != "submitted":
            raise RuleBroken(f"the assessment is {assessment['status']}; only a submitted assessment can be returned")
        self._not_before(envelope, assessment.get("submitted_at"), "the assessment was submitted")

    def _check_AssessmentAuthorised(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                    replaying: bool) -> None:
        assessment = self._assessment(f)
        if assessment["status"] != "submitted":
            raise RuleBroken(
                f"the assessment is {assessment['status']}; it must be submitted before it is authorised"
            )
        if assessment["submitted_by"] == envelope["actor"]["user_id"]:
            raise RuleBroken("an assessment may not be authorised by the person who submitted it")
        self._not_before(envelope, assessment.get("submitted_at"), "the assessment was submitted")

    def _plan(self, f: Mapping[str, Any]) -> Plan:
        found = self._episode()["plans"].get(f["plan_id"].hex)
        if found is None:
            raise InvalidCommand(f"no plan {f['plan_id']} has been agreed in this episode", field="plan_id")
        return found

    def _check_PlanAgreed(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                          replaying: bool) -> None:
        if f["plan_id"].hex in self._episode()["plans"]:
            raise InvalidCommand("plan_id already used in this episode", field="plan_id")

    def _check_PlanAuthorised(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                              replaying: bool) -> None:
        plan = self._plan(f)
        if plan["status"] == "authorised":
            raise RuleBroken("the plan is already authorised")
        self._not_before(envelope, plan["agreed_at"], "the plan was agreed")

    def _check_PlanShared(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                          replaying: bool) -> None:
        plan = self._plan(f)
        if not replaying and not f["shared_with"]:
            raise InvalidCommand("shared_with must name who the plan was shared with", field="shared_with")
        self._not_before(envelope, plan["agreed_at"], "the plan was agreed")

    def _check_MeetingHeld(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                           replaying: bool) -> None:
        self._check_members_known(f["members_present"], "members_present")

    def _check_DeadlineExtended(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                replaying: bool) -> None:
        rule = pack.rule(f["rule"])
        if rule is None:
            raise InvalidCommand(f"the {pack.id} pack has no rule {f['rule']!r}", field="rule")
        if rule.extension is None:
            raise RuleBroken(f"rule {rule.id!r} ({rule.title}) cannot be extended under the {pack.id} pack")
        if f["extend_by"] <= 0:
            raise InvalidCommand("extend_by must be a positive number of the rule's units", field="extend_by")
        most = rule.extension.max_total - rule.duration
        if f["extend_by"] > most:
            raise InvalidCommand(f"rule {rule.id!r} may be extended by at most {most} {rule.unit} in all "
                                 f"(to {rule.extension.max_total}); extend_by is {f['extend_by']}", field="extend_by")
        already = self._episode()["extensions"].get(rule.id, 0)
        total = rule.duration + already + f["extend_by"]
        if total > rule.extension.max_total:
            raise RuleBroken(
                f"rule {rule.id!r} may be extended to at most {rule.extension.max_total} {rule.unit}; "
                f"this would make it {total}"
            )

    def _check_WorkPaused(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                          replaying: bool) -> None:
        if self._episode()["paused"]:
            raise RuleBroken("work is already paused")

    def _check_WorkResumed(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                           replaying: bool) -> None:
        episode = self._episode()
        if not episode["paused"]:
            raise RuleBroken("work is not paused")
        self._not_before(envelope, episode.get("paused_at"), "work was paused")

    def _check_TransferredOut(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                              replaying: bool) -> None:
        if self.pending_transfer is not None:
            raise RuleBroken(f"a transfer to {self.pending_transfer['to_team']} is already pending")
        if f["to_team"] == self.team:
            raise InvalidCommand("to_team is already this family's team", field="to_team")

    def _check_TransferredIn(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                             replaying: bool) -> None:
        if self.pending_transfer is None:
            raise RuleBroken("there is no pending transfer to accept: record TransferredOut first")
        if f["from_team"] != self.pending_transfer["from_team"]:
            raise InvalidCommand(
                f"the pending transfer is from {self.pending_transfer['from_team']}", field="from_team"
            )
        self._not_before(envelope, self.pending_transfer.get("at"), "the family was transferred out")

    def _check_ClosureAuthorised(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                 replaying: bool) -> None:
        closure = self._episode()["closure"]
        if closure is None:
            raise RuleBroken("closure must be proposed (ClosureProposed) before it is authorised")
        if closure["authorised"]:
            raise RuleBroken("the proposed closure is already authorised")
        self._not_before(envelope, closure.get("proposed_at"), "closure was proposed")

    def _check_DocumentRecorded(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                replaying: bool) -> None:
        target = f.get("regarding")
        if target is not None and UUID(str(target)).hex not in self.log:
            raise InvalidCommand(f"no event {target} exists on this family for the document to be regarding",
                                 field="regarding")

    def _check_EpisodeClosed(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                             replaying: bool) -> None:
        closure = self._episode()["closure"]
        if closure is None or not closure["authorised"]:
            raise RuleBroken("an episode is closed only after its closure is proposed and authorised")
        self._not_before(envelope, closure.get("authorised_at"), "its closure was authorised")

    def _check_EpisodeReopened(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                               replaying: bool) -> None:
        episode = self.current_episode
        if episode is None or episode["status"] != "closed":
            raise RuleBroken("only a closed episode can be reopened")
        self._not_before(envelope, episode["closed_at"], "the episode was closed")

    def _check_FollowUpCompleted(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView,
                                 replaying: bool) -> None:
        if self.current_episode is None:
            raise RuleBroken("there is no episode to follow up")

    # -- corrections -------------------------------------------------------------------

    def _check_correction(self, f: Mapping[str, Any], envelope: Mapping[str, Any], pack: PackView) -> None:
        """A correction names an entry of this family, says why, changes only what may be
        corrected, is made by someone who could record that entry now, and leaves every
        entry of the record within the rules (the corrected one and every one after it)."""
        target = self.log.get(f["corrects"].hex)
        if target is None:
            raise InvalidCommand(f"no event {f['corrects']} exists on this family", field="corrects")
        kind = target[0]
        if kind in NOT_CORRECTABLE_TYPES:
            raise InvalidCommand(f"a {kind} cannot be corrected"
                                 + (": correct the entry it corrects again" if kind == "EntryCorrected" else ""),
                                 field="corrects")
        changes: Mapping[str, Any] = f["changes"]
        if not changes:
            raise InvalidCommand("changes must name at least one field and its new value", field="changes")
        if not f["reason"].strip():
            raise InvalidCommand("a correction must say why", field="reason")
        member = f.get("member")
        if member is not None:
            self._check_member_correction(kind, target, member, changes, envelope)
        else:
            allowed = set(ev.payload_fields(ev.VOCABULARY[kind])) | {"occurred_at", "about", "context"}
            unknown = sorted(set(changes) - allowed)
            if unknown:
                raise InvalidCommand(
                    f"{kind} has no field {', '.join(unknown)} to correct "
                    f"(correctable: {', '.join(sorted(allowed - IDENTIFYING - _routing(kind)))})",
                    field="changes",
                )
            for name in changes:
                if name in IDENTIFYING:
                    raise InvalidCommand(f"{name} says which thing the entry is about and cannot be corrected",
                                         field=f"changes.{name}")
                if (kind, name) in ROUTING:
                    raise InvalidCommand(f"{kind}.{name} cannot be corrected: {ROUTING[kind, name]}",
                                         field=f"changes.{name}")
            if "about" in changes:
                self._check_members_known(changes["about"], "changes.about")
            if kind == "MemberAdded" and BIRTH_DETAILS & set(changes):
                _check_member({**target[4], **changes}, _today(envelope), "changes.")
            if kind == "ChildBorn" and isinstance(changes.get("date_of_birth"), date):
                _check_birth(changes["date_of_birth"], _today(envelope), "changes.date_of_birth", kind="born")
        corrected = corrected_entry(target, changes, member)
        corrector = envelope["actor"]
        self._check_authority(kind, corrected[4], corrector, pack)
        original = target[2]
        if (ev.VOCABULARY[kind].decision_kind and corrector["user_id"] != original.get("user_id")
                and corrector["role"] != "manager"):
            raise NotAuthorised(f"{kind} records a decision by {original.get('user_id')} "
                                f"({original.get('role')}): only they or a manager of team {self.team} may correct it")
        problems = self._correction_problems(f["corrects"].hex, corrected, pack)
        own = problems.pop(f["corrects"].hex, None)
        if own is not None:  # the corrected entry itself breaks a rule: as if recorded so now
            error, _ = own
            field = f"changes.{error.field}" if error.field and error.field != "about" else error.field
            raise type(error)(f"the corrected {kind}: {error.detail}", field=field)
        if problems:
            raise RuleBroken("the correction would make later entries break the record's rules: " + "; ".join(
                f"{error.detail} ({_described(entry)})" for error, entry in problems.values()))

    def _check_member_correction(self, kind: str, target: Any, member: UUID, changes: Mapping[str, Any],
                                 envelope: Mapping[str, Any]) -> None:
        if kind not in ("FamilyRegistered", "MemberAdded"):
            raise InvalidCommand("member names whose details are corrected: it goes with a correction of the "
                                 "registration or the MemberAdded that put them on the record", field="member")
        people = target[4]["members"] if kind == "FamilyRegistered" else [target[4]]
        found = next((m for m in people if m["member_id"] == member), None)
        if found is None:
            raise InvalidCommand(f"{member} was not put on the record by this {kind}", field="member")
        unknown = sorted(set(changes) - set(MEMBER_DETAILS))
        if unknown:
            raise InvalidCommand(f"a member's correctable details are {', '.join(MEMBER_DETAILS)}, not "
                                 f"{', '.join(unknown)}", field="changes")
        if BIRTH_DETAILS & set(changes):
            _check_member({**found, **changes}, _today(envelope), "changes.", names=False)
        if {"nhs_number", "upn"} & set(changes):
            _check_identifiers_unique([{**found, **changes}], [m for k, m in self.members.items() if k != member.hex],
                                      prefix="changes.")
        for name in ("given_name", "family_name"):
            if name in changes and not str(changes[name] or "").strip():
                raise InvalidCommand(f"changes.{name} must not be empty", field=f"changes.{name}")

    def _correction_problems(self, target: str, corrected: tuple[Any, ...],
                             pack: PackView) -> dict[str, tuple[LedgerError, Any]]:
        """The rules the record would break with the correction in place that it does not
        break now, by entry: the whole log replayed through the checks, once as it is and
        once corrected (entries recorded before today's rules may break them already, and
        a correction is not blamed for that)."""
        before = self._replay_problems(self.log, pack)
        after = self._replay_problems({**self.log, target: corrected}, pack)
        return {key: (error, entry) for key, (error, entry) in after.items()
                if key not in before or before[key][0].detail != error.detail}

    def _replay_problems(self, log: Mapping[str, Any], pack: PackView) -> dict[str, tuple[LedgerError, Any]]:
        probe = object.__new__(type(self))
        probe.__dict__.update(policy=self.policy, policy_version=self.policy_version, registered_at=self.registered_at,
                              log=dict(log), state_format=STATE_FORMAT)
        probe._reset()
        problems: dict[str, tuple[LedgerError, Any]] = {}
        for event_id, entry in log.items():
            kind = entry[0]
            if kind in ("FamilyRegistered", "EntryCorrected", "PersonalDataErased"):
                continue
            envelope = {"occurred_at": entry[1], "actor": entry[2], "about": entry[3]}
            try:
                probe._check_fact(kind, entry[4], envelope, pack, replaying=True)
            except LedgerError as e:
                problems[event_id] = (e, entry)
            probe._apply(UUID(event_id), entry)
        return problems

    # -- applying events -------------------------------------------------------------

    def _match_values(
        self, type_name: str, fields: Mapping[str, Any], role: str, about: Any
    ) -> dict[str, Any]:
        """The values a pack's event match sees (``ledger/policies/matching.py``)."""
        values = _compact(fields, ev.VOCABULARY[type_name].personal)
        episode = self.current_episode
        pathway = episode["pathway"] if episode else None
        if ev.VOCABULARY[type_name].sets_pathway and fields.get("pathway"):
            pathway = fields["pathway"]
        values.update(pathway=pathway, actor_role=role, about=list(about))
        if ev.VOCABULARY[type_name].assessment == "step" and episode is not None:
            found = episode["assessments"].get(fields["assessment_id"].hex)
            values["assessment_kind"] = found["kind"] if found else None
        return values

    def when(self, event: ev.FamilyEvent) -> None:
        """Apply a recorded event to the state (also used when replaying the stream)."""
        kind = event.type
        if kind == "PersonalDataErased":
            self.log[event.event_id.hex] = _entry(event)
            self.erased = {"at": event.recorded_at, "reason": event.reason,  # type: ignore[attr-defined]
                           "by": event.actor.get("user_id")}
            return
        if kind == "EntryCorrected":
            self.log[event.event_id.hex] = _entry(event)
            target = event.corrects.hex  # type: ignore[attr-defined]
            if target in self.log and self.log[target][0] not in NOT_CORRECTABLE_TYPES:
                self.log[target] = corrected_entry(self.log[target], event.changes,  # type: ignore[attr-defined]
                                                   getattr(event, "member", None))
                self._refold()
            return
        entry = _entry(event)
        self.log[event.event_id.hex] = entry
        self._apply(event.event_id, entry)

    def _refold(self) -> None:
        """The state folded again from the facts (after a correction changed one)."""
        self._reset()
        for event_id, entry in self.log.items():
            if entry[0] not in ("FamilyRegistered", "EntryCorrected", "PersonalDataErased"):
                self._apply(UUID(event_id), entry)

    def _apply(self, event_id: UUID, entry: tuple[Any, ...] | list[Any]) -> None:
        fact = state.Fact(event_id, *entry)
        values = self._match_values(fact.type, fact.values, fact.actor.get("role", ""), fact.about)
        state.apply(self.folded, fact)
        episode = self.current_episode
        if episode is None or (episode["status"] != "open" and fact.type != "EpisodeClosed"):
            return
        history = episode.setdefault("history", [])
        if fact.type == "ReferralReceived" and not history:
            values["pathway"] = None  # a new episode starts without a pathway
        values["occurred_at"] = fact.occurred_at
        history.append([fact.type, values])

    # -- reading ---------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The family as the API shows it (plain data)."""
        episode = self.current_episode
        return {
            "family_id": self.id,
            "version": self.version,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "team": self.team,
            "registered_at": self.registered_at,
            "members": list(self.members.values()),
            "status": "no_episode" if episode is None else episode["status"],
            "current_episode": None if episode is None else _episode_view(episode),
            "episodes": [_episode_view(e) for e in self.episodes],
            "pending_transfer": None if self.pending_transfer is None else {
                k: v for k, v in self.pending_transfer.items() if k != "at"},
            "addresses": [dict(a) for a in self.folded["addresses"]],
            "linked_families": list(self.folded["linked_families"]),
        }


def _episode_view(episode: Episode) -> dict[str, Any]:
    view: dict[str, Any] = {k: v for k, v in episode.items() if k not in ("history", "paused_at")}
    view["assessments"] = [{k: v for k, v in a.items() if k != "submitted_at"}
                           for a in episode["assessments"].values()]
    view["plans"] = list(episode["plans"].values())
    closure = episode["closure"]
    if closure is not None:
        view["closure"] = {k: v for k, v in closure.items() if k not in ("proposed_at", "authorised_at")}
    return view


def _routing(kind: str) -> set[str]:
    return {name for (k, name) in ROUTING if k == kind}


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(LONDON):%d %B %Y %H:%M}"


def _described(entry: Any) -> str:
    return f"{entry[0]} of {_when(entry[1])}"


def _today(envelope: Mapping[str, Any]) -> date:
    """The London date the command is recorded on (its ``timestamp``, the ledger's clock)."""
    return envelope["timestamp"].astimezone(LONDON).date()  # type: ignore[no-any-return]


def _check_birth(dob: date, today: date, field: str = "date_of_birth", kind: str = "child") -> None:
    """A date of birth that can be: not in the future (a child not yet born is a member of
    kind ``unborn`` with an expected date), not before 1900."""
    if dob > today:
        hint = "" if kind != "child" else (": a child not yet born is recorded as kind unborn with its "
                                           "expected_date, and ChildBorn when born")
        raise InvalidCommand(f"{field} {dob.isoformat()} is in the future{hint}", field=field)
    if dob < EARLIEST_BIRTH:
        raise InvalidCommand(f"{field} {dob.isoformat()} is before {EARLIEST_BIRTH.year}", field=field)


def _check_member(member: Mapping[str, Any], today: date, prefix: str = "", *, names: bool = True) -> None:
    """One member's details as they would stand: an unborn member has an expected date
    (if known) within a pregnancy's length and no date of birth; a born one no expected
    date and, if given, a date of birth that has come."""
    kind = member.get("kind", "child")
    dob, expected = member.get("date_of_birth"), member.get("expected_date")
    if kind == "unborn":
        if dob is not None:
            raise InvalidCommand("an unborn member has no date of birth: give expected_date, and record "
                                 "ChildBorn when the child is born", field=f"{prefix}date_of_birth")
        if isinstance(expected, date):
            if expected > today + EXPECTED_WITHIN:
                raise InvalidCommand(f"{prefix}expected_date {expected.isoformat()} is more than 42 weeks ahead",
                                     field=f"{prefix}expected_date")
            if expected < EARLIEST_BIRTH:
                raise InvalidCommand(f"{prefix}expected_date {expected.isoformat()} is before "
                                     f"{EARLIEST_BIRTH.year}", field=f"{prefix}expected_date")
    elif expected is not None and prefix == "":
        raise InvalidCommand(f"expected_date is for an unborn member, not a {kind}: a child is recorded with "
                             "date_of_birth", field="expected_date")
    if isinstance(dob, date) and kind != "unborn":
        _check_birth(dob, today, f"{prefix}date_of_birth", kind=kind)
    if names:
        for name in ("given_name", "family_name"):
            if not str(member.get(name, "")).strip():
                raise InvalidCommand(f"{name} must not be empty", field=name)


def _check_members(members: list[dict[str, Any]], today: date) -> None:
    for member in members:
        _check_member(member, today)
    _check_identifiers_unique(members, [])


def _check_identifiers_unique(members: Sequence[Mapping[str, Any]], others: Sequence[Mapping[str, Any]],
                              prefix: str = "") -> None:
    """An NHS number or UPN identifies one person: two members of a family cannot share one."""
    for name, label in (("nhs_number", "NHS number"), ("upn", "UPN")):
        seen = {m.get(name) for m in others if m.get(name)}
        for i, member in enumerate(members):
            value = member.get(name)
            if value and value in seen:
                field = prefix + (name if len(members) == 1 else f"members.{i}.{name}")
                raise InvalidCommand(f"{field}: another member of this family has this {label}; each person has "
                                     "their own", field=field)
            seen.add(value)


def _compact(fields: Mapping[str, Any], personal: tuple[str, ...] = ()) -> dict[str, Any]:
    """The short, filterable values of an event's fields (no personal data, no free
    text, no nested data), kept per episode so ordering rules can look back."""
    kept: dict[str, Any] = {}
    for name, value in fields.items():
        if name in personal:
            continue
        if value is None or isinstance(value, (bool, int, UUID)):
            kept[name] = value
        elif isinstance(value, str) and len(value) <= 120:
            kept[name] = value
        elif isinstance(value, (list, tuple)) and len(value) <= 50 and all(
            isinstance(v, UUID) or (isinstance(v, str) and len(v) <= 120) for v in value
        ):
            kept[name] = list(value)
    return kept
