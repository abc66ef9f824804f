"""The demo's subject-level events: a subject's course, doses, adverse events, tumour assessments, disposition,
queries and signatures, each done as the user who would do it."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from trialdesk.domain.access import Principal
from trialdesk.services.commands import (
    DispositionKind,
    PlanDoses,
    QueryStep,
    RaiseQuery,
    RecordAdverseEvent,
    RecordDisposition,
    RecordDose,
    RecordTumourAssessment,
    SignCasebook,
)
from trialdesk.services.registry import get_trial_row, stored_id
from trialdesk.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from trialdesk.stats.trial_scenario import Assessment, PlannedAE

from trialdesk.services.demo.base import DemoBase
from trialdesk.services.demo.scenario import demo_password


class SubjectEvents(DemoBase):
    def plan_course(self, subject_number: str, site: str, arm: str, randomized: dt.date) -> None:
        from trialdesk.stats.trial_scenario import simulate_course

        rng = self.rng("course", subject_number)
        with self.td.uow() as uow:
            subject = uow.subjects.get(stored_id(get_trial_row(uow, self.nct)), subject_number)
            height = (subject.height_cm if subject is not None else None) or 160.0
        weight = float(self.rng("weight", subject_number).normal(60, 8))
        self.subject_weight[subject_number] = weight
        regimen = self.treatment.arm(arm)
        schedule = self.schedule
        from trialdesk.domain.schedule import assessment_grid

        grid = [
            (d - randomized).days
            for d, _window in assessment_grid(schedule, randomized, randomized + dt.timedelta(days=365 * 6))
        ]
        grid = [d for d in grid if d > 0]
        course = simulate_course(
            rng,
            arm=arm,
            randomized=randomized,
            weight_kg=weight,
            scenario=self.scenario,
            max_cycles=min(regimen.max_cycles or 60, 60),
            assessment_days=grid,
            horizon=self.until,
            ae_grades=self.ae_grades,
        )
        code = self.codes[site]
        staff, inv = f"coord.{code}", f"inv.{code}"
        for i, assessment in enumerate(course.assessments):
            self.at(
                assessment.day if i else randomized,
                "assess",
                subject_number,
                staff,
                assessment,
                i == 0,
                assessment.progression,
            )
        for cycle, (day, weight_kg, delay) in enumerate(zip(course.cycles, course.weights, course.delays), 1):
            self.at(
                day,
                "dose",
                subject_number,
                staff,
                cycle,
                weight_kg,
                height,
                delay,
                course.reduce_from_cycle is not None and cycle >= course.reduce_from_cycle,
            )
        for ae in course.aes:
            self.at(ae.onset, "ae", subject_number, staff, ae)
        if course.end_of_treatment:
            self.at(
                course.end_of_treatment,
                "dispose",
                subject_number,
                staff,
                "end_of_treatment",
                course.end_of_treatment_reason,
                None,
            )
            if self.scenario["monitoring"].get("sign_at_end_of_treatment"):
                self.at(course.end_of_treatment + dt.timedelta(days=7), "sign", subject_number, inv)
        if course.new_therapy_day:
            self.at(
                course.new_therapy_day,
                "dispose",
                subject_number,
                staff,
                "new_therapy",
                "second-line therapy",
                {"description": "trastuzumab emtansine" if arm == "thp" else "pyrotinib + capecitabine"},
            )
        if course.death_day and course.death_day <= self.until:
            progressed_first = course.assessments[-1].progression
            self.at(
                course.death_day,
                "dispose",
                subject_number,
                staff,
                "death",
                "disease progression" if progressed_first else "cardiovascular event",
                {
                    "cause": "breast cancer" if progressed_first else "myocardial infarction",
                    "pfs_event": not progressed_first,
                },
            )
        if course.dropout_day and course.dropout_day <= self.until:
            self.at(course.dropout_day, "dispose", subject_number, staff, "end_of_study", "withdrawal of consent", None)

    def on_dose(
        self, subject_number: str, staff: str, cycle: int, weight_kg: float, height_cm: float, delay: int, reduced: bool
    ) -> None:
        from trialdesk.services import treatment

        day = self.clock().date()
        levels = None
        arm = self.subject_arm[subject_number]
        plan = self.call(
            staff,
            "dose.plan",
            treatment.planned_doses,
            self.nct,
            subject_number,
            PlanDoses(cycle=cycle, weight_kg=weight_kg, height_cm=height_cm, dose_date=day),
        )
        if plan is None:
            return
        for dose in plan["doses"]:
            level = -1 if reduced and dose["drug"] in ("docetaxel", "tqb2102") else 0
            amount = dose["dose_mg"]
            reason = None
            if level:
                levels = {dose["drug"]: level}
                reduced_plan = self.call(
                    staff,
                    "dose.plan",
                    treatment.planned_doses,
                    self.nct,
                    subject_number,
                    PlanDoses(cycle=cycle, weight_kg=weight_kg, height_cm=height_cm, dose_date=day, dose_levels=levels),
                )
                if reduced_plan:
                    amount = next(d["dose_mg"] for d in reduced_plan["doses"] if d["drug"] == dose["drug"])
                    reason = "grade 3 toxicity in a previous cycle"
            self.call(
                staff,
                "dose.recorded",
                treatment.record_dose,
                self.nct,
                subject_number,
                RecordDose(
                    drug=dose["drug"],
                    cycle=cycle,
                    dose_date=day,
                    actual_mg=amount,
                    weight_kg=weight_kg,
                    delay_reason="patient request / scheduling" if delay else None,
                    reduction_level=level,
                    reduction_reason=reason,
                    height_cm=height_cm,
                ),
            )
        del arm
        self.answer_edit_check_queries(subject_number, staff)
        if self.rng("query", subject_number, cycle).random() < self.scenario["monitoring"]["query_probability"]:
            lo, hi = self.scenario["monitoring"]["answer_days"]
            self.at(
                day + dt.timedelta(days=int(self.rng("q-day", subject_number, cycle).integers(3, 15))),
                "query",
                subject_number,
                "dose",
                cycle,
                "actual_mg",
                "Please confirm the administered dose against the pharmacy record.",
                staff,
                (lo, hi),
            )

    def on_ae(self, subject_number: str, staff: str, ae: PlannedAE) -> None:
        from trialdesk.services import adverse_events

        if not self.report.ctcae_loaded:
            return
        arm = self.subject_arm[subject_number]
        drugs = [d.drug for d in self.treatment.arm(arm).drugs]
        relation = {drug: ("possible" if i == 0 else "unlikely") for i, drug in enumerate(drugs)}
        resolution = ae.resolution if ae.resolution and ae.resolution <= self.until else None
        self.call(
            staff,
            "adverse_event.recorded",
            adverse_events.record_adverse_event,
            self.nct,
            subject_number,
            RecordAdverseEvent.model_validate(
                {
                    "term": ae.term,
                    "grade": ae.grade,
                    "onset_date": ae.onset,
                    "resolution_date": None,
                    "serious": ae.serious,
                    "seriousness": ["hospitalisation"] if ae.serious else [],
                    "relationship": relation,
                    "action_taken": "dose_reduced" if ae.grade >= 3 else "dose_not_changed",
                    "outcome": "recovering" if resolution else "not_recovered",
                }
            ),
        )

    def on_assess(
        self, subject_number: str, staff: str, assessment: Assessment, baseline: bool, progression: bool
    ) -> None:
        from trialdesk.services import tumor

        result = self.call(
            staff,
            "tumor_assessment.recorded",
            tumor.record_tumor_assessment,
            self.nct,
            subject_number,
            RecordTumourAssessment.model_validate(
                {"assessment_date": assessment.day, "lesions": assessment.lesions, "baseline": baseline}
            ),
        )
        if result is not None and progression:
            self.count_event(assessment.day)
        self.answer_edit_check_queries(subject_number, staff)

    def answer_edit_check_queries(self, subject_number: str, staff: str) -> None:
        """Sites answer the queries that edit checks opened (out-of-window visits and the like) within days."""
        from trialdesk.services import queries

        open_ones = (
            self.call(
                "monitor.demo",
                "query.list",
                queries.list_queries,
                self.nct,
                subject_number=subject_number,
                status="open",
            )
            or []
        )
        lo, hi = self.scenario["monitoring"]["answer_days"]
        for query in open_ones:
            if query["id"] in self.scheduled_answers:
                continue
            self.scheduled_answers.add(query["id"])
            day = self.clock().date() + dt.timedelta(
                days=int(self.rng("auto-answer", query["id"]).integers(lo, hi + 1))
            )
            self.at(day, "answer", query["id"], staff)

    def count_event(self, day: dt.date) -> None:
        self.pfs_events += 1
        if self.to_completion and self.cut is None and self.pfs_events >= self.target_events:
            self.cut = day

    def on_dispose(
        self, subject_number: str, staff: str, kind: DispositionKind, reason: str | None, details: dict[str, Any] | None
    ) -> None:
        from trialdesk.services import treatment

        details = dict(details or {})
        pfs_event = details.pop("pfs_event", False)
        result = self.call(
            staff,
            f"disposition.{kind}",
            treatment.record_disposition,
            self.nct,
            subject_number,
            RecordDisposition(kind=kind, event_date=self.clock().date(), reason=reason, details=details or None),
        )
        if result is not None and kind == "death" and pfs_event:
            self.count_event(self.clock().date())

    def on_query(
        self,
        subject_number: str,
        entity_type: str,
        cycle: int,
        field_name: str,
        message: str,
        staff: str,
        answer_days: tuple[int, int],
    ) -> None:
        from trialdesk.services import queries

        doses = self.call("monitor.demo", "dose.list", dose_ids_in_cycle, self.nct, subject_number, cycle)
        if not doses:
            return
        query = self.call(
            "monitor.demo",
            "query.raised",
            queries.raise_query,
            self.nct,
            subject_number,
            RaiseQuery(entity_type=entity_type, entity_id=str(doses[0]), field=field_name, message=message),
        )
        if query is None:
            return
        self.scheduled_answers.add(query["id"])
        lo, hi = answer_days
        day = self.clock().date() + dt.timedelta(days=int(self.rng("answer", query["id"]).integers(lo, hi + 1)))
        self.at(day, "answer", query["id"], staff)

    def on_answer(self, query_id: int, staff: str) -> None:
        from trialdesk.services import queries

        if (
            self.call(
                staff,
                "query.answered",
                queries.answer_query,
                self.nct,
                query_id,
                QueryStep(text="Checked against the source documents: the entry is correct as recorded."),
            )
            is not None
        ):
            self.call(
                "monitor.demo",
                "query.closed",
                queries.close_query,
                self.nct,
                query_id,
                QueryStep(text="Source verified."),
            )

    def on_sign(self, subject_number: str, investigator: str) -> None:
        from trialdesk.services import signatures

        self.call(
            investigator,
            "casebook.signed",
            signatures.sign_casebook,
            self.nct,
            subject_number,
            SignCasebook(password=demo_password(investigator)),
        )

    # -- main loop ----------------------------------------------------------------------------------------------


def dose_ids_in_cycle(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cycle: int) -> list[int]:
    """Ids of a subject's doses in a cycle (for a monitor's query)."""
    from trialdesk.services.subjects import get_subject

    _, subject = get_subject(uow, principal, nct_id, subject_number)
    return [stored_id(d) for d in uow.doses.for_subject(stored_id(subject)) if d.cycle == cycle]
