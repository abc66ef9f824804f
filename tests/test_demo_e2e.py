"""A whole trial in motion: the demo drives simulated subjects through the real services, to the posted results.

This is the end-to-end test of the platform: screening, randomization, doses, adverse events, tumour
assessments, disposition, queries and signatures all go through the service layer as the user who would do them,
then the statistician analyses at the event-driven cut and posts results to the registry page.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from trialdesk.adapters.ctgov import schema_problems
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.web.app import create_app
from trialdesk.services import registry
from trialdesk.services.audit import verify_audit
from trialdesk.services.demo import run_demo


@pytest.fixture
def oas(shared_dir, monkeypatch):
    path = shared_dir / "data" / "ctgov" / "ctg-oas-v2.yaml"
    monkeypatch.setenv("TRIALDESK_CTGOV_OAS", str(path))
    monkeypatch.setenv("TRIALDESK_CTCAE_XLSX", str(shared_dir / "data" / "ctcae" / "CTCAE_v5.0_2017-11-27.xlsx"))
    return path


def _demo(url, tmp_path, monkeypatch, subjects, seed):
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    td = bootstrap(url)
    report = run_demo(td, subjects=subjects, seed=seed, to_completion=True)
    return td, report


def _summary(td) -> dict:
    with td.engine.connect() as conn:
        return json.loads(conn.execute(text("SELECT summary_json FROM analysis_runs ORDER BY id DESC")).scalar())


def test_demo_to_completion_is_consistent(db_url, tmp_path, monkeypatch, oas):
    td, report = _demo(db_url, tmp_path, monkeypatch, subjects=14, seed=11)
    try:
        # every simulated action was accepted by the services
        assert report.refused == []
        assert report.ctcae_loaded and report.results_posted and report.randomized == 14
        # the sponsor recorded why the analysis is due (14 subjects never reach the design's 334 events) and
        # approved the run before the statistician posted it, as version 1
        with td.engine.connect() as conn:
            trail = conn.execute(
                text(
                    "SELECT action, actor FROM audit_events WHERE action IN "
                    "('trial.decision', 'results.approved', 'results.posted') ORDER BY seq"
                )
            ).all()
            versions = conn.execute(text("SELECT version FROM result_postings")).scalars().all()
        assert [tuple(row) for row in trail] == [
            ("trial.decision", "sponsor.demo"),
            ("results.approved", "sponsor.demo"),
            ("results.posted", "stat.demo"),
        ]
        assert versions == [1]
        for action in [
            "screening.recorded",
            "randomization.allocate",
            "dose.recorded",
            "adverse_event.recorded",
            "tumor_assessment.recorded",
            "query.raised",
            "query.answered",
            "query.closed",
            "casebook.signed",
            "disposition.end_of_treatment",
        ]:
            assert report.actions[action] > 0, action
        # the audit chain verifies
        with td.uow() as uow:
            count, broken = verify_audit(uow)
        assert broken is None and count > 500
        # every randomized subject has exactly one allocation
        with td.engine.connect() as conn:
            per_subject = conn.execute(text("SELECT subject_id, COUNT(*) FROM allocations GROUP BY subject_id")).all()
            randomized_subjects = conn.execute(
                text("SELECT COUNT(*) FROM subjects WHERE status NOT IN ('screening', 'eligible', 'screen_failed')")
            ).scalar()
        assert len(per_subject) == report.randomized == randomized_subjects
        assert all(n == 1 for _, n in per_subject)
        # CONSORT adds up
        consort = _summary(td)["consort"]
        assert consort["assessed"] == consort["excluded"] + consort["randomized"]
        assert consort["randomized"] == sum(a["allocated"] for a in consort["arms"]) == report.randomized
        assert sum(consort["excluded_reasons"].values()) == consort["excluded"]
        for arm in consort["arms"]:
            assert arm["received"] + arm["not_received"] == arm["allocated"] == arm["analysed_itt"]
            assert arm["discontinued_treatment"] + arm["on_treatment"] == arm["received"]
            assert sum(arm["discontinued_reasons"].values()) == arm["discontinued_treatment"]
        # the dashboard (a sponsor's aggregate view) agrees with the trial's own counts
        from trialdesk.services import accounts, dashboard

        with td.uow() as uow:
            sponsor = accounts.principal_for(uow, uow.users.get("sponsor.demo"))
            board = dashboard.dashboard(uow, sponsor, "NCT07003074")
        assert board["totals"]["randomized"] == report.randomized
        assert board["totals"]["screened"] == consort["assessed"]
        assert sum(m["randomized"] for m in board["timeline"]) == report.randomized
        assert "subject_number" not in json.dumps(board)  # aggregates only
        # the posted resultsSection validates and the registry page shows it
        with td.uow() as uow:
            study = registry.export_study(uow, "NCT07003074")
        assert study["hasResults"] is True
        assert schema_problems(study["resultsSection"], schema="ResultsSection", spec_path=oas) == []
        assert schema_problems(study, spec_path=oas) == []
        page = TestClient(create_app(td_app=td)).get("/trials/NCT07003074").text
        assert "Results pending" not in page
        for heading in ["Participant Flow", "Baseline Characteristics", "Outcome Measures", "Adverse Events"]:
            assert f"<h3>{heading}</h3>" in page, heading
    finally:
        td.dispose()


def test_demo_recovers_the_simulated_hazard_ratio(sqlite_url, tmp_path, monkeypatch, oas):
    # truth: HR 0.70 (protocols/NCT07003074.demo.yaml); 80 subjects, about 42 PFS events at the cut
    # seed 7: the synthetic cohort's histories end before the consent since issue 14 (the records drawn changed)
    td, report = _demo(sqlite_url, tmp_path, monkeypatch, subjects=80, seed=7)
    try:
        assert report.refused == []
        cox = _summary(td)["pfs"]["cox"]
        assert cox["events"] >= 35
        assert cox["lower"] < 0.70 < cox["upper"]  # the 95% CI covers the truth
        assert 0.3 < cox["hr"] < 1.2  # and the estimate is in a plausible range
    finally:
        td.dispose()


def test_demo_is_deterministic_for_a_seed(tmp_path, monkeypatch, oas):
    digests = []
    for run in range(2):
        td, report = _demo(f"sqlite:///{tmp_path / f'd{run}.sqlite'}", tmp_path / str(run), monkeypatch, 6, 3)
        with td.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT s.subject_number, a.arm, a.randomization_number, a.randomized_on "
                    "FROM allocations a JOIN subjects s ON s.id = a.subject_id ORDER BY 1"
                )
            ).all()
            doses = conn.execute(text("SELECT COUNT(*), SUM(actual_mg) FROM doses")).one()
        digests.append((tuple(map(tuple, rows)), tuple(doses), report.to_dict()["actions"]))
        td.dispose()
    assert digests[0] == digests[1]


def test_the_trail_is_dated_by_the_simulated_clock_from_its_first_event(tmp_path, monkeypatch):
    """`trialdesk demo`: the audit trail's clock is the simulation's from the first event on. The protocol load is
    dated at the study start the registry record gives (2025-06-23), each allocation on its randomization day, and
    time never runs backwards (before, the load was dated today and every simulated event before today with it)."""
    from sqlalchemy import create_engine
    from typer.testing import CliRunner

    from trialdesk.entrypoints.cli.main import app as cli

    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    result = CliRunner().invoke(cli, ["demo", "--db", url, "--subjects", "6", "--seed", "3", "--until", "2026-01-31"])
    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    with engine.connect() as conn:
        events = conn.execute(text("SELECT occurred_at, action, after_json FROM audit_events ORDER BY seq")).all()
    engine.dispose()
    assert events[0].occurred_at.startswith("2025-06-23")
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    allocated = [
        (e.occurred_at[:10], json.loads(e.after_json)["randomized_on"])
        for e in events
        if e.action == "randomization.allocated"
    ]
    assert len(allocated) == 6 and all(day == randomized_on for day, randomized_on in allocated), allocated
