"""Values carried forward into the operations forms, so that a coordinator types only what changed.

- **Weight and height** for a dose plan: the last recorded dose's weight; before the first dose (cycle 1) the
  screening's vital signs; the height the subject's, else the screening's. Each with where it came from.
- **Baseline lesions** for RECIST: before any baseline, the screening's lesions as baseline rows to confirm;
  at follow-ups, each baseline lesion's last value.

Reads go through the services (access checked there); a screening the caller may not read carries nothing.
"""

from __future__ import annotations

from typing import Any

from trialdesk.domain.access import Principal
from trialdesk.domain.errors import TrialdeskError
from trialdesk.entrypoints.web.i18n import day as show_day
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.services import screening, treatment


def _number(value: Any) -> str:
    return f"{float(value):g}"


def _screening_records(uow: Any, principal: Principal, nct_id: str, subject: Any) -> list[tuple[str, dict[str, Any]]]:
    """(screened on, record) of the subject's screenings, latest first."""
    out = []
    for row in reversed(screening.screenings_of(uow, principal, nct_id, subject)):
        detail = screening.get_screening(uow, principal, nct_id, row["site"], row["screening_number"])
        out.append((str(row["screened_on"]), detail.get("record") or {}))
    return out


def carried_forward(uow: Any, p: Principal, nct_id: str, subject: Any) -> dict[str, Any]:
    """The weight and height a new cycle starts from, and where they come from: the last recorded dose's weight;
    before the first dose (cycle 1), the screening's (the most recent screening with a weight). The height is the
    subject's, else the screening's. Empty strings when nothing was recorded; the user can change both (re-weighing
    is normal; the plan applies the protocol's re-calculation threshold)."""
    from trialdesk.services.registry import get_protocol

    out: dict[str, Any] = {"weight_kg": "", "weight_source": "", "height_cm": "", "height_source": ""}
    spec = get_protocol(uow, nct_id, live_sites=False).operations.treatment
    # the protocol's re-calculation threshold (operations.treatment.weight_change_threshold), said beside the weight
    out["threshold_pct"] = round(spec.weight_change_threshold * 100) if spec is not None else None
    doses = [d for d in treatment.list_doses(uow, p, nct_id, subject.subject_number) if d["weight_kg"] is not None]
    if doses:
        last = doses[-1]
        out["weight_kg"] = _number(last["weight_kg"])
        out["weight_source"] = _("from cycle %(cycle)s, %(day)s", cycle=last["cycle"], day=show_day(last["dose_date"]))
    if subject.height_cm is not None:
        out["height_cm"] = _number(subject.height_cm)
        out["height_source"] = _("recorded for the subject")
    if out["weight_kg"] and out["height_cm"]:
        return out
    try:
        for screened_on, record in _screening_records(uow, p, nct_id, subject):
            vitals = record.get("vitals") or {}
            source = _("from screening, %(day)s", day=show_day(screened_on))
            if not out["weight_kg"] and isinstance(vitals.get("weight_kg"), int | float):
                out["weight_kg"], out["weight_source"] = _number(vitals["weight_kg"]), source
            if not out["height_cm"] and isinstance(vitals.get("height_cm"), int | float):
                out["height_cm"], out["height_source"] = _number(vitals["height_cm"]), source
            if out["weight_kg"] and out["height_cm"]:
                break
    except TrialdeskError:  # a screening the caller may not read: nothing carried
        pass
    return out


def _recist_spec(uow: Any, nct_id: str) -> Any:
    from trialdesk.domain.recist import RecistSpec
    from trialdesk.services.registry import get_protocol

    spec = getattr(get_protocol(uow, nct_id, live_sites=False).operations, "recist", None)
    return spec if isinstance(spec, RecistSpec) else RecistSpec()


def screening_lesions(uow: Any, principal: Principal, nct_id: str, subject: Any) -> list[dict[str, Any]]:
    """The lesions of the subject's latest screening that recorded any, as RECIST baseline rows to confirm:
    ``id`` (T1, T2... for the measurable ones chosen as targets, NT1... for the others), ``kind``, ``organ``,
    ``nodal`` and ``value`` (the diameter in mm for a target, its short axis for a node; ``present`` otherwise),
    and ``source`` (the screening's date). Empty when no screening recorded lesions or the caller may not see it.
    Measurable and target limits are RECIST 1.1's (3.2, 3.3.1: a non-nodal lesion from 10 mm, a node from 15 mm
    short axis; the protocol's ``operations.recist`` target limits, 5 in all and 2 per organ by default)."""
    from trialdesk.domain.recist import NODAL_MEASURABLE_MM, NON_NODAL_MEASURABLE_MM

    try:
        found: list[dict[str, Any]] = []
        screened_on = ""
        for day, record in _screening_records(uow, principal, nct_id, subject):
            lesions = record.get("lesions") or []
            if lesions:
                found, screened_on = [le for le in lesions if isinstance(le, dict)], day
                break
    except TrialdeskError:
        return []
    spec = _recist_spec(uow, nct_id)
    out: list[dict[str, Any]] = []
    targets = 0
    per_organ: dict[str, int] = {}
    n_target = n_other = 0
    for lesion in found:
        organ = str(lesion.get("organ") or "")
        nodal = organ == "lymph_node"
        raw_size = lesion.get("short_axis_mm") if nodal else lesion.get("longest_diameter_mm")
        size = float(raw_size) if isinstance(raw_size, int | float) else None
        measurable = size is not None and size >= (NODAL_MEASURABLE_MM if nodal else NON_NODAL_MEASURABLE_MM)
        key = "nodes" if nodal else organ
        if measurable and targets < spec.max_target_lesions and per_organ.get(key, 0) < spec.max_targets_per_organ:
            targets += 1
            per_organ[key] = per_organ.get(key, 0) + 1
            n_target += 1
            out.append({"id": f"T{n_target}", "kind": "target", "organ": organ, "nodal": nodal, "value": f"{size:g}"})
        else:
            n_other += 1
            out.append({"id": f"NT{n_other}", "kind": "non_target", "organ": organ, "nodal": nodal, "value": "present"})
    for row in out:
        row["source"] = screened_on
    return out


def last_lesion_values(assessments: list[dict[str, Any]]) -> dict[str, str]:
    """Each lesion's value at the latest assessment that recorded it (a size in mm, or a status), by lesion id:
    shown beside the follow-up form's input so that only the new size is typed."""
    out: dict[str, str] = {}
    for assessment in sorted(assessments, key=lambda a: str(a.get("assessment_date"))):
        for lesion in assessment.get("lesions") or []:
            value = lesion.get("measurement", lesion.get("status"))
            if value is not None:
                out[str(lesion.get("lesion_id"))] = f"{value:g}" if isinstance(value, float) else str(value)
    return out
