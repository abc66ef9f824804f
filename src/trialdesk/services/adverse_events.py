"""Adverse events graded by CTCAE v5.0, with ICH E2A seriousness, causality per study drug and the 24-hour SAE
reporting clock.

The term (name or MedDRA code) is coded against the dictionary loaded by ``trialdesk ctcae load``; the grade
must be one the term defines. Edit checks (:mod:`trialdesk.domain.edit_checks`) run on every save: a failing
``reject`` check refuses the save (nothing stored), a failing ``query`` check opens a query on the field.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import ValidationError

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.adverse_events import SAE_REPORT_HOURS, ActionTaken, Outcome, Relationship, Seriousness
from trialdesk.domain.ctcae import CtcaeTerm
from trialdesk.domain.edit_checks import CheckFailure, Severity, run_checks
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, Problem, problems_from_pydantic
from trialdesk.domain.records import AdverseEvent, Subject
from trialdesk.domain.timeline import onset_problems, trial_dates
from trialdesk.services import ctcae as ctcae_service
from trialdesk.services.commands import EditRecord, MarkSaeReported, RecordAdverseEvent
from trialdesk.services.queries import open_query
from trialdesk.services.registry import get_protocol, stored_id
from trialdesk.services.signatures import record_invalidation, touch_and_record
from trialdesk.services.subjects import get_subject, protocol, visible_sites
from trialdesk.services.unit_of_work import UnitOfWork

__all__ = [
    "EDITABLE",
    "SAE_REPORT_HOURS",
    "ActionTaken",
    "Outcome",
    "Relationship",
    "Seriousness",
    "ae_dict",
    "list_adverse_events",
    "mark_sae_reported",
    "record_adverse_event",
    "sae_clock",
    "serious_events",
    "update_adverse_event",
]

EDITABLE = (
    "term",
    "grade",
    "onset_date",
    "resolution_date",
    "serious",
    "seriousness",
    "relationship",
    "action_taken",
    "outcome",
)


def _ts(uow: UnitOfWork) -> str:
    return uow.now().astimezone(dt.UTC).isoformat(timespec="seconds")


def _revalidate(values: dict[str, Any]) -> RecordAdverseEvent:
    """An edited AE as a whole, through the same command model that a new one is entered with."""
    try:
        return RecordAdverseEvent.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc)) from exc


def _arm_drugs(uow: UnitOfWork, nct_id: str, subject: Subject) -> tuple[str | None, list[str]]:
    allocation = uow.allocations.for_subject(stored_id(subject))
    if allocation is None:
        return None, []
    treatment = protocol(uow, nct_id).operations.treatment
    if treatment is None:
        return allocation.arm, []
    arm = treatment.arm(allocation.arm)
    return arm.arm_id, [d.drug for d in arm.drugs]


def _validate(
    uow: UnitOfWork, nct_id: str, subject: Subject, data: RecordAdverseEvent
) -> tuple[CtcaeTerm, list[CheckFailure]]:
    """Code the term, check relationship against the arm's drugs and run the edit checks.
    Returns (ctcae term, query failures); raises InvalidInput for anything refused."""
    dictionary = ctcae_service.dictionary(uow)
    term = dictionary.get(data.term if not isinstance(data.term, str) else data.term.strip())
    problems: list[Problem] = []
    arm, drugs = _arm_drugs(uow, nct_id, subject)
    for drug in data.relationship:
        if drug not in drugs:
            allowed = ", ".join(drugs) if drugs else "none (the subject is not randomized)"
            problems.append(
                Problem(f"relationship.{drug}", f"not a study drug of the subject's arm (study drugs: {allowed})")
            )
    for drug in drugs:
        if drug not in data.relationship:
            problems.append(
                Problem(
                    f"relationship.{drug}",
                    f"required: relationship to {drug} (arm {arm}), one of {', '.join(r.value for r in Relationship)}",
                )
            )
    consent = uow.adverse_events.first_consent_date(stored_id(subject))
    today, consent_date = uow.now().date(), dt.date.fromisoformat(consent) if consent else None
    record = {**data.model_dump(), "term": term.term, "seriousness": [s.value for s in data.seriousness]}
    context = {"ctcae": dictionary, "today": today, "consent_date": consent_date}
    failures = run_checks("adverse_event", record, context)
    problems += [Problem(f.field, f.message) for f in failures if f.severity is Severity.REJECT]
    dates = trial_dates(get_protocol(uow, nct_id, live_sites=False), today)
    problems += onset_problems("onset_date", data.onset_date, consent_date, dates)
    if problems:
        raise InvalidInput(problems)
    return term, [f for f in failures if f.severity is Severity.QUERY]


def _columns(term: CtcaeTerm, data: RecordAdverseEvent) -> dict[str, Any]:
    return {
        "term": term.term,
        "meddra_code": term.meddra_code,
        "soc": term.soc,
        "grade": data.grade,
        "onset_date": data.onset_date.isoformat(),
        "resolution_date": data.resolution_date.isoformat() if data.resolution_date else None,
        "serious": data.serious,
        "seriousness_json": json.dumps(sorted(s.value for s in set(data.seriousness))),
        "relationship_json": json.dumps({k: v.value for k, v in sorted(data.relationship.items())}),
        "action_taken": data.action_taken.value if data.action_taken else None,
        "outcome": data.outcome.value if data.outcome else None,
    }


def _open_queries(uow: UnitOfWork, subject: Subject, row: AdverseEvent, failures: list[CheckFailure]) -> list[int]:
    return [
        stored_id(open_query(uow, subject, "adverse_event", stored_id(row), f.field, f.message, check_id=f.check_id))
        for f in failures
    ]


def _sae_clock_start(uow: UnitOfWork, row: AdverseEvent) -> str | None:
    """When the 24-hour clock started: entry of the AE if serious then, else the edit that made it serious."""
    if not row.serious:
        return None
    for pending in uow.recorded():  # this transaction made it serious: the clock starts now
        if (pending.entity_type, pending.entity_id, pending.action) == (
            "adverse_event",
            str(row.id),
            "adverse_event.updated",
        ) and (pending.after or {}).get("serious") is True:
            return _ts(uow)
    events = sorted(
        uow.audit.query(entity_type="adverse_event", entity_id=str(row.id), limit=1000), key=lambda e: e.seq
    )
    for event in events:
        after = json.loads(event.after_json or "{}")
        if event.action == "adverse_event.recorded" and after.get("serious"):
            return row.entered_at
        if event.action == "adverse_event.updated" and after.get("serious") is True:
            return dt.datetime.fromisoformat(event.occurred_at).astimezone(dt.UTC).isoformat(timespec="seconds")
    return row.entered_at


def sae_clock(uow: UnitOfWork, row: AdverseEvent, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The SAE reporting clock of a serious AE: start, due time, reported time and status
    (``reported``, ``reported_late``, ``due`` or ``overdue``)."""
    start = _sae_clock_start(uow, row)
    if start is None:
        return None
    due = dt.datetime.fromisoformat(start) + dt.timedelta(hours=SAE_REPORT_HOURS)
    now = now or uow.now()
    if row.sae_reported_at:
        status = "reported" if dt.datetime.fromisoformat(row.sae_reported_at) <= due else "reported_late"
    else:
        status = "overdue" if now > due else "due"
    return {
        "started_at": start,
        "due_by": due.isoformat(timespec="seconds"),
        "reported_at": row.sae_reported_at,
        "status": status,
        "hours_left": None if row.sae_reported_at else round((due - now).total_seconds() / 3600, 1),
    }


