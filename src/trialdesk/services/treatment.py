"""Treatment use cases: the subject and site calendars, planned doses, doses administered, and disposition.

Everything is computed from what is stored:

- the allocation (arm, ``randomized_on``), written by randomization;
- the doses administered (table ``doses``): the day 1 of each cycle is the earliest dose date of that cycle;
- the tumour assessments (table ``tumor_assessments``): their dates fill the fixed assessment grid, and the first
  post-baseline assessment with overall response ``PD`` is the progression date;
- the disposition events (table ``dispositions``): end of treatment (its date stops treatment visits; the EOT
  visit's own date may be given as ``details.eot_visit_date``), end of study and death (visits after them are
  dropped, those left undone before them are missed) and new anticancer therapy.

The rules themselves live in the domain: :mod:`trialdesk.domain.dosing` (doses, weight rule, reloading,
reductions, override check) and :mod:`trialdesk.domain.schedule` (windows, grid, statuses). This module gathers
the inputs, checks access, stores, audits and opens edit-check queries.

Delay of a dose (``delay_days``): for cycle k >= 2, days from the planned day 1 (previous actual day 1 + cycle
length; negative when early); for cycle 1, days after the end of the cycle-1 window (randomization +
``c1d1_within_days``), 0 inside it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.dosing import (
    ArmDoses,
    ArmRegimen,
    OverrideCheck,
    TreatmentSpec,
    calculate_arm_doses,
    check_override,
)
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, Problem
from trialdesk.domain.schedule import (
    ScheduleSpec,
    SubjectTimeline,
    Visit,
    VisitKind,
    VisitStatus,
    build_subject_calendar,
)
from trialdesk.domain.subject_lifecycle import SubjectStatus, advance, status_after_disposition
from trialdesk.services.capture import apply_changes, require_reason
from trialdesk.services.subjects import get_subject, protocol, subjects_visible, touch

__all__ = [
    "DISPOSITION_KINDS",
    "DOSE_EDITABLE_FIELDS",
    "END_OF_STUDY_REASONS",
    "END_OF_TREATMENT_REASONS",
    "list_dispositions",
    "list_doses",
    "planned_doses",
    "record_disposition",
    "record_dose",
    "site_calendar",
    "subject_calendar",
    "update_dose",
]

DISPOSITION_KINDS = ("end_of_treatment", "end_of_study", "death", "new_therapy")
#: Suggested reasons (CDISC-like wording); free text is accepted too.
END_OF_TREATMENT_REASONS = ("progressive disease", "adverse event", "withdrawal by subject", "physician decision",
                            "death", "lost to follow-up", "protocol deviation", "completed planned cycles", "other")
END_OF_STUDY_REASONS = ("death", "withdrawal by subject", "lost to follow-up", "study terminated by sponsor",
                        "physician decision", "other")
_SINGLE_KINDS = {"end_of_treatment", "end_of_study", "death"}
_REASON_WORD = {"end_of_treatment": "reason for ending treatment", "end_of_study": "reason for ending the study",
                "death": "cause of death", "new_therapy": "description of the new anticancer therapy"}
DOSE_EDITABLE_FIELDS = frozenset({"dose_date", "actual_mg", "weight_kg", "delay_reason", "reduction_level",
                                  "reduction_reason", "interrupted", "override_reason"})
WINDOW_CHECK_ID = "DOSE-WINDOW"


# --------------------------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------------------------


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput(f"must be a date YYYY-MM-DD, got {value!r}", field=field)


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


def _today(uow) -> dt.date:
    return uow.now().date()


def _renamed(exc: InvalidInput, names: Mapping[str, str]) -> InvalidInput:
    return InvalidInput([Problem(names.get(p.path, p.path), p.message, p.line) for p in exc.problems])


def _specs(uow, nct_id: str) -> tuple[TreatmentSpec, ScheduleSpec]:
    ops = protocol(uow, nct_id).operations
    if ops.treatment is None or ops.schedule is None:
        raise Conflict(f"the protocol of {nct_id} has no operations.treatment or operations.schedule section")
    return ops.treatment, ops.schedule


def _allocation(uow, subject):
    alloc = uow.doses.allocation(subject.id)
    if alloc is None:
        raise Conflict(f"subject {subject.subject_number} is not randomized: no treatment, doses or calendar yet")
    return alloc


class _Facts:
    """What is stored about one subject's treatment."""

    def __init__(self, subject, alloc, doses, assessments, dispositions, treatment: TreatmentSpec) -> None:
        self.subject, self.alloc, self.doses = subject, alloc, list(doses)
        self.assessments, self.dispositions = list(assessments), list(dispositions)
        self.randomized_on = dt.date.fromisoformat(alloc.randomized_on)
        self.regimen: ArmRegimen = treatment.arm(alloc.arm)

    @classmethod
    def load(cls, uow, subject, treatment: TreatmentSpec) -> _Facts:
        alloc = _allocation(uow, subject)
        return cls(subject, alloc, uow.doses.for_subject(subject.id),
                   uow.doses.assessments([subject.id]).get(subject.id, []),
                   uow.dispositions.for_subject(subject.id), treatment)

    def disposition(self, kind: str):
        return next((d for d in self.dispositions if d.kind == kind), None)

    def day1s(self, exclude_id: int | None = None) -> dict[int, dt.date]:
        """Cycle -> day 1 (earliest dose date of the cycle)."""
        out: dict[int, dt.date] = {}
        for d in self.doses:
            if d.id == exclude_id:
                continue
            day = dt.date.fromisoformat(d.dose_date)
            out[d.cycle] = min(day, out.get(d.cycle, day))
        return dict(sorted(out.items()))

    def timeline(self) -> tuple[SubjectTimeline, dt.date | None]:
        """The domain timeline, and the date after which no visit can take place (end of study or death)."""
        r = self.randomized_on
        day1 = self.day1s()
        eot = self.disposition("end_of_treatment")
        terminal = [dt.date.fromisoformat(d.event_date) for d in self.dispositions
                    if d.kind in ("end_of_study", "death")]
        stop_all = min(terminal) if terminal else None
        treatment_end = dt.date.fromisoformat(eot.event_date) if eot else stop_all
        eot_visit = None
        if eot is not None:
            eot_visit = json.loads(eot.details_json or "{}").get("eot_visit_date")
        progression = next((dt.date.fromisoformat(day) for day, baseline, response in self.assessments
                            if not baseline and (response or "").upper() == "PD"
                            and dt.date.fromisoformat(day) >= r), None)
        timeline = SubjectTimeline(
            subject_id=self.subject.subject_number, site_id=self.subject.site_key, randomization_date=r,
            dose_dates=list(day1.values()),
            assessment_dates=sorted({dt.date.fromisoformat(day) for day, baseline, _ in self.assessments
                                     if not baseline and dt.date.fromisoformat(day) >= r}),
            treatment_end_date=treatment_end, eot_date=dt.date.fromisoformat(eot_visit) if eot_visit else None,
            progression_date=progression, max_cycles=self.regimen.max_cycles)
        return timeline, stop_all


