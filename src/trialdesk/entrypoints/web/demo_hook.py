"""``serve --demo``: on first start (no subjects yet), simulate a trial of sensible size, then serve it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialdesk.settings import DEMO_SUBJECTS

if TYPE_CHECKING:
    from trialdesk.bootstrap import App


def ensure_demo(td: App) -> list[dict[str, str]]:
    """Run the demo once on an empty trial; return the demo logins to show on the home page."""
    from trialdesk.bootstrap import ensure_default_trial
    from trialdesk.services.demo import demo_password, demo_users, run_demo
    from trialdesk.services.registry import get_trial_row, stored_id
    from trialdesk.services.subjects import site_code
    from trialdesk.services.unit_of_work import utc_now

    ensure_default_trial(td, dated_at_start=True)  # a no-op when the trial is already there
    nct_id = td.settings.default_trial
    with td.uow() as uow:
        trial_id = stored_id(get_trial_row(uow, nct_id))
        populated = bool(uow.subjects.list(trial_id))
        sites = [s.site_key for s in uow.sites.for_trial(trial_id)]
        codes = {s: site_code(uow, trial_id, s) for s in sites}
        has_demo_users = uow.users.get("admin.demo") is not None
    if not populated:
        print(
            f"trialdesk: first start in demo mode: simulating {DEMO_SUBJECTS} subjects to the final analysis "
            "(about three minutes on a 2-core machine)...",
            flush=True,
        )
        try:
            run_demo(td, nct_id=nct_id, to_completion=True)  # DEMO_SUBJECTS, DEMO_SEED: the CLI's defaults
        finally:
            td.clock = utc_now
        has_demo_users = True
    if not has_demo_users:
        return []
    _continue_demo_clock(td)
    users = demo_users(sites, codes)
    return [
        {"username": u, "password": demo_password(u), "role": f"{role}" + (f" ({', '.join(s)})" if s else "")}
        for u, role, s, _ in users
        if s is None or u in {"coord.12", "inv.12", "coord.01"}
    ]


def _continue_demo_clock(td: App) -> None:
    """The demo simulates past the real date: serve it on the database's trial clock (``services/trial_clock.py``),
    the one every CLI command reads too, so that calendars, overdue visits, the dashboard and dataset cuts read as
    on the simulated trial's today. A demo database made before the clock was recorded (its trail simply runs
    past the real date) gets the record now, from its last event."""
    import datetime as dt

    from trialdesk.bootstrap import database_clock
    from trialdesk.services.trial_clock import mark_simulated, stored_offset
    from trialdesk.services.unit_of_work import utc_now

    with td.uow() as uow:
        if stored_offset(uow) is None and (latest := uow.audit.query(limit=1)):
            last = dt.datetime.fromisoformat(latest[0].occurred_at)
            if last > utc_now():
                mark_simulated(uow, last + dt.timedelta(minutes=1), utc_now(), reason="demo database: clock recorded")
                uow.commit()
    td.clock = database_clock(td)
    if td.clock is not utc_now:
        print(f"trialdesk: demo clock at {td.clock().date()} (the simulated trial's today)", flush=True)
