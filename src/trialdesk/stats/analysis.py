"""The final analysis: efficacy, safety, baseline characteristics and CONSORT counts from the analysis datasets.

:class:`FinalAnalysis` is a lifelines-style fitter: ``FinalAnalysis(spec).fit(datasets)`` computes

* ``km_``: Kaplan–Meier PFS by Arm (``spec.conf_type``, log-log in the report) with medians and their
  Brookmeyer–Crowley CIs; ``km_fits_`` keeps the fitted curves for the figures;
* ``logrank_``: the log-rank test stratified by the randomization strata (``spec.stratify_by``), and
  ``logrank_unstratified_``;
* ``cox_``: the Cox hazard ratio experimental vs control stratified the same way (Efron ties by default);
* ``orr_``: objective response rate per Arm (Clopper–Pearson) and the difference (Newcombe);
* ``dor_``: duration of response by Kaplan–Meier among responders;
* ``subgroups_``: unstratified Cox HRs within each level of each subgroup factor (forest plot rows);
* ``safety_``, ``baseline_``, ``consort_``: the tables.

Every survival number comes from :mod:`trialdesk.stats.survival`, which is validated against R's survival
package; this module only wires the datasets to it. :meth:`FinalAnalysis.to_dict` is plain JSON.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any, Literal

import numpy as np
import pandas as pd

from trialdesk.domain.analysis_spec import AnalysisSpec
from trialdesk.domain.datasets import Datasets
from trialdesk.domain.errors import InvalidInput
from trialdesk.stats.binomial import clopper_pearson, diff_proportion_ci
from trialdesk.stats.survival import CoxPHFitter, KaplanMeierFitter, LogrankResult, logrank_test

__all__ = [
    "FinalAnalysis",
    "baseline_table",
    "consort_counts",
    "safety_tables",
    "subgroup_hazard_ratios",
    "km_by_arm",
    "cox_hazard_ratio",
    "orr_table",
]


def _f(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _arm_order(spec: AnalysisSpec, arms: pd.Series) -> list[str]:
    present = list(pd.unique(arms.dropna()))
    ordered = [a for a in (spec.experimental_arm, spec.control_arm) if a in present]
    return ordered + sorted(a for a in present if a not in ordered)


def km_by_arm(
    time: pd.Series, event: pd.Series, arm: pd.Series, arms: list[str], spec: AnalysisSpec
) -> tuple[dict[str, KaplanMeierFitter], list[dict[str, Any]]]:
    """KM fits and summary rows (n, events, median with CI) per Arm, in ``arms`` order."""
    fits: dict[str, KaplanMeierFitter] = {}
    rows = []
    for a in arms:
        m = (arm == a).to_numpy()
        if not m.any():
            continue
        fit = KaplanMeierFitter(spec.conf_type, spec.conf_level).fit(
            time[m].to_numpy(float), event[m].to_numpy(int), label=a
        )
        fits[a] = fit
        rows.append(
            {
                "arm": a,
                "n": fit.n_,
                "events": fit.n_events_,
                "censored": fit.n_ - fit.n_events_,
                "median": _f(fit.median_),
                "median_lower": _f(fit.median_ci_[0]),
                "median_upper": _f(fit.median_ci_[1]),
                "conf_type": spec.conf_type,
            }
        )
    return fits, rows


def cox_hazard_ratio(
    time: Any,
    event: Any,
    treated: Any,
    strata: Any,
    spec: AnalysisSpec,
    ties: Literal["efron", "breslow"] | None = None,
) -> dict[str, Any]:
    """HR of the experimental Arm (indicator ``treated``) with its Wald CI and p-value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cox = CoxPHFitter(ties=ties or spec.ties, conf_level=spec.conf_level).fit(
            time, event, np.asarray(treated, dtype=float), strata=strata, names=["arm"]
        )
    ci = cox.confidence_intervals_.iloc[0]
    return {
        "hr": float(np.exp(cox.coef_[0])),
        "lower": float(ci["lower"]),
        "upper": float(ci["upper"]),
        "coef": float(cox.coef_[0]),
        "se": float(cox.se_[0]),
        "p_value": float(cox.p_values_.iloc[0]),
        "ties": cox.ties,
        "n": cox.n_,
        "events": cox.n_events_,
        "n_strata": cox.n_strata_,
        "score_chisq": float(cox.score_test_.statistic),
        "converged": bool(cox.converged_),
    }


