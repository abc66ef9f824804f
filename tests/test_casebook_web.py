"""The subject casebook over HTTP (SQLite and PostgreSQL): tabs per role, forms coming back on their own tab,
raising a query by clicking the value it is about, History and Audit links only for ``audit.view`` holders, the
lesion grid, and ``trialdesk audit log --entity type:id``.

References: the tabs and what each role may do come from issue 15 and ``domain/access.py`` (monitor: query.raise and
audit.view at its sites; coordinator: data entry, no audit.view). Dose: docetaxel 75 mg/m² (protocol), 122.5 mg
entered by hand below. Lesions: baseline T1 liver 50 mm, T2 lung 30 mm, B1 bone (non-target) present; follow-up
T1 30 mm, T2 20 mm (the test_tumor_web.py hand computation: -37.5 % -> PR).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from access_helpers import NCT, make_users, token_for
from capture_helpers import Clock, add_subject
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app

SUBJECT = "/ops/subjects/HUN-0001"
API = f"/api/v1/trials/{NCT}/subjects/HUN-0001"
TAB_SLUGS = ("summary", "screening", "treatment", "ae", "tumour", "disposition", "queries", "signature", "audit")


@pytest.fixture
def web(db_url):
    td = bootstrap(db_url)
    td.clock = Clock(dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC))
    make_users(td)
    add_subject(td, "HUN-0001")
    add_subject(td, "HUN-0002")
    client = TestClient(create_app(td_app=td))
    tokens = {
        role: {"Authorization": f"Bearer {token_for(td, role + '1')}"}
        for role in ("coordinator", "monitor", "investigator")
    }
    yield td, client, tokens, db_url
    td.dispose()


def _dose(client, h, number="HUN-0001", mg=122.5) -> int:
    r = client.post(
        f"/api/v1/trials/{NCT}/subjects/{number}/doses",
        json={"drug": "docetaxel", "cycle": 1, "dose_date": "2026-01-06", "actual_mg": mg, "weight_kg": 60,
              "height_cm": 160, "override_reason": "test"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _tabs(page: str) -> dict[str, bool]:
    """The casebook's tab links: {slug: is current}."""
    nav = re.search(r'<nav class="tabs"[^>]*>(.*?)</nav>', page, re.S)
    assert nav, "no casebook tabs"
    return {
        slug: "aria-current" in attrs
        for attrs, slug in (
            (m.group(0), m.group(1)) for m in re.finditer(r'<a [^>]*data-tab="(\w+)"[^>]*>', nav.group(1))
        )
    }


def _current(page: str) -> str:
    [slug] = [s for s, on in _tabs(page).items() if on]
    return slug


def test_tabs_per_role(web):
    _, client, h, _ = web
    for role, audit in (("coordinator", False), ("investigator", False), ("monitor", True)):
        for slug in TAB_SLUGS:
            r = client.get(f"{SUBJECT}?tab={slug}", headers=h[role])
            assert r.status_code == 200, (role, slug)
            tabs = _tabs(r.text)
            assert list(tabs) == [s for s in TAB_SLUGS if audit or s != "audit"], role
            # the Audit tab asked for without audit.view shows the summary
            assert _current(r.text) == (slug if audit or slug != "audit" else "summary")
        # the header on every tab: number, randomization number (add_subject: R-HUN-0001), open queries
        assert "Subject HUN-0001" in r.text and 'id="open-query-count">0<' in r.text
    assert _current(client.get(SUBJECT, headers=h["monitor"]).text) == "summary"
    assert _current(client.get(f"{SUBJECT}?tab=nonsense", headers=h["monitor"]).text) == "summary"


