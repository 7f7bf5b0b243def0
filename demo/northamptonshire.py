"""Northamptonshire's story: Targeted Early Help 0-19."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from demo.story import Step, Story, weeks
from ledger.calendar import add_years


class Northamptonshire(Story):
    pack_id = "northamptonshire-0-19"
    PATHWAYS = ("parenting", "challenging-behaviour", "neglect", "domestic-abuse", "substance-misuse",
                "mental-health", "disability")

    def begin_episode(self) -> Iterator[Step]:
        ep = self.open_episode()
        ep.planned = self.rng.choice(self.PATHWAYS)
        yield self.referral(route=self.rng.choice(("front_door", "professional")))
        self.once(self.due_by(self.day, 3, lo=1), self.allocate)

    def allocate(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("TriageDecided", self.mgr, {"outcome": "early_help", "pathway": ep.planned,
                                                   "rationale": "Targeted Early Help: Access to Support"})
        self.later()
        yield self.step("AllocatedToTeam", self.mgr, {"team": ep.team.id, "pathway": ep.planned})
        ep.pathway = ep.planned
        ep.allocated = a = self.day
        self.later()
        yield self.allocate_worker(self.mgr)
        if not self.skip():
            self.once(self.due_by(a, weeks(1), lo=1), self.chronology, prio=4)
        self.once(self.due_by(a, weeks(1) - 1, lo=1), self.pre_visit_checks, prio=4)
        self.once(self.due_by(a, 5, lo=1), self.telephone)
        self.once(self.due_by(a, weeks(2), lo=4), self.first_home_visit)
        if not self.skip():
            self.once(self.due_by(a, weeks(4), lo=10), self.document_action, "genogram")
        if not self.skip():
            self.once(self.due_by(a, weeks(6), lo=15), self.document_action, "culturegram")
        for child in self.children(a):
            if not self.skip():
                self.once(self.due_by(a, weeks(6), lo=10), self.voice_of_child, child)
            if self.age(child, a) >= 11:
                self.once(self.due_by(a, weeks(6), lo=12), self.cse_assessment, child)
        if ep.planned == "neglect" and not self.skip():
            self.once(self.due_by(a, weeks(6), lo=15), self.document_action, "graded-care-profile")
        if ep.planned == "domestic-abuse" and not self.skip():
            self.once(self.due_by(a, weeks(6), lo=15), self.document_action, "dash-risk-assessment")
        self.once(self.due_by(a, weeks(6) - 4, lo=16), self.first_taf)
        self.once(self.due_by(a, weeks(6) - 6, lo=14), self.submit_assessment)
        self.repeat(self.after(self.rng.randint(12, 18), a), lambda: weeks(4), self.supervise)
        self.repeat(self.after(self.rng.randint(8, 12), a), lambda: 9, self.routine_visit)
        length = self.rng.randint(weeks(10), weeks(24))
        if "rereferral" in self.f and ep.number == 1:
            length = min(length, weeks(14))
        extend = ("extension" in self.f and ep.number == 1) or self.chance(0.1)
        if extend:
            length = weeks(26) - self.rng.randint(8, 15)
            self.once(self.after(length, a), self.extension)
        else:
            self.once(self.after(length, a), self.close)
        if ("pause" in self.f and ep.number == 1) or self.chance(0.06):
            self.once(self.after(self.rng.randint(10, max(11, length // 2)), a), self.pause)
        if ("step_up" in self.f and ep.number == 1) or self.chance(0.04):
            self.once(self.after(self.rng.randint(length // 3, length - 5), a), self.step_up)
        self.plan_mix(a, self.after(length, a))
        # A child turning 11 during the episode joins the CSE rule (L214) on the birthday.
        for child in self.children(a):
            birthday = add_years(child["date_of_birth"], 11)
            if a < birthday <= self.after(length, a):
                self.once(self.due_by(birthday, weeks(6), lo=10), self.cse_assessment, child)

    def chronology(self) -> Iterator[Step]:
        yield self.document("chronology", self.sup, title="Chronology reviewed on allocation")

    def pre_visit_checks(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.risk_assessed:
            return
        yield self.document("worker-safety", self.sup)
        self.later()
        yield self.document("risk-assessment", self.sup)
        self.later()
        yield self.document("sos-risk-template", self.sup, title="Signs of Safety risk template baseline")
        ep.risk_assessed = True

    def telephone(self) -> Iterator[Step]:
        yield self.phone(made=self.chance(0.7), actor=self.sup if self.chance(0.5) else self.lead)

    def first_home_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if not ep.risk_assessed:
            yield from self.pre_visit_checks()
            self.later()
        yield self.visit()
        self.later()
        yield self.consent(("support", "information_sharing"), self.rng.choice(("written", "electronic")))
        ep.consented = self.day
        self.later()
        yield self.start_assessment()

    def routine_visit(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if not ep.risk_assessed or ep.consented is None:
            yield self.phone(made=self.chance(0.6))
            return
        yield self.visit(self.rng.choice(("visit", "visit", "unannounced_visit", "school")))
        if self.chance(0.3):
            self.later(30, 120)
            note = self.case_note()
            if note:
                yield note

    def document_action(self, document: str) -> Iterator[Step]:
        yield self.document(document)

    def voice_of_child(self, child: dict[str, Any]) -> Iterator[Step]:
        yield self.document("voice-of-the-child", about=[child["member_id"]],
                            title=f"{child['given_name']}'s wishes and feelings")

    def cse_assessment(self, child: dict[str, Any]) -> Iterator[Step]:
        level = self.rng.choices(("cse-risk-assessment-low", "cse-risk-assessment-low-medium",
                                  "cse-risk-assessment-medium-high"), weights=(70, 20, 10))[0]
        yield self.document(level, about=[child["member_id"]])
        if level.endswith("medium-high"):
            self.once(self.after(self.rng.randint(12, 18)), self.cse_oversight, child, 0)

    def cse_oversight(self, child: dict[str, Any], done: int) -> Iterator[Step]:
        """Monthly management oversight while a child's CSE risk stays medium to high (L226)."""
        if done >= 2:
            yield self.document("cse-risk-assessment-low-medium", about=[child["member_id"]])
            return
        yield self.oversight(f"CSE risk for {child['given_name']} reviewed: remains medium to high",
                             "keep open; monthly oversight", about=[child["member_id"]])
        self.once(self.after(self.gap(18)), self.cse_oversight, child, done + 1)

    def first_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.consented is None:
            self.once(self.after(2), self.first_taf)
            return
        yield self.meeting("team_around_the_family")
        self.later()
        yield self.plan()
        self.once(self.due_by(ep.allocated or self.day, weeks(6), lo=0), self.sign_off_plan)
        self.once(self.after(self.gap(weeks(6) - 1)), self.review)

    def sign_off_plan(self) -> Iterator[Step]:
        yield self.authorise_plan(self.mgr)

    def review(self) -> Iterator[Step]:
        yield self.meeting("review")
        if self.chance(0.4):
            self.later()
            yield self.document("review-notes")
        self.once(self.after(self.gap(weeks(6) - 1)), self.review)

    def submit_assessment(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.assessment_state != "started":
            self.once(self.after(1), self.submit_assessment)
            return
        yield self.assessment_step("AssessmentSubmitted", self.lead)
        self.once(self.due_by(self.day, 3, lo=1), self.authorise_assessment)

    def authorise_assessment(self) -> Iterator[Step]:
        yield self.assessment_step("AssessmentAuthorised", self.mgr)
        if not self.skip():
            self.once(self.due_by(self.day, 5, lo=0), self.document_action, "additional-assessments")

    def supervise(self) -> Iterator[Step]:
        yield self.supervision(actor=self.sup if self.chance(0.7) else self.mgr)
        self.later(20, 90)
        yield self.document("chronology", self.sup, title="Chronology updated at supervision")
        if not self.skip():
            self.later()
            yield self.document("sos-risk-template", self.sup, title="Signs of Safety template reviewed")

    def pause(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("WorkPaused", self.sup, {"reason": "section_47",
                                                "note": "Strategy discussion: Section 47 enquiry started"},
                        context={"significance": "high"})
        ep.paused = True
        self.then(self.after(self.rng.randint(5, 15)), self.resume)

    def resume(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.step("WorkResumed", self.sup, {"reason": "Section 47 concluded: early help support continues"})
        ep.paused = False

    def extension(self) -> Iterator[Step]:
        """Supervision discusses a longer intervention; the TM extends, then the family agrees (L157, L307)."""
        ep = self.ep
        assert ep is not None
        yield self.supervision("Longer intervention needed: 32 week delivery band discussed")
        self.later(60, 180)
        by = self.rng.randint(4, 10)
        yield self.step("DeadlineExtended", self.mgr, {"rule": "intervention-duration", "extend_by": by,
                                                      "reason": "Progress made; more time for the plan's outcomes"})
        self.once(self.due_by(self.day, 4, lo=1), self.family_agrees_extension)
        self.once(self.after(weeks(26 + by) - self.cal.working_days_between(ep.allocated or self.day, self.day) - 5),
                  self.close)

    def family_agrees_extension(self) -> Iterator[Step]:
        yield self.step("AgreementRecorded", self.lead, {"subject": "extension", "rule": "intervention-duration",
                                                        "with_team_around_the_family": True})

    def step_up(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        ep.closing, ep.reason = True, "step_up"
        yield self.oversight("Risks increased: referral to MASH agreed", "refer to Children's Social Care")
        self.later()
        yield self.step("SteppedUp", self.sup, {"to_service": "MASH", "reason": "Risks increased"},
                        context={"significance": "high"})
        self.later()
        yield self.propose_closure("step_up")
        self.then(self.after(self.rng.randint(1, 3)), self.authorise_and_close, "step_up")

    def authorise_and_close(self, reason: str) -> Iterator[Step]:
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Closure authorised"})
        self.later()
        yield self.close_step(reason)
        self.closed()

    def close(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        if ep.worker is None:
            self.once(self.after(3), self.close)
            return
        ep.closing = True
        ep.reason = ("moved_away" if self.chance(0.1)
                     else self.rng.choice(("outcomes_met", "outcomes_met", "transferred")))
        yield self.propose_closure(ep.reason)
        if ep.reason == "moved_away":
            self.then(self.after(self.rng.randint(1, 3)), self.authorise_and_close, ep.reason)
        else:
            self.then(self.after(self.rng.randint(1, 3)), self.authorise_closure)

    def authorise_closure(self) -> Iterator[Step]:
        yield self.step("ClosureAuthorised", self.mgr, {"comment": "Closure summary signed off"})
        self.then(self.after(self.rng.randint(1, 5)), self.final_taf)

    def final_taf(self) -> Iterator[Step]:
        ep = self.ep
        assert ep is not None
        yield self.meeting("closure")
        self.later()
        yield self.step("AgreementRecorded", self.lead, {"subject": "closure", "with_team_around_the_family": True})
        self.later()
        yield self.step("AgreementRecorded", self.lead, {
            "subject": "lead_professional", "with_team_around_the_family": True,
            "detail": self.rng.choice(("school nurse", "health visitor", "school pastoral lead"))})
        self.then(self.after(self.rng.randint(0, 2)), self.final_close)

    def final_close(self) -> Iterator[Step]:
        yield self.close_step(self.ep.reason)  # type: ignore[union-attr]
        self.closed()

    def newborn(self, baby: dict[str, Any]) -> Iterator[Step]:
        yield from super().newborn(baby)
        self.once(self.due_by(self.day, weeks(5), lo=5), self.voice_of_child, baby)


