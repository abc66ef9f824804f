"""CLI for risk-based monitoring (issue 15): ``monitoring kri``, ``deviations list|record|close`` and
``sdv show|mark|clear``. Who is calling: ``--as USER``, $TRIALDESK_TOKEN or the local operator, as everywhere."""

from __future__ import annotations

from typing import Any

import typer

from trialdesk.entrypoints.cli.common import (
    DEFAULT_NCT,
    AsJson,
    AsUser,
    Db,
    SubjectArg,
    Trial,
    cli_errors,
    run_as,
    show,
)

monitoring_app = typer.Typer(
    help="Key risk indicators per site (ICH E6(R3) risk-based monitoring).", no_args_is_help=True
)
deviations_app = typer.Typer(help="Protocol deviations: list, record, close.", no_args_is_help=True)
sdv_app = typer.Typer(help="Source data verification of a subject's records.", no_args_is_help=True)


def _rate(k: dict[str, Any]) -> str:
    if k["rate"] is None:
        return "–"
    value = f"{100 * k['rate']:.0f}%" if k["key"] == "sdv_coverage" else f"{k['rate']:.2f}"
    ratio = "" if k["ratio"] is None else f" x{k['ratio']:.2f}"
    flag = f" [{k['flag'].upper()}]" if k["flag"] else ("" if k["judged"] else " (too few)")
    return f"{value} ({k['numerator']}/{k['denominator']}){ratio}{flag}"


def _kri_lines(out: dict[str, Any]) -> list[str]:
    lines = [f"{out['nct_id']} key risk indicators as of {out['as_of']} (ratio to the trial's rate)"]
    for row in out["sites"]:
        lines.append(f"{row['site']}: {row['exposure']['subjects']} randomized, {row['flags']} flag(s)")
        lines += [f"  {k['key']}: {_rate(k)}" for k in row["kris"]]
    return lines


@monitoring_app.command("kri")
def monitoring_kri(trial: Trial = DEFAULT_NCT, db: Db = None, as_user: AsUser = None, as_json: AsJson = False) -> None:
    """Each site's KRIs against the trial's (monitor: your sites; sponsor: every site)."""
    from trialdesk.services import monitoring

    with cli_errors():
        out = run_as(db, as_user, lambda uow, p: monitoring.kri_report(uow, p, trial), commit=False)
    show(out, as_json, _kri_lines)


def _deviation_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [
        f"#{d['id']} {d['site']} {d['subject']} {d['occurred_on']} {d['category']}"
        f"{' IMPORTANT' if d['important'] else ''} [{d['status']}] {d['description']}"
        for d in rows
    ] or ["no deviations"]


@deviations_app.command("list")
def deviations_list(
    site: str | None = typer.Option(None, "--site"),
    subject: str | None = typer.Option(None, "--subject"),
    status: str | None = typer.Option(None, "--status", help="open or closed."),
    category: str | None = typer.Option(None, "--category"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Deviations at the sites you may see."""
    from trialdesk.services import monitoring

    with cli_errors():
        out = run_as(
            db,
            as_user,
            lambda uow, p: monitoring.list_deviations(
                uow, p, trial, site=site, subject_number=subject, status=status, category=category
            ),
            commit=False,
        )
    show(out, as_json, _deviation_lines)


@deviations_app.command("record")
def deviations_record(
    subject: SubjectArg,
    category: str = typer.Option(..., "--category"),
    description: str = typer.Option(..., "--description"),
    occurred_on: str = typer.Option(..., "--date", help="When it occurred (YYYY-MM-DD)."),
    important: bool = typer.Option(False, "--important"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Log a protocol deviation of a subject."""
    from trialdesk.services import monitoring

    with cli_errors():
        cmd = monitoring.RecordDeviation.model_validate(
            {"category": category, "description": description, "occurred_on": occurred_on, "important": important}
        )
        out = run_as(db, as_user, lambda uow, p: monitoring.record_deviation(uow, p, trial, subject, cmd), commit=True)
    show(out, as_json, lambda d: _deviation_lines([d]))


@deviations_app.command("close")
def deviations_close(
    subject: SubjectArg,
    deviation_id: int = typer.Argument(...),
    capa: str = typer.Option(..., "--capa", help="The corrective and preventive action."),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Close a deviation with its CAPA (monitor)."""
    from trialdesk.services import monitoring

    with cli_errors():
        cmd = monitoring.CloseDeviation(capa=capa)
        out = run_as(
            db,
            as_user,
            lambda uow, p: monitoring.close_deviation(uow, p, trial, subject, deviation_id, cmd),
            commit=True,
        )
    show(out, as_json, lambda d: _deviation_lines([d]))


def _sdv_lines(view: dict[str, Any]) -> list[str]:
    lines = [f"{view['subject']}: {view['verified']} of {view['total']} records verified"]
    for r in view["records"]:
        by = f" by {r['mark']['marked_by']} {r['mark']['marked_at']}" if r["mark"] else ""
        lines.append(f"  {r['entity_type']}:{r['entity_id']} {r['label']} [{r['state']}]{by}")
    return lines


@sdv_app.command("show")
def sdv_show(
    subject: SubjectArg, trial: Trial = DEFAULT_NCT, db: Db = None, as_user: AsUser = None, as_json: AsJson = False
) -> None:
    """A subject's records and their verification state."""
    from trialdesk.services import monitoring

    with cli_errors():
        out = run_as(db, as_user, lambda uow, p: monitoring.subject_sdv(uow, p, trial, subject), commit=False)
    show(out, as_json, _sdv_lines)


@sdv_app.command("mark")
def sdv_mark(
    subject: SubjectArg,
    record: str = typer.Argument(..., help="ENTITY_TYPE:ID, e.g. dose:12 or subject:HUN-0001."),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Mark a record source-verified at its current version (monitor)."""
    from trialdesk.services import monitoring

    entity_type, _, entity_id = record.partition(":")
    with cli_errors():
        cmd = monitoring.MarkSdv.model_validate({"entity_type": entity_type, "entity_id": entity_id})
        out = run_as(db, as_user, lambda uow, p: monitoring.mark_sdv(uow, p, trial, subject, cmd), commit=True)
    show(out, as_json, lambda o: [f"{o['entity_type']}:{o['entity_id']} {o['state']}"])


def register(app: typer.Typer) -> None:
    app.add_typer(monitoring_app, name="monitoring")
    app.add_typer(deviations_app, name="deviations")
    app.add_typer(sdv_app, name="sdv")
