"""The enrollment dashboard (page and API)."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.entrypoints.web.deps import PagePrincipalDep, PrincipalDep, TrialDep, UowDep
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import dashboard as dashboard_service

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["dashboard"])
pages = APIRouter(dependencies=[PageUser])


@api.get("/trials/{nct_id}/dashboard")
def dashboard_api(nct_id: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Screened, randomized and screen-failure counts by site and month, forecast, open queries, overdue visits."""
    return dashboard_service.dashboard(uow, p, nct_id)


@pages.get("/ops/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    from trialdesk.adapters.figures import enrollment_figure

    data = dashboard_service.dashboard(uow, p, nct_id)
    buffer = io.StringIO()
    enrollment_figure(data).savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return templates.TemplateResponse(
        request, "dashboard.html", ctx(request, d=data, curve_svg=svg[svg.find("<svg") :])
    )
