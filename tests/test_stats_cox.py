"""Cox regression against R's survival::coxph (survival 3.5-3).

Reference numbers: ../shared/reference/r_survival_lung.txt (lung) and the R code quoted in each test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from trialdesk.stats.survival import CoxPHFitter, SurvivalDataError

RTOL = 1e-6

# ht <- data.frame(time=c(1,1,1,2,2,2,2,3,3,3,4,4,4,4,4,5,5,5,6,6, 1,1,2,2,2,3,3,3,3,4,4,5,5,5,5,6,6,6,6,6),
#   status=c(1,1,0,1,1,1,0,1,1,0,1,1,1,0,0,1,1,0,1,0, 1,0,1,1,0,1,0,0,1,1,0,1,1,0,0,1,0,0,1,0),
#   grp=rep(0:1, each=20),
#   x=c(3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4, 6,2,6,4,3,3,8,3,2,7,9,5,0,2,8,8,4,1,9,7),
#   st=rep(c("a","b"), 20))
HT = pd.DataFrame(
    {
        "time": [1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 6, 6]
        + [1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6],
        "status": [1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0]
        + [1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0],
        "grp": [0] * 20 + [1] * 20,
        "x": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4]
        + [6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9, 5, 0, 2, 8, 8, 4, 1, 9, 7],
        "st": ["a", "b"] * 20,
    }
)


@pytest.fixture(scope="module")
def lung(shared_dir):
    return pd.read_csv(shared_dir / "reference" / "lung.csv")


def check(fit, coef, se, loglik, score, wald, lrt, iters, hr=None, ci=None, z=None, p=None):
    assert_allclose(fit.params_.to_numpy(), coef, rtol=RTOL)
    assert_allclose(fit.standard_errors_.to_numpy(), se, rtol=RTOL)
    assert_allclose([fit.log_likelihood_null_, fit.log_likelihood_], loglik, rtol=RTOL)
    assert_allclose(fit.score_test_.statistic, score, rtol=RTOL)
    assert_allclose(fit.wald_test_.statistic, wald, rtol=RTOL)
    assert_allclose(fit.likelihood_ratio_test_.statistic, lrt, rtol=RTOL)
    assert fit.n_iter_ == iters and fit.converged_
    if hr is not None:
        assert_allclose(fit.hazard_ratios_.to_numpy(), hr, rtol=RTOL)
        assert_allclose(fit.confidence_intervals_.to_numpy(), ci, rtol=RTOL)
        assert_allclose(fit.z_.to_numpy(), z, rtol=RTOL)
        assert_allclose(fit.p_values_.to_numpy(), p, rtol=1e-5)  # R printed p to 6 significant digits


def test_reference_file_holds_the_numbers_pasted_here(shared_dir):
    text = (shared_dir / "reference" / "r_survival_lung.txt").read_text()
    for needle in (
        "coef=-0.5310235376 se=0.1671785832 HR=0.5880028186 CI95=[0.4237178304, 0.8159848132]",
        "loglik=-744.5929990250  (null -749.9098013904)  score(logrank) test=10.3251484957",
        "coef=-0.5303965745 se=0.1671808374",
        "coef=-0.5543644581 se=0.1705852039",
        "ph.ecog    coef=0.4637284754 se=0.1135772662",
    ):
        assert needle in text


def test_efron_sex(lung):
    fit = CoxPHFitter().fit(lung["time"], lung["status"], lung[["sex"]])
    check(
        fit, [-0.5310235376], [0.1671785832], [-749.9098013904, -744.5929990250], 10.3251484957, 10.0894214221,
        10.6336047309, 3, hr=[0.5880028186], ci=[[0.4237178304, 0.8159848132]], z=[-3.17638496], p=[0.00149123],
    )  # fmt: skip
    assert fit.n_ == 228 and fit.n_events_ == 165


def test_breslow_sex(lung):
    fit = CoxPHFitter(ties="breslow").fit(lung["time"], lung["status"], lung["sex"])
    check(
        fit, [-0.5303965745], [0.1671808374], [-750.1220188953, -744.8181827454], 10.2999243232, 10.0653395152,
        10.6076722999, 3, hr=[0.5883715902], ci=[[0.4239816959, 0.8165001733]], z=[-3.17259192], p=[0.00151085],
    )  # fmt: skip


def test_efron_strata_ecog(lung):
    d = lung.dropna(subset=["ph.ecog"])
    fit = CoxPHFitter().fit(d["time"], d["status"], d[["sex"]], strata=d["ph.ecog"])
    check(
        fit, [-0.5543644581], [0.1705852039], [-566.9065175847, -561.3602127065], 10.8108207205, 10.5610728799,
        11.0926097562, 3, hr=[0.5744372241], ci=[[0.4111877673, 0.8024998569]], z=[-3.24978044], p=[0.00115494],
    )  # fmt: skip
    assert fit.n_strata_ == 4


def test_three_covariates(lung):
    d = lung.dropna(subset=["ph.ecog"])
    fit = CoxPHFitter().fit(d["time"], d["status"], d[["age", "sex", "ph.ecog"]])
    assert list(fit.params_.index) == ["age", "sex", "ph.ecog"]
    check(
        fit,
        [0.0110667646, -0.5526123957, 0.4637284754],
        [0.0092674110, 0.1677390538, 0.1135772662],
        [-744.4804557614, -729.2301213749],
        30.4999227049, 29.9292512092, 30.5006687732, 3,
        hr=[1.0111282277, 0.5754445562, 1.5899911901],
        ci=[[0.9929280972, 1.0296619622], [0.4142130185, 0.7994351274], [1.2726751778, 1.9864235813]],
        z=[1.19415925, -3.29447665, 4.08293394],
        p=[0.232416, 0.000986051, 4.44707e-05],
    )  # fmt: skip
    assert fit.score_test_.df == 3


def test_conf_level_090(lung):
    # summary(coxph(Surv(time,status)~sex, lung), conf.int=0.9)$conf.int: lower .90 0.446637561971, upper 0.774111593107
    fit = CoxPHFitter(conf_level=0.9).fit(lung["time"], lung["status"], lung[["sex"]])
    assert_allclose(fit.confidence_intervals_.loc["sex"].to_numpy(), [0.446637561971, 0.774111593107], rtol=RTOL)


# for (ti in c("efron","breslow")) for (f in c("grp+x", "grp+x+strata(st)")) {
#   m <- coxph(as.formula(paste("Surv(time,status)~", f)), data=ht, ties=ti)
#   print(cbind(coef(m), sqrt(diag(vcov(m)))), digits=12); print(c(m$loglik, m$score, m$wald.test,
#   2*diff(m$loglik), m$iter), digits=12) }
HT_R = {
    ("efron", False): ([-0.5900961556064, -0.0253621829376], [0.4263091561395, 0.0773699280193],
                       [-68.88196184262, -67.86649455711], 2.05516684831, 2.00298732227, 2.03093457102),
    ("efron", True): ([-0.5862863173522, -0.0456791216804], [0.4278044345977, 0.0794185950088],
                      [-53.23973589360, -52.15672053498], 2.17234685756, 2.12036790975, 2.16603071724),
    ("breslow", False): ([-0.5449606204560, -0.0280845280644], [0.4258661033007, 0.0773747169453],
                         [-70.74424622701, -69.85941727469], 1.78251379932, 1.74414400165, 1.76965790464),
    ("breslow", True): ([-0.5394604856294, -0.0445105133454], [0.4261670809214, 0.0792292439326],
                        [-54.59761959145, -53.65648325049], 1.88335978911, 1.84474298707, 1.88227268191),
}  # fmt: skip


@pytest.mark.parametrize(("ties", "stratified"), list(HT_R))
def test_heavy_ties(ties, stratified):
    fit = CoxPHFitter(ties=ties).fit(
        HT["time"], HT["status"], HT[["grp", "x"]], strata=HT["st"] if stratified else None
    )
    check(fit, *HT_R[(ties, stratified)], 3)


def test_two_factor_strata(lung):
    # lung$old <- lung$age >= 65
    # m <- coxph(Surv(time,status)~sex+strata(ph.ecog, old), lung): coef -0.497231166065 se 0.176186137207
    #   loglik -455.38190998793 -451.25120013979 score 8.09553847635 iter 3; wald 7.96476957914 LRT 8.26141969629
    # m <- coxph(Surv(time,status)~sex+age+strata(ph.ecog, old), lung, ties="breslow"): coef -0.4933750065926
    #   0.0133572027742, se 0.1766081643501 0.0163371742046, loglik -455.40296339713 -450.94035126663,
    #   score 8.72515719194, iter 3, wald 8.59003597908, LRT 8.92522426101
    d = lung.dropna(subset=["ph.ecog"])
    strata = d[["ph.ecog"]].assign(old=d["age"] >= 65)
    fit = CoxPHFitter().fit(d["time"], d["status"], d[["sex"]], strata=strata)
    assert fit.n_strata_ == 7
    check(fit, [-0.497231166065], [0.176186137207], [-455.38190998793, -451.25120013979], 8.09553847635,
          7.96476957914, 8.26141969629, 3)  # fmt: skip
    fit = CoxPHFitter(ties="breslow").fit(d["time"], d["status"], d[["sex", "age"]], strata=strata)
    check(fit, [-0.4933750065926, 0.0133572027742], [0.1766081643501, 0.0163371742046],
          [-455.40296339713, -450.94035126663], 8.72515719194, 8.59003597908, 8.92522426101, 3)  # fmt: skip


def test_hand_computed_one_covariate_no_ties():
    # Times 1..3, all events, x = (1, 0, 0). Partial likelihood at beta:
    #   L = e^b/(e^b+2) * 1/2 * 1  ->  logL(0) = log(1/3) + log(1/2); score U(0) = 1 - 1/3 = 2/3;
    #   information I(0) = (1/3)(2/3) = 2/9; score test = U^2/I = (4/9)/(2/9) = 2.
    with pytest.warns(RuntimeWarning, match="did not converge"):
        fit = CoxPHFitter().fit([1, 2, 3], [1, 1, 1], np.array([1.0, 0.0, 0.0]))
    assert_allclose(fit.log_likelihood_null_, np.log(1 / 3) + np.log(1 / 2))
    assert_allclose(fit.score_test_.statistic, 2.0)
    # x=1 always dies first: monotone likelihood, no finite maximum. R runs out of iterations too:
    # coxph(Surv(c(1,2,3), c(1,1,1)) ~ c(1,0,0))$coef = 22.1513092936 (warning "Ran out of iterations");
    # with iter.max=5: 7.14882477276
    assert_allclose(fit.params_.iloc[0], 22.1513092936, rtol=RTOL)
    assert not fit.converged_
    with pytest.warns(RuntimeWarning, match="did not converge"):
        fit5 = CoxPHFitter(max_iter=5).fit([1, 2, 3], [1, 1, 1], np.array([1.0, 0.0, 0.0]))
    assert_allclose(fit5.params_.iloc[0], 7.14882477276, rtol=RTOL)


def test_monotone_likelihood_warns_like_r():
    # coxph(Surv(1:6, rep(1,6)) ~ c(1,1,1,0,0,0)): coef 21.9415472887, iter 20, warning
    # "Loglik converged before variable 1 ; coefficient may be infinite."
    with pytest.warns(RuntimeWarning, match="may be infinite"):
        fit = CoxPHFitter().fit(np.arange(1, 7), np.ones(6), np.array([1.0, 1, 1, 0, 0, 0]))
    assert fit.converged_ and fit.n_iter_ == 20 and fit.possibly_infinite_ == ["x0"]
    assert_allclose(fit.coef_, [21.9415472887], rtol=RTOL)


def test_invariant_to_row_order(lung):
    d = lung.sample(frac=1.0, random_state=0)
    a = CoxPHFitter().fit(lung["time"], lung["status"], lung[["sex"]])
    b = CoxPHFitter().fit(d["time"], d["status"], d[["sex"]])
    assert_allclose(a.params_, b.params_, rtol=1e-10)


@pytest.mark.parametrize(
    ("X", "field"),
    [
        (pd.DataFrame({"arm": ["A", "B", "A", "B"]}), "X.arm"),
        (pd.DataFrame({"age": [50.0, np.nan, 60.0, 70.0]}), "X.age"),
        (pd.DataFrame({"sex": [1, 1, 1, 1]}), "X.sex"),
        (np.ones((3, 1)), "X"),
    ],
)
def test_bad_covariates_name_the_column(X, field):
    with pytest.raises(SurvivalDataError) as exc:
        CoxPHFitter().fit([1, 2, 3, 4], [1, 0, 1, 1], X)
    assert exc.value.problems[0].path == field


def test_unknown_ties_and_no_events():
    with pytest.raises(SurvivalDataError, match="ties"):
        CoxPHFitter(ties="exact")
    with pytest.raises(SurvivalDataError, match="no events"):
        CoxPHFitter().fit([1, 2, 3], [0, 0, 0], [1.0, 0.0, 1.0])


def test_collinear_covariates_are_reported():
    x = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    with pytest.raises(SurvivalDataError, match="singular"):
        CoxPHFitter().fit([1, 2, 3, 4, 5], [1, 1, 0, 1, 1], np.column_stack([x, 2 * x]))
