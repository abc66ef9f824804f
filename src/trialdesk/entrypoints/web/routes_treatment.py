"""Treatment on the web: calendars (JSON and iCalendar), dose plans, doses administered, edits with a reason for
change, disposition; the subject page's Calendar, Doses and Disposition panels and the site page's Upcoming
visits panel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from trialdesk.adapters.ical import site_calendar_ics, subject_calendar_ics
from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import Conflict, InvalidInput, TrialdeskError, problems_from_pydantic
from trialdesk.domain.schedule import Visit, VisitStatus
from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.entrypoints.web.carried import carried_forward
from trialdesk.entrypoints.web.casebook import date_cell, drug_names
from trialdesk.entrypoints.web.deps import (
    FormDep,
    PagePrincipalDep,
    PrincipalDep,
    QueryDate,
    RecordId,
    TrialDep,
    UowDep,
    committed,
)
from trialdesk.entrypoints.web.forms import FormInvalid, FormState, check_fields, service_errors, text, typed, validate
from trialdesk.entrypoints.web.i18n import day, num
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import N_, label
from trialdesk.entrypoints.web.subject_page import back_to, submit
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import treatment
from trialdesk.services.commands import EditDose, EditDoseForm, PlanDoses, RecordDisposition, RecordDose, RecordDoseForm

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["treatment"])
pages = APIRouter(dependencies=[PageUser])

ICS = "text/calendar; charset=utf-8"
# The calendars answer JSON, or iCalendar with ``?format=ics``: the spec declares both.
CALENDAR_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The visits as JSON, or as iCalendar with `format=ics`",
        "content": {"text/calendar": {"schema": {"type": "string"}}},
    }
}


def _ics_response(data: bytes, filename: str) -> Response:
    return Response(content=data, media_type=ICS, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _calendar_response(
    now: dt.datetime,
    as_of: dt.date | None,
    format: Literal["json", "ics"],
    field: str,
    key: str,
    visits: list[Visit],
    to_ics: Callable[..., bytes],
) -> Response | dict[str, Any]:
    """A subject's or a site's calendar (``field`` names which, ``key`` is its number or id) as iCalendar, its file
    named after ``key``, or as JSON."""
    if format == "ics":
        return _ics_response(to_ics(key, visits, generated_at=now), f"{key}.ics")
    return {field: key, "as_of": (as_of or now.date()).isoformat(), "visits": [treatment.visit_dict(v) for v in visits]}


# ----------------------------------------------------------------------------------------------------------------
# JSON API
# ----------------------------------------------------------------------------------------------------------------


@api.get("/trials/{nct_id}/subjects/{subject_number}/calendar", responses=CALENDAR_RESPONSES, response_model=None)
def api_subject_calendar(
    p: PrincipalDep,
    uow: UowDep,
    nct_id: str,
    subject_number: str,
    as_of: QueryDate = None,
    horizon_days: int = Query(126, ge=0, le=3650),
    format: Literal["json", "ics"] = "json",
) -> Response | dict[str, Any]:
    """A subject's visits with windows and statuses (``?format=ics`` for iCalendar)."""
    visits = treatment.subject_calendar(uow, p, nct_id, subject_number, as_of, horizon_days=horizon_days)
    return _calendar_response(uow.now(), as_of, format, "subject", subject_number, visits, subject_calendar_ics)


@api.get("/trials/{nct_id}/sites/{site_key}/calendar", responses=CALENDAR_RESPONSES, response_model=None)
def api_site_calendar(
    p: PrincipalDep,
    uow: UowDep,
    nct_id: str,
    site_key: str,
    as_of: QueryDate = None,
    horizon_days: int = Query(28, ge=0, le=3650),
    format: Literal["json", "ics"] = "json",
) -> Response | dict[str, Any]:
    """Visits to do at a site: overdue, due, then upcoming within ``horizon_days``."""
    visits = treatment.site_calendar(uow, p, nct_id, site_key, as_of, horizon_days=horizon_days)
    return _calendar_response(uow.now(), as_of, format, "site", site_key, visits, site_calendar_ics)


