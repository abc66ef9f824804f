"""Kaplan–Meier estimator matching R's ``survival::survfit`` (and ``print.survfit`` for the median).

References
----------
Therneau T. *A Package for Survival Analysis in R*, survival 3.x: ``survfit.formula``, ``survfit_confint``,
``survmean`` (median, restricted mean and their standard errors).
Brookmeyer R, Crowley J. A confidence interval for the median survival time. *Biometrics* 1982;38:29-41.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from trialdesk.stats.survival._data import SurvivalDataError, as_event, as_labels, as_time

__all__ = ["KaplanMeierFitter", "ConfType", "fit_km_by_group", "survfit_confint"]

ConfType = Literal["log", "log-log", "plain"]
_CONF_TYPES = ("log", "log-log", "plain")
_TOL = np.sqrt(np.finfo(float).eps)  # .Machine$double.eps^0.5, as in survmean's minmin()


def _check_conf(conf_type: str, conf_level: float) -> None:
    if conf_type not in _CONF_TYPES:
        raise SurvivalDataError(f"must be one of {', '.join(_CONF_TYPES)}; got {conf_type!r}", field="conf_type")
    if not (0.0 < float(conf_level) < 1.0):
        raise SurvivalDataError(f"must be strictly between 0 and 1; got {conf_level!r}", field="conf_level")


def survfit_confint(
    surv: np.ndarray, std_err: np.ndarray, conf_type: ConfType, conf_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI of S(t) from the standard error of the cumulative hazard (R's ``survfit_confint``).

    Parameters
    ----------
    surv : ndarray
        Survival estimates.
    std_err : ndarray
        Standard error of -log S(t) (R's ``survfit()$std.err``, Greenwood on the log scale).
    conf_type : {"log", "log-log", "plain"}
        ``log``: exp(log S ± z·se), upper bound capped at 1 (R's default). ``log-log``:
        exp(-exp(log(-log S) ∓ z·se/log S)). ``plain``: S ± z·se·S clipped to [0, 1].
    conf_level : float
        Two-sided confidence level.

    Returns
    -------
    lower, upper : ndarray
        NaN where R gives NA (S = 0 for ``log``; S in {0, 1} for ``log-log``).
    """
    _check_conf(conf_type, conf_level)
    z = special.ndtri(1.0 - (1.0 - conf_level) / 2.0)
    surv = np.asarray(surv, dtype=float)
    se = np.asarray(std_err, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            se2 = np.where(surv == 0, 0.0, se * surv) * z
            return np.maximum(surv - se2, 0.0), np.minimum(surv + se2, 1.0)
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            lx = np.log(xx)
            return np.exp(lx - z * se), np.minimum(np.exp(lx + z * se), 1.0)
        xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
        lx = np.log(xx)
        se2 = z * se / lx
        llx = np.log(-lx)
        return np.exp(-np.exp(llx - se2)), np.exp(-np.exp(llx + se2))


def _minmin(y: np.ndarray, x: np.ndarray) -> float:
    """First time the curve ``y`` reaches 0.5, with R's averaging when it sits exactly at 0.5 (``survmean``)."""
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return float("nan")
    xk, yk = x[keep], y[keep]
    if abs(yk[0] - 0.5) < _TOL and (yk < yk[0]).any():
        return float((xk[0] + xk[np.argmax(yk < yk[0])]) / 2.0)
    return float(xk[0])


class KaplanMeierFitter:
    """Kaplan–Meier product-limit estimator with Greenwood variance, as R's ``survfit(Surv(time, event) ~ 1)``.

    Parameters
    ----------
    conf_type : {"log", "log-log", "plain"}, default "log"
        Transformation for the pointwise CI of S(t) (R's ``conf.type``; ``log`` is R's default).
    conf_level : float, default 0.95
        Two-sided confidence level (R's ``conf.int``).

    Attributes
    ----------
    timeline_ : ndarray
        Distinct observed times (events *and* censorings, as in R's ``survfit()$time``).
    n_at_risk_, n_event_, n_censor_ : ndarray
        Number at risk just before, events at, and censorings at each time.
    survival_ : ndarray
        S(t) at each time.
    std_err_ : ndarray
        Standard error of the cumulative hazard -log S(t) (R's ``survfit()$std.err``); ``inf`` once S = 0.
    se_ : ndarray
        Greenwood standard error of S(t) (what ``summary.survfit`` prints as ``std.err``); NaN once S = 0.
    ci_lower_, ci_upper_ : ndarray
        Pointwise confidence limits of S(t); NaN where R gives NA.
    median_ : float
        Median survival time (NaN if S never reaches 0.5).
    median_ci_ : tuple of float
        Brookmeyer–Crowley CI of the median: the first times the lower and upper pointwise limits reach 0.5,
        with ``print.survfit``'s rule that a curve sitting exactly at 0.5 over an interval gives the midpoint.
    rmean_, rmean_se_, rmean_end_ : float
        Restricted mean survival time up to ``rmean_end_`` and its standard error (``print.survfit(rmean=)``).
    n_, n_events_ : int
        Number of subjects and of events.
    """

    def __init__(self, conf_type: ConfType = "log", conf_level: float = 0.95) -> None:
        _check_conf(conf_type, conf_level)
        self.conf_type = conf_type
        self.conf_level = float(conf_level)

    def fit(self, time: Any, event: Any, *, label: Any = None, rmean_end: float | None = None) -> KaplanMeierFitter:
        """Estimate S(t).

        Parameters
        ----------
        time : array-like
            Follow-up times (finite, >= 0).
        event : array-like
            1/True = event, 0/False = censored; R's 1/2 coding is detected (see ``as_event``).
        label : optional
            Name of the curve (e.g. the Arm).
        rmean_end : float, optional
            Upper limit of the restricted mean; default the last observed time (R's ``rmean="individual"``).

        Returns
        -------
        KaplanMeierFitter
            ``self``.
        """
        t = as_time(time)
        e = as_event(event)
        if e.shape[0] != t.shape[0]:
            raise SurvivalDataError(f"has {e.shape[0]} values but time has {t.shape[0]}", field="event")
        self.label = label
        self._sorted_time = np.sort(t)
        uniq, inv = np.unique(t, return_inverse=True)
        n_total = np.bincount(inv, minlength=uniq.size)
        n_event = np.bincount(inv, weights=e.astype(float), minlength=uniq.size).astype(np.int64)
        n_risk = n_total[::-1].cumsum()[::-1].astype(np.int64)
        self.timeline_ = uniq
        self.n_at_risk_ = n_risk
        self.n_event_ = n_event
        self.n_censor_ = (n_total - n_event).astype(np.int64)
        self.n_ = int(t.shape[0])
        self.n_events_ = int(n_event.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            self.survival_ = np.cumprod(1.0 - n_event / n_risk)
            left = n_risk - n_event
            hh = np.where(n_event == 0, 0.0, np.where(left == 0, np.inf, n_event / (n_risk * left)))
            self.std_err_ = np.sqrt(np.cumsum(hh))
            self.se_ = np.where(self.survival_ == 0, np.nan, self.survival_ * self.std_err_)
        self.ci_lower_, self.ci_upper_ = survfit_confint(self.survival_, self.std_err_, self.conf_type, self.conf_level)
        self.median_ = _minmin(self.survival_, uniq)
        self.median_ci_ = (_minmin(self.ci_lower_, uniq), _minmin(self.ci_upper_, uniq))
        self.rmean_end_ = float(uniq[-1] if rmean_end is None else rmean_end)
        self.rmean_, self.rmean_se_ = self._rmean(self.rmean_end_)
        return self

    def _rmean(self, end: float) -> tuple[float, float]:
        """Restricted mean and its SE, transcribed from R's ``survmean`` (start time min(0, time))."""
        time, surv = self.timeline_, self.survival_
        n_risk, n_event = self.n_at_risk_, self.n_event_
        start = min(0.0, float(time[0]))
        left = n_risk - n_event
        with np.errstate(divide="ignore", invalid="ignore"):
            hh = np.where(left == 0, 0.0, n_event / (n_risk * left))
        keep = time <= end
        if not keep.any():
            ttime, tsurv, hh = np.array([end]), np.array([1.0]), np.array([0.0])
        else:
            last = np.flatnonzero(keep)[-1]
            ttime = np.append(time[keep], end)
            tsurv = np.append(surv[keep], surv[last])
            hh = np.append(hh[keep], 0.0)
        delta = np.diff(np.concatenate(([start], ttime)))
        rect = delta * np.concatenate(([1.0], tsurv[:-1]))
        var = float(np.sum(np.cumsum(rect[1:][::-1]) ** 2 * hh[::-1][1:]))
        return float(rect.sum() + start), float(np.sqrt(var))

    def _check_fitted(self) -> None:
        if not hasattr(self, "timeline_"):
            raise RuntimeError("KaplanMeierFitter is not fitted; call fit() first")

    def survival_at(self, times: Any) -> pd.DataFrame:
        """S(t), its SE and CI at given times (R's ``summary(fit, times=, extend=TRUE)``).

        Before the first observed time S = 1 with SE 0; after the last one the last values are carried forward.
        ``n_at_risk`` is the number with follow-up >= t.
        """
        self._check_fitted()
        tt = np.atleast_1d(np.asarray(times, dtype=float))
        idx = np.searchsorted(self.timeline_, tt, side="right") - 1
        before = idx < 0
        j = np.where(before, 0, idx)
        surv = np.where(before, 1.0, self.survival_[j])
        se = np.where(before, 0.0, self.se_[j])
        lower = np.where(before, 1.0, self.ci_lower_[j])
        upper = np.where(before, 1.0, self.ci_upper_[j])
        if self.conf_type == "log-log":
            lower = np.where(before, np.nan, lower)
            upper = np.where(before, np.nan, upper)
        return pd.DataFrame(
            {
                "time": tt,
                "n_at_risk": self.n_at_risk_at(tt),
                "survival": surv,
                "se": se,
                "ci_lower": lower,
                "ci_upper": upper,
            }
        )

    def n_at_risk_at(self, times: Any) -> np.ndarray:
        """Number of subjects with follow-up time >= t, for each t (the at-risk table under a KM plot)."""
        self._check_fitted()
        tt = np.atleast_1d(np.asarray(times, dtype=float))
        return (self.n_ - np.searchsorted(self._sorted_time, tt, side="left")).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary (NaN becomes None), for JSON."""
        self._check_fitted()
        return {
            "label": None if self.label is None else _py(self.label),
            "n": self.n_,
            "events": self.n_events_,
            "conf_type": self.conf_type,
            "conf_level": self.conf_level,
            "median": _num(self.median_),
            "median_ci": [_num(v) for v in self.median_ci_],
            "rmean": _num(self.rmean_),
            "rmean_se": _num(self.rmean_se_),
            "rmean_end": _num(self.rmean_end_),
            "table": {
                "time": [_num(v) for v in self.timeline_],
                "n_at_risk": self.n_at_risk_.tolist(),
                "n_event": self.n_event_.tolist(),
                "n_censor": self.n_censor_.tolist(),
                "survival": [_num(v) for v in self.survival_],
                "se": [_num(v) for v in self.se_],
                "ci_lower": [_num(v) for v in self.ci_lower_],
                "ci_upper": [_num(v) for v in self.ci_upper_],
            },
        }

    def __repr__(self) -> str:
        if not hasattr(self, "timeline_"):
            return f"KaplanMeierFitter(conf_type={self.conf_type!r}, conf_level={self.conf_level})"
        return (
            f"<KaplanMeierFitter label={self.label!r} n={self.n_} events={self.n_events_} "
            f"median={self.median_:g} CI=({self.median_ci_[0]:g}, {self.median_ci_[1]:g})>"
        )


def fit_km_by_group(
    time: Any,
    event: Any,
    group: Any,
    *,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
    rmean: Literal["common", "individual"] | float = "common",
) -> dict[Any, KaplanMeierFitter]:
    """One Kaplan–Meier curve per group (e.g. per Arm), as R's ``survfit(Surv(time, event) ~ group)``.

    Parameters
    ----------
    rmean : "common", "individual" or float, default "common"
        Upper limit of the restricted mean: the largest time over all groups (R's ``rmean="common"``,
        what ``print.survfit`` uses for several curves), each group's own last time, or a number.

    Returns
    -------
    dict
        Group level (sorted as R's ``factor()``) -> fitted :class:`KaplanMeierFitter`.
    """
    t = as_time(time)
    e = as_event(event)
    if e.shape[0] != t.shape[0]:
        raise SurvivalDataError(f"has {e.shape[0]} values but time has {t.shape[0]}", field="event")
    levels, codes = as_labels(group, t.shape[0], "group")
    if isinstance(rmean, str):
        if rmean not in ("common", "individual"):
            raise SurvivalDataError(f"must be 'common', 'individual' or a number; got {rmean!r}", field="rmean")
        end = float(t.max()) if rmean == "common" else None
    else:
        end = float(rmean)
    out: dict[Any, KaplanMeierFitter] = {}
    for k, level in enumerate(levels):
        m = codes == k
        out[_py(level)] = KaplanMeierFitter(conf_type, conf_level).fit(t[m], e[m], label=_py(level), rmean_end=end)
    return out


def _py(v: Any) -> Any:
    """numpy scalar -> Python scalar (for dict keys and JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def _num(v: Any) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v


def km_summary_rows(fits: Mapping[Any, KaplanMeierFitter]) -> list[dict[str, Any]]:
    """One summary row per curve (n, events, median and CI, rmean), like ``print.survfit``."""
    return [
        {
            "group": _py(k),
            "n": f.n_,
            "events": f.n_events_,
            "median": _num(f.median_),
            "median_lower": _num(f.median_ci_[0]),
            "median_upper": _num(f.median_ci_[1]),
            "rmean": _num(f.rmean_),
            "rmean_se": _num(f.rmean_se_),
        }
        for k, f in fits.items()
    ]