def _calendar(schedule: ScheduleSpec, facts: _Facts, as_of: dt.date, horizon_days: int) -> list[Visit]:
    timeline, stop_all = facts.timeline()
    visits = build_subject_calendar(schedule, timeline, as_of, horizon_days=horizon_days)
    if stop_all is None:
        return visits
    out = []
    for v in visits:
        if v.status is VisitStatus.DONE:
            out.append(v)
        elif v.window_start < stop_all:
            out.append(v.model_copy(update={"status": VisitStatus.MISSED}) if as_of >= stop_all else v)
    return out


def visit_dict(v: Visit) -> dict:
    """JSON shape of a visit (API, CLI)."""
    return {"subject": v.subject_id, "site": v.site_id, "kind": v.kind.value, "label": v.label, "number": v.number,
            "planned": v.planned.isoformat(), "window_start": v.window_start.isoformat(),
            "window_end": v.window_end.isoformat(), "actual": v.actual.isoformat() if v.actual else None,
            "status": v.status.value, "out_of_window": v.out_of_window}


# --------------------------------------------------------------------------------------------------------------------
# calendars
# --------------------------------------------------------------------------------------------------------------------


def subject_calendar(uow, principal: Principal, nct_id: str, subject_number: str, as_of: dt.date | str | None = None,
                     *, horizon_days: int = 126) -> list[Visit]:
    """A randomized subject's visits with windows and statuses on ``as_of`` (default: today by the injected clock).

    Raises NotFound for a subject the caller may not see, Conflict for one not randomized.
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    treatment, schedule = _specs(uow, nct_id)
    day = _today(uow) if as_of is None else _date(as_of, "as_of")
    facts = _Facts.load(uow, subject, treatment)
    return _calendar(schedule, facts, day, horizon_days)


_SITE_ORDER = {VisitStatus.OVERDUE: 0, VisitStatus.DUE: 1, VisitStatus.UPCOMING: 2}


def site_calendar(uow, principal: Principal, nct_id: str, site_key: str, as_of: dt.date | str | None = None,
                  *, horizon_days: int = 28) -> list[Visit]:
    """Visits still to be done at a site (overdue first, then due, then upcoming within ``horizon_days``), for all
    its randomized subjects. Needs subject-view rights at the site (403 otherwise)."""
    subjects = subjects_visible(uow, principal, nct_id, Action.SUBJECT_VIEW, site_key=site_key)
    treatment, schedule = _specs(uow, nct_id)
    day = _today(uow) if as_of is None else _date(as_of, "as_of")
    ids = [s.id for s in subjects]
    allocs = uow.doses.allocations(ids)
    doses = uow.doses.for_subjects(allocs)
    assessments = uow.doses.assessments(allocs)
    dispositions = uow.dispositions.for_subjects(allocs)
    visits: list[Visit] = []
    for s in subjects:
        if s.id not in allocs:
            continue
        facts = _Facts(s, allocs[s.id], doses.get(s.id, []), assessments.get(s.id, []), dispositions.get(s.id, []),
                       treatment)
        visits += [v for v in _calendar(schedule, facts, day, horizon_days) if v.status in _SITE_ORDER]
    return sorted(visits, key=lambda v: (_SITE_ORDER[v.status], v.planned, v.subject_id, v.label))


# --------------------------------------------------------------------------------------------------------------------
# doses
# --------------------------------------------------------------------------------------------------------------------


def _plan(uow, treatment: TreatmentSpec, schedule: ScheduleSpec, facts: _Facts, *, cycle: Any, weight_kg: Any,
          height_cm: Any, dose_date: dt.date, dose_levels: Mapping[str, int] | None = None,
          exclude_id: int | None = None) -> tuple[ArmDoses, dict[str, Any]]:
    """Run the dose engine for one cycle with the subject's history; returns the result and the schedule context."""
    cycle = _whole(cycle, "cycle")
    if cycle < 1:
        raise InvalidInput(f"must be a whole number >= 1, got {cycle}", field="cycle")
    weight = _number(weight_kg, "weight_kg")
    if height_cm is None or height_cm == "":
        height_cm = facts.subject.height_cm
    if height_cm is None:
        raise InvalidInput("the subject's height is not recorded; give height_cm", field="height_cm")
    height = _number(height_cm, "height_cm")
    r = facts.randomized_on
    if dose_date < r:
        raise InvalidInput(f"dose date {dose_date.isoformat()} is before randomization ({r.isoformat()})",
                           field="dose_date")
    day1 = facts.day1s(exclude_id)
    last_cycle = max(day1, default=0)
    if cycle > last_cycle + 1:
        raise InvalidInput(f"cycle {cycle} cannot be given before cycle {last_cycle + 1}; the last cycle with a dose "
                           f"recorded is {last_cycle or 'none'}", field="cycle")
    earlier = [d for d in facts.doses if d.id != exclude_id and d.cycle < cycle]
    later = [d for d in facts.doses if d.id != exclude_id and d.cycle > cycle]
    if cycle > 1 and dose_date <= day1[cycle - 1]:
        raise InvalidInput(f"dose date {dose_date.isoformat()} is not after day 1 of cycle {cycle - 1} "
                           f"({day1[cycle - 1].isoformat()})", field="dose_date")
    if later and dose_date >= min(dt.date.fromisoformat(d.dose_date) for d in later):
        raise InvalidInput(f"dose date {dose_date.isoformat()} is not before the doses of cycle {cycle + 1}",
                           field="dose_date")
    # weight last used and current reduction levels: from the previous cycles
    last_used = None
    levels: dict[str, int] = {}
    gaps: dict[str, int] = {}
    for d in sorted(earlier, key=lambda d: (d.cycle, d.dose_date, d.id)):
        calc = json.loads(d.calculation_json or "{}")
        last_used = calc.get("weight_kg_used", d.weight_kg)
        levels[d.drug] = d.reduction_level
        gaps[d.drug] = (dose_date - dt.date.fromisoformat(d.dose_date)).days
    known = {drug.drug for drug in facts.regimen.drugs}
    levels = {k: v for k, v in levels.items() if k in known and v != 0}
    levels.update({k.strip().lower(): v for k, v in (dose_levels or {}).items()})
    gaps = {k: v for k, v in gaps.items() if k in known} if cycle > 1 else {}
    try:
        result = calculate_arm_doses(treatment, facts.regimen, cycle=cycle, weight_kg=weight, height_cm=height,
                                     days_since_last_dose=gaps or None, last_used_weight_kg=last_used,
                                     dose_levels=levels, dose_date=dose_date, randomization_date=r)
    except InvalidInput as exc:
        raise _renamed(exc, {"dose_level": "reduction_level", "dose_levels": "reduction_level"}) from None

    # schedule: the domain calendar with the previous cycles gives this cycle's planned day 1 and window
    previous = SubjectTimeline(subject_id=facts.subject.subject_number, randomization_date=r,
                               dose_dates=[day1[c] for c in sorted(day1) if c < cycle],
                               max_cycles=facts.regimen.max_cycles)
    visit = next(v for v in build_subject_calendar(schedule, previous, max(dose_date, r), horizon_days=0)
                 if v.kind is VisitKind.TREATMENT and v.number == cycle)
    if cycle == 1:
        delay = max(0, (dose_date - visit.window_end).days)
    else:
        delay = (dose_date - visit.planned).days
    context = {
        "subject": facts.subject.subject_number, "arm": facts.regimen.arm_id, "cycle": cycle,
        "dose_date": dose_date.isoformat(), "randomized_on": r.isoformat(),
        "planned_day1": visit.planned.isoformat(), "window_start": visit.window_start.isoformat(),
        "window_end": visit.window_end.isoformat(), "delay_days": delay,
        "out_of_window": not visit.window_start <= dose_date <= visit.window_end,
        "weight_kg": weight, "height_cm": height, "last_used_weight_kg": last_used,
        "days_since_last_dose": gaps, "reduction_levels": {d.drug: d.dose_level for d in result.doses},
    }
    return result, context


