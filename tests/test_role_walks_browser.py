"""Issue 15, "Must show": each of the six roles walks its work in Chromium, in English and in Simplified Chinese, by
following the navigation and the links of the pages only (no address typed after the login page), doing its main
task on the way:

- coordinator: screens a patient (the form's eligible example), opens a subject's casebook from the site's
  subject list, then a subject on treatment from the site home's visit lists (its treatment and tumour tabs);
- investigator: opens a casebook awaiting signature from the site home and signs it (or views it when none is left);
- monitor: the query list, a queried subject's casebook, the audit trail;
- statistician: runs the analysis at today's cut and opens its report, then the randomization list with its balance,
  datasets, design;
- sponsor: dashboard, design, results, the public registry page;
- administrator: users, a site from the site list, the audit trail.

On every page: ``html[lang]`` is the walk's language; screenshots at 1366 and 390 px are kept under
``$TRIALDESK_SCREENSHOTS/<lang>/<role>/<nn-page>-<width>.png`` (else the test's tmp folder; ``.ci/run`` keeps
them as artefacts); at 390 px nothing is wider than the screen (``scrollWidth``); at both widths nothing runs past
its card's edge (a wide table scrolls inside its card); at 390 px every table cell says its column; axe-core (npm,
``tests/a11y``) finds no serious or critical violation at either width (WCAG 2.x A/AA rules and best practices).

The state is a realistic one: the demo's simulated trial (30 subjects, seed 2) on 2026-03-02, recruiting, in
follow-up, with queries, overdue visits, unsigned casebooks and an enrollment history. The English walks are served
from SQLite, the Chinese ones from PostgreSQL (``TRIALDESK_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from a11y_helpers import axe_violations, describe, require_axe
from browser_helpers import browser_page, live_server, require_chromium
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services.demo import demo_password, run_demo

pytestmark = pytest.mark.browser

TODAY = dt.date(2026, 3, 2)  # all 30 randomized, in follow-up; the screening form's examples are dated early 2026
WIDTHS = (1366, 390)
LANGUAGES = ("en", "zh-Hans")
#: the demo user of each role (site staff: ``{site}`` is the busiest site's demo code, see ``server``)
USERS = {
    "coordinator": "coord.{site}",
    "investigator": "inv.{site}",
    "monitor": "monitor.demo",
    "statistician": "stat.demo",
    "sponsor": "sponsor.demo",
    "admin": "admin.demo",
}


@contextmanager
def _postgres_database():
    """A fresh PostgreSQL database for the module (conftest's ``pg_url`` is per test; the walks share one state)."""
    from sqlalchemy import text

    from conftest import PG_ADMIN_URL, _pg_admin_engine
    from trialdesk.adapters.db.engine import resolve_url

    if not PG_ADMIN_URL:
        if os.environ.get("TRIALDESK_REQUIRE_ALL"):
            pytest.fail("TRIALDESK_TEST_POSTGRES_URL is not set but TRIALDESK_REQUIRE_ALL is")
        pytest.skip("the PostgreSQL walks need TRIALDESK_TEST_POSTGRES_URL")
    name = f"trialdesk_walk_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield resolve_url(PG_ADMIN_URL).rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _busiest_site(url: str) -> str:
    """The demo code of the site with the most subjects in the study (the demo numbers them <site code>-NNNN)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT subject_number, status FROM subjects")).all()
    engine.dispose()
    counts = Counter(number.split("-")[0] for number, status in rows if status not in WAITING)
    return min(counts, key=lambda code: (-counts[code], code))


#: subjects not (yet) in the study
WAITING = {"screen_failed", "screening", "eligible"}


@contextmanager
def _served(url: str):
    td = bootstrap(url)
    report = run_demo(td, subjects=30, seed=2, until=TODAY)
    assert report.randomized >= 10, report.to_dict()
    td.clock = lambda: dt.datetime.combine(TODAY, dt.time(9), tzinfo=dt.UTC)
    try:
        with live_server(create_app(td_app=td)) as served:
            yield served, _busiest_site(url)
    finally:
        td.dispose()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One demo state per database engine, made on first use: the English walks run on SQLite, the Chinese ones on
    PostgreSQL, so every page of every walk is served from both engines."""
    require_chromium()
    require_axe()
    # one local-state folder for both (the apps read it while they serve: keys, sessions)
    with ExitStack() as stack, pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRIALDESK_DATA_DIR", str(tmp_path_factory.mktemp("walks-data")))
        made: dict[str, tuple[str, str]] = {}

        def get(engine: str) -> tuple[str, str]:
            if engine not in made:
                folder = tmp_path_factory.mktemp(f"walks-{engine}")
                url = (
                    f"sqlite:///{folder / 'demo.sqlite'}"
                    if engine == "sqlite"
                    else stack.enter_context(_postgres_database())
                )
                made[engine] = stack.enter_context(_served(url))
            return made[engine]

        yield get


#: the database engine each language's walks run on
ENGINES = {"en": "sqlite", "zh-Hans": "postgres"}


class Walk:
    """A signed-in page that moves by clicking only, checking and photographing every page it reaches."""

    def __init__(self, page, url: str, lang: str, folder: Path, axe: str, site: str) -> None:
        self.page, self.url, self.lang, self.folder, self.axe = page, url, lang, folder, axe
        self.username = ""
        self.site = site
        self.seen: list[str] = []
        #: what the pages break (layout, accessibility), all of the walk's reported at its end
        self.problems: list[str] = []

    def login(self, username: str) -> None:
        self.username = username
        page = self.page
        page.goto(f"{self.url}/login")  # the one typed address: everything after it is clicked
        switch = page.locator(f"a[data-lang='{self.lang}']")
        if switch.count():  # the login page's language switch
            switch.first.click()
            page.wait_for_load_state()
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", demo_password(username))
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/ops$"))
        if page.locator("html").get_attribute("lang") != self.lang:  # the header's switch (stored for the user)
            with page.expect_navigation():
                page.click(f"[data-lang='{self.lang}']")
        self.check("home")

    def nav(self, key: str, name: str | None = None) -> None:
        """Follow the main navigation's link ``key``."""
        link = self.page.locator(f"nav[aria-label=Main] a[data-nav='{key}']")
        assert link.count() == 1, f"{self.lang}: no navigation link {key!r} ({self.seen})"
        self._click(link, name or key)

    def follow(self, selector: str, name: str, document: bool = False) -> bool:
        """Follow the first link matching ``selector`` on the page; False when there is none. A ``document`` (the
        analysis report) is a standalone page, in English, without the application's navigation."""
        link = self.page.locator(selector)
        if not link.count():
            return False
        self._click(link.first, name, document)
        return True

    def back(self) -> None:
        """The browser's Back button."""
        self.page.go_back()
        self.page.wait_for_load_state()

    def _click(self, link, name: str, document: bool = False) -> None:
        href = link.get_attribute("href") or ""
        if href.startswith("#") or (href.split("#")[0] == self.page.url.removeprefix(self.url).split("#")[0]):
            link.click()  # a part of the page already shown
        else:
            with self.page.expect_navigation() as answer:
                link.click()
            assert answer.value is not None and answer.value.status == 200, f"{name}: {href} answered {answer.value}"
        self.page.wait_for_load_state()
        self.check(name, document)

    def submit(self, form: str, name: str) -> None:
        with self.page.expect_navigation() as answer:
            # the form's own submit button: the last (a form may have others before it, e.g. "More rows")
            self.page.locator(f"{form} button[type=submit]:not([formnovalidate])").last.click()
        assert answer.value is not None and answer.value.status < 400, f"{name}: answered {answer.value.status}"
        self.page.wait_for_load_state()
        self.check(name)

    def check(self, name: str, document: bool = False) -> None:
        page = self.page
        label = f"{len(self.seen) + 1:02d}-{name}"
        self.seen.append(label)
        if not document:
            assert page.locator("html").get_attribute("lang") == self.lang, f"{label}: html[lang] at {page.url}"
            assert page.locator("main").count() == 1, f"{label}: {page.url}"
        assert page.locator("h1").count() >= 1, f"{label}: {page.url}"
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(self.folder / f"{label}-{width}.png"), full_page=True)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            wide = page.evaluate(
                """(w) => [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.scroll-x'))
                     .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' + (e.getAttribute('class') || ''))""",
                width,
            )
            if scroll > width:
                self.problems.append(f"{label} ({page.url}): {scroll} px wide at {width} px: {wide}")
            spill = page.evaluate(
                """() => [...document.querySelectorAll('main .card *')]
                     .filter(e => !e.closest('.scroll-x') && e.getBoundingClientRect().width > 0
                                  && e.getBoundingClientRect().right > e.closest('.card').getBoundingClientRect().right + 1)
                     .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' + (e.getAttribute('class') || ''))"""
            )
            if spill:  # a table or figure wider than its card scrolls inside it instead
                self.problems.append(f"{label} ({page.url}): past its card's edge at {width} px: {spill}")
            if width < 640:  # stacked rows: every cell under a named column says which it is
                bare = page.evaluate(
                    """() => [...document.querySelectorAll('main table.list')].filter(t => t.tHead).flatMap(t => {
                        const names = [...t.tHead.rows[t.tHead.rows.length - 1].cells].map(c => c.textContent.trim());
                        return [...t.querySelectorAll('tbody tr')].flatMap(r => [...r.cells].filter((c, i) =>
                            c.tagName === 'TD' && !c.dataset.label && names[i] && c.textContent.trim()));
                    }).slice(0, 5).map(c => c.textContent.trim().slice(0, 30))"""
                )
                if bare:
                    self.problems.append(f"{label} ({page.url}): stacked cells without a label: {bare}")
            found = axe_violations(page, self.axe)
            if found:
                self.problems.append(f"{label} ({page.url}) at {width} px, axe-core:\n{describe(found)}")
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def _coordinator(w: Walk) -> None:
    w.nav("screening")
    w.follow("#screening-form a[href*='example=eligible'], a[href$='?example=eligible']", "screening-example")
    w.page.fill("#screening-form input[name=patient_ref]", f"WALK-{w.lang}")
    w.submit("#screening-form", "screening-result")
    w.nav("subjects")
    assert w.follow("#panel-subjects a[href*='/ops/subjects/']", "casebook"), "no subject in the site's list"
    # a subject on treatment, from the site home's visit lists: its doses and tumour assessments
    w.nav("home")
    assert w.follow("h3[id^=today-] ~ * a[href^='/ops/subjects/']", "on-treatment")
    for tab in ("treatment", "tumour"):
        w.follow(f"nav.tabs a[data-tab={tab}]", f"casebook-{tab}")
    w.nav("queries")


