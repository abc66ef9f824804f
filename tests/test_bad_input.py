"""Bad input that used to answer 500 (issue 14, item 4): each is a 4xx naming the field and nothing is written, on
SQLite and PostgreSQL. Far dates (``OverflowError``), ids of 2**70, NUL bytes in path, query, form and JSON (refused
by PostgreSQL's driver), a negative design seed, 100k nested brackets (``RecursionError``) and non-finite or absurd
screening values (ANC ``Infinity`` and ``1e308`` used to be judged eligible)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from access_helpers import NCT, OWN, PASSWORD, make_users, token_for
from test_screening_api import example, n_screenings
from test_treatment_helpers import Clock, day, randomized_subject
from trialdesk.adapters.db.tables import audit_events
from trialdesk.domain.access import Role
from trialdesk.entrypoints.web.app import create_app

R = "2025-03-03"
BASE = f"/api/v1/trials/{NCT}"
FAR = "9999-12-31"
HUGE = 2**70


@pytest.fixture
def web(td):
    td.clock = Clock(day(R, 60))
    make_users(td)
    randomized_subject(td, "01-001", arm="thp", randomized_on=R)
    client = TestClient(create_app(td_app=td))
    tokens = {role: {"Authorization": f"Bearer {token_for(td, f'{role.value}1')}"} for role in Role}
    return td, client, tokens


def _n_doses(td):
    with td.uow() as uow:
        return len(uow.doses.for_subject(uow.subjects.get(uow.trials.get(NCT).id, "01-001").id))


def _n_audit(td):
    with td.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(audit_events)).scalar_one()


def _fields(r, status=422):
    assert r.status_code == status, (r.status_code, r.text)
    return [p["field"] for p in r.json()["problems"]]


def test_far_dates_in_as_of_and_dose_date(web):
    td, client, h = web
    coord, s = h[Role.COORDINATOR], f"{BASE}/subjects/01-001"
    before = _n_audit(td)
    assert _fields(client.get(f"{s}/calendar", params={"as_of": FAR}, headers=coord)) == ["query.as_of"]
    assert _fields(client.get(f"{BASE}/sites/{OWN}/calendar", params={"as_of": FAR}, headers=coord)) == ["query.as_of"]
    plan = client.get(f"{s}/doses/plan", params={"cycle": 1, "weight_kg": 60, "dose_date": FAR}, headers=coord)
    assert _fields(plan) == ["query.dose_date"]
    body = {"drug": "docetaxel", "cycle": 1, "dose_date": FAR, "actual_mg": 122.5, "weight_kg": 60}
    assert _fields(client.post(f"{s}/doses", json=body, headers=coord)) == ["dose_date"]
    assert _n_doses(td) == 0 and _n_audit(td) == before


def test_huge_ids_on_routes(web):
    td, client, h = web
    coord, s = h[Role.COORDINATOR], f"{BASE}/subjects/01-001"
    before = _n_audit(td)
    edit = {"changes": {"actual_mg": 120}, "reason": "typo"}
    assert _fields(client.patch(f"{s}/doses/{HUGE}", json=edit, headers=coord)) == ["path.dose_id"]
    assert _fields(client.patch(f"{s}/adverse-events/{HUGE}", json=edit, headers=coord)) == ["path.ae_id"]
    step = client.post(f"{BASE}/queries/{HUGE}/answer", json={"text": "done"}, headers=coord)
    assert _fields(step) == ["path.query_id"]
    run = client.get(f"{BASE}/analysis/runs/{HUGE}", headers=h[Role.STATISTICIAN])
    assert _fields(run) == ["path.run_id"]
    assert _n_audit(td) == before


def test_nul_bytes_in_path_query_form_and_json(web):
    td, client, h = web
    coord = h[Role.COORDINATOR]
    before = _n_audit(td)
    assert _fields(client.get(f"/trials/{NCT}%00")) == ["path"]
    assert _fields(client.get("/api/v1/trials", params={"q": "her2\x00"}, headers=coord)) == ["query.q"]
    login = client.post("/login", data={"username": "coordinator1\x00", "password": "x", "csrf_token": "t"})
    assert _fields(login) == ["username"]
    r = client.post(
        f"{BASE}/screenings",
        headers=coord,
        json={"site": OWN, "patient_ref": "HN\x00-1", "record": example("eligible")},
    )
    assert _fields(r) == ["patient_ref"]
    rec = example("eligible")
    rec["labs"]["anc"]["unit"] = "10^9/L\x00"
    r = client.post(f"{BASE}/screenings", headers=coord, json={"site": OWN, "patient_ref": "HN-1", "record": rec})
    assert _fields(r) == ["record.labs.anc.unit"]
    assert n_screenings(td) == 0 and _n_audit(td) == before


def test_nul_byte_refused_by_the_command_model_itself():
    """Callers other than the web layer (CLI, services) get the same refusal from the command model."""
    from pydantic import ValidationError

    from trialdesk.services.commands import ScreenPatient

    with pytest.raises(ValidationError) as info:
        ScreenPatient(site=OWN, patient_ref="HN\x00", record={})
    assert info.value.errors()[0]["loc"] == ("patient_ref",)


def test_deeply_nested_json_is_refused(web):
    td, client, h = web
    body = "[" * 100_000 + "]" * 100_000
    r = client.post(
        f"{BASE}/screenings", headers={**h[Role.COORDINATOR], "Content-Type": "application/json"}, content=body
    )
    assert _fields(r) == ["body"]
    assert n_screenings(td) == 0


@pytest.mark.parametrize("value", [float("inf"), 1e308, float("-inf")])
def test_non_finite_screening_values_refused(web, value):
    td, client, h = web
    rec = example("eligible")
    rec["labs"]["anc"]["value"] = value
    payload = json.dumps({"site": OWN, "patient_ref": "HN-1", "record": rec})  # Infinity for inf
    r = client.post(
        f"{BASE}/screenings", headers={**h[Role.COORDINATOR], "Content-Type": "application/json"}, content=payload
    )
    fields = _fields(r)
    assert fields == ["record"] and "anc" in r.json()["message"]
    assert n_screenings(td) == 0


def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    if r.headers["location"].startswith("/account/password"):
        page = client.get("/account/password")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post(
            "/account/password",
            data={"current": PASSWORD, "new": PASSWORD + "!", "confirm": PASSWORD + "!", "csrf_token": csrf},
        )


def test_negative_design_seed(web):
    td, client, _h = web
    _login(client, "statistician1")
    # the page comes back (422) with the value kept and the message beside the seed field, nothing simulated
    page = client.get("/ops/design", params={"seed": -1})
    assert (
        page.status_code == 422 and 'id="err-seed"' in page.text and 'name="seed" type="number" value="-1"' in page.text
    )
