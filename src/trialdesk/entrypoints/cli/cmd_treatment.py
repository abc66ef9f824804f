"""CLI for treatment: ``calendar SUBJECT | --site S [--ics FILE]``, ``doses plan|record|edit|list`` and
``disposition record|list``.

Who is calling: ``--as USER`` (password from $TRIALDESK_PASSWORD or a prompt), $TRIALDESK_TOKEN, or the local
operator. Registered automatically (``register(app)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from trialdesk.entrypoints.cli.common import (
    DEFAULT_NCT,
    AsJson,
    AsUser,
    Db,
    SubjectArg,
    Trial,
    cli_errors,
    console,
    print_json,
    run_as,
    show,
)

doses_app = typer.Typer(
    help="Doses: plan (dose engine with the subject's history), record, edit, list.", no_args_is_help=True
)
disposition_app = typer.Typer(
    help="Disposition: end of treatment, end of study, death, new anticancer therapy.", no_args_is_help=True
)


def calendar_command(
    subject: str | None = typer.Argument(None, help="Subject number (or use --site)."),
    site: str | None = typer.Option(None, "--site", help="A site's visits to do (overdue, due, upcoming)."),
    ics: Path | None = typer.Option(None, "--ics", help="Write an iCalendar (.ics) file."),
    as_of: str | None = typer.Option(None, "--as-of", help="Statuses as of this date (default: today)."),
    horizon_days: int | None = typer.Option(
        None,
        "--horizon-days",
        min=0,
        help="Future visits listed up to as-of + N days (default: 126 for a subject, 28 for a site).",
    ),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """A subject's visit calendar, or a site's upcoming/due/overdue visits; optionally as an .ics file."""
    from trialdesk.adapters.ical import site_calendar_ics, subject_calendar_ics, write_ics
    from trialdesk.domain.errors import InvalidInput
    from trialdesk.services import treatment

    with cli_errors():
        if subject is not None and site is None:
            visits, now = run_as(
                db,
                as_user,
                lambda uow, p: (
                    treatment.subject_calendar(
                        uow, p, trial, subject, as_of, horizon_days=126 if horizon_days is None else horizon_days
                    ),
                    uow.now(),
                ),
                commit=False,
            )
            data = subject_calendar_ics(subject, visits, generated_at=now) if ics else None
        elif site is not None and subject is None:
            site_key = site
            visits, now = run_as(
                db,
                as_user,
                lambda uow, p: (
                    treatment.site_calendar(
                        uow, p, trial, site_key, as_of, horizon_days=28 if horizon_days is None else horizon_days
                    ),
                    uow.now(),
                ),
                commit=False,
            )
            data = site_calendar_ics(site_key, visits, generated_at=now) if ics else None
        else:
            raise InvalidInput("give a subject number or --site, not both", field="subject")
    if ics is not None and data is not None:
        write_ics(ics, data)
    rows = [treatment.visit_dict(v) for v in visits]
    if as_json:
        print_json(
            {
                "subject": subject,
                "site": site,
                "as_of": as_of or now.date().isoformat(),
                "visits": rows,
                "ics": str(ics) if ics else None,
            }
        )
        return
    table = Table("Subject", "Visit", "Planned", "Window", "Done on", "Status")
    for r in rows:
        table.add_row(
            r["subject"],
            r["label"],
            r["planned"],
            f"{r['window_start']} to {r['window_end']}",
            (r["actual"] or "") + (" (out of window)" if r["out_of_window"] else ""),
            r["status"],
        )
    console.print(table)
    if ics:
        console.print(f"wrote {len(rows)} visits to {ics}", highlight=False)


@doses_app.command("plan")
def doses_plan(
    subject: SubjectArg,
    cycle: int = typer.Option(..., "--cycle"),
    weight_kg: float = typer.Option(..., "--weight-kg"),
    height_cm: float | None = typer.Option(None, "--height-cm", help="Default: the subject's height."),
    dose_date: str | None = typer.Option(None, "--dose-date", help="Default: today."),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """The doses of a cycle with the subject's arm, weight last used, reload gaps and reduction levels."""
    from trialdesk.services import treatment
    from trialdesk.services.commands import PlanDoses

    with cli_errors():
        command = PlanDoses.model_validate(
            {"cycle": cycle, "weight_kg": weight_kg, "height_cm": height_cm, "dose_date": dose_date}
        )
        out = run_as(db, as_user, lambda uow, p: treatment.planned_doses(uow, p, trial, subject, command), commit=False)
    if as_json:
        print_json(out)
        return
    console.print(
        f"{subject} cycle {out['cycle']} ({out['arm']}), {out['dose_date']}: planned day 1 "
        f"{out['planned_day1']} (window {out['window_start']} to {out['window_end']}), delay "
        f"{out['delay_days']} days; BSA {out['bsa_m2']} m²; {out['weight_rule']}",
        highlight=False,
    )
    for d in out["doses"]:
        console.print(f"  {d['drug']}: {d['dose_mg']:g} mg  {d['formula']}", highlight=False, markup=False)
    for o in out["omitted"]:
        console.print(f"  not given: {o['drug']} ({o['reason']})", highlight=False, markup=False)


