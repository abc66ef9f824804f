"""The visit calendar: treatment cycles, tumour assessments, end of treatment and survival follow-up.

The protocol section ``operations.schedule`` is a :class:`ScheduleSpec`. :func:`build_subject_calendar` turns a
subject's :class:`SubjectTimeline` (randomization date, actual dose dates, assessments done...) and an ``as_of``
date passed in by the caller into a list of :class:`Visit`.

Rules:

- **Cycle 1 day 1** falls within ``c1d1_within_days`` days after randomization: window [R, R + n], planned R.
- **Cycle k day 1** (k >= 2) is planned on the previous *actual* day 1 + ``cycle_length_days``, window
  ± ``cycle_window_days``. A late dose therefore shifts every later cycle. A pending cycle whose window has closed
  is *overdue* (a delay, never "missed"); the cycles projected after it start from ``as_of``.
- **Tumour assessments** sit on a fixed grid counted from randomization (day 0), phase by phase
  (every 42 days ± 7 up to day 336 = week 48, then every 63 days ± 7). Delays in treatment never move the grid, so
  both arms are assessed at the same times and PFS is not biased by assessment timing. The grid stops at
  progression.
- **End of treatment** (EOT) once treatment is stopped: window from the stop date to the last dose +
  ``eot_within_days_of_last_dose`` (at least the stop date itself).
- **Survival follow-up** every ``followup_interval_days`` ± ``followup_window_days`` after the EOT visit (actual
  date if done, else its window end).

Status of a visit on ``as_of``: ``done`` (an actual date is recorded), ``upcoming`` (before its window), ``due``
(inside its window), ``overdue`` (window closed, still to be done) or ``missed`` (window closed and the next visit
of the same kind has opened its window; for EOT, the first follow-up window). Treatment day-1 visits are never
missed: an undone cycle is a delay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from trialdesk.domain.assumptions import AssumptionMap
from trialdesk.domain.errors import InvalidInput

__all__ = [
    "AssessmentPhase",
    "ScheduleSpec",
    "SubjectTimeline",
    "Visit",
    "VisitKind",
    "VisitStatus",
    "assessment_grid",
    "build_subject_calendar",
    "build_site_calendar",
]


class AssessmentPhase(BaseModel):
    """One phase of the tumour-assessment grid: every ``every_days`` ± ``window_days`` until study day ``until_day``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_days: PositiveInt
    window_days: NonNegativeInt
    until_day: PositiveInt | None = Field(default=None, description="Last study day of the phase; None: open-ended.")


class ScheduleSpec(BaseModel):
    """Protocol section ``operations.schedule``."""

    model_config = ConfigDict(extra="forbid")

    c1d1_within_days: NonNegativeInt = 3
    cycle_length_days: PositiveInt = 21
    cycle_window_days: NonNegativeInt = 3
    assessment_phases: list[AssessmentPhase] = Field(
        default_factory=lambda: [
            AssessmentPhase(every_days=42, window_days=7, until_day=336),
            AssessmentPhase(every_days=63, window_days=7, until_day=None),
        ]
    )
    eot_within_days_of_last_dose: PositiveInt = 30
    followup_interval_days: PositiveInt = 84
    followup_window_days: NonNegativeInt = 7
    assumptions: AssumptionMap = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ScheduleSpec:
        phases = self.assessment_phases
        if not phases:
            raise ValueError("assessment_phases: at least one phase is needed")
        if phases[-1].until_day is not None:
            raise ValueError("assessment_phases: the last phase must be open-ended (until_day: null)")
        ends = [p.until_day for p in phases[:-1]]
        if any(e is None for e in ends) or ends != sorted(set(ends)):  # type: ignore[type-var]
            raise ValueError("assessment_phases: until_day must be set and increasing for all but the last phase")
        for i, p in enumerate(phases):
            if 2 * p.window_days >= p.every_days:
                raise ValueError(
                    f"assessment_phases[{i}]: windows of ±{p.window_days} days overlap at an interval "
                    f"of {p.every_days} days"
                )
        if 2 * self.followup_window_days >= self.followup_interval_days:
            raise ValueError("followup_window_days: windows overlap at this follow-up interval")
        if self.cycle_window_days * 2 >= self.cycle_length_days:
            raise ValueError("cycle_window_days: windows overlap at this cycle length")
        for path in self.assumptions:
            head = path.split(".", 1)[0]
            if head not in type(self).model_fields or head == "assumptions":
                raise ValueError(f"assumptions: {path!r} does not name a field of the schedule section")
        return self


