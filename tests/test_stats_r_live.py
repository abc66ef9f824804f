"""Live comparison with R's survival package on a simulated trial-like data set (marker ``r``).

Skips when Rscript or the survival package is absent. The data set (642 Subjects, 2 arms, 3 binary strata, times
rounded to 0.1 month so that there are ties) is simulated with a seeded numpy Generator and written to a CSV that
R reads.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from trialdesk.stats.survival import CoxPHFitter, fit_km_by_group, logrank_test

pytestmark = pytest.mark.r

R_SCRIPT = r"""
suppressMessages(library(survival))
d <- read.csv(commandArgs(TRUE)[1])
out <- function(name, x) cat(name, sprintf("%.15g", x), "\n")
f <- survfit(Surv(time, event) ~ arm, data = d, conf.type = "log-log")
tab <- summary(f)$table
out("km_median", tab[, "median"]); out("km_lcl", tab[, "0.95LCL"]); out("km_ucl", tab[, "0.95UCL"])
s <- summary(f, times = c(6, 12))
out("km_surv", s$surv); out("km_lower", s$lower); out("km_upper", s$upper)
out("lr_strat", survdiff(Surv(time, event) ~ arm + strata(s1, s2, s3), data = d)$chisq)
out("lr_rho1", survdiff(Surv(time, event) ~ arm, data = d, rho = 1)$chisq)
for (ti in c("efron", "breslow")) {
  m <- coxph(Surv(time, event) ~ arm + age + strata(s1, s2, s3), data = d, ties = ti)
  out(paste0("cox_", ti), c(coef(m), sqrt(diag(vcov(m))), m$loglik, m$score, m$wald.test))
}
"""


def _r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    res = subprocess.run(["Rscript", "-e", "library(survival)"], capture_output=True, timeout=60)
    return res.returncode == 0


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    if not _r_available():
        pytest.skip("Rscript with the survival package is not installed")
    rng = np.random.default_rng(20250601)
    n = 642
    arm = rng.integers(0, 2, n)
    s = rng.integers(0, 2, (n, 3))
    age = rng.normal(52, 10, n).round()
    rate = 0.06 * np.exp(np.log(0.7) * arm + s @ np.array([0.3, -0.2, 0.4]) + 0.01 * (age - 52))
    t_event = rng.exponential(1.0 / rate)
    t_cens = rng.uniform(6.0, 36.0, n)
    d = pd.DataFrame({"time": np.round(np.minimum(t_event, t_cens), 1), "event": (t_event <= t_cens).astype(int),
                      "arm": arm, "s1": s[:, 0], "s2": s[:, 1], "s3": s[:, 2], "age": age})  # fmt: skip
    path = tmp_path_factory.mktemp("rlive") / "trial.csv"
    d.to_csv(path, index=False)
    script = path.with_suffix(".R")
    script.write_text(R_SCRIPT)
    res = subprocess.run(["Rscript", str(script), str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    r = {}
    for line in res.stdout.splitlines():
        name, *vals = line.split()
        r[name] = np.array([float(v) for v in vals])
    return d, r


def test_km_log_log(trial):
    d, r = trial
    fits = fit_km_by_group(d["time"], d["event"], d["arm"], conf_type="log-log")
    assert_allclose([f.median_ for f in fits.values()], r["km_median"], rtol=1e-9)
    assert_allclose([f.median_ci_[0] for f in fits.values()], r["km_lcl"], rtol=1e-9)
    assert_allclose([f.median_ci_[1] for f in fits.values()], r["km_ucl"], rtol=1e-9)
    at = pd.concat([f.survival_at([6, 12]) for f in fits.values()])
    assert_allclose(at["survival"], r["km_surv"], rtol=1e-9)
    assert_allclose(at["ci_lower"], r["km_lower"], rtol=1e-9)
    assert_allclose(at["ci_upper"], r["km_upper"], rtol=1e-9)


def test_logrank(trial):
    d, r = trial
    assert_allclose(logrank_test(d["time"], d["event"], d["arm"], strata=d[["s1", "s2", "s3"]]).chisq,
                    r["lr_strat"][0], rtol=1e-9)  # fmt: skip
    assert_allclose(logrank_test(d["time"], d["event"], d["arm"], rho=1).chisq, r["lr_rho1"][0], rtol=1e-9)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_stratified_cox(trial, ties):
    d, r = trial
    fit = CoxPHFitter(ties=ties).fit(d["time"], d["event"], d[["arm", "age"]], strata=d[["s1", "s2", "s3"]])
    got = np.concatenate([fit.coef_, fit.se_, [fit.log_likelihood_null_, fit.log_likelihood_,
                                               fit.score_test_.statistic, fit.wald_test_.statistic]])  # fmt: skip
    assert_allclose(got, r[f"cox_{ties}"], rtol=1e-7)
