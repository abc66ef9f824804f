"""SDV marks and protocol deviations: ``uow.monitoring``."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.domain.records import ProtocolDeviation, SdvMark, Subject
from trialdesk.services.repositories import Sites


class Repository(SqlRepository):
    def add_mark(self, **fields: Any) -> SdvMark:
        return self._insert(SdvMark(**fields))

    def active_mark(
        self, subject_id: int, entity_type: str, entity_id: str, *, for_update: bool = False
    ) -> SdvMark | None:
        stmt = (
            select(SdvMark)
            .where(
                t.sdv_marks.c.subject_id == subject_id,
                t.sdv_marks.c.entity_type == entity_type,
                t.sdv_marks.c.entity_id == entity_id,
                t.sdv_marks.c.cleared_at.is_(None),
            )
            .order_by(t.sdv_marks.c.id.desc())
            .limit(1)
        )
        return self._one(stmt, for_update=for_update)

    def active_marks(self, trial_id: int, *, subject_id: int | None = None) -> builtins.list[SdvMark]:
        stmt = (
            select(SdvMark)
            .join(Subject, t.subjects.c.id == t.sdv_marks.c.subject_id)
            .where(t.subjects.c.trial_id == trial_id, t.sdv_marks.c.cleared_at.is_(None))
        )
        if subject_id is not None:
            stmt = stmt.where(t.sdv_marks.c.subject_id == subject_id)
        return list(self.session.execute(stmt.order_by(t.sdv_marks.c.id)).scalars())

    def add_deviation(self, **fields: Any) -> ProtocolDeviation:
        return self._insert(ProtocolDeviation(**fields))

    def get_deviation(self, deviation_id: int, *, for_update: bool = False) -> ProtocolDeviation | None:
        return self._by_id(ProtocolDeviation, t.protocol_deviations, deviation_id, for_update=for_update)

    def deviations(
        self, trial_id: int, *, sites: Sites = None, subject_id: int | None = None, status: str | None = None
    ) -> builtins.list[tuple[ProtocolDeviation, Subject]]:
        stmt = (
            select(ProtocolDeviation, Subject)
            .join(Subject, t.subjects.c.id == t.protocol_deviations.c.subject_id)
            .where(t.subjects.c.trial_id == trial_id)
        )
        if sites is not None:
            stmt = stmt.where(t.protocol_deviations.c.site_key.in_(sorted(sites)))
        if subject_id is not None:
            stmt = stmt.where(t.protocol_deviations.c.subject_id == subject_id)
        if status is not None:
            stmt = stmt.where(t.protocol_deviations.c.status == status)
        return [(d, s) for d, s in self.session.execute(stmt.order_by(t.protocol_deviations.c.id)).all()]
