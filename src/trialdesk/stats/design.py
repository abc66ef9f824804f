"""Closed-form design calculations for a time-to-event trial.

- Schoenfeld (1981) events and power for the log-rank test: ``D = (z_{1-a} + z_{1-b})^2 (1+r)^2 / (r log(HR)^2)``
  with ``r`` the experimental : control allocation ratio.
- Group-sequential events and power: the drift that gives the target power under the design's Lan-DeMets
  boundaries (see :mod:`trialdesk.stats.group_sequential`), turned into events by the same Schoenfeld relation
  (as ``rpact::getSampleSizeSurvival`` / ``getPowerSurvival`` do).
- Expected calendar time of the k-th event: root of ``D(t) = k`` where ``D(t)`` is the expected number of PFS events
  observed by month ``t`` under the accrual, the arm-level PFS distributions, exponential dropout and the
  stratification factors' prognostic multipliers.

The same functions give the accrual and survival primitives used by the simulation (inverse CDFs), so that one rule
has one home.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict
from scipy import integrate, optimize, stats

from trialdesk.domain.design import (
    DesignSpec,
    ExponentialSurvival,
    PiecewiseAccrual,
    PiecewiseExponentialSurvival,
    RampUpAccrual,
    UniformAccrual,
    WeibullSurvival,
)
from trialdesk.stats.group_sequential import boundary_probabilities, drift_for_power, efficacy_bounds

LN2 = math.log(2.0)

AccrualSpec = UniformAccrual | PiecewiseAccrual | RampUpAccrual
SurvivalSpec = ExponentialSurvival | PiecewiseExponentialSurvival | WeibullSurvival


class DesignError(ValueError):
    """A design question that has no answer (e.g. more events than the trial can ever observe)."""


# ============================================================================================== accrual
def _accrual_knots(accrual: AccrualSpec, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knots ``(times, cumulative subjects, intensity at each knot's right)`` of a piecewise-linear intensity."""
    if isinstance(accrual, UniformAccrual):
        return np.array([0.0, accrual.duration]), np.array([0.0, float(n)]), np.array([n / accrual.duration, 0.0])
    if isinstance(accrual, PiecewiseAccrual):
        starts = np.asarray(accrual.starts, dtype=float)
        rates = np.asarray(accrual.rates, dtype=float)
        cum = np.concatenate(([0.0], np.cumsum(rates[:-1] * np.diff(starts))))
        inside = cum < n
        starts, rates, cum = starts[inside], rates[inside], cum[inside]
        # the last piece in use runs until n subjects
        end = starts[-1] + (n - cum[-1]) / rates[-1]
        return np.append(starts, end), np.append(cum, float(n)), np.append(rates, 0.0)
    if isinstance(accrual, RampUpAccrual):
        full = accrual.sites * accrual.rate_per_site
        ramp_n = 0.5 * full * accrual.activation_months
        if n <= ramp_n:
            end = math.sqrt(2.0 * n * accrual.activation_months / full)
            return np.array([0.0, end]), np.array([0.0, float(n)]), np.array([0.0, 0.0])
        end = accrual.activation_months + (n - ramp_n) / full
        return (
            np.array([0.0, accrual.activation_months, end]),
            np.array([0.0, ramp_n, float(n)]),
            np.array([0.0, full, 0.0]),
        )
    raise TypeError(f"unknown accrual {accrual!r}")


def accrual_duration(accrual: AccrualSpec, n: int) -> float:
    """Months from the first to the n-th randomization at the planned accrual intensity."""
    return float(_accrual_knots(accrual, n)[0][-1])


def accrual_cdf(accrual: AccrualSpec, n: int, t: np.ndarray | float) -> np.ndarray:
    """Fraction of the ``n`` subjects randomized by month ``t``."""
    t = np.asarray(t, dtype=float)
    if isinstance(accrual, RampUpAccrual):
        times, cum, _ = _accrual_knots(accrual, n)
        full = accrual.sites * accrual.rate_per_site
        tc = np.clip(t, 0.0, times[-1])
        ramp = 0.5 * full * np.minimum(tc, accrual.activation_months) ** 2 / accrual.activation_months
        flat = full * np.maximum(tc - accrual.activation_months, 0.0)
        fraction: npt.NDArray[np.float64] = np.minimum((ramp + flat) / n, 1.0)
        return fraction
    times, cum, _ = _accrual_knots(accrual, n)
    fraction = np.interp(t, times, cum) / n
    return fraction


