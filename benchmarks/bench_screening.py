"""Screening throughput: vectorized cohort path vs a per-record loop over the same rules, same run.

    python benchmarks/bench_screening.py [--n 1000000] [--loop 2000] [--seed 1]

Prints patients per second for both paths and their ratio (goal >= 50). The vectorized time covers typing the
raw columns, unit conversion and every rule. The per-record loop takes already validated ``ScreeningRecord``
objects (validation is not timed) and, per record, converts units and evaluates every rule with the scalar
evaluator; it runs on the first ``--loop`` patients of the same synthetic cohort, and its statuses are checked
against the vectorized ones.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.domain.cohort import STATUS_CODES, evaluate_cohort, prepare_columns
from trialdesk.domain.eligibility import rule_statuses
from trialdesk.domain.screening import ScreeningRecord, unflatten_row
from trialdesk.stats.synthetic_cohort import synthetic_cohort


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--loop", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    spec = load_default_protocol().operations.eligibility

    t0 = time.perf_counter()
    cols = synthetic_cohort(args.n, np.random.default_rng(args.seed))
    t_gen = time.perf_counter() - t0

    t0 = time.perf_counter()
    prepared = prepare_columns(cols)
    result = evaluate_cohort(spec, prepared)
    t_vec = time.perf_counter() - t0

    keys = list(cols)
    m = min(args.loop, args.n)
    records = [ScreeningRecord.model_validate(unflatten_row({k: cols[k][i] for k in keys})) for i in range(m)]
    t0 = time.perf_counter()
    statuses = [rule_statuses(spec, r) for r in records]
    t_loop = time.perf_counter() - t0

    mismatches = sum(
        STATUS_CODES[result.status[i, j]] != statuses[i][cid] for i in range(m) for j, cid in enumerate(result.ids)
    )
    vec_rate = args.n / t_vec
    loop_rate = m / t_loop
    counts = np.bincount(result.verdict, minlength=3)
    print(f"synthetic cohort: {args.n} patients generated in {t_gen:.1f} s")
    print(f"verdicts: eligible {counts[0]}, ineligible {counts[1]}, incomplete {counts[2]}")
    print(f"vectorized  : {args.n:>9} patients in {t_vec:8.2f} s = {vec_rate:12,.0f} patients/s (incl. typing/units)")
    print(f"per-record  : {m:>9} patients in {t_loop:8.2f} s = {loop_rate:12,.0f} patients/s")
    print(f"ratio vectorized / per-record: {vec_rate / loop_rate:.0f}x (goal >= 50); status mismatches: {mismatches}")


if __name__ == "__main__":
    main()