class VisitKind(StrEnum):
    TREATMENT = "treatment"  # cycle day 1
    TUMOR_ASSESSMENT = "tumor_assessment"
    END_OF_TREATMENT = "end_of_treatment"
    SURVIVAL_FOLLOWUP = "survival_followup"


class VisitStatus(StrEnum):
    DONE = "done"
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    MISSED = "missed"


class Visit(BaseModel):
    """One visit of a subject's calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_id: str
    site_id: str | None = None
    kind: VisitKind
    number: int | None = Field(
        description="Cycle number for treatment visits, sequence number otherwise; None for an unscheduled assessment."
    )
    label: str = Field(description="C3D1, TA4, EOT, FU2, TA-unscheduled.")
    planned: dt.date
    window_start: dt.date
    window_end: dt.date
    actual: dt.date | None = None
    status: VisitStatus
    out_of_window: bool = Field(default=False, description="Done, but outside its window.")

    @property
    def cycle(self) -> int | None:
        return self.number if self.kind is VisitKind.TREATMENT else None


class SubjectTimeline(BaseModel):
    """What has happened to a subject, as recorded: the input of :func:`build_subject_calendar`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_id: str = Field(min_length=1)
    site_id: str | None = None
    randomization_date: dt.date
    dose_dates: list[dt.date] = Field(default_factory=list, description="Actual day-1 dates, cycle 1 first.")
    assessment_dates: list[dt.date] = Field(
        default_factory=list, description="Post-randomization tumour assessments (not the baseline)."
    )
    treatment_end_date: dt.date | None = Field(
        default=None, description="Date treatment was stopped (decision); None while on treatment."
    )
    eot_date: dt.date | None = None
    followup_dates: list[dt.date] = Field(default_factory=list)
    progression_date: dt.date | None = None
    max_cycles: PositiveInt | None = Field(default=None, description="The arm's cycle limit; None: no limit.")

    @field_validator("dose_dates")
    @classmethod
    def _increasing(cls, dates: list[dt.date]) -> list[dt.date]:
        for i in range(1, len(dates)):
            if dates[i] <= dates[i - 1]:
                raise ValueError(
                    f"dose dates must be strictly increasing: dose_dates[{i}] {dates[i]} is not after "
                    f"dose_dates[{i - 1}] {dates[i - 1]}"
                )
        return dates

    @model_validator(mode="after")
    def _after_randomization(self) -> SubjectTimeline:
        r = self.randomization_date
        for name in ("dose_dates", "assessment_dates", "followup_dates"):
            for i, d in enumerate(getattr(self, name)):
                if d < r:
                    raise ValueError(f"{name}[{i}] {d} is before randomization ({r})")
        for name in ("treatment_end_date", "eot_date", "progression_date"):
            d = getattr(self, name)
            if d is not None and d < r:
                raise ValueError(f"{name} {d} is before randomization ({r})")
        if self.treatment_end_date is not None and self.dose_dates and self.treatment_end_date < self.dose_dates[-1]:
            raise ValueError(
                f"treatment_end_date {self.treatment_end_date} is before the last dose ({self.dose_dates[-1]})"
            )
        if self.eot_date is not None and self.treatment_end_date is None:
            raise ValueError("eot_date is set but treatment_end_date is not")
        if self.followup_dates and self.treatment_end_date is None:
            raise ValueError("followup_dates are set but treatment_end_date is not")
        if self.max_cycles is not None and len(self.dose_dates) > self.max_cycles:
            raise ValueError(f"{len(self.dose_dates)} doses recorded but the arm allows at most {self.max_cycles}")
        return self


# --------------------------------------------------------------------------------------------------------------------


_DAY = dt.timedelta(days=1)


def _days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def _status(
    ws: dt.date, we: dt.date, actual: dt.date | None, as_of: dt.date, superseded_on: dt.date | None
) -> VisitStatus:
    if actual is not None:
        return VisitStatus.DONE
    if as_of < ws:
        return VisitStatus.UPCOMING
    if as_of <= we:
        return VisitStatus.DUE
    if superseded_on is not None and as_of >= superseded_on:
        return VisitStatus.MISSED
    return VisitStatus.OVERDUE


