"""Casebook e-signatures: ``uow.signatures``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.adapters.db.tables import SignatureRow


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **fields) -> SignatureRow:
        row = SignatureRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def for_subject(self, subject_id: int) -> list[SignatureRow]:
        return list(self.session.execute(select(SignatureRow).where(SignatureRow.subject_id == subject_id)
                                         .order_by(SignatureRow.id)).scalars())

    def active(self, subject_id: int) -> SignatureRow | None:
        return self.session.execute(select(SignatureRow).where(
            SignatureRow.subject_id == subject_id, SignatureRow.invalidated_at.is_(None))
            .order_by(SignatureRow.id.desc())).scalars().first()

    def invalidate_active(self, subject_id: int, when: str, reason: str) -> list[SignatureRow]:
        """Mark every live signature of the subject invalidated (called by ``services.subjects.touch``)."""
        rows = list(self.session.execute(select(SignatureRow).where(
            SignatureRow.subject_id == subject_id, SignatureRow.invalidated_at.is_(None))).scalars())
        for row in rows:
            row.invalidated_at, row.invalidated_reason = when, reason
        self.session.flush()
        return rows

    def casebook_content(self, subject_id: int) -> dict:
        """Everything recorded for the subject, as plain column values (the signed content)."""
        from trialdesk.adapters.db import tables as t

        def rows(table, order) -> list[dict]:
            found = self.session.execute(select(table).where(table.subject_id == subject_id)
                                         .order_by(*order)).scalars()
            return [{c.name: getattr(r, c.key) for c in table.__table__.columns} for r in found]

        subject = self.session.get(t.SubjectRow, subject_id)
        keep = ("subject_number", "site_key", "patient_ref", "status", "birth_date", "sex", "height_cm")
        return {
            "subject": {k: getattr(subject, k) for k in keep} if subject else None,
            "screenings": rows(t.ScreeningRow, [t.ScreeningRow.id]),
            "allocations": rows(t.AllocationRow, [t.AllocationRow.id]),
            "doses": rows(t.DoseRow, [t.DoseRow.id]),
            "adverse_events": rows(t.AdverseEventRow, [t.AdverseEventRow.id]),
            "tumor_assessments": rows(t.TumorAssessmentRow, [t.TumorAssessmentRow.id]),
            "dispositions": rows(t.DispositionRow, [t.DispositionRow.id]),
        }