def orr_table(adrs: pd.DataFrame, arms: list[str], spec: AnalysisSpec) -> dict[str, Any]:
    """ORR per Arm with the Clopper–Pearson CI; experimental minus control with Newcombe's CI."""
    per_arm = []
    counts = {}
    for a in arms:
        sub = adrs[adrs["arm"] == a]
        n, x = int(len(sub)), int(sub["responder"].sum())
        counts[a] = (x, n)
        ci = clopper_pearson(x, n, spec.conf_level) if n else None
        bor = Counter(sub["bor"])
        per_arm.append(
            {
                "arm": a,
                "n": n,
                "responders": x,
                "orr": x / n if n else None,
                "lower": ci.lower if ci else None,
                "upper": ci.upper if ci else None,
                "bor": {k: int(bor.get(k, 0)) for k in ("CR", "PR", "SD", "non-CR/non-PD", "PD", "NE")},
            }
        )
    diff = None
    e, c = spec.experimental_arm, spec.control_arm
    if e in counts and c in counts and counts[e][1] and counts[c][1]:
        d = diff_proportion_ci(*counts[e], *counts[c], conf=spec.conf_level)
        diff = {"estimate": d.estimate, "lower": d.lower, "upper": d.upper, "method": d.method}
    return {"arms": per_arm, "difference": diff, "conf_level": spec.conf_level, "method": "clopper-pearson"}


def subgroup_hazard_ratios(adtte: pd.DataFrame, adsl: pd.DataFrame, spec: AnalysisSpec) -> list[dict[str, Any]]:
    """Unstratified Cox HR (experimental vs control) within each level of each subgroup factor.

    A level where an Arm is missing or there are no events gets ``hr`` None (not drawn in the forest plot).
    """
    df = adtte.merge(
        adsl[
            ["subject_number"]
            + [g.name for g in spec.subgroups if g.name in adsl.columns and g.name not in adtte.columns]
        ],
        on="subject_number",
        how="left",
    )
    df = df[df["arm"].isin([spec.experimental_arm, spec.control_arm])]
    rows = []
    for g in spec.subgroups:
        if g.name not in df.columns:
            continue
        for level in sorted(df[g.name].dropna().unique(), key=str):
            sub = df[df[g.name] == level]
            treated = (sub["arm"] == spec.experimental_arm).to_numpy(float)
            row = {
                "factor": g.name,
                "factor_label": g.label,
                "level": str(level),
                "label": f"{g.label}: {level}",
                "n": int(len(sub)),
                "events": int(sub["event"].sum()),
                "hr": None,
                "lo": None,
                "hi": None,
            }
            if sub["event"].sum() > 0 and 0 < treated.sum() < len(sub):
                try:
                    hr = cox_hazard_ratio(sub["time"].to_numpy(float), sub["event"].to_numpy(int), treated, None, spec)
                    if all(np.isfinite([hr["hr"], hr["lower"], hr["upper"]])) and hr["lower"] > 0:
                        row.update(hr=hr["hr"], lo=hr["lower"], hi=hr["upper"])
                except InvalidInput:
                    pass
            rows.append(row)
    return rows


def _pct(x: int, n: int) -> float | None:
    return 100.0 * x / n if n else None


