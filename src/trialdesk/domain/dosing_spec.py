"""The protocol section ``operations.treatment``: regimens per arm, as the protocol declares them.

Validation here is structural (levels ordered, arms and drugs unique, every number's source documented in
``assumptions``); what the numbers *do* to a subject's dose is in :mod:`trialdesk.domain.dosing`.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP
from enum import StrEnum
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from trialdesk.domain.assumptions import AssumptionMap
from trialdesk.domain.bsa import BsaFormula
from trialdesk.domain.errors import InvalidInput

__all__ = [
    "DECIMAL_ROUNDING",
    "ArmRegimen",
    "DoseBasis",
    "DrugRegimen",
    "FrozenSpec",
    "Limits",
    "MinuteRange",
    "ReductionLevel",
    "ReloadRule",
    "RoundingMode",
    "RoundingSpec",
    "TreatmentSpec",
]


def _require_unique(ids: list[str], message: str) -> None:
    """A validator's check that no id repeats (pydantic turns the ``ValueError`` into a validation error)."""
    if len(set(ids)) != len(ids):
        raise ValueError(f"{message}, got {ids}")


class FrozenSpec(BaseModel):
    """Base of the section's models and of the engine's results: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DoseBasis(StrEnum):
    """How a dose scales with the subject."""

    MG_PER_M2 = "mg_per_m2"
    MG_PER_KG = "mg_per_kg"
    FLAT = "flat"

    @property
    def unit(self) -> str:
        return {"mg_per_m2": "mg/m²", "mg_per_kg": "mg/kg", "flat": "mg"}[self.value]


class RoundingMode(StrEnum):
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"


#: rounding mode -> :mod:`decimal` rounding constant
DECIMAL_ROUNDING = {
    RoundingMode.HALF_UP: ROUND_HALF_UP,
    RoundingMode.HALF_EVEN: ROUND_HALF_EVEN,
    RoundingMode.DOWN: ROUND_DOWN,
}


class MinuteRange(FrozenSpec):
    """A duration in minutes, fixed (``min == max``) or a range such as 30–60."""

    min: PositiveInt
    max: PositiveInt

    @model_validator(mode="after")
    def _ordered(self) -> MinuteRange:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self

    def __str__(self) -> str:
        return f"{self.min} min" if self.min == self.max else f"{self.min}–{self.max} min"


class ReloadRule(FrozenSpec):
    """Give the loading dose again when the gap since the last dose of this drug is at least ``gap_days_at_least``."""

    gap_days_at_least: PositiveInt
    label_text: str = Field(description="The label's own words, for the audit trail.")


class ReductionLevel(FrozenSpec):
    """A dose-reduction level: ``level`` -1, -2, ... with its dose (same basis as the maintenance dose)."""

    level: int = Field(le=-1)
    dose: PositiveFloat
    reason: str = Field(min_length=1, description="Why this level exists / when it applies.")


class DrugRegimen(FrozenSpec):
    """One drug of an arm's regimen."""

    drug: str = Field(pattern=r"^[a-z0-9_]+$", description="Stable id, e.g. 'docetaxel'.")
    name: str
    basis: DoseBasis
    loading_dose: PositiveFloat | None = None
    maintenance_dose: PositiveFloat
    max_cycles: PositiveInt | None = Field(default=None, description="None: until a reason to stop.")
    infusion_minutes: MinuteRange
    loading_infusion_minutes: MinuteRange | None = None
    observation_minutes: MinuteRange | None = None
    reload: ReloadRule | None = None
    reduction_levels: list[ReductionLevel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> DrugRegimen:
        if self.reload is not None and self.loading_dose is None:
            raise ValueError(f"{self.drug}: a reload rule needs a loading_dose")
        if self.loading_infusion_minutes is not None and self.loading_dose is None:
            raise ValueError(f"{self.drug}: loading_infusion_minutes given without a loading_dose")
        levels = [r.level for r in self.reduction_levels]
        if levels != list(range(-1, -len(levels) - 1, -1)):
            raise ValueError(f"{self.drug}: reduction_levels must be -1, -2, ... in order, got {levels}")
        doses = [self.maintenance_dose] + [r.dose for r in self.reduction_levels]
        if any(b >= a for a, b in pairwise(doses)):
            raise ValueError(f"{self.drug}: each reduction level must be lower than the one above, got {doses}")
        return self

    def reduction(self, level: int) -> ReductionLevel:
        for r in self.reduction_levels:
            if r.level == level:
                return r
        known = [r.level for r in self.reduction_levels] or "none (dose reductions not allowed)"
        raise InvalidInput(f"{self.drug} has no dose level {level}; reduction levels: {known}", field="dose_level")


class ArmRegimen(FrozenSpec):
    """The regimen of one arm."""

    arm_id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str = Field(description="The registry's arm label; accepted case-insensitively wherever an arm is named.")
    cycle_length_days: PositiveInt = 21
    max_cycles: PositiveInt | None = Field(default=None, description="None: until progression or another reason.")
    drugs: list[DrugRegimen] = Field(min_length=1)

    @field_validator("drugs")
    @classmethod
    def _unique(cls, drugs: list[DrugRegimen]) -> list[DrugRegimen]:
        _require_unique([d.drug for d in drugs], "drug ids must be unique within an arm")
        return drugs

    def drug(self, drug_id: str) -> DrugRegimen:
        for d in self.drugs:
            if d.drug == drug_id.strip().lower():
                return d
        raise InvalidInput(
            f"arm {self.arm_id} has no drug {drug_id!r}; drugs: {[d.drug for d in self.drugs]}", field="drug"
        )


class RoundingSpec(FrozenSpec):
    bsa_decimals: int | None = Field(default=None, ge=0, le=6, description="None: BSA unrounded.")
    dose_increment_mg: PositiveFloat = 0.1
    mode: RoundingMode = RoundingMode.HALF_UP


class Limits(FrozenSpec):
    min: PositiveFloat
    max: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be > min ({self.min})")
        return self


class TreatmentSpec(BaseModel):
    """Protocol section ``operations.treatment``: regimens per arm and the rules of dose calculation."""

    model_config = ConfigDict(extra="forbid")

    bsa_formula: BsaFormula = BsaFormula.MOSTELLER
    bsa_cap_m2: PositiveFloat | None = None
    rounding: RoundingSpec = Field(default_factory=RoundingSpec)
    weight_change_threshold: float = Field(
        default=0.10, gt=0, lt=1, description="Fraction of the weight last used that triggers recalculation."
    )
    override_tolerance: float = Field(
        default=0.10,
        gt=0,
        lt=1,
        description="Relative deviation from the calculated dose beyond which a "
        "prescribed dose needs an override reason.",
    )
    weight_kg_limits: Limits = Field(default_factory=lambda: Limits(min=25, max=300))
    height_cm_limits: Limits = Field(default_factory=lambda: Limits(min=100, max=250))
    arms: list[ArmRegimen] = Field(default_factory=list)
    assumptions: AssumptionMap = Field(default_factory=dict)

    @field_validator("arms")
    @classmethod
    def _unique_arms(cls, arms: list[ArmRegimen]) -> list[ArmRegimen]:
        _require_unique([a.arm_id for a in arms], "arm ids must be unique")
        return arms

    @model_validator(mode="after")
    def _assumption_paths(self) -> TreatmentSpec:
        for path in self.assumptions:
            head = path.split(".", 1)[0]
            if head not in type(self).model_fields or head == "assumptions":
                raise ValueError(f"assumptions: {path!r} does not name a field of the treatment section")
        return self

    def arm(self, key: str) -> ArmRegimen:
        """Find an arm by id or label, case-insensitively."""
        wanted = " ".join(key.split()).lower()
        for arm in self.arms:
            if arm.arm_id == wanted or " ".join(arm.label.split()).lower() == wanted:
                return arm
        known = ", ".join(f"{a.arm_id} ({a.label})" for a in self.arms) or "none"
        raise InvalidInput(f"unknown arm {key!r}; known arms: {known}", field="arm")
