"""The Family aggregate: one stream per family, its episodes and its invariants.

Commands arrive as ``Family.record(type, fields, envelope, pack)``. Each is checked
against the family's state and the policy pack's authority and ordering rules; a
refused command raises a ``LedgerError`` and triggers nothing, so nothing is recorded.
State is kept in plain dicts and lists of JSON-friendly values so that snapshots
serialise with the same transcoder as events.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

from aggregates import events as ev
from aggregates.errors import InvalidCommand, NotAuthorised, RuleBroken
from aggregates.vocabulary import MANAGEMENT_ROLES

LONDON = ZoneInfo("Europe/London")

# Events that may be recorded while the family has no open episode: a new referral
# (re-referral) opens one; reopening reopens the last; follow-up after closure and
# corrections concern the record rather than new work; a new member may be born.
# A document may be sent after closure too (seed 000 L1714: the standard closure letter
# follows the manager's sign-off; seed 001 L469: the 3 month follow-up form).
OUTSIDE_EPISODE = frozenset(
    {"ReferralReceived", "EpisodeReopened", "FollowUpCompleted", "EntryCorrected", "MemberAdded",
     "DocumentRecorded"}
)


PATHWAY_SETTERS = frozenset({"TriageDecided", "AllocatedToTeam", "SteppedDown"})
ASSESSMENT_EVENTS = frozenset({"AssessmentSubmitted", "AssessmentReturned", "AssessmentAuthorised"})


class PackView(Protocol):
    """What the aggregate needs of a policy pack (``ledger.policies.schema.Pack``)."""

    id: str
    version: str

    def may(self, power: str, role: str) -> bool: ...

    def rule(self, rule_id: str) -> Any: ...

    def term_problem(self, event_type: str, fields: dict[str, Any]) -> tuple[str, str] | None: ...

    def ordering_problem(
        self, event_type: str, values: dict[str, Any], history: list[tuple[str, dict[str, Any]]]
    ) -> str | None: ...


class Family(Aggregate):
    """A family worked under one policy pack, with its members and episodes."""

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
        self.policy = policy
        self.policy_version = policy_version
        self.team = team
        self.registered_at = occurred_at
        self.members: dict[str, dict[str, Any]] = {}
        for member in members:
            self.members[member["member_id"].hex] = dict(member)
        self.episodes: list[dict[str, Any]] = []
        self.pending_transfer: dict[str, Any] | None = None
        self.recorded: dict[str, str] = {event_id.hex: "FamilyRegistered"}

    def __deepcopy__(self, memo: dict[int, Any]) -> Family:
        """A copy sharing nothing that is ever changed with this one, as ``copy.deepcopy``
        makes (the ledger's family cache hands each command one), without walking what
        grows with every event value by value: ``recorded`` maps event ids to type
        names, all strings, and an episode's ``history`` only ever has entries appended
        (``when``), each written once; the copy gets new containers for both."""
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        state = {}
        for name, value in self.__dict__.items():
            if name == "recorded":
                state[name] = dict(value)
            elif name == "episodes":
                state[name] = [{k: list(v) if k == "history" else copy.deepcopy(v, memo) for k, v in episode.items()}
                               for episode in value]
            else:
                state[name] = copy.deepcopy(value, memo)
        clone.__dict__.update(state)
        return clone

    # -- creating -------------------------------------------------------------------

    @classmethod
    def register(
        cls,
        *,
        family_id: UUID,
        envelope: dict[str, Any],
        team: str,
        members: list[dict[str, Any]],
    ) -> Family:
        if not team.strip():
            raise InvalidCommand("team must not be empty", field="team")
        actor_team = envelope["actor"].get("team")
        if actor_team != team:
            raise NotAuthorised(f"a member of team {actor_team} registers families for team {actor_team}, not {team}")
        _check_members(members, _today(envelope))
        return cls._create(
            ev.FamilyRegistered, id=family_id, team=team, members=members, **envelope
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
        try:
            self._recording = envelope  # what the checks judge "today" by
            return self._checked_record(type_name, event_class, fields, envelope, pack)
        finally:
            del self._recording

    def _checked_record(self, type_name: str, event_class: type[ev.FamilyEvent], fields: dict[str, Any],
                        envelope: dict[str, Any], pack: PackView) -> ev.FamilyEvent:
        actor = envelope["actor"]
        self._check_team(type_name, actor)
        self._check_members_known(envelope.get("about", []), "about")
        episode = self.current_episode
        if type_name not in OUTSIDE_EPISODE and (episode is None or episode["status"] != "open"):
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
            check(fields, actor, pack)
        # The latest episode's history, closed or not: a closure letter recorded after
        # closure is still ordered after the closure's authorisation.
        history = [(t, v) for t, v in episode["history"]] if episode else []
        problem = pack.ordering_problem(
            type_name, self._match_values(type_name, fields, actor["role"], envelope.get("about", [])), history
        )
        if problem is not None:
            raise RuleBroken(problem)
        before = len(self.pending_events)
        self.trigger_event(event_class, **fields, **envelope)
        return self.pending_events[before]

    def erase(self, *, reason: str, legal_basis: str, deadlines: dict[str, Any],
              envelope: dict[str, Any]) -> ev.FamilyEvent:
        """Mark the family erased (``Ledger.erase`` has destroyed its key, or is about to)."""
        self._check_not_erased()
        episode = self.current_episode
        if episode is not None and episode["status"] == "open":
            raise RuleBroken("the family has an open episode: close it before its personal data is erased")
        before = len(self.pending_events)
        self.trigger_event(ev.PersonalDataErased, reason=reason, legal_basis=legal_basis, deadlines=deadlines,
                           **envelope)
        return self.pending_events[before]

    def _check_not_erased(self) -> None:
        erased = getattr(self, "erased", None)
        if erased is not None:
            raise RuleBroken(f"the family's personal data was erased on {erased['at']:%d %B %Y} "
                             f"({erased['reason']}): nothing more can be recorded for it")

    def _when_PersonalDataErased(self, e: ev.PersonalDataErased) -> None:
        self.erased = {"at": e.recorded_at, "reason": e.reason, "by": e.actor.get("user_id")}

    @property
    def current_episode(self) -> dict[str, Any] | None:
        return self.episodes[-1] if self.episodes else None

    def children(self) -> dict[str, dict[str, Any]]:
        return {k: m for k, m in self.members.items() if m["kind"] == "child"}

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

    def _check_members_known(self, ids: list[UUID], field: str) -> None:
        unknown = [str(i) for i in ids if i.hex not in self.members]
        if unknown:
            raise InvalidCommand(
                f"{field} names people who are not members of this family: {', '.join(unknown)}",
                field=field,
            )

    def _check_children(self, ids: list[UUID], field: str) -> None:
        self._check_members_known(ids, field)
        adults = [str(i) for i in ids if self.members[i.hex]["kind"] != "child"]
        if adults:
            raise InvalidCommand(f"{field} must list children only: {', '.join(adults)}", field=field)

    def _check_MemberAdded(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if f["member_id"].hex in self.members:
            raise InvalidCommand(f"member {f['member_id']} already exists", field="member_id")
        _check_members([f], _today(self._recording))

    def _check_ReferralReceived(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if any(e["episode_id"] == f["episode_id"] for e in self.episodes):
            raise InvalidCommand("episode_id already used on this family", field="episode_id")

    def _check_AllocatedToTeam(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if not f["team"].strip():
            raise InvalidCommand("team must not be empty", field="team")

    def _check_ContactMade(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
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

    def _check_consent(self, f: dict[str, Any]) -> None:
        self._check_members_known([f["given_by"]], "given_by")
        if not f["scope"]:
            raise InvalidCommand("scope must name at least one of support, information_sharing", field="scope")

    def _check_ConsentGiven(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        self._check_consent(f)

    def _check_ConsentRefused(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        self._check_consent(f)

    def _check_ConsentWithdrawn(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        self._check_consent(f)
        consent = self.current_episode["consent"]  # type: ignore[index]
        not_given = [s for s in f["scope"] if consent.get(s) != "given"]
        if not_given:
            raise RuleBroken(f"consent for {', '.join(not_given)} was not given, so cannot be withdrawn")

    def _assessment(self, f: dict[str, Any]) -> dict[str, Any]:
        found = self.current_episode["assessments"].get(f["assessment_id"].hex)  # type: ignore[index]
        if found is None:
            raise InvalidCommand(
                f"no assessment {f['assessment_id']} has been started in this episode",
                field="assessment_id",
            )
        return found

    def _check_AssessmentStarted(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if f["assessment_id"].hex in self.current_episode["assessments"]:  # type: ignore[index]
            raise InvalidCommand("assessment_id already used in this episode", field="assessment_id")

    def _check_AssessmentSubmitted(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        assessment = self._assessment(f)
        if assessment["status"] not in ("started", "returned"):
            raise RuleBroken(f"the assessment is {assessment['status']}; only a started or returned assessment can be submitted")

    def _check_AssessmentReturned(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        assessment = self._assessment(f)
        if assessment["status"] != "submitted":
            raise RuleBroken(f"the assessment is {assessment['status']}; only a submitted assessment can be returned")

    def _check_AssessmentAuthorised(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        assessment = self._assessment(f)
        if assessment["status"] != "submitted":
            raise RuleBroken(
                f"the assessment is {assessment['status']}; it must be submitted before it is authorised"
            )
        if assessment["submitted_by"] == actor["user_id"]:
            raise RuleBroken("an assessment may not be authorised by the person who submitted it")
        if not pack.may("authorise", actor["role"]):
            raise NotAuthorised(f"the {pack.id} pack does not let a {actor['role']} authorise assessments")

    def _plan(self, f: dict[str, Any]) -> dict[str, Any]:
        found = self.current_episode["plans"].get(f["plan_id"].hex)  # type: ignore[index]
        if found is None:
            raise InvalidCommand(f"no plan {f['plan_id']} has been agreed in this episode", field="plan_id")
        return found

    def _check_PlanAgreed(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if f["plan_id"].hex in self.current_episode["plans"]:  # type: ignore[index]
            raise InvalidCommand("plan_id already used in this episode", field="plan_id")

    def _check_PlanAuthorised(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        plan = self._plan(f)
        if plan["status"] == "authorised":
            raise RuleBroken("the plan is already authorised")
        if not pack.may("authorise", actor["role"]):
            raise NotAuthorised(f"the {pack.id} pack does not let a {actor['role']} authorise plans")

    def _check_PlanShared(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        self._plan(f)
        if not f["shared_with"]:
            raise InvalidCommand("shared_with must name who the plan was shared with", field="shared_with")

    def _check_MeetingHeld(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        self._check_members_known(f["members_present"], "members_present")

    def _check_DeadlineExtended(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        rule = pack.rule(f["rule"])
        if rule is None:
            raise InvalidCommand(f"the {pack.id} pack has no rule {f['rule']!r}", field="rule")
        if rule.extension is None:
            raise RuleBroken(f"rule {rule.id!r} ({rule.title}) cannot be extended under the {pack.id} pack")
        if not pack.may("extend", actor["role"]) or actor["role"] not in rule.extension.roles:
            raise NotAuthorised(f"a {actor['role']} may not extend rule {rule.id!r} under the {pack.id} pack")
        if f["extend_by"] <= 0:
            raise InvalidCommand("extend_by must be a positive number of the rule's units", field="extend_by")
        already = self.current_episode["extensions"].get(rule.id, 0)  # type: ignore[index]
        total = rule.duration + already + f["extend_by"]
        if total > rule.extension.max_total:
            raise RuleBroken(
                f"rule {rule.id!r} may be extended to at most {rule.extension.max_total} {rule.unit}; "
                f"this would make it {total}"
            )

    def _check_SupervisionRecorded(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if actor["role"] not in MANAGEMENT_ROLES:
            raise NotAuthorised("supervision is recorded by a supervisor or manager")

    def _check_ManagementOversightRecorded(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if actor["role"] not in MANAGEMENT_ROLES:
            raise NotAuthorised("management oversight is recorded by a supervisor or manager")

    def _check_WorkPaused(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if self.current_episode["paused"]:  # type: ignore[index]
            raise RuleBroken("work is already paused")

    def _check_WorkResumed(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if not self.current_episode["paused"]:  # type: ignore[index]
            raise RuleBroken("work is not paused")

    def _check_TransferredOut(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if self.pending_transfer is not None:
            raise RuleBroken(f"a transfer to {self.pending_transfer['to_team']} is already pending")
        if f["to_team"] == self.team:
            raise InvalidCommand("to_team is already this family's team", field="to_team")

    def _check_TransferredIn(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if self.pending_transfer is None:
            raise RuleBroken("there is no pending transfer to accept: record TransferredOut first")
        if f["from_team"] != self.pending_transfer["from_team"]:
            raise InvalidCommand(
                f"the pending transfer is from {self.pending_transfer['from_team']}", field="from_team"
            )

    def _check_ClosureAuthorised(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        closure = self.current_episode["closure"]  # type: ignore[index]
        if closure is None:
            raise RuleBroken("closure must be proposed (ClosureProposed) before it is authorised")
        if closure["authorised"]:
            raise RuleBroken("the proposed closure is already authorised")
        if actor["role"] not in MANAGEMENT_ROLES or not pack.may("close", actor["role"]):
            raise NotAuthorised(f"the {pack.id} pack does not let a {actor['role']} authorise closure")

    def _check_EpisodeClosed(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        closure = self.current_episode["closure"]  # type: ignore[index]
        if closure is None or not closure["authorised"]:
            raise RuleBroken("an episode is closed only after its closure is proposed and authorised")

    def _check_EpisodeReopened(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        episode = self.current_episode
        if episode is None or episode["status"] != "closed":
            raise RuleBroken("only a closed episode can be reopened")

    def _check_FollowUpCompleted(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        if self.current_episode is None:
            raise RuleBroken("there is no episode to follow up")

    def _check_EntryCorrected(self, f: dict[str, Any], actor: dict[str, str], pack: PackView) -> None:
        corrected_type = self.recorded.get(f["corrects"].hex)
        if corrected_type is None:
            raise InvalidCommand(f"no event {f['corrects']} exists on this family", field="corrects")
        if not f["changes"]:
            raise InvalidCommand("changes must name at least one field and its new value", field="changes")
        allowed = set(ev.payload_fields(ev.VOCABULARY[corrected_type])) | {"occurred_at", "about", "context"}
        unknown = sorted(set(f["changes"]) - allowed)
        if unknown:
            raise InvalidCommand(
                f"{corrected_type} has no field {', '.join(unknown)} to correct "
                f"(correctable: {', '.join(sorted(allowed))})",
                field="changes",
            )
        if not f["reason"].strip():
            raise InvalidCommand("a correction must say why", field="reason")
        dob = f["changes"].get("date_of_birth")
        if corrected_type == "MemberAdded" and isinstance(dob, date):
            _check_birth(dob, _today(self._recording), "changes.date_of_birth")

    # -- applying events -------------------------------------------------------------

    def _match_values(
        self, type_name: str, fields: dict[str, Any], role: str, about: list[UUID]
    ) -> dict[str, Any]:
        """The values a pack's event match sees (``ledger/policies/matching.py``)."""
        values = _compact(fields, ev.VOCABULARY[type_name].personal)
        episode = self.current_episode
        pathway = episode["pathway"] if episode else None
        if type_name in PATHWAY_SETTERS and fields.get("pathway"):
            pathway = fields["pathway"]
        values.update(pathway=pathway, actor_role=role, about=list(about))
        if type_name in ASSESSMENT_EVENTS and episode is not None:
            found = episode["assessments"].get(fields["assessment_id"].hex)
            values["assessment_kind"] = found["kind"] if found else None
        return values

    def when(self, event: ev.FamilyEvent) -> None:
        """Apply a recorded event to the state (also used when replaying the stream)."""
        self.recorded[event.event_id.hex] = event.type
        fields = {name: getattr(event, name) for name in ev.payload_fields(type(event))}
        values = self._match_values(event.type, fields, event.actor.get("role", ""), event.about)
        handler = getattr(self, f"_when_{event.type}", None)
        if handler is not None:
            handler(event)
        episode = self.current_episode
        if episode is None or (episode["status"] != "open" and event.type != "EpisodeClosed"):
            return
        if event.type == "ReferralReceived" and not episode["history"]:
            values["pathway"] = None  # a new episode starts without a pathway
        episode["history"].append([event.type, values])

    def _when_MemberAdded(self, e: ev.MemberAdded) -> None:
        self.members[e.member_id.hex] = {
            "member_id": e.member_id, "given_name": e.given_name, "family_name": e.family_name,
            "kind": e.kind, "date_of_birth": e.date_of_birth, "gender": e.gender,
            "ethnicity": e.ethnicity, "added_by": e.event_id,
        }

    def _when_ReferralReceived(self, e: ev.ReferralReceived) -> None:
        episode = self.current_episode
        if episode is not None and episode["status"] == "open":
            episode["referrals"].append(e.event_id)
            return
        self.episodes.append({
            "episode_id": e.episode_id, "status": "open", "opened_at": e.occurred_at,
            "closed_at": None, "close_reason": None, "referrals": [e.event_id],
            "pathway": None, "team": self.team, "worker": None, "consent": {},
            "assessments": {}, "plans": {}, "paused": False, "pause_reason": None,
            "closure": None, "stepped_up": False, "extensions": {}, "history": [],
        })

    def _when_TriageDecided(self, e: ev.TriageDecided) -> None:
        if e.pathway:
            self.current_episode["pathway"] = e.pathway  # type: ignore[index]

    def _when_AllocatedToTeam(self, e: ev.AllocatedToTeam) -> None:
        self.team = e.team
        self.current_episode["team"] = e.team  # type: ignore[index]
        if e.pathway:
            self.current_episode["pathway"] = e.pathway  # type: ignore[index]

    def _when_AllocatedToWorker(self, e: ev.AllocatedToWorker) -> None:
        self.current_episode["worker"] = e.worker_id  # type: ignore[index]

    def _set_consent(self, scope: list[str], state: str) -> None:
        for s in scope:
            self.current_episode["consent"][s] = state  # type: ignore[index]

    def _when_ConsentGiven(self, e: ev.ConsentGiven) -> None:
        self._set_consent(e.scope, "given")

    def _when_ConsentRefused(self, e: ev.ConsentRefused) -> None:
        self._set_consent(e.scope, "refused")

    def _when_ConsentWithdrawn(self, e: ev.ConsentWithdrawn) -> None:
        self._set_consent(e.scope, "withdrawn")

    def _when_AssessmentStarted(self, e: ev.AssessmentStarted) -> None:
        self.current_episode["assessments"][e.assessment_id.hex] = {  # type: ignore[index]
            "assessment_id": e.assessment_id, "kind": e.assessment_kind, "status": "started",
            "started_at": e.occurred_at, "submitted_by": None, "authorised_by": None,
        }

    def _assessment_status(self, e: Any, status: str) -> dict[str, Any]:
        assessment = self.current_episode["assessments"][e.assessment_id.hex]  # type: ignore[index]
        assessment["status"] = status
        return assessment

    def _when_AssessmentSubmitted(self, e: ev.AssessmentSubmitted) -> None:
        self._assessment_status(e, "submitted")["submitted_by"] = e.actor["user_id"]

    def _when_AssessmentReturned(self, e: ev.AssessmentReturned) -> None:
        self._assessment_status(e, "returned")

    def _when_AssessmentAuthorised(self, e: ev.AssessmentAuthorised) -> None:
        self._assessment_status(e, "authorised")["authorised_by"] = e.actor["user_id"]

    def _when_DeadlineExtended(self, e: ev.DeadlineExtended) -> None:
        extensions = self.current_episode["extensions"]  # type: ignore[index]
        extensions[e.rule] = extensions.get(e.rule, 0) + e.extend_by

    def _when_PlanAgreed(self, e: ev.PlanAgreed) -> None:
        self.current_episode["plans"][e.plan_id.hex] = {  # type: ignore[index]
            "plan_id": e.plan_id, "status": "agreed", "agreed_at": e.occurred_at, "shared_with": [],
        }

    def _when_PlanAuthorised(self, e: ev.PlanAuthorised) -> None:
        self.current_episode["plans"][e.plan_id.hex]["status"] = "authorised"  # type: ignore[index]

    def _when_PlanShared(self, e: ev.PlanShared) -> None:
        plan = self.current_episode["plans"][e.plan_id.hex]  # type: ignore[index]
        plan["shared_with"] = sorted(set(plan["shared_with"]) | set(e.shared_with))

    def _when_SteppedUp(self, e: ev.SteppedUp) -> None:
        self.current_episode["stepped_up"] = True  # type: ignore[index]

    def _when_SteppedDown(self, e: ev.SteppedDown) -> None:
        if e.pathway:
            self.current_episode["pathway"] = e.pathway  # type: ignore[index]

    def _when_WorkPaused(self, e: ev.WorkPaused) -> None:
        self.current_episode["paused"] = True  # type: ignore[index]
        self.current_episode["pause_reason"] = e.reason  # type: ignore[index]

    def _when_WorkResumed(self, e: ev.WorkResumed) -> None:
        self.current_episode["paused"] = False  # type: ignore[index]
        self.current_episode["pause_reason"] = None  # type: ignore[index]

    def _when_TransferredOut(self, e: ev.TransferredOut) -> None:
        self.pending_transfer = {"from_team": self.team, "to_team": e.to_team, "event_id": e.event_id}

    def _when_TransferredIn(self, e: ev.TransferredIn) -> None:
        assert self.pending_transfer is not None
        self.team = self.pending_transfer["to_team"]
        if self.current_episode is not None:
            self.current_episode["team"] = self.team
            self.current_episode["worker"] = None
        self.pending_transfer = None

    def _when_ClosureProposed(self, e: ev.ClosureProposed) -> None:
        self.current_episode["closure"] = {  # type: ignore[index]
            "reason": e.reason, "proposed_by": e.actor["user_id"], "authorised": False,
            "authorised_by": None,
        }

    def _when_ClosureAuthorised(self, e: ev.ClosureAuthorised) -> None:
        closure = self.current_episode["closure"]  # type: ignore[index]
        closure["authorised"] = True
        closure["authorised_by"] = e.actor["user_id"]

    def _when_EpisodeClosed(self, e: ev.EpisodeClosed) -> None:
        episode = self.current_episode
        assert episode is not None
        episode.update(status="closed", closed_at=e.occurred_at, close_reason=e.reason, paused=False)

    def _when_EpisodeReopened(self, e: ev.EpisodeReopened) -> None:
        episode = self.current_episode
        assert episode is not None
        episode.update(status="open", closed_at=None, close_reason=None, closure=None)

    def _when_EntryCorrected(self, e: ev.EntryCorrected) -> None:
        # The state shows corrected member details; other corrections change what the
        # record says about the past, which the projections show beside the original.
        if self.recorded.get(e.corrects.hex) in ("MemberAdded",):
            member_id = next(
                (k for k, m in self.members.items() if m.get("added_by") == e.corrects), None
            )
            if member_id is not None:
                self.members[member_id].update(
                    {k: v for k, v in e.changes.items() if k in self.members[member_id]}
                )

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
            "pending_transfer": self.pending_transfer,
        }


