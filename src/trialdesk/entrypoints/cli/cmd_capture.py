"""CLI for data capture: ``ctcae load|ensure|status|derive|term``, ``ae add|list|edit|reported``, ``tumor add|summary``,
``queries list|raise|answer|close|reopen`` and ``sign`` / ``casebook``.

Who is calling: ``--as USER`` (password from $TRIALDESK_PASSWORD or a prompt), $TRIALDESK_TOKEN, or the local
operator (the system principal; it may load CTCAE but, holding no user account, cannot sign).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from trialdesk.entrypoints.cli.common import (
    DEFAULT_NCT,
    AsJson,
    AsUser,
    Db,
    SubjectArg,
    Trial,
    app_for,
    cli_errors,
    run_as,
    show,
)

ctcae_app = typer.Typer(
    help="CTCAE v5.0 dictionary (shipped with the package; NCI's workbook swaps in).", no_args_is_help=True
)
ae_app = typer.Typer(help="Adverse events (CTCAE v5.0 graded).", no_args_is_help=True)
tumor_app = typer.Typer(help="Tumour assessments (RECIST 1.1).", no_args_is_help=True)
queries_app = typer.Typer(help="Data queries: list, raise, answer, close, re-open.", no_args_is_help=True)


# --- ctcae -------------------------------------------------------------------------------------------------------


@ctcae_app.command("load")
def ctcae_load(
    path: Path = typer.Argument(..., help="CTCAE_v5.0_2017-11-27.xlsx from NCI."),
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Swap NCI's CTCAE workbook in for the stored dictionary (admin; idempotent; audited with the workbook's
    SHA-256). Refused, changing nothing, when it would orphan recorded adverse events."""
    from trialdesk.adapters.ctcae_json import workbook_set
    from trialdesk.services import ctcae

    with cli_errors():
        chosen = workbook_set(path)
        out = run_as(
            db,
            as_user,
            lambda uow, p: ctcae.load_terms(
                uow, p, chosen.terms, version=chosen.version, source=chosen.source, sha256=chosen.sha256
            ),
            commit=True,
        )
    show(out, as_json, _load_lines)


def _load_lines(o: dict[str, Any]) -> list[str]:
    lines = [
        f"CTCAE v{o['version']}: {o['count']} terms from {o['source']} (sha256 {str(o['sha256'])[:12]}...): "
        f"{o['inserted']} new, {o['updated']} updated, {o['removed']} removed, {o['unchanged']} unchanged"
    ]
    previous = o.get("previous")
    if previous and previous.get("sha256") != o["sha256"]:
        lines.append(f"  replaced {previous.get('source')} (sha256 {str(previous.get('sha256'))[:12]}...)")
    return lines


@ctcae_app.command("ensure")
def ctcae_ensure(db: Db = None, as_json: AsJson = False) -> None:
    """What every start does: load the shipped dictionary (or $TRIALDESK_CTCAE_XLSX) when none is stored, or swap
    in a newly configured workbook (as the local operator; audited)."""
    from trialdesk.services import ctcae

    with cli_errors():
        app = app_for(db, load_default=False)
        with app.uow("system") as uow:
            out = ctcae.ensure_loaded(uow)
            uow.commit()
    show(out, as_json, lambda o: [o["message"]])
    if out["status"] == "refused":
        raise typer.Exit(1)


@ctcae_app.command("status")
def ctcae_status(db: Db = None, as_json: AsJson = False) -> None:
    """How many terms are stored and which file they came from (version, source, SHA-256)."""
    from trialdesk.services import ctcae

    with cli_errors():
        app = app_for(db)
        with app.uow() as uow:
            out: dict[str, Any] = {
                "version": ctcae.CTCAE_VERSION,
                "count": uow.ctcae.count(ctcae.CTCAE_VERSION),
                "loaded_from": ctcae.loaded_from(uow),
            }
    show(
        out,
        as_json,
        lambda o: [
            f"CTCAE v{o['version']}: {o['count']} terms"
            + (
                f" from {o['loaded_from'].get('source')} (sha256 {o['loaded_from'].get('sha256')})"
                if o["loaded_from"]
                else ""
            )
        ],
    )


