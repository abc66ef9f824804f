"""Site activation: the allowed status transitions."""

from __future__ import annotations

from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.domain.protocol import SiteStatus

S = SiteStatus
TRANSITIONS: dict[SiteStatus, frozenset[SiteStatus]] = {
    S.NOT_YET_RECRUITING: frozenset({S.RECRUITING, S.CLOSED}),
    S.RECRUITING: frozenset({S.SUSPENDED, S.CLOSED}),
    S.SUSPENDED: frozenset({S.RECRUITING, S.CLOSED}),
    S.CLOSED: frozenset(),
}


def check_transition(current: str | None, new: str, reason: str | None) -> SiteStatus:
    """Validate a site status change; returns the new status."""
    try:
        target = SiteStatus(new)
    except ValueError:
        raise InvalidInput(
            f"unknown status {new!r}; one of {', '.join(s.value for s in TRANSITIONS)}", field="status"
        ) from None
    if target not in TRANSITIONS:
        raise InvalidInput(f"{target.value} is not a site activation status", field="status")
    if not reason or not reason.strip():
        raise InvalidInput("a reason is required for every site status change", field="reason")
    source = SiteStatus(current) if current else S.NOT_YET_RECRUITING
    if target not in TRANSITIONS.get(source, frozenset()):
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS.get(source, frozenset()))) or "none (closed)"
        raise Conflict(f"a site cannot go from {source.value} to {target.value}; allowed: {allowed}")
    return target


def require_recruiting(site_key: str, status: str | None) -> None:
    """Screening and randomization happen only at RECRUITING sites."""
    if status != S.RECRUITING.value:
        raise Conflict(f"site {site_key} is {status or 'not activated'}, not RECRUITING")
