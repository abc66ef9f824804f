"""Randomization on the web: the JSON API, the randomize page (explicit confirmation), the allocation result page,
the statistician's page (commitment, balance by arm x stratum x site, list export, verify) and the subject panel.

Nothing here lists slots or tells anyone but the statistician anything about unallocated assignments.
"""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound
from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.entrypoints.web.deps import FormDep, PagePrincipalDep, PrincipalDep, TrialDep, UowDep, committed
from trialdesk.entrypoints.web.forms import CHECK_FIELDS, FormInvalid, service_errors, text, typed, validate
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import N_
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import randomization as rz
from trialdesk.services.commands import FlagRandomizedInError, Randomize

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["randomization"])
pages = APIRouter(dependencies=[PageUser])


def _seed(uow: Any, principal: Principal, nct_id: str) -> bytes:
    """The list's seed, through the unit of work's seed port (the one place seeds load from)."""
    info = rz.list_info(uow, principal, nct_id)
    if info is None:
        raise Conflict(f"{nct_id} has no randomization list")
    seed: bytes = uow.ports.seeds.store().load(nct_id, info["seed_check"])
    return seed


# ----------------------------------------------------------------------------------------------------------------
# JSON API
# ----------------------------------------------------------------------------------------------------------------


@api.post("/trials/{nct_id}/subjects/{subject_number}/randomization")
def api_randomize(nct_id: str, subject_number: str, body: Randomize, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Randomize an eligible subject (coordinator or investigator at the subject's site)."""
    return committed(uow, rz.randomize_subject(uow, p, nct_id, subject_number, body))


@api.get("/trials/{nct_id}/subjects/{subject_number}/randomization")
def api_allocation(nct_id: str, subject_number: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """The subject's allocation; 404 before randomization."""
    out = rz.get_allocation(uow, p, nct_id, subject_number)
    if out is None:
        raise NotFound(f"subject {subject_number} is not randomized")
    return out


@api.post("/trials/{nct_id}/subjects/{subject_number}/randomization/in-error")
def api_in_error(
    nct_id: str, subject_number: str, body: FlagRandomizedInError, p: PrincipalDep, uow: UowDep
) -> dict[str, Any]:
    """Flag a subject as randomized in error; the slot and number stay used."""
    return committed(uow, rz.flag_randomized_in_error(uow, p, nct_id, subject_number, body))


@api.get("/trials/{nct_id}/randomization")
def api_list_info(nct_id: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Statistician: the list's status and go-live commitment (no slots)."""
    out = rz.list_info(uow, p, nct_id)
    if out is None:
        raise NotFound(f"{nct_id} has no randomization list")
    out.pop("seed_check", None)
    return out


@api.get("/trials/{nct_id}/randomization/balance")
def api_balance(nct_id: str, p: PrincipalDep, uow: UowDep) -> list[dict[str, Any]]:
    """Statistician: arm counts by stratum x site with margins."""
    return rz.balance(uow, p, nct_id)


@api.post("/trials/{nct_id}/randomization/export")
def api_export(nct_id: str, p: PrincipalDep, uow: UowDep) -> list[dict[str, Any]]:
    """Statistician: the whole list in clear (audited)."""
    return committed(uow, rz.export_list(uow, p, nct_id, _seed(uow, p, nct_id)))


@api.post("/trials/{nct_id}/randomization/verify")
def api_verify(nct_id: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Statistician: regenerate the list from the seed and check the commitment and every allocation."""
    return committed(uow, rz.verify_list(uow, p, nct_id, _seed(uow, p, nct_id)))


# ----------------------------------------------------------------------------------------------------------------
# Pages
# ----------------------------------------------------------------------------------------------------------------


@pages.get("/ops/subjects/{subject_number}/randomize", response_class=HTMLResponse, include_in_schema=False)
def randomize_page(
    request: Request, subject_number: str, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> HTMLResponse:
    return _randomize_response(request, uow, p, nct_id, subject_number)


def _randomize_response(
    request: Request,
    uow: Any,
    p: Principal,
    nct_id: str,
    subject_number: str,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The randomize page with the allocation preview: blank, or given back with the submitted values and the
    messages (a fresh idempotency key unless the form carried one)."""
    values = values or {}
    return templates.TemplateResponse(
        request,
        "randomize.html",
        ctx(
            request,
            subject_number=subject_number,
            preview=rz.preview_randomization(uow, p, nct_id, subject_number),
            client_key=values.get("client_key") or secrets.token_urlsafe(16),
            nct_id=nct_id,
            error=error,
            errors=errors or {},
            values=values,
        ),
        status_code=status_code,
    )


UNCONFIRMED = N_("Tick the confirmation box to randomize this subject.")


@pages.post("/ops/subjects/{subject_number}/randomize", include_in_schema=False)
def randomize_submit(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Randomize after the explicit confirmation. Without it, or with a date the :class:`Randomize` command or
    the use case refuses, the page comes back (422) with the message beside the field; a subject the use case
    cannot randomize now (not eligible, site not recruiting) is a conflict (409)."""
    values = typed(form)
    error, errors, status = None, {}, 422
    try:
        confirmed = {"confirm": True} if text(form, "confirm") == "yes" else {}
        command = validate(
            Randomize,
            {**confirmed, "client_key": text(form, "client_key"), "randomized_on": text(form, "randomized_on")},
        )
        rz.randomize_subject(uow, p, nct_id, subject_number, command)
        uow.commit()
    except FormInvalid as exc:
        errors = {**exc.errors, **({"confirm": _(UNCONFIRMED)} if "confirm" in exc.errors else {})}
        error = _(UNCONFIRMED) if "confirm" in errors else CHECK_FIELDS
    except InvalidInput as exc:
        uow.rollback()
        error, errors = exc.message, service_errors(exc)
    except Conflict as exc:
        uow.rollback()
        error, status = exc.message, 409
    if error is None:
        return RedirectResponse(f"/ops/subjects/{subject_number}/randomization", status_code=303)
    return _randomize_response(
        request, uow, p, nct_id, subject_number, values=values, error=error, errors=errors, status_code=status
    )


@pages.get("/ops/subjects/{subject_number}/randomization", response_class=HTMLResponse, include_in_schema=False)
def allocation_page(
    request: Request, subject_number: str, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    allocation = rz.get_allocation(uow, p, nct_id, subject_number)
    if allocation is None:
        return RedirectResponse(f"/ops/subjects/{subject_number}/randomize", status_code=303)
    return templates.TemplateResponse(
        request, "randomization_result.html", ctx(request, subject_number=subject_number, a=allocation, nct_id=nct_id)
    )


def _statistician_context(uow: Any, p: Principal, nct_id: str) -> dict[str, Any]:
    info = rz.list_info(uow, p, nct_id)
    rows = rz.balance(uow, p, nct_id)
    from trialdesk.services.registry import get_protocol

    spec = get_protocol(uow, nct_id, live_sites=False).operations.randomization
    arms = [(a.id, a.label) for a in spec.arms] if spec else []

    # the balance table names each site by its facility, not its key
    return {"info": info, "balance": rows, "arms": arms}


@pages.get("/ops/randomization", response_class=HTMLResponse, include_in_schema=False)
def statistician_page(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    values = _statistician_context(uow, p, nct_id)
    return templates.TemplateResponse(
        request, "randomization_list.html", ctx(request, nct_id=nct_id, report=None, **values)
    )


@pages.post("/ops/randomization/verify", response_class=HTMLResponse, include_in_schema=False)
def statistician_verify(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    report = rz.verify_list(uow, p, nct_id, _seed(uow, p, nct_id))
    uow.commit()
    values = _statistician_context(uow, p, nct_id)
    return templates.TemplateResponse(
        request, "randomization_list.html", ctx(request, nct_id=nct_id, report=report, **values)
    )


@pages.post("/ops/randomization/export.csv", include_in_schema=False)
def statistician_export(p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    rows = rz.export_list(uow, p, nct_id, _seed(uow, p, nct_id))
    uow.commit()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["stratum"])
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{nct_id}-randomization-list.csv"',
            "Cache-Control": "no-store",
        },
    )


# ----------------------------------------------------------------------------------------------------------------
# Subject panel
# ----------------------------------------------------------------------------------------------------------------


def randomization_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any] | None:
    allocation = rz.get_allocation(uow, principal, nct_id, subject.subject_number)
    if allocation is not None:
        flag = _("randomized in error: %(reason)s", reason=allocation["error_reason"]) if allocation["in_error"] else ""
        return {
            "title": _("Randomization"),
            "columns": [_("Randomization number"), _("Arm"), _("Randomized on"), _("Note")],
            "rows": [
                [
                    {
                        "href": f"/ops/subjects/{subject.subject_number}/randomization",
                        "text": allocation["randomization_number"],
                    },
                    allocation["arm_label"] or allocation["arm"],
                    allocation["randomized_on"],
                    flag,
                ]
            ],
        }
    actions = []
    if principal.can(Action.RANDOMIZE, subject.site_key):
        actions.append({"href": f"/ops/subjects/{subject.subject_number}/randomize", "label": _("Randomize…")})
    return {"title": _("Randomization"), "rows": [], "actions": actions, "empty": _("Not randomized.")}
