"""FastAPI dependencies of the web entrypoint, as ``Annotated`` types (the FastAPI full-stack-template style).

- :data:`AppDep`: the bootstrapped :class:`trialdesk.bootstrap.App` the web app was created over.
- :data:`PrincipalDep` (JSON API: bearer token or session + ``X-CSRF-Token``) and :data:`PagePrincipalDep`
  (pages: session + CSRF form field, else a redirect to the login page): the authenticated user.
- :data:`UowDep`: one unit of work (one transaction) for the request, acting as the authenticated user. It never
  commits: the handler calls ``uow.commit()`` once the use case succeeded, so a refused or failed request stores
  nothing; leaving the block rolls back what was not committed and audits a refused action.
- :data:`TrialDep`: which trial the request is about: the URL's ``nct_id``, else ``?trial=``, else the configured
  ``default_trial``. No route names a trial in code.
- :data:`FormDep`: the submitted form, read on the event loop so that handlers doing blocking work can be plain
  ``def`` (FastAPI runs those in its thread pool).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request
from pydantic import AfterValidator
from starlette.datastructures import FormData

from trialdesk.domain.access import Principal
from trialdesk.entrypoints.web.auth import api_user, page_user
from trialdesk.settings import Settings, get_settings

if TYPE_CHECKING:
    from trialdesk.bootstrap import App


def get_app(request: Request) -> App:
    """The application the web app serves (``create_app`` puts it on ``app.state.td``)."""
    td: App = request.app.state.td
    return td


AppDep = Annotated["App", Depends(get_app)]

#: A stored row's id in a path: the database's integer range (a 2**70 id is a 422, not an ``OverflowError``).
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _calendar_date(value: dt.date) -> dt.date:
    from trialdesk.services.commands import EARLIEST_DATE, LATEST_DATE

    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


#: An optional date in a query string, inside the calendar commands accept (9999-12-31 would overflow a window).
QueryDate = Annotated[dt.date | None, Query(), AfterValidator(lambda v: None if v is None else _calendar_date(v))]
PrincipalDep = Annotated[Principal, Depends(api_user)]
PagePrincipalDep = Annotated[Principal, Depends(page_user)]


def get_uow(request: Request, td: AppDep) -> Iterator[Any]:
    """A unit of work acting as the user the router's authentication dependency put on ``request.state`` (router
    dependencies run before a handler's own), or as ``web`` on the public pages."""
    principal = getattr(request.state, "principal", None)
    with td.uow(principal.username if principal is not None else "web") as uow:
        yield uow


# scope="function": the transaction ends when the handler returns, before the response is sent.
UowDep = Annotated[Any, Depends(get_uow, scope="function")]


def settings_of(td: Any) -> Settings:
    """The app's settings when bootstrap gave it a :class:`Settings`, else the environment's."""
    settings = getattr(td, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


def get_trial(request: Request, td: AppDep) -> str:
    """The NCT id of the trial the request is about: the URL path's ``nct_id``, else the ``trial`` query
    parameter, else the configured default trial."""
    return str(request.path_params.get("nct_id") or request.query_params.get("trial") or settings_of(td).default_trial)


TrialDep = Annotated[str, Depends(get_trial)]


async def get_form(request: Request) -> FormData:
    """The submitted form (Starlette caches it: the page authentication dependency already read it for CSRF)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(get_form)]


T = TypeVar("T")


def committed(uow: Any, out: T) -> T:
    """Commit the use case's change and answer its result: a JSON write endpoint's last step, once the use case
    (``out``) succeeded; a refusal raised before it leaves nothing stored."""
    uow.commit()
    return out
