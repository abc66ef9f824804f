"""Which language and time zone a request is rendered in, and the switch that changes the language.

:class:`LanguageMiddleware` (pure ASGI, so the context variables it sets reach the handlers and their templates)
picks the language as :mod:`trialdesk.entrypoints.web.i18n` describes and the trial's time zone; ``POST
/account/language`` stores a signed-in user's choice (audited) and remembers it in the ``td_lang`` cookie, which
login sets from the stored choice.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.web import i18n
from trialdesk.entrypoints.web.auth import PageUser
from trialdesk.entrypoints.web.deps import FormDep, PagePrincipalDep, UowDep

#: pages that stay in the registry record's language (English): the public face
_PUBLIC_PREFIXES = ("/trials/", "/api/", "/static/")


def _public(path: str) -> bool:
    return path == "/" or path.startswith(_PUBLIC_PREFIXES)


def _trial_facts(app: Any, nct_id: str | None) -> tuple[str, list[str], dict[str, str]]:
    """(time zone, languages, facility name by site key) of a trial, cached on the web app (read once per process:
    a protocol's locale and its sites' names do not change while it runs); UTC, English and no names for a trial
    the database does not hold."""
    cache: dict[str, tuple[str, list[str], dict[str, str]]] = app.state.__dict__.setdefault("_trial_facts", {})
    td = getattr(app.state, "td", None)
    settings = getattr(app.state, "settings", None)
    nct = nct_id or getattr(settings, "default_trial", None) or ""
    if nct not in cache:
        found: tuple[str, list[str], dict[str, str]] = ("UTC", ["en"], {})
        if td is not None and nct:
            try:
                from trialdesk.services import registry

                with td.uow() as uow:
                    protocol = registry.get_protocol(uow, nct, live_sites=False)
                spec = protocol.operations.locale
                names = {loc.site_id: loc.facility or loc.site_id for loc in protocol.registry.locations}
                found = (spec.time_zone, list(spec.languages), names)
            except Exception:  # an unknown trial, a stand-in app, a database outage: the page answers on its own
                return found
        cache[nct] = found
    return cache[nct]


def trial_locale(app: Any, nct_id: str | None) -> tuple[str, list[str]]:
    """(time zone, languages) of a trial's ``operations.locale``."""
    tz, languages, _names = _trial_facts(app, nct_id)
    return tz, languages


def site_name(request: Any, site_key: str) -> str:
    """A site's facility name (``Hunan Cancer Hospital``) for its key (``hunan-cancer-hospital``), in the trial the
    request is about; the key itself for a site the protocol does not list."""
    app = getattr(request, "app", None)
    if app is None:
        return site_key
    nct = getattr(request, "path_params", {}).get("nct_id") or request.query_params.get("trial")
    return _trial_facts(app, nct)[2].get(site_key, site_key)


class LanguageMiddleware:
    """Sets the request's language and time zone (context variables read by the templates' filters)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            cookie = SimpleCookie()
        from starlette.concurrency import run_in_threadpool

        web_app = scope.get("app")
        tz, languages = ("UTC", ["en"])
        if web_app is not None:
            tz, languages = await run_in_threadpool(trial_locale, web_app, (query.get("trial") or [None])[0])
        asked = i18n.normalize((query.get("lang") or [None])[0]) if scope.get("method") == "GET" else None
        stored = i18n.normalize(cookie[i18n.LANG_COOKIE].value) if i18n.LANG_COOKIE in cookie else None
        browser = i18n.from_accept_language(headers.get("accept-language", ""))
        # a browser always states its languages: one that names none we have gets the trial's first; a client that
        # states none (a script, a test) gets the source language
        fallback = languages[0] if headers.get("accept-language", "").strip() else "en"
        lang = "en" if _public(path) else (asked or stored or browser or fallback)
        remember = asked is not None and asked != stored and not _public(path)

        async def send_with_cookie(message: Message) -> None:
            if remember and message["type"] == "http.response.start":
                value = f"{i18n.LANG_COOKIE}={asked}; Path=/; Max-Age=31536000; SameSite=Lax"
                message.setdefault("headers", []).append((b"set-cookie", value.encode("latin-1")))
            await send(message)

        with i18n.use(lang, tz):
            await self.app(scope, receive, send_with_cookie)


def _safe_back(next_url: str) -> str:
    """Back to the page the switch was on: a local path only (no open redirect)."""
    return next_url if next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url else "/ops"


def _switch(request: Request, p: PagePrincipalDep, uow: UowDep, form: FormDep) -> Response:
    """Store the user's language (audited) and show the page they were on in it."""
    from trialdesk.services import accounts

    raw = form.get("language")
    language = i18n.normalize(raw if isinstance(raw, str) else None)
    if language is None:
        raise InvalidInput(f"language: {raw!r} is not one of {', '.join(i18n.LANGUAGE_NAMES)}")
    accounts.set_language(uow, p, language)
    uow.commit()
    back = form.get("next")
    response = RedirectResponse(_safe_back(back if isinstance(back, str) else "/ops"), status_code=303)
    set_language_cookie(response, language)
    return response


def set_language_cookie(response: Response, language: str) -> None:
    """Remember the language in the browser (not a secret: readable, a year, same-site)."""
    response.set_cookie(i18n.LANG_COOKIE, language, max_age=31_536_000, samesite="lax", path="/")


pages = APIRouter(dependencies=[PageUser])
pages.add_api_route(
    "/account/language", _switch, methods=["POST"], response_class=RedirectResponse, include_in_schema=False
)
