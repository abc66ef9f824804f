"""The statistical analysis plan as data: protocol section ``operations.analysis``.

:class:`AnalysisSpec` holds the rules the final analysis runs on: how PFS is derived and censored, how
response is read, the KM confidence transform and Cox ties of the report, the subgroups of the forest plot.
Defaults follow the FDA guidance *Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics*
(2018), Table 2 (PFS date of progression or censoring):

* event: RECIST progression (first time-point PD) or death from any cause, whichever comes first;
* no event: censored at the date of the last adequate tumour assessment (randomization when there is none);
* event after two or more missed assessments: censored at the last adequate assessment before them (the
  assessment grid is ``operations.schedule``);
* new anticancer therapy before an event: censored at the last adequate assessment on or before its start.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator

from trialdesk.domain.assumptions import AssumptionMap

__all__ = ["AnalysisSpec", "PfsCensoring", "Subgroup", "ADEQUATE_RESPONSES"]

#: Time-point responses that make an assessment "adequate" (evaluable) for PFS censoring.
ADEQUATE_RESPONSES: tuple[str, ...] = ("CR", "PR", "SD", "non-CR/non-PD", "PD")


class PfsCensoring(BaseModel):
    """PFS event and censoring rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    missed_assessments: PositiveInt = Field(
        2, description="An event after this many consecutive missed scheduled assessments is censored."
    )
    censor_at_new_therapy: bool = Field(
        True, description="Censor at the last adequate assessment on or before new anticancer therapy."
    )
    adequate_responses: tuple[str, ...] = Field(
        ADEQUATE_RESPONSES, description="Time-point responses that count as an adequate assessment (NE does not)."
    )

    @field_validator("adequate_responses")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in ADEQUATE_RESPONSES]
        if unknown:
            raise ValueError(f"unknown responses {unknown}; allowed {list(ADEQUATE_RESPONSES)}")
        if "PD" not in value:
            raise ValueError("must contain 'PD' (a progression is always an adequate assessment)")
        return value


class Subgroup(BaseModel):
    """One subgroup factor of the forest plot: a column of the subject-level dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str


class AnalysisSpec(BaseModel):
    """Protocol section ``operations.analysis``."""

    model_config = ConfigDict(extra="forbid")

    time_unit: Literal["months", "days"] = "months"
    days_per_month: PositiveFloat = 30.4375
    day_offset: Literal[0, 1] = Field(1, description="Time = date - randomization + day_offset days (ADaM: 1).")
    pfs: PfsCensoring = Field(default_factory=PfsCensoring)
    conf_type: Literal["log", "log-log", "plain"] = "log-log"
    conf_level: float = Field(0.95, gt=0, lt=1)
    ties: Literal["efron", "breslow"] = "efron"
    stratify_by: list[str] = Field(
        default_factory=lambda: ["hr_status", "disease_setting", "visceral_metastases"],
        description="Randomization factors the log-rank test and Cox model are stratified by.",
    )
    confirm_response: bool = Field(False, description="Require a confirmed CR/PR for ORR (RECIST 1.1 section 4.6).")
    treatment_emergent_days: PositiveInt = Field(
        30, description="An AE is treatment-emergent from the first dose to this many days after the last dose."
    )
    subgroups: list[Subgroup] = Field(
        default_factory=lambda: [
            Subgroup(name="hr_status", label="Hormone receptor status"),
            Subgroup(name="disease_setting", label="Disease setting"),
            Subgroup(name="visceral_metastases", label="Visceral metastases"),
            Subgroup(name="age_group", label="Age"),
        ]
    )
    age_cutoff: PositiveInt = Field(65, description="Age (years) splitting the age subgroup: < cutoff vs >= cutoff.")
    experimental_arm: str = "tqb2102"
    control_arm: str = "thp"
    assumptions: AssumptionMap = Field(default_factory=dict)

    def to_time(self, days: int | float) -> float:
        """Days (already offset) in the report's unit."""
        return float(days) / self.days_per_month if self.time_unit == "months" else float(days)
