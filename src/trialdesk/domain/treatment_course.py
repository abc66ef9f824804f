"""One subject's treatment course: what was given and what happened, and every decision that follows from it.

The service loads the stored facts (the allocation, the doses, the tumour assessments, the disposition events),
turns them into the plain records below and asks a :class:`TreatmentCourse`:

- the day 1 of each cycle: the earliest dose date of that cycle;
- the timeline (:class:`~trialdesk.domain.schedule.SubjectTimeline`) and the calendar of visits with windows and
  statuses: end of treatment stops treatment visits (the EOT visit's own date may be given), end of study and
  death drop the visits after them and mark those left undone before them missed; the first post-baseline
  assessment with overall response ``PD`` is the progression date;
- the plan of one cycle's doses (:meth:`TreatmentCourse.plan`): the dose engine
  (:mod:`trialdesk.domain.dosing`) with the subject's history (weight last used, days since the last dose of each
  drug, current reduction levels) and the cycle's planned day 1, window and delay;
- the evaluation of one entered dose (:meth:`TreatmentCourse.evaluate`): the checks against the dispositions,
  the plan, the override check and the calculation stored with the dose;
- the checks of a disposition event (:meth:`TreatmentCourse.check_disposition`).

Delay of a dose (``delay_days``): for cycle k >= 2, days from the planned day 1 (previous actual day 1 + cycle
length; negative when early); for cycle 1, days after the end of the cycle-1 window (randomization +
``c1d1_within_days``), 0 inside it.

Nothing here reads a database or parses a form: dates are dates, numbers are numbers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialdesk.domain.dosing import (
    ArmDoses,
    ArmRegimen,
    OverrideCheck,
    TreatmentSpec,
    calculate_arm_doses,
    check_override,
)
from trialdesk.domain.errors import Conflict, InvalidInput, Problem
from trialdesk.domain.schedule import (
    ScheduleSpec,
    SubjectTimeline,
    Visit,
    VisitKind,
    VisitStatus,
    build_subject_calendar,
)

__all__ = [
    "DISPOSITION_KINDS",
    "SINGLE_KINDS",
    "AssessmentPoint",
    "DispositionEvent",
    "DoseEntry",
    "DoseEvaluation",
    "DoseGiven",
    "DosePlan",
    "TreatmentCourse",
    "as_date",
    "check_height",
]

DISPOSITION_KINDS = ("end_of_treatment", "end_of_study", "death", "new_therapy")
#: The disposition events that happen once and that no dose may follow.
SINGLE_KINDS = frozenset({"end_of_treatment", "end_of_study", "death"})
_TERMINAL_KINDS = ("end_of_study", "death")
_REASON_WORD = {
    "end_of_treatment": "reason for ending treatment",
    "end_of_study": "reason for ending the study",
    "death": "cause of death",
    "new_therapy": "description of the new anticancer therapy",
}


def as_date(value: Any, field: str) -> dt.date:
    """A date from a date, a datetime or an ISO text (``YYYY-MM-DD``); InvalidInput naming ``field`` otherwise."""
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


def check_height(treatment: TreatmentSpec, height_cm: float) -> None:
    """A height recorded with a dose must be plausible (the protocol's ``height_cm_limits``)."""
    limits = treatment.height_cm_limits
    if not limits.min <= height_cm <= limits.max:
        raise InvalidInput(
            f"{height_cm:g} cm is outside the plausible range {limits.min:g}-{limits.max:g} cm", field="height_cm"
        )


def _renamed(exc: InvalidInput, names: Mapping[str, str]) -> InvalidInput:
    return InvalidInput([Problem(names.get(p.path, p.path), p.message, p.line) for p in exc.problems])


# --------------------------------------------------------------------------------------------------------------------
# the plain inputs
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseGiven:
    """A dose administered, as stored. ``weight_kg_used`` is the weight the dose engine used for it (the ±10 %
    rule), which the next cycle compares against."""

    id: int | None
    cycle: int
    drug: str
    dose_date: dt.date
    weight_kg: float | None
    reduction_level: int
    weight_kg_used: float | None


@dataclass(frozen=True)
class AssessmentPoint:
    """A tumour assessment: its date, whether it is the baseline, and its overall response (``PD``...)."""

    date: dt.date
    baseline: bool
    response: str | None


@dataclass(frozen=True)
class DispositionEvent:
    """A disposition event: ``kind`` one of :data:`DISPOSITION_KINDS`; an end of treatment may carry the date of
    its EOT visit."""

    kind: str
    event_date: dt.date
    eot_visit_date: dt.date | None = None


@dataclass(frozen=True)
class DoseEntry:
    """The values entered for one dose, already checked one by one (types, signs, reasons)."""

    dose_date: dt.date
    actual_mg: float
    weight_kg: float
    reduction_level: int
    interrupted: bool
    override_reason: str | None = None


@dataclass(frozen=True)
class DosePlan:
    """The dose engine's result for one cycle and its schedule context (planned day 1, window, delay...)."""

    doses: ArmDoses
    context: dict[str, Any]


@dataclass(frozen=True)
class DoseEvaluation:
    """One entered dose checked and planned: the derived columns to store, the override check, the context."""

    derived: dict[str, Any]
    override: OverrideCheck
    context: dict[str, Any]


# --------------------------------------------------------------------------------------------------------------------
# the course
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreatmentCourse:
    """A randomized subject's treatment: the arm's regimen from the randomization date on, and what happened."""

    subject_number: str
    site_key: str | None
    randomized_on: dt.date
    regimen: ArmRegimen
    doses: Sequence[DoseGiven] = field(default_factory=tuple)
    assessments: Sequence[AssessmentPoint] = field(default_factory=tuple)
    dispositions: Sequence[DispositionEvent] = field(default_factory=tuple)

    def disposition(self, kind: str) -> DispositionEvent | None:
        """The first recorded event of ``kind``, if any."""
        return next((d for d in self.dispositions if d.kind == kind), None)

    def day1s(self, exclude_id: int | None = None) -> dict[int, dt.date]:
        """Cycle -> day 1 (earliest dose date of the cycle), ignoring the dose ``exclude_id`` (being edited)."""
        out: dict[int, dt.date] = {}
        for d in self.doses:
            if exclude_id is not None and d.id == exclude_id:
                continue
            out[d.cycle] = min(d.dose_date, out.get(d.cycle, d.dose_date))
        return dict(sorted(out.items()))

    def stop_all(self) -> dt.date | None:
        """The date after which no visit can take place: the earliest end of study or death."""
        terminal = [d.event_date for d in self.dispositions if d.kind in _TERMINAL_KINDS]
        return min(terminal) if terminal else None

    def timeline(self) -> SubjectTimeline:
        """The domain timeline (:func:`~trialdesk.domain.schedule.build_subject_calendar`'s input)."""
        r = self.randomized_on
        eot = self.disposition("end_of_treatment")
        stop_all = self.stop_all()
        treatment_end = eot.event_date if eot else stop_all
        post = [a for a in self.assessments if not a.baseline and a.date >= r]
        progression = next((a.date for a in post if (a.response or "").upper() == "PD"), None)
        return SubjectTimeline(
            subject_id=self.subject_number,
            site_id=self.site_key,
            randomization_date=r,
            dose_dates=list(self.day1s().values()),
            assessment_dates=sorted({a.date for a in post}),
            treatment_end_date=treatment_end,
            eot_date=eot.eot_visit_date if eot else None,
            progression_date=progression,
            max_cycles=self.regimen.max_cycles,
        )

    def calendar(self, schedule: ScheduleSpec, as_of: dt.date, horizon_days: int) -> list[Visit]:
        """The visits with windows and statuses on ``as_of``; after end of study or death only the visits done
        are kept, and those due before it and not done are missed."""
        visits = build_subject_calendar(schedule, self.timeline(), as_of, horizon_days=horizon_days)
        stop_all = self.stop_all()
        if stop_all is None:
            return visits
        out = []
        for v in visits:
            if v.status is VisitStatus.DONE:
                out.append(v)
            elif v.window_start < stop_all:
                out.append(v.model_copy(update={"status": VisitStatus.MISSED}) if as_of >= stop_all else v)
        return out

    # ----------------------------------------------------------------------------------------------------------------
    # doses
    # ----------------------------------------------------------------------------------------------------------------

    def plan(
        self,
        treatment: TreatmentSpec,
        schedule: ScheduleSpec,
        *,
        cycle: int,
        weight_kg: float,
        height_cm: float | None,
        dose_date: dt.date,
        dose_levels: Mapping[str, int] | None = None,
        exclude_id: int | None = None,
    ) -> DosePlan:
        """Run the dose engine for one cycle with the subject's history, and place the cycle on the calendar.

        Refused (InvalidInput): a cycle below 1, no height, a dose date before randomization, a cycle that skips
        one, a date not after the previous cycle's day 1 or not before the next cycle's doses, and whatever the
        dose engine refuses (reduction levels are reported as ``reduction_level``).
        """
        if cycle < 1:
            raise InvalidInput(f"must be a whole number >= 1, got {cycle}", field="cycle")
        if height_cm is None:
            raise InvalidInput("the subject's height is not recorded; give height_cm", field="height_cm")
        r = self.randomized_on
        if dose_date < r:
            raise InvalidInput(
                f"dose date {dose_date.isoformat()} is before randomization ({r.isoformat()})", field="dose_date"
            )
        day1 = self.day1s(exclude_id)
        last_cycle = max(day1, default=0)
        if cycle > last_cycle + 1:
            raise InvalidInput(
                f"cycle {cycle} cannot be given before cycle {last_cycle + 1}; the last cycle with a "
                f"dose recorded is {last_cycle or 'none'}",
                field="cycle",
            )
        others = [d for d in self.doses if exclude_id is None or d.id != exclude_id]
        earlier = [d for d in others if d.cycle < cycle]
        later = [d for d in others if d.cycle > cycle]
        if cycle > 1 and dose_date <= day1[cycle - 1]:
            raise InvalidInput(
                f"dose date {dose_date.isoformat()} is not after day 1 of cycle {cycle - 1} "
                f"({day1[cycle - 1].isoformat()})",
                field="dose_date",
            )
        if later and dose_date >= min(d.dose_date for d in later):
            raise InvalidInput(
                f"dose date {dose_date.isoformat()} is not before the doses of cycle {cycle + 1}", field="dose_date"
            )
        # weight last used and current reduction levels: from the previous cycles
        last_used: float | None = None
        levels: dict[str, int] = {}
        gaps: dict[str, int] = {}
        for d in sorted(earlier, key=lambda d: (d.cycle, d.dose_date, d.id if d.id is not None else -1)):
            last_used = d.weight_kg_used
            levels[d.drug] = d.reduction_level
            gaps[d.drug] = (dose_date - d.dose_date).days
        known = {drug.drug for drug in self.regimen.drugs}
        levels = {k: v for k, v in levels.items() if k in known and v != 0}
        levels.update({k.strip().lower(): v for k, v in (dose_levels or {}).items()})
        gaps = {k: v for k, v in gaps.items() if k in known} if cycle > 1 else {}
        try:
            result = calculate_arm_doses(
                treatment,
                self.regimen,
                cycle=cycle,
                weight_kg=weight_kg,
                height_cm=height_cm,
                days_since_last_dose=gaps or None,
                last_used_weight_kg=last_used,
                dose_levels=levels,
                dose_date=dose_date,
                randomization_date=r,
            )
        except InvalidInput as exc:
            raise _renamed(exc, {"dose_level": "reduction_level", "dose_levels": "reduction_level"}) from None

        # schedule: the domain calendar with the previous cycles gives this cycle's planned day 1 and window
        previous = SubjectTimeline(
            subject_id=self.subject_number,
            randomization_date=r,
            dose_dates=[day1[c] for c in sorted(day1) if c < cycle],
            max_cycles=self.regimen.max_cycles,
        )
        visit = next(
            v
            for v in build_subject_calendar(schedule, previous, max(dose_date, r), horizon_days=0)
            if v.kind is VisitKind.TREATMENT and v.number == cycle
        )
        if cycle == 1:
            delay = max(0, (dose_date - visit.window_end).days)
        else:
            delay = (dose_date - visit.planned).days
        context = {
            "subject": self.subject_number,
            "arm": self.regimen.arm_id,
            "cycle": cycle,
            "dose_date": dose_date.isoformat(),
            "randomized_on": r.isoformat(),
            "planned_day1": visit.planned.isoformat(),
            "window_start": visit.window_start.isoformat(),
            "window_end": visit.window_end.isoformat(),
            "delay_days": delay,
            "out_of_window": not visit.window_start <= dose_date <= visit.window_end,
            "weight_kg": weight_kg,
            "height_cm": height_cm,
            "last_used_weight_kg": last_used,
            "days_since_last_dose": gaps,
            "reduction_levels": {d.drug: d.dose_level for d in result.doses},
        }
        return DosePlan(result, context)

    def check_new_dose(self, drug_id: str, cycle: int) -> None:
        """A drug is recorded once per cycle: a second one is a Conflict (edit the first with a reason)."""
        if any(d.drug == drug_id and d.cycle == cycle for d in self.doses):
            raise Conflict(
                f"{drug_id} is already recorded at cycle {cycle} for subject {self.subject_number}; edit "
                f"that dose with a reason for change instead"
            )

    def check_dose_against_dispositions(self, dose_date: dt.date) -> None:
        """No dose after end of treatment, end of study or death."""
        for d in self.dispositions:
            if d.kind in SINGLE_KINDS and dose_date > d.event_date:
                what = d.kind.replace("_", " ")
                raise InvalidInput(
                    f"dose date {dose_date.isoformat()} is after the {what} ({d.event_date.isoformat()})",
                    field="dose_date",
                )

    def evaluate(
        self,
        treatment: TreatmentSpec,
        schedule: ScheduleSpec,
        drug_id: str,
        cycle: int,
        entry: DoseEntry,
        *,
        height_cm: float | None,
        exclude_id: int | None = None,
    ) -> DoseEvaluation:
        """Check and plan one drug's dose: dispositions, the engine at this cycle, the override check, and the
        calculation stored with the dose (formula, inputs, weight rule, window)."""
        self.check_dose_against_dispositions(entry.dose_date)
        planned = self.plan(
            treatment,
            schedule,
            cycle=cycle,
            weight_kg=entry.weight_kg,
            height_cm=height_cm,
            dose_date=entry.dose_date,
            dose_levels={drug_id: entry.reduction_level},
            exclude_id=exclude_id,
        )
        result, context = planned.doses, planned.context
        calc = next((d for d in result.doses if d.drug == drug_id), None)
        if calc is None:
            why = next((o.reason for o in result.omitted if o.drug == drug_id), "not given at this cycle")
            raise InvalidInput(
                f"{drug_id} at cycle {cycle}: {why}; cycle {cycle} is beyond the regimen's limit", field="cycle"
            )
        if entry.interrupted and entry.actual_mg < calc.dose_mg:
            # an interrupted infusion explains a lower dose given: no prescription override to justify
            override = OverrideCheck(
                calculated_mg=calc.dose_mg,
                prescribed_mg=entry.actual_mg,
                deviation_fraction=(calc.dose_mg - entry.actual_mg) / calc.dose_mg,
                tolerance=treatment.override_tolerance,
                requires_reason=False,
                reason=entry.override_reason,
            )
        else:
            override = check_override(
                calc.dose_mg, entry.actual_mg, treatment.override_tolerance, entry.override_reason
            )
        calculation = {
            "formula": calc.formula,
            "inputs": calc.inputs,
            "basis": calc.basis.value,
            "dose_per_unit": calc.dose_per_unit,
            "unrounded_mg": calc.unrounded_mg,
            "reload": calc.reload,
            "weight_kg_used": result.weight.weight_kg,
            "weight_rule": result.weight.reason,
            "bsa_formula": result.bsa_formula,
            "infusion_minutes": calc.infusion_minutes.model_dump(),
            "observation_minutes": calc.observation_minutes.model_dump() if calc.observation_minutes else None,
            "planned_day1": context["planned_day1"],
            "window_start": context["window_start"],
            "window_end": context["window_end"],
            "out_of_window": context["out_of_window"],
            "days_since_last_dose": context["days_since_last_dose"].get(drug_id),
            "override": {
                "deviation_fraction": round(override.deviation_fraction, 6),
                "tolerance": override.tolerance,
                "requires_reason": override.requires_reason,
            },
        }
        derived = {
            "planned_mg": calc.dose_mg,
            "bsa_m2": result.bsa_m2,
            "loading": calc.loading,
            "delay_days": context["delay_days"],
            "calculation_json": json.dumps(calculation, sort_keys=True),
        }
        return DoseEvaluation(derived, override, context)

    # ----------------------------------------------------------------------------------------------------------------
    # disposition
    # ----------------------------------------------------------------------------------------------------------------

    def check_disposition(
        self,
        kind: str,
        event_date: dt.date | None,
        reason: str | None,
        details: Mapping[Any, Any],
        today: dt.date,
        problems: Sequence[Problem] = (),
    ) -> dict[Any, Any]:
        """Check a disposition event before it is stored; returns its details with the EOT visit date normalized.

        ``problems`` are those already found while reading the entry (an unreadable ``event_date``: then
        ``event_date`` is ``None``); all problems are reported together (InvalidInput). Dates are not before
        randomization and not in the future; end of treatment, end of study and death are not before the last
        dose and occur once each (Conflict), and end of treatment is not after end of study or death.
        """
        found = list(problems)
        day = event_date
        if not reason:
            found.append(Problem("reason", f"the {_REASON_WORD[kind]} is required"))
        extra = dict(details)
        if not all(isinstance(k, str) for k in extra):
            found.append(Problem("details", "keys must be strings"))
        eot_visit = extra.get("eot_visit_date")
        if eot_visit is not None:
            if kind != "end_of_treatment":
                found.append(Problem("details.eot_visit_date", "only an end_of_treatment event has an EOT visit"))
            else:
                try:
                    visit_day = as_date(eot_visit, "details.eot_visit_date")
                    extra["eot_visit_date"] = visit_day.isoformat()
                    if day is not None and visit_day < day:
                        found.append(
                            Problem("details.eot_visit_date", f"{visit_day} is before the end of treatment ({day})")
                        )
                    if visit_day > today:
                        found.append(Problem("details.eot_visit_date", f"{visit_day} is in the future"))
                except InvalidInput as exc:
                    found += exc.problems
        if day is not None:
            found += self._event_date_problems(kind, day, today)
        if found:
            raise InvalidInput(found)
        if kind in SINGLE_KINDS and self.disposition(kind) is not None:
            raise Conflict(f"{kind.replace('_', ' ')} is already recorded for subject {self.subject_number}")
        return extra

    def _event_date_problems(self, kind: str, day: dt.date, today: dt.date) -> list[Problem]:
        found: list[Problem] = []
        r = self.randomized_on
        if day < r:
            found.append(Problem("event_date", f"{day.isoformat()} is before randomization ({r.isoformat()})"))
        if day > today:
            found.append(Problem("event_date", f"{day.isoformat()} is in the future (today is {today.isoformat()})"))
        if kind in SINGLE_KINDS and self.doses:
            last = max(d.dose_date for d in self.doses)
            if day < last:
                found.append(Problem("event_date", f"{day.isoformat()} is before the last dose ({last.isoformat()})"))
        eot = self.disposition("end_of_treatment")
        if kind in _TERMINAL_KINDS and eot is not None and day < eot.event_date:
            found.append(
                Problem(
                    "event_date", f"{day.isoformat()} is before the end of treatment ({eot.event_date.isoformat()})"
                )
            )
        death = self.disposition("death")
        if kind == "new_therapy" and death is not None and day > death.event_date:
            found.append(
                Problem("event_date", f"{day.isoformat()} is after the death ({death.event_date.isoformat()})")
            )
        if kind == "death":
            for therapy in self.dispositions:
                if therapy.kind == "new_therapy" and therapy.event_date > day:
                    found.append(
                        Problem(
                            "event_date",
                            f"{day.isoformat()} is before the new anticancer therapy "
                            f"({therapy.event_date.isoformat()})",
                        )
                    )
        if kind == "end_of_treatment":
            for other in self.dispositions:
                if other.kind in _TERMINAL_KINDS and day > other.event_date:
                    found.append(
                        Problem(
                            "event_date",
                            f"{day.isoformat()} is after the "
                            f"{other.kind.replace('_', ' ')} "
                            f"({other.event_date.isoformat()})",
                        )
                    )
        return found
