"""The site home: what site staff (coordinators, investigators) have to do today at each of their sites.

Composed from the services that own each rule, nothing recomputed here: visits from the site calendar
(:func:`trialdesk.services.treatment.site_calendar`: ``due`` means the visit's window is open today, ``overdue``
that it closed without the visit), open and answered queries (:func:`trialdesk.services.queries.list_queries`),
casebooks awaiting the investigator's signature (:func:`trialdesk.services.signatures.casebook_status`, for the
subjects randomized and after) and the 24-hour SAE reporting clocks
(:func:`trialdesk.services.adverse_events.serious_events`).
"""

from __future__ import annotations

from typing import Any

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import TrialdeskError
from trialdesk.domain.schedule import VisitStatus
from trialdesk.domain.subject_lifecycle import SubjectStatus
from trialdesk.services import adverse_events, queries, signatures, treatment
from trialdesk.services.subjects import subjects_visible

#: Subjects whose casebook holds trial data to sign: randomized, and every status after it.
SIGNABLE = frozenset(
    s.value
    for s in (
        SubjectStatus.RANDOMIZED,
        SubjectStatus.ON_TREATMENT,
        SubjectStatus.OFF_TREATMENT,
        SubjectStatus.OFF_STUDY,
        SubjectStatus.DEAD,
    )
)


def site_staff_sites(principal: Principal, sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The caller's sites where they enter data (the site home is for these)."""
    return [s for s in sites if principal.can(Action.DATA_ENTER, s["site"])]


def _visits(uow: Any, principal: Principal, nct_id: str, site_key: str) -> list[Any]:
    try:
        return list(treatment.site_calendar(uow, principal, nct_id, site_key))
    except TrialdeskError:  # no treatment schedule in the protocol: no visits to list
        return []


def site_worklist(uow: Any, principal: Principal, nct_id: str, site: dict[str, Any]) -> dict[str, Any]:
    """One site's work: visits due today and overdue, open queries, casebooks to sign and SAE clocks running."""
    key = site["site"]
    visits = _visits(uow, principal, nct_id, key)
    found = [q for q in queries.list_queries(uow, principal, nct_id, site=key) if q["status"] != "closed"]
    unsigned = []
    for subject in subjects_visible(uow, principal, nct_id, site_key=key):
        if subject.status in SIGNABLE:
            status = signatures.casebook_status(uow, principal, nct_id, subject.subject_number)
            if status["status"] != "signed":
                unsigned.append({"subject": subject.subject_number, "status": status["status"]})
    clocks = [
        e
        for e in adverse_events.serious_events(uow, principal, nct_id, key)
        if e["sae"] and not e["sae"]["reported_at"]
    ]
    return {
        **site,
        "today": [v for v in visits if v.status is VisitStatus.DUE],
        "overdue": [v for v in visits if v.status is VisitStatus.OVERDUE],
        "queries": found,
        "open_queries": sum(1 for q in found if q["status"] == "open"),
        "unsigned": unsigned,
        "can_sign": principal.can(Action.CASEBOOK_SIGN, key),
        "sae_clocks": sorted(clocks, key=lambda e: e["sae"]["due_by"]),
        "can_screen": principal.can(Action.SCREEN, key),
    }
