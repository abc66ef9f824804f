"""Monte Carlo simulation against rpact getSimulationSurvival, closed form and R survdiff.

rpact references (rpact 3.3.4, 20,000 iterations each):

    d4 <- getDesignGroupSequential(kMax = 2, informationRates = c(0.6, 1), typeOfDesign = "asOF", alpha = 0.025,
                                   futilityBounds = 0, bindingFutility = FALSE)
    getSimulationSurvival(d4, hazardRatio = 0.7, lambda2 = log(2) / 18.5, maxNumberOfSubjects = 642,
        plannedEvents = c(200, 334), accrualTime = c(0, 24), directionUpper = FALSE,
        maxNumberOfIterations = 20000, seed = 2)
      rejectPerStage 0.4348 0.46585; overallReject 0.90065; futilityPerStage 0.00565;
      analysisTime 24.58201314 36.04921918; expectedNumberOfSubjects 640.7131372; expectedNumberOfEvents 274.9798
    same with hazardRatio = 1, seed = 3:
      rejectPerStage 0.0031 0.0203; overallReject 0.0234; futilityPerStage 0.49785;
      analysisTime 22.80709685 32.49343779; expectedNumberOfSubjects 625.580988
    getSimulationSurvival(alpha = 0.025, median1 = 18, median2 = 12.4, maxNumberOfSubjects = 642,
        plannedEvents = 400, accrualTime = c(0, 24), directionUpper = FALSE, maxNumberOfIterations = 20000, seed = 1)
      overallReject 0.963; analysisTime 34.13846057
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialdesk.domain.design import (
    DesignSpec,
    Dropout,
    ExponentialSurvival,
    PiecewiseExponentialSurvival,
    RampUpAccrual,
    StratificationFactor,
    UniformAccrual,
    WeibullSurvival,
)
from trialdesk.stats.design import expected_event_time, group_sequential_power, schoenfeld_power
from trialdesk.stats.simulate import (
    operating_characteristics,
    plan_chunks,
    planned_entry_months,
    run_chunk,
    serial_runner,
    simulate,
    stratified_logrank,
)

RPACT_N = 20_000


def within(sim, ref: float, ref_se: float = 0.0, k: float = 3.0) -> bool:
    """|simulated - reference| within k combined Monte Carlo standard errors."""
    return abs(sim.value - ref) <= k * math.hypot(sim.mc_se, ref_se)


def prop_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def gs_design(**changes) -> DesignSpec:
    data = dict(
        sample_size=642,
        accrual=UniformAccrual(duration=24),
        control=ExponentialSurvival(median=18.5),
        hazard_ratio=0.7,
        target_events=334,
        interim_information_fractions=[0.6],
        futility_z=[0.0],
        entry_times="planned",
    )
    data.update(changes)
    return DesignSpec(**data)


# ----------------------------------------------------------------------------------- log-rank kernel vs R
TIME = [
    2.1,
    3.4,
    4.7,
    5.0,
    6.2,
    7.9,
    8.3,
    9.6,
    10.4,
    11.8,
    12.5,
    13.1,
    14.9,
    15.2,
    16.7,
    17.3,
    18.8,
    19.4,
    20.6,
    21.9,
    22.3,
    23.7,
    24.1,
    25.8,
    26.2,
    27.5,
    28.9,
    29.3,
    30.6,
    31.4,
]
STATUS = [1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0]
ARM = [1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
STRAT = [0, 1, 2] * 10


def test_stratified_logrank_matches_r_survdiff():
    # survdiff(Surv(time, status) ~ arm + strata(strat))  -> chisq 0.330300866001, var[2,2] 3.98184996221
    # survdiff(Surv(time, status) ~ arm)                   -> chisq 0.252587395969, O-E (arm 1) -1.14574871814,
    #                                                         var 5.19717193364
    perm = np.random.default_rng(7).permutation(30)  # input order must not matter
    t, s, a, g = (np.asarray(v)[perm] for v in (TIME, STATUS, ARM, STRAT))
    oe, var = stratified_logrank(t, s.astype(bool), a.astype(bool), g)
    assert var[0] == pytest.approx(3.98184996221, rel=1e-10)
    assert oe[0] ** 2 / var[0] == pytest.approx(0.330300866001, rel=1e-10)
    oe, var = stratified_logrank(np.asarray(TIME), np.asarray(STATUS, bool), np.asarray(ARM, bool))
    assert oe[0] == pytest.approx(-1.14574871814, rel=1e-10)
    assert var[0] == pytest.approx(5.19717193364, rel=1e-10)


def test_logrank_excludes_subjects_not_in_the_analysis():
    t, s, a = np.asarray(TIME), np.asarray(STATUS, bool), np.asarray(ARM, bool)
    keep = np.arange(30) < 20
    full = stratified_logrank(t[:20], s[:20], a[:20])
    masked = stratified_logrank(np.where(keep, t, 99.0), s, a, included=keep)
    assert masked[0] == pytest.approx(full[0]) and masked[1] == pytest.approx(full[1])


# ------------------------------------------------------------------------------------- vs rpact simulation
def test_group_sequential_operating_characteristics_match_rpact():
    oc = operating_characteristics(gs_design(), 4000, seed=11)
    alt, null = oc.alternative, oc.null
    assert within(alt.rejection_probability, 0.90065, prop_se(0.90065, RPACT_N))
    assert within(alt.looks[0].reject_probability, 0.4348, prop_se(0.4348, RPACT_N))
    assert within(alt.looks[1].reject_probability, 0.46585, prop_se(0.46585, RPACT_N))
    assert within(alt.looks[0].futility_probability, 0.00565, prop_se(0.00565, RPACT_N), k=3.5)
    assert within(null.rejection_probability, 0.0234, prop_se(0.0234, RPACT_N))
    assert within(null.looks[0].futility_probability, 0.49785, prop_se(0.49785, RPACT_N))
    # analysis times: spread of a look's time is about 1 month, so 3 SE of 4,000 trials is ~0.05
    assert alt.looks[0].mean_time_months == pytest.approx(24.58201314, abs=0.08)
    assert alt.looks[1].mean_time_months == pytest.approx(36.04921918, abs=0.08)
    assert null.looks[1].mean_time_months == pytest.approx(32.49343779, abs=0.08)
    assert within(alt.expected_sample_size, 640.7131372, 0.05)
    assert within(null.expected_sample_size, 625.580988, 0.2)
    assert within(alt.expected_events, 274.9798, 0.5)


def test_reference_case_power_and_time():
    design = DesignSpec(
        sample_size=642,
        accrual=UniformAccrual(duration=24),
        control=ExponentialSurvival(median=12.4),
        experimental=ExponentialSurvival(median=18),
        target_events=400,
        entry_times="planned",
    )
    result = simulate(design, 4000, seed=5)
    # Schoenfeld 0.9614 (two-sided 0.05); rpact's simulation 0.963
    assert within(result.rejection_probability, schoenfeld_power(400, 12.4 / 18, 0.025))
    assert within(result.rejection_probability, 0.963, prop_se(0.963, RPACT_N))
    assert result.expected_duration_months.value == pytest.approx(34.13846057, abs=0.06)
    assert result.looks[0].mean_enrolled == 642


def test_type_one_error_under_hr_one_is_alpha():
    design = gs_design(futility_z=None, entry_times="random")
    result = simulate(design, 6000, seed=3, hazard_ratio=1.0)
    assert abs(result.rejection_probability.value - 0.025) <= 3 * prop_se(0.025, 6000)
    # O'Brien-Fleming spends alpha(0.6) = 0.003794 at the interim
    assert abs(result.looks[0].reject_probability.value - 0.0037944) <= 3.5 * prop_se(0.0037944, 6000)


def test_stratified_nonexponential_design_against_closed_form():
    # Weibull PFS, ramp-up accrual, dropout, three strata (one prognostic): power within MC error of the closed form
    # and the mean final-analysis month close to the month the closed form expects 334 events.
    design = DesignSpec(
        sample_size=642,
        accrual=RampUpAccrual(sites=25, activation_months=6, rate_per_site=1.2),
        control=WeibullSurvival(median=18.5, shape=1.3),
        hazard_ratio=0.7,
        dropout=Dropout(rate=0.05),
        strata=[
            StratificationFactor(name="hr", prevalence=0.5),
            StratificationFactor(name="de_novo", prevalence=0.45),
            StratificationFactor(name="visceral", prevalence=0.75, hazard_ratio=1.5),
        ],
        target_events=334,
        interim_information_fractions=[0.6],
    )
    result = simulate(design, 2500, seed=8)
    power = group_sequential_power(design)[0].sum()
    assert within(result.rejection_probability, power, k=3.5)
    expected = expected_event_time(design, 334)
    assert result.looks[1].mean_time_months == pytest.approx(expected, abs=0.25)


def test_piecewise_exponential_control_simulates():
    design = gs_design(
        control=PiecewiseExponentialSurvival(starts=[0, 6], hazards=[0.05, 0.03]),
        interim_information_fractions=[],
        futility_z=None,
        target_events=300,
    )
    result = simulate(design, 2000, seed=2)
    assert within(result.rejection_probability, schoenfeld_power(300, 0.7), k=3.5)
    assert result.expected_duration_months.value == pytest.approx(expected_event_time(design, 300), abs=0.15)


# ------------------------------------------------------------------------------------ seeds and chunks
def test_same_seed_same_result_and_chunks_are_independent_of_how_they_run():
    design = gs_design(entry_times="random")
    a = simulate(design, 700, seed=42, chunk_size=128)
    b = simulate(design, 700, seed=42, chunk_size=128)
    assert a == b
    tasks = plan_chunks(design, 700, np.random.SeedSequence(1), 128)
    assert [t.n_trials for t in tasks] == [128] * 5 + [60]
    backwards = [run_chunk(t) for t in reversed(tasks)][::-1]
    forwards = serial_runner(tasks)
    for x, y in zip(backwards, forwards):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    c = simulate(design, 700, seed=43, chunk_size=128)
    assert c != a


def test_planned_entry_interleaves_arms_in_the_allocation_ratio():
    design = gs_design(
        sample_size=9, allocation_ratio=2, target_events=5, interim_information_fractions=[], futility_z=None
    )
    months = planned_entry_months(design)  # experimental columns first (6), then control (3)
    # 9 subjects over 24 months enter at 24 * i / 9; place i is experimental when floor(6 i / 9) steps up, so the
    # pattern is C E E C E E C E E: control at places 1, 4 and 7
    assert sorted(months) == pytest.approx([24 * i / 9 for i in range(1, 10)])
    assert months[6:] == pytest.approx([24 * 1 / 9, 24 * 4 / 9, 24 * 7 / 9])


def test_progress_reports_every_trial():
    seen = []
    simulate(gs_design(), 300, seed=1, chunk_size=100, progress=seen.append)
    assert seen == [100, 100, 100]
