"""Enrollment forecast against its closed form, and the dashboard's access rules."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy import stats

from trialdesk.stats.enrollment import forecast_completion


def test_forecast_matches_beta_prime_closed_form():
    # rate ~ Gamma(n + 1/2, rate t) and T | rate ~ Gamma(R, rate)  =>  T = t * G_R / G_(n+1/2) ~ t * BetaPrime(R, n+1/2)
    n, t, target = 100, 300.0, 642
    fc = forecast_completion(n, t, target, np.random.default_rng(1), level=0.9, draws=200_000)
    reference = stats.betaprime(target - n, n + 0.5, scale=t)
    assert fc.days_to_target_median == pytest.approx(reference.median(), rel=0.01)
    assert fc.days_to_target_low == pytest.approx(reference.ppf(0.05), rel=0.015)
    assert fc.days_to_target_high == pytest.approx(reference.ppf(0.95), rel=0.015)
    assert fc.rate_per_month == pytest.approx(100 / 300 * 30.4375)


def test_forecast_edges():
    assert forecast_completion(0, 100, 642, np.random.default_rng(0)).days_to_target_median is None
    done = forecast_completion(642, 500, 642, np.random.default_rng(0))
    assert done.days_to_target_median == 0.0
    with pytest.raises(ValueError):
        forecast_completion(-1, 10, 642, np.random.default_rng(0))


def test_forecast_is_reproducible_for_a_seed():
    a = forecast_completion(50, 200, 642, np.random.default_rng(5))
    b = forecast_completion(50, 200, 642, np.random.default_rng(5))
    assert a == b


# -- the dashboard's forecast: bounded, and "not enough data" when the recent pace can't carry one -------------
TODAY = dt.date(2026, 6, 1)
# NCT07003074.yaml: ramp-up accrual, 25 sites opening over 6 months, 1.2 subjects/site/month, 642 subjects:
# 0.5 * 30/month * 6 months = 90 in the ramp, then (642 - 90) / 30 = 18.4 months at 30/month: 24.4 months.
PLANNED_ACCRUAL_MONTHS = 6 + (642 - 90) / 30
STUDY_START = dt.date(2025, 6, 23)  # the registry record's start date


@pytest.fixture(scope="module")
def protocol():
    from trialdesk.adapters.protocol_files import load_default_protocol

    return load_default_protocol()


def _days(spec: list[tuple[dt.date, int]]) -> list[str]:
    return [day.isoformat() for day, n in spec for _ in range(n)]


def test_forecast_matches_a_poisson_rate_computed_by_hand(protocol):
    from trialdesk.services.dashboard import enrollment_forecast

    # 200 randomized long ago, then 60 over the 180-day window (one every third day): rate 1/3 per day
    history = [(dt.date(2025, 9, 1), 200)] + [(TODAY - dt.timedelta(days=3 * i), 1) for i in range(60)]
    fc = enrollment_forecast(protocol, "NCT07003074", 642, _days(history), TODAY)
    assert fc["status"] == "forecast" and fc["recent_randomized"] == 60
    assert fc["rate_per_month"] == pytest.approx(60 / 180 * 30.4375, abs=0.01)
    # remaining 382 at the Jeffreys-posterior rate Gamma(60.5, 180): days ~ 180 * BetaPrime(382, 60.5)
    ref = stats.betaprime(642 - 260, 60.5, scale=180)
    for key, q in (("completion_median", 0.5), ("completion_low", 0.05), ("completion_high", 0.95)):
        got = (dt.date.fromisoformat(fc[key]) - TODAY).days
        assert got == pytest.approx(ref.ppf(q), rel=0.02), key
    # and about 382 / (1/3) = 1146 days at the point estimate
    assert (dt.date.fromisoformat(fc["completion_median"]) - TODAY).days == pytest.approx(1146, rel=0.05)


def test_horizon_is_the_planned_accrual_times_the_factor(protocol):
    from trialdesk.services.dashboard import forecast_horizon

    expected = STUDY_START + dt.timedelta(days=round(PLANNED_ACCRUAL_MONTHS * 3 * 30.4375))
    assert forecast_horizon(protocol, None) == expected
    assert dt.date(2031, 6, 1) < expected < dt.date(2031, 9, 1)  # about 73 months after June 2025


def test_a_restart_after_a_stall_is_not_enough_data(protocol):
    from trialdesk.adapters.figures import enrollment_figure
    from trialdesk.services.dashboard import enrollment_forecast, forecast_horizon

    # the tester's case: 100 randomized in 2025, nothing for a year, then one new randomization today
    today = dt.date(2026, 11, 30)
    history = [(dt.date(2025, 8, 1) + dt.timedelta(days=i), 1) for i in range(100)] + [(today, 1)]
    fc = enrollment_forecast(protocol, "NCT07003074", 642, _days(history), today)
    assert fc["status"] == "insufficient" and fc["recent_randomized"] == 1
    assert fc["completion_median"] is fc["completion_low"] is fc["completion_high"] is None
    # the figure's x axis stays within the data and the horizon
    data = {
        "as_of": today.isoformat(),
        "target": 642,
        "totals": {"randomized": 101},
        "timeline": [
            {"month": "2025-08", "cumulative_randomized": 31},
            {"month": "2025-11", "cumulative_randomized": 100},
            {"month": "2026-11", "cumulative_randomized": 101},
        ],
        "forecast": fc,
    }
    lo, hi = enrollment_figure(data).axes[0].get_xlim()
    assert _date(lo) >= dt.date(2025, 7, 1) and _date(hi) <= today + dt.timedelta(days=31)
    assert _date(hi) <= forecast_horizon(protocol, None)


def test_a_slow_pace_is_beyond_the_horizon_not_centuries_away(protocol):
    from trialdesk.services.dashboard import enrollment_forecast

    # 12 over the window (2 a month), 500 still to go: about 250 months, far past the ~2031 horizon
    history = [(dt.date(2025, 9, 1), 130)] + [(TODAY - dt.timedelta(days=15 * i), 1) for i in range(12)]
    fc = enrollment_forecast(protocol, "NCT07003074", 642, _days(history), TODAY)
    assert fc["status"] == "beyond_horizon" and fc["completion_median"] is None
    assert fc["horizon"] == (STUDY_START + dt.timedelta(days=round(PLANNED_ACCRUAL_MONTHS * 3 * 30.4375))).isoformat()


def test_interval_end_past_the_horizon_is_reported_as_such():
    n, t, target = 100, 300.0, 642
    ref = stats.betaprime(target - n, n + 0.5, scale=t)
    horizon = (ref.median() + ref.ppf(0.95)) / 2  # between the median and the interval's end
    fc = forecast_completion(n, t, target, np.random.default_rng(1), horizon_days=horizon, draws=100_000)
    assert fc.status == "forecast" and fc.high_beyond_horizon and fc.days_to_target_high is None
    assert fc.days_to_target_median == pytest.approx(ref.median(), rel=0.01)


def test_too_few_or_too_short_is_insufficient():
    assert forecast_completion(9, 180, 642, np.random.default_rng(0)).status == "insufficient"
    assert forecast_completion(40, 20, 642, np.random.default_rng(0)).status == "insufficient"
    assert forecast_completion(10, 30, 642, np.random.default_rng(0)).status == "forecast"


def test_site_scoped_forecast_line_starts_at_the_scope_count(protocol):
    from trialdesk.adapters.figures import enrollment_figure
    from trialdesk.services.dashboard import enrollment_forecast

    history = [(dt.date(2025, 9, 1), 200)] + [(TODAY - dt.timedelta(days=3 * i), 1) for i in range(60)]
    fc = enrollment_forecast(protocol, "NCT07003074", 642, _days(history), TODAY)
    fc.pop("recent_randomized")  # what a site role's dashboard keeps (routes_dashboard._for_principal)
    data = {
        "as_of": TODAY.isoformat(),
        "target": 642,
        "totals": {"randomized": 7},
        "timeline": [
            {"month": "2025-09", "cumulative_randomized": 4},
            {"month": "2026-05", "cumulative_randomized": 7},
        ],
        "forecast": fc,
    }
    ax = enrollment_figure(data).axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "forecast (median)")
    assert next(iter(line.get_ydata())) == 7 and _date(next(iter(line.get_xdata()))) == TODAY


def _date(num: float) -> dt.date:
    from matplotlib.dates import num2date

    return num2date(num).date()
