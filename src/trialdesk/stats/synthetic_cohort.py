"""Synthetic screening cohorts for tests, benchmarks and feasibility rehearsals.

:func:`synthetic_cohort` draws a flat cohort table (the column layout of
:func:`trialdesk.domain.screening.flat_schema`) of any size, vectorized, from a seeded
:class:`numpy.random.Generator`. The marginal distributions are plausible for HER2-positive advanced breast cancer
screening in China (about 99% women, median age in the low fifties, about half hormone-receptor positive, IHC 3+
in most, a third de novo) and the labs come in mixed units (g/dL or g/L, mg/dL or umol/L) as sites report them.
They are illustrative, not fitted to any data set. :func:`synthetic_records` gives the same patients as nested
dicts accepted by :class:`~trialdesk.domain.screening.ScreeningRecord`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from trialdesk.domain.screening import unflatten_row

__all__ = ["synthetic_cohort", "synthetic_records", "THERAPY_SLOTS", "LESION_SLOTS"]

THERAPY_SLOTS = 6
LESION_SLOTS = 6
_EPOCH = np.datetime64("1970-01-01", "D")

_HISTORY_PREVALENCE = {
    "other_malignancy_5y": 0.01,
    "unresolved_toxicity_above_grade1": 0.02,
    "major_surgery_4w": 0.01,
    "venous_access_disease": 0.003,
    "bleeding_disorder": 0.002,
    "thrombosis_6m": 0.01,
    "significant_cardiovascular_disease": 0.015,
    "uncontrolled_infection_14d": 0.005,
    "ild_pneumonitis_steroids": 0.008,
    "pulmonary_dysfunction_3m": 0.005,
    "active_hepatitis_uncontrolled": 0.01,
    "active_syphilis_needing_treatment": 0.002,
    "transplant": 0.001,
    "immunosuppression_required": 0.004,
    "immunodeficiency": 0.002,
    "dialysis": 0.001,
    "uncontrolled_diabetes": 0.01,
    "epilepsy_requiring_treatment": 0.002,
    "substance_abuse_or_mental_disorder": 0.003,
    "uncontrolled_effusion_or_lymphangitis": 0.01,
    "antitumor_tcm_2w": 0.02,
    "study_drug_allergy": 0.003,
    "mab_severe_hypersensitivity": 0.003,
    "other_trial_4w": 0.01,
}


def _dates(
    base: npt.NDArray[np.datetime64] | np.datetime64, offset_days: npt.NDArray[np.float64] | float
) -> npt.NDArray[np.datetime64]:
    """``base`` plus ``offset_days`` rounded to whole days."""
    dates: npt.NDArray[np.datetime64] = base + np.round(offset_days).astype("int64").astype("timedelta64[D]")
    return dates


def _take_slot(a: np.ndarray, role: np.ndarray) -> np.ndarray:
    """Row ``i`` of the result is ``a[i, role[i]]``: each patient's therapy that fills a slot."""
    taken: np.ndarray = np.take_along_axis(a, role[:, None], axis=1)[:, 0]
    return taken


def _choice(rng: np.random.Generator, values: list[str], p: list[float], n: int) -> np.ndarray:
    return np.asarray(values)[rng.choice(len(values), size=n, p=np.asarray(p) / np.sum(p))]


