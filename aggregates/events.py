"""The Family aggregate's events: one class per word of the ledger's vocabulary.

Every event carries the same envelope (``FamilyEvent``): its own ``event_id``, when it
happened in the world (``occurred_at``, stated by the worker), who recorded it
(``actor``: user_id, role, team), the policy pack it was recorded under, which members it
is ``about`` (a child-specific entry names the child; empty means the whole family) and a
``context`` of chronology details (agency, significance, impact on the child, action
taken, note). When it was recorded is the library's own ``timestamp`` (server clock),
exposed as ``recorded_at``.

The fields after the envelope are what the seeds require to be recorded; the seed
references sit beside each class. The API derives its command models from these
annotations, so a field is declared once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import date, datetime
from types import MappingProxyType
from typing import Annotated, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from pydantic import Field

from aggregates.identifiers import (
    AddressLine,
    Email,
    FormerName,
    NhsNumber,
    PersonId,
    Phone,
    Postcode,
    Upn,
    spaced_nhs_number,
)
from aggregates.vocabulary import (
    AgreementSubject,
    ClosureReason,
    ConsentForm,
    ConsentScope,
    ContactMethod,
    ContactOutcome,
    ContactParty,
    EntryCategory,
    Ethnicity,
    Gender,
    MeetingKind,
    MemberKind,
    PauseReason,
    PowerName,
    ReasonCategory,
    ReferralRoute,
    Relationship,
    SupervisionKind,
    TriageOutcome,
)
from aggregates.wording import Terms, day, join, member_joined, pathway, plain, staff, who, words

MEETING_NAMES = {
    "team_around_the_family": "Team Around the Family meeting", "review": "Review TAF meeting",
    "closure": "Closure TAF meeting", "family_network": "Family network meeting",
}

ENVELOPE_FIELDS = (
    "event_id", "occurred_at", "actor", "policy", "policy_version", "about", "context",
)
PERSONAL_CONTEXT = ("note", "action_taken", "reference")
"""Free-text chronology details in an event's context: personal data."""
PERSONAL_DETAILS = ("nhs_number", "upn", "council_person_id", "former_names", "phone", "email")
"""The identifiers and contact details a member may have (issue 25): personal data."""
MEMBER_DETAILS_FIELDS = (*PERSONAL_DETAILS, "relationship", "parental_responsibility")
"""What may be recorded of a member beyond who they are, on the record or later
(``MemberDetailsRecorded``): their identifiers, contact details, relationship to the
children and whether they hold parental responsibility."""
PERSONAL_MEMBER = ("given_name", "family_name", "date_of_birth", "expected_date", *PERSONAL_DETAILS)
"""What identifies a member: personal data wherever members are listed."""
LIBRARY_FIELDS = ("originator_id", "originator_version", "timestamp", "originator_topic")


