"""Closed-form design numbers against rpact 3.3.4 (R code in the comments) and hand computation."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from trialdesk.domain.design import (
    DesignSpec,
    Dropout,
    ExponentialSurvival,
    PiecewiseAccrual,
    PiecewiseExponentialSurvival,
    RampUpAccrual,
    StratificationFactor,
    UniformAccrual,
    WeibullSurvival,
)
from trialdesk.stats.design import (
    DesignError,
    accrual_cdf,
    accrual_duration,
    accrual_quantile,
    closed_form_report,
    expected_event_time,
    expected_events,
    group_sequential_power,
    required_events,
    schoenfeld_events,
    schoenfeld_power,
)


def reference_design(**changes) -> DesignSpec:
    """642 subjects 1:1, uniform accrual over 24 months, medians 12.4 (control) vs 18 months, 400 events."""
    data = dict(
        sample_size=642,
        accrual=UniformAccrual(duration=24),
        control=ExponentialSurvival(median=12.4),
        experimental=ExponentialSurvival(median=18),
        target_events=400,
    )
    data.update(changes)
    return DesignSpec(**data)


def nct_gs(**changes) -> DesignSpec:
    """HR 0.70, control median 18.5, one interim at 60% with Lan-DeMets OBF."""
    data = dict(
        sample_size=642,
        accrual=UniformAccrual(duration=24),
        control=ExponentialSurvival(median=18.5),
        hazard_ratio=0.7,
        target_events=334,
        interim_information_fractions=[0.6],
    )
    data.update(changes)
    return DesignSpec(**data)


# --------------------------------------------------------------------------------------- reference case
def test_reference_case_power_and_time_match_rpact():
    # getPowerSurvival(sided = 2, alpha = 0.05, median1 = 18, median2 = 12.4, maxNumberOfSubjects = 642,
    #   maxNumberOfEvents = 400, accrualTime = c(0, 24))  -> overallReject 0.9613682096, analysisTime 34.14248298
    assert schoenfeld_power(400, 12.4 / 18, alpha=0.05, sided=2) == pytest.approx(0.9613682096, abs=1e-9)
    assert expected_event_time(reference_design(), 400) == pytest.approx(34.14248298, abs=1e-6)


def test_schoenfeld_power_by_hand():
    # z = sqrt(400 / 4) * |log(12.4 / 18)| - 1.959964 = 1.766786 ; Phi(1.766786) = 0.96137
    drift = 10 * abs(math.log(12.4 / 18)) - 1.959963985
    assert drift == pytest.approx(1.766786, abs=1e-5)
    assert schoenfeld_power(400, 12.4 / 18, alpha=0.025) == pytest.approx(
        0.5 * math.erfc(-drift / math.sqrt(2)), abs=1e-9
    )


def test_schoenfeld_events_match_rpact():
    # getSampleSizeSurvival(sided = 1, alpha = 0.025, beta = 0.1, median1 = 18, median2 = 12.4,
    #   accrualTime = c(0, 24), maxNumberOfSubjects = 642)  -> maxNumberOfEvents 302.6181868, analysisTime 26.7879441
    assert schoenfeld_events(12.4 / 18, 0.025, 0.9) == pytest.approx(302.6181868, rel=1e-8)
    assert expected_event_time(reference_design(), 302.6181868) == pytest.approx(26.7879441, abs=1e-5)
    # getSampleSizeSurvival(alpha = 0.025, beta = 0.1, hazardRatio = 0.7, lambda2 = log(2) / 18.5, ...)
    #   -> 330.377914 events at month 35.72345855
    assert schoenfeld_events(0.7, 0.025, 0.9) == pytest.approx(330.377914, rel=1e-8)
    assert expected_event_time(nct_gs(interim_information_fractions=[]), 330.377914) == pytest.approx(
        35.72345855, abs=1e-5
    )


def test_dropout_moves_the_analysis_later_as_rpact():
    # getPowerSurvival(alpha = 0.025, median1 = 18, median2 = 12.4, maxNumberOfSubjects = 642, maxNumberOfEvents = 400,
    #   accrualTime = c(0, 24), dropoutRate1 = 0.1, dropoutRate2 = 0.1, dropoutTime = 12)  -> analysisTime 37.83385942
    design = reference_design(dropout=Dropout(rate=0.1, time=12))
    assert expected_event_time(design, 400) == pytest.approx(37.83385942, abs=1e-6)


def test_allocation_and_piecewise_accrual_match_rpact():
    # getPowerSurvival(alpha = 0.025, hazardRatio = 0.75, lambda2 = log(2) / 18.5, maxNumberOfSubjects = 600,
    #   maxNumberOfEvents = 300, accrualTime = c(0, 6), accrualIntensity = c(10, 25), allocationRatioPlanned = 2)
    #   -> overallReject 0.6513435444, analysisTime 38.58235789
    design = DesignSpec(
        sample_size=600,
        allocation_ratio=2,
        accrual=PiecewiseAccrual(starts=[0, 6], rates=[10, 25]),
        control=ExponentialSurvival(median=18.5),
        hazard_ratio=0.75,
        target_events=300,
    )
    assert schoenfeld_power(300, 0.75, 0.025, allocation_ratio=2) == pytest.approx(0.6513435444, abs=1e-9)
    assert expected_event_time(design, 300) == pytest.approx(38.58235789, abs=1e-6)
    assert accrual_duration(design.accrual, 600) == pytest.approx(6 + 540 / 25)


def test_piecewise_exponential_and_weibull_match_rpact():
    # getPowerSurvival(alpha = 0.025, piecewiseSurvivalTime = c(0, 6), lambda2 = c(0.05, 0.03), hazardRatio = 0.7,
    #   maxNumberOfSubjects = 500, maxNumberOfEvents = 250, accrualTime = c(0, 20))  -> analysisTime 33.90948703
    pwe = DesignSpec(
        sample_size=500,
        accrual=UniformAccrual(duration=20),
        hazard_ratio=0.7,
        target_events=250,
        control=PiecewiseExponentialSurvival(starts=[0, 6], hazards=[0.05, 0.03]),
    )
    assert expected_event_time(pwe, 250) == pytest.approx(33.90948703, abs=1e-6)
    # getPowerSurvival(..., lambda2 = log(2) / 15, kappa = 1.5, hazardRatio = 0.7, ...)
    #   -> analysisTime 29.50316875, median2 16.94920915
    weib = pwe.model_copy(update=dict(control=WeibullSurvival(median=16.94920915, shape=1.5)))
    assert expected_event_time(weib, 250) == pytest.approx(29.50316875, abs=1e-6)


def test_group_sequential_events_and_power_match_rpact():
    # d <- getDesignGroupSequential(kMax = 2, informationRates = c(0.6, 1), typeOfDesign = "asOF", alpha = 0.025,
    #   beta = 0.1); getSampleSizeSurvival(d, hazardRatio = 0.7, lambda2 = log(2) / 18.5, accrualTime = c(0, 24),
    #   maxNumberOfSubjects = 642)  -> maxNumberOfEvents 332.9800682, analysisTime 24.54995681 35.99269444
    design = nct_gs()
    assert required_events(design) == pytest.approx(332.9800682, rel=1e-7)
    assert expected_event_time(design, 0.6 * 332.9800682) == pytest.approx(24.54995681, abs=1e-5)
    # same with futilityBounds = 0, bindingFutility = FALSE -> 333.5420318 events
    fut = nct_gs(futility_z=[0.0])
    assert required_events(fut) == pytest.approx(333.5420318, rel=1e-7)
    # getPowerSurvival(d_fut, ..., maxNumberOfEvents = 334) -> overallReject 0.9003907393, rejectPerStage
    #   0.4427357784 0.4576549609, futilityPerStage 0.005791608899, analysisTime 24.59392141 36.0988621
    reject, futility = group_sequential_power(fut, 334)
    assert reject == pytest.approx([0.4427357784, 0.4576549609], abs=2e-7)
    assert futility[0] == pytest.approx(0.005791608899, abs=1e-8)
    report = closed_form_report(fut)
    assert report.power == pytest.approx(0.9003907393, abs=2e-7)
    assert [look.expected_time_months for look in report.looks] == pytest.approx([24.59392141, 36.0988621], abs=1e-5)


def test_pocock_three_looks_with_dropout_match_rpact():
    # d <- getDesignGroupSequential(kMax = 3, informationRates = c(0.4, 0.7, 1), typeOfDesign = "asP", beta = 0.2)
    # getSampleSizeSurvival(d, hazardRatio = 0.75, lambda2 = log(2) / 12, accrualTime = c(0, 24),
    #   maxNumberOfSubjects = 700, dropoutRate1 = 0.05, dropoutRate2 = 0.05, dropoutTime = 12)
    #   -> maxNumberOfEvents 444.6800582, analysisTime 18.13325444 25.39294709 34.84934174
    design = DesignSpec(
        sample_size=700,
        accrual=UniformAccrual(duration=24),
        control=ExponentialSurvival(median=12),
        hazard_ratio=0.75,
        dropout=Dropout(rate=0.05, time=12),
        power=0.8,
        target_events=445,
        interim_information_fractions=[0.4, 0.7],
        spending="pocock",
    )
    d = required_events(design)
    assert d == pytest.approx(444.6800582, rel=1e-7)
    times = [expected_event_time(design, t * d) for t in (0.4, 0.7, 1.0)]
    assert times == pytest.approx([18.13325444, 25.39294709, 34.84934174], abs=1e-5)


# ---------------------------------------------------------------------------------------------- accrual
def test_ramp_up_accrual_by_hand():
    # 25 sites opening evenly over 6 months, 1.2 per site-month: 30/month at full speed.
    # Ramp: 0.5 * 30 * 6 = 90 subjects by month 6; then 552 more at 30/month -> ends at 6 + 18.4 = 24.4.
    ramp = RampUpAccrual(sites=25, activation_months=6, rate_per_site=1.2)
    assert accrual_duration(ramp, 642) == pytest.approx(24.4)
    # by month 3: 0.5 * (30 * 3 / 6) * 3 = 22.5 subjects
    assert accrual_cdf(ramp, 642, 3.0) * 642 == pytest.approx(22.5)
    assert accrual_cdf(ramp, 642, 10.0) * 642 == pytest.approx(90 + 4 * 30)
    u = [0.01, 22.5 / 642, 0.5, 0.99]
    assert accrual_cdf(ramp, 642, accrual_quantile(ramp, 642, u)) == pytest.approx(u)
    # a ramp that never reaches full speed: 50 subjects, t = sqrt(2 * 50 * 6 / 30) = sqrt(20)
    assert accrual_duration(ramp, 50) == pytest.approx(math.sqrt(20))


def test_expected_events_by_hand_exponential_uniform():
    # Uniform accrual over A, exponential hazard lam, no dropout, t >= A:
    # D(t) = n [1 - (exp(-lam (t - A)) - exp(-lam t)) / (lam A)]
    lam = math.log(2) / 12.0
    design = DesignSpec(
        sample_size=200,
        accrual=UniformAccrual(duration=10),
        control=ExponentialSurvival(median=12),
        hazard_ratio=1.0,
        target_events=100,
    )
    t = 30.0
    hand = 200 * (1 - (math.exp(-lam * (t - 10)) - math.exp(-lam * t)) / (lam * 10))
    assert expected_events(design, t) == pytest.approx(hand, rel=1e-9)


def test_strata_mixture_changes_event_timing():
    # Prognostic factor in half the subjects doubling the hazard: events come sooner than without it.
    base = nct_gs(interim_information_fractions=[])
    prog = base.model_copy(update=dict(strata=[StratificationFactor(name="visceral", prevalence=0.5, hazard_ratio=2)]))
    assert expected_event_time(prog, 300) < expected_event_time(base, 300)
    # Non-prognostic factors leave the timing unchanged.
    flat = base.model_copy(update=dict(strata=[StratificationFactor(name="hr", prevalence=0.3)]))
    assert expected_event_time(flat, 300) == pytest.approx(expected_event_time(base, 300), rel=1e-10)


def test_unreachable_events_are_reported():
    design = reference_design(dropout=Dropout(rate=0.5, time=6))
    with pytest.raises(DesignError, match="cannot be reached"):
        expected_event_time(design, 600)


# ------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(hazard_ratio=0.7), "exactly one of hazard_ratio"),
        (dict(target_events=700), "exceeds sample_size"),
        (dict(interim_information_fractions=[0.6, 0.5]), "increase strictly"),
        (dict(interim_information_fractions=[1.2]), "strictly between 0 and 1"),
        (dict(interim_information_fractions=[0.5], futility_z=[0.0, 1.0]), "futility_z has 2 bounds"),
        (dict(control={"kind": "weibull", "median": 12}), "shape"),
        (dict(accrual={"kind": "piecewise", "starts": [0, 6], "rates": [10, 0]}), "last accrual rate must be > 0"),
        (dict(accrual={"kind": "piecewise", "starts": [1, 6], "rates": [10, 5]}), "starts[0] must be 0"),
    ],
)
def test_bad_designs_are_refused_with_the_field_named(changes, message):
    with pytest.raises(ValidationError) as err:
        reference_design(**changes)
    assert message in str(err.value)


def test_schoenfeld_refuses_hr_one():
    with pytest.raises(ValueError, match="hazard_ratio"):
        schoenfeld_events(1.0)
