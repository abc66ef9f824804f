"""A recorded early stop closes recruitment, and every surface says the same status (SQLite and PostgreSQL).

Independent facts: NCT07003074's registry record lists 25 locations, Hunan Cancer Hospital the only one RECRUITING
and the other 24 NOT_YET_RECRUITING, overall status RECRUITING, last update posted 2025-06-25
(src/trialdesk/protocols/NCT07003074.yaml, from ClinicalTrials.gov). CT.gov's recruitment vocabulary (PRS data
element definitions, "Overall Recruitment Status" and "Facility Recruitment Status"): *Active, not recruiting*
is a study or site whose participants are being treated or followed while none is enrolled any more.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, OTHER, OWN, make_users, token_for
from nav_helpers import client_for
from randomization_db_helpers import ALL_STRATA, add_subjects, setup_list, store_for
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM, Role
from trialdesk.domain.errors import Conflict
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import randomization as rz
from trialdesk.services import results_posting, screening, sites
from trialdesk.services.commands import ChangeSiteStatus, Randomize, RecordTrialDecision, ScreenPatient

START = dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC)
STOPPED = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
RECORD_LOCATIONS = 25
REASON = "DMC recommendation at the interim: efficacy bound crossed"


@pytest.fixture
def tdc(db_url):
    app = bootstrap(db_url, clock=lambda: START)
    yield app
    app.dispose()


def _stop(td, users, kind="early_stop"):
    td.clock = lambda: STOPPED
    with td.uow("sponsor1") as uow:
        out = results_posting.record_decision(
            uow, users[Role.SPONSOR], NCT, RecordTrialDecision(kind=kind, reason=REASON)
        )
        uow.commit()
    return out


def _site_statuses(td) -> dict[str, str]:
    with td.uow() as uow:
        return {s["site"]: s["status"] for s in sites.list_sites(uow, SYSTEM, NCT)}


def test_early_stop_closes_recruitment_at_every_site(tdc, tmp_path):
    users = make_users(tdc)
    setup_list(tdc)
    store = store_for(tmp_path)
    first, second = add_subjects(tdc, ALL_STRATA[:2])
    with tdc.uow("coordinator1") as uow:
        done = rz.randomize_subject(uow, SYSTEM, NCT, first, Randomize(confirm=True), seeds=store)
        uow.commit()
    before = _site_statuses(tdc)
    assert len(before) == RECORD_LOCATIONS
    assert [k for k, v in before.items() if v == "RECRUITING"] == [OWN]

    _stop(tdc, users)

    after = _site_statuses(tdc)
    assert "RECRUITING" not in after.values()
    # the recruiting site keeps its subjects (active, not recruiting); the 24 that never opened are closed
    assert after[OWN] == "ACTIVE_NOT_RECRUITING"
    assert sorted(after.values()).count("CLOSED") == RECORD_LOCATIONS - 1
    with tdc.uow() as uow:
        changes = [e for e in uow.audit.events() if e.action == "site.status_changed"]
    assert len(changes) == RECORD_LOCATIONS and all(REASON in (e.reason or "") for e in changes)

    # no new randomization, no new screening, at any site: 409 naming why
    with pytest.raises(Conflict, match="recruitment is closed") as refused, tdc.uow("coordinator1") as uow:
        rz.randomize_subject(uow, SYSTEM, NCT, second, Randomize(confirm=True), seeds=store)
    assert refused.value.status_code == 409
    for site in (OWN, OTHER):
        closed = f"site {site} is (ACTIVE_NOT_RECRUITING|CLOSED), not RECRUITING"
        with pytest.raises(Conflict, match=closed), tdc.uow("coordinator1") as uow:
            screening.screen_subject(
                uow, SYSTEM, NCT, ScreenPatient(site=site, patient_ref="NEW-1", record={"age": 50})
            )
    # nor can a site be reopened
    reopen = "cannot go from ACTIVE_NOT_RECRUITING to RECRUITING"
    with pytest.raises(Conflict, match=reopen), tdc.uow("admin1") as uow:
        sites.change_site_status(uow, SYSTEM, NCT, OWN, ChangeSiteStatus(status="RECRUITING", reason="reopen"))
    # the subject randomized before the stop is still in the study
    with tdc.uow() as uow:
        trial_id = uow.trials.get(NCT).id
        allocated = [a.subject_id for a in uow.allocations.for_trial(trial_id)]
        assert len(allocated) == 1 and done["arm"]
        assert results_posting.trial_status(uow, NCT).value == "ACTIVE_NOT_RECRUITING"

    # the dashboard agrees: no site recruiting
    page = client_for(tdc, "sponsor1").get("/ops/dashboard")
    assert page.status_code == 200
    assert "· 0 site(s) recruiting" in page.text
    assert "none: recruitment closed at 1 of 642 randomized" in page.text  # no forecast of a target never reached


def test_a_recruitment_closure_closes_the_sites_too(tdc):
    users = make_users(tdc)
    _stop(tdc, users, kind="recruitment_closed")
    assert "RECRUITING" not in _site_statuses(tdc).values()


def test_home_list_api_and_ctgov_export_show_the_public_pages_status_and_date(tdc):
    users = make_users(tdc)
    client = TestClient(create_app(td_app=tdc))
    auth = {"Authorization": f"Bearer {token_for(tdc, users[Role.SPONSOR].username)}"}

    def surfaces() -> set[tuple[str, str]]:
        page = client.get(f"/trials/{NCT}").text
        on_page = (
            re.search(r'id="recruitment-status">([A-Z_]+)<', page).group(1),
            re.search(r'id="last-updated">([0-9-]+)<', page).group(1),
        )
        home = client.get("/").text
        row = re.search(rf'<td><a href="/trials/{NCT}">.*?</tr>', home, re.S).group(0)
        on_home = (
            re.search(r'class="status [^"]*">([A-Z_]+)<', row).group(1),
            re.search(r'class="last-updated nowrap">([0-9-]+)<', row).group(1),
        )
        [listed] = [t for t in client.get("/api/v1/trials", headers=auth).json() if t["nct_id"] == NCT]
        status = client.get(f"/api/v1/trials/{NCT}", headers=auth).json()["registry"]["status"]
        module = client.get(f"/api/v1/trials/{NCT}/ctgov", headers=auth).json()["protocolSection"]["statusModule"]
        return {
            on_page,
            on_home,
            (listed["overall_status"], listed["last_updated"]),
            (status["overall_status"], status["last_update_post_date"]),
            (module["overallStatus"], module["lastUpdatePostDateStruct"]["date"]),
        }

    # before: the record's status; last updated the day the trial was loaded (after the record's 2025-06-25)
    assert surfaces() == {("RECRUITING", START.date().isoformat())}
    _stop(tdc, users)
    assert surfaces() == {("ACTIVE_NOT_RECRUITING", STOPPED.date().isoformat())}


def test_screening_over_http_after_an_early_stop_is_a_409_naming_why(tdc):
    import json
    from pathlib import Path

    users = make_users(tdc)
    _stop(tdc, users)
    client = TestClient(create_app(td_app=tdc))
    coordinator = {"Authorization": f"Bearer {token_for(tdc, users[Role.COORDINATOR].username)}"}
    record = json.loads((Path(__file__).resolve().parents[1] / "docs" / "screening" / "eligible.json").read_text())
    url = f"/api/v1/trials/{NCT}/screenings"
    r = client.post(url, headers=coordinator, json={"site": OWN, "patient_ref": "HN-9", "record": record})
    assert r.status_code == 409, r.text
    assert "ACTIVE_NOT_RECRUITING" in r.text and "recruitment is closed" in r.text
    assert client.get(url, headers=coordinator).json() == []