def assessment_grid(spec: ScheduleSpec, randomization_date: dt.date, through: dt.date) -> list[tuple[dt.date, int]]:
    """Planned tumour-assessment dates with their ± window, from randomization up to ``through`` (inclusive).

    Returns ``[(planned, window_days), ...]``. Day 0 is the randomization date; each phase continues from the last
    grid day of the previous one (42, 84, ..., 336, then 399, 462, ...).
    """
    out: list[tuple[dt.date, int]] = []
    day = 0
    for phase in spec.assessment_phases:
        while True:
            nxt = day + phase.every_days
            if phase.until_day is not None and nxt > phase.until_day:
                break
            planned = randomization_date + _days(nxt)
            if planned > through:
                return out
            out.append((planned, phase.window_days))
            day = nxt
    return out


def _grid_visits(
    timeline: SubjectTimeline,
    kind: VisitKind,
    prefix: str,
    grid: list[tuple[dt.date, int]],
    actuals: Sequence[dt.date],
    as_of: dt.date,
) -> list[Visit]:
    """Visits on a fixed grid.

    Each actual date fills the grid visit whose window holds it; one that falls between two windows fills the nearer
    of the two neighbouring grid visits if it is still free (flagged out of window), else it is an unscheduled
    visit. A visit not done is missed once the next grid visit's window has opened.
    """
    windows = [(p, p - _days(w), p + _days(w)) for p, w in grid]
    filled: dict[int, tuple[dt.date, bool]] = {}
    unscheduled: list[dt.date] = []
    for a in sorted(actuals):
        inside = [i for i, (_, ws, we) in enumerate(windows) if ws <= a <= we]
        if inside and inside[0] not in filled:
            filled[inside[0]] = (a, False)
            continue
        if not inside:
            before = [i for i, (p, _, _) in enumerate(windows) if p < a][-1:]
            after = [i for i, (p, _, _) in enumerate(windows) if p > a][:1]
            free = [i for i in before + after if i not in filled]
            if free:
                i = min(free, key=lambda j: (abs((windows[j][0] - a).days), j))
                filled[i] = (a, True)
                continue
        unscheduled.append(a)
    visits = []
    for i, (p, ws, we) in enumerate(windows):
        actual, oow = filled.get(i, (None, False))
        superseded = windows[i + 1][1] if i + 1 < len(windows) else None
        visits.append(
            Visit(
                subject_id=timeline.subject_id,
                site_id=timeline.site_id,
                kind=kind,
                number=i + 1,
                label=f"{prefix}{i + 1}",
                planned=p,
                window_start=ws,
                window_end=we,
                actual=actual,
                status=_status(ws, we, actual, as_of, superseded),
                out_of_window=oow,
            )
        )
    for a in unscheduled:
        visits.append(
            Visit(
                subject_id=timeline.subject_id,
                site_id=timeline.site_id,
                kind=kind,
                number=None,
                label=f"{prefix}-unscheduled",
                planned=a,
                window_start=a,
                window_end=a,
                actual=a,
                status=VisitStatus.DONE,
                out_of_window=True,
            )
        )
    return visits


def _treatment_visits(spec: ScheduleSpec, t: SubjectTimeline, as_of: dt.date, through: dt.date) -> list[Visit]:
    visits: list[Visit] = []
    r = t.randomization_date
    L, w = spec.cycle_length_days, spec.cycle_window_days

    def window(cycle: int, prev: dt.date | None) -> tuple[dt.date, dt.date, dt.date]:
        if cycle == 1:
            return r, r, r + _days(spec.c1d1_within_days)
        assert prev is not None
        planned = prev + _days(L)
        return planned, planned - _days(w), planned + _days(w)

    def visit(cycle: int, planned: dt.date, ws: dt.date, we: dt.date, actual: dt.date | None) -> Visit:
        return Visit(
            subject_id=t.subject_id,
            site_id=t.site_id,
            kind=VisitKind.TREATMENT,
            number=cycle,
            label=f"C{cycle}D1",
            planned=planned,
            window_start=ws,
            window_end=we,
            actual=actual,
            status=_status(ws, we, actual, as_of, None),
            out_of_window=actual is not None and not ws <= actual <= we,
        )

    prev: dt.date | None = None
    for i, d in enumerate(t.dose_dates):
        planned, ws, we = window(i + 1, prev)
        visits.append(visit(i + 1, planned, ws, we, d))
        prev = d
    if t.treatment_end_date is not None:
        return visits
    cycle = len(t.dose_dates) + 1
    if t.max_cycles is not None and cycle > t.max_cycles:
        return visits
    planned, ws, we = window(cycle, prev)
    pending = visit(cycle, planned, ws, we, None)
    visits.append(pending)
    # project later cycles: from the pending planned date, or from as_of when the pending one is late
    anchor = as_of if pending.status is VisitStatus.OVERDUE else planned
    k = 1
    while t.max_cycles is None or cycle + k <= t.max_cycles:
        p = anchor + _days(k * L)
        if p > through:
            break
        visits.append(visit(cycle + k, p, p - _days(w), p + _days(w), None))
        k += 1
    return visits


