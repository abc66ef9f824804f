"""Final analysis on the web: the statistician's page (run at a cut, view the report, post results) and the API.

Pages: ``/ops/analysis`` (runs and the run form), ``/ops/analysis/runs/{id}/report`` (the stored HTML report).
API: ``POST/GET /api/v1/trials/{nct}/analysis/runs``, ``GET .../runs/{id}``, ``GET .../runs/{id}/report``,
``POST /api/v1/trials/{nct}/results`` (post) and ``GET /api/v1/trials/{nct}/results`` (posted results, anyone
logged in). The services check the rights: only a statistician runs, reads runs and posts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from trialdesk.domain.errors import InvalidInput, NotFound
from trialdesk.entrypoints.web.app import templates
from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.services import analysis, registry

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["analysis"])
pages = APIRouter(dependencies=[PageUser])
routers = [api, pages]

DEFAULT_TRIAL = "NCT07003074"


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cut_date: dt.date | None = Field(None, description="Data cut-off (default: today)")
    ties: Literal["efron", "breslow"] | None = None


class PostRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: int | None = Field(None, ge=1, description="Default: the latest run")


def _td(request: Request):
    return request.app.state.td


@api.post("/trials/{nct_id}/analysis/runs", status_code=201)
def api_run(request: Request, nct_id: str, body: RunRequest) -> dict[str, Any]:
    """Run the final analysis at the cut (statistician); stored and audited."""
    p = request.state.principal
    with _td(request).uow(p.username) as uow:
        run = analysis.run_analysis(uow, p, nct_id, body.cut_date, ties=body.ties)
        uow.commit()
    return run


@api.get("/trials/{nct_id}/analysis/runs")
def api_runs(request: Request, nct_id: str) -> list[dict[str, Any]]:
    p = request.state.principal
    with _td(request).uow(p.username) as uow:
        return analysis.list_runs(uow, p, nct_id)


@api.get("/trials/{nct_id}/analysis/runs/{run_id}")
def api_get_run(request: Request, nct_id: str, run_id: int) -> dict[str, Any]:
    p = request.state.principal
    with _td(request).uow(p.username) as uow:
        run = analysis.get_run(uow, p, nct_id, run_id)
    run.pop("report_html", None)
    return run


@api.get("/trials/{nct_id}/analysis/runs/{run_id}/report", response_class=HTMLResponse)
def api_report(request: Request, nct_id: str, run_id: int):
    p = request.state.principal
    with _td(request).uow(p.username) as uow:
        run = analysis.get_run(uow, p, nct_id, run_id)
    if not run["report_html"]:
        raise NotFound(f"analysis run {run_id} has no stored report")
    return HTMLResponse(run["report_html"])


@api.post("/trials/{nct_id}/results")
def api_post_results(request: Request, nct_id: str, body: PostRequest) -> dict[str, Any]:
    """Post a run's resultsSection to the registry (statistician); audited."""
    p = request.state.principal
    with _td(request).uow(p.username) as uow:
        out = analysis.post_results(uow, p, nct_id, body.run_id)
        uow.commit()
    return out


@api.get("/trials/{nct_id}/results")
def api_posted_results(request: Request, nct_id: str) -> dict[str, Any]:
    """The posted CT.gov resultsSection (404 until results are posted)."""
    with _td(request).uow(request.state.principal.username) as uow:
        section = registry.posted_results(uow, nct_id)
    if section is None:
        raise NotFound(f"{nct_id} has no posted results")
    return section


@pages.get("/ops/analysis", response_class=HTMLResponse, include_in_schema=False)
def analysis_page(request: Request, msg: str | None = None):
    from trialdesk.entrypoints.web.ops_routes import ctx

    p = request.state.principal
    with _td(request).uow(p.username) as uow:
        runs = analysis.list_runs(uow, p, DEFAULT_TRIAL)
        latest = analysis.get_run(uow, p, DEFAULT_TRIAL) if runs else None
        today = uow.now().date().isoformat()
    return templates.TemplateResponse(request, "analysis.html", ctx(
        request, nct=DEFAULT_TRIAL, runs=runs, latest=latest, today=today, msg=msg, problems=[]))


def _run_form(request: Request, form) -> Any:
    from trialdesk.entrypoints.web.ops_routes import ctx

    p = request.state.principal
    ties = form.get("ties") or None
    try:
        if ties not in (None, "efron", "breslow"):
            raise InvalidInput(f"must be efron or breslow; got {ties!r}", field="ties")
        with _td(request).uow(p.username) as uow:
            run = analysis.run_analysis(uow, p, DEFAULT_TRIAL, form.get("cut_date") or None, ties=ties)
            uow.commit()
    except InvalidInput as exc:
        with _td(request).uow(p.username) as uow:
            runs = analysis.list_runs(uow, p, DEFAULT_TRIAL)
            today = uow.now().date().isoformat()
        return templates.TemplateResponse(request, "analysis.html", ctx(
            request, nct=DEFAULT_TRIAL, runs=runs, latest=None, today=today, msg=None, problems=exc.problems),
            status_code=422)
    return RedirectResponse(f"/ops/analysis?msg=Analysis+run+{run['run_id']}+done", status_code=303)


@pages.post("/ops/analysis/runs", include_in_schema=False)
async def analysis_run_form(request: Request):
    form = await request.form()
    return await run_in_threadpool(_run_form, request, form)


def _post_form(request: Request, run_id: int):
    p = request.state.principal
    with _td(request).uow(p.username) as uow:
        out = analysis.post_results(uow, p, DEFAULT_TRIAL, run_id)
        uow.commit()
    return RedirectResponse(f"/ops/analysis?msg=Results+of+run+{out['run_id']}+posted", status_code=303)


@pages.post("/ops/analysis/runs/{run_id}/post", include_in_schema=False)
async def analysis_post_form(request: Request, run_id: int):
    await request.form()
    return await run_in_threadpool(_post_form, request, run_id)


@pages.get("/ops/analysis/runs/{run_id}/report", response_class=HTMLResponse, include_in_schema=False)
def analysis_report_page(request: Request, run_id: int):
    p = request.state.principal
    with _td(request).uow(p.username) as uow:
        run = analysis.get_run(uow, p, DEFAULT_TRIAL, run_id)
    if not run["report_html"]:
        raise NotFound(f"analysis run {run_id} has no stored report")
    return HTMLResponse(run["report_html"])
