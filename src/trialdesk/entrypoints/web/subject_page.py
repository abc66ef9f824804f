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

from fastapi import Request
from fastapi.responses import HTMLResponse

from trialdesk.domain.access import Principal
from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.web.forms import CHECK_FIELDS, FormInvalid, FormState, Rename, service_errors
from trialdesk.entrypoints.web.templating import ctx, templates


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
    """The subject page with its panels (``form_state``: the form that comes back, if any)."""
    # panels imports the route modules whose forms call this function: imported here, not at module level
    from trialdesk.entrypoints.web.panels import subject_panels
    from trialdesk.services import sites
    from trialdesk.services.subjects import get_subject

    _, subject = get_subject(uow, principal, nct_id, subject_number)
    panels = subject_panels(uow, principal, nct_id, subject)
    site = sites.view_site(uow, principal, nct_id, subject.site_key)
    return templates.TemplateResponse(
        request,
        "subject.html",
        ctx(request, subject=subject, site=site, panels=panels, nct_id=nct_id, form_state=form_state),
        status_code=status_code,
    )


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
        errors, message = service_errors(exc, rename=rename), exc.message
    back = FormState(state.form, state.values, errors, message)
    return render(request, uow, principal, nct_id, subject_number, form_state=back, status_code=422)
