"""In Chromium, after the sponsor's recorded early stop: the home list shows the trial's computed status and
last-updated date, the same as the public trial page, and the enrollment dashboard says no site recruits; at 1366
and 390 px (screenshots under $TRIALDESK_SCREENSHOTS when set)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from access_helpers import PASSWORD, make_users
from browser_helpers import browser_page, live_server, require_chromium
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import Role
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import results_posting
from trialdesk.services.commands import RecordTrialDecision

pytestmark = pytest.mark.browser
NCT = "NCT07003074"
STOPPED = dt.date(2026, 3, 2)
SHOTS = os.environ.get("TRIALDESK_SCREENSHOTS")


@pytest.fixture
def server(sqlite_url):
    require_chromium()
    td = bootstrap(sqlite_url, clock=lambda: dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC))
    users = make_users(td)
    td.clock = lambda: dt.datetime.combine(STOPPED, dt.time(10), tzinfo=dt.UTC)
    with td.uow("sponsor1") as uow:
        decision = RecordTrialDecision(kind="early_stop", reason="DMC recommendation at the interim")
        results_posting.record_decision(uow, users[Role.SPONSOR], NCT, decision)
        uow.commit()
    with live_server(create_app(td_app=td)) as url:
        yield url
    td.dispose()


def _shots(page, name):
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, f"{name} overflows at {width}px"
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def test_home_list_and_dashboard_agree_with_the_public_page_after_an_early_stop(server):
    url = server
    with browser_page() as page:
        page.goto(f"{url}/trials/{NCT}")
        status = page.locator("#recruitment-status").inner_text()
        updated = page.locator("#last-updated").inner_text()
        assert (status, updated) == ("ACTIVE_NOT_RECRUITING", STOPPED.isoformat())
        page.goto(f"{url}/")
        row = page.locator("tr", has=page.locator(f'td > a[href="/trials/{NCT}"]'))
        assert row.locator(".status").inner_text() == status
        assert row.locator(".last-updated").inner_text() == updated
        _shots(page, "home-after-early-stop")
        page.goto(f"{url}/login")
        page.fill("input[name=username]", "sponsor1")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/**")
        page.goto(f"{url}/ops/dashboard")
        assert "0 site(s) recruiting" in page.locator("p.meta").first.inner_text()
        _shots(page, "dashboard-after-early-stop")