@api.get("/trials/{nct_id}/subjects/{subject_number}/doses")
def api_doses(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str) -> list[dict[str, Any]]:
    return treatment.list_doses(uow, p, nct_id, subject_number)


@api.get("/trials/{nct_id}/subjects/{subject_number}/doses/plan")
def api_dose_plan(
    p: PrincipalDep,
    uow: UowDep,
    nct_id: str,
    subject_number: str,
    cycle: int,
    weight_kg: float,
    height_cm: float | None = None,
    dose_date: QueryDate = None,
) -> dict[str, Any]:
    """The doses of a cycle from the dose engine with the subject's history, each with formula and inputs."""
    try:
        command = PlanDoses(cycle=cycle, weight_kg=weight_kg, height_cm=height_cm, dose_date=dose_date)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc)) from None
    return treatment.planned_doses(uow, p, nct_id, subject_number, command)


@api.post("/trials/{nct_id}/subjects/{subject_number}/doses", status_code=201)
def api_record_dose(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: RecordDose) -> dict[str, Any]:
    return committed(uow, treatment.record_dose(uow, p, nct_id, subject_number, body))


@api.patch("/trials/{nct_id}/subjects/{subject_number}/doses/{dose_id}")
def api_update_dose(
    p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, dose_id: RecordId, body: EditDose
) -> dict[str, Any]:
    return committed(uow, treatment.update_dose(uow, p, nct_id, subject_number, dose_id, body))


@api.get("/trials/{nct_id}/subjects/{subject_number}/dispositions")
def api_dispositions(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str) -> list[dict[str, Any]]:
    return treatment.list_dispositions(uow, p, nct_id, subject_number)


@api.post("/trials/{nct_id}/subjects/{subject_number}/dispositions", status_code=201)
def api_record_disposition(
    p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: RecordDisposition
) -> dict[str, Any]:
    return committed(uow, treatment.record_disposition(uow, p, nct_id, subject_number, body))


# ----------------------------------------------------------------------------------------------------------------
# Pages
# ----------------------------------------------------------------------------------------------------------------


@pages.get("/ops/subjects/{subject_number}/calendar.ics", include_in_schema=False)
def page_subject_ics(p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep, subject_number: str) -> Response:
    visits = treatment.subject_calendar(uow, p, nct_id, subject_number)
    now = uow.now()
    return _ics_response(subject_calendar_ics(subject_number, visits, generated_at=now), f"{subject_number}.ics")


@pages.get("/ops/sites/{site_key}/calendar.ics", include_in_schema=False)
def page_site_ics(p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep, site_key: str) -> Response:
    visits = treatment.site_calendar(uow, p, nct_id, site_key)
    now = uow.now()
    return _ics_response(site_calendar_ics(site_key, visits, generated_at=now), f"{site_key}.ics")


def _form_plan(uow: Any, p: Principal, nct_id: str, subject_number: str, values: dict[str, str]) -> dict[str, Any]:
    """Plan for the dose page; problems are shown on the page rather than raised."""
    try:
        step = validate(PlanDoses, {**values, "cycle": values.get("cycle") or "1"})
    except FormInvalid as exc:
        return {"plan": None, "plan_error": None, "errors": exc.errors}
    try:
        return {"plan": treatment.planned_doses(uow, p, nct_id, subject_number, step), "plan_error": None, "errors": {}}
    except (InvalidInput, Conflict) as exc:
        errors = service_errors(exc) if isinstance(exc, InvalidInput) else {}
        return {"plan": None, "plan_error": exc.message, "errors": errors}