@ctcae_app.command("derive")
def ctcae_derive(
    xlsx: Path = typer.Argument(..., help="NCI's CTCAE_v5.0_2017-11-27.xlsx."),
    out: Path = typer.Argument(..., help="The JSON to write (src/trialdesk/data/ctcae-v5.0.json to refresh it)."),
    as_json: AsJson = False,
) -> None:
    """Derive the dictionary shipped with the package from NCI's workbook (no database)."""
    from trialdesk.adapters.ctcae_json import derive_ctcae_json

    with cli_errors():
        header = derive_ctcae_json(xlsx, out)
    show(
        header,
        as_json,
        lambda h: [
            f"{out}: CTCAE v{h['version']}, {h['count']} terms from {h['source']['file']} "
            f"(sha256 {h['source']['sha256']})"
        ],
    )


@ctcae_app.command("term")
def ctcae_term(
    query: str = typer.Argument(..., help="Term or MedDRA code."), db: Db = None, as_json: AsJson = False
) -> None:
    """Show a term, its MedDRA code, SOC and the grades it defines."""
    from trialdesk.services import ctcae

    with cli_errors():
        app = app_for(db)
        with app.uow() as uow:
            out = ctcae.term_info(uow, query)
    show(
        out,
        as_json,
        lambda o: (
            [f"{o['term']} (MedDRA {o['meddra_code']}, {o['soc']})"]
            + [f"  grade {g}: {text}" for g, text in o["grades"].items()]
        ),
    )


# --- adverse events ----------------------------------------------------------------------------------------------


def _pairs(values: list[str], option: str) -> dict[str, str]:
    from trialdesk.domain.errors import InvalidInput

    out = {}
    for value in values:
        if "=" not in value:
            raise InvalidInput(f"expected DRUG=CATEGORY, got {value!r}", field=option)
        k, v = value.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _ae_lines(o: dict[str, Any]) -> list[str]:
    line = f"AE {o['id']} {o['subject']}: {o['term']} grade {o['grade']} from {o['onset_date']}"
    if o.get("resolution_date"):
        line += f" to {o['resolution_date']}"
    lines = [line]
    if o.get("sae"):
        lines.append(
            f"  SERIOUS ({', '.join(o['seriousness'])}): SAE report due by {o['sae']['due_by']} [{o['sae']['status']}]"
        )
    for qid in o.get("queries") or []:
        lines.append(f"  query {qid} opened by an edit check")
    return lines


