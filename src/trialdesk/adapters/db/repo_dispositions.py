"""Disposition events (end of treatment, end of study, death, new anticancer therapy): ``uow.dispositions``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.tables import DispositionRow


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, **fields: Any) -> DispositionRow:
        row = DispositionRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def for_subject(self, subject_id: int) -> list[DispositionRow]:
        return list(self.session.execute(
            select(DispositionRow).where(t.dispositions.c.subject_id == subject_id)
            .order_by(t.dispositions.c.event_date, t.dispositions.c.id)).scalars())

    def for_subjects(self, subject_ids: Iterable[int]) -> dict[int, list[DispositionRow]]:
        ids = sorted(set(subject_ids))
        out: dict[int, list[DispositionRow]] = defaultdict(list)
        if not ids:
            return out
        rows = self.session.execute(select(DispositionRow).where(t.dispositions.c.subject_id.in_(ids))
                                    .order_by(t.dispositions.c.event_date, t.dispositions.c.id)).scalars()
        for row in rows:
            out[row.subject_id].append(row)
        return out