@pages.get("/ops/subjects/{subject_number}/doses/new", response_class=HTMLResponse, include_in_schema=False)
def page_dose_new(
    request: Request,
    subject_number: str,
    p: PagePrincipalDep,
    uow: UowDep,
    nct_id: TrialDep,
    cycle: str = "",
    weight_kg: str = "",
    height_cm: str = "",
    dose_date: str = "",
) -> HTMLResponse:
    """Step 1: cycle, weight and date -> the plan; step 2: the form pre-filled with the planned doses. Step 1's
    values that fail validation come back (422) with the message beside each field."""
    from trialdesk.services.subjects import get_subject

    values = {"cycle": cycle, "weight_kg": weight_kg, "height_cm": height_cm, "dose_date": dose_date}
    _, subject = get_subject(uow, p, nct_id, subject_number, Action.DATA_ENTER)
    carried = carried_forward(uow, p, nct_id, subject)
    planned: dict[str, Any] = {"plan": None, "plan_error": None, "errors": {}}
    if weight_kg:
        planned = _form_plan(uow, p, nct_id, subject_number, values)
    else:  # the form opened without a weight: the carried-forward weight (and height) pre-filled, to check
        values["weight_kg"] = carried["weight_kg"]
        if subject.height_cm is None:
            values["height_cm"] = height_cm or carried["height_cm"]
    invalid = bool(planned["errors"]) and planned["plan_error"] is None
    return templates.TemplateResponse(
        request,
        "treatment_dose.html",
        ctx(request, subject=subject, values=values, **planned, error=None, entered={}, carried=carried),
        status_code=422 if invalid else 200,
    )


#: The dose form's inputs of one drug's row, named ``<field>__<drug>``.
ROW_FIELDS = frozenset({"actual_mg", "reduction_level", "reduction_reason", "interrupted", "override_reason", "drug"})


def _drug_entries(form: FormData, drugs: list[str]) -> list[dict[str, Any]]:
    out = []
    for drug in drugs:
        if text(form, f"give__{drug}") != "yes":
            continue
        out.append(
            {
                "drug": drug,
                "actual_mg": text(form, f"actual_mg__{drug}"),
                "reduction_level": text(form, f"reduction_level__{drug}") or 0,
                "reduction_reason": text(form, f"reduction_reason__{drug}") or None,
                "interrupted": text(form, f"interrupted__{drug}") == "yes",
                "override_reason": text(form, f"override_reason__{drug}") or None,
            }
        )
    return out


def _dose_commands(values: dict[str, str], delay_reason: str, entries: list[dict[str, Any]]) -> list[RecordDoseForm]:
    """One :class:`RecordDoseForm` per drug given; raises :class:`FormInvalid` with the errors of every row."""
    commands: list[RecordDoseForm] = []
    errors: dict[str, str] = {}
    for e in entries:
        try:
            commands.append(validate(RecordDoseForm, {**values, "delay_reason": delay_reason, **e}, suffix=""))
        except FormInvalid as exc:
            for name, message in exc.errors.items():
                errors.setdefault(f"{name}__{e['drug']}" if name in ROW_FIELDS else name, message)
    if errors:
        raise FormInvalid(errors)
    return commands


