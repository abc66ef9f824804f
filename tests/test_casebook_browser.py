"""The subject casebook in Chromium, on a small demo (SQLite): the demo's busiest subject (most doses), opened by
the demo's monitor; each tab a URL with its link marked ``aria-current``; a dose's given mg clicked opens the
raise-query form about that value, only the message typed, and the query appears on the Queries tab on that dose;
at 390 px no tab scrolls sideways and none is taller than 6,000 px (issue 15: the single page was 41,000 px).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from browser_helpers import browser_page, live_server, require_chromium
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services.demo import demo_password, run_demo

pytestmark = pytest.mark.browser

NCT = "NCT07003074"
TABS = ("summary", "screening", "treatment", "ae", "tumour", "disposition", "queries", "signature", "audit")
MAX_TAB_HEIGHT = 6000


@pytest.fixture
def demo(tmp_path, shared_dir, monkeypatch):
    require_chromium()
    workbook = shared_dir / "data" / "ctcae" / "CTCAE_v5.0_2017-11-27.xlsx"
    if not workbook.is_file():
        pytest.skip(f"the CTCAE v5.0 workbook is not at {workbook}")
    monkeypatch.setenv("TRIALDESK_CTCAE_XLSX", str(workbook))
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    td = bootstrap(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    report = run_demo(td, subjects=8, seed=3, until=dt.date(2026, 2, 1))
    assert report.randomized >= 4, report.to_dict()
    with td.uow() as uow:
        trial = uow.trials.get(NCT)
        subjects = uow.subjects.list(trial.id)
        busiest = max(subjects, key=lambda s: len(uow.doses.for_subject(s.id)))
        assert uow.doses.for_subject(busiest.id), "the demo gave no dose"
        number = busiest.subject_number
    td.clock = lambda: dt.datetime(2026, 2, 2, 9, 30, tzinfo=dt.UTC)
    with live_server(create_app(td_app=td)) as url:
        yield {"td": td, "url": url, "subject": number}
    td.dispose()


def _login(page, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", demo_password(username))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(ops|account/password).*"))
    assert "/account/password" not in page.url, "the demo user must change the password first"


def test_casebook_tabs_raise_by_click_and_phone_width(demo, tmp_path):
    url, number = demo["url"], demo["subject"]
    folder = Path(os.environ.get("TRIALDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    with browser_page() as page:
        page.set_viewport_size({"width": 1366, "height": 900})
        _login(page, url, "monitor.demo")
        page.goto(f"{url}/ops/subjects/{number}")
        assert page.locator("nav.tabs a[aria-current=page]").get_attribute("data-tab") == "summary"

        # an old link to a panel opens the tab that shows it
        page.goto(f"{url}/ops/subjects/{number}#panel-doses")
        page.wait_for_url(f"{url}/ops/subjects/{number}?tab=treatment#panel-doses")

        # the first dose's given mg: a link that raises a query about that value
        row = page.locator("#panel-doses table.list").first.locator("tbody tr").first
        cycle, drug = row.locator("td").nth(0).inner_text().strip(), row.locator("td").nth(1).inner_text().strip()
        given = row.locator("td").nth(4).locator("a.raise")
        mg = given.inner_text().strip()
        given.click()
        page.wait_for_url(re.compile(r".*[?&]tab=queries&raise=dose%3A(\d+)%3Aactual_mg.*"))
        dose_id = re.search(r"raise=dose%3A(\d+)%3Aactual_mg", page.url).group(1)
        about = page.locator("#query-about").inner_text()
        assert about == f"Dose #{dose_id}, cycle {cycle} {drug}: dose given (mg) = {mg}"
        assert page.locator("#query-raise-form input[name=entity_id]").count() == 0  # no id to type
        page.fill("#query-raise-form input[name=message]", "Please confirm the infused amount")
        page.click("#query-raise-form button[type=submit]")
        page.wait_for_url(f"{url}/ops/subjects/{number}?tab=queries#panel-queries")
        rows = page.locator("#panel-queries table.list").first.locator(
            "tbody tr", has_text="Please confirm the infused amount"
        )
        assert rows.count() == 1
        assert about in rows.first.inner_text()  # what the query is about, in words

        # at 390 px: every tab, no sideways scroll, bounded height
        page.set_viewport_size({"width": 390, "height": 844})
        heights = {}
        for tab in TABS:
            page.goto(f"{url}/ops/subjects/{number}?tab={tab}")
            assert page.locator("nav.tabs a[aria-current=page]").get_attribute("data-tab") == tab
            width = page.evaluate("document.documentElement.scrollWidth")
            heights[tab] = page.evaluate("document.documentElement.scrollHeight")
            page.screenshot(path=str(folder / f"casebook-{tab}-390.png"), full_page=True)
            assert width <= 390, (tab, width)
            assert "Internal Server Error" not in page.content()
        assert max(heights.values()) <= MAX_TAB_HEIGHT, heights