def ae_dict(uow: UnitOfWork, row: AdverseEvent, subject_number: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "subject": subject_number,
        "term": row.term,
        "meddra_code": row.meddra_code,
        "soc": row.soc,
        "grade": row.grade,
        "onset_date": row.onset_date,
        "resolution_date": row.resolution_date,
        "serious": row.serious,
        "seriousness": json.loads(row.seriousness_json or "[]"),
        "relationship": json.loads(row.relationship_json or "{}"),
        "action_taken": row.action_taken,
        "outcome": row.outcome,
        "entered_at": row.entered_at,
        "entered_by": row.entered_by,
        "sae": sae_clock(uow, row),
    }


def record_adverse_event(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: RecordAdverseEvent
) -> dict[str, Any]:
    """Record an adverse event (site staff, ``Action.DATA_ENTER``).

    Returns the stored AE (with its SAE clock when serious) and ``queries``: ids of queries opened by edit
    checks. Raises :class:`InvalidInput` naming the field (unknown term with suggestions, a grade the term
    does not define, dates against consent and today, missing seriousness criteria or causality) and stores
    nothing; the command model has already refused what is malformed (a grade outside 1-5, a date that is no
    date, an unknown seriousness criterion).
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, for_update=True)
    require(principal, Action.DATA_ENTER, subject.site_key, hide=False)
    ctcae_term, failures = _validate(uow, nct_id, subject, cmd)
    row = uow.adverse_events.add(
        subject_id=stored_id(subject), entered_at=_ts(uow), entered_by=principal.username, **_columns(ctcae_term, cmd)
    )
    after = {k: v for k, v in ae_dict(uow, row, subject.subject_number).items() if k != "sae"}
    after["subject_number"] = subject.subject_number
    uow.record(
        "adverse_event.recorded",
        "adverse_event",
        row.id,
        after=after,
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    touch_and_record(uow, subject, reason=f"adverse event {row.id} recorded", nct_id=nct_id, actor=principal.username)
    return {**ae_dict(uow, row, subject.subject_number), "queries": _open_queries(uow, subject, row, failures)}


def _get_ae(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, ae_id: int, action: Action
) -> tuple[Subject, AdverseEvent]:
    _, subject = get_subject(uow, principal, nct_id, subject_number, for_update=action is Action.DATA_ENTER)
    require(principal, action, subject.site_key, hide=False)
    row = uow.adverse_events.get(int(ae_id), for_update=True)
    if row is None or row.subject_id != subject.id:
        raise NotFound(f"no adverse event {ae_id} for subject {subject_number}")
    return subject, row


def update_adverse_event(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, ae_id: int, cmd: EditRecord
) -> dict[str, Any]:
    """Change fields of a recorded AE with a reason for change; the whole AE is re-validated and the edit
    checks run again. Audited old/new per field (``services.capture.apply_changes``); invalidates a signature."""
    from trialdesk.services.capture import apply_changes, require_reason

    subject, row = _get_ae(uow, principal, nct_id, subject_number, ae_id, Action.DATA_ENTER)
    changes, reason = cmd.changes, cmd.reason
    require_reason(reason)
    unknown = [k for k in changes if k not in EDITABLE]
    if unknown:
        raise InvalidInput(
            [
                Problem(k, f"not an editable field of an adverse event (editable: {', '.join(EDITABLE)})")
                for k in unknown
            ]
        )
    current = ae_dict(uow, row)
    merged = {k: current[k] for k in EDITABLE}
    merged.update(changes)
    data = _revalidate(merged)
    ctcae_term, failures = _validate(uow, nct_id, subject, data)
    columns = _columns(ctcae_term, data)
    live = uow.signatures.active(stored_id(subject))
    diff = apply_changes(uow, principal, row, columns, reason, "adverse_event", subject, trial=nct_id)
    if diff and live is not None:
        record_invalidation(uow, live, subject, reason=reason, nct_id=nct_id, actor=principal.username)
    return {
        **ae_dict(uow, row, subject.subject_number),
        "changed": diff,
        "queries": _open_queries(uow, subject, row, failures) if diff else [],
    }


def mark_sae_reported(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, ae_id: int, cmd: MarkSaeReported
) -> dict[str, Any]:
    """Record that a serious AE was reported to the sponsor/safety desk (default: now; a time given needs its
    zone and may not be in the future)."""
    subject, row = _get_ae(uow, principal, nct_id, subject_number, ae_id, Action.DATA_ENTER)
    if not row.serious:
        raise Conflict(f"adverse event {row.id} is not serious; there is no SAE report to mark")
    if row.sae_reported_at:
        raise Conflict(f"the SAE report of adverse event {row.id} was already marked at {row.sae_reported_at}")
    now = when = uow.now()
    if cmd.reported_at is not None:
        when = cmd.reported_at
        if when.tzinfo is None:
            raise InvalidInput("give a time zone (e.g. 2026-01-05T10:00:00+08:00)", field="reported_at")
        if when > now:
            raise InvalidInput(f"{when.isoformat()} is in the future", field="reported_at")
    row.sae_reported_at = when.astimezone(dt.UTC).isoformat(timespec="seconds")
    uow.record(
        "adverse_event.sae_reported",
        "adverse_event",
        row.id,
        before={"subject_number": subject.subject_number, "sae_reported_at": None},
        after={"subject_number": subject.subject_number, "sae_reported_at": row.sae_reported_at},
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    touch_and_record(
        uow, subject, reason=f"SAE report of adverse event {row.id} marked", nct_id=nct_id, actor=principal.username
    )
    return ae_dict(uow, row, subject.subject_number)


def list_adverse_events(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str
) -> list[dict[str, Any]]:
    _, subject = get_subject(uow, principal, nct_id, subject_number)
    return [ae_dict(uow, r, subject.subject_number) for r in uow.adverse_events.for_subject(stored_id(subject))]


def serious_events(
    uow: UnitOfWork, principal: Principal, nct_id: str, site_key: str | None = None
) -> list[dict[str, Any]]:
    """Serious AEs at the sites the caller may see (``Action.SUBJECT_VIEW``) with their reporting clocks."""
    from trialdesk.services.registry import get_trial_row

    trial = get_trial_row(uow, nct_id)
    sites = visible_sites(principal, site_key)
    if sites is not None and not sites:
        return []
    return [
        {**ae_dict(uow, a, s.subject_number), "site": s.site_key}
        for a, s in uow.adverse_events.serious_at_sites(stored_id(trial), sites)
    ]
