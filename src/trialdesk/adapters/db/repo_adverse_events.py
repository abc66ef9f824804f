"""Adverse events: ``uow.adverse_events``."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.adapters.db.tables import AdverseEventRow, ScreeningRow, SubjectRow


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **fields) -> AdverseEventRow:
        row = AdverseEventRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, ae_id: int, *, for_update: bool = False) -> AdverseEventRow | None:
        stmt = select(AdverseEventRow).where(AdverseEventRow.id == ae_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def for_subject(self, subject_id: int) -> list[AdverseEventRow]:
        return list(self.session.execute(select(AdverseEventRow).where(AdverseEventRow.subject_id == subject_id)
                                         .order_by(AdverseEventRow.onset_date, AdverseEventRow.id)).scalars())

    def serious_at_sites(self, trial_id: int, sites: set[str] | frozenset[str] | None
                         ) -> list[tuple[AdverseEventRow, SubjectRow]]:
        stmt = (select(AdverseEventRow, SubjectRow).join(SubjectRow, SubjectRow.id == AdverseEventRow.subject_id)
                .where(SubjectRow.trial_id == trial_id, AdverseEventRow.serious.is_(True)))
        if sites is not None:
            stmt = stmt.where(SubjectRow.site_key.in_(sorted(sites)))
        return [(a, s) for a, s in self.session.execute(stmt.order_by(AdverseEventRow.id)).all()]

    def first_consent_date(self, subject_id: int) -> str | None:
        """The earliest informed-consent date of the subject's screenings (the screening date when the record
        gives none), ISO text; None when the subject has no screening."""
        dates = []
        for screened_on, record_json in self.session.execute(
                select(ScreeningRow.screened_on, ScreeningRow.record_json)
                .where(ScreeningRow.subject_id == subject_id)).all():
            try:
                consent = (json.loads(record_json or "{}") or {}).get("consent_date")
            except ValueError:
                consent = None
            dates.append(str(consent) if consent else screened_on)
        return min(dates) if dates else None
