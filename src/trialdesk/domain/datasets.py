"""Analysis datasets derived from captured data: pure functions, dates in, rows out.

The inputs are plain records (:class:`SubjectInput`, :class:`AssessmentInput`, :class:`DispositionInput`,
:class:`DoseInput`, :class:`AdverseEventInput`, :class:`ScreeningInput`) gathered by the caller from the database
or from anywhere else; the outputs are pandas DataFrames shaped like CDISC ADaM datasets:

``adsl``
    one row per Subject: Arm, strata, dates, age, treated flag, analysis sets (ITT = randomized on or before
    the cut; safety = at least one dose on or before the cut).
``adtte``
    one row per ITT Subject: progression-free survival time, event flag, the date and the censoring rule that
    decided it (see :mod:`trialdesk.domain.analysis_spec` for the FDA-guidance rules).
``adrs``
    one row per ITT Subject: best overall response, responder flag and duration of response.
``adae``
    one row per adverse event with the Arm and the treatment-emergent flag.
``adex``
    one row per treated Subject and drug: doses, cycles, relative dose intensity.

Only data dated on or before the cut date count. Subjects whose allocation was flagged "in error" stay in the
ITT set as randomized (ICH E9 intention-to-treat) and carry ``randomized_in_error``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trialdesk.domain.analysis_spec import AnalysisSpec
from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.recist import best_overall_response as recist_best_overall_response
from trialdesk.domain.schedule import ScheduleSpec, assessment_grid

__all__ = [
    "AdverseEventInput",
    "AssessmentInput",
    "CapturedData",
    "Datasets",
    "DispositionInput",
    "DoseInput",
    "ScreeningInput",
    "SubjectInput",
    "best_overall_response",
    "derive_adae",
    "derive_adex",
    "derive_adrs",
    "derive_adsl",
    "derive_adtte",
    "derive_datasets",
    "pfs_outcome",
    "PfsOutcome",
]

DISPOSITION_KINDS = ("end_of_treatment", "end_of_study", "death", "new_therapy")
_DISCONTINUATION_ACTIONS = {
    "drug withdrawn",
    "drug discontinued",
    "discontinued",
    "permanently discontinued",
    "treatment discontinued",
}


# ---------------------------------------------------------------------------------------------------------------
# Input records
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectInput:
    """A Subject as captured: allocation (if randomized) and the baseline facts the tables show."""

    subject_number: str
    site: str
    arm: str | None = None
    randomized_on: dt.date | None = None
    stratum: Mapping[str, str] = field(default_factory=dict)
    in_error: bool = False
    birth_date: dt.date | None = None
    sex: str | None = None
    ecog: int | None = None


@dataclass(frozen=True)
class ScreeningInput:
    subject_number: str
    screened_on: dt.date
    verdict: str  # eligible | ineligible | incomplete
    failed_criteria: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssessmentInput:
    """A TumorAssessment time point with its overall RECIST response."""

    subject_number: str
    date: dt.date
    response: str | None
    baseline: bool = False


@dataclass(frozen=True)
class DispositionInput:
    subject_number: str
    kind: str  # end_of_treatment | end_of_study | death | new_therapy
    date: dt.date
    reason: str | None = None


@dataclass(frozen=True)
class DoseInput:
    subject_number: str
    cycle: int
    drug: str
    date: dt.date
    actual_mg: float
    planned_mg: float | None = None


@dataclass(frozen=True)
class AdverseEventInput:
    subject_number: str
    term: str
    soc: str
    grade: int
    onset: dt.date
    serious: bool = False
    action_taken: str | None = None


@dataclass(frozen=True)
class CapturedData:
    """Everything the analysis reads, as plain records."""

    subjects: Sequence[SubjectInput]
    screenings: Sequence[ScreeningInput] = ()
    assessments: Sequence[AssessmentInput] = ()
    dispositions: Sequence[DispositionInput] = ()
    doses: Sequence[DoseInput] = ()
    adverse_events: Sequence[AdverseEventInput] = ()


@dataclass
class Datasets:
    adsl: pd.DataFrame
    adtte: pd.DataFrame
    adrs: pd.DataFrame
    adae: pd.DataFrame
    adex: pd.DataFrame
    screening: pd.DataFrame
    cut_date: dt.date

    def as_dict(self) -> dict[str, pd.DataFrame]:
        return {
            "adsl": self.adsl,
            "adtte": self.adtte,
            "adrs": self.adrs,
            "adae": self.adae,
            "adex": self.adex,
            "screening": self.screening,
        }


# ---------------------------------------------------------------------------------------------------------------
# PFS
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PfsOutcome:
    """PFS of one Subject: the decisive date, whether it is an event, and the rule that decided it."""

    date: dt.date
    event: bool
    rule: str
    detail: str = ""


def _missed_between(schedule: ScheduleSpec, randomized_on: dt.date, after: dt.date, before: dt.date) -> int:
    """Scheduled assessments whose whole window lies strictly between ``after`` and ``before``."""
    n = 0
    for planned, window in assessment_grid(schedule, randomized_on, before):
        if planned - dt.timedelta(days=window) > after and planned + dt.timedelta(days=window) < before:
            n += 1
    return n


def pfs_outcome(
    randomized_on: dt.date,
    assessments: Iterable[tuple[dt.date, str | None]],
    *,
    cut_date: dt.date,
    spec: AnalysisSpec,
    schedule: ScheduleSpec,
    death_date: dt.date | None = None,
    new_therapy_date: dt.date | None = None,
) -> PfsOutcome:
    """Apply the PFS event and censoring rules to one Subject.

    Parameters
    ----------
    randomized_on : date
        Randomization date (day 1 of PFS).
    assessments : iterable of (date, response)
        Post-baseline time-point responses (``CR``, ``PR``, ``SD``, ``non-CR/non-PD``, ``PD``, ``NE``).
    cut_date : date
        Data cut-off: anything later is ignored.
    spec, schedule : AnalysisSpec, ScheduleSpec
        Censoring rules and the assessment grid.
    death_date, new_therapy_date : date, optional

    Returns
    -------
    PfsOutcome
        ``rule`` is one of ``progression``, ``death``, ``censored_last_assessment``, ``censored_no_assessment``,
        ``censored_missed_assessments``, ``censored_new_therapy``.
    """
    adequate_set = set(spec.pfs.adequate_responses)
    visits = sorted((d, r) for d, r in assessments if d <= cut_date and d >= randomized_on)
    adequate = [(d, r) for d, r in visits if r in adequate_set]
    pd_dates = [d for d, r in adequate if r == "PD"]
    candidates = []
    if pd_dates:
        candidates.append((pd_dates[0], "progression"))
    if death_date is not None and death_date <= cut_date:
        candidates.append((death_date, "death"))
    event = min(candidates) if candidates else None

    def last_adequate(on_or_before: dt.date, strictly: bool = False) -> dt.date | None:
        keep = [d for d, _ in adequate if (d < on_or_before if strictly else d <= on_or_before)]
        return keep[-1] if keep else None

    nt = (
        new_therapy_date
        if (spec.pfs.censor_at_new_therapy and new_therapy_date is not None and new_therapy_date <= cut_date)
        else None
    )
    if nt is not None and (event is None or nt < event[0]):
        last = last_adequate(nt)
        return PfsOutcome(last or randomized_on, False, "censored_new_therapy", f"new anticancer therapy on {nt}")
    if event is not None:
        date, kind = event
        anchor = last_adequate(date, strictly=True) or randomized_on
        missed = _missed_between(schedule, randomized_on, anchor, date)
        if missed >= spec.pfs.missed_assessments:
            return PfsOutcome(
                anchor, False, "censored_missed_assessments", f"{kind} on {date} after {missed} missed assessments"
            )
        return PfsOutcome(date, True, kind)
    last = last_adequate(cut_date)
    if last is None:
        return PfsOutcome(randomized_on, False, "censored_no_assessment")
    return PfsOutcome(last, False, "censored_last_assessment")


# ---------------------------------------------------------------------------------------------------------------
# Response
# ---------------------------------------------------------------------------------------------------------------


def best_overall_response(
    randomized_on: dt.date,
    assessments: Iterable[tuple[dt.date, str | None]],
    *,
    min_sd_days: int,
    confirm: bool = False,
) -> tuple[str, dt.date | None]:
    """Best overall response (RECIST 1.1 sections 4.4 and 4.6) as the response dataset stores it: the category's
    text and the first date it was met. The rule is :func:`trialdesk.domain.recist.best_overall_response`, the one
    shared with the RECIST engine; ``confirm`` is the analysis spec's ``confirm_response``."""
    bor = recist_best_overall_response(randomized_on, assessments, min_sd_days=min_sd_days, confirm=confirm)
    return bor.response.value, bor.date