def accrual_quantile(accrual: AccrualSpec, n: int, u: np.ndarray) -> np.ndarray:
    """Inverse of :func:`accrual_cdf`: the randomization month of a subject at accrual quantile ``u`` in [0, 1]."""
    u = np.asarray(u, dtype=float)
    if isinstance(accrual, UniformAccrual):
        return u * accrual.duration
    times, cum, _ = _accrual_knots(accrual, n)
    if isinstance(accrual, RampUpAccrual):
        full = accrual.sites * accrual.rate_per_site
        k = u * n
        if times.size == 2:  # never leaves the ramp
            return np.sqrt(2.0 * k * accrual.activation_months / full)
        ramp_n = cum[1]
        in_ramp = np.sqrt(2.0 * np.minimum(k, ramp_n) * accrual.activation_months / full)
        after_ramp = accrual.activation_months + (k - ramp_n) / full
        months: npt.NDArray[np.float64] = np.where(k <= ramp_n, in_ramp, after_ramp)
        return months
    months = np.interp(u * n, cum, times)
    return months


def accrual_density(accrual: AccrualSpec, n: int, a: float) -> float:
    """Density (per month) of one subject's randomization month at ``a``; integrates to 1 over accrual."""
    times, _cum, rates = _accrual_knots(accrual, n)
    if a < 0 or a > times[-1]:
        return 0.0
    if isinstance(accrual, RampUpAccrual):
        full = accrual.sites * accrual.rate_per_site
        return full * min(a / accrual.activation_months, 1.0) / n
    i = min(int(np.searchsorted(times, a, side="right")) - 1, times.size - 2)
    return float(rates[i]) / n


def accrual_density_knots(accrual: AccrualSpec, n: int) -> np.ndarray:
    """Months at which the accrual density changes slope (for quadrature break points)."""
    return _accrual_knots(accrual, n)[0]


# ============================================================================================= survival
def _pwe(spec: SurvivalSpec) -> tuple[np.ndarray, np.ndarray] | None:
    if isinstance(spec, ExponentialSurvival):
        return np.array([0.0]), np.array([LN2 / spec.median])
    if isinstance(spec, PiecewiseExponentialSurvival):
        return np.asarray(spec.starts, dtype=float), np.asarray(spec.hazards, dtype=float)
    return None


def cumulative_hazard(spec: SurvivalSpec, t: np.ndarray | float) -> np.ndarray:
    """Cumulative PFS hazard ``H(t)`` of a distribution at study month ``t``."""
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    pwe = _pwe(spec)
    if pwe is not None:
        starts, hz = pwe
        widths = np.diff(starts)
        cum = np.concatenate(([0.0], np.cumsum(hz[:-1] * widths)))
        i = np.searchsorted(starts, t, side="right") - 1
        return cum[i] + hz[i] * (t - starts[i])
    if isinstance(spec, WeibullSurvival):
        return LN2 * (t / spec.median) ** spec.shape
    raise TypeError(f"unknown survival {spec!r}")


def inverse_cumulative_hazard(spec: SurvivalSpec, x: np.ndarray) -> np.ndarray:
    """``H^{-1}(x)``: with ``x ~ Exp(1)`` this draws a PFS time."""
    x = np.asarray(x, dtype=float)
    if isinstance(spec, ExponentialSurvival):
        return x * (spec.median / LN2)
    pwe = _pwe(spec)
    if pwe is not None:
        starts, hz = pwe
        cum = np.concatenate(([0.0], np.cumsum(hz[:-1] * np.diff(starts))))
        i = np.searchsorted(cum, x, side="right") - 1
        # zero-hazard pieces have equal consecutive cum values; searchsorted(right) skips them
        times: npt.NDArray[np.float64] = starts[i] + (x - cum[i]) / hz[i]
        return times
    if isinstance(spec, WeibullSurvival):
        return spec.median * (x / LN2) ** (1.0 / spec.shape)
    raise TypeError(f"unknown survival {spec!r}")


def median_survival(spec: SurvivalSpec, multiplier: float = 1.0) -> float:
    """Median PFS (months) of ``spec`` with its hazard multiplied by ``multiplier``."""
    return float(inverse_cumulative_hazard(spec, np.array(LN2 / multiplier)))


