"""The tumour panel on the subject page (SQLite and PostgreSQL): the follow-up form lists the baseline lesions (ids,
kinds, organs fixed, nothing to type but the readings) and the RECIST table gives each time point's reason.

Hand computation (RECIST 1.1, Eisenhauer 2009, 4.3.1-4.3.2): randomized 2026-01-05; baseline T1 liver 50 mm + T2
lung 30 mm = 80 mm, non-target B1 bone. 2026-02-16: 30 + 20 = 50 mm, (50 - 80) / 80 = -37.5 % -> PR.
2026-03-30: 40 + 20 = 60 mm, nadir 50 mm: +10 mm and +20 % -> PD, and an unequivocal new lesion NEW1 -> PD too.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from fastapi.testclient import TestClient

from access_helpers import make_users, token_for
from capture_helpers import Clock, add_subject
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app

SUBJECT = "/ops/subjects/HUN-0001"
BASELINE = {
    "assessment_date": "2025-12-28",
    "baseline": "on",
    **{"l0_id": "T1", "l0_kind": "target", "l0_organ": "liver", "l0_value": "50"},
    **{"l1_id": "T2", "l1_kind": "target", "l1_organ": "lung", "l1_value": "30"},
    **{"l2_id": "B1", "l2_kind": "non_target", "l2_organ": "bone", "l2_value": "present"},
}


@pytest.fixture
def web(db_url):
    td = bootstrap(db_url)
    td.clock = Clock(dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC))
    make_users(td)
    add_subject(td, "HUN-0001")
    client = TestClient(create_app(td_app=td))
    yield td, client, {"Authorization": f"Bearer {token_for(td, 'coordinator1')}"}
    td.dispose()


def _tumour_form(page: str) -> str:
    return page[page.index('id="tumor-form"') : page.index("</form>", page.index('id="tumor-form"'))]


def _hidden(form: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def _table_rows(page: str) -> list[list[str]]:
    panel = page[page.index('id="panel-tumour_assessments"') :]
    body = panel[panel.index("<tbody>") : panel.index("</tbody>")]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def _post(client, headers, data):
    return client.post(f"{SUBJECT}/tumor-assessments", data=data, headers=headers, follow_redirects=False)


def test_follow_up_form_lists_baseline_lesions_and_table_gives_reasons(web):
    td, client, h = web
    assert _post(client, h, BASELINE).status_code == 303
    form = _tumour_form(client.get(SUBJECT + "?tab=tumour", headers=h).text)
    fixed = _hidden(form)
    # the baseline lesions, in order, with their kinds: the coordinator types no id
    assert [fixed[f"l{i}_id"] for i in range(3)] == ["T1", "T2", "B1"]
    assert [fixed[f"l{i}_kind"] for i in range(3)] == ["target", "target", "non_target"]
    for lesion_id, organ in (("T1", "liver"), ("T2", "lung"), ("B1", "bone")):
        row = re.search(rf'<tr class="baseline-lesion" data-lesion="{lesion_id}">(.*?)</tr>', form, re.S)
        assert row and f">{organ}</td>" in row.group(1)
    assert 'name="l0_id" size' not in form  # no id to type on a baseline row
    # a baseline lesion left without a reading is refused beside its row; nothing stored
    blank = _post(client, h, {**fixed, "assessment_date": "2026-02-16", "l0_value": "30", "l2_value": "present"})
    assert blank.status_code == 422 and 'id="err-l1_value"' in blank.text
    assert 'data-lesion="T2"' in blank.text  # the form comes back with the baseline rows
    # follow-ups posted as the page sends them: the fixed inputs plus the readings
    pr = {**fixed, "assessment_date": "2026-02-16", "l0_value": "30", "l1_value": "20", "l2_value": "present"}
    assert _post(client, h, pr).status_code == 303
    pd = {
        **fixed,
        **{"assessment_date": "2026-03-30", "l0_value": "40", "l1_value": "20", "l2_value": "present"},
        **{"l3_id": "NEW1", "l3_kind": "new", "l3_organ": "brain", "l3_value": "unequivocal"},
    }
    assert _post(client, h, pd).status_code == 303
    rows = _table_rows(client.get(SUBJECT + "?tab=tumour", headers=h).text)
    assert rows[0][:3] == ["28 Dec 2025", "baseline", "80 mm"]  # the date as people read it (issue 15)
    date, kind, total, vs_base, vs_nadir, target, non_target, new, overall, reason, sdv = rows[1]
    assert sdv == ""  # not verified by a monitor
    # responses in words with the RECIST abbreviation (labels.py)
    assert (total, vs_base, target, non_target, new, overall) == (
        "50 mm",
        "\u221237.5% (\u221230 mm)",  # percentages as the pct filter writes them, a true minus sign
        "Partial response (PR)",
        "Non-CR/non-PD",
        "No",
        "Partial response (PR)",
    )
    assert reason == "PR: sum \u221237.5 % from baseline (≤\u221230 %)"
    date, kind, total, vs_base, vs_nadir, target, non_target, new, overall, reason, sdv = rows[2]
    assert (total, vs_nadir, target, new, overall) == (
        "60 mm",
        "+20.0% (+10 mm)",
        "Progressive disease (PD)",
        "Yes",
        "Progressive disease (PD)",
    )
    assert reason == "PD: new lesion NEW1; sum +20.0 % (+10 mm) from nadir (≥20 % and ≥5 mm)"
