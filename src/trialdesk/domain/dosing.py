"""The dose engine: regimens declared in the protocol, doses computed with their formula and inputs.

The protocol section ``operations.treatment`` is a :class:`TreatmentSpec`: per arm, the drugs with their dose basis
(mg/m², mg/kg or flat), loading and maintenance doses, cycle limit, infusion and observation times, re-loading rule
after a late dose and dose-reduction levels; for the whole trial, the BSA formula and optional cap, the rounding
rule, the weight-change threshold that triggers a recalculation and the tolerance beyond which a prescribed dose
needs an override reason.

Rules (each has one home here):

- **Loading**: a drug with a loading dose gets it at cycle 1, and again when the gap since its last dose is at
  least ``reload.gap_days_at_least`` days (trastuzumab: more than one week late on a q3w schedule, i.e. a gap
  > 21 + 7 = 28 days, so ``gap_days_at_least: 29``; pertuzumab: 6 weeks or more, ``gap_days_at_least: 42``).
- **Weight**: the weight last used stands unless the current weight differs from it by the threshold (10%) or more;
  then the current weight is used (:func:`dosing_weight`). The same weight feeds the BSA and mg/kg doses.
- **BSA**: :func:`trialdesk.domain.bsa.body_surface_area` with the protocol's formula, capped at ``bsa_cap_m2`` when
  set, then rounded to ``rounding.bsa_decimals``.
- **Rounding**: each dose is rounded once, at the end, to ``rounding.dose_increment_mg``.
- **Reductions**: dose level 0 is the protocol dose, -1, -2, ... are the declared reduction levels. Loading doses
  are never reduced.
- **Override**: :func:`check_override` says whether a prescribed dose is far enough from the calculated one to
  need a reason.

The section's models are in :mod:`trialdesk.domain.dosing_spec` (re-exported here); this module holds the results
and the rules.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import Field

from trialdesk.domain.bsa import body_surface_area, bsa_formula_text
from trialdesk.domain.dosing_spec import (
    DECIMAL_ROUNDING,
    ArmRegimen,
    DoseBasis,
    DrugRegimen,
    FrozenSpec,
    Limits,
    MinuteRange,
    ReductionLevel,
    ReloadRule,
    RoundingMode,
    RoundingSpec,
    TreatmentSpec,
)
from trialdesk.domain.errors import InvalidInput

__all__ = [
    "ArmDoses",
    "ArmRegimen",
    "DoseBasis",
    "DoseCalculation",
    "DrugRegimen",
    "Limits",
    "MinuteRange",
    "OmittedDrug",
    "OverrideCheck",
    "ReductionLevel",
    "ReloadRule",
    "RoundingMode",
    "RoundingSpec",
    "TreatmentSpec",
    "WeightDecision",
    "calculate_arm_doses",
    "calculate_drug_dose",
    "check_override",
    "dosing_weight",
    "loading_decision",
    "round_dose",
]

# --------------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------------


class WeightDecision(FrozenSpec):
    """Which weight a dose uses, and why."""

    weight_kg: float
    recalculated: bool
    change_fraction: float | None = Field(description="|current - last used| / last used; None at first dose.")
    reason: str


class DoseCalculation(FrozenSpec):
    """One drug's dose, with the formula and inputs that produced it."""

    drug: str
    dose_mg: float
    unrounded_mg: float
    basis: DoseBasis
    dose_per_unit: float = Field(description="The protocol dose in its basis (mg/m², mg/kg or mg).")
    loading: bool
    reload: bool
    dose_level: int
    formula: str
    inputs: dict[str, Any]
    infusion_minutes: MinuteRange
    observation_minutes: MinuteRange | None


class OmittedDrug(FrozenSpec):
    drug: str
    reason: str


