"""Who may record what, as plain Python: only the team holding a family records on it,
a transfer moves that right, and only the roles a pack names may triage, authorise,
extend, close, step a family up or down or move it to another team (product brief,
"Invariants"). No database, no HTTP (``tests/family_builder.py``)."""

from __future__ import annotations

import pytest

from aggregates.errors import InvalidCommand, NotAuthorised, RuleBroken
from tests.family_builder import (
    MEG,
    PAT,
    SAM,
    SOL,
    SUE,
    WES,
    Case,
    pack,
    person,
    referred_case,
    variant_pack,
)

PACK_IDS = ["durham-one-point", "haringey-early-help", "leicestershire-early-help", "northamptonshire-0-19",
            "southampton-0-19"]
ROLES = ["practitioner", "supervisor", "manager"]

# The entries that need one of a pack's powers (its [authority]), and what the power does.
POWERS = {
    "TriageDecided": ("triage", "record a triage decision"),
    "AllocatedToTeam": ("triage", "allocate a family to a team"),
    "AssessmentAuthorised": ("authorise", "authorise assessments"),
    "AssessmentReturned": ("authorise", "return assessments"),
    "PlanAuthorised": ("authorise", "authorise plans"),
    "DeadlineExtended": ("extend", "extend a deadline"),
    "ClosureAuthorised": ("close", "authorise closure"),
    "SteppedUp": ("step", "step a family up"),
    "SteppedDown": ("step", "step a family down"),
    "TransferredOut": ("transfer", "transfer a family to another team"),
    "TransferredIn": ("accept_transfer", "accept a family from another team"),
}
MANAGEMENT_ONLY = {"SupervisionRecorded", "ManagementOversightRecorded", "ClosureAuthorised", "TransferredOut",
                   "TransferredIn"}
"""What only a supervisor or manager records, whatever the pack says."""

# A command of each type that needs a power, as far as the authority check reads it.
POWER_COMMANDS = {
    "TriageDecided": {"outcome": "early_help"},
    "AllocatedToTeam": {"team": "north"},
    "AssessmentAuthorised": {},
    "AssessmentReturned": {"reason": "more work"},
    "PlanAuthorised": {},
    "DeadlineExtended": {"rule": "no-such-rule", "extend_by": 1, "reason": "illness"},
    "ClosureAuthorised": {},
    "SteppedUp": {"to_service": "childrens-social-care", "reason": "s47"},
    "SteppedDown": {"from_service": "childrens-social-care", "reason": "needs met"},
    "TransferredOut": {"to_team": "south", "reason": "moved house"},
    "TransferredIn": {"from_team": "north"},
}


# -- the team that holds the family -------------------------------------------------------------


def test_only_the_team_holding_a_family_records_on_it():
    case = referred_case()
    case.refused(NotAuthorised, "CaseNoteRecorded", SUE, text="not our family",
                 says="the family is held by team north; a member of team south may not record on it")
    case.refused(NotAuthorised, "ClosureProposed", SOL, reason="outcomes_met", says="held by team north")


def test_a_transfer_is_accepted_only_by_the_team_it_was_sent_to():
    """Seed 000 L1613-L1657: the family is handed to another team, which takes it on."""
    case = referred_case()
    case.record("TransferredOut", MEG, to_team="south", reason="moved house")
    case.refused(NotAuthorised, "TransferredIn", WES, from_team="north",
                 says="the transfer is to team south: only that team accepts it")
    case.refused(NotAuthorised, "TransferredIn", MEG, from_team="north", says="only that team accepts it")
    # Until it is accepted, north still holds the family and south records nothing else on it.
    case.record("CaseNoteRecorded", PAT, text="still ours")
    case.refused(NotAuthorised, "CaseNoteRecorded", SOL, text="not yet", says="held by team north")
    case.record("TransferredIn", SOL, from_team="north")
    assert case.state["team"] == "south" and case.state["pending_transfer"] is None
    assert case.episode["team"] == "south" and case.episode["worker"] is None


def test_after_a_transfer_only_the_receiving_team_records():
    case = referred_case()
    case.record("AllocatedToWorker", PAT, worker_id="pat")
    case.record("TransferredOut", MEG, to_team="south", reason="moved house")
    case.record("TransferredIn", SOL, from_team="north")
    case.refused(NotAuthorised, "CaseNoteRecorded", PAT, text="after the transfer",
                 says="the family is held by team south; a member of team north may not record on it")
    case.record("CaseNoteRecorded", SUE, text="ours now")


