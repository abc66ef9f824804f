"""Data queries on the web: the JSON API (list, raise, answer/close/re-open), the casebook's query forms (raised by
clicking the value a query is about, or on any record with the free-form form) and the site panel "Open queries".
Split from :mod:`.routes_capture`; the URLs are unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import InvalidInput, NotFound
from trialdesk.entrypoints.web import casebook, subject_page
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
from trialdesk.entrypoints.web.forms import CHECK_FIELDS, FormInvalid, FormState, service_errors, text, typed, validate
from trialdesk.entrypoints.web.i18n import day
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import N_, label
from trialdesk.entrypoints.web.subject_page import back_to, casebook_url, submit
from trialdesk.services import queries
from trialdesk.services.commands import QueryStep, QueryStepForm, RaiseQuery, RaiseQueryForm

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["capture"])
pages = APIRouter(dependencies=[PageUser])

SUBJECT = "/trials/{nct_id}/subjects/{subject_number}"

QUERY_STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "answer": queries.answer_query,
    "close": queries.close_query,
    "reopen": queries.reopen_query,
}


# --- JSON API ----------------------------------------------------------------------------------------------------


@api.get(SUBJECT + "/queries")
def subject_queries(
    p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, status: str | None = None
) -> list[dict[str, Any]]:
    return queries.list_queries(uow, p, nct_id, subject_number=subject_number, status=status)


@api.post(SUBJECT + "/queries", status_code=201)
def raise_query(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: RaiseQuery) -> dict[str, Any]:
    return committed(uow, queries.raise_query(uow, p, nct_id, subject_number, body))


@api.get("/trials/{nct_id}/queries")
def trial_queries(
    p: PrincipalDep, uow: UowDep, nct_id: str, site: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    return queries.list_queries(uow, p, nct_id, site=site, status=status)


@api.post("/trials/{nct_id}/queries/{query_id}/{step}")
def query_step(
    p: PrincipalDep, uow: UowDep, nct_id: str, query_id: RecordId, step: str, body: QueryStep
) -> dict[str, Any]:
    """``answer`` (site staff; text = the answer), ``close`` (monitor; text = optional note) or ``reopen``
    (monitor; text = reason)."""
    if step not in QUERY_STEPS:
        raise InvalidInput(f"unknown step {step!r}; one of answer, close, reopen", field="step")
    return committed(uow, QUERY_STEPS[step](uow, p, nct_id, query_id, body))


# --- page forms --------------------------------------------------------------------------------------------------


@pages.post("/ops/subjects/{subject_number}/queries", include_in_schema=False)
def raise_form(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    target = text(form, "target").strip()

    def record() -> None:
        if target:
            # raised by clicking a value: the target names it; a field the casebook does not offer is refused
            parsed = casebook.parse_target(target)
            if parsed is None:
                raise FormInvalid({"target": _("not a value a query may be raised about: %(t)s", t=target)})
            entity_type, entity_id, field = parsed
        else:
            entity_type = text(form, "entity_type") or "subject"
            entity_id = text(form, "entity_id").strip() or subject_number
            field = text(form, "field")
        command = validate(
            RaiseQueryForm,
            {"entity_type": entity_type, "entity_id": entity_id, "field": field, "message": text(form, "message")},
        )
        queries.raise_query(uow, p, nct_id, subject_number, command)

    # raised by clicking a value, a refusal of the record or field shows beside the value (the "target")
    rename = (lambda path: path if path == "message" else "target") if target else None
    state = FormState("query-raise-form", typed(form))
    back = submit(request, uow, p, nct_id, subject_number, state, record, rename=rename)
    return back or back_to(subject_number, "queries")


def _query_subject(uow: Any, p: Principal, nct_id: str, query_id: int) -> str:
    """The subject of a query the user may see (as the use cases find it: not found otherwise)."""
    for q in queries.list_queries(uow, p, nct_id):
        if q["id"] == query_id:
            return str(q["subject"])
    raise NotFound(f"no query {query_id} in {nct_id}")


@pages.post("/ops/queries/{query_id}/{step}", include_in_schema=False)
def query_form(
    request: Request, query_id: RecordId, step: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Answer, close or re-open a query; an answer or a reason left blank comes back beside the query's input."""
    if step not in QUERY_STEPS:
        raise InvalidInput(f"unknown step {step!r}", field="step")
    try:
        command = validate(QueryStep if step == "close" else QueryStepForm, {"text": text(form, "text")})
        out = committed(uow, QUERY_STEPS[step](uow, p, nct_id, query_id, command))
    except (FormInvalid, InvalidInput) as exc:
        uow.rollback()
        if isinstance(exc, FormInvalid):
            errors, message = exc.errors, CHECK_FIELDS
        else:
            errors, message = service_errors(exc, rename=lambda _: "text"), exc.message
        state = FormState(f"query-{query_id}-{step}", typed(form), errors, message)
        return subject_page.render(
            request, uow, p, nct_id, _query_subject(uow, p, nct_id, query_id), form_state=state, status_code=422
        )
    return back_to(out["subject"], "queries")


# --- panels ------------------------------------------------------------------------------------------------------


def queries_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any]:
    found = queries.list_queries(uow, principal, nct_id, subject_number=subject.subject_number)
    items = [(str(q["entity_type"]), str(q["entity_id"]), str(q["field"])) for q in found]
    about = casebook.about_many(uow, principal, nct_id, subject, items)
    return {
        "title": N_("Queries"),
        "columns": [N_("#"), N_("On"), N_("Message"), N_("Status"), N_("Raised"), N_("Last step")],
        "rows": [
            [
                q["id"],
                on,
                q["message"],
                label(q["status"]),
                _("%(who)s, %(day)s", who=q["raised_by"], day=day(q["raised_at"])),
                f"{label(q['history'][-1]['action'])}: {q['history'][-1]['text'] or ''}",
            ]
            for q, on in zip(found, about)
        ],
        "empty": N_("No queries."),
        "forms": ["capture_queries.html"],
        "queries": found,
        "can_answer": principal.can(Action.QUERY_ANSWER, subject.site_key),
        "can_close": principal.can(Action.QUERY_CLOSE, subject.site_key),
        "can_raise": principal.can(Action.QUERY_RAISE, subject.site_key),
        "subject_number": subject.subject_number,
    }


def site_queries_panel(uow: Any, principal: Principal, nct_id: str, site_key: str) -> dict[str, Any] | None:
    if not principal.can(Action.SUBJECT_VIEW, site_key):
        return None
    found = queries.list_queries(uow, principal, nct_id, site=site_key)
    found = [q for q in found if q["status"] != "closed"]
    return {
        "title": N_("Open queries"),
        "columns": [N_("#"), N_("Subject"), N_("On"), N_("Message"), N_("Status"), N_("Since")],
        "rows": [
            [
                q["id"],
                {"href": casebook_url(q["subject"], "queries"), "text": q["subject"]},
                f"{label(q['entity_type'])} · {q['field']}",
                q["message"],
                q["status"],
                q["raised_at"][:10],
            ]
            for q in found
        ],
        "empty": N_("No open queries."),
    }
