"""Southampton's story: 0-19 Integrated Early Help."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from demo.story import Step, Story, months, weeks
from ledger.calendar import london_date


class Southampton(Story):
    pack_id = "southampton-0-19"
    IFS, SHORT = "intensive-family-support", "short-term-support"

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        forced = ep.number == 1 and bool({"extension", "transfer", "late_recording"} & self.f)
        ep.planned = self.IFS if forced or self.chance(0.75) else self.SHORT
        yield self.referral()
        self.once(self.due_by(self.day, 1), self.triage)

    def triage(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("TriageDecided", self.sup, {"outcome": "early_help", "pathway": ep.planned,
                                                   "rationale": "Hub decision"})
        ep.pathway = ep.planned
        self.later()
        yield self.step("AllocatedToTeam", self.sup, {"team": ep.team.id})
        ep.allocated = self.day
        self.once(self.due_by(ep.referred, 5, lo=1), self.allocate)

    def allocate(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.allocate_worker(self.sup, "SFSW" if ep.pathway == self.IFS else "Family Engagement Worker")
        a = self.day
        if ep.pathway == self.SHORT:
            self.once(self.after(self.rng.randint(1, 5)), self.short_first_visit)
            self.once(self.after(self.rng.randint(weeks(4), weeks(8))), self.close)
            return
        disengaged = not (self.f & {"extension", "transfer", "rereferral"}) and self.chance(0.08)
        if disengaged:
            self.once(self.after(1), self.chase, 0)
            return
        self.once(self.due_by(a, 5, lo=1), self.initial_visit)
        self.repeat(self.after(self.rng.randint(20, 35), a), lambda: weeks(8), self.supervise)
        if not self.skip():
            self.once(self.after(self.gap(months(3) - 3), a), self.case_summary)
        if not self.skip():
            self.once(self.after(self.gap(months(3) - 3), a), self.chronology_update)
        if not self.skip():
            self.once(self.after(self.gap(months(6) - 5), a), self.supervision_summary)
        length = self.rng.randint(months(3) + 5, months(6) - 8)
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, months(3) + 10)
        self.once(self.after(length, ep.allocated or a), self.closure_taf)
        if ("step_up" in self.f and ep.number == 1) or self.chance(0.05):
            self.once(self.after(self.rng.randint(length // 3, length - 5), a), self.step_up)
        self.plan_mix(a, self.after(length, a))

    def short_first_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.visit()
        self.later()
        yield self.consent(("support",))
        ep.consented = self.day
        self.repeat(self.after(self.rng.randint(4, 8)), lambda: 10, self.routine_visit)

    def chase(self, tries: int) -> Iterator[Step]:
        """A family that does not engage: attempts, a management decision, the letter (L417-L430)."""
        ep = self.ep
        assert ep is not None
        if tries < 3:
            method = ("phone", "text", "letter")[tries]
            yield self.step("ContactAttempted", self.lead, {
                "method": method, "party": "family", "outcome": "letter_sent" if method == "letter" else "no_answer"},
                deferrable=True)
            self.once(self.after(self.rng.randint(3, 6)), self.chase, tries + 1)
            return
        yield self.oversight("15 working days of attempts by three methods: close unless the family makes contact",
                             "non-engagement closure letter", actor=self.sup)
        self.later()
        yield self.document("non-engagement-letter", sent_to=["family", "referrer"])
        ep.closing, ep.reason = True, "disengaged"
        self.then(self.after(self.rng.randint(10, 12)), self.propose_then_close)

    def propose_then_close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.propose_closure(ep.reason)
        self.then(self.after(self.rng.randint(1, 3)), self.closing_summary)

    def initial_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if self.chance(0.3):
            yield self.phone(made=False)
            self.later(60, 200)
        yield self.visit(alone=0.95)
        ep.engaged = self.day
        self.later()
        yield self.consent()
        ep.consented = self.day
        self.later()
        yield self.start_assessment()
        for child in self.children():
            if self.age(child) < 4:
                self.once(self.due_by(ep.worker_allocated or self.day, 5, lo=0), self.not_seen_alone, child)
        self.repeat(self.after(self.rng.randint(2, 4)), lambda: 4 if not ep.first_review else 9, self.routine_visit)
        a = ep.allocated or self.day
        self.once(self.due_by(a, 10, lo=self.cal.working_days_between(a, self.day)), self.initial_taf)
        self.once(self.due_by(a, 19, lo=12), self.submit_assessment)
        self.once(self.due_by(a, 19, lo=12), self.agree_plan)

    def not_seen_alone(self, child: dict[str, Any]) -> Iterator[Step]:
        yield self.oversight(f"{child['given_name']} is too young to be spoken to alone; seen with the family",
                             "child not seen alone: agreed", actor=self.sup, about=[child["member_id"]])

    def routine_visit(self) -> Iterator[Step]:
        yield self.visit(self.rng.choice(("visit", "visit", "school", "office")), alone=0.5)
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def initial_taf(self) -> Iterator[Step]:
        yield self.meeting("team_around_the_family")

    def submit_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state != "started":
            self.once(self.after(1), self.submit_assessment)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        self.once(self.due_by(ep.allocated or self.day, 29,
                              lo=self.cal.working_days_between(ep.allocated or self.day, self.day) + 1),
                  self.authorise_assessment)

    def authorise_assessment(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentAuthorised", self.sup)

    def agree_plan(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.plan()
        self.once(self.due_by(ep.allocated or self.day, 29,
                              lo=self.cal.working_days_between(ep.allocated or self.day, self.day) + 1),
                  self.sign_off_plan)

    def sign_off_plan(self) -> Iterator[Step]:
        yield self.authorise_plan(self.sup)
        self.later()
        yield self.share_plan()
        self.once(self.after(self.gap(58)), self.review_taf)

    def review_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.meeting("review")
        ep.first_review = True
        self.once(self.after(self.gap(58)), self.review_taf)

    def supervise(self) -> Iterator[Step]:
        yield self.supervision()

    def case_summary(self) -> Iterator[Step]:
        yield self.document("case-summary")
        self.once(self.after(self.gap(months(3) - 3)), self.case_summary)

    def chronology_update(self) -> Iterator[Step]:
        yield self.document("chronology-update")
        self.once(self.after(self.gap(months(3) - 3)), self.chronology_update)

    def supervision_summary(self) -> Iterator[Step]:
        yield self.document("supervision-summary", self.sup, title="Six-monthly supervision summary")
        self.once(self.after(self.gap(months(6) - 5)), self.supervision_summary)

    def summary(self, title: str) -> Iterator[Step]:
        """A closing or transfer summary, authorised by the Team Co-ordinator (L251, L282)."""
        summary = self.uid()
        yield self.step("AssessmentStarted", self.lead,
                        {"assessment_id": summary, "assessment_kind": "closing-summary"})
        self.later(30, 120)
        yield self.step("AssessmentSubmitted", self.lead, {"assessment_id": summary})
        self.later(30, 120)
        yield self.step("AssessmentAuthorised", self.sup, {"assessment_id": summary}, context={"note": title})

    def transfer_prerequisites(self) -> Iterator[Step]:
        yield from self.summary("Transfer summary")

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.step_up)
            return
        ep.closing, ep.reason = True, "step_up"
        yield self.step("SteppedUp", self.sup, {"to_service": "childrens_social_care",
                                               "reason": "Section 17 assessment needed"},
                        context={"significance": "high"})
        self.later()
        yield self.propose_closure("step_up")
        self.then(self.after(self.rng.randint(1, 4)), self.closing_summary)

    def closure_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.closure_taf)
            return
        ep.closing = True
        yield self.meeting("closure")
        self.later()
        yield self.propose_closure("outcomes_met")
        if ("extension" in self.f and ep.number == 1) or self.chance(0.1):
            self.then(self.after(self.rng.randint(7, 9)), self.extend_closure)
        else:
            self.then(self.due_by(self.day, weeks(2), lo=2), self.closing_summary)

    def extend_closure(self) -> Iterator[Step]:
        by = self.rng.randint(1, 3)
        yield self.step("DeadlineExtended", self.sup if self.chance(0.6) else self.mgr, {
            "rule": "closure-actions", "extend_by": by, "reason": "Closing summary awaiting the school's report"})
        self.then(self.after(self.rng.randint(3, weeks(by))), self.closing_summary)

    def close(self) -> Iterator[Step]:
        """Short-term support ends: closing summary and closure."""
        ep = self.ep
        assert ep is not None
        ep.closing = True
        yield self.propose_closure("outcomes_met")
        self.then(self.after(self.rng.randint(1, 4)), self.closing_summary)

    def closing_summary(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield from self.summary("Closing summary")
        self.later()
        yield self.step("ClosureAuthorised", self.sup, {"comment": "Closure approved by the Team Co-ordinator"})
        self.later()
        yield self.document("closure-letter", sent_to=["family", "referrer"])
        self.later()
        yield self.close_step(ep.reason)
        self.closed()

    def after_closure(self) -> None:
        ep = self.ep
        assert ep is not None
        closure_taf = next((m for m in reversed(ep.meetings) if m.fields["meeting_kind"] == "closure"), None)
        if closure_taf is None or ep.pathway != self.IFS:
            return
        held = london_date(closure_taf.occurred_at)
        worker = ep.worker or self.duty
        if not self.skip():
            self.whenever(max(self.day, self.after(self.within(weeks(8) - 2, lo=20), held)), self.keep_going_review,
                          worker)
        self.whenever(max(self.day, self.after(self.within(months(8) - 5, lo=100), held)), self.follow_up, worker)

    def keep_going_review(self, worker: dict[str, str]) -> Iterator[Step]:
        worker = self.holding(worker)
        yield self.document("keep-going-plan-review", worker)

    def follow_up(self, worker: dict[str, str]) -> Iterator[Step]:
        worker = self.holding(worker)
        yield self.step("FollowUpCompleted", worker, {"method": "phone", "outcome": "Changes sustained",
                                                     "further_support_needed": False})

    def newborn(self, baby: dict[str, Any]) -> Iterator[Step]:
        yield from super().newborn(baby)
        self.later()
        yield from self.not_seen_alone(baby)


