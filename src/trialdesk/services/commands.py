"""Typed commands: one model per use case that a web form or an API body drives, validated at the edge.

The web layer validates a form with ``RecordDose.model_validate(form_values)`` and the JSON API uses the same model
as its request body, so that a form and an API call are refused for the same reasons, naming the same fields.
``extra="forbid"``: an unknown field is an error, not silently dropped. Bounds here are the ones no trial can
relax (a weight is positive, a cycle counts from 1); the protocol's own limits (plausible weight range, the
regimen's cycles, dates against randomization) stay with the use case, which knows the trial.

The services accept these objects directly (``record_adverse_event(uow, principal, nct_id, subject, cmd)``): the
command is the body of the use case, the trial, subject and record ids stay its positional arguments.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from trialdesk.domain.adverse_events import ActionTaken, Outcome, Relationship, Seriousness
from trialdesk.domain.recist_models import Lesion

#: Free text a person types: at least one character, bounded.
Text = Annotated[str, Field(min_length=1, max_length=2000)]
FieldName = Annotated[str, Field(min_length=1)]

#: What an investigator's signature means unless they say otherwise.
DEFAULT_MEANING = "I approve the data in this casebook"

DOSE_EDITABLE = (
    "delay_reason, dose_date, interrupted, override_reason, reduction_level, reduction_reason, weight_kg, actual_mg"
)


#: Dates a trial can hold: outside them date arithmetic overflows (9999-12-31 plus a visit window) or the date is
#: plainly a typing error; the protocol's own timeline checks stay with the use case.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2999, 12, 31)
#: Largest magnitude of a number anywhere in a command (ANC ``1e308`` is finite but no measurement).
MAX_MAGNITUDE = 1e12
#: Longest string anywhere in a command (a query message, a reason, a note): free text stored in ``Text`` columns,
#: which declare no length of their own. Columns with a declared length are checked against it before every flush
#: (``adapters/db/lengths.py``).
MAX_TEXT = 4000


def _impossible(value: Any) -> str | None:
    """Why ``value`` (or something nested in it) cannot be stored or computed with, or None.

    Checked for every field of every command, nested dicts and lists included (a screening ``record`` is a dict):
    a NUL byte (PostgreSQL refuses it), text over ``MAX_TEXT`` characters, a non-finite or absurd number, a date
    outside the calendar a trial uses.
    """
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return f"must be at most {MAX_TEXT} characters ({len(value)} given)"
        return "contains a NUL byte" if "\x00" in value else None
    if isinstance(value, bool | int):
        return None if isinstance(value, bool) or abs(value) <= MAX_MAGNITUDE else f"must be at most {MAX_MAGNITUDE:g}"
    if isinstance(value, float):
        return None if math.isfinite(value) and abs(value) <= MAX_MAGNITUDE else "must be a finite measurement"
    if isinstance(value, dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
        ok = EARLIEST_DATE <= day <= LATEST_DATE
        return None if ok else f"must be between {EARLIEST_DATE} and {LATEST_DATE}"
    if isinstance(value, dict):
        for key, item in value.items():
            why = _impossible(key) or _impossible(item)
            if why:
                return f"{key}: {why}"
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            why = _impossible(item)
            if why:
                return f"{index}: {why}"
    return None


class Command(BaseModel):
    """A use case's input: unknown fields refused, numbers finite, no NUL bytes, dates a trial can hold."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        why = _impossible(value)
        if why:
            raise ValueError(why)
        return value


# --- treatment -----------------------------------------------------------------------------------------------------


class PlanDoses(Command):
    """The inputs of a cycle's dose plan (the first step of the dose form)."""

    cycle: int = Field(ge=1, le=1000)
    weight_kg: float = Field(gt=0, le=1000, description="Weight today (kg)")
    height_cm: float | None = Field(default=None, gt=0, le=300)
    dose_date: dt.date | None = Field(default=None, description="Default: today.")
    dose_levels: dict[str, int] | None = Field(
        default=None, description="Drug -> reduction level, overriding the level last used."
    )


class RecordDose(Command):
    """One drug given at one cycle."""

    drug: str = Field(min_length=1, max_length=40)
    cycle: int
    dose_date: dt.date
    actual_mg: float
    weight_kg: float
    delay_reason: str | None = None
    reduction_level: int = 0
    reduction_reason: str | None = None
    interrupted: bool = False
    override_reason: str | None = None
    height_cm: float | None = Field(default=None, description="Records the subject's height when not yet known.")


class RecordDoseForm(RecordDose):
    """A dose entered on the web form: the same fields with the bounds a person can get wrong by typing (the API
    keeps :class:`RecordDose`, whose out-of-range values the use case refuses with its own messages)."""

    cycle: int = Field(ge=1, le=1000)
    actual_mg: float = Field(gt=0)
    weight_kg: float = Field(gt=0, le=1000)
    height_cm: float | None = Field(default=None, gt=0, le=300)
    reduction_level: int = Field(default=0, ge=-10, le=10)


class EditDose(Command):
    """A change to a recorded dose, with the reason for change."""

    changes: dict[FieldName, Any] = Field(description="Field -> new value; editable: " + DOSE_EDITABLE)
    reason: str = Field(description="Reason for change (required).")


class EditDoseForm(Command):
    """The web form's correction of one field of one recorded dose (the use case checks the field and value)."""

    dose_id: int = Field(ge=1)
    field: FieldName
    value: str | None = None
    reason: Text

    def command(self) -> EditDose:
        """The use case's :class:`EditDose` (``interrupted`` is a yes/no typed as text)."""
        value: Any = self.value
        if self.field == "interrupted":
            value = str(value or "").strip().lower() in ("yes", "true", "1")
        return EditDose(changes={self.field: value}, reason=self.reason)


