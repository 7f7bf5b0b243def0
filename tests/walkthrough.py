"""A family walked through every command type, in an order the rules accept.

Used by the round-trip test and by later tests that need a realistic stream.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import MANAGER, PRACTITIONER, SUPERVISOR, auth

SOUTH_MANAGER = auth("manager", "sol", "south")
SOUTH_PRACTITIONER = auth("practitioner", "sue", "south")
"""The walk ends with the family transferred to team south: later entries are theirs."""


def every_command(members: list[dict[str, Any]],
                  linked_family: str | None = None) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """The walk; with ``linked_family`` (another family's id), ending with the two linked."""
    ava, ben, cara = (m["member_id"] for m in members)
    assessment, plan, baby = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    t = lambda day, hour=10: f"2026-01-{day:02d}T{hour:02d}:00:00+00:00"  # noqa: E731
    steps: list[tuple[dict[str, str], dict[str, Any]]] = [
        (PRACTITIONER, {"type": "MemberAdded", "occurred_at": t(2), "given_name": "Dan", "family_name": "Stone",
                        "kind": "adult", "date_of_birth": "1988-07-01", "gender": "1", "ethnicity": "WBRI"}),
        (PRACTITIONER, {"type": "MemberAdded", "occurred_at": t(2, 11), "member_id": baby, "given_name": "Baby",
                        "family_name": "Stone", "kind": "unborn", "expected_date": "2026-01-20"}),
        (PRACTITIONER, {"type": "ChildBorn", "occurred_at": t(3), "member_id": baby, "date_of_birth": "2026-01-03",
                        "given_name": "Eli", "gender": "1"}),
        (PRACTITIONER, {"type": "MemberDetailsRecorded", "occurred_at": t(3, 11), "member_id": ava,
                        "nhs_number": "9434765919", "upn": "B801200005001"}),
        (PRACTITIONER, {"type": "AddressRecorded", "occurred_at": t(3, 12), "from_date": "2025-06-01",
                        "address_lines": ["12 Mill Lane", "Durham"], "postcode": "DH1 5ZA"}),
        (PRACTITIONER, {"type": "ReferralReceived", "occurred_at": t(5), "route": "professional",
                        "reason": "School reports poor attendance and a tired, hungry child",
                        "referrer_name": "Ms Head", "referrer_agency": "Hill Primary School",
                        "consent_to_refer": True, "agency": "Hill Primary School", "about": [ava]}),
        (MANAGER, {"type": "TriageDecided", "occurred_at": t(6), "outcome": "early_help",
                   "pathway": "intensive-family-support", "rationale": "multiple needs"}),
        (MANAGER, {"type": "AllocatedToTeam", "occurred_at": t(6, 11), "team": "north",
                   "pathway": "intensive-family-support"}),
        (SUPERVISOR, {"type": "AllocatedToWorker", "occurred_at": t(7), "worker_id": "pat",
                      "worker_role": "Key Worker", "lead_professional": True}),
        (PRACTITIONER, {"type": "ContactAttempted", "occurred_at": t(8), "method": "phone",
                        "party": "family", "outcome": "no_answer"}),
        (PRACTITIONER, {"type": "DocumentRecorded", "occurred_at": t(8, 11), "document": "home-visit-risk-assessment"}),
        (PRACTITIONER, {"type": "ContactMade", "occurred_at": t(9), "method": "visit", "party": "family",
                        "members_present": [ava, ben, cara], "children_seen": [ava, ben],
                        "children_seen_alone": [ava], "location": "home"}),
        (PRACTITIONER, {"type": "ConsentGiven", "occurred_at": t(9, 11), "given_by": cara,
                        "scope": ["support", "information_sharing"], "form": "written"}),
        (PRACTITIONER, {"type": "ConsentWithdrawn", "occurred_at": t(12), "given_by": cara,
                        "scope": ["information_sharing"], "reason": "does not want school told"}),
        (PRACTITIONER, {"type": "ConsentRefused", "occurred_at": t(12, 11), "given_by": cara,
                        "scope": ["information_sharing"], "reason": "still unwilling"}),
        (PRACTITIONER, {"type": "AssessmentStarted", "occurred_at": t(13), "assessment_id": assessment}),
        (PRACTITIONER, {"type": "AssessmentSubmitted", "occurred_at": t(20), "assessment_id": assessment}),
        (MANAGER, {"type": "AssessmentReturned", "occurred_at": t(21), "assessment_id": assessment,
                   "reason": "child's voice missing"}),
        (PRACTITIONER, {"type": "AssessmentSubmitted", "occurred_at": t(22), "assessment_id": assessment}),
        (MANAGER, {"type": "DeadlineExtended", "occurred_at": t(22, 12), "rule": "ifst-assessment",
                   "extend_by": 5, "reason": "late disclosure needs exploring", "agreed_with_family": True}),
        (MANAGER, {"type": "AssessmentAuthorised", "occurred_at": t(23), "assessment_id": assessment}),
        (PRACTITIONER, {"type": "PlanAgreed", "occurred_at": t(26), "plan_id": plan,
                        "outcomes": ["Ava attends school 95%"], "review_by": "2026-03-01"}),
        (MANAGER, {"type": "PlanAuthorised", "occurred_at": t(27), "plan_id": plan}),
        (PRACTITIONER, {"type": "PlanShared", "occurred_at": t(27, 12), "plan_id": plan,
                        "shared_with": ["family", "Hill Primary School"]}),
        (PRACTITIONER, {"type": "MeetingHeld", "occurred_at": t(28), "meeting_kind": "team_around_the_family",
                        "attendees": ["school", "health visitor"], "members_present": [cara],
                        "next_meeting": "2026-02-25"}),
        (PRACTITIONER, {"type": "CaseNoteRecorded", "occurred_at": t(29), "text": "Ava disclosed worry about dad",
                        "about": [ava], "significance": "high", "impact_on_child": "negative",
                        "action_taken": "discussed with manager"}),
        (MANAGER, {"type": "ManagementOversightRecorded", "occurred_at": t(29, 14),
                   "text": "Reviewed disclosure", "decision": "continue IFST"}),
        (SUPERVISOR, {"type": "SupervisionRecorded", "occurred_at": t(30), "worker_id": "pat",
                      "kind": "formal", "text": "plan on track"}),
        (MANAGER, {"type": "SteppedUp", "occurred_at": t(30, 12), "to_service": "childrens_social_care",
                   "reason": "escalating concern"}),
        (PRACTITIONER, {"type": "AgreementRecorded", "occurred_at": t(30, 13), "subject": "step_down"}),
        (MANAGER, {"type": "SteppedDown", "occurred_at": t(31), "from_service": "childrens_social_care",
                   "reason": "no further statutory role", "pathway": "intensive-family-support"}),
        (PRACTITIONER, {"type": "WorkPaused", "occurred_at": t(31, 12), "reason": "section_47",
                        "note": "strategy discussion"}),
        (PRACTITIONER, {"type": "WorkResumed", "occurred_at": t(31, 15), "reason": "enquiry concluded"}),
        (PRACTITIONER, {"type": "DocumentRecorded", "occurred_at": t(31, 15), "document": "case-summary",
                        "title": "Case summary at transfer", "sent_to": ["South team"]}),
        (PRACTITIONER, {"type": "AgreementRecorded", "occurred_at": t(31, 15), "subject": "transfer",
                        "with_team_around_the_family": True, "detail": "family agreed the move"}),
        (MANAGER, {"type": "TransferredOut", "occurred_at": t(31, 16), "to_team": "south", "reason": "moved house"}),
        (SOUTH_MANAGER, {"type": "TransferredIn", "occurred_at": t(31, 17), "from_team": "north"}),
        (SOUTH_MANAGER, {"type": "ClosureProposed", "occurred_at": t(31, 18), "reason": "outcomes_met",
                         "summary": "attendance restored"}),
        (SOUTH_MANAGER, {"type": "MeetingHeld", "occurred_at": t(31, 18), "meeting_kind": "closure",
                         "attendees": ["school"], "members_present": [cara]}),
        (SOUTH_MANAGER, {"type": "ClosureAuthorised", "occurred_at": t(31, 19), "comment": "agreed"}),
        (SOUTH_MANAGER, {"type": "DocumentRecorded", "occurred_at": t(31, 19), "document": "family-survey",
                         "sent_to": ["Cara Stone"]}),
        (SOUTH_MANAGER, {"type": "EpisodeClosed", "occurred_at": t(31, 20), "reason": "outcomes_met"}),
        (SOUTH_MANAGER, {"type": "FollowUpCompleted", "occurred_at": t(31, 21), "method": "phone",
                         "outcome": "all well"}),
        (SOUTH_MANAGER, {"type": "EpisodeReopened", "occurred_at": t(31, 22), "reason": "new worry"}),
    ]
    if linked_family is not None:
        steps.append((SOUTH_MANAGER, {"type": "FamiliesLinked", "occurred_at": t(31, 23),
                                      "linked_family_id": linked_family, "reason": "same household"}))
    return steps
