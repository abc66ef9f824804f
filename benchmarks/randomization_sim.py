"""Benchmark: vectorized scheme simulation vs a per-replicate, per-subject loop over the live domain functions.

Run: .venv/bin/python benchmarks/randomization_sim.py [--reps 40]
Prints seconds per replicate for both and their ratio (baseline / vectorized), measured in the same process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.domain.minimization import minimization_assign
from trialdesk.stats.randomization_sim import allocate, draw_cohort, simulate_scheme


def baseline_minimization(spec, cohort, rng):
    """One replicate at a time, one subject at a time, through minimization_assign."""
    names = [f.name for f in spec.factors]
    for r in range(cohort.reps):
        counts: dict = {}
        for t in range(cohort.n_subjects):
            levels = {n: spec.factors[i].levels[cohort.levels[r, t, i]] for i, n in enumerate(names)}
            arm = minimization_assign(spec, counts, levels, rng).arm
            for n, lv in levels.items():
                by_arm = counts.setdefault(n, {}).setdefault(lv, {})
                by_arm[arm] = by_arm.get(arm, 0) + 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--subjects", type=int, default=642)
    args = parser.parse_args()
    spec = load_default_protocol().operations.randomization
    cohort = draw_cohort(spec, args.subjects, args.reps, np.random.default_rng(1))

    t0 = time.perf_counter()
    baseline_minimization(spec, cohort, np.random.default_rng(2))
    base = (time.perf_counter() - t0) / args.reps

    big = max(args.reps, 1000)
    big_cohort = draw_cohort(spec, args.subjects, big, np.random.default_rng(1))
    t0 = time.perf_counter()
    allocate(spec, big_cohort, np.random.default_rng(2), "minimization")
    vec = (time.perf_counter() - t0) / big
    print(f"minimization allocation, {args.subjects} subjects: loop {base * 1e3:.2f} ms/rep "
          f"({args.reps} reps), vectorized {vec * 1e3:.3f} ms/rep ({big} reps); ratio {base / vec:.0f}x")

    for scheme in ("simple", "blocks", "minimization"):
        t0 = time.perf_counter()
        simulate_scheme(spec, args.subjects, 1000, np.random.default_rng(3), scheme=scheme)
        print(f"simulate_scheme {scheme:>12}: 1000 reps x {args.subjects} subjects, all metrics: "
              f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
