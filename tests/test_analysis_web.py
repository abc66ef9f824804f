"""Analysis on the web: API and the statistician's page, access rules, posting shows results on the registry."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, make_users, token_for
from analysis_helpers import fill_database
from trialdesk.adapters.ctgov_results import results_problems
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import Role
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.entrypoints.web.app import create_app
from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data

CUT = "2028-09-30"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    after_cut = dt.datetime(2028, 10, 1, 12, tzinfo=dt.UTC)  # the day after CUT: a cut is never in the future
    td = bootstrap(f"sqlite:///{tmp_path_factory.mktemp('web') / 'td.sqlite'}", clock=lambda: after_cut)
    fill_database(
        td,
        simulate_captured_data(
            np.random.default_rng(9), ScheduleSpec(), SimulationSettings(n_subjects=100, n_screened_extra=10)
        ),
    )
    make_users(td)
    client = TestClient(create_app(td_app=td))
    client.tokens = {role: token_for(td, f"{role.value}1") for role in Role}
    yield client
    td.dispose()


def auth(client, role):
    return {"Authorization": f"Bearer {client.tokens[role]}"}


def test_api_run_read_post(client):
    stat = auth(client, Role.STATISTICIAN)
    assert client.get(f"/api/v1/trials/{NCT}/results", headers=stat).status_code == 404
    r = client.post(f"/api/v1/trials/{NCT}/analysis/runs", headers=stat, json={"cut_date": CUT})
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["summary"]["n_itt"] == 100 and results_problems(run["results_section"]) == []
    listed = client.get(f"/api/v1/trials/{NCT}/analysis/runs", headers=stat).json()
    assert listed[0]["run_id"] == run["run_id"]
    got = client.get(f"/api/v1/trials/{NCT}/analysis/runs/{run['run_id']}", headers=stat).json()
    assert got["summary"] == run["summary"] and "report_html" not in got
    report = client.get(f"/api/v1/trials/{NCT}/analysis/runs/{run['run_id']}/report", headers=stat)
    assert report.status_code == 200 and "CONSORT flow diagram" in report.text
    body = {"run_id": run["run_id"], "confirm": True}
    r = client.post(f"/api/v1/trials/{NCT}/results", headers=stat, json=body)
    assert r.status_code == 409 and "of 334 PFS events" in r.text  # 100 subjects: the analysis is not due
    sponsor = auth(client, Role.SPONSOR)
    decision = {"kind": "early_stop", "reason": "DMC recommendation at the interim analysis"}
    assert client.post(f"/api/v1/trials/{NCT}/decisions", headers=sponsor, json=decision).status_code == 201
    r = client.post(f"/api/v1/trials/{NCT}/results", headers=stat, json=body)
    assert r.status_code == 409 and "not approved by the sponsor" in r.text
    r = client.post(f"/api/v1/trials/{NCT}/results/approvals", headers=sponsor, json=body)
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/trials/{NCT}/results", headers=stat, json=body)
    assert r.status_code == 200 and r.json()["posted_at"] and r.json()["version"] == 1
    posted = client.get(f"/api/v1/trials/{NCT}/results", headers=auth(client, Role.COORDINATOR))
    assert posted.status_code == 200 and posted.json() == run["results_section"]
    page = client.get(f"/trials/{NCT}").text
    assert "Results pending" not in page and "Hazard Ratio (HR)" in page


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SPONSOR, Role.INVESTIGATOR, Role.COORDINATOR, Role.MONITOR])
def test_other_roles_may_not_run_read_or_post(client, role):
    h = auth(client, role)
    assert client.post(f"/api/v1/trials/{NCT}/analysis/runs", headers=h, json={"cut_date": CUT}).status_code == 403
    assert client.get(f"/api/v1/trials/{NCT}/analysis/runs", headers=h).status_code == 403
    assert client.post(f"/api/v1/trials/{NCT}/results", headers=h, json={}).status_code == 403
    # the sponsor sees the runs' headline numbers to approve them, and no run form
    page = client.get("/ops/analysis", headers=h)
    if role is Role.SPONSOR:
        assert page.status_code == 200 and "Run analysis" not in page.text and "Record decision" in page.text
    else:
        assert page.status_code == 403


def test_bad_input_names_the_field(client):
    stat = auth(client, Role.STATISTICIAN)
    r = client.post(f"/api/v1/trials/{NCT}/analysis/runs", headers=stat, json={"cut_date": "soon"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "cut_date"
    r = client.post(f"/api/v1/trials/{NCT}/analysis/runs", headers=stat, json={"ties": "exact"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "ties"
    r = client.post(f"/api/v1/trials/{NCT}/results", headers=stat, json={"run_id": 999, "confirm": True})
    assert r.status_code == 404
    r = client.post(f"/api/v1/trials/{NCT}/results", headers=stat, json={"run_id": 999, "confirm": "maybe"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "confirm"


def test_statistician_page_runs_and_posts(client):
    stat = auth(client, Role.STATISTICIAN)
    r = client.post(
        "/ops/analysis/runs", headers=stat, data={"cut_date": CUT, "ties": "breslow"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    page = client.get("/ops/analysis", headers=stat)
    assert page.status_code == 200 and "Run analysis" in page.text
    run_id = client.get(f"/api/v1/trials/{NCT}/analysis/runs", headers=stat).json()[0]["run_id"]
    assert f'id="run-{run_id}"' in page.text
    report = client.get(f"/ops/analysis/runs/{run_id}/report", headers=stat)
    assert report.status_code == 200 and "Kaplan" in report.text
    assert f'id="post-{run_id}"' not in page.text and f'id="approve-{run_id}"' not in page.text  # not approved yet
    sponsor = auth(client, Role.SPONSOR)
    r = client.post(f"/ops/analysis/runs/{run_id}/approve", headers=sponsor, data={}, follow_redirects=False)
    assert r.status_code == 422 and "confirm" in r.text  # the box is not ticked
    r = client.post(
        f"/ops/analysis/runs/{run_id}/approve", headers=sponsor, data={"confirm": "true"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    page = client.get("/ops/analysis", headers=stat)
    assert f'id="post-{run_id}"' in page.text
    r = client.post(f"/ops/analysis/runs/{run_id}/post", headers=stat, data={}, follow_redirects=False)
    assert r.status_code == 422
    r = client.post(f"/ops/analysis/runs/{run_id}/post", headers=stat, data={"confirm": "true"}, follow_redirects=False)
    assert r.status_code == 303 and "version" in r.headers["location"]
    bad = client.post("/ops/analysis/runs", headers=stat, data={"cut_date": "31/12/2028"})
    assert bad.status_code == 422 and "cut_date" in bad.text
