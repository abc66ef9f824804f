"""Screening log: JSON API, the screening form and result pages, and the site/subject panels."""

from __future__ import annotations

import datetime as dt
import json
import typing
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import InvalidInput, Problem
from trialdesk.domain.screening import Lesion, MedicalHistory
from trialdesk.domain.units import ANALYTES
from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.entrypoints.web.deps import FormDep, PagePrincipalDep, PrincipalDep, TrialDep, UowDep, committed
from trialdesk.entrypoints.web.forms import FormInvalid, field_label, readable, text, typed, validate
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import N_, label
from trialdesk.entrypoints.web.prior_therapy_rows import (
    PRIOR_ROWS,
    THERAPY_CLASSES,
    THERAPY_RESPONSES,
    THERAPY_SETTINGS,
    THERAPY_STOP_REASONS,
    parse_day,
    prior_row_count,
    prior_row_labels,
    prior_therapies_from_form,
)
from trialdesk.entrypoints.web.templating import ctx, templates
from trialdesk.services import screening, sites
from trialdesk.services.commands import ScreenPatient

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["screening"])
pages = APIRouter(dependencies=[PageUser])


# --------------------------------------------------------------------------------------------------------- API


@api.post("/trials/{nct_id}/screenings", status_code=201)
def create_screening(nct_id: str, body: ScreenPatient, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Screen a patient at a site and store the screening (rescreening the same patient_ref keeps both)."""
    return committed(uow, screening.screen_subject(uow, p, nct_id, body))


@api.get("/trials/{nct_id}/screenings")
def list_screenings(nct_id: str, p: PrincipalDep, uow: UowDep, site: str | None = None) -> list[dict[str, Any]]:
    """The screening log at your sites (or one site)."""
    return screening.screening_log(uow, p, nct_id, site)


@api.get("/trials/{nct_id}/screenings/{site_key}/{screening_number}")
def get_screening(nct_id: str, site_key: str, screening_number: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """One screening with every criterion's status and reason, and the record."""
    return screening.get_screening(uow, p, nct_id, site_key, screening_number)


@api.get("/trials/{nct_id}/screening-summary")
def screening_summary(nct_id: str, p: PrincipalDep, uow: UowDep) -> dict[str, Any]:
    """Screened / eligible / ineligible / incomplete subjects and screen failures by criterion (no identifiers)."""
    return screening.screen_failure_summary(uow, p, nct_id)


# --------------------------------------------------------------------------------------------------------- form
LAB_LABELS = {
    "anc": N_("ANC"),
    "platelets": N_("Platelets"),
    "hemoglobin": N_("Haemoglobin"),
    "total_bilirubin": N_("Total bilirubin"),
    "alt": N_("ALT"),
    "ast": N_("AST"),
    "creatinine": N_("Creatinine"),
    "albumin": N_("Albumin"),
}
LESION_SLOTS = 3
# The lesion choices are the domain model's own literals, so the form offers exactly what validation accepts.
ORGANS = list(typing.get_args(Lesion.model_fields["organ"].annotation))
METHODS = list(typing.get_args(Lesion.model_fields["method"].annotation))


def _yes_no() -> list[tuple[str, str]]:
    return [("", _("not recorded")), ("yes", "yes"), ("no", "no")]


def _options(values: Iterable[str]) -> list[tuple[str, str]]:
    return [("", _("not recorded"))] + [(v, v) for v in values]


def _field(
    name: str, label: str, kind: str, options: list[tuple[str, str]] | None = None, hint: str | None = None
) -> dict[str, Any]:
    return {"name": name, "label": label, "kind": kind, "options": options, "hint": hint}


def form_sections(attestations: dict[str, str]) -> list[dict[str, Any]]:
    """The form's fields, by section. ``name`` is the record path (``labs.anc.value``); ``kind`` is text, date,
    number, int, bool (yes/no) or select."""
    history = []
    for name, f in MedicalHistory.model_fields.items():
        if typing.get_args(f.annotation) and bool in typing.get_args(f.annotation):
            label = name.replace("_", " ").capitalize() + (f" ({f.description})" if f.description else "")
            history.append(_field(f"history.{name}", label, "bool", _yes_no()))
    history.append(_field("history.last_radiotherapy_end_date", _("Last radiotherapy ended"), "date"))
    labs = []
    for name, (_canonical, units) in ANALYTES.items():
        label = _(LAB_LABELS[name]) if name in LAB_LABELS else name
        labs.append(_field(f"labs.{name}.value", label, "number"))
        labs.append(_field(f"labs.{name}.unit", _("%(lab)s unit", lab=label), "select", [(u, u) for u in units]))
        labs.append(
            _field(f"labs.{name}.uln", _("%(lab)s ULN", lab=label), "number", hint=_("same unit; needed for ratios"))
        )
    lesions = []
    for k in range(LESION_SLOTS):
        lesions += [
            _field(f"lesions.{k}.organ", _("Lesion %(n)s organ", n=k + 1), "select", _options(ORGANS)),
            _field(f"lesions.{k}.longest_diameter_mm", _("Lesion %(n)s longest diameter (mm)", n=k + 1), "number"),
            _field(f"lesions.{k}.short_axis_mm", _("Lesion %(n)s short axis (mm, nodes)", n=k + 1), "number"),
            _field(f"lesions.{k}.method", _("Lesion %(n)s method", n=k + 1), "select", _options(METHODS)),
        ]
    return [
        {
            "title": _("Patient"),
            "fields": [
                _field("birth_date", _("Birth date"), "date"),
                _field("sex", _("Sex"), "select", _options(["female", "male"])),
                _field("consent_date", _("Informed consent signed"), "date"),
                _field("planned_first_dose_date", _("Planned first dose"), "date"),
                _field("ecog", _("ECOG performance status"), "select", _options(["0", "1", "2", "3", "4", "5"])),
            ],
        },
        {
            "title": _("Tumour biology and disease"),
            "fields": [
                _field("her2.ihc", _("HER2 IHC"), "select", _options(["0", "1+", "2+", "3+"])),
                _field("her2.ish", _("HER2 ISH"), "select", _options(["amplified", "not_amplified"])),
                _field("er_status", _("ER"), "select", _options(["positive", "negative", "not_determined"])),
                _field("pr_status", _("PR"), "select", _options(["positive", "negative", "not_determined"])),
                _field("disease.invasive_carcinoma", _("Invasive carcinoma"), "bool", _yes_no()),
                _field(
                    "disease.confirmation",
                    _("Diagnosis confirmed"),
                    "select",
                    _options(["histological", "cytological", "not_confirmed"]),
                ),
                _field("disease.recurrent_or_metastatic", _("Recurrent or metastatic now"), "bool", _yes_no()),
                _field("disease.presentation", _("Disease setting"), "select", _options(["de_novo", "recurrent"])),
                _field("disease.initial_diagnosis_date", _("Initial diagnosis"), "date"),
                _field("disease.recurrence_date", _("Recurrence / metastasis found"), "date"),
                _field(
                    "cns.brain_metastases",
                    _("Brain metastases"),
                    "select",
                    _options(["none", "treated_stable", "active"]),
                ),
                _field("cns.spinal_cord_compression", _("Spinal cord compression"), "bool", _yes_no()),
                _field(
                    "prior_therapies_none",
                    _("No prior systemic therapy"),
                    "bool",
                    [("", _("see the rows below")), ("yes", _("none"))],
                    hint=_("otherwise list each prior therapy in the rows below"),
                ),
            ],
            "prior_rows_after": True,
        },
        {"title": _("Baseline lesions"), "fields": lesions},
        {"title": _("Laboratory (with units)"), "fields": labs},
        {
            "title": _("Heart, vital signs, urine"),
            "fields": [
                _field("lvef_percent", _("LVEF (%)"), "number"),
                _field("vitals.systolic_bp_mmhg", _("Systolic BP (mmHg)"), "number"),
                _field("vitals.diastolic_bp_mmhg", _("Diastolic BP (mmHg)"), "number"),
                _field("vitals.weight_kg", _("Weight (kg)"), "number"),
                _field("vitals.height_cm", _("Height (cm)"), "number"),
                _field(
                    "urinalysis.protein_dipstick",
                    _("Urine protein (dipstick)"),
                    "select",
                    _options(["negative", "trace", "1+", "2+", "3+", "4+"]),
                ),
            ],
        },
        {"title": _("History (yes = the condition is present)"), "fields": history},
        {
            "title": _("Investigator attestations"),
            "fields": [
                _field(
                    f"attestations.{cid}",
                    f"{cid}: {text}",
                    "bool",
                    [("", _("not yet")), ("yes", _("attested")), ("no", _("not satisfied"))],
                )
                for cid, text in attestations.items()
            ],
        },
    ]


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    cur: Any = target
    for i, part in enumerate(parts[:-1]):
        nxt_is_index = parts[i + 1].isdigit()
        if part.isdigit():
            idx = int(part)
            while len(cur) <= idx:
                cur.append({})
            cur = cur[idx]
            continue
        if part not in cur or not isinstance(cur[part], (dict, list)):
            cur[part] = [] if nxt_is_index else {}
        cur = cur[part]
    cur[parts[-1]] = value


def record_from_form(
    form: FormData,
    sections: list[dict[str, Any]],
    *,
    prior_rows: int = PRIOR_ROWS,
    screening_day: dt.date | None = None,
    prior_index: dict[int, int] | None = None,
) -> dict[str, Any]:
    """The screening record from the form: the JSON box (advanced) first, then every filled field over it, the
    prior therapy rows appended to its ``prior_therapies`` (``prior_index`` gets each one's position in that list ->
    its form row, for the use case's messages).

    Raises :class:`InvalidInput` naming ``record_json`` or ``record.<path>`` for unreadable input."""
    problems: list[Problem] = []
    json_text = text(form, "record_json").strip()
    record: dict[str, Any] = {}
    if json_text:
        try:
            record = json.loads(json_text)
        except json.JSONDecodeError as exc:
            problems.append(Problem("record_json", f"not valid JSON: {exc.msg}", exc.lineno))
        if not isinstance(record, dict):
            problems.append(Problem("record_json", "must be a JSON object"))
            record = {}
    values: dict[str, Any] = {}
    for section in sections:
        for f in section["fields"]:
            raw = text(form, f["name"]).strip()
            if not raw:
                continue
            path = f["name"]
            if f["kind"] == "number":
                try:
                    values[path] = float(raw)
                except ValueError:
                    problems.append(Problem(f"record.{path}", _("Enter a number (for example 12.5).")))
            elif f["kind"] == "bool":
                values[path] = raw == "yes"
            elif path == "ecog":
                try:
                    values[path] = int(raw)
                except ValueError:
                    problems.append(Problem("record.ecog", _("Enter a whole number.")))
            else:
                values[path] = raw
    # a lab without a value, or a lesion without an organ, was not entered (units are pre-selected); but a
    # ULN or a lesion measurement on its own is a forgotten item, not an empty row
    for name in ANALYTES:
        if f"labs.{name}.value" not in values and f"labs.{name}.uln" in values:
            problems.append(Problem(f"record.labs.{name}.value", _("Required when the ULN is given.")))
    for k in range(LESION_SLOTS):
        filled = [key for key in values if key.startswith(f"lesions.{k}.") and not key.endswith(".method")]
        if filled and f"lesions.{k}.organ" not in values:
            problems.append(
                Problem(
                    f"record.lesions.{k}.organ",
                    _("Required for lesion %(n)s (its measurements are filled in).", n=k + 1),
                )
            )
    therapies, therapy_problems = prior_therapies_from_form(form, prior_rows, screening_day)
    problems += therapy_problems
    if problems:
        raise InvalidInput(problems)
    if values.pop("prior_therapies_none", None):
        if record.get("prior_therapies") or therapies:
            raise InvalidInput(
                _("'No prior systemic therapy' contradicts the prior therapies entered."),
                field="record.prior_therapies_none",
            )
        record["prior_therapies"] = []
    if therapies:
        listed = list(record.get("prior_therapies") or [])
        for row, therapy in therapies:
            if prior_index is not None:
                prior_index[len(listed)] = row
            listed.append(therapy)
        record["prior_therapies"] = listed
    for name in ANALYTES:
        if f"labs.{name}.value" not in values:
            values.pop(f"labs.{name}.unit", None)
            values.pop(f"labs.{name}.uln", None)
    lesion_values = {k: v for k, v in values.items() if k.startswith("lesions.")}
    entered = sorted({int(k.split(".")[1]) for k in lesion_values if k.endswith(".organ")})
    for key in lesion_values:
        del values[key]
    if entered:
        lesions = list(record.get("lesions") or [])
        for slot in entered:
            lesion = {k.split(".", 2)[2]: v for k, v in lesion_values.items() if k.startswith(f"lesions.{slot}.")}
            lesions.append(lesion)
        record["lesions"] = lesions
    for path, value in values.items():
        _set(record, path, value)
    return record


def _attestation_texts(uow: Any, nct_id: str) -> dict[str, str]:
    from trialdesk.entrypoints.web.protocol_text import protocol_text
    from trialdesk.services.registry import get_protocol

    protocol = get_protocol(uow, nct_id, live_sites=False)
    spec = protocol.operations.eligibility
    if spec is None:
        return {}
    return {
        cid: protocol_text(protocol, "attestations", cid, c.attestation)
        for cid, c in spec.criteria.items()
        if c.attestation is not None
    }


def _example(name: str) -> str:
    from pathlib import Path

    for base in Path(__file__).resolve().parents:
        path = base / "docs" / "screening" / f"{name}.json"
        if path.is_file():
            return path.read_text()
    return ""


def _form_field(path: str, prior_index: dict[int, int] | None = None) -> str:
    """The form input of a problem's path: the record's items are named by their path in the record (a prior
    therapy by its form row, ``prior_index``: position in the record's list -> row)."""
    name = path.removeprefix("record.")
    parts = name.split(".")
    if prior_index and len(parts) >= 2 and parts[0] == "prior_therapies" and parts[1].isdigit():
        row = prior_index.get(int(parts[1]))
        if row is not None:
            parts[1] = str(row)
            name = ".".join(parts)
    return name


def _labels(sections: list[dict[str, Any]], prior_rows: int) -> dict[str, str]:
    out = {"patient_ref": _("Patient reference"), "screened_on": _("Screening date"), "record_json": _("Record JSON")}
    out.update({f["name"]: f["label"] for section in sections for f in section["fields"]})
    out.update(prior_row_labels(prior_rows))
    return out


def _form_response(
    request: Request,
    nct_id: str,
    site: dict[str, Any],
    sections: list[dict[str, Any]],
    values: dict[str, str],
    errors: list[Problem] | None = None,
    status_code: int = 200,
    *,
    prior_rows: int = PRIOR_ROWS,
    prior_index: dict[int, int] | None = None,
) -> HTMLResponse:
    """The screening form; ``errors``: every problem listed above the form by its field's label, and each beside
    its input."""
    problems = errors or []
    labels = _labels(sections, prior_rows)
    field_errors: dict[str, str] = {}
    listed: list[dict[str, Any]] = []
    for problem in problems:
        name = _form_field(problem.path, prior_index) if problem.path else ""
        message = readable(problem.message, labels)
        if name:
            field_errors.setdefault(name, message)
        label = field_label(name, labels) if name else _("The record")
        # the record path stays in the markup (data-path) for support and scripts; people read the label
        listed.append({"field": name, "label": label, "line": problem.line, "message": message, "path": problem.path})
    return templates.TemplateResponse(
        request,
        "screening_form.html",
        ctx(
            request,
            site=site,
            sections=sections,
            values=values,
            errors=listed,
            field_errors=field_errors,
            nct_id=nct_id,
            prior_rows=prior_rows,
            therapy_classes=THERAPY_CLASSES,
            therapy_settings=THERAPY_SETTINGS,
            therapy_responses=THERAPY_RESPONSES,
            therapy_stop_reasons=THERAPY_STOP_REASONS,
        ),
        status_code=status_code,
    )


@pages.get("/ops/sites/{site_key}/screen", response_class=HTMLResponse, include_in_schema=False)
def screening_form(
    request: Request,
    site_key: str,
    principal: PagePrincipalDep,
    uow: UowDep,
    nct_id: TrialDep,
    example: str | None = None,
) -> HTMLResponse:
    from trialdesk.domain.access import require

    require(principal, Action.SCREEN, site_key)
    site = sites.view_site(uow, principal, nct_id, site_key)
    sections = form_sections(_attestation_texts(uow, nct_id))
    values = {"screened_on": "", "patient_ref": ""}
    if example in ("eligible", "ineligible", "incomplete"):
        values["record_json"] = _example(example)
    return _form_response(request, nct_id, site, sections, values)


@pages.post("/ops/sites/{site_key}/screen", response_class=HTMLResponse, include_in_schema=False)
def screening_submit(
    request: Request, site_key: str, form: FormDep, principal: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    """Screen and store; the record's unreadable items and the use case's problems come back (422) listed above
    the form and each beside its input, with everything typed kept."""
    site = sites.view_site(uow, principal, nct_id, site_key)
    sections = form_sections(_attestation_texts(uow, nct_id))
    values = typed(form)
    prior_rows = prior_row_count(form)
    if text(form, "more_rows"):  # "More rows": the same form, three more prior therapy rows, nothing stored
        return _form_response(request, nct_id, site, sections, values, prior_rows=prior_rows)
    prior_index: dict[int, int] = {}
    screening_day = parse_day(text(form, "screened_on").strip()) or uow.now().date()
    try:
        record = record_from_form(
            form, sections, prior_rows=prior_rows, screening_day=screening_day, prior_index=prior_index
        )
        command = validate(
            ScreenPatient,
            {
                "site": site_key,
                "patient_ref": text(form, "patient_ref"),
                "record": record,
                "screened_on": text(form, "screened_on"),
            },
        )
        out = screening.screen_subject(uow, principal, nct_id, command)
        uow.commit()
    except FormInvalid as exc:
        problems = [Problem(name, message) for name, message in exc.errors.items()]
        return _form_response(request, nct_id, site, sections, values, problems, status_code=422, prior_rows=prior_rows)
    except InvalidInput as exc:
        uow.rollback()
        return _form_response(
            request,
            nct_id,
            site,
            sections,
            values,
            exc.problems,
            status_code=422,
            prior_rows=prior_rows,
            prior_index=prior_index,
        )
    return RedirectResponse(f"/ops/sites/{site_key}/screenings/{out['screening_number']}", status_code=303)


@pages.get("/ops/sites/{site_key}/screenings/{screening_number}", response_class=HTMLResponse, include_in_schema=False)
def screening_result(
    request: Request, site_key: str, screening_number: str, principal: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> HTMLResponse:
    row = screening.get_screening(uow, principal, nct_id, site_key, screening_number)
    site = sites.view_site(uow, principal, nct_id, site_key)
    _in_page_language(uow, nct_id, row)
    return templates.TemplateResponse(
        request,
        "screening_result.html",
        ctx(request, s=row, site=site, nct_id=nct_id, can_screen=principal.can(Action.SCREEN, site_key)),
    )


def _in_page_language(uow: Any, nct_id: str, row: dict[str, Any]) -> None:
    """The criteria's texts and reasons of a screening in the page's language (the protocol's translations and
    ``messages.eligibility_reason``); unchanged on an English page."""
    from trialdesk.entrypoints.web.i18n import language
    from trialdesk.entrypoints.web.messages import eligibility_reason
    from trialdesk.entrypoints.web.protocol_text import protocol_text
    from trialdesk.services.registry import get_protocol

    if language() == "en":
        return
    protocol = get_protocol(uow, nct_id, live_sites=False)
    for c in row.get("criteria") or []:
        c["text"] = protocol_text(protocol, "criteria", c["id"], c.get("text") or "")
        c["reason"] = eligibility_reason(c.get("reason") or "", protocol)


# --------------------------------------------------------------------------------------------------------- panels
def site_screening_panel(uow: Any, principal: Principal, nct_id: str, site_key: str) -> dict[str, Any] | None:
    can_view = principal.can(Action.SUBJECT_VIEW, site_key)
    can_screen = principal.can(Action.SCREEN, site_key)
    if not (can_view or can_screen):
        return None
    rows = []
    if can_view:
        for r in reversed(screening.screening_log(uow, principal, nct_id, site_key)):
            rows.append(
                [
                    {
                        "href": f"/ops/sites/{site_key}/screenings/{r['screening_number']}",
                        "text": r["screening_number"],
                    },
                    {"href": f"/ops/subjects/{r['subject_number']}", "text": r["subject_number"]},
                    r["screened_on"],
                    r["verdict"],
                    ", ".join(r["failed_criteria"]) or "-",
                ]
            )
    return {
        "title": "Screening log",
        "columns": ["Screening", "Subject", "Date", "Verdict", "Failed criteria"],
        "rows": rows,
        "empty": "No screenings at this site yet.",
        "actions": [{"href": f"/ops/sites/{site_key}/screen", "label": "Screen a patient"}] if can_screen else [],
    }


def subject_screenings_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any]:
    rows = [
        [
            {
                "href": f"/ops/sites/{subject.site_key}/screenings/{r['screening_number']}",
                "text": r["screening_number"],
            },
            r["screened_on"],  # ISO: the subject page shows it as a date in <time datetime>
            label(r["verdict"]),
            ", ".join(r["failed_criteria"]) or "-",
        ]
        for r in screening.screenings_of(uow, principal, nct_id, subject)
    ]
    return {
        "title": N_("Screenings"),
        "columns": [N_("Screening"), N_("Date"), N_("Verdict"), N_("Failed criteria")],
        "rows": rows,
        "empty": N_("No screening recorded."),
    }
