"""Audit-trail use cases."""

from __future__ import annotations

from trialdesk.domain.audit import ChainBreak, verify_chain


def verify_audit(uow) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain. Returns (events checked, first break or None)."""
    events = list(uow.audit.events())
    return len(events), verify_chain(events, head=uow.audit.head())
