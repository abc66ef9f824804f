"""Visit calendar: cycles that shift with delays, a tumour-assessment grid that does not, windows and statuses.

All expected dates are hand-computed from randomization on Tuesday 2025-07-01 (day 0).
"""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.schedule import (
    ScheduleSpec,
    SubjectTimeline,
    VisitKind,
    VisitStatus,
    assessment_grid,
    build_site_calendar,
    build_subject_calendar,
)

D = dt.date
R = D(2025, 7, 1)


@pytest.fixture(scope="module")
def spec() -> ScheduleSpec:
    from trialdesk.adapters.protocol_files import load_default_protocol

    s = load_default_protocol().operations.schedule
    assert s is not None
    return s


def visits(spec, as_of, horizon=126, **kw):
    t = SubjectTimeline(subject_id="S001", site_id="site-a", randomization_date=R, **kw)
    return {v.label: v for v in build_subject_calendar(spec, t, as_of, horizon_days=horizon)}


# ---------------------------------------------------------------- treatment cycles


def test_c1d1_window_after_randomization(spec):
    v = visits(spec, R)["C1D1"]
    # within 3 days after randomization: 07-01 .. 07-04
    assert (v.window_start, v.window_end) == (D(2025, 7, 1), D(2025, 7, 4))
    assert v.status is VisitStatus.DUE
    assert visits(spec, D(2025, 7, 5))["C1D1"].status is VisitStatus.OVERDUE


def test_each_day1_is_previous_actual_plus_21(spec):
    v = visits(spec, D(2025, 9, 1), dose_dates=[D(2025, 7, 3), D(2025, 7, 24), D(2025, 8, 21)])
    # C2: 07-03 + 21 = 07-24 (±3: 07-21..07-27), done on time
    assert (v["C2D1"].planned, v["C2D1"].window_start, v["C2D1"].window_end) == (
        D(2025, 7, 24),
        D(2025, 7, 21),
        D(2025, 7, 27),
    )
    assert not v["C2D1"].out_of_window
    # C3: 07-24 + 21 = 08-14 (08-11..08-17); given 08-21, a one-week delay: done but out of window
    assert v["C3D1"].planned == D(2025, 8, 14) and v["C3D1"].actual == D(2025, 8, 21)
    assert v["C3D1"].status is VisitStatus.DONE and v["C3D1"].out_of_window
    # the delay shifts C4: 08-21 + 21 = 09-11 (09-08..09-14), and C5 = 09-11 + 21 = 10-02
    assert (v["C4D1"].planned, v["C4D1"].window_start, v["C4D1"].window_end) == (
        D(2025, 9, 11),
        D(2025, 9, 8),
        D(2025, 9, 14),
    )
    assert v["C5D1"].planned == D(2025, 10, 2)


@pytest.mark.parametrize(
    ("as_of", "status"),
    [
        (D(2025, 9, 7), "upcoming"),
        (D(2025, 9, 8), "due"),
        (D(2025, 9, 14), "due"),
        (D(2025, 9, 15), "overdue"),
        (D(2025, 11, 30), "overdue"),
    ],
)
def test_pending_cycle_status_is_never_missed(spec, as_of, status):
    v = visits(spec, as_of, dose_dates=[D(2025, 7, 3), D(2025, 7, 24), D(2025, 8, 21)])
    assert v["C4D1"].status.value == status


def test_overdue_cycle_pushes_projections_from_as_of(spec):
    # C4 due 09-11 not given by 09-20: C5 is projected at 09-20 + 21 = 10-11, C6 at 11-01
    v = visits(spec, D(2025, 9, 20), dose_dates=[D(2025, 7, 3), D(2025, 7, 24), D(2025, 8, 21)])
    assert v["C5D1"].planned == D(2025, 10, 11) and v["C6D1"].planned == D(2025, 11, 1)
    assert v["C5D1"].status is VisitStatus.UPCOMING


