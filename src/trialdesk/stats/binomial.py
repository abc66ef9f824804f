"""Confidence intervals for binomial proportions (e.g. objective response rate by Arm).

- :func:`clopper_pearson`: exact Clopper–Pearson interval for one proportion (R's ``binom.test()$conf.int``),
  computed with ``scipy.stats.binomtest(...).proportion_ci(method="exact")``.
- :func:`diff_proportion_ci`: interval for p1 - p2 by Newcombe's hybrid score method (method 10 of
  Newcombe RG, Interval estimation for the difference between independent proportions: comparison of eleven
  methods. *Stat Med* 1998;17:873-890), which combines the two Wilson score intervals; computed with
  ``statsmodels.stats.proportion.confint_proportions_2indep(method="newcomb")``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import binomtest
from statsmodels.stats.proportion import confint_proportions_2indep

from trialdesk.domain.errors import InvalidInput

__all__ = ["ProportionCI", "clopper_pearson", "diff_proportion_ci"]


@dataclass(frozen=True)
class ProportionCI:
    """A point estimate with its confidence interval."""

    estimate: float
    lower: float
    upper: float
    conf_level: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_counts(x: Any, n: Any, xname: str, nname: str) -> tuple[int, int]:
    for value, name in ((x, xname), (n, nname)):
        if isinstance(value, bool) or int(value) != value:
            raise InvalidInput(f"must be a whole number; got {value!r}", field=name)
    x, n = int(x), int(n)
    if n < 1:
        raise InvalidInput(f"must be >= 1; got {n}", field=nname)
    if not 0 <= x <= n:
        raise InvalidInput(f"must be between 0 and {nname}={n}; got {x}", field=xname)
    return x, n


def _check_conf(conf: float) -> float:
    if not 0.0 < float(conf) < 1.0:
        raise InvalidInput(f"must be strictly between 0 and 1; got {conf!r}", field="conf")
    return float(conf)


def clopper_pearson(x: int, n: int, conf: float = 0.95) -> ProportionCI:
    """Exact (Clopper–Pearson) confidence interval for a binomial proportion x / n.

    Parameters
    ----------
    x : int
        Number of successes (e.g. responders), 0 <= x <= n.
    n : int
        Number of trials (e.g. evaluable Subjects), n >= 1.
    conf : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    ProportionCI
        Equal to R's ``binom.test(x, n, conf.level = conf)$conf.int``.
    """
    x, n = _check_counts(x, n, "x", "n")
    conf = _check_conf(conf)
    ci = binomtest(x, n).proportion_ci(confidence_level=conf, method="exact")
    return ProportionCI(x / n, float(ci.low), float(ci.high), conf, "clopper-pearson")


def diff_proportion_ci(x1: int, n1: int, x2: int, n2: int, conf: float = 0.95) -> ProportionCI:
    """Confidence interval for p1 - p2 of two independent proportions, Newcombe's hybrid score method.

    Parameters
    ----------
    x1, n1 : int
        Successes and trials in the first group (e.g. the experimental Arm).
    x2, n2 : int
        Successes and trials in the second group.
    conf : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    ProportionCI
        ``estimate`` = x1/n1 - x2/n2, with Newcombe (1998) method 10 limits: with Wilson limits (l_i, u_i),
        lower = d - sqrt((p1 - l1)^2 + (u2 - p2)^2) and upper = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
    """
    x1, n1 = _check_counts(x1, n1, "x1", "n1")
    x2, n2 = _check_counts(x2, n2, "x2", "n2")
    conf = _check_conf(conf)
    low, upp = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff", alpha=1.0 - conf)
    return ProportionCI(x1 / n1 - x2 / n2, float(low), float(upp), conf, "newcombe-hybrid-score")
