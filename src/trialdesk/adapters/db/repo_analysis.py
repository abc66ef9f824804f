"""Analysis: ``uow.analysis``. Reads the captured data of a trial as plain records, stores analysis runs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, TypeVar

from sqlalchemy import Table, select

from trialdesk.adapters.db import repo_allocations
from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.repo_postings import PostingsRepository
from trialdesk.adapters.db.tables import (
    AdverseEventRow,
    AnalysisRunRow,
    DispositionRow,
    DoseRow,
    ScreeningRow,
    SubjectRow,
    TumorAssessmentRow,
)
from trialdesk.domain import datasets as ds

R = TypeVar("R")


def _d(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _id(value: int | None) -> int:
    assert value is not None, "a stored record has an id"
    return value


def _stratum(key: str) -> dict[str, str]:
    out = {}
    for part in (key or "").split("|"):
        if "=" in part:
            name, level = part.split("=", 1)
            out[name] = level
    return out


class Repository(PostingsRepository, SqlRepository):
    # -- captured data --------------------------------------------------------------------------------------
    def captured_data(self, trial_id: int) -> ds.CapturedData:
        """Every Subject of the trial with allocation, screening, assessments, dispositions, doses and AEs.

        Allocations in error are included, flagged (``SubjectInput.in_error``): the analysis decides what they
        count for."""
        s = self.session
        subjects = list(
            s.execute(select(SubjectRow).where(t.subjects.c.trial_id == trial_id).order_by(t.subjects.c.id)).scalars()
        )
        number = {_id(row.id): row.subject_number for row in subjects}
        ids = list(number)
        alloc = {a.subject_id: a for a in repo_allocations.Repository(s).for_trial(trial_id, include_in_error=True)}
        screenings: list[ds.ScreeningInput] = []
        ecog: dict[int, int] = {}
        for screening in s.execute(
            select(ScreeningRow)
            .where(t.screenings.c.trial_id == trial_id)
            .order_by(t.screenings.c.screened_on, t.screenings.c.id)
        ).scalars():
            failed = tuple(c for c in (screening.failed_criteria or "").split(",") if c)
            screenings.append(
                ds.ScreeningInput(number[screening.subject_id], _day(screening.screened_on), screening.verdict, failed)
            )
            try:
                value = json.loads(screening.record_json or "{}").get("ecog")
            except (ValueError, AttributeError):
                value = None
            if value is not None:
                ecog[screening.subject_id] = int(value)
        subject_inputs = []
        for row in subjects:
            a = alloc.get(_id(row.id))
            subject_inputs.append(
                ds.SubjectInput(
                    subject_number=row.subject_number,
                    site=row.site_key,
                    arm=a.arm if a else None,
                    randomized_on=_d(a.randomized_on) if a else None,
                    stratum=_stratum(a.stratum) if a else {},
                    in_error=bool(a.in_error) if a else False,
                    birth_date=_d(row.birth_date),
                    sex=row.sex,
                    ecog=ecog.get(_id(row.id)),
                )
            )

        assessments = [
            ds.AssessmentInput(number[r.subject_id], _day(r.assessment_date), r.overall_response, bool(r.baseline))
            for r in self._of_subjects(TumorAssessmentRow, t.tumor_assessments, ids)
        ]
        dispositions = [
            ds.DispositionInput(number[r.subject_id], r.kind, _day(r.event_date), r.reason)
            for r in self._of_subjects(DispositionRow, t.dispositions, ids)
        ]
        doses = [
            ds.DoseInput(
                number[r.subject_id],
                r.cycle,
                r.drug,
                _day(r.dose_date),
                float(r.actual_mg),
                None if r.planned_mg is None else float(r.planned_mg),
            )
            for r in self._of_subjects(DoseRow, t.doses, ids)
        ]
        aes = [
            ds.AdverseEventInput(
                number[r.subject_id], r.term, r.soc, int(r.grade), _day(r.onset_date), bool(r.serious), r.action_taken
            )
            for r in self._of_subjects(AdverseEventRow, t.adverse_events, ids)
        ]
        return ds.CapturedData(subject_inputs, screenings, assessments, dispositions, doses, aes)

    def _of_subjects(self, record: type[R], table: Table, ids: list[int]) -> list[R]:
        """The records of these subjects, in entry order (chunked: SQLite's bound-parameter limit)."""
        out: list[R] = []
        for chunk in range(0, len(ids), 900):
            part = ids[chunk : chunk + 900]
            out.extend(
                self.session.execute(select(record).where(table.c.subject_id.in_(part)).order_by(table.c.id)).scalars()
            )
        return out

    # -- analysis runs --------------------------------------------------------------------------------------
    def add_run(self, **fields: Any) -> AnalysisRunRow:
        return self._insert(AnalysisRunRow(**fields))

    def get_run(self, trial_id: int, run_id: int, *, for_update: bool = False) -> AnalysisRunRow | None:
        stmt = select(AnalysisRunRow).where(t.analysis_runs.c.trial_id == trial_id, t.analysis_runs.c.id == run_id)
        return self._one(stmt, for_update=for_update)

    def latest_run(self, trial_id: int) -> AnalysisRunRow | None:
        return self._one(
            select(AnalysisRunRow)
            .where(t.analysis_runs.c.trial_id == trial_id)
            .order_by(t.analysis_runs.c.id.desc())
            .limit(1)
        )

    def list_runs(self, trial_id: int) -> list[AnalysisRunRow]:
        return list(
            self.session.execute(
                select(AnalysisRunRow)
                .where(t.analysis_runs.c.trial_id == trial_id)
                .order_by(t.analysis_runs.c.id.desc())
            ).scalars()
        )
