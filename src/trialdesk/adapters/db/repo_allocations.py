"""Allocations: ``uow.allocations``, the one place that answers "this subject's allocation".

The rule (also in :mod:`trialdesk.services.repositories`): an allocation marked in error stays on record, its
number and slot used for good, but no longer assigns a treatment. Every read skips in-error allocations unless the
caller passes ``include_in_error=True``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import AllocationRow, SubjectRow
from trialdesk.services.repositories import Sites


def _valid_only(stmt: Select[Any], include_in_error: bool) -> Select[Any]:
    return stmt if include_in_error else stmt.where(t.allocations.c.in_error.is_(False))


class Repository(SqlRepository):
    def for_subject(self, subject_id: int, *, include_in_error: bool = False) -> AllocationRow | None:
        # populate_existing: a fresh read of the row, even if this session loaded it before (randomization decides
        # on it under the list lock, after a concurrent transaction may have changed it)
        stmt = _valid_only(select(AllocationRow).where(t.allocations.c.subject_id == subject_id), include_in_error)
        return self.session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()

    def for_subjects(self, subject_ids: Iterable[int], *, include_in_error: bool = False) -> dict[int, AllocationRow]:
        ids = sorted(set(subject_ids))
        if not ids:
            return {}
        out: dict[int, AllocationRow] = {}
        for chunk in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            stmt = _valid_only(
                select(AllocationRow).where(t.allocations.c.subject_id.in_(ids[chunk : chunk + 900])), include_in_error
            )
            out.update(
                (row.subject_id, row) for row in self.session.execute(stmt.order_by(t.allocations.c.id)).scalars()
            )
        return out

    def by_client_key(self, trial_id: int, client_key: str) -> AllocationRow | None:
        return self.session.execute(
            select(AllocationRow).where(t.allocations.c.trial_id == trial_id, t.allocations.c.client_key == client_key)
        ).scalar_one_or_none()

    def for_trial(self, trial_id: int, sites: Sites = None, *, include_in_error: bool = False) -> list[AllocationRow]:
        stmt = _valid_only(select(AllocationRow).where(t.allocations.c.trial_id == trial_id), include_in_error)
        if sites is not None:
            stmt = stmt.where(t.allocations.c.site_key.in_(sorted(sites)))
        return list(self.session.execute(stmt.order_by(t.allocations.c.id)).scalars())

    def with_subject_numbers(self, trial_id: int, *, include_in_error: bool = False) -> list[tuple[AllocationRow, str]]:
        stmt = _valid_only(
            select(AllocationRow, t.subjects.c.subject_number)
            .join(SubjectRow, t.subjects.c.id == t.allocations.c.subject_id)
            .where(t.allocations.c.trial_id == trial_id),
            include_in_error,
        )
        return [(a, n) for a, n in self.session.execute(stmt.order_by(t.allocations.c.id)).all()]

    def randomization_dates(self, trial_id: int, *, include_in_error: bool = False) -> list[tuple[str, str]]:
        stmt = _valid_only(
            select(t.allocations.c.site_key, t.allocations.c.randomized_on).where(t.allocations.c.trial_id == trial_id),
            include_in_error,
        )
        return [(site, day) for site, day in self.session.execute(stmt.order_by(t.allocations.c.randomized_on))]

    def count(self, trial_id: int, *, include_in_error: bool = False) -> int:
        stmt = _valid_only(
            select(func.count()).select_from(AllocationRow).where(t.allocations.c.trial_id == trial_id),
            include_in_error,
        )
        return int(self.session.execute(stmt).scalar_one())

    def add(self, **fields: Any) -> AllocationRow:
        return self._insert(AllocationRow(**fields))
