"""Doses administered: ``uow.doses``.

Also a read the treatment calendar needs from a table written by another module (the tumour-assessment dates),
batched over many subjects for the site calendar; the allocation's arm and date come from ``uow.allocations``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.tables import DoseRow


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # doses -------------------------------------------------------------------------------------------------------
    def create(self, **fields: Any) -> DoseRow:
        row = DoseRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, dose_id: int, *, for_update: bool = False) -> DoseRow | None:
        stmt = select(DoseRow).where(t.doses.c.id == dose_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def for_subject(self, subject_id: int) -> list[DoseRow]:
        """A subject's doses in the order they were given (cycle, date, entry)."""
        return list(self.session.execute(
            select(DoseRow).where(t.doses.c.subject_id == subject_id)
            .order_by(t.doses.c.cycle, t.doses.c.dose_date, t.doses.c.id)).scalars())

    def for_subjects(self, subject_ids: Iterable[int]) -> dict[int, list[DoseRow]]:
        ids = sorted(set(subject_ids))
        out: dict[int, list[DoseRow]] = defaultdict(list)
        if not ids:
            return out
        rows = self.session.execute(select(DoseRow).where(t.doses.c.subject_id.in_(ids))
                                    .order_by(t.doses.c.cycle, t.doses.c.dose_date, t.doses.c.id)).scalars()
        for row in rows:
            out[row.subject_id].append(row)
        return out

    # reads for the calendar (the allocation: ``uow.allocations``) ----------------------------------------------------------------------------------------
    def assessments(self, subject_ids: Iterable[int]) -> dict[int, list[tuple[str, bool, str | None]]]:
        """``subject_id -> [(assessment_date, baseline, overall_response), ...]`` sorted by date."""
        ids = sorted(set(subject_ids))
        out: dict[int, list[tuple[str, bool, str | None]]] = defaultdict(list)
        if not ids:
            return out
        rows = self.session.execute(
            select(t.tumor_assessments.c.subject_id, t.tumor_assessments.c.assessment_date, t.tumor_assessments.c.baseline,
                   t.tumor_assessments.c.overall_response)
            .where(t.tumor_assessments.c.subject_id.in_(ids))
            .order_by(t.tumor_assessments.c.assessment_date, t.tumor_assessments.c.id))
        for sid, day, baseline, response in rows:
            out[sid].append((day, bool(baseline), response))
        return out