class FamilyEvent(Aggregate.Event):
    """Envelope shared by every event on a family stream."""

    event_id: UUID
    occurred_at: datetime
    actor: dict[str, str]
    policy: str
    policy_version: str
    about: list[UUID]
    context: dict[str, Any]

    kept_by_the_ledger: ClassVar[tuple[str, ...]] = ()
    """Fields stored with the event for the ledger's own use that are no part of what it
    shows: left out of its payload (``payload_fields``), and so of its schema, the API
    and the feed (``PersonalDataErased.deadlines``, ADR 0035)."""

    personal: ClassVar[tuple[str, ...]] = ()
    """The fields that hold personal data (names, dates of birth, free text): stored sealed
    with the family's key, shown as erased once that key is destroyed. Everything else
    (types, times, actors, codes, ids) is the audit structure and stays readable."""

    class_version: ClassVar[int] = 1
    """The version of the type's published schema (``/schemas/{type}``, ``schema_version``
    in every envelope), which is the ``eventsourcing`` library's own ``class_version``: a
    change that breaks the schema raises it by one and adds a static method
    ``upcast_v<n>_v<n+1>(state)`` that turns a stored event of the old version into the
    new, so that old events stay readable (ADR 0034)."""

    # What the rest of the ledger asks of an event type is declared here, once, on the
    # class (ADR 0026): a new type states these and its summary, and the packs that use it.
    category: ClassVar[EntryCategory]
    """What part of the work the entry belongs to (how a chronology groups and filters)."""
    decision_kind: ClassVar[str | None] = None
    """The entry records someone's decision under authority, and of what kind ("allocation",
    "closure"...): the management oversight view lists it when a supervisor or manager made
    it, an auditor may reconstruct what was known when it was made
    (``/families/{id}/decisions/{event_id}``), and it is corrected only by the person who
    made it or a manager of the family's team."""
    power: ClassVar[PowerName | None] = None
    """The pack power (its ``authority``) a role must hold to record it."""
    power_needed_to: ClassVar[str] = ""
    """The power in words, for a refusal: "... may not <power_needed_to>"."""
    management_only: ClassVar[bool] = False
    """Only a supervisor or manager records it, whatever the pack says (seed 000 L1748)."""
    outside_episode: ClassVar[bool] = False
    """It may be recorded while the family has no open episode (a re-referral opens one,
    reopening reopens the last; follow-up, documents, corrections and new members concern
    the record rather than new work: seed 000 L1714, seed 001 L469)."""
    sets_pathway: ClassVar[bool] = False
    """Its ``pathway`` (when given) becomes the episode's pathway."""
    about_people: ClassVar[bool] = False
    """It says who the family's members are, what is known of them or where the family
    lives: a member's details and the family's address history are worked out from these
    entries (their read model rows, the person index)."""
    one_members_own: ClassVar[bool] = False
    """It is one member's own (their ``member_id``): their joining, birth or details; another
    member's subject access leaves it out."""
    assessment: ClassVar[str | None] = None
    """``"start"`` for the event that starts an assessment, ``"step"`` for those that name
    one already started (by ``assessment_id``); the pack matches both on its kind."""

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        """The entry in plain words, from its values ``d`` (as JSON, corrections applied),
        members named as ``{m:<id>}`` tokens and the pack's vocabulary by its names."""
        return words(cls.__name__)

    @property
    def type(self) -> str:
        return type(self).__name__

    @property
    def recorded_at(self) -> datetime:
        return self.timestamp

    def apply(self, aggregate: Any) -> None:
        aggregate.when(self)


# --- the family and its members -------------------------------------------------


class FamilyRegistered(FamilyEvent, Aggregate.Created):
    """The family is built on the system under a policy pack (seed 002 L133)."""

    about_people = True
    category = 'family'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        members = ", ".join(member_joined(m["member_id"], "unborn", m.get("expected_date"))
                            if m.get("kind") == "unborn" else who(m["member_id"]) for m in d["members"])
        checked = d.get("not_duplicate_of") or []
        return (f"Family registered with team {d['team']} under {terms.council}'s procedure: " + members
                + (f" (a new family after checking possible matches: {', '.join(str(f)[:8] for f in checked)})"
                   if checked else ""))

    team: str
    members: list[dict[str, Any]]
    not_duplicate_of: list[UUID] | None = None
    """Families the registrant was shown as possible matches and said this one is not
    (the registration's actor is who said so)."""


class MemberAdded(FamilyEvent):
    """A child or adult joins the household record (seed 000 L509: every member); a child
    not yet born joins as ``unborn`` with its ``expected_date`` and no date of birth, and
    ``ChildBorn`` records the birth (seed 000 L2185-L2189, L2266-L2268: pre-birth work).
    Their identifiers, contact details and relationship may be given now or later
    (``MemberDetailsRecorded``)."""
    personal = PERSONAL_MEMBER

    about_people = True
    one_members_own = True
    category = 'family'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        joined = member_joined(d["member_id"], d["kind"], d.get("expected_date"))
        return f"{joined}{',' if d['kind'] == 'unborn' else ''} joined the family record"

    member_id: UUID
    given_name: str
    family_name: str
    kind: MemberKind
    date_of_birth: date | None = None
    gender: Gender | None = None
    ethnicity: Ethnicity | None = None
    expected_date: date | None = None
    """An unborn member's expected date of delivery (due date); only an unborn member has one."""
    nhs_number: NhsNumber | None = None
    """10 digits, the last a modulus-11 check digit."""
    upn: Upn | None = None
    """The Unique Pupil Number a school gave a child: 13 characters, the first a check letter."""
    council_person_id: PersonId | None = None
    """The council's own id for the person (its case management system's)."""
    former_names: Annotated[list[FormerName], Field(max_length=20)] | None = None
    """Other names the person has been known by ("Cara Smith")."""
    phone: Phone | None = None
    email: Email | None = None
    relationship: Relationship | None = None
    """Their relationship to the family's children."""
    parental_responsibility: bool | None = None
    """Whether they hold parental responsibility for the children."""


