"""Closed lists of values the seeds name, as ``Literal`` types.

They are used by the event classes (and so by the API's command models, which are
derived from them) so that an unknown contact method or consent scope is refused at
the edge with a clear message rather than recorded.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["practitioner", "supervisor", "manager", "auditor", "service", "admin", "inspector"]
"""Who a person is to the ledger (a token's ``role``): the three roles of a council's team
record on its families; the others read (an auditor and an inspector across teams, a
service account the feed, an admin the operations)."""
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
TEAM_ROLES = frozenset({"practitioner", "supervisor", "manager"})
"""The roles of a team: they hold families, record on them, and their tokens name the team."""
WRITING_ROLES = TEAM_ROLES
"""The roles that record anything (only a team's)."""
MANAGEMENT_ROLES = frozenset({"supervisor", "manager"})
"""The team roles whose entries are management oversight (seed 000 L1748)."""

EntryCategory = Literal[
    "family", "front door", "allocation", "contact", "consent", "assessment", "deadline", "plan", "meeting",
    "case note", "oversight", "step up or down", "pause", "transfer", "closure", "document", "agreement",
    "correction", "erasure",
]
"""What part of the work an entry belongs to (``FamilyEvent.category``): how a chronology
groups and filters its entries."""
ENTRY_CATEGORIES: tuple[str, ...] = EntryCategory.__args__  # type: ignore[attr-defined]

PowerName = Literal["triage", "step", "transfer", "accept_transfer", "authorise", "extend", "close"]
"""The powers a policy pack gives to roles (its ``authority``): an event type that needs
one says which (``FamilyEvent.power``)."""

MemberKind = Literal["child", "adult", "unborn"]
"""Who a member is: a child, an adult, or a child not yet born (recorded with the expected
date of delivery and no date of birth; ``ChildBorn`` makes them a child from their birth).
Pre-birth work is early help work (seed 000 L2185-L2189: Durham's Pre-Birth Intervention
Service "during the second stage of pregnancy"; L2266-L2268 "danger to the unborn child
(as an unborn and after birth)"; L1788 case clinics select "unborn babies and children
under one")."""

# A member's relationship to the family's children (issue 25): how a chronology's "Family"
# line and a court statement name them ("Cara Stone, mother", with the member's gender).
Relationship = Literal["parent", "step_parent", "carer", "sibling", "grandparent", "other"]

# DfE CIN census / Annex A gender codes: 0 not known, 1 male, 2 female, 9 not specified.
Gender = Literal["0", "1", "2", "9"]

# DfE ethnicity codes (children in need census and Ofsted Annex A): the main categories'
# extended codes, plus REFU (refused) and NOBT (information not yet obtained).
Ethnicity = Literal[
    "WBRI", "WIRI", "WIRT", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND", "APKN",
    "ABAN", "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT",
]
ETHNICITIES: dict[str, str] = {
    "WBRI": "White British", "WIRI": "White Irish", "WIRT": "Traveller of Irish heritage",
    "WOTH": "Any other White background", "WROM": "Gypsy/Roma", "MWBC": "White and Black Caribbean",
    "MWBA": "White and Black African", "MWAS": "White and Asian", "MOTH": "Any other mixed background",
    "AIND": "Indian", "APKN": "Pakistani", "ABAN": "Bangladeshi", "AOTH": "Any other Asian background",
    "BCRB": "Caribbean", "BAFR": "African", "BOTH": "Any other Black background", "CHNE": "Chinese",
    "OOTH": "Any other ethnic group", "REFU": "Refused", "NOBT": "Information not yet obtained",
}

# ContactAttempted / ContactMade: how contact was tried or made (seed 002 L204-L206
# counts unannounced visits separately; seed 000 L498 "family's preferred method").
ContactMethod = Literal[
    "phone", "text", "letter", "email", "visit", "unannounced_visit", "video", "office", "school"
]
ContactParty = Literal["family", "referrer", "professional"]
ContactOutcome = Literal[
    "no_answer", "message_left", "letter_sent", "no_one_home", "declined", "wrong_details", "other"
]

ConsentScope = Literal["support", "information_sharing"]
ConsentForm = Literal["verbal", "written", "electronic"]

ReferralRoute = Literal[
    "parent_or_carer", "self", "professional", "front_door", "safeguarding_referral",
    "step_down", "partner", "other",
]

TriageOutcome = Literal[
    "early_help", "signpost", "redirect", "no_further_action", "step_up", "conversation"
]

# MeetingHeld: "review" is a review TAF, "closure" the final (closure) TAF; hub discussions
# (seed 003 L88), transfer panels (seed 001 L667) and case discussions (seed 000 L1013)
# are meetings a pack's clocks can start or stop on.
MeetingKind = Literal[
    "team_around_the_family", "family_network", "review", "professionals",
    "step_up_step_down", "closure", "case_discussion", "hub_discussion", "transfer_panel",
    "handover", "other",
]

SupervisionKind = Literal["formal", "informal", "group", "case_clinic"]

PauseReason = Literal["section_47", "family_request", "hospital_or_custody", "other"]

# AgreementRecorded: what the family (and, where present, the TAF) agreed to. Packs order
# these after a manager's decision (seed 002 L157, L307, L309: the Team Manager agrees an
# extension or authorises closure BEFORE it is agreed with the TAF and family).
AgreementSubject = Literal[
    "plan", "extension", "closure", "step_up", "step_down", "transfer", "lead_professional", "other",
]

ErasureReason = Literal["retention-period-passed", "erasure-request", "recorded-in-error"]
"""Why a family's personal data is erased (PersonalDataErased.reason): its pack's retention
period has passed (listed by GET /retention/due), the person asked (UK GDPR Art. 17), or
the family was recorded in error."""
ERASURE_REASONS: tuple[str, ...] = ErasureReason.__args__  # type: ignore[attr-defined]

ReasonCategory = Literal[
    "alcohol_substance_misuse", "mental_health", "parenting_family_dynamics", "disabilities_illness",
    "domestic_abuse", "child_abuse_neglect", "special_circumstances", "socio_economic",
    "child_wellbeing_development", "information_support", "other",
]
"""The broad category of the reason for early help involvement, recorded on a referral
beside its free text (``ReferralReceived.reason_category``): what the Standard
Safeguarding Dataset's ``earl_episode_reason`` (EARL005A, "Broad categorisation of Reason
for Early Help Involvement") carries. A code, not personal data."""
REASON_CATEGORIES: dict[str, str] = {
    "alcohol_substance_misuse": "Alcohol/substance misuse", "mental_health": "Mental health",
    "parenting_family_dynamics": "Parenting and family dynamics", "disabilities_illness": "Disabilities/illness",
    "domestic_abuse": "Domestic abuse", "child_abuse_neglect": "Child abuse/neglect",
    "special_circumstances": "Special circumstances", "socio_economic": "Socio-economic",
    "child_wellbeing_development": "Child well-being and development",
    "information_support": "Information and support", "other": "Other",
}
"""Each category as the SSD extract writes it."""

ClosureReason = Literal[
    "outcomes_met", "step_up", "step_down", "transferred", "no_further_action",
    "disengaged", "consent_withdrawn", "moved_away", "other",
]
CLOSURE_REASONS: tuple[str, ...] = ClosureReason.__args__  # type: ignore[attr-defined]

SsdEndReason = Literal["Outcomes met", "Step-up", "NFA"]
"""The Standard Safeguarding Dataset's end reasons of an early help episode
(``earl_episode_end_reason``, EARL006A: "Reason Episode endeed e.g. Outcomes met/ Step-up/
NFA"), as it writes them; each pack maps every ``ClosureReason`` onto one."""
SSD_END_REASONS: tuple[str, ...] = SsdEndReason.__args__  # type: ignore[attr-defined]
