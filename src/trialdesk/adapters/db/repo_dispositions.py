"""Disposition events (end of treatment, end of study, death, new anticancer therapy): ``uow.dispositions``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import DispositionRow

_ORDER = (t.dispositions.c.event_date, t.dispositions.c.id)


class Repository(SqlRepository):
    def create(self, **fields: Any) -> DispositionRow:
        return self._insert(DispositionRow(**fields))

    def for_subject(self, subject_id: int) -> list[DispositionRow]:
        return self._subject_rows(DispositionRow, t.dispositions, subject_id, *_ORDER)

    def for_subjects(self, subject_ids: Iterable[int]) -> dict[int, list[DispositionRow]]:
        return self._rows_by_subject(DispositionRow, t.dispositions, subject_ids, *_ORDER)