class ChildBorn(FamilyEvent):
    """An unborn member is born: from ``date_of_birth`` they are a child of the family,
    covered by its per-child rules (seed 000 L2268: "as an unborn and after birth")."""
    personal = ('date_of_birth', 'given_name')

    about_people = True
    one_members_own = True
    category = 'family'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return f"{who(d['member_id'])} was born on {day(d['date_of_birth'])}"

    member_id: UUID
    date_of_birth: date
    given_name: str | None = None
    """The child's given name, when the record had none or a placeholder ("Baby")."""
    gender: Gender | None = None


class MemberDetailsRecorded(FamilyEvent):
    """What is known of a member beyond who they are, recorded after they joined the
    record: identifiers (NHS number, UPN, the council's own id, former names), contact
    details, their relationship to the children and whether they hold parental
    responsibility. A field left out (None) says nothing: what was recorded before
    stands. Councils match families with schools, health and police by these, and the
    returns know a child by the council's own id or UPN (ADR 0041)."""
    personal = PERSONAL_DETAILS

    about_people = True
    one_members_own = True
    category = 'family'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return f"Details recorded for {who(d['member_id'])}: " + details_in_words(d)

    member_id: UUID
    nhs_number: NhsNumber | None = None
    upn: Upn | None = None
    council_person_id: PersonId | None = None
    former_names: Annotated[list[FormerName], Field(max_length=20)] | None = None
    phone: Phone | None = None
    email: Email | None = None
    relationship: Relationship | None = None
    parental_responsibility: bool | None = None


def details_in_words(d: Mapping[str, Any]) -> str:
    """A member's details as a chronology lists them ("NHS number 943 476 5919; parent")."""
    parts = []
    if d.get("nhs_number"):
        parts.append(f"NHS number {spaced_nhs_number(str(d['nhs_number']))}")
    for name, label in (("upn", "UPN"), ("council_person_id", "council person id")):
        if d.get(name):
            parts.append(f"{label} {d[name]}")
    if d.get("former_names"):
        names = d["former_names"]
        parts.append("formerly known as " + (", ".join(names) if isinstance(names, list) else str(names)))
    for name, label in (("phone", "telephone"), ("email", "email")):
        if d.get(name):
            parts.append(f"{label} {d[name]}")
    if d.get("relationship"):
        parts.append("relationship to the children: " + words(d["relationship"]).lower())
    if d.get("parental_responsibility") is not None:
        parts.append("holds parental responsibility" if d["parental_responsibility"]
                     else "does not hold parental responsibility")
    return "; ".join(parts) or "nothing new"


class AddressRecorded(FamilyEvent):
    """Where the family lives from ``from_date``: its address history is these entries in
    the order of their dates (the latest is where it lives now). Personal data, sealed
    and erased like names."""
    personal = ('address_lines', 'postcode')

    about_people = True
    category = 'family'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return f"Address from {day(d['from_date'])}: " + ", ".join([*d["address_lines"], d["postcode"]])

    from_date: date
    address_lines: Annotated[list[AddressLine], Field(min_length=1, max_length=6)]
    """The lines before the postcode (house, street, town), 1 to 6 of them."""
    postcode: Postcode


class FamiliesLinked(FamilyEvent):
    """Two families on the record were found to be one household, or to belong together
    (a duplicate registered before the match was seen): each stays as it was recorded,
    never merged by editing events, and each is shown with the other. Recorded on one of
    them, naming the other; ``reason`` is why (personal data: free text)."""
    personal = ('reason',)

    category = 'family'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Linked with family {str(d['linked_family_id'])[:8]}", d.get("reason", ""))

    linked_family_id: UUID
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


