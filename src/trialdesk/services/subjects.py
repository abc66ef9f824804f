"""Subject-level access and bookkeeping shared by every data-capture use case."""

from __future__ import annotations

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import NotFound
from trialdesk.domain.protocol import Protocol
from trialdesk.domain.records import Subject, Trial
from trialdesk.services.registry import get_protocol, get_trial_row, stored_id
from trialdesk.services.unit_of_work import UnitOfWork


def site_code(uow: UnitOfWork, trial_id: int, site_key: str) -> str:
    """Two-digit code of a site: its position in the registry record (01..25)."""
    site = uow.sites.get(trial_id, site_key)
    if site is None:
        raise NotFound(f"no site {site_key!r}")
    return f"{site.position + 1:02d}"


def visible_sites(
    principal: Principal, site_key: str | None = None, *, hide: bool | None = None
) -> frozenset[str] | None:
    """The sites whose subjects a listing may show the caller (``None``: every site). ``site_key`` narrows the
    listing to that one site, which the caller must be allowed to see (``hide`` as in :func:`require`)."""
    if site_key is None:
        return principal.sites_for(Action.SUBJECT_VIEW)
    require(principal, Action.SUBJECT_VIEW, site_key, hide=hide)
    return frozenset({site_key})


def get_subject(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    subject_number: str,
    action: Action = Action.SUBJECT_VIEW,
    *,
    for_update: bool = False,
) -> tuple[Trial, Subject]:
    """Load a subject the caller may act on. Refusal looks exactly like absence (404), so subject numbers at
    other sites do not leak."""
    trial = get_trial_row(uow, nct_id)
    subject = uow.subjects.get(stored_id(trial), subject_number, for_update=for_update)
    if subject is None or not principal.can(action, subject.site_key):
        absent = f"no subject {subject_number} in {nct_id}"
        if subject is not None:  # audited denial, answered exactly like absence (404, same message)
            require(principal, action, subject.site_key, hide=True, not_found=absent)
        raise NotFound(absent)
    return trial, subject


def subjects_visible(
    uow: UnitOfWork,
    principal: Principal,
    nct_id: str,
    action: Action = Action.SUBJECT_VIEW,
    site_key: str | None = None,
) -> list[Subject]:
    trial = get_trial_row(uow, nct_id)
    sites: frozenset[str] | None = principal.sites_for(action)
    if sites is not None and not sites:
        return []
    if site_key is not None:
        require(principal, action, site_key, hide=False)
        sites = frozenset({site_key})
    return uow.subjects.list(stored_id(trial), sites)


def touch(uow: UnitOfWork, subject: Subject, *, reason: str | None = None) -> None:
    """Record that a subject's data changed: bump ``data_version`` and invalidate a live e-signature."""
    subject.data_version = (subject.data_version or 0) + 1
    try:
        signatures = uow.signatures
    except AttributeError:
        return
    signatures.invalidate_active(
        stored_id(subject), when=uow.now().isoformat(), reason=reason or "data changed after signature"
    )


def protocol(uow: UnitOfWork, nct_id: str) -> Protocol:
    return get_protocol(uow, nct_id, live_sites=False)
