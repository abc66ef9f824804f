"""Log-rank / G-rho tests against R's survival::survdiff (survival 3.5-3).

Reference numbers: ../shared/reference/r_survival_lung.txt and the R code quoted in each test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from trialdesk.stats.survival import SurvivalDataError, logrank_test

RTOL = 1e-6

# Heavy ties, in R:
# ht <- data.frame(time=c(1,1,1,2,2,2,2,3,3,3,4,4,4,4,4,5,5,5,6,6, 1,1,2,2,2,3,3,3,3,4,4,5,5,5,5,6,6,6,6,6),
#   status=c(1,1,0,1,1,1,0,1,1,0,1,1,1,0,0,1,1,0,1,0, 1,0,1,1,0,1,0,0,1,1,0,1,1,0,0,1,0,0,1,0),
#   grp=rep(0:1, each=20), st=rep(c("a","b"), 20))
HT = pd.DataFrame(
    {
        "time": [1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 6, 6]
        + [1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6],
        "status": [1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0]
        + [1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0],
        "grp": [0] * 20 + [1] * 20,
        "st": ["a", "b"] * 20,
    }
)


@pytest.fixture(scope="module")
def lung(shared_dir):
    return pd.read_csv(shared_dir / "reference" / "lung.csv")


def test_reference_file_holds_the_numbers_pasted_here(shared_dir):
    text = (shared_dir / "reference" / "r_survival_lung.txt").read_text()
    assert "chisq=10.3267419549 p=0.00131116452 O=112,53 E=91.5817390296,73.4182609704" in text
    assert "strata(ph.ecog) [n=227]: chisq=10.7950596335" in text
    assert "rho=1 (Peto-Peto/G-rho): chisq=12.7141514012" in text


def test_logrank_by_sex(lung):
    # r_survival_lung.txt: survdiff(Surv(time, status) ~ sex, lung)
    r = logrank_test(lung["time"], lung["status"], lung["sex"])
    assert r.groups == (1, 2) and r.n.tolist() == [138, 90] and r.df == 1
    assert_allclose(r.observed, [112, 53])
    assert_allclose(r.expected, [91.5817390296, 73.4182609704], rtol=RTOL)
    assert_allclose(r.chisq, 10.3267419549, rtol=RTOL)
    assert_allclose(r.p_value, 0.00131116452, rtol=RTOL)


def test_stratified_logrank(lung):
    # r_survival_lung.txt: survdiff(Surv(time, status) ~ sex + strata(ph.ecog), lung)  (n = 227, NA dropped)
    d = lung.dropna(subset=["ph.ecog"])
    r = logrank_test(d["time"], d["status"], d["sex"], strata=d["ph.ecog"])
    assert r.n.sum() == 227 and r.n_strata == 4
    assert_allclose(r.chisq, 10.7950596335, rtol=RTOL)
    # print(s2$obs) per stratum: sex=1 28 54 28 1, sex=2 9 28 16 0
    assert_allclose(r.observed, [111, 53])


def test_peto_peto_rho_1(lung):
    # r_survival_lung.txt chisq; s <- survdiff(Surv(time,status)~sex, lung, rho=1); s$obs, s$exp, s$var
    r = logrank_test(lung["time"], lung["status"], lung["sex"], rho=1)
    assert_allclose(r.chisq, 12.7141514012, rtol=RTOL)
    assert_allclose(r.observed, [70.3775422948, 28.7286532722], rtol=RTOL)
    assert_allclose(r.expected, [55.5710854718, 43.5351100952], rtol=RTOL)
    assert_allclose(r.variance, [[17.243082667, -17.243082667], [-17.243082667, 17.243082667]], rtol=RTOL)


def test_four_groups(lung):
    # s <- survdiff(Surv(time,status)~ph.ecog, lung); c(s$chisq, s$obs, s$exp)
    # 21.962131682476 | 37 82 44 1 | 54.152697018923 83.527564575082 26.147353065330 0.172385340665
    d = lung.dropna(subset=["ph.ecog"])
    r = logrank_test(d["time"], d["status"], d["ph.ecog"])
    assert r.groups == (0.0, 1.0, 2.0, 3.0) and r.df == 3
    assert_allclose(r.chisq, 21.962131682476, rtol=RTOL)
    assert_allclose(r.observed, [37, 82, 44, 1])
    assert_allclose(r.expected, [54.152697018923, 83.527564575082, 26.147353065330, 0.172385340665], rtol=RTOL)
    # survdiff(..., rho=0.5)$chisq
    assert_allclose(logrank_test(d["time"], d["status"], d["ph.ecog"], rho=0.5).chisq, 23.3228968022, rtol=RTOL)


def test_two_factor_strata(lung):
    # lung$old <- lung$age >= 65; s <- survdiff(Surv(time,status)~sex+strata(ph.ecog, old), lung)
    # chisq 8.08774793539; rowSums(s$obs) 111 53; s$exp (group 1 per stratum) 10.66225600958 14.83479072527
    # 23.06642486596 18.78811667570 15.02950740780 10.77531916297 1.00000000000
    d = lung.dropna(subset=["ph.ecog"])
    r = logrank_test(d["time"], d["status"], d["sex"], strata=[d["ph.ecog"].to_numpy(), (d["age"] >= 65).to_numpy()])
    assert r.n_strata == 7
    assert_allclose(r.chisq, 8.08774793539, rtol=RTOL)
    e1 = 10.66225600958 + 14.83479072527 + 23.06642486596 + 18.78811667570 + 15.02950740780 + 10.77531916297 + 1.0
    assert_allclose(r.expected, [e1, 164 - e1], rtol=RTOL)
    # the same through a DataFrame of strata columns
    r2 = logrank_test(d["time"], d["status"], d["sex"], strata=d[["ph.ecog"]].assign(old=d["age"] >= 65))
    assert_allclose(r2.chisq, r.chisq, rtol=1e-12)


def test_heavy_ties():
    # survdiff(Surv(time,status)~grp, ht): chisq 1.96185334543, obs 13 10, exp 9.97619047619 13.02380952381
    r = logrank_test(HT["time"], HT["status"], HT["grp"])
    assert_allclose(r.chisq, 1.96185334543, rtol=RTOL)
    assert_allclose(r.expected, [9.97619047619, 13.02380952381], rtol=RTOL)
    # survdiff(Surv(time,status)~grp+strata(st), ht): chisq 1.81465515307, s$exp 5.19758672700 6.80241327300 |
    # 4.84242424242 6.15757575758 (group x stratum)
    r = logrank_test(HT["time"], HT["status"], HT["grp"], strata=HT["st"])
    assert_allclose(r.chisq, 1.81465515307, rtol=RTOL)
    assert_allclose(r.expected, [5.19758672700 + 4.84242424242, 6.80241327300 + 6.15757575758], rtol=RTOL)
    # survdiff(Surv(time,status)~grp, ht, rho=1): chisq 1.76889845595, obs 9.89274260725 7.00152019992,
    # exp 7.63608466710 9.25817814006
    r = logrank_test(HT["time"], HT["status"], HT["grp"], rho=1)
    assert_allclose(r.chisq, 1.76889845595, rtol=RTOL)
    assert_allclose(r.observed, [9.89274260725, 7.00152019992], rtol=RTOL)
    assert_allclose(r.expected, [7.63608466710, 9.25817814006], rtol=RTOL)


def test_hand_computed_two_by_two():
    # Times 1 (A event), 2 (B event), 3 (A censored), 4 (B event). At t=1: n=4, nA=2, d=1 -> E_A=1/2,
    # V = 1*(2/4)*(2/4)*(4-1)/(4-1) = 1/4. At t=2: n=3, nA=1 -> E_A=1/3, V=(1/3)(2/3)=2/9. t=4: nA=0.
    # O_A - E_A = 1 - 5/6 = 1/6; V = 1/4 + 2/9 = 17/36; chisq = (1/36)/(17/36) = 1/17.
    r = logrank_test([1, 2, 3, 4], [1, 1, 0, 1], ["A", "B", "A", "B"])
    assert_allclose(r.expected[0], 5 / 6)
    assert_allclose(r.variance[0, 0], 17 / 36)
    assert_allclose(r.chisq, 1 / 17)


def test_one_group_is_an_error():
    with pytest.raises(SurvivalDataError) as exc:
        logrank_test([1, 2], [1, 1], ["A", "A"])
    assert exc.value.problems[0].path == "group"


def test_missing_group_value_is_an_error():
    with pytest.raises(SurvivalDataError, match="missing"):
        logrank_test([1, 2, 3], [1, 1, 0], ["A", None, "B"])


def test_missing_strata_value_is_an_error():
    with pytest.raises(SurvivalDataError) as exc:
        logrank_test([1, 2, 3], [1, 1, 0], ["A", "B", "B"], strata=[1.0, np.nan, 2.0])
    assert exc.value.problems[0].path == "strata"
