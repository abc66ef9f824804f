"""Aggregates for the enrollment dashboard: ``uow.dashboard``."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.adapters.db.tables import AllocationRow, QueryRow, ScreeningRow, SubjectRow


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def screenings(self, trial_id: int) -> list[tuple[str, str, int, str]]:
        """(site, screened_on, subject_id, verdict) of every screening."""
        rows = self.session.execute(select(ScreeningRow.site_key, ScreeningRow.screened_on, ScreeningRow.subject_id,
                                           ScreeningRow.verdict).where(ScreeningRow.trial_id == trial_id)
                                    .order_by(ScreeningRow.id))
        return [tuple(r) for r in rows]

    def randomizations(self, trial_id: int) -> list[tuple[str, str]]:
        """(site, randomized_on) of every allocation."""
        rows = self.session.execute(select(AllocationRow.site_key, AllocationRow.randomized_on).where(
            AllocationRow.trial_id == trial_id).order_by(AllocationRow.randomized_on))
        return [tuple(r) for r in rows]

    def open_queries(self, trial_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(QueryRow.site_key, func.count()).join(SubjectRow, SubjectRow.id == QueryRow.subject_id)
            .where(SubjectRow.trial_id == trial_id, QueryRow.status != "closed").group_by(QueryRow.site_key))
        return {site: n for site, n in rows}
