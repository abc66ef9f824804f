"""Public registry pages and the registry part of the JSON API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from trialdesk.entrypoints.web.app import templates
from trialdesk.services import registry

router = APIRouter()


def _uow(request: Request, actor: str = "web"):
    return request.app.state.td.uow(actor)


@router.get("/health", tags=["system"])
def health(request: Request) -> dict[str, Any]:
    """Liveness and database check."""
    with _uow(request) as uow:
        trials = uow.trials.count()
    return {"status": "ok", "trials": trials}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, q: str | None = Query(None, max_length=200)):
    with _uow(request) as uow:
        trials = registry.list_trials(uow, q)
    return templates.TemplateResponse(request, "index.html", {"trials": trials, "q": q or ""})


@router.get("/trials/{nct_id}", response_class=HTMLResponse, include_in_schema=False)
def trial_page(request: Request, nct_id: str):
    with _uow(request) as uow:
        protocol = registry.get_protocol(uow, nct_id)
        results = registry.posted_results(uow, nct_id)
        related = registry.related_trials(uow, nct_id)
    return templates.TemplateResponse(request, "trial.html", {
        "p": protocol, "r": protocol.registry, "results": results, "related": related})


@router.get("/api/v1/trials", tags=["registry"])
def api_list_trials(request: Request, q: str | None = Query(None, max_length=200)) -> list[dict[str, Any]]:
    """Loaded trials, optionally filtered by words that must all appear."""
    with _uow(request) as uow:
        return registry.list_trials(uow, q)


@router.get("/api/v1/trials/{nct_id}", tags=["registry"])
def api_get_trial(request: Request, nct_id: str) -> dict[str, Any]:
    """The trial's protocol as JSON (registry facts with live site status, and operational rules)."""
    with _uow(request) as uow:
        protocol = registry.get_protocol(uow, nct_id)
    return protocol.model_dump(mode="json", by_alias=True, exclude_none=True)


@router.get("/api/v1/trials/{nct_id}/ctgov", tags=["registry"])
def api_export_trial(request: Request, nct_id: str) -> dict[str, Any]:
    """The trial as ClinicalTrials.gov API v2 study JSON."""
    with _uow(request) as uow:
        return registry.export_study(uow, nct_id)
