"""Vectorized cohort screening agrees with the per-record path; waterfall; files; CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from trialdesk.adapters.cohort_files import read_cohort, write_cohort
from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.domain.cohort import STATUS_CODES, CohortError, CohortResult, evaluate_cohort, prepare_columns, waterfall
from trialdesk.domain.eligibility import rule_statuses
from trialdesk.domain.screening import ScreeningRecord, flatten_record, unflatten_row
from trialdesk.domain.units import UnitError
from trialdesk.entrypoints.cli.screen import screen_command
from trialdesk.stats.synthetic_cohort import synthetic_cohort


@pytest.fixture(scope="module")
def spec():
    return load_default_protocol().operations.eligibility


@pytest.fixture(scope="module")
def cohort():
    return synthetic_cohort(1200, np.random.default_rng(20260110), missing_rate=0.03)


def test_vectorized_equals_per_record(spec, cohort):
    res = evaluate_cohort(spec, cohort, chunk_size=500)
    keys = list(cohort)
    seen = set()
    for i in range(len(cohort["screening_id"])):
        rec = ScreeningRecord.model_validate(unflatten_row({k: cohort[k][i] for k in keys}))
        st = rule_statuses(spec, rec)
        got = {cid: STATUS_CODES[res.status[i, j]] for j, cid in enumerate(res.ids)}
        assert got == st, f"row {i}"
        seen.update(got.values())
    assert seen == {"met", "not_met", "missing", "attested"}
    assert set(np.unique(res.verdict)) == {0, 1, 2}  # all three verdicts occur


def test_flatten_roundtrip_of_docs_example(spec):
    from pathlib import Path

    rec = ScreeningRecord.model_validate_json(
        (Path(__file__).resolve().parents[1] / "docs" / "screening" / "ineligible.json").read_text()
    )
    row = flatten_record(rec)
    assert ScreeningRecord.model_validate(unflatten_row(row)) == rec
    cols = {k: np.array([v], dtype=object) for k, v in row.items()}
    res = evaluate_cohort(spec, cols)
    assert res.verdict_labels()[0] == "ineligible"
    assert res.status_labels("INC-02")[0] == "not_met"


def test_waterfall_hand_counts():
    # 4 patients x 3 criteria (0 met, 1 not_met, 2 missing)
    status = np.array([[0, 0, 0], [1, 1, 0], [0, 1, 2], [0, 0, 1]], np.int8)
    res = CohortResult(["A", "B", "C"], status, np.zeros(4, np.int8), set())
    rows = waterfall(res)
    # A removes patient 1; B removes patient 2 (1 already gone); C removes patient 3
    assert [r["remaining"] for r in rows] == [3, 2, 1]
    assert [r["excluded_here"] for r in rows] == [1, 1, 1]
    assert [r["not_met"] for r in rows] == [1, 2, 1]
    # only reason: patient 1 fails A and B (neither alone); patient 2 only B; patient 3 only C
    assert [r["only_reason"] for r in rows] == [0, 1, 1]
    assert [r["missing"] for r in rows] == [0, 0, 1]


def test_unknown_unit_in_cohort_names_the_column(spec, cohort):
    cols = {k: v.copy() for k, v in cohort.items()}
    cols["labs.hemoglobin.unit"] = cols["labs.hemoglobin.unit"].copy()
    cols["labs.hemoglobin.unit"][5] = "mmol/L"
    with pytest.raises(UnitError, match="labs.hemoglobin.unit"):
        prepare_columns(cols)


def test_bad_columns(cohort):
    with pytest.raises(CohortError, match="unknown column"):
        prepare_columns({**cohort, "labs.anc.valeu": cohort["labs.anc.value"]})
    too_many = {**cohort, "lesions.n": np.full(len(cohort["lesions.n"]), 9.0)}
    with pytest.raises(CohortError, match="only 6 slots"):
        prepare_columns(too_many)


def test_csv_and_parquet_roundtrip(spec, cohort, tmp_path):
    expected = evaluate_cohort(spec, cohort)
    for name in ("c.csv", "c.parquet"):
        path = write_cohort(cohort, tmp_path / name)
        got = evaluate_cohort(spec, read_cohort(path))
        np.testing.assert_array_equal(got.status, expected.status)


def _app():
    app = typer.Typer()
    app.command("screen")(screen_command)
    app.command("noop")(lambda: None)
    return app


def test_cli_schema_record_and_cohort(cohort, tmp_path):
    from pathlib import Path

    runner = CliRunner()
    r = runner.invoke(_app(), ["screen", "--schema"])
    assert r.exit_code == 0 and json.loads(r.output)["title"] == "ScreeningRecord"
    docs = Path(__file__).resolve().parents[1] / "docs" / "screening"
    r = runner.invoke(_app(), ["screen", str(docs / "ineligible.json"), "--json"])
    assert r.exit_code == 0
    out = json.loads(r.output)
    assert out["verdict"] == "ineligible"
    assert "age 76 at consent 2026-01-10 > 75" in next(c["reason"] for c in out["criteria"] if c["id"] == "INC-02")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ecog": 9}))
    r = runner.invoke(_app(), ["screen", str(bad)])
    assert r.exit_code == 2 and "ecog" in r.output
    path = write_cohort({k: v[:300] for k, v in cohort.items()}, tmp_path / "c.parquet")
    r = runner.invoke(_app(), ["screen", "--cohort", str(path), "--out", str(tmp_path / "v.csv"), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert sum(summary["verdicts"].values()) == 300
    assert summary["waterfall"][-1]["remaining"] >= summary["verdicts"]["eligible"]
    verdicts = (tmp_path / "v.csv").read_text().splitlines()
    assert len(verdicts) == 301 and verdicts[0].startswith("screening_id,verdict,INC-01")
