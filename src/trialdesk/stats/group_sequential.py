"""Group-sequential boundaries by Lan-DeMets alpha spending and recursive numerical integration.

The canonical joint distribution (Jennison & Turnbull, *Group Sequential Methods*, 2000, ch. 3 and 19) is used:
``Z_k`` at information fraction ``t_k`` is normal with mean ``theta * sqrt(t_k)`` and
``cov(Z_j, Z_k) = sqrt(t_j / t_k)``, where ``theta`` is the drift at full information. Crossing probabilities are
computed by the recursive Simpson-rule integration of Jennison & Turnbull ch. 19 (the grid of gsDesign / rpact),
so boundaries agree with ``rpact::getDesignGroupSequential`` to about 1e-6.

One-sided tests reject for large ``Z``. Futility bounds (stop if ``Z_k < a_k``) are **non-binding** by default:
efficacy bounds are then computed as if no futility stop existed, while power accounts for the futility stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

Spending = Literal["obrien_fleming", "pocock"]

_INF = 40.0  # |z| beyond which a bound is treated as infinite


def alpha_spent(t: np.ndarray | float, alpha: float, spending: Spending) -> np.ndarray:
    """Cumulative one-sided alpha spent at information fraction ``t`` (Lan & DeMets 1983).

    O'Brien-Fleming type: ``2 - 2 Phi(z_{1-alpha/2} / sqrt(t))``; Pocock type: ``alpha log(1 + (e - 1) t)``.
    """
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if spending == "obrien_fleming":
        with np.errstate(divide="ignore"):
            return np.where(t > 0, 2.0 * stats.norm.sf(stats.norm.isf(alpha / 2.0) / np.sqrt(t)), 0.0)
    if spending == "pocock":
        return alpha * np.log1p((np.e - 1.0) * t)
    raise ValueError(f"spending must be 'obrien_fleming' or 'pocock', got {spending!r}")


def _grid(r: int, mu: float, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Jennison-Turnbull grid on [a, b] centred at ``mu`` with Simpson weights (odd points + midpoints)."""
    i = np.arange(1, 6 * r)
    x = np.where(
        i < r,
        mu - 3.0 - 4.0 * np.log(r / np.maximum(i, 1)),
        np.where(
            i <= 5 * r, mu - 3.0 + 3.0 * (i - r) / (2.0 * r), mu + 3.0 + 4.0 * np.log(r / np.maximum(6 * r - i, 1))
        ),
    )
    x = x[(x > a) & (x < b)]
    x = np.concatenate(([max(a, mu - 3.0 - 4.0 * np.log(r))], x, [min(b, mu + 3.0 + 4.0 * np.log(r))]))
    x = np.unique(np.clip(x, a, b))
    m = x.size
    if m == 1:
        return x, np.ones(1)
    z = np.empty(2 * m - 1)
    z[0::2] = x
    z[1::2] = 0.5 * (x[1:] + x[:-1])
    w = np.empty_like(z)
    w[1::2] = 4.0 * (z[2::2] - z[:-2:2])
    w[2:-1:2] = z[4::2] - z[:-4:2]
    w[0] = z[2] - z[0]
    w[-1] = z[-1] - z[-3]
    return z, w / 6.0


@dataclass(frozen=True)
class _Stage:
    z: np.ndarray
    h: np.ndarray  # sub-density of continuing paths at z (already multiplied by the Simpson weights)


def _first(theta: float, t1: float, a: float, b: float, r: int) -> _Stage:
    mu = theta * np.sqrt(t1)
    z, w = _grid(r, mu, a, b)
    return _Stage(z, w * stats.norm.pdf(z - mu))


def _next(stage: _Stage, theta: float, t_prev: float, t: float, a: float, b: float, r: int) -> _Stage:
    dt = t - t_prev
    mu = theta * np.sqrt(t)
    z, w = _grid(r, mu, a, b)
    # Z_k sqrt(t_k) = Z_{k-1} sqrt(t_{k-1}) + N(theta dt, dt)
    arg = (z[:, None] * np.sqrt(t) - stage.z[None, :] * np.sqrt(t_prev) - theta * dt) / np.sqrt(dt)
    h = w * np.sqrt(t / dt) * (stats.norm.pdf(arg) @ stage.h)
    return _Stage(z, h)


def _cross(stage: _Stage | None, theta: float, t_prev: float, t: float, bound: float, upper: bool) -> float:
    """P(continue to look k-1 and then Z_k above (upper) / below (lower) ``bound``)."""
    mu = theta * np.sqrt(t)
    if stage is None:
        return float(stats.norm.sf(bound - mu) if upper else stats.norm.cdf(bound - mu))
    dt = t - t_prev
    arg = (bound * np.sqrt(t) - stage.z * np.sqrt(t_prev) - theta * dt) / np.sqrt(dt)
    p = stats.norm.sf(arg) if upper else stats.norm.cdf(arg)
    return float(p @ stage.h)