DispositionKind = Literal["end_of_treatment", "end_of_study", "death", "new_therapy"]


class RecordDisposition(Command):
    """End of treatment, end of study, death or a new anticancer therapy."""

    kind: DispositionKind
    event_date: dt.date
    reason: str | None = Field(
        default=None, description="Reason (end of treatment/study), cause (death) or description (new therapy)."
    )
    details: dict[str, Any] | None = None


# --- capture -------------------------------------------------------------------------------------------------------


class RecordAdverseEvent(Command):
    """An adverse event, coded against CTCAE (term name or MedDRA code): a CTCAE grade 1-5, real dates, ICH
    seriousness criteria and a causality per study drug (the use case checks the term, the grades it defines,
    the dates against consent and today, and the drugs against the subject's arm)."""

    term: str | int = Field(description="CTCAE v5.0 term or its MedDRA code.")
    grade: int = Field(ge=1, le=5)
    onset_date: dt.date
    resolution_date: dt.date | None = None
    serious: bool = False
    seriousness: list[Seriousness] = Field(default_factory=list)
    relationship: dict[str, Relationship] = Field(default_factory=dict)
    action_taken: ActionTaken | None = None
    outcome: Outcome | None = None


class RecordAdverseEventForm(RecordAdverseEvent):
    """An adverse event entered on the web form: a term name (the form has no MedDRA code input)."""

    term: str = Field(min_length=1, max_length=200)


class EditRecord(Command):
    """A change to a recorded adverse event or tumour assessment, with the reason for change."""

    changes: dict[FieldName, Any] = Field(description="field -> new value")
    reason: str


class MarkSaeReported(Command):
    """When a serious AE was reported to the sponsor: a date-time with its zone, not in the future (default:
    now)."""

    reported_at: dt.datetime | None = None


class RecordTumourAssessment(Command):
    """A RECIST 1.1 assessment: the lesions measured or evaluated on one date (the use case checks the
    assessment as a whole against RECIST, and the date against the schedule)."""

    assessment_date: dt.date
    lesions: list[Lesion]
    baseline: bool = False


class RecordTumourAssessmentForm(RecordTumourAssessment):
    """A tumour assessment entered on the web form (the same fields: the form's lesion rows are lesions)."""


class RaiseQuery(Command):
    """A data query on a subject's record (``entity_type``/``entity_id``/``field`` name the datum)."""

    entity_type: str = "subject"
    entity_id: str
    field: str
    message: str


class RaiseQueryForm(RaiseQuery):
    """A query raised on the web form: the field and the message typed, not blank."""

    entity_type: str = Field(default="subject", min_length=1, max_length=40)
    entity_id: str = Field(min_length=1, max_length=80)
    field: str = Field(min_length=1, max_length=200)
    message: Text


class QueryStep(Command):
    """Answer (site staff: the answer), close (monitor: an optional note) or reopen (monitor: the reason)."""

    text: str | None = None


class QueryStepForm(QueryStep):
    """An answer or a reason to re-open typed on the web form: required (a note to close stays optional)."""

    text: Text


class SignCasebook(Command):
    """The investigator's electronic signature: the password again, and what the signature means."""

    password: str
    meaning: str = DEFAULT_MEANING


class SignCasebookForm(SignCasebook):
    """The signature on the web form: a password typed and a meaning that is not blank."""

    password: str = Field(min_length=1)
    meaning: Text = DEFAULT_MEANING


# --- screening, randomization, sites, analysis ---------------------------------------------------------------------


class ScreenPatient(Command):
    site: str = Field(min_length=1, max_length=80, description="Site id, e.g. 'hunan-cancer-hospital'.")
    patient_ref: str = Field(min_length=1, max_length=80, description="The site's pseudonymous patient reference.")
    record: dict[str, Any] = Field(description="ScreeningRecord (see `trialdesk screen --schema`).")
    screened_on: dt.date | None = Field(None, description="Default: today.")


class Randomize(Command):
    confirm: Literal[True] = Field(description="Must be true: the caller confirms this subject is to be randomized.")
    client_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        description="Idempotency key: a retry with the same key returns the same result.",
    )
    randomized_on: dt.date | None = Field(default=None, description="Default: today.")


class FlagRandomizedInError(Command):
    reason: str = Field(min_length=1, max_length=2000)


class ChangeSiteStatus(Command):
    status: str = Field(description="RECRUITING, SUSPENDED or CLOSED", min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=2000)


class RunAnalysis(Command):
    cut_date: dt.date | None = Field(None, description="Data cut-off (default: today)")
    ties: Literal["efron", "breslow"] | None = None


class PostResults(Command):
    run_id: int | None = Field(None, ge=1, description="Default: the latest run")
    confirm: bool = Field(False, description="Must be true: posting publishes the results on the registry page.")


class ApproveResults(Command):
    run_id: int = Field(ge=1, description="The analysis run whose results the sponsor approves for posting")
    confirm: bool = Field(False, description="Must be true: the sponsor confirms the approval.")
    note: str | None = Field(None, max_length=2000)


class RecordTrialDecision(Command):
    kind: Literal["early_stop", "recruitment_closed", "completed"]
    decided_on: dt.date | None = Field(None, description="Default: today")
    reason: str = Field(min_length=1, max_length=2000)
