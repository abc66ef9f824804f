"""The edit pattern of clinical data capture (issue 7 part 5): after first entry, every change needs a reason.

:func:`apply_changes` is shared by every data-capture module (doses, adverse events, tumour assessments, ...):
it checks the reason for change, applies the changed fields to the stored row, records ONE audit event holding
the old and the new value of just the fields that changed (the audit trail adds who and when), and calls
:func:`trialdesk.services.subjects.touch` so that the subject's data version moves on and a live e-signature is
invalidated. Validation of the new values is the caller's business (it knows the field rules); access is checked
by the caller too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from trialdesk.domain.access import Principal
from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.records import Subject
from trialdesk.services.unit_of_work import UnitOfWork

__all__ = ["apply_changes", "require_reason"]


class EditableRecord(Protocol):
    """A stored record of clinical data (a dose, an adverse event, a tumour assessment): its fields are edited by
    name."""

    id: int | None


def require_reason(reason: str | None, *, field: str = "reason") -> str:
    """A non-blank reason for change, stripped; InvalidInput naming ``field`` otherwise."""
    clean = (reason or "").strip()
    if not clean:
        raise InvalidInput("a reason for change is required to edit data after first entry", field=field)
    return clean


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def apply_changes(
    uow: UnitOfWork,
    principal: Principal,
    row: EditableRecord,
    changes: Mapping[str, Any],
    reason: str | None,
    entity_type: str,
    subject: Subject,
    *,
    trial: str | None = None,
    protected: frozenset[str] = frozenset({"id", "subject_id", "entered_at", "entered_by"}),
) -> dict[str, dict[str, Any]]:
    """Apply ``changes`` to ``row`` with an audited reason for change.

    Parameters
    ----------
    uow : unit of work
        The open unit of work (the caller commits).
    principal : Principal
        Who makes the change (the audit event's actor).
    row : record
        The stored record being edited.
    changes : mapping field -> new value
        Only the fields whose value actually differs are applied and audited. Unknown or protected fields raise
        :class:`InvalidInput` naming the field.
    reason : str
        Reason for change; blank raises :class:`InvalidInput` (field ``reason``) and nothing changes.
    entity_type : str
        Audit entity type (``dose``, ``adverse_event``, ...); the action is ``<entity_type>.updated``.
    subject : Subject
        The subject whose data changes (site of the event; :func:`~trialdesk.services.subjects.touch`).
    trial : str, optional
        NCT id for the audit event.

    Returns
    -------
    dict
        ``{field: {"old": ..., "new": ...}}`` for the fields that changed; empty when nothing did (then nothing
        is recorded).
    """
    from trialdesk.services.subjects import touch

    clean = require_reason(reason)
    for name in changes:
        if name in protected or name.startswith("_") or not hasattr(type(row), name):
            raise InvalidInput(f"{name!r} is not an editable field of {entity_type}", field=name)
    diff: dict[str, dict[str, Any]] = {}
    for name, new in changes.items():
        old = getattr(row, name)
        if _plain(old) != _plain(new):
            diff[name] = {"old": _plain(old), "new": _plain(new)}
    if not diff:
        return {}
    for name in diff:
        setattr(row, name, changes[name])
    uow.record(
        f"{entity_type}.updated",
        entity_type,
        row.id,
        before={"subject_number": subject.subject_number, **{k: v["old"] for k, v in diff.items()}},
        after={"subject_number": subject.subject_number, **{k: v["new"] for k, v in diff.items()}},
        reason=clean,
        trial=trial,
        site=subject.site_key,
        actor=principal.username,
    )
    touch(uow, subject, reason=f"{entity_type} {row.id} changed: {clean}")
    return diff
