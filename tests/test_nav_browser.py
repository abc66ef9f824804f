"""In Chromium: each role signs in and walks its navigation by clicking the links only; every page answers, shows the
same navigation with the current link marked, and fits a 390 px phone without sideways scrolling. Screenshots at
1366 and 390 px go to ``$TRIALDESK_SCREENSHOTS`` (else the test's tmp folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from access_helpers import PASSWORD
from browser_helpers import browser_page, live_server, require_chromium
from nav_helpers import known_state
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import Role
from trialdesk.entrypoints.web.app import create_app

pytestmark = pytest.mark.browser

#: each role's navigation, in order (the issue's list of each role's work)
WALKS = {
    Role.COORDINATOR: ["home", "screening", "subjects", "queries", "deviations", "dashboard"],
    Role.INVESTIGATOR: ["home", "screening", "subjects", "queries", "deviations", "dashboard"],
    Role.MONITOR: ["home", "queries", "deviations", "sites", "dashboard", "monitoring", "audit"],
    Role.STATISTICIAN: ["home", "dashboard", "analysis", "randomization", "datasets", "design"],
    Role.SPONSOR: ["home", "dashboard", "monitoring", "design", "results"],
    Role.ADMIN: ["home", "sites", "dashboard", "users", "audit"],
}


@pytest.fixture
def server(sqlite_url, shared_dir):
    require_chromium()
    td = bootstrap(sqlite_url)
    known_state(td, shared_dir)
    with live_server(create_app(td_app=td)) as url:
        yield url
    td.dispose()


def _login(page, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if "/account/password" in page.url:
        page.fill("input[name=current]", PASSWORD)
        page.fill("input[name=new]", PASSWORD + "!")
        page.fill("input[name=confirm]", PASSWORD + "!")
        page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ops")


def _shots(page, folder: Path, name: str) -> None:
    """Screenshots at 1366 and 390 px; at 390 px nothing is wider than the screen."""
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name}: {scroll} px wide at {width} px"
    page.set_viewport_size({"width": 1366, "height": 900})


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_role_walks_its_navigation_by_clicking(server, role, tmp_path):
    folder = Path(os.environ.get("TRIALDESK_SCREENSHOTS") or tmp_path) / "nav"
    folder.mkdir(parents=True, exist_ok=True)
    with browser_page() as page:
        _login(page, server, f"{role.value}1")
        nav = page.locator("nav[aria-label=Main] a")
        assert [nav.nth(i).get_attribute("data-nav") for i in range(nav.count())] == WALKS[role]
        for key in WALKS[role]:
            page.goto(f"{server}/ops")
            link = f"nav[aria-label=Main] a[data-nav={key}]"
            href = page.locator(link).get_attribute("href") or ""
            if href.startswith("/ops#"):  # a part of the home page (the site list)
                page.click(link)
                assert page.locator(href[4:]).is_visible()
            else:
                with page.expect_navigation() as answer:
                    page.click(link)
                assert answer.value is not None and answer.value.status == 200, key
            page.wait_for_load_state()
            assert page.locator("h1").count() >= 1
            if key != "results":  # the public registry page: no one's navigation
                current = page.locator("nav[aria-label=Main] a[aria-current=page]")
                if "#" not in href:
                    assert current.count() == 1 and current.get_attribute("data-nav") == key
            _shots(page, folder, f"{role.value}-{key}")
