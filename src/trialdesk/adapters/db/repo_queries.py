"""Data queries: ``uow.queries``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialdesk.adapters.db.tables import QueryRow, SubjectRow, TrialRow


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **fields) -> QueryRow:
        row = QueryRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, query_id: int, *, for_update: bool = False) -> QueryRow | None:
        stmt = select(QueryRow).where(QueryRow.id == query_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def find_unresolved(self, subject_id: int, entity_type: str, entity_id: str, field: str,
                        check_id: str | None) -> QueryRow | None:
        """An open or answered query on the same field by the same check (to avoid duplicates)."""
        return self.session.execute(select(QueryRow).where(
            QueryRow.subject_id == subject_id, QueryRow.entity_type == entity_type,
            QueryRow.entity_id == entity_id, QueryRow.field == field, QueryRow.check_id == check_id,
            QueryRow.status.in_(("open", "answered")))).scalars().first()

    def list(self, trial_id: int, *, sites: set[str] | frozenset[str] | None = None,
             subject_id: int | None = None, status: str | None = None) -> list[tuple[QueryRow, SubjectRow]]:
        stmt = (select(QueryRow, SubjectRow).join(SubjectRow, SubjectRow.id == QueryRow.subject_id)
                .where(SubjectRow.trial_id == trial_id))
        if sites is not None:
            stmt = stmt.where(QueryRow.site_key.in_(sorted(sites)))
        if subject_id is not None:
            stmt = stmt.where(QueryRow.subject_id == subject_id)
        if status is not None:
            stmt = stmt.where(QueryRow.status == status)
        return [(q, s) for q, s in self.session.execute(stmt.order_by(QueryRow.id)).all()]

    def nct_of(self, trial_id: int) -> str:
        return self.session.execute(select(TrialRow.nct_id).where(TrialRow.id == trial_id)).scalar_one()