def build_subject_calendar(
    spec: ScheduleSpec, timeline: SubjectTimeline, as_of: dt.date, *, horizon_days: int = 126
) -> list[Visit]:
    """A subject's visits, each with its window and status on ``as_of``.

    Parameters
    ----------
    spec : ScheduleSpec
        The protocol's ``operations.schedule``.
    timeline : SubjectTimeline
        What has happened so far.
    as_of : date
        The day the statuses are computed for (passed in: the domain reads no clock).
    horizon_days : int
        Future visits are listed up to ``as_of + horizon_days`` (done visits are always listed).

    Returns
    -------
    list of Visit
        Sorted by planned date, then kind.
    """
    if horizon_days < 0:
        raise InvalidInput(f"must be >= 0, got {horizon_days}", field="horizon_days")
    if as_of < timeline.randomization_date:
        raise InvalidInput(f"as_of {as_of} is before randomization ({timeline.randomization_date})", field="as_of")
    through = as_of + _days(horizon_days)
    visits = _treatment_visits(spec, timeline, as_of, through)

    # tumour assessments: a fixed grid from randomization; computed one interval past the horizon so that the last
    # listed visit knows its successor, then cut at the horizon and at progression
    last_actual = max(timeline.assessment_dates, default=timeline.randomization_date)
    grid_end = max(through, last_actual) + _days(max(p.every_days for p in spec.assessment_phases) + 1)
    grid = assessment_grid(spec, timeline.randomization_date, grid_end)
    pd_date = timeline.progression_date
    visits += [
        v
        for v in _grid_visits(timeline, VisitKind.TUMOR_ASSESSMENT, "TA", grid, timeline.assessment_dates, as_of)
        if v.actual is not None or (v.window_start <= through and (pd_date is None or v.window_start <= pd_date))
    ]

    if timeline.treatment_end_date is not None:
        stop = timeline.treatment_end_date
        last = timeline.dose_dates[-1] if timeline.dose_dates else stop
        ws = stop
        we = max(stop, last + _days(spec.eot_within_days_of_last_dose))
        fu_anchor = timeline.eot_date or we
        step, fw = spec.followup_interval_days, spec.followup_window_days
        fu_end = max([through, *timeline.followup_dates]) + _days(2 * step)
        fu_grid = []
        k = 1
        while fu_anchor + _days(k * step) <= fu_end:
            fu_grid.append((fu_anchor + _days(k * step), fw))
            k += 1
        eot_superseded = fu_grid[0][0] - _days(fw) if fu_grid else None
        visits.append(
            Visit(
                subject_id=timeline.subject_id,
                site_id=timeline.site_id,
                kind=VisitKind.END_OF_TREATMENT,
                number=1,
                label="EOT",
                planned=ws,
                window_start=ws,
                window_end=we,
                actual=timeline.eot_date,
                status=_status(ws, we, timeline.eot_date, as_of, eot_superseded),
                out_of_window=timeline.eot_date is not None and not ws <= timeline.eot_date <= we,
            )
        )
        fu = _grid_visits(timeline, VisitKind.SURVIVAL_FOLLOWUP, "FU", fu_grid, timeline.followup_dates, as_of)
        visits += [v for v in fu if v.actual is not None or v.window_start <= through]

    order = {k: i for i, k in enumerate(VisitKind)}
    return sorted(visits, key=lambda v: (v.planned, order[v.kind], v.number or 0))


def build_site_calendar(
    spec: ScheduleSpec, timelines: Sequence[SubjectTimeline], site_id: str, as_of: dt.date, *, horizon_days: int = 126
) -> list[Visit]:
    """All visits of the subjects of one site, sorted by planned date then subject."""
    visits: list[Visit] = []
    for t in timelines:
        if t.site_id == site_id:
            visits += build_subject_calendar(spec, t, as_of, horizon_days=horizon_days)
    return sorted(visits, key=lambda v: (v.planned, v.subject_id))
