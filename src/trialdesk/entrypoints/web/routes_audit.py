"""The audit-trail page and its CSV export (``audit.view``), scoped to the principal's trial and sites."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.records import AuditEventRecord
from trialdesk.entrypoints.web.auth import PageUser
from trialdesk.entrypoints.web.deps import PagePrincipalDep, TrialDep, UowDep
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.i18n import when
from trialdesk.entrypoints.web.listing import csv_response, page_number
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services.audit import audit_trail

pages = APIRouter(dependencies=[PageUser])

PAGE_SIZE = 50
CSV_BATCH = 1000
CSV_MAX_ROWS = 100_000
FILTERS = ("subject", "entity_type", "entity_id", "user", "action", "date_from", "date_to")
CSV_COLUMNS = ("seq", "occurred_at", "actor", "action", "entity_type", "entity_id", "trial", "site", "reason")


def _filters(request: Request) -> dict[str, str]:
    out = {}
    for name in FILTERS:
        value = request.query_params.get(name, "").strip()
        if len(value) > 200:
            raise InvalidInput(_("must be at most 200 characters"), field=name)
        if value:
            out[name] = value
    return out


def _date(filters: dict[str, str], name: str) -> dt.date | None:
    value = filters.get(name)
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("must be a date YYYY-MM-DD, got %(value)r", value=value), field=name) from None


def _query(uow: Any, p: Any, nct_id: str, filters: dict[str, str], *, limit: int, offset: int) -> list[Any]:
    return audit_trail(
        uow,
        p,
        nct_id,
        subject=filters.get("subject"),
        entity_type=filters.get("entity_type"),
        entity_id=filters.get("entity_id"),
        actor=filters.get("user"),
        action=filters.get("action"),
        date_from=_date(filters, "date_from"),
        date_to=_date(filters, "date_to"),
        limit=limit,
        offset=offset,
    )


def _load(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _shown(value: Any) -> str:
    """A value as a reviewer reads it: text as typed, an empty or absent value as an em dash, the rest as JSON."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _changes(before_json: str | None, after_json: str | None) -> list[tuple[str, str | None, str]]:
    """(field, before or None, after) for what the event changed: every field of a new record, only the fields
    whose value differs on an edit (a reviewer reads what changed, not the whole record twice)."""
    before, after = _load(before_json), _load(after_json)
    if not isinstance(after, dict):
        return [("", None if before is None else _shown(before), "" if after is None else _shown(after))]
    if not isinstance(before, dict):
        return [(key, None, _shown(value)) for key, value in after.items()]
    keys = list(dict.fromkeys([*before, *after]))
    return [(key, _shown(before.get(key)), _shown(after.get(key))) for key in keys if before.get(key) != after.get(key)]


def _human(value: str | None) -> str | None:
    """A changed value as the page shows it: a moment in the sites' time zone, anything else (codes included) as
    stored, since the trail is read against the stored record and filtered by its codes (the CSV export keeps
    every value as stored)."""
    if value is None:
        return None
    if len(value) > 16 and value[4:5] == "-" and value[10:11] == "T" and value[13:14] == ":":
        return when(value) or value
    return value


def _row(r: AuditEventRecord) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "occurred_at": r.occurred_at,
        "actor": r.actor,
        "action": r.action,
        "entity_type": r.entity_type,
        "entity_id": r.entity_id,
        "trial": r.trial,
        "site": r.site,
        "reason": r.reason,
        "changes": [
            (field, _human(before), _human(after)) for field, before, after in _changes(r.before_json, r.after_json)
        ],
    }


@pages.get("/ops/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> HTMLResponse:
    filters = _filters(request)
    page = page_number(request)
    rows = _query(uow, p, nct_id, filters, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    more = len(rows) > PAGE_SIZE
    query = {**filters, "trial": nct_id}
    return templates.TemplateResponse(
        request,
        "audit.html",
        ctx(
            request,
            nct_id=nct_id,
            filters=filters,
            events=[_row(r) for r in rows[:PAGE_SIZE]],
            page=page,
            prev_url=f"/ops/audit?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
            next_url=f"/ops/audit?{urlencode({**query, 'page': page + 1})}" if more else None,
            csv_url=f"/ops/audit.csv?{urlencode(query)}",
        ),
    )


@pages.get("/ops/audit.csv", include_in_schema=False)
def audit_csv(request: Request, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    filters = _filters(request)

    def rows() -> Iterator[list[Any]]:
        offset = 0
        while offset < CSV_MAX_ROWS:
            batch = _query(uow, p, nct_id, filters, limit=CSV_BATCH, offset=offset)
            for r in batch:
                yield [getattr(r, c) for c in CSV_COLUMNS] + [r.before_json, r.after_json]
            if len(batch) < CSV_BATCH:
                break
            offset += CSV_BATCH

    return csv_response([*CSV_COLUMNS, "before", "after"], rows(), f"{nct_id}-audit-trail.csv")