def _futility_array(futility: np.ndarray | list[float] | None, k: int) -> np.ndarray:
    """Futility bounds padded to one per look (``-inf`` at the final look when only interims are given)."""
    if futility is None:
        return np.full(k, -_INF)
    a = np.asarray(futility, dtype=float)
    if a.size == k - 1:
        a = np.append(a, -np.inf)
    if a.size != k:
        raise ValueError(f"futility needs one bound per interim look ({k - 1}) or per look ({k}), got {a.size}")
    bounds: npt.NDArray[np.float64] = np.maximum(a, -_INF)
    return bounds


def _validate_fractions(fractions: np.ndarray) -> np.ndarray:
    t = np.asarray(fractions, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError("information_fractions must be a non-empty 1-D sequence")
    if np.any(t <= 0) or np.any(t > 1) or np.any(np.diff(t) <= 0):
        raise ValueError(f"information_fractions must increase strictly within (0, 1], got {t.tolist()}")
    return t


def boundary_probabilities(
    information_fractions: np.ndarray | list[float],
    efficacy: np.ndarray | list[float],
    futility: np.ndarray | list[float] | None = None,
    theta: float = 0.0,
    r: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of stopping at each look: (crossing the efficacy bound, crossing the futility bound).

    Parameters
    ----------
    information_fractions : increasing fractions ``t_k`` in (0, 1].
    efficacy : upper bounds ``b_k`` on the Z scale (use ``inf`` for none).
    futility : lower bounds ``a_k`` (stop if ``Z_k < a_k``), ``-inf`` or None for none. The final look's futility
        bound is ignored.
    theta : drift, the mean of Z at full information.
    r : grid density (Jennison & Turnbull recommend 16; 32 gives ~1e-7 accuracy).
    """
    t = _validate_fractions(np.asarray(information_fractions))
    k = t.size
    b = np.minimum(np.asarray(efficacy, dtype=float), _INF)
    a = _futility_array(futility, k)
    if b.size != k:
        raise ValueError(f"efficacy needs one bound per look ({k}), got {b.size}")
    up, lo = np.zeros(k), np.zeros(k)
    stage: _Stage | None = None
    t_prev = 0.0
    for j in range(k):
        up[j] = _cross(stage, theta, t_prev, t[j], b[j], upper=True)
        if j < k - 1:
            lo[j] = _cross(stage, theta, t_prev, t[j], a[j], upper=False)
            stage = (
                _first(theta, t[j], a[j], b[j], r)
                if stage is None
                else _next(stage, theta, t_prev, t[j], a[j], b[j], r)
            )
            t_prev = t[j]
    return up, lo


def efficacy_bounds(
    information_fractions: np.ndarray | list[float],
    alpha: float,
    spending: Spending = "obrien_fleming",
    futility: np.ndarray | list[float] | None = None,
    binding: bool = False,
    r: int = 32,
) -> np.ndarray:
    """One-sided efficacy bounds (Z scale) from Lan-DeMets alpha spending.

    Equals ``rpact::getDesignGroupSequential(typeOfDesign = "asOF" | "asP", informationRates, alpha)
    $criticalValues``. With ``binding=False`` futility bounds do not change the efficacy bounds.
    """
    t = _validate_fractions(np.asarray(information_fractions))
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    spent = np.diff(np.concatenate(([0.0], alpha_spent(t, alpha, spending))))
    spent[-1] = alpha - alpha_spent(t[:-1], alpha, spending)[-1] if t.size > 1 else alpha
    k = t.size
    a = _futility_array(futility if binding else None, k)
    b = np.empty(k)
    stage: _Stage | None = None
    t_prev = 0.0
    for j in range(k):
        target = spent[j]
        if target <= 0:
            b[j] = np.inf
        else:
            b[j] = optimize.brentq(
                lambda x, stage=stage, t_prev=t_prev, t_j=t[j], target=target: (
                    _cross(stage, 0.0, t_prev, t_j, x, upper=True) - target
                ),
                -10.0,
                20.0,
                xtol=1e-12,
            )
        if j < k - 1:
            bj = min(b[j], _INF)
            stage = _first(0.0, t[j], a[j], bj, r) if stage is None else _next(stage, 0.0, t_prev, t[j], a[j], bj, r)
            t_prev = t[j]
    return b


def drift_for_power(
    information_fractions: np.ndarray | list[float],
    efficacy: np.ndarray | list[float],
    power: float,
    futility: np.ndarray | list[float] | None = None,
) -> float:
    """Drift ``theta`` (mean of Z at full information) at which the design has the given power."""
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power}")
    return float(
        optimize.brentq(
            lambda th: boundary_probabilities(information_fractions, efficacy, futility, th)[0].sum() - power,
            -5.0,
            20.0,
            xtol=1e-12,
        )
    )
