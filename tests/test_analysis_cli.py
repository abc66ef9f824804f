"""CLI: trialdesk analyze / results export|post / datasets export on a SQLite database of simulated Subjects."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from access_helpers import NCT, PASSWORD, make_users
from analysis_helpers import fill_database
from trialdesk.adapters.ctgov_results import results_problems
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.entrypoints.cli.cmd_analysis import register
from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data

CUT = "2028-09-30"


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    from trialdesk.bootstrap import bootstrap

    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'td.sqlite'}"
    td = bootstrap(url)
    fill_database(
        td,
        simulate_captured_data(
            np.random.default_rng(5), ScheduleSpec(), SimulationSettings(n_subjects=120, n_screened_extra=20)
        ),
    )
    make_users(td)
    td.dispose()
    app = typer.Typer()
    register(app)
    # the simulated trial runs to CUT; the CLI analyses the day after (a cut is never in the future)
    import trialdesk.bootstrap as boot

    real = boot.bootstrap
    after_cut = dt.datetime(2028, 10, 1, 12, tzinfo=dt.UTC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(boot, "bootstrap", lambda *a, **kw: real(*a, **{"clock": lambda: after_cut, **kw}))
        yield app, url


def invoke(cli, *args, env=None):
    app, url = cli
    return CliRunner().invoke(app, [*args, "--db", url], env=env or {"TRIALDESK_TOKEN": ""})


def test_analyze_writes_reports_and_prints_json(cli, tmp_path):
    res = invoke(cli, "analyze", "--cut", CUT, "--json", "--out", str(tmp_path / "rep"))
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["cut_date"] == CUT and out["summary"]["n_itt"] == 120
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("<svg") >= 4  # CONSORT, KM PFS, KM DoR, forest
    assert "CONSORT flow diagram" in html and "Number at risk" in html and "TEAEs by system organ class" in html
    pdf = (tmp_path / "rep" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 10


def test_analyze_human_summary_and_breslow(cli, tmp_path):
    res = invoke(cli, "analyze", "--cut", CUT, "--ties", "breslow", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "Stratified HR" in res.stdout and "breslow ties" in res.stdout


def test_results_export_and_post(cli, tmp_path):
    res = invoke(cli, "analyze", "--cut", CUT, "--json", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    run_id = json.loads(res.stdout)["run_id"]
    res = invoke(cli, "results", "export", NCT)
    assert res.exit_code == 0, res.output
    section = json.loads(res.stdout)
    assert results_problems(section) == []
    res = invoke(cli, "results", "export", NCT, "--posted")
    assert res.exit_code == 1 and "no posted results" in res.output
    res = invoke(cli, "results", "post", NCT, "--confirm")
    assert res.exit_code == 1 and "of 334 PFS events" in res.output  # 120 subjects: not due
    res = invoke(cli, "results", "decide", "early_stop", "--reason", "DMC: efficacy bound crossed at the interim")
    assert res.exit_code == 0, res.output
    res = invoke(cli, "results", "post", NCT, "--confirm")
    assert res.exit_code == 1 and "not approved by the sponsor" in res.output
    res = invoke(cli, "results", "approve", str(run_id))
    assert res.exit_code == 2 and "confirm: must be true" in res.output, res.output
    res = invoke(cli, "results", "approve", str(run_id), "--confirm", "--json")
    assert res.exit_code == 0, res.output
    res = invoke(cli, "results", "post", NCT, "--json")
    assert res.exit_code == 2 and "confirm: must be true" in res.output, res.output
    res = invoke(cli, "results", "post", NCT, "--run", str(run_id), "--confirm", "--json")
    assert res.exit_code == 0, res.output
    posted = json.loads(res.stdout)
    assert posted["version"] == 1
    history = json.loads(invoke(cli, "results", "history", NCT).stdout)
    assert [h["version"] for h in history["history"]] == [1]
    res = invoke(cli, "results", "export", NCT, "--posted")
    assert res.exit_code == 0 and json.loads(res.stdout)["outcomeMeasuresModule"]
    assert posted["posted_at"]


def test_non_statistician_is_refused(cli):
    env = {"TRIALDESK_PASSWORD": PASSWORD, "TRIALDESK_TOKEN": ""}
    res = invoke(cli, "analyze", "--cut", CUT, "--as", "coordinator1", env=env)
    assert res.exit_code == 1 and "may not analysis.run" in res.output
    res = invoke(cli, "results", "post", NCT, "--as", "investigator1", env=env)
    assert res.exit_code == 1 and "may not results.post" in res.output
    res = invoke(cli, "datasets", "export", "/tmp/never", "--as", "monitor1", env=env)
    assert res.exit_code == 1


def test_datasets_export_csv_and_parquet(cli, tmp_path):
    for fmt in ("csv", "parquet"):
        res = invoke(cli, "datasets", "export", str(tmp_path / fmt), "--format", fmt, "--cut", CUT)
        assert res.exit_code == 0, res.output
    for name in ("adsl", "adtte", "adrs", "adae", "adex", "screening"):
        a = pd.read_csv(tmp_path / "csv" / f"{name}.csv")
        b = pd.read_parquet(tmp_path / "parquet" / f"{name}.parquet")
        assert len(a) == len(b) and list(a.columns) == list(b.columns)
    tte = pd.read_parquet(tmp_path / "parquet" / "adtte.parquet")
    assert len(tte) == 120 and set(tte["event"]) <= {0, 1}
    assert (tte["days"] == (tte["end_date"] - tte["start_date"]).dt.days + 1).all()
    res = invoke(cli, "datasets", "export", str(tmp_path), "--format", "xlsx")
    assert res.exit_code == 2 and "--format" in res.output
