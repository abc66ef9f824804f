"""Enrollment forecasting: when will the trial reach its target?

Randomizations are modelled as a Poisson process whose rate is uncertain. With ``n`` randomizations observed over
``t`` days, the Jeffreys posterior of the rate is Gamma(n + 1/2, t). For each posterior draw of the rate, the time
to the remaining ``R = target - n`` randomizations is Gamma(R, rate). The predictive distribution of the
completion time mixes the two (Anisimov & Fedorov 2007 take the same Poisson-gamma approach, per centre).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnrollmentForecast:
    randomized: int
    target: int
    observed_days: float
    rate_per_month: float
    days_to_target_median: float | None
    days_to_target_low: float | None
    days_to_target_high: float | None
    level: float


def forecast_completion(
    randomized: int,
    observed_days: float,
    target: int,
    rng: np.random.Generator,
    *,
    level: float = 0.90,
    draws: int = 20_000,
) -> EnrollmentForecast:
    """Predictive median and ``level`` interval of the days still needed to reach ``target``.

    Parameters
    ----------
    randomized : subjects randomized so far.
    observed_days : days from the first site's activation (or first randomization) to today.
    target : planned enrollment.
    rng : seeded generator (the forecast is reproducible for a seed).
    """
    if randomized < 0 or target <= 0 or observed_days < 0:
        raise ValueError("randomized, target and observed_days must be non-negative (target positive)")
    remaining = max(target - randomized, 0)
    rate = randomized / observed_days if observed_days > 0 else 0.0
    if remaining == 0:
        return EnrollmentForecast(randomized, target, observed_days, rate * 30.4375, 0.0, 0.0, 0.0, level)
    if randomized == 0 or observed_days <= 0:
        return EnrollmentForecast(randomized, target, observed_days, 0.0, None, None, None, level)
    lam = rng.gamma(shape=randomized + 0.5, scale=1.0 / observed_days, size=draws)
    days = rng.gamma(shape=remaining, scale=1.0 / lam)
    lo, med, hi = np.quantile(days, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return EnrollmentForecast(
        randomized, target, observed_days, rate * 30.4375, float(med), float(lo), float(hi), level
    )
