"""The panels of the subject page and of the site page, listed in one place, in the order site staff work.

A panel is a function ``(uow, principal, nct_id, subject_or_site_key) -> dict | None`` (``None``: not shown to this
user). A panel dict has ``title`` and either ``rows``/``columns`` (a table), ``html`` (trusted, escaped by the
panel) or ``items``; plus optional ``actions`` (links) and ``forms`` (template names to include). Listing them
here, rather than having each feature module register its own when imported, makes the order and the set of panels
readable in one place and independent of import order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trialdesk.domain.access import Action, Principal
from trialdesk.entrypoints.web import (
    routes_capture,
    routes_capture_queries,
    routes_randomization,
    routes_screening,
    routes_treatment,
)
from trialdesk.entrypoints.web.labels import N_

Panel = dict[str, Any]
PanelFn = Callable[[Any, Principal, str, Any], Panel | None]


def subjects_panel(uow: Any, principal: Principal, nct_id: str, site_key: str) -> Panel | None:
    """The site's subjects, each linking to its page."""
    if not principal.can(Action.SUBJECT_VIEW, site_key):
        return None
    from trialdesk.services.subjects import subjects_visible

    rows = [
        [{"href": f"/ops/subjects/{s.subject_number}", "text": s.subject_number}, s.status, s.created_at[:10]]
        for s in subjects_visible(uow, principal, nct_id, site_key=site_key)
    ]
    return {
        "title": N_("Subjects"),
        "columns": [N_("Subject"), N_("Status"), N_("Since")],
        "rows": rows,  # codes labelled and dates shown as dates by the site page
        "empty": N_("No subjects at this site yet."),
    }


#: The subject page: allocation, calendar and doses first; then safety, efficacy, data quality.
SUBJECT_PANELS: list[tuple[str, PanelFn]] = [
    ("randomization", routes_randomization.randomization_panel),
    ("calendar", routes_treatment.calendar_panel),
    ("doses", routes_treatment.doses_panel),
    ("adverse_events", routes_capture.ae_panel),
    ("tumour_assessments", routes_capture.tumor_panel),
    ("queries", routes_capture_queries.queries_panel),
    ("disposition", routes_treatment.disposition_panel),
    ("signature", routes_capture.signature_panel),
    ("screenings", routes_screening.subject_screenings_panel),
]

#: The site page (all panels are site-scoped): what is due first, then safety, data quality, recruitment.
SITE_PANELS: list[tuple[str, PanelFn]] = [
    ("upcoming_visits", routes_treatment.upcoming_visits_panel),
    ("serious_adverse_events", routes_capture.site_sae_panel),
    ("open_queries", routes_capture_queries.site_queries_panel),
    ("screening", routes_screening.site_screening_panel),
    ("subjects", subjects_panel),
]


def _collect(
    panels: list[tuple[str, PanelFn]], uow: Any, principal: Principal, nct_id: str, target: Any
) -> dict[str, Panel]:
    out = {}
    for name, fn in panels:
        panel = fn(uow, principal, nct_id, target)
        if panel is not None:
            out[name] = panel
    return out


def subject_panels(
    uow: Any, principal: Principal, nct_id: str, subject: Any, only: frozenset[str] | None = None
) -> dict[str, Panel]:
    """The subject page's panels (``only``: those named, e.g. one casebook tab's); ``subject`` is the SubjectRow,
    already access-checked."""
    listed = SUBJECT_PANELS if only is None else [(n, fn) for n, fn in SUBJECT_PANELS if n in only]
    return _collect(listed, uow, principal, nct_id, subject)


def site_panels(uow: Any, principal: Principal, nct_id: str, site_key: str) -> dict[str, Panel]:
    """The site page's panels."""
    return _collect(SITE_PANELS, uow, principal, nct_id, site_key)
