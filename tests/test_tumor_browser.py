"""In Chromium: a coordinator records a baseline and two follow-ups on the subject page without typing a lesion id.

The follow-up form lists the baseline lesions T1 (liver), T2 (lung) and B1 (bone) with nothing to fill but their
readings; the RECIST table then gives each time point's reason. Hand computation (RECIST 1.1, Eisenhauer 2009,
4.3.1): baseline 50 + 30 = 80 mm; 30 + 20 = 50 mm is -37.5 % -> PR; 40 + 20 = 60 mm is +10 mm and +20 % over the
50 mm nadir -> PD. Screenshots at 1366 and 390 px wide (``TRIALDESK_SCREENSHOTS=<dir>`` keeps them).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from access_helpers import PASSWORD, make_users
from browser_helpers import browser_page, live_server, require_chromium
from capture_helpers import Clock, add_subject
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app

pytestmark = pytest.mark.browser


@pytest.fixture
def server(sqlite_url):
    require_chromium()
    td = bootstrap(sqlite_url)
    td.clock = Clock(dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC))
    make_users(td)
    add_subject(td, "HUN-0001")
    with live_server(create_app(td_app=td)) as url:
        yield url
    td.dispose()


def _login(page, url: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", "coordinator1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if "/account/password" in page.url:
        page.fill("input[name=current]", PASSWORD)
        page.fill("input[name=new]", PASSWORD + "!")
        page.fill("input[name=confirm]", PASSWORD + "!")
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/ops")


def _open_form(page) -> None:
    details = page.locator("#tumor-form").locator("xpath=ancestor::details")
    if details.get_attribute("open") is None:
        details.locator("summary").click()


def _follow_up(page, date: str, t1: str, t2: str) -> None:
    _open_form(page)
    form = page.locator("#tumor-form")
    form.locator("input[name=assessment_date]").fill(date)
    form.get_by_label("T1 (liver) measurement").fill(t1)
    form.get_by_label("T2 (lung) measurement").fill(t2)
    form.get_by_label("B1 (bone) status").select_option("present")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_follow_up_lists_baseline_lesions_and_table_explains(server, tmp_path):
    url = server
    with browser_page() as page:
        _login(page, url)
        page.goto(f"{url}/ops/subjects/HUN-0001?tab=tumour")
        _open_form(page)
        form = page.locator("#tumor-form")
        form.locator("input[name=assessment_date]").fill("2025-12-28")
        form.locator("input[name=baseline]").check()
        for i, (lesion_id, kind, organ, value) in enumerate(
            [("T1", "target", "liver", "50"), ("T2", "target", "lung", "30"), ("B1", "non_target", "bone", "present")]
        ):
            form.locator(f"input[name=l{i}_id]").fill(lesion_id)
            form.locator(f"select[name=l{i}_kind]").select_option(kind)
            form.locator(f"input[name=l{i}_organ]").fill(organ)
            form.locator(f"input[name=l{i}_value]").fill(value)
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        _open_form(page)
        rows = page.locator("#tumor-form tr.baseline-lesion")
        assert [rows.nth(i).get_attribute("data-lesion") for i in range(rows.count())] == ["T1", "T2", "B1"]
        assert "liver" in rows.nth(0).inner_text() and "bone" in rows.nth(2).inner_text()
        _follow_up(page, "2026-02-16", "30", "20")
        _open_form(page)
        form = page.locator("#tumor-form")
        form.locator("input[name=l3_id]").fill("NEW1")
        form.locator("input[name=l3_organ]").fill("brain")
        form.locator("input[name=l3_value]").fill("unequivocal")
        _follow_up(page, "2026-03-30", "40", "20")
        panel = page.locator("#panel-tumour_assessments")
        text = panel.locator("table").first.inner_text()
        assert "PR: sum \u221237.5 % from baseline" in text
        assert "PD: new lesion NEW1; sum +20.0 % (+10 mm) from nadir (≥20 % and ≥5 mm)" in text
        _open_form(page)
        folder = Path(os.environ.get("TRIALDESK_SCREENSHOTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 900})
            panel.screenshot(path=str(folder / f"tumour-panel-{width}.png"))
