"""Tumour assessments: ``uow.tumor_assessments``."""

from __future__ import annotations

from typing import Any

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import TumorAssessmentRow


class Repository(SqlRepository):
    def add(self, **fields: Any) -> TumorAssessmentRow:
        return self._insert(TumorAssessmentRow(**fields))

    def get(self, assessment_id: int) -> TumorAssessmentRow | None:
        return self.session.get(TumorAssessmentRow, assessment_id)

    def for_subject(self, subject_id: int) -> list[TumorAssessmentRow]:
        ta = t.tumor_assessments.c
        return self._subject_rows(
            TumorAssessmentRow, t.tumor_assessments, subject_id, ta.baseline.desc(), ta.assessment_date, ta.id
        )
