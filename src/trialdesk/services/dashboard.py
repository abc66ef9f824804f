"""The enrollment dashboard: counts by site and over time, the enrollment curve, a completion forecast, open
queries and overdue visits. Aggregates only: no subject-level identifiers (the sponsor sees it too).

One computation for everyone: each count of a site is computed from the site's data alone, never from the caller's
rights (:func:`site_counts`); the caller's rights only choose which sites are shown (``Action.SITE_VIEW``). A site's
row is therefore the same number for every role that may see the site, the totals are the same for every
trial-wide role, and a site role's totals are its site's row in the trial-wide view.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection
from typing import Any

import numpy as np

from trialdesk.domain.access import SYSTEM, Action, Principal, require
from trialdesk.domain.protocol import Protocol
from trialdesk.services.registry import get_protocol, get_trial_row, stored_id
from trialdesk.services.unit_of_work import UnitOfWork
from trialdesk.stats.enrollment import (
    DAYS_PER_MONTH,
    HORIZON_FACTOR,
    MIN_OBSERVED_DAYS,
    MIN_RANDOMIZED,
    forecast_completion,
)

FORECAST_WINDOW_DAYS = 180
COUNTS = ("screened", "screen_failures", "randomized", "open_queries", "overdue_visits")


def _month(day: str) -> str:
    return day[:7]


def site_counts(
    uow: UnitOfWork, nct_id: str, trial_id: int, site_keys: Collection[str], today: dt.date
) -> dict[str, Counter[str]]:
    """The one home of the dashboard's per-site counts (:data:`COUNTS`) for ``site_keys``, as of ``today``.

    Takes no principal: aggregates are the same whoever asks; callers pick the sites they may show."""
    wanted = set(site_keys)
    by_site: dict[str, Counter[str]] = {site: Counter(dict.fromkeys(COUNTS, 0)) for site in wanted}
    latest: dict[int, tuple[str, str]] = {}  # a subject's latest screening decides screened / screen failure
    for site, _day, subject_id, verdict in uow.dashboard.screenings(trial_id):
        if site in wanted:
            latest[subject_id] = (site, verdict)
    for site, verdict in latest.values():
        by_site[site]["screened"] += 1
        by_site[site]["screen_failures"] += verdict == "ineligible"
    # allocations flagged in error were randomized too
    for site, _day in uow.allocations.randomization_dates(trial_id, include_in_error=True):
        if site in wanted:
            by_site[site]["randomized"] += 1
    for site, n in uow.dashboard.open_queries(trial_id).items():
        if site in wanted:
            by_site[site]["open_queries"] = n
    for site, n in _overdue_visits(uow, nct_id, wanted, today).items():
        by_site[site]["overdue_visits"] = n
    return by_site


def _overdue_visits(uow: UnitOfWork, nct_id: str, site_keys: Collection[str], today: dt.date) -> dict[str, int]:
    """Overdue visits per site on ``today``, from the site calendars (``services/treatment``). Read as the system:
    only the count leaves this function, so it does not depend on who asks."""
    from trialdesk.domain.schedule import VisitStatus
    from trialdesk.services.treatment import site_calendar

    return {
        site: sum(1 for v in site_calendar(uow, SYSTEM, nct_id, site, today) if v.status == VisitStatus.OVERDUE)
        for site in sorted(site_keys)
    }


def forecast_horizon(protocol: Protocol, first_randomization: dt.date | None) -> dt.date | None:
    """The last date a forecast may name: the study start (else the first randomization) plus the design's planned
    accrual × ``HORIZON_FACTOR``; without a design, the registry's completion date; else no bound."""
    from trialdesk.stats.design import accrual_duration

    start_date = protocol.registry.status.start_date
    start = start_date.as_date() if start_date is not None else first_randomization
    design = protocol.operations.design
    if design is not None and start is not None:
        months = accrual_duration(design.accrual, design.sample_size)
        return start + dt.timedelta(days=round(months * HORIZON_FACTOR * DAYS_PER_MONTH))
    completion = protocol.registry.status.completion_date
    return completion.as_date() if completion is not None else None


