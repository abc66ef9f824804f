"""The navigation of the operations pages: the one place that decides which links a signed-in user sees.

Each link is shown for a permission of :mod:`trialdesk.domain.access` (the same one the page's use case
requires), so every role sees exactly the pages it may use: site staff their site home, screening, subjects and
queries; monitors queries, the audit trail and their sites; the statistician analysis, design, the randomization
list with its balance and the dataset export; the sponsor the dashboard, design and the posted results; the
administrator sites, users and the audit trail. ``base.html`` renders :func:`nav_for`; ``tests/test_nav_web.py`` checks
every link against the permission matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from trialdesk.domain.access import Action, Principal
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import N_

A = Action


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    href: str
    #: the permission the page needs (``None``: any signed-in user)
    action: Action | None = None
    current: bool = False


def _action(value: str) -> Action | None:
    try:
        return Action(value)
    except ValueError:
        return None


def _one_site(principal: Principal, action: Action) -> str | None:
    """The caller's only site for an action (``None``: all sites, several or none)."""
    sites = principal.sites_for(action)
    return next(iter(sites)) if sites is not None and len(sites) == 1 else None


def nav_items(principal: Principal, nct_id: str) -> list[NavItem]:
    """The links ``principal`` may follow, in the order of the day's work. Site links go straight to the site when
    the caller has one; with several, to the site list of the home page."""
    can = principal.sites_for
    site_staff = can(A.DATA_ENTER) != frozenset()
    items = [NavItem("home", N_("Site home") if site_staff else N_("Home"), "/ops")]
    if can(A.SCREEN) != frozenset():
        site = _one_site(principal, A.SCREEN)
        items.append(
            NavItem("screening", N_("Screening"), f"/ops/sites/{site}/screen" if site else "/ops#sites", A.SCREEN)
        )
    if can(A.SUBJECT_VIEW) != frozenset():
        if site_staff:
            site = _one_site(principal, A.SUBJECT_VIEW)
            href = f"/ops/sites/{site}#panel-subjects" if site else "/ops#sites"
            items.append(NavItem("subjects", N_("Subjects"), href, A.SUBJECT_VIEW))
        items.append(NavItem("queries", N_("Queries"), "/ops/queries", A.SUBJECT_VIEW))
    if can(A.DEVIATION_RECORD) != frozenset():
        items.append(NavItem("deviations", N_("Deviations"), "/ops/deviations", A.DEVIATION_RECORD))
    if not site_staff and (principal.can(A.SITE_ACTIVATE) or can(A.SUBJECT_VIEW) != frozenset()):
        site = _one_site(principal, A.SITE_VIEW)
        items.append(NavItem("sites", N_("Sites"), f"/ops/sites/{site}" if site else "/ops#sites", A.SITE_VIEW))
    if principal.can(A.DASHBOARD_VIEW):
        items.append(NavItem("dashboard", N_("Dashboard"), "/ops/dashboard", A.DASHBOARD_VIEW))
    if can(A.MONITORING_VIEW) != frozenset():
        items.append(NavItem("monitoring", N_("Monitoring"), "/ops/monitoring", A.MONITORING_VIEW))
    if principal.can(A.ANALYSIS_RUN):
        items.append(NavItem("analysis", N_("Analysis"), "/ops/analysis", A.ANALYSIS_RUN))
    if principal.can(A.RANDOMIZATION_LIST):
        items.append(NavItem("randomization", N_("Randomization"), "/ops/randomization", A.RANDOMIZATION_LIST))
    if principal.can(A.ANALYSIS_RUN):
        items.append(NavItem("datasets", N_("Datasets"), "/ops/datasets", A.ANALYSIS_RUN))
    if principal.can(A.DESIGN_SIMULATE):
        items.append(NavItem("design", N_("Design"), "/ops/design", A.DESIGN_SIMULATE))
    if principal.can(A.DESIGN_SIMULATE) and not principal.can(A.ANALYSIS_RUN):
        # the sponsor: the analysis page where results are approved, when the matrix has that action; else the
        # results as posted on the public registry page
        approve = _action("results.approve")
        if approve is not None and principal.can(approve):
            items.append(NavItem("results", N_("Results"), "/ops/analysis", approve))
        else:
            items.append(NavItem("results", N_("Results"), f"/trials/{nct_id}#results", A.DASHBOARD_VIEW))
    if principal.can(A.USER_MANAGE):
        items.append(NavItem("users", N_("Users"), "/ops/users", A.USER_MANAGE))
    if can(A.AUDIT_VIEW) != frozenset():
        items.append(NavItem("audit", N_("Audit trail"), "/ops/audit", A.AUDIT_VIEW))
    return items


def nav_for(request: Request) -> list[NavItem]:
    """The links of the page being rendered, in the request's language, the current page's marked
    (``aria-current``); none when nobody is signed in."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return []
    settings: Any = getattr(request.app.state, "settings", None)
    nct_id = str(request.query_params.get("trial") or getattr(settings, "default_trial", ""))
    path = request.url.path
    out = []
    for item in nav_items(principal, nct_id):
        target = item.href.split("#", 1)[0]
        current = target == path and "#" not in item.href
        # translated here, at render time, in the request's language (the labels above are English msgids)
        out.append(NavItem(item.key, _(item.label), item.href, item.action, current))
    return out
