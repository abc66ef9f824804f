"""The subject page, and its forms coming back to it when their input is refused.

Every form on the subject page (adverse event, tumour assessment, queries, signature, disposition, dose
correction) posts to its own route; on success the route redirects to the page's panel. When the form's command
model or the use case refuses the input, the route answers the subject page itself (422) with that form's
:class:`~trialdesk.entrypoints.web.forms.FormState`: the form open, what was typed in its inputs and each message
beside its field. The form templates read ``form_state`` when its ``form`` is their element id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from trialdesk.domain.access import Principal
from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.web.forms import (
    CHECK_FIELDS,
    FormInvalid,
    FormState,
    Rename,
    field_label,
    human_text,
    readable,
    service_errors,
)
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import LABELS, N_, label
from trialdesk.entrypoints.web.templating import ctx, templates

#: The casebook's tabs, in the order site staff work: (slug, title). Each is a URL, ``?tab=<slug>``.
TABS: list[tuple[str, str]] = [
    ("summary", N_("Summary")),
    ("screening", N_("Screening")),
    ("treatment", N_("Treatment")),
    ("ae", N_("Adverse events")),
    ("tumour", N_("Tumour assessments")),
    ("disposition", N_("Disposition")),
    ("queries", N_("Queries")),
    ("signature", N_("Signature")),
    ("audit", N_("Audit")),
]
TAB_SLUGS = frozenset(slug for slug, _ in TABS)

#: The tab each panel of the subject page lives on (panels.SUBJECT_PANELS names them).
PANEL_TAB: dict[str, str] = {
    "summary": "summary",
    "randomization": "summary",
    "calendar": "treatment",
    "doses": "treatment",
    "adverse_events": "ae",
    "tumour_assessments": "tumour",
    "queries": "queries",
    "disposition": "disposition",
    "signature": "signature",
    "screenings": "screening",
    "audit": "audit",
}

#: The tab a form comes back on when refused (its element id, or the start of it).
FORM_TAB: dict[str, str] = {
    "ae-form": "ae",
    "tumor-form": "tumour",
    "query-": "queries",
    "sign-form": "signature",
    "dose-": "treatment",
    "disposition-form": "disposition",
}


def casebook_url(subject_number: str, panel: str) -> str:
    """The casebook tab that shows ``panel``, scrolled to it: ``/ops/subjects/12-0010?tab=ae#panel-adverse_events``."""
    return f"/ops/subjects/{quote(subject_number)}?tab={PANEL_TAB.get(panel, 'summary')}#panel-{panel}"


def back_to(subject_number: str, panel: str) -> RedirectResponse:
    """A form's redirect after success: the tab of its panel (303, so a reload does not post again)."""
    return RedirectResponse(casebook_url(subject_number, panel), status_code=303)


def tab_of(request: Request, form_state: FormState | None) -> str:
    """The tab to show: a refused form's own tab, else ``?tab=`` (unknown or absent: the summary)."""
    if form_state is not None:
        for prefix, tab in FORM_TAB.items():
            if form_state.form.startswith(prefix):
                return tab
    tab = request.query_params.get("tab", "")
    return tab if tab in TAB_SLUGS else "summary"


