"""In Chromium: a form that fails validation comes back with what the user typed and the message beside the field.

A coordinator plans a cycle's doses with a weight of -3 kg: the dose page comes back (422) with the cycle and date
kept, and "greater than 0" beside the weight input, linked by ``aria-describedby``; nothing is stored. Then a
docetaxel dose 22% above the plan without an override reason: the page comes back with every typed amount kept and
the message beside docetaxel's override reason. Fixed, the doses are stored. An adverse event whose resolution
date is before its onset comes back on the subject page with the term, grade, dates and causalities kept and the
message beside the resolution date. Screenshots at 1366 and 390 px wide (``TRIALDESK_SCREENSHOTS=<dir>`` keeps them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from access_helpers import NCT, PASSWORD, make_users
from browser_helpers import browser_page, live_server, require_chromium
from capture_helpers import THP_RELATIONSHIP, load_ctcae
from test_treatment_helpers import Clock, day, randomized_subject
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app

pytestmark = pytest.mark.browser

R = "2025-07-01"  # randomized after the study start (2025-06-23, the registry record)


@pytest.fixture
def server(sqlite_url):
    require_chromium()
    td = bootstrap(sqlite_url)
    td.clock = Clock(day(R, 60))
    make_users(td)
    randomized_subject(td, "01-001", arm="thp", randomized_on=R)
    with live_server(create_app(td_app=td)) as url:
        yield td, url
    td.dispose()


def _n_doses(td) -> int:
    with td.uow() as uow:
        return len(uow.doses.for_subject(uow.subjects.get(uow.trials.get(NCT).id, "01-001").id))


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


def _screenshots(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("TRIALDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def test_dose_form_keeps_input_and_shows_the_message_beside_the_field(server, tmp_path):
    td, url = server
    with browser_page() as page:
        _login(page, url)
        page.goto(f"{url}/ops/subjects/01-001/doses/new")
        form = page.locator("#dose-plan-form")
        form.locator("input[name=cycle]").fill("1")
        form.locator("input[name=dose_date]").fill(day(R, 1))
        form.locator("input[name=weight_kg]").fill("-3")
        with page.expect_response(lambda r: "/doses/new" in r.url) as answer:
            form.locator("button[type=submit]").click()
        assert answer.value.status == 422
        weight = form.locator("input[name=weight_kg]")
        assert weight.input_value() == "-3"
        assert form.locator("input[name=cycle]").input_value() == "1"
        assert form.locator("input[name=dose_date]").input_value() == day(R, 1)
        assert weight.get_attribute("aria-invalid") == "true"
        assert weight.get_attribute("aria-describedby") == "err-weight_kg"
        message = page.locator("#err-weight_kg")
        assert "greater than 0" in message.inner_text()
        # beside the field: inside the weight input's label, right under it
        assert message.evaluate("e => e.closest('label').querySelector('input').name") == "weight_kg"
        assert page.locator("#dose-plan").count() == 0 and _n_doses(td) == 0
        _screenshots(page, "dose-plan-invalid", tmp_path)

        weight.fill("60")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#dose-record-form")
        record = page.locator("#dose-record-form")
        record.locator("input[name=actual_mg__docetaxel]").fill("150")
        record.locator("input[name=reduction_reason__trastuzumab]").fill("none")
        with page.expect_response(lambda r: r.url.endswith("/doses") and r.request.method == "POST") as answer:
            record.locator("button[type=submit]").click()
        assert answer.value.status == 422
        assert "override reason" in page.locator("#dose-error").inner_text()
        record = page.locator("#dose-record-form")
        assert record.locator("input[name=actual_mg__docetaxel]").input_value() == "150"
        assert record.locator("input[name=reduction_reason__trastuzumab]").input_value() == "none"
        reason = record.locator("input[name=override_reason__docetaxel]")
        assert reason.get_attribute("aria-describedby") == "err-override_reason__docetaxel"
        assert page.locator("#err-override_reason__docetaxel").is_visible()
        assert _n_doses(td) == 0
        _screenshots(page, "dose-record-invalid", tmp_path)

        reason.fill("investigator decision")
        record.locator("button[type=submit]").click()
        page.wait_for_url(f"{url}/ops/subjects/01-001*")
        assert page.locator("#panel-doses").is_visible()
    assert _n_doses(td) == 3


def _n_aes(td) -> int:
    with td.uow() as uow:
        return len(uow.adverse_events.for_subject(uow.subjects.get(uow.trials.get(NCT).id, "01-001").id))


def test_adverse_event_form_keeps_input_and_shows_the_message_beside_the_field(server, shared_dir, tmp_path):
    td, url = server
    load_ctcae(td, shared_dir)
    onset, resolved = day(R, 40), day(R, 30)
    with browser_page() as page:
        _login(page, url)
        page.goto(f"{url}/ops/subjects/01-001")
        form = page.locator("#ae-form")
        form.locator("input[name=term]").fill("Nausea")
        form.locator("input[name=term]").press("Tab")  # leaving the term fetches its grades
        page.locator("#ae-grade-help", has_text="MedDRA").wait_for()  # no eval: the CSP forbids it
        form.locator("select[name=grade]").select_option("2")
        form.locator("input[name=onset_date]").fill(onset)
        form.locator("input[name=resolution_date]").fill(resolved)
        for drug, relationship in THP_RELATIONSHIP.items():
            form.locator(f"select[name=rel_{drug}]").select_option(relationship)
        with page.expect_response(lambda r: r.url.endswith("/adverse-events") and r.request.method == "POST") as answer:
            form.locator("button[type=submit]").click()
        assert answer.value.status == 422
        form = page.locator("#ae-form")
        assert form.is_visible()  # its panel is open
        resolution = form.locator("input[name=resolution_date]")
        assert resolution.input_value() == resolved
        assert form.locator("input[name=term]").input_value() == "Nausea"
        assert form.locator("select[name=grade]").input_value() == "2"
        assert form.locator("input[name=onset_date]").input_value() == onset
        assert form.locator("select[name=rel_docetaxel]").input_value() == THP_RELATIONSHIP["docetaxel"]
        assert resolution.get_attribute("aria-invalid") == "true"
        assert resolution.get_attribute("aria-describedby") == "err-resolution_date"
        message = page.locator("#err-resolution_date")
        assert message.is_visible() and f"before the onset date {onset}" in message.inner_text()
        assert message.evaluate("e => e.closest('label').querySelector('input').name") == "resolution_date"
        assert _n_aes(td) == 0
        _screenshots(page, "ae-invalid", tmp_path)

        resolution.fill(day(R, 45))
        form.locator("button[type=submit]").click()
        page.wait_for_url(f"{url}/ops/subjects/01-001*")
        assert page.locator("#panel-adverse_events").is_visible()
    assert _n_aes(td) == 1
