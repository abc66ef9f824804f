"""Helpers for the treatment tests (no tests here): a settable clock and randomized subjects.

Subjects and allocations are written as rows, the way randomization stores them, so that the treatment tests do
not depend on the randomization service.
"""

from __future__ import annotations

import datetime as dt

from access_helpers import NCT, OWN
from trialdesk.adapters.db.tables import AllocationRow
from trialdesk.domain.access import Grant, Principal, Role

SITE_SCOPED = {Role.INVESTIGATOR, Role.COORDINATOR, Role.MONITOR}


def principals() -> dict[Role, Principal]:
    """One principal per role, as access_helpers.make_users grants them (site staff at the own site), without
    creating accounts (services only need the Principal; HTTP tests use make_users)."""
    return {
        role: Principal(f"{role.value}1", (Grant(role, frozenset({OWN}) if role in SITE_SCOPED else None),))
        for role in Role
    }


class Clock:
    """A settable clock injected into the App (``td.clock``)."""

    def __init__(self, day: str = "2025-06-30") -> None:
        self.set(day)

    def set(self, day: str) -> None:
        self.now = dt.datetime.fromisoformat(day + "T12:00:00+00:00")

    def __call__(self) -> dt.datetime:
        return self.now


def randomized_subject(
    td,
    number: str = "01-001",
    *,
    site: str = OWN,
    arm: str = "thp",
    randomized_on: str = "2025-03-03",
    height_cm: float | None = 160.0,
    status: str = "randomized",
) -> None:
    with td.uow("setup") as uow:
        trial = uow.trials.get(NCT)
        subject = uow.subjects.create(
            trial_id=trial.id,
            site_key=site,
            subject_number=number,
            patient_ref=f"P-{number}",
            status=status,
            height_cm=height_cm,
            created_at="2025-03-01T00:00:00+00:00",
            data_version=0,
        )
        uow.session.add(
            AllocationRow(
                trial_id=trial.id,
                subject_id=subject.id,
                site_key=site,
                stratum="s",
                randomization_number=f"R-{number}",
                arm=arm,
                randomized_on=randomized_on,
                allocated_at=randomized_on + "T09:00:00+00:00",
                allocated_by="setup",
            )
        )
        uow.commit()


def day(start: str, plus: int) -> str:
    return (dt.date.fromisoformat(start) + dt.timedelta(days=plus)).isoformat()