class ArmDoses(FrozenSpec):
    """All doses of one arm at one cycle."""

    arm_id: str
    cycle: int
    bsa_m2: float
    bsa_formula: str
    weight: WeightDecision
    doses: list[DoseCalculation]
    omitted: list[OmittedDrug]

    def as_json(self) -> dict[str, Any]:
        """The ``trialdesk dose --json`` payload."""
        return {
            "arm": self.arm_id,
            "cycle": self.cycle,
            "bsa_m2": self.bsa_m2,
            "bsa_formula": self.bsa_formula,
            "weight_kg_used": self.weight.weight_kg,
            "weight_rule": self.weight.reason,
            "doses": [
                {
                    "drug": d.drug,
                    "dose_mg": d.dose_mg,
                    "basis": d.basis.value,
                    "loading": d.loading,
                    "reload": d.reload,
                    "dose_level": d.dose_level,
                    "formula": d.formula,
                    "inputs": d.inputs,
                    "infusion_minutes": d.infusion_minutes.model_dump(),
                    "observation_minutes": d.observation_minutes.model_dump() if d.observation_minutes else None,
                }
                for d in self.doses
            ],
            "omitted": [o.model_dump() for o in self.omitted],
        }


class OverrideCheck(FrozenSpec):
    calculated_mg: float
    prescribed_mg: float
    deviation_fraction: float
    tolerance: float
    requires_reason: bool
    reason: str | None


# --------------------------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    """Shortest readable number: 480.0 -> '480', 1.633 -> '1.633'."""
    return f"{x:.6g}" if not float(x).is_integer() else str(int(x))


def round_dose(mg: float, rounding: RoundingSpec) -> float:
    """Round a dose to the protocol increment.

    Computed in decimal arithmetic so that a half (122.45 at 0.1 mg) rounds by the declared mode rather than by
    the binary representation of the float; the float is first cut to 9 decimals to drop representation noise.
    """
    value = Decimal(repr(float(mg))).quantize(Decimal("1e-9"), rounding=ROUND_HALF_EVEN)
    step = Decimal(repr(float(rounding.dose_increment_mg)))
    units = (value / step).quantize(Decimal(1), rounding=DECIMAL_ROUNDING[rounding.mode])
    return float(units * step)


def _check_range(name: str, value: float, limits: Limits, unit: str) -> None:
    if not math.isfinite(value):
        raise InvalidInput(f"must be a finite number, got {value!r}", field=name)
    if value < limits.min:
        raise InvalidInput(
            f"{_fmt(value)} {unit} is below the plausible minimum of {_fmt(limits.min)} {unit}", field=name
        )
    if value > limits.max:
        raise InvalidInput(
            f"{_fmt(value)} {unit} is above the plausible maximum of {_fmt(limits.max)} {unit}", field=name
        )


def dosing_weight(current_kg: float, last_used_kg: float | None, threshold: float) -> WeightDecision:
    """Choose the weight a dose uses: the ±threshold rule.

    Parameters
    ----------
    current_kg : float
        Weight measured for this cycle.
    last_used_kg : float or None
        Weight the previous dose was calculated with; None at the first dose.
    threshold : float
        Fraction (0.10 for 10%). A change of ``threshold`` or more of ``last_used_kg`` (either direction) means
        the dose is recalculated with ``current_kg``; a smaller change keeps ``last_used_kg``.
    """
    if last_used_kg is None:
        return WeightDecision(
            weight_kg=current_kg,
            recalculated=True,
            change_fraction=None,
            reason="no previous dosing weight: current weight used",
        )
    if not (last_used_kg > 0 and math.isfinite(last_used_kg)):
        raise InvalidInput(f"must be a positive number, got {last_used_kg!r}", field="last_used_weight_kg")
    change = abs(current_kg - last_used_kg) / last_used_kg
    # compare in decimal so that exactly 10% (60 -> 66 kg) counts as 10%
    reaches = Decimal(repr(abs(current_kg - last_used_kg))) >= Decimal(repr(threshold)) * Decimal(repr(last_used_kg))
    pct = f"{change * 100:.1f}%"
    if reaches:
        return WeightDecision(
            weight_kg=current_kg,
            recalculated=True,
            change_fraction=change,
            reason=f"weight changed {pct} from {_fmt(last_used_kg)} kg (>= {threshold:.0%}): "
            f"recalculated with {_fmt(current_kg)} kg",
        )
    return WeightDecision(
        weight_kg=last_used_kg,
        recalculated=False,
        change_fraction=change,
        reason=f"weight changed {pct} from {_fmt(last_used_kg)} kg (< {threshold:.0%}): last weight used stands",
    )