def dashboard(uow: UnitOfWork, principal: Principal, nct_id: str, *, today: dt.date | None = None) -> dict[str, Any]:
    require(principal, Action.DASHBOARD_VIEW)
    trial_id = stored_id(get_trial_row(uow, nct_id))
    protocol = get_protocol(uow, nct_id)
    target = protocol.registry.design.enrollment.count if protocol.registry.design.enrollment else 0
    today = today or uow.now().date()
    visible = principal.sites_for(Action.SITE_VIEW)
    sites = [s for s in uow.sites.for_trial(trial_id) if visible is None or s.site_key in visible]
    site_keys = {s.site_key for s in sites}
    counts = site_counts(uow, nct_id, trial_id, site_keys, today)
    site_rows = [
        {"site": s.site_key, "facility": s.facility, "status": s.status, **{k: counts[s.site_key][k] for k in COUNTS}}
        for s in sites
    ]
    totals = {k: sum(counts[site][k] for site in site_keys) for k in COUNTS}

    everyone = uow.allocations.randomization_dates(trial_id, include_in_error=True)
    months: dict[str, Counter[str]] = defaultdict(Counter)
    for site, day, _sid, _v in uow.dashboard.screenings(trial_id):
        if site in site_keys:
            months[_month(day)]["screened"] += 1
    for site, day in everyone:
        if site in site_keys:
            months[_month(day)]["randomized"] += 1
    timeline: list[dict[str, Any]] = []
    cumulative = 0
    for month in sorted(months):
        cumulative += months[month]["randomized"]
        timeline.append(
            {
                "month": month,
                "screened": months[month]["screened"],
                "randomized": months[month]["randomized"],
                "cumulative_randomized": cumulative,
            }
        )

    return {
        "nct_id": nct_id,
        "as_of": today.isoformat(),
        "target": target,
        "scope": "all sites" if visible is None else f"{len(site_keys)} site(s)",
        "totals": totals,
        "sites": site_rows,
        "timeline": timeline,
        "recruiting_sites": sum(1 for s in sites if s.status == "RECRUITING"),
        "randomized_all_sites": len(everyone),
        "forecast": _forecast_or_closed(
            uow, trial_id, protocol, nct_id, target, [day for _site, day in everyone], today
        )
        if target
        else None,
    }


def _forecast_or_closed(
    uow: UnitOfWork, trial_id: int, protocol: Protocol, nct_id: str, target: int, days: list[str], today: dt.date
) -> dict[str, Any]:
    """No forecast once recruitment is closed at every site (an early stop or a recruitment closure): the trial will
    not reach its target, and the dashboard says so, as the public status does."""
    every_site = uow.sites.for_trial(trial_id)
    if every_site and all(s.status in ("ACTIVE_NOT_RECRUITING", "CLOSED") for s in every_site):
        return {"status": "closed", "randomized": len(days)}
    return enrollment_forecast(protocol, nct_id, target, days, today)


def enrollment_forecast(
    protocol: Protocol, nct_id: str, target: int, days: list[str], today: dt.date
) -> dict[str, Any]:
    """Trial-wide (aggregate counts only), from the recent pace: randomizations in the last FORECAST_WINDOW_DAYS
    (or since the first one, when that is shorter); bounded by :func:`forecast_horizon`."""
    dates = sorted(dt.date.fromisoformat(d) for d in days)
    first = dates[0] if dates else None
    window_start = max(first, today - dt.timedelta(days=FORECAST_WINDOW_DAYS)) if first else today
    recent = sum(1 for d in dates if window_start <= d <= today)
    observed = max((today - window_start).days, 1)
    horizon = forecast_horizon(protocol, first)
    seed = int.from_bytes(hashlib.sha256(f"{nct_id}|{today}|{len(dates)}".encode()).digest()[:8], "little")
    fc = forecast_completion(
        recent,
        observed,
        recent + max(target - len(dates), 0),
        np.random.default_rng(seed),
        horizon_days=None if horizon is None else (horizon - today).days,
    )

    def when(d: float | None) -> str | None:
        return None if d is None else (today + dt.timedelta(days=float(d))).isoformat()

    return {
        "status": fc.status,
        "rate_per_month": round(fc.rate_per_month, 2),
        "level": fc.level,
        "window_start": window_start.isoformat(),
        "window_days": FORECAST_WINDOW_DAYS,
        "recent_randomized": recent,
        "completion_median": when(fc.days_to_target_median),
        "completion_low": when(fc.days_to_target_low),
        "completion_high": when(fc.days_to_target_high),
        "high_beyond_horizon": fc.high_beyond_horizon,
        "horizon": None if horizon is None else horizon.isoformat(),
        "horizon_factor": HORIZON_FACTOR,
        "min_randomized": MIN_RANDOMIZED,
        "min_observed_days": MIN_OBSERVED_DAYS,
        "observed_days": fc.observed_days,
    }
