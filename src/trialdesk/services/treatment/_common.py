"""What every treatment use case shares: reading entered values, the protocol's specs, and loading the stored
facts of one subject into a :class:`~trialdesk.domain.treatment_course.TreatmentCourse`."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from trialdesk.domain.access import Principal
from trialdesk.domain.dosing import TreatmentSpec
from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.domain.subject_lifecycle import SubjectStatus, advance
from trialdesk.domain.treatment_course import (
    AssessmentPoint,
    DispositionEvent,
    DoseGiven,
    TreatmentCourse,
    as_date,
)
from trialdesk.services.subjects import protocol

# --------------------------------------------------------------------------------------------------------------------
# entered values (forms send text, the API and the CLI typed values)
# --------------------------------------------------------------------------------------------------------------------

_date = as_date


def _number(value: Any, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"must be a number, got {value!r}", field=field) from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise InvalidInput(f"must be a finite number, got {value!r}", field=field)
    return number


def _whole(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"must be a whole number, got {value!r}", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"must be a whole number, got {value!r}", field=field) from None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"must be a whole number, got {value!r}", field=field)
    return number


def _text(value: Any) -> str | None:
    if value is None:
        return None
    clean = str(value).strip()
    return clean or None


def _today(uow: Any) -> dt.date:
    day: dt.date = uow.now().date()
    return day


# --------------------------------------------------------------------------------------------------------------------
# the protocol and the stored facts
# --------------------------------------------------------------------------------------------------------------------


def _specs(uow: Any, nct_id: str) -> tuple[TreatmentSpec, ScheduleSpec]:
    ops = protocol(uow, nct_id).operations
    if ops.treatment is None or ops.schedule is None:
        raise Conflict(f"the protocol of {nct_id} has no operations.treatment or operations.schedule section")
    return ops.treatment, ops.schedule


def _allocation(uow: Any, subject: Any) -> Any:
    alloc = uow.allocations.for_subject(subject.id)
    if alloc is None:
        raise Conflict(f"subject {subject.subject_number} is not randomized: no treatment, doses or calendar yet")
    return alloc


def _dose_given(row: Any) -> DoseGiven:
    calc = json.loads(row.calculation_json or "{}")
    return DoseGiven(id=row.id, cycle=row.cycle, drug=row.drug, dose_date=dt.date.fromisoformat(row.dose_date),
                     weight_kg=row.weight_kg, reduction_level=row.reduction_level,
                     weight_kg_used=calc.get("weight_kg_used", row.weight_kg))


def _disposition_event(row: Any) -> DispositionEvent:
    eot_visit = json.loads(row.details_json or "{}").get("eot_visit_date") if row.kind == "end_of_treatment" \
        else None
    return DispositionEvent(kind=row.kind, event_date=dt.date.fromisoformat(row.event_date),
                            eot_visit_date=dt.date.fromisoformat(eot_visit) if eot_visit else None)


def course_of(subject: Any, alloc: Any, doses: Any, assessments: Any, dispositions: Any,
              treatment: TreatmentSpec) -> TreatmentCourse:
    """The domain course from stored rows: ``assessments`` are ``(date, baseline, response)`` tuples."""
    return TreatmentCourse(
        subject_number=subject.subject_number, site_key=subject.site_key,
        randomized_on=dt.date.fromisoformat(alloc.randomized_on), regimen=treatment.arm(alloc.arm),
        doses=tuple(_dose_given(d) for d in doses),
        assessments=tuple(AssessmentPoint(dt.date.fromisoformat(day), bool(baseline), response)
                          for day, baseline, response in assessments),
        dispositions=tuple(_disposition_event(d) for d in dispositions))


def load_course(uow: Any, subject: Any, treatment: TreatmentSpec) -> TreatmentCourse:
    """One randomized subject's course (Conflict when not randomized)."""
    alloc = _allocation(uow, subject)
    return course_of(subject, alloc, uow.doses.for_subject(subject.id),
                     uow.doses.assessments([subject.id]).get(subject.id, []),
                     uow.dispositions.for_subject(subject.id), treatment)


def _set_status(uow: Any, principal: Principal, nct_id: str, subject: Any, status: SubjectStatus,
                reason: str) -> None:
    """Move the subject's status forward (never back), audited as ``subject.status_changed``."""
    old = subject.status
    moved = advance(old, status)
    if moved is None:
        return
    new = moved.value
    subject.status = new
    uow.record("subject.status_changed", "subject", subject.subject_number, before={"status": old},
               after={"status": new}, reason=reason, trial=nct_id, site=subject.site_key, actor=principal.username)
