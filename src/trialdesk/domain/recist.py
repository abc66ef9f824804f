"""RECIST 1.1 engine (Eisenhauer et al., Eur J Cancer 2009;45:228-247).

:func:`evaluate_subject` turns a Subject's baseline and follow-up :class:`TumorAssessment` records into the
RECIST 1.1 time-point responses, the best overall response (BOR) and the date of first progression. It is pure:
dates come in with the data, nothing reads a clock.

Rules implemented (section numbers of the paper):

* Baseline (3.2, 4.1): at most ``max_target_lesions`` target lesions, at most ``max_targets_per_organ`` per
  organ, all lymph nodes counting as one organ (RECIST working group FAQ); a non-nodal target is measurable
  when its longest diameter is >= 10 mm, a nodal target when its short axis is >= 15 mm. Nodes of 10 to < 15 mm
  are pathological but not measurable: non-target only.
* Sum of diameters (4.3.2): longest diameter for non-nodal targets, short axis for nodal ones, whatever their
  size (a node back under 10 mm still counts its short axis). "Too small to measure" counts 5 mm, "absent" 0 mm;
  a measured value is used as is, even under 5 mm. Fragments of a split lesion are summed into it; lesions that
  coalesced count the coalesced diameter once and 0 mm for the others.
* Target response (4.3.1): CR when every non-nodal target is gone (0 mm) and every nodal target is < 10 mm;
  otherwise PD when the sum is >= 20 % above the nadir (the smallest sum so far, baseline included) *and* at
  least 5 mm above it; otherwise PR when the sum is >= 30 % below the baseline sum; otherwise SD. CR is
  decided first: nodes that grow while all staying under 10 mm are not progression.
  NE when a target lesion is not evaluated, *unless* the evaluated ones alone already meet PD: missing lesions
  can only add to the sum, so PD stands whatever they measure (4.4.1, the 50 mm -> 80 mm example).
  Comparisons are exact (decimal arithmetic), so -30.0 % is PR and +20.0 % with +5 mm is PD.
* Non-target response (4.3.3): PD on unequivocal progression of any non-target lesion (even when others were
  not evaluated), otherwise NE if any was not evaluated, otherwise CR when all are absent (tumour markers are
  the reader's judgement, recorded by marking the lesions absent or not), otherwise non-CR/non-PD.
* New lesions (4.3.2): an unequivocal new lesion is PD; an equivocal one is not, but if the same lesion is
  recorded as unequivocal later, progression dates from the scan that first showed it.
* Time-point response: Table 1 (targets at baseline) and Table 2 (non-target disease only); after a time point
  of overall CR, disease seen again (a non-nodal target > 0 mm, a nodal target >= 10 mm or a non-target lesion
  present) is PD (note to Table 3: "disease must have reappeared after CR").
* Best overall response without confirmation (4.4, randomized trials): the best of CR > PR > SD (or
  non-CR/non-PD) among the time points before the first PD; SD counts only at an assessment at least
  ``min_sd_interval_days`` after randomization (less ``min_sd_window_days``, the visit window). Otherwise PD
  if PD was recorded, else NE.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trialdesk.domain.assumptions import AssumptionMap
from trialdesk.domain.errors import InvalidInput, Problem
from trialdesk.domain.recist_models import (
    NewLesion,
    NewLesionFinding,
    NonTargetLesion,
    RecistEvaluation,
    Response,
    SubjectTumorAssessments,
    TargetLesion,
    TimePointResult,
    TumorAssessment,
)
from trialdesk.domain.recist_reason import time_point_reason

__all__ = [
    "CONFIRM_DAYS",
    "BestResponse",
    "RecistInputError",
    "best_overall_response",
    "RecistSpec",
    "evaluate_subject",
    "validate_baseline",
    "NON_NODAL_MEASURABLE_MM",
    "NODAL_MEASURABLE_MM",
    "NODAL_PATHOLOGICAL_MM",
    "TOO_SMALL_MM",
]

# Fixed by RECIST 1.1 itself (Eisenhauer 2009), not by the protocol.
NON_NODAL_MEASURABLE_MM = Fraction(10)
NODAL_MEASURABLE_MM = Fraction(15)
NODAL_PATHOLOGICAL_MM = Fraction(10)
TOO_SMALL_MM = Fraction(5)
PR_FRACTION = Fraction(7, 10)  # sum <= 70 % of baseline: a decrease of at least 30 %
PD_FRACTION = Fraction(6, 5)  # sum >= 120 % of nadir: an increase of at least 20 %
PD_ABSOLUTE_MM = Fraction(5)
NODAL_ORGAN = "lymph node"


class RecistSpec(BaseModel):
    """Protocol settings of tumour response assessment (``operations.recist``).

    Attributes
    ----------
    min_sd_interval_days
        SD counts towards the best overall response only at an assessment at least this many days after
        randomization (RECIST 1.1, 4.4.2: "in general not less than 6-8 weeks", left to the protocol).
    min_sd_window_days
        Visit window allowed on that interval: SD counts from day ``min_sd_interval_days - min_sd_window_days``,
        so that an assessment done early within its scheduling window still counts.
    max_target_lesions, max_targets_per_organ
        Baseline selection limits (RECIST 1.1, 3.3.1: 5 in all, 2 per organ).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_sd_interval_days: int = Field(default=42, ge=0, le=365)
    min_sd_window_days: int = Field(default=0, ge=0, le=60)
    max_target_lesions: int = Field(default=5, ge=1, le=10)
    #: How long before randomization a baseline assessment may be (RECIST 1.1, 3.2: never more than 4 weeks before
    #: the beginning of treatment); domain/timeline.py checks it.
    baseline_window_days: int = Field(default=28, ge=0, le=120)
    max_targets_per_organ: int = Field(default=2, ge=1, le=5)
    assumptions: AssumptionMap = Field(default_factory=dict)

    @model_validator(mode="after")
    def _window_within_interval(self) -> RecistSpec:
        if self.min_sd_window_days > self.min_sd_interval_days:
            raise ValueError(
                f"min_sd_window_days ({self.min_sd_window_days}) exceeds min_sd_interval_days "
                f"({self.min_sd_interval_days})"
            )
        if self.max_targets_per_organ > self.max_target_lesions:
            raise ValueError(
                f"max_targets_per_organ ({self.max_targets_per_organ}) exceeds max_target_lesions "
                f"({self.max_target_lesions})"
            )
        return self

    @property
    def sd_earliest_day(self) -> int:
        """First day after randomization on which an SD time point counts towards the best overall response."""
        return self.min_sd_interval_days - self.min_sd_window_days


