"""Data queries: ``uow.queries``."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import QueryRow, SubjectRow
from trialdesk.services.repositories import Sites


class Repository(SqlRepository):
    def add(self, **fields: Any) -> QueryRow:
        return self._insert(QueryRow(**fields))

    def get(self, query_id: int, *, for_update: bool = False) -> QueryRow | None:
        return self._by_id(QueryRow, t.queries, query_id, for_update=for_update)

    def find_unresolved(
        self, subject_id: int, entity_type: str, entity_id: str, field: str, check_id: str | None
    ) -> QueryRow | None:
        """An open or answered query on the same field by the same check (to avoid duplicates)."""
        return (
            self.session.execute(
                select(QueryRow).where(
                    t.queries.c.subject_id == subject_id,
                    t.queries.c.entity_type == entity_type,
                    t.queries.c.entity_id == entity_id,
                    t.queries.c.field == field,
                    t.queries.c.check_id == check_id,
                    t.queries.c.status.in_(("open", "answered")),
                )
            )
            .scalars()
            .first()
        )

    def list(
        self, trial_id: int, *, sites: Sites = None, subject_id: int | None = None, status: str | None = None
    ) -> builtins.list[tuple[QueryRow, SubjectRow]]:
        stmt = (
            select(QueryRow, SubjectRow)
            .join(SubjectRow, t.subjects.c.id == t.queries.c.subject_id)
            .where(t.subjects.c.trial_id == trial_id)
        )
        if sites is not None:
            stmt = stmt.where(t.queries.c.site_key.in_(sorted(sites)))
        if subject_id is not None:
            stmt = stmt.where(t.queries.c.subject_id == subject_id)
        if status is not None:
            stmt = stmt.where(t.queries.c.status == status)
        return [(q, s) for q, s in self.session.execute(stmt.order_by(t.queries.c.id)).all()]

    def nct_of(self, trial_id: int) -> str:
        nct_id: str = self.session.execute(select(t.trials.c.nct_id).where(t.trials.c.id == trial_id)).scalar_one()
        return nct_id
