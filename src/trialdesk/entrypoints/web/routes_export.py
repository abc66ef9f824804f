"""The analysis datasets for download (``/ops/datasets``): the statistician's page for what ``trialdesk datasets
export`` writes, over the same use case (:func:`trialdesk.services.analysis.analysis_datasets`, ``analysis.run``:
the datasets are unblinded) and the same writer (:func:`trialdesk.adapters.report.write_datasets`)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.errors import InvalidInput, NotFound
from trialdesk.entrypoints.web.auth import PageUser
from trialdesk.entrypoints.web.deps import PagePrincipalDep, TrialDep, UowDep
from trialdesk.entrypoints.web.forms import service_errors
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import analysis

pages = APIRouter(dependencies=[PageUser])

FORMATS = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _cut(request: Request) -> str | None:
    value = request.query_params.get("cut_date", "").strip()
    if len(value) > 10:
        raise InvalidInput(_("must be a date YYYY-MM-DD"), field="cut_date")
    return value or None


def _format(request: Request) -> str:
    fmt = request.query_params.get("format", "csv")
    if fmt not in FORMATS:
        raise InvalidInput(f"must be one of {', '.join(FORMATS)}", field="format")
    return fmt


def _written(uow: Any, p: Principal, nct_id: str, cut: str | None, fmt: str, folder: Path) -> tuple[Any, list[Path]]:
    from trialdesk.adapters.report import write_datasets

    datasets = analysis.analysis_datasets(uow, p, nct_id, cut)
    return datasets, write_datasets(datasets, folder, fmt)


@pages.get("/ops/datasets", response_class=HTMLResponse, include_in_schema=False)
def datasets_page(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    require(p, Action.ANALYSIS_RUN)
    cut = None
    listing: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    message = None
    cut_text = request.query_params.get("cut_date", "").strip()
    try:
        cut = _cut(request)
        datasets = analysis.analysis_datasets(uow, p, nct_id, cut)
        cut_shown = datasets.cut_date.isoformat()
        query = {"cut_date": cut_shown, "trial": nct_id}
        listing = [
            {
                "name": name,
                "rows": len(frame),
                "columns": len(frame.columns),
                "href": f"/ops/datasets/{name}.csv?{urlencode(query)}",
            }
            for name, frame in datasets.as_dict().items()
        ]
    except InvalidInput as exc:
        errors = service_errors(exc) or {"cut_date": exc.message}
        message = exc.message
        cut_shown = cut_text
    return templates.TemplateResponse(
        request,
        "datasets.html",
        ctx(
            request,
            nct_id=nct_id,
            cut_date=cut_shown,
            listing=listing,
            errors=errors,
            message=message,
            zip_urls={
                fmt: f"/ops/datasets.zip?{urlencode({'cut_date': cut_shown, 'format': fmt, 'trial': nct_id})}"
                for fmt in FORMATS
            },
        ),
        status_code=422 if errors else 200,
    )


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@pages.get("/ops/datasets.zip", include_in_schema=False)
def datasets_zip(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    """Every dataset at the cut, in one zip (the files ``datasets export`` writes)."""
    fmt = _format(request)
    with tempfile.TemporaryDirectory(prefix="trialdesk-datasets-") as folder:
        datasets, paths = _written(uow, p, nct_id, _cut(request), fmt, Path(folder))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, path.name)
    return _download(buffer.getvalue(), "application/zip", f"{nct_id}-datasets-{datasets.cut_date}-{fmt}.zip")


@pages.get("/ops/datasets/{name}.csv", include_in_schema=False)
def dataset_csv(request: Request, name: str, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    """One dataset at the cut as CSV."""
    with tempfile.TemporaryDirectory(prefix="trialdesk-datasets-") as folder:
        datasets, paths = _written(uow, p, nct_id, _cut(request), "csv", Path(folder))
        chosen = [path for path in paths if path.stem == name]
        if not chosen:
            raise NotFound(f"no dataset {name!r}; the datasets are {', '.join(path.stem for path in paths)}")
        body = chosen[0].read_bytes()
    return _download(body, "text/csv", f"{nct_id}-{name}-{datasets.cut_date}.csv")