def _blank(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy of ``a`` with ``mask`` rows missing: NaN (numbers; booleans become 1.0/0.0), NaT (dates),
    '' (strings, as a fixed-width unicode array)."""
    if (a.dtype == object and len(a) and isinstance(a[0], (bool, np.bool_))) or a.dtype.kind == "b":
        a = a.astype(float)
    elif a.dtype == object:
        # numpy's stubs reject None as an operand; elementwise comparison with None is what finds the blanks
        a = np.where(np.equal(a, None), "", a).astype(str)  # type: ignore[call-overload]
    out = a.copy()
    if out.dtype.kind == "M":
        out[mask] = np.datetime64("NaT")
    elif out.dtype.kind == "f":
        out[mask] = np.nan
    else:
        out[mask] = ""
    return out


def synthetic_cohort(n: int, rng: np.random.Generator, *, missing_rate: float = 0.01) -> dict[str, np.ndarray]:
    """Draw ``n`` synthetic screened patients as flat columns.

    Parameters
    ----------
    n
        Number of patients.
    rng
        Seeded generator (``numpy.random.default_rng(seed)``).
    missing_rate
        Probability that each routinely collected item (labs, ECOG, vitals, history items...) is missing.

    Returns
    -------
    dict of str -> ndarray
        Columns: numbers and yes/no items float64 (1.0/0.0, NaN missing), dates ``datetime64[D]`` (NaT missing),
        strings fixed-width unicode ('' missing).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    cols: dict[str, np.ndarray] = {}

    def miss(size: int = n) -> np.ndarray:
        return rng.random(size) < missing_rate

    def put(key: str, arr: np.ndarray, missing: bool = True) -> None:
        cols[key] = _blank(arr, miss()) if missing else arr

    cols["screening_id"] = np.char.mod("SYN-%07d", np.arange(n))
    site = rng.integers(1, 26, n)
    cols["site"] = np.char.mod("site-%02d", site)
    consent = _dates(np.datetime64("2025-07-01"), rng.uniform(0, 540, n))
    cols["consent_date"] = consent
    age_years = np.clip(rng.normal(53, 11, n), 21, 86)
    birth = _dates(consent, -age_years * 365.25)
    put("birth_date", birth)
    put("sex", _choice(rng, ["female", "male"], [0.99, 0.01], n))
    put("planned_first_dose_date", _dates(consent, rng.uniform(7, 28, n)))
    put("ecog", rng.choice(4, size=n, p=[0.55, 0.38, 0.06, 0.01]).astype(float))

    ihc = _choice(rng, ["0", "1+", "2+", "3+"], [0.02, 0.03, 0.20, 0.75], n)
    ish = np.full(n, "", dtype="U13")
    two = ihc == "2+"
    ish[two] = np.where(rng.random(two.sum()) < 0.8, "amplified", "not_amplified")
    three = (ihc == "3+") & (rng.random(n) < 0.3)
    ish[three] = "amplified"
    put("her2.ihc", ihc)
    cols["her2.ish"] = ish
    er = _choice(rng, ["positive", "negative", "not_determined"], [0.55, 0.44, 0.01], n)
    pr = np.where(er == "positive", np.where(rng.random(n) < 0.7, "positive", "negative"), er)
    put("er_status", er)
    put("pr_status", pr)

    put("disease.invasive_carcinoma", rng.random(n) < 0.995)
    put("disease.confirmation", _choice(rng, ["histological", "cytological", "not_confirmed"], [0.95, 0.045, 0.005], n))
    put("disease.recurrent_or_metastatic", rng.random(n) < 0.99)
    de_novo = rng.random(n) < 0.35
    cols["disease.presentation"] = np.where(de_novo, "de_novo", "recurrent")
    recurrence = _dates(consent, -rng.uniform(7, 60, n))
    put("disease.recurrence_date", recurrence)
    # recurrent: curative therapy ended before recurrence; the disease-free interval ~ 4 + Exp(36) months
    dfi_days = (4 + rng.exponential(36, n)) * 30.44
    curative_end = _dates(recurrence, -dfi_days)
    initial = np.where(de_novo, recurrence, _dates(curative_end, -rng.uniform(150, 400, n)))
    cols["disease.initial_diagnosis_date"] = initial

    # prior therapies: candidate roles, compacted into slots
    roles = ["anthracycline", "taxane", "her2", "endo_adj", "endo_met", "other_met"]
    r = len(roles)
    present = np.zeros((n, r), bool)
    rec = ~de_novo
    present[:, 0] = rec & (rng.random(n) < 0.6)
    present[:, 1] = rec & (rng.random(n) < 0.9)
    present[:, 2] = rec & (rng.random(n) < 0.7)
    hr_pos = (er == "positive") | (pr == "positive")
    present[:, 3] = rec & hr_pos & (rng.random(n) < 0.8)
    present[:, 4] = hr_pos & (rng.random(n) < 0.12)
    present[:, 5] = rng.random(n) < 0.05
    epi = rng.random(n) < 0.8
    drug_class = np.empty((n, r), "U24")
    agent = np.empty((n, r), "U24")
    setting = np.empty((n, r), "U12")
    start = np.empty((n, r), "datetime64[D]")
    end = np.empty((n, r), "datetime64[D]")
    ongoing = np.zeros((n, r), bool)
    dose = np.full((n, r), np.nan)
    adj_end = curative_end
    drug_class[:, 0], agent[:, 0] = "anthracycline", np.where(epi, "epirubicin", "doxorubicin")
    dose[:, 0] = np.where(epi, rng.normal(380, 70, n), rng.normal(240, 40, n)).clip(60, 900).round(0)
    dose[:, 0] *= np.where(rng.random(n) < 0.03, 2.2, 1.0)  # re-treated: cumulative dose above the usual limit
    drug_class[:, 1], agent[:, 1] = "chemotherapy", np.where(rng.random(n) < 0.7, "docetaxel", "paclitaxel")
    drug_class[:, 2], agent[:, 2] = "anti_her2_antibody", "trastuzumab"
    drug_class[:, 3], agent[:, 3] = "endocrine", np.where(rng.random(n) < 0.6, "letrozole", "tamoxifen")
    drug_class[:, 4], agent[:, 4] = "endocrine", "fulvestrant"
    other_topo = rng.random(n) < 0.3
    drug_class[:, 5] = np.where(other_topo, "topo1_adc", "chemotherapy")
    agent[:, 5] = np.where(other_topo, "trastuzumab deruxtecan", "capecitabine")
    setting[:, 0:4] = np.where(rng.random((n, 1)) < 0.5, "neoadjuvant", "adjuvant")
    setting[:, 4:6] = "metastatic"
    end[:, 0] = _dates(adj_end, -rng.uniform(200, 300, n))
    start[:, 0] = _dates(end[:, 0], -63)
    end[:, 1] = _dates(adj_end, -rng.uniform(120, 200, n))
    start[:, 1] = _dates(end[:, 1], -63)
    end[:, 2] = adj_end
    start[:, 2] = _dates(adj_end, -365)
    endo_on = rng.random(n) < 0.2
    span = (consent - recurrence).astype(float)  # >= 7 days
    # endocrine therapy stops up to 20 days after the recurrence, and never after the consent (it is history)
    end[:, 3] = _dates(recurrence, np.minimum(rng.uniform(0, 20, n), span))
    start[:, 3] = _dates(adj_end, -rng.uniform(0, 60, n))
    ongoing[:, 3] = endo_on
    for j in (4, 5):
        s0 = rng.uniform(0, 0.3, n) * span
        start[:, j] = _dates(recurrence, s0)
        end[:, j] = _dates(recurrence, s0 + rng.uniform(0.2, 0.65, n) * span)
    end[ongoing] = np.datetime64("NaT")
    order = np.argsort(~present, axis=1, kind="stable")
    count = present.sum(axis=1)
    n_ther = count.astype(float)
    n_ther[miss()] = np.nan  # therapy history not collected
    cols["prior_therapies.n"] = n_ther
    for k in range(THERAPY_SLOTS):
        role = order[:, k] if k < r else np.zeros(n, int)
        used = count > k
        p = f"prior_therapies.{k}."
        cols[p + "drug_class"] = _blank(_take_slot(drug_class, role), ~used)
        cols[p + "agent"] = _blank(_take_slot(agent, role), ~used)
        cols[p + "setting"] = _blank(_take_slot(setting, role), ~used)
        cols[p + "start_date"] = _blank(_take_slot(start, role), ~used)
        cols[p + "end_date"] = _blank(_take_slot(end, role), ~used)
        cols[p + "ongoing"] = _blank(_take_slot(ongoing, role), ~used)
        cols[p + "cumulative_dose_mg_m2"] = _blank(_take_slot(dose, role), ~used)

    # lesions
    n_les = np.minimum(1 + rng.binomial(4, 0.35, n), LESION_SLOTS)
    n_les_f = n_les.astype(float)
    n_les_f[rng.random(n) < 0.03] = 0  # no lesion found
    n_les_f[miss()] = np.nan
    organs = ["liver", "lung", "lymph_node", "bone", "breast", "skin", "brain", "chest_wall", "pleura"]
    organ_p = [0.24, 0.2, 0.25, 0.12, 0.05, 0.04, 0.03, 0.03, 0.04]
    cols["lesions.n"] = n_les_f
    for k in range(LESION_SLOTS):
        used = np.nan_to_num(n_les_f) > k
        organ = _choice(rng, organs, organ_p, n)
        method = np.where(np.isin(organ, ["skin", "breast", "chest_wall"]), "caliper", "ct").astype("U10")
        method[(organ == "brain") | ((organ == "liver") & (rng.random(n) < 0.2))] = "mri"
        method[organ == "bone"] = "bone_scan"
        longest = rng.lognormal(np.log(18), 0.5, n).round(0)
        short = np.where(organ == "lymph_node", rng.lognormal(np.log(15), 0.35, n).round(0), np.nan)
        p = f"lesions.{k}."
        cols[p + "organ"] = _blank(organ, ~used)
        cols[p + "site"] = np.full(n, "", dtype="U1")
        cols[p + "longest_diameter_mm"] = _blank(np.where(organ == "bone", np.nan, longest), ~used)
        cols[p + "short_axis_mm"] = _blank(short, ~used)
        cols[p + "method"] = _blank(method, ~used)
        cols[p + "previously_irradiated"] = _blank(rng.random(n) < 0.03, ~used)

    put("cns.spinal_cord_compression", rng.random(n) < 0.01)
    put("cns.brain_metastases", _choice(rng, ["none", "treated_stable", "active"], [0.9, 0.07, 0.03], n))

    # labs in mixed units: a site reports all its values in one convention
    conv_site = (site % 3) == 0  # a third of sites use conventional (mg/dL, g/dL) units

    def lab(name: str, si_values: np.ndarray, si_unit: str, alt_unit: str, factor: float, uln_si: float | None) -> None:
        value = np.where(conv_site, si_values / factor, si_values)
        unit = np.where(conv_site, alt_unit, si_unit)
        m = miss()
        cols[f"labs.{name}.value"] = _blank(np.round(value, 2), m)
        cols[f"labs.{name}.unit"] = unit
        if uln_si is not None:
            uln = np.where(conv_site, uln_si / factor, uln_si)
            cols[f"labs.{name}.uln"] = np.round(uln, 2)

    lab("anc", rng.lognormal(np.log(3.6), 0.4, n), "10^9/L", "10^3/uL", 1.0, None)
    lab("platelets", rng.lognormal(np.log(220), 0.3, n), "10^9/L", "10^3/uL", 1.0, None)
    lab("hemoglobin", rng.normal(121, 15, n).clip(50, 180), "g/L", "g/dL", 10.0, 160.0)
    lab("total_bilirubin", rng.lognormal(np.log(10), 0.45, n), "umol/L", "mg/dL", 17.104, 21.0)
    liver = np.zeros(n, bool)
    for k in range(LESION_SLOTS):
        liver |= cols[f"lesions.{k}.organ"] == "liver"
    lab("alt", rng.lognormal(np.log(24), 0.6, n) * np.where(liver, 2.0, 1.0), "U/L", "IU/L", 1.0, 40.0)
    lab("ast", rng.lognormal(np.log(24), 0.5, n) * np.where(liver, 2.0, 1.0), "U/L", "IU/L", 1.0, 35.0)
    lab("creatinine", rng.lognormal(np.log(62), 0.3, n), "umol/L", "mg/dL", 88.42, 97.0)
    put("lvef_percent", rng.normal(62, 5, n).clip(25, 80).round(0))
    put("vitals.weight_kg", rng.normal(60, 10, n).clip(35, 120).round(1))
    put("vitals.height_cm", rng.normal(160, 6, n).clip(135, 190).round(0))
    put("vitals.systolic_bp_mmhg", rng.normal(126, 14, n).clip(85, 210).round(0))
    put("vitals.diastolic_bp_mmhg", rng.normal(78, 9, n).clip(45, 130).round(0))
    dip = _choice(rng, ["negative", "trace", "1+", "2+", "3+"], [0.85, 0.08, 0.04, 0.02, 0.01], n)
    put("urinalysis.protein_dipstick", dip)
    high = np.isin(dip, ["2+", "3+"])
    cols["urinalysis.protein_24h_g"] = np.where(high, rng.lognormal(np.log(0.8), 0.5, n).round(2), np.nan)
    for name, prevalence in _HISTORY_PREVALENCE.items():
        put(f"history.{name}", rng.random(n) < prevalence)
    rt = rng.random(n) < 0.5
    put("history.prior_radiotherapy", rt)
    cols["history.last_radiotherapy_end_date"] = _blank(_dates(consent, -rng.uniform(5, 2000, n)), ~rt)
    cols["attestations.INC-01"] = rng.random(n) < 0.995
    cols["attestations.EXC-06"] = rng.random(n) < 0.99
    return cols


def synthetic_records(n: int, rng: np.random.Generator, **kwargs: Any) -> list[dict[str, Any]]:
    """The patients of :func:`synthetic_cohort` as nested record dicts."""
    cols = synthetic_cohort(n, rng, **kwargs)
    keys = list(cols)
    return [unflatten_row({k: cols[k][i] for k in keys}) for i in range(n)]
