"""Risk-based monitoring on the web (issue 15): the KRI table (``/ops/monitoring``), the protocol-deviation log
(``/ops/deviations``, its CSV, the record and close forms), a subject's SDV page (``/ops/subjects/{n}/sdv``) and
their JSON API. Thin: the use cases and every permission are :mod:`trialdesk.services.monitoring`'s."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.domain.monitoring import DEVIATION_CATEGORIES, DEVIATION_STATUSES
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
from trialdesk.entrypoints.web.forms import FormInvalid, FormState, check_fields, service_errors, text, typed, validate
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.listing import csv_response
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import monitoring
from trialdesk.services.monitoring import ClearSdv, CloseDeviation, MarkSdv, RecordDeviation
from trialdesk.services.sites import list_sites

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["monitoring"])
pages = APIRouter(dependencies=[PageUser])

TRIAL = "/trials/{nct_id}"
SUBJECT = TRIAL + "/subjects/{subject_number}"


# --- JSON API ----------------------------------------------------------------------------------------------------


@api.get(TRIAL + "/monitoring/kri")
def kri_api(p: PrincipalDep, uow: UowDep, nct_id: str) -> dict[str, Any]:
    """Key risk indicators of the sites the caller may see, each against the trial's rate."""
    return monitoring.kri_report(uow, p, nct_id)


@api.get(TRIAL + "/sites/{site_key}/kri")
def site_kri_api(p: PrincipalDep, uow: UowDep, nct_id: str, site_key: str) -> dict[str, Any]:
    return monitoring.site_kri(uow, p, nct_id, site_key)


@api.get(SUBJECT + "/sdv")
def sdv_api(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str) -> dict[str, Any]:
    return monitoring.subject_sdv(uow, p, nct_id, subject_number)


@api.post(SUBJECT + "/sdv")
def mark_api(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: MarkSdv) -> dict[str, Any]:
    return committed(uow, monitoring.mark_sdv(uow, p, nct_id, subject_number, body))


@api.post(SUBJECT + "/sdv/clear")
def clear_api(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: ClearSdv) -> dict[str, Any]:
    return committed(uow, monitoring.clear_sdv(uow, p, nct_id, subject_number, body))


@api.get(TRIAL + "/deviations")
def deviations_api(
    p: PrincipalDep,
    uow: UowDep,
    nct_id: str,
    site: str | None = None,
    subject: str | None = None,
    status: str | None = None,
    category: str | None = None,
) -> list[dict[str, Any]]:
    return monitoring.list_deviations(
        uow, p, nct_id, site=site, subject_number=subject, status=status, category=category
    )


@api.post(SUBJECT + "/deviations", status_code=201)
def record_api(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: RecordDeviation) -> dict[str, Any]:
    return committed(uow, monitoring.record_deviation(uow, p, nct_id, subject_number, body))


@api.post(SUBJECT + "/deviations/{deviation_id}/close")
def close_api(
    p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, deviation_id: RecordId, body: CloseDeviation
) -> dict[str, Any]:
    return committed(uow, monitoring.close_deviation(uow, p, nct_id, subject_number, deviation_id, body))


# --- pages -------------------------------------------------------------------------------------------------------


