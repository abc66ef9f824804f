"""Screening over HTTP: the JSON API (201, 422 naming the field, 403/404 for other sites, log and summary) and
the web form round-trip (login form + CSRF, store, result page with every criterion next to its text).

Expected verdicts and reasons are those written out by hand in docs/screening/README.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from access_helpers import NCT, OTHER, OWN, PASSWORD, make_users, token_for
from trialdesk.adapters.db.tables import ScreeningRow
from trialdesk.domain.access import SYSTEM, Role
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import sites
from trialdesk.services.commands import ChangeSiteStatus

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "screening"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def n_screenings(td) -> int:
    with td.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(ScreeningRow)).scalar_one()


@pytest.fixture
def api(td):
    make_users(td)
    with td.uow("admin") as uow:
        sites.change_site_status(
            uow, SYSTEM, NCT, OTHER, ChangeSiteStatus(status="RECRUITING", reason="site initiation visit done")
        )
        uow.commit()
    client = TestClient(create_app(td_app=td))
    tokens = {role: {"Authorization": f"Bearer {token_for(td, f'{role.value}1')}"} for role in Role}
    return client, tokens


def test_post_list_get_and_summary(td, api):
    client, h = api
    url = f"/api/v1/trials/{NCT}/screenings"
    r = client.post(
        url, headers=h[Role.COORDINATOR], json={"site": OWN, "patient_ref": "HN-1", "record": example("ineligible")}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["subject_number"], body["screening_number"], body["verdict"]) == ("12-0001", "S12-0001", "ineligible")
    inc02 = next(c for c in body["criteria"] if c["id"] == "INC-02")
    assert inc02["status"] == "not_met" and inc02["reason"] == "age 76 at consent 2026-01-10 > 75; ECOG PS 2 > 1"
    assert body["derived"] == {"hr_status": "positive", "disease_setting": "recurrent", "visceral_metastases": "yes"}
    r = client.post(
        url,
        headers=h[Role.INVESTIGATOR],
        json={"site": OWN, "patient_ref": "HN-1", "record": example("eligible"), "screened_on": "2026-01-15"},
    )
    assert r.status_code == 201 and r.json()["screening_number"] == "S12-0002" and r.json()["rescreen"] is True

    log = client.get(url, headers=h[Role.MONITOR]).json()
    assert [(x["screening_number"], x["subject_number"], x["verdict"]) for x in log] == [
        ("S12-0001", "12-0001", "ineligible"),
        ("S12-0002", "12-0001", "eligible"),
    ]
    assert client.get(url, params={"site": OWN}, headers=h[Role.COORDINATOR]).json() == log
    one = client.get(f"{url}/{OWN}/S12-0001", headers=h[Role.MONITOR])
    assert one.status_code == 200 and one.json()["record"]["ecog"] == 2

    summary = client.get(f"/api/v1/trials/{NCT}/screening-summary", headers=h[Role.SPONSOR])
    assert summary.status_code == 200
    s = summary.json()
    # latest screening of the one subject is eligible: no failures any more
    assert (s["screened"], s["screenings"], s["eligible"], s["failures"]) == (1, 2, 1, [])
    assert "HN-1" not in summary.text and "12-0001" not in summary.text


def test_malformed_record_is_422_naming_the_field_and_nothing_is_stored(td, api):
    client, h = api
    rec = example("eligible")
    rec["labs"]["anc"]["value"] = "plenty"
    r = client.post(
        f"/api/v1/trials/{NCT}/screenings",
        headers=h[Role.COORDINATOR],
        json={"site": OWN, "patient_ref": "HN-9", "record": rec},
    )
    assert r.status_code == 422
    assert "record.labs.anc.value" in [p["field"] for p in r.json()["problems"]]
    r = client.post(
        f"/api/v1/trials/{NCT}/screenings",
        headers=h[Role.COORDINATOR],
        json={"site": OWN, "record": example("eligible"), "colour": "red"},
    )
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["problems"]} >= {"patient_ref", "colour"}
    assert n_screenings(td) == 0


def test_other_site_and_roles_are_refused(td, api):
    client, h = api
    url = f"/api/v1/trials/{NCT}/screenings"
    r = client.post(
        url, headers=h[Role.COORDINATOR], json={"site": OTHER, "patient_ref": "AN-1", "record": example("eligible")}
    )
    assert r.status_code == 403
    for role in (Role.MONITOR, Role.SPONSOR, Role.STATISTICIAN, Role.ADMIN):
        r = client.post(url, headers=h[role], json={"site": OWN, "patient_ref": "HN-1", "record": example("eligible")})
        assert r.status_code == 403, role
    assert n_screenings(td) == 0
    assert client.post(url, json={"site": OWN, "patient_ref": "x", "record": {}}).status_code == 401
    client.post(
        url, headers=h[Role.COORDINATOR], json={"site": OWN, "patient_ref": "HN-1", "record": example("eligible")}
    )
    # other-site screening log: refused; a screening at a site the caller cannot see: not found
    assert client.get(url, params={"site": OTHER}, headers=h[Role.COORDINATOR]).status_code == 403
    assert client.get(url, headers=h[Role.SPONSOR]).status_code == 403
    r = client.get(f"{url}/{OWN}/S12-0001", headers=h[Role.STATISTICIAN])
    assert r.status_code == 404 and "S12" not in r.text
    # a malformed record from an allowed caller: 422 naming the field
    r = client.post(url, headers=h[Role.COORDINATOR], json={"site": OWN, "patient_ref": "HN-1", "record": {"ecog": 9}})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "record.ecog"


def login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_web_form_round_trip(td, api):
    client, _ = api
    login(client, "coordinator1")
    site_page = client.get(f"/ops/sites/{OWN}")
    assert "Screening log" in site_page.text and f"/ops/sites/{OWN}/screen" in site_page.text
    form = client.get(f"/ops/sites/{OWN}/screen")
    assert form.status_code == 200 and 'name="labs.anc.value"' in form.text and 'name="her2.ihc"' in form.text
    csrf = csrf_of(form.text)

    # JSON box holds the parts without fields; fields carry the rest (the ineligible example's key items)
    base = example("ineligible")
    advanced = {k: base[k] for k in ("prior_therapies", "history", "urinalysis", "planned_first_dose_date")}
    fields = {
        "csrf_token": csrf,
        "patient_ref": "HN-web-1",
        "screened_on": "",
        "birth_date": base["birth_date"],
        "sex": "female",
        "consent_date": base["consent_date"],
        "ecog": "2",
        "her2.ihc": "3+",
        "er_status": "positive",
        "pr_status": "negative",
        "disease.invasive_carcinoma": "yes",
        "disease.confirmation": "histological",
        "disease.recurrent_or_metastatic": "yes",
        "disease.presentation": "recurrent",
        "disease.initial_diagnosis_date": "2019-03-04",
        "disease.recurrence_date": "2025-11-18",
        "cns.brain_metastases": "none",
        "cns.spinal_cord_compression": "no",
        "lesions.0.organ": "liver",
        "lesions.0.longest_diameter_mm": "24",
        "lesions.0.method": "ct",
        "labs.anc.value": "1200",
        "labs.anc.unit": "/uL",
        "labs.platelets.value": "212",
        "labs.platelets.unit": "10^9/L",
        "labs.hemoglobin.value": "121",
        "labs.hemoglobin.unit": "g/L",
        "labs.total_bilirubin.value": "12",
        "labs.total_bilirubin.unit": "umol/L",
        "labs.total_bilirubin.uln": "21",
        "labs.alt.value": "30",
        "labs.alt.unit": "U/L",
        "labs.alt.uln": "40",
        "labs.ast.value": "25",
        "labs.ast.unit": "U/L",
        "labs.ast.uln": "35",
        "labs.creatinine.value": "68",
        "labs.creatinine.unit": "umol/L",
        "labs.creatinine.uln": "97",
        "labs.albumin.unit": "g/L",  # unit without value: not entered
        "lvef_percent": "60",
        "vitals.systolic_bp_mmhg": "130",
        "vitals.diastolic_bp_mmhg": "80",
        "attestations.INC-01": "yes",
        "attestations.EXC-06": "yes",
        "record_json": json.dumps(advanced),
    }
    r = client.post(f"/ops/sites/{OWN}/screen", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/ops/sites/{OWN}/screenings/S12-0001"
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert re.search(r'id="verdict"[^>]*>ineligible<', page.text)
    # every criterion row shows its id, verbatim text, status and reason
    row = re.search(r'<tr id="c-INC-02".*?</tr>', page.text, re.S).group(0)
    assert "Age: 18-75 years old" in row and "not_met" in row and "age 76 at consent 2026-01-10 &gt; 75" in row
    anc = re.search(r'<tr id="c-INC-08".*?</tr>', page.text, re.S).group(0)
    assert "ANC 1.2 x10^9/L &lt; 1.5" in anc and "Good major organ function" in anc
    assert page.text.count('<tr id="c-') > 20
    with td.uow() as uow:
        stored = uow.session.execute(select(ScreeningRow)).scalar_one()
        rec = json.loads(stored.record_json)
    assert rec["labs"]["anc"] == {"value": 1200.0, "unit": "/uL", "uln": None} and rec["labs"]["albumin"] is None
    assert rec["lesions"][0]["organ"] == "liver" and rec["history"] == base["history"]
    assert "S12-0001" in client.get(f"/ops/sites/{OWN}").text
    assert "S12-0001" in client.get("/ops/subjects/12-0001?tab=screening").text

    # malformed: a field names itself, the form comes back with the values, nothing is stored
    bad = dict(fields, **{"labs.anc.value": "lots", "patient_ref": "HN-web-2"})
    r = client.post(f"/ops/sites/{OWN}/screen", data=bad, follow_redirects=False)
    assert r.status_code == 422 and "record.labs.anc.value" in r.text and 'value="HN-web-2"' in r.text
    bad = dict(fields, **{"record_json": "{not json", "patient_ref": "HN-web-3"})
    r = client.post(f"/ops/sites/{OWN}/screen", data=bad, follow_redirects=False)
    assert r.status_code == 422 and "record_json" in r.text
    bad = dict(fields, **{"ecog": "", "record_json": json.dumps({"ecog": 8}), "patient_ref": "HN-web-4"})
    r = client.post(f"/ops/sites/{OWN}/screen", data=bad, follow_redirects=False)
    assert r.status_code == 422 and "record.ecog" in r.text
    bad = dict(
        fields,
        **{"labs.albumin.uln": "50", "lesions.1.longest_diameter_mm": "15", "ecog": "two", "patient_ref": "HN-web-5"},
    )
    r = client.post(f"/ops/sites/{OWN}/screen", data=bad, follow_redirects=False)
    assert r.status_code == 422
    for named in ("record.labs.albumin.value", "record.lesions.1.organ", "record.ecog"):
        assert named in r.text, named
    assert n_screenings(td) == 1
    # without the CSRF token nothing happens
    r = client.post(f"/ops/sites/{OWN}/screen", data=dict(fields, csrf_token="forged"), follow_redirects=False)
    assert r.status_code == 403 and n_screenings(td) == 1


def test_web_form_refused_for_roles_without_screening(td, api):
    client, _ = api
    login(client, "monitor1")
    assert client.get(f"/ops/sites/{OWN}/screen").status_code == 403
    page = client.get(f"/ops/sites/{OWN}")
    assert "Screening log" in page.text and f'/ops/sites/{OWN}/screen"' not in page.text
    csrf = csrf_of(page.text)
    r = client.post(
        f"/ops/sites/{OWN}/screen",
        data={"csrf_token": csrf, "patient_ref": "HN-1", "record_json": json.dumps(example("eligible"))},
        follow_redirects=False,
    )
    assert r.status_code == 403 and n_screenings(td) == 0


def test_cli_stores_with_site_and_evaluates_without(td, db_url, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from trialdesk.entrypoints.cli.main import app as cli

    make_users(td)
    runner = CliRunner()
    path = str(EXAMPLES / "ineligible.json")
    r = runner.invoke(cli, ["screen", path, "--json"])  # evaluation only: nothing stored
    assert r.exit_code == 0 and json.loads(r.output)["verdict"] == "ineligible" and n_screenings(td) == 0

    monkeypatch.setenv("TRIALDESK_PASSWORD", PASSWORD)
    r = runner.invoke(
        cli, ["screen", path, "--site", OWN, "--patient-ref", "HN-cli", "--as", "coordinator1", "--db", db_url]
    )
    assert r.exit_code == 0, r.output
    assert "S12-0001" in r.output and "12-0001" in r.output and "ineligible" in r.output
    r = runner.invoke(
        cli,
        [
            "screen",
            str(EXAMPLES / "eligible.json"),
            "--site",
            OWN,
            "--patient-ref",
            "HN-cli",
            "--as",
            "coordinator1",
            "--db",
            db_url,
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["screening_number"], out["subject_number"], out["verdict"], out["rescreen"]) == (
        "S12-0002",
        "12-0001",
        "eligible",
        True,
    )
    # another site: the coordinator is refused (exit 1), nothing stored
    r = runner.invoke(
        cli, ["screen", path, "--site", OTHER, "--patient-ref", "AN-1", "--as", "coordinator1", "--db", db_url]
    )
    assert r.exit_code == 1 and "may not screening.create" in r.output
    # malformed record: exit 2 naming the field
    bad = json.loads((EXAMPLES / "eligible.json").read_text())
    bad["labs"]["anc"]["value"] = -1
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    r = runner.invoke(
        cli, ["screen", str(f), "--site", OWN, "--patient-ref", "HN-bad", "--as", "coordinator1", "--db", db_url]
    )
    assert r.exit_code == 2 and "record.labs.anc.value" in r.output
    assert n_screenings(td) == 2
