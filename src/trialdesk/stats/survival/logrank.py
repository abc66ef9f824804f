"""k-sample log-rank and G-rho tests, optionally stratified, matching R's ``survival::survdiff``.

References
----------
Harrington DP, Fleming TR. A class of rank test procedures for censored survival data. *Biometrika*
1982;69:553-566 (the G-rho family; rho = 0 log-rank, rho = 1 Peto & Peto modification of the Gehan-Wilcoxon test).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from trialdesk.stats.survival._data import (
    SurvivalDataError,
    as_event,
    as_labels,
    as_time,
    check_length,
    combine_strata,
    py_scalar,
)

__all__ = ["LogrankResult", "logrank_test"]


@dataclass(frozen=True)
class LogrankResult:
    """Result of :func:`logrank_test` (R's ``survdiff`` object).

    Attributes
    ----------
    groups : tuple
        Group levels, sorted as R's ``factor()``.
    n : ndarray
        Subjects per group.
    observed, expected : ndarray
        (Weighted, when rho != 0) observed and expected events per group, summed over strata.
    variance : ndarray
        k x k variance-covariance matrix of O - E, summed over strata.
    chisq : float
        Chi-square statistic.
    df : int
        Degrees of freedom (groups with expected > 0, minus 1).
    p_value : float
        Upper-tail chi-square probability.
    rho : float
        The G-rho weight exponent (0 = log-rank).
    n_strata : int
        Number of strata (1 when unstratified).
    """

    groups: tuple[Any, ...]
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    chisq: float
    df: int
    p_value: float
    rho: float
    n_strata: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form for JSON."""
        return {
            "test": "log-rank" if self.rho == 0 else f"G-rho (rho={self.rho:g})",
            "groups": list(self.groups),
            "n": self.n.tolist(),
            "observed": self.observed.tolist(),
            "expected": self.expected.tolist(),
            "o_minus_e": (self.observed - self.expected).tolist(),
            "variance": self.variance.tolist(),
            "chisq": self.chisq,
            "df": self.df,
            "p_value": self.p_value,
            "rho": self.rho,
            "n_strata": self.n_strata,
        }


def _observed_expected_variance(
    t: np.ndarray, e: np.ndarray, g: np.ndarray, s: np.ndarray, k: int, rho: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """O, E and V summed over strata, vectorized over all (stratum, time) pairs at once."""
    order = np.lexsort((t, s))
    t, e, g, s = t[order], e[order], g[order], s[order]
    n = t.shape[0]
    new = np.ones(n, dtype=bool)
    new[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
    gid = np.cumsum(new) - 1
    m = int(gid[-1]) + 1
    cell = gid * k + g
    counts = np.bincount(cell, minlength=m * k).reshape(m, k).astype(float)
    deaths = np.bincount(cell, weights=e.astype(float), minlength=m * k).reshape(m, k)
    gs = s[new]  # stratum of each (stratum, time) pair
    first = np.ones(m, dtype=bool)
    first[1:] = gs[1:] != gs[:-1]
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], m)
    end_of = np.repeat(ends, np.diff(np.append(starts, m)))
    rc = np.zeros((m + 1, k))
    rc[:-1] = counts[::-1].cumsum(axis=0)[::-1]
    n_jt = rc[:-1] - rc[end_of]  # at risk per group: integer counts, so the difference is exact
    n_t = n_jt.sum(axis=1)
    d_t = deaths.sum(axis=1)
    if rho != 0:
        w = np.empty(m)
        surv_step = 1.0 - d_t / n_t
        for a, b in zip(starts, ends):  # pooled KM just before t (left-continuous), within each stratum
            km = np.cumprod(surv_step[a:b])
            w[a] = 1.0
            w[a + 1 : b] = km[:-1]
        w = w**rho
    else:
        w = np.ones(m)
    use = d_t > 0
    n_jt, n_t, d_t, w, deaths = n_jt[use], n_t[use], d_t[use], w[use], deaths[use]
    frac = n_jt / n_t[:, None]
    obs = (w[:, None] * deaths).sum(axis=0)
    exp = (w[:, None] * d_t[:, None] * frac).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(n_t > 1, w**2 * d_t * (n_t - d_t) / (n_t - 1.0), 0.0)
    var = np.diag(f @ frac) - (frac * f[:, None]).T @ frac
    return obs, exp, var


def logrank_test(time: Any, event: Any, group: Any, strata: Any = None, rho: float = 0.0) -> LogrankResult:
    """Compare survival between k groups with the (stratified) log-rank or G-rho test (R's ``survdiff``).

    Parameters
    ----------
    time : array-like
        Follow-up times.
    event : array-like
        Event indicator (0/1, boolean, or R's 1/2 coding).
    group : array-like
        Group (e.g. Arm) of each subject; two or more levels.
    strata : array-like, DataFrame or list of arrays, optional
        Stratification variable(s); several are crossed. The stratified statistic sums the per-stratum O - E
        and variances, as ``survdiff(... + strata(...))``.
    rho : float, default 0
        G-rho weight exponent: each event time is weighted by S(t-)^rho, S the pooled Kaplan–Meier estimate
        within the stratum. 0 = log-rank, 1 = Peto & Peto.

    Returns
    -------
    LogrankResult
    """
    t = as_time(time)
    e = as_event(event)
    check_length(e, t.shape[0], "event")
    levels, g = as_labels(group, t.shape[0], "group")
    k = len(levels)
    if k < 2:
        raise SurvivalDataError(f"needs at least 2 levels, got {k}", field="group")
    if not np.isfinite(rho) or rho < 0:
        raise SurvivalDataError(f"must be a finite number >= 0; got {rho!r}", field="rho")
    if strata is None:
        s_codes, n_strata = np.zeros(t.shape[0], dtype=np.intp), 1
    else:
        s_labels, s_codes = combine_strata(strata, t.shape[0])
        n_strata = len(s_labels)
    obs, exp, var = _observed_expected_variance(t, e, g, s_codes, k, float(rho))
    keep = np.flatnonzero(exp > 0)
    df = keep.size - 1
    if df < 1:
        chisq = 0.0
    else:
        idx = keep[1:]
        diff = (obs - exp)[idx]
        chisq = float(diff @ np.linalg.solve(var[np.ix_(idx, idx)], diff))
    p = float(special.chdtrc(df, chisq)) if df >= 1 else float("nan")
    return LogrankResult(
        groups=tuple(py_scalar(v) for v in levels),
        n=np.bincount(g, minlength=k).astype(np.int64),
        observed=obs,
        expected=exp,
        variance=var,
        chisq=chisq,
        df=max(df, 0),
        p_value=p,
        rho=float(rho),
        n_strata=n_strata,
    )