def loading_decision(drug: DrugRegimen, cycle: int, days_since_last_dose: int | None) -> tuple[bool, bool]:
    """Return ``(loading, reload)`` for ``drug`` at ``cycle``.

    ``loading`` is True at cycle 1 for a drug with a loading dose, and at later cycles when the reload rule fires
    (then ``reload`` is True too). ``days_since_last_dose`` is the gap since this drug's previous dose; None at a
    later cycle means "on schedule".
    """
    if drug.loading_dose is None:
        return False, False
    if cycle == 1:
        return True, False
    if (
        drug.reload is not None
        and days_since_last_dose is not None
        and days_since_last_dose >= drug.reload.gap_days_at_least
    ):
        return True, True
    return False, False


def calculate_drug_dose(
    spec: TreatmentSpec,
    drug: DrugRegimen,
    *,
    cycle: int,
    weight_kg: float,
    bsa_m2: float,
    days_since_last_dose: int | None = None,
    dose_level: int = 0,
    height_cm: float | None = None,
    bsa_text: str | None = None,
) -> DoseCalculation:
    """One drug's dose at one cycle.

    ``weight_kg`` is the weight already chosen by :func:`dosing_weight`; ``bsa_m2`` the BSA as used (capped and
    rounded); ``height_cm`` and ``bsa_text`` (how the BSA was obtained) are recorded with BSA-based doses.
    Raises :class:`~trialdesk.domain.errors.InvalidInput` for a cycle beyond the drug's limit or an
    undeclared dose level.
    """
    if drug.max_cycles is not None and cycle > drug.max_cycles:
        raise InvalidInput(
            f"{drug.drug} is given for at most {drug.max_cycles} cycles; cycle {cycle} is beyond the regimen's limit",
            field="cycle",
        )
    loading, reload = loading_decision(drug, cycle, days_since_last_dose)
    if loading and dose_level != 0:
        raise InvalidInput(
            f"{drug.drug}: a loading dose is never reduced (dose level {dose_level} requested)", field="dose_level"
        )
    if loading:
        per_unit = float(drug.loading_dose)  # type: ignore[arg-type]
        what = "re-loading dose" if reload else "loading dose"
    elif dose_level == 0:
        per_unit = float(drug.maintenance_dose)
        what = "maintenance dose" if drug.loading_dose is not None else "dose"
    else:
        per_unit = float(drug.reduction(dose_level).dose)
        what = f"dose level {dose_level}"
    if reload:
        assert drug.reload is not None
        what += f" ({days_since_last_dose} days since last dose >= {drug.reload.gap_days_at_least})"

    unit = drug.basis.unit
    inputs: dict[str, Any] = {"cycle": cycle, f"dose_{drug.basis.value}": per_unit, "dose_level": dose_level}
    if days_since_last_dose is not None:
        inputs["days_since_last_dose"] = days_since_last_dose
    if reload:
        inputs["reload_rule"] = drug.reload.label_text  # type: ignore[union-attr]
    if drug.basis is DoseBasis.MG_PER_M2:
        raw = per_unit * bsa_m2
        inputs.update(bsa_m2=bsa_m2, weight_kg=weight_kg, height_cm=height_cm, bsa_formula=bsa_text)
        expr = f"{_fmt(per_unit)} {unit} × {_fmt(bsa_m2)} m²"
    elif drug.basis is DoseBasis.MG_PER_KG:
        raw = per_unit * weight_kg
        inputs["weight_kg"] = weight_kg
        expr = f"{_fmt(per_unit)} {unit} × {_fmt(weight_kg)} kg"
    else:
        raw = per_unit
        expr = f"{_fmt(per_unit)} mg flat"
    dose = round_dose(raw, spec.rounding)
    rnd = spec.rounding
    formula = (
        f"{drug.name} {what}: {expr} = {_fmt(raw)} mg -> {_fmt(dose)} mg "
        f"(rounded to {_fmt(rnd.dose_increment_mg)} mg, {rnd.mode.value})"
    )
    infusion = drug.loading_infusion_minutes if (loading and drug.loading_infusion_minutes) else drug.infusion_minutes
    return DoseCalculation(
        drug=drug.drug,
        dose_mg=dose,
        unrounded_mg=raw,
        basis=drug.basis,
        dose_per_unit=per_unit,
        loading=loading,
        reload=reload,
        dose_level=dose_level,
        formula=formula,
        inputs=inputs,
        infusion_minutes=infusion,
        observation_minutes=drug.observation_minutes,
    )


