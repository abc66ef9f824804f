"""Aggregates for the enrollment dashboard: ``uow.dashboard``."""

from __future__ import annotations

from sqlalchemy import func, select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import SubjectRow


class Repository(SqlRepository):
    def screenings(self, trial_id: int) -> list[tuple[str, str, int, str]]:
        """(site, screened_on, subject_id, verdict) of every screening."""
        rows = self.session.execute(
            select(
                t.screenings.c.site_key, t.screenings.c.screened_on, t.screenings.c.subject_id, t.screenings.c.verdict
            )
            .where(t.screenings.c.trial_id == trial_id)
            .order_by(t.screenings.c.id)
        )
        return [tuple(r) for r in rows]

    def open_queries(self, trial_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(t.queries.c.site_key, func.count())
            .join(SubjectRow, t.subjects.c.id == t.queries.c.subject_id)
            .where(t.subjects.c.trial_id == trial_id, t.queries.c.status != "closed")
            .group_by(t.queries.c.site_key)
        )
        return {str(site): int(n) for site, n in rows}