class RecistInputError(InvalidInput):
    """Assessments that break a RECIST rule or refer to lesions wrongly; ``problems`` lists each (path, message)."""

    def __init__(self, subject_id: str, problems: list[Problem]) -> None:
        self.subject_id = subject_id
        super().__init__(problems)
        self.message = f"subject {subject_id}: {self.message}"
        self.args = (self.message,)


def _mm(value: float | str | None) -> Fraction:
    """Exact value of a measurement in mm, always a number here (``str`` gives the shortest repr: 10.1 -> 101/10)."""
    return Fraction(str(value))


def _organ_key(lesion: TargetLesion) -> str:
    return NODAL_ORGAN if lesion.nodal else (lesion.organ or "").strip().casefold()


def validate_baseline(baseline: TumorAssessment, spec: RecistSpec) -> list[Problem]:
    """Problems of a baseline assessment under RECIST 1.1 (empty when it is valid).

    Parameters
    ----------
    baseline
        The baseline assessment.
    spec
        Protocol settings (target lesion limits).

    Returns
    -------
    list of Problem
        One per problem: the path (``baseline.lesions[2]``) and a message naming the lesion and the rule.
    """
    problems: list[Problem] = []
    if not baseline.lesions:
        problems.append(
            Problem("baseline.lesions", "no lesion recorded; RECIST needs target or non-target disease at baseline")
        )
    targets: list[TargetLesion] = []
    for index, lesion in enumerate(baseline.lesions):
        path = f"baseline.lesions[{index}]"

        def add(message: str, path: str = path, lesion_id: str = lesion.lesion_id) -> None:
            problems.append(Problem(path, f"lesion {lesion_id!r}: {message}"))

        if lesion.organ is None:
            add("organ is required at baseline")
        if isinstance(lesion, NewLesion):
            add("a lesion cannot be 'new' at baseline; record it as target or non_target")
        elif isinstance(lesion, NonTargetLesion):
            if lesion.status != "present":
                add(f"a non-target lesion must be 'present' at baseline, not {lesion.status!r}")
        else:
            targets.append(lesion)
            if not isinstance(lesion.measurement, float):
                add(f"a target lesion needs a measurement in mm at baseline (not {_describe_reading(lesion)})")
                continue
            size = _mm(lesion.measurement)
            if lesion.nodal and size < NODAL_MEASURABLE_MM:
                kind = "non-target" if size >= NODAL_PATHOLOGICAL_MM else "not pathological (< 10 mm)"
                add(
                    f"a nodal target needs a short axis >= 15 mm, got {lesion.measurement:g} mm "
                    f"(a node of this size is {kind})"
                )
            elif not lesion.nodal and size < NON_NODAL_MEASURABLE_MM:
                add(
                    f"a non-nodal target needs a longest diameter >= 10 mm, got {lesion.measurement:g} mm "
                    "(not measurable; record it as non-target)"
                )
    if len(targets) > spec.max_target_lesions:
        problems.append(
            Problem(
                "baseline.lesions",
                f"{len(targets)} target lesions ({', '.join(t.lesion_id for t in targets)}); "
                f"at most {spec.max_target_lesions} allowed",
            )
        )
    per_organ = Counter(_organ_key(t) for t in targets if t.organ is not None or t.nodal)
    for organ, count in per_organ.items():
        if count > spec.max_targets_per_organ:
            ids = ", ".join(t.lesion_id for t in targets if _organ_key(t) == organ)
            label = "lymph nodes (all nodes count as one organ)" if organ == NODAL_ORGAN else repr(organ)
            problems.append(
                Problem(
                    "baseline.lesions",
                    f"{count} target lesions in {label} ({ids}); at most {spec.max_targets_per_organ} per organ",
                )
            )
    return problems


