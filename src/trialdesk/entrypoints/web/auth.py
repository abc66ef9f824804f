"""Authentication for pages and the API: session cookies (with CSRF) and bearer tokens.

- Pages: a server-side session referenced by the ``td_session`` cookie (HttpOnly, SameSite=Lax, Secure over
  HTTPS), expiring after 30 minutes of inactivity and ``Settings.session_absolute_hours`` after login. Every
  state-changing form carries the session's CSRF token.
- A one-time password allows nothing but changing it: pages redirect to ``/account/password``, the API refuses.
- API: ``Authorization: Bearer td_...`` (no CSRF needed: browsers never send it on their own). A cookie-
  authenticated API call that changes state must send the CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import datetime as dt
import hmac

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from trialdesk.domain.access import Principal
from trialdesk.domain.errors import AuthenticationFailed, PermissionDenied

SESSION_COOKIE = "td_session"
LOGIN_CSRF_COOKIE = "td_login_csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
#: The pages a user with a one-time password may reach (besides /login and the public pages).
ONE_TIME_PATHS = frozenset({"/account/password", "/logout"})


class LoginRequired(Exception):
    """A page needs a login: answered with a redirect to /login."""

    def __init__(self, next_url: str, message: str = "", *, to: str = "/login") -> None:
        self.next_url, self.message, self.to = next_url, message, to


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=is_https(request), path="/")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def resolve(request: Request, *, touch: bool = True) -> tuple[Principal, str | None] | None:
    """(principal, csrf token or None for bearer auth) or None when unauthenticated."""
    from trialdesk.services import accounts
    from trialdesk.settings import get_settings

    td = request.app.state.td
    token = _bearer(request)
    if token:
        with td.uow() as uow:
            return accounts.authenticate_token(uow, token), None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with td.uow() as uow:
        info = accounts.authenticate_session(
            uow, cookie, touch=touch, lifetime=dt.timedelta(hours=get_settings().session_absolute_hours)
        )
    request.state.must_change_password = info.must_change_password
    if info.must_change_password and request.url.path not in ONE_TIME_PATHS:
        if request.url.path.startswith("/api/"):
            accounts.refuse_one_time(True)
        raise LoginRequired("/account/password", accounts.ONE_TIME_MESSAGE, to="/account/password")
    return info.principal, info.csrf_token


def check_csrf(request: Request, expected: str | None, submitted: str | None) -> None:
    if expected is None:  # bearer token
        return
    if not submitted or not hmac.compare_digest(expected, submitted):
        raise PermissionDenied("missing or wrong CSRF token; reload the page and try again")


def api_user(request: Request) -> Principal:
    """Dependency for /api/v1: bearer token or session cookie (+ X-CSRF-Token on unsafe methods).

    Plain ``def``: resolving a token or session reads the database, so FastAPI runs it in its thread pool."""
    found = resolve(request)
    if found is None:
        raise AuthenticationFailed("authentication required: send 'Authorization: Bearer <token>'")
    principal, csrf = found
    if request.method not in SAFE_METHODS:
        check_csrf(request, csrf, request.headers.get("x-csrf-token"))
    request.state.principal, request.state.csrf = principal, csrf
    return principal


async def page_user(request: Request) -> Principal:
    """Dependency for operations pages: a session, or a redirect to the login page.

    Unsafe methods must carry the session's CSRF token in the ``csrf_token`` form field. ``async`` to read the form;
    the session lookup (a database read) runs in the thread pool, off the event loop."""
    from starlette.concurrency import run_in_threadpool

    try:
        found = await run_in_threadpool(resolve, request)
    except LoginRequired:
        raise
    except AuthenticationFailed as exc:
        raise LoginRequired(str(request.url.path), exc.message) from exc
    if found is None:
        raise LoginRequired(str(request.url.path))
    principal, csrf = found
    if request.method not in SAFE_METHODS:
        form = await request.form()
        field = form.get("csrf_token")  # a file upload named csrf_token is no token
        check_csrf(request, csrf, (field if isinstance(field, str) else None) or request.headers.get("x-csrf-token"))
    request.state.principal, request.state.csrf = principal, csrf
    return principal


ApiUser = Depends(api_user)
PageUser = Depends(page_user)


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    from urllib.parse import quote

    if exc.to != "/login":
        return RedirectResponse(exc.to + "?msg=" + quote(exc.message), status_code=303)
    target = "/login?next=" + quote(exc.next_url, safe="/")
    if exc.message:
        target += "&msg=" + quote(exc.message)
    return RedirectResponse(target, status_code=303)
