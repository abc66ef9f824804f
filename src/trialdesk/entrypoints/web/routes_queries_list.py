"""The trial-wide query list (``/ops/queries``) and its CSV export: every data query the caller may see
(``subject.view`` sites: a coordinator sees their own site's, a trial-wide monitor every site's), filtered by
status, site, subject and age, oldest first, each with the days it has been open."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.web.auth import PageUser
from trialdesk.entrypoints.web.deps import PagePrincipalDep, TrialDep, UowDep
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.listing import csv_response, page_number
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import queries
from trialdesk.services.sites import list_sites

pages = APIRouter(dependencies=[PageUser])

FILTERS = ("status", "site", "subject", "age")
#: the status filter's choices: the query life cycle's, and "pending" for open or answered (not closed yet)
PENDING = "pending"
MAX_AGE_DAYS = 36_500
CSV_COLUMNS = (
    "id",
    "site",
    "subject",
    "entity_type",
    "entity_id",
    "field",
    "check_id",
    "message",
    "status",
    "origin",
    "raised_at",
    "raised_by",
    "updated_at",
    "days_open",
)


def _filters(request: Request) -> dict[str, str]:
    out = {}
    for name in FILTERS:
        value = request.query_params.get(name, "").strip()
        if len(value) > 200:
            raise InvalidInput(_("must be at most 200 characters"), field=name)
        if value:
            out[name] = value
    status = out.get("status")
    if status is not None and status != PENDING and status not in queries.STATUSES:
        raise InvalidInput(
            _("must be one of %(choices)s", choices=", ".join((PENDING, *queries.STATUSES))), field="status"
        )
    age = out.get("age")
    if age is not None and (not age.isdigit() or int(age) > MAX_AGE_DAYS):
        raise InvalidInput(_("must be a whole number of days from 0 to %(max)s", max=MAX_AGE_DAYS), field="age")
    return out


def days_open(query: dict[str, Any], today: dt.date) -> int:
    """Whole days from raising to closing (a closed query) or to today (an open or answered one)."""
    raised = dt.date.fromisoformat(query["raised_at"][:10])
    end = dt.date.fromisoformat(query["updated_at"][:10]) if query["status"] == "closed" else today
    return (end - raised).days


def _listed(uow: Any, p: Principal, nct_id: str, filters: dict[str, str]) -> list[dict[str, Any]]:
    if p.sites_for(Action.SUBJECT_VIEW) == frozenset():
        require(p, Action.SUBJECT_VIEW, hide=False)  # a role that sees no subject sees no query (403)
    status = filters.get("status")
    found = queries.list_queries(
        uow,
        p,
        nct_id,
        site=filters.get("site"),
        subject_number=filters.get("subject"),
        status=None if status == PENDING else status,
    )
    today = uow.now().date()
    min_age = int(filters.get("age", "0"))
    rows = []
    for q in found:
        if status == PENDING and q["status"] == "closed":
            continue
        age = days_open(q, today)
        if age >= min_age:
            rows.append({**q, "days_open": age})
    return sorted(rows, key=lambda q: (q["raised_at"], q["id"]))


#: rows per page of the list (the count and the CSV cover every row)
PAGE_SIZE = 50


@pages.get("/ops/queries", response_class=HTMLResponse, include_in_schema=False)
def queries_page(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    filters = _filters(request)
    page = page_number(request)
    everything = _listed(uow, p, nct_id, filters)
    rows = everything[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]

    def page_url(n: int) -> str:
        return f"/ops/queries?{urlencode({**filters, 'trial': nct_id, 'page': n})}"

    visible = p.sites_for(Action.SUBJECT_VIEW)
    site_choices = [s for s in list_sites(uow, p, nct_id) if visible is None or s["site"] in visible]
    return templates.TemplateResponse(
        request,
        "queries_list.html",
        ctx(
            request,
            nct_id=nct_id,
            filters=filters,
            rows=rows,
            total=len(everything),
            first=(page - 1) * PAGE_SIZE + 1,
            prev_url=page_url(page - 1) if page > 1 else None,
            next_url=page_url(page + 1) if page * PAGE_SIZE < len(everything) else None,
            statuses=(PENDING, *queries.STATUSES),
            site_choices=site_choices,
            all_sites=visible is None,
            csv_url=f"/ops/queries.csv?{urlencode({**filters, 'trial': nct_id})}",
        ),
    )


@pages.get("/ops/queries.csv", include_in_schema=False)
def queries_csv(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    rows = _listed(uow, p, nct_id, _filters(request))
    return csv_response(CSV_COLUMNS, ([q[c] for c in CSV_COLUMNS] for q in rows), f"{nct_id}-queries.csv")
