"""Final analysis on the web: the statistician's page (run at a cut, view the report, post results) and the API.

Pages: ``/ops/analysis`` (runs and the run form), ``/ops/analysis/runs/{id}/report`` (the stored HTML report).
API: ``POST/GET /api/v1/trials/{nct}/analysis/runs``, ``GET .../runs/{id}``, ``GET .../runs/{id}/report``,
``POST /api/v1/trials/{nct}/results`` (post) and ``GET /api/v1/trials/{nct}/results`` (posted results, anyone
logged in). The services check the rights: only a statistician runs, reads runs and posts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from trialdesk.domain.access import Principal
from trialdesk.domain.errors import InvalidInput, NotFound, Problem, problems_from_pydantic
from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.entrypoints.web.deps import (
    FormDep,
    PagePrincipalDep,
    PrincipalDep,
    RecordId,
    TrialDep,
    UowDep,
    committed,
)
from trialdesk.entrypoints.web.forms import FormInvalid, text, typed, validate
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import analysis, registry
from trialdesk.services.commands import PostResults, RunAnalysis

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["analysis"])
pages = APIRouter(dependencies=[PageUser])


@api.post("/trials/{nct_id}/analysis/runs", status_code=201)
def api_run(nct_id: str, body: RunAnalysis, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Run the final analysis at the cut (statistician); stored and audited."""
    return committed(uow, analysis.run_analysis(uow, p, nct_id, body))


@api.get("/trials/{nct_id}/analysis/runs")
def api_runs(nct_id: str, p: PrincipalDep, uow: UowDep) -> list[dict[str, Any]]:
    return analysis.list_runs(uow, p, nct_id)


@api.get("/trials/{nct_id}/analysis/runs/{run_id}")
def api_get_run(nct_id: str, run_id: RecordId, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    run = analysis.get_run(uow, p, nct_id, run_id)
    run.pop("report_html", None)
    return run


def _report(uow: Any, p: Principal, nct_id: str, run_id: int) -> HTMLResponse:
    run = analysis.get_run(uow, p, nct_id, run_id)
    if not run["report_html"]:
        raise NotFound(f"analysis run {run_id} has no stored report")
    return HTMLResponse(run["report_html"])


@api.get("/trials/{nct_id}/analysis/runs/{run_id}/report", response_class=HTMLResponse)
def api_report(nct_id: str, run_id: RecordId, p: PrincipalDep, uow: UowDep) -> HTMLResponse:
    return _report(uow, p, nct_id, run_id)


@api.post("/trials/{nct_id}/results")
def api_post_results(nct_id: str, body: PostResults, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Post a run's resultsSection to the registry (statistician); audited."""
    return committed(uow, analysis.post_results(uow, p, nct_id, body))


@api.get("/trials/{nct_id}/results")
def api_posted_results(nct_id: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """The posted CT.gov resultsSection (404 until results are posted)."""
    section = registry.posted_results(uow, nct_id)
    if section is None:
        raise NotFound(f"{nct_id} has no posted results")
    return section


def _analysis_page(
    request: Request,
    p: Principal,
    uow: Any,
    nct_id: str,
    *,
    msg: str | None = None,
    problems: list[Problem] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The statistician's page; ``problems`` (a refused run) are listed and shown beside their fields, with the
    run form's ``values`` kept."""
    runs = analysis.list_runs(uow, p, nct_id)
    latest = analysis.get_run(uow, p, nct_id) if runs and not problems else None
    today = uow.now().date().isoformat()
    errors = {problem.path: problem.message for problem in problems or [] if problem.path}
    return templates.TemplateResponse(
        request,
        "analysis.html",
        ctx(
            request,
            nct=nct_id,
            runs=runs,
            latest=latest,
            today=today,
            msg=msg,
            problems=problems or [],
            errors=errors,
            values=values or {},
        ),
        status_code=422 if problems else 200,
    )


@pages.get("/ops/analysis", response_class=HTMLResponse, include_in_schema=False)
def analysis_page(
    request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep, msg: str | None = None
) -> HTMLResponse:
    return _analysis_page(request, p, uow, nct_id, msg=msg)


@pages.post("/ops/analysis/runs", include_in_schema=False)
def analysis_run_form(request: Request, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    """Run the analysis at the cut; a cut-off or ties option that :class:`RunAnalysis` or the use case refuses
    comes back (422) beside its field."""
    values = typed(form)
    try:
        command = validate(RunAnalysis, {k: text(form, k) for k in ("cut_date", "ties")})
        run = analysis.run_analysis(uow, p, nct_id, command)
        uow.commit()
    except FormInvalid as exc:
        problems = [Problem(name, message) for name, message in exc.errors.items()]
        return _analysis_page(request, p, uow, nct_id, problems=problems, values=values)
    except InvalidInput as exc:
        uow.rollback()
        return _analysis_page(request, p, uow, nct_id, problems=exc.problems, values=values)
    return RedirectResponse(f"/ops/analysis?msg=Analysis+run+{run['run_id']}+done", status_code=303)


@pages.post("/ops/analysis/runs/{run_id}/post", include_in_schema=False)
def analysis_post_form(run_id: RecordId, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> RedirectResponse:
    try:
        command = PostResults(run_id=run_id)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc)) from None
    out = analysis.post_results(uow, p, nct_id, command)
    uow.commit()
    return RedirectResponse(f"/ops/analysis?msg=Results+of+run+{out['run_id']}+posted", status_code=303)


@pages.get("/ops/analysis/runs/{run_id}/report", response_class=HTMLResponse, include_in_schema=False)
def analysis_report_page(run_id: RecordId, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    return _report(uow, p, nct_id, run_id)
