"""Treatment over HTTP: the JSON API (bearer tokens), iCalendar export, and the subject/site page panels and forms
(session + CSRF). Both databases."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from access_helpers import NCT, OTHER, OWN, PASSWORD, make_users, token_for
from test_treatment_helpers import Clock, day, randomized_subject
from trialdesk.domain.access import Role
from trialdesk.entrypoints.web.app import create_app

R = "2025-03-03"
BASE = f"/api/v1/trials/{NCT}"


@pytest.fixture
def web(td):
    td.clock = Clock(day(R, 60))
    make_users(td)
    randomized_subject(td, "01-001", arm="thp", randomized_on=R)
    randomized_subject(td, "02-001", site=OTHER, arm="thp", randomized_on=R)
    client = TestClient(create_app(td_app=td))
    tokens = {role: token_for(td, f"{role.value}1") for role in (Role.COORDINATOR, Role.MONITOR)}
    return td, client, {role: {"Authorization": f"Bearer {t}"} for role, t in tokens.items()}


def _n_doses(td, number="01-001"):
    with td.uow() as uow:
        return len(uow.doses.for_subject(uow.subjects.get(uow.trials.get(NCT).id, number).id))


def test_api_plan_record_edit_dispose_calendar(web):
    td, client, h = web
    coord, monitor = h[Role.COORDINATOR], h[Role.MONITOR]
    s = f"{BASE}/subjects/01-001"
    plan = client.get(f"{s}/doses/plan", params={"cycle": 1, "weight_kg": 60, "dose_date": day(R, 1)}, headers=coord)
    assert plan.status_code == 200, plan.text
    assert {d["drug"]: d["dose_mg"] for d in plan.json()["doses"]} == {
        "pertuzumab": 840.0,
        "trastuzumab": 480.0,
        "docetaxel": 122.5,
    }
    body = {"drug": "docetaxel", "cycle": 1, "dose_date": day(R, 1), "actual_mg": 122.5, "weight_kg": 60}
    # the monitor may not record: answered as not found, nothing stored
    assert client.post(f"{s}/doses", json=body, headers=monitor).status_code == 404
    assert client.post(f"{BASE}/subjects/02-001/doses", json=body, headers=coord).status_code == 404
    assert _n_doses(td) == 0 and _n_doses(td, "02-001") == 0
    bad = client.post(f"{s}/doses", json={**body, "dose_date": day(R, -2)}, headers=coord)
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "dose_date" and _n_doses(td) == 0
    assert client.post(f"{s}/doses", json={**body, "extra": 1}, headers=coord).status_code == 422
    created = client.post(f"{s}/doses", json=body, headers=coord)
    assert created.status_code == 201, created.text
    dose_id = created.json()["id"]
    no_reason = client.patch(f"{s}/doses/{dose_id}", json={"changes": {"actual_mg": 120}, "reason": ""}, headers=coord)
    assert no_reason.status_code == 422 and no_reason.json()["problems"][0]["field"] == "reason"
    edited = client.patch(f"{s}/doses/{dose_id}", json={"changes": {"actual_mg": 120}, "reason": "typo"}, headers=coord)
    assert edited.status_code == 200 and edited.json()["changes"] == {"actual_mg": {"old": 122.5, "new": 120.0}}
    assert [d["actual_mg"] for d in client.get(f"{s}/doses", headers=monitor).json()] == [120.0]

    cal = client.get(f"{s}/calendar", params={"as_of": day(R, 30)}, headers=monitor)
    assert cal.status_code == 200
    labels = {v["label"]: v for v in cal.json()["visits"]}
    assert labels["C1D1"]["status"] == "done" and labels["C2D1"]["status"] == "overdue"
    ics = client.get(f"{s}/calendar", params={"as_of": day(R, 30), "format": "ics"}, headers=coord)
    assert ics.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(ics.content).walk("VEVENT")
    assert len(events) == len(labels)
    assert {e.decoded("dtstart").isoformat() for e in events} >= {day(R, 1), day(R, 42)}
    assert client.get(f"{BASE}/subjects/02-001/calendar", headers=coord).status_code == 404

    site = client.get(f"{BASE}/sites/{OWN}/calendar", params={"as_of": day(R, 30)}, headers=coord)
    assert site.status_code == 200 and site.json()["visits"][0]["label"] == "C2D1"
    assert site.json()["visits"][0]["status"] == "overdue"
    site_ics = client.get(f"{BASE}/sites/{OWN}/calendar", params={"format": "ics"}, headers=coord)
    assert len(Calendar.from_ical(site_ics.content).walk("VEVENT")) >= 1
    assert client.get(f"{BASE}/sites/{OTHER}/calendar", headers=coord).status_code == 403

    disp = client.post(
        f"{s}/dispositions",
        json={"kind": "end_of_treatment", "event_date": day(R, 40), "reason": "adverse event"},
        headers=coord,
    )
    assert disp.status_code == 201 and disp.json()["subject_status"] == "off_treatment"
    assert (
        client.post(
            f"{s}/dispositions", json={"kind": "death", "event_date": day(R, 61), "reason": "x"}, headers=coord
        ).status_code
        == 422
    )  # in the future
    assert [d["kind"] for d in client.get(f"{s}/dispositions", headers=monitor).json()] == ["end_of_treatment"]


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
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ops").text).group(1)


def test_pages_panels_and_forms(web):
    td, client, _ = web
    csrf = _login(client, "coordinator1")
    # the casebook's Treatment tab has the calendar and doses, its Disposition tab the disposition panel
    page = client.get("/ops/subjects/01-001?tab=treatment")
    assert page.status_code == 200
    for panel in ("panel-calendar", "panel-doses"):
        assert panel in page.text
    assert "panel-disposition" in client.get("/ops/subjects/01-001?tab=disposition").text
    assert 'action="/ops/subjects/01-001/doses/new"' in page.text
    new = client.get("/ops/subjects/01-001/doses/new", params={"cycle": 1, "weight_kg": 60, "dose_date": day(R, 1)})
    assert new.status_code == 200 and "122.5" in new.text and 'name="actual_mg__trastuzumab"' in new.text
    form = {
        "csrf_token": csrf,
        "cycle": "1",
        "dose_date": day(R, 1),
        "weight_kg": "60",
        "height_cm": "",
        "drugs": "pertuzumab,trastuzumab,docetaxel",
    }
    for drug, mg in (("pertuzumab", 840), ("trastuzumab", 480), ("docetaxel", 150)):
        form |= {f"give__{drug}": "yes", f"actual_mg__{drug}": str(mg), f"reduction_level__{drug}": "0"}
    # docetaxel 150 mg is 22% above the plan: no override reason -> the page says so and nothing is stored
    refused = client.post("/ops/subjects/01-001/doses", data=form, follow_redirects=False)
    assert refused.status_code == 422 and "override reason" in refused.text and _n_doses(td) == 0
    form["override_reason__docetaxel"] = "investigator decision"
    done = client.post("/ops/subjects/01-001/doses", data=form, follow_redirects=False)
    assert done.status_code == 303 and _n_doses(td) == 3
    assert done.headers["location"] == "/ops/subjects/01-001?tab=treatment#panel-doses"
    with td.uow() as uow:
        pertuzumab = next(
            d
            for d in uow.doses.for_subject(uow.subjects.get(uow.trials.get(NCT).id, "01-001").id)
            if d.drug == "pertuzumab"
        )
    edit = {"csrf_token": csrf, "dose_id": str(pertuzumab.id), "field": "actual_mg", "value": "830"}
    assert client.post("/ops/subjects/01-001/doses/edit", data=edit, follow_redirects=False).status_code == 422
    assert (
        client.post(
            "/ops/subjects/01-001/doses/edit", data={**edit, "reason": "bag weighed"}, follow_redirects=False
        ).status_code
        == 303
    )
    with td.uow() as uow:
        [event] = [e for e in uow.audit.events() if e.action == "dose.updated"]
    assert (event.before, event.after, event.reason, event.actor) == (
        '{"actual_mg":840.0,"subject_number":"01-001"}',
        '{"actual_mg":830.0,"subject_number":"01-001"}',
        "bag weighed",
        "coordinator1",
    )
    # without the CSRF token nothing is recorded
    assert client.post(
        "/ops/subjects/01-001/dispositions", data={"kind": "death"}, follow_redirects=False
    ).status_code in (403, 422)
    disp = client.post(
        "/ops/subjects/01-001/dispositions",
        data={"csrf_token": csrf, "kind": "end_of_treatment", "event_date": day(R, 30), "reason": "adverse event"},
        follow_redirects=False,
    )
    assert disp.status_code == 303
    assert disp.headers["location"] == "/ops/subjects/01-001?tab=disposition#panel-disposition"
    page = client.get("/ops/subjects/01-001?tab=disposition")
    assert "Off treatment, in follow-up" in page.text and "adverse event" in page.text
    page = client.get("/ops/subjects/01-001?tab=treatment")
    assert "off_treatment" in page.text and 'data-label="EOT"' in page.text
    site = client.get(f"/ops/sites/{OWN}")
    assert "panel-upcoming_visits" in site.text and "EOT" in site.text
    ics = client.get("/ops/subjects/01-001/calendar.ics")
    assert ics.status_code == 200 and len(Calendar.from_ical(ics.content).walk("VEVENT")) >= 2
