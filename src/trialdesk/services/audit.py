"""Audit-trail use cases."""

from __future__ import annotations

from trialdesk.domain.audit import ChainBreak, verify_chain
from trialdesk.services.unit_of_work import UnitOfWork


def verify_audit(uow: UnitOfWork) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain. Returns (events checked, first break or None)."""
    events = list(uow.audit.events())
    return len(events), verify_chain(events, head=uow.audit.head())
