"""Issue 15: a recorded completion closes the trial's sites, as an early stop closes recruitment (SQLite and
PostgreSQL).

Independent facts: NCT07003074's registry record lists 25 locations, Hunan Cancer Hospital the only one RECRUITING
and 24 NOT_YET_RECRUITING (src/trialdesk/protocols/NCT07003074.yaml, from ClinicalTrials.gov). CT.gov's PRS
definitions: a site *Active, not recruiting* still treats or follows its participants; a completed study's sites
recruit and follow no one, so they are closed.
"""

from __future__ import annotations

import datetime as dt

import pytest

from access_helpers import NCT, OWN, make_users
from randomization_db_helpers import ALL_STRATA, add_subjects, setup_list, store_for
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM, Role
from trialdesk.services import randomization as rz
from trialdesk.services import results_posting, sites
from trialdesk.services.commands import ChangeSiteStatus, Randomize, RecordDisposition, RecordTrialDecision
from trialdesk.services.treatment.disposition import record_disposition

START = dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
LOCATIONS = 25
REASON = "last subject's last visit on 2026-02-27"


@pytest.fixture
def tdc(db_url):
    app = bootstrap(db_url, clock=lambda: START)
    yield app
    app.dispose()


def _randomize_one(td, tmp_path) -> str:
    setup_list(td)
    [number] = add_subjects(td, ALL_STRATA[:1])
    with td.uow("coordinator1") as uow:
        rz.randomize_subject(uow, SYSTEM, NCT, number, Randomize(confirm=True), seeds=store_for(tmp_path))
        uow.commit()
    return number


def _decide(td, users, kind: str) -> None:
    td.clock = lambda: LATER
    with td.uow("sponsor1") as uow:
        results_posting.record_decision(uow, users[Role.SPONSOR], NCT, RecordTrialDecision(kind=kind, reason=REASON))
        uow.commit()


def _statuses(td) -> dict[str, str]:
    with td.uow() as uow:
        return {s["site"]: s["status"] for s in sites.list_sites(uow, SYSTEM, NCT)}


def _site_changes(td) -> list:
    with td.uow() as uow:
        return [e for e in uow.audit.events() if e.action == "site.status_changed"]


def test_completion_closes_every_site_once_every_subject_has_ended(tdc, tmp_path):
    users = make_users(tdc)
    number = _randomize_one(tdc, tmp_path)
    tdc.clock = lambda: LATER
    with tdc.uow("investigator1") as uow:
        death = RecordDisposition(kind="death", event_date=dt.date(2026, 2, 20), reason="disease progression")
        record_disposition(uow, SYSTEM, NCT, number, death)
        uow.commit()
    assert list(_statuses(tdc).values()).count("RECRUITING") == 1

    _decide(tdc, users, "completed")

    assert set(_statuses(tdc).values()) == {"CLOSED"}
    changes = _site_changes(tdc)
    assert len(changes) == LOCATIONS and all(REASON in (e.reason or "") for e in changes)
    with tdc.uow() as uow:
        assert results_posting.trial_status(uow, NCT).value == "COMPLETED"


def test_completion_keeps_a_site_that_still_follows_a_subject_active_not_recruiting(tdc, tmp_path):
    users = make_users(tdc)
    _randomize_one(tdc, tmp_path)  # still in the study by the records

    _decide(tdc, users, "completed")

    after = _statuses(tdc)
    assert after.pop(OWN) == "ACTIVE_NOT_RECRUITING"
    assert set(after.values()) == {"CLOSED"} and len(after) == LOCATIONS - 1


def test_completion_after_an_early_stop_closes_the_sites_left_active(tdc):
    users = make_users(tdc)
    with tdc.uow("admin1") as uow:  # a site that recruited nobody, then the early stop
        sites.change_site_status(uow, SYSTEM, NCT, OWN, ChangeSiteStatus(status="SUSPENDED", reason="audit"))
        uow.commit()
    _decide(tdc, users, "early_stop")
    assert _statuses(tdc)[OWN] == "ACTIVE_NOT_RECRUITING"

    _decide(tdc, users, "completed")

    assert set(_statuses(tdc).values()) == {"CLOSED"}
    assert len(_site_changes(tdc)) == LOCATIONS + 2  # suspension, early stop (25), completion of the one left