def safety_tables(adae: pd.DataFrame, adsl: pd.DataFrame, adex: pd.DataFrame, arms: list[str]) -> dict[str, Any]:
    """TEAEs by SOC and preferred term and by worst grade, SAEs, deaths, AEs leading to discontinuation,
    exposure. Counts are Subjects (a Subject counts once per row), percentages of the safety set per Arm."""
    safety = adsl[adsl["safety"]]
    n_arm = {a: int((safety["arm"] == a).sum()) for a in arms}
    te = adae[adae["teae"]] if len(adae) else adae

    def subjects(df: pd.DataFrame) -> dict[str, int]:
        return {a: int(df.loc[df["arm"] == a, "subject_number"].nunique()) for a in arms}

    def with_pct(counts: dict[str, int]) -> dict[str, Any]:
        return {a: {"n": counts[a], "pct": _pct(counts[a], n_arm[a])} for a in arms}

    by_soc = []
    for soc, g in te.groupby("soc", sort=True) if len(te) else []:
        terms = []
        for term, gt in g.groupby("term", sort=True):
            c = subjects(gt)
            terms.append(
                {
                    "term": term,
                    "events": {a: int((gt["arm"] == a).sum()) for a in arms},
                    "subjects": with_pct(c),
                    "total": sum(c.values()),
                }
            )
        terms.sort(key=lambda r: (-r["total"], r["term"]))
        c = subjects(g)
        by_soc.append({"soc": soc, "subjects": with_pct(c), "total": sum(c.values()), "terms": terms})
    by_soc.sort(key=lambda r: (-r["total"], r["soc"]))
    worst = te.groupby("subject_number")["grade"].max() if len(te) else pd.Series(dtype=int)
    arm_of = safety.set_index("subject_number")["arm"]
    worst_grade = {}
    for a in arms:
        w = worst[worst.index.isin(arm_of[arm_of == a].index)]
        worst_grade[a] = {
            str(g): {"n": int((w == g).sum()), "pct": _pct(int((w == g).sum()), n_arm[a])} for g in range(1, 6)
        }
        worst_grade[a][">=3"] = {"n": int((w >= 3).sum()), "pct": _pct(int((w >= 3).sum()), n_arm[a])}
    sae = te[te["serious"]] if len(te) else te
    disc = te[te["leading_to_discontinuation"]] if len(te) else te
    deaths_all = {a: int((adsl["itt"] & (adsl["arm"] == a) & adsl["death_date"].notna()).sum()) for a in arms}
    grade5 = te[te["grade"] == 5] if len(te) else te

    def term_counts(df: pd.DataFrame) -> list[dict[str, Any]]:
        out = []
        for (soc, term), g in df.groupby(["soc", "term"], sort=True) if len(df) else []:
            c = subjects(g)
            out.append(
                {
                    "soc": soc,
                    "term": term,
                    "subjects": with_pct(c),
                    "events": {a: int((g["arm"] == a).sum()) for a in arms},
                    "total": sum(c.values()),
                }
            )
        out.sort(key=lambda r: (-r["total"], r["term"]))
        return out

    exposure = []
    for a in arms:
        ex = adex[adex["arm"] == a] if len(adex) else adex
        per_subject = ex.groupby("subject_number")["cycles"].max() if len(ex) else pd.Series(dtype=float)
        drugs = []
        for drug, g in ex.groupby("drug", sort=True) if len(ex) else []:
            rdi = g["rdi"].dropna()
            drugs.append(
                {
                    "drug": drug,
                    "subjects": int(g["subject_number"].nunique()),
                    "doses": int(g["n_doses"].sum()),
                    "rdi_median": _f(rdi.median()) if len(rdi) else None,
                    "rdi_min": _f(rdi.min()) if len(rdi) else None,
                    "rdi_max": _f(rdi.max()) if len(rdi) else None,
                    "rdi_mean": _f(rdi.mean()) if len(rdi) else None,
                }
            )
        exposure.append(
            {
                "arm": a,
                "treated": n_arm[a],
                "cycles_median": _f(per_subject.median()) if len(per_subject) else None,
                "cycles_min": _f(per_subject.min()) if len(per_subject) else None,
                "cycles_max": _f(per_subject.max()) if len(per_subject) else None,
                "cycles_mean": _f(per_subject.mean()) if len(per_subject) else None,
                "drugs": drugs,
            }
        )
    return {
        "safety_n": n_arm,
        "any_teae": with_pct(subjects(te)),
        "any_grade3plus": with_pct(subjects(te[te["grade"] >= 3]) if len(te) else dict.fromkeys(arms, 0)),
        "by_soc": by_soc,
        "worst_grade": worst_grade,
        "any_sae": with_pct(subjects(sae)),
        "sae_terms": term_counts(sae),
        "nonserious_terms": term_counts(te[~te["serious"]] if len(te) else te),
        "other_any": with_pct(subjects(te[~te["serious"]]) if len(te) else dict.fromkeys(arms, 0)),
        "leading_to_discontinuation": with_pct(subjects(disc)),
        "discontinuation_terms": term_counts(disc),
        "deaths": {a: {"n": deaths_all[a]} for a in arms},
        "fatal_teae": with_pct(subjects(grade5)),
        "exposure": exposure,
    }


