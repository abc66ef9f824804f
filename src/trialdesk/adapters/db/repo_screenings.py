"""Screenings: ``uow.screenings`` (the screening log; every screening of every subject is kept)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import ScreeningRow, SubjectRow
from trialdesk.services.repositories import Sites


class Repository(SqlRepository):
    # -- writes ---------------------------------------------------------------------------------------------------
    def add(self, **fields: Any) -> ScreeningRow:
        return self._insert(ScreeningRow(**fields))

    # -- numbering ------------------------------------------------------------------------------------------------
    def count_at_site(self, trial_id: int, site_key: str) -> int:
        return self.session.execute(
            select(func.count())
            .select_from(ScreeningRow)
            .where(t.screenings.c.trial_id == trial_id, t.screenings.c.site_key == site_key)
        ).scalar_one()

    def number_taken(self, trial_id: int, site_key: str, screening_number: str) -> bool:
        return self.get(trial_id, site_key, screening_number) is not None

    # -- reads ----------------------------------------------------------------------------------------------------
    def get(self, trial_id: int, site_key: str, screening_number: str) -> ScreeningRow | None:
        return self._one(
            select(ScreeningRow).where(
                t.screenings.c.trial_id == trial_id,
                t.screenings.c.site_key == site_key,
                t.screenings.c.screening_number == screening_number,
            )
        )

    def latest(self, subject_id: int) -> ScreeningRow | None:
        return self._one(
            select(ScreeningRow)
            .where(t.screenings.c.subject_id == subject_id)
            .order_by(t.screenings.c.id.desc())
            .limit(1)
        )

    def for_subject(self, subject_id: int) -> list[ScreeningRow]:
        return self._subject_rows(ScreeningRow, t.screenings, subject_id, t.screenings.c.id)

    def log(self, trial_id: int, sites: Sites = None) -> list[tuple[ScreeningRow, SubjectRow]]:
        """Screenings with their subject, oldest first; ``sites=None``: every site."""
        stmt = (
            select(ScreeningRow, SubjectRow)
            .join(SubjectRow, t.subjects.c.id == t.screenings.c.subject_id)
            .where(t.screenings.c.trial_id == trial_id)
        )
        if sites is not None:
            stmt = stmt.where(t.screenings.c.site_key.in_(sorted(sites)))
        return [(s, subj) for s, subj in self.session.execute(stmt.order_by(t.screenings.c.id))]

    def latest_per_subject(self, trial_id: int) -> list[ScreeningRow]:
        """The most recent screening of every screened subject."""
        last = (
            select(func.max(t.screenings.c.id).label("id"))
            .where(t.screenings.c.trial_id == trial_id)
            .group_by(t.screenings.c.subject_id)
            .subquery()
        )
        return list(
            self.session.execute(
                select(ScreeningRow).join(last, last.c.id == t.screenings.c.id).order_by(t.screenings.c.id)
            ).scalars()
        )

    def count(self, trial_id: int) -> int:
        return self.session.execute(
            select(func.count()).select_from(ScreeningRow).where(t.screenings.c.trial_id == trial_id)
        ).scalar_one()

    # -- subjects, as screening needs them ------------------------------------------------------------------------
    def subject_for_patient(
        self, trial_id: int, site_key: str, patient_ref: str, *, for_update: bool = False
    ) -> SubjectRow | None:
        stmt = select(SubjectRow).where(
            t.subjects.c.trial_id == trial_id,
            t.subjects.c.site_key == site_key,
            t.subjects.c.patient_ref == patient_ref,
        )
        return self._one(stmt, for_update=for_update)
