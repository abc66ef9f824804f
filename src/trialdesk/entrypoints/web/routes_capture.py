"""Data capture on the web: JSON API (adverse events, tumour assessments, signature, CTCAE terms), the forms
behind the casebook's panels, and the site panel "Serious adverse events" (queries: :mod:`.routes_capture_queries`)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from trialdesk.domain.access import Action, Principal
from trialdesk.domain.errors import AuthenticationFailed
from trialdesk.entrypoints.web import casebook
from trialdesk.entrypoints.web.auth import ApiUser, PageUser
from trialdesk.entrypoints.web.casebook import date_cell, moment_cell
from trialdesk.entrypoints.web.deps import (
    FormDep,
    PagePrincipalDep,
    PrincipalDep,
    RecordId,
    TrialDep,
    UowDep,
    committed,
)
from trialdesk.entrypoints.web.forms import CHECK_FIELDS, FormInvalid, FormState, Rename, text, typed, validate
from trialdesk.entrypoints.web.i18n import day, num, pct, when
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import N_, label
from trialdesk.entrypoints.web.messages import recist_reason
from trialdesk.entrypoints.web.subject_page import back_to, casebook_url, render, submit
from trialdesk.services import adverse_events as ae
from trialdesk.services import ctcae, signatures, tumor
from trialdesk.services.commands import (
    EditRecord,
    MarkSaeReported,
    RecordAdverseEvent,
    RecordAdverseEventForm,
    RecordTumourAssessment,
    RecordTumourAssessmentForm,
    SignCasebook,
    SignCasebookForm,
)

api = APIRouter(prefix="/api/v1", dependencies=[ApiUser], tags=["capture"])
pages = APIRouter(dependencies=[PageUser])

SUBJECT = "/trials/{nct_id}/subjects/{subject_number}"


def _json(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` as JSON values (dates as ISO text), as the tumour assessment API has always answered."""
    plain: dict[str, Any] = json.loads(json.dumps(out, default=str))
    return plain


# --- JSON API ----------------------------------------------------------------------------------------------------


@api.get("/ctcae/terms/{query}")
def ctcae_term(uow: UowDep, query: str) -> dict[str, Any]:
    """A CTCAE term (name or MedDRA code) with the grades it defines."""
    return ctcae.term_info(uow, query)


@api.get(SUBJECT + "/adverse-events")
def list_aes(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str) -> list[dict[str, Any]]:
    return ae.list_adverse_events(uow, p, nct_id, subject_number)


@api.post(SUBJECT + "/adverse-events", status_code=201)
def add_ae(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: RecordAdverseEvent) -> dict[str, Any]:
    return committed(uow, ae.record_adverse_event(uow, p, nct_id, subject_number, body))


@api.patch(SUBJECT + "/adverse-events/{ae_id}")
def edit_ae(
    p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, ae_id: RecordId, body: EditRecord
) -> dict[str, Any]:
    return committed(uow, ae.update_adverse_event(uow, p, nct_id, subject_number, ae_id, body))


@api.post(SUBJECT + "/adverse-events/{ae_id}/sae-report")
def sae_report(
    p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, ae_id: RecordId, body: MarkSaeReported
) -> dict[str, Any]:
    return committed(uow, ae.mark_sae_reported(uow, p, nct_id, subject_number, ae_id, body))


@api.get(SUBJECT + "/tumor-assessments")
def tumor_summary(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str) -> dict[str, Any]:
    return _json(tumor.recist_summary(uow, p, nct_id, subject_number))


@api.post(SUBJECT + "/tumor-assessments", status_code=201)
def add_tumor(
    p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: RecordTumourAssessment
) -> dict[str, Any]:
    out = committed(uow, tumor.record_tumor_assessment(uow, p, nct_id, subject_number, body))
    return _json(out)


@api.patch(SUBJECT + "/tumor-assessments/{assessment_id}")
def edit_tumor(
    p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, assessment_id: RecordId, body: EditRecord
) -> dict[str, Any]:
    out = committed(uow, tumor.update_tumor_assessment(uow, p, nct_id, subject_number, assessment_id, body))
    return _json(out)


@api.get(SUBJECT + "/signature")
def signature_status(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str) -> dict[str, Any]:
    return signatures.casebook_status(uow, p, nct_id, subject_number)


