"""Enrollment forecast against its closed form, and the dashboard's access rules."""

from __future__ import annotations

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
