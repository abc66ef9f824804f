"""Casebook e-signature (21 CFR 11.50/11.200 style): an investigator signs a subject's casebook by entering the
password again; the manifest (who, when, meaning, data version, hash of the content) is stored and audited. Any
later change to the subject's data (``services.subjects.touch``) invalidates the signature: the casebook then
needs re-signing."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.audit import canonical_json
from trialdesk.domain.errors import AuthenticationFailed, Conflict, InvalidInput
from trialdesk.domain.records import Signature, Subject
from trialdesk.services.accounts import count_failure, is_locked
from trialdesk.services.commands import DEFAULT_MEANING, SignCasebook
from trialdesk.services.registry import stored_id
from trialdesk.services.subjects import get_subject, touch
from trialdesk.services.unit_of_work import UnitOfWork

__all__ = ["DEFAULT_MEANING", "casebook_status", "content_hash", "sign_casebook", "signature_dict", "touch_and_record"]


def _ts(uow: UnitOfWork) -> str:
    return uow.now().astimezone(dt.UTC).isoformat(timespec="seconds")


def content_hash(uow: UnitOfWork, subject: Subject) -> str:
    """SHA-256 of the canonical JSON of everything recorded for the subject."""
    content = canonical_json(uow.signatures.casebook_content(stored_id(subject)))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def touch_and_record(uow: UnitOfWork, subject: Subject, *, reason: str, nct_id: str, actor: str) -> None:
    """``services.subjects.touch`` plus an audit event when it invalidates a live signature."""
    live = uow.signatures.active(stored_id(subject))
    touch(uow, subject, reason=reason)
    if live is not None:
        record_invalidation(uow, live, subject, reason=reason, nct_id=nct_id, actor=actor)


def record_invalidation(
    uow: UnitOfWork,
    live: Signature,
    subject: Subject,
    *,
    reason: str,
    nct_id: str,
    actor: str,
    with_data_version: bool = True,
) -> None:
    """The audit event for a live signature that a change to the casebook has just invalidated.

    ``with_data_version=False`` leaves the subject's new data version out of ``after``: the tumour-assessment
    edit has always written it that way, and audit payloads already in the chain must keep their shape.
    """
    after: dict[str, Any] = {"subject_number": subject.subject_number, "invalidated_at": live.invalidated_at}
    if with_data_version:
        after["data_version"] = subject.data_version
    uow.record(
        "casebook.signature_invalidated",
        "signature",
        live.id,
        before={
            "subject_number": subject.subject_number,
            "signed_at": live.signed_at,
            "data_version": live.data_version,
        },
        after=after,
        reason=reason,
        trial=nct_id,
        site=subject.site_key,
        actor=actor,
    )


def signature_dict(row: Signature) -> dict[str, Any]:
    return {
        "id": row.id,
        "signer": row.signer,
        "signer_name": row.signer_name,
        "meaning": row.meaning,
        "signed_at": row.signed_at,
        "data_version": row.data_version,
        "manifest_hash": row.manifest_hash,
        "invalidated_at": row.invalidated_at,
        "invalidated_reason": row.invalidated_reason,
        "valid": row.invalidated_at is None,
    }


def sign_casebook(
    uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cmd: SignCasebook
) -> dict[str, Any]:
    """Sign the subject's casebook (investigator at the subject's site, ``Action.CASEBOOK_SIGN``) with the
    password typed again and what the signature means (``DEFAULT_MEANING`` unless the command says otherwise).

    Raises
    ------
    AuthenticationFailed
        The password is wrong (the failed attempt is audited and committed; nothing is signed).
    Conflict
        The casebook already carries a valid signature.
    """
    _, subject = get_subject(uow, principal, nct_id, subject_number, for_update=True)
    require(principal, Action.CASEBOOK_SIGN, subject.site_key, hide=False)
    meaning = cmd.meaning.strip()
    if not meaning:
        raise InvalidInput("must not be blank: say what the signature means", field="meaning")
    user = uow.users.get(principal.username, for_update=True)
    now = uow.now()
    if user is not None and is_locked(user, now):
        uow.record(
            "casebook.sign_failed",
            "subject",
            subject.subject_number,
            reason=f"account locked until {user.locked_until}",
            trial=nct_id,
            site=subject.site_key,
            actor=principal.username,
        )
        uow.commit()
        raise AuthenticationFailed(f"account locked until {user.locked_until} after repeated failures; not signed")
    if user is None or not user.active or not uow.ports.passwords.verify(user.password_hash, cmd.password):
        reason = "password did not match"
        if user is not None and user.active:
            # the signing password is the login password: its failures feed the same lockout (no oracle)
            reason += "; " + count_failure(user, now)
        uow.record(
            "casebook.sign_failed",
            "subject",
            subject.subject_number,
            reason=reason,
            trial=nct_id,
            site=subject.site_key,
            actor=principal.username,
        )
        uow.commit()
        raise AuthenticationFailed("the password does not match; the casebook was not signed")
    user.failed_logins = 0
    live = uow.signatures.active(stored_id(subject))
    if live is not None:
        raise Conflict(
            f"casebook {subject.subject_number} is already signed (by {live.signer} at "
            f"{live.signed_at}, data version {live.data_version})"
        )
    manifest = {
        "trial": nct_id,
        "subject": subject.subject_number,
        "signer": principal.username,
        "signer_name": user.display_name or principal.username,
        "signed_at": _ts(uow),
        "meaning": meaning,
        "data_version": subject.data_version or 0,
        "content_hash": content_hash(uow, subject),
    }
    digest = hashlib.sha256(canonical_json(manifest).encode("utf-8")).hexdigest()
    row = uow.signatures.add(
        subject_id=stored_id(subject),
        signer=manifest["signer"],
        signer_name=manifest["signer_name"],
        meaning=meaning,
        signed_at=manifest["signed_at"],
        data_version=manifest["data_version"],
        manifest_hash=digest,
    )
    uow.record(
        "casebook.signed",
        "signature",
        row.id,
        after={**manifest, "manifest_hash": digest, "subject_number": subject.subject_number},
        reason=meaning,
        trial=nct_id,
        site=subject.site_key,
        actor=principal.username,
    )
    return {**signature_dict(row), "manifest": manifest}


def casebook_status(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str) -> dict[str, Any]:
    """``unsigned``, ``signed`` or ``needs_resigning`` (the last signature was invalidated by a change), with
    the signatures, newest first."""
    _, subject = get_subject(uow, principal, nct_id, subject_number)
    signatures = uow.signatures.for_subject(stored_id(subject))
    if not signatures:
        status = "unsigned"
    elif signatures[-1].invalidated_at is None:
        status = "signed"
    else:
        status = "needs_resigning"
    return {
        "subject": subject.subject_number,
        "status": status,
        "data_version": subject.data_version or 0,
        "content_hash": content_hash(uow, subject),
        "signatures": [signature_dict(s) for s in reversed(signatures)],
    }
