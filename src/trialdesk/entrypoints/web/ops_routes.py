"""Login, logout, password change, and the operations pages for people and sites."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from trialdesk.adapters.secrets import new_token
from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import AuthenticationFailed, InvalidInput, PermissionDenied, TrialdeskError
from trialdesk.domain.sites import next_statuses
from trialdesk.entrypoints.web import subject_page as subject_view
from trialdesk.entrypoints.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    PageUser,
    check_csrf,
    is_https,
    set_session_cookie,
)
from trialdesk.entrypoints.web.deps import AppDep, FormDep, PagePrincipalDep, TrialDep, UowDep
from trialdesk.entrypoints.web.forms import (
    CHECK_FIELDS,
    FormInvalid,
    FormState,
    check_fields,
    service_errors,
    typed,
    validate,
)
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.i18n import when
from trialdesk.entrypoints.web.labels import LABELS, N_, label
from trialdesk.entrypoints.web.login_limits import LoginLimiter
from trialdesk.entrypoints.web.panels import site_panels
from trialdesk.entrypoints.web.site_home import site_staff_sites, site_worklist
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import accounts, sites
from trialdesk.services.commands import ChangeSiteStatus

public = APIRouter()
pages = APIRouter(dependencies=[PageUser])


#: the login page's messages: English msgids, translated when the page shows them (they travel in ``?msg=``)
LOGIN_MESSAGES = (
    N_("Your login form expired; please try again"),
    N_("You are logged out"),
    N_("wrong username or password"),
    N_("account disabled"),
    N_("session ended; please log in"),
    N_("session expired after inactivity; please log in"),
    N_("session expired; please log in again"),
)


def _safe_next(next_url: str | None) -> str:
    if next_url and next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return "/ops"


@public.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None, msg: str | None = None) -> HTMLResponse:
    token = new_token()
    response = templates.TemplateResponse(
        request, "login.html", ctx(request, login_csrf=token, next=next or "", error=_(msg) if msg else None)
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request))
    return response


@public.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login_submit(
    request: Request,
    td: AppDep,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Plain ``def``: the argon2 work runs in the thread pool, never on the event loop. Attempts are limited per
    client address and per username (:mod:`.login_limits`): over the limit, a 429 with ``Retry-After`` before any
    password work."""
    try:
        check_csrf(request, request.cookies.get(LOGIN_CSRF_COOKIE) or "", csrf_token)
    except PermissionDenied:
        return RedirectResponse("/login?msg=Your+login+form+expired%3B+please+try+again", status_code=303)
    limiter: LoginLimiter = request.app.state.login_limiter
    address = request.client.host if request.client else "unknown"
    wait = limiter.attempt(address, username)
    if wait is not None:
        message = _("too many login attempts; try again in %(n)s seconds", n=wait)
        return _login_refused(request, next, message, status_code=429, headers={"Retry-After": str(wait)})
    try:
        with td.uow(username or "anonymous") as uow:
            result = accounts.login(uow, username.strip(), password)
    except AuthenticationFailed as exc:
        return _login_refused(request, next, _(exc.message), status_code=401)
    limiter.succeeded(address, username)
    target = "/account/password" if result.must_change_password else _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, result.session_token)
    if result.language:  # the user's stored choice of language follows them to any browser
        from trialdesk.entrypoints.web.language import set_language_cookie

        set_language_cookie(response, result.language)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


def _login_refused(
    request: Request, next_url: str, message: str, *, status_code: int, headers: dict[str, str] | None = None
) -> Response:
    token = new_token()
    refused = templates.TemplateResponse(
        request,
        "login.html",
        ctx(request, login_csrf=token, next=next_url, error=message),
        status_code=status_code,
        headers=headers,
    )
    refused.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request))
    return refused


@pages.post("/logout", include_in_schema=False)
def logout(request: Request, td: AppDep) -> RedirectResponse:
    # as "system", as before: the session being ended is the one in the cookie, whoever it belongs to
    with td.uow() as uow:
        accounts.logout(uow, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login?msg=You+are+logged+out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@pages.get("/account/password", response_class=HTMLResponse, include_in_schema=False)
def password_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "password.html", ctx(request))


@pages.post("/account/password", response_class=HTMLResponse, include_in_schema=False)
def password_submit(
    request: Request,
    principal: PagePrincipalDep,
    uow: UowDep,
    current: str = Form(""),
    new: str = Form(""),
    confirm: str = Form(""),
) -> Response:
    """Each refusal beside its field (current wrong, new too weak or reused, the repeat differing); the password
    fields are never sent back filled."""
    errors: dict[str, str] = {}
    error = None
    if new != confirm:
        errors["confirm"] = _("The two new passwords differ.")
        try:  # the new password's own faults are said at the same time
            accounts.check_password_policy(new, principal.username)
        except InvalidInput as exc:
            errors["new"] = _password_problem(exc)
    else:
        try:
            accounts.change_password(
                uow, principal.username, current, new, keep_session=request.cookies.get(SESSION_COOKIE)
            )
            uow.commit()
        except AuthenticationFailed:
            uow.rollback()
            errors["current"] = _("The current password is wrong.")
        except InvalidInput as exc:
            uow.rollback()
            errors["new"] = _password_problem(exc)
        except TrialdeskError as exc:
            uow.rollback()
            error = exc.message
    if errors or error:
        shown = ctx(request, errors=errors, error=error or check_fields())
        return templates.TemplateResponse(request, "password.html", shown, status_code=422)
    return RedirectResponse("/ops", status_code=303)


