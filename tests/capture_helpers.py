"""Test helpers for data capture: a subject screened and randomized at Hunan, the CTCAE workbook loaded, a
fixed clock. Subjects and allocations are inserted as rows (the screening and randomization services are tested
on their own); everything else goes through the capture services."""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path

from access_helpers import NCT, OWN
from trialdesk.adapters.db.tables import AllocationRow, ScreeningRow
from trialdesk.domain.access import SYSTEM

WORKBOOK = "data/ctcae/CTCAE_v5.0_2017-11-27.xlsx"
NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
CONSENT = dt.date(2025, 12, 20)
RANDOMIZED = dt.date(2026, 1, 5)


class Clock:
    """A settable clock for ``App.clock``."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@lru_cache(maxsize=1)
def ctcae_terms(path: str):
    from trialdesk.adapters.ctcae_xlsx import read_ctcae_workbook

    return tuple(read_ctcae_workbook(Path(path)))


def load_ctcae(td, shared_dir: Path) -> dict:
    """``ctcae load`` of NCI's workbook (with its SHA-256) over whatever bootstrap stored."""
    from trialdesk.adapters.ctcae_json import workbook_set
    from trialdesk.services import ctcae

    chosen = workbook_set(shared_dir / WORKBOOK)
    with td.uow("setup") as uow:
        result = ctcae.load_terms(
            uow, SYSTEM, chosen.terms, version=chosen.version, source=chosen.source, sha256=chosen.sha256
        )
        uow.commit()
    return result


def add_subject(
    td,
    number: str = "HUN-0001",
    *,
    site: str = OWN,
    arm: str | None = "thp",
    consent: dt.date = CONSENT,
    randomized: dt.date = RANDOMIZED,
) -> None:
    """A screened (eligible) subject, randomized to ``arm`` on ``randomized`` unless arm is None."""
    with td.uow("setup") as uow:
        trial = uow.trials.get(NCT)
        subject = uow.subjects.create(
            trial_id=trial.id,
            site_key=site,
            subject_number=number,
            patient_ref=f"ref-{number}",
            status="randomized" if arm else "screening",
            created_at=NOW.isoformat(),
            data_version=0,
        )
        uow.session.add(
            ScreeningRow(
                trial_id=trial.id,
                subject_id=subject.id,
                site_key=site,
                screening_number=f"S-{number}",
                screened_on=consent.isoformat(),
                verdict="eligible",
                record_json=json.dumps({"consent_date": str(consent)}),
                results_json="{}",
                protocol_digest="x" * 64,
                created_at=NOW.isoformat(),
                created_by="setup",
            )
        )
        if arm:
            uow.session.add(
                AllocationRow(
                    trial_id=trial.id,
                    subject_id=subject.id,
                    site_key=site,
                    stratum="s",
                    randomization_number=f"R-{number}",
                    arm=arm,
                    randomized_on=randomized.isoformat(),
                    allocated_at=NOW.isoformat(),
                    allocated_by="setup",
                )
            )
        uow.commit()


THP_RELATIONSHIP = {"docetaxel": "probable", "trastuzumab": "unlikely", "pertuzumab": "possible"}


def principals() -> dict:
    """One principal per role, as ``access_helpers.make_users`` makes them (site staff and monitors at Hunan),
    without creating accounts (no password hashing): for tests that do not sign."""
    from trialdesk.domain.access import Grant, Principal, Role

    scoped = {Role.INVESTIGATOR, Role.COORDINATOR, Role.MONITOR}
    return {
        role: Principal(f"{role.value}1", (Grant(role, frozenset({OWN}) if role in scoped else None),)) for role in Role
    }