# ---------------------------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------------------------


def _age(birth: dt.date | None, on: dt.date | None) -> int | None:
    if birth is None or on is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _by_subject(records: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for r in records:
        out[r.subject_number].append(r)
    return out


def _dispositions(data: CapturedData, cut: dt.date) -> dict[str, dict[str, DispositionInput]]:
    out: dict[str, dict[str, DispositionInput]] = defaultdict(dict)
    for i, d in enumerate(data.dispositions):
        if d.kind not in DISPOSITION_KINDS:
            raise InvalidInput(
                f"unknown kind {d.kind!r}; expected one of {', '.join(DISPOSITION_KINDS)}",
                field=f"dispositions[{i}].kind",
            )
        earlier = out[d.subject_number].get(d.kind)
        if d.date <= cut and (earlier is None or d.date < earlier.date):
            out[d.subject_number][d.kind] = d  # the first of each kind (several new therapies: the first counts)
    return out


def derive_adsl(data: CapturedData, spec: AnalysisSpec, cut_date: dt.date) -> pd.DataFrame:
    """Subject-level dataset (one row per Subject known to the trial, randomized or not)."""
    dispo = _dispositions(data, cut_date)
    doses = _by_subject(d for d in data.doses if d.date <= cut_date)
    seen: set[str] = set()
    rows = []
    for i, s in enumerate(data.subjects):
        if s.subject_number in seen:
            raise InvalidInput(f"subject {s.subject_number} appears twice", field=f"subjects[{i}].subject_number")
        seen.add(s.subject_number)
        if (s.arm is None) != (s.randomized_on is None):
            raise InvalidInput("arm and randomized_on go together (both or neither)", field=f"subjects[{i}]")
        itt = s.randomized_on is not None and s.randomized_on <= cut_date
        dose_dates = sorted(d.date for d in doses.get(s.subject_number, ()))
        treated = itt and bool(dose_dates)
        age = _age(s.birth_date, s.randomized_on)
        sd = dispo.get(s.subject_number, {})
        row = {
            "subject_number": s.subject_number,
            "site": s.site,
            "arm": s.arm if itt else None,
            "randomized_on": s.randomized_on if itt else None,
            "randomized_in_error": bool(s.in_error) if itt else False,
            "itt": itt,
            "safety": treated,
            "treated": treated,
            "first_dose": dose_dates[0] if dose_dates else None,
            "last_dose": dose_dates[-1] if dose_dates else None,
            "age": age,
            "age_group": None
            if age is None
            else (f"< {spec.age_cutoff}" if age < spec.age_cutoff else f">= {spec.age_cutoff}"),
            "sex": s.sex,
            "ecog": s.ecog,
        }
        for kind in DISPOSITION_KINDS:
            d = sd.get(kind)
            row[f"{kind}_date"] = d.date if d else None
            if kind in ("end_of_treatment", "end_of_study"):
                row[f"{kind}_reason"] = d.reason if d else None
        for name in spec.stratify_by:
            row[name] = s.stratum.get(name) if itt else None
        for name, level in s.stratum.items():
            row.setdefault(name, level if itt else None)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["subject_number", "arm", "itt", "safety"])