def _describe_reading(lesion: TargetLesion) -> str:
    if lesion.fragments_mm is not None:
        return "fragments_mm"
    if lesion.merged_into is not None:
        return "merged_into"
    return repr(lesion.measurement)


def _check_follow_up(
    index: int,
    assessment: TumorAssessment,
    base_targets: dict[str, TargetLesion],
    base_non_targets: dict[str, NonTargetLesion],
) -> list[Problem]:
    problems: list[Problem] = []
    baseline_ids = set(base_targets) | set(base_non_targets)
    targets = assessment.of_kind("target")
    for j, lesion in enumerate(assessment.lesions):
        path = f"follow_ups[{index}].lesions[{j}]"

        def add(message: str, path: str = path, lesion_id: str = lesion.lesion_id) -> None:
            problems.append(Problem(path, f"lesion {lesion_id!r} ({assessment.date}): {message}"))

        if isinstance(lesion, TargetLesion):
            base = base_targets.get(lesion.lesion_id)
            if base is None:
                add("not a baseline target lesion (targets are chosen at baseline only)")
                continue
            if lesion.nodal is not None and bool(lesion.nodal) != bool(base.nodal):
                add(f"nodal={lesion.nodal} contradicts the baseline (nodal={bool(base.nodal)})")
            if lesion.merged_into is not None:
                host = targets.get(lesion.merged_into)
                if host is None:
                    add(f"merged_into {lesion.merged_into!r} is not a target lesion recorded at this assessment")
                elif isinstance(host, TargetLesion) and host.merged_into is not None:
                    add(
                        f"merged_into {lesion.merged_into!r}, which is itself merged; name the lesion that carries "
                        "the coalesced measurement"
                    )
        elif isinstance(lesion, NonTargetLesion):
            if lesion.lesion_id not in base_non_targets:
                add("not a baseline non-target lesion (a lesion first seen after baseline is 'new')")
        elif lesion.lesion_id in baseline_ids:
            add("recorded as new but it is a baseline lesion")
    return problems


