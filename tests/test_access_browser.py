"""In Chromium: a coordinator at Hunan Cancer Hospital logs in, sees only that site, is refused another site's
page, logs out; a bad password is refused and the 5th failure locks the account."""

from __future__ import annotations

import pytest

from access_helpers import OTHER, OWN, PASSWORD, make_users
from browser_helpers import browser_page, live_server, require_chromium
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app

pytestmark = pytest.mark.browser


@pytest.fixture
def server(sqlite_url):
    require_chromium()
    td = bootstrap(sqlite_url)
    make_users(td)
    with live_server(create_app(td_app=td)) as url:
        yield url
    td.dispose()


def login(page, url, username, password):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_coordinator_sees_only_own_site_then_logs_out(server):
    with browser_page() as page:
        login(page, server, "coordinator1", PASSWORD)
        page.wait_for_url(f"{server}/ops")
        # the account line names the role and the site in words (the registry's facility name), not by codes
        assert "Clinical research coordinator (Hunan Cancer Hospital)" in page.locator(".who").inner_text()
        site_links = page.locator("#sites a[href^='/ops/sites/']")
        assert site_links.count() == 1
        assert site_links.first.get_attribute("href") == f"/ops/sites/{OWN}"
        site_links.first.click()
        page.wait_for_url(f"{server}/ops/sites/{OWN}")
        assert page.locator("h1").inner_text() == "Hunan Cancer Hospital"
        response = page.goto(f"{server}/ops/sites/{OTHER}")
        assert response.status == 403
        assert "may not site.view" in page.content()
        page.goto(f"{server}/ops")
        page.click("text=Log out")
        page.wait_for_url(f"{server}/login*")
        response = page.goto(f"{server}/ops/sites/{OWN}")
        assert page.url.startswith(f"{server}/login")


def test_bad_password_then_lockout(server):
    with browser_page() as page:
        for _ in range(5):
            login(page, server, "coordinator1", "definitely wrong")
            # the same answer before and after the lockout (the lock is not disclosed)
            assert page.locator("[role=alert]").inner_text() == "wrong username or password"
        login(page, server, "coordinator1", PASSWORD)
        assert page.locator("[role=alert]").inner_text() == "wrong username or password"
        assert page.url.startswith(f"{server}/login")