# --- front door -----------------------------------------------------------------


class ReferralReceived(FamilyEvent):
    """A request for early help: opens an episode (seed 000 L366-L378, E1)."""
    personal = ('reason', 'referrer_name')

    category = 'front door'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        source = d.get("referrer_agency") or d.get("referrer_name") or words(d["route"])
        priority = f"priority {terms.term_name('priorities', d.get('priority'))}" if d.get("priority") else ""
        return join(f"Referral received from {source}", d["reason"], priority)

    episode_id: UUID
    route: ReferralRoute
    reason: str
    reason_category: ReasonCategory | None = None
    """The broad category of the reason (the SSD's ``earl_episode_reason``), beside the
    free text ``reason``: a code from a closed list, not personal data."""
    referrer_name: str | None = None
    referrer_agency: str | None = None
    consent_to_refer: bool | None = None
    priority: str | None = None
    """The urgency the front door gave the request on receipt, from the pack's
    ``priorities`` (seed 001 L307: SPA's Red / Amber / Green)."""


class TriageDecided(FamilyEvent):
    """Threshold / triage decision and the pathway chosen (seed 000 L374, L447, E2)."""
    personal = ('rationale',)

    category = 'front door'
    sets_pathway = True
    decision_kind = 'threshold decision'
    power = 'triage'
    power_needed_to = 'record a triage decision'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Triage decision: {words(d['outcome'])}", pathway(terms, d.get("pathway")),
                    terms.term_name("triage_responses", d.get("response")), d.get("rationale", ""))

    outcome: TriageOutcome
    pathway: str | None = None
    rationale: str = ""
    response: str | None = None
    """The pack's named response, from its ``triage_responses`` (seed 003 L75-L98: the
    sixteen Risk and Prioritisation outcomes, each with its own timescale)."""
    priority: str | None = None


class AllocatedToTeam(FamilyEvent):
    """Allocated to a team's tray (seed 000 L456, E5)."""

    category = 'allocation'
    sets_pathway = True
    decision_kind = 'allocation'
    power = 'triage'
    power_needed_to = 'allocate a family to a team'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Allocated to team {d['team']}", pathway(terms, d.get("pathway")))

    team: str
    pathway: str | None = None


class AllocatedToWorker(FamilyEvent):
    """A worker is allocated, normally as lead professional (seed 000 L476, E8)."""

    category = 'allocation'
    decision_kind = 'allocation'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        role = f" ({d['worker_role']})" if d.get("worker_role") else ""
        lead = " as lead professional" if d.get("lead_professional", True) else ""
        return f"Allocated to {staff(d['worker_id'])}{role}{lead}"

    worker_id: str
    worker_role: str | None = None
    lead_professional: bool = True


# --- contact and consent --------------------------------------------------------


class ContactAttempted(FamilyEvent):
    """An attempt to reach the family or referrer that did not connect (seed 002 L204)."""

    category = 'contact'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return f"Tried to contact the {d['party']} by {words(d['method'])}: {words(d['outcome'])}"

    method: ContactMethod
    party: ContactParty
    outcome: ContactOutcome


class ContactMade(FamilyEvent):
    """Contact or a visit: who was present, which children were seen, seen alone
    (seed 000 L508, L1348: "where a child has been seen and if ... seen alone")."""
    personal = ('location', 'joint_with')

    category = 'contact'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        place = (f" at {d['location']}" if d.get("location") else "") + (
            f", jointly with {', '.join(d['joint_with'])}" if d.get("joint_with") else "")
        return join(f"{words(d['method']).capitalize()} with the {d['party']}{place}",
                    f"seen: {who(d['children_seen'])}" if d["children_seen"] else "no child seen",
                    f"seen alone: {who(d['children_seen_alone'])}" if d["children_seen_alone"] else "")

    method: ContactMethod
    party: ContactParty
    members_present: list[UUID]
    children_seen: list[UUID]
    children_seen_alone: list[UUID]
    location: str | None = None
    joint: bool = False
    """A joint visit with another professional (seed 000 L563, L1637; seed 004 L143)."""
    joint_with: list[str] = field(default_factory=list)