def derive_adtte(
    data: CapturedData, spec: AnalysisSpec, schedule: ScheduleSpec, cut_date: dt.date, adsl: pd.DataFrame | None = None
) -> pd.DataFrame:
    """PFS time-to-event dataset: one row per ITT Subject."""
    adsl = derive_adsl(data, spec, cut_date) if adsl is None else adsl
    visits = _by_subject(a for a in data.assessments if not a.baseline)
    rows = []
    for rec in adsl[adsl["itt"]].to_dict("records"):
        sn = rec["subject_number"]
        out = pfs_outcome(
            rec["randomized_on"],
            [(a.date, a.response) for a in visits.get(sn, ())],
            cut_date=cut_date,
            spec=spec,
            schedule=schedule,
            death_date=rec["death_date"],
            new_therapy_date=rec["new_therapy_date"],
        )
        days = (out.date - rec["randomized_on"]).days + spec.day_offset
        rows.append(
            {
                "subject_number": sn,
                "arm": rec["arm"],
                **{k: rec[k] for k in spec.stratify_by},
                "parameter": "PFS",
                "start_date": rec["randomized_on"],
                "end_date": out.date,
                "days": days,
                "time": spec.to_time(days),
                "event": int(out.event),
                "rule": out.rule,
                "detail": out.detail,
            }
        )
    cols = [
        "subject_number",
        "arm",
        *spec.stratify_by,
        "parameter",
        "start_date",
        "end_date",
        "days",
        "time",
        "event",
        "rule",
        "detail",
    ]
    return pd.DataFrame(rows, columns=cols)


