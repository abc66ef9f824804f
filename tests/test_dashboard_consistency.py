"""The dashboard agrees with itself: every role sees the same counts at the same scope (a role only chooses which
sites are shown), against the database's own rows and the site calendars. Both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from trialdesk.domain.schedule import VisitStatus

NCT = "NCT07003074"
COUNTS = ("screened", "screen_failures", "randomized", "open_queries", "overdue_visits")
TRIAL_WIDE = ("admin.demo", "sponsor.demo", "stat.demo", "monitor.demo")


@pytest.fixture
def demo(db_url, tmp_path, monkeypatch):
    from trialdesk.bootstrap import bootstrap
    from trialdesk.services.demo import run_demo

    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    td = bootstrap(db_url)
    # mid-treatment when the simulation stops, so that visits fall overdue and queries are open
    report = run_demo(td, subjects=10, seed=5, until=dt.date(2025, 12, 1))
    yield td, report
    td.dispose()


def _boards(td):
    from trialdesk.services import accounts, dashboard

    boards = {}
    with td.uow() as uow:
        for user in uow.users.list():
            if user.username in TRIAL_WIDE or user.username.startswith(("coord.", "inv.")):
                p = accounts.principal_for(uow, user)
                boards[user.username] = dashboard.dashboard(uow, p, NCT)
    return boards


def test_every_role_sees_the_same_counts(demo):
    from trialdesk.domain.access import SYSTEM
    from trialdesk.services.treatment import site_calendar

    td, report = demo
    boards = _boards(td)
    site_roles = [u for u in boards if u.startswith(("coord.", "inv."))]
    assert set(TRIAL_WIDE) <= set(boards) and len(site_roles) >= 2
    reference = boards["admin.demo"]
    rows = {row["site"]: row for row in reference["sites"]}

    # trial-wide roles: the same rows and the same totals
    for user in TRIAL_WIDE:
        assert boards[user]["sites"] == reference["sites"], user
        assert boards[user]["totals"] == reference["totals"], user
    # a site role: each row it sees is that site's trial-wide row; its totals are that row
    for user in site_roles:
        seen = boards[user]["sites"]
        assert len(seen) == 1, user
        assert seen[0] == rows[seen[0]["site"]], user
        assert boards[user]["totals"] == {k: seen[0][k] for k in COUNTS}, user

    # the numbers themselves, from the database's rows
    with td.engine.connect() as conn:
        allocations = conn.execute(text("SELECT COUNT(*) FROM allocations")).scalar()
        open_queries = conn.execute(text("SELECT COUNT(*) FROM queries WHERE status <> 'closed'")).scalar()
    totals = reference["totals"]
    assert totals["randomized"] == allocations == report.randomized
    assert totals["open_queries"] == open_queries
    # overdue visits: what the site calendars (the coordinators' visit lists) call overdue, on the same day
    today = dt.date.fromisoformat(reference["as_of"])
    with td.uow() as uow:
        calendar = {
            site: sum(1 for v in site_calendar(uow, SYSTEM, NCT, site, today) if v.status == VisitStatus.OVERDUE)
            for site in rows
        }
    assert {site: row["overdue_visits"] for site, row in rows.items()} == calendar
    assert totals["overdue_visits"] > 0
