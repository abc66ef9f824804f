"""In Chromium, on a fresh install with no CTCAE workbook anywhere: the AE form finds "Neutrophil count decreased"
(typed in lower case), offers exactly the grades NCI's CTCAE v5.0 defines for it (1-4: grade 5 is '-'), and records
it at grade 3; a name that is not a term is answered with NCI's closest term. Screenshots at 1366 and 390 px
(``TRIALDESK_SCREENSHOTS=<dir>`` keeps them)."""

from __future__ import annotations

import pytest

from access_helpers import NCT, make_users
from browser_helpers import browser_page, live_server, require_chromium
from capture_helpers import THP_RELATIONSHIP
from test_forms_browser import _login, _screenshots
from test_treatment_helpers import Clock, day, randomized_subject
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app

pytestmark = pytest.mark.browser

R = "2025-07-01"


@pytest.fixture
def fresh(sqlite_url, monkeypatch):
    require_chromium()
    monkeypatch.delenv("TRIALDESK_CTCAE_XLSX", raising=False)
    monkeypatch.setattr("trialdesk.adapters.ctcae_json.read_ctcae_workbook", None)  # no workbook is read
    td = bootstrap(sqlite_url)
    td.clock = Clock(day(R, 60))
    make_users(td)
    randomized_subject(td, "01-001", arm="thp", randomized_on=R)
    with live_server(create_app(td_app=td)) as url:
        yield td, url
    td.dispose()


def test_fresh_install_ae_form_codes_neutrophil_count_decreased(fresh, tmp_path):
    td, url = fresh
    with browser_page() as page:
        _login(page, url)
        page.goto(f"{url}/ops/subjects/01-001?tab=ae")
        assert page.locator("#ae-form").is_visible()
        assert "dictionary is not loaded" not in page.content()
        form = page.locator("#ae-form")
        term = form.locator("input[name=term]")
        term.fill("Neutrophil count lowered")
        term.press("Tab")
        page.locator("#ae-grade-help", has_text="did you mean").wait_for()
        assert "'Neutrophil count decreased'" in page.locator("#ae-grade-help").inner_text()
        term.fill("neutrophil count decreased")
        term.press("Tab")
        page.locator("#ae-grade-help", has_text="MedDRA 10029366").wait_for()
        options = form.locator("select[name=grade] option").all_inner_texts()
        assert [o.split(":")[0] for o in options] == ["1", "2", "3", "4"]
        assert options[2] == "3: <1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L"
        form.locator("select[name=grade]").select_option("3")
        form.locator("input[name=onset_date]").fill(day(R, 40))
        for drug, relationship in THP_RELATIONSHIP.items():
            form.locator(f"select[name=rel_{drug}]").select_option(relationship)
        _screenshots(page, "ae-neutrophils", tmp_path)
        form.locator("button[type=submit]").click()
        page.wait_for_url(f"{url}/ops/subjects/01-001*")
        assert page.locator("#panel-adverse_events", has_text="Neutrophil count decreased").is_visible()
    with td.uow() as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "01-001")
        [row] = uow.adverse_events.for_subject(subject.id)
    assert (row.term, row.meddra_code, row.grade) == ("Neutrophil count decreased", 10029366, 3)
