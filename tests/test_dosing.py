"""Dose engine against hand-computed label values (Herceptin, Perjeta, docetaxel labels; NCT07008976 for TQB2102)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from trialdesk.domain.dosing import (
    RoundingMode,
    RoundingSpec,
    TreatmentSpec,
    calculate_arm_doses,
    check_override,
    dosing_weight,
    round_dose,
)
from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.cli.dose import load_treatment_spec


@pytest.fixture(scope="module")
def spec() -> TreatmentSpec:
    return load_treatment_spec()


def _by_drug(result):
    return {d.drug: d for d in result.doses}


# ---------------------------------------------------------------- label values, 60 kg / 160 cm


def test_thp_cycle1_label_values(spec):
    # BSA Mosteller sqrt(160*60/3600) = 1.63299 -> 1.633 m²
    # docetaxel 75 mg/m² x 1.633 = 122.475 -> 122.5 mg; trastuzumab 8 mg/kg x 60 = 480 mg; pertuzumab 840 mg flat
    r = calculate_arm_doses(spec, "thp", cycle=1, weight_kg=60, height_cm=160)
    assert r.bsa_m2 == pytest.approx(1.633, abs=1e-9)
    d = _by_drug(r)
    assert d["docetaxel"].dose_mg == 122.5
    assert d["trastuzumab"].dose_mg == 480.0 and d["trastuzumab"].loading
    assert d["pertuzumab"].dose_mg == 840.0 and d["pertuzumab"].loading
    assert not d["docetaxel"].loading
    # label order: pertuzumab and trastuzumab before the taxane
    assert [x.drug for x in r.doses][-1] == "docetaxel"


def test_thp_cycle2_maintenance(spec):
    # trastuzumab 6 mg/kg x 60 = 360 mg; pertuzumab 420 mg; docetaxel unchanged 122.5 mg
    d = _by_drug(calculate_arm_doses(spec, "thp", cycle=2, weight_kg=60, height_cm=160, days_since_last_dose=21))
    assert (d["trastuzumab"].dose_mg, d["trastuzumab"].loading) == (360.0, False)
    assert (d["pertuzumab"].dose_mg, d["pertuzumab"].loading) == (420.0, False)
    assert d["docetaxel"].dose_mg == 122.5


def test_tqb2102_6_mg_per_kg(spec):
    # assumption from NCT07008976: 6 mg/kg q3w -> 6 x 60 = 360 mg, every cycle, no loading dose
    for cycle in (1, 2, 10):
        (d,) = calculate_arm_doses(spec, "tqb2102", cycle=cycle, weight_kg=60, height_cm=160).doses
        assert (d.drug, d.dose_mg, d.loading) == ("tqb2102", 360.0, False)


def test_every_dose_carries_formula_and_inputs(spec):
    d = _by_drug(calculate_arm_doses(spec, "thp", cycle=1, weight_kg=60, height_cm=160))
    doc = d["docetaxel"]
    assert "75 mg/m² × 1.633 m²" in doc.formula and "122.5 mg" in doc.formula
    assert doc.inputs["bsa_m2"] == 1.633 and doc.inputs["height_cm"] == 160 and doc.inputs["weight_kg"] == 60
    assert "Mosteller" in doc.inputs["bsa_formula"]
    assert "8 mg/kg × 60 kg" in d["trastuzumab"].formula and d["trastuzumab"].inputs["weight_kg"] == 60
    assert "840 mg flat" in d["pertuzumab"].formula


def test_infusion_and_observation_times(spec):
    d1 = _by_drug(calculate_arm_doses(spec, "thp", cycle=1, weight_kg=60, height_cm=160))
    d2 = _by_drug(calculate_arm_doses(spec, "thp", cycle=2, weight_kg=60, height_cm=160))
    # registry: docetaxel 60 min; pertuzumab loading 60 min, observe 30-60 min after each infusion
    assert (d1["docetaxel"].infusion_minutes.min, d1["docetaxel"].infusion_minutes.max) == (60, 60)
    assert (d1["pertuzumab"].infusion_minutes.min, d1["pertuzumab"].infusion_minutes.max) == (60, 60)
    assert (d2["pertuzumab"].infusion_minutes.min, d2["pertuzumab"].infusion_minutes.max) == (30, 60)
    assert (d2["pertuzumab"].observation_minutes.min, d2["pertuzumab"].observation_minutes.max) == (30, 60)
    # Herceptin label: loading over 90 min, then 30-90 min
    assert d1["trastuzumab"].infusion_minutes.min == 90
    assert (d2["trastuzumab"].infusion_minutes.min, d2["trastuzumab"].infusion_minutes.max) == (30, 90)


# ---------------------------------------------------------------- reload rules on both sides of the limit


@pytest.mark.parametrize(("gap", "reload", "mg"), [(21, False, 360.0), (28, False, 360.0), (29, True, 480.0)])
def test_trastuzumab_reload_more_than_one_week_late(spec, gap, reload, mg):
    # due at day 21; "missed by more than one week" = gap > 28 days -> 8 mg/kg x 60 = 480, else 6 x 60 = 360
    t = _by_drug(calculate_arm_doses(spec, "thp", cycle=3, weight_kg=60, height_cm=160, days_since_last_dose=gap))[
        "trastuzumab"
    ]
    assert (t.reload, t.loading, t.dose_mg) == (reload, reload, mg)


@pytest.mark.parametrize(("gap", "reload", "mg"), [(28, False, 420.0), (41, False, 420.0), (42, True, 840.0)])
def test_pertuzumab_reload_at_six_weeks_or_more(spec, gap, reload, mg):
    p = _by_drug(
        calculate_arm_doses(spec, "thp", cycle=3, weight_kg=60, height_cm=160, days_since_last_dose={"pertuzumab": gap})
    )["pertuzumab"]
    assert (p.reload, p.dose_mg) == (reload, mg)


def test_per_drug_gaps_are_independent(spec):
    # 35 days: trastuzumab reloads (> 28), pertuzumab does not (< 42)
    d = _by_drug(calculate_arm_doses(spec, "thp", cycle=4, weight_kg=60, height_cm=160, days_since_last_dose=35))
    assert d["trastuzumab"].dose_mg == 480.0 and d["pertuzumab"].dose_mg == 420.0


# ---------------------------------------------------------------- the ±10% weight rule


@pytest.mark.parametrize(
    ("current", "last", "used", "recalc"),
    [
        (66.0, 60.0, 66.0, True),  # +10.0% exactly -> recalculated
        (65.9, 60.0, 60.0, False),  # +9.83% -> last weight stands
        (54.0, 60.0, 54.0, True),  # -10.0% exactly -> recalculated
        (54.1, 60.0, 60.0, False),  # -9.83%
        (60.0, None, 60.0, True),  # first dose
    ],
)
def test_weight_rule(current, last, used, recalc):
    w = dosing_weight(current, last, 0.10)
    assert (w.weight_kg, w.recalculated) == (used, recalc)


def test_weight_rule_drives_mg_per_kg_and_bsa(spec):
    # 65 kg against 60 kg last used (+8.3%): doses stay on 60 kg -> trastuzumab 360 mg, docetaxel 122.5 mg
    d = _by_drug(calculate_arm_doses(spec, "thp", cycle=2, weight_kg=65, height_cm=160, last_used_weight_kg=60))
    assert d["trastuzumab"].dose_mg == 360.0 and d["docetaxel"].dose_mg == 122.5
    # 66 kg (+10%): trastuzumab 6 x 66 = 396 mg; BSA sqrt(160*66/3600) = sqrt(2.93333) = 1.71270 -> 1.713;
    # docetaxel 75 x 1.713 = 128.475 -> 128.5 mg
    r = calculate_arm_doses(spec, "thp", cycle=2, weight_kg=66, height_cm=160, last_used_weight_kg=60)
    d = _by_drug(r)
    assert r.bsa_m2 == 1.713
    assert d["trastuzumab"].dose_mg == 396.0 and d["docetaxel"].dose_mg == 128.5


# ---------------------------------------------------------------- reductions, limits, rounding


def test_reduction_levels(spec):
    # docetaxel label: 75 -> 60 mg/m²: 60 x 1.633 = 97.98 -> 98.0 mg; TQB2102 -1: 4.8 x 60 = 288, -2: 3.6 x 60 = 216
    d = _by_drug(calculate_arm_doses(spec, "thp", cycle=2, weight_kg=60, height_cm=160, dose_levels={"docetaxel": -1}))
    assert d["docetaxel"].dose_mg == 98.0 and d["docetaxel"].dose_level == -1
    assert (
        calculate_arm_doses(spec, "tqb2102", cycle=3, weight_kg=60, height_cm=160, dose_levels={"tqb2102": -1})
        .doses[0]
        .dose_mg
        == 288.0
    )
    assert (
        calculate_arm_doses(spec, "tqb2102", cycle=3, weight_kg=60, height_cm=160, dose_levels={"tqb2102": -2})
        .doses[0]
        .dose_mg
        == 216.0
    )
    for arm in spec.arms:
        for drug in arm.drugs:
            for level in drug.reduction_levels:
                assert level.reason.strip()


def test_no_reduction_for_trastuzumab_or_beyond_last_level(spec):
    with pytest.raises(InvalidInput, match="dose_level"):
        calculate_arm_doses(spec, "thp", cycle=2, weight_kg=60, height_cm=160, dose_levels={"trastuzumab": -1})
    with pytest.raises(InvalidInput, match="no dose level -2"):
        calculate_arm_doses(spec, "thp", cycle=2, weight_kg=60, height_cm=160, dose_levels={"docetaxel": -2})


def test_docetaxel_stops_after_six_cycles(spec):
    r6 = calculate_arm_doses(spec, "thp", cycle=6, weight_kg=60, height_cm=160)
    r7 = calculate_arm_doses(spec, "thp", cycle=7, weight_kg=60, height_cm=160)
    assert "docetaxel" in _by_drug(r6)
    assert set(_by_drug(r7)) == {"trastuzumab", "pertuzumab"}
    assert [o.drug for o in r7.omitted] == ["docetaxel"]


def _spec_with(**changes) -> TreatmentSpec:
    data = load_treatment_spec().model_dump(mode="json")
    data.update(changes)
    return TreatmentSpec.model_validate(data)


def test_cycle_beyond_arm_limit_is_an_error():
    data = load_treatment_spec().model_dump(mode="json")
    data["arms"][0]["max_cycles"] = 4
    spec4 = TreatmentSpec.model_validate(data)
    calculate_arm_doses(spec4, "tqb2102", cycle=4, weight_kg=60, height_cm=160)
    with pytest.raises(InvalidInput, match="cycle 5 is beyond the regimen's limit") as exc:
        calculate_arm_doses(spec4, "tqb2102", cycle=5, weight_kg=60, height_cm=160)
    assert exc.value.problems[0].path == "cycle"


def test_bsa_cap():
    # 100 kg, 190 cm: sqrt(19000/3600) = 2.2973 m² -> capped at 2.0; docetaxel 75 x 2.0 = 150 mg
    capped = _spec_with(bsa_cap_m2=2.0)
    r = calculate_arm_doses(capped, "thp", cycle=1, weight_kg=100, height_cm=190)
    assert r.bsa_m2 == 2.0 and _by_drug(r)["docetaxel"].dose_mg == 150.0
    assert "capped at 2 m²" in r.bsa_formula
    # uncapped (protocol default): 2.297 -> 75 x 2.297 = 172.275 -> 172.3
    r = calculate_arm_doses(load_treatment_spec(), "thp", cycle=1, weight_kg=100, height_cm=190)
    assert r.bsa_m2 == 2.297 and _by_drug(r)["docetaxel"].dose_mg == 172.3


def test_other_bsa_formula_on_request():
    # DuBois 60 kg / 160 cm = 1.62206 -> 1.622; docetaxel 75 x 1.622 = 121.65 -> 121.7 (half up)
    r = calculate_arm_doses(_spec_with(bsa_formula="dubois"), "thp", cycle=1, weight_kg=60, height_cm=160)
    assert r.bsa_m2 == 1.622 and _by_drug(r)["docetaxel"].dose_mg == 121.7


@pytest.mark.parametrize(
    ("mg", "increment", "mode", "expected"),
    [
        (122.45, 0.1, "half_up", 122.5),  # a decimal half rounds up, whatever its binary representation
        (122.45, 0.1, "half_even", 122.4),
        (122.49, 0.1, "down", 122.4),
        (396.0, 10, "half_up", 400.0),  # dose banding to 10 mg
        (395.0, 10, "half_even", 400.0),
        (385.0, 10, "half_even", 380.0),
    ],
)
def test_round_dose(mg, increment, mode, expected):
    assert round_dose(mg, RoundingSpec(dose_increment_mg=increment, mode=RoundingMode(mode))) == expected


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"weight_kg": 24.9}, "weight_kg"),
        ({"weight_kg": 300.1}, "weight_kg"),
        ({"height_cm": 99}, "height_cm"),
        ({"height_cm": 251}, "height_cm"),
        ({"cycle": 0}, "cycle"),
        ({"cycle": 2, "days_since_last_dose": 0}, "days_since_last_dose"),
        ({"days_since_last_dose": 21}, "days_since_last_dose"),  # cycle 1 has no previous dose
        ({"dose_date": dt.date(2025, 7, 1), "randomization_date": dt.date(2025, 7, 2)}, "dose_date"),
        ({"dose_levels": {"paclitaxel": -1}}, "dose_levels"),
    ],
)
def test_bad_input_names_the_field(spec, kwargs, field):
    args = {"cycle": 1, "weight_kg": 60, "height_cm": 160} | kwargs
    with pytest.raises(InvalidInput) as exc:
        calculate_arm_doses(spec, "thp", **args)
    assert exc.value.problems[0].path == field


def test_dose_on_randomization_day_is_fine(spec):
    calculate_arm_doses(
        spec,
        "thp",
        cycle=1,
        weight_kg=60,
        height_cm=160,
        dose_date=dt.date(2025, 7, 2),
        randomization_date=dt.date(2025, 7, 2),
    )


def test_arm_by_id_or_label(spec):
    assert spec.arm("THP").arm_id == "thp"
    assert spec.arm("docetaxel combined + trastuzumab +pertuzumab").arm_id == "thp"
    assert spec.arm("  TQB2102 for injection ").arm_id == "tqb2102"
    with pytest.raises(InvalidInput, match="unknown arm 'placebo'; known arms: tqb2102"):
        spec.arm("placebo")


# ---------------------------------------------------------------- override check


def test_override_within_tolerance_needs_no_reason():
    # 130 vs 122.5: |7.5| / 122.5 = 6.1% <= 10%
    c = check_override(122.5, 130.0, 0.10)
    assert not c.requires_reason and c.deviation_fraction == pytest.approx(7.5 / 122.5)
    # exactly 10%: 480 vs 528 -> 48/480 = 10% -> not beyond tolerance
    assert not check_override(480.0, 528.0, 0.10).requires_reason


def test_override_beyond_tolerance_needs_a_reason():
    # 480 vs 529: 49/480 = 10.2% > 10%
    with pytest.raises(InvalidInput) as exc:
        check_override(480.0, 529.0, 0.10)
    assert exc.value.problems[0].path == "override_reason"
    with pytest.raises(InvalidInput):
        check_override(480.0, 360.0, 0.10, reason="   ")
    c = check_override(480.0, 360.0, 0.10, reason="investigator: maintenance dose intended, gap 28 days")
    assert c.requires_reason and c.reason.startswith("investigator")


# ---------------------------------------------------------------- the protocol section itself


def test_spec_rejects_inconsistent_regimens():
    data = load_treatment_spec().model_dump(mode="json")
    data["arms"][1]["drugs"][2]["reduction_levels"][0]["dose"] = 80  # a "reduction" above 75 mg/m²
    with pytest.raises(ValidationError, match="lower than the one above"):
        TreatmentSpec.model_validate(data)
    data = load_treatment_spec().model_dump(mode="json")
    data["unknown_setting"] = 1
    with pytest.raises(ValidationError, match="unknown_setting"):
        TreatmentSpec.model_validate(data)
    data = load_treatment_spec().model_dump(mode="json")
    data["assumptions"]["no_such_field"] = {"source": "x"}
    with pytest.raises(ValidationError, match="no_such_field"):
        TreatmentSpec.model_validate(data)


def test_every_unstated_value_has_an_assumption(spec):
    documented = set(spec.assumptions)
    for key in (
        "bsa_formula",
        "bsa_cap_m2",
        "weight_change_threshold",
        "override_tolerance",
        "arms.tqb2102.drugs.tqb2102.maintenance_dose",
        "arms.tqb2102.drugs.tqb2102.reduction_levels",
        "arms.thp.drugs.trastuzumab.reload",
        "arms.thp.drugs.pertuzumab.reload",
        "arms.thp.drugs.docetaxel.reduction_levels",
    ):
        assert key in documented, key
    assert "NCT07008976" in spec.assumptions["arms.tqb2102.drugs.tqb2102.maintenance_dose"].source