@dataclass(frozen=True)
class _TargetReading:
    contributions: dict[str, Fraction]
    not_evaluated: list[str]
    notes: list[str]


def _read_targets(assessment: TumorAssessment, base_targets: dict[str, TargetLesion]) -> _TargetReading:
    records = assessment.of_kind("target")
    contributions: dict[str, Fraction] = {}
    not_evaluated: list[str] = []
    notes: list[str] = []
    for lesion_id in base_targets:
        record = records.get(lesion_id)
        if record is None:
            not_evaluated.append(lesion_id)
            notes.append(f"{lesion_id} not reported: not evaluated")
            continue
        assert isinstance(record, TargetLesion)
        if record.merged_into is not None:
            contributions[lesion_id] = Fraction(0)
            notes.append(f"{lesion_id} merged into {record.merged_into}: 0 mm")
        elif record.fragments_mm is not None:
            contributions[lesion_id] = sum((_mm(f) for f in record.fragments_mm), Fraction(0))
            notes.append(
                f"{lesion_id} split into {len(record.fragments_mm)} fragments: "
                f"{' + '.join(f'{f:g}' for f in record.fragments_mm)} = {float(contributions[lesion_id]):g} mm"
            )
        elif record.measurement == "not_evaluated":
            not_evaluated.append(lesion_id)
        elif record.measurement == "too_small":
            contributions[lesion_id] = TOO_SMALL_MM
            notes.append(f"{lesion_id} too small to measure: 5 mm")
        elif record.measurement == "absent":
            contributions[lesion_id] = Fraction(0)
        else:
            assert isinstance(record.measurement, float)
            contributions[lesion_id] = _mm(record.measurement)
    return _TargetReading(contributions=contributions, not_evaluated=not_evaluated, notes=notes)


def _meets_pd(total: Fraction, nadir: Fraction) -> bool:
    return total >= PD_FRACTION * nadir and total - nadir >= PD_ABSOLUTE_MM


def _pct(change: Fraction, reference: Fraction) -> float | None:
    return None if reference == 0 else float(100 * change / reference)


def _non_target_response(
    assessment: TumorAssessment, base_non_targets: dict[str, NonTargetLesion]
) -> tuple[Response, list[str]]:
    if not base_non_targets:
        return Response.NOT_APPLICABLE, []
    records = assessment.of_kind("non_target")
    statuses = {
        lesion_id: (record.status if isinstance(record, NonTargetLesion) else "not_evaluated")
        for lesion_id in base_non_targets
        for record in [records.get(lesion_id)]
    }
    progressed = [i for i, s in statuses.items() if s == "unequivocal_progression"]
    missing = [i for i, s in statuses.items() if s == "not_evaluated"]
    if progressed:
        return Response.PD, [f"non-target PD: unequivocal progression of {', '.join(progressed)}"]
    if missing:
        return Response.NE, [f"non-target NE: {', '.join(missing)} not evaluated"]
    if all(s == "absent" for s in statuses.values()):
        return Response.CR, ["non-target CR: all non-target lesions absent"]
    return Response.NON_CR_NON_PD, []