def event_probability(
    spec: SurvivalSpec, u: np.ndarray | float, dropout_hazard: float = 0.0, multiplier: float = 1.0
) -> np.ndarray:
    """P(PFS event observed within ``u`` months of randomization, before dropout).

    ``integral_0^u m h(s) exp(-m H(s) - delta s) ds`` with hazard multiplier ``m`` and dropout hazard ``delta``;
    in closed form for (piecewise) exponential PFS, by adaptive quadrature for Weibull.
    """
    u = np.maximum(np.asarray(u, dtype=float), 0.0)
    d = dropout_hazard
    pwe = _pwe(spec)
    if pwe is not None:
        starts, hz = pwe
        mh = multiplier * hz
        ends = np.append(starts[1:], np.inf)
        cum = np.concatenate(([0.0], np.cumsum(mh[:-1] * np.diff(starts))))
        out = np.zeros_like(u)
        for s0, s1, rate, c in zip(starts, ends, mh, cum):
            if rate == 0.0:
                continue
            width = np.clip(u - s0, 0.0, s1 - s0)
            total = rate + d
            out = out + rate / total * math.exp(-c - d * s0) * -np.expm1(-total * width)
        return out
    if isinstance(spec, WeibullSurvival):

        def cdf(s: float) -> float:
            return -math.expm1(-multiplier * LN2 * (s / spec.median) ** spec.shape)

        def one(x: float) -> float:
            if x <= 0:
                return 0.0
            if d == 0.0:
                return cdf(x)
            tail = integrate.quad(lambda s: cdf(s) * math.exp(-d * s), 0.0, x, epsabs=1e-13, epsrel=1e-11, limit=200)
            p: float = cdf(x) * math.exp(-d * x) + d * tail[0]
            return p

        probabilities: npt.NDArray[np.float64] = np.vectorize(one, otypes=[float])(u)
        return probabilities
    raise TypeError(f"unknown survival {spec!r}")


def experimental_survival(design: DesignSpec) -> tuple[SurvivalSpec, float]:
    """(distribution, hazard multiplier) of the experimental Arm: control x HR, or its own distribution."""
    if design.experimental is not None:
        return design.experimental, 1.0
    hr = design.hazard_ratio
    if hr is None:  # pragma: no cover - the spec's validator requires one of the two
        raise TypeError("the design gives neither an experimental distribution nor a hazard ratio")
    return design.control, float(hr)


def stratum_mixture(design: DesignSpec) -> list[tuple[float, float]]:
    """(probability, hazard multiplier) of each combination of stratification-factor levels, merged by multiplier."""
    mixture: dict[float, float] = {}
    factors = design.strata
    for levels in itertools.product((0, 1), repeat=len(factors)):
        p, m = 1.0, 1.0
        for f, lev in zip(factors, levels):
            p *= f.prevalence if lev else 1.0 - f.prevalence
            m *= f.hazard_ratio if lev else 1.0
        mixture[m] = mixture.get(m, 0.0) + p
    return [(p, m) for m, p in mixture.items()]


# ==================================================================================== Schoenfeld (fixed)
def _check_alpha_power(alpha: float, power: float | None, sided: int) -> None:
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2, got {sided}")
    if not 0 < alpha < (1.0 if sided == 2 else 0.5):
        raise ValueError(f"alpha must lie in (0, {1.0 if sided == 2 else 0.5}), got {alpha}")
    if power is not None and not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power}")


def _check_hr(hazard_ratio: float) -> None:
    if not hazard_ratio > 0 or hazard_ratio == 1.0:
        raise ValueError(f"hazard_ratio must be positive and differ from 1, got {hazard_ratio}")


def schoenfeld_events(
    hazard_ratio: float, alpha: float = 0.025, power: float = 0.9, allocation_ratio: float = 1.0, sided: int = 1
) -> float:
    """Events a fixed-design log-rank test needs (Schoenfeld 1981); not rounded.

    ``D = (z_{1-alpha/sided} + z_{power})^2 (1 + r)^2 / (r log(HR)^2)``. Equals
    ``rpact::getSampleSizeSurvival(...)$maxNumberOfEvents`` for a fixed design.
    """
    _check_hr(hazard_ratio)
    _check_alpha_power(alpha, power, sided)
    if not allocation_ratio > 0:
        raise ValueError(f"allocation_ratio must be > 0, got {allocation_ratio}")
    z = stats.norm.isf(alpha / sided) + stats.norm.ppf(power)
    r = allocation_ratio
    return float(z**2 * (1 + r) ** 2 / (r * math.log(hazard_ratio) ** 2))


