"""The audit-trail page and CSV export: filters, paging, role refusal and site scoping (both databases)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, OTHER, OWN, PASSWORD, make_users
from test_treatment_helpers import Clock
from trialdesk.entrypoints.web.app import create_app


@pytest.fixture
def web(tmp_path, monkeypatch, db_url):
    from trialdesk.bootstrap import bootstrap

    monkeypatch.setenv("TRIALDESK_AUDIT_DIR", str(tmp_path / "audit"))
    td = bootstrap(db_url)
    make_users(td)
    # known events, dated after everything the setup wrote (timestamps never run backwards)
    td.clock = Clock("2030-03-01")
    with td.uow("coordinator1") as uow:
        uow.record(
            "subject.status_changed",
            "subject",
            "01-001",
            before={"status": "screened"},
            after={"status": "randomized"},
            trial=NCT,
            site=OWN,
            reason="randomized",
        )
        uow.record(
            "screening.recorded",
            "screening",
            f"{OWN}/S-7",
            after={"subject_number": "01-001", "verdict": "eligible"},
            trial=NCT,
            site=OWN,
        )
        uow.record("subject.status_changed", "subject", "01-0010", after={"status": "screened"}, trial=NCT, site=OWN)
        uow.commit()
    td.clock = Clock("2030-03-05")
    with td.uow("investigator9") as uow:
        uow.record("subject.status_changed", "subject", "02-001", after={"status": "randomized"}, trial=NCT, site=OTHER)
        uow.record("dose.recorded", "dose", "77", after={"actual_mg": 80}, reason="=cmd()", trial=NCT, site=OWN)
        uow.commit()
    yield td
    td.dispose()


def client_for(td, username):
    client = TestClient(create_app(td_app=td))
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
    return client


def rows(response):
    assert response.status_code == 200, response.text
    body = re.search(r'<table class="list" id="audit-events">.*?<tbody>(.*?)</tbody>', response.text, re.S).group(1)
    return [re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S) for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def csv_rows(response):
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_filters_on_page_and_csv(web):
    admin = client_for(web, "admin1")
    subject = rows(admin.get("/ops/audit", params={"subject": "01-001"}))
    # the subject's own event and the screening that names its number; not subject 01-0010
    assert [(r[3], r[4]) for r in subject] == [
        ("screening.recorded", f"screening {OWN}/S-7"),
        ("subject.status_changed", "subject 01-001"),
    ]
    change = re.sub(r"\s+", " ", subject[1][6])
    assert '<b>status</b>: <del class="before">screened</del> → <span class="after">randomized</span>' in change
    by_user = rows(admin.get("/ops/audit", params={"user": "investigator9"}))
    assert sorted(r[3] for r in by_user) == ["dose.recorded", "subject.status_changed"]
    by_record = rows(admin.get("/ops/audit", params={"entity_type": "dose", "entity_id": "77"}))
    assert [r[3] for r in by_record] == ["dose.recorded"]
    by_action = rows(
        admin.get("/ops/audit", params={"action": "subject.", "date_from": "2030-03-01", "date_to": "2030-03-01"})
    )
    assert sorted(r[4] for r in by_action) == ["subject 01-001", "subject 01-0010"]
    later = rows(admin.get("/ops/audit", params={"date_from": "2030-03-02"}))
    # (the admin's own login, an event of no trial, is dated on the clock too)
    assert sorted(r[3] for r in later if r[2] != "admin1") == ["dose.recorded", "subject.status_changed"]
    assert all(r[1] >= "2030-03-02" for r in later) and len(later) == 3
    exported = csv_rows(admin.get("/ops/audit.csv", params={"subject": "01-001"}))
    assert [(r["action"], r["entity_id"]) for r in exported] == [
        ("screening.recorded", f"{OWN}/S-7"),
        ("subject.status_changed", "01-001"),
    ]
    assert json.loads(exported[1]["after"]) == {"status": "randomized"} and exported[1]["reason"] == "randomized"
    dose = csv_rows(admin.get("/ops/audit.csv", params={"entity_type": "dose"}))
    assert dose[0]["reason"] == "'=cmd()"  # no formula for a spreadsheet to run
    bad = admin.get("/ops/audit", params={"date_from": "2030-02-30"})
    assert bad.status_code == 422 and "date_from" in bad.text
    assert admin.get("/ops/audit.csv", params={"date_from": "2030-03-05", "date_to": "2030-03-01"}).status_code == 422


def test_roles_without_audit_view_are_refused_and_not_linked(web):
    admin = client_for(web, "admin1")
    assert 'href="/ops/audit"' in admin.get("/ops").text
    coordinator = client_for(web, "coordinator1")
    assert 'href="/ops/audit"' not in coordinator.get("/ops").text
    assert coordinator.get("/ops/audit").status_code == 403
    assert coordinator.get("/ops/audit.csv").status_code == 403


def test_site_scoped_monitor_sees_only_own_site_events(web):
    monitor = client_for(web, "monitor1")  # monitor at the own site only
    seen = rows(monitor.get("/ops/audit", params={"action": "subject."}))
    assert sorted(r[4] for r in seen) == ["subject 01-001", "subject 01-0010"]
    assert all(r[5] == OWN for r in rows(monitor.get("/ops/audit")))
    assert rows(monitor.get("/ops/audit", params={"subject": "02-001"})) == [["No events match."]]
    exported = csv_rows(monitor.get("/ops/audit.csv"))
    assert exported and {r["site"] for r in exported} == {OWN}
    # the admin (trial-wide) sees the other site's event and account events of no trial
    admin = client_for(web, "admin1")
    assert rows(admin.get("/ops/audit", params={"subject": "02-001"}))[0][5] == OTHER
    assert rows(admin.get("/ops/audit", params={"action": "user.created", "user": "setup"}))


def test_paging(web):
    web.clock = Clock("2030-04-01")
    with web.uow("pager") as uow:
        for i in range(60):
            uow.record("thing.touched", "thing", str(i), trial=NCT, site=OWN)
        uow.commit()
    admin = client_for(web, "admin1")
    first = admin.get("/ops/audit", params={"user": "pager"})
    page1 = rows(first)
    assert len(page1) == 50 and page1[0][4] == "thing 59" and 'rel="next"' in first.text
    second = admin.get("/ops/audit", params={"user": "pager", "page": 2})
    page2 = rows(second)
    assert [r[4] for r in page2] == [f"thing {i}" for i in range(9, -1, -1)] and 'rel="next"' not in second.text
    assert admin.get("/ops/audit", params={"page": "0"}).status_code == 422
    assert len(csv_rows(admin.get("/ops/audit.csv", params={"user": "pager"}))) == 60


def test_an_edit_shows_only_the_fields_it_changed(web):
    """A reviewer reads what changed (21 CFR 11.10(e): previously recorded information not obscured): the old and
    the new value of each changed field, not the whole record twice."""
    web.clock = Clock("2030-03-06")
    with web.uow("coordinator1") as uow:
        before = {"actual_mg": 80.0, "drug": "docetaxel", "dose_date": "2030-03-05"}
        after = {**before, "actual_mg": 60.0, "delay_reason": "neutropenia"}
        uow.record("dose.edited", "dose", "77", before=before, after=after, reason="transcription", trial=NCT, site=OWN)
        uow.commit()
    admin = client_for(web, "admin1")
    [edited] = rows(admin.get("/ops/audit", params={"action": "dose.edited"}))
    lines = re.findall(r"<div>(.*?)</div>", edited[6], re.S)
    assert lines == [
        '<b>actual_mg</b>: <del class="before">80.0</del> → <span class="after">60.0</span>',
        '<b>delay_reason</b>: <del class="before">—</del> → <span class="after">neutropenia</span>',
    ]
    assert "docetaxel" not in edited[6] and edited[7] == "transcription"