def _episode_view(episode: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in episode.items() if k != "history"}
    view["assessments"] = list(episode["assessments"].values())
    view["plans"] = list(episode["plans"].values())
    return view


EARLIEST_BIRTH = date(1900, 1, 1)
"""No one on an early help record was born before 1900: an earlier date of birth is a
mistyped year (0001, 1800), refused like one in the future."""


def _today(envelope: dict[str, Any]) -> date:
    """The London date the command is recorded on (its ``timestamp``, the ledger's clock)."""
    return envelope["timestamp"].astimezone(LONDON).date()


EXPECTED_WITHIN = timedelta(weeks=42)
"""How far ahead a child's date of birth may be: an expected baby is put on the record
with its expected date of delivery (and is covered by no per-child rule until born, ADR
0010); a pregnancy lasts at most about 42 weeks."""


def _check_birth(dob: date, today: date, field: str = "date_of_birth", kind: str = "child") -> None:
    if kind != "child" and dob > today:
        raise InvalidCommand(f"{field} {dob.isoformat()} is in the future", field=field)
    if dob > today + EXPECTED_WITHIN:
        raise InvalidCommand(f"{field} {dob.isoformat()} is more than 42 weeks ahead: an expected baby is "
                             "recorded with its expected date of delivery", field=field)
    if dob < EARLIEST_BIRTH:
        raise InvalidCommand(f"{field} {dob.isoformat()} is before {EARLIEST_BIRTH.year}", field=field)


def _check_members(members: list[dict[str, Any]], today: date) -> None:
    for member in members:
        dob = member.get("date_of_birth")
        if dob is not None:
            _check_birth(dob, today, kind=member.get("kind", "child"))
        for name in ("given_name", "family_name"):
            if not str(member.get(name, "")).strip():
                raise InvalidCommand(f"{name} must not be empty", field=name)


def _compact(fields: dict[str, Any], personal: tuple[str, ...] = ()) -> dict[str, Any]:
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
        elif isinstance(value, list) and len(value) <= 50 and all(
            isinstance(v, UUID) or (isinstance(v, str) and len(v) <= 120) for v in value
        ):
            kept[name] = list(value)
    return kept
