"""Why a RECIST 1.1 time point got its overall response, in one line of words (Eisenhauer 2009, 4.3 and Tables 1-2).

:func:`time_point_reason` is called by :func:`trialdesk.domain.recist.evaluate_subject` only, with the result it
has just computed, so that the rule and its explanation cannot drift apart. Examples: ``"PD: new lesion N1"``,
``"PD: sum +24.0 % (+12 mm) from nadir (≥20 % and ≥5 mm)"``, ``"PR: sum −35.0 % from baseline (≤−30 %)"``,
``"PD: unequivocal non-target progression of NT1"``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from trialdesk.domain.recist_models import (
    NewLesion,
    NewLesionFinding,
    NonTargetLesion,
    Response,
    TimePointResult,
    TumorAssessment,
)

__all__ = ["time_point_reason"]


def _signed(value: float, unit: str) -> str:
    text = f"{value:+.1f}" if unit == "%" else f"{value:+g}"
    return text.replace("-", "\u2212") + f" {unit}"


def _nadir_change(point: TimePointResult) -> str:
    measured, nadir = point.measured_sum_mm, point.nadir_mm
    if measured is None or nadir is None:
        return ""
    mm = _signed(measured - nadir, "mm")
    return f"{_signed(100 * (measured - nadir) / nadir, '%')} ({mm})" if nadir else mm


def _statuses(assessment: TumorAssessment, non_targets: Sequence[str]) -> dict[str, str]:
    records = assessment.of_kind("non_target")
    return {
        i: (r.status if isinstance(r, NonTargetLesion) else "not_evaluated")
        for i in non_targets
        for r in [records.get(i)]
    }


def time_point_reason(
    point: TimePointResult,
    assessment: TumorAssessment,
    *,
    non_targets: Sequence[str],
    targets_not_evaluated: Sequence[str],
    prior_cr_date: dt.date | None,
) -> str:
    """The overall response of ``point`` and its reason, e.g. ``"PD: new lesion N1; sum +24.0 % ... from nadir"``.

    Parameters
    ----------
    point
        The time point as evaluated (responses, sums, changes).
    assessment
        The follow-up assessment it evaluates (lesion ids of new and non-target lesions).
    non_targets
        The baseline non-target lesion ids.
    targets_not_evaluated
        Baseline target lesions not evaluated at this assessment.
    prior_cr_date
        Date of an earlier overall CR, if any.
    """
    overall, target, non_target = point.overall_response, point.target_response, point.non_target_response
    statuses = _statuses(assessment, non_targets)
    progressed = [i for i, s in statuses.items() if s == "unequivocal_progression"]
    missing = [i for i, s in statuses.items() if s == "not_evaluated"]
    new = [n for n in assessment.lesions if isinstance(n, NewLesion)]
    parts: list[str] = []
    if overall is Response.PD:
        if point.new_lesions is NewLesionFinding.UNEQUIVOCAL:
            ids = [n.lesion_id for n in new if n.status == "unequivocal"]
            parts.append(f"new lesion{'s' if len(ids) > 1 else ''} {', '.join(ids)}")
        if target is Response.PD:
            where = "sum" if point.sum_mm is not None else "sum of the evaluated targets"
            parts.append(f"{where} {_nadir_change(point)} from nadir (≥20 % and ≥5 mm)")
            if targets_not_evaluated:
                parts[-1] += f", although {', '.join(targets_not_evaluated)} not evaluated"
        if non_target is Response.PD:
            parts.append(f"unequivocal non-target progression of {', '.join(progressed)}")
        if not parts:
            parts.append(f"disease seen again after the overall CR of {prior_cr_date}")
    elif overall is Response.CR:
        parts.append("all target lesions gone (nodes < 10 mm)" if point.sum_mm is not None else "")
        parts.append("all non-target lesions absent" if non_targets else "")
    elif overall is Response.PR and target is Response.CR:
        if non_target is Response.NE:
            parts.append(f"target lesions gone but non-target {', '.join(missing)} not evaluated")
        else:
            parts.append("target lesions gone but non-target disease persists")
    elif overall is Response.PR:
        assert point.change_from_baseline_pct is not None
        parts.append(f"sum {_signed(point.change_from_baseline_pct, '%')} from baseline (≤−30 %)")
    elif overall is Response.SD:
        assert point.change_from_baseline_pct is not None
        parts.append(
            f"sum {_signed(point.change_from_baseline_pct, '%')} from baseline, {_nadir_change(point)} from nadir: "
            "neither PR (≤−30 %) nor PD (≥20 % and ≥5 mm)"
        )
    elif overall is Response.NE:
        if target is Response.NE:
            parts.append(f"target {', '.join(targets_not_evaluated)} not evaluated")
        else:
            parts.append(f"non-target {', '.join(missing)} not evaluated")
    else:  # non-CR/non-PD: non-target disease only
        parts.append("non-target disease persists, no progression")
    if overall is not Response.PD and point.new_lesions is NewLesionFinding.EQUIVOCAL:
        parts.append(f"equivocal new lesion {', '.join(n.lesion_id for n in new)} (not PD unless confirmed)")
    return f"{overall.value}: {'; '.join(p for p in parts if p)}"
