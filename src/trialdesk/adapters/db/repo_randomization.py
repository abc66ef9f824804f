"""Randomization lists, strata cursors, sealed slots and allocations: ``uow.randomization``.

Locking: :meth:`Repository.lock_list` and :meth:`Repository.lock_stratum` take ``SELECT ... FOR UPDATE`` row locks
on PostgreSQL (always in that order: list, then stratum). On SQLite every transaction is already ``BEGIN
IMMEDIATE`` (one writer at a time), so the plain reads are the locked reads.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from trialdesk.adapters.db.tables import (
    AllocationRow,
    RandomizationListRow,
    RandomizationSlotRow,
    RandomizationStratumRow,
    ScreeningRow,
    SubjectRow,
)


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _pg(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _lock(self, stmt, for_update: bool):
        return stmt.with_for_update() if for_update and self._pg() else stmt

    # lists ----------------------------------------------------------------------------------------------------
    def current_list(self, trial_id: int, *, for_update: bool = False) -> RandomizationListRow | None:
        """The newest list that is not retired (generated or live)."""
        stmt = (select(RandomizationListRow)
                .where(RandomizationListRow.trial_id == trial_id, RandomizationListRow.status != "retired")
                .order_by(RandomizationListRow.id.desc()).limit(1))
        return self.session.execute(self._lock(stmt, for_update)).scalar_one_or_none()

    def live_list(self, trial_id: int) -> RandomizationListRow | None:
        stmt = select(RandomizationListRow).where(RandomizationListRow.trial_id == trial_id,
                                                  RandomizationListRow.status == "live")
        return self.session.execute(stmt).scalar_one_or_none()

    def lock_list(self, list_id: int) -> RandomizationListRow:
        """Re-read the list row under a row lock (PostgreSQL), refreshing the ORM copy."""
        stmt = self._lock(select(RandomizationListRow).where(RandomizationListRow.id == list_id), True)
        return self.session.execute(stmt.execution_options(populate_existing=True)).scalar_one()

    def create_list(self, **fields) -> RandomizationListRow:
        row = RandomizationListRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    # strata ---------------------------------------------------------------------------------------------------
    def strata(self, list_id: int) -> list[RandomizationStratumRow]:
        return list(self.session.execute(select(RandomizationStratumRow)
                                         .where(RandomizationStratumRow.list_id == list_id)
                                         .order_by(RandomizationStratumRow.stratum)).scalars())

    def stratum(self, list_id: int, stratum: str) -> RandomizationStratumRow | None:
        stmt = select(RandomizationStratumRow).where(RandomizationStratumRow.list_id == list_id,
                                                     RandomizationStratumRow.stratum == stratum)
        return self.session.execute(stmt).scalar_one_or_none()

    def lock_stratum(self, list_id: int, stratum: str) -> RandomizationStratumRow | None:
        stmt = self._lock(select(RandomizationStratumRow).where(RandomizationStratumRow.list_id == list_id,
                                                                RandomizationStratumRow.stratum == stratum), True)
        return self.session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()

    def create_stratum(self, **fields) -> RandomizationStratumRow:
        row = RandomizationStratumRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    # slots ----------------------------------------------------------------------------------------------------
    def add_slots(self, rows: list[dict]) -> None:
        """Bulk insert of slot rows (dicts of RandomizationSlotRow columns)."""
        if rows:
            self.session.execute(insert(RandomizationSlotRow), rows)

    def slot_at(self, list_id: int, stratum: str, seq: int) -> RandomizationSlotRow | None:
        stmt = select(RandomizationSlotRow).where(RandomizationSlotRow.list_id == list_id,
                                                  RandomizationSlotRow.stratum == stratum,
                                                  RandomizationSlotRow.seq == seq)
        return self.session.execute(stmt).scalar_one_or_none()

    def slot(self, slot_id: int) -> RandomizationSlotRow | None:
        return self.session.get(RandomizationSlotRow, slot_id)

    def slots(self, list_id: int) -> list[RandomizationSlotRow]:
        return list(self.session.execute(select(RandomizationSlotRow)
                                         .where(RandomizationSlotRow.list_id == list_id)
                                         .order_by(RandomizationSlotRow.stratum, RandomizationSlotRow.seq))
                    .scalars())

    def count_slots(self, list_id: int) -> int:
        return self.session.execute(select(func.count()).select_from(RandomizationSlotRow)
                                    .where(RandomizationSlotRow.list_id == list_id)).scalar_one()

    # allocations ----------------------------------------------------------------------------------------------
    def allocation_for_subject(self, subject_id: int) -> AllocationRow | None:
        return self.session.execute(select(AllocationRow).where(AllocationRow.subject_id == subject_id)
                                    .execution_options(populate_existing=True)).scalar_one_or_none()

    def allocation_by_client_key(self, trial_id: int, client_key: str) -> AllocationRow | None:
        return self.session.execute(select(AllocationRow).where(AllocationRow.trial_id == trial_id,
                                                                AllocationRow.client_key == client_key)
                                    ).scalar_one_or_none()

    def allocations(self, trial_id: int, sites: frozenset[str] | set[str] | None = None) -> list[AllocationRow]:
        stmt = select(AllocationRow).where(AllocationRow.trial_id == trial_id)
        if sites is not None:
            stmt = stmt.where(AllocationRow.site_key.in_(sorted(sites)))
        return list(self.session.execute(stmt.order_by(AllocationRow.id)).scalars())

    def allocations_with_subjects(self, trial_id: int) -> list[tuple[AllocationRow, str]]:
        stmt = (select(AllocationRow, SubjectRow.subject_number)
                .join(SubjectRow, SubjectRow.id == AllocationRow.subject_id)
                .where(AllocationRow.trial_id == trial_id).order_by(AllocationRow.id))
        return [(a, n) for a, n in self.session.execute(stmt).all()]

    def add_allocation(self, **fields) -> AllocationRow:
        row = AllocationRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def count_allocations(self, trial_id: int) -> int:
        return self.session.execute(select(func.count()).select_from(AllocationRow)
                                    .where(AllocationRow.trial_id == trial_id)).scalar_one()

    # screening (read; until services/screening lands, also fixtures) -----------------------------------------
    def latest_screening(self, subject_id: int) -> ScreeningRow | None:
        stmt = (select(ScreeningRow).where(ScreeningRow.subject_id == subject_id)
                .order_by(ScreeningRow.screened_on.desc(), ScreeningRow.id.desc()).limit(1))
        return self.session.execute(stmt).scalar_one_or_none()

    def add_screening(self, **fields) -> ScreeningRow:
        row = ScreeningRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def set_subject_status(self, subject_id: int, status: str) -> None:
        self.session.execute(update(SubjectRow).where(SubjectRow.id == subject_id).values(status=status))
