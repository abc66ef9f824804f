"""Issue 10 in Chromium: over a small demo database, a demo coordinator logs in, opens one of the site's subjects,
sees the calendar with visit statuses, records the next cycle through the real dose form (submitting the planned
amounts) and an adverse event through the real AE form, and sees both on the subject page; the audit trail holds
both changes, made by that coordinator, and still verifies.

Independent references written out below:
- TQB2102 6 mg/kg q3w (sister phase III NCT07008976, the protocol's documented assumption); trastuzumab 6 mg/kg
  and pertuzumab 420 mg q3w after loading (Herceptin and Perjeta labels; registry record): the planned amount is
  the dose per kg times the weight the page says it used, to 0.1 mg.
- CTCAE v5.0 "Nausea": MedDRA code 10028813; grade 2 is "Oral intake decreased without significant weight loss,
  dehydration or malnutrition" (NCI CTCAE v5.0, Gastrointestinal disorders).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest

from browser_helpers import browser_page, live_server, require_chromium
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM
from trialdesk.domain.schedule import VisitKind
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import treatment
from trialdesk.services.audit import verify_audit
from trialdesk.services.demo import demo_password, run_demo

NCT = "NCT07003074"

pytestmark = pytest.mark.browser

SEED = 3
SUBJECTS = 8
UNTIL = dt.date(2025, 12, 1)  # about four months after the first randomizations: subjects are mid-treatment
HUNAN = "hunan-cancer-hospital"
NAUSEA_MEDDRA = "10028813"
NAUSEA_GRADE_2 = "Oral intake decreased without significant weight loss, dehydration or malnutrition"
MG_PER_KG = {"tqb2102": 6, "trastuzumab": 6}  # maintenance doses (protocol assumption; Herceptin label)
FLAT_MG = {"pertuzumab": 420}  # Perjeta label, maintenance


def _mg(value: float) -> str:
    """Rounded half up to 0.1 mg, printed as the pages print numbers (``:g``)."""
    return f"{float(Decimal(str(value)).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)):g}"


@pytest.fixture
def demo(tmp_path, shared_dir, monkeypatch):
    """A small demo on SQLite; the clock then set to the chosen subject's next dosing day."""
    require_chromium()
    workbook = shared_dir / "data" / "ctcae" / "CTCAE_v5.0_2017-11-27.xlsx"
    if not workbook.is_file():
        pytest.skip(f"the CTCAE v5.0 workbook is not at {workbook}")
    monkeypatch.setenv("TRIALDESK_CTCAE_XLSX", str(workbook))
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))  # the randomization seed file goes here
    td = bootstrap(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    report = run_demo(td, subjects=SUBJECTS, seed=SEED, until=UNTIL)
    assert report.ctcae_loaded and report.randomized >= 4, report.to_dict()
    last_day = dt.date.fromisoformat(report.until)
    with td.uow() as uow:
        trial = uow.trials.get(NCT)
        on_treatment = uow.subjects.list(trial.id, status="on_treatment")
        # Hunan Cancer Hospital (site 12) first, then the others: a subject past cycle 1 whose next cycle is due
        # on or after the demo's last simulated day (so that day can be "today").
        candidates = sorted(on_treatment, key=lambda s: (s.site_key != HUNAN, s.id))
        chosen = None
        for subject in candidates:
            visits = treatment.subject_calendar(uow, SYSTEM, NCT, subject.subject_number)
            upcoming = [v for v in visits if v.kind == VisitKind.TREATMENT and v.actual is None]
            if upcoming and upcoming[0].number >= 2 and upcoming[0].planned >= last_day:
                chosen = (subject, upcoming[0])
                break
    assert chosen is not None, "the demo left no subject mid-treatment"
    subject, next_dose = chosen
    td.clock = lambda: dt.datetime.combine(next_dose.planned, dt.time(9, 30), tzinfo=dt.UTC)
    with live_server(create_app(td_app=td)) as url:
        yield {
            "td": td,
            "url": url,
            "subject": subject.subject_number,
            "site": subject.site_key,
            "visit": next_dose,
            "today": next_dose.planned,
        }
    td.dispose()


def _calendar_statuses(page) -> dict[str, str]:
    """Each visit's status code (the cell shows its label; the code is the ``data-code`` of its ``strong``)."""
    rows = page.locator("#calendar-visits tbody tr")
    statuses = {}
    for i in range(rows.count()):
        status = rows.nth(i).locator("td").nth(4).locator("strong")
        statuses[rows.nth(i).get_attribute("data-label")] = status.get_attribute("data-code")
    return statuses


def _cell_dates(page, panel: str, column: int) -> list[str | None]:
    """The ISO date of one column of a panel's table, per row (``<time datetime>``; the text is the human date)."""
    rows = page.locator(f"#panel-{panel} table.list").first.locator("tbody tr")
    out = []
    for i in range(rows.count()):
        time = rows.nth(i).locator("td").nth(column).locator("time")
        out.append(time.get_attribute("datetime") if time.count() else None)
    return out


def _table_rows(page, panel: str) -> list[list[str]]:
    rows = page.locator(f"#panel-{panel} table.list").first.locator("tbody tr")  # tables.js may wrap the table
    return [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]


def test_coordinator_records_a_dose_and_an_adverse_event(demo, tmp_path):
    url, number, today = demo["url"], demo["subject"], demo["today"]
    code = number.split("-")[0]
    coordinator = f"coord.{code}"
    cycle = demo["visit"].number
    with browser_page() as page:
        page.set_viewport_size({"width": 1366, "height": 900})
        # Log in as the site's demo coordinator, with the demo password.
        page.goto(f"{url}/login")
        page.fill("input[name=username]", coordinator)
        page.fill("input[name=password]", demo_password(coordinator))
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/ops")
        # Open the site, then the subject from the site's subject list.
        page.click(f"a[href='/ops/sites/{demo['site']}']")
        page.wait_for_url(f"{url}/ops/sites/{demo['site']}")
        page.click(f"#panel-subjects a[href='/ops/subjects/{number}']")
        page.wait_for_url(f"{url}/ops/subjects/{number}")
        assert page.locator("h1").inner_text() == f"Subject {number}"
        assert page.locator("#subject-status").inner_text() == "On treatment"
        # the casebook opens on its summary; the calendar and doses are on the Treatment tab
        page.click("nav.tabs a[data-tab=treatment]")
        page.wait_for_url(f"{url}/ops/subjects/{number}?tab=treatment")

        # The calendar: past cycles done, the next one due today, later ones upcoming.
        statuses = _calendar_statuses(page)
        assert statuses["C1D1"] == "done"
        assert statuses[f"C{cycle - 1}D1"] == "done"
        assert statuses[f"C{cycle}D1"] == "due"
        assert statuses[f"C{cycle + 1}D1"] == "upcoming"
        doses_before = _table_rows(page, "doses")
        assert doses_before and {r[0] for r in doses_before} == {str(c) for c in range(1, cycle)}

        # Record the next cycle through the dose form: the panel offers this cycle, with the last weight filled in.
        assert page.locator("#panel-doses h3").inner_text() == f"Record cycle {cycle}"
        plan_form = page.locator("#panel-doses #dose-plan-form")
        plan_form.locator("input[name=dose_date]").fill(today.isoformat())
        weight_field = plan_form.locator("input[name=weight_kg]")
        assert weight_field.input_value(), "the last weight is pre-filled"
        plan_form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(rf".*/ops/subjects/{number}/doses/new\?.*"))
        assert page.locator("#dose-plan h2").inner_text().startswith(f"Planned doses, cycle {cycle}")
        assert page.locator("#plan-error").count() == 0
        used = page.locator("#dose-plan dt:text-is('Weight used') + dd").inner_text()
        weight_used = float(used.split(" kg")[0])
        planned = {}
        for row in page.locator("#dose-record-form tbody tr").all():
            drug = row.get_attribute("id").removeprefix("dose-row-")
            amount = row.locator(f"input[name='actual_mg__{drug}']").input_value()
            planned[drug] = amount
            assert row.locator("td").nth(2).inner_text().startswith(f"{amount} mg")
            if drug in MG_PER_KG:
                assert _mg(float(amount)) == _mg(MG_PER_KG[drug] * weight_used), (drug, amount, weight_used)
            if drug in FLAT_MG:
                assert float(amount) == FLAT_MG[drug]
        assert planned, "the plan lists the drugs of the cycle"
        page.click("#dose-record-form button[type=submit]")
        page.wait_for_url(f"{url}/ops/subjects/{number}?tab=treatment#panel-doses")

        # The doses table now holds the new cycle, given as planned, today.
        doses = zip(_table_rows(page, "doses"), _cell_dates(page, "doses", 2))
        new_rows = [(r, on) for r, on in doses if r[0] == str(cycle)]
        # each drug by its name in the protocol: its id capitalised (TQB2102, Trastuzumab, Pertuzumab)
        assert sorted(r[1].lower() for r, _ in new_rows) == sorted(planned)
        for r, on in new_rows:
            assert on == today.isoformat()
            assert r[3] == r[4] == _mg(float(planned[r[1].lower()]))  # planned mg == given mg
        assert page.locator("#panel-doses h3").inner_text() == f"Record cycle {cycle + 1}"
        statuses = _calendar_statuses(page)
        assert statuses[f"C{cycle}D1"] == "done"
        done_on = page.locator(f"#calendar-visits tr[data-label='C{cycle}D1'] td").nth(3).locator("time")
        assert done_on.get_attribute("datetime") == today.isoformat()

        # Record an adverse event through the AE form, on the Adverse events tab.
        page.click("nav.tabs a[data-tab=ae]")
        page.wait_for_url(f"{url}/ops/subjects/{number}?tab=ae")
        ae_before = len(_table_rows(page, "adverse_events"))
        form = page.locator("#ae-form")
        if not form.is_visible():
            page.click("#panel-adverse_events summary:text('Record an adverse event')")
        form.locator("#ae-term").fill("Nausea")
        form.locator("#ae-term").press("Tab")  # "change": the page fetches the term's CTCAE grades
        page.locator("#ae-grade-help", has_text="MedDRA").wait_for()  # no eval: the CSP forbids it
        assert f"MedDRA {NAUSEA_MEDDRA}" in page.locator("#ae-grade-help").inner_text()
        grade_2 = form.locator("#ae-grade option[value='2']").inner_text()
        assert grade_2 == f"2: {NAUSEA_GRADE_2}"
        form.locator("#ae-grade").select_option("2")
        form.locator("input[name=onset_date]").fill(today.isoformat())
        form.locator("select[name=action_taken]").select_option("dose_not_changed")
        form.locator("select[name=outcome]").select_option("not_recovered")
        drugs = [s.get_attribute("name").removeprefix("rel_") for s in form.locator("select[name^=rel_]").all()]
        assert sorted(drugs) == sorted(planned)  # one causality per study drug of the arm
        for i, drug in enumerate(drugs):
            form.locator(f"select[name=rel_{drug}]").select_option("possible" if i == 0 else "unlikely")
        form.locator("button[type=submit]").click()
        page.wait_for_url(f"{url}/ops/subjects/{number}?tab=ae#panel-adverse_events")

        ae_rows = _table_rows(page, "adverse_events")
        assert len(ae_rows) == ae_before + 1
        onsets = _cell_dates(page, "adverse_events", 3)
        mine = [r for r, on in zip(ae_rows, onsets) if r[1] == f"Nausea ({NAUSEA_MEDDRA})" and on == today.isoformat()]
        assert len(mine) == 1
        assert mine[0][2] == "2" and mine[0][5] == "No" and mine[0][6] == "Not recovered/not resolved"

        page.screenshot(path=str(tmp_path / "subject.png"), full_page=True)
        assert "Internal Server Error" not in page.content()

    # The history: both changes are in the hash-chained audit trail, made by the coordinator, and it verifies.
    td = demo["td"]
    with td.uow() as uow:
        events = [
            (e.action, e.actor, json.loads(e.after_json or "{}"))
            for e in uow.audit.query(trial=NCT, sites={demo["site"]}, limit=100)
        ]
        count, broken = verify_audit(uow)
    doses = [
        a
        for action, actor, a in events
        if action == "dose.recorded"
        and actor == coordinator
        and a.get("cycle") == cycle
        and a.get("dose_date") == today.isoformat()
    ]
    aes = [
        a
        for action, actor, a in events
        if action == "adverse_event.recorded"
        and actor == coordinator
        and a.get("term") == "Nausea"
        and a.get("onset_date") == today.isoformat()
    ]
    assert len(doses) == len(planned)
    assert len(aes) == 1
    assert broken is None and count > 0