def test_forms_come_back_on_their_tab_with_the_input(web):
    _, client, h, _ = web
    r = client.post(
        f"{SUBJECT}/adverse-events",
        data={"term": "Nausea", "grade": "9", "onset_date": "2026-02-01"},
        headers=h["coordinator"],
        follow_redirects=False,
    )
    assert r.status_code == 422 and _current(r.text) == "ae"
    assert re.search(r'name="term"[^>]*value="Nausea"', r.text)
    r = client.post(
        f"{SUBJECT}/queries",
        data={"entity_type": "subject", "entity_id": "", "field": "sex", "message": ""},
        headers=h["monitor"],
        follow_redirects=False,
    )
    assert r.status_code == 422 and _current(r.text) == "queries"
    assert re.search(r'name="field"[^>]*value="sex"', r.text)
    r = client.post(f"{SUBJECT}/signature", data={"password": "", "meaning": "I approve"}, headers=h["investigator"],
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 422 and _current(r.text) == "signature"
    assert re.search(r'name="meaning"[^>]*value="I approve"', r.text)


def test_raise_a_query_by_clicking_the_value(web):
    td, client, h, _ = web
    dose_id = _dose(client, h["coordinator"])
    other = _dose(client, h["coordinator"], "HUN-0002")
    page = client.get(f"{SUBJECT}?tab=treatment", headers=h["monitor"]).text
    link = re.search(rf'<a class="raise" href="([^"]*raise=dose%3A{dose_id}%3Aactual_mg[^"]*)"[^>]*>([^<]*)</a>', page)
    assert link, "the actual mg is not a link to raising a query"
    assert link.group(2) == "122.5"
    # the coordinator (no query.raise) sees the value as text
    assert "raise=dose" not in client.get(f"{SUBJECT}?tab=treatment", headers=h["coordinator"]).text

    form = client.get(html.unescape(link.group(1)), headers=h["monitor"])
    assert form.status_code == 200 and _current(form.text) == "queries"
    assert f'name="target" value="dose:{dose_id}:actual_mg"' in form.text
    about = re.search(r'id="query-about"><strong>([^<]*)</strong>', form.text).group(1)
    assert html.unescape(about) == f"Dose #{dose_id}, cycle 1 Docetaxel: dose given (mg) = 122.5"
    assert 'name="entity_id"' not in form.text  # no internal id to type

    r = client.post(f"{SUBJECT}/queries", data={"target": f"dose:{dose_id}:actual_mg", "message": "Bag weighed?"},
                    headers=h["monitor"], follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"{SUBJECT}?tab=queries#panel-queries"
    [q] = client.get(f"{API}/queries", headers=h["monitor"]).json()
    assert (q["entity_type"], q["entity_id"], q["field"], q["message"]) == (
        "dose",
        str(dose_id),
        "actual_mg",
        "Bag weighed?",
    )
    # the Queries tab says what it is about in words
    queries_tab = html.unescape(client.get(f"{SUBJECT}?tab=queries", headers=h["coordinator"]).text)
    assert f"Dose #{dose_id}, cycle 1 Docetaxel: dose given (mg) = 122.5" in queries_tab
    # an unknown field, and another subject's dose, are refused beside the value; nothing stored
    for target, message in ((f"dose:{dose_id}:colour", "not a value"), (f"dose:{other}:actual_mg", "")):
        r = client.post(f"{SUBJECT}/queries", data={"target": target, "message": "Check"}, headers=h["monitor"],
                        follow_redirects=False)  # fmt: skip
        assert r.status_code == 422 and _current(r.text) == "queries", target
        assert 'id="err-target"' in r.text and message in r.text
    assert len(client.get(f"{API}/queries", headers=h["monitor"]).json()) == 1
    # the header counts the open query
    assert 'id="open-query-count">1<' in client.get(SUBJECT, headers=h["monitor"]).text


def test_audit_links_only_with_audit_view(web):
    _, client, h, _ = web
    dose_id = _dose(client, h["coordinator"])
    history = f'href="/ops/audit?entity_type=dose&amp;entity_id={dose_id}"'
    assert history in client.get(f"{SUBJECT}?tab=treatment", headers=h["monitor"]).text
    assert history not in client.get(f"{SUBJECT}?tab=treatment", headers=h["coordinator"]).text
    audit = client.get(f"{SUBJECT}?tab=audit", headers=h["monitor"]).text
    # the subject's events and its records' (the dose's own events do not name the subject)
    assert 'href="/ops/audit?subject=HUN-0001"' in audit and "dose.recorded" in audit
    assert "subject.status_changed" in audit
    assert "/ops/audit?subject=" not in client.get(f"{SUBJECT}?tab=audit", headers=h["coordinator"]).text
    # the link leads to the record's events
    trail = client.get(f"/ops/audit?entity_type=dose&entity_id={dose_id}", headers=h["monitor"])
    assert trail.status_code == 200 and "dose.recorded" in trail.text


def test_lesion_grid_and_reasons(web):
    _, client, h, _ = web
    baseline = {
        "assessment_date": "2025-12-28",
        "baseline": "on",
        **{"l0_id": "T1", "l0_kind": "target", "l0_organ": "liver", "l0_value": "50"},
        **{"l1_id": "T2", "l1_kind": "target", "l1_organ": "lung", "l1_value": "30"},
        **{"l2_id": "B1", "l2_kind": "non_target", "l2_organ": "bone", "l2_value": "present"},
    }
    follow = {
        "assessment_date": "2026-02-16",
        **{"l0_id": "T1", "l0_kind": "target", "l0_value": "30"},
        **{"l1_id": "T2", "l1_kind": "target", "l1_value": "20"},
        **{"l2_id": "B1", "l2_kind": "non_target", "l2_value": "present"},
    }
    for data in (baseline, follow):
        r = client.post(f"{SUBJECT}/tumor-assessments", data=data, headers=h["coordinator"], follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"{SUBJECT}?tab=tumour#panel-tumour_assessments"
    page = client.get(f"{SUBJECT}?tab=tumour", headers=h["monitor"]).text
    grid = re.search(r'<table class="list labelled" id="lesion-grid">(.*?)</table>', page, re.S).group(1)
    rows = [
        [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", grid.split("<tbody>")[1], re.S)
    ]
    assert rows == [
        ["T1", "Target", "liver", "50 mm", "30 mm"],
        ["T2", "Target", "lung", "30 mm", "20 mm"],
        ["B1", "Non-target", "bone", "Present", "Present"],
    ]
    assert 'data-label="16 Feb 2026"' in grid and "raise=tumor_assessment%3A" in grid
    assert "PR: sum \u221237.5 % from baseline (≤\u221230 %)" in page


def test_cli_audit_log_entity_type_and_id(web):
    from trialdesk.entrypoints.cli.main import app as cli

    _, client, h, db_url = web
    dose_id = _dose(client, h["coordinator"])
    runner = CliRunner()
    out = runner.invoke(cli, ["audit", "log", "--db", db_url, "--entity", f"dose:{dose_id}", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert [r["action"] for r in rows] == ["dose.recorded"] and rows[0]["entity"] == f"dose:{dose_id}"
    both = runner.invoke(cli, ["audit", "log", "--db", db_url, "--entity", "dose", "--id", str(dose_id), "--json"])
    assert json.loads(both.stdout) == rows


def test_sdv_badge_per_record(web):
    """A dose the monitor marked source-verified reads "SDV ✓"; corrected afterwards, "changed since SDV"
    (services.monitoring: a mark is pinned to the record's version)."""
    from trialdesk.services import accounts, monitoring

    td, client, h, _ = web
    dose_id = _dose(client, h["coordinator"])

    def badge() -> str:
        page = client.get(f"{SUBJECT}?tab=treatment", headers=h["coordinator"]).text
        row = re.search(rf"<tr>(?:(?!</tr>).)*?Id\">#{dose_id}<.*?</tr>", page, re.S).group(0)
        return html.unescape(re.search(r'data-label="SDV">([^<]*)</td>', row).group(1))

    assert badge() == ""
    with td.uow("monitor1") as uow:
        monitor = accounts.principal_for(uow, uow.users.get("monitor1"))
        mark = monitoring.MarkSdv(entity_type="dose", entity_id=str(dose_id))
        monitoring.mark_sdv(uow, monitor, NCT, "HUN-0001", mark)
        uow.commit()
    assert badge() == "SDV ✓"
    edit = {"dose_id": str(dose_id), "field": "actual_mg", "value": "120", "reason": "typo"}
    r = client.post(f"{SUBJECT}/doses/edit", data=edit, headers=h["coordinator"], follow_redirects=False)
    assert r.status_code == 303
    assert badge() == "changed since SDV"


def test_casebook_in_chinese(web):
    """?lang=zh-Hans: the tabs and the header in Simplified Chinese (standard terms: 不良事件, 受试者, 稽查轨迹)."""
    _, client, h, _ = web
    page = client.get(f"{SUBJECT}?tab=ae&lang=zh-Hans", headers=h["monitor"]).text
    tabs = re.search(r'<nav class="tabs"[^>]*>(.*?)</nav>', page, re.S).group(1)
    assert ">不良事件<" in tabs and ">稽查轨迹<" in tabs and ">概要<" in tabs
    assert "受试者 HUN-0001" in page


def test_old_panel_links_map_to_the_tabs_the_server_uses():
    """The page's script that sends an old ``#panel-x`` link to its tab lists the same panel -> tab map as the
    server's redirects (subject_page.PANEL_TAB)."""
    from pathlib import Path

    from trialdesk.entrypoints.web.subject_page import PANEL_TAB

    source = (Path(__file__).parents[1] / "src/trialdesk/entrypoints/web/templates/subject.html").read_text()
    script = re.search(r"var tabs = \{(.*?)\};", source, re.S).group(1)
    in_page = dict(re.findall(r'(\w+): "(\w+)"', script))
    assert in_page == {panel: tab for panel, tab in PANEL_TAB.items() if panel not in ("summary", "audit")}