def _new_lesions(assessment: TumorAssessment) -> tuple[NewLesionFinding, list[str]]:
    new = [lesion for lesion in assessment.lesions if isinstance(lesion, NewLesion)]
    unequivocal = [n.lesion_id for n in new if n.status == "unequivocal"]
    if unequivocal:
        return NewLesionFinding.UNEQUIVOCAL, [f"new lesion(s) {', '.join(unequivocal)}: PD"]
    if new:
        return NewLesionFinding.EQUIVOCAL, [
            f"equivocal new lesion(s) {', '.join(n.lesion_id for n in new)}: not PD unless confirmed later"
        ]
    return NewLesionFinding.NONE, []


def _overall(has_targets: bool, target: Response, non_target: Response, new: NewLesionFinding) -> Response:
    """RECIST 1.1 Table 1 (target disease) and Table 2 (non-target disease only)."""
    if non_target is Response.PD or new is NewLesionFinding.UNEQUIVOCAL:
        return Response.PD
    if not has_targets:
        return non_target
    if target in (Response.PD, Response.NE, Response.PR, Response.SD):
        return target
    # target CR
    return Response.CR if non_target in (Response.CR, Response.NOT_APPLICABLE) else Response.PR


def evaluate_subject(subject: SubjectTumorAssessments, spec: RecistSpec | None = None) -> RecistEvaluation:
    """Evaluate a Subject's tumour assessments under RECIST 1.1.

    Parameters
    ----------
    subject
        Randomization date, baseline and follow-up assessments (see :mod:`trialdesk.domain.recist_models`).
    spec
        Protocol settings; the defaults of :class:`RecistSpec` when omitted.

    Returns
    -------
    RecistEvaluation
        One :class:`TimePointResult` per follow-up, the best overall response and the date of first PD.

    Raises
    ------
    RecistInputError
        When the baseline breaks a RECIST selection rule or a follow-up refers to a lesion wrongly; every
        problem is listed, each naming the lesion and the rule.
    """
    spec = spec or RecistSpec()
    problems = validate_baseline(subject.baseline, spec)
    base_targets = {k: v for k, v in subject.baseline.of_kind("target").items() if isinstance(v, TargetLesion)}
    base_non_targets = {
        k: v for k, v in subject.baseline.of_kind("non_target").items() if isinstance(v, NonTargetLesion)
    }
    for i, follow_up in enumerate(subject.follow_ups):
        problems.extend(_check_follow_up(i, follow_up, base_targets, base_non_targets))
    if problems:
        raise RecistInputError(subject.subject_id, problems)

    has_targets = bool(base_targets)
    baseline_sum = sum((_mm(t.measurement) for t in base_targets.values()), Fraction(0)) if has_targets else None
    nadir = baseline_sum
    prior_cr_date: dt.date | None = None
    first_seen: dict[str, dt.date] = {}  # new lesion id -> date first recorded (equivocal or not)
    first_pd_date: dt.date | None = None
    results: list[TimePointResult] = []

    for assessment in subject.follow_ups:
        reasons: list[str] = []
        total = measured = None
        target = Response.NOT_APPLICABLE
        disease_seen = False
        if has_targets:
            assert baseline_sum is not None and nadir is not None
            reading = _read_targets(assessment, base_targets)
            reasons.extend(reading.notes)
            measured = sum(reading.contributions.values(), Fraction(0))
            disease_seen = any(
                size >= NODAL_PATHOLOGICAL_MM if base_targets[i].nodal else size > 0
                for i, size in reading.contributions.items()
            )
            all_gone = all(
                size < NODAL_PATHOLOGICAL_MM if base_targets[i].nodal else size == 0
                for i, size in reading.contributions.items()
            )
            if reading.not_evaluated:
                if _meets_pd(measured, nadir):
                    target = Response.PD
                    reasons.append(
                        f"target PD although {', '.join(reading.not_evaluated)} not evaluated: the evaluated "
                        f"lesions alone sum {float(measured):g} mm, >= 20 % and >= 5 mm above the nadir "
                        f"{float(nadir):g} mm"
                    )
                else:
                    target = Response.NE
                    reasons.append(f"target NE: {', '.join(reading.not_evaluated)} not evaluated")
            else:
                total = measured
                if all_gone:
                    target = Response.CR
                    reasons.append("target CR: non-nodal targets gone, nodal targets < 10 mm short axis")
                elif _meets_pd(total, nadir):
                    target = Response.PD
                    reasons.append(
                        f"target PD: sum {float(total):g} mm is >= 20 % and >= 5 mm above the nadir {float(nadir):g} mm"
                    )
                elif total <= PR_FRACTION * baseline_sum:
                    target = Response.PR
                    reasons.append(
                        f"target PR: sum {float(total):g} mm is >= 30 % below the baseline {float(baseline_sum):g} mm"
                    )
                else:
                    target = Response.SD
        non_target, nt_reasons = _non_target_response(assessment, base_non_targets)
        reasons.extend(nt_reasons)
        new, new_reasons = _new_lesions(assessment)
        reasons.extend(new_reasons)
        overall = _overall(has_targets, target, non_target, new)

        nt_records = assessment.of_kind("non_target")
        disease_seen = disease_seen or any(
            isinstance(r, NonTargetLesion) and r.status in ("present", "unequivocal_progression")
            for r in nt_records.values()
        )
        if prior_cr_date is not None and overall not in (Response.CR, Response.PD) and disease_seen:
            overall = Response.PD
            reasons.append(f"PD: disease seen again after the overall CR of {prior_cr_date}")

        for lesion in assessment.lesions:
            if isinstance(lesion, NewLesion):
                first_seen.setdefault(lesion.lesion_id, assessment.date)
        if overall is Response.PD and first_pd_date is None:
            first_pd_date = assessment.date
            confirmed = [n for n in assessment.lesions if isinstance(n, NewLesion) and n.status == "unequivocal"]
            earlier = sorted(
                (first_seen[n.lesion_id], n.lesion_id) for n in confirmed if first_seen[n.lesion_id] < assessment.date
            )
            if earlier:
                first_pd_date = earlier[0][0]
                reasons.append(
                    f"new lesion {earlier[0][1]} first seen (equivocal) on {first_pd_date}: progression dates from then"
                )
        if overall is Response.CR and prior_cr_date is None:
            prior_cr_date = assessment.date

        change_b = change_n = None
        pct_b = pct_n = None
        if total is not None and baseline_sum is not None and nadir is not None:
            change_b, change_n = total - baseline_sum, total - nadir
            pct_b, pct_n = _pct(change_b, baseline_sum), _pct(change_n, nadir)
        point = TimePointResult(
            date=assessment.date,
            days_from_randomization=(assessment.date - subject.randomization_date).days,
            sum_mm=None if total is None else float(total),
            measured_sum_mm=None if measured is None else float(measured),
            nadir_mm=None if nadir is None else float(nadir),
            change_from_baseline_mm=None if change_b is None else float(change_b),
            change_from_baseline_pct=pct_b,
            change_from_nadir_mm=None if change_n is None else float(change_n),
            change_from_nadir_pct=pct_n,
            target_response=target,
            non_target_response=non_target,
            new_lesions=new,
            overall_response=overall,
            reasons=reasons,
        )
        reason = time_point_reason(
            point,
            assessment,
            non_targets=list(base_non_targets),
            targets_not_evaluated=reading.not_evaluated if has_targets else [],
            prior_cr_date=prior_cr_date if overall is Response.PD else None,
        )
        results.append(point.model_copy(update={"reason": reason}))
        if total is not None and nadir is not None and total < nadir:
            nadir = total

    bor, bor_date, bor_reasons = best_overall_response(
        subject.randomization_date,
        [(r.date, r.overall_response) for r in results],
        min_sd_days=spec.sd_earliest_day,
        progression_date=first_pd_date,
    )
    return RecistEvaluation(
        subject_id=subject.subject_id,
        randomization_date=subject.randomization_date,
        baseline_date=subject.baseline.date,
        baseline_sum_mm=None if baseline_sum is None else float(baseline_sum),
        target_lesions=list(base_targets),
        non_target_lesions=list(base_non_targets),
        time_points=results,
        best_overall_response=bor,
        best_overall_response_date=bor_date,
        first_pd_date=first_pd_date,
        min_sd_interval_days=spec.min_sd_interval_days,
        sd_earliest_day=spec.sd_earliest_day,
        reasons=bor_reasons,
    )