class ConsentGiven(FamilyEvent):
    """Consent, who gave it and for what (seed 000 L617, L637, E15)."""

    category = 'consent'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        scope = " and ".join(words(s) for s in d["scope"])
        return join(f"Consent to {scope} given by {who(d['given_by'])} ({d['form']})", d.get("reason", ""))

    given_by: UUID
    scope: list[ConsentScope]
    form: ConsentForm = "written"


class ConsentRefused(FamilyEvent):
    personal = ('reason',)

    category = 'consent'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        scope = " and ".join(words(s) for s in d["scope"])
        return join(f"Consent to {scope} refused by {who(d['given_by'])}", d.get("reason", ""))

    given_by: UUID
    scope: list[ConsentScope]
    reason: str = ""


class ConsentWithdrawn(FamilyEvent):
    personal = ('reason',)

    category = 'consent'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        scope = " and ".join(words(s) for s in d["scope"])
        return join(f"Consent to {scope} withdrawn by {who(d['given_by'])}", d.get("reason", ""))

    given_by: UUID
    scope: list[ConsentScope]
    reason: str = ""


# --- assessment and plan --------------------------------------------------------


def _assessment(d: Mapping[str, Any], terms: Terms, verb: str) -> str:
    """An assessment's step in words: its kind as the pack names it, the verb, a reason."""
    kind = terms.term_name("assessment_kinds", d.get("assessment_kind")) or "Assessment"
    return join(f"{kind} {verb}", d.get("reason", ""))


class AssessmentStarted(FamilyEvent):
    """An early help assessment starts (seed 000 L685: expected timescale set)."""

    category = 'assessment'
    assessment = 'start'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return _assessment(d, terms, "started")

    assessment_id: UUID
    assessment_kind: str = "early-help-assessment"
    """One of the pack's ``assessment_kinds`` (Haringey's C4C and CiC, seed 001 L351,
    L390; Northamptonshire's Graded Care Profile, seed 002 L264; closure summaries that a
    manager signs off)."""


class AssessmentSubmitted(FamilyEvent):
    """Submitted to the manager for quality assurance (seed 000 L645, E25)."""

    category = 'assessment'
    assessment = 'step'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return _assessment(d, terms, "submitted")

    assessment_id: UUID


class AssessmentReturned(FamilyEvent):
    """Returned by the manager for more work (seed 000 L876-L883, E26)."""
    personal = ('reason',)

    category = 'assessment'
    assessment = 'step'
    decision_kind = 'authorisation'
    power = 'authorise'
    power_needed_to = 'return assessments'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return _assessment(d, terms, "returned")

    assessment_id: UUID
    reason: str


class AssessmentAuthorised(FamilyEvent):
    """Quality assured and signed off by a manager (seed 000 L645, L750)."""

    category = 'assessment'
    assessment = 'step'
    decision_kind = 'authorisation'
    power = 'authorise'
    power_needed_to = 'authorise assessments'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return _assessment(d, terms, "authorised")

    assessment_id: UUID


class DeadlineExtended(FamilyEvent):
    """A manager extends a pack rule's clock (seed 000 L507, L689: up to 45 days)."""
    personal = ('reason',)

    category = 'deadline'
    decision_kind = 'extension'
    power = 'extend'
    power_needed_to = 'extend a deadline'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        rule = terms.rule(d["rule"])
        what = rule.title if rule else d["rule"]
        unit = words(rule.unit) if rule and rule.unit else ""
        return join(f"Extended by {d['extend_by']} {unit}: {what}".replace("  ", " "), d["reason"],
                    "agreed with the family" if d.get("agreed_with_family") else "")

    rule: str
    extend_by: int
    reason: str
    agreed_with_family: bool = False


class PlanAgreed(FamilyEvent):
    """The family plan agreed with the family, usually at the first TAF (seed 002 L59)."""
    personal = ('outcomes',)

    category = 'plan'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join("Plan agreed: " + "; ".join(d["outcomes"]),
                    f"review by {day(d['review_by'])}" if d.get("review_by") else "")

    plan_id: UUID
    outcomes: list[str]
    review_by: date | None = None


