"""The FastAPI application: public registry pages, the operations pages and the JSON API (``/api/v1``).

Only the public registry pages (``/``, ``/trials/{nct_id}``), ``/login``, ``/health`` and static files answer
without authentication; ``tests/test_access_routes.py`` walks the route table to prove it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from trialdesk import __version__
from trialdesk.domain.errors import AuthenticationFailed, TrialdeskError
from trialdesk.entrypoints.web.templating import HERE, templates

if TYPE_CHECKING:
    from trialdesk.bootstrap import App

PUBLIC_PATHS = frozenset({"/", "/trials/{nct_id}", "/login", "/health", "/static"})


def create_app(db_url: str | None = None, *, demo: bool = False, td_app: App | None = None) -> FastAPI:
    """Build the web app over a database (``td_app``: an already bootstrapped :class:`trialdesk.bootstrap.App`)."""
    from trialdesk.bootstrap import bootstrap
    from trialdesk.entrypoints.web.auth import LoginRequired, api_user, login_redirect
    from trialdesk.entrypoints.web.security import SecurityHeaders

    # demo: the default trial is loaded by ensure_demo, dated where the simulated clock starts
    td = td_app or bootstrap(db_url, load_default=not demo)
    demo_logins = None
    if demo:
        from trialdesk.entrypoints.web.demo_hook import ensure_demo

        demo_logins = ensure_demo(td)
    web = FastAPI(
        title="trialdesk",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="Registry and operations for randomized multicenter clinical trials. "
        "Authenticate with `Authorization: Bearer <token>` (`trialdesk tokens create`).",
    )
    web.state.td = td
    web.state.demo_logins = demo_logins
    from trialdesk.entrypoints.web.login_limits import LoginLimiter
    from trialdesk.settings import get_settings

    settings = getattr(td, "settings", None) or get_settings()  # a stand-in app (the spec's tests) has none
    web.state.settings = settings
    web.state.login_limiter = LoginLimiter(settings.login_attempts_per_address, settings.login_attempts_per_username)
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @web.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(exc)

    @web.exception_handler(TrialdeskError)
    async def _trialdesk_error(request: Request, exc: TrialdeskError) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else None
            return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)
        if isinstance(exc, AuthenticationFailed):
            return login_redirect(LoginRequired(request.url.path, exc.message))
        shown = exc
        if exc.status_code == 404 and hasattr(exc, "hide"):
            shown = TrialdeskError(exc.to_dict()["message"])
            shown.status_code = 404
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "error": shown,
                "user": getattr(request.state, "principal", None),
                "csrf_token": getattr(request.state, "csrf", None),
            },
            status_code=exc.status_code,
        )

    @web.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        # A body field is named by its path in the body ("actual_mg", "lesions.0.size_mm"); a body that is no object,
        # or is missing, by "body"; path and query parameters as "path.run_id", "query.hr".
        problems = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse({"error": "InvalidInput", "message": message, "problems": problems}, status_code=422)

    from trialdesk.entrypoints.web import errors as api_errors
    from trialdesk.entrypoints.web.errors import API_ERROR_RESPONSES, is_api_router

    api_errors.install(web)
    # Added last, so outermost: CSP, framing, nosniff, referrer and HSTS on every answer, the body limit's included.
    from trialdesk.entrypoints.web.language import LanguageMiddleware

    web.add_middleware(LanguageMiddleware)
    web.add_middleware(SecurityHeaders)

    for router in routers():
        # JSON API routers declare the error bodies the handlers above answer with (401/403/404/409/422).
        web.include_router(router, responses=API_ERROR_RESPONSES if is_api_router(router) else None)

    @web.get("/openapi.json", include_in_schema=False, dependencies=[Depends(api_user)])
    def openapi_json() -> JSONResponse:
        return JSONResponse(web.openapi())

    @web.get("/docs", include_in_schema=False, response_class=HTMLResponse, dependencies=[Depends(api_user)])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="trialdesk API")

    return web


def create_worker_app() -> FastAPI:
    """The app of one worker process of ``trialdesk serve --workers N`` (uvicorn's factory): the database from
    ``TRIALDESK_DATABASE_URL``; the demo, already simulated by the parent, only listed (``TRIALDESK_SERVE_DEMO``).
    Login attempt limits are counted per worker."""
    import os

    return create_app(os.environ.get("TRIALDESK_DATABASE_URL"), demo=bool(os.environ.get("TRIALDESK_SERVE_DEMO")))


def routers() -> list[APIRouter]:
    """Every router of the web app, in the order they are matched: the public registry pages and API, login and
    the people and site pages, then the features (analysis, capture, dashboard, design, randomization, screening,
    treatment), each with its JSON API router and its pages router. Adding a module means adding it here."""
    from trialdesk.entrypoints.web import (
        api_people,
        language,
        ops_routes,
        registry_routes,
        routes_analysis,
        routes_audit,
        routes_capture,
        routes_capture_queries,
        routes_dashboard,
        routes_design,
        routes_export,
        routes_monitoring,
        routes_queries_list,
        routes_randomization,
        routes_screening,
        routes_treatment,
    )

    return [
        registry_routes.public,
        registry_routes.api,
        ops_routes.public,
        ops_routes.pages,
        language.pages,
        api_people.router,
        routes_analysis.api,
        routes_analysis.pages,
        routes_audit.pages,
        routes_capture.api,
        routes_capture.pages,
        routes_capture_queries.api,
        routes_capture_queries.pages,
        routes_dashboard.api,
        routes_dashboard.pages,
        routes_design.api,
        routes_design.pages,
        routes_export.pages,
        routes_monitoring.api,
        routes_monitoring.pages,
        routes_queries_list.pages,
        routes_randomization.api,
        routes_randomization.pages,
        routes_screening.api,
        routes_screening.pages,
        routes_treatment.api,
        routes_treatment.pages,
    ]


def route_table(web: FastAPI) -> list[tuple[str, frozenset[str], object]]:
    """Every (path, methods, route) the app serves, flattening included routers (FastAPI >= 0.16x wraps them)."""
    out: list[tuple[str, frozenset[str], object]] = []

    def walk(routes: Iterable[Any], prefix: str = "") -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                context = getattr(route, "include_context", None)
                walk(original.routes, prefix + (getattr(context, "prefix", "") or ""))
                continue
            methods = frozenset(getattr(route, "methods", None) or ())
            out.append((prefix + route.path, methods, route))

    walk(web.routes)
    return out
