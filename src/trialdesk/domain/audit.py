"""The audit trail's hash chain (pure).

Each event's hash is SHA-256 over the canonical JSON of its content and the previous event's hash, so changing,
inserting or deleting any stored event breaks the chain from that point on. :func:`verify_chain` finds the first
broken event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8; dates and decimals as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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

    def compute_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.content()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def verify_chain(events: Iterable[AuditEvent], *, head: tuple[int, str] | None = None) -> ChainBreak | None:
    """Check an ordered sequence of events; return the first break, or None when the chain holds.

    ``head`` is the (seq, hash) the store records as its latest event; it catches deletion of the newest rows.
    """
    prev_hash = GENESIS_HASH
    expected_seq = 1
    last = (0, GENESIS_HASH)
    for event in events:
        if event.seq != expected_seq:
            return ChainBreak(event.seq, f"sequence jumps from {expected_seq - 1} to {event.seq} (events missing)")
        if event.prev_hash != prev_hash:
            return ChainBreak(event.seq, "prev_hash does not match the previous event's hash")
        if event.compute_hash() != event.hash:
            return ChainBreak(event.seq, "content does not match its hash (event altered)")
        prev_hash = event.hash
        expected_seq += 1
        last = (event.seq, event.hash)
    if head is not None and tuple(head) != last:
        return ChainBreak(
            last[0] + 1 if head[0] > last[0] else head[0],
            f"chain head records event {head[0]} but the trail ends at {last[0]} (events removed)",
        )
    return None
