"""Tumour assessments through the service (SQLite and PostgreSQL): lesions stored, the subject's RECIST 1.1 history
re-evaluated on each save, BOR and first PD, window edit check opening a query, refusals storing nothing.

Hand computation (RECIST 1.1, Eisenhauer 2009): randomized 2026-01-05; baseline T1 50 mm + T2 30 mm = 80 mm.
Day 42 (2026-02-16): 30 + 20 = 50 mm, (50 - 80) / 80 = -37.5 % <= -30 % -> PR. Day 84 (2026-03-30): 40 + 20 = 60 mm,
nadir 50: +10 mm and +20 % -> PD. BOR (no confirmation in a randomized trial) = PR, first PD 2026-03-30.
Assessment grid (operations.schedule): every 42 days +/- 7 from randomization.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from access_helpers import NCT
from capture_helpers import Clock, add_subject, principals
from trialdesk.domain.access import Role
from trialdesk.domain.errors import Conflict, InvalidInput, PermissionDenied, problems_from_pydantic
from trialdesk.services import tumor
from trialdesk.services.commands import EditRecord, RecordTumourAssessment
from trialdesk.services.queries import list_queries

BASELINE = [
    {"lesion_id": "T1", "kind": "target", "organ": "liver", "measurement": 50},
    {"lesion_id": "T2", "kind": "target", "organ": "lung", "measurement": 30},
    {"lesion_id": "N1", "kind": "non_target", "organ": "bone", "status": "present"},
]


def follow(t1, t2, nt="present"):
    return [
        {"lesion_id": "T1", "kind": "target", "measurement": t1},
        {"lesion_id": "T2", "kind": "target", "measurement": t2},
        {"lesion_id": "N1", "kind": "non_target", "status": nt},
    ]


@pytest.fixture
def cap(td):
    td.clock = Clock(dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC))
    add_subject(td, "HUN-0001")
    return td, principals()


def _save(td, principal, day, lesions, baseline=False, subject="HUN-0001"):
    with td.uow(principal.username) as uow:
        command = RecordTumourAssessment.model_validate(
            {"assessment_date": day, "lesions": lesions, "baseline": baseline}
        )
        out = tumor.record_tumor_assessment(uow, principal, NCT, subject, command)
        uow.commit()
    return out


def test_pr_then_pd_gives_bor_pr_and_first_pd(cap):
    td, users = cap
    coord = users[Role.COORDINATOR]
    base = _save(td, coord, "2025-12-28", BASELINE, baseline=True)
    assert base["best_overall_response"] == "NE" and base["assessment"]["result"]["baseline_sum_mm"] == 80
    first = _save(td, coord, "2026-02-16", follow(30, 20))
    assert first["assessment"]["overall_response"] == "PR" and first["best_overall_response"] == "PR"
    assert first["assessment"]["result"]["change_from_baseline_pct"] == pytest.approx(-37.5)
    assert first["queries"] == []
    second = _save(td, coord, "2026-03-30", follow(40, 20))
    assert second["assessment"]["overall_response"] == "PD"
    assert second["best_overall_response"] == "PR"
    assert second["first_pd_date"] == dt.date(2026, 3, 30)
    with td.uow() as uow:
        summary = tumor.recist_summary(uow, users[Role.MONITOR], NCT, "HUN-0001")
        audit = uow.audit.query(entity_type="tumor_assessment")
    assert [a["overall_response"] for a in summary["assessments"]] == [None, "PR", "PD"]
    assert [a["result"]["sum_mm"] for a in summary["assessments"][1:]] == [50, 60]
    assert summary["assessments"][2]["result"]["change_from_nadir_mm"] == 10
    assert (summary["best_overall_response"], summary["first_pd_date"]) == ("PR", dt.date(2026, 3, 30))
    assert len(audit) == 3 and json.loads(audit[0].after_json)["first_pd_date"] == "2026-03-30"


def test_entering_out_of_order_reevaluates_the_history(cap):
    td, users = cap
    coord = users[Role.COORDINATOR]
    _save(td, coord, "2025-12-28", BASELINE, baseline=True)
    # the day-84 scan is entered first: sum 60 vs baseline 80 (-25 %) -> SD
    out = _save(td, coord, "2026-03-30", follow(40, 20))
    assert out["assessment"]["overall_response"] == "SD"
    _save(td, coord, "2026-02-16", follow(30, 20))
    with td.uow() as uow:
        summary = tumor.recist_summary(uow, coord, NCT, "HUN-0001")
    # now the nadir is 50 at day 42, so day 84 is PD (stored result updated too)
    assert [a["overall_response"] for a in summary["assessments"]] == [None, "PR", "PD"]


def test_window_check_opens_a_query(cap):
    td, users = cap
    coord = users[Role.COORDINATOR]
    _save(td, coord, "2025-12-28", BASELINE, baseline=True)
    # day 60 (2026-03-06): between the day-42 window (35..49) and the day-84 window (77..91); nearest is day 42
    out = _save(td, coord, "2026-03-06", follow(45, 30))
    assert len(out["queries"]) == 1
    with td.uow() as uow:
        [query] = list_queries(uow, users[Role.MONITOR], NCT, subject_number="HUN-0001")
    assert (query["check_id"], query["field"], query["entity_id"]) == (
        "TA-WINDOW",
        "assessment_date",
        str(out["assessment"]["id"]),
    )
    assert "nearest: 2026-02-09 to 2026-02-23, planned 2026-02-16 (day 42)" in query["message"]
    # day 49 is the window's last day: no query
    assert _save(td, coord, "2026-02-23", follow(45, 30))["queries"] == []


def test_refusals_store_nothing(cap):
    td, users = cap
    coord = users[Role.COORDINATOR]
    with pytest.raises(Conflict, match="no baseline"):
        _save(td, coord, "2026-02-16", follow(30, 20))
    six = [{"lesion_id": f"T{i}", "kind": "target", "organ": f"organ{i}", "measurement": 20} for i in range(6)]
    with pytest.raises(InvalidInput, match="target"):
        _save(td, coord, "2025-12-28", six, baseline=True)
    # a lesion without its measurement, a date that is no date: refused by the command model
    with pytest.raises(ValidationError) as info:
        _save(td, coord, "2025-12-28", [{"lesion_id": "T1", "kind": "target", "organ": "liver"}], baseline=True)
    assert problems_from_pydantic(info.value)[0].path.startswith("lesions")
    with pytest.raises(ValidationError, match="assessment_date"):
        _save(td, coord, "2025-13-01", BASELINE, baseline=True)
    _save(td, coord, "2025-12-28", BASELINE, baseline=True)
    with pytest.raises(InvalidInput, match="not after randomization"):
        _save(td, coord, "2026-01-05", follow(30, 20))
    with pytest.raises(InvalidInput, match="in the future"):
        _save(td, coord, "2026-06-02", follow(30, 20))
    with pytest.raises(Conflict, match="already has a baseline"):
        _save(td, coord, "2025-12-29", BASELINE, baseline=True)
    with pytest.raises(PermissionDenied):
        _save(td, users[Role.MONITOR], "2026-02-16", follow(30, 20))
    add_subject(td, "HUN-0002", arm=None)
    _save(td, coord, "2025-12-28", BASELINE, baseline=True, subject="HUN-0002")
    with pytest.raises(Conflict, match="not randomized"):
        _save(td, coord, "2026-02-16", follow(30, 20), subject="HUN-0002")
    with td.uow() as uow:
        summary = tumor.recist_summary(uow, coord, NCT, "HUN-0001")
    assert len(summary["assessments"]) == 1


def test_correction_with_reason_reevaluates(cap):
    td, users = cap
    coord = users[Role.COORDINATOR]
    _save(td, coord, "2025-12-28", BASELINE, baseline=True)
    out = _save(td, coord, "2026-02-16", follow(30, 20))
    with pytest.raises(InvalidInput, match="reason"), td.uow() as uow:
        tumor.update_tumor_assessment(
            uow,
            coord,
            NCT,
            "HUN-0001",
            out["assessment"]["id"],
            EditRecord(changes={"lesions": follow(40, 20)}, reason=""),
        )
    with td.uow() as uow:
        fixed = tumor.update_tumor_assessment(
            uow,
            coord,
            NCT,
            "HUN-0001",
            out["assessment"]["id"],
            EditRecord(changes={"lesions": follow(40, 20)}, reason="T1 misread: 40 mm"),
        )
        uow.commit()
    # 60 mm vs 80 mm: -25 % -> SD (day 42 >= 35, the SD minimum with its window)
    assert fixed["assessment"]["overall_response"] == "SD" and fixed["best_overall_response"] == "SD"
    assert set(fixed["changed"]) == {"lesions_json"}
