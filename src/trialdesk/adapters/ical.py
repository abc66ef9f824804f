"""iCalendar (.ics, RFC 5545) export of visit calendars, with the ``icalendar`` package.

Each :class:`~trialdesk.domain.schedule.Visit` becomes an all-day ``VEVENT`` on its actual date when done, else on
its planned date; the window, status and kind are in the description and categories. UIDs are stable
(``<subject>-<label>@<domain>``) so that re-importing an updated calendar updates events instead of duplicating
them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from icalendar import Calendar, Event

from trialdesk.domain.schedule import Visit, VisitKind

__all__ = ["visits_to_ics", "subject_calendar_ics", "site_calendar_ics", "write_ics"]

PRODID = "-//trialdesk//visit calendar//EN"
UID_DOMAIN = "trialdesk"

_KIND_TEXT = {
    VisitKind.TREATMENT: "Treatment",
    VisitKind.TUMOR_ASSESSMENT: "Tumour assessment",
    VisitKind.END_OF_TREATMENT: "End of treatment",
    VisitKind.SURVIVAL_FOLLOWUP: "Survival follow-up",
}


def _uid_part(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _event(visit: Visit, stamp: dt.datetime) -> Event:
    day = visit.actual or visit.planned
    ev = Event()
    ev.add(
        "uid",
        f"{_uid_part(visit.subject_id)}-{_uid_part(visit.label)}"
        f"{'-' + day.isoformat() if visit.number is None else ''}@{UID_DOMAIN}",
    )
    ev.add("dtstamp", stamp)
    ev.add("dtstart", day)
    ev.add("dtend", day + dt.timedelta(days=1))
    ev.add("summary", f"{visit.subject_id} {visit.label} ({_KIND_TEXT[visit.kind]}) - {visit.status.value}")
    lines = [
        f"Subject: {visit.subject_id}",
        f"Site: {visit.site_id or '-'}",
        f"Visit: {visit.label} ({_KIND_TEXT[visit.kind]})",
        f"Planned: {visit.planned.isoformat()}",
        f"Window: {visit.window_start.isoformat()} to {visit.window_end.isoformat()}",
        f"Status: {visit.status.value}",
    ]
    if visit.actual is not None:
        lines.append(f"Actual: {visit.actual.isoformat()}" + (" (out of window)" if visit.out_of_window else ""))
    ev.add("description", "\n".join(lines))
    ev.add("categories", [visit.kind.value, visit.status.value])
    ev.add("transp", "TRANSPARENT")
    return ev


def visits_to_ics(visits: Iterable[Visit], *, name: str, generated_at: dt.datetime | None = None) -> bytes:
    """Serialize visits as an iCalendar document.

    Parameters
    ----------
    visits : iterable of Visit
    name : str
        Calendar name (``X-WR-CALNAME``).
    generated_at : datetime, optional
        ``DTSTAMP`` of every event; defaults to now (UTC). Pass it for reproducible output.
    """
    stamp = generated_at or dt.datetime.now(dt.UTC)
    if stamp.tzinfo is None:
        raise ValueError("generated_at: must be timezone-aware")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for v in visits:
        cal.add_component(_event(v, stamp.astimezone(dt.UTC)))
    ics: bytes = cal.to_ical()
    return ics


def subject_calendar_ics(subject_id: str, visits: Iterable[Visit], *, generated_at: dt.datetime | None = None) -> bytes:
    """One subject's calendar (visits of other subjects are left out)."""
    return visits_to_ics(
        [v for v in visits if v.subject_id == subject_id], name=f"Subject {subject_id}", generated_at=generated_at
    )


def site_calendar_ics(site_id: str, visits: Iterable[Visit], *, generated_at: dt.datetime | None = None) -> bytes:
    """One site's calendar: the visits of all its subjects (visits of other sites are left out)."""
    return visits_to_ics([v for v in visits if v.site_id == site_id], name=f"Site {site_id}", generated_at=generated_at)


def write_ics(path: str | Path, data: bytes) -> Path:
    """Write an .ics document; returns the path."""
    path = Path(path)
    path.write_bytes(data)
    return path