class PlanAuthorised(FamilyEvent):
    """Manager review and sign-off of the plan (seed 002 L59, L289)."""

    category = 'plan'
    decision_kind = 'authorisation'
    power = 'authorise'
    power_needed_to = 'authorise plans'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return "Plan authorised"

    plan_id: UUID


class PlanShared(FamilyEvent):
    """Plan circulated to the family and TAF members (seed 000 L1293, E36)."""
    personal = ('shared_with',)

    category = 'plan'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return "Plan shared with " + ", ".join(d["shared_with"])

    plan_id: UUID
    shared_with: list[str]


class MeetingHeld(FamilyEvent):
    """TAF, family network or review meeting (seed 000 L1229-L1307, E34)."""
    personal = ('attendees',)

    category = 'meeting'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        kind = MEETING_NAMES.get(d["meeting_kind"], words(d["meeting_kind"]).capitalize() + " meeting")
        return join(f"{kind} held", "with " + ", ".join(d["attendees"]) if d["attendees"] else "",
                    f"family present: {who(d['members_present'])}" if d["members_present"] else "",
                    f"next meeting {day(d['next_meeting'])}" if d.get("next_meeting") else "")

    meeting_kind: MeetingKind
    attendees: list[str]
    members_present: list[UUID]
    next_meeting: date | None = None


# --- recording and oversight ----------------------------------------------------


class CaseNoteRecorded(FamilyEvent):
    """A case note; child-specific notes name only that child (seed 000 L1417)."""
    personal = ('text',)

    category = 'case note'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return str(d["text"])

    text: str
    contact_type: str | None = None


class ManagementOversightRecorded(FamilyEvent):
    """Management oversight: decision, rationale, impact (seed 000 L1748, E39)."""
    personal = ('text', 'decision')

    category = 'oversight'
    decision_kind = 'oversight note'
    management_only = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join("Management oversight", d.get("decision", ""), d["text"], sep=": ")

    text: str
    decision: str = ""


class SupervisionRecorded(FamilyEvent):
    """Case supervision of the worker on this family (seed 000 L1768, E41)."""
    personal = ('text',)

    category = 'oversight'
    decision_kind = 'supervision'
    management_only = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"{words(d['kind']).capitalize()} supervision of {staff(d['worker_id'])}", d.get("text", ""),
                    sep=": ")

    worker_id: str
    kind: SupervisionKind = "formal"
    text: str = ""


# --- step up / down, pause, transfer --------------------------------------------


class SteppedUp(FamilyEvent):
    """Stepped up to statutory services (seed 000 L1563, E49-E50)."""
    personal = ('reason',)

    category = 'step up or down'
    decision_kind = 'step up'
    power = 'step'
    power_needed_to = 'step a family up'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Stepped up to {words(d['to_service'])}", d["reason"])

    to_service: str
    reason: str


class SteppedDown(FamilyEvent):
    """Stepped down from statutory services into early help (seed 000 L1581-L1593)."""
    personal = ('reason',)

    category = 'step up or down'
    decision_kind = 'step down'
    sets_pathway = True
    power = 'step'
    power_needed_to = 'step a family down'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Stepped down from {words(d['from_service'])}", d["reason"], pathway(terms, d.get("pathway")))

    from_service: str
    reason: str
    pathway: str | None = None


class WorkPaused(FamilyEvent):
    """Early help work stops, e.g. during a Section 47 enquiry (seed 002)."""
    personal = ('note',)

    category = 'pause'
    decision_kind = 'pause'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Work paused: {words(d['reason'])}", d.get("note", ""))

    reason: PauseReason
    note: str = ""


class WorkResumed(FamilyEvent):
    personal = ('reason',)

    category = 'pause'
    decision_kind = 'pause'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join("Work resumed", d.get("reason", ""))

    reason: str = ""


class TransferredOut(FamilyEvent):
    """Handed to another team (seed 000 L1613-L1657, E54)."""
    personal = ('reason',)

    category = 'transfer'
    decision_kind = 'transfer'
    management_only = True
    power = 'transfer'
    power_needed_to = 'transfer a family to another team'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Transfer to team {d['to_team']} requested", d["reason"])

    to_team: str
    reason: str


