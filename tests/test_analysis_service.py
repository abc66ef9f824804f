"""Analysis service on a database filled with simulated Subjects (SQLite and PostgreSQL): end to end, the PFS HR
recovers the simulated one; storing, posting, auditing; the registry page and export show results only once
posted; only the statistician runs and posts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from fastapi.testclient import TestClient

from access_helpers import NCT, make_users, token_for
from analysis_helpers import fill_database
from trialdesk.adapters.ctgov_results import results_problems
from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.domain.access import Role
from trialdesk.domain.errors import NotFound, PermissionDenied
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.services import analysis, registry, results_posting
from trialdesk.services.commands import ApproveResults, PostResults, RecordTrialDecision, RunAnalysis
from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data

SETTINGS = SimulationSettings(n_subjects=642, n_screened_extra=60)
CUT = SETTINGS.cut_date
#: The simulated trial runs to its cut; the analysis happens the day after (a cut is never in the future).
AFTER_CUT = dt.datetime.combine(CUT + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock_after_cut(request):
    if "td" in request.fixturenames:
        request.getfixturevalue("td").clock = lambda: AFTER_CUT


def _data(n=642, seed=11):
    return simulate_captured_data(
        np.random.default_rng(seed), ScheduleSpec(), SimulationSettings(n_subjects=n, n_screened_extra=min(60, n))
    )


def test_end_to_end_on_simulated_database_recovers_hr(td):
    data = _data()
    fill_database(td, data)
    users = make_users(td)
    stat = users[Role.STATISTICIAN]
    with td.uow(stat.username) as uow:
        run = analysis.run_analysis(uow, stat, NCT, RunAnalysis(cut_date=CUT))
        uow.commit()
    s = run["summary"]
    assert s["n_itt"] == 642 and s["consort"]["randomized"] == 642
    cox = s["pfs"]["cox"]
    assert cox["n_strata"] == 8 and cox["ties"] == "efron"
    # simulated HR 0.70: the estimate is within 3 standard errors and the 95% CI covers it
    assert abs(cox["coef"] - np.log(0.70)) < 3 * cox["se"]
    assert cox["lower"] < 0.70 < cox["upper"]
    # the database round trip loses nothing: same numbers as the analysis of the in-memory records
    direct, _ = analysis.analyze_captured(load_default_protocol(), data, CUT)
    assert direct.to_dict() == s
    assert results_problems(run["results_section"]) == []
    with td.uow() as uow:
        stored = analysis.get_run(uow, stat, NCT, run["run_id"])
    assert stored["summary"] == s and stored["posted_at"] is None
    assert "<svg" in stored["report_html"] and "Progression-free survival" in stored["report_html"]


def _due_and_approved(td, users, run_id):
    """The sponsor records an early stop (80 subjects never reach the design's 334 events) and approves the run."""
    sponsor = users[Role.SPONSOR]
    with td.uow(sponsor.username) as uow:
        results_posting.record_decision(
            uow, sponsor, NCT, RecordTrialDecision(kind="early_stop", reason="DMC: efficacy bound crossed")
        )
        results_posting.approve_results(uow, sponsor, NCT, ApproveResults(run_id=run_id, confirm=True))
        uow.commit()


@pytest.fixture
def small_db(td):
    fill_database(td, _data(n=80, seed=3))
    return td, make_users(td)


def test_only_the_statistician_runs_and_posts(small_db):
    td, users = small_db
    for role, principal in users.items():
        if role is Role.STATISTICIAN:
            continue
        with pytest.raises(PermissionDenied), td.uow(principal.username) as uow:
            analysis.run_analysis(uow, principal, NCT, RunAnalysis(cut_date=CUT))
        with pytest.raises(PermissionDenied), td.uow(principal.username) as uow:
            analysis.post_results(uow, principal, NCT, PostResults(confirm=True))
        with pytest.raises(PermissionDenied), td.uow(principal.username) as uow:
            analysis.list_runs(uow, principal, NCT)
    from sqlalchemy import select

    from trialdesk.adapters.db.tables import AuditEventRow

    with td.session_factory() as s:
        denied = s.execute(select(AuditEventRow.entity_id).where(AuditEventRow.action == "access.denied")).scalars()
        assert set(denied) == {"analysis.run", "results.post"}


def test_post_requires_a_run(small_db):
    td, users = small_db
    stat = users[Role.STATISTICIAN]
    with pytest.raises(NotFound), td.uow() as uow:
        analysis.post_results(uow, stat, NCT, PostResults(confirm=True))


def test_results_shown_only_once_posted(small_db):
    from trialdesk.entrypoints.web.app import create_app

    td, users = small_db
    stat = users[Role.STATISTICIAN]
    client = TestClient(create_app(td_app=td))
    page = client.get(f"/trials/{NCT}")
    assert "Results pending" in page.text
    with td.uow(stat.username) as uow:
        run = analysis.run_analysis(uow, stat, NCT, RunAnalysis(cut_date=CUT), with_report=False)
        uow.commit()
    # a run is not a posting
    assert "Results pending" in client.get(f"/trials/{NCT}").text
    with td.uow() as uow:
        assert "resultsSection" not in registry.export_study(uow, NCT)
    _due_and_approved(td, users, run["run_id"])
    with td.uow(stat.username) as uow:
        posted = analysis.post_results(uow, stat, NCT, PostResults(run_id=run["run_id"], confirm=True))
        uow.commit()
    assert posted["run_id"] == run["run_id"] and posted["posted_at"]
    page = client.get(f"/trials/{NCT}").text
    assert "Results pending" not in page
    for text in (
        "Participant Flow",
        "Baseline Characteristics",
        "Outcome Measures",
        "Adverse Events",
        "Hazard Ratio (HR)",
        "Log Rank",
        "Objective Response Rate",
    ):
        assert text in page, text
    hr = run["results_section"]["outcomeMeasuresModule"]["outcomeMeasures"][0]["analyses"][0]["paramValue"]
    assert hr in page
    with td.uow() as uow:
        study = registry.export_study(uow, NCT)
    assert study["hasResults"] is True and study["resultsSection"] == run["results_section"]
    # the API export for any logged-in user carries them too
    token = token_for(td, users[Role.COORDINATOR].username)
    api = client.get(f"/api/v1/trials/{NCT}/ctgov", headers={"Authorization": f"Bearer {token}"}).json()
    assert api["resultsSection"] == run["results_section"]


def test_run_and_post_are_audited(small_db):
    from sqlalchemy import select

    from trialdesk.adapters.db.tables import AuditEventRow

    td, users = small_db
    stat = users[Role.STATISTICIAN]
    with td.uow(stat.username) as uow:
        run = analysis.run_analysis(uow, stat, NCT, RunAnalysis(cut_date=CUT, ties="breslow"), with_report=False)
        uow.commit()
    _due_and_approved(td, users, run["run_id"])
    with td.uow(stat.username) as uow:
        analysis.post_results(uow, stat, NCT, PostResults(confirm=True))
        uow.commit()
    with td.session_factory() as s:
        rows = (
            s.execute(
                select(AuditEventRow)
                .where(AuditEventRow.action.in_(["analysis.run", "results.posted"]))
                .order_by(AuditEventRow.seq)
            )
            .scalars()
            .all()
        )
    assert [(r.action, r.actor) for r in rows] == [("analysis.run", stat.username), ("results.posted", stat.username)]
    assert rows[0].entity_id == str(run["run_id"]) and rows[0].trial == NCT
    assert run["summary"]["pfs"]["cox"]["ties"] == "breslow"
    with td.uow() as uow:
        runs = analysis.list_runs(uow, stat, NCT)
    assert runs[0]["run_id"] == run["run_id"] and runs[0]["posted_at"]


def test_bad_cut_date_names_the_field():
    """A cut-off that is no date is refused by the command, before the use case: the error names the field."""
    from pydantic import ValidationError

    from trialdesk.domain.errors import InvalidInput, problems_from_pydantic

    with pytest.raises(ValidationError) as exc:
        RunAnalysis(cut_date="2028-13-01")
    assert "cut_date" in str(InvalidInput(problems_from_pydantic(exc.value)).problems)
