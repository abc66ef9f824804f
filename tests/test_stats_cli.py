"""``trialdesk stats km|logrank|cox`` through typer's CliRunner, numbers checked against R (r_survival_lung.txt)."""

from __future__ import annotations

import json

import pytest
from numpy.testing import assert_allclose
from typer.testing import CliRunner

from trialdesk.entrypoints.cli.stats import app

RTOL = 1e-6
runner = CliRunner()


@pytest.fixture(scope="module")
def lung_csv(shared_dir):
    return str(shared_dir / "reference" / "lung.csv")


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_km_json(lung_csv):
    out = run_json("km", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--at", "180")
    assert out["event_coding"].startswith("1/2") and out["n_used"] == 228 and out["n_dropped"] == 0
    c1, c2 = out["curves"]
    assert (c1["label"], c1["n"], c1["events"], c1["median"], c1["median_ci"]) == (1, 138, 112, 270, [212, 310])
    assert (c2["label"], c2["median"], c2["median_ci"]) == (2, 426, [348, 550])
    assert_allclose([c1["rmean"], c2["rmean"]], [326.08410967, 460.64731079], rtol=RTOL)
    at = c1["at"][0]
    assert_allclose([at["survival"], at["se"], at["ci_lower"], at["ci_upper"]],
                    [0.6444650015, 0.0407864251, 0.5692841899, 0.7295743420], rtol=RTOL)  # fmt: skip


def test_km_conf_type_log_log(lung_csv):
    # summary(survfit(Surv(time,status)~sex, lung, conf.type="log-log"))$table: sex=1 270 210 306
    out = run_json("km", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--conf-type", "log-log")
    assert out["curves"][0]["median_ci"] == [210, 306]


def test_logrank_json_drops_missing_strata_like_na_omit(lung_csv):
    out = run_json("logrank", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--strata", "ph.ecog")
    assert out["n_used"] == 227 and out["n_dropped"] == 1
    assert_allclose(out["chisq"], 10.7950596335, rtol=RTOL)
    out = run_json("logrank", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--rho", "1")
    assert_allclose(out["chisq"], 12.7141514012, rtol=RTOL)


def test_cox_json(lung_csv):
    out = run_json("cox", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--ties", "breslow")
    (row,) = out["coefficients"]
    assert row["covariate"] == "sex=2" and out["reference_level"] == 1
    assert_allclose([row["coef"], row["se(coef)"], row["lower"], row["upper"]],
                    [-0.5303965745, 0.1671808374, 0.4239816959, 0.8165001733], rtol=RTOL)  # fmt: skip
    assert_allclose([out["loglik_null"], out["loglik"]], [-750.1220188953, -744.8181827454], rtol=RTOL)
    assert out["iterations"] == 3


def test_cox_three_covariates_with_strata_option(lung_csv):
    out = run_json("cox", lung_csv, "--time", "time", "--event", "status", "--covariate", "age",
                   "--covariate", "sex", "--covariate", "ph.ecog")  # fmt: skip
    assert_allclose([r["coef"] for r in out["coefficients"]], [0.0110667646, -0.5526123957, 0.4637284754], rtol=RTOL)
    assert_allclose(out["score_test"]["statistic"], 30.4999227049, rtol=RTOL)
    out = run_json("cox", lung_csv, "--time", "time", "--event", "status", "--group", "sex", "--strata", "ph.ecog")
    assert_allclose(out["coefficients"][0]["coef"], -0.5543644581, rtol=RTOL)


def test_zero_one_event_coding(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("t,e,arm\n1,1,A\n2,1,B\n3,0,A\n4,1,B\n")
    out = run_json("logrank", str(p), "--time", "t", "--event", "e", "--group", "arm")
    assert out["event_coding"] == "0/1"
    assert_allclose(out["chisq"], 1 / 17)  # hand computation in tests/test_stats_logrank.py


def test_table_output(lung_csv):
    result = runner.invoke(app, ["cox", lung_csv, "--time", "time", "--event", "status", "--group", "sex"])
    assert result.exit_code == 0, result.output
    assert "sex=2" in result.stdout and "Score (logrank) test = 10.3251" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["km", "{csv}", "--time", "tme", "--event", "status"], "column 'tme' is not in"),
        (["logrank", "{csv}", "--time", "time", "--event", "status", "--group", "sex", "--strata", "nope"],
         "--strata: column 'nope'"),
        (["km", "{csv}", "--time", "time", "--event", "age"], "event: unexpected value"),
        (["cox", "{csv}", "--time", "time", "--event", "status", "--group", "sex", "--ties", "exact"], "ties"),
        (["cox", "{csv}", "--time", "time", "--event", "status"], "--group"),
        (["km", "/nonexistent.csv", "--time", "time", "--event", "status"], "does not exist"),
    ],
)  # fmt: skip
def test_errors_name_the_column_or_value(lung_csv, args, needle):
    result = runner.invoke(app, [a.replace("{csv}", lung_csv) for a in args])
    assert result.exit_code == 2
    assert needle in " ".join(result.output.split())
