"""Public registry pages and the registry part of the JSON API."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from trialdesk.entrypoints.web.auth import ApiUser
from trialdesk.entrypoints.web.deps import PrincipalDep, TrialDep, UowDep
from trialdesk.entrypoints.web.templating import templates
from trialdesk.services import registry, results_posting

public = APIRouter()
api = APIRouter(dependencies=[ApiUser], tags=["registry"])


class Health(BaseModel):
    status: Literal["ok"]
    trials: int = Field(ge=0, description="trials loaded")


@public.get("/health", tags=["system"])
def health(uow: UowDep) -> Health:
    """Liveness and database check."""
    trials = uow.trials.count()
    return Health(status="ok", trials=trials)


@public.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(
    request: Request, uow: UowDep, default_trial: TrialDep, q: str | None = Query(None, max_length=200)
) -> HTMLResponse:
    from trialdesk.entrypoints.web.auth import resolve

    try:
        found = resolve(request, touch=False)
    except Exception:
        found = None
    trials = registry.list_trials(uow, q)
    links = [
        {"href": f"/trials/{default_trial}", "label": f"Trial page: {default_trial}"},
        {"href": "/ops", "label": "Operations"},
        {"href": "/ops/dashboard", "label": "Enrollment dashboard"},
    ]
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "trials": trials,
            "q": q or "",
            "links": links,
            "user": found[0] if found else None,
            "csrf_token": found[1] if found else None,
            "demo_logins": getattr(request.app.state, "demo_logins", None),
        },
    )


@public.get("/trials/{nct_id}", response_class=HTMLResponse, include_in_schema=False)
def trial_page(request: Request, nct_id: str, uow: UowDep) -> HTMLResponse:
    protocol = registry.get_protocol(uow, nct_id)
    results = registry.posted_results(uow, nct_id)
    related = registry.related_trials(uow, nct_id)
    view = results_posting.registry_view(uow, nct_id)
    return templates.TemplateResponse(
        request,
        "trial.html",
        {"p": protocol, "r": protocol.registry, "results": results, "related": related, "view": view},
    )


@api.get("/api/v1/trials")
def api_list_trials(uow: UowDep, q: str | None = Query(None, max_length=200)) -> list[dict[str, Any]]:
    """Loaded trials, optionally filtered by words that must all appear."""
    return registry.list_trials(uow, q)


@api.get("/api/v1/trials/{nct_id}")
def api_get_trial(nct_id: str, uow: UowDep, p: PrincipalDep) -> dict[str, Any]:
    """The trial's protocol as JSON (registry facts with live site status, and operational rules).

    The randomization scheme's parameters (block sizes, minimization settings) are left out except for the
    statistician and the admin: with the allocation history they would predict the next arm.
    """
    protocol = registry.get_protocol(uow, nct_id)
    return registry.protocol_json_for(p, protocol)


@api.get("/api/v1/trials/{nct_id}/ctgov")
def api_export_trial(nct_id: str, uow: UowDep) -> dict[str, Any]:
    """The trial as ClinicalTrials.gov API v2 study JSON."""
    return registry.export_study(uow, nct_id)