def baseline_table(adsl: pd.DataFrame, arms: list[str], spec: AnalysisSpec) -> dict[str, Any]:
    """Baseline characteristics of the ITT set by Arm and in total."""
    itt = adsl[adsl["itt"]]
    groups = [(a, itt[itt["arm"] == a]) for a in arms] + [("total", itt)]
    rows: list[dict[str, Any]] = []
    age = {}
    for g, df in groups:
        v = pd.to_numeric(df["age"], errors="coerce").dropna()
        age[g] = {
            "n": int(len(v)),
            "median": _f(v.median()) if len(v) else None,
            "min": _f(v.min()) if len(v) else None,
            "max": _f(v.max()) if len(v) else None,
            "mean": _f(v.mean()) if len(v) else None,
            "sd": _f(v.std(ddof=1)) if len(v) > 1 else None,
        }
    rows.append({"name": "age", "label": "Age (years)", "kind": "continuous", "values": age})
    categorical = [("age_group", "Age group"), ("sex", "Sex"), ("ecog", "ECOG performance status")]
    categorical += [(name, name.replace("_", " ").capitalize()) for name in spec.stratify_by]
    for name, label in categorical:
        if name not in itt.columns:
            continue
        col = itt[name].map(
            lambda v: (
                "Not recorded"
                if v is None or (isinstance(v, float) and math.isnan(v))
                else str(int(v))
                if isinstance(v, float)
                else str(v)
            )
        )
        levels = sorted(col.unique(), key=lambda s: (s == "Not recorded", s))
        values = {}
        for g, df in groups:
            cg = col.loc[df.index]
            values[g] = {lv: {"n": int((cg == lv).sum()), "pct": _pct(int((cg == lv).sum()), len(df))} for lv in levels}
        rows.append({"name": name, "label": label, "kind": "categorical", "levels": levels, "values": values})
    return {"n": {g: int(len(df)) for g, df in groups}, "rows": rows}


def consort_counts(ds: Datasets, arms: list[str]) -> dict[str, Any]:
    """CONSORT flow: assessed, excluded (with reasons), randomized, allocated, treated, discontinued (with
    reasons), analysed."""
    adsl, scr = ds.adsl, ds.screening
    itt = adsl[adsl["itt"]]
    randomized = set(itt["subject_number"])
    assessed = set(scr["subject_number"]) | randomized
    excluded = scr[~scr["subject_number"].isin(randomized)]
    reasons: Counter[str] = Counter()
    for rec in excluded.to_dict("records"):
        if rec["verdict"] == "ineligible":
            reasons["Not meeting eligibility criteria"] += 1
        elif rec["verdict"] == "incomplete":
            reasons["Screening incomplete"] += 1
        else:
            reasons["Eligible, not randomized"] += 1
    criteria: Counter[str] = Counter()
    for rec in excluded[excluded["verdict"] == "ineligible"].to_dict("records"):
        for c in filter(None, str(rec["failed_criteria"]).split(",")):
            criteria[c.strip()] += 1
    per_arm = []
    for a in arms:
        df = itt[itt["arm"] == a]
        treated = df[df["treated"]]
        stopped = treated[treated["end_of_treatment_date"].notna()]
        stop_reasons = Counter((r or "Not recorded") for r in stopped["end_of_treatment_reason"])
        left = df[df["end_of_study_date"].notna()]
        study_reasons = Counter((r or "Not recorded") for r in left["end_of_study_reason"])
        # still in the study at the cut: died without an end-of-study record, on treatment, or in follow-up
        staying = df[df["end_of_study_date"].isna()]
        dead = staying["death_date"].notna() if "death_date" in staying else staying["end_of_study_date"].notna()
        on_drug = staying["treated"] & staying["end_of_treatment_date"].isna() & ~dead
        per_arm.append(
            {
                "arm": a,
                "allocated": int(len(df)),
                "received": int(len(treated)),
                "not_received": int(len(df) - len(treated)),
                "discontinued_treatment": int(len(stopped)),
                "discontinued_reasons": dict(sorted(stop_reasons.items())),
                "on_treatment": int(len(treated) - len(stopped)),
                "left_study": int(len(left)),
                "left_study_reasons": dict(sorted(study_reasons.items())),
                "died_in_study": int(dead.sum()),
                "ongoing_on_treatment": int(on_drug.sum()),
                "ongoing_follow_up": int(len(staying) - dead.sum() - on_drug.sum()),
                "analysed_itt": int(len(df)),
                "analysed_safety": int(len(treated)),
            }
        )
    return {
        "assessed": len(assessed),
        "excluded": int(len(excluded)),
        "excluded_reasons": dict(sorted(reasons.items())),
        "failed_criteria": dict(sorted(criteria.items(), key=lambda kv: (-kv[1], kv[0]))),
        "randomized": len(randomized),
        "arms": per_arm,
    }