def render(
    request: Request,
    uow: Any,
    principal: Principal,
    nct_id: str,
    subject_number: str,
    *,
    form_state: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The casebook on one tab (``?tab=``; a refused form's own tab) with that tab's panels (``form_state``: the
    form that comes back, if any). ``?raise=<target>`` (queries tab) pre-fills the raise-query form."""
    # panels imports the route modules whose forms call this function: imported here, not at module level
    from trialdesk.entrypoints.web import casebook
    from trialdesk.entrypoints.web.panels import subject_panels
    from trialdesk.services import sites
    from trialdesk.services.subjects import get_subject

    _, subject = get_subject(uow, principal, nct_id, subject_number)
    head = casebook.header(uow, principal, nct_id, subject)
    tab = tab_of(request, form_state)
    if tab == "audit" and not head["can_audit"]:
        tab = "summary"
    names = frozenset(name for name, on in PANEL_TAB.items() if on == tab)
    panels = subject_panels(uow, principal, nct_id, subject, only=names)
    casebook.decorate(uow, principal, nct_id, subject, panels)
    extra: dict[str, Any] = {}
    if tab == "summary":
        extra["summary"] = casebook.summary(uow, principal, nct_id, subject)
    elif tab == "audit":
        extra["audit_events"] = casebook.audit_events(uow, principal, nct_id, subject)
    elif tab == "queries":
        target = request.query_params.get("raise", "")
        if form_state is not None and form_state.form == "query-raise-form":
            target = str(form_state.values.get("target") or "")
        extra["raise"] = casebook.describe(uow, principal, nct_id, subject, target) if target else None
    site = sites.view_site(uow, principal, nct_id, subject.site_key)
    tabs = [(slug, title) for slug, title in TABS if slug != "audit" or head["can_audit"]]
    return templates.TemplateResponse(
        request,
        "subject.html",
        ctx(
            request,
            subject=subject,
            site=site,
            panels=panels,
            nct_id=nct_id,
            form_state=form_state,
            head=head,
            tab=tab,
            tabs=tabs,
            **extra,
        ),
        status_code=status_code,
    )


#: The labels of the subject page forms' inputs (as their templates show them), by the form's element id (or the
#: start of it): a use case's message names a field by its label (:func:`labelled`), not by its record path.
FORM_LABELS: dict[str, dict[str, str]] = {
    "ae-form": {
        "term": N_("CTCAE term or MedDRA code"),
        "grade": N_("Grade"),
        "onset_date": N_("Onset"),
        "resolution_date": N_("Resolved"),
        "action_taken": N_("Action taken"),
        "outcome": N_("Outcome"),
    },
    "tumor-form": {"assessment_date": N_("Scan date")},
    "disposition-form": {
        "kind": N_("Event"),
        "event_date": N_("Date (of the event, death, or therapy start)"),
        "reason": N_("Reason / cause of death / therapy"),
        "eot_visit_date": N_("EOT visit date (end of treatment only)"),
    },
    "dose-": {
        "dose_date": N_("Dose date"),
        "weight_kg": N_("Weight today (kg)"),
        "height_cm": N_("Height (cm)"),
        "value": N_("New value"),
        "reason": N_("Reason for change"),
    },
    "query-": {"message": N_("Message")},
    "sign-form": {"meaning": N_("Meaning"), "password": N_("Your password (signing)")},
}


def labelled(exc: InvalidInput, form: str, rename: Rename | None = None) -> tuple[dict[str, str], str]:
    """A use case's refusal as the form shows it: each field's message and the message above the form, field
    paths and codes named by their labels (:func:`~trialdesk.entrypoints.web.forms.readable`), in the page's
    language where the message's shape is known (:func:`~trialdesk.entrypoints.web.messages.translate`)."""
    from trialdesk.entrypoints.web.messages import translate

    inputs = next((names for prefix, names in FORM_LABELS.items() if form.startswith(prefix)), {})
    labels = {code: label(code) for code in LABELS if "_" in code}
    labels |= {name: _(text) for name, text in inputs.items()}
    for problem in exc.problems:
        if problem.path:
            name = rename(problem.path) if rename is not None else problem.path
            labels.setdefault(problem.path, labels.get(name) or field_label(name))

    def shown(message: str) -> str:
        return translate(message, labels) or readable(human_text(message), labels)

    errors = {name: shown(text) for name, text in service_errors(exc, rename=rename).items()}
    told = [
        _("%(field)s: %(text)s", field=labels[problem.path], text=shown(problem.message))
        if problem.path
        else shown(problem.message)
        for problem in exc.problems
    ]
    return errors, "; ".join(told)


def submit(
    request: Request,
    uow: Any,
    principal: Principal,
    nct_id: str,
    subject_number: str,
    state: FormState,
    use_case: Callable[[], object],
    *,
    rename: Rename | None = None,
) -> HTMLResponse | None:
    """Run a form's ``use_case`` (its command validated inside) and commit. ``None`` when it succeeded, else the
    subject page (422) with the form back: ``state`` with the messages of a :class:`FormInvalid` or of the use
    case's :class:`InvalidInput` (its paths mapped to form fields by ``rename``). Other refusals (not found,
    permission, conflict) propagate to the app's error page, as for any page."""
    try:
        use_case()
        uow.commit()
        return None
    except FormInvalid as exc:
        errors, message = exc.errors, CHECK_FIELDS
    except InvalidInput as exc:
        uow.rollback()
        errors, message = labelled(exc, state.form, rename)
    back = FormState(state.form, state.values, errors, message)
    return render(request, uow, principal, nct_id, subject_number, form_state=back, status_code=422)
