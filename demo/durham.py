"""Durham's story: One Point Service, Family Hubs and Intensive Family Support."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from demo.story import Step, Story


class Durham(Story):
    pack_id = "durham-one-point"
    IFST, HUB = "intensive-family-support", "family-hub"

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        first = ep.number == 1
        wants_ifst = first and ("extension" in self.f or "step_down" in self.f)
        ep.planned = self.IFST if wants_ifst or self.chance(0.55) else self.HUB
        from_csc = not wants_ifst and self.chance(0.08)
        yield self.referral(route="step_down" if from_csc else None)
        if from_csc:
            self.once(self.after(self.rng.randint(1, 3)), self.csc_step_down)
        else:
            self.once(self.due_by(self.day, 5, lo=1), self.triage)

    def triage(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("TriageDecided", self.sup, {"outcome": "early_help", "pathway": ep.planned,
                                                   "rationale": "Needs met below the safeguarding threshold"})
        self.later()
        yield self.step("AllocatedToTeam", self.sup, {"team": ep.team.id, "pathway": ep.planned})
        self.tray()

    def csc_step_down(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("AgreementRecorded", self.sup, {"subject": "step_down", "with_team_around_the_family": True,
                                                       "detail": "Family agreed the step down from social care"})
        self.later()
        yield self.step("SteppedDown", self.mgr, {"from_service": "childrens_social_care",
                                                 "reason": "No further statutory role", "pathway": ep.planned})
        self.tray()

    def tray(self) -> None:
        ep = self.ep
        assert ep is not None
        ep.pathway, ep.allocated = ep.planned, self.day
        if ep.pathway == self.IFST:
            self.once(self.due_by(self.day, 2), self.ifst_allocation)
        else:
            self.once(self.due_by(self.day, 7, lo=1), self.hub_allocation)

    def ifst_allocation(self) -> Iterator[Step]:
        if not self.skip():
            yield self.document("case-summary", self.sup, title="Initial case summary")
            self.later()
        yield self.allocate_worker(self.sup, "Key Worker")
        yield from self.second_worker()
        self.start_work()

    def hub_allocation(self) -> Iterator[Step]:
        yield self.allocate_worker(self.mgr, "Early Help Practitioner")
        yield from self.second_worker()
        self.start_work()

    def second_worker(self) -> Iterator[Step]:
        """Some families have a second worker alongside the lead professional, for joint
        work (seed 000 L563: joint visits with another professional); not the lead."""
        if self.rng.random() < 0.5:
            self.later()
            yield self.allocate_worker(self.mgr, "Family Practitioner", lead=False)

    def start_work(self) -> None:
        ep = self.ep
        assert ep is not None
        self.once(self.after(self.rng.randint(1, 3)), self.first_visit)
        ifst = ep.pathway == self.IFST
        length = self.rng.randint(80, 170) if ifst else self.rng.randint(45, 85)
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, 85)
        end = self.after(length)
        self.once(end, self.close)
        self.repeat(self.after(self.rng.randint(12, 18)), lambda: 18 if self.ep.pathway == self.HUB else 28,  # type: ignore[union-attr]
                    self.supervise)
        self.repeat(self.after(self.rng.randint(15, 30)), lambda: 35, self.oversee, prio=7)
        if ("step_up" in self.f and ep.number == 1) or self.chance(0.05):
            self.once(self.after(self.rng.randint(length // 2, length - 5)), self.step_up)
        if ifst and (("step_down" in self.f and ep.number == 1) or self.chance(0.1)):
            self.once(self.after(self.rng.randint(45, max(46, length - 30))), self.step_down)
        self.plan_mix(self.day, end)

    def first_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if self.chance(0.3):
            yield self.phone(made=False)
            self.later(60, 180)
        # Now and then (most in a neglected case) the visit goes ahead before the RAPID is
        # done: it is recorded, and the breach flagged (seed 000 L503, L621-L627; ADR 0019).
        skipped = not ep.risk_assessed and self.chance(self.p_skip)
        if not ep.risk_assessed and not skipped:
            yield self.document("home-visit-risk-assessment")
            ep.risk_assessed = True
            self.later()
        if self.chance(0.5):
            yield self.document("introductory-pack")
            self.later()
        yield self.visit()
        if skipped:
            self.later()
            yield self.document("home-visit-risk-assessment")
            ep.risk_assessed = True
        if self.chance(0.7):
            self.later()
            yield from self.give_consent()
        else:
            self.once(self.due_by(ep.worker_allocated or self.day, 10, lo=2), self.give_consent)
        self.repeat(self.after(self.gap(10)), lambda: 10, self.routine_visit)

    def routine_visit(self) -> Iterator[Step]:
        if self.chance(0.15):
            yield self.phone(made=self.chance(0.7))
            self.later(60, 240)
        young = any(self.age(c) < 1 for c in self.children())
        method = "visit" if young or self.chance(0.8) else self.rng.choice(("office", "school"))
        yield self.visit(method)
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def give_consent(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.consented:
            return
        yield self.consent()
        ep.consented = c = self.day
        self.once(self.due_by(c, 2), self.begin_assessment)
        if ep.pathway == self.IFST:
            if not self.skip():
                self.once(self.due_by(c, 28, lo=8), self.family_network_meeting)
            if not self.skip():
                self.once(self.due_by(c, 28, lo=10), self.taf, "team_around_the_family")
            if ("extension" in self.f and ep.number == 1) or self.chance(0.08):
                self.once(self.due_by(c, 25, lo=19), self.extend_assessment)
            else:
                self.once(self.due_by(c, 23, lo=10), self.submit_assessment)
        else:
            self.once(self.due_by(c, 15, lo=5), self.submit_assessment)

    def begin_assessment(self) -> Iterator[Step]:
        yield self.start_assessment()

    def extend_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        by = self.rng.randint(5, 15)
        ep.extended = by
        yield self.step("DeadlineExtended", self.mgr, {
            "rule": "ifst-assessment", "extend_by": by, "agreed_with_family": True,
            "reason": self.rng.choice(("Late disclosure needs exploring", "Family illness delayed the work",
                                       "Awaiting information from CAMHS"))})
        self.once(max(self.day, self.after(28 + by - 3, ep.consented)), self.submit_assessment)

    def submit_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state not in ("started", "returned"):
            self.once(self.after(1), self.submit_assessment)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        quick = 2 if ep.extended else 4
        if ep.assessment_state == "submitted" and self.chance(0.15) and not ep.extended:
            self.once(self.due_by(self.day, 3, lo=1), self.return_assessment)
        else:
            self.once(self.due_by(self.day, quick, lo=1), self.authorise_assessment)

    def approver(self) -> dict[str, str]:
        assert self.ep is not None
        return self.sup if self.ep.pathway == self.IFST and self.chance(0.5) else self.mgr

    def return_assessment(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentReturned", self.approver(),
                                   reason=self.rng.choice(("Child's voice missing", "Analysis needs strengthening")))
        self.once(self.due_by(self.day, 3, lo=1), self.submit_assessment)

    def authorise_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.assessment_step("AssessmentAuthorised", self.approver())
        if self.chance(0.6):
            self.later()
            yield self.document("signed-assessment")
        if ep.pathway == self.HUB:
            self.once(self.due_by(self.day, 5, lo=1), self.hub_plan)

    def hub_plan(self) -> Iterator[Step]:
        yield self.plan()
        if self.chance(0.7):
            self.later()
            yield self.authorise_plan(self.mgr)

    def family_network_meeting(self) -> Iterator[Step]:
        yield self.meeting("family_network", attendees=["grandmother", "aunt"])

    def taf(self, kind: str) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.meeting(kind, next_meeting=self.after(25))
        t = self.day
        if not self.skip():
            self.once(self.due_by(t, 5), self.plan_after_taf)
        if not self.skip():
            self.once(self.due_by(t, 10, lo=3), self.circulate_plan)
        if not self.skip():
            self.once(self.due_by(t, 30, lo=5), self.chronology_update)
        self.once(self.due_by(t, 30, lo=18), self.taf, "review")

    def plan_after_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.plan()
        if not ep.authorised_plans and self.chance(0.6):
            self.later()
            yield self.authorise_plan(self.approver())

    def circulate_plan(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if not ep.plans:
            self.once(self.after(1), self.circulate_plan)
            return
        yield self.share_plan()

    def chronology_update(self) -> Iterator[Step]:
        yield self.document("chronology-update", title="Chronology brought up to date")

    def supervise(self) -> Iterator[Step]:
        yield self.supervision()
        if not self.skip():
            self.later(30, 200)
            yield self.document("case-summary", title="Case summary updated at supervision")

    def oversee(self) -> Iterator[Step]:
        yield self.oversight()

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.step_up)
            return
        ep.closing, ep.reason = True, "step_up"
        if ep.pathway == self.IFST or ep.assessment_state == "authorised":
            yield self.meeting("step_up_step_down", self.mgr, family=False,
                               attendees=["IFS Team Manager", "Children's Social Care Team Manager"])
            self.later()
            yield self.oversight("Family discussed at the Step Up/Step Down meeting: step up agreed",
                                 "step up to Children's Social Care")
            self.later()
        yield self.step("AgreementRecorded", self.lead, {"subject": "step_up", "with_team_around_the_family": True,
                                                        "detail": "Family told of the step up"})
        self.then(self.due_by(self.day, 1), self.stepped_up)

    def stepped_up(self) -> Iterator[Step]:
        yield self.step("SteppedUp", self.mgr, {"to_service": "childrens_social_care",
                                               "reason": "Concerns escalated: referral to Children's Social Care"},
                        context={"significance": "high"})
        yield from self.close_process()

    def step_down(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.pathway != self.IFST or ep.worker is None:
            return
        if ep.assessment_state != "authorised":
            self.once(self.after(5), self.step_down)
            return
        yield self.step("AgreementRecorded", self.lead, {"subject": "step_down", "with_team_around_the_family": True,
                                                        "detail": "Family agree to move to the Family Hub"})
        self.later()
        yield self.step("SteppedDown", self.sup, {"from_service": self.IFST, "pathway": self.HUB,
                                                 "reason": "Needs now met at Family Hub level"})
        ep.pathway = self.HUB
        key_worker = ep.worker
        down = self.day
        self.then(self.due_by(down, 3), self.hub_takes_over, key_worker, down)

    def hub_takes_over(self, key_worker: dict[str, str], down: date) -> Iterator[Step]:
        yield self.allocate_worker(self.mgr, "Early Help Practitioner")
        self.then(max(self.day, self.due_by(down, 5, lo=2)), self.joint_visit, key_worker)

    def joint_visit(self, key_worker: dict[str, str]) -> Iterator[Step]:
        yield self.visit(joint_with=[f"{key_worker['user_id']} (IFST Key Worker)"])
        self.later()
        yield self.plan()

    def close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.close)
            return
        ep.closing = True
        yield from self.close_process()

    def close_process(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.pathway == self.IFST:
            self.later()
            yield self.meeting("closure")
            if ep.plans:
                self.later()
                yield self.share_plan()
            self.then(self.after(self.rng.randint(1, 3)), self.closure_supervision)
        else:
            self.later()
            yield self.propose_closure(ep.reason)
            self.then(self.after(self.rng.randint(0, 2)), self.authorise_closure)

    def closure_supervision(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.supervision("Closure discussed and agreed; recorded on the Case Supervision Form")
        self.later()
        yield self.document("case-summary", title="Closing case summary")
        self.later()
        yield self.propose_closure(ep.reason)
        self.then(self.after(self.rng.randint(0, 2)), self.authorise_closure)

    def authorise_closure(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        approver = self.mgr if ep.pathway == self.HUB else self.approver()
        yield self.step("ClosureAuthorised", approver, {"comment": "Closure agreed"}, context={"significance": "high"})
        self.later()
        yield self.document("closure-letter", sent_to=[self.name(self.parent())])
        self.then(self.after(self.rng.randint(0, 3)), self.final_closure)

    def final_closure(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.document("family-survey", sent_to=[self.name(self.parent())])
        self.later()
        yield self.close_step(ep.reason)
        self.closed()


