"""``trialdesk dose`` through Typer's test runner (before registration in main.py)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from trialdesk.entrypoints.cli.dose import dose_command


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("dose")(dose_command)
    return app


def run(app, *args: str):
    return CliRunner().invoke(app, ["dose", *args])


def test_json_payload_label_values(app):
    res = run(app, "--arm", "thp", "--cycle", "1", "--weight-kg", "60", "--height-cm", "160", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["bsa_m2"] == 1.633
    doses = {d["drug"]: d for d in out["doses"]}
    assert {k: doses[k]["dose_mg"] for k in doses} == {"docetaxel": 122.5, "trastuzumab": 480.0, "pertuzumab": 840.0}
    assert doses["trastuzumab"]["loading"] is True and doses["docetaxel"]["loading"] is False
    assert doses["docetaxel"]["basis"] == "mg_per_m2" and doses["pertuzumab"]["basis"] == "flat"
    for d in out["doses"]:
        assert set(d) >= {"drug", "dose_mg", "basis", "loading", "formula"}


def test_label_arm_name_and_reload(app):
    res = run(
        app,
        "--arm",
        "Docetaxel Combined + Trastuzumab +Pertuzumab",
        "--cycle",
        "5",
        "--weight-kg",
        "60",
        "--height-cm",
        "160",
        "--days-since-last-dose",
        "29",
        "--json",
    )
    assert res.exit_code == 0, res.output
    doses = {d["drug"]: d for d in json.loads(res.stdout)["doses"]}
    assert doses["trastuzumab"]["dose_mg"] == 480.0 and doses["pertuzumab"]["dose_mg"] == 420.0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--weight-kg", "20", "--height-cm", "160"], "weight_kg"),
        (["--weight-kg", "301", "--height-cm", "160"], "weight_kg"),
        (["--weight-kg", "60", "--height-cm", "160", "--arm", "placebo"], "unknown arm"),
        (
            [
                "--weight-kg",
                "60",
                "--height-cm",
                "160",
                "--dose-date",
                "2025-07-01",
                "--randomization-date",
                "2025-07-05",
            ],
            "before randomization",
        ),
        (["--weight-kg", "60", "--height-cm", "160", "--dose-level", "docetaxel"], "DRUG=LEVEL"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(app, args, needle):
    base = ["--arm", "thp", "--cycle", "1"]
    if "--arm" in args:
        base = ["--cycle", "1"]
    res = run(app, *base, *args, "--json")
    assert res.exit_code == 2
    err = json.loads(res.stderr)
    assert err["error"] == "InvalidInput" and needle in err["message"]


def test_human_output(app):
    res = run(
        app, "--arm", "tqb2102", "--cycle", "2", "--weight-kg", "60", "--height-cm", "160", "--dose-level", "tqb2102=-1"
    )
    assert res.exit_code == 0, res.output
    # 4.8 mg/kg x 60 kg = 288 mg
    assert "288" in res.stdout and "4.8 mg/kg × 60 kg" in res.stdout
