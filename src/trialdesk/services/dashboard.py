"""The enrollment dashboard: counts by site and over time, the enrollment curve, a completion forecast, open
queries and overdue visits. Aggregates only: no subject-level identifiers (the sponsor sees it too)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from trialdesk.domain.access import Action, Principal, require
from trialdesk.services.registry import get_protocol, get_trial_row, stored_id
from trialdesk.services.unit_of_work import UnitOfWork
from trialdesk.stats.enrollment import forecast_completion

FORECAST_WINDOW_DAYS = 180


def _month(day: str) -> str:
    return day[:7]


def dashboard(uow: UnitOfWork, principal: Principal, nct_id: str, *, today: dt.date | None = None) -> dict[str, Any]:
    require(principal, Action.DASHBOARD_VIEW)
    trial_id = stored_id(get_trial_row(uow, nct_id))
    protocol = get_protocol(uow, nct_id)
    target = protocol.registry.design.enrollment.count if protocol.registry.design.enrollment else 0
    today = today or uow.now().date()
    visible = principal.sites_for(Action.SITE_VIEW)
    sites = [s for s in uow.sites.for_trial(trial_id) if visible is None or s.site_key in visible]
    site_keys = {s.site_key for s in sites}

    screenings = [r for r in uow.dashboard.screenings(trial_id) if r[0] in site_keys]
    dates = uow.allocations.randomization_dates(trial_id, include_in_error=True)  # in-error ones were randomized too
    randomizations = [r for r in dates if r[0] in site_keys]
    latest: dict[int, tuple[str, str]] = {}
    for site, _day, subject_id, verdict in screenings:
        latest[subject_id] = (site, verdict)
    by_site: dict[str, Counter[str]] = defaultdict(Counter)
    for site, _day, _sid, _v in screenings:
        by_site[site]["screenings"] += 1
    for site, verdict in latest.values():
        by_site[site]["screened"] += 1
        if verdict == "ineligible":
            by_site[site]["screen_failures"] += 1
    for site, _day in randomizations:
        by_site[site]["randomized"] += 1
    queries = uow.dashboard.open_queries(trial_id)
    overdue = _overdue_visits(uow, principal, nct_id, site_keys, today)
    site_rows = [
        {
            "site": s.site_key,
            "facility": s.facility,
            "status": s.status,
            "screened": by_site[s.site_key]["screened"],
            "screen_failures": by_site[s.site_key]["screen_failures"],
            "randomized": by_site[s.site_key]["randomized"],
            "open_queries": queries.get(s.site_key, 0),
            "overdue_visits": overdue.get(s.site_key, 0),
        }
        for s in sites
    ]

    months: dict[str, Counter[str]] = defaultdict(Counter)
    for _site, day, _sid, _v in screenings:
        months[_month(day)]["screened"] += 1
    for _site, day in randomizations:
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

    # The forecast is trial-wide (aggregate counts only) and uses the recent pace: randomizations in the last
    # FORECAST_WINDOW_DAYS (or since the first one, when that is shorter).
    everyone = uow.allocations.randomization_dates(trial_id, include_in_error=True)
    n_total = len(everyone)
    first = dt.date.fromisoformat(everyone[0][1]) if everyone else None
    window_start = max(first, today - dt.timedelta(days=FORECAST_WINDOW_DAYS)) if first else today
    recent = sum(1 for _site, day in everyone if dt.date.fromisoformat(day) >= window_start)
    observed = max((today - window_start).days, 1)
    seed = int.from_bytes(hashlib.sha256(f"{nct_id}|{today}|{n_total}".encode()).digest()[:8], "little")
    remaining_target = max(target - n_total, 0)
    fc = (
        forecast_completion(recent, observed, recent + remaining_target, np.random.default_rng(seed))
        if target
        else None
    )

    def when(days: float | None) -> str | None:
        return None if days is None else (today + dt.timedelta(days=float(days))).isoformat()

    totals: Counter[str] = Counter()
    for row in site_rows:
        totals.update(
            {k: row[k] for k in ("screened", "screen_failures", "randomized", "open_queries", "overdue_visits")}
        )
    return {
        "nct_id": nct_id,
        "as_of": today.isoformat(),
        "target": target,
        "scope": "all sites" if visible is None else f"{len(site_keys)} site(s)",
        "totals": dict(totals),
        "sites": site_rows,
        "timeline": timeline,
        "recruiting_sites": sum(1 for s in sites if s.status == "RECRUITING"),
        "randomized_all_sites": n_total,
        "forecast": None
        if fc is None
        else {
            "rate_per_month": round(fc.rate_per_month, 2),
            "level": fc.level,
            "window_start": window_start.isoformat(),
            "recent_randomized": recent,
            "completion_median": when(fc.days_to_target_median),
            "completion_low": when(fc.days_to_target_low),
            "completion_high": when(fc.days_to_target_high),
            "observed_days": fc.observed_days,
        },
    }


def _overdue_visits(
    uow: UnitOfWork, principal: Principal, nct_id: str, site_keys: Iterable[str], today: dt.date
) -> dict[str, int]:
    try:
        from trialdesk.services import treatment
    except ImportError:
        return {}
    counts: dict[str, int] = {}
    fn = getattr(treatment, "site_calendar", None)
    if fn is None:
        return counts
    for site in site_keys:
        if not principal.can(Action.SUBJECT_VIEW, site):
            continue
        try:
            visits = fn(uow, principal, nct_id, site, today)
        except Exception:
            continue
        counts[site] = sum(
            1
            for v in visits
            if getattr(v, "status", None) == "overdue" or (isinstance(v, dict) and v.get("status") == "overdue")
        )
    return counts
