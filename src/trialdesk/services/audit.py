"""Audit-trail use cases: verify the keyed chain (and signed checkpoints), take a checkpoint, read the trail."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.audit import (
    CHECKPOINT_FIELDS,
    CHECKPOINT_FORMAT,
    AuditEvent,
    ChainBreak,
    WrongKey,
    check_checkpoint,
    checkpoint_payload,
    new_checkpoint,
    verify_chain,
)
from trialdesk.domain.errors import IntegrityError, InvalidInput
from trialdesk.domain.records import AuditEventRecord
from trialdesk.services.repositories import AuditQuery
from trialdesk.services.unit_of_work import UnitOfWork

__all__ = ["audit_trail", "make_checkpoint", "parse_checkpoint", "verify_audit"]


def _chain_key(uow: UnitOfWork) -> bytes | None:
    head = uow.audit.head()
    if head.key_check is None:
        return None
    key = uow.ports.audit_keys.hmac_key(create=False)
    if key is None:
        raise WrongKey(
            "the audit key is not available on this machine: set $TRIALDESK_AUDIT_KEY or restore the audit key "
            "directory"
        )
    return key


def verify_audit(uow: UnitOfWork, *, checkpoints: Sequence[Mapping[str, Any]] = ()) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain, then compare it with each checkpoint. Returns (events checked, first problem or None).

    :class:`~trialdesk.domain.audit.WrongKey` when this machine's key is not the chain's (a key problem, reported
    as such rather than as tampering)."""
    head = uow.audit.head()
    key = _chain_key(uow)
    count = 0

    def counted(events: Iterable[AuditEvent]) -> Iterator[AuditEvent]:
        nonlocal count
        for event in events:
            count += 1
            yield event

    broken = verify_chain(counted(uow.audit.events()), head=head, key=key)
    if broken is not None:
        return count, broken
    local_public = uow.ports.audit_keys.public_key(create=False)
    for n, checkpoint in enumerate(checkpoints, start=1):
        problem = _check_signature(uow, checkpoint, local_public)
        if problem is not None:
            return count, ChainBreak(int(checkpoint.get("seq") or 0), f"checkpoint {n}: {problem}")
        seq = int(checkpoint["seq"])
        found = check_checkpoint(checkpoint, head=head, event_at_seq=uow.audit.event(seq) if seq > 0 else None)
        if found is not None:
            return count, ChainBreak(found.seq, f"checkpoint {n}: {found.problem}")
    return count, None


def _check_signature(uow: UnitOfWork, checkpoint: Mapping[str, Any], local_public: str | None) -> str | None:
    public, signature = checkpoint.get("public_key"), checkpoint.get("signature")
    if not isinstance(public, str) or not isinstance(signature, str):
        return "no public key or signature"
    if not uow.ports.audit_keys.verify_signature(public, checkpoint_payload(checkpoint), signature):
        return "signature does not verify (checkpoint altered or forged)"
    if local_public is not None and public != local_public:
        return "signed by a different key than this installation's checkpoint key"
    return None


def parse_checkpoint(text: str, *, field: str = "checkpoint") -> dict[str, Any]:
    """A checkpoint file's JSON, checked for shape (the signature is checked by :func:`verify_audit`)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"is not JSON: {exc}", field=field) from None
    if not isinstance(data, dict):
        raise InvalidInput("must be a JSON object", field=field)
    if data.get("format") != CHECKPOINT_FORMAT:
        raise InvalidInput(f"format must be {CHECKPOINT_FORMAT!r}", field=f"{field}.format")
    missing = [name for name in (*CHECKPOINT_FIELDS, "signature") if name not in data]
    if missing:
        raise InvalidInput(f"missing {', '.join(missing)}", field=field)
    if not isinstance(data["seq"], int) or isinstance(data["seq"], bool) or data["seq"] < 0:
        raise InvalidInput("must be a whole number >= 0", field=f"{field}.seq")
    return data


def make_checkpoint(uow: UnitOfWork) -> dict[str, Any]:
    """Verify the chain, then sign its head (Ed25519, key beside the HMAC key) for safekeeping elsewhere."""
    _count, broken = verify_audit(uow)
    if broken is not None:
        raise IntegrityError(f"the audit trail is broken at event {broken.seq} ({broken.problem}): no checkpoint")
    head = uow.audit.head()
    event = uow.audit.event(head.seq) if head.seq else None
    keys = uow.ports.audit_keys
    public = keys.public_key(create=True)
    assert public is not None
    created = uow.now().astimezone(dt.UTC).isoformat(timespec="microseconds")
    checkpoint = new_checkpoint(
        head, occurred_at=event.occurred_at if event else None, public_key=public, created_at=created
    )
    checkpoint["signature"] = keys.sign(checkpoint_payload(checkpoint))
    return checkpoint


# -- reading the trail --------------------------------------------------------------------------------------------
def audit_trail(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    *,
    subject: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[AuditEventRecord]:
    """The trail as a principal holding ``audit.view`` may read it, newest first: a trial-wide auditor sees the
    trial's events and those of no trial (accounts, logins); one limited to sites sees the trial's events at those
    sites only (a principal with ``audit.view`` nowhere is refused)."""
    sites = principal.sites_for(Action.AUDIT_VIEW)
    if sites is not None and not sites:
        require(principal, Action.AUDIT_VIEW, hide=False)
    if date_from and date_to and date_to < date_from:
        raise InvalidInput("must not be before date_from", field="date_to")
    filters: AuditQuery = {
        "subject": subject or None,
        "entity_type": entity_type or None,
        "entity_id": entity_id or None,
        "actor": actor or None,
        "action_prefix": action or None,
        "occurred_from": date_from.isoformat() if date_from else None,
        "occurred_before": (date_to + dt.timedelta(days=1)).isoformat() if date_to else None,
        "trial": nct_id,
        "limit": limit,
        "offset": offset,
    }
    if sites is None:
        filters["include_trialless"] = True
    else:
        filters["sites"] = sites
    return uow.audit.query(**filters)