def _bsa(spec: TreatmentSpec, weight_kg: float, height_cm: float) -> tuple[float, str]:
    raw = body_surface_area(weight_kg, height_cm, spec.bsa_formula)
    text = f"{bsa_formula_text(spec.bsa_formula)} = {raw:.6f} m²"
    value = raw
    if spec.bsa_cap_m2 is not None and raw > spec.bsa_cap_m2:
        value = float(spec.bsa_cap_m2)
        text += f", capped at {_fmt(value)} m²"
    if spec.rounding.bsa_decimals is not None:
        value = round_dose(
            value, RoundingSpec(dose_increment_mg=10.0**-spec.rounding.bsa_decimals, mode=RoundingMode.HALF_UP)
        )
        text += f", rounded to {spec.rounding.bsa_decimals} decimals = {_fmt(value)} m²"
    return value, text


def calculate_arm_doses(
    spec: TreatmentSpec,
    arm: str | ArmRegimen,
    *,
    cycle: int,
    weight_kg: float,
    height_cm: float,
    days_since_last_dose: int | Mapping[str, int] | None = None,
    last_used_weight_kg: float | None = None,
    dose_levels: Mapping[str, int] | None = None,
    dose_date: dt.date | None = None,
    randomization_date: dt.date | None = None,
) -> ArmDoses:
    """All doses of an arm at one cycle.

    Parameters
    ----------
    spec : TreatmentSpec
        The protocol's ``operations.treatment``.
    arm : str or ArmRegimen
        Arm id (``tqb2102``, ``thp``) or registry label, case-insensitive.
    cycle : int
        Cycle number, from 1.
    weight_kg, height_cm : float
        Current measurements; checked against ``spec.weight_kg_limits`` and ``spec.height_cm_limits``.
    days_since_last_dose : int or mapping drug -> int, optional
        Gap since the previous dose (one number for all drugs, or per drug). Not allowed at cycle 1.
    last_used_weight_kg : float, optional
        Weight the previous dose used; with it the ±threshold weight rule applies.
    dose_levels : mapping drug -> int, optional
        Dose level per drug (0 = protocol dose, -1, -2 = reductions).
    dose_date, randomization_date : date, optional
        When both are given, a dose date before randomization is an error.

    Drugs whose own cycle limit is passed (docetaxel after cycle 6) are listed in ``omitted``; a cycle beyond the
    arm's limit, or one at which no drug is left, is an error.
    """
    regimen = arm if isinstance(arm, ArmRegimen) else spec.arm(arm)
    if isinstance(cycle, bool) or not isinstance(cycle, int) or cycle < 1:
        raise InvalidInput(f"must be a whole number >= 1, got {cycle!r}", field="cycle")
    if regimen.max_cycles is not None and cycle > regimen.max_cycles:
        raise InvalidInput(
            f"arm {regimen.arm_id} has at most {regimen.max_cycles} cycles; cycle {cycle} is beyond "
            f"the regimen's limit",
            field="cycle",
        )
    _check_range("weight_kg", weight_kg, spec.weight_kg_limits, "kg")
    _check_range("height_cm", height_cm, spec.height_cm_limits, "cm")
    if last_used_weight_kg is not None:
        _check_range("last_used_weight_kg", last_used_weight_kg, spec.weight_kg_limits, "kg")
    if dose_date is not None and randomization_date is not None and dose_date < randomization_date:
        raise InvalidInput(
            f"dose date {dose_date.isoformat()} is before randomization ({randomization_date.isoformat()})",
            field="dose_date",
        )
    gaps: dict[str, int | None]
    if isinstance(days_since_last_dose, Mapping):
        unknown = set(days_since_last_dose) - {d.drug for d in regimen.drugs}
        if unknown:
            raise InvalidInput(
                f"unknown drug(s) {sorted(unknown)} for arm {regimen.arm_id}", field="days_since_last_dose"
            )
        gaps = {d.drug: days_since_last_dose.get(d.drug) for d in regimen.drugs}
    else:
        gaps = {d.drug: days_since_last_dose for d in regimen.drugs}
    for drug_id, gap in gaps.items():
        if gap is None:
            continue
        if isinstance(gap, bool) or not isinstance(gap, int) or gap < 1:
            raise InvalidInput(
                f"must be a whole number of days >= 1, got {gap!r} ({drug_id})", field="days_since_last_dose"
            )
        if cycle == 1:
            raise InvalidInput(
                "cycle 1 has no previous dose; leave days_since_last_dose out", field="days_since_last_dose"
            )
    levels = dict(dose_levels or {})
    unknown_levels = set(levels) - {d.drug for d in regimen.drugs}
    if unknown_levels:
        raise InvalidInput(f"unknown drug(s) {sorted(unknown_levels)} for arm {regimen.arm_id}", field="dose_levels")

    weight = dosing_weight(weight_kg, last_used_weight_kg, spec.weight_change_threshold)
    bsa, bsa_text = _bsa(spec, weight.weight_kg, height_cm)
    doses: list[DoseCalculation] = []
    omitted: list[OmittedDrug] = []
    for drug in regimen.drugs:
        if drug.max_cycles is not None and cycle > drug.max_cycles:
            omitted.append(
                OmittedDrug(drug=drug.drug, reason=f"{drug.name} is given for at most {drug.max_cycles} cycles")
            )
            continue
        doses.append(
            calculate_drug_dose(
                spec,
                drug,
                cycle=cycle,
                weight_kg=weight.weight_kg,
                bsa_m2=bsa,
                days_since_last_dose=gaps[drug.drug],
                dose_level=levels.get(drug.drug, 0),
                height_cm=height_cm,
                bsa_text=bsa_text,
            )
        )
    if not doses:
        raise InvalidInput(
            f"no drug of arm {regimen.arm_id} is given at cycle {cycle}: beyond the regimen's limit", field="cycle"
        )
    return ArmDoses(
        arm_id=regimen.arm_id,
        cycle=cycle,
        bsa_m2=bsa,
        bsa_formula=bsa_text,
        weight=weight,
        doses=doses,
        omitted=omitted,
    )