@pages.post("/ops/subjects/{subject_number}/doses", response_class=HTMLResponse, include_in_schema=False)
def page_dose_record(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Record the drugs of one cycle given on one day, all or nothing. Values that fail validation, or that the
    use case refuses, come back (422) with the message beside the field and everything typed kept."""
    from trialdesk.services.subjects import get_subject

    values = {k: str(form.get(k) or "") for k in ("cycle", "weight_kg", "height_cm", "dose_date")}
    delay_reason = str(form.get("delay_reason") or "")
    drugs = [d for d in str(form.get("drugs") or "").split(",") if d]
    entries = _drug_entries(form, drugs)
    error, errors = None, {}
    drug = ""
    try:
        if not entries:
            raise InvalidInput("tick at least one drug given", field="drugs")
        for command in _dose_commands(values, delay_reason, entries):
            drug = command.drug
            treatment.record_dose(uow, p, nct_id, subject_number, command)
        uow.commit()
    except FormInvalid as exc:
        error, errors = check_fields(), exc.errors
    except (InvalidInput, Conflict) as exc:
        uow.rollback()
        error = exc.message
        if isinstance(exc, InvalidInput):
            errors = service_errors(exc, suffix=f"__{drug}", row_fields=ROW_FIELDS)
            if errors and all(p.path for p in exc.problems):  # each message is beside its field
                error = check_fields()
    if error is None:
        return back_to(subject_number, "doses")
    _, subject = get_subject(uow, p, nct_id, subject_number, Action.DATA_ENTER)
    planned = _form_plan(uow, p, nct_id, subject_number, values)
    entered = {e["drug"]: e for e in entries}
    carried = carried_forward(uow, p, nct_id, subject)
    return templates.TemplateResponse(
        request,
        "treatment_dose.html",
        ctx(
            request,
            subject=subject,
            values=values,
            **{**planned, "errors": {**planned["errors"], **errors}},
            error=error,
            entered=entered,
            delay_reason=delay_reason,
            carried=carried,
        ),
        status_code=422,
    )


def _dose_edit_field(path: str) -> str:
    """The correction form's input of a use case's problem: the reason, the dose, else the new value."""
    return path if path in ("reason", "dose_id", "field") else "value"


@pages.post("/ops/subjects/{subject_number}/doses/edit", include_in_schema=False)
def page_dose_edit(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Change one field of a recorded dose, with a reason for change; refused input comes back beside its field."""

    def change() -> None:
        command = validate(EditDoseForm, {k: text(form, k) for k in ("dose_id", "field", "value", "reason")})
        treatment.update_dose(uow, p, nct_id, subject_number, command.dose_id, command.command())

    back = submit(
        request,
        uow,
        p,
        nct_id,
        subject_number,
        FormState("dose-edit-form", typed(form)),
        change,
        rename=_dose_edit_field,
    )
    return back or back_to(subject_number, "doses")


def _disposition_field(path: str) -> str:
    """The disposition form's input of a command field (``details.eot_visit_date`` is ``eot_visit_date``)."""
    return "eot_visit_date" if path.startswith("details") else path.split(".")[0]


@pages.post("/ops/subjects/{subject_number}/dispositions", include_in_schema=False)
def page_disposition(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """End of treatment, end of study, death or a new therapy; refused input comes back beside its field."""

    def record() -> None:
        details = {"eot_visit_date": text(form, "eot_visit_date")} if text(form, "eot_visit_date") else {}
        command = validate(
            RecordDisposition,
            {
                "kind": text(form, "kind"),
                "event_date": text(form, "event_date"),
                "reason": text(form, "reason"),
                "details": details,
            },
            rename=_disposition_field,
        )
        treatment.record_disposition(uow, p, nct_id, subject_number, command)

    back = submit(
        request,
        uow,
        p,
        nct_id,
        subject_number,
        FormState("disposition-form", typed(form)),
        record,
        rename=_disposition_field,
    )
    return back or back_to(subject_number, "disposition")


# ----------------------------------------------------------------------------------------------------------------
# Panels
# ----------------------------------------------------------------------------------------------------------------

_STATUS_CLASS = {
    VisitStatus.DONE: "ok",
    VisitStatus.DUE: "warn",
    VisitStatus.OVERDUE: "bad",
    VisitStatus.MISSED: "bad",
    VisitStatus.UPCOMING: "meta",
}


def _randomized(uow: Any, subject: Any) -> bool:
    return uow.allocations.for_subject(subject.id) is not None


def calendar_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any] | None:
    if not _randomized(uow, subject):
        return None
    try:
        visits = treatment.subject_calendar(uow, principal, nct_id, subject.subject_number)
    except TrialdeskError as exc:
        return {"title": N_("Calendar"), "empty": _("No calendar: %(why)s", why=exc.message)}
    html = templates.env.get_template("treatment_calendar_panel.html").render(
        visits=visits, css=_STATUS_CLASS, subject=subject
    )
    return {"title": N_("Calendar"), "html": html}


def doses_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any] | None:
    if not _randomized(uow, subject):
        return None
    doses = treatment.list_doses(uow, principal, nct_id, subject.subject_number)
    # mg and kg to one decimal (a dose is prescribed to 0.1 mg), dates as people read them, codes as labels, drugs
    # by their names
    names = drug_names(uow, nct_id)
    rows = [
        [
            str(d["cycle"]),
            names.get(d["drug"], d["drug"]),
            date_cell(d["dose_date"]),
            num(d["planned_mg"], 1),
            num(d["actual_mg"], 1),
            num(d["weight_kg"], 1) if d["weight_kg"] is not None else "",
            (_("reload") if d["reload"] else _("loading")) if d["loading"] else "",
            f"{d['delay_days']:+d}" + (f" ({d['delay_reason']})" if d["delay_reason"] else ""),
            str(d["reduction_level"]) + (f" ({d['reduction_reason']})" if d["reduction_reason"] else ""),
            label("yes") if d["interrupted"] else "",
            d["override_reason"] or "",
            f"#{d['id']}",
        ]
        for d in doses
    ]
    can_enter = principal.can(Action.DATA_ENTER, subject.site_key)
    last_cycle = max((d["cycle"] for d in doses), default=0)
    last_weight = doses[-1]["weight_kg"] if doses else None
    panel: dict[str, Any] = {
        "title": N_("Doses"),
        "columns": [
            N_("Cycle"),
            N_("Drug"),
            N_("Date"),
            N_("Planned mg"),
            N_("Given mg"),
            N_("Weight kg"),
            N_("Loading"),
            N_("Delay (days)"),
            N_("Dose level"),
            N_("Interrupted"),
            N_("Override"),
            N_("Id"),
        ],
        "rows": rows,
        "empty": N_("No dose recorded yet."),
    }
    if can_enter:
        panel["forms"] = ["treatment_dose_panel_form.html"]
        panel["next_cycle"] = last_cycle + 1
        carried = carried_forward(uow, principal, nct_id, subject)
        panel["last_weight"] = carried["weight_kg"] or (f"{float(last_weight):g}" if last_weight is not None else "")
        panel["weight_source"] = carried["weight_source"]
        panel["needs_height"] = subject.height_cm is None
        panel["carried_height"] = carried["height_cm"]
        panel["height_source"] = carried["height_source"]
        panel["threshold_pct"] = carried["threshold_pct"]
        panel["dose_ids"] = [d["id"] for d in doses]
        panel["editable"] = sorted(treatment.DOSE_EDITABLE_FIELDS)
    return panel


