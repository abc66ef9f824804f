"""One trial clock: after a demo that simulates past the real date, the web, every CLI command and the audit trail
read the same "today", the simulation's last day (services/trial_clock.py)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from trialdesk.services.trial_clock import OffsetClock

NCT = "NCT07003074"


def test_offset_clock_runs_at_real_speed_and_never_behind():
    real = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    clock = OffsetClock(dt.timedelta(days=400), lambda: real)
    assert clock() == dt.datetime(2028, 1, 4, 8, 0, tzinfo=dt.UTC)  # 2026-11-30 + 400 days, by the calendar
    assert OffsetClock(dt.timedelta(days=-3), lambda: real)() == real


@pytest.fixture
def demo_db(db_url, tmp_path, monkeypatch):
    from trialdesk.bootstrap import bootstrap
    from trialdesk.services.demo import run_demo

    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    td = bootstrap(db_url)
    report = run_demo(td, subjects=8, seed=3, to_completion=True)
    td.dispose()
    # the demo's last simulated day: it analyses the cut on the day after it (runner.finish)
    last_day = dt.date.fromisoformat(report.cut_date) + dt.timedelta(days=1)
    assert last_day > dt.datetime.now(dt.UTC).date(), "the demo must end past the real date for this test to bite"
    return db_url, last_day


def test_web_cli_and_audit_share_the_demo_clock(demo_db, tmp_path):
    from trialdesk.bootstrap import bootstrap
    from trialdesk.domain.access import SYSTEM
    from trialdesk.entrypoints.cli.main import app as cli
    from trialdesk.entrypoints.web.app import create_app
    from trialdesk.services import accounts
    from trialdesk.services.audit import verify_audit

    url, last_day = demo_db
    # a fresh process (bootstrap) is on the simulated trial's today, not the machine's
    td = bootstrap(url)
    assert td.clock().date() == last_day
    with td.uow() as uow:
        token = accounts.create_token(uow, SYSTEM, "admin.demo")
        uow.commit()
    # the web's today
    web = TestClient(create_app(td_app=td))
    res = web.get(f"/api/v1/trials/{NCT}/dashboard", headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 200, res.text
    assert res.json()["as_of"] == last_day.isoformat()
    # the CLI's: datasets export cuts at the demo's today, so every adverse event is in adae.csv
    with td.engine.connect() as conn:
        aes = conn.execute(text("SELECT COUNT(*) FROM adverse_events")).scalar()
        latest_onset = conn.execute(text("SELECT MAX(onset_date) FROM adverse_events")).scalar()
    assert aes and str(latest_onset) > dt.datetime.now(dt.UTC).date().isoformat()  # AEs past the real date
    out = tmp_path / "ds"
    res = CliRunner().invoke(
        cli,
        ["datasets", "export", str(out), "--db", url, "--as", "stat.demo"],
        env={"TRIALDESK_PASSWORD": "stat.demo-demo-password", "TRIALDESK_TOKEN": ""},
    )
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out / "adae.csv")) == aes
    # the clock event is in the audit trail, and the chain still verifies
    with td.uow() as uow:
        events = uow.audit.query(action_prefix="clock.simulated")
        count, broken = verify_audit(uow)
    assert len(events) == 1 and broken is None and count > 0
    td.dispose()


def test_injected_clock_wins_over_the_database(demo_db):
    from trialdesk.bootstrap import bootstrap

    url, _last_day = demo_db
    fixed = dt.datetime(2029, 1, 1, tzinfo=dt.UTC)
    td = bootstrap(url, clock=lambda: fixed)
    assert td.clock() == fixed
    td.dispose()


def test_a_demo_database_without_the_record_gets_it_when_served(db_url, tmp_path, monkeypatch):
    """A demo database made before the clock was recorded: ``serve --demo`` records it from the trail's last event,
    and from then on the CLI reads it too."""
    from trialdesk.bootstrap import bootstrap
    from trialdesk.entrypoints.web.app import create_app
    from trialdesk.services.demo import run_demo
    from trialdesk.services.demo.runner import DemoRunner

    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(DemoRunner, "mark_clock", lambda self: None)  # as before the trial clock existed
    td = bootstrap(db_url)
    run_demo(td, subjects=8, seed=3, to_completion=True)
    with td.engine.connect() as conn:  # the trail's last event: where the simulation stopped
        last_day = dt.date.fromisoformat(conn.execute(text("SELECT MAX(occurred_at) FROM audit_events")).scalar()[:10])
    td.dispose()
    assert last_day > dt.datetime.now(dt.UTC).date()
    assert bootstrap(db_url).clock().date() == dt.datetime.now(dt.UTC).date()  # no record yet: the real date
    web = create_app(db_url, demo=True)
    assert web.state.td.clock().date() == last_day
    assert bootstrap(db_url).clock().date() == last_day  # the CLI's, from now on
