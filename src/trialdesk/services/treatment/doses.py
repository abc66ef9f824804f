"""Doses: the planned doses of a cycle, recording a dose given, editing it, listing them.

The dose engine and every check of a dose live in :class:`~trialdesk.domain.treatment_course.TreatmentCourse`;
this module takes the typed command (:class:`~trialdesk.services.commands.PlanDoses`,
:class:`~trialdesk.services.commands.RecordDose`, :class:`~trialdesk.services.commands.EditDose`), loads the course,
checks what a dose may be whatever the protocol (given on or before today, a positive amount, a reduction with its
reason), stores, audits and opens the DOSE-WINDOW query.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.dosing import OverrideCheck
from trialdesk.domain.errors import InvalidInput, NotFound, Problem
from trialdesk.domain.records import Dose, Subject
from trialdesk.domain.subject_lifecycle import SubjectStatus
from trialdesk.domain.treatment_course import DoseEntry, check_height
from trialdesk.services.capture import apply_changes, require_reason
from trialdesk.services.commands import EditDose, PlanDoses, RecordDose
from trialdesk.services.registry import stored_id
from trialdesk.services.subjects import get_subject, touch
from trialdesk.services.treatment._common import (
    _after_completion,
    _date,
    _number,
    _set_status,
    _specs,
    _text,
    _today,
    _whole,
    load_course,
)
from trialdesk.services.unit_of_work import UnitOfWork

DOSE_EDITABLE_FIELDS = frozenset(
    {
        "dose_date",
        "actual_mg",
        "weight_kg",
        "delay_reason",
        "reduction_level",
        "reduction_reason",
        "interrupted",
        "override_reason",
    }
)
WINDOW_CHECK_ID = "DOSE-WINDOW"

T = TypeVar("T")


def planned_doses(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: PlanDoses
) -> dict[str, Any]:
    """The doses of a cycle for a randomized subject, each with its formula and inputs.

    Uses the subject's arm, height (``subjects.height_cm`` unless ``cmd.height_cm`` is given), the weight last used
    (the ±10% rule), the days since the last dose of each drug (reload rules) and the current reduction level of
    each drug (the last one used; ``cmd.dose_levels`` overrides). ``cmd.dose_date`` defaults to today.

    Returns
    -------
    dict
        ``trialdesk dose --json`` fields (``bsa_m2``, ``doses`` with ``drug``, ``dose_mg``, ``basis``,
        ``loading``, ``formula``, ``inputs``...) plus the schedule context: ``planned_day1``, ``window_start``,
        ``window_end``, ``delay_days``, ``out_of_window``, ``days_since_last_dose``, ``last_used_weight_kg``.
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    treatment, schedule = _specs(uow, nct_id)
    course = load_course(uow, subject, treatment)
    day = _today(uow) if cmd.dose_date is None else cmd.dose_date
    height = subject.height_cm if cmd.height_cm is None else cmd.height_cm
    plan = course.plan(
        treatment,
        schedule,
        cycle=cmd.cycle,
        weight_kg=cmd.weight_kg,
        height_cm=height,
        dose_date=day,
        dose_levels=cmd.dose_levels,
    )
    return {**plan.context, **plan.doses.as_json()}


def dose_dict(row: Dose) -> dict[str, Any]:
    """JSON shape of a stored dose."""
    calc = json.loads(row.calculation_json or "{}")
    return {
        "id": row.id,
        "cycle": row.cycle,
        "drug": row.drug,
        "dose_date": row.dose_date,
        "planned_mg": row.planned_mg,
        "actual_mg": row.actual_mg,
        "weight_kg": row.weight_kg,
        "weight_kg_used": calc.get("weight_kg_used"),
        "bsa_m2": row.bsa_m2,
        "loading": row.loading,
        "reload": calc.get("reload", False),
        "delay_days": row.delay_days,
        "delay_reason": row.delay_reason,
        "reduction_level": row.reduction_level,
        "reduction_reason": row.reduction_reason,
        "interrupted": row.interrupted,
        "override_reason": row.override_reason,
        "formula": calc.get("formula"),
        "out_of_window": calc.get("out_of_window", False),
        "entered_at": row.entered_at,
        "entered_by": row.entered_by,
    }


