"""Issue 15: a tumour assessment stored before time points had a reason shows its reason anyway (SQLite and
PostgreSQL), computed when read from the stored history, without writing anything.

Hand computation (RECIST 1.1, Eisenhauer 2009, 4.3.1): randomized 2026-01-05; baseline T1 50 mm + T2 30 mm = 80 mm.
2026-02-16: 30 + 20 = 50 mm, (50 - 80) / 80 = -37.5 % <= -30 % -> PR. 2026-03-30: 40 + 20 = 60 mm, nadir 50 mm:
+10 mm and +20.0 % -> PD (both thresholds met). Texts in the words of domain/recist_reason.py (test_recist_reason).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from access_helpers import NCT
from capture_helpers import Clock, add_subject, principals
from trialdesk.domain.access import Role
from trialdesk.services import tumor
from trialdesk.services.commands import RecordTumourAssessment

M = "\u2212"  # minus sign
PR_REASON = f"PR: sum {M}37.5 % from baseline (≤{M}30 %)"
PD_REASON = "PD: sum +20.0 % (+10 mm) from nadir (≥20 % and ≥5 mm)"

BASELINE = [
    {"lesion_id": "T1", "kind": "target", "organ": "liver", "measurement": 50},
    {"lesion_id": "T2", "kind": "target", "organ": "lung", "measurement": 30},
    {"lesion_id": "N1", "kind": "non_target", "organ": "bone", "status": "present"},
]


def follow(t1: int, t2: int) -> list[dict]:
    return [
        {"lesion_id": "T1", "kind": "target", "measurement": t1},
        {"lesion_id": "T2", "kind": "target", "measurement": t2},
        {"lesion_id": "N1", "kind": "non_target", "status": "present"},
    ]


@pytest.fixture
def history(td):
    td.clock = Clock(dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC))
    add_subject(td, "HUN-0001")
    users = principals()
    for day, lesions, baseline in (
        ("2025-12-28", BASELINE, True),
        ("2026-02-16", follow(30, 20), False),
        ("2026-03-30", follow(40, 20), False),
    ):
        with td.uow("coordinator1") as uow:
            command = RecordTumourAssessment.model_validate(
                {"assessment_date": day, "lesions": lesions, "baseline": baseline}
            )
            tumor.record_tumor_assessment(uow, users[Role.COORDINATOR], NCT, "HUN-0001", command)
            uow.commit()
    return td, users


def _stored(td) -> dict[str, dict]:
    with td.uow() as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "HUN-0001")
        return {r.assessment_date: json.loads(r.result_json) for r in uow.tumor_assessments.for_subject(subject.id)}


def _forget_reasons(td) -> None:
    """What a database written before reasons existed holds: the same results, no ``reason``."""
    with td.uow() as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "HUN-0001")
        for row in uow.tumor_assessments.for_subject(subject.id):
            result = json.loads(row.result_json)
            result.pop("reason", None)
            row.result_json = json.dumps(result)
        uow.commit()


def _reasons(td, users) -> list[str | None]:
    with td.uow() as uow:
        summary = tumor.recist_summary(uow, users[Role.MONITOR], NCT, "HUN-0001")
    return [a["result"].get("reason") for a in summary["assessments"] if not a["baseline"]]


def test_a_fresh_save_stores_the_reasons(history):
    td, users = history
    assert [_stored(td)[d].get("reason") for d in ("2026-02-16", "2026-03-30")] == [PR_REASON, PD_REASON]
    assert _reasons(td, users) == [PR_REASON, PD_REASON]


def test_an_older_assessment_shows_its_reason_without_a_resave(history):
    td, users = history
    _forget_reasons(td)
    assert all("reason" not in r for r in _stored(td).values())

    assert _reasons(td, users) == [PR_REASON, PD_REASON]
    assert all("reason" not in r for r in _stored(td).values())  # read, not written
