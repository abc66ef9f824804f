"""Design surfaces: the API and the statistician's page, with access rules."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from access_helpers import make_users, token_for
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import Role
from trialdesk.entrypoints.web.app import create_app


@pytest.fixture
def client(sqlite_url):
    td = bootstrap(sqlite_url)
    make_users(td)
    client = TestClient(create_app(td_app=td))
    client.tokens = {role: token_for(td, f"{role.value}1") for role in Role}
    yield client
    td.dispose()


def auth(client, role):
    return {"Authorization": f"Bearer {client.tokens[role]}"}


def test_closed_form_and_simulation_api(client):
    r = client.get("/api/v1/trials/NCT07003074/design", headers=auth(client, Role.STATISTICIAN))
    assert r.status_code == 200
    report = r.json()
    # protocol: HR 0.70, one-sided alpha 0.025, 90% power, 334 events, interim at 60% information
    assert report["planned_events"] == 334 and abs(report["power"] - 0.90) < 0.01
    assert [round(look["information_fraction"], 2) for look in report["looks"]] == [0.6, 1.0]
    r = client.post(
        "/api/v1/trials/NCT07003074/design/simulations",
        headers=auth(client, Role.SPONSOR),
        json={"trials": 1000, "hr": 1.0, "seed": 7},
    )
    assert r.status_code == 200
    null = r.json()["rejection_probability"]
    assert abs(null["value"] - 0.025) < 3 * null["mc_se"] + 0.005  # type I error near one-sided alpha


def test_bad_input_names_the_field(client):
    r = client.post(
        "/api/v1/trials/NCT07003074/design/simulations", headers=auth(client, Role.STATISTICIAN), json={"trials": 10}
    )
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "trials"
    r = client.post(
        "/api/v1/trials/NCT07003074/design/simulations",
        headers=auth(client, Role.STATISTICIAN),
        json={"trials": 500, "colour": "red"},
    )
    assert r.status_code == 422 and "colour" in r.json()["message"]


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.MONITOR, Role.INVESTIGATOR, Role.ADMIN])
def test_site_roles_cannot_simulate(client, role):
    assert client.get("/api/v1/trials/NCT07003074/design", headers=auth(client, role)).status_code == 403


def test_statistician_page_plots(client):
    r = client.get("/ops/design?trials=300", headers=auth(client, Role.STATISTICIAN))
    assert r.status_code == 200
    assert r.text.count("<svg") == 2 and "Power against hazard ratio" in r.text
