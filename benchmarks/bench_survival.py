"""Benchmark: trialdesk survival numerics vs lifelines on a simulated 642-Subject trial.

Data: 2 arms (1:1), 3 binary stratification factors (8 strata), exponential event times with HR 0.7 for the
experimental arm and a stratum effect, uniform administrative censoring. Times one analysis each way, in the same
process: KM by arm, log-rank, stratified Cox (Efron). lifelines has no stratified log-rank, so its unstratified
``logrank_test`` is timed against ours (both stratified and unstratified are shown).

Run: ``.venv/bin/python benchmarks/bench_survival.py [--n 642] [--seed 1]``
"""

from __future__ import annotations

import argparse
import timeit
import warnings

import numpy as np
import pandas as pd


def simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    s = rng.integers(0, 2, (n, 3))
    rate = 0.05 * np.exp(np.log(0.7) * arm + s @ np.array([0.3, -0.2, 0.4]))
    t_event = rng.exponential(1.0 / rate)
    t_cens = rng.uniform(6.0, 36.0, n)
    time = np.round(np.minimum(t_event, t_cens), 1)  # months, 1 decimal: produces ties
    return pd.DataFrame({"time": time, "event": (t_event <= t_cens).astype(int), "arm": arm,
                         "s1": s[:, 0], "s2": s[:, 1], "s3": s[:, 2]})  # fmt: skip


def best(fn, number: int, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=642)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from lifelines import CoxPHFitter as LLCox
    from lifelines import KaplanMeierFitter as LLKM
    from lifelines.statistics import logrank_test as ll_logrank

    from trialdesk.stats.survival import CoxPHFitter, fit_km_by_group, logrank_test

    d = simulate(args.n, args.seed)
    strata = d[["s1", "s2", "s3"]]

    def td_km():
        return fit_km_by_group(d["time"], d["event"], d["arm"])

    def td_lr_strat():
        return logrank_test(d["time"], d["event"], d["arm"], strata=strata)

    def td_lr():
        return logrank_test(d["time"], d["event"], d["arm"])

    def td_cox():
        return CoxPHFitter("efron").fit(d["time"], d["event"], d[["arm"]], strata=strata)

    def ll_km():
        return [LLKM().fit(d["time"][d["arm"] == a], d["event"][d["arm"] == a]) for a in (0, 1)]

    a0, a1 = d[d["arm"] == 0], d[d["arm"] == 1]

    def ll_lr():
        return ll_logrank(a0["time"], a1["time"], a0["event"], a1["event"])

    cox_df = d[["time", "event", "arm", "s1", "s2", "s3"]]

    def ll_cox():
        return LLCox().fit(cox_df, "time", "event", strata=["s1", "s2", "s3"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # agreement check (lifelines uses Efron ties too)
        diff = abs(td_cox().params_["arm"] - ll_cox().params_["arm"])
        lr_diff = abs(td_lr().chisq - ll_lr().test_statistic)
        rows = [
            ("KM by arm", best(td_km, 200), best(ll_km, 20)),
            ("log-rank (td stratified | ll unstratified)", best(td_lr_strat, 200), best(ll_lr, 20)),
            ("log-rank, both unstratified", best(td_lr, 200), best(ll_lr, 20)),
            ("Cox Efron, 8 strata", best(td_cox, 200), best(ll_cox, 5)),
        ]
    print(f"n = {args.n} subjects, {int(d['event'].sum())} events, 8 strata; best of 5 repeats")
    print(f"{'analysis':45s} {'trialdesk':>12s} {'lifelines':>12s} {'ratio':>8s}")
    tot_td = tot_ll = 0.0
    for name, td, ll in rows:
        print(f"{name:45s} {td * 1e3:10.3f}ms {ll * 1e3:10.3f}ms {ll / td:7.1f}x")
        if name != "log-rank, both unstratified":
            tot_td += td
            tot_ll += ll
    print(f"{'total (KM + log-rank + Cox)':45s} {tot_td * 1e3:10.3f}ms {tot_ll * 1e3:10.3f}ms {tot_ll / tot_td:7.1f}x")
    print(f"agreement: |coef_td - coef_lifelines| = {diff:.2e}; |chisq_td - chisq_lifelines| = {lr_diff:.2e}")


if __name__ == "__main__":
    main()
