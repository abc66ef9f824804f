"""The design CLI on its own Typer app (before the lead registers it)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from trialdesk.entrypoints.cli.design import design_app, load_design, make_simulate_command, simulate_command

app = typer.Typer()
app.add_typer(design_app, name="design")
app.command("simulate")(simulate_command)
runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_packaged_protocol_design_section_loads():
    design = load_design()
    assert design.sample_size == 642 and design.allocation_ratio == 1  # registry: 642, 1:1
    assert design.control.median == 18.5  # CLEOPATRA
    for field in ("control", "hazard_ratio", "accrual", "dropout", "target_events", "spending"):
        assert design.assumptions[field].source


def test_design_power_reference_case_json():
    # rpact getPowerSurvival(sided = 2, alpha = 0.05, median1 = 18, median2 = 12.4, ..., maxNumberOfEvents = 400)
    #   -> 0.9613682096
    result = run(
        "design", "power", "--hr", str(12.4 / 18), "--events", "400", "--sided", "2", "--alpha", "0.05", "--json"
    )
    assert result.exit_code == 0
    assert json.loads(result.output)["fixed_design_power"] == pytest.approx(0.9613682096, abs=1e-9)


def test_design_events_for_the_protocol():
    # rpact getSampleSizeSurvival(getDesignGroupSequential(kMax = 2, informationRates = c(0.6, 1), typeOfDesign = "asOF",
    #   futilityBounds = 0, bindingFutility = FALSE, beta = 0.1), hazardRatio = 0.7, ...) -> 333.5420318 events
    result = run("design", "events", "--json")
    data = json.loads(result.output)
    assert data["group_sequential_events"] == pytest.approx(333.5420318, rel=1e-7)
    assert data["fixed_design_events"] == pytest.approx(330.377914, rel=1e-7)
    assert data["planned_events"] == 334


def test_design_duration_of_a_given_event_count_and_errors():
    ok = run("design", "duration", "--events", "200", "--json")
    assert ok.exit_code == 0 and 20 < json.loads(ok.output)["events"][0]["expected_time_months"] < 40
    bad = run("design", "duration", "--events", "5000")
    assert bad.exit_code == 2 and "cannot be reached" in bad.output
    worse = run("design", "events", "--hr", "-1")
    assert worse.exit_code == 2 and "hazard_ratio" in worse.output


def test_simulate_json_and_custom_loader(tmp_path):
    result = run("simulate", "--trials", "300", "--seed", "4", "--json", "--hr", "0.6")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["alternative"]["n_trials"] == 300 and data["alternative"]["hazard_ratio"] == 0.6
    assert 0 <= data["null"]["rejection_probability"]["value"] <= 0.1
    loader_calls = []

    def loader(protocol):
        loader_calls.append(protocol)
        return load_design().with_target_events(100)

    custom = typer.Typer()
    custom.command("simulate")(make_simulate_command(loader))
    out = runner.invoke(custom, ["--trials", "100", "--json", "--protocol", "X"])
    assert out.exit_code == 0, out.output
    assert loader_calls == ["X"] and json.loads(out.output)["design"]["target_events"] == 100


def test_load_design_reports_missing_section(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("operations: {treatment: {}}\n")
    from trialdesk.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="operations.design"):
        load_design(path)
    path.write_text("operations:\n  design: {sample_size: 10, accrual: {kind: uniform, duration: 5}}\n")
    with pytest.raises(InvalidInput, match="operations.design.control"):
        load_design(path)