def derive_adrs(
    data: CapturedData,
    spec: AnalysisSpec,
    cut_date: dt.date,
    adtte: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    min_sd_days: int = 35,
) -> pd.DataFrame:
    """Response dataset: best overall response per ITT Subject, and duration of response for responders.

    Time points after the cut or after new anticancer therapy are ignored. Duration of response runs from the
    first CR/PR to the PFS date of the same Subject (progression or death = event; censored otherwise).
    """
    visits = _by_subject(a for a in data.assessments if not a.baseline and a.date <= cut_date)
    pfs = {r["subject_number"]: r for r in adtte[["subject_number", "end_date", "event"]].to_dict("records")}
    rows = []
    for rec in adsl[adsl["itt"]].to_dict("records"):
        sn = rec["subject_number"]
        nt = rec["new_therapy_date"]
        pts = [(a.date, a.response) for a in visits.get(sn, ()) if nt is None or a.date <= nt]
        bor, bor_date = best_overall_response(
            rec["randomized_on"], pts, min_sd_days=min_sd_days, confirm=spec.confirm_response
        )
        responder = bor in ("CR", "PR")
        row = {
            "subject_number": sn,
            "arm": rec["arm"],
            "bor": bor,
            "bor_date": bor_date,
            "responder": responder,
            "dor_days": None,
            "dor_time": None,
            "dor_event": None,
        }
        if responder:
            p = pfs[sn]
            days = (p["end_date"] - bor_date).days + spec.day_offset
            row.update(dor_days=days, dor_time=spec.to_time(days), dor_event=int(p["event"]))
        rows.append(row)
    cols = ["subject_number", "arm", "bor", "bor_date", "responder", "dor_days", "dor_time", "dor_event"]
    return pd.DataFrame(rows, columns=cols)


def derive_adae(data: CapturedData, spec: AnalysisSpec, cut_date: dt.date, adsl: pd.DataFrame) -> pd.DataFrame:
    """Adverse events of the safety set with the treatment-emergent (TEAE) and discontinuation flags."""
    info = {r["subject_number"]: r for r in adsl[adsl["safety"]].to_dict("records")}
    rows = []
    for i, ae in enumerate(data.adverse_events):
        if not 1 <= int(ae.grade) <= 5:
            raise InvalidInput(f"must be 1 to 5; got {ae.grade!r}", field=f"adverse_events[{i}].grade")
        s = info.get(ae.subject_number)
        if ae.onset > cut_date or s is None:
            continue
        window_end = s["last_dose"] + dt.timedelta(days=spec.treatment_emergent_days)
        teae = s["first_dose"] <= ae.onset <= window_end
        action = (ae.action_taken or "").strip().lower().replace("_", " ")
        rows.append(
            {
                "subject_number": ae.subject_number,
                "arm": s["arm"],
                "term": ae.term,
                "soc": ae.soc,
                "grade": int(ae.grade),
                "onset": ae.onset,
                "serious": bool(ae.serious),
                "teae": teae,
                "leading_to_discontinuation": action in _DISCONTINUATION_ACTIONS,
            }
        )
    cols = ["subject_number", "arm", "term", "soc", "grade", "onset", "serious", "teae", "leading_to_discontinuation"]
    return pd.DataFrame(rows, columns=cols)


