"""What the list pages share: the page number of a paged list and the CSV download (the audit trail, the query list,
the deviation log), with cells a spreadsheet will not run as formulas (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.web.i18n import gettext as _

#: what a spreadsheet reads as the start of a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (a leading quote)."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def page_number(request: Request) -> int:
    """The ``page`` query parameter: a whole number from 1 (default 1), else a 422 naming it."""
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise InvalidInput(_("must be a whole number from 1"), field="page")
    return int(raw)


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A CSV download of ``rows`` under ``header``, every cell made safe, never cached."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
