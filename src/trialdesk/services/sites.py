"""Site use cases: list the caller's sites, activate/suspend/close a site."""

from __future__ import annotations

from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import NotFound
from trialdesk.domain.records import Site, Trial
from trialdesk.domain.sites import check_transition, completion_status, recruitment_closed_status
from trialdesk.domain.subject_lifecycle import SubjectStatus
from trialdesk.services.commands import ChangeSiteStatus
from trialdesk.services.registry import get_trial_row, stored_id
from trialdesk.services.unit_of_work import UnitOfWork


def get_site(uow: UnitOfWork, nct_id: str, site_key: str, *, for_update: bool = False) -> tuple[Trial, Site]:
    trial = get_trial_row(uow, nct_id)
    site = uow.sites.get(stored_id(trial), site_key, for_update=for_update)
    if site is None:
        raise NotFound(f"no site {site_key!r} in {nct_id}")
    return trial, site


def site_dict(site: Site) -> dict[str, Any]:
    return {
        "site": site.site_key,
        "facility": site.facility,
        "city": site.city,
        "state": site.state,
        "country": site.country,
        "status": site.status,
    }


def list_sites(uow: UnitOfWork, principal: Principal, nct_id: str) -> list[dict[str, Any]]:
    """Sites the caller may see (all of them for trial-wide roles)."""
    trial = get_trial_row(uow, nct_id)
    visible = principal.sites_for(Action.SITE_VIEW)
    return [site_dict(s) for s in uow.sites.for_trial(stored_id(trial)) if visible is None or s.site_key in visible]


def view_site(uow: UnitOfWork, principal: Principal, nct_id: str, site_key: str) -> dict[str, Any]:
    require(principal, Action.SITE_VIEW, site_key)
    _, site = get_site(uow, nct_id, site_key)
    return site_dict(site)


def change_site_status(
    uow: UnitOfWork, principal: Principal, nct_id: str, site_key: str, cmd: ChangeSiteStatus
) -> dict[str, Any]:
    """Admin moves a site NOT_YET_RECRUITING -> RECRUITING -> (SUSPENDED <-> RECRUITING) -> CLOSED, with a reason
    (:meth:`~trialdesk.domain.sites.check_transition` refuses a blank one and a move the life cycle forbids)."""
    require(principal, Action.SITE_ACTIVATE, site_key)
    _, site = get_site(uow, nct_id, site_key, for_update=True)
    target = check_transition(site.status, cmd.status, cmd.reason)
    before = site_dict(site)
    site.status = target.value
    uow.record(
        "site.status_changed",
        "site",
        site_key,
        before=before,
        after=site_dict(site),
        reason=cmd.reason,
        trial=nct_id,
        site=site_key,
        actor=principal.username,
    )
    return site_dict(site)


#: Subject statuses that mean the subject has ended the study.
STUDY_ENDED = frozenset({SubjectStatus.OFF_STUDY.value, SubjectStatus.DEAD.value})


def _sites_following_subjects(uow: UnitOfWork, trial_id: int) -> set[str]:
    """Sites where a subject randomized (allocation not in error) is still in the study by the records."""
    randomized = {a.subject_id for a in uow.allocations.for_trial(trial_id)}
    return {s.site_key for s in uow.subjects.list(trial_id) if s.id in randomized and s.status not in STUDY_ENDED}


def close_recruitment(
    uow: UnitOfWork, nct_id: str, *, reason: str, actor: str, completed: bool = False
) -> list[dict[str, Any]]:
    """Close the trial's recruitment at every site (a recorded early stop or recruitment closure): each open site
    takes :func:`~trialdesk.domain.sites.recruitment_closed_status`, audited ``site.status_changed`` with the
    decision's reason. With ``completed`` (a recorded completion), each site takes
    :func:`~trialdesk.domain.sites.completion_status` instead: CLOSED, or ACTIVE_NOT_RECRUITING where the records
    still follow a subject. Returns the sites that changed."""
    trial = get_trial_row(uow, nct_id)
    trial_id = stored_id(trial)
    following = _sites_following_subjects(uow, trial_id) if completed else set()
    why = "trial completed" if completed else "recruitment closed for the trial"
    changed = []
    for site in uow.sites.for_trial(trial_id):
        target = (
            completion_status(site.status, subjects_in_study=site.site_key in following)
            if completed
            else recruitment_closed_status(site.status)
        )
        if target is None:
            continue
        before = site_dict(site)
        site.status = target.value
        uow.record(
            "site.status_changed",
            "site",
            site.site_key,
            before=before,
            after=site_dict(site),
            reason=f"{why}: {reason}",
            trial=nct_id,
            site=site.site_key,
            actor=actor,
        )
        changed.append(site_dict(site))
    return changed
