"""The audit trail's keyed hash chain and its signed checkpoints (pure).

Each event's hash covers the canonical JSON of its content and the previous event's hash, so changing, inserting or
deleting any stored event breaks the chain from that point on. Since chain version 2 the hash is
``HMAC-SHA256(key, content)`` with a key held outside the database: someone who can write to the database but does
not hold the key cannot recompute a consistent chain. Databases made before keying (version 1, plain SHA-256) keep
their old events as they are; the store records from which ``seq`` the chain is keyed and, at the first keyed append,
a *seal* ``HMAC(key, keyed_from + hash of the last unkeyed event)`` that pins the whole unkeyed prefix, so an
unkeyed chain recomputed by an attacker no longer matches. :func:`verify_chain` finds the first break (altered
content, a gap, a head that does not match, a timestamp that runs backwards). The key itself never enters this
module's state: every function takes it as an argument.

A *checkpoint* (:func:`checkpoint_payload`) is the head ``(seq, hash, occurred_at)`` plus the key check, signed
(Ed25519, by an adapter) and kept elsewhere; :func:`check_checkpoint` compares the stored trail with one, which
catches a truncated tail or a rewritten chain even by someone who holds the HMAC key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trialdesk.domain.errors import IntegrityError

GENESIS_HASH = "0" * 64
#: The label whose HMAC under the key is stored in the database to recognise the key (``key_check``).
KEY_CHECK_LABEL = b"trialdesk/audit-key-check/v1"
SEAL_LABEL = "trialdesk/audit-seal/v1"
CHECKPOINT_FORMAT = "trialdesk-audit-checkpoint/v1"


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8; dates and decimals as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def key_check(key: bytes) -> str:
    """``HMAC-SHA256(key, KEY_CHECK_LABEL)`` as hex: what the database stores to recognise the key."""
    return hmac.new(bytes(key), KEY_CHECK_LABEL, hashlib.sha256).hexdigest()


def chain_seal(key: bytes, keyed_from: int, last_unkeyed_hash: str) -> str:
    """Binds the unkeyed prefix (events ``< keyed_from``, ending in ``last_unkeyed_hash``) to the key."""
    message = f"{SEAL_LABEL}|{keyed_from}|{last_unkeyed_hash}".encode()
    return hmac.new(bytes(key), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the audit trail. ``before``/``after`` are canonical JSON text (or None)."""

    seq: int
    occurred_at: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    trial: str | None
    site: str | None
    before: str | None
    after: str | None
    reason: str | None
    prev_hash: str
    hash: str = ""

    def content(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "trial": self.trial,
            "site": self.site,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self, key: bytes | None = None) -> str:
        """HMAC-SHA256 under ``key`` (chain version 2); plain SHA-256 without one (version 1, unkeyed events)."""
        message = canonical_json(self.content()).encode("utf-8")
        if key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(bytes(key), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainHead:
    """What the store records about the chain: its latest event, the last timestamp, and how it is keyed.

    ``keyed_from``: the first seq hashed with the key (1 for a database made keyed; ``n + 1`` for one that held
    ``n`` unkeyed events when it was migrated). ``key_check``/``seal`` are None until the first keyed append.
    """

    seq: int = 0
    hash: str = GENESIS_HASH
    last_at: str | None = None
    keyed_from: int = 1
    key_check: str | None = None
    seal: str | None = None


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


class WrongKey(IntegrityError):
    """The key offered is not the one the chain was keyed with (a key problem, not tampering)."""


def verify_chain(
    events: Iterable[AuditEvent], *, head: ChainHead | tuple[int, str] | None = None, key: bytes | None = None
) -> ChainBreak | None:
    """Check an ordered sequence of events; return the first break, or None when the chain holds.

    ``head`` is what the store records (a :class:`ChainHead`, or a bare ``(seq, hash)`` for an unkeyed chain); it
    catches deletion of the newest rows. With a :class:`ChainHead` whose ``key_check`` is set, ``key`` must be the
    chain's key (:class:`WrongKey` otherwise); events from ``keyed_from`` on must carry its HMAC and the seal must
    pin the unkeyed prefix. A non-empty chain whose head records no key check is reported as not keyed (only a
    database migrated from version 1 that has not appended since, or one whose key check was removed, looks so).
    Timestamps must never decrease.
    """
    full = head if isinstance(head, ChainHead) else None
    if full is not None and full.key_check is not None:
        if key is None:
            raise WrongKey("the audit key is not available")
        if not hmac.compare_digest(key_check(key), full.key_check):
            raise WrongKey("the audit key does not match the chain's key check (wrong key)")
    keyed_from = full.keyed_from if full is not None else None
    prev_hash = GENESIS_HASH
    expected_seq = 1
    last = (0, GENESIS_HASH)
    last_at: str | None = None
    for event in events:
        if event.seq != expected_seq:
            return ChainBreak(event.seq, f"sequence jumps from {expected_seq - 1} to {event.seq} (events missing)")
        if event.prev_hash != prev_hash:
            return ChainBreak(event.seq, "prev_hash does not match the previous event's hash")
        keyed = keyed_from is not None and event.seq >= keyed_from
        if full is not None and keyed and full.key_check is None:
            return ChainBreak(event.seq, "the chain is not keyed: the head records no key check (key check removed)")
        if (
            keyed
            and full is not None
            and event.seq == keyed_from
            and (full.seal is None or not hmac.compare_digest(chain_seal(key or b"", event.seq, prev_hash), full.seal))
        ):
            return ChainBreak(event.seq, "the seal over the unkeyed events before this one does not match")
        if not hmac.compare_digest(event.compute_hash(key if keyed else None), event.hash):
            return ChainBreak(event.seq, "content does not match its hash (event altered or chain recomputed)")
        if last_at is not None and event.occurred_at < last_at:
            return ChainBreak(
                event.seq, f"timestamp runs backwards ({event.occurred_at} is before the previous {last_at})"
            )
        prev_hash = event.hash
        expected_seq += 1
        last = (event.seq, event.hash)
        last_at = event.occurred_at
    recorded = (full.seq, full.hash) if full is not None else None if not isinstance(head, tuple) else head
    if recorded is not None and tuple(recorded) != last:
        return ChainBreak(
            last[0] + 1 if recorded[0] > last[0] else recorded[0],
            f"chain head records event {recorded[0]} but the trail ends at {last[0]} (events removed)",
        )
    if full is not None and last[0] > 0:
        if full.key_check is None:
            return ChainBreak(last[0], "the chain is not keyed yet (no key check recorded): append to key it")
        if full.keyed_from > last[0] + 1:
            return ChainBreak(last[0], f"the head says the chain is keyed from {full.keyed_from}, past its end")
        if full.keyed_from > last[0] and not (
            full.seal is not None and hmac.compare_digest(chain_seal(key or b"", full.keyed_from, last[1]), full.seal)
        ):
            return ChainBreak(last[0], "the seal over the unkeyed events does not match")
        if full.last_at is not None and last_at is not None and full.last_at < last_at:
            return ChainBreak(last[0], f"the head's last timestamp {full.last_at} is before the last event's")
    return None


# -- checkpoints --------------------------------------------------------------------------------------------------
CHECKPOINT_FIELDS = ("format", "seq", "hash", "occurred_at", "key_check", "public_key", "created_at")


def checkpoint_payload(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: the canonical JSON of every field but ``signature``."""
    return canonical_json({name: checkpoint.get(name) for name in CHECKPOINT_FIELDS}).encode("utf-8")


def new_checkpoint(head: ChainHead, *, occurred_at: str | None, public_key: str, created_at: str) -> dict[str, Any]:
    """An unsigned checkpoint of ``head`` (the caller adds ``signature`` over :func:`checkpoint_payload`)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "seq": head.seq,
        "hash": head.hash,
        "occurred_at": occurred_at,
        "key_check": head.key_check,
        "public_key": public_key,
        "created_at": created_at,
    }


def check_checkpoint(
    checkpoint: Mapping[str, Any], *, head: ChainHead, event_at_seq: AuditEvent | None
) -> ChainBreak | None:
    """Compare the stored trail with a (signature-checked) checkpoint: the head must not be behind it and the
    event at its seq must be the one it recorded."""
    seq = checkpoint.get("seq")
    if not isinstance(seq, int) or seq < 0:
        return ChainBreak(0, "the checkpoint has no valid seq")
    if checkpoint.get("key_check") is not None and checkpoint.get("key_check") != head.key_check:
        return ChainBreak(seq, "the chain's key check differs from the checkpoint's (chain re-keyed)")
    if head.seq < seq:
        return ChainBreak(head.seq + 1, f"the head is at event {head.seq}, behind the checkpoint's {seq} (truncated)")
    if seq == 0:
        return None
    if event_at_seq is None:
        return ChainBreak(seq, "the checkpoint's event is missing from the trail (truncated)")
    if not hmac.compare_digest(event_at_seq.hash, str(checkpoint.get("hash"))):
        return ChainBreak(seq, "the stored event differs from the checkpoint's hash (chain replaced)")
    if checkpoint.get("occurred_at") is not None and event_at_seq.occurred_at != checkpoint.get("occurred_at"):
        return ChainBreak(seq, "the stored event's timestamp differs from the checkpoint's")
    return None
