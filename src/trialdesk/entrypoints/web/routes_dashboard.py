"""The enrollment dashboard (page and API)."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from trialdesk.domain.access import Action, Principal
from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.entrypoints.web.deps import PagePrincipalDep, PrincipalDep, TrialDep, UowDep
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import dashboard as dashboard_service

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["dashboard"])
pages = APIRouter(dependencies=[PageUser])


def _for_principal(data: dict[str, Any], p: Principal) -> dict[str, Any]:
    """The dashboard without trial-wide randomization counts for a principal limited to some sites.

    A coordinator who knew the trial-wide count could follow other sites' allocations; the site rows and
    totals are already limited to the principal's sites, the forecast keeps its dates and pace only.
    """
    if p.sites_for(Action.SITE_VIEW) is None:
        return data
    out = {k: v for k, v in data.items() if k != "randomized_all_sites"}
    if isinstance(out.get("forecast"), dict):
        out["forecast"] = {k: v for k, v in out["forecast"].items() if k != "recent_randomized"}
    return out


@api.get("/trials/{nct_id}/dashboard")
def dashboard_api(nct_id: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Screened, randomized and screen-failure counts by site and month, forecast, open queries, overdue visits."""
    return _for_principal(dashboard_service.dashboard(uow, p, nct_id), p)


@pages.get("/ops/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    from trialdesk.adapters.figures import enrollment_figure, figure_fonts
    from trialdesk.entrypoints.web import i18n
    from trialdesk.entrypoints.web.templating import figure_text

    data = _for_principal(dashboard_service.dashboard(uow, p, nct_id), p)
    buffer = io.StringIO()
    text, cjk = figure_text()
    with figure_fonts(cjk):  # the curve's words in the page's language when a CJK font is installed
        # the axis dates as the page writes them, unless Chinese dates would need a font the system lacks
        day = i18n.day if cjk or i18n.language() == "en" else None
        enrollment_figure(data, text=text, day=day).savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return templates.TemplateResponse(
        request, "dashboard.html", ctx(request, d=data, curve_svg=svg[svg.find("<svg") :])
    )
