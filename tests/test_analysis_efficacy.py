"""Final analysis numbers: hand-checked on a small trial, wired to the R-validated survival functions, and one
run against R's survival package (Rscript) on a simulated 642-subject trial."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from trialdesk.domain.analysis_spec import AnalysisSpec
from trialdesk.domain.datasets import (
    AdverseEventInput,
    AssessmentInput,
    CapturedData,
    DispositionInput,
    DoseInput,
    ScreeningInput,
    SubjectInput,
    derive_datasets,
)
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.stats.analysis import FinalAnalysis
from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data
from trialdesk.stats.binomial import diff_proportion_ci
from trialdesk.stats.survival import CoxPHFitter, logrank_test

R = dt.date(2026, 1, 1)
CUT = dt.date(2027, 6, 30)
SPEC = AnalysisSpec()
SCHEDULE = ScheduleSpec()
M = 30.4375


def day(n: int) -> dt.date:
    return R + dt.timedelta(days=n)


def small_trial() -> CapturedData:
    """thp: 4 Subjects progressing on days 42, 84, 126, 168; tqb2102: 3 responders (PR), 1 SD, no events."""
    st = {"hr_status": "positive", "disease_setting": "de_novo", "visceral_metastases": "yes"}
    subjects, assessments, doses, aes = [], [], [], []
    for k in range(4):
        subjects.append(
            SubjectInput(f"T{k}", "s", "thp", R, st, birth_date=dt.date(1970, 1, 1), sex="female", ecog=k % 2)
        )
        subjects.append(
            SubjectInput(f"E{k}", "s", "tqb2102", R, st, birth_date=dt.date(1950, 1, 1), sex="female", ecog=0)
        )
        grid = [42, 84, 126, 168, 210, 252]
        for g in grid[: k + 1]:
            assessments.append(AssessmentInput(f"T{k}", day(g), "PD" if g == grid[k] else "SD"))
        for g in grid:
            assessments.append(AssessmentInput(f"E{k}", day(g), "PR" if k < 3 else "SD"))
        for sn in (f"T{k}", f"E{k}"):
            doses.append(DoseInput(sn, 1, "drug", day(1), 100.0, 100.0))
    subjects.append(SubjectInput("X1", "s"))
    subjects.append(SubjectInput("X2", "s"))
    screenings = [
        ScreeningInput("X1", day(-10), "ineligible", ("INC-03",)),
        ScreeningInput("X2", day(-9), "incomplete"),
    ]
    aes = [
        AdverseEventInput("T0", "Nausea", "Gastrointestinal disorders", 1, day(2)),
        AdverseEventInput("T0", "Nausea", "Gastrointestinal disorders", 3, day(9)),
        AdverseEventInput("T1", "Diarrhea", "Gastrointestinal disorders", 2, day(3), serious=True),
        AdverseEventInput(
            "E0",
            "Anemia",
            "Blood and lymphatic system disorders",
            4,
            day(5),
            serious=True,
            action_taken="drug withdrawn",
        ),
    ]
    dispositions = [DispositionInput("T0", "end_of_treatment", day(42), "Progressive disease")]
    return CapturedData(subjects, screenings, assessments, dispositions, doses, aes)


@pytest.fixture(scope="module")
def small():
    ds = derive_datasets(small_trial(), SPEC, SCHEDULE, CUT)
    return FinalAnalysis(SPEC).fit(ds).to_dict()


def test_small_trial_km_by_hand(small):
    km = {r["arm"]: r for r in small["pfs"]["km"]}
    # thp times 43, 85, 127, 169 days, all events: S = .75, .5 (exactly), .25, 0 -> median is the midpoint of
    # the flat 0.5 stretch, (85 + 127) / 2 days (R's print.survfit rule)
    assert km["thp"]["events"] == 4 and km["thp"]["median"] == pytest.approx(106 / M)
    assert km["tqb2102"]["events"] == 0 and km["tqb2102"]["median"] is None
    assert [a["id"] for a in small["arms"]] == ["tqb2102", "thp"]


def test_small_trial_orr_by_hand(small):
    orr = {r["arm"]: r for r in small["orr"]["arms"]}
    # R: binom.test(3, 4)$conf.int = 0.1941204 0.9936905 (upper = 0.975^(1/4)); binom.test(0, 4): 0, 0.6023646
    assert (orr["tqb2102"]["responders"], orr["tqb2102"]["n"]) == (3, 4)
    assert orr["tqb2102"]["lower"] == pytest.approx(0.1941204, abs=1e-7)
    assert orr["tqb2102"]["upper"] == pytest.approx(0.975**0.25, abs=1e-12)
    assert orr["thp"]["responders"] == 0 and orr["thp"]["upper"] == pytest.approx(1 - 0.025**0.25, abs=1e-12)
    assert orr["tqb2102"]["bor"] == {"CR": 0, "PR": 3, "SD": 1, "non-CR/non-PD": 0, "PD": 0, "NE": 0}
    d = diff_proportion_ci(3, 4, 0, 4)
    assert small["orr"]["difference"]["estimate"] == pytest.approx(0.75)
    assert (small["orr"]["difference"]["lower"], small["orr"]["difference"]["upper"]) == (d.lower, d.upper)


def test_small_trial_dor(small):
    dor = {r["arm"]: r for r in small["dor"]}
    assert (dor["tqb2102"]["n"], dor["tqb2102"]["events"]) == (3, 0)
    assert "thp" not in dor


def test_small_trial_safety_by_hand(small):
    s = small["safety"]
    assert s["safety_n"] == {"tqb2102": 4, "thp": 4}
    gi = next(r for r in s["by_soc"] if r["soc"] == "Gastrointestinal disorders")
    assert gi["subjects"]["thp"] == {"n": 2, "pct": 50.0}  # T0 twice (counted once) and T1
    nausea = next(t for t in gi["terms"] if t["term"] == "Nausea")
    assert nausea["subjects"]["thp"]["n"] == 1 and nausea["events"]["thp"] == 2
    assert s["worst_grade"]["thp"]["3"]["n"] == 1 and s["worst_grade"]["thp"]["2"]["n"] == 1
    assert s["worst_grade"]["tqb2102"]["4"]["n"] == 1 and s["worst_grade"]["tqb2102"][">=3"]["pct"] == 25.0
    assert s["any_sae"] == {"tqb2102": {"n": 1, "pct": 25.0}, "thp": {"n": 1, "pct": 25.0}}
    assert s["leading_to_discontinuation"]["tqb2102"]["n"] == 1
    assert s["leading_to_discontinuation"]["thp"]["n"] == 0
    assert s["deaths"] == {"tqb2102": {"n": 0}, "thp": {"n": 0}}


def test_small_trial_baseline_and_consort(small):
    rows = {r["name"]: r for r in small["baseline"]["rows"]}
    assert rows["age"]["values"]["thp"]["median"] == 56  # born 1970-01-01, randomized 2026-01-01
    assert rows["age"]["values"]["tqb2102"]["median"] == 76
    assert rows["age_group"]["values"]["total"][">= 65"] == {"n": 4, "pct": 50.0}
    assert rows["ecog"]["values"]["thp"]["1"]["n"] == 2
    c = small["consort"]
    assert (c["assessed"], c["excluded"], c["randomized"]) == (10, 2, 8)
    assert c["excluded_reasons"] == {"Not meeting eligibility criteria": 1, "Screening incomplete": 1}
    assert c["failed_criteria"] == {"INC-03": 1}
    thp = next(a for a in c["arms"] if a["arm"] == "thp")
    assert (thp["allocated"], thp["received"], thp["discontinued_treatment"], thp["on_treatment"]) == (4, 4, 1, 3)
    assert thp["discontinued_reasons"] == {"Progressive disease": 1}


@pytest.fixture(scope="module")
def simulated():
    data = simulate_captured_data(np.random.default_rng(7), SCHEDULE, SimulationSettings(n_subjects=642))
    ds = derive_datasets(data, SPEC, SCHEDULE, SimulationSettings().cut_date)
    return ds, FinalAnalysis(SPEC).fit(ds)


def test_wiring_equals_survival_functions_called_directly(simulated):
    ds, fa = simulated
    t = ds.adtte
    strata = t[["hr_status", "disease_setting", "visceral_metastases"]]
    lr = logrank_test(t["time"], t["event"], t["arm"], strata=strata)
    assert fa.logrank_.chisq == lr.chisq and fa.logrank_.n_strata == 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cox = CoxPHFitter(ties="efron").fit(t["time"], t["event"], (t["arm"] == "tqb2102").astype(float), strata)
        breslow = CoxPHFitter(ties="breslow").fit(t["time"], t["event"], (t["arm"] == "tqb2102").astype(float), strata)
    assert fa.cox_["hr"] == pytest.approx(float(cox.hazard_ratios_.iloc[0]), rel=1e-12)
    assert fa.cox_["lower"] == pytest.approx(float(cox.confidence_intervals_.iloc[0, 0]), rel=1e-12)
    fb = FinalAnalysis(SPEC, ties="breslow").fit(ds)
    assert fb.cox_["ties"] == "breslow"
    assert fb.cox_["hr"] == pytest.approx(float(breslow.hazard_ratios_.iloc[0]), rel=1e-12)
    pos = t[t["hr_status"] == "positive"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = CoxPHFitter().fit(pos["time"], pos["event"], (pos["arm"] == "tqb2102").astype(float))
    row = next(r for r in fa.subgroups_ if r["factor"] == "hr_status" and r["level"] == "positive")
    assert row["hr"] == pytest.approx(float(sub.hazard_ratios_.iloc[0]), rel=1e-12)
    assert row["n"] == len(pos)
    assert {r["factor"] for r in fa.subgroups_} == {"hr_status", "disease_setting", "visceral_metastases", "age_group"}


def test_simulated_hr_recovered_within_sampling_error(simulated):
    _, fa = simulated
    # simulated HR 0.70; 95% CI of the estimate must cover it, and the estimate be within 3 SE
    assert fa.cox_["lower"] < 0.70 < fa.cox_["upper"]
    assert abs(fa.cox_["coef"] - np.log(0.70)) < 3 * fa.cox_["se"]


R_SCRIPT = r"""
suppressMessages(library(survival))
d <- read.csv(commandArgs(TRUE)[1])
d$trt <- as.integer(d$arm == "tqb2102")
out <- function(name, x) cat(name, format(x, digits = 15), "\n")
f <- survfit(Surv(time, event) ~ arm, data = d, conf.type = "log-log")
q <- quantile(f, 0.5)
out("median", q$quantile); out("lower", q$lower); out("upper", q$upper)
out("lr", survdiff(Surv(time, event) ~ arm + strata(hr_status, disease_setting, visceral_metastases), data = d)$chisq)
for (ti in c("efron", "breslow")) {
  m <- coxph(Surv(time, event) ~ trt + strata(hr_status, disease_setting, visceral_metastases), data = d, ties = ti)
  s <- summary(m)$conf.int
  out(ti, c(s[1, 1], s[1, 3], s[1, 4]))
}
"""


@pytest.mark.r
def test_final_analysis_equals_r_survival(simulated, tmp_path):
    if (
        shutil.which("Rscript") is None
        or subprocess.run(["Rscript", "-e", "library(survival)"], capture_output=True, timeout=60).returncode
    ):
        pytest.skip("Rscript with the survival package is not installed")
    ds, fa = simulated
    path = tmp_path / "adtte.csv"
    ds.adtte[["time", "event", "arm", "hr_status", "disease_setting", "visceral_metastases"]].to_csv(
        path, index=False, float_format="%.17g"
    )
    script = tmp_path / "a.R"
    script.write_text(R_SCRIPT)
    res = subprocess.run(["Rscript", str(script), str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    r = {}
    for line in res.stdout.splitlines():
        name, *vals = line.split()
        r[name] = np.array([float(v) if v != "NA" else np.nan for v in vals])
    km = {row["arm"]: row for row in fa.km_}
    # R orders factor levels alphabetically: thp, tqb2102
    order = ["thp", "tqb2102"]
    nan = np.nan
    assert_allclose([km[a]["median"] for a in order], r["median"], rtol=1e-6)
    assert_allclose(
        [km[a]["median_lower"] if km[a]["median_lower"] is not None else nan for a in order], r["lower"], rtol=1e-6
    )
    assert_allclose(
        [km[a]["median_upper"] if km[a]["median_upper"] is not None else nan for a in order], r["upper"], rtol=1e-6
    )
    assert fa.logrank_.chisq == pytest.approx(r["lr"][0], rel=1e-6)
    assert_allclose([fa.cox_["hr"], fa.cox_["lower"], fa.cox_["upper"]], r["efron"], rtol=1e-6)
    fb = FinalAnalysis(SPEC, ties="breslow").fit(ds)
    assert_allclose([fb.cox_["hr"], fb.cox_["lower"], fb.cox_["upper"]], r["breslow"], rtol=1e-6)
