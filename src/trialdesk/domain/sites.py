"""Site activation: the allowed status transitions, and what closing the trial's recruitment does to a site.

ACTIVE_NOT_RECRUITING is CT.gov's location status for a site whose subjects continue treatment and follow-up
while no new subject is enrolled: the status every open site takes when the trial's recruitment is closed (a
recorded early stop or recruitment closure, :func:`recruitment_closed_status`). It never goes back to RECRUITING.
A recorded completion closes every site whose subjects have all ended the study (:func:`completion_status`).
"""

from __future__ import annotations

from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.domain.protocol import SiteStatus

S = SiteStatus
TRANSITIONS: dict[SiteStatus, frozenset[SiteStatus]] = {
    S.NOT_YET_RECRUITING: frozenset({S.RECRUITING, S.CLOSED}),
    S.RECRUITING: frozenset({S.SUSPENDED, S.ACTIVE_NOT_RECRUITING, S.CLOSED}),
    S.SUSPENDED: frozenset({S.RECRUITING, S.ACTIVE_NOT_RECRUITING, S.CLOSED}),
    S.ACTIVE_NOT_RECRUITING: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}


def next_statuses(current: str | None) -> list[SiteStatus]:
    """The statuses a site may move to from ``current`` (none yet: NOT_YET_RECRUITING), in the lifecycle's order."""
    source = SiteStatus(current) if current else S.NOT_YET_RECRUITING
    allowed = TRANSITIONS.get(source, frozenset())
    return [s for s in TRANSITIONS if s in allowed]


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
        allowed = ", ".join(sorted(s.value for s in next_statuses(source.value))) or "none (closed)"
        raise Conflict(f"a site cannot go from {source.value} to {target.value}; allowed: {allowed}")
    return target


def recruitment_closed_status(current: str | None) -> SiteStatus | None:
    """The status a site takes when the trial's recruitment closes (``None``: it keeps its own): a site that
    recruited (RECRUITING, SUSPENDED) goes ACTIVE_NOT_RECRUITING, its subjects continuing; one that never opened
    (NOT_YET_RECRUITING) is CLOSED; ACTIVE_NOT_RECRUITING and CLOSED stay."""
    source = SiteStatus(current) if current else S.NOT_YET_RECRUITING
    if source in (S.RECRUITING, S.SUSPENDED):
        return S.ACTIVE_NOT_RECRUITING
    if source is S.NOT_YET_RECRUITING:
        return S.CLOSED
    return None


def completion_status(current: str | None, *, subjects_in_study: bool) -> SiteStatus | None:
    """The status a site takes when the trial is recorded completed (``None``: it keeps its own): CLOSED, unless
    subjects randomized there are still in the study by the records (neither off study nor dead), whose follow-up
    continues: then the site takes :func:`recruitment_closed_status` (ACTIVE_NOT_RECRUITING). CLOSED stays."""
    source = SiteStatus(current) if current else S.NOT_YET_RECRUITING
    if source is S.CLOSED:
        return None
    if subjects_in_study:
        return recruitment_closed_status(current)
    return S.CLOSED


def require_recruiting(site_key: str, status: str | None) -> None:
    """Screening and randomization happen only at RECRUITING sites."""
    if status == S.ACTIVE_NOT_RECRUITING.value:
        raise Conflict(
            f"site {site_key} is ACTIVE_NOT_RECRUITING, not RECRUITING: recruitment is closed (an early stop or "
            "recruitment closure recorded for the trial, or the site's own closure); subjects already randomized "
            "continue treatment and follow-up, no new subject is screened or randomized"
        )
    if status == S.CLOSED.value:
        raise Conflict(
            f"site {site_key} is CLOSED, not RECRUITING: it recruits no more (closed by the admin, or never opened "
            "before the trial's recruitment was closed)"
        )
    if status != S.RECRUITING.value:
        raise Conflict(f"site {site_key} is {status or 'not activated'}, not RECRUITING")
