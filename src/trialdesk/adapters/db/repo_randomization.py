"""Randomization lists, strata cursors and sealed slots: ``uow.randomization`` (allocations: ``uow.allocations``).

Locking: :meth:`Repository.lock_list` and :meth:`Repository.lock_stratum` take ``SELECT ... FOR UPDATE`` row locks
on PostgreSQL (always in that order: list, then stratum). On SQLite every transaction is already ``BEGIN
IMMEDIATE`` (one writer at a time), so the plain reads are the locked reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update

from trialdesk.adapters.db import repo_allocations
from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import (
    AllocationRow,
    RandomizationListRow,
    RandomizationSlotRow,
    RandomizationStratumRow,
    ScreeningRow,
    SubjectRow,
)
from trialdesk.services.repositories import Sites


class Repository(SqlRepository):
    # lists ----------------------------------------------------------------------------------------------------
    def current_list(self, trial_id: int, *, for_update: bool = False) -> RandomizationListRow | None:
        """The newest list that is not retired (generated or live)."""
        stmt = (
            select(RandomizationListRow)
            .where(t.randomization_lists.c.trial_id == trial_id, t.randomization_lists.c.status != "retired")
            .order_by(t.randomization_lists.c.id.desc())
            .limit(1)
        )
        return self._one(stmt, for_update=for_update)

    def live_list(self, trial_id: int) -> RandomizationListRow | None:
        stmt = select(RandomizationListRow).where(
            t.randomization_lists.c.trial_id == trial_id, t.randomization_lists.c.status == "live"
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def lock_list(self, list_id: int) -> RandomizationListRow:
        """Re-read the list row under a row lock (PostgreSQL), refreshing the ORM copy."""
        stmt = self._lock(select(RandomizationListRow).where(t.randomization_lists.c.id == list_id), True)
        row: RandomizationListRow = self.session.execute(stmt.execution_options(populate_existing=True)).scalar_one()
        return row

    def create_list(self, **fields: Any) -> RandomizationListRow:
        return self._insert(RandomizationListRow(**fields))

    # strata ---------------------------------------------------------------------------------------------------
    def strata(self, list_id: int) -> list[RandomizationStratumRow]:
        return list(
            self.session.execute(
                select(RandomizationStratumRow)
                .where(t.randomization_strata.c.list_id == list_id)
                .order_by(t.randomization_strata.c.stratum)
            ).scalars()
        )

    def stratum(self, list_id: int, stratum: str) -> RandomizationStratumRow | None:
        stmt = select(RandomizationStratumRow).where(
            t.randomization_strata.c.list_id == list_id, t.randomization_strata.c.stratum == stratum
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def lock_stratum(self, list_id: int, stratum: str) -> RandomizationStratumRow | None:
        stmt = self._lock(
            select(RandomizationStratumRow).where(
                t.randomization_strata.c.list_id == list_id, t.randomization_strata.c.stratum == stratum
            ),
            True,
        )
        return self.session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()

    def create_stratum(self, **fields: Any) -> RandomizationStratumRow:
        return self._insert(RandomizationStratumRow(**fields))

    # slots ----------------------------------------------------------------------------------------------------
    def add_slots(self, rows: list[dict[str, Any]]) -> None:
        """Bulk insert of slot rows (dicts of RandomizationSlotRow columns)."""
        if rows:
            self.session.execute(insert(RandomizationSlotRow), rows)

    def slot_at(self, list_id: int, stratum: str, seq: int) -> RandomizationSlotRow | None:
        stmt = select(RandomizationSlotRow).where(
            t.randomization_slots.c.list_id == list_id,
            t.randomization_slots.c.stratum == stratum,
            t.randomization_slots.c.seq == seq,
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def slot(self, slot_id: int) -> RandomizationSlotRow | None:
        return self.session.get(RandomizationSlotRow, slot_id)

    def slots(self, list_id: int) -> list[RandomizationSlotRow]:
        return list(
            self.session.execute(
                select(RandomizationSlotRow)
                .where(t.randomization_slots.c.list_id == list_id)
                .order_by(t.randomization_slots.c.stratum, t.randomization_slots.c.seq)
            ).scalars()
        )

    def count_slots(self, list_id: int) -> int:
        return self.session.execute(
            select(func.count()).select_from(RandomizationSlotRow).where(t.randomization_slots.c.list_id == list_id)
        ).scalar_one()

    # allocations live in ``uow.allocations``; these two remain for existing callers (tests) -------------------
    def allocations(self, trial_id: int, sites: Sites = None) -> list[AllocationRow]:
        """Every allocation of the trial, in error or not (``uow.allocations.for_trial(..., include_in_error=True)``)."""
        return repo_allocations.Repository(self.session).for_trial(trial_id, sites, include_in_error=True)

    def count_allocations(self, trial_id: int) -> int:
        """Every allocation of the trial, in error or not (``uow.allocations.count(..., include_in_error=True)``)."""
        return repo_allocations.Repository(self.session).count(trial_id, include_in_error=True)

    # screening (read; until services/screening lands, also fixtures) -----------------------------------------
    def latest_screening(self, subject_id: int) -> ScreeningRow | None:
        stmt = (
            select(ScreeningRow)
            .where(t.screenings.c.subject_id == subject_id)
            .order_by(t.screenings.c.screened_on.desc(), t.screenings.c.id.desc())
            .limit(1)
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def add_screening(self, **fields: Any) -> ScreeningRow:
        return self._insert(ScreeningRow(**fields))

    def set_subject_status(self, subject_id: int, status: str) -> None:
        self.session.execute(update(SubjectRow).where(t.subjects.c.id == subject_id).values(status=status))
