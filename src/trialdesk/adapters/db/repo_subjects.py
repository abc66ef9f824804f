"""Subjects: ``uow.subjects``."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import func, select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import SubjectRow
from trialdesk.services.repositories import Sites


class Repository(SqlRepository):
    def get(self, trial_id: int, subject_number: str, *, for_update: bool = False) -> SubjectRow | None:
        stmt = select(SubjectRow).where(
            t.subjects.c.trial_id == trial_id, t.subjects.c.subject_number == subject_number
        )
        return self._one(stmt, for_update=for_update)

    def by_id(self, subject_id: int) -> SubjectRow | None:
        return self.session.get(SubjectRow, subject_id)

    def by_patient(self, trial_id: int, site_key: str, patient_ref: str) -> SubjectRow | None:
        return self._one(
            select(SubjectRow).where(
                t.subjects.c.trial_id == trial_id,
                t.subjects.c.site_key == site_key,
                t.subjects.c.patient_ref == patient_ref,
            )
        )

    def list(self, trial_id: int, sites: Sites = None, status: str | None = None) -> builtins.list[SubjectRow]:
        stmt = select(SubjectRow).where(t.subjects.c.trial_id == trial_id)
        if sites is not None:
            stmt = stmt.where(t.subjects.c.site_key.in_(sorted(sites)))
        if status is not None:
            stmt = stmt.where(t.subjects.c.status == status)
        return list(self.session.execute(stmt.order_by(t.subjects.c.id)).scalars())

    def count_at_site(self, trial_id: int, site_key: str) -> int:
        return self.session.execute(
            select(func.count())
            .select_from(SubjectRow)
            .where(t.subjects.c.trial_id == trial_id, t.subjects.c.site_key == site_key)
        ).scalar_one()

    def create(self, **fields: Any) -> SubjectRow:
        return self._insert(SubjectRow(**fields))