def planned_doses(uow, principal: Principal, nct_id: str, subject_number: str, cycle: int, weight_kg: float,
                  height_cm: float | None = None, dose_date: dt.date | str | None = None,
                  dose_levels: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The doses of a cycle for a randomized subject, each with its formula and inputs.

    Uses the subject's arm, height (``subjects.height_cm`` unless ``height_cm`` is given), the weight last used
    (the ±10% rule), the days since the last dose of each drug (reload rules) and the current reduction level of
    each drug (the last one used; ``dose_levels`` overrides). ``dose_date`` defaults to today.

    Returns
    -------
    dict
        ``trialdesk dose --json`` fields (``bsa_m2``, ``doses`` with ``drug``, ``dose_mg``, ``basis``,
        ``loading``, ``formula``, ``inputs``...) plus the schedule context: ``planned_day1``, ``window_start``,
        ``window_end``, ``delay_days``, ``out_of_window``, ``days_since_last_dose``, ``last_used_weight_kg``.
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    treatment, schedule = _specs(uow, nct_id)
    facts = _Facts.load(uow, subject, treatment)
    day = _today(uow) if dose_date in (None, "") else _date(dose_date, "dose_date")
    result, context = _plan(uow, treatment, schedule, facts, cycle=cycle, weight_kg=weight_kg, height_cm=height_cm,
                            dose_date=day, dose_levels=dose_levels)
    return {**context, **result.as_json()}


def dose_dict(row) -> dict[str, Any]:
    """JSON shape of a stored dose."""
    calc = json.loads(row.calculation_json or "{}")
    return {"id": row.id, "cycle": row.cycle, "drug": row.drug, "dose_date": row.dose_date,
            "planned_mg": row.planned_mg, "actual_mg": row.actual_mg, "weight_kg": row.weight_kg,
            "weight_kg_used": calc.get("weight_kg_used"), "bsa_m2": row.bsa_m2, "loading": row.loading,
            "reload": calc.get("reload", False), "delay_days": row.delay_days, "delay_reason": row.delay_reason,
            "reduction_level": row.reduction_level, "reduction_reason": row.reduction_reason,
            "interrupted": row.interrupted, "override_reason": row.override_reason,
            "formula": calc.get("formula"), "out_of_window": calc.get("out_of_window", False),
            "entered_at": row.entered_at, "entered_by": row.entered_by}


class _DoseInput:
    """A dose's entered values, checked (nothing is stored until all pass)."""

    def __init__(self, *, dose_date, actual_mg, weight_kg, delay_reason, reduction_level, reduction_reason,
                 interrupted, override_reason, today: dt.date) -> None:
        problems: list[Problem] = []

        def check(fn, *args):
            try:
                return fn(*args)
            except InvalidInput as exc:
                problems.extend(exc.problems)
                return None

        self.dose_date = check(_date, dose_date, "dose_date")
        if self.dose_date is not None and self.dose_date > today:
            problems.append(Problem("dose_date", f"{self.dose_date.isoformat()} is in the future (today is "
                                                 f"{today.isoformat()})"))
        self.actual_mg = check(_number, actual_mg, "actual_mg")
        if self.actual_mg is not None and self.actual_mg <= 0:
            problems.append(Problem("actual_mg", f"must be > 0 mg, got {self.actual_mg:g}; a dose not given is not "
                                                 f"recorded as a dose"))
        self.weight_kg = check(_number, weight_kg, "weight_kg")
        self.reduction_level = check(_whole, reduction_level, "reduction_level")
        if self.reduction_level is not None and self.reduction_level > 0:
            problems.append(Problem("reduction_level", f"must be 0 (protocol dose) or negative (-1, -2...), got "
                                                       f"{self.reduction_level}"))
        self.reduction_reason = _text(reduction_reason)
        if self.reduction_level and not self.reduction_reason:
            problems.append(Problem("reduction_reason", f"a reason is required for dose level {self.reduction_level}"))
        self.delay_reason = _text(delay_reason)
        if not isinstance(interrupted, bool):
            problems.append(Problem("interrupted", f"must be true or false, got {interrupted!r}"))
        self.interrupted = bool(interrupted)
        self.override_reason = _text(override_reason)
        if problems:
            raise InvalidInput(problems)


def _check_dose_against_dispositions(facts: _Facts, dose_date: dt.date) -> None:
    for d in facts.dispositions:
        if d.kind in _SINGLE_KINDS and dose_date > dt.date.fromisoformat(d.event_date):
            what = d.kind.replace("_", " ")
            raise InvalidInput(f"dose date {dose_date.isoformat()} is after the {what} ({d.event_date})",
                               field="dose_date")


def _evaluate(uow, treatment, schedule, facts: _Facts, drug_id: str, cycle: int, values: _DoseInput,
              exclude_id: int | None = None) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Engine + override check for one drug; returns (derived columns, override check, context)."""
    _check_dose_against_dispositions(facts, values.dose_date)
    result, context = _plan(uow, treatment, schedule, facts, cycle=cycle, weight_kg=values.weight_kg,
                            height_cm=None, dose_date=values.dose_date,
                            dose_levels={drug_id: values.reduction_level}, exclude_id=exclude_id)
    calc = next((d for d in result.doses if d.drug == drug_id), None)
    if calc is None:
        why = next((o.reason for o in result.omitted if o.drug == drug_id), "not given at this cycle")
        raise InvalidInput(f"{drug_id} at cycle {cycle}: {why}; cycle {cycle} is beyond the regimen's limit",
                           field="cycle")
    if values.interrupted and values.actual_mg < calc.dose_mg:
        # an interrupted infusion explains a lower dose given: no prescription override to justify
        override = OverrideCheck(calculated_mg=calc.dose_mg, prescribed_mg=values.actual_mg,
                                 deviation_fraction=(calc.dose_mg - values.actual_mg) / calc.dose_mg,
                                 tolerance=treatment.override_tolerance, requires_reason=False,
                                 reason=values.override_reason)
    else:
        override = check_override(calc.dose_mg, values.actual_mg, treatment.override_tolerance,
                                  values.override_reason)
    calculation = {
        "formula": calc.formula, "inputs": calc.inputs, "basis": calc.basis.value, "dose_per_unit": calc.dose_per_unit,
        "unrounded_mg": calc.unrounded_mg, "reload": calc.reload, "weight_kg_used": result.weight.weight_kg,
        "weight_rule": result.weight.reason, "bsa_formula": result.bsa_formula,
        "infusion_minutes": calc.infusion_minutes.model_dump(),
        "observation_minutes": calc.observation_minutes.model_dump() if calc.observation_minutes else None,
        "planned_day1": context["planned_day1"], "window_start": context["window_start"],
        "window_end": context["window_end"], "out_of_window": context["out_of_window"],
        "days_since_last_dose": context["days_since_last_dose"].get(drug_id),
        "override": {"deviation_fraction": round(override.deviation_fraction, 6), "tolerance": override.tolerance,
                     "requires_reason": override.requires_reason},
    }
    derived = {"planned_mg": calc.dose_mg, "bsa_m2": result.bsa_m2, "loading": calc.loading,
               "delay_days": context["delay_days"], "calculation_json": json.dumps(calculation, sort_keys=True)}
    return derived, override, context


def _open_window_query(uow, principal: Principal, subject, row, context: dict) -> bool:
    """Edit check DOSE-WINDOW: a dose outside its cycle window is stored and opens a query (when the queries
    module is installed)."""
    if not context["out_of_window"]:
        return False
    try:
        from trialdesk.services.queries import open_query
    except ImportError:
        return False
    open_query(uow, subject, "dose", str(row.id), "dose_date",
               f"Dose date {context['dose_date']} is outside the cycle {context['cycle']} window "
               f"{context['window_start']} to {context['window_end']} (planned day 1 {context['planned_day1']}); "
               f"please confirm the date and give the reason for the delay.",
               WINDOW_CHECK_ID, origin="edit_check", raised_by=principal.username)
    return True


def _set_status(uow, principal: Principal, nct_id: str, subject, status: SubjectStatus, reason: str) -> None:
    old = subject.status
    moved = advance(old, status)
    if moved is None:
        return
    new = moved.value
    subject.status = new
    uow.record("subject.status_changed", "subject", subject.subject_number, before={"status": old},
               after={"status": new}, reason=reason, trial=nct_id, site=subject.site_key, actor=principal.username)


def record_dose(uow, principal: Principal, nct_id: str, subject_number: str, *, drug: str, cycle: int,
                dose_date: dt.date | str, actual_mg: float, weight_kg: float, delay_reason: str | None = None,
                reduction_level: int = 0, reduction_reason: str | None = None, interrupted: bool = False,
                override_reason: str | None = None, height_cm: float | None = None) -> dict[str, Any]:
    """Record one drug given at one cycle (``Action.DATA_ENTER``).

    The planned dose comes from the dose engine (with the subject's history); the calculation (formula, inputs,
    weight rule, window) is stored with the dose. Refused, with nothing stored: a dose date before randomization,
    in the future, after end of treatment/study or death, or out of order with the other cycles; a cycle beyond
    the regimen's limit or skipping a cycle; an impossible weight; a drug not in the subject's arm; a second dose
    of the same drug at the same cycle (Conflict); an actual dose more than the override tolerance away from the
    planned one without ``override_reason``. An accepted override is audited (``dose.override``). A dose outside
    its cycle window is stored and opens a query (check ``DOSE-WINDOW``). ``height_cm`` records the subject's
    height when it is not yet known.
    """
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.DATA_ENTER, for_update=True)
    treatment, schedule = _specs(uow, nct_id)
    facts = _Facts.load(uow, subject, treatment)
    drug_id = facts.regimen.drug(str(drug)).drug
    cycle = _whole(cycle, "cycle")
    values = _DoseInput(dose_date=dose_date, actual_mg=actual_mg, weight_kg=weight_kg, delay_reason=delay_reason,
                        reduction_level=reduction_level, reduction_reason=reduction_reason, interrupted=interrupted,
                        override_reason=override_reason, today=_today(uow))
    if height_cm not in (None, "") and subject.height_cm is None:
        height = _number(height_cm, "height_cm")
        if not treatment.height_cm_limits.min <= height <= treatment.height_cm_limits.max:
            raise InvalidInput(f"{height:g} cm is outside the plausible range {treatment.height_cm_limits.min:g}-"
                               f"{treatment.height_cm_limits.max:g} cm", field="height_cm")
        subject.height_cm = height
        uow.record("subject.updated", "subject", subject.subject_number, before={"height_cm": None},
                   after={"height_cm": height}, reason="height recorded with the first dose", trial=nct_id,
                   site=subject.site_key, actor=principal.username)
    if any(d.drug == drug_id and d.cycle == cycle for d in facts.doses):
        raise Conflict(f"{drug_id} is already recorded at cycle {cycle} for subject {subject_number}; edit that dose "
                       f"with a reason for change instead")
    derived, override, context = _evaluate(uow, treatment, schedule, facts, drug_id, cycle, values)
    row = uow.doses.create(
        subject_id=subject.id, cycle=cycle, drug=drug_id, dose_date=values.dose_date.isoformat(),
        actual_mg=values.actual_mg, weight_kg=values.weight_kg, delay_reason=values.delay_reason,
        reduction_level=values.reduction_level, reduction_reason=values.reduction_reason,
        interrupted=values.interrupted, override_reason=values.override_reason,
        entered_at=uow.now().isoformat(), entered_by=principal.username, **derived)
    out = dose_dict(row)
    uow.record("dose.recorded", "dose", row.id, after={k: v for k, v in out.items() if k not in ("entered_at",)},
               trial=nct_id, site=subject.site_key, actor=principal.username)
    if override.requires_reason:
        uow.record("dose.override", "dose", row.id,
                   after={"drug": drug_id, "cycle": cycle, "calculated_mg": override.calculated_mg,
                          "prescribed_mg": override.prescribed_mg,
                          "deviation_fraction": round(override.deviation_fraction, 6),
                          "tolerance": override.tolerance},
                   reason=override.reason, trial=nct_id, site=subject.site_key, actor=principal.username)
    _set_status(uow, principal, nct_id, subject, SubjectStatus.ON_TREATMENT, f"first dose recorded ({drug_id}, cycle {cycle})")
    touch(uow, subject, reason=f"dose {row.id} recorded")
    out["query_opened"] = _open_window_query(uow, principal, subject, row, context)
    out["override_required"] = override.requires_reason
    return out


def update_dose(uow, principal: Principal, nct_id: str, subject_number: str, dose_id: int,
                changes: Mapping[str, Any], reason: str | None) -> dict[str, Any]:
    """Edit a recorded dose (``Action.DATA_ENTER``): a reason for change is required, and the audit event
    ``dose.updated`` holds the old and new value of each changed field (derived ones too: planned dose, delay),
    with who, when and why. Editable: dose_date, actual_mg, weight_kg, delay_reason, reduction_level,
    reduction_reason, interrupted, override_reason. The same checks as :func:`record_dose` apply to the result."""
    clean = require_reason(reason)
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.DATA_ENTER, for_update=True)
    row = uow.doses.get(_whole(dose_id, "dose_id"), for_update=True)
    if row is None or row.subject_id != subject.id:
        raise NotFound(f"no dose {dose_id} for subject {subject_number}")
    if not changes:
        raise InvalidInput("no field to change", field="changes")
    for name in changes:
        if name not in DOSE_EDITABLE_FIELDS:
            raise InvalidInput(f"not editable; editable fields: {', '.join(sorted(DOSE_EDITABLE_FIELDS))}",
                               field=name)
    treatment, schedule = _specs(uow, nct_id)
    facts = _Facts.load(uow, subject, treatment)
    merged = {name: getattr(row, name) for name in DOSE_EDITABLE_FIELDS}
    merged.update(changes)
    values = _DoseInput(**merged, today=_today(uow))
    derived, override, context = _evaluate(uow, treatment, schedule, facts, row.drug, row.cycle, values,
                                           exclude_id=row.id)
    new = {"dose_date": values.dose_date.isoformat(), "actual_mg": values.actual_mg, "weight_kg": values.weight_kg,
           "delay_reason": values.delay_reason, "reduction_level": values.reduction_level,
           "reduction_reason": values.reduction_reason, "interrupted": values.interrupted,
           "override_reason": values.override_reason}
    new.update({k: v for k, v in derived.items() if k != "calculation_json"})
    diff = apply_changes(uow, principal, row, new, clean, "dose", subject, trial=nct_id)
    row.calculation_json = derived["calculation_json"]
    if override.requires_reason and {"actual_mg", "planned_mg", "override_reason"} & set(diff):
        uow.record("dose.override", "dose", row.id,
                   after={"drug": row.drug, "cycle": row.cycle, "calculated_mg": override.calculated_mg,
                          "prescribed_mg": override.prescribed_mg,
                          "deviation_fraction": round(override.deviation_fraction, 6),
                          "tolerance": override.tolerance},
                   reason=override.reason, trial=nct_id, site=subject.site_key, actor=principal.username)
    out = dose_dict(row)
    out["changes"] = diff
    out["query_opened"] = bool(diff) and _open_window_query(uow, principal, subject, row, context)
    return out


def list_doses(uow, principal: Principal, nct_id: str, subject_number: str) -> list[dict[str, Any]]:
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    return [dose_dict(d) for d in uow.doses.for_subject(subject.id)]


# --------------------------------------------------------------------------------------------------------------------
# disposition
# --------------------------------------------------------------------------------------------------------------------


def disposition_dict(row) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "event_date": row.event_date, "reason": row.reason,
            "details": json.loads(row.details_json or "{}"), "entered_at": row.entered_at,
            "entered_by": row.entered_by}


def record_disposition(uow, principal: Principal, nct_id: str, subject_number: str, kind: str,
                       event_date: dt.date | str, reason: str | None = None,
                       details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Record a disposition event (``Action.DATA_ENTER``).

    ``kind``: ``end_of_treatment`` (``reason`` why treatment ended; ``details.eot_visit_date`` optional),
    ``end_of_study`` (``reason``), ``death`` (``event_date`` = date of death, ``reason`` = cause) or
    ``new_therapy`` (``event_date`` = start date, ``reason`` = description of the anticancer therapy; needed to
    censor PFS). Dates are not before randomization and not in the future; end of treatment, end of study and
    death are not before the last dose, occur once each, and end of treatment is not after end of study or
    death. The subject's status moves to ``off_treatment``, ``off_study`` or ``dead`` (never back).
    """
    trial, subject = get_subject(uow, principal, nct_id, subject_number, Action.DATA_ENTER, for_update=True)
    kind = (kind or "").strip().lower()
    if kind not in DISPOSITION_KINDS:
        raise InvalidInput(f"must be one of {', '.join(DISPOSITION_KINDS)}, got {kind!r}", field="kind")
    treatment, _ = _specs(uow, nct_id)
    facts = _Facts.load(uow, subject, treatment)
    problems: list[Problem] = []
    today = _today(uow)
    try:
        day = _date(event_date, "event_date")
    except InvalidInput as exc:
        problems += exc.problems
        day = None
    clean = _text(reason)
    if not clean:
        problems.append(Problem("reason", f"the {_REASON_WORD[kind]} is required"))
    extra = dict(details or {})
    if not all(isinstance(k, str) for k in extra):
        problems.append(Problem("details", "keys must be strings"))
    eot_visit = extra.get("eot_visit_date")
    if eot_visit is not None:
        if kind != "end_of_treatment":
            problems.append(Problem("details.eot_visit_date", "only an end_of_treatment event has an EOT visit"))
        else:
            try:
                visit_day = _date(eot_visit, "details.eot_visit_date")
                extra["eot_visit_date"] = visit_day.isoformat()
                if day is not None and visit_day < day:
                    problems.append(Problem("details.eot_visit_date", f"{visit_day} is before the end of treatment "
                                                                      f"({day})"))
                if visit_day > today:
                    problems.append(Problem("details.eot_visit_date", f"{visit_day} is in the future"))
            except InvalidInput as exc:
                problems += exc.problems
    if day is not None:
        r = facts.randomized_on
        if day < r:
            problems.append(Problem("event_date", f"{day.isoformat()} is before randomization ({r.isoformat()})"))
        if day > today:
            problems.append(Problem("event_date", f"{day.isoformat()} is in the future (today is "
                                                  f"{today.isoformat()})"))
        if kind in _SINGLE_KINDS and facts.doses:
            last = max(d.dose_date for d in facts.doses)
            if day.isoformat() < last:
                problems.append(Problem("event_date", f"{day.isoformat()} is before the last dose ({last})"))
        eot = facts.disposition("end_of_treatment")
        if kind in ("end_of_study", "death") and eot is not None and day.isoformat() < eot.event_date:
            problems.append(Problem("event_date", f"{day.isoformat()} is before the end of treatment "
                                                  f"({eot.event_date})"))
        if kind == "end_of_treatment":
            for other in facts.dispositions:
                if other.kind in ("end_of_study", "death") and day.isoformat() > other.event_date:
                    problems.append(Problem("event_date", f"{day.isoformat()} is after the "
                                                          f"{other.kind.replace('_', ' ')} ({other.event_date})"))
    if problems:
        raise InvalidInput(problems)
    if kind in _SINGLE_KINDS and facts.disposition(kind) is not None:
        raise Conflict(f"{kind.replace('_', ' ')} is already recorded for subject {subject_number}")
    row = uow.dispositions.create(subject_id=subject.id, kind=kind, event_date=day.isoformat(), reason=clean,
                                  details_json=json.dumps(extra, sort_keys=True, default=str),
                                  entered_at=uow.now().isoformat(), entered_by=principal.username)
    out = disposition_dict(row)
    uow.record("disposition.recorded", "disposition", row.id, after={k: v for k, v in out.items()
                                                                      if k != "entered_at"},
               trial=nct_id, site=subject.site_key, actor=principal.username)
    status = status_after_disposition(kind)
    if status is not None:
        _set_status(uow, principal, nct_id, subject, status, f"{kind.replace('_', ' ')}: {clean}")
    touch(uow, subject, reason=f"disposition {row.id} recorded")
    out["subject_status"] = subject.status
    return out


def list_dispositions(uow, principal: Principal, nct_id: str, subject_number: str) -> list[dict[str, Any]]:
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    return [disposition_dict(d) for d in uow.dispositions.for_subject(subject.id)]