@pages.get("/ops/monitoring", response_class=HTMLResponse, include_in_schema=False)
def monitoring_page(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    report = monitoring.kri_report(uow, p, nct_id)
    return templates.TemplateResponse(
        request,
        "monitoring.html",
        ctx(request, nct_id=nct_id, report=report, can_deviations=p.sites_for(Action.SUBJECT_VIEW) != frozenset()),
    )


FILTERS = ("status", "site", "subject", "category")
CSV_COLUMNS = (
    "id",
    "site",
    "subject",
    "category",
    "important",
    "occurred_on",
    "description",
    "found_by",
    "recorded_at",
    "status",
    "capa",
    "closed_at",
    "closed_by",
)


def _filters(request: Request) -> dict[str, str]:
    out = {}
    for name in FILTERS:
        value = request.query_params.get(name, "").strip()
        if len(value) > 200:
            raise InvalidInput("must be at most 200 characters", field=name)
        if value:
            out[name] = value
    return out


def _listed(uow: Any, p: Principal, nct_id: str, filters: dict[str, str]) -> list[dict[str, Any]]:
    return monitoring.list_deviations(
        uow,
        p,
        nct_id,
        site=filters.get("site"),
        subject_number=filters.get("subject"),
        status=filters.get("status"),
        category=filters.get("category"),
    )


def _deviations_page(
    request: Request, p: Principal, uow: Any, nct_id: str, state: FormState | None = None, status_code: int = 200
) -> HTMLResponse:
    filters = _filters(request) if state is None else {}
    rows = _listed(uow, p, nct_id, filters)
    visible = p.sites_for(Action.SUBJECT_VIEW)
    site_choices = [s for s in list_sites(uow, p, nct_id) if visible is None or s["site"] in visible]
    can_close = {r["id"] for r in rows if p.can(Action.DEVIATION_CLOSE, r["site"])}
    sdv_sites = {r["site"] for r in rows if p.can(Action.SDV_MARK, r["site"])}
    return templates.TemplateResponse(
        request,
        "deviations.html",
        ctx(
            request,
            nct_id=nct_id,
            filters=filters,
            rows=rows,
            statuses=DEVIATION_STATUSES,
            categories=DEVIATION_CATEGORIES,
            site_choices=site_choices,
            can_record=p.sites_for(Action.DEVIATION_RECORD) != frozenset(),
            can_close=can_close,
            sdv_sites=sdv_sites,
            state=state,
            csv_url=f"/ops/deviations.csv?{urlencode({**filters, 'trial': nct_id})}",
        ),
        status_code=status_code,
    )


@pages.get("/ops/deviations", response_class=HTMLResponse, include_in_schema=False)
def deviations_page(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    return _deviations_page(request, p, uow, nct_id)


@pages.get("/ops/deviations.csv", include_in_schema=False)
def deviations_csv(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    rows = _listed(uow, p, nct_id, _filters(request))
    return csv_response(CSV_COLUMNS, ([d[c] for c in CSV_COLUMNS] for d in rows), f"{nct_id}-deviations.csv")


def _failed(exc: Exception) -> tuple[dict[str, str], str | None]:
    """The fields in error and the form's message, from a failed form or use case."""
    if isinstance(exc, FormInvalid):
        return exc.errors, check_fields()
    if isinstance(exc, InvalidInput):
        errors = service_errors(exc)
        return errors, check_fields() if errors else str(exc)
    return {}, str(exc)


@pages.post("/ops/deviations", include_in_schema=False)
def record_form(request: Request, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    subject = text(form, "subject").strip()
    try:
        if not subject:
            raise FormInvalid({"subject": _("Required: the subject number.")})
        command = validate(
            RecordDeviation,
            {
                "category": text(form, "category"),
                "description": text(form, "description"),
                "occurred_on": text(form, "occurred_on"),
                "important": text(form, "important") == "on",
            },
        )
        monitoring.record_deviation(uow, p, nct_id, subject, command)
    except (FormInvalid, InvalidInput, Conflict) as exc:
        uow.rollback()
        errors, message = _failed(exc)
        state = FormState("deviation-form", typed(form), errors, message)
        return _deviations_page(request, p, uow, nct_id, state, 422)
    uow.commit()
    return RedirectResponse(f"/ops/deviations?{urlencode({'subject': subject, 'trial': nct_id})}", status_code=303)


@pages.post("/ops/deviations/{deviation_id}/close", include_in_schema=False)
def close_form(
    request: Request, deviation_id: RecordId, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    subject = text(form, "subject").strip()
    try:
        command = validate(CloseDeviation, {"capa": text(form, "capa")})
        monitoring.close_deviation(uow, p, nct_id, subject, deviation_id, command)
    except (FormInvalid, InvalidInput, Conflict) as exc:
        uow.rollback()
        errors, message = _failed(exc)
        state = FormState(f"close-{deviation_id}", typed(form), errors, message)
        return _deviations_page(request, p, uow, nct_id, state, 422)
    uow.commit()
    return RedirectResponse(f"/ops/deviations?{urlencode({'trial': nct_id})}#deviation-{deviation_id}", status_code=303)


def _sdv_page(
    request: Request, p: Principal, uow: Any, nct_id: str, subject_number: str, message: str | None = None
) -> HTMLResponse:
    view = monitoring.subject_sdv(uow, p, nct_id, subject_number)
    return templates.TemplateResponse(
        request,
        "monitoring_sdv.html",
        ctx(request, nct_id=nct_id, view=view, message=message),
        status_code=200 if message is None else 422,
    )


@pages.get("/ops/subjects/{subject_number}/sdv", response_class=HTMLResponse, include_in_schema=False)
def sdv_page(request: Request, subject_number: str, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    return _sdv_page(request, p, uow, nct_id, subject_number)


@pages.post("/ops/subjects/{subject_number}/sdv", include_in_schema=False)
def sdv_form(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Mark (``clear`` absent) or clear (with a reason) one record's verification."""
    values = {"entity_type": text(form, "entity_type"), "entity_id": text(form, "entity_id")}
    try:
        if text(form, "clear"):
            cmd_clear = validate(ClearSdv, {**values, "reason": text(form, "reason")})
            monitoring.clear_sdv(uow, p, nct_id, subject_number, cmd_clear)
        else:
            cmd_mark = validate(MarkSdv, {**values, "version": text(form, "version") or None})
            monitoring.mark_sdv(uow, p, nct_id, subject_number, cmd_mark)
    except (FormInvalid, InvalidInput, Conflict) as exc:
        uow.rollback()
        errors, message = _failed(exc)
        detail = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return _sdv_page(request, p, uow, nct_id, subject_number, detail or message or "")
    uow.commit()
    anchor = f"#sdv-{values['entity_type']}-{values['entity_id']}"
    return RedirectResponse(
        f"/ops/subjects/{subject_number}/sdv?{urlencode({'trial': nct_id})}{anchor}", status_code=303
    )
