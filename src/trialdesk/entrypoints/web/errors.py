"""The JSON API's error bodies, declared once so that the OpenAPI spec tells the truth about them.

Every :class:`trialdesk.domain.errors.TrialdeskError` raised under ``/api/`` is answered with
``{"error": <class name>, "message": ...}`` and its status code (``app.py``); invalid input (a
:class:`~trialdesk.domain.errors.InvalidInput` or a request that fails FastAPI's validation) adds
``problems``: one ``{"field", "message"}`` per bad field. ``API_ERROR_RESPONSES`` is attached to every
router whose routes live under ``/api/`` when the app includes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI


class ProblemOut(BaseModel):
    """One problem with the input: which field (a dotted path, e.g. ``path.nct_id`` or ``dose.actual_mg``)."""

    field: str = Field(description="dotted path of the offending field ('' for the request as a whole)")
    message: str
    line: int | None = Field(default=None, description="line of an uploaded document, when known")


class ErrorBody(BaseModel):
    """An error answered by the API."""

    error: str = Field(
        description="error class: InvalidInput, NotFound, PermissionDenied, Conflict, AuthenticationFailed"
    )
    message: str
    problems: list[ProblemOut] | None = Field(default=None, description="invalid input only: one entry per field")


ERROR_SCHEMA_REF = "#/components/schemas/ErrorBody"


def _error(description: str) -> dict[str, Any]:
    # The content is spelled out (not ``model=``) so that routes answering HTML or iCalendar on success still
    # declare their errors as JSON, which is what the handlers send.
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}}}


API_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed request: the body cannot be read (e.g. it is not UTF-8 JSON)"),
    401: _error("Not authenticated: missing, wrong or expired token or session"),
    403: _error("The caller's role or site scope does not allow this (or a CSRF token is missing)"),
    404: _error("Not found, or not visible to the caller"),
    409: _error("Contradicts the current state (e.g. site not recruiting, already randomized)"),
    413: _error("The request body is larger than the configured limit (refused before authentication)"),
    422: _error("Invalid input: `problems` names each bad field"),
    503: _error("The database is unavailable for now: try again after `Retry-After` seconds"),
}

#: Seconds a client is asked to wait when the database is unavailable.
RETRY_AFTER_S = 5
UNAVAILABLE_MESSAGE = "the database is unavailable for now; try again in a few seconds"  # msgid: pages.po


async def _database_unavailable(request: Any, exc: Exception) -> Any:
    """A refused or dropped database connection: 503 with ``Retry-After`` (JSON under ``/api/``, an error page
    elsewhere), never a 500; the driver's message goes to the log only."""
    import logging

    from fastapi.responses import JSONResponse

    from trialdesk.domain.errors import TrialdeskError
    from trialdesk.entrypoints.web.templating import templates

    logging.getLogger("trialdesk.web").error("database unavailable: %s", exc)
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if is_api_path(request.url.path) or request.url.path == "/health":
        body = {"error": "ServiceUnavailable", "message": UNAVAILABLE_MESSAGE, "detail": UNAVAILABLE_MESSAGE}
        return JSONResponse(body, status_code=503, headers=headers)
    from trialdesk.entrypoints.web.i18n import gettext

    shown = TrialdeskError(gettext(UNAVAILABLE_MESSAGE))  # the page in the request's language, the JSON in English
    shown.status_code = 503
    return templates.TemplateResponse(
        request, "error.html", {"error": shown, "user": None, "csrf_token": None}, status_code=503, headers=headers
    )


def is_api_router(router: APIRouter) -> bool:
    """Whether every route of ``router`` is served under ``/api/`` (the JSON API)."""
    paths = [getattr(route, "path", "") for route in router.routes]
    return bool(paths) and all(path.startswith("/api/") for path in paths)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/openapi.json"


def install(web: FastAPI) -> None:
    """Answer Starlette's own HTTP errors under ``/api/`` (an unreadable body, an unknown path or method) with an
    :class:`ErrorBody`, refuse bodies over ``Settings.max_body_bytes`` (:mod:`.body_limit`, 413) and NUL bytes and
    deep JSON (:mod:`.input_guard`), answer an unreachable database with a 503, and put :class:`ErrorBody` in the
    spec's components for ``API_ERROR_RESPONSES``."""
    from http import HTTPStatus

    from fastapi import Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    async def _http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # registered for this class only
        if not is_api_path(request.url.path):
            return await http_exception_handler(request, exc)
        try:
            name = HTTPStatus(exc.status_code).phrase.title().replace(" ", "").replace("-", "")
        except ValueError:
            name = "HTTPError"
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(
            {"error": name, "message": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    web.add_exception_handler(StarletteHTTPException, _http_error)
    from trialdesk.adapters.db.errors import UNAVAILABLE

    for unavailable in UNAVAILABLE:
        web.add_exception_handler(unavailable, _database_unavailable)
    from trialdesk.entrypoints.web.input_guard import InputGuard

    web.add_middleware(InputGuard)  # NUL bytes and deep JSON: a 422 naming the field, before any route
    from trialdesk.entrypoints.web.body_limit import BodyLimit

    # added last, so outermost: an oversized body is refused (413) before InputGuard buffers it
    web.add_middleware(BodyLimit, max_bytes=web.state.settings.max_body_bytes)
    generate = web.openapi

    def openapi() -> dict[str, Any]:
        spec: dict[str, Any] = generate()  # FastAPI's, cached
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        if "ErrorBody" not in schemas:
            error = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(error.pop("$defs", {}))
            schemas["ErrorBody"] = error
        return spec

    web.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the spec
