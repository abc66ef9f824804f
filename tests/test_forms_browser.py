"""In Chromium: a form that fails validation comes back with what the user typed and the message beside the field.

A coordinator plans a cycle's doses with a weight of -3 kg: the dose page comes back (422) with the cycle and date
kept, and "greater than 0" beside the weight input, linked by ``aria-describedby``; nothing is stored. Then a
docetaxel dose 22% above the plan without an override reason: the page comes back with every typed amount kept and
the message beside docetaxel's override reason. Fixed, the doses are stored. An adverse event whose resolution
date is before its onset comes back on the subject page with the term, grade, dates and causalities kept and the
message beside the resolution date. The AE grade picked survives choosing the term (again); prior therapies are
typed in rows ("More rows" without JavaScript); cycle 1's dose form starts from the screening weight. Screenshots at
1366 and 390 px wide (``TRIALDESK_SCREENSHOTS=<dir>`` keeps them).
"""

from __future__ import annotations

import json
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
        assert page.locator("#dose-error").inner_text() == "Check the values marked below."
        assert "override reason" in page.locator("#err-override_reason__docetaxel").inner_text()
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
        page.goto(f"{url}/ops/subjects/01-001?tab=ae")
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


def test_ae_grade_picked_survives_choosing_the_term_again(server, shared_dir):
    """The grade list is filtered to the term's CTCAE grades without dropping the grade already picked: picked
    before the term, kept; the term chosen again (even twice in a row, two lookups in flight), kept; a grade the
    new term does not define is dropped with a message saying so."""
    td, url = server
    load_ctcae(td, shared_dir)
    with browser_page() as page:
        _login(page, url)
        page.goto(f"{url}/ops/subjects/01-001?tab=ae")
        form = page.locator("#ae-form")
        grade, term, help_ = (
            form.locator("select[name=grade]"),
            form.locator("input[name=term]"),
            page.locator("#ae-grade-help"),
        )
        grade.select_option("3")  # picked before the term
        term.fill("Nausea")
        term.press("Tab")
        help_.filter(has_text="MedDRA").wait_for()
        # CTCAE v5.0 Nausea defines grades 1-3 (grade 4 and 5 are '-')
        assert [o.split(":")[0] for o in grade.locator("option").all_inner_texts()] == ["1", "2", "3"]
        assert grade.input_value() == "3"
        # the term chosen again, twice quickly: both lookups answer, the grade stays
        term.fill("Vomiting")
        term.dispatch_event("change")
        term.fill("Nausea")
        term.dispatch_event("change")
        page.wait_for_function("() => document.getElementById('ae-grade-help').textContent.startsWith('Nausea')")
        page.wait_for_timeout(300)  # let the older lookup answer too: it must not be applied
        assert grade.input_value() == "3"
        assert help_.inner_text().startswith("Nausea")
        # a grade the new term does not define: dropped, and said so
        grade.select_option("3")
        term.fill("Alopecia")  # CTCAE v5.0 alopecia: grades 1 and 2 only
        term.press("Tab")
        help_.filter(has_text="Alopecia").wait_for()
        assert grade.input_value() in ("1", "2") and "choose again" in help_.inner_text()


def test_cycle_one_dose_form_is_prefilled_with_the_screening_weight(server):
    """Cycle 1's dose form starts from the screening weight, saying where it came from; the plan shows the BSA
    with its working."""
    import json

    from trialdesk.adapters.db.tables import ScreeningRow

    td, url = server
    with td.uow("setup") as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "01-001")
        uow.session.add(
            ScreeningRow(
                trial_id=subject.trial_id,
                subject_id=subject.id,
                site_key=subject.site_key,
                screening_number="S-01-001",
                screened_on="2025-06-25",
                verdict="eligible",
                record_json=json.dumps({"vitals": {"weight_kg": 61.2, "height_cm": 158}}),
                results_json="{}",
                protocol_digest="x" * 64,
                created_at="2025-06-25T02:00:00+00:00",
                created_by="setup",
            )
        )
        uow.commit()
    with browser_page() as page:
        _login(page, url)
        page.goto(f"{url}/ops/subjects/01-001?tab=treatment")
        form = page.locator("#dose-plan-form")
        weight = form.locator("input[name=weight_kg]")
        assert weight.input_value() == "61.2"
        assert "from screening, 25 Jun 2025" in page.locator("#panel-weight-source").inner_text()
        form.locator("input[name=dose_date]").fill(day(R, 1))
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#dose-plan")
        # the subject's own height (160 cm) is used, not the screening's: Mosteller sqrt(160 x 61.2 / 3600) = 1.649
        assert page.locator("#bsa").inner_text().startswith("1.649")
        assert page.locator("input[name=weight_kg]").first.input_value() == "61.2"


