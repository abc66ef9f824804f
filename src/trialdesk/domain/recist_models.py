"""Input and output models of the RECIST 1.1 engine (:mod:`trialdesk.domain.recist`).

A subject's tumour assessments are a baseline :class:`TumorAssessment` plus the follow-up ones, each a list of
lesion records told apart by ``kind``:

``target``
    A target lesion. At baseline it carries its organ, whether it is a lymph node (``nodal``) and its
    ``measurement`` in mm (longest diameter, or short axis for a node). At follow-up it carries exactly one of

    * ``measurement``: a number in mm (recorded as is, even below 5 mm), ``"too_small"`` (present but too
      small to measure: counts 5 mm), ``"absent"`` (disappeared: counts 0 mm) or ``"not_evaluated"``;
    * ``fragments_mm``: the lesion split; the fragments' diameters are summed into it;
    * ``merged_into``: the lesion coalesced with another target lesion, whose ``measurement`` is the
      coalesced diameter; this one counts 0 mm.

``non_target``
    A non-target lesion with a ``status``: ``present``, ``absent`` (for a node: back to a short axis
    < 10 mm), ``unequivocal_progression`` or ``not_evaluated``. At baseline it must be ``present``.

``new``
    A lesion not seen at baseline, ``unequivocal`` (progression) or ``equivocal`` (not yet progression; if
    a later assessment records the same ``lesion_id`` as unequivocal, progression dates from the first
    sighting).

A lesion that a follow-up assessment does not list is taken as not evaluated at that assessment.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LesionId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
Millimetres = Annotated[float, Field(ge=0, le=2000, allow_inf_nan=False)]


class Response(StrEnum):
    """RECIST 1.1 response categories (time point, target, non-target and best overall)."""

    CR = "CR"
    PR = "PR"
    SD = "SD"
    NON_CR_NON_PD = "non-CR/non-PD"
    PD = "PD"
    NE = "NE"
    NOT_APPLICABLE = "NA"


class NewLesionFinding(StrEnum):
    """What the new-lesion review found at one assessment."""

    NONE = "none"
    EQUIVOCAL = "equivocal"
    UNEQUIVOCAL = "unequivocal"


class _Lesion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lesion_id: LesionId = Field(description="Identifier of the lesion, stable across assessments (e.g. 'T1').")
    organ: str | None = Field(default=None, min_length=1, description="Organ (required at baseline).")
    site: str | None = Field(default=None, description="Free-text location within the organ.")


class TargetLesion(_Lesion):
    """A target lesion's record at one assessment."""

    kind: Literal["target"]
    nodal: bool | None = Field(
        default=None, description="True for a lymph node (short axis measured). Defaults to False at baseline."
    )
    measurement: Millimetres | Literal["too_small", "absent", "not_evaluated"] | None = Field(
        default=None,
        description="Diameter in mm (longest; short axis for nodes), or 'too_small' (5 mm), 'absent' (0 mm), "
        "'not_evaluated'.",
    )
    fragments_mm: list[Millimetres] | None = Field(
        default=None, min_length=2, description="The lesion split: diameters of its fragments, summed."
    )
    merged_into: LesionId | None = Field(
        default=None, description="The lesion coalesced into this other target lesion; counts 0 mm."
    )

    @model_validator(mode="after")
    def _one_reading(self) -> TargetLesion:
        given = [
            name
            for name, value in (
                ("measurement", self.measurement),
                ("fragments_mm", self.fragments_mm),
                ("merged_into", self.merged_into),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"target lesion {self.lesion_id!r}: give exactly one of measurement, fragments_mm, merged_into "
                f"(got {', '.join(given) if given else 'none'})"
            )
        if self.merged_into == self.lesion_id:
            raise ValueError(f"target lesion {self.lesion_id!r}: merged_into names the lesion itself")
        return self


class NonTargetLesion(_Lesion):
    """A non-target lesion's record at one assessment."""

    kind: Literal["non_target"]
    nodal: bool | None = None
    status: Literal["present", "absent", "unequivocal_progression", "not_evaluated"]


class NewLesion(_Lesion):
    """A lesion not present at baseline."""

    kind: Literal["new"]
    status: Literal["unequivocal", "equivocal"] = "unequivocal"


Lesion = Annotated[TargetLesion | NonTargetLesion | NewLesion, Field(discriminator="kind")]


class TumorAssessment(BaseModel):
    """One imaging assessment (a time point): its date and its lesion records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date = Field(description="Date of the scan (ISO 8601, YYYY-MM-DD).")
    lesions: list[Lesion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> TumorAssessment:
        seen: set[str] = set()
        for lesion in self.lesions:
            if lesion.lesion_id in seen:
                raise ValueError(f"assessment of {self.date}: lesion_id {lesion.lesion_id!r} appears twice")
            seen.add(lesion.lesion_id)
        return self

    def of_kind(self, kind: str) -> dict[str, TargetLesion | NonTargetLesion | NewLesion]:
        """The lesion records of one kind, by lesion id, in input order."""
        return {lesion.lesion_id: lesion for lesion in self.lesions if lesion.kind == kind}


class SubjectTumorAssessments(BaseModel):
    """Everything the engine needs for one Subject: randomization date, baseline and follow-up assessments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_id: str = Field(min_length=1)
    randomization_date: dt.date
    baseline: TumorAssessment
    follow_ups: list[TumorAssessment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates_in_order(self) -> SubjectTumorAssessments:
        previous = self.baseline.date
        for i, assessment in enumerate(self.follow_ups):
            if assessment.date <= previous:
                raise ValueError(
                    f"follow_ups[{i}].date {assessment.date} is not after the previous assessment ({previous}); "
                    "give follow-ups in date order, one per date"
                )
            if assessment.date <= self.randomization_date:
                raise ValueError(
                    f"follow_ups[{i}].date {assessment.date} is not after the randomization date "
                    f"{self.randomization_date}"
                )
            previous = assessment.date
        return self


class TimePointResult(BaseModel):
    """The evaluation of one follow-up assessment."""

    model_config = ConfigDict(frozen=True)

    date: dt.date
    days_from_randomization: int
    sum_mm: float | None = Field(description="Sum of diameters; None when a target lesion was not evaluated.")
    measured_sum_mm: float | None = Field(description="Sum over the target lesions that were evaluated.")
    nadir_mm: float | None = Field(description="Smallest sum before this assessment (baseline included).")
    change_from_baseline_mm: float | None
    change_from_baseline_pct: float | None
    change_from_nadir_mm: float | None
    change_from_nadir_pct: float | None
    target_response: Response
    non_target_response: Response
    new_lesions: NewLesionFinding
    overall_response: Response
    reasons: list[str]
    reason: str = Field(default="", description="The overall response and why, in words (domain/recist_reason.py).")


class RecistEvaluation(BaseModel):
    """A Subject's RECIST 1.1 evaluation: every time point, the best overall response and the first PD."""

    model_config = ConfigDict(frozen=True)

    subject_id: str
    randomization_date: dt.date
    baseline_date: dt.date
    baseline_sum_mm: float | None
    target_lesions: list[str]
    non_target_lesions: list[str]
    time_points: list[TimePointResult]
    best_overall_response: Response
    best_overall_response_date: dt.date | None
    first_pd_date: dt.date | None
    min_sd_interval_days: int
    sd_earliest_day: int = Field(description="First day after randomization on which SD counted for the BOR.")
    reasons: list[str]
