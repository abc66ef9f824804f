"""Final analysis on the web: the statistician's and the sponsor's page (run at a cut, view the report, approve,
post results, record trial decisions) and the API.

Pages: ``/ops/analysis`` (runs, the run form, approval and posting forms, decisions), ``/ops/analysis/runs/{id}/
report`` (the stored HTML report). API: ``POST/GET /api/v1/trials/{nct}/analysis/runs``, ``GET .../runs/{id}``,
``GET .../runs/{id}/report``, ``POST /api/v1/trials/{nct}/results/approvals`` (sponsor approves a run, ``confirm``),
``GET .../results/approvals`` (runs with approval and due status), ``POST /api/v1/trials/{nct}/results`` (post,
``confirm``), ``GET /api/v1/trials/{nct}/results`` (posted results, anyone logged in), ``GET .../results/history``
(versions and dates), ``POST/GET /api/v1/trials/{nct}/decisions`` (early stop, recruitment closed, completed).
The services check the rights: only a statistician runs, reads runs and posts; only the sponsor approves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, Problem, problems_from_pydantic
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
from trialdesk.entrypoints.web.forms import FormInvalid, check_fields, text, typed, validate
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import analysis, registry, results_posting
from trialdesk.services.commands import ApproveResults, PostResults, RecordTrialDecision, RunAnalysis

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
    """Post an approved run's resultsSection to the registry as the next version (statistician, ``confirm: true``,
    once the primary analysis is due); audited."""
    return committed(uow, results_posting.post_results(uow, p, nct_id, body))


@api.post("/trials/{nct_id}/results/approvals", status_code=201)
def api_approve_results(nct_id: str, body: ApproveResults, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """The sponsor approves a run's results for posting (``confirm: true``); audited."""
    return committed(uow, results_posting.approve_results(uow, p, nct_id, body))


@api.get("/trials/{nct_id}/results/approvals")
def api_runs_for_approval(nct_id: str, p: PrincipalDep, uow: UowDep) -> list[dict[str, Any]]:
    """Runs with their headline numbers, approval, posted versions and whether the analysis is due."""
    return results_posting.runs_for_approval(uow, p, nct_id)


