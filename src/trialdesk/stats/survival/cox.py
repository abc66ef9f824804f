"""Cox proportional hazards regression matching R's ``survival::coxph`` (Efron or Breslow ties, strata).

Newton–Raphson on the partial log-likelihood, with R's ``coxfit6`` iteration rules: start at beta = 0, converge
when ``|1 - loglik_old / loglik_new| <= eps`` (eps = 1e-9), halve the step when the log-likelihood decreases,
at most 20 iterations. Risk-set sums are reverse cumulative sums over subjects sorted by (stratum, time), so one
iteration costs O(n p^2) numpy work with no Python loop over subjects or event times.

References
----------
Cox DR. Regression models and life-tables. *J R Stat Soc B* 1972;34:187-220.
Efron B. The efficiency of Cox's likelihood function for censored data. *JASA* 1977;72:557-565.
Breslow N. Covariance analysis of censored survival data. *Biometrics* 1974;30:89-99.
Therneau TM, Grambsch PM. *Modeling Survival Data: Extending the Cox Model*. Springer, 2000 (ch. 3).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from trialdesk.stats.survival._data import SurvivalDataError, as_event, as_time, check_length, combine_strata

__all__ = ["ChiSquareTest", "CoxPHFitter", "Ties"]

Ties = Literal["efron", "breslow"]
_TIES = ("efron", "breslow")


@dataclass(frozen=True)
class ChiSquareTest:
    """A chi-square test: statistic, degrees of freedom and upper-tail p-value."""

    statistic: float
    df: int
    p_value: float

    @classmethod
    def of(cls, statistic: float, df: int) -> ChiSquareTest:
        return cls(float(statistic), int(df), float(special.chdtrc(df, statistic)))

    def to_dict(self) -> dict[str, float | int]:
        return {"statistic": self.statistic, "df": self.df, "p_value": self.p_value}


def _design(X: Any, n: int, names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Covariates as an (n, p) float matrix plus their names; errors name the offending column."""
    if isinstance(X, pd.Series):
        X = X.to_frame(name=X.name if X.name is not None else "x0")
    if isinstance(X, pd.DataFrame):
        cols = [str(c) for c in X.columns]
        mats = []
        for c in X.columns:
            col = X[c]
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                raise SurvivalDataError(
                    f"column {c!r} is not numeric (dtype {col.dtype}); encode factors as indicator columns",
                    field=f"X.{c}",
                )
            mats.append(col.to_numpy(dtype=float))
        mat = np.column_stack(mats) if mats else np.empty((len(X), 0))
        if names is None:
            names = cols
    else:
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise SurvivalDataError(f"must be 1-D or 2-D, got shape {arr.shape}", field="X")
        try:
            mat = arr.astype(float)
        except (TypeError, ValueError):
            raise SurvivalDataError("must be numeric", field="X") from None
        if names is None:
            names = [f"x{j}" for j in range(mat.shape[1])]
    if mat.shape[0] != n:
        raise SurvivalDataError(f"has {mat.shape[0]} rows but time has {n}", field="X")
    if mat.shape[1] == 0:
        raise SurvivalDataError("has no covariates", field="X")
    if len(names) != mat.shape[1]:
        raise SurvivalDataError(f"{len(names)} names for {mat.shape[1]} columns", field="names")
    bad = ~np.isfinite(mat)
    if bad.any():
        j = int(np.argmax(bad.any(axis=0)))
        raise SurvivalDataError(
            f"{int(bad[:, j].sum())} missing or non-finite value(s); drop incomplete rows first", field=f"X.{names[j]}"
        )
    return mat, list(names)