def schoenfeld_power(
    events: float, hazard_ratio: float, alpha: float = 0.025, allocation_ratio: float = 1.0, sided: int = 1
) -> float:
    """Power of a fixed-design log-rank test with ``events`` events (Schoenfeld approximation).

    Two-sided power counts both rejection regions, as ``rpact::getPowerSurvival(sided = 2)`` does.
    """
    _check_hr(hazard_ratio)
    _check_alpha_power(alpha, None, sided)
    if not events > 0:
        raise ValueError(f"events must be > 0, got {events}")
    r = allocation_ratio
    drift = math.sqrt(events * r) / (1 + r) * abs(math.log(hazard_ratio))
    z = stats.norm.isf(alpha / sided)
    power = stats.norm.sf(z - drift)
    if sided == 2:
        power += stats.norm.cdf(-z - drift)
    return float(power)


# ============================================================================== group sequential design
def design_bounds(design: DesignSpec) -> tuple[np.ndarray, np.ndarray]:
    """(efficacy, futility) Z bounds at each look of the design; futility is ``-inf`` where absent."""
    t = design.information_fractions
    eff = efficacy_bounds(t, design.alpha, design.spending, design.futility_z, binding=False)
    fut = np.full(len(t), -np.inf)
    if design.futility_z is not None:
        fut[:-1] = design.futility_z
    return eff, fut


def _events_per_drift2(hazard_ratio: float, allocation_ratio: float) -> float:
    r = allocation_ratio
    return (1 + r) ** 2 / (r * math.log(hazard_ratio) ** 2)


def required_events(design: DesignSpec, power: float | None = None, hazard_ratio: float | None = None) -> float:
    """Events the group-sequential design needs for ``power`` (default ``design.power``); not rounded.

    Equals ``rpact::getSampleSizeSurvival(getDesignGroupSequential(...), ...)$maxNumberOfEvents``.
    """
    hr = hazard_ratio if hazard_ratio is not None else _planning_hr(design)
    _check_hr(hr)
    eff, fut = design_bounds(design)
    theta = drift_for_power(design.information_fractions, eff, power or design.power, fut)
    return theta**2 * _events_per_drift2(hr, design.allocation_ratio)


def _planning_hr(design: DesignSpec) -> float:
    hr = design.planning_hazard_ratio
    if hr is None:
        raise DesignError("hazards are not proportional; closed-form events and power need a hazard_ratio")
    return hr