@api.post(SUBJECT + "/signature", status_code=201)
def sign(p: PrincipalDep, uow: UowDep, nct_id: str, subject_number: str, body: SignCasebook) -> dict[str, Any]:
    return committed(uow, signatures.sign_casebook(uow, p, nct_id, subject_number, body))


# --- page forms --------------------------------------------------------------------------------------------------
# Each form comes back to the subject page (422) with what was typed and each message beside its field when its
# command model or the use case refuses the input (subject_page.submit).


def _back(subject_number: str, anchor: str) -> RedirectResponse:
    return back_to(subject_number, anchor)


def _ae_field(path: str) -> str:
    """The AE form's input of a command field: ``relationship.docetaxel`` is the select ``rel_docetaxel``."""
    head, _, rest = path.partition(".")
    if head == "relationship" and rest:
        return "rel_" + rest.split(".")[0]
    return head


@pages.post("/ops/subjects/{subject_number}/adverse-events", include_in_schema=False)
def ae_form(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    relationship = {k[4:]: v for k, v in form.items() if k.startswith("rel_") and isinstance(v, str) and v}
    seriousness = [v for v in form.getlist("seriousness") if isinstance(v, str)]
    values = {k: text(form, k) for k in ("term", "grade", "onset_date", "resolution_date", "action_taken", "outcome")}
    typed_values: dict[str, Any] = {**typed(form), "seriousness": seriousness}

    def record() -> None:
        command = validate(
            RecordAdverseEventForm,
            {
                **values,
                "serious": text(form, "serious") == "on",
                "seriousness": seriousness,
                "relationship": relationship,
            },
            rename=_ae_field,
        )
        ae.record_adverse_event(uow, p, nct_id, subject_number, command)

    back = submit(request, uow, p, nct_id, subject_number, FormState("ae-form", typed_values), record, rename=_ae_field)
    return back or _back(subject_number, "adverse_events")


@pages.post("/ops/subjects/{subject_number}/adverse-events/{ae_id}/sae-report", include_in_schema=False)
def sae_form(subject_number: str, ae_id: RecordId, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep) -> Response:
    committed(uow, ae.mark_sae_reported(uow, p, nct_id, subject_number, ae_id, MarkSaeReported()))
    return _back(subject_number, "adverse_events")


#: The tumour form's empty lesion rows (``l0_id`` ... ``l9_value``) before a baseline; after it, one row per baseline
#: lesion plus NEW_LESION_ROWS for new lesions. The lesion fields each row's inputs show.
LESION_ROWS = 10
NEW_LESION_ROWS = 4
_MAX_LESION_ROWS = 64
_LESION_INPUTS = {"lesion_id": "id", "kind": "kind", "organ": "organ", "nodal": "nodal"}


def _lesions_from_rows(form: FormData) -> tuple[list[dict[str, Any]], list[int]]:
    """The lesions of the filled rows, and for each the row it came from (rows without a lesion id are empty)."""
    lesions, rows = [], []
    for i in range(_MAX_LESION_ROWS):
        lesion_id = text(form, f"l{i}_id").strip()
        if not lesion_id:
            continue
        kind = text(form, f"l{i}_kind") or "target"
        lesion: dict[str, Any] = {"lesion_id": lesion_id, "kind": kind}
        if text(form, f"l{i}_organ"):
            lesion["organ"] = text(form, f"l{i}_organ").strip()
        if text(form, f"l{i}_nodal") == "on":
            lesion["nodal"] = True
        value = text(form, f"l{i}_value").strip()
        if kind == "target":
            try:
                lesion["measurement"] = float(value)
            except ValueError:
                lesion["measurement"] = value or None
        elif value:
            lesion["status"] = value
        lesions.append(lesion)
        rows.append(i)
    return lesions, rows


def _tumor_field(rows: list[int] | None) -> Rename:
    """The tumour form's input of a lesion path: ``lesions.1.organ`` is the second filled row's organ input,
    any other field of a lesion its value input; the lesions typed as JSON all show in the JSON box."""

    def rename(path: str) -> str:
        parts = path.split(".")
        if parts[0] != "lesions":
            return parts[0]
        if rows is None:
            return "lesions_json"
        if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows):
            row = rows[int(parts[1])]
            return f"l{row}_" + _LESION_INPUTS.get(parts[2] if len(parts) > 2 else "", "value")
        return "lesions"

    return rename


