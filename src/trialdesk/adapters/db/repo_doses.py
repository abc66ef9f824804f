"""Doses administered: ``uow.doses``.

Also a read the treatment calendar needs from a table written by another module (the tumour-assessment dates),
batched over many subjects for the site calendar; the allocation's arm and date come from ``uow.allocations``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository, group_by_subject
from trialdesk.adapters.db.tables import DoseRow

_ORDER = (t.doses.c.cycle, t.doses.c.dose_date, t.doses.c.id)  # the order the doses were given


class Repository(SqlRepository):
    # doses -------------------------------------------------------------------------------------------------------
    def create(self, **fields: Any) -> DoseRow:
        return self._insert(DoseRow(**fields))

    def get(self, dose_id: int, *, for_update: bool = False) -> DoseRow | None:
        return self._by_id(DoseRow, t.doses, dose_id, for_update=for_update)

    def for_subject(self, subject_id: int) -> list[DoseRow]:
        """A subject's doses in the order they were given (cycle, date, entry)."""
        return self._subject_rows(DoseRow, t.doses, subject_id, *_ORDER)

    def for_subjects(self, subject_ids: Iterable[int]) -> dict[int, list[DoseRow]]:
        return self._rows_by_subject(DoseRow, t.doses, subject_ids, *_ORDER)

    # reads for the calendar (the allocation: ``uow.allocations``) ----------------------------------------------------------------------------------------
    def assessments(self, subject_ids: Iterable[int]) -> dict[int, list[tuple[str, bool, str | None]]]:
        """``subject_id -> [(assessment_date, baseline, overall_response), ...]`` sorted by date."""
        ids = sorted(set(subject_ids))
        if not ids:
            return defaultdict(list)
        ta = t.tumor_assessments.c
        rows = self.session.execute(
            select(ta.subject_id, ta.assessment_date, ta.baseline, ta.overall_response)
            .where(ta.subject_id.in_(ids))
            .order_by(ta.assessment_date, ta.id)
        )
        return group_by_subject((sid, (day, bool(baseline), response)) for sid, day, baseline, response in rows)
