"""Capture over HTTP: JSON API (bad AE -> 422 naming the field, SAE, queries, tumour assessments, signature) and the
subject/site pages with their panels and forms (SQLite and PostgreSQL)."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi.testclient import TestClient

from access_helpers import NCT, OWN, PASSWORD, make_users, token_for
from capture_helpers import THP_RELATIONSHIP, Clock, add_subject, load_ctcae
from trialdesk.entrypoints.web.app import create_app
from trialdesk.entrypoints.web.subject_page import TABS as CASEBOOK_TABS

BASE = f"/api/v1/trials/{NCT}/subjects/HUN-0001"


def test_capture_api_and_pages(td, shared_dir):
    td.clock = Clock()
    make_users(td)
    load_ctcae(td, shared_dir)
    add_subject(td, "HUN-0001")
    client = TestClient(create_app(td_app=td))
    h = {
        role: {"Authorization": f"Bearer {token_for(td, role + '1')}"}
        for role in ("coordinator", "monitor", "investigator", "sponsor")
    }

    r = client.get("/api/v1/ctcae/terms/Nausea", headers=h["coordinator"])
    assert r.status_code == 200 and r.json()["defined_grades"] == [1, 2, 3]
    body = {"term": "Nausea", "grade": 4, "onset_date": "2026-01-20", "relationship": THP_RELATIONSHIP}
    r = client.post(BASE + "/adverse-events", json=body, headers=h["coordinator"])
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "grade"
    r = client.post(BASE + "/adverse-events", json={**body, "grade": 3, "extra": 1}, headers=h["coordinator"])
    assert r.status_code == 422 and "extra" in r.text
    r = client.post(
        BASE + "/adverse-events",
        json={**body, "term": "Febrile neutropenia", "grade": 3, "serious": True, "seriousness": ["hospitalisation"]},
        headers=h["coordinator"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["sae"]["due_by"] == "2026-03-03T02:00:00+00:00"
    r = client.post(BASE + "/adverse-events", json=body, headers=h["monitor"])
    assert r.status_code == 403
    r = client.get(BASE + "/adverse-events", headers=h["sponsor"])
    assert r.status_code == 404

    r = client.post(
        BASE + "/queries",
        json={"entity_type": "subject", "entity_id": "HUN-0001", "field": "sex", "message": "Please confirm"},
        headers=h["monitor"],
    )
    assert r.status_code == 201
    qid = r.json()["id"]
    r = client.post(f"/api/v1/trials/{NCT}/queries/{qid}/answer", json={"text": "Confirmed"}, headers=h["coordinator"])
    assert r.json()["status"] == "answered"
    r = client.get(f"/api/v1/trials/{NCT}/queries", params={"site": OWN, "status": "answered"}, headers=h["monitor"])
    assert [q["id"] for q in r.json()] == [qid]

    lesions = [{"lesion_id": "T1", "kind": "target", "organ": "liver", "measurement": 40}]
    r = client.post(
        BASE + "/tumor-assessments",
        json={"assessment_date": "2026-01-02", "lesions": lesions, "baseline": True},
        headers=h["investigator"],
    )
    assert r.status_code == 201, r.text
    r = client.post(
        BASE + "/tumor-assessments",
        json={"assessment_date": "2026-02-16", "lesions": [{"lesion_id": "T1", "kind": "target", "measurement": 20}]},
        headers=h["investigator"],
    )
    assert r.json()["best_overall_response"] == "PR"  # 20 vs 40 mm: -50 %

    r = client.post(BASE + "/signature", json={"password": "nope"}, headers=h["investigator"])
    assert r.status_code == 401
    r = client.post(BASE + "/signature", json={"password": PASSWORD}, headers=h["investigator"])
    assert r.status_code == 201
    assert client.get(BASE + "/signature", headers=h["monitor"]).json()["status"] == "signed"

    # the casebook: one tab per part (each its own URL); read here together
    tabs = [client.get(f"/ops/subjects/HUN-0001?tab={t}", headers=h["coordinator"]) for t, _ in CASEBOOK_TABS]
    assert all(t.status_code == 200 for t in tabs)
    page = SimpleNamespace(text="".join(t.text for t in tabs))
    for text in (
        "Adverse events",
        "Febrile neutropenia (10016288)",
        "SAE report due by 3 Mar 2026, 10:00 CST",  # 24 h after entry (2 Mar 02:00 UTC), the sites' time
        '<datalist id="ctcae-terms">',
        '<option value="Nausea">',
        'name="rel_docetaxel"',
        "Tumour assessments (RECIST 1.1)",
        '<strong id="bor" data-code="PR">Partial response (PR)</strong>',
        "Queries",
        "Signature",
        "Signed.",
    ):
        assert text in page.text, text
    assert "Sign casebook" not in page.text  # coordinator cannot sign; it is signed anyway

    # a form post (bearer auth needs no CSRF token) records an AE and invalidates the signature
    r = client.post(
        "/ops/subjects/HUN-0001/adverse-events",
        headers=h["coordinator"],
        follow_redirects=False,
        data={
            "term": "Nausea",
            "grade": "1",
            "onset_date": "2026-02-01",
            "rel_docetaxel": "possible",
            "rel_trastuzumab": "unlikely",
            "rel_pertuzumab": "unlikely",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/ops/subjects/HUN-0001?tab=ae#panel-adverse_events"
    page = client.get("/ops/subjects/HUN-0001?tab=signature", headers=h["investigator"])
    assert "needs re-signing" in page.text and "Sign casebook" in page.text

    td.clock.advance(hours=25)
    site = client.get(f"/ops/sites/{OWN}", headers=h["monitor"])
    assert "Serious adverse events" in site.text and "SAE report OVERDUE by 3 Mar 2026, 10:00 CST" in site.text
    assert "Open queries" in site.text and "Please confirm" in site.text
