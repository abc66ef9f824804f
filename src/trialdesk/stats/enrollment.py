"""Enrollment forecasting: when will the trial reach its target?

Randomizations are modelled as a Poisson process whose rate is uncertain. With ``n`` randomizations observed over
``t`` days, the Jeffreys posterior of the rate is Gamma(n + 1/2, t). For each posterior draw of the rate, the time
to the remaining ``R = target - n`` randomizations is Gamma(R, rate). The predictive distribution of the
completion time mixes the two (Anisimov & Fedorov 2007 take the same Poisson-gamma approach, per centre).

A forecast is only given when the recent pace can carry one, and never beyond a horizon:

- at least :data:`MIN_RANDOMIZED` randomizations over at least :data:`MIN_OBSERVED_DAYS` days (with ``n`` events the
  rate is known to about ±1/√n, so 10 of them give it to about ±30 %); otherwise the status is ``insufficient``;
- the caller's ``horizon_days`` (the dashboard: the design's planned accrual × :data:`HORIZON_FACTOR` from the
  study start). A median beyond it is ``beyond_horizon`` (no dates); an interval end beyond it is reported as
  "after the horizon" (``high_beyond_horizon``) rather than as a date centuries away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

MIN_RANDOMIZED = 10
MIN_OBSERVED_DAYS = 30
HORIZON_FACTOR = 3.0
DAYS_PER_MONTH = 30.4375

Status = Literal["complete", "forecast", "insufficient", "beyond_horizon"]


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
    status: Status = "forecast"
    horizon_days: float | None = None
    high_beyond_horizon: bool = False


def forecast_completion(
    randomized: int,
    observed_days: float,
    target: int,
    rng: np.random.Generator,
    *,
    level: float = 0.90,
    draws: int = 20_000,
    horizon_days: float | None = None,
    min_randomized: int = MIN_RANDOMIZED,
    min_observed_days: float = MIN_OBSERVED_DAYS,
) -> EnrollmentForecast:
    """Predictive median and ``level`` interval of the days still needed to reach ``target``.

    Parameters
    ----------
    randomized : subjects randomized in the observation window.
    observed_days : length of the observation window, in days.
    target : ``randomized`` plus the subjects still to randomize.
    rng : seeded generator (the forecast is reproducible for a seed).
    horizon_days : no date is forecast beyond this many days from now (None: no bound).
    """
    if randomized < 0 or target <= 0 or observed_days < 0:
        raise ValueError("randomized, target and observed_days must be non-negative (target positive)")
    if horizon_days is not None and horizon_days < 0:
        horizon_days = 0.0
    remaining = max(target - randomized, 0)
    rate = randomized / observed_days if observed_days > 0 else 0.0
    per_month = rate * DAYS_PER_MONTH

    def result(
        status: Status, med: float | None = None, lo: float | None = None, hi: float | None = None, beyond: bool = False
    ) -> EnrollmentForecast:
        return EnrollmentForecast(
            randomized, target, observed_days, per_month, med, lo, hi, level, status, horizon_days, beyond
        )

    if remaining == 0:
        return result("complete", 0.0, 0.0, 0.0)
    if randomized < min_randomized or observed_days < min_observed_days:
        return result("insufficient")
    lam = rng.gamma(shape=randomized + 0.5, scale=1.0 / observed_days, size=draws)
    days = rng.gamma(shape=remaining, scale=1.0 / lam)
    lo, med, hi = (float(q) for q in np.quantile(days, [(1 - level) / 2, 0.5, (1 + level) / 2]))
    if horizon_days is not None and med > horizon_days:
        return result("beyond_horizon")
    if horizon_days is not None and hi > horizon_days:
        return result("forecast", med, lo, None, beyond=True)
    return result("forecast", med, lo, hi)
