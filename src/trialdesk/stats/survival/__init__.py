"""Survival statistics matching R's ``survival`` package: Kaplan–Meier, log-rank / G-rho, Cox regression.

Public API
----------
- :class:`KaplanMeierFitter`, :func:`fit_km_by_group`
- :func:`logrank_test` -> :class:`LogrankResult`
- :class:`CoxPHFitter` (ties "efron" or "breslow", strata), :class:`ChiSquareTest`
- :class:`SurvivalDataError` (an ``InvalidInput``) for bad input
"""

from trialdesk.stats.survival._data import SurvivalDataError, as_event
from trialdesk.stats.survival.cox import ChiSquareTest, CoxPHFitter
from trialdesk.stats.survival.km import KaplanMeierFitter, fit_km_by_group
from trialdesk.stats.survival.logrank import LogrankResult, logrank_test

__all__ = [
    "ChiSquareTest",
    "CoxPHFitter",
    "KaplanMeierFitter",
    "LogrankResult",
    "SurvivalDataError",
    "as_event",
    "fit_km_by_group",
    "logrank_test",
]