class _RiskSets:
    """Sorted data and index arrays so that every risk-set sum is a difference of two reverse cumulative sums."""

    def __init__(self, t: np.ndarray, e: np.ndarray, X: np.ndarray, s: np.ndarray, ties: str) -> None:
        order = np.lexsort((t, s))
        t, e, s = t[order], e[order], s[order]
        self.X = X[order] - X.mean(axis=0)  # centring, as coxph does; the fit is invariant to it
        n = t.shape[0]
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
        group_start = np.flatnonzero(new_group)
        gid = np.cumsum(new_group) - 1
        new_stratum = np.ones(n, dtype=bool)
        new_stratum[1:] = s[1:] != s[:-1]
        stratum_end = np.append(np.flatnonzero(new_stratum)[1:], n)
        sid = np.cumsum(new_stratum) - 1
        di = np.flatnonzero(e)  # deaths, in sorted order (contiguous within a tied group)
        self.di = di
        dg = gid[di]
        first = np.ones(di.size, dtype=bool)
        first[1:] = dg[1:] != dg[:-1]
        self.dstart = np.flatnonzero(first)  # start of each event time's deaths within di
        d_count = np.diff(np.append(self.dstart, di.size))
        row_group = np.cumsum(first) - 1  # which event time each death row belongs to
        self.row_group = row_group
        rank = np.arange(di.size) - self.dstart[row_group]
        self.frac = rank / d_count[row_group] if ties == "efron" else np.zeros(di.size)
        self.a = group_start[dg]  # risk set: [a, b) in sorted order
        self.b = stratum_end[sid[di]]
        self.n_event_times = int(self.dstart.size)

    def derivatives(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Partial log-likelihood, score vector and information matrix at ``beta``."""
        X, di, a, b, frac = self.X, self.di, self.a, self.b, self.frac
        eta = X @ beta
        c = eta.max()
        r = np.exp(eta - c)
        rX = r[:, None] * X
        rXX = rX[:, :, None] * X[:, None, :]

        def rev(v: np.ndarray) -> np.ndarray:
            out = np.zeros((v.shape[0] + 1,) + v.shape[1:])
            out[:-1] = np.cumsum(v[::-1], axis=0)[::-1]
            return out

        C0, C1, C2 = rev(r), rev(rX), rev(rXX)
        S0 = C0[a] - C0[b]
        S1 = C1[a] - C1[b]
        S2 = C2[a] - C2[b]
        if frac.any():
            D0 = np.add.reduceat(r[di], self.dstart)[self.row_group]
            D1 = np.add.reduceat(rX[di], self.dstart, axis=0)[self.row_group]
            D2 = np.add.reduceat(rXX[di], self.dstart, axis=0)[self.row_group]
            S0 = S0 - frac * D0
            S1 = S1 - frac[:, None] * D1
            S2 = S2 - frac[:, None, None] * D2
        M1 = S1 / S0[:, None]
        loglik = float(eta[di].sum() - np.log(S0).sum() - c * di.size)
        score = X[di].sum(axis=0) - M1.sum(axis=0)
        info = (S2 / S0[:, None, None]).sum(axis=0) - M1.T @ M1
        return loglik, score, info


class CoxPHFitter:
    """Cox proportional hazards model, as R's ``coxph(Surv(time, event) ~ X + strata(S), ties=...)``.

    Parameters
    ----------
    ties : {"efron", "breslow"}, default "efron"
        Handling of tied event times (R's default is Efron).
    conf_level : float, default 0.95
        Level of the Wald confidence intervals of the hazard ratios.
    max_iter : int, default 20
        R's ``iter.max``.
    eps : float, default 1e-9
        R's ``eps``: relative change of the log-likelihood that stops the iteration.

    Attributes
    ----------
    coef_, se_ : ndarray
        Coefficients and standard errors as arrays (the pandas views below are built from them on access).
    params_, standard_errors_, hazard_ratios_, z_, p_values_ : pandas.Series
        Coefficients (log hazard ratios), their SEs (inverse information), exp(coef), Wald z and two-sided p.
    confidence_intervals_ : pandas.DataFrame
        Columns ``lower``, ``upper``: exp(coef ± z·se).
    variance_matrix_ : pandas.DataFrame
        Inverse information at the estimate.
    log_likelihood_, log_likelihood_null_ : float
        Partial log-likelihood at the estimate and at beta = 0 (R's ``loglik``).
    score_test_, wald_test_, likelihood_ratio_test_ : ChiSquareTest
        Score (log-rank) test at beta = 0, Wald test and likelihood-ratio test, each on p df.
    n_iter_ : int
        Newton–Raphson iterations (R's ``iter``).
    converged_ : bool
    possibly_infinite_ : list of str
        Covariates R's ``coxph`` would warn about ("coefficient may be infinite": monotone likelihood).
    n_, n_events_, n_strata_ : int
    summary_ : pandas.DataFrame
        One row per covariate, the columns of ``summary(coxph)``.
    """

    def __init__(self, ties: Ties = "efron", conf_level: float = 0.95, max_iter: int = 20, eps: float = 1e-9) -> None:
        if ties not in _TIES:
            raise SurvivalDataError(f"must be one of {', '.join(_TIES)}; got {ties!r}", field="ties")
        if not (0.0 < float(conf_level) < 1.0):
            raise SurvivalDataError(f"must be strictly between 0 and 1; got {conf_level!r}", field="conf_level")
        if int(max_iter) < 1:
            raise SurvivalDataError(f"must be >= 1; got {max_iter!r}", field="max_iter")
        self.ties = ties
        self.conf_level = float(conf_level)
        self.max_iter = int(max_iter)
        self.eps = float(eps)

    def fit(self, time: Any, event: Any, X: Any, strata: Any = None, *, names: list[str] | None = None) -> CoxPHFitter:
        """Fit the model.

        Parameters
        ----------
        time, event : array-like
            Follow-up time and event indicator (0/1, boolean or R's 1/2 coding).
        X : DataFrame, Series or array-like (n,) or (n, p)
            Numeric covariates (encode an Arm as a 0/1 indicator column).
        strata : array-like, DataFrame or list of arrays, optional
            Stratification variable(s): a separate baseline hazard per stratum (several are crossed).
        names : list of str, optional
            Covariate names when ``X`` is an array.

        Returns
        -------
        CoxPHFitter
            ``self``.
        """
        t = as_time(time)
        n = t.shape[0]
        e = as_event(event)
        check_length(e, n, "event")
        mat, names = _design(X, n, names)
        if strata is None:
            s_codes, n_strata = np.zeros(n, dtype=np.intp), 1
        else:
            labels, s_codes = combine_strata(strata, n)
            n_strata = len(labels)
        if not e.any():
            raise SurvivalDataError("has no events; a Cox model cannot be fitted", field="event")
        const = np.ptp(mat, axis=0) == 0
        if const.any():
            raise SurvivalDataError(
                "is constant; its coefficient is not identifiable", field=f"X.{names[int(np.argmax(const))]}"
            )
        rs = _RiskSets(t, e, mat, s_codes, self.ties)
        p = mat.shape[1]
        beta = np.zeros(p)
        loglik0, u, imat = rs.derivatives(beta)
        step = self._solve(imat, u, names)
        score_stat = float(u @ step)
        newbeta = beta + step
        loglik = loglik0
        halving = False
        converged = False
        it = 0
        for it in range(1, self.max_iter + 1):
            newlk, u, imat = rs.derivatives(newbeta)
            if abs(1.0 - loglik / newlk) <= self.eps and not halving:
                converged = True
                break
            if it == self.max_iter:
                break
            if newlk < loglik:
                halving = True
                newbeta = (newbeta + beta) / 2.0
            else:
                halving = False
                loglik = newlk
                beta = newbeta
                newbeta = newbeta + self._solve(imat, u, names)
        beta, loglik = newbeta, newlk
        var = self._inverse(imat, names)
        se = np.sqrt(np.diag(var))
        # R's coxph.fit check for a monotone likelihood (toler.inf = sqrt(eps))
        infs = np.abs(u @ var)
        toler_inf = np.sqrt(self.eps)
        flagged = (infs > toler_inf) & (infs > toler_inf * np.abs(beta))
        self.possibly_infinite_ = [nm for nm, f in zip(names, flagged) if f]
        if not converged:
            warnings.warn(f"Cox model did not converge in {self.max_iter} iterations", RuntimeWarning, stacklevel=2)
        elif self.possibly_infinite_:
            warnings.warn(
                f"log-likelihood converged before {self.possibly_infinite_}; coefficient may be infinite",
                RuntimeWarning,
                stacklevel=2,
            )
        self.names_ = names
        self.coef_ = beta
        self.se_ = se
        self._var = var
        self.log_likelihood_ = loglik
        self.log_likelihood_null_ = loglik0
        self.score_test_ = ChiSquareTest.of(score_stat, p)
        self.wald_test_ = ChiSquareTest.of(float(beta @ np.linalg.solve(var, beta)), p)
        self.likelihood_ratio_test_ = ChiSquareTest.of(2.0 * (loglik - loglik0), p)
        self.n_iter_ = it
        self.converged_ = converged
        self.n_ = n
        self.n_events_ = int(e.sum())
        self.n_strata_ = n_strata
        return self

    # pandas views, built on access (building them costs more than the fit itself)
    def _index(self) -> pd.Index:
        if not hasattr(self, "coef_"):
            raise RuntimeError("CoxPHFitter is not fitted; call fit() first")
        return pd.Index(self.names_, name="covariate")

    @property
    def params_(self) -> pd.Series:
        return pd.Series(self.coef_, index=self._index(), name="coef")

    @property
    def standard_errors_(self) -> pd.Series:
        return pd.Series(self.se_, index=self._index(), name="se(coef)")

    @property
    def hazard_ratios_(self) -> pd.Series:
        return pd.Series(np.exp(self.coef_), index=self._index(), name="exp(coef)")

    @property
    def z_(self) -> pd.Series:
        return pd.Series(self.coef_ / self.se_, index=self._index(), name="z")

    @property
    def p_values_(self) -> pd.Series:
        return pd.Series(2.0 * special.ndtr(-np.abs(self.coef_ / self.se_)), index=self._index(), name="p")

    @property
    def confidence_intervals_(self) -> pd.DataFrame:
        z = special.ndtri(1.0 - (1.0 - self.conf_level) / 2.0)
        with np.errstate(over="ignore"):
            return pd.DataFrame(
                {"lower": np.exp(self.coef_ - z * self.se_), "upper": np.exp(self.coef_ + z * self.se_)},
                index=self._index(),
            )

    @property
    def variance_matrix_(self) -> pd.DataFrame:
        idx = self._index()
        return pd.DataFrame(self._var, index=idx, columns=idx)

    @property
    def summary_(self) -> pd.DataFrame:
        ci = self.confidence_intervals_
        return pd.DataFrame(
            {
                "coef": self.coef_,
                "exp(coef)": np.exp(self.coef_),
                "se(coef)": self.se_,
                "z": self.coef_ / self.se_,
                "p": self.p_values_.to_numpy(),
                "lower": ci["lower"].to_numpy(),
                "upper": ci["upper"].to_numpy(),
            },
            index=self._index(),
        )

    @staticmethod
    def _check_pd(imat: np.ndarray, names: list[str]) -> None:
        try:
            np.linalg.cholesky(imat)
        except np.linalg.LinAlgError:
            raise SurvivalDataError(
                f"information matrix is singular: covariates {names} are collinear or a coefficient is infinite",
                field="X",
            ) from None

    def _solve(self, imat: np.ndarray, u: np.ndarray, names: list[str]) -> np.ndarray:
        self._check_pd(imat, names)
        return np.linalg.solve(imat, u)

    def _inverse(self, imat: np.ndarray, names: list[str]) -> np.ndarray:
        self._check_pd(imat, names)
        return np.linalg.inv(imat)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form for JSON."""
        self._index()
        return {
            "ties": self.ties,
            "conf_level": self.conf_level,
            "n": self.n_,
            "events": self.n_events_,
            "n_strata": self.n_strata_,
            "coefficients": [
                {"covariate": name, **{k: float(v) for k, v in row.items()}} for name, row in self.summary_.iterrows()
            ],
            "loglik_null": self.log_likelihood_null_,
            "loglik": self.log_likelihood_,
            "score_test": self.score_test_.to_dict(),
            "wald_test": self.wald_test_.to_dict(),
            "likelihood_ratio_test": self.likelihood_ratio_test_.to_dict(),
            "iterations": self.n_iter_,
            "converged": self.converged_,
        }

    def __repr__(self) -> str:
        if not hasattr(self, "coef_"):
            return f"CoxPHFitter(ties={self.ties!r})"
        hr = ", ".join(f"{k}={v:.4g}" for k, v in self.hazard_ratios_.items())
        return f"<CoxPHFitter ties={self.ties!r} n={self.n_} events={self.n_events_} HR: {hr}>"