#: the account service's refusals of a new password (services/accounts.py, domain/access.py) and what people read
_PASSWORD_PROBLEMS: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
    (r"must be at least (\d+) characters", lambda m: _("At least %(n)s characters.", n=m[1])),
    (r"must not start or end with spaces", lambda m: _("Must not start or end with a space.")),
    (r"is a commonly used password.*", lambda m: _("A commonly used password; choose another.")),
    (r"repeats too few characters.*", lambda m: _("Too few different characters; choose another.")),
    (r"must not contain the username", lambda m: _("Must not contain your username.")),
    (r"the new password must differ from the old one", lambda m: _("Must differ from the current password.")),
    (r"must differ from your last (\d+) passwords", lambda m: _("Must differ from your last %(n)s passwords.", n=m[1])),
)


def _password_problem(exc: InvalidInput) -> str:
    """A refusal of the new password in the reader's language (an unknown one as it is)."""
    message = exc.problems[0].message if exc.problems else exc.message
    for pattern, say in _PASSWORD_PROBLEMS:
        found = re.fullmatch(pattern, message)
        if found:
            return say(found)
    return message


@pages.get("/ops", response_class=HTMLResponse, include_in_schema=False)
def ops_home(request: Request, principal: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    """The home page: the caller's sites and, for site staff, each site's work of the day (:mod:`.site_home`)."""
    my_sites = sites.list_sites(uow, principal, nct_id)
    work = [site_worklist(uow, principal, nct_id, s) for s in site_staff_sites(principal, my_sites)]
    return templates.TemplateResponse(
        request,
        "ops_home.html",
        ctx(
            request,
            sites=my_sites,
            work=work,
            today=uow.now().date(),
            nct_id=nct_id,
            can_activate=principal.can(Action.SITE_ACTIVATE, None)
            or any(principal.can(Action.SITE_ACTIVATE, s["site"]) for s in my_sites),
        ),
    )


def _human_cell(cell: Any) -> Any:
    """A panel cell as people read it: a code by its label, a moment in the sites' time zone (dates are shown by
    the template's ``day`` filter)."""
    if isinstance(cell, str):
        if cell in LABELS:
            return label(cell)
        if cell.isupper() and cell.lower() in LABELS:  # a status the panel writes in capitals (DUE, OVERDUE)
            return label(cell.lower())
        if len(cell) > 10 and cell[4:5] == "-" and cell[10:11] == "T":
            return when(cell)
    return cell


def _human_panels(panels: dict[str, Any]) -> dict[str, Any]:
    """The site page's panels in the request's language: their titles, column heads, empty notes and action links
    translated (a text the panel already translated, or one no catalog holds, stays as it is), codes labelled."""
    out = {}
    for name, panel in panels.items():
        shown = dict(panel)
        for key in ("title", "empty"):
            if isinstance(shown.get(key), str):
                shown[key] = _(shown[key])
        if shown.get("columns"):
            shown["columns"] = [_(c) if isinstance(c, str) else c for c in shown["columns"]]
        if shown.get("actions"):
            shown["actions"] = [
                {**a, "label": _(a["label"])} if isinstance(a.get("label"), str) else a for a in shown["actions"]
            ]
        if shown.get("rows"):
            shown["rows"] = [[_human_cell(cell) for cell in row] for row in shown["rows"]]
        out[name] = shown
    return out


def _site_page(
    request: Request,
    site_key: str,
    principal: Principal,
    uow: Any,
    nct_id: str,
    *,
    form_state: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    site = sites.view_site(uow, principal, nct_id, site_key)
    work = _human_panels(site_panels(uow, principal, nct_id, site_key))
    return templates.TemplateResponse(
        request,
        "site.html",
        ctx(
            request,
            site=site,
            nct_id=nct_id,
            work=work,
            can_activate=principal.can(Action.SITE_ACTIVATE, site_key),
            next_statuses=[s.value for s in next_statuses(site["status"])],
            form_state=form_state,
        ),
        status_code=status_code,
    )


@pages.get("/ops/sites/{site_key}", response_class=HTMLResponse, include_in_schema=False)
def site_page(
    request: Request, site_key: str, principal: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> HTMLResponse:
    return _site_page(request, site_key, principal, uow, nct_id)


@pages.post("/ops/sites/{site_key}/status", include_in_schema=False)
def site_status(
    request: Request, site_key: str, form: FormDep, principal: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Move the site through its activation states; a missing reason or a status the site cannot take comes back
    (422) beside its field. A transition the site's state does not allow is a conflict (409, the error page)."""
    values = typed(form)
    try:
        command = validate(ChangeSiteStatus, {k: values.get(k, "") for k in ("status", "reason")})
        sites.change_site_status(uow, principal, nct_id, site_key, command)
        uow.commit()
    except (FormInvalid, InvalidInput) as exc:
        uow.rollback()
        errors, message = (
            (exc.errors, CHECK_FIELDS) if isinstance(exc, FormInvalid) else (service_errors(exc), exc.message)
        )
        state = FormState("site-status-form", values, errors, message)
        return _site_page(request, site_key, principal, uow, nct_id, form_state=state, status_code=422)
    return RedirectResponse(f"/ops/sites/{site_key}", status_code=303)


@pages.get("/ops/users", response_class=HTMLResponse, include_in_schema=False)
def users_page(request: Request, principal: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    """The accounts, their roles and sites, and whether they are active or locked (``user.manage``; changes are
    made with ``trialdesk users``)."""
    people = accounts.list_users(uow, principal)
    return templates.TemplateResponse(request, "users.html", ctx(request, people=people, nct_id=nct_id))


@pages.get("/ops/subjects/{subject_number}", response_class=HTMLResponse, include_in_schema=False)
def subject_page(
    request: Request, subject_number: str, principal: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> HTMLResponse:
    return subject_view.render(request, uow, principal, nct_id, subject_number)
