"""Analysis: ``uow.analysis``. Reads the captured data of a trial as plain records, stores analysis runs."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.adapters.db.tables import (
    AdverseEventRow,
    AllocationRow,
    AnalysisRunRow,
    DispositionRow,
    DoseRow,
    ScreeningRow,
    SubjectRow,
    TumorAssessmentRow,
)
from trialdesk.domain.datasets import (
    AdverseEventInput,
    AssessmentInput,
    CapturedData,
    DispositionInput,
    DoseInput,
    ScreeningInput,
    SubjectInput,
)


def _d(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _stratum(key: str) -> dict[str, str]:
    out = {}
    for part in (key or "").split("|"):
        if "=" in part:
            name, level = part.split("=", 1)
            out[name] = level
    return out


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- captured data --------------------------------------------------------------------------------------
    def captured_data(self, trial_id: int) -> CapturedData:
        """Every Subject of the trial with allocation, screening, assessments, dispositions, doses and AEs."""
        s = self.session
        subjects = list(s.execute(select(SubjectRow).where(SubjectRow.trial_id == trial_id)
                                  .order_by(SubjectRow.id)).scalars())
        number = {row.id: row.subject_number for row in subjects}
        ids = list(number)
        alloc = {a.subject_id: a for a in s.execute(select(AllocationRow).where(AllocationRow.trial_id == trial_id))
                 .scalars()}
        screenings, ecog = [], {}
        for row in s.execute(select(ScreeningRow).where(ScreeningRow.trial_id == trial_id)
                             .order_by(ScreeningRow.screened_on, ScreeningRow.id)).scalars():
            failed = tuple(c for c in (row.failed_criteria or "").split(",") if c)
            screenings.append(ScreeningInput(number[row.subject_id], _d(row.screened_on), row.verdict, failed))
            try:
                value = json.loads(row.record_json or "{}").get("ecog")
            except (ValueError, AttributeError):
                value = None
            if value is not None:
                ecog[row.subject_id] = int(value)
        subject_inputs = []
        for row in subjects:
            a = alloc.get(row.id)
            subject_inputs.append(SubjectInput(
                subject_number=row.subject_number, site=row.site_key, arm=a.arm if a else None,
                randomized_on=_d(a.randomized_on) if a else None, stratum=_stratum(a.stratum) if a else {},
                in_error=bool(a.in_error) if a else False, birth_date=_d(row.birth_date), sex=row.sex,
                ecog=ecog.get(row.id)))

        def rows(table, order):
            if not ids:
                return []
            out = []
            for chunk in range(0, len(ids), 900):
                part = ids[chunk:chunk + 900]
                out.extend(s.execute(select(table).where(table.subject_id.in_(part)).order_by(*order)).scalars())
            return out

        assessments = [AssessmentInput(number[r.subject_id], _d(r.assessment_date), r.overall_response,
                                       bool(r.baseline))
                       for r in rows(TumorAssessmentRow, [TumorAssessmentRow.id])]
        dispositions = [DispositionInput(number[r.subject_id], r.kind, _d(r.event_date), r.reason)
                        for r in rows(DispositionRow, [DispositionRow.id])]
        doses = [DoseInput(number[r.subject_id], r.cycle, r.drug, _d(r.dose_date), float(r.actual_mg),
                           None if r.planned_mg is None else float(r.planned_mg))
                 for r in rows(DoseRow, [DoseRow.id])]
        aes = [AdverseEventInput(number[r.subject_id], r.term, r.soc, int(r.grade), _d(r.onset_date),
                                 bool(r.serious), r.action_taken)
               for r in rows(AdverseEventRow, [AdverseEventRow.id])]
        return CapturedData(subject_inputs, screenings, assessments, dispositions, doses, aes)

    # -- analysis runs --------------------------------------------------------------------------------------
    def add_run(self, **fields) -> AnalysisRunRow:
        row = AnalysisRunRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def get_run(self, trial_id: int, run_id: int, *, for_update: bool = False) -> AnalysisRunRow | None:
        stmt = select(AnalysisRunRow).where(AnalysisRunRow.trial_id == trial_id, AnalysisRunRow.id == run_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def latest_run(self, trial_id: int) -> AnalysisRunRow | None:
        return self.session.execute(select(AnalysisRunRow).where(AnalysisRunRow.trial_id == trial_id)
                                    .order_by(AnalysisRunRow.id.desc()).limit(1)).scalar_one_or_none()

    def list_runs(self, trial_id: int) -> list[AnalysisRunRow]:
        return list(self.session.execute(select(AnalysisRunRow).where(AnalysisRunRow.trial_id == trial_id)
                                         .order_by(AnalysisRunRow.id.desc())).scalars())
