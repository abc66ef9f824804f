"""The declarative edit checks (pure): window boundaries on the protocol's assessment grid (every 42 days +/- 7 to
day 336, then every 63 days +/- 7, counted from randomization), AE date and consistency rules."""

from __future__ import annotations

import datetime as dt

import pytest

from trialdesk.domain.edit_checks import EDIT_CHECKS, Severity, checks_for, run_checks
from trialdesk.domain.schedule import ScheduleSpec

R = dt.date(2026, 1, 5)


def day(n: int) -> dt.date:
    return R + dt.timedelta(days=n)


@pytest.mark.parametrize(
    "n, ok",
    [
        (34, False),
        (35, True),
        (42, True),
        (49, True),
        (50, False),
        (60, False),
        (77, True),
        (329, True),
        (343, True),
        (344, False),
        (391, False),
        (392, True),
        (406, True),
        (407, False),
        (455, True),
    ],
)
def test_assessment_window_boundaries(n, ok):
    failures = run_checks(
        "tumor_assessment",
        {"assessment_date": day(n), "baseline": False},
        {"schedule": ScheduleSpec(), "randomization_date": R, "today": day(1000)},
    )
    assert (not any(f.check_id == "TA-WINDOW" for f in failures)) is ok


def test_window_message_names_the_nearest_window():
    [failure] = run_checks(
        "tumor_assessment",
        {"assessment_date": day(370), "baseline": False},
        {"schedule": ScheduleSpec(), "randomization_date": R, "today": day(1000)},
    )
    # day 370 is 34 days after day 336 and 29 before day 399: nearest is day 399 (2027-02-08), window 392..406
    assert failure.field == "assessment_date" and failure.severity is Severity.QUERY
    assert "nearest: 2027-02-01 to 2027-02-15, planned 2027-02-08 (day 399)" in failure.message


def test_ae_rules():
    context = {"today": dt.date(2026, 3, 1), "consent_date": dt.date(2025, 12, 20)}
    good = {
        "term": "Nausea",
        "grade": 2,
        "onset_date": dt.date(2026, 1, 20),
        "resolution_date": None,
        "serious": False,
        "seriousness": [],
        "outcome": None,
    }
    assert run_checks("adverse_event", good, context) == []
    cases = [
        ({"resolution_date": dt.date(2026, 1, 19)}, "AE-END-AFTER-START"),
        ({"resolution_date": dt.date(2026, 1, 20), "outcome": "recovered"}, None),
        ({"onset_date": dt.date(2025, 12, 19)}, "AE-ONSET-AFTER-CONSENT"),
        ({"onset_date": dt.date(2026, 3, 2)}, "AE-ONSET-NOT-FUTURE"),
        ({"serious": True}, "AE-SERIOUS-CRITERIA"),
        ({"seriousness": ["death"]}, "AE-CRITERIA-NOT-SERIOUS"),
        ({"grade": 5, "outcome": "recovering"}, "AE-FATAL-OUTCOME"),
        ({"grade": 3, "outcome": "fatal"}, "AE-FATAL-OUTCOME"),
        ({"outcome": "recovered"}, "AE-RESOLVED-NO-DATE"),
        ({"resolution_date": dt.date(2026, 2, 1), "outcome": "not_recovered"}, "AE-DATE-NOT-RESOLVED"),
    ]
    for change, expected in cases:
        ids = [f.check_id for f in run_checks("adverse_event", {**good, **change}, context)]
        assert ids == ([expected] if expected else []), (change, ids)


def test_checks_are_declared_once_with_known_entities():
    ids = [c.id for c in EDIT_CHECKS]
    assert len(ids) == len(set(ids))
    assert {c.entity for c in EDIT_CHECKS} == {"adverse_event", "tumor_assessment", "dose"}
    [weight] = [c for c in checks_for("dose") if c.id == "DOSE-WEIGHT-RANGE"]
    assert weight.field == "weight_kg"
    failures = run_checks(
        "dose", {"weight_kg": 24.9, "dose_date": day(1)}, {"weight_limits": (25, 300), "randomization_date": R}
    )
    assert [f.message for f in failures] == ["weight 24.9 kg is outside 25-300 kg"]