@pages.post("/ops/subjects/{subject_number}/tumor-assessments", include_in_schema=False)
def tumor_form(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    lesions_json = text(form, "lesions_json").strip()
    rows: list[int] | None = None
    lesions: Any
    if lesions_json:
        try:
            lesions = json.loads(lesions_json)
        except ValueError as exc:
            lesions = exc
    else:
        lesions, rows = _lesions_from_rows(form)
    rename = _tumor_field(rows)

    def record() -> None:
        if isinstance(lesions, ValueError):
            raise FormInvalid({"lesions_json": f"not valid JSON: {lesions}"})
        command = validate(
            RecordTumourAssessmentForm,
            {
                "assessment_date": text(form, "assessment_date"),
                "lesions": lesions,
                "baseline": text(form, "baseline") == "on",
            },
            rename=rename,
        )
        tumor.record_tumor_assessment(uow, p, nct_id, subject_number, command)

    back = submit(request, uow, p, nct_id, subject_number, FormState("tumor-form", typed(form)), record, rename=rename)
    return back or _back(subject_number, "tumour_assessments")


@pages.post("/ops/subjects/{subject_number}/signature", include_in_schema=False)
def sign_form(
    request: Request, subject_number: str, form: FormDep, p: PagePrincipalDep, uow: UowDep, nct_id: TrialDep
) -> Response:
    def record() -> None:
        command = validate(
            SignCasebookForm,
            {"password": text(form, "password"), "meaning": text(form, "meaning") or signatures.DEFAULT_MEANING},
        )
        signatures.sign_casebook(uow, p, nct_id, subject_number, command)

    # the password typed is never sent back
    state = FormState("sign-form", {"meaning": text(form, "meaning")})
    try:
        back = submit(request, uow, p, nct_id, subject_number, state, record)
    except AuthenticationFailed as exc:
        # a wrong signing password: the use case counted the attempt (the login's lockout, 21 CFR 11.300(d)) and
        # audited it (casebook.sign_failed), committed; the signer stays logged in and the form comes back
        if "locked" in exc.message:
            word = _("Locked after repeated wrong passwords; the casebook was not signed. Try again later.")
        else:
            word = _("Wrong password; the casebook was not signed.")
        refused = FormState(state.form, state.values, {"password": word}, CHECK_FIELDS)
        return render(request, uow, p, nct_id, subject_number, form_state=refused, status_code=422)
    return back or _back(subject_number, "signature")


# --- panels ------------------------------------------------------------------------------------------------------


def _sae_text(clock: dict[str, Any] | None) -> str:
    if not clock:
        return ""
    if clock["reported_at"]:
        if clock["status"] == "reported_late":
            return _("reported %(when)s (late)", when=when(clock["reported_at"]))
        return _("reported %(when)s", when=when(clock["reported_at"]))
    if clock["status"] == "overdue":
        return _("SAE report OVERDUE by %(when)s", when=when(clock["due_by"]))
    return _("SAE report due by %(when)s", when=when(clock["due_by"]))


def ae_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any]:
    rows = uow.adverse_events.for_subject(subject.id)
    items = [ae.ae_dict(uow, r, subject.subject_number) for r in rows]
    can_enter = principal.can(Action.DATA_ENTER, subject.site_key)
    form: dict[str, Any] = {}
    if can_enter:
        try:
            names = ctcae.term_names(uow)
        except Exception:  # pragma: no cover - dictionary missing is shown below
            names = []
        _, drugs = ae._arm_drugs(uow, nct_id, subject)
        form = {
            "terms": names,
            "drugs": drugs,
            "criteria": [c.value for c in ae.Seriousness],
            "relationships": [r.value for r in ae.Relationship],
            "actions": [a.value for a in ae.ActionTaken],
            "outcomes": [o.value for o in ae.Outcome],
        }
    return {
        "title": N_("Adverse events"),
        "columns": [
            N_("#"),
            N_("Term (MedDRA)"),
            N_("Grade"),
            N_("Onset"),
            N_("Resolved"),
            N_("Serious"),
            N_("Outcome"),
            N_("SAE report"),
        ],
        "rows": [
            [
                i["id"],
                f"{i['term']} ({i['meddra_code']})",
                i["grade"],
                date_cell(i["onset_date"]),
                date_cell(i["resolution_date"]),
                ", ".join(label(c) for c in i["seriousness"]) if i["serious"] else label("no"),
                label(i["outcome"]),
                _sae_text(i["sae"]),
            ]
            for i in items
        ],
        "empty": N_("No adverse events recorded."),
        "forms": ["capture_ae_form.html"] if can_enter else [],
        "ae_form": form,
        "subject_number": subject.subject_number,
        "sae_open": [i["id"] for i in items if i["sae"] and not i["sae"]["reported_at"]] if can_enter else [],
    }