#: The entered fields in the order their problems are reported.
_FIELD_ORDER = ("dose_date", "actual_mg", "weight_kg", "reduction_level", "reduction_reason", "interrupted")


@dataclass(frozen=True)
class _DoseValues:
    """A dose's entered values, typed and checked (nothing is stored until all pass)."""

    dose_date: dt.date
    actual_mg: float
    weight_kg: float
    delay_reason: str | None
    reduction_level: int
    reduction_reason: str | None
    interrupted: bool
    override_reason: str | None

    def entry(self) -> DoseEntry:
        """The values the domain checks the dose with."""
        return DoseEntry(
            dose_date=self.dose_date,
            actual_mg=self.actual_mg,
            weight_kg=self.weight_kg,
            reduction_level=self.reduction_level,
            interrupted=self.interrupted,
            override_reason=self.override_reason,
        )

    def columns(self) -> dict[str, Any]:
        """The stored columns of these values."""
        return {
            "dose_date": self.dose_date.isoformat(),
            "actual_mg": self.actual_mg,
            "weight_kg": self.weight_kg,
            "delay_reason": self.delay_reason,
            "reduction_level": self.reduction_level,
            "reduction_reason": self.reduction_reason,
            "interrupted": self.interrupted,
            "override_reason": self.override_reason,
        }


def _dose_problems(
    *,
    dose_date: dt.date | None,
    actual_mg: float | None,
    reduction_level: int | None,
    reduction_reason: str | None,
    today: dt.date,
) -> list[Problem]:
    """What no dose may be, whatever the protocol (a value that could not be read, ``None``, is not checked)."""
    problems: list[Problem] = []
    if dose_date is not None and dose_date > today:
        problems.append(
            Problem("dose_date", f"{dose_date.isoformat()} is in the future (today is {today.isoformat()})")
        )
    if actual_mg is not None and actual_mg <= 0:
        problems.append(
            Problem("actual_mg", f"must be > 0 mg, got {actual_mg:g}; a dose not given is not recorded as a dose")
        )
    if reduction_level is not None and reduction_level > 0:
        problems.append(
            Problem("reduction_level", f"must be 0 (protocol dose) or negative (-1, -2...), got {reduction_level}")
        )
    if reduction_level and not reduction_reason:
        problems.append(Problem("reduction_reason", f"a reason is required for dose level {reduction_level}"))
    return problems


def _raise_sorted(problems: list[Problem]) -> None:
    """All problems together, in the order of the entered fields."""
    if problems:
        raise InvalidInput(
            sorted(problems, key=lambda p: _FIELD_ORDER.index(p.path) if p.path in _FIELD_ORDER else len(_FIELD_ORDER))
        )


def _new_dose_values(cmd: RecordDose, today: dt.date) -> _DoseValues:
    """The command's values, checked."""
    values = _DoseValues(
        dose_date=cmd.dose_date,
        actual_mg=cmd.actual_mg,
        weight_kg=cmd.weight_kg,
        delay_reason=_text(cmd.delay_reason),
        reduction_level=cmd.reduction_level,
        reduction_reason=_text(cmd.reduction_reason),
        interrupted=cmd.interrupted,
        override_reason=_text(cmd.override_reason),
    )
    _raise_sorted(
        _dose_problems(
            dose_date=values.dose_date,
            actual_mg=values.actual_mg,
            reduction_level=values.reduction_level,
            reduction_reason=values.reduction_reason,
            today=today,
        )
    )
    return values


