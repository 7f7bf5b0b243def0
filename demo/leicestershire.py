"""Leicestershire's story: Early Help practice guidance."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import date

from demo.story import Step, Story, months, weeks


class Leicestershire(Story):
    pack_id = "leicestershire-early-help"

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        yield self.referral()
        if "extension" in self.f and ep.number == 1:
            route = "targeted"
        elif "transfer" in self.f and ep.number == 1:
            route = "targeted"
        else:
            route = self.rng.choices(("targeted", "intensive", "holding", "brief", "close"),
                                     weights=(42, 14, 10, 22, 12))[0]
        ep.planned = route
        self.once(self.due_by(self.day, 2), self.triage, route)

    def triage(self, route: str) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if route == "close":
            yield from self.close_at_prioritisation()
            return
        response, pathway, priority = {
            "targeted": ("fsw-targeted-intervention", "targeted", self.rng.choice(("medium", "low-medium"))),
            "intensive": ("fsw-intensive-support", "intensive", self.rng.choice(("high-medium", "high"))),
            "holding": ("fsw-holding-contact", "holding", "medium-high"),
            "brief": ("fsw-brief-intervention", "brief", self.rng.choice(("low-medium", "low"))),
        }[route]
        yield self.step("TriageDecided", self.mgr, {"outcome": "early_help", "response": response, "pathway": pathway,
                                                   "priority": priority,
                                                   "rationale": "Risk and Prioritisation template completed"})
        ep.pathway = pathway
        self.later()
        yield self.allocate_worker(self.mgr)
        a = self.day
        self.once(self.due_by(a, 5, lo=1), self.referrer_call)
        limit = {"targeted": 10, "brief": 10, "holding": 5, "intensive": 0}[route]
        if route == "intensive":
            self.later(30, 180)
            yield self.phone(made=self.chance(0.5))
            self.once(self.due_by(a, 3, lo=1), self.first_meeting)
        else:
            self.once(self.due_by(a, limit, lo=1), self.first_contact)
        if route == "holding":
            self.once(self.after(self.within(weeks(5) - 2, lo=10), a), self.intensive_worker_available)
        self.repeat(self.after(self.rng.randint(20, 30), a), lambda: 30, self.supervise)

    def close_at_prioritisation(self) -> Iterator[Step]:
        """Outcome 1 (signposted: the family is called within 28 days, then the case closes)
        or outcome 15 (needs not met: closed, referrer and family told within 5 working days)."""
        ep = self.ep
        assert ep is not None
        signpost = self.chance(0.4)
        yield self.step("TriageDecided", self.mgr, {
            "outcome": "signpost" if signpost else "no_further_action",
            "response": "lsc-signpost" if signpost else "close-needs-not-met", "priority": "low",
            "rationale": "Needs can be met by universal services"})
        if signpost:
            self.once(self.due_by(self.day, weeks(4) - 2, lo=3), self.signpost_call)
            return
        yield from self.close_unworked()
        self.whenever(self.due_by(self.day, 5, lo=1), self.outcome_notification)

    def close_unworked(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        ep.closing, ep.reason = True, "no_further_action"
        self.later()
        yield self.propose_closure("no_further_action", self.mgr)
        self.later()
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Closed at prioritisation"})
        self.later()
        yield self.step("CaseNoteRecorded", self.mgr, {"text": "Closure summary: closed at prioritisation",
                                                      "contact_type": "closure-summary"})
        self.later()
        yield self.close_step("no_further_action", self.mgr)
        self.closed()

    def signpost_call(self) -> Iterator[Step]:
        yield self.phone(made=True, actor=self.duty)
        yield from self.close_unworked()

    def outcome_notification(self) -> Iterator[Step]:
        yield self.document("outcome-notification", self.duty, sent_to=["referrer", "family"])

    def referrer_call(self) -> Iterator[Step]:
        yield self.phone(made=True, party="referrer")

    def first_contact(self) -> Iterator[Step]:
        if self.chance(0.4):
            yield self.phone(made=False)
            self.once(self.after(self.rng.randint(1, 3)), self.first_meeting)
        else:
            yield from self.first_meeting()

    def first_meeting(self) -> Iterator[Step]:
        """Start of engagement: the first meeting with the family, consent form signed (L159, L163)."""
        ep = self.ep
        assert ep is not None
        yield self.visit()
        self.later()
        if not self.skip():
            yield self.document("parental-consent-form")
            self.later()
        yield self.consent(("support", "information_sharing"))
        ep.consented = e = self.day
        if ep.pathway == "holding":
            self.repeat(self.after(self.rng.randint(3, 5)), lambda: 5, self.routine_visit)
            return
        yield from self.engaged(e)

    def engaged(self, e: date) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        self.repeat(self.after(self.rng.randint(3, 5)), lambda: 7, self.routine_visit)
        if not self.skip():
            self.once(self.due_by(e, months(4) - 4, lo=40), self.case_summary)
        if ep.pathway == "brief":
            weeks_long = 6
            if "extension" in self.f and self.chance(0.5):
                self.once(self.after(weeks(5), e), self.extend, "brief-intervention-length", 1)
                weeks_long = 7
            self.once(self.after(self.rng.randint(weeks(4), weeks(weeks_long) - 2), e), self.close)
            return
        self.later()
        yield self.start_assessment()
        planned_weeks = 6 if ep.pathway == "targeted" else 7
        if "extension" in self.f and ep.number == 1 and not ep.extended:
            self.once(self.after(weeks(5), e), self.extend, "assessment", 2)
            self.once(self.after(weeks(7) - 1, e), self.submit_assessment)
            self.once(self.after(weeks(planned_weeks), e), self.agree_plan)
        else:
            self.once(self.due_by(e, weeks(6) - 2, lo=15), self.submit_assessment)
            self.once(self.due_by(e, weeks(planned_weeks) - 1, lo=20), self.agree_plan)
        length = months(4) - 5 if ep.pathway == "targeted" else self.rng.randint(months(6), months(11))
        if ep.pathway == "targeted" and self.chance(0.12) and not ep.extended:
            self.once(self.after(months(3) + 10, e), self.extend, "targeted-intervention-length", 2)
            length = months(6) - 5
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, months(3))
        self.once(self.after(self.rng.randint(max(30, length - 20), length), e), self.close)
        if ("step_up" in self.f and ep.number == 1) or self.chance(0.05):
            self.once(self.after(self.rng.randint(20, max(21, length - 10)), e), self.step_up)
        self.plan_mix(e, self.after(length, e))

    def intensive_worker_available(self) -> Iterator[Step]:
        """The holding worker hands over to an intensive family support worker (L81, L84)."""
        ep = self.ep
        assert ep is not None
        yield self.step("AllocatedToTeam", self.mgr, {"team": ep.team.id, "pathway": "intensive"})
        ep.pathway = "intensive"
        self.later()
        yield self.allocate_worker(self.mgr, "Family Support Worker (intensive)")
        self.later()
        self.agenda = [item for item in self.agenda if item[5].__name__ != "tick"]
        heapq.heapify(self.agenda)
        self.repeat(self.after(self.rng.randint(20, 30)), lambda: 30, self.supervise)
        self.once(self.after(self.rng.randint(1, 3)), self.intensive_start)

    def intensive_start(self) -> Iterator[Step]:
        yield self.visit()
        yield from self.engaged(self.day)

    def routine_visit(self) -> Iterator[Step]:
        yield self.visit(self.rng.choice(("visit", "visit", "office", "school")))
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def extend(self, rule: str, by: int) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        ep.extended += 1
        yield self.step("DeadlineExtended", self.mgr, {
            "rule": rule, "extend_by": by,
            "reason": self.rng.choice(("Family illness", "One more session needed", "New information from school"))})

    def submit_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state != "started":
            self.once(self.after(1), self.submit_assessment)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        if self.chance(0.7):
            self.once(self.after(self.rng.randint(1, 4)), self.authorise_assessment)

    def authorise_assessment(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentAuthorised", self.mgr)

    def agree_plan(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.plan()
        limit = weeks(6) if ep.pathway == "targeted" else weeks(12)
        self.once(self.after(self.gap(limit)), self.star_review)

    def star_review(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.document("family-star-review")
        limit = weeks(6) if ep.pathway == "targeted" else weeks(12)
        self.once(self.after(self.gap(limit)), self.star_review)

    def case_summary(self) -> Iterator[Step]:
        yield self.document("case-summary")
        self.once(self.after(self.gap(months(4) - 4)), self.case_summary)

    def supervise(self) -> Iterator[Step]:
        yield self.supervision(actor=self.sup if self.chance(0.6) else self.mgr)

    def transfer_prerequisites(self) -> Iterator[Step]:
        yield self.meeting("handover", self.mgr, family=False,
                           attendees=["Team Leader (sending)", "Team Leader (receiving)"])

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.step_up)
            return
        ep.closing, ep.reason = True, "step_up"
        yield self.meeting("step_up_step_down", self.mgr, family=False,
                           attendees=["Team Leader", "Strengthening Families Team Manager"])
        self.later()
        yield self.step("SteppedUp", self.mgr,
                        {"to_service": "childrens_social_care", "reason": "Safeguarding concerns"},
                        context={"significance": "high"})
        self.then(self.after(self.rng.randint(1, 3)), self.closure_steps, "step_up")

    def close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.close)
            return
        ep.closing = True
        yield self.supervision("Closure agreed in supervision")
        self.then(self.after(self.rng.randint(0, 2)), self.closure_steps, "outcomes_met")

    def closure_steps(self, reason: str) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        assessed = ep.pathway in ("targeted", "intensive")
        if assessed:
            yield self.document("family-star-review", title="Review before closure")
            self.later()
        yield self.propose_closure(reason)
        self.later()
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Closure signed off"})
        self.then(self.after(self.rng.randint(0, 2)), self.closing_paperwork, reason)

    def closing_paperwork(self, reason: str) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.document("closure-form" if ep.pathway in ("targeted", "intensive") else "brief-closure-summary")
        self.later()
        yield self.step("CaseNoteRecorded", self.mgr, {"text": f"Closure summary: {reason.replace('_', ' ')}",
                                                      "contact_type": "closure-summary"})
        self.later()
        yield self.close_step(reason)
        self.closed()


