"""The FastAPI application: public registry pages, the operations pages and the JSON API (``/api/v1``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from trialdesk import __version__
from trialdesk.domain.errors import TrialdeskError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def create_app(db_url: str | None = None, *, demo: bool = False, td_app=None) -> FastAPI:
    """Build the web app over a database (``td_app``: an already bootstrapped :class:`trialdesk.bootstrap.App`)."""
    from trialdesk.bootstrap import bootstrap

    td = td_app or bootstrap(db_url)
    if demo:
        from trialdesk.entrypoints.web.demo_hook import ensure_demo

        ensure_demo(td)
    web = FastAPI(title="trialdesk", version=__version__,
                  description="Registry and operations for randomized multicenter clinical trials.")
    web.state.td = td
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @web.exception_handler(TrialdeskError)
    async def _trialdesk_error(request: Request, exc: TrialdeskError):
        if request.url.path.startswith("/api/"):
            return JSONResponse(exc.to_dict(), status_code=exc.status_code)
        return templates.TemplateResponse(request, "error.html", {"error": exc}, status_code=exc.status_code)

    from trialdesk.entrypoints.web import registry_routes

    web.include_router(registry_routes.router)
    return web
