"""Adverse events: ``uow.adverse_events``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.tables import AdverseEventRow, SubjectRow
from trialdesk.services.repositories import Sites


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **fields: Any) -> AdverseEventRow:
        row = AdverseEventRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, ae_id: int, *, for_update: bool = False) -> AdverseEventRow | None:
        stmt = select(AdverseEventRow).where(t.adverse_events.c.id == ae_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def for_subject(self, subject_id: int) -> list[AdverseEventRow]:
        return list(self.session.execute(select(AdverseEventRow).where(t.adverse_events.c.subject_id == subject_id)
                                         .order_by(t.adverse_events.c.onset_date, t.adverse_events.c.id)).scalars())

    def serious_at_sites(self, trial_id: int, sites: Sites
                         ) -> list[tuple[AdverseEventRow, SubjectRow]]:
        stmt = (select(AdverseEventRow, SubjectRow).join(SubjectRow, t.subjects.c.id == t.adverse_events.c.subject_id)
                .where(t.subjects.c.trial_id == trial_id, t.adverse_events.c.serious.is_(True)))
        if sites is not None:
            stmt = stmt.where(t.subjects.c.site_key.in_(sorted(sites)))
        return [(a, s) for a, s in self.session.execute(stmt.order_by(t.adverse_events.c.id)).all()]

    def first_consent_date(self, subject_id: int) -> str | None:
        """The earliest informed-consent date of the subject's screenings (the screening date when the record
        gives none), ISO text; None when the subject has no screening."""
        dates = []
        for screened_on, record_json in self.session.execute(
                select(t.screenings.c.screened_on, t.screenings.c.record_json)
                .where(t.screenings.c.subject_id == subject_id)).all():
            try:
                consent = (json.loads(record_json or "{}") or {}).get("consent_date")
            except ValueError:
                consent = None
            dates.append(str(consent) if consent else screened_on)
        return min(dates) if dates else None
