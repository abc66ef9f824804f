"""Benchmark: the full final analysis of a simulated 642-Subject trial, trialdesk vs the same steps with lifelines.

Data: ``stats.analysis_sim.simulate_captured_data`` (seeded): 642 Subjects 1:1, 8 strata, exponential PFS with
HR 0.70, RECIST assessments on the protocol grid, deaths, new therapy, doses and AEs. Steps timed, in one process:

1. dataset derivation (ADSL, ADTTE with the FDA censoring rules, ADRS, ADAE, ADEX): pure Python, shown alone;
2. the analysis: KM by arm with median CIs (log-log), stratified log-rank, stratified Cox (Efron), ORR, DoR KM,
   subgroup Cox models (9), safety, baseline and CONSORT tables:
   - trialdesk: ``FinalAnalysis(spec).fit(datasets)``;
   - lifelines: the survival steps with lifelines (``KaplanMeierFitter``, ``median_survival_times``,
     ``CoxPHFitter(strata=...)``; lifelines has no stratified log-rank, so the stratified Cox score test stands
     in for it), the other tables with the same trialdesk code;
3. the report (HTML with SVG figures + PDF), shown alone.

Run: ``.venv/bin/python benchmarks/bench_analysis.py [--n 642] [--seed 1] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings

import numpy as np


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=642)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from lifelines import CoxPHFitter as LLCox
    from lifelines import KaplanMeierFitter as LLKM
    from lifelines.utils import median_survival_times

    from trialdesk.adapters.protocol_files import load_default_protocol
    from trialdesk.adapters.report import write_report
    from trialdesk.domain.datasets import derive_datasets
    from trialdesk.stats.analysis import (
        FinalAnalysis,
        baseline_table,
        consort_counts,
        orr_table,
        safety_tables,
    )
    from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data

    protocol = load_default_protocol()
    spec, schedule = protocol.operations.analysis, protocol.operations.schedule
    settings = SimulationSettings(n_subjects=args.n)
    data = simulate_captured_data(np.random.default_rng(args.seed), schedule, settings)
    ds = derive_datasets(data, spec, schedule, settings.cut_date)
    arms = [spec.experimental_arm, spec.control_arm]

    def trialdesk_analysis():
        return FinalAnalysis(spec).fit(ds)

    def lifelines_analysis():
        t = ds.adtte
        out = {}
        for a in arms:  # KM by arm, median and its CI (log-log, lifelines' only transform)
            m = t["arm"] == a
            km = LLKM(alpha=0.05).fit(t.loc[m, "time"], t.loc[m, "event"])
            out[a] = (km.median_survival_time_, median_survival_times(km.confidence_interval_))
        df = t[["time", "event", *spec.stratify_by]].copy()
        df["trt"] = (t["arm"] == spec.experimental_arm).astype(float)
        cox = LLCox().fit(df, "time", "event", strata=list(spec.stratify_by))  # Efron ties
        out["hr"] = (cox.hazard_ratios_["trt"], cox.confidence_intervals_.loc["trt"])
        out["score"] = cox.log_likelihood_ratio_test()
        resp = ds.adrs[ds.adrs["responder"]]
        for a in arms:
            m = resp["arm"] == a
            if m.any():
                km = LLKM().fit(resp.loc[m, "dor_time"].astype(float), resp.loc[m, "dor_event"].astype(int))
                out[("dor", a)] = median_survival_times(km.confidence_interval_)
        sub = t.merge(ds.adsl[["subject_number", "age_group"]], on="subject_number")
        for g in spec.subgroups:
            for level in sub[g.name].dropna().unique():
                s = sub[sub[g.name] == level]
                d2 = s[["time", "event"]].copy()
                d2["trt"] = (s["arm"] == spec.experimental_arm).astype(float)
                out[(g.name, level)] = LLCox().fit(d2, "time", "event").hazard_ratios_["trt"]
        out["orr"] = orr_table(ds.adrs, arms, spec)
        out["safety"] = safety_tables(ds.adae, ds.adsl, ds.adex, arms)
        out["baseline"] = baseline_table(ds.adsl, arms, spec)
        out["consort"] = consort_counts(ds, arms)
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_data = best(lambda: derive_datasets(data, spec, schedule, settings.cut_date), args.repeat)
        ours = trialdesk_analysis()
        theirs = lifelines_analysis()
        t_ours = best(trialdesk_analysis, args.repeat)
        t_ll = best(lifelines_analysis, args.repeat)
        fa = ours
        fa.arm_labels = {a.id: a.label for a in protocol.registry.arm_groups if a.id}
        with tempfile.TemporaryDirectory() as tmp:
            t_report = best(lambda: write_report(fa, tmp, title="benchmark"), 1)

    print(f"Final analysis of {len(ds.adtte)} subjects ({int(ds.adtte['event'].sum())} PFS events), "
          f"best of {args.repeat}")
    print(f"  dataset derivation (shared)          {t_data * 1e3:9.1f} ms")
    print(f"  analysis, trialdesk                  {t_ours * 1e3:9.1f} ms")
    print(f"  analysis, lifelines survival steps   {t_ll * 1e3:9.1f} ms")
    print(f"  ratio lifelines / trialdesk          {t_ll / t_ours:9.2f}x")
    print(f"  report HTML + PDF (trialdesk)        {t_report * 1e3:9.1f} ms")
    print(f"  stratified HR: trialdesk {ours.cox_['hr']:.6f}, lifelines {theirs['hr'][0]:.6f}")


if __name__ == "__main__":
    main()