def _mm(value: Any) -> str:
    """A length in mm to one decimal (``80 mm``, ``42.5 mm``); blank when not computed."""
    return _("%(mm)s mm", mm=num(value, 1)) if isinstance(value, (int, float)) else ""


_NEW_LESION_TEXT = {"none": "no", "equivocal": "equivocal", "unequivocal": "yes"}


def _change(result: dict[str, Any], since: str) -> str:
    """``+20.0% (+10 mm)``: the change of the target sum from the baseline or nadir (blank when not computed)."""
    change, mm = result.get(f"change_from_{since}_pct"), result.get(f"change_from_{since}_mm")
    if change is None:
        return ""
    text = pct(change, 1, signed=True)
    if mm is None:
        return text
    signed_mm = ("+" if mm > 0 else "−" if mm < 0 else "") + _("%(mm)s mm", mm=num(abs(mm), 1))
    return f"{text} ({signed_mm})"


def tumor_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any]:
    """The RECIST table (sums, changes, responses and the reason of each time point, from the engine) and the
    tumour form, its first rows the baseline lesions once there is a baseline."""
    summary = tumor.recist_summary(uow, principal, nct_id, subject.subject_number)
    can_raise = principal.can(Action.QUERY_RAISE, subject.site_key)
    can_audit = principal.can(Action.AUDIT_VIEW, subject.site_key)
    sdv = casebook.sdv_states(uow, principal, nct_id, subject) if summary["assessments"] else {}
    rows = []
    for a in summary["assessments"]:
        r = a["result"]
        date: Any = date_cell(a["assessment_date"])
        if can_raise:
            target = f"tumor_assessment:{a['id']}:assessment_date"
            date = {
                **date,
                "raise": casebook.raise_href(subject.subject_number, target),
                "about": _(
                    "Tumour assessment #%(id)s: assessment date = %(date)s", id=a["id"], date=day(a["assessment_date"])
                ),
            }
        if a["baseline"]:
            row = [date, _("baseline"), _mm(r.get("baseline_sum_mm")), *[""] * 7]
        else:
            # the reason is the engine's, stored or computed when read (tumor.recist_summary)
            reason = recist_reason(r.get("reason") or "")  # in the page's language
            row = [
                date,
                _("follow-up"),
                _mm(r.get("sum_mm")),
                _change(r, "baseline"),
                _change(r, "nadir"),
                label(r.get("target_response", "")),
                label(r.get("non_target_response", "")),
                label(_NEW_LESION_TEXT.get(r.get("new_lesions", ""), "")),
                label(a["overall_response"] or ""),
                reason,
            ]
        row.append(casebook.sdv_badge(sdv, "tumor_assessment", a["id"]))
        if can_audit:
            row.append(
                {"href": casebook.history_href("tumor_assessment", a["id"]), "text": _("History"), "small": True}
            )
        rows.append(row)
    can_enter = principal.can(Action.DATA_ENTER, subject.site_key)
    bor = summary["best_overall_response"]
    html = ""
    if bor is not None:
        first_pd = summary["first_pd_date"]
        bor_words, pd_words = _("Best overall response"), _("first PD")
        pd_text = day(first_pd) if first_pd else _("none")
        html = (
            f'<p>{escape(bor_words)}: <strong id="bor" data-code="{escape(bor)}">{escape(label(bor))}</strong>; '
            f'{escape(pd_words)}: <strong id="first-pd">{escape(pd_text)}</strong></p>'
        )
    baseline = next((a for a in summary["assessments"] if a["baseline"]), None)
    baseline_lesions = [
        {"id": le["lesion_id"], "kind": le["kind"], "organ": le.get("organ") or "", "nodal": bool(le.get("nodal"))}
        for le in (baseline["lesions"] if baseline else [])
    ]
    return {
        "title": N_("Tumour assessments (RECIST 1.1)"),
        "columns": [
            N_("Date"),
            N_("Kind"),
            N_("Target sum"),
            N_("vs baseline"),
            N_("vs nadir"),
            N_("Target"),
            N_("Non-target"),
            N_("New lesion"),
            N_("Overall"),
            N_("Reason"),
            N_("SDV"),
            *([N_("Audit")] if can_audit else []),
        ],
        "rows": rows,
        "grid": casebook.lesion_grid(uow, principal, nct_id, subject, summary["assessments"]),
        "html": html,
        "empty": N_("No tumour assessments recorded."),
        "forms": ["capture_tumor_form.html"] if can_enter else [],
        "subject_number": subject.subject_number,
        "labelled": True,  # cells labelled by their column on a narrow screen
        "baseline_lesions": baseline_lesions,
        "lesion_rows": len(baseline_lesions) + NEW_LESION_ROWS if baseline_lesions else LESION_ROWS,
        # carried forward (routes_screening): the screening's lesions before a baseline, each lesion's last value
        **_carried_lesions(uow, principal, nct_id, subject, can_enter and not baseline_lesions, summary["assessments"]),
    }