def _investigator(w: Walk) -> None:
    if not w.follow("a[href*='#panel-signature']", "casebook-to-sign"):
        w.nav("subjects")
        assert w.follow("#panel-subjects a[href*='/ops/subjects/']", "casebook")
    form = w.page.locator("#sign-form")
    if form.count() and form.first.is_visible():
        w.page.fill("#sign-form input[name=password]", demo_password(w.username))
        w.submit("#sign-form", "signed")
    w.nav("queries")
    w.nav("dashboard")


def _monitor(w: Walk) -> None:
    w.nav("queries")
    assert w.follow("#queries-list a[href*='/ops/subjects/']", "queried-casebook"), "no query in the list"
    subject = w.page.url.split("/ops/subjects/")[1].split("?")[0].split("#")[0]
    # risk-based monitoring: the sites' key risk indicators, then a deviation found at this subject's visit, then
    # source data verification of the subject's records from the deviation log's link
    w.nav("monitoring")
    w.nav("deviations")
    w.page.fill("#deviation-form input[name=subject]", subject)
    w.page.select_option("#deviation-form select[name=category]", index=1)
    w.page.fill("#deviation-form input[name=occurred_on]", TODAY.isoformat())
    w.page.fill("#deviation-form textarea[name=description]", f"WALK-{w.lang}: visit outside its window")
    w.submit("#deviation-form", "deviation-recorded")
    assert w.page.locator("#deviations-list", has_text=f"WALK-{w.lang}").count() == 1
    assert w.follow(f"#deviations-list a[href='/ops/subjects/{subject}/sdv']", "sdv"), "no SDV link"
    before = w.page.locator("#sdv-records tr[data-state=verified]").count()
    w.submit("#sdv-records form.inline", "sdv-marked")
    assert w.page.locator("#sdv-records tr[data-state=verified]").count() == before + 1
    w.nav("sites")
    w.follow("#sites a[href^='/ops/sites/']", "site")
    w.nav("audit")


