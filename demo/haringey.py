"""Haringey's story: Early Help Locality Teams."""

from __future__ import annotations

from collections.abc import Iterator

from demo.story import Step, Story, months, weeks


class Haringey(Story):
    pack_id = "haringey-early-help"
    LOCALITY, STEP_DOWN = "locality-team", "step-down"

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        from_csc = ("step_down" in self.f and ep.number == 1) or self.chance(0.1)
        ep.planned = self.STEP_DOWN if from_csc else self.LOCALITY
        if from_csc:
            yield self.referral(route="step_down")
            self.then(self.day, self.csc_step_down)
            return
        priority = self.rng.choices(("green", "amber", "red"), weights=(70, 25, 5))[0]
        yield self.referral(priority=priority)
        nfa = not self.f and ep.number == 1 and self.chance(0.07)
        if priority == "red":
            self.once(self.day, self.triage, priority, nfa, prio=1)
        elif priority == "amber":
            self.once(self.day if self.chance(0.6) else self.after(1), self.triage, priority, nfa)
        else:
            self.once(self.due_by(self.day, 3), self.triage, priority, nfa)

    def triage(self, priority: str, nfa: bool) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if priority == "red":
            self.later(60, 180 if not self.chance(self.p_late) else 400)
        if nfa:
            yield self.step("TriageDecided", self.mgr,
                            {"outcome": "signpost", "rationale": "Universal services can help"})
            self.later()
            ep.closing, ep.reason = True, "no_further_action"
            yield self.propose_closure("no_further_action", self.duty)
            self.later()
            yield self.step("ClosureAuthorised", self.mgr, {"comment": "Signposted"})
            self.later()
            yield self.close_step("no_further_action", self.duty)
            self.closed()
            return
        yield self.step("TriageDecided", self.mgr, {"outcome": "early_help", "pathway": self.LOCALITY,
                                                   "rationale": "Multiple needs: Locality Team"})
        self.later()
        yield self.consent(("support",), "verbal", self.duty)
        self.later()
        yield from self.to_team()

    def csc_step_down(self) -> Iterator[Step]:
        self.later()
        yield self.step("SteppedDown", self.mgr, {"from_service": "childrens_social_care", "pathway": self.STEP_DOWN,
                                                 "reason": "Agreed for step down at the CYPS Transfer Panel"})
        self.later()
        yield self.meeting("step_up_step_down", attendees=["social worker", "school"], actor=self.mgr)
        self.ep.first_review = True  # type: ignore[union-attr]
        self.later()
        yield self.consent(("support", "information_sharing"), "written", self.duty)
        self.then(self.after(self.rng.randint(0, 1)), self.to_team_action)

    def to_team_action(self) -> Iterator[Step]:
        yield from self.to_team()

    def to_team(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("AllocatedToTeam", self.mgr, {"team": ep.team.id, "pathway": ep.planned})
        ep.pathway, ep.allocated = ep.planned, self.day
        self.once(self.due_by(self.day, 1), self.allocate)

    def allocate(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.allocate_worker(self.sup)
        if self.chance(0.6):
            self.later()
            yield self.document("case-allocation-record", self.sup)
        a = self.day
        step_down = ep.pathway == self.STEP_DOWN
        self.once(self.due_by(a, 5, lo=1), self.initial_visit)
        if step_down:
            if not self.skip():
                self.once(self.due_by(a, 15, lo=5), self.cic_and_baseline)
            self.once(self.after(self.rng.randint(25, 35), a), self.eight_weekly)
        else:
            self.once(self.due_by(a, 15, lo=7), self.submit_c4c)
            if not self.skip():
                self.once(self.due_by(a, 15, lo=5), self.baseline_initial)
            self.once(self.due_by(a, 12, lo=6), self.initial_taf)
        self.repeat(self.after(self.rng.randint(30, 50), a), lambda: months(3) - 2, self.supervise)
        length = self.rng.randint(70, 150)
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, 80)
        end = self.after(length, a)
        self.once(end, self.close)
        if ("step_up" in self.f and ep.number == 1) or self.chance(0.05):
            self.once(self.after(self.rng.randint(length // 3, length - 5), a), self.step_up)
        self.plan_mix(a, end)

    def initial_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        skipped = not ep.risk_assessed and self.chance(self.p_skip)  # flagged, not refused (ADR 0019)
        if not ep.risk_assessed and not skipped:
            yield self.document("home-visits-risk-assessment", self.sup)
            ep.risk_assessed = True
            self.later()
        yield self.visit()
        if skipped:
            self.later()
            yield self.document("home-visits-risk-assessment", self.sup)
            ep.risk_assessed = True
        self.later()
        yield self.consent(("support", "information_sharing"), "written")
        ep.consented = self.day
        if ep.pathway == self.LOCALITY:
            self.later()
            yield self.start_assessment()
        if self.chance(0.7):
            self.later()
            yield self.document("family-outcome-star")
        self.repeat(self.after(self.rng.randint(3, 4)),
                    lambda: 4 if self.ep.assessment_state in (None, "started") else 9,  # type: ignore[union-attr]
                    self.routine_visit)

    def routine_visit(self) -> Iterator[Step]:
        yield self.visit(self.rng.choice(("visit", "visit", "visit", "school", "office")))
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def submit_c4c(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state != "started":
            self.once(self.after(1), self.submit_c4c)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)

    def baseline_initial(self) -> Iterator[Step]:
        yield self.document("baseline-data-initial")

    def initial_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.consented is None:
            self.once(self.after(1), self.initial_taf)
            return
        yield self.meeting("team_around_the_family")
        ep.first_review = True
        t = self.day
        self.once(self.due_by(ep.allocated or t, 20, lo=0), self.cic_and_baseline)
        self.once(self.after(self.rng.randint(28, 36), t), self.eight_weekly)

    def cic_and_baseline(self) -> Iterator[Step]:
        yield self.plan()
        self.later()
        yield self.document("baseline-data-update")
        if self.chance(0.5):
            self.later()
            yield self.document("family-outcome-star")

    def eight_weekly(self) -> Iterator[Step]:
        """TAF review with the Checking in on Change, Baseline and Outcome Star updated (L425-L436)."""
        yield self.meeting("review")
        if not self.skip():
            self.later()
            yield self.plan()
        if not self.skip():
            self.later()
            yield self.document("baseline-data-update")
        if not self.skip():
            self.later()
            yield self.document("family-outcome-star")
        self.once(self.after(self.gap(weeks(8) - 3)), self.eight_weekly)

    def supervise(self) -> Iterator[Step]:
        yield self.supervision()
        if self.chance(0.4):
            self.later()
            yield self.oversight()

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.step_up)
            return
        ep.closing, ep.reason = True, "step_up"
        yield self.step("SteppedUp", self.mgr, {"to_service": "childrens_social_care", "reason": "Needs escalated"},
                        context={"significance": "high"})
        self.then(self.after(self.rng.randint(0, 2)), self.spa_outcome)

    def spa_outcome(self) -> Iterator[Step]:
        yield self.step("TriageDecided", self.mgr,
                        {"outcome": "step_up", "rationale": "Accepted by Children's Social Care"})
        self.later()
        yield self.propose_closure("step_up")
        self.later()
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Stepped up"})
        self.later()
        yield self.close_step("step_up")
        self.closed()

    def close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.close)
            return
        ep.closing = True
        yield self.meeting("closure")
        t = self.day
        self.then(self.due_by(t, 5, lo=1), self.closing_documents)

    def closing_documents(self) -> Iterator[Step]:
        yield self.document("baseline-data-final")
        self.later()
        yield self.start_assessment("celebrating-and-sustaining-change")
        self.later(60, 240)
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        self.then(self.after(self.rng.randint(1, 2)), self.sign_off)

    def sign_off(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentAuthorised", self.mgr)
        self.later()
        yield self.propose_closure("outcomes_met")
        self.later()
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Celebrating and Sustaining Change signed off"})
        self.later()
        yield self.document("closure-letter", sent_to=["family", "referrer"])
        self.later()
        yield self.close_step("outcomes_met")
        self.closed()

    def after_closure(self) -> None:
        ep = self.ep
        assert ep is not None
        if ep.reason == "outcomes_met" and not self.skip():
            self.whenever(self.after(self.within(months(3) - 2, lo=50)), self.follow_up_call, ep.worker or self.duty)

    def follow_up_call(self, worker: dict[str, str]) -> Iterator[Step]:
        worker = self.holding(worker)
        needs = self.chance(0.2)
        yield self.step("FollowUpCompleted", worker, {
            "method": "phone", "further_support_needed": needs,
            "outcome": "Worried about the rent again" if needs else "All well"})
        if needs:
            self.whenever(self.due_by(self.day, 5, lo=1), self.follow_up_visit, worker)

    def follow_up_visit(self, worker: dict[str, str]) -> Iterator[Step]:
        worker = self.holding(worker)
        yield self.step("FollowUpCompleted", worker, {"method": "visit", "outcome": "Support with housing offered",
                                                     "further_support_needed": False})