def test_arm_cycle_limit_stops_projection(spec):
    v = visits(spec, D(2025, 8, 1), dose_dates=[D(2025, 7, 3)], max_cycles=2)
    assert "C2D1" in v and "C3D1" not in v


# ---------------------------------------------------------------- tumour assessments: fixed grid


GRID = [
    D(2025, 8, 12),
    D(2025, 9, 23),
    D(2025, 11, 4),
    D(2025, 12, 16),
    D(2026, 1, 27),
    D(2026, 3, 10),
    D(2026, 4, 21),
    D(2026, 6, 2),  # days 42, 84, ..., 336 (week 48), every 6 weeks
    D(2026, 8, 4),
    D(2026, 10, 6),
]  # days 399, 462: every 9 weeks after week 48


def test_assessment_grid_dates(spec):
    grid = assessment_grid(spec, R, D(2026, 10, 6))
    assert [p for p, _ in grid] == GRID
    assert all(w == 7 for _, w in grid)


def test_assessment_grid_does_not_move_with_delays(spec):
    as_of = D(2026, 9, 1)
    on_time = [R + dt.timedelta(days=2 + 21 * k) for k in range(20)]
    delayed = [D(2025, 7, 3), D(2025, 7, 24), D(2025, 8, 28), D(2025, 10, 2), D(2025, 11, 6)]  # 1- and 2-week delays
    a = visits(spec, as_of, horizon=0, dose_dates=[d for d in on_time if d <= as_of])
    b = visits(spec, as_of, horizon=0, dose_dates=delayed)
    ta_a = [v.planned for k, v in sorted(a.items()) if v.kind is VisitKind.TUMOR_ASSESSMENT]
    ta_b = [v.planned for k, v in sorted(b.items()) if v.kind is VisitKind.TUMOR_ASSESSMENT]
    assert sorted(ta_a) == sorted(ta_b) == GRID[:9]
    # the cycles, by contrast, did shift
    assert a["C4D1"].planned != b["C4D1"].planned


def test_assessment_statuses_and_windows(spec):
    # TA1 planned 08-12, window 08-05..08-19; TA2 window opens 09-16
    assert visits(spec, D(2025, 8, 4))["TA1"].status is VisitStatus.UPCOMING
    assert visits(spec, D(2025, 8, 5))["TA1"].status is VisitStatus.DUE
    assert visits(spec, D(2025, 8, 19))["TA1"].status is VisitStatus.DUE
    assert visits(spec, D(2025, 8, 20))["TA1"].status is VisitStatus.OVERDUE
    assert visits(spec, D(2025, 9, 15))["TA1"].status is VisitStatus.OVERDUE
    assert visits(spec, D(2025, 9, 16))["TA1"].status is VisitStatus.MISSED


def test_assessment_matching(spec):
    v = visits(spec, D(2025, 10, 1), assessment_dates=[D(2025, 8, 22), D(2025, 9, 20)])
    # 08-22 is 3 days after TA1's window: nearer TA1 (10 days) than TA2 (32 days) -> TA1 done, out of window
    assert v["TA1"].actual == D(2025, 8, 22) and v["TA1"].out_of_window
    assert v["TA2"].actual == D(2025, 9, 20) and not v["TA2"].out_of_window
    # an extra scan inside an already filled window is unscheduled
    v = visits(spec, D(2025, 10, 1), assessment_dates=[D(2025, 8, 10), D(2025, 8, 14)])
    assert v["TA1"].actual == D(2025, 8, 10)
    assert v["TA-unscheduled"].actual == D(2025, 8, 14)


def test_assessments_stop_at_progression(spec):
    v = visits(spec, D(2025, 12, 1), assessment_dates=[D(2025, 8, 12), D(2025, 9, 23)], progression_date=D(2025, 9, 23))
    assert "TA2" in v and "TA3" not in v


