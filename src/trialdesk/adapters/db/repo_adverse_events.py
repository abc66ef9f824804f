"""Adverse events: ``uow.adverse_events``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import AdverseEventRow, SubjectRow
from trialdesk.services.repositories import Sites


class Repository(SqlRepository):
    def add(self, **fields: Any) -> AdverseEventRow:
        return self._insert(AdverseEventRow(**fields))

    def get(self, ae_id: int, *, for_update: bool = False) -> AdverseEventRow | None:
        return self._by_id(AdverseEventRow, t.adverse_events, ae_id, for_update=for_update)

    def for_subject(self, subject_id: int) -> list[AdverseEventRow]:
        return self._subject_rows(
            AdverseEventRow, t.adverse_events, subject_id, t.adverse_events.c.onset_date, t.adverse_events.c.id
        )

    def serious_at_sites(self, trial_id: int, sites: Sites) -> list[tuple[AdverseEventRow, SubjectRow]]:
        stmt = (
            select(AdverseEventRow, SubjectRow)
            .join(SubjectRow, t.subjects.c.id == t.adverse_events.c.subject_id)
            .where(t.subjects.c.trial_id == trial_id, t.adverse_events.c.serious.is_(True))
        )
        if sites is not None:
            stmt = stmt.where(t.subjects.c.site_key.in_(sorted(sites)))
        return [(a, s) for a, s in self.session.execute(stmt.order_by(t.adverse_events.c.id)).all()]

    def first_consent_date(self, subject_id: int) -> str | None:
        """The earliest informed-consent date of the subject's screenings (the screening date when the record
        gives none), ISO text; None when the subject has no screening."""
        dates = []
        for screened_on, record_json in self.session.execute(
            select(t.screenings.c.screened_on, t.screenings.c.record_json).where(
                t.screenings.c.subject_id == subject_id
            )
        ).all():
            try:
                consent = (json.loads(record_json or "{}") or {}).get("consent_date")
            except ValueError:
                consent = None
            dates.append(str(consent) if consent else screened_on)
        return min(dates) if dates else None
