"""The public registry page shows every section of the record, in the record's order."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app


@pytest.fixture
def client(sqlite_url):
    app = bootstrap(sqlite_url)
    yield TestClient(create_app(td_app=app))
    app.dispose()


SECTIONS = [
    "Study Results",
    "Basic Information",
    "Brief Summary",
    "Detailed Description",
    "Conditions",
    "Study Design",
    "Study Groups",
    "Interventions",
    "Eligibility Criteria",
    "Sponsors",
    "Responsible Party",
    "Locations",
    "Countries",
    "Central Contacts",
    "Facility Contacts",
    "Other Identifiers",
    "More Related Trials",
]


def test_trial_page_sections_in_record_order(client):
    page = client.get("/trials/NCT07003074")
    assert page.status_code == 200
    headings = re.findall(r"<h2>(.*?)</h2>", page.text)
    assert headings == SECTIONS
    html = page.text
    for fact in [
        "NCT07003074",
        "RECRUITING",
        "PHASE3",
        "642 participants",
        "INTERVENTIONAL",
        "2025-06-23",
        "2030-07-31",
        "RANDOMIZED",
        "PARALLEL",
        "TREATMENT",
        "Results pending",
        "TQB2102-III-06",
        "Hunan Cancer Hospital",
        "18 Years",
        "75 Years",
        "Breast Cancer",
        "INDUSTRY",
    ]:
        assert fact in html, fact
    assert html.count('id="site-') == 25
    assert 'name="viewport"' in html  # phone layout


def test_related_trials_ranked_by_similarity(client, shared_dir):
    from trialdesk.adapters.ctgov import read_studies
    from trialdesk.services import registry

    td = client.app.state.td
    with td.uow() as uow:
        for name in ["NCT02513394.json", "NCT03275402.json"]:
            for p in read_studies(shared_dir / "data" / "ctgov" / name):
                registry.save_protocol(uow, p, source="ctgov")
        uow.commit()
    with td.uow() as uow:
        related = registry.related_trials(uow, "NCT07003074")
    # PALLAS is a breast-cancer trial; the neuroblastoma trial shares no condition or intervention term
    assert [r.nct_id for r in related] == ["NCT02513394"]
    assert "breast" in related[0].shared_terms
    assert "NCT02513394" in client.get("/trials/NCT07003074").text


def test_index_search_and_api(client):
    from trialdesk.domain.access import SYSTEM
    from trialdesk.services import accounts

    td = client.app.state.td
    with td.uow() as uow:
        accounts.add_user(uow, SYSTEM, "sponsor1", [("sponsor", None)], password="a long sponsor password")
        token = accounts.create_token(uow, SYSTEM, "sponsor1")
        uow.commit()
    auth = {"Authorization": f"Bearer {token}"}
    row = '<td><a href="/trials/NCT07003074">NCT07003074</a></td>'
    assert row in client.get("/").text
    assert row not in client.get("/?q=neuroblastoma").text
    assert row in client.get("/?q=HER2 breast").text
    assert client.get("/api/v1/trials/NCT07003074").status_code == 401
    assert (
        client.get("/api/v1/trials/NCT07003074", headers=auth).json()["registry"]["design"]["enrollment"]["count"]
        == 642
    )
    assert client.get("/trials/NCT99999999").status_code == 404
    spec = client.get("/openapi.json", headers=auth).json()
    assert "/api/v1/trials/{nct_id}" in spec["paths"]
