"""Every eligibility criterion on both sides of its threshold (thresholds hand-computed in the comments)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from trialdesk.adapters.protocol_files import load_default_protocol, packaged_protocol_path
from trialdesk.domain.eligibility import (
    EligibilitySpec,
    coerce_criteria,
    criteria_from_registry_text,
    evaluate,
    evaluate_named,
)
from trialdesk.domain.screening import ScreeningRecord

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screening"


@pytest.fixture(scope="module")
def protocol():
    return load_default_protocol()


@pytest.fixture(scope="module")
def spec(protocol):
    return protocol.operations.eligibility


@pytest.fixture()
def base():
    return json.loads((DOCS / "eligible.json").read_text())


def status(spec, rec, cid):
    return evaluate(spec, rec).by_id()[cid].status


def test_examples_give_their_verdicts(spec, protocol):
    for name in ("eligible", "ineligible", "incomplete"):
        rec = json.loads((DOCS / f"{name}.json").read_text())
        assert evaluate(spec, rec, protocol.registry.eligibility).verdict == name


# ---------------------------------------------------------------- INC-02: age at consent, 18 and 75 inclusive
@pytest.mark.parametrize(
    "birth,expected",
    [
        ("2008-01-10", "met"),  # 18th birthday on the consent date 2026-01-10
        ("2008-01-11", "not_met"),  # 17 years 364 days
        ("1950-01-11", "met"),  # 75 years 364 days: still 75
        ("1950-01-10", "not_met"),  # 76th birthday
    ],
)
def test_age_boundaries(spec, base, birth, expected):
    base["birth_date"] = birth
    base["ecog"] = 0
    assert status(spec, base, "INC-02") == expected


def test_age_reason_quotes_values(spec, base):
    base["birth_date"] = "1950-01-10"
    reason = evaluate(spec, base).by_id()["INC-02"].reason
    assert "age 76 at consent 2026-01-10 > 75" in reason


@pytest.mark.parametrize("ecog,expected", [(0, "met"), (1, "met"), (2, "not_met")])
def test_ecog(spec, base, ecog, expected):
    base["ecog"] = ecog
    assert status(spec, base, "INC-02") == expected


# ---------------------------------------------------------------- INC-03 HER2 (ASCO/CAP), invasive, confirmed
@pytest.mark.parametrize(
    "her2,expected",
    [
        ({"ihc": "3+"}, "met"),
        ({"ihc": "2+", "ish": "amplified"}, "met"),
        ({"ihc": "0", "ish": "amplified"}, "met"),
        ({"ihc": "2+", "ish": "not_amplified"}, "not_met"),
        ({"ihc": "1+"}, "not_met"),
        ({"ihc": "2+"}, "missing"),  # reflex ISH not done
        ({}, "missing"),
    ],
)
def test_her2(spec, base, her2, expected):
    base["her2"] = her2
    assert status(spec, base, "INC-03") == expected


def test_pathology_confirmation(spec, base):
    base["disease"]["confirmation"] = "cytological"
    assert status(spec, base, "INC-03") == "met"
    base["disease"]["confirmation"] = "not_confirmed"
    assert status(spec, base, "INC-03") == "not_met"


@pytest.mark.parametrize(
    "er,pr,expected,hr",
    [
        ("negative", "negative", "met", "negative"),
        ("positive", None, "met", "positive"),
        ("negative", "not_determined", "not_met", "undetermined"),
        ("negative", None, "missing", None),
    ],
)
def test_hr_status(spec, base, er, pr, expected, hr):
    base["er_status"], base["pr_status"] = er, pr
    assert status(spec, base, "INC-04") == expected
    assert evaluate_named(spec, base, "hr_status") == hr


# ---------------------------------------------------------------- INC-05 metastatic-stage therapy
def _met_therapy(cls="endocrine", agent="fulvestrant"):
    return {
        "drug_class": cls,
        "agent": agent,
        "setting": "metastatic",
        "start_date": "2025-11-25",
        "end_date": "2025-12-20",
    }


def test_metastatic_lines(spec, base):
    base["prior_therapies"].append(_met_therapy())
    assert status(spec, base, "INC-05") == "met"  # one endocrine line is allowed
    base["prior_therapies"].append(_met_therapy(agent="exemestane"))
    assert status(spec, base, "INC-05") == "not_met"  # two lines
    base["prior_therapies"] = base["prior_therapies"][:-2] + [_met_therapy("chemotherapy", "capecitabine")]
    assert status(spec, base, "INC-05") == "not_met"


# ---------------------------------------------------------------- INC-06 disease-free interval > 12 months
@pytest.mark.parametrize(
    "trastuzumab_end,expected",
    [
        ("2024-11-18", "not_met"),  # recurrence 2025-11-18: exactly 12 calendar months
        ("2024-11-17", "met"),  # 12 months and 1 day
    ],
)
def test_dfi(spec, base, trastuzumab_end, expected):
    base["prior_therapies"][2]["end_date"] = trastuzumab_end
    assert status(spec, base, "INC-06") == expected


def test_dfi_ignores_endocrine_and_counts_ongoing_as_zero(spec, base):
    # letrozole (endocrine) ends after the recurrence in the base record: DFI still met
    assert status(spec, base, "INC-06") == "met"
    base["prior_therapies"][2]["end_date"] = None
    base["prior_therapies"][2]["ongoing"] = True
    assert status(spec, base, "INC-06") == "not_met"
    base["prior_therapies"][2]["ongoing"] = False
    assert status(spec, base, "INC-06") == "missing"  # end date unknown


def test_dfi_not_applicable_de_novo(spec, base):
    base["prior_therapies"] = []
    base["disease"]["presentation"] = "de_novo"
    assert status(spec, base, "INC-06") == "met"
    assert evaluate_named(spec, base, "disease_setting") == "de_novo"


# ---------------------------------------------------------------- INC-07 / EXC-02 RECIST 1.1 measurability
@pytest.mark.parametrize(
    "lesion,expected",
    [
        ({"organ": "liver", "method": "ct", "longest_diameter_mm": 10}, "met"),
        ({"organ": "liver", "method": "ct", "longest_diameter_mm": 9}, "not_met"),
        ({"organ": "lymph_node", "method": "ct", "short_axis_mm": 15, "longest_diameter_mm": 20}, "met"),
        ({"organ": "lymph_node", "method": "ct", "short_axis_mm": 14, "longest_diameter_mm": 30}, "not_met"),
        ({"organ": "lung", "method": "x_ray", "longest_diameter_mm": 20}, "met"),
        ({"organ": "lung", "method": "x_ray", "longest_diameter_mm": 19}, "not_met"),
        ({"organ": "bone", "method": "ct", "longest_diameter_mm": 30}, "not_met"),
        ({"organ": "liver", "method": "ct", "longest_diameter_mm": 30, "previously_irradiated": True}, "not_met"),
        ({"organ": "liver", "method": "ultrasound", "longest_diameter_mm": 30}, "not_met"),
    ],
)
def test_measurable_lesion(spec, base, lesion, expected):
    base["lesions"] = [lesion]
    assert status(spec, base, "INC-07") == expected


def test_lesions_not_collected_is_missing(spec, base):
    del base["lesions"]
    res = evaluate(spec, base)
    assert res.by_id()["INC-07"].status == "missing"
    assert res.verdict == "incomplete"


def test_only_skin_and_brain_targets(spec, base):
    base["lesions"] = [
        {"organ": "skin", "method": "caliper", "longest_diameter_mm": 15},
        {"organ": "brain", "method": "mri", "longest_diameter_mm": 12},
    ]
    base["cns"]["brain_metastases"] = "treated_stable"
    assert status(spec, base, "EXC-02") == "not_met"
    assert status(spec, base, "INC-07") == "met"
    base["lesions"].append({"organ": "lung", "method": "ct", "longest_diameter_mm": 11})
    assert status(spec, base, "EXC-02") == "met"


# ---------------------------------------------------------------- INC-08 organ function
def _lab(base, name, value, unit, uln=None):
    base["labs"][name] = {"value": value, "unit": unit, **({"uln": uln} if uln else {})}


@pytest.mark.parametrize(
    "name,ok,bad",
    [
        ("anc", (1.5, "10^9/L"), (1.49, "10^9/L")),
        ("anc", (1500, "/uL"), (1490, "/uL")),
        ("platelets", (100, "10^9/L"), (99, "10^3/uL")),
        ("hemoglobin", (9.0, "g/dL"), (89, "g/L")),  # 90 g/L
        ("total_bilirubin", (1.8, "mg/dL", 1.2), (1.81, "mg/dL", 1.2)),  # 1.5 x ULN 1.2 = 1.8 mg/dL
        ("total_bilirubin", (31.5, "umol/L", 21), (31.6, "umol/L", 21)),  # 1.5 x 21 = 31.5
        ("alt", (200, "U/L", 40), (201, "U/L", 40)),  # liver metastases: 5 x ULN 40 = 200
        ("ast", (175, "IU/L", 35), (176, "IU/L", 35)),  # 5 x 35 = 175
    ],
)
def test_organ_function_labs(spec, base, name, ok, bad):
    _lab(base, name, *ok)
    assert status(spec, base, "INC-08") == "met"
    _lab(base, name, *bad)
    assert status(spec, base, "INC-08") == "not_met"


def test_aminotransferases_without_liver_metastases(spec, base):
    base["lesions"] = [{"organ": "lung", "method": "ct", "longest_diameter_mm": 22}]
    _lab(base, "alt", 120, "U/L", 40)  # 3 x ULN 40 = 120
    assert status(spec, base, "INC-08") == "met"
    _lab(base, "alt", 121, "U/L", 40)
    assert status(spec, base, "INC-08") == "not_met"


def test_creatinine_clearance_cockcroft_gault(spec, base):
    # female, 54 years at consent, 58 kg: CrCl = (140 - 54) x 58 x 0.85 / (72 x Scr) = 4239.8 / (72 x Scr)
    # Scr 1.96 mg/dL -> 30.04 mL/min (met); 1.97 mg/dL -> 29.89 mL/min (not met)
    _lab(base, "creatinine", 1.96, "mg/dL")
    assert evaluate_named(spec, base, "creatinine_clearance_ml_min") == pytest.approx(30.04, abs=0.01)
    assert status(spec, base, "INC-08") == "met"
    _lab(base, "creatinine", 1.97, "mg/dL")
    assert status(spec, base, "INC-08") == "not_met"
    # same creatinine in umol/L: 1.97 x 88.42 = 174.2 umol/L; a man gets no 0.85 factor: 4988/(72 x 1.97) = 35.2
    _lab(base, "creatinine", 174.2, "umol/L")
    base["sex"] = "male"
    assert evaluate_named(spec, base, "creatinine_clearance_ml_min") == pytest.approx(35.17, abs=0.02)


def test_lvef(spec, base):
    base["lvef_percent"] = 50
    assert status(spec, base, "INC-08") == "met"
    base["lvef_percent"] = 49
    assert status(spec, base, "INC-08") == "not_met"


def test_missing_lab_is_incomplete_not_a_guess(spec, base):
    del base["labs"]["platelets"]
    res = evaluate(spec, base)
    assert res.by_id()["INC-08"].status == "missing"
    assert "labs.platelets.value missing" in res.by_id()["INC-08"].reason
    assert res.verdict == "incomplete"
    base["labs"]["anc"]["value"] = 1.0  # a failing value decides even with another missing
    assert evaluate(spec, base).verdict == "ineligible"


# ---------------------------------------------------------------- exclusions
def test_cns(spec, base):
    base["cns"] = {"spinal_cord_compression": False, "brain_metastases": "treated_stable"}
    assert status(spec, base, "EXC-01") == "met"
    base["cns"]["brain_metastases"] = "active"
    assert status(spec, base, "EXC-01") == "not_met"
    base["cns"] = {"spinal_cord_compression": True, "brain_metastases": "none"}
    assert status(spec, base, "EXC-01") == "not_met"


HISTORY = {
    "EXC-03.01": "other_malignancy_5y",
    "EXC-03.02": "unresolved_toxicity_above_grade1",
    "EXC-03.03": "major_surgery_4w",
    "EXC-03.04": "venous_access_disease",
    "EXC-03.05": "bleeding_disorder",
    "EXC-03.06": "thrombosis_6m",
    "EXC-03.08": "significant_cardiovascular_disease",
    "EXC-03.09": "uncontrolled_infection_14d",
    "EXC-03.10": "ild_pneumonitis_steroids",
    "EXC-03.11": "pulmonary_dysfunction_3m",
    "EXC-03.12": "active_hepatitis_uncontrolled",
    "EXC-03.13": "active_syphilis_needing_treatment",
    "EXC-03.14": "transplant",
    "EXC-03.15": "immunosuppression_required",
    "EXC-03.16": "immunodeficiency",
    "EXC-03.18": "dialysis",
    "EXC-03.19": "uncontrolled_diabetes",
    "EXC-03.20": "epilepsy_requiring_treatment",
    "EXC-03.21": "substance_abuse_or_mental_disorder",
    "EXC-04.01": "uncontrolled_effusion_or_lymphangitis",
    "EXC-04.04": "antitumor_tcm_2w",
    "EXC-05.02": "study_drug_allergy",
    "EXC-05.03": "mab_severe_hypersensitivity",
    "EXC-05.04": "other_trial_4w",
}


@pytest.mark.parametrize("cid,item", sorted(HISTORY.items()))
def test_history_items(spec, base, cid, item):
    assert status(spec, base, cid) == "met"
    base["history"][item] = True
    res = evaluate(spec, base).by_id()
    assert res[cid].status == "not_met"
    assert res[cid.split(".")[0]].status == "not_met"  # heading derived from its children
    assert cid in res[cid.split(".")[0]].reason
    base["history"][item] = None
    assert status(spec, base, cid) == "missing"


@pytest.mark.parametrize(
    "sbp,dbp,expected", [(149, 99, "met"), (150, 80, "not_met"), (120, 100, "not_met"), (None, 80, "missing")]
)
def test_blood_pressure(spec, base, sbp, dbp, expected):
    base["vitals"]["systolic_bp_mmhg"], base["vitals"]["diastolic_bp_mmhg"] = sbp, dbp
    assert status(spec, base, "EXC-03.07") == expected


@pytest.mark.parametrize(
    "dip,g24,expected",
    [
        ("2+", 1.0, "met"),
        ("2+", 1.01, "not_met"),
        ("1+", 3.0, "met"),
        ("3+", None, "missing"),
        ("negative", None, "met"),
    ],
)
def test_urine_protein(spec, base, dip, g24, expected):
    base["urinalysis"] = {"protein_dipstick": dip, "protein_24h_g": g24}
    assert status(spec, base, "EXC-03.17") == expected


@pytest.mark.parametrize(
    "agent,dose,expected",
    [
        ("epirubicin", 720, "met"),  # x 0.5 = 360 doxorubicin-equivalent: at the limit
        ("epirubicin", 722, "not_met"),  # 361
        ("doxorubicin", 361, "not_met"),
        ("mitoxantrone", 100, "missing"),  # no equivalence in the table: asked, not guessed
        ("epirubicin", None, "missing"),
    ],
)
def test_anthracycline_limit(spec, base, agent, dose, expected):
    base["prior_therapies"][0].update(agent=agent, cumulative_dose_mg_m2=dose)
    assert status(spec, base, "EXC-04.02") == expected


def test_washouts_before_first_dose(spec, base):
    # planned first dose 2026-02-02
    base["history"]["last_radiotherapy_end_date"] = "2026-01-12"  # 21 days
    assert status(spec, base, "EXC-04.03") == "met"
    base["history"]["last_radiotherapy_end_date"] = "2026-01-13"  # 20 days
    assert status(spec, base, "EXC-04.03") == "not_met"
    base["history"]["last_radiotherapy_end_date"] = "2019-10-30"
    base["prior_therapies"][3]["end_date"] = "2026-01-19"  # endocrine 14 days before
    assert status(spec, base, "EXC-04.03") == "met"
    base["prior_therapies"][3]["end_date"] = "2026-01-20"  # 13 days
    assert status(spec, base, "EXC-04.03") == "not_met"
    base["prior_therapies"][3]["end_date"] = None
    base["prior_therapies"][3]["ongoing"] = True
    assert status(spec, base, "EXC-04.03") == "not_met"


def test_prior_topo1_adc(spec, base):
    base["prior_therapies"].append(
        {
            "drug_class": "topo1_adc",
            "agent": "trastuzumab deruxtecan",
            "setting": "adjuvant",
            "start_date": "2019-09-01",
            "end_date": "2020-01-01",
        }
    )
    assert status(spec, base, "EXC-05.01") == "not_met"


@pytest.mark.parametrize("cid", ["INC-01", "EXC-06"])
def test_attestations(spec, base, cid):
    assert status(spec, base, cid) == "attested"
    base["attestations"][cid] = False
    assert status(spec, base, cid) == "not_met"
    del base["attestations"][cid]
    res = evaluate(spec, base)
    assert res.by_id()[cid].status == "missing" and res.verdict == "incomplete"


def test_stratification_quantities(spec, base):
    assert evaluate_named(spec, base, "hr_status") == "positive"
    assert evaluate_named(spec, base, "disease_setting") == "recurrent"
    assert evaluate_named(spec, base, "visceral_metastases") is True
    base["lesions"] = [{"organ": "lymph_node", "method": "ct", "short_axis_mm": 20}]
    assert evaluate_named(spec, base, "visceral_metastases") is False


# ---------------------------------------------------------------- malformed input, protocol loading
def test_malformed_record_names_the_field(spec, base):
    base["ecog"] = "one"
    with pytest.raises(ValidationError, match="ecog"):
        evaluate(spec, base)
    bad = json.loads((DOCS / "eligible.json").read_text())
    bad["labs"]["anc"]["unit"] = "mg/dL"
    with pytest.raises(ValidationError, match=r"labs\.anc\.unit"):
        ScreeningRecord.model_validate(bad)
    bad = json.loads((DOCS / "eligible.json").read_text())
    bad["favourite_colour"] = "blue"
    with pytest.raises(ValidationError, match="favourite_colour"):
        ScreeningRecord.model_validate(bad)


@pytest.fixture(scope="module")
def raw_section():
    return yaml.safe_load(packaged_protocol_path().read_text())["operations"]["eligibility"]


@pytest.mark.parametrize(
    "patch,match",
    [
        (lambda d: d["criteria"]["INC-02"].update(rul="x"), r"INC-02[\s\S]*rul"),
        (lambda d: d["criteria"]["INC-02"].update(rule="ecog <= 'one'"), r"criteria\.INC-02\.rule: cannot compare"),
        (
            lambda d: d["criteria"]["INC-07"].update(rule="measurable_lesions >= 1"),
            r"criteria\.INC-07\.rule: unknown name",
        ),
        (lambda d: d["criteria"]["EXC-01"].update(rule="cns.brain_metastases == 'actve'"), r"EXC-01[\s\S]*'actve'"),
        (lambda d: d["criteria"]["INC-04"].update(rule="hr_status == 'positive' and"), r"criteria\.INC-04\.rule"),
        (lambda d: d["criteria"]["INC-05"].update(rule="__import__('os')"), r"INC-05"),
        (lambda d: d["thresholds"].update(new_limit=3), r"new_limit"),  # undocumented threshold
        (lambda d: d["criteria"]["INC-03"].update(attestation="x"), r"INC-03[\s\S]*exactly one"),
    ],
)
def test_protocol_loading_rejects_errors_naming_the_criterion(raw_section, patch, match):
    data = copy.deepcopy(raw_section)
    patch(data)
    with pytest.raises(ValidationError, match=match):
        EligibilitySpec.model_validate(data)


def test_every_registry_criterion_has_a_rule(spec, protocol, shared_dir):
    seed = (shared_dir / "seed" / "000_c8558dee60771390.txt").read_text()
    from_record = criteria_from_registry_text(seed)
    assert [c.id for c in from_record] == [c.id for c in coerce_criteria(protocol.registry.eligibility)]
    assert [c.text for c in from_record] == [c.text for c in coerce_criteria(protocol.registry.eligibility)]
    assert {c.id for c in from_record} == set(spec.criteria)
    assert len(from_record) == 8 + 6 + 21 + 4 + 4