@api.get("/trials/{nct_id}/results/history")
def api_results_history(nct_id: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Registry status, first posted, last updated and every posted version."""
    return results_posting.registry_view(uow, nct_id)


@api.post("/trials/{nct_id}/decisions", status_code=201)
def api_record_decision(nct_id: str, body: RecordTrialDecision, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Record an early stop, a recruitment closure or the completion, with its reason (sponsor, statistician)."""
    return committed(uow, results_posting.record_decision(uow, p, nct_id, body))


@api.get("/trials/{nct_id}/decisions")
def api_decisions(nct_id: str, p: PrincipalDep, uow: UowDep) -> list[dict[str, Any]]:
    return results_posting.decisions(uow, nct_id)


@api.get("/trials/{nct_id}/results")
def api_posted_results(nct_id: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """The posted CT.gov resultsSection (404 until results are posted)."""
    section = registry.posted_results(uow, nct_id)
    if section is None:
        raise NotFound(f"{nct_id} has no posted results")
    return section


def _notice(msg: str | None) -> str | None:
    """The notice a form's redirect carries (``?msg=``, in English) in the request's language."""
    if not msg:
        return msg
    patterns: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
        (r"Analysis run (\d+) done", lambda m: _("Analysis run %(run)s done", run=m[1])),
        (
            r"Results of run (\d+) posted as version (\d+)",
            lambda m: _("Results of run %(run)s posted as version %(version)s", run=m[1], version=m[2]),
        ),
        (r"Results of run (\d+) approved", lambda m: _("Results of run %(run)s approved", run=m[1])),
        (r"Decision recorded", lambda m: _("Decision recorded")),
    )
    for pattern, shown in patterns:
        found = re.fullmatch(pattern, msg)
        if found:
            return shown(found)
    return msg


def _analysis_page(
    request: Request,
    p: Principal,
    uow: Any,
    nct_id: str,
    *,
    msg: str | None = None,
    problems: list[Problem] | None = None,
    values: dict[str, str] | None = None,
    status_code: int | None = None,
    form: str = "",
) -> HTMLResponse:
    """The statistician's and the sponsor's page; ``problems`` (a refused action) are shown beside their fields
    (a run's confirmation box: ``<form>-confirm``, ``form`` being ``approve-<run>`` or ``post-<run>``), the others
    listed above, with the form's ``values`` kept."""
    runs = results_posting.runs_for_approval(uow, p, nct_id)
    statistician = p.can(Action.ANALYSIS_RUN)
    latest = analysis.get_run(uow, p, nct_id) if statistician and runs and not problems else None
    today = uow.now().date().isoformat()
    errors: dict[str, str] = {}
    listed: list[Problem] = []
    for problem in problems or []:
        if problem.path == "confirm" and form:
            errors.setdefault(f"{form}-confirm", _("Tick this box to confirm."))
        elif problem.path in _FIELDS:
            errors.setdefault(problem.path, problem.message)
        else:
            listed.append(problem)
    return templates.TemplateResponse(
        request,
        "analysis.html",
        ctx(
            request,
            nct=nct_id,
            runs=runs,
            latest=latest,
            today=today,
            msg=_notice(msg),
            problems=listed,
            errors=errors,
            form_id=form,
            check=check_fields() if errors else None,
            values=values or {},
            can_run=statistician,
            can_post=p.can(Action.RESULTS_POST),
            can_approve=p.can(Action.RESULTS_APPROVE),
            can_decide=p.can(Action.TRIAL_DECIDE),
            decisions=results_posting.decisions(uow, nct_id),
            view=results_posting.registry_view(uow, nct_id),
        ),
        status_code=status_code or (422 if problems else 200),
    )


#: the inputs of the page's forms that show their own message (a run's confirmation box is named by its form)
_FIELDS = frozenset({"cut_date", "ties", "kind", "decided_on", "reason", "note"})


def _refused(
    request: Request, p: Principal, uow: Any, nct_id: str, exc: Exception, values: dict[str, str], form: str = ""
) -> Response:
    """A refused form action comes back on the page: 422 beside its field, 409 for a conflict (not due, not
    approved), nothing written."""
    uow.rollback()
    if isinstance(exc, FormInvalid):
        problems = [Problem(name, message) for name, message in exc.errors.items()]
        return _analysis_page(request, p, uow, nct_id, problems=problems, values=values, form=form)
    if isinstance(exc, InvalidInput):
        return _analysis_page(request, p, uow, nct_id, problems=exc.problems, values=values, form=form)
    assert isinstance(exc, Conflict)
    return _analysis_page(request, p, uow, nct_id, problems=[Problem("", str(exc))], values=values, status_code=409)


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
    except (FormInvalid, InvalidInput) as exc:
        return _refused(request, p, uow, nct_id, exc, values)
    return RedirectResponse(f"/ops/analysis?msg=Analysis+run+{run['run_id']}+done", status_code=303)


def _checked(form: Any, name: str = "confirm") -> bool:
    return text(form, name) in ("true", "on", "1", "yes")


@pages.post("/ops/analysis/runs/{run_id}/post", include_in_schema=False)
def analysis_post_form(
    request: Request, run_id: RecordId, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Post a run's results (statistician): the form's confirmation box must be ticked."""
    try:
        command = PostResults(run_id=run_id, confirm=_checked(form))
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc)) from None
    try:
        out = results_posting.post_results(uow, p, nct_id, command)
        uow.commit()
    except (InvalidInput, Conflict) as exc:
        return _refused(request, p, uow, nct_id, exc, typed(form), f"post-{run_id}")
    return RedirectResponse(
        f"/ops/analysis?msg=Results+of+run+{out['run_id']}+posted+as+version+{out['version']}", status_code=303
    )


@pages.post("/ops/analysis/runs/{run_id}/approve", include_in_schema=False)
def analysis_approve_form(
    request: Request, run_id: RecordId, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """The sponsor approves a run's results for posting: the confirmation box must be ticked."""
    try:
        command = validate(
            ApproveResults, {"run_id": run_id, "confirm": _checked(form), "note": text(form, "note") or None}
        )
        out = results_posting.approve_results(uow, p, nct_id, command)
        uow.commit()
    except (FormInvalid, InvalidInput, Conflict) as exc:
        return _refused(request, p, uow, nct_id, exc, typed(form), f"approve-{run_id}")
    return RedirectResponse(f"/ops/analysis?msg=Results+of+run+{out['run_id']}+approved", status_code=303)


@pages.post("/ops/analysis/decisions", include_in_schema=False)
def analysis_decision_form(
    request: Request, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Record a trial decision (early stop, recruitment closed, completed) with its reason."""
    try:
        command = validate(
            RecordTrialDecision,
            {
                "kind": text(form, "kind"),
                "decided_on": text(form, "decided_on") or None,
                "reason": text(form, "reason"),
            },
        )
        results_posting.record_decision(uow, p, nct_id, command)
        uow.commit()
    except (FormInvalid, InvalidInput, Conflict) as exc:
        return _refused(request, p, uow, nct_id, exc, typed(form))
    return RedirectResponse("/ops/analysis?msg=Decision+recorded", status_code=303)


@pages.get("/ops/analysis/runs/{run_id}/report", response_class=HTMLResponse, include_in_schema=False)
def analysis_report_page(run_id: RecordId, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    return _report(uow, p, nct_id, run_id)
