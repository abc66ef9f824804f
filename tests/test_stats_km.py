"""Kaplan–Meier against R's survival package (survfit / summary.survfit / print.survfit).

Reference numbers: ../shared/reference/r_survival_lung.txt (lung data set) and the R code quoted above each test
(survival 3.5-3, run with options(digits=12)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from trialdesk.stats.survival import KaplanMeierFitter, SurvivalDataError, fit_km_by_group

RTOL = 1e-6


@pytest.fixture(scope="module")
def lung(shared_dir):
    return pd.read_csv(shared_dir / "reference" / "lung.csv")


def test_reference_file_holds_the_numbers_pasted_here(shared_dir):
    text = (shared_dir / "reference" / "r_survival_lung.txt").read_text()
    for needle in (
        "median=270  95%CI(log)=[212, 310]  rmean=326.08410967",
        "median=426  95%CI(log)=[348, 550]  rmean=460.64731079",
        "t=180 surv=0.6444650015 se=0.0407864251 CI=[0.5692841899,0.7295743420]",
        "t=365 surv=0.5264630302 se=0.0597368540 CI=[0.4214863408,0.6575855379]",
        "lung KM pooled median=310 CI=[285,363]",
    ):
        assert needle in text


def test_km_by_sex_median_ci_and_rmean_match_r(lung):
    # r_survival_lung.txt: print(survfit(Surv(time, status) ~ sex, lung), rmean = "common")
    fits = fit_km_by_group(lung["time"], lung["status"], lung["sex"])
    assert list(fits) == [1, 2]
    m, f = fits[1], fits[2]
    assert (m.n_, m.n_events_, f.n_, f.n_events_) == (138, 112, 90, 53)
    assert (m.median_, m.median_ci_) == (270, (212, 310))
    assert (f.median_, f.median_ci_) == (426, (348, 550))
    assert_allclose([m.rmean_, f.rmean_], [326.08410967, 460.64731079], rtol=1e-9)
    # print(f, rmean="common", digits=10): se(rmean) 22.91156347, 34.68984603 (upper limit 1022)
    assert_allclose([m.rmean_se_, f.rmean_se_], [22.91156347, 34.68984603], rtol=1e-8)
    assert m.rmean_end_ == f.rmean_end_ == 1022


def test_rmean_individual_limit(lung):
    # print(survfit(Surv(time,status)~sex, lung), rmean="individual", digits=10): sex=2 455.9040875 (se 32.91741569)
    fits = fit_km_by_group(lung["time"], lung["status"], lung["sex"], rmean="individual")
    assert_allclose([fits[2].rmean_, fits[2].rmean_se_], [455.9040875, 32.91741569], rtol=1e-9)
    assert_allclose(fits[1].rmean_, 326.0841097, rtol=1e-9)


def test_pooled_median(lung):
    km = KaplanMeierFitter().fit(lung["time"], lung["status"])
    assert (km.median_, km.median_ci_) == (310, (285, 363))


# summary(survfit(Surv(time,status)~sex, lung, conf.type=CT), times=c(180,365)): surv, std.err, lower, upper
# rows: sex=1 t=180, sex=1 t=365, sex=2 t=180, sex=2 t=365
R_S_T = {
    "log": [  # r_survival_lung.txt
        [0.6444650015, 0.0407864251, 0.5692841899, 0.7295743420],
        [0.3360878346, 0.0434235888, 0.2609005038, 0.4329429455],
        [0.8424017056, 0.0386809589, 0.7698998096, 0.9217311457],
        [0.5264630302, 0.0597368540, 0.4214863408, 0.6575855379],
    ],
    "log-log": [
        [0.644465001542, 0.0407864250853, 0.558412473005, 0.718013598161],
        [0.336087834639, 0.0434235888418, 0.252729143328, 0.421302168223],
        [0.842401705588, 0.0386809589314, 0.748380916153, 0.903504304285],
        [0.526463030186, 0.0597368539904, 0.403579823267, 0.635316232824],
    ],
    "plain": [
        [0.644465001542, 0.0407864250853, 0.564525077316, 0.724404925767],
        [0.336087834639, 0.0434235888418, 0.250979164430, 0.421196504849],
        [0.842401705588, 0.0386809589314, 0.766588419195, 0.918214991981],
        [0.526463030186, 0.0597368539904, 0.409380947815, 0.643545112557],
    ],
}
# summary(survfit(..., conf.type=CT))$table[, c("median", "0.95LCL", "0.95UCL")]
R_MEDIANS = {
    "log": [(270, 212, 310), (426, 348, 550)],
    "log-log": [(270, 210, 306), (426, 345, 524)],
    "plain": [(270, 212, 306), (426, 345, 524)],
}


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_survival_at_180_and_365_and_median_ci(lung, conf_type):
    fits = fit_km_by_group(lung["time"], lung["status"], lung["sex"], conf_type=conf_type)
    got = np.vstack(
        [fits[s].survival_at([180, 365])[["survival", "se", "ci_lower", "ci_upper"]].to_numpy() for s in (1, 2)]
    )
    assert_allclose(got, R_S_T[conf_type], rtol=RTOL)
    for s, expected in zip((1, 2), R_MEDIANS[conf_type]):
        assert (fits[s].median_, *fits[s].median_ci_) == expected


def test_conf_level_090_log_log(lung):
    # summary(survfit(Surv(time,status)~sex, lung, conf.int=0.9, conf.type="log-log"))$table
    # sex=1: 270 218 303; sex=2: 426 348 520
    fits = fit_km_by_group(lung["time"], lung["status"], lung["sex"], conf_type="log-log", conf_level=0.9)
    assert (fits[1].median_, *fits[1].median_ci_) == (270, 218, 303)
    assert (fits[2].median_, *fits[2].median_ci_) == (426, 348, 520)


def test_median_between_two_times_is_averaged():
    # d2 <- data.frame(time=1:8, status=1); summary(survfit(Surv(time,status)~1, d2))$table
    # median 4.5 (S = 0.5 exactly on [4, 5)), 0.95LCL 3, 0.95UCL NA, rmean 4.5, se(rmean) 0.810092587301
    km = KaplanMeierFitter().fit(np.arange(1, 9), np.ones(8))
    assert km.median_ == 4.5
    assert km.median_ci_[0] == 3 and np.isnan(km.median_ci_[1])
    assert_allclose([km.rmean_, km.rmean_se_], [4.5, 0.810092587301], rtol=1e-10)


def test_curve_to_zero_matches_survfit_arrays():
    # d3 <- data.frame(time=1:10, status=c(1,0,1,1,0,1,1,1,0,1)); g3 <- survfit(Surv(time,status)~1, d3)
    # cbind(g3$surv, g3$std.err, g3$lower, g3$upper); summary(g3)$table: median 7, LCL 4, UCL NA,
    # rmean 6.4225, se(rmean) 0.992813473796
    r = np.array(
        [
            [0.9000, 0.105409255339, 0.7320116427440, 1.0],
            [0.9000, 0.105409255339, 0.7320116427440, 1.0],
            [0.7875, 0.170200628578, 0.5641252315137, 1.0],
            [0.6750, 0.229734145868, 0.4302825297905, 1.0],
            [0.6750, 0.229734145868, 0.4302825297905, 1.0],
            [0.5400, 0.320589734361, 0.2880761360252, 1.0],
            [0.4050, 0.431405970185, 0.1738767826774, 0.943340436108],
            [0.2700, 0.593950989374, 0.0842930494343, 0.864839989646],
            [0.2700, 0.593950989374, 0.0842930494343, 0.864839989646],
        ]
    )
    km = KaplanMeierFitter().fit(np.arange(1, 11), [1, 0, 1, 1, 0, 1, 1, 1, 0, 1])
    assert_allclose(km.timeline_, np.arange(1, 11))
    assert_allclose(np.column_stack([km.survival_, km.std_err_, km.ci_lower_, km.ci_upper_])[:9], r, rtol=1e-10)
    assert km.survival_[9] == 0 and np.isinf(km.std_err_[9])  # R: surv 0, std.err Inf, lower/upper NA
    assert np.isnan(km.ci_lower_[9]) and np.isnan(km.ci_upper_[9]) and np.isnan(km.se_[9])
    assert (km.median_, km.median_ci_[0]) == (7, 4) and np.isnan(km.median_ci_[1])
    assert_allclose([km.rmean_, km.rmean_se_], [6.4225, 0.992813473796], rtol=1e-10)
    # hand count: at risk 10..1, one censoring each at t=2, 5, 9
    assert km.n_at_risk_.tolist() == list(range(10, 0, -1))
    assert km.n_censor_.tolist() == [0, 1, 0, 0, 1, 0, 0, 0, 1, 0]


# Heavy ties, 2 groups (same data as tests/test_stats_cox.py), in R:
# ht <- data.frame(time=c(1,1,1,2,2,2,2,3,3,3,4,4,4,4,4,5,5,5,6,6, 1,1,2,2,2,3,3,3,3,4,4,5,5,5,5,6,6,6,6,6),
#   status=c(1,1,0,1,1,1,0,1,1,0,1,1,1,0,0,1,1,0,1,0, 1,0,1,1,0,1,0,0,1,1,0,1,1,0,0,1,0,0,1,0), grp=rep(0:1, each=20))
HT = {
    "time": [1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 6, 6]
    + [1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6],
    "status": [1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0]
    + [1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0],
    "grp": [0] * 20 + [1] * 20,
}


def test_heavy_ties_log_log_medians():
    # summary(survfit(Surv(time,status)~grp, ht, conf.type="log-log"))$table
    # grp=0: events 13 rmean 3.97073303167 se 0.397740675145 median 4 LCL 2 UCL 6
    # grp=1: events 10 rmean 4.70908716798 se 0.384559489664 median 6 LCL 3 UCL NA
    fits = fit_km_by_group(HT["time"], HT["status"], HT["grp"], conf_type="log-log")
    assert (fits[0].n_events_, fits[0].median_, *fits[0].median_ci_) == (13, 4, 2, 6)
    assert (fits[1].n_events_, fits[1].median_, fits[1].median_ci_[0]) == (10, 6, 3)
    assert np.isnan(fits[1].median_ci_[1])
    assert_allclose([fits[0].rmean_, fits[0].rmean_se_], [3.97073303167, 0.397740675145], rtol=1e-10)
    assert_allclose([fits[1].rmean_, fits[1].rmean_se_], [4.70908716798, 0.384559489664], rtol=1e-10)


def test_survival_at_before_first_time_and_hand_computed_values():
    # hand computation: times 2,3(censored),5,8 -> S(2)=3/4, S(5)=3/4*1/2=3/8, S(8)=0
    km = KaplanMeierFitter().fit([2, 3, 5, 8], [1, 0, 1, 1])
    out = km.survival_at([0, 1.9, 2, 4, 5, 7.99])
    assert_allclose(out["survival"], [1, 1, 0.75, 0.75, 0.375, 0.375])
    assert out["n_at_risk"].tolist() == [4, 4, 4, 2, 2, 1]
    # Greenwood: var(-log S(2)) = 1/(4*3); SE(S) = 0.75*sqrt(1/12)
    assert_allclose(out["se"].iloc[2], 0.75 * np.sqrt(1 / 12))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time": [1, 2, np.nan], "event": [1, 1, 0]}, "time"),
        ({"time": [1, -2, 3], "event": [1, 1, 0]}, "time"),
        ({"time": [1, 2, 3], "event": [1, 3, 0]}, "event"),
        ({"time": [1, 2, 3], "event": ["a", "b", "c"]}, "event"),
        ({"time": [1, 2, 3], "event": [1, 0]}, "event"),
        ({"time": [], "event": []}, "time"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(SurvivalDataError) as exc:
        KaplanMeierFitter().fit(**kwargs)
    assert exc.value.problems[0].path == field


def test_bad_conf_type_is_rejected():
    with pytest.raises(SurvivalDataError, match="conf_type"):
        KaplanMeierFitter(conf_type="logit")


def test_r_1_2_event_coding_equals_0_1():
    a = KaplanMeierFitter().fit([1, 2, 3, 4], [2, 1, 2, 2])
    b = KaplanMeierFitter().fit([1, 2, 3, 4], [1, 0, 1, 1])
    assert_allclose(a.survival_, b.survival_)
    assert a.n_events_ == 3