def _carried_lesions(
    uow: Any, principal: Principal, nct_id: str, subject: Any, before_baseline: bool, assessments: list[Any]
) -> dict[str, Any]:
    from trialdesk.entrypoints.web.carried import last_lesion_values, screening_lesions

    screened = screening_lesions(uow, principal, nct_id, subject) if before_baseline else []
    return {"screening_lesions": screened, "last_values": last_lesion_values(assessments)}


def signature_panel(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any]:
    status = signatures.casebook_status(uow, principal, nct_id, subject.subject_number)
    words = {
        "unsigned": _("Not signed."),
        "signed": _("Signed."),
        "needs_resigning": _("The signature was invalidated by a later change: the casebook needs re-signing."),
    }
    return {
        "title": N_("Signature"),
        "columns": [N_("Signed at"), N_("By"), N_("Meaning"), N_("Data version"), N_("Status")],
        "rows": [
            [
                moment_cell(s["signed_at"]),
                s["signer_name"],
                s["meaning"],  # the words signed, as signed
                s["data_version"],
                _("valid")
                if s["valid"]
                else _(
                    "invalidated %(when)s: %(reason)s", when=when(s["invalidated_at"]), reason=s["invalidated_reason"]
                ),
            ]
            for s in status["signatures"]
        ],
        "html": f'<p id="casebook-status" class="{"ok" if status["status"] == "signed" else "warn"}">'
        f"{escape(words[status['status']])}</p>",
        "forms": ["capture_sign_form.html"]
        if principal.can(Action.CASEBOOK_SIGN, subject.site_key) and status["status"] != "signed"
        else [],
        "subject_number": subject.subject_number,
        "default_meaning": signatures.DEFAULT_MEANING,
    }


def site_sae_panel(uow: Any, principal: Principal, nct_id: str, site_key: str) -> dict[str, Any] | None:
    if not principal.can(Action.SUBJECT_VIEW, site_key):
        return None
    found = ae.serious_events(uow, principal, nct_id, site_key)
    return {
        "title": N_("Serious adverse events"),
        "columns": [N_("Subject"), N_("Term"), N_("Grade"), N_("Onset"), N_("Criteria"), N_("Reporting")],
        "rows": [
            [
                {"href": casebook_url(s["subject"], "adverse_events"), "text": s["subject"]},
                s["term"],
                s["grade"],
                s["onset_date"],
                ", ".join(label(c) for c in s["seriousness"]),
                _sae_text(s["sae"]),
            ]
            for s in found
        ],
        "empty": N_("No serious adverse events."),
    }