def derive_adex(
    data: CapturedData, cut_date: dt.date, adsl: pd.DataFrame, *, cycle_length_days: int = 21
) -> pd.DataFrame:
    """Exposure per treated Subject and drug.

    Relative dose intensity = actual dose intensity / planned dose intensity, with
    actual DI = total actual mg / (last dose - first dose + cycle length) and
    planned DI = total planned mg / (number of doses x cycle length): delays and reductions both lower it.
    Missing planned doses are taken as the actual ones.
    """
    arms = {sn: arm for sn, arm in zip(adsl["subject_number"], adsl["arm"]) if arm is not None}
    groups: dict[tuple[str, str], list[DoseInput]] = defaultdict(list)
    for d in data.doses:
        if d.date <= cut_date and d.subject_number in arms:
            groups[(d.subject_number, d.drug)].append(d)
    rows = []
    for (sn, drug), doses in sorted(groups.items()):
        dates = sorted(d.date for d in doses)
        actual = sum(d.actual_mg for d in doses)
        planned = sum(d.planned_mg if d.planned_mg is not None else d.actual_mg for d in doses)
        span = (dates[-1] - dates[0]).days + cycle_length_days
        n = len(doses)
        rdi = (actual / span) / (planned / (n * cycle_length_days)) if planned > 0 else None
        rows.append(
            {
                "subject_number": sn,
                "arm": arms[sn],
                "drug": drug,
                "n_doses": n,
                "cycles": len({d.cycle for d in doses}),
                "first_dose": dates[0],
                "last_dose": dates[-1],
                "duration_days": span,
                "total_actual_mg": actual,
                "total_planned_mg": planned,
                "rdi": rdi,
            }
        )
    cols = [
        "subject_number",
        "arm",
        "drug",
        "n_doses",
        "cycles",
        "first_dose",
        "last_dose",
        "duration_days",
        "total_actual_mg",
        "total_planned_mg",
        "rdi",
    ]
    return pd.DataFrame(rows, columns=cols)


def _screening_table(data: CapturedData, cut_date: dt.date) -> pd.DataFrame:
    latest: dict[str, ScreeningInput] = {}
    for s in data.screenings:
        if s.screened_on <= cut_date and (
            s.subject_number not in latest or s.screened_on >= latest[s.subject_number].screened_on
        ):
            latest[s.subject_number] = s
    rows = [
        {
            "subject_number": s.subject_number,
            "screened_on": s.screened_on,
            "verdict": s.verdict,
            "failed_criteria": ",".join(s.failed_criteria),
        }
        for s in latest.values()
    ]
    return pd.DataFrame(rows, columns=["subject_number", "screened_on", "verdict", "failed_criteria"])


def derive_datasets(
    data: CapturedData,
    spec: AnalysisSpec,
    schedule: ScheduleSpec,
    cut_date: dt.date,
    *,
    min_sd_days: int = 35,
    cycle_length_days: int = 21,
) -> Datasets:
    """All analysis datasets at a data cut.

    Parameters
    ----------
    min_sd_days : int
        First day an SD time point counts for the best overall response (``operations.recist``
        ``min_sd_interval_days - min_sd_window_days``).
    cycle_length_days : int
        Planned cycle length for the dose intensity.
    """
    adsl = derive_adsl(data, spec, cut_date)
    adtte = derive_adtte(data, spec, schedule, cut_date, adsl)
    adrs = derive_adrs(data, spec, cut_date, adtte, adsl, min_sd_days=min_sd_days)
    adae = derive_adae(data, spec, cut_date, adsl)
    adex = derive_adex(data, cut_date, adsl, cycle_length_days=cycle_length_days)
    return Datasets(adsl, adtte, adrs, adae, adex, _screening_table(data, cut_date), cut_date)