class TransferredIn(FamilyEvent):
    """Accepted by the receiving team; the case's team changes here."""

    category = 'transfer'
    decision_kind = 'transfer'
    management_only = True
    power = 'accept_transfer'
    power_needed_to = 'accept a family from another team'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return f"Transfer from team {d['from_team']} accepted"

    from_team: str


# --- closure --------------------------------------------------------------------


class ClosureProposed(FamilyEvent):
    """Closure proposed (seed 000 L1692-L1706, E55)."""
    personal = ('summary',)

    category = 'closure'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Closure proposed: {words(d['reason'])}", d.get("summary", ""))

    reason: ClosureReason
    summary: str = ""


class ClosureAuthorised(FamilyEvent):
    """A manager authorises the proposed closure (seed 000 L1700)."""
    personal = ('comment',)

    category = 'closure'
    decision_kind = 'closure'
    management_only = True
    power = 'close'
    power_needed_to = 'authorise closure'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join("Closure authorised", d.get("comment", ""))

    comment: str = ""


class EpisodeClosed(FamilyEvent):
    """The episode ends; nothing but reopening may follow on it."""
    personal = ('outcome',)

    category = 'closure'
    decision_kind = 'closure'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Episode closed: {words(d['reason'])}", d.get("outcome", ""))

    reason: ClosureReason
    outcome: str = ""


class EpisodeReopened(FamilyEvent):
    personal = ('reason',)

    category = 'closure'
    decision_kind = 'reopening'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join("Episode reopened", d["reason"])

    reason: str


class FollowUpCompleted(FamilyEvent):
    """The post-closure follow-up check (seed 001 L462-L500: a call 3 months after closure;
    a visit within 5 working days if the family needs more help)."""
    personal = ('outcome',)

    category = 'closure'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return join(f"Follow-up by {words(d['method'])}", d.get("outcome", ""),
                    "further support needed" if d.get("further_support_needed") else "")

    method: ContactMethod
    outcome: str = ""
    further_support_needed: bool = False


# --- documents and agreements ----------------------------------------------------


class DocumentRecorded(FamilyEvent):
    """A document the procedure requires was completed or sent: a case summary
    (seed 003 L722-L775), a chronology update (seed 004 L281), a risk assessment
    (seed 002 L186), a letter (seed 003 L153), a survey offered (seed 000 L1673). The
    ``document`` is one of the pack's ``documents``."""
    personal = ('title', 'sent_to')

    category = 'document'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        name = terms.term_name("documents", d["document"])
        title = d.get("title") or ""
        return join(name + (f" ({title})" if title and plain(title) not in plain(name) else ""),
                    "sent to " + ", ".join(d["sent_to"]) if d.get("sent_to") else "", sep=", ")

    document: str
    title: str = ""
    sent_to: list[str] = field(default_factory=list)
    regarding: UUID | None = None
    """The entry of this family's record the document belongs to (the statement of a
    meeting, the form of an assessment): a court chronology lists it in that entry's
    witness or document reference (issue 21)."""


class AgreementRecorded(FamilyEvent):
    """The family (and the TAF, where present) agreed to something: a plan, an extension,
    closure, a step up or down (seed 000 L1587; seed 002 L307, L309)."""
    personal = ('detail',)

    category = 'agreement'

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        rule = terms.rule(d["rule"]) if d.get("rule") else None
        what = words(d["subject"]) + (f" ({rule.title})" if rule else "")
        party = "the family and the TAF" if d.get("with_team_around_the_family") else "the family"
        return join(f"Agreed with {party}: {what}", d.get("detail", ""))

    subject: AgreementSubject
    rule: str | None = None
    """For an extension: the pack rule whose clock was extended."""
    with_team_around_the_family: bool = False
    detail: str = ""


class EntryCorrected(FamilyEvent):
    """Corrects an earlier event without editing it: names it, the new values, why.

    With ``member``, the correction is of one member's details (name, date of birth,
    gender, ethnicity, kind) as the event that put them on the record gave them: the
    registration (which lists every first member) or their MemberAdded."""
    personal = ('changes', 'reason')

    category = 'correction'
    outside_episode = True

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return "Entry corrected"

    corrects: UUID
    changes: dict[str, Any]
    reason: str
    member: UUID | None = None


