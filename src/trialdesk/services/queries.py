"""Data queries: opened by edit checks or raised by monitors, answered by site staff, closed or re-opened by
monitors. Life cycle ``open -> answered -> closed``; ``answered``/``closed -> open`` (re-opened). Every step is
kept in the query's history and audited."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound
from trialdesk.domain.records import Query, Subject
from trialdesk.services.commands import QueryStep, RaiseQuery
from trialdesk.services.registry import get_trial_row, stored_id
from trialdesk.services.subjects import get_subject, visible_sites
from trialdesk.services.unit_of_work import UnitOfWork

STATUSES = ("open", "answered", "closed")
ENTITY_TYPES = ("subject", "adverse_event", "tumor_assessment", "dose", "disposition", "screening")


def _ts(uow: UnitOfWork) -> str:
    return uow.now().astimezone(dt.UTC).isoformat(timespec="seconds")


def query_dict(row: Query, subject_number: str | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "subject": subject_number,
        "site": row.site_key,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "field": row.field,
        "check_id": row.check_id,
        "message": row.message,
        "status": row.status,
        "origin": row.origin,
        "raised_at": row.raised_at,
        "raised_by": row.raised_by,
        "updated_at": row.updated_at,
        "history": json.loads(row.history_json or "[]"),
    }


def _step(
    uow: UnitOfWork, row: Query, subject: Subject, *, action: str, status: str, by: str, text: str | None, nct: str
) -> None:
    before = {"subject_number": subject.subject_number, "status": row.status}
    history = json.loads(row.history_json or "[]")
    when = _ts(uow)
    history.append({"at": when, "by": by, "action": action, "status": status, "text": text})
    row.history_json = json.dumps(history, ensure_ascii=False)
    row.status, row.updated_at = status, when
    uow.record(
        f"query.{action}",
        "query",
        row.id,
        before=before,
        after={
            "subject_number": subject.subject_number,
            "status": status,
            "text": text,
            "field": row.field,
            "entity_type": row.entity_type,
            "entity_id": row.entity_id,
        },
        reason=text,
        trial=nct,
        site=row.site_key,
        actor=by,
    )


def open_query(
    uow: UnitOfWork,
    subject: Subject,
    entity_type: str,
    entity_id: int | str,
    field: str,
    message: str,
    check_id: str | None = None,
    origin: str = "edit_check",
    raised_by: str = "system",
) -> Query:
    """Open a query on one field of a subject's data (no access check: callers have done theirs). An edit
    check that already has an unresolved (open or answered) query on the same field gets that one back, so
    re-saving does not pile up duplicates."""
    if entity_type not in ENTITY_TYPES:
        raise InvalidInput(f"must be one of {', '.join(ENTITY_TYPES)}", field="entity_type")
    if not field or not field.strip():
        raise InvalidInput("must not be blank", field="field")
    if not message or not message.strip():
        raise InvalidInput("must not be blank", field="message")
    entity_id = str(entity_id)
    if check_id is not None:
        existing = uow.queries.find_unresolved(stored_id(subject), entity_type, entity_id, field, check_id)
        if existing is not None:
            return existing
    when = _ts(uow)
    row = uow.queries.add(
        subject_id=stored_id(subject),
        site_key=subject.site_key,
        entity_type=entity_type,
        entity_id=entity_id,
        field=field.strip(),
        check_id=check_id,
        message=message.strip(),
        status="open",
        origin=origin,
        raised_at=when,
        raised_by=raised_by,
        updated_at=when,
        history_json=json.dumps(
            [{"at": when, "by": raised_by, "action": "opened", "status": "open", "text": message.strip()}],
            ensure_ascii=False,
        ),
    )
    uow.record(
        "query.opened",
        "query",
        row.id,
        after={
            "subject": subject.subject_number,
            "subject_number": subject.subject_number,
            **{k: v for k, v in query_dict(row).items() if k not in ("history", "id")},
        },
        trial=uow.queries.nct_of(subject.trial_id),
        site=subject.site_key,
        actor=raised_by,
    )
    return row


def raise_query(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: RaiseQuery
) -> dict[str, Any]:
    """A monitor raises a query by hand (``Action.QUERY_RAISE`` at the subject's site)."""
    _, subject = get_subject(uow, principal, nct_id, subject_number)
    require(principal, Action.QUERY_RAISE, subject.site_key, hide=False)
    _check_own_record(uow, subject, cmd.entity_type, cmd.entity_id)
    row = open_query(
        uow,
        subject,
        cmd.entity_type,
        cmd.entity_id,
        cmd.field,
        cmd.message,
        origin="manual",
        raised_by=principal.username,
    )
    return query_dict(row, subject.subject_number)


def _record_ids(uow: UnitOfWork, subject_id: int, entity_type: str) -> set[int] | None:
    """The ids of the subject's own records of ``entity_type`` (None for ``subject``: the subject itself)."""
    lists: dict[str, Any] = {
        "dose": uow.doses.for_subject,
        "adverse_event": uow.adverse_events.for_subject,
        "tumor_assessment": uow.tumor_assessments.for_subject,
        "disposition": uow.dispositions.for_subject,
        "screening": uow.screenings.for_subject,
    }
    found = lists.get(entity_type)
    return None if found is None else {int(r.id) for r in found(subject_id) if r.id is not None}


def _check_own_record(uow: UnitOfWork, subject: Subject, entity_type: str, entity_id: str) -> None:
    """A query on a record must point at one of this subject's records: a dose, adverse event, assessment,
    disposition or screening id of another subject (or none at all) is refused, naming ``entity_id``."""
    if entity_type not in ENTITY_TYPES:
        raise InvalidInput(f"must be one of {', '.join(ENTITY_TYPES)}", field="entity_type")
    own = _record_ids(uow, stored_id(subject), entity_type)
    if own is None:
        return
    text = str(entity_id).strip()
    if not (text.isascii() and text.isdigit() and int(text) in own):
        label = entity_type.replace("_", " ")
        raise InvalidInput(f"subject {subject.subject_number} has no {label} {text[:40]!r}", field="entity_id")


def _load(uow: UnitOfWork, principal: Principal, nct_id: str, query_id: int, action: Action) -> tuple[Query, Subject]:
    trial = get_trial_row(uow, nct_id)
    row = uow.queries.get(int(query_id), for_update=True)
    subject = uow.subjects.by_id(row.subject_id) if row is not None else None
    if row is None or subject is None or subject.trial_id != trial.id:
        raise NotFound(f"no query {query_id} in {nct_id}")
    if not principal.can(Action.SUBJECT_VIEW, row.site_key):
        require(principal, action, row.site_key, hide=True, not_found=f"no query {query_id} in {nct_id}")
        raise NotFound(f"no query {query_id} in {nct_id}")
    require(principal, action, row.site_key, hide=False)
    return row, subject


def _text(text: str | None, name: str) -> str:
    if text is None or not text.strip():
        raise InvalidInput("must not be blank", field=name)
    return text.strip()


def answer_query(uow: UnitOfWork, principal: Principal, nct_id: str, query_id: int, cmd: QueryStep) -> dict[str, Any]:
    """Site staff answer an open query (``Action.QUERY_ANSWER``); the command's text is the answer."""
    row, subject = _load(uow, principal, nct_id, query_id, Action.QUERY_ANSWER)
    answer = _text(cmd.text, "answer")
    if row.status != "open":
        raise Conflict(f"query {row.id} is {row.status}; only an open query can be answered")
    _step(uow, row, subject, action="answered", status="answered", by=principal.username, text=answer, nct=nct_id)
    return query_dict(row, subject.subject_number)


def close_query(uow: UnitOfWork, principal: Principal, nct_id: str, query_id: int, cmd: QueryStep) -> dict[str, Any]:
    """A monitor closes a query (answered, or open when withdrawn) (``Action.QUERY_CLOSE``); the command's text is
    an optional note, required to close a query nobody answered."""
    row, subject = _load(uow, principal, nct_id, query_id, Action.QUERY_CLOSE)
    note = cmd.text
    if row.status == "closed":
        raise Conflict(f"query {row.id} is already closed")
    if row.status == "open" and not (note and note.strip()):
        raise InvalidInput("closing an unanswered query needs a note saying why", field="note")
    _step(
        uow,
        row,
        subject,
        action="closed",
        status="closed",
        by=principal.username,
        text=note.strip() if note and note.strip() else None,
        nct=nct_id,
    )
    return query_dict(row, subject.subject_number)


def reopen_query(uow: UnitOfWork, principal: Principal, nct_id: str, query_id: int, cmd: QueryStep) -> dict[str, Any]:
    """A monitor re-opens an answered or closed query (``Action.QUERY_CLOSE``); the command's text is the reason,
    required."""
    row, subject = _load(uow, principal, nct_id, query_id, Action.QUERY_CLOSE)
    reason = _text(cmd.text, "reason")
    if row.status == "open":
        raise Conflict(f"query {row.id} is already open")
    _step(uow, row, subject, action="reopened", status="open", by=principal.username, text=reason, nct=nct_id)
    return query_dict(row, subject.subject_number)


def list_queries(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    site: str | None = None,
    subject_number: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Queries the caller may see (``Action.SUBJECT_VIEW`` sites), filtered by site, subject and status."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"must be one of {', '.join(STATUSES)}", field="status")
    trial = get_trial_row(uow, nct_id)
    subject_id = None
    if subject_number is not None:
        _, subject = get_subject(uow, principal, nct_id, subject_number)
        subject_id = subject.id
    sites = visible_sites(principal, site)
    if sites is not None and not sites:
        return []
    return [
        query_dict(q, s.subject_number)
        for q, s in uow.queries.list(stored_id(trial), sites=sites, subject_id=subject_id, status=status)
    ]
