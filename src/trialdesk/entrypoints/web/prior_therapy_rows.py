"""The screening form's prior systemic therapies, typed in repeating rows instead of JSON.

Each row is one line of therapy or regimen (class, agents, setting, line, start, end, ongoing, cumulative dose,
best response, reason stopped), named
``prior_therapies.<k>.<field>``; the form shows three empty rows and "More rows" (a submit button, so the form works
without JavaScript) three more, nothing stored. The filled rows become the record's ``prior_therapies`` items, the
shape the JSON box and the API take (:class:`~trialdesk.domain.screening.PriorTherapy`), after checks against the
timeline: class, agents and setting required, dates that are dates, start <= end, neither after the screening, no
end (nor reason stopped) when ongoing, a line of 1 or more, a best response and a reason from their code lists.
Each problem names its row's input.
"""

from __future__ import annotations

import datetime as dt
import typing
from typing import Any

from starlette.datastructures import FormData

from trialdesk.domain.errors import Problem
from trialdesk.domain.screening import BestResponse, PriorTherapy, StopReason
from trialdesk.entrypoints.web.forms import text
from trialdesk.entrypoints.web.i18n import gettext as _

# Prior systemic therapies: repeating rows (three empty ones; "More rows" adds three without storing anything).
PRIOR_ROWS = 3
PRIOR_MAX_ROWS = 30
THERAPY_CLASSES = list(typing.get_args(PriorTherapy.model_fields["drug_class"].annotation))
THERAPY_SETTINGS = list(typing.get_args(PriorTherapy.model_fields["setting"].annotation))
#: best responses (RECIST 1.1 codes, or unknown) and reasons a therapy stopped, as the record takes them
THERAPY_RESPONSES = list(typing.get_args(BestResponse))
THERAPY_STOP_REASONS = list(typing.get_args(StopReason))
#: a prior therapy row's inputs, ``prior_therapies.<k>.<field>``, in the order of the row
PRIOR_FIELDS = (
    "drug_class",
    "agent",
    "setting",
    "line_of_therapy",
    "start_date",
    "end_date",
    "ongoing",
    "cumulative_dose_mg_m2",
    "best_response",
    "reason_stopped",
)


def prior_row_count(form: FormData | None) -> int:
    """How many prior therapy rows the form shows: three, the number posted back, three more after "More rows"."""
    if form is None:
        return PRIOR_ROWS
    raw = text(form, "prior_rows")
    n = int(raw) if raw.isdigit() else PRIOR_ROWS
    if text(form, "more_rows"):
        n += PRIOR_ROWS
    return max(PRIOR_ROWS, min(n, PRIOR_MAX_ROWS))


def prior_row_labels(n: int) -> dict[str, str]:
    """The label of each prior therapy row input, by its name (``prior_therapies.0.agent``)."""
    names = {
        "drug_class": _("Class"),
        "agent": _("Regimen / agents"),
        "setting": _("Setting"),
        "line_of_therapy": _("Line"),
        "start_date": _("Start"),
        "end_date": _("End"),
        "ongoing": _("Ongoing"),
        "cumulative_dose_mg_m2": _("Cumulative dose (mg/m²)"),
        "best_response": _("Best response"),
        "reason_stopped": _("Reason stopped"),
    }
    return {
        f"prior_therapies.{k}.{name}": _("Prior therapy %(n)s: %(field)s", n=k + 1, field=label)
        for k in range(n)
        for name, label in names.items()
    }


def parse_day(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def prior_therapies_from_form(
    form: FormData, n: int, screening_day: dt.date | None
) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    """The filled prior therapy rows as ``(row, therapy)`` in the shape of the record's ``prior_therapies`` items
    (:class:`PriorTherapy`), and each row's problems (``record.prior_therapies.<row>.<field>``): the class, agents
    and setting required, dates that are dates, start <= end, neither after the screening, no end when ongoing."""
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    for k in range(n):
        raw = {f: text(form, f"prior_therapies.{k}.{f}").strip() for f in PRIOR_FIELDS}
        ongoing = raw.pop("ongoing") == "yes"
        if not any(raw.values()) and not ongoing:
            continue
        path = f"record.prior_therapies.{k}"
        therapy: dict[str, Any] = {}
        for name in ("drug_class", "agent", "setting"):
            if raw[name]:
                therapy[name] = raw[name]
            else:
                problems.append(Problem(f"{path}.{name}", _("Required for prior therapy %(n)s.", n=k + 1)))
        dates: dict[str, dt.date] = {}
        for name in ("start_date", "end_date"):
            if raw[name]:
                day = parse_day(raw[name])
                if day is None:
                    problems.append(
                        Problem(f"{path}.{name}", _("Enter a valid date as YYYY-MM-DD (for example 2026-01-31)."))
                    )
                else:
                    dates[name] = day
                    therapy[name] = day.isoformat()
                    if screening_day is not None and day > screening_day:
                        problems.append(
                            Problem(
                                f"{path}.{name}", _("After the screening date %(day)s.", day=screening_day.isoformat())
                            )
                        )
        start, end = dates.get("start_date"), dates.get("end_date")
        if start and end and end < start:
            problems.append(Problem(f"{path}.end_date", _("Before the start %(day)s.", day=start.isoformat())))
        if ongoing:
            therapy["ongoing"] = True
            if end:
                problems.append(Problem(f"{path}.end_date", _("Leave the end empty for an ongoing therapy.")))
        if raw["cumulative_dose_mg_m2"]:
            try:
                therapy["cumulative_dose_mg_m2"] = float(raw["cumulative_dose_mg_m2"])
            except ValueError:
                problems.append(Problem(f"{path}.cumulative_dose_mg_m2", _("Enter a number (for example 12.5).")))
        problems += _line_and_outcome(raw, ongoing, path, therapy)
        rows.append((k, therapy))
    return rows, problems


def _line_and_outcome(raw: dict[str, str], ongoing: bool, path: str, therapy: dict[str, Any]) -> list[Problem]:
    """A row's line of therapy (a whole number, 1 or more), best response (a RECIST code or unknown) and reason
    stopped (one of the listed codes; none for an ongoing therapy), put into ``therapy``; the problems of each."""
    problems: list[Problem] = []
    line = raw["line_of_therapy"]
    if line:
        if not line.isdigit():
            problems.append(Problem(f"{path}.line_of_therapy", _("Enter a whole number (1 for the first line).")))
        elif int(line) < 1:
            problems.append(Problem(f"{path}.line_of_therapy", _("The first line is 1.")))
        else:
            therapy["line_of_therapy"] = int(line)
    for name, codes in (("best_response", THERAPY_RESPONSES), ("reason_stopped", THERAPY_STOP_REASONS)):
        code = raw[name]
        if not code:
            continue
        if code not in codes:
            problems.append(Problem(f"{path}.{name}", _("Choose one of the listed values.")))
        else:
            therapy[name] = code
    if ongoing and raw["reason_stopped"]:
        problems.append(Problem(f"{path}.reason_stopped", _("Leave the reason empty for an ongoing therapy.")))
    return problems