@doses_app.command("record")
def doses_record(
    subject: SubjectArg,
    drug: str = typer.Option(..., "--drug"),
    cycle: int = typer.Option(..., "--cycle"),
    dose_date: str = typer.Option(..., "--dose-date"),
    actual_mg: float = typer.Option(..., "--actual-mg"),
    weight_kg: float = typer.Option(..., "--weight-kg"),
    delay_reason: str | None = typer.Option(None, "--delay-reason"),
    reduction_level: int = typer.Option(0, "--reduction-level"),
    reduction_reason: str | None = typer.Option(None, "--reduction-reason"),
    interrupted: bool = typer.Option(False, "--interrupted"),
    override_reason: str | None = typer.Option(None, "--override-reason"),
    height_cm: float | None = typer.Option(None, "--height-cm"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Record one drug given at one cycle (planned dose from the engine; override reason when far from it)."""
    from trialdesk.services import treatment
    from trialdesk.services.commands import RecordDose

    with cli_errors():
        command = RecordDose.model_validate(
            {
                "drug": drug,
                "cycle": cycle,
                "dose_date": dose_date,
                "actual_mg": actual_mg,
                "weight_kg": weight_kg,
                "delay_reason": delay_reason,
                "reduction_level": reduction_level,
                "reduction_reason": reduction_reason,
                "interrupted": interrupted,
                "override_reason": override_reason,
                "height_cm": height_cm,
            }
        )
        out = run_as(db, as_user, lambda uow, p: treatment.record_dose(uow, p, trial, subject, command), commit=True)
    if as_json:
        print_json(out)
        return
    console.print(
        f"dose #{out['id']}: {out['drug']} cycle {out['cycle']} on {out['dose_date']}: "
        f"{out['actual_mg']:g} mg (planned {out['planned_mg']:g} mg), delay {out['delay_days']} days"
        + (" - out of window, query opened" if out["query_opened"] else ""),
        highlight=False,
    )


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@doses_app.command("edit")
def doses_edit(
    subject: SubjectArg,
    dose_id: int = typer.Argument(...),
    set_: list[str] = typer.Option(..., "--set", help="FIELD=VALUE, repeatable (e.g. actual_mg=120)."),
    reason: str = typer.Option(..., "--reason", help="Reason for change."),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Change a recorded dose; the audit trail keeps old and new values, who, when and why."""
    from trialdesk.domain.errors import InvalidInput
    from trialdesk.services import treatment
    from trialdesk.services.commands import EditDose

    with cli_errors():
        changes = {}
        for item in set_:
            name, sep, value = item.partition("=")
            if not sep:
                raise InvalidInput(f"expected FIELD=VALUE, got {item!r}", field="set")
            changes[name.strip()] = _value(value)
        command = EditDose.model_validate({"changes": changes, "reason": reason})
        out = run_as(
            db, as_user, lambda uow, p: treatment.update_dose(uow, p, trial, subject, dose_id, command), commit=True
        )
    show(
        out, as_json, lambda o: [f"{name}: {change['old']} -> {change['new']}" for name, change in o["changes"].items()]
    )


@doses_app.command("list")
def doses_list(
    subject: SubjectArg, trial: Trial = DEFAULT_NCT, db: Db = None, as_user: AsUser = None, as_json: AsJson = False
) -> None:
    """A subject's doses administered."""
    from trialdesk.services import treatment

    with cli_errors():
        out = run_as(db, as_user, lambda uow, p: treatment.list_doses(uow, p, trial, subject), commit=False)
    if as_json:
        print_json(out)
        return
    table = Table("Id", "Cycle", "Drug", "Date", "Planned mg", "Given mg", "Delay", "Level", "Interrupted")
    for d in out:
        table.add_row(
            str(d["id"]),
            str(d["cycle"]),
            d["drug"],
            d["dose_date"],
            f"{d['planned_mg']:g}",
            f"{d['actual_mg']:g}",
            str(d["delay_days"]),
            str(d["reduction_level"]),
            "yes" if d["interrupted"] else "",
        )
    console.print(table)


@disposition_app.command("record")
def disposition_record(
    subject: SubjectArg,
    kind: str = typer.Option(..., "--kind", help="end_of_treatment, end_of_study, death or new_therapy."),
    event_date: str = typer.Option(..., "--date", help="Event date (death, therapy start...)."),
    reason: str | None = typer.Option(None, "--reason", help="Reason, cause of death, or the new therapy."),
    eot_visit_date: str | None = typer.Option(None, "--eot-visit-date"),
    trial: Trial = DEFAULT_NCT,
    db: Db = None,
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Record a disposition event; the subject's status follows."""
    from trialdesk.services import treatment
    from trialdesk.services.commands import RecordDisposition

    details = {"eot_visit_date": eot_visit_date} if eot_visit_date else None
    with cli_errors():
        command = RecordDisposition.model_validate(
            {"kind": kind.strip().lower(), "event_date": event_date, "reason": reason, "details": details}
        )
        out = run_as(
            db, as_user, lambda uow, p: treatment.record_disposition(uow, p, trial, subject, command), commit=True
        )
    if as_json:
        print_json(out)
        return
    console.print(
        f"{subject}: {out['kind']} on {out['event_date']} recorded; status {out['subject_status']}", highlight=False
    )


@disposition_app.command("list")
def disposition_list(
    subject: SubjectArg, trial: Trial = DEFAULT_NCT, db: Db = None, as_user: AsUser = None, as_json: AsJson = False
) -> None:
    """A subject's disposition events."""
    from trialdesk.services import treatment

    with cli_errors():
        out = run_as(db, as_user, lambda uow, p: treatment.list_dispositions(uow, p, trial, subject), commit=False)
    show(out, as_json, lambda o: [f"{d['event_date']} {d['kind']}: {d['reason'] or ''}" for d in o])


def register(app: typer.Typer) -> None:
    app.command("calendar")(calendar_command)
    app.add_typer(doses_app, name="doses")
    app.add_typer(disposition_app, name="disposition")
