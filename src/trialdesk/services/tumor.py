"""Tumour assessments and their RECIST 1.1 evaluation.

Each save stores the assessment's lesions, then re-evaluates the subject's whole history with the pure engine
(:func:`trialdesk.domain.recist.evaluate_subject`, randomization date from the allocation) and stores every
follow-up's overall response and time-point result. Edit checks run on save (assessment date within its
window of the assessment grid of ``operations.schedule``; a failing one opens a query).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.edit_checks import CheckFailure, Severity, run_checks
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, Problem, problems_from_pydantic
from trialdesk.domain.recist import RecistSpec, evaluate_subject
from trialdesk.domain.recist_models import Lesion, RecistEvaluation, SubjectTumorAssessments, TumorAssessment
from trialdesk.domain.records import Subject, TumorAssessmentRecord
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.domain.timeline import assessment_problems, trial_dates
from trialdesk.services.commands import EditRecord, RecordTumourAssessment
from trialdesk.services.queries import open_query
from trialdesk.services.registry import stored_id
from trialdesk.services.signatures import record_invalidation, touch_and_record
from trialdesk.services.subjects import get_subject, protocol
from trialdesk.services.unit_of_work import UnitOfWork

_LESIONS: TypeAdapter[list[Lesion]] = TypeAdapter(list[Lesion])


def _ts(uow: UnitOfWork) -> str:
    return uow.now().astimezone(dt.UTC).isoformat(timespec="seconds")


# A new assessment arrives as a RecordTumourAssessment (a real date, lesions already validated); a correction is a
# loose change set (EditRecord), whose date and lesions are read here.
def _date(value: object, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InvalidInput("give a date (YYYY-MM-DD), not a date-time", field=field)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise InvalidInput(f"not a valid date (YYYY-MM-DD): {value!r}", field=field) from exc


def _lesions(value: object) -> list[Lesion]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput(f"not valid JSON: {exc}", field="lesions") from exc
    try:
        return _LESIONS.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc, prefix="lesions")) from exc


def _lesions_json(lesions: list[Lesion]) -> str:
    return json.dumps([lesion.model_dump(mode="json", exclude_none=True) for lesion in lesions], ensure_ascii=False)


def _specs(uow: UnitOfWork, nct_id: str) -> tuple[RecistSpec, ScheduleSpec]:
    ops = protocol(uow, nct_id).operations
    return ops.recist or RecistSpec(), ops.schedule or ScheduleSpec()


def assessment_dict(row: TumorAssessmentRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "assessment_date": row.assessment_date,
        "baseline": row.baseline,
        "lesions": json.loads(row.lesions_json),
        "overall_response": row.overall_response,
        "result": json.loads(row.result_json or "{}"),
        "entered_at": row.entered_at,
        "entered_by": row.entered_by,
    }


def _evaluate(uow: UnitOfWork, nct_id: str, subject: Subject, randomized_on: dt.date | None) -> RecistEvaluation | None:
    """Run the engine over the stored history; store each assessment's result. None when there is no baseline
    or no randomization yet."""
    rows = uow.tumor_assessments.for_subject(stored_id(subject))
    baselines = [r for r in rows if r.baseline]
    if not baselines or randomized_on is None:
        return None
    base = baselines[0]
    follow = sorted((r for r in rows if not r.baseline), key=lambda r: r.assessment_date)

    def model(row: TumorAssessmentRecord) -> TumorAssessment:
        return TumorAssessment(date=dt.date.fromisoformat(row.assessment_date), lesions=json.loads(row.lesions_json))

    try:
        history = SubjectTumorAssessments(
            subject_id=subject.subject_number,
            randomization_date=randomized_on,
            baseline=model(base),
            follow_ups=[model(r) for r in follow],
        )
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc)) from exc
    recist_spec, _ = _specs(uow, nct_id)
    evaluation = evaluate_subject(history, recist_spec)
    base.overall_response = None
    base.result_json = json.dumps(
        {
            "baseline_sum_mm": evaluation.baseline_sum_mm,
            "target_lesions": evaluation.target_lesions,
            "non_target_lesions": evaluation.non_target_lesions,
        }
    )
    for row, point in zip(follow, evaluation.time_points):
        row.overall_response = point.overall_response.value
        row.result_json = point.model_dump_json()
    return evaluation


def _randomized_on(uow: UnitOfWork, subject: Subject) -> dt.date | None:
    allocation = uow.allocations.for_subject(stored_id(subject))
    return dt.date.fromisoformat(allocation.randomized_on) if allocation is not None else None


def _checks(uow: UnitOfWork, nct_id: str, record: dict[str, Any], randomized_on: dt.date | None) -> list[CheckFailure]:
    _, schedule = _specs(uow, nct_id)
    failures = run_checks(
        "tumor_assessment",
        record,
        {"schedule": schedule, "randomization_date": randomized_on, "today": uow.now().date()},
    )
    rejects = [Problem(f.field, f.message) for f in failures if f.severity is Severity.REJECT]
    spec = protocol(uow, nct_id)
    dates = trial_dates(spec, uow.now().date())
    rejects += assessment_problems(
        "assessment_date",
        record["assessment_date"],
        baseline=bool(record["baseline"]),
        randomized_on=randomized_on,
        dates=dates,
        window_days=(spec.operations.recist or RecistSpec()).baseline_window_days,
    )
    if rejects:
        raise InvalidInput(rejects)
    return [f for f in failures if f.severity is Severity.QUERY]


def _summary(evaluation: RecistEvaluation | None) -> dict[str, Any]:
    if evaluation is None:
        return {"best_overall_response": None, "best_overall_response_date": None, "first_pd_date": None}
    return {
        "best_overall_response": evaluation.best_overall_response.value,
        "best_overall_response_date": evaluation.best_overall_response_date,
        "first_pd_date": evaluation.first_pd_date,
    }


def record_tumor_assessment(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: RecordTumourAssessment
) -> dict[str, Any]:
    """Store one assessment and re-evaluate the subject's RECIST history (site staff, ``Action.DATA_ENTER``).

    Returns the stored assessment, the best overall response (BOR) and its date, the date of first PD and the
    ids of queries opened by edit checks. RECIST rule violations (e.g. six target lesions at baseline) or a
    follow-up before randomization raise :class:`InvalidInput` and nothing is stored (each lesion has already
    been validated by the command model).
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, for_update=True)
    require(principal, Action.DATA_ENTER, subject.site_key, hide=False)
    day, parsed, baseline = cmd.assessment_date, cmd.lesions, cmd.baseline
    try:
        TumorAssessment(date=day, lesions=parsed)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc, prefix="lesions")) from exc
    randomized_on = _randomized_on(uow, subject)
    existing = uow.tumor_assessments.for_subject(stored_id(subject))
    if baseline and any(r.baseline for r in existing):
        raise Conflict(f"subject {subject_number} already has a baseline assessment; correct it instead")
    if not baseline:
        if not any(r.baseline for r in existing):
            raise Conflict(f"subject {subject_number} has no baseline assessment yet; record the baseline first")
        if randomized_on is None:
            raise Conflict(
                f"subject {subject_number} is not randomized; follow-up assessments start after randomization"
            )
    if any(r.assessment_date == day.isoformat() and r.baseline == baseline for r in existing):
        raise Conflict(f"subject {subject_number} already has an assessment on {day}; correct it instead")
    failures = _checks(uow, nct_id, {"assessment_date": day, "baseline": baseline}, randomized_on)
    row = uow.tumor_assessments.add(
        subject_id=stored_id(subject),
        assessment_date=day.isoformat(),
        baseline=baseline,
        lesions_json=_lesions_json(parsed),
        entered_at=_ts(uow),
        entered_by=principal.username,
    )
    evaluation = _evaluate(uow, nct_id, subject, randomized_on)
    uow.record(
        "tumor_assessment.recorded",
        "tumor_assessment",
        row.id,
        after={
            "subject": subject.subject_number,
            "subject_number": subject.subject_number,
            "assessment_date": row.assessment_date,
            "baseline": baseline,
            "lesions": json.loads(row.lesions_json),
            "overall_response": row.overall_response,
            **_summary(evaluation),
        },
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    touch_and_record(
        uow, subject, reason=f"tumour assessment {row.id} recorded", nct_id=nct_id, actor=principal.username
    )
    queries = [
        open_query(uow, subject, "tumor_assessment", stored_id(row), f.field, f.message, check_id=f.check_id).id
        for f in failures
    ]
    return {"assessment": assessment_dict(row), **_summary(evaluation), "queries": queries}


def update_tumor_assessment(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, assessment_id: int, cmd: EditRecord
) -> dict[str, Any]:
    """Correct an assessment's date or lesions with a reason for change; the history is re-evaluated."""
    from trialdesk.services.capture import apply_changes, require_reason

    _, subject = get_subject(uow, principal, nct_id, subject_number, for_update=True)
    require(principal, Action.DATA_ENTER, subject.site_key, hide=False)
    changes, reason = cmd.changes, cmd.reason
    require_reason(reason)
    row = uow.tumor_assessments.get(int(assessment_id))
    if row is None or row.subject_id != subject.id:
        raise NotFound(f"no tumour assessment {assessment_id} for subject {subject_number}")
    unknown = [k for k in changes if k not in ("assessment_date", "lesions")]
    if unknown:
        raise InvalidInput([Problem(k, "not an editable field (editable: assessment_date, lesions)") for k in unknown])
    columns: dict[str, Any] = {}
    day = _date(changes.get("assessment_date", row.assessment_date), "assessment_date")
    columns["assessment_date"] = day.isoformat()
    if "lesions" in changes:
        columns["lesions_json"] = _lesions_json(_lesions(changes["lesions"]))
    randomized_on = _randomized_on(uow, subject)
    failures = _checks(uow, nct_id, {"assessment_date": day, "baseline": row.baseline}, randomized_on)
    live = uow.signatures.active(stored_id(subject))
    diff = apply_changes(uow, principal, row, columns, reason, "tumor_assessment", subject, trial=nct_id)
    if diff and live is not None:
        record_invalidation(
            uow, live, subject, reason=reason, nct_id=nct_id, actor=principal.username, with_data_version=False
        )
    evaluation = _evaluate(uow, nct_id, subject, randomized_on)
    queries = (
        [
            open_query(uow, subject, "tumor_assessment", stored_id(row), f.field, f.message, check_id=f.check_id).id
            for f in failures
        ]
        if diff
        else []
    )
    return {"assessment": assessment_dict(row), **_summary(evaluation), "changed": diff, "queries": queries}


def recist_summary(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str) -> dict[str, Any]:
    """The subject's assessments with sums, changes and responses, the BOR and the date of first PD.

    A follow-up stored before time points had a reason (``TimePointResult.reason``) gets the reason of this
    read-time evaluation of the stored history, the one a re-save would store; nothing is written."""
    _, subject = get_subject(uow, principal, nct_id, subject_number)
    rows = uow.tumor_assessments.for_subject(stored_id(subject))
    randomized_on = _randomized_on(uow, subject)
    base = next((r for r in rows if r.baseline), None)
    follow = sorted((r for r in rows if not r.baseline), key=lambda r: r.assessment_date)
    evaluation = None
    if base is not None and randomized_on is not None:
        # read-only evaluation: the engine is pure, the stored results are the same by construction
        history = SubjectTumorAssessments(
            subject_id=subject.subject_number,
            randomization_date=randomized_on,
            baseline=TumorAssessment(
                date=dt.date.fromisoformat(base.assessment_date), lesions=json.loads(base.lesions_json)
            ),
            follow_ups=[
                TumorAssessment(date=dt.date.fromisoformat(r.assessment_date), lesions=json.loads(r.lesions_json))
                for r in follow
            ],
        )
        evaluation = evaluate_subject(history, _specs(uow, nct_id)[0])
    assessments = [assessment_dict(r) for r in rows]
    if evaluation is not None:
        by_id = {a["id"]: a for a in assessments}
        for row, point in zip(follow, evaluation.time_points):
            result = by_id[row.id]["result"]
            if not result.get("reason") and row.overall_response == point.overall_response.value:
                result["reason"] = point.reason
    return {
        "subject": subject.subject_number,
        "randomization_date": randomized_on.isoformat() if randomized_on else None,
        "baseline_sum_mm": evaluation.baseline_sum_mm if evaluation else None,
        "assessments": assessments,
        **_summary(evaluation),
        "reasons": evaluation.reasons if evaluation else [],
    }