def _statistician(w: Walk) -> None:
    w.nav("dashboard")
    w.nav("analysis")
    w.submit("#analysis-run-form", "analysis-run")  # an interim look at today's data cut
    assert w.follow("a[href$='/report']", "analysis-report", document=True), "no report of the run"
    w.back()
    for key in ("randomization", "datasets", "design"):
        w.nav(key)


def _sponsor(w: Walk) -> None:
    for key in ("dashboard", "monitoring", "design", "results"):
        w.nav(key)
    # the public registry page, from the results page's breadcrumb (when it is the analysis page): the registry's
    # face stays in the record's language, English, whatever the reader's (entrypoints/web/language.py)
    if w.follow("nav.crumbs a[href^='/trials/']", "registry-page", document=True):
        assert w.page.locator("html").get_attribute("lang") == "en"


def _admin(w: Walk) -> None:
    w.nav("users")
    w.nav("sites")
    assert w.follow("#sites a[href^='/ops/sites/']", "site"), "no site in the site list"
    w.nav("audit")


TASKS: dict[str, Callable[[Walk], None]] = {
    "coordinator": _coordinator,
    "investigator": _investigator,
    "monitor": _monitor,
    "statistician": _statistician,
    "sponsor": _sponsor,
    "admin": _admin,
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("role", list(USERS))
def test_role_walks_its_work_in_each_language(servers, role, lang, tmp_path):
    folder = Path(os.environ.get("TRIALDESK_SCREENSHOTS") or tmp_path) / lang / role
    folder.mkdir(parents=True, exist_ok=True)
    url, site = servers(ENGINES[lang])
    with browser_page() as page:
        walk = Walk(page, url, lang, folder, require_axe(), site)
        walk.login(USERS[role].format(site=site))
        TASKS[role](walk)
    assert not walk.problems, "\n".join(walk.problems)
    assert len(walk.seen) >= 4, walk.seen
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(
        f"{label}-{width}.png" for label in walk.seen for width in WIDTHS
    )


def test_tables_script_labels_cells_and_contains_wide_tables():
    """static/tables.js on a table whose template set no labels: each cell gets its column's header (spans
    counted), a label the template set stays, and a table wider than its card scrolls in a keyboard-reachable box."""
    require_chromium()
    script = Path(__file__).parents[1] / "src/trialdesk/entrypoints/web/static/tables.js"
    wide = "".join(f"<th>Column {i}</th>" for i in range(12))
    html = f"""<!doctype html><html><body><main style="width:300px">
      <table id="t"><thead><tr><th>Visit</th><th colspan="2">Window</th><th>Status</th></tr></thead>
      <tbody><tr><td>C1D1</td><td>from</td><td>to</td><td data-label="State">done</td></tr></tbody></table>
      <table id="wide"><thead><tr>{wide}</tr></thead><tbody><tr>{"<td>xxxxxxxxxx</td>" * 12}</tr></tbody></table>
    </main></body></html>"""
    with browser_page() as page:
        page.set_content(html)
        page.add_script_tag(path=str(script))
        labels = page.eval_on_selector_all("#t td", "cells => cells.map(c => c.dataset.label)")
        assert labels == ["Visit", "Window", "Window", "State"]
        boxes = page.eval_on_selector_all(
            "main > div.scroll-x", "ds => ds.map(d => [d.firstElementChild.id, d.getAttribute('tabindex')])"
        )
        assert boxes == [["t", None], ["wide", "0"]]