#: RECIST 1.1 section 4.6: a confirming assessment is at least 4 weeks after the response it confirms.
CONFIRM_DAYS = 28


class BestResponse(NamedTuple):
    """A best overall response: the category, the first date it was met (the first response date for CR/PR;
    ``None`` for NE), and why."""

    response: Response
    date: dt.date | None
    reasons: list[str]


def best_overall_response(
    randomized_on: dt.date,
    time_points: Iterable[tuple[dt.date, str | None]],
    *,
    min_sd_days: int,
    confirm: bool = False,
    progression_date: dt.date | None = None,
) -> BestResponse:
    """Best overall response (RECIST 1.1 section 4.4) from time-point overall responses: the one BOR rule of the
    platform, used by :func:`evaluate_subject` and by the analysis datasets (:mod:`trialdesk.domain.datasets`).

    Without confirmation (``confirm=False``, the engine's and the default): the best of CR > PR > SD/non-CR/non-PD
    among time points before the first PD, SD counting only from day ``min_sd_days`` after randomization
    (``(date - randomized_on).days >= min_sd_days``); otherwise PD if progression was seen, else NE. With
    confirmation (section 4.6, the analysis spec's ``confirm_response``), a CR needs a later CR and a PR a later
    CR/PR at least :data:`CONFIRM_DAYS` days after it and before progression; an unconfirmed CR/PR counts as SD
    when the SD rule allows.

    Parameters
    ----------
    time_points
        ``(date, overall response)``; responses are :class:`Response` values or their text (``"PR"``,
        ``"non-CR/non-PD"``); ``None`` (not assessed) is ignored.
    progression_date
        The date progression is dated from, when the engine back-dates it (an equivocal new lesion later
        confirmed); by default the first time point with response PD.
    """
    visits = sorted(((d, str(r)) for d, r in time_points if r is not None), key=lambda v: (v[0], v[1]))
    first_pd = progression_date or next((d for d, r in visits if r == Response.PD), None)
    before = [(d, r) for d, r in visits if first_pd is None or d < first_pd]

    def confirmed(i: int, allowed: set[str]) -> bool:
        d0 = before[i][0]
        return any(r in allowed and (d - d0).days >= CONFIRM_DAYS for d, r in before[i + 1 :])

    for category, allowed in ((Response.CR, {"CR"}), (Response.PR, {"CR", "PR"})):
        for i, (d, r) in enumerate(before):
            matches = r == category or (category is Response.PR and r == Response.CR and confirm)
            if matches and (not confirm or confirmed(i, allowed)):
                return BestResponse(category, d, [f"best overall response {category.value} first met on {d}"])
    stable_like = {"SD", "non-CR/non-PD"} | ({"CR", "PR"} if confirm else set())
    stable = [
        (d, Response.NON_CR_NON_PD if r == Response.NON_CR_NON_PD else Response.SD)
        for d, r in before
        if r in stable_like
    ]
    reasons: list[str] = []
    for d, category in stable:
        day = (d - randomized_on).days
        if day >= min_sd_days:
            return BestResponse(category, d, [f"{category.value} met on {d}, day {day} >= {min_sd_days}"])
    if stable:
        reasons.append(f"{stable[0][1].value} only before day {min_sd_days} after randomization: does not count")
    if first_pd is not None:
        return BestResponse(Response.PD, first_pd, [*reasons, f"progression on {first_pd}"])
    return BestResponse(Response.NE, None, [*reasons, "no evaluable response"])