def check_override(
    calculated_mg: float, prescribed_mg: float, tolerance: float, reason: str | None = None
) -> OverrideCheck:
    """Check a prescribed dose against the calculated one.

    A deviation ``|prescribed - calculated| / calculated`` strictly greater than ``tolerance`` needs a
    non-blank ``reason``; without one, :class:`~trialdesk.domain.errors.InvalidInput` (field
    ``override_reason``) is raised. Within tolerance no reason is needed (one given is kept).
    """
    if not (calculated_mg > 0 and math.isfinite(calculated_mg)):
        raise InvalidInput(f"must be a positive number, got {calculated_mg!r}", field="calculated_mg")
    if not (prescribed_mg > 0 and math.isfinite(prescribed_mg)):
        raise InvalidInput(f"must be a positive number, got {prescribed_mg!r}", field="prescribed_mg")
    deviation = abs(prescribed_mg - calculated_mg) / calculated_mg
    exceeds = Decimal(repr(abs(prescribed_mg - calculated_mg))) > Decimal(repr(tolerance)) * Decimal(
        repr(calculated_mg)
    )
    clean = reason.strip() if reason else None
    if exceeds and not clean:
        raise InvalidInput(
            f"prescribed {_fmt(prescribed_mg)} mg differs from the calculated {_fmt(calculated_mg)} mg "
            f"by {deviation:.1%} (> {tolerance:.0%}); an override reason is required",
            field="override_reason",
        )
    return OverrideCheck(
        calculated_mg=calculated_mg,
        prescribed_mg=prescribed_mg,
        deviation_fraction=deviation,
        tolerance=tolerance,
        requires_reason=exceeds,
        reason=clean,
    )
