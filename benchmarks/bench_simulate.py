"""Trials per second for the reference design: trialdesk vs rpact getSimulationSurvival vs a lifelines loop.

Reference design: 642 subjects 1:1, uniform accrual over 24 months, medians 12.4 (control) vs 18 months, final
analysis at 400 events, one-sided alpha 0.025. All three run in this process (rpact through Rscript, timed inside R
so that R's start-up is excluded) and ratios are printed against rpact.

    .venv/bin/python benchmarks/bench_simulate.py [--trials 40000] [--rpact-trials 20000] [--lifelines-trials 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time

import numpy as np

from trialdesk.domain.design import DesignSpec, ExponentialSurvival, UniformAccrual
from trialdesk.stats.simulate import simulate

DESIGN = DesignSpec(sample_size=642, accrual=UniformAccrual(duration=24), control=ExponentialSurvival(median=12.4),
                    experimental=ExponentialSurvival(median=18), target_events=400, entry_times="planned")

RPACT = """
suppressMessages(library(rpact))
n <- {n}
t0 <- proc.time()[["elapsed"]]
s <- getSimulationSurvival(alpha = 0.025, median1 = 18, median2 = 12.4, maxNumberOfSubjects = 642,
  plannedEvents = 400, accrualTime = c(0, 24), directionUpper = FALSE, maxNumberOfIterations = n, seed = 1)
el <- proc.time()[["elapsed"]] - t0
cat(n / el, s$overallReject, "\\n")
"""


def bench_trialdesk(trials: int, workers: int | None) -> tuple[float, float]:
    simulate(DESIGN, 512, seed=0)  # warm-up
    if workers:
        from trialdesk.adapters.dask_runner import dask_runner

        with dask_runner(workers=workers, chunks_per_task=16) as runner:
            simulate(DESIGN, 4096, seed=0, runner=runner)  # warm the workers
            t = time.perf_counter()
            res = simulate(DESIGN, trials, seed=1, runner=runner)
            return trials / (time.perf_counter() - t), res.rejection_probability.value
    t = time.perf_counter()
    res = simulate(DESIGN, trials, seed=1)
    return trials / (time.perf_counter() - t), res.rejection_probability.value


def bench_rpact(trials: int) -> tuple[float, float] | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    out = subprocess.run([rscript, "-e", RPACT.format(n=trials)], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return None
    rate, power = out.stdout.split()
    return float(rate), float(power)


def bench_lifelines(trials: int) -> tuple[float, float] | None:
    try:
        from lifelines.statistics import logrank_test
    except ImportError:
        return None
    rng = np.random.default_rng(1)
    n = 642
    entry = np.arange(1, n + 1) * 24 / n
    arm = np.arange(n) % 2 == 0
    rejected = 0
    t = time.perf_counter()
    for _ in range(trials):
        pfs = rng.exponential(np.where(arm, 18, 12.4) / np.log(2))
        cut = np.partition(entry + pfs, 399)[399]
        follow = cut - entry
        time_obs = np.minimum(pfs, follow)
        event = pfs <= follow
        r = logrank_test(time_obs[arm], time_obs[~arm], event[arm], event[~arm])
        # one-sided: significant and fewer events on the experimental arm (1:1, equal follow-up)
        if r.test_statistic > 1.959963985**2 and event[arm].sum() < event[~arm].sum():
            rejected += 1
    return trials / (time.perf_counter() - t), rejected / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40_000)
    parser.add_argument("--rpact-trials", type=int, default=20_000)
    parser.add_argument("--lifelines-trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    rows: list[tuple[str, float, float]] = []
    rp = bench_rpact(args.rpact_trials)
    if rp is not None:
        rows.append(("rpact getSimulationSurvival (1 core)", *rp))
    td1 = bench_trialdesk(args.trials, None)
    rows.append(("trialdesk simulate, 1 process", *td1))
    if args.workers and args.workers > 1:
        tdn = bench_trialdesk(args.trials, args.workers)
        rows.append((f"trialdesk simulate, Dask {args.workers} workers", *tdn))
    ll = bench_lifelines(args.lifelines_trials)
    if ll is not None:
        rows.append(("lifelines logrank_test loop (1 core)", *ll))

    base = rp[0] if rp is not None else None
    print(f"reference design: 642 subjects, 400 events, HR {12.4 / 18:.4f}; cores: {os.cpu_count()}")
    print(f"{'method':42s} {'trials/s':>12s} {'power':>8s} {'x rpact':>8s}")
    for name, rate, power in rows:
        ratio = f"{rate / base:8.2f}" if base else "       -"
        print(f"{name:42s} {rate:12.0f} {power:8.4f} {ratio}")
    if base is None:
        print("rpact not available (Rscript or the rpact package missing): no ratio")


if __name__ == "__main__":
    main()
