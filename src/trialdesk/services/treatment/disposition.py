"""Disposition events: end of treatment, end of study, death and new anticancer therapy.

The checks live in :meth:`~trialdesk.domain.treatment_course.TreatmentCourse.check_disposition` and the status
that follows in :mod:`trialdesk.domain.subject_lifecycle`; this module reads, stores and audits.
"""

from __future__ import annotations

import json
from typing import Any

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.records import Disposition
from trialdesk.domain.subject_lifecycle import status_after_disposition
from trialdesk.services.commands import RecordDisposition
from trialdesk.services.registry import stored_id
from trialdesk.services.subjects import get_subject, touch
from trialdesk.services.treatment._common import _after_completion, _set_status, _specs, _text, _today, load_course
from trialdesk.services.unit_of_work import UnitOfWork

#: Suggested reasons (CDISC-like wording); free text is accepted too.
END_OF_TREATMENT_REASONS = (
    "progressive disease",
    "adverse event",
    "withdrawal by subject",
    "physician decision",
    "death",
    "lost to follow-up",
    "protocol deviation",
    "completed planned cycles",
    "other",
)
END_OF_STUDY_REASONS = (
    "death",
    "withdrawal by subject",
    "lost to follow-up",
    "study terminated by sponsor",
    "physician decision",
    "other",
)


def disposition_dict(row: Disposition) -> dict[str, Any]:
    """JSON shape of a stored disposition event."""
    return {
        "id": row.id,
        "kind": row.kind,
        "event_date": row.event_date,
        "reason": row.reason,
        "details": json.loads(row.details_json or "{}"),
        "entered_at": row.entered_at,
        "entered_by": row.entered_by,
    }


def record_disposition(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: RecordDisposition
) -> dict[str, Any]:
    """Record a disposition event (``Action.DATA_ENTER``).

    ``cmd.kind``: ``end_of_treatment`` (``reason`` why treatment ended; ``details.eot_visit_date`` optional),
    ``end_of_study`` (``reason``), ``death`` (``event_date`` = date of death, ``reason`` = cause) or
    ``new_therapy`` (``event_date`` = start date, ``reason`` = description of the anticancer therapy; needed to
    censor PFS). Dates are not before randomization and not in the future; end of treatment, end of study and
    death are not before the last dose, occur once each, and end of treatment is not after end of study or
    death. The subject's status moves to ``off_treatment``, ``off_study`` or ``dead`` (never back).
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.DATA_ENTER, for_update=True)
    kind = cmd.kind
    treatment, _ = _specs(uow, nct_id)
    course = load_course(uow, subject, treatment)
    clean = _text(cmd.reason)
    extra = course.check_disposition(
        kind,
        cmd.event_date,
        clean,
        cmd.details or {},
        _today(uow),
        _after_completion(uow, nct_id, "event_date", cmd.event_date),
    )
    assert clean is not None  # check_disposition refuses an entry without it
    row = uow.dispositions.create(
        subject_id=stored_id(subject),
        kind=kind,
        event_date=cmd.event_date.isoformat(),
        reason=clean,
        details_json=json.dumps(extra, sort_keys=True, default=str),
        entered_at=uow.now().isoformat(),
        entered_by=principal.username,
    )
    out = disposition_dict(row)
    uow.record(
        "disposition.recorded",
        "disposition",
        row.id,
        after={"subject_number": subject.subject_number, **{k: v for k, v in out.items() if k != "entered_at"}},
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    status = status_after_disposition(kind)
    if status is not None:
        _set_status(uow, principal, nct_id, subject, status, f"{kind.replace('_', ' ')}: {clean}")
    touch(uow, subject, reason=f"disposition {row.id} recorded")
    out["subject_status"] = subject.status
    return out


def list_dispositions(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str) -> list[dict[str, Any]]:
    """The subject's disposition events (JSON shape of :func:`disposition_dict`)."""
    _, subject = get_subject(uow, principal, nct_id, subject_number, Action.SUBJECT_VIEW)
    return [disposition_dict(d) for d in uow.dispositions.for_subject(stored_id(subject))]
