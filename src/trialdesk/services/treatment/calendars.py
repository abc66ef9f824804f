"""The subject and site calendars: visits with windows and statuses, computed from what is stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.schedule import Visit, VisitStatus
from trialdesk.services.registry import stored_id
from trialdesk.services.subjects import get_subject, subjects_visible
from trialdesk.services.treatment._common import _date, _specs, _today, course_of, load_course
from trialdesk.services.unit_of_work import UnitOfWork


def visit_dict(v: Visit) -> dict[str, Any]:
    """JSON shape of a visit (API, CLI)."""
    return {
        "subject": v.subject_id,
        "site": v.site_id,
        "kind": v.kind.value,
        "label": v.label,
        "number": v.number,
        "planned": v.planned.isoformat(),
        "window_start": v.window_start.isoformat(),
        "window_end": v.window_end.isoformat(),
        "actual": v.actual.isoformat() if v.actual else None,
        "status": v.status.value,
        "out_of_window": v.out_of_window,
    }


def subject_calendar(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    subject_number: str,
    as_of: dt.date | str | None = None,
    *,
    horizon_days: int = 126,
) -> list[Visit]:
    """A randomized subject's visits with windows and statuses on ``as_of`` (default: today by the injected clock).

    Raises NotFound for a subject the caller may not see, Conflict for one not randomized.
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    treatment, schedule = _specs(uow, nct_id)
    day = _today(uow) if as_of is None else _date(as_of, "as_of")
    return load_course(uow, subject, treatment).calendar(schedule, day, horizon_days)


_SITE_ORDER = {VisitStatus.OVERDUE: 0, VisitStatus.DUE: 1, VisitStatus.UPCOMING: 2}


def site_calendar(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    site_key: str,
    as_of: dt.date | str | None = None,
    *,
    horizon_days: int = 28,
) -> list[Visit]:
    """Visits still to be done at a site (overdue first, then due, then upcoming within ``horizon_days``), for all
    its randomized subjects. Needs subject-view rights at the site (403 otherwise)."""
    subjects = subjects_visible(uow, principal, nct_id, Action.SUBJECT_VIEW, site_key=site_key)
    treatment, schedule = _specs(uow, nct_id)
    day = _today(uow) if as_of is None else _date(as_of, "as_of")
    ids = [stored_id(s) for s in subjects]
    allocs = uow.allocations.for_subjects(ids)
    doses = uow.doses.for_subjects(allocs)
    assessments = uow.doses.assessments(allocs)
    dispositions = uow.dispositions.for_subjects(allocs)
    visits: list[Visit] = []
    for s in subjects:
        subject_id = stored_id(s)
        if subject_id not in allocs:
            continue
        course = course_of(
            s,
            allocs[subject_id],
            doses.get(subject_id, []),
            assessments.get(subject_id, []),
            dispositions.get(subject_id, []),
            treatment,
        )
        visits += [v for v in course.calendar(schedule, day, horizon_days) if v.status in _SITE_ORDER]
    return sorted(visits, key=lambda v: (_SITE_ORDER[v.status], v.planned, v.subject_id, v.label))
