"""The enrollment dashboard in Chromium, at 1366 and 390 px: the statistician's trial-wide view and a coordinator's
site view show the same site row, a bounded forecast and a figure whose axis stays within the data and horizon."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from browser_helpers import browser_page, live_server, require_chromium
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services.demo import demo_password, run_demo

pytestmark = pytest.mark.browser

TODAY = dt.date(2025, 10, 15)  # the demo's accrual runs from July to October 2025: enrollment is under way


@pytest.fixture
def served(tmp_path, monkeypatch):
    require_chromium()
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    td = bootstrap(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    report = run_demo(td, subjects=40, seed=2, until=TODAY)
    assert report.randomized >= 10, report.to_dict()
    td.clock = lambda: dt.datetime.combine(TODAY, dt.time(9), tzinfo=dt.UTC)
    with live_server(create_app(td_app=td)) as url:
        yield td, url
    td.dispose()


def _login(page, url, user):
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", demo_password(user))
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ops")


def _rows(page) -> dict[str, list[str]]:
    rows = page.locator("table.list").nth(0).locator("tbody tr")
    out = {}
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        out[cells[0]] = cells[2:]
    return out


def test_dashboard_agrees_across_roles_and_forecast_is_bounded(served, tmp_path):
    td, url = served
    views = {}
    for user in ("stat.demo", "coord.12"):
        with browser_page() as page:
            _login(page, url, user)
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(f"{url}/ops/dashboard")
                page.screenshot(path=str(tmp_path / f"dashboard-{user}-{width}.png"), full_page=True)
            forecast = page.locator("#forecast").inner_text()
            svg = page.locator(".figure svg")
            assert svg.count() == 1
            views[user] = (_rows(page), forecast)
    stat_rows, stat_forecast = views["stat.demo"]
    coord_rows, coord_forecast = views["coord.12"]
    # the coordinator's one site row is the statistician's row for that site
    assert len(coord_rows) == 1
    ((facility, cells),) = coord_rows.items()
    assert stat_rows[facility] == cells
    # a forecast with dates, not centuries away: before the horizon (~2031) and after today
    for text in (stat_forecast, coord_forecast):
        # dates as the page writes them in English (en_GB, CLDR): "18 Sept 2029"
        dates = [
            dt.datetime.strptime(d.replace("Sept", "Sep"), "%d %b %Y").date()
            for d in re.findall(r"\d{1,2} \w{3,4} \d{4}", text)
        ]
        assert dates, text
        assert all(d < dt.date(2032, 1, 1) for d in dates), text
    print(tmp_path)