class FinalAnalysis:
    """Efficacy, safety, baseline and CONSORT from :class:`~trialdesk.domain.datasets.Datasets`.

    Parameters
    ----------
    spec : AnalysisSpec
        ``operations.analysis`` (conf_type, ties, strata, subgroups, arms).
    ties : {"efron", "breslow"}, optional
        Overrides ``spec.ties`` for the Cox model.
    arm_labels : dict, optional
        Arm id -> display label.
    """

    def __init__(self, spec: AnalysisSpec, *, ties: str | None = None, arm_labels: dict[str, str] | None = None):
        self.spec = spec if ties is None else spec.model_copy(update={"ties": ties})
        self.arm_labels = dict(arm_labels or {})

    def fit(self, ds: Datasets) -> FinalAnalysis:
        spec = self.spec
        tte = ds.adtte
        self.arms_ = _arm_order(spec, ds.adsl.loc[ds.adsl["itt"], "arm"])
        self.cut_date_ = ds.cut_date
        self.n_itt_ = int(len(tte))
        both = spec.experimental_arm in self.arms_ and spec.control_arm in self.arms_
        self.km_fits_, self.km_ = km_by_arm(tte["time"], tte["event"], tte["arm"], self.arms_, spec)
        self.logrank_ = self.logrank_unstratified_ = self.cox_ = None
        two = tte[tte["arm"].isin([spec.experimental_arm, spec.control_arm])]
        if both and two["event"].sum() > 0:
            st = two[spec.stratify_by] if spec.stratify_by else None
            self.logrank_ = logrank_test(two["time"], two["event"], two["arm"], strata=st)
            self.logrank_unstratified_ = logrank_test(two["time"], two["event"], two["arm"])
            self.cox_ = cox_hazard_ratio(
                two["time"].to_numpy(float),
                two["event"].to_numpy(int),
                (two["arm"] == spec.experimental_arm).to_numpy(float),
                st,
                spec,
            )
        self.orr_ = orr_table(ds.adrs, self.arms_, spec)
        resp = ds.adrs[ds.adrs["responder"]]
        self.dor_fits_, self.dor_ = (
            km_by_arm(resp["dor_time"].astype(float), resp["dor_event"].astype(int), resp["arm"], self.arms_, spec)
            if len(resp)
            else ({}, [])
        )
        self.subgroups_ = subgroup_hazard_ratios(tte, ds.adsl, spec) if both else []
        self.safety_ = safety_tables(ds.adae, ds.adsl, ds.adex, self.arms_)
        self.baseline_ = baseline_table(ds.adsl, self.arms_, spec)
        self.consort_ = consort_counts(ds, self.arms_)
        self.censoring_ = {a: dict(Counter(tte.loc[tte["arm"] == a, "rule"])) for a in self.arms_}
        return self

    def _lr(self, lr: LogrankResult | None) -> dict[str, Any] | None:
        if lr is None:
            return None
        return {
            "chisq": lr.chisq,
            "df": lr.df,
            "p_value": lr.p_value,
            "n_strata": lr.n_strata,
            "observed": dict(zip(map(str, lr.groups), lr.observed.tolist())),
            "expected": dict(zip(map(str, lr.groups), lr.expected.tolist())),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary of every table (the ``summary_json`` of an analysis run)."""
        if not hasattr(self, "arms_"):
            raise RuntimeError("FinalAnalysis is not fitted; call fit() first")
        spec = self.spec
        return {
            "cut_date": self.cut_date_.isoformat(),
            "arms": [{"id": a, "label": self.arm_labels.get(a, a)} for a in self.arms_],
            "spec": {
                "time_unit": spec.time_unit,
                "conf_type": spec.conf_type,
                "conf_level": spec.conf_level,
                "ties": spec.ties,
                "stratify_by": list(spec.stratify_by),
                "experimental_arm": spec.experimental_arm,
                "control_arm": spec.control_arm,
            },
            "n_itt": self.n_itt_,
            "pfs": {
                "km": self.km_,
                "logrank_stratified": self._lr(self.logrank_),
                "logrank_unstratified": self._lr(self.logrank_unstratified_),
                "cox": self.cox_,
                "censoring": self.censoring_,
            },
            "orr": self.orr_,
            "dor": self.dor_,
            "subgroups": self.subgroups_,
            "safety": self.safety_,
            "baseline": self.baseline_,
            "consort": self.consort_,
        }