def disposition_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any] | None:
    if not _randomized(uow, subject):
        return None
    rows = [
        [
            label(d["kind"]),
            date_cell(d["event_date"]),
            _(d["reason"]) if d["reason"] else "",  # free text; the form's suggested reasons are translated
            ", ".join(f"{label(k)}: {day(v) if k.endswith('_date') else v}" for k, v in d["details"].items()),
        ]
        for d in treatment.list_dispositions(uow, principal, nct_id, subject.subject_number)
    ]
    panel: dict[str, Any] = {
        "title": N_("Disposition"),
        "columns": [N_("Event"), N_("Date"), N_("Reason / cause / therapy"), N_("Details")],
        "rows": rows,
        "empty": N_("On study; no disposition event recorded."),
    }
    if principal.can(Action.DATA_ENTER, subject.site_key):
        panel["forms"] = ["treatment_disposition_form.html"]
        panel["kinds"] = treatment.DISPOSITION_KINDS
        panel["eot_reasons"] = treatment.END_OF_TREATMENT_REASONS
        panel["eos_reasons"] = treatment.END_OF_STUDY_REASONS
    return panel


def upcoming_visits_panel(uow: Any, principal: Principal, nct_id: str, site_key: str) -> dict[str, Any] | None:
    if not principal.can(Action.SUBJECT_VIEW, site_key):
        return None
    try:
        visits = treatment.site_calendar(uow, principal, nct_id, site_key)
    except TrialdeskError:
        return None
    rows = [
        [
            {"href": f"/ops/subjects/{v.subject_id}", "text": v.subject_id},
            v.label,
            v.status.value.upper(),
            v.planned.isoformat(),
            _("%(start)s to %(end)s", start=day(v.window_start), end=day(v.window_end)),
        ]
        for v in visits
    ]
    return {
        "title": N_("Upcoming visits"),
        "columns": [N_("Subject"), N_("Visit"), N_("Status"), N_("Planned"), N_("Window")],
        "rows": rows,
        "empty": N_("No visit due in the next 4 weeks."),
        "actions": [{"href": f"/ops/sites/{site_key}/calendar.ics", "label": N_("Download calendar (.ics)")}],
    }
