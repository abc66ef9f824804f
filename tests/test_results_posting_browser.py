"""In Chromium: the sponsor records an early stop and approves a run (ticking the confirmation), the statistician
posts it (ticking the confirmation; unticked, the page refuses naming the field); the public page shows the
registry status, the dates and the version history at 1366 and 390 px."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest

from access_helpers import PASSWORD, make_users
from analysis_helpers import fill_database
from browser_helpers import browser_page, live_server, require_chromium
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import analysis
from trialdesk.services.commands import RunAnalysis
from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data

pytestmark = pytest.mark.browser
NCT = "NCT07003074"
CUT = dt.date(2028, 9, 30)
SHOTS = os.environ.get("TRIALDESK_SCREENSHOTS")


@pytest.fixture
def server(sqlite_url):
    require_chromium()
    td = bootstrap(sqlite_url, clock=lambda: dt.datetime(2028, 10, 1, 12, tzinfo=dt.UTC))
    fill_database(
        td,
        simulate_captured_data(
            np.random.default_rng(9), ScheduleSpec(), SimulationSettings(n_subjects=60, n_screened_extra=6)
        ),
    )
    make_users(td)
    with td.uow("setup") as uow:
        run = analysis.run_analysis(uow, SYSTEM, NCT, RunAnalysis(cut_date=CUT), with_report=False)
        uow.commit()
    with live_server(create_app(td_app=td)) as url:
        yield url, run["run_id"]
    td.dispose()


def login(page, url, username):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ops*")


def logout(page, url):
    page.context.clear_cookies()


def shot(page, name, *, full_page=True):
    if SHOTS:
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=os.path.join(SHOTS, f"{name}-{width}.png"), full_page=full_page)
        page.set_viewport_size({"width": 1366, "height": 900})


def test_sponsor_approves_statistician_posts_public_page_shows_history(server):
    url, run_id = server
    with browser_page() as page:
        login(page, url, "sponsor1")
        page.goto(f"{url}/ops/analysis")
        row = page.locator(f"#run-{run_id}")
        assert "not due" in row.locator(".due").inner_text() and "of 334 PFS events" in row.inner_text()
        page.select_option("#decision-form select[name=kind]", "early_stop")
        page.fill("#decision-form input[name=reason]", "DMC recommendation: efficacy bound crossed at the interim")
        page.click("#decision-form button[type=submit]")
        page.wait_for_url(f"{url}/ops/analysis?msg=*")
        assert page.locator(f"#run-{run_id} .due").inner_text() == "due"
        page.click(f"#approve-{run_id} button[type=submit]")  # the box not ticked: said beside the box
        assert "Tick this box to confirm" in page.locator(f"[id='err-approve-{run_id}-confirm']").inner_text()
        page.check(f"#approve-{run_id} input[name=confirm]")
        page.click(f"#approve-{run_id} button[type=submit]")
        page.wait_for_url(f"{url}/ops/analysis?msg=*")
        assert "approved by sponsor1" in page.locator(f"#run-{run_id} .approval").inner_text()
        shot(page, "analysis-sponsor")
        logout(page, url)
        login(page, url, "statistician1")
        page.goto(f"{url}/ops/analysis")
        page.click(f"#post-{run_id} button[type=submit]")  # the box not ticked: said beside the box
        assert "Tick this box to confirm" in page.locator(f"[id='err-post-{run_id}-confirm']").inner_text()
        page.check(f"#post-{run_id} input[name=confirm]")
        page.click(f"#post-{run_id} button[type=submit]")
        page.wait_for_url(f"{url}/ops/analysis?msg=*")
        assert "posted as version 1" in page.locator(".notice").inner_text()
        shot(page, "analysis-statistician")
        page.goto(f"{url}/trials/{NCT}")
        assert page.locator("#results-first-posted").inner_text() == "2028-10-01"
        assert page.locator("#last-updated").inner_text() == "2028-10-01"
        assert page.locator("#recruitment-status").inner_text() == "ACTIVE_NOT_RECRUITING"  # early stop
        page.click("#results-history summary")
        assert "2028-09-30" in page.locator("#results-version-1").inner_text()
        page.locator("#participant-flow").scroll_into_view_if_needed()
        shot(page, "trial-flow", full_page=False)
        page.locator("#results-history").scroll_into_view_if_needed()
        shot(page, "trial-history", full_page=False)
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "trial-top", full_page=False)