def _corrected_values(merged: Mapping[str, Any], today: dt.date) -> _DoseValues:
    """A corrected dose's values (the stored ones with the changes applied), read field by field: a change is a
    value as typed on a form or sent as JSON, so each one that cannot be read is reported against its field."""
    problems: list[Problem] = []

    def read(fn: Callable[[Any, str], T], name: str) -> T | None:
        try:
            return fn(merged[name], name)
        except InvalidInput as exc:
            problems.extend(exc.problems)
            return None

    dose_date = read(_date, "dose_date")
    actual_mg = read(_number, "actual_mg")
    weight_kg = read(_number, "weight_kg")
    reduction_level = read(_whole, "reduction_level")
    reduction_reason = _text(merged["reduction_reason"])
    interrupted = merged["interrupted"]
    if not isinstance(interrupted, bool):
        problems.append(Problem("interrupted", f"must be true or false, got {interrupted!r}"))
    problems += _dose_problems(
        dose_date=dose_date,
        actual_mg=actual_mg,
        reduction_level=reduction_level,
        reduction_reason=reduction_reason,
        today=today,
    )
    _raise_sorted(problems)
    assert dose_date is not None and actual_mg is not None and weight_kg is not None and reduction_level is not None
    return _DoseValues(
        dose_date=dose_date,
        actual_mg=actual_mg,
        weight_kg=weight_kg,
        delay_reason=_text(merged["delay_reason"]),
        reduction_level=reduction_level,
        reduction_reason=reduction_reason,
        interrupted=bool(interrupted),
        override_reason=_text(merged["override_reason"]),
    )


def _open_window_query(
    uow: UnitOfWork, principal: Principal, subject: Subject, row: Dose, context: Mapping[str, Any]
) -> bool:
    """Edit check DOSE-WINDOW: a dose outside its cycle window is stored and opens a query (when the queries
    module is installed)."""
    if not context["out_of_window"]:
        return False
    try:
        from trialdesk.services.queries import open_query
    except ImportError:
        return False
    open_query(
        uow,
        subject,
        "dose",
        str(row.id),
        "dose_date",
        f"Dose date {context['dose_date']} is outside the cycle {context['cycle']} window "
        f"{context['window_start']} to {context['window_end']} (planned day 1 {context['planned_day1']}); "
        f"please confirm the date and give the reason for the delay.",
        WINDOW_CHECK_ID,
        origin="edit_check",
        raised_by=principal.username,
    )
    return True


def _record_override(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject: Subject, row: Dose, override: OverrideCheck
) -> None:
    uow.record(
        "dose.override",
        "dose",
        row.id,
        after={
            "subject_number": subject.subject_number,
            "drug": row.drug,
            "cycle": row.cycle,
            "calculated_mg": override.calculated_mg,
            "prescribed_mg": override.prescribed_mg,
            "deviation_fraction": round(override.deviation_fraction, 6),
            "tolerance": override.tolerance,
        },
        reason=override.reason,
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )


def record_dose(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: RecordDose
) -> dict[str, Any]:
    """Record one drug given at one cycle (``Action.DATA_ENTER``).

    The planned dose comes from the dose engine (with the subject's history); the calculation (formula, inputs,
    weight rule, window) is stored with the dose. Refused, with nothing stored: a dose date before randomization,
    in the future, after end of treatment/study or death, or out of order with the other cycles; a cycle beyond
    the regimen's limit or skipping a cycle; an impossible weight; a drug not in the subject's arm; a second dose
    of the same drug at the same cycle (Conflict); an actual dose more than the override tolerance away from the
    planned one without ``override_reason``. An accepted override is audited (``dose.override``). A dose outside
    its cycle window is stored and opens a query (check ``DOSE-WINDOW``). ``cmd.height_cm`` records the subject's
    height when it is not yet known.
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.DATA_ENTER, for_update=True)
    treatment, schedule = _specs(uow, nct_id)
    course = load_course(uow, subject, treatment)
    drug_id = course.regimen.drug(cmd.drug).drug
    cycle = cmd.cycle
    values = _new_dose_values(cmd, _today(uow))
    _raise_sorted(_after_completion(uow, nct_id, "dose_date", values.dose_date))
    if cmd.height_cm is not None:  # checked even when the subject's height is known: never silently ignored
        check_height(treatment, cmd.height_cm)
        if subject.height_cm is not None and cmd.height_cm != subject.height_cm:
            raise InvalidInput(
                f"{cmd.height_cm:g} cm differs from the subject's recorded height ({subject.height_cm:g} cm); "
                "a dose records the height only when none is known",
                field="height_cm",
            )
    if cmd.height_cm is not None and subject.height_cm is None:
        height = cmd.height_cm
        subject.height_cm = height
        uow.record(
            "subject.updated",
            "subject",
            subject.subject_number,
            before={"height_cm": None},
            after={"height_cm": height},
            reason="height recorded with the first dose",
            trial=nct_id,
            site=subject.site_key,
            actor=principal.username,
        )
    course.check_new_dose(drug_id, cycle)
    checked = course.evaluate(treatment, schedule, drug_id, cycle, values.entry(), height_cm=subject.height_cm)
    row = uow.doses.create(
        subject_id=stored_id(subject),
        cycle=cycle,
        drug=drug_id,
        **values.columns(),
        entered_at=uow.now().isoformat(),
        entered_by=principal.username,
        **checked.derived,
    )
    out = dose_dict(row)
    uow.record(
        "dose.recorded",
        "dose",
        row.id,
        after={"subject_number": subject.subject_number, **{k: v for k, v in out.items() if k != "entered_at"}},
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    if checked.override.requires_reason:
        _record_override(uow, principal, nct_id, subject, row, checked.override)
    _set_status(
        uow, principal, nct_id, subject, SubjectStatus.ON_TREATMENT, f"first dose recorded ({drug_id}, cycle {cycle})"
    )
    touch(uow, subject, reason=f"dose {row.id} recorded")
    out["query_opened"] = _open_window_query(uow, principal, subject, row, checked.context)
    out["override_required"] = checked.override.requires_reason
    return out


def update_dose(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, dose_id: int, cmd: EditDose
) -> dict[str, Any]:
    """Edit a recorded dose (``Action.DATA_ENTER``): a reason for change is required, and the audit event
    ``dose.updated`` holds the old and new value of each changed field (derived ones too: planned dose, delay),
    with who, when and why. Editable: dose_date, actual_mg, weight_kg, delay_reason, reduction_level,
    reduction_reason, interrupted, override_reason. The same checks as :func:`record_dose` apply to the result."""
    clean = require_reason(cmd.reason)
    changes = cmd.changes
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.DATA_ENTER, for_update=True)
    row = uow.doses.get(dose_id, for_update=True)
    if row is None or row.subject_id != subject.id:
        raise NotFound(f"no dose {dose_id} for subject {subject_number}")
    if not changes:
        raise InvalidInput("no field to change", field="changes")
    for name in changes:
        if name not in DOSE_EDITABLE_FIELDS:
            raise InvalidInput(f"not editable; editable fields: {', '.join(sorted(DOSE_EDITABLE_FIELDS))}", field=name)
    treatment, schedule = _specs(uow, nct_id)
    course = load_course(uow, subject, treatment)
    merged = {name: getattr(row, name) for name in DOSE_EDITABLE_FIELDS}
    merged.update(changes)
    values = _corrected_values(merged, _today(uow))
    _raise_sorted(_after_completion(uow, nct_id, "dose_date", values.dose_date))
    checked = course.evaluate(
        treatment, schedule, row.drug, row.cycle, values.entry(), height_cm=subject.height_cm, exclude_id=row.id
    )
    new = values.columns()
    new.update({k: v for k, v in checked.derived.items() if k != "calculation_json"})
    diff = apply_changes(uow, principal, row, new, clean, "dose", subject, trial=nct_id)
    row.calculation_json = checked.derived["calculation_json"]
    if checked.override.requires_reason and {"actual_mg", "planned_mg", "override_reason"} & set(diff):
        _record_override(uow, principal, nct_id, subject, row, checked.override)
    out = dose_dict(row)
    out["changes"] = diff
    out["query_opened"] = bool(diff) and _open_window_query(uow, principal, subject, row, checked.context)
    return out


def list_doses(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str) -> list[dict[str, Any]]:
    """The subject's recorded doses (JSON shape of :func:`dose_dict`)."""
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    return [dose_dict(d) for d in uow.doses.for_subject(stored_id(subject))]