# ---------------------------------------------------------------- end of treatment and follow-up


def test_end_of_treatment_window_and_followup(spec):
    doses = [D(2025, 7, 3), D(2025, 7, 24), D(2025, 8, 14), D(2025, 9, 11)]
    v = visits(spec, D(2025, 10, 12), dose_dates=doses, treatment_end_date=D(2025, 10, 1))
    # EOT: from the stop date 10-01 to last dose 09-11 + 30 = 10-11
    eot = v["EOT"]
    assert (eot.window_start, eot.window_end, eot.status) == (D(2025, 10, 1), D(2025, 10, 11), VisitStatus.OVERDUE)
    assert not any(k.startswith("C5") for k in v)  # no further cycles once treatment stopped
    # FU1 anchored on the EOT window end when EOT is not done: 10-11 + 84 = 2026-01-03 (±7)
    assert v["FU1"].planned == D(2026, 1, 3) and v["FU1"].window_start == D(2025, 12, 27)
    # once FU1's window opens, the EOT visit not done is missed
    v = visits(spec, D(2025, 12, 27), dose_dates=doses, treatment_end_date=D(2025, 10, 1))
    assert v["EOT"].status is VisitStatus.MISSED
    # EOT done on 10-05: FU1 = 10-05 + 84 = 12-28, FU2 = 2026-03-22
    v = visits(
        spec,
        D(2026, 1, 1),
        dose_dates=doses,
        treatment_end_date=D(2025, 10, 1),
        eot_date=D(2025, 10, 5),
        followup_dates=[D(2025, 12, 29)],
        horizon=126,
    )
    assert v["EOT"].status is VisitStatus.DONE and not v["EOT"].out_of_window
    assert v["FU1"].planned == D(2025, 12, 28) and v["FU1"].actual == D(2025, 12, 29)
    assert v["FU2"].planned == D(2026, 3, 22) and v["FU2"].status is VisitStatus.UPCOMING


def test_site_calendar_contains_only_its_subjects(spec):
    ts = [
        SubjectTimeline(subject_id=s, site_id=site, randomization_date=R)
        for s, site in (("S1", "a"), ("S2", "a"), ("S3", "b"))
    ]
    cal = build_site_calendar(spec, ts, "a", D(2025, 7, 2))
    assert {v.subject_id for v in cal} == {"S1", "S2"}
    assert [v.planned for v in cal] == sorted(v.planned for v in cal)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"dose_dates": [D(2025, 6, 30)]}, "dose_dates[0] 2025-06-30 is before randomization"),
        ({"dose_dates": [D(2025, 7, 3), D(2025, 7, 3)]}, "strictly increasing"),
        ({"assessment_dates": [D(2025, 6, 1)]}, "assessment_dates[0]"),
        ({"dose_dates": [D(2025, 7, 3), D(2025, 7, 24)], "treatment_end_date": D(2025, 7, 10)}, "before the last dose"),
        ({"eot_date": D(2025, 8, 1)}, "treatment_end_date is not"),
    ],
)
def test_timeline_rejects_impossible_dates(kw, needle):
    with pytest.raises(ValidationError) as exc:
        SubjectTimeline(subject_id="S1", randomization_date=R, **kw)
    assert needle in str(exc.value)


def test_as_of_before_randomization(spec):
    with pytest.raises(InvalidInput, match="as_of"):
        build_subject_calendar(spec, SubjectTimeline(subject_id="S1", randomization_date=R), D(2025, 6, 1))


def test_spec_validation():
    with pytest.raises(ValidationError, match="open-ended"):
        ScheduleSpec(assessment_phases=[{"every_days": 42, "window_days": 7, "until_day": 336}])
    with pytest.raises(ValidationError, match="overlap"):
        ScheduleSpec(cycle_window_days=11)
    with pytest.raises(ValidationError, match="extra"):
        ScheduleSpec.model_validate({"cycle_lenght_days": 21})
