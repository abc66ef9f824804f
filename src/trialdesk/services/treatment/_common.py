"""What every treatment use case shares: reading a correction's values, the protocol's specs, and loading the stored
facts of one subject into a :class:`~trialdesk.domain.treatment_course.TreatmentCourse`.

New entries arrive as typed commands (:mod:`trialdesk.services.commands`), validated at the edge; only a dose
correction (``EditDose.changes``: field -> value, as typed on a form or sent as JSON) is read here, field by field,
so that each unreadable value is reported against its own field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence

from trialdesk.domain.access import Principal
from trialdesk.domain.dosing import TreatmentSpec
from trialdesk.domain.errors import Conflict, InvalidInput, Problem
from trialdesk.domain.records import Allocation, Disposition, Dose, Subject
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.domain.subject_lifecycle import SubjectStatus, advance
from trialdesk.domain.timeline import in_trial, trial_dates
from trialdesk.domain.treatment_course import AssessmentPoint, DispositionEvent, DoseGiven, TreatmentCourse, as_date
from trialdesk.services.registry import stored_id
from trialdesk.services.subjects import protocol
from trialdesk.services.unit_of_work import UnitOfWork

#: A stored tumour assessment as the course reads it: ``(assessment_date, baseline, overall_response)``.
AssessmentRow = tuple[str, bool, str | None]

# --------------------------------------------------------------------------------------------------------------------
# a correction's values (a form sends text, the API JSON values)
# --------------------------------------------------------------------------------------------------------------------

_date = as_date


def _number(value: object, field: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]  # anything float() reads; the rest is refused below
    except (TypeError, ValueError):
        raise InvalidInput(f"must be a number, got {value!r}", field=field) from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise InvalidInput(f"must be a finite number, got {value!r}", field=field)
    return number


def _whole(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"must be a whole number, got {value!r}", field=field)
    try:
        number: int = int(value)  # type: ignore[call-overload]  # anything int() reads; the rest is refused below
    except (TypeError, ValueError):
        raise InvalidInput(f"must be a whole number, got {value!r}", field=field) from None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"must be a whole number, got {value!r}", field=field)
    return number


def _text(value: object) -> str | None:
    """Free text with blanks trimmed; blank is "not given"."""
    if value is None:
        return None
    clean = str(value).strip()
    return clean or None


def _today(uow: UnitOfWork) -> dt.date:
    return uow.now().date()


def _after_completion(uow: UnitOfWork, nct_id: str, field: str, day: dt.date | None) -> list[Problem]:
    """``day`` after the trial's actual completion date (domain/timeline.py); the start and today are implied by
    the course's own checks (not before randomization, not in the future)."""
    if day is None:
        return []
    dates = trial_dates(protocol(uow, nct_id), _today(uow))
    return in_trial(field, day, dates, check_start=False, check_today=False)


# --------------------------------------------------------------------------------------------------------------------
# the protocol and the stored facts
# --------------------------------------------------------------------------------------------------------------------


def _specs(uow: UnitOfWork, nct_id: str) -> tuple[TreatmentSpec, ScheduleSpec]:
    ops = protocol(uow, nct_id).operations
    if ops.treatment is None or ops.schedule is None:
        raise Conflict(f"the protocol of {nct_id} has no operations.treatment or operations.schedule section")
    return ops.treatment, ops.schedule


def _allocation(uow: UnitOfWork, subject: Subject) -> Allocation:
    alloc = uow.allocations.for_subject(stored_id(subject))
    if alloc is None:
        raise Conflict(f"subject {subject.subject_number} is not randomized: no treatment, doses or calendar yet")
    return alloc


def _dose_given(row: Dose) -> DoseGiven:
    calc = json.loads(row.calculation_json or "{}")
    return DoseGiven(
        id=row.id,
        cycle=row.cycle,
        drug=row.drug,
        dose_date=dt.date.fromisoformat(row.dose_date),
        weight_kg=row.weight_kg,
        reduction_level=row.reduction_level,
        weight_kg_used=calc.get("weight_kg_used", row.weight_kg),
    )


def _disposition_event(row: Disposition) -> DispositionEvent:
    eot_visit = json.loads(row.details_json or "{}").get("eot_visit_date") if row.kind == "end_of_treatment" else None
    return DispositionEvent(
        kind=row.kind,
        event_date=dt.date.fromisoformat(row.event_date),
        eot_visit_date=dt.date.fromisoformat(eot_visit) if eot_visit else None,
    )


def course_of(
    subject: Subject,
    alloc: Allocation,
    doses: Iterable[Dose],
    assessments: Iterable[AssessmentRow],
    dispositions: Iterable[Disposition],
    treatment: TreatmentSpec,
) -> TreatmentCourse:
    """The domain course from stored records: ``assessments`` are ``(date, baseline, response)`` tuples."""
    return TreatmentCourse(
        subject_number=subject.subject_number,
        site_key=subject.site_key,
        randomized_on=dt.date.fromisoformat(alloc.randomized_on),
        regimen=treatment.arm(alloc.arm),
        doses=tuple(_dose_given(d) for d in doses),
        assessments=tuple(
            AssessmentPoint(dt.date.fromisoformat(day), bool(baseline), response)
            for day, baseline, response in assessments
        ),
        dispositions=tuple(_disposition_event(d) for d in dispositions),
    )


def load_course(uow: UnitOfWork, subject: Subject, treatment: TreatmentSpec) -> TreatmentCourse:
    """One randomized subject's course (Conflict when not randomized)."""
    alloc = _allocation(uow, subject)
    subject_id = stored_id(subject)
    assessments: Sequence[AssessmentRow] = uow.doses.assessments([subject_id]).get(subject_id, [])
    return course_of(
        subject,
        alloc,
        uow.doses.for_subject(subject_id),
        assessments,
        uow.dispositions.for_subject(subject_id),
        treatment,
    )


def _set_status(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject: Subject, status: SubjectStatus, reason: str
) -> None:
    """Move the subject's status forward (never back), audited as ``subject.status_changed``."""
    old = subject.status
    moved = advance(old, status)
    if moved is None:
        return
    new = moved.value
    subject.status = new
    uow.record(
        "subject.status_changed",
        "subject",
        subject.subject_number,
        before={"status": old},
        after={"status": new},
        reason=reason,
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