@ae_app.command("add")
def ae_add(
    subject: SubjectArg,
    term: str = typer.Option(..., "--term", help="CTCAE term or code."),
    grade: int = typer.Option(..., "--grade"),
    onset: str = typer.Option(..., "--onset"),
    resolution: str | None = typer.Option(None, "--resolution"),
    serious: bool = typer.Option(False, "--serious"),
    criterion: list[str] = typer.Option([], "--criterion", help="ICH seriousness criterion; repeatable."),
    relationship: list[str] = typer.Option(
        [], "--relationship", help="DRUG=not_related|unlikely|possible|probable|definite; repeatable."
    ),
    action_taken: str | None = typer.Option(None, "--action"),
    outcome: str | None = typer.Option(None, "--outcome"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Record an adverse event."""
    from trialdesk.services import adverse_events as ae
    from trialdesk.services.commands import RecordAdverseEvent

    with cli_errors():
        rel = _pairs(relationship, "relationship")
        command = RecordAdverseEvent.model_validate(
            {
                "term": term,
                "grade": grade,
                "onset_date": onset,
                "resolution_date": resolution,
                "serious": serious,
                "seriousness": criterion,
                "relationship": rel,
                "action_taken": action_taken,
                "outcome": outcome,
            }
        )
        out = run_as(db, as_user, lambda uow, p: ae.record_adverse_event(uow, p, trial, subject, command), commit=True)
    show(out, as_json, _ae_lines)


@ae_app.command("edit")
def ae_edit(
    subject: SubjectArg,
    ae_id: int = typer.Argument(...),
    set_: list[str] = typer.Option(..., "--set", help="FIELD=VALUE (JSON values allowed); repeatable."),
    reason: str = typer.Option(..., "--reason"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Change fields of an AE with a reason for change."""
    from trialdesk.services import adverse_events as ae
    from trialdesk.services.commands import EditRecord

    def value(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            return text

    with cli_errors():
        command = EditRecord.model_validate(
            {"changes": {k: value(v) for k, v in _pairs(set_, "set").items()}, "reason": reason}
        )
        out = run_as(
            db, as_user, lambda uow, p: ae.update_adverse_event(uow, p, trial, subject, ae_id, command), commit=True
        )
    show(out, as_json, _ae_lines)


@ae_app.command("reported")
def ae_reported(
    subject: SubjectArg,
    ae_id: int = typer.Argument(...),
    at: str | None = typer.Option(None, "--at", help="ISO date-time with zone; default now."),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Mark a serious AE as reported (stops its 24-hour clock)."""
    from trialdesk.services import adverse_events as ae
    from trialdesk.services.commands import MarkSaeReported

    with cli_errors():
        command = MarkSaeReported.model_validate({"reported_at": at})
        out = run_as(
            db, as_user, lambda uow, p: ae.mark_sae_reported(uow, p, trial, subject, ae_id, command), commit=True
        )
    show(out, as_json, _ae_lines)


@ae_app.command("list")
def ae_list(
    subject: SubjectArg, trial: Trial = DEFAULT_NCT, db: Db = None, as_user: AsUser = None, as_json: AsJson = False
) -> None:
    """A subject's adverse events."""
    from trialdesk.services import adverse_events as ae

    with cli_errors():
        out = run_as(db, as_user, lambda uow, p: ae.list_adverse_events(uow, p, trial, subject), commit=False)
    show(out, as_json, lambda rows: [line for o in rows for line in _ae_lines(o)] or ["no adverse events"])


# --- tumour assessments ------------------------------------------------------------------------------------------


def _summary_lines(o: dict[str, Any]) -> list[str]:
    lines = []
    for a in o.get("assessments", [o.get("assessment")] if o.get("assessment") else []):
        r = a["result"]
        if a["baseline"]:
            lines.append(f"{a['assessment_date']} baseline  sum {r.get('baseline_sum_mm')} mm")
        else:
            lines.append(
                f"{a['assessment_date']} sum {r.get('sum_mm')} mm  {r.get('change_from_baseline_pct')}% "
                f"from baseline  -> {a['overall_response']}"
            )
    lines.append(f"best overall response: {o['best_overall_response']}; first PD: {o['first_pd_date']}")
    return lines


@tumor_app.command("add")
def tumor_add(
    subject: SubjectArg,
    date: str = typer.Option(..., "--date"),
    lesions: Path = typer.Option(..., "--lesions", help="JSON file: a list of lesion records."),
    baseline: bool = typer.Option(False, "--baseline"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Record a tumour assessment and re-evaluate RECIST 1.1."""
    from trialdesk.domain.errors import InvalidInput
    from trialdesk.services import tumor
    from trialdesk.services.commands import RecordTumourAssessment

    with cli_errors():
        try:
            text = lesions.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read {lesions}: {exc}", field="lesions") from exc
        try:
            found = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"not valid JSON: {exc}", field="lesions") from exc
        command = RecordTumourAssessment.model_validate(
            {"assessment_date": date, "lesions": found, "baseline": baseline}
        )
        out = run_as(
            db, as_user, lambda uow, p: tumor.record_tumor_assessment(uow, p, trial, subject, command), commit=True
        )
    show(out, as_json, _summary_lines)


@tumor_app.command("summary")
def tumor_summary(
    subject: SubjectArg, trial: Trial = DEFAULT_NCT, db: Db = None, as_user: AsUser = None, as_json: AsJson = False
) -> None:
    """A subject's assessments, responses, BOR and first PD."""
    from trialdesk.services import tumor

    with cli_errors():
        out = run_as(db, as_user, lambda uow, p: tumor.recist_summary(uow, p, trial, subject), commit=False)
    show(out, as_json, _summary_lines)


# --- queries -----------------------------------------------------------------------------------------------------


def _query_lines(rows: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    rows = rows if isinstance(rows, list) else [rows]
    return [
        f"#{r['id']} [{r['status']}] {r['subject']} {r['entity_type']} {r['entity_id']}.{r['field']}: {r['message']}"
        for r in rows
    ] or ["no queries"]


@queries_app.command("list")
def queries_list(
    site: str | None = typer.Option(None, "--site"),
    subject: str | None = typer.Option(None, "--subject"),
    status: str | None = typer.Option(None, "--status", help="open, answered or closed."),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Queries at the sites you may see."""
    from trialdesk.services import queries

    with cli_errors():
        out = run_as(
            db, as_user, lambda uow, p: queries.list_queries(uow, p, trial, site, subject, status), commit=False
        )
    show(out, as_json, _query_lines)


@queries_app.command("raise")
def queries_raise(
    subject: SubjectArg,
    entity_type: str = typer.Option("subject", "--entity"),
    entity_id: str = typer.Option(..., "--entity-id"),
    field: str = typer.Option(..., "--field"),
    message: str = typer.Option(..., "--message"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Raise a query by hand (monitor)."""
    from trialdesk.services import queries
    from trialdesk.services.commands import RaiseQuery

    with cli_errors():
        command = RaiseQuery.model_validate(
            {"entity_type": entity_type, "entity_id": entity_id, "field": field, "message": message}
        )
        out = run_as(db, as_user, lambda uow, p: queries.raise_query(uow, p, trial, subject, command), commit=True)
    show(out, as_json, _query_lines)


def _query_step(
    step: str, query_id: int, text: str | None, trial: str, db: str | None, as_user: str | None, as_json: bool
) -> None:
    """Answer, close or re-open a query: the three steps take the same command (its ``text``) and print alike."""
    from trialdesk.services import queries
    from trialdesk.services.commands import QueryStep

    service = {"answer": queries.answer_query, "close": queries.close_query, "reopen": queries.reopen_query}[step]
    with cli_errors():
        command = QueryStep.model_validate({"text": text})
        out = run_as(db, as_user, lambda uow, p: service(uow, p, trial, query_id, command), commit=True)
    show(out, as_json, _query_lines)


@queries_app.command("answer")
def queries_answer(
    query_id: int = typer.Argument(...),
    answer: str = typer.Argument(...),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Answer an open query (site staff)."""
    _query_step("answer", query_id, answer, trial, db, as_user, as_json)


@queries_app.command("close")
def queries_close(
    query_id: int = typer.Argument(...),
    note: str | None = typer.Option(None, "--note"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Close a query (monitor)."""
    _query_step("close", query_id, note, trial, db, as_user, as_json)


@queries_app.command("reopen")
def queries_reopen(
    query_id: int = typer.Argument(...),
    reason: str = typer.Argument(...),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Re-open an answered or closed query (monitor)."""
    _query_step("reopen", query_id, reason, trial, db, as_user, as_json)


# --- signature ---------------------------------------------------------------------------------------------------


def sign_command(
    subject: SubjectArg,
    meaning: str | None = typer.Option(None, "--meaning"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Sign a subject's casebook (investigator): the password is entered again ($TRIALDESK_PASSWORD or a prompt)."""
    from trialdesk.services import signatures
    from trialdesk.services.commands import SignCasebook

    with cli_errors():
        from trialdesk.settings import get_settings

        password = get_settings().password or typer.prompt("password (to sign)", hide_input=True)
        command = SignCasebook.model_validate({"password": password, "meaning": meaning or signatures.DEFAULT_MEANING})
        out = run_as(db, as_user, lambda uow, p: signatures.sign_casebook(uow, p, trial, subject, command), commit=True)
    show(
        out,
        as_json,
        lambda o: [
            f"casebook {o['manifest']['subject']} signed by {o['signer_name']} at "
            f"{o['signed_at']} (data version {o['data_version']}): {o['meaning']}",
            f"manifest sha256 {o['manifest_hash']}",
        ],
    )


def casebook_command(
    subject: SubjectArg, trial: Trial = DEFAULT_NCT, db: Db = None, as_user: AsUser = None, as_json: AsJson = False
) -> None:
    """Signature status of a subject's casebook."""
    from trialdesk.services import signatures

    with cli_errors():
        out = run_as(db, as_user, lambda uow, p: signatures.casebook_status(uow, p, trial, subject), commit=False)
    show(
        out,
        as_json,
        lambda o: (
            [f"casebook {o['subject']}: {o['status']} (data version {o['data_version']})"]
            + [
                f"  {s['signed_at']} {s['signer_name']}: {s['meaning']}"
                + ("" if s["valid"] else f"  [invalidated {s['invalidated_at']}: {s['invalidated_reason']}]")
                for s in o["signatures"]
            ]
        ),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(ctcae_app, name="ctcae")
    app.add_typer(ae_app, name="ae")
    app.add_typer(tumor_app, name="tumor")
    app.add_typer(queries_app, name="queries")
    app.command("sign")(sign_command)
    app.command("casebook")(casebook_command)
