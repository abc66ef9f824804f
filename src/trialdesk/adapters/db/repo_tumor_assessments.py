"""Tumour assessments: ``uow.tumor_assessments``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.tables import TumorAssessmentRow


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **fields: Any) -> TumorAssessmentRow:
        row = TumorAssessmentRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, assessment_id: int) -> TumorAssessmentRow | None:
        return self.session.get(TumorAssessmentRow, assessment_id)

    def for_subject(self, subject_id: int) -> list[TumorAssessmentRow]:
        return list(self.session.execute(
            select(TumorAssessmentRow).where(t.tumor_assessments.c.subject_id == subject_id)
            .order_by(t.tumor_assessments.c.baseline.desc(), t.tumor_assessments.c.assessment_date,
                      t.tumor_assessments.c.id)).scalars())