class PersonalDataErased(FamilyEvent):
    """The family's personal data was crypto-shredded (UK GDPR Art. 17, or its retention
    period passed): its key is destroyed, so every name, date of birth and free text in
    its events reads as erased from now on (ADR 0013). Recorded by ``Ledger.erase`` only,
    never through the commands endpoint. ``reason`` is a category, not a narrative.

    What a copy of the record must forget (ADR 0035): the family (the event's own), its
    ``member_ids`` and ``up_to_position``, the position in the global order of the family's
    last event before this one (every event of the family is at or before it).

    ``deadlines`` keeps the deadline engine's outcome as it stood at erasure (rule,
    state, due, the events that started and stopped each clock; no names), because
    clocks that depend on a child's age could not be worked out again without the date
    of birth. It is the ledger's own (``kept_by_the_ledger``): stored with the event, so
    the outcome and the erasure are written together, but no part of what the event
    shows (its payload, its schema, the feed)."""

    category = 'erasure'
    class_version = 2
    kept_by_the_ledger = ('deadlines',)

    @classmethod
    def summarise(cls, d: Mapping[str, Any], terms: Terms) -> str:
        return (f"Personal data erased ({words(d['reason'].replace('-', '_'))}; {d['legal_basis']}): "
                "names, dates of birth and free text in this record can no longer be read")

    reason: str
    legal_basis: str
    deadlines: dict[str, Any]
    member_ids: list[UUID] | None = None
    """Every member of the family (ids only); None on an erasure recorded before
    version 2, which did not say (the family's id is enough to forget it all)."""
    up_to_position: int | None = None
    """The position of the family's last event before the erasure; None before version 2."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 said neither the members nor the last position: they read as None."""
        state.setdefault("member_ids", None)
        state.setdefault("up_to_position", None)


VOCABULARY: dict[str, type[FamilyEvent]] = {
    cls.__name__: cls
    for cls in (
        FamilyRegistered, MemberAdded, ChildBorn, MemberDetailsRecorded, AddressRecorded, FamiliesLinked,
        ReferralReceived, TriageDecided, AllocatedToTeam,
        AllocatedToWorker, ContactAttempted, ContactMade, ConsentGiven, ConsentRefused,
        ConsentWithdrawn, AssessmentStarted, AssessmentSubmitted, AssessmentReturned,
        AssessmentAuthorised, DeadlineExtended, PlanAgreed, PlanAuthorised, PlanShared,
        MeetingHeld, CaseNoteRecorded, ManagementOversightRecorded, SupervisionRecorded,
        SteppedUp, SteppedDown, WorkPaused, WorkResumed, TransferredOut, TransferredIn,
        ClosureProposed, ClosureAuthorised, EpisodeClosed, EpisodeReopened,
        FollowUpCompleted, DocumentRecorded, AgreementRecorded, EntryCorrected,
        PersonalDataErased,
    )
}
"""Every event type by its vocabulary name (the ``type`` of a command)."""

SYSTEM_TYPES = frozenset({"FamilyRegistered", "PersonalDataErased"})
"""Types with their own way in: registration and erasure (``Ledger.erase``)."""

COMMAND_TYPES = tuple(name for name in VOCABULARY if name not in SYSTEM_TYPES)
"""Types recordable through the commands endpoint."""


def payload_fields(cls: type[FamilyEvent]) -> Mapping[str, Any]:
    """The type-specific dataclass fields of an event class (not the envelope); worked
    out once per class (it is asked for every event a read model or the engine sees)."""
    found = _PAYLOAD_FIELDS.get(cls)
    if found is None:
        import dataclasses

        skip = set(ENVELOPE_FIELDS) | set(LIBRARY_FIELDS) | set(cls.kept_by_the_ledger)
        found = MappingProxyType({f.name: f for f in dataclasses.fields(cls) if f.name not in skip})
        _PAYLOAD_FIELDS[cls] = found
    return found


_PAYLOAD_FIELDS: dict[type, Mapping[str, Any]] = {}