def test_one_transfer_at_a_time():
    case = referred_case()
    case.record("TransferredOut", MEG, to_team="south", reason="moved house")
    case.refused(RuleBroken, "TransferredOut", MEG, to_team="east", reason="moved again",
                 says="a transfer to south is already pending")


def test_a_family_is_not_transferred_to_the_team_that_holds_it():
    case = referred_case()
    case.refused(InvalidCommand, "TransferredOut", MEG, to_team="north", reason="x",
                 says="to_team is already this family's team", field="to_team")


def test_a_transfer_in_needs_a_transfer_out():
    case = referred_case()
    case.refused(RuleBroken, "TransferredIn", MEG, from_team="north",
                 says="there is no pending transfer to accept: record TransferredOut first")


def test_a_transfer_in_names_the_team_the_family_came_from():
    case = referred_case()
    case.record("TransferredOut", MEG, to_team="south", reason="moved house")
    case.refused(InvalidCommand, "TransferredIn", SOL, from_team="east",
                 says="the pending transfer is from north", field="from_team")


def test_a_family_is_not_taken_in_before_it_was_transferred_out():
    case = referred_case()
    case.record("TransferredOut", MEG, at="2026-10-20T09:00:00+01:00", to_team="south", reason="moved")
    case.refused(RuleBroken, "TransferredIn", SOL, at="2026-10-20T08:59:00+01:00", from_team="north",
                 says="before the family was transferred out on 20 October 2026 09:00: it cannot have")
    case.record("TransferredIn", SOL, at="2026-10-20T09:00:00+01:00", from_team="north")


def test_a_family_does_not_move_team_by_allocation():
    """AllocatedToTeam puts a family in its own team's tray (seed 000 L456); moving it
    to another team is a transfer its managers make, accepted by the receiving team."""
    case = referred_case()
    case.refused(RuleBroken, "AllocatedToTeam", MEG, team="south",
                 says="allocating it to team south would move it; a family moves to another team by TransferredOut")
    case.refused(InvalidCommand, "AllocatedToTeam", MEG, team=" ", says="team must not be empty", field="team")
    case.record("AllocatedToTeam", MEG, team="north", pathway="family-hub")
    assert case.episode["pathway"] == "family-hub" and case.state["team"] == "north"


# -- what only management records ---------------------------------------------------------------


@pytest.mark.parametrize("type_name, fields, says", [
    ("SupervisionRecorded", {"worker_id": "pat"}, "only a supervisor or manager may record SupervisionRecorded"),
    ("ManagementOversightRecorded", {"text": "reviewed"},
     "only a supervisor or manager may record ManagementOversightRecorded"),
    ("ClosureAuthorised", {}, "only a supervisor or manager may authorise closure"),
    ("TransferredOut", {"to_team": "south", "reason": "moved"},
     "only a supervisor or manager may transfer a family to another team"),
    ("TransferredIn", {"from_team": "north"}, "only a supervisor or manager may accept a family from another team"),
])
def test_management_entries_are_a_supervisors_or_a_managers(type_name, fields, says):
    """Supervision (seed 000 L1768), management oversight (seed 000 L1748), closure
    sign-off (seed 000 L1700) and moving a family between teams, whatever a pack says."""
    case = referred_case()
    case.refused(NotAuthorised, type_name, PAT, says=f"{says}, not a practitioner", **fields)


def test_a_supervisor_records_supervision_and_oversight():
    case = referred_case()
    case.record("SupervisionRecorded", SAM, worker_id="pat")
    case.record("ManagementOversightRecorded", SAM, text="reviewed")


# -- the pack's powers --------------------------------------------------------------------------


def _refusals():
    for pack_id in PACK_IDS:
        the_pack = pack(pack_id)
        for type_name, (power, _) in POWERS.items():
            for role in ROLES:
                if not the_pack.may(power, role):
                    yield pytest.param(pack_id, type_name, role, id=f"{pack_id}-{type_name}-{role}")


@pytest.mark.parametrize("pack_id, type_name, role", list(_refusals()))
def test_only_the_roles_a_pack_names_may_use_its_powers(pack_id, type_name, role):
    """Each pack's [authority] names, with its seed lines, who may triage, authorise,
    extend, close, step up or down, transfer and accept a transfer; anyone else is refused."""
    case = referred_case(pack_id)
    actor = person("someone", role)
    if type_name in MANAGEMENT_ONLY and role == "practitioner":
        says = "only a supervisor or manager may"
    else:
        power, what = POWERS[type_name]
        says = (f"the {pack_id} pack lets a {' or '.join(case.pack.roles_for(power))} {what}, "
                f"not a {role}")
    case.refused(NotAuthorised, type_name, actor, says=says, **POWER_COMMANDS[type_name])