def test_prior_therapy_rows_without_json(server, tmp_path):
    """Prior therapies are typed in rows: 'More rows' adds three rows keeping what was typed, a row ending after
    the screening comes back with the message beside its end date, and fixed it is stored."""
    td, url = server
    with browser_page() as page:
        _login(page, url)
        page.goto(f"{url}/ops/sites/hunan-cancer-hospital/screen")
        rows = page.locator("#prior-therapy-rows tbody tr")
        assert rows.count() == 3
        page.fill("input[name=patient_ref]", "P-rows")
        page.fill("input[name=screened_on]", "2025-08-20")
        page.select_option("select[name='prior_therapies.0.drug_class']", "anthracycline")
        page.fill("input[name='prior_therapies.0.agent']", "epirubicin, cyclophosphamide")
        page.select_option("select[name='prior_therapies.0.setting']", "adjuvant")
        page.fill("input[name='prior_therapies.0.start_date']", "2023-01-10")
        page.fill("input[name='prior_therapies.0.end_date']", "2025-09-01")  # after the screening
        posts: list[str] = []
        page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
        page.click("button[name=more_rows]")
        page.wait_for_load_state()
        # the page's script (allowed by the CSP) adds the rows without a round trip; without JavaScript the button
        # posts and the server answers the same form with three more rows (test_forms_web)
        assert page.locator("#prior-therapy-rows tbody tr").count() == 6 and posts == []
        assert page.input_value("input[name=prior_rows]") == "6"
        assert (
            page.get_attribute("input[name='prior_therapies.5.agent']", "aria-label")
            == "Prior therapy 6: Regimen / agents"
        )
        assert page.input_value("input[name='prior_therapies.0.agent']") == "epirubicin, cyclophosphamide"
        page.select_option("select[name='prior_therapies.4.drug_class']", "endocrine")
        page.fill("input[name='prior_therapies.4.agent']", "letrozole")
        page.select_option("select[name='prior_therapies.4.setting']", "adjuvant")
        page.check("input[name='prior_therapies.4.ongoing']")
        with page.expect_response(lambda r: r.url.endswith("/screen") and r.request.method == "POST") as answer:
            page.click("#screening-form button[type=submit]:not([name]):not(.default-submit)")
        assert answer.value.status == 422
        end = page.locator("input[name='prior_therapies.0.end_date']")
        assert end.get_attribute("aria-describedby") == "err-prior_therapies.0.end_date"
        assert (
            "After the screening date 2025-08-20" in page.locator("[id='err-prior_therapies.0.end_date']").inner_text()
        )
        assert page.input_value("input[name='prior_therapies.4.agent']") == "letrozole"
        assert page.is_checked("input[name='prior_therapies.4.ongoing']")
        _screenshots(page, "screening-prior-rows", tmp_path)
        end.fill("2023-06-30")
        # Enter in a field stores the screening (the form's default button), never "More rows"
        end.press("Enter")
        page.wait_for_url(f"{url}/ops/sites/hunan-cancer-hospital/screenings/*")
    with td.uow() as uow:
        [row] = uow.screenings.for_subject(
            next(s for s in uow.subjects.list(uow.trials.get(NCT).id) if s.patient_ref == "P-rows").id
        )
        therapies = json.loads(row.record_json)["prior_therapies"]
    assert [(t["agent"], t.get("end_date"), t.get("ongoing", False)) for t in therapies] == [
        ("epirubicin, cyclophosphamide", "2023-06-30", False),
        ("letrozole", None, True),
    ]
