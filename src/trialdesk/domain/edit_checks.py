"""Edit checks: declarative rules run on every save of captured data.

Each :class:`EditCheck` names the entity and the field it is about, a pure ``rule(record, context) -> bool``
(True: the data pass) and a message template. A check's :class:`Severity` decides what a failure does:

``reject``
    The value is impossible (a resolution before the onset, a grade CTCAE does not define, a date in the
    future): the save is refused with :class:`~trialdesk.domain.errors.InvalidInput` naming the field, and
    nothing is stored.
``query``
    The value is possible but needs the site's confirmation (an assessment outside its window, a grade 5
    event whose outcome is not fatal): the data are saved and a query is opened on the field.

A rule sees the record as a mapping of plain values (dates as :class:`datetime.date`) and a context mapping
(``today``, ``consent_date``, ``randomization_date``, ``ctcae`` (a :class:`~trialdesk.domain.ctcae.CtcaeDictionary`),
``schedule`` (a :class:`~trialdesk.domain.schedule.ScheduleSpec`), ``weight_limits``...). A rule whose inputs are
missing passes: it does not apply. :func:`run_checks` evaluates the checks of one entity and returns the
failures with their formatted messages; the services act on them (``services/adverse_events``,
``services/tumor``, and ``services/capture`` for doses).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from trialdesk.domain.schedule import ScheduleSpec, assessment_grid

__all__ = [
    "CheckFailure",
    "EDIT_CHECKS",
    "EditCheck",
    "Severity",
    "checks_for",
    "nearest_assessment_window",
    "run_checks",
]

Record = Mapping[str, Any]
Rule = Callable[[Record, Record], bool]


class Severity(StrEnum):
    REJECT = "reject"
    QUERY = "query"


@dataclass(frozen=True)
class EditCheck:
    """One declarative check.

    Attributes
    ----------
    id
        Stable identifier, stored on the queries it opens (e.g. ``"TA-WINDOW"``).
    entity
        ``adverse_event``, ``tumor_assessment`` or ``dose``.
    field
        The field a failure is about (the query's field, the error's path).
    rule
        ``rule(record, context) -> bool``: True when the data pass (or the rule does not apply).
    message
        Template formatted with the record, the context and ``details(record, context)``.
    severity
        :attr:`Severity.REJECT` or :attr:`Severity.QUERY`.
    details
        Optional: extra values for the message.
    """

    id: str
    entity: str
    field: str
    rule: Rule
    message: str
    severity: Severity = Severity.QUERY
    details: Callable[[Record, Record], dict[str, Any]] | None = None


@dataclass(frozen=True)
class CheckFailure:
    check_id: str
    entity: str
    field: str
    message: str
    severity: Severity


# --- rules ---------------------------------------------------------------------------------------------------------


def _value(record: Record, key: str) -> Any:
    """``record[key]``, None when absent: the rules compare values of many types, after :func:`_given`."""
    return record.get(key)


def _given(*values: Any) -> bool:
    return all(v is not None for v in values)


def _not_before(field: str, other: str, *, in_context: bool = False) -> Rule:
    def rule(record: Record, context: Record) -> bool:
        value = _value(record, field)
        reference = _value(context if in_context else record, other)
        return not _given(value, reference) or value >= reference

    return rule


def _not_after_today(field: str) -> Rule:
    def rule(record: Record, context: Record) -> bool:
        value, today = _value(record, field), _value(context, "today")
        return not _given(value, today) or value <= today

    return rule


def _grade_defined(record: Record, context: Record) -> bool:
    dictionary, term, grade = _value(context, "ctcae"), _value(record, "term"), _value(record, "grade")
    if not _given(dictionary, term, grade) or term not in dictionary:
        return True  # unknown terms are refused by the coding step, with suggestions
    return grade in dictionary.get(term).defined_grades


def _grade_details(record: Record, context: Record) -> dict[str, Any]:
    dictionary, term = _value(context, "ctcae"), _value(record, "term")
    if dictionary is None or term is None or term not in dictionary:
        return {"defined_grades": ""}
    return {"defined_grades": ", ".join(str(g) for g in dictionary.get(term).defined_grades)}


def _serious_has_criteria(record: Record, context: Record) -> bool:
    return not record.get("serious") or bool(record.get("seriousness"))


def _criteria_only_if_serious(record: Record, context: Record) -> bool:
    return bool(record.get("serious")) or not record.get("seriousness")


def _fatal_consistent(record: Record, context: Record) -> bool:
    grade, outcome = record.get("grade"), record.get("outcome")
    if not _given(grade, outcome):
        return True
    return (grade == 5) == (outcome == "fatal")


def _resolved_has_date(record: Record, context: Record) -> bool:
    return (
        record.get("outcome") not in ("recovered", "recovered_with_sequelae")
        or record.get("resolution_date") is not None
    )


def _date_means_resolved(record: Record, context: Record) -> bool:
    return record.get("resolution_date") is None or record.get("outcome") not in ("recovering", "not_recovered")


def nearest_assessment_window(
    spec: ScheduleSpec, randomization_date: dt.date, day: dt.date
) -> tuple[dt.date, dt.date, dt.date] | None:
    """The tumour-assessment grid visit nearest to ``day``: ``(planned, window_start, window_end)``.

    The grid counts from randomization (:func:`trialdesk.domain.schedule.assessment_grid`); None before the first
    grid visit can exist (a ``day`` on or before randomization).
    """
    if day <= randomization_date:
        return None
    longest = max(p.every_days + p.window_days for p in spec.assessment_phases)
    grid = assessment_grid(spec, randomization_date, day + dt.timedelta(days=longest))
    if not grid:
        return None
    planned, window = min(grid, key=lambda pw: (abs((pw[0] - day).days), pw[0]))
    return planned, planned - dt.timedelta(days=window), planned + dt.timedelta(days=window)


def _in_window(record: Record, context: Record) -> bool:
    day, spec, r = _value(record, "assessment_date"), _value(context, "schedule"), _value(context, "randomization_date")
    if record.get("baseline") or not _given(day, spec, r) or day <= r:
        return True
    nearest = nearest_assessment_window(spec, r, day)
    return nearest is not None and nearest[1] <= day <= nearest[2]


def _window_details(record: Record, context: Record) -> dict[str, Any]:
    day, spec, r = _value(record, "assessment_date"), _value(context, "schedule"), _value(context, "randomization_date")
    nearest = nearest_assessment_window(spec, r, day) if _given(day, spec, r) else None
    if nearest is None:
        return {"window": "none"}
    planned, start, end = nearest
    return {"window": f"{start} to {end}, planned {planned} (day {(planned - r).days})"}


def _follow_up_after_randomization(record: Record, context: Record) -> bool:
    day, r = _value(record, "assessment_date"), _value(context, "randomization_date")
    return record.get("baseline") or not _given(day, r) or day > r


def _baseline_before_randomization(record: Record, context: Record) -> bool:
    day, r = _value(record, "assessment_date"), _value(context, "randomization_date")
    return not record.get("baseline") or not _given(day, r) or day <= r


def _weight_in_limits(record: Record, context: Record) -> bool:
    weight, limits = _value(record, "weight_kg"), _value(context, "weight_limits")
    return not _given(weight, limits) or limits[0] <= weight <= limits[1]


# --- the checks ----------------------------------------------------------------------------------------------------

R, Q = Severity.REJECT, Severity.QUERY

EDIT_CHECKS: tuple[EditCheck, ...] = (
    # adverse events
    EditCheck(
        "AE-GRADE",
        "adverse_event",
        "grade",
        _grade_defined,
        "grade {grade} is not defined for CTCAE term {term!r} (defined: {defined_grades})",
        R,
        _grade_details,
    ),
    EditCheck(
        "AE-END-AFTER-START",
        "adverse_event",
        "resolution_date",
        _not_before("resolution_date", "onset_date"),
        "resolution date {resolution_date} is before the onset date {onset_date}",
        R,
    ),
    EditCheck(
        "AE-ONSET-AFTER-CONSENT",
        "adverse_event",
        "onset_date",
        _not_before("onset_date", "consent_date", in_context=True),
        "onset date {onset_date} is before the subject's informed consent ({consent_date})",
        R,
    ),
    EditCheck(
        "AE-ONSET-NOT-FUTURE",
        "adverse_event",
        "onset_date",
        _not_after_today("onset_date"),
        "onset date {onset_date} is in the future (today is {today})",
        R,
    ),
    EditCheck(
        "AE-END-NOT-FUTURE",
        "adverse_event",
        "resolution_date",
        _not_after_today("resolution_date"),
        "resolution date {resolution_date} is in the future (today is {today})",
        R,
    ),
    EditCheck(
        "AE-SERIOUS-CRITERIA",
        "adverse_event",
        "seriousness",
        _serious_has_criteria,
        "a serious adverse event needs at least one ICH seriousness criterion",
        R,
    ),
    EditCheck(
        "AE-CRITERIA-NOT-SERIOUS",
        "adverse_event",
        "seriousness",
        _criteria_only_if_serious,
        "seriousness criteria are given but the event is not marked serious",
        R,
    ),
    EditCheck(
        "AE-FATAL-OUTCOME",
        "adverse_event",
        "outcome",
        _fatal_consistent,
        "grade {grade} with outcome {outcome!r}: CTCAE grade 5 is death, so grade 5 and a fatal outcome go "
        "together; please confirm",
        Q,
    ),
    EditCheck(
        "AE-RESOLVED-NO-DATE",
        "adverse_event",
        "resolution_date",
        _resolved_has_date,
        "outcome {outcome!r} but no resolution date; please give the date the event resolved",
        Q,
    ),
    EditCheck(
        "AE-DATE-NOT-RESOLVED",
        "adverse_event",
        "outcome",
        _date_means_resolved,
        "a resolution date ({resolution_date}) is given but the outcome is {outcome!r}; please confirm",
        Q,
    ),
    # tumour assessments
    EditCheck(
        "TA-WINDOW",
        "tumor_assessment",
        "assessment_date",
        _in_window,
        "assessment date {assessment_date} is outside its tumour-assessment window (nearest: {window})",
        Q,
        _window_details,
    ),
    EditCheck(
        "TA-AFTER-RANDOMIZATION",
        "tumor_assessment",
        "assessment_date",
        _follow_up_after_randomization,
        "follow-up assessment date {assessment_date} is not after randomization ({randomization_date})",
        R,
    ),
    EditCheck(
        "TA-BASELINE-BEFORE-RANDOMIZATION",
        "tumor_assessment",
        "assessment_date",
        _baseline_before_randomization,
        "baseline assessment date {assessment_date} is after randomization ({randomization_date})",
        Q,
    ),
    EditCheck(
        "TA-NOT-FUTURE",
        "tumor_assessment",
        "assessment_date",
        _not_after_today("assessment_date"),
        "assessment date {assessment_date} is in the future (today is {today})",
        R,
    ),
    # doses (used by services/capture)
    EditCheck(
        "DOSE-AFTER-RANDOMIZATION",
        "dose",
        "dose_date",
        _not_before("dose_date", "randomization_date", in_context=True),
        "dose date {dose_date} is before randomization ({randomization_date})",
        Q,
    ),
    EditCheck(
        "DOSE-WEIGHT-RANGE",
        "dose",
        "weight_kg",
        _weight_in_limits,
        "weight {weight_kg} kg is outside {weight_limits[0]:g}-{weight_limits[1]:g} kg",
        Q,
    ),
)


def checks_for(entity: str, checks: Iterable[EditCheck] = EDIT_CHECKS) -> list[EditCheck]:
    """The checks of one entity, in declaration order."""
    return [c for c in checks if c.entity == entity]


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def run_checks(
    entity: str, record: Record, context: Record, checks: Iterable[EditCheck] = EDIT_CHECKS
) -> list[CheckFailure]:
    """Evaluate the checks of ``entity`` on ``record``; return the failures (empty when all pass)."""
    failures = []
    for check in checks_for(entity, checks):
        if check.rule(record, context):
            continue
        values = _Blank({**{k: v for k, v in context.items() if k not in ("ctcae", "schedule")}, **record})
        if check.details is not None:
            values.update(check.details(record, context))
        failures.append(
            CheckFailure(check.id, check.entity, check.field, check.message.format_map(values), check.severity)
        )
    return failures