def group_sequential_power(
    design: DesignSpec, events: float | None = None, hazard_ratio: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(P(reject at look k), P(stop for futility at look k)) with ``events`` at the final look.

    Equals ``rpact::getPowerSurvival(design, maxNumberOfEvents = events, ...)$rejectPerStage`` and
    ``$futilityPerStage``.
    """
    hr = hazard_ratio if hazard_ratio is not None else _planning_hr(design)
    d = float(events if events is not None else design.target_events)
    if not d > 0:
        raise ValueError(f"events must be > 0, got {d}")
    eff, fut = design_bounds(design)
    theta = -math.log(hr) * math.sqrt(d * design.allocation_ratio) / (1 + design.allocation_ratio)
    return boundary_probabilities(design.information_fractions, eff, fut, theta)


# ================================================================================= calendar time of events
def _arms(design: DesignSpec) -> list[tuple[int, SurvivalSpec, float]]:
    n_exp, n_ctl = design.arm_sizes
    exp_spec, exp_mult = experimental_survival(design)
    return [(n_exp, exp_spec, exp_mult), (n_ctl, design.control, 1.0)]


def expected_events(design: DesignSpec, t: float) -> float:
    """Expected PFS events observed by calendar month ``t`` (both arms, all strata).

    ``sum_arm n_arm sum_stratum p_s integral_0^min(t, tau) g(a) F_arm,s(t - a) da`` with ``g`` the accrual density
    and ``F`` from :func:`event_probability`.
    """
    if t <= 0:
        return 0.0
    n = design.sample_size
    knots = accrual_density_knots(design.accrual, n)
    end = min(t, float(knots[-1]))
    points = [float(k) for k in knots if 0 < k < end] or None
    delta = design.dropout.hazard
    total = 0.0
    for n_arm, spec, mult in _arms(design):
        for p, m in stratum_mixture(design):

            def integrand(a: float, spec: SurvivalSpec = spec, mm: float = mult * m) -> float:
                return float(accrual_density(design.accrual, n, a) * event_probability(spec, t - a, delta, mm))

            value = integrate.quad(integrand, 0.0, end, points=points, epsabs=1e-12, epsrel=1e-10, limit=200)[0]
            total += n_arm * p * value
    return total


def max_expected_events(design: DesignSpec) -> float:
    """Expected events if every subject were followed forever (dropout limits it below the sample size)."""
    delta = design.dropout.hazard
    total = 0.0
    for n_arm, spec, mult in _arms(design):
        for p, m in stratum_mixture(design):
            total += n_arm * p * float(event_probability(spec, 1e6, delta, mult * m))
    return total


def expected_event_time(design: DesignSpec, events: float) -> float:
    """Expected calendar month at which the ``events``-th PFS event is observed: the root of ``D(t) = events``.

    Equals ``rpact::getPowerSurvival(...)$analysisTime`` (uniform or piecewise accrual, exponential PFS and dropout).
    """
    if not events > 0:
        raise ValueError(f"events must be > 0, got {events}")
    cap = max_expected_events(design)
    if events >= cap:
        raise DesignError(
            f"events={events} cannot be reached: with this dropout the trial expects at most {cap:.1f} events"
        )
    hi = max(accrual_duration(design.accrual, design.sample_size), 1.0)
    while expected_events(design, hi) < events:
        hi *= 2.0
        if hi > 1e5:
            raise DesignError(f"events={events} are not reached within {hi:.0f} months")
    return float(optimize.brentq(lambda x: expected_events(design, x) - events, 0.0, hi, xtol=1e-10))


# ================================================================================================ report
class LookReport(BaseModel):
    """Closed-form operating characteristics of one look."""

    model_config = ConfigDict(frozen=True)

    information_fraction: float
    events: float
    expected_time_months: float | None
    efficacy_z: float
    futility_z: float | None
    efficacy_hr: float = 0.0
    reject_probability: float
    futility_probability: float


class ClosedFormReport(BaseModel):
    """Events, power and timing of a design by closed form."""

    model_config = ConfigDict(frozen=True)

    hazard_ratio: float
    alpha: float
    target_power: float
    fixed_design_events: float
    required_events: float
    planned_events: int
    power: float
    fixed_design_power: float
    accrual_months: float
    looks: list[LookReport]


def closed_form_report(
    design: DesignSpec, events: float | None = None, hazard_ratio: float | None = None
) -> ClosedFormReport:
    """Everything the closed form says about ``design`` (final analysis at ``events``, default target_events)."""
    hr = hazard_ratio if hazard_ratio is not None else _planning_hr(design)
    d = float(events if events is not None else design.target_events)
    eff, fut = design_bounds(design)
    rej, futp = group_sequential_power(design, d, hr)
    r = design.allocation_ratio
    looks = []
    timed = design if hazard_ratio is None else design.with_hazard_ratio(hr)
    for k, t in enumerate(design.information_fractions):
        dk = t * d
        try:
            when = expected_event_time(timed, dk)
        except DesignError:
            when = None
        looks.append(
            LookReport(
                information_fraction=t,
                events=dk,
                expected_time_months=when,
                efficacy_z=float(eff[k]),
                futility_z=None if not np.isfinite(fut[k]) else float(fut[k]),
                efficacy_hr=float(math.exp(-eff[k] * (1 + r) / math.sqrt(r * dk))),
                reject_probability=float(rej[k]),
                futility_probability=float(futp[k]),
            )
        )
    return ClosedFormReport(
        hazard_ratio=hr,
        alpha=design.alpha,
        target_power=design.power,
        fixed_design_events=schoenfeld_events(hr, design.alpha, design.power, r),
        required_events=required_events(design, hazard_ratio=hr),
        planned_events=design.target_events,
        power=float(rej.sum()),
        fixed_design_power=schoenfeld_power(d, hr, design.alpha, r),
        accrual_months=accrual_duration(design.accrual, design.sample_size),
        looks=looks,
    )
