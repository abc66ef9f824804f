"""Casebook e-signatures: ``uow.signatures``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import SignatureRow


class Repository(SqlRepository):
    def add(self, **fields: Any) -> SignatureRow:
        return self._insert(SignatureRow(**fields))

    def for_subject(self, subject_id: int) -> list[SignatureRow]:
        return self._subject_rows(SignatureRow, t.signatures, subject_id, t.signatures.c.id)

    def active(self, subject_id: int) -> SignatureRow | None:
        return (
            self.session.execute(
                select(SignatureRow)
                .where(t.signatures.c.subject_id == subject_id, t.signatures.c.invalidated_at.is_(None))
                .order_by(t.signatures.c.id.desc())
            )
            .scalars()
            .first()
        )

    def invalidate_active(self, subject_id: int, when: str, reason: str) -> list[SignatureRow]:
        """Mark every live signature of the subject invalidated (called by ``services.subjects.touch``)."""
        rows = list(
            self.session.execute(
                select(SignatureRow).where(
                    t.signatures.c.subject_id == subject_id, t.signatures.c.invalidated_at.is_(None)
                )
            ).scalars()
        )
        for row in rows:
            row.invalidated_at, row.invalidated_reason = when, reason
        self.session.flush()
        return rows

    def casebook_content(self, subject_id: int) -> dict[str, Any]:
        """Everything recorded for the subject, as plain column values (the signed content)."""

        def rows(table: Table) -> list[dict[str, Any]]:
            found = self.session.execute(
                select(table).where(table.c.subject_id == subject_id).order_by(table.c.id)
            ).mappings()
            return [dict(r) for r in found]

        subject = self.session.get(t.SubjectRow, subject_id)
        keep = ("subject_number", "site_key", "patient_ref", "status", "birth_date", "sex", "height_cm")
        return {
            "subject": {k: getattr(subject, k) for k in keep} if subject else None,
            "screenings": rows(t.screenings),
            "allocations": rows(t.allocations),
            "doses": rows(t.doses),
            "adverse_events": rows(t.adverse_events),
            "tumor_assessments": rows(t.tumor_assessments),
            "dispositions": rows(t.dispositions),
        }
