"""The enrollment dashboard (page and API)."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from trialdesk.entrypoints.web.app import templates
from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.services import dashboard as dashboard_service

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["dashboard"])
pages = APIRouter(dependencies=[PageUser])
routers = [api, pages]


@api.get("/trials/{nct_id}/dashboard")
def dashboard_api(request: Request, nct_id: str) -> dict[str, Any]:
    """Screened, randomized and screen-failure counts by site and month, forecast, open queries, overdue visits."""
    p = request.state.principal
    with request.app.state.td.uow(p.username) as uow:
        return dashboard_service.dashboard(uow, p, nct_id)


@pages.get("/ops/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request):
    from trialdesk.entrypoints.web.ops_routes import DEFAULT_TRIAL, ctx

    p = request.state.principal
    with request.app.state.td.uow(p.username) as uow:
        data = dashboard_service.dashboard(uow, p, DEFAULT_TRIAL)
    buffer = io.StringIO()
    dashboard_service.enrollment_figure(data).savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return templates.TemplateResponse(request, "dashboard.html", ctx(request, d=data, curve_svg=svg[svg.find("<svg"):]))