def _permissions():
    for pack_id in PACK_IDS:
        the_pack = pack(pack_id)
        for type_name, (power, _) in POWERS.items():
            for role in the_pack.roles_for(power):
                yield pytest.param(pack_id, type_name, role, id=f"{pack_id}-{type_name}-{role}")


@pytest.mark.parametrize("pack_id, type_name, role", list(_permissions()))
def test_the_roles_a_pack_names_are_not_refused_for_want_of_authority(pack_id, type_name, role):
    """Whatever else may still be missing (a proposal to authorise, a transfer to accept),
    a role the pack gives the power is never refused as not authorised."""
    case = referred_case(pack_id)
    try:
        case.record(type_name, person("someone", role), **POWER_COMMANDS[type_name])
    except NotAuthorised as refused:
        pytest.fail(f"a {role} was refused under {pack_id}: {refused.detail}")
    except (InvalidCommand, RuleBroken):
        pass


def test_durham_lets_a_practitioner_triage_and_leicestershire_does_not():
    """Durham's Early Help Triage Workers are practitioners (seed 000 L366, L374, L376);
    Leicestershire's triage is a manager's decision."""
    durham = referred_case("durham-one-point")
    durham.record("TriageDecided", PAT, outcome="early_help", pathway="family-hub")
    leicestershire = referred_case("leicestershire-early-help")
    leicestershire.refused(NotAuthorised, "TriageDecided", PAT, outcome="early_help", pathway="targeted",
                           says="the leicestershire-early-help pack lets a manager record a triage decision, "
                                "not a practitioner")
    leicestershire.record("TriageDecided", MEG, outcome="early_help", pathway="targeted")


def test_assessments_are_authorised_only_by_a_role_the_pack_allows():
    """Durham: a manager quality assures and signs off the assessment (seed 000 L645, L750)."""
    case = referred_case(pathway="intensive-family-support")
    aid = case.assessment()
    case.refused(NotAuthorised, "AssessmentAuthorised", person("other", "practitioner"), assessment_id=aid,
                 says="the durham-one-point pack lets a supervisor or manager authorise assessments, "
                      "not a practitioner")
    case.record("AssessmentAuthorised", SAM, assessment_id=aid)
    assert case.episode["assessments"][0]["status"] == "authorised"


def test_only_the_roles_a_rule_names_extend_it():
    """A pack may let supervisors extend some clocks and keep others to managers: a rule's
    extension roles narrow the pack's. Southampton lets a supervisor or manager extend the
    two-week closure clock (seed 004 L249, L283); a council that kept it to managers
    refuses the supervisor."""

    def managers_only(raw):
        rule = next(r for r in raw["rules"] if r["id"] == "closure-actions")
        rule["extension"]["roles"] = ["manager"]

    narrowed = variant_pack("southampton-0-19", managers_only)
    case = Case(the_pack=narrowed).referred()
    extension = {"rule": "closure-actions", "extend_by": 2, "reason": "family away"}
    case.refused(NotAuthorised, "DeadlineExtended", SAM, **extension,
                 says="a supervisor may not extend rule 'closure-actions' under the southampton-0-19 pack "
                      "(it is extended by a manager)")
    case.record("DeadlineExtended", MEG, **extension)
    shipped = referred_case("southampton-0-19")
    shipped.record("DeadlineExtended", SAM, **extension)


def test_a_manager_steps_a_family_up_and_down():
    """Durham: stepping up to statutory services (seed 000 L1563) and down into a Family
    Hub (seed 000 L1581-L1593, L1609) are a supervisor's or manager's decisions."""
    case = referred_case(pathway="intensive-family-support")
    case.record("SteppedUp", SAM, to_service="childrens-social-care", reason="section 47")
    assert case.episode["stepped_up"] is True
    case.record("SteppedDown", MEG, from_service="intensive-family-support", reason="needs met",
                pathway="family-hub")
    assert case.episode["pathway"] == "family-hub"
    case.record("SteppedDown", MEG, from_service="childrens-social-care", reason="no pathway named")
    assert case.episode["pathway"] == "family-hub"


def test_a_triage_decision_need_not_choose_a_pathway():
    case = referred_case()
    case.record("TriageDecided", MEG, outcome="signpost")
    assert case.episode["pathway"] is None

