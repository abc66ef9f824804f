"""``trialdesk screen``: screen one record, print the record schema, or run a cohort feasibility waterfall.

With ``--site`` the record is stored in the screening log (``services.screening.screen_subject``) as the CLI
principal (``--as USER`` with $TRIALDESK_PASSWORD, $TRIALDESK_TOKEN, or the local operator); without it the record
is only evaluated.

Registration (lead): ``app.command("screen")(screen_command)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich.table import Table

from trialdesk.entrypoints.cli.common import (
    DEFAULT_NCT,
    Db,
    Trial,
    app_for,
    cli_errors,
    console,
    err_console,
    print_json,
    progress_bar,
)

if TYPE_CHECKING:
    from trialdesk.domain.eligibility import EligibilitySpec
    from trialdesk.domain.protocol import Protocol

__all__ = ["screen_command", "screen_app"]

_STYLE = {"met": "green", "attested": "green", "not_met": "red", "missing": "yellow"}


def _protocol() -> tuple[Protocol, EligibilitySpec]:
    from trialdesk.adapters.protocol_files import load_default_protocol
    from trialdesk.domain.errors import InvalidInput

    protocol = load_default_protocol()
    spec = protocol.operations.eligibility
    if spec is None:
        raise InvalidInput("the protocol has no operations.eligibility section", field="operations.eligibility")
    return protocol, spec


def screen_command(
    file: Path | None = typer.Argument(None, help="Screening record (JSON) to evaluate."),
    schema: bool = typer.Option(False, "--schema", help="Print the JSON Schema of the screening record."),
    cohort: Path | None = typer.Option(None, "--cohort", help="Cohort table (.csv or .parquet) to screen."),
    out: Path | None = typer.Option(None, "--out", help="Where to write per-patient verdicts (.csv/.parquet)."),
    json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    site: str | None = typer.Option(
        None,
        "--site",
        help="Store the screening at this site (site id, e.g. hunan-cancer-hospital); without it, evaluate only.",
    ),
    patient_ref: str | None = typer.Option(
        None,
        "--patient-ref",
        help="The site's patient reference (default: the record's screening_id). Same ref = rescreen.",
    ),
    as_user: str | None = typer.Option(None, "--as", help="Act as this user (password from $TRIALDESK_PASSWORD)."),
    nct_id: Trial = DEFAULT_NCT,
    db: Db = None,
) -> None:
    """Screen a patient against every eligibility criterion, or a whole cohort (feasibility waterfall)."""
    from trialdesk.domain.screening import ScreeningRecord

    if schema:
        print_json(ScreeningRecord.model_json_schema())
        return
    if (file is None) == (cohort is None):
        err_console.print("[bold red]error:[/] give a record FILE, or --cohort TABLE, or --schema")
        raise typer.Exit(2)
    with cli_errors():
        if cohort is not None:
            _screen_cohort(cohort, out, json)
        elif site is not None:
            _store_record(file, json, site, patient_ref, as_user, nct_id, db)  # type: ignore[arg-type]
        else:
            _screen_record(file, json, site)  # type: ignore[arg-type]


def _screen_record(file: Path, as_json: bool, site: str | None) -> None:
    from trialdesk.adapters.cohort_files import read_record
    from trialdesk.domain.eligibility import evaluate
    from trialdesk.domain.errors import InvalidInput, problems_from_pydantic
    from trialdesk.domain.screening import ScreeningRecord

    data = read_record(file)
    if site is not None and isinstance(data, dict):
        data["site"] = site
    try:
        record = ScreeningRecord.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc)) from None
    protocol, spec = _protocol()
    result = evaluate(spec, record, protocol.registry.eligibility)
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    table = Table(title=f"{record.screening_id or file.name}: {result.verdict.upper()}", show_lines=False)
    table.add_column("criterion")
    table.add_column("status")
    table.add_column("reason", overflow="fold")
    for c in result.criteria:
        table.add_row(c.id, f"[{_STYLE[c.status]}]{c.status}[/]", c.reason)
    console.print(table)
    console.print(f"verdict: [bold]{result.verdict}[/]")


def _store_record(
    file: Path, as_json: bool, site: str, patient_ref: str | None, as_user: str | None, nct_id: str, db: str | None
) -> None:
    from trialdesk.adapters.cohort_files import read_record
    from trialdesk.domain.errors import InvalidInput
    from trialdesk.entrypoints.cli.people import resolve_principal
    from trialdesk.services import screening
    from trialdesk.services.commands import ScreenPatient

    data = read_record(file)
    if not isinstance(data, dict):
        raise InvalidInput("must be a JSON object", field="record")
    ref = patient_ref or data.get("screening_id")
    if not ref:
        raise InvalidInput("give --patient-ref (the record has no screening_id)", field="patient_ref")
    data.setdefault("site", site)
    command = ScreenPatient.model_validate({"site": site, "patient_ref": str(ref), "record": data})
    app = app_for(db)
    try:
        principal = resolve_principal(app, as_user)
        with app.uow(principal.username) as uow:
            out = screening.screen_subject(uow, principal, nct_id, command)
            uow.commit()
    finally:
        app.dispose()
    if as_json:
        print_json(out)
        return
    table = Table(title=f"{out['screening_number']} (subject {out['subject_number']}): {out['verdict'].upper()}")
    table.add_column("criterion")
    table.add_column("status")
    table.add_column("reason", overflow="fold")
    for c in out["criteria"]:
        table.add_row(c["id"], f"[{_STYLE[c['status']]}]{c['status']}[/]", c["reason"])
    console.print(table)
    console.print(
        f"stored screening [bold]{out['screening_number']}[/] for subject [bold]{out['subject_number']}"
        f"[/] at {site}: verdict [bold]{out['verdict']}[/]" + (" (rescreen)" if out["rescreen"] else ""),
        highlight=False,
    )


def _screen_cohort(path: Path, out: Path | None, as_json: bool) -> None:
    from trialdesk.adapters.cohort_files import read_cohort, write_verdicts
    from trialdesk.domain.cohort import VERDICTS, CohortError, evaluate_cohort, prepare_columns, waterfall
    from trialdesk.domain.errors import InvalidInput
    from trialdesk.domain.units import UnitError

    _, spec = _protocol()
    raw = read_cohort(path)
    try:
        cols = prepare_columns(raw)
        with progress_bar("screening", console=err_console, transient=True) as bar:
            task = bar.add_task("screen", total=cols.n)
            result = evaluate_cohort(spec, cols, progress=lambda done, total: bar.update(task, completed=done))
    except (CohortError, UnitError) as exc:
        raise InvalidInput(str(exc), field=str(path)) from None
    rows = waterfall(result)
    counts = {v: int((result.verdict == i).sum()) for i, v in enumerate(VERDICTS)}
    out = out or path.with_name(
        path.stem + ".verdicts" + (path.suffix if path.suffix in (".csv", ".parquet") else ".csv")
    )
    ids = raw.get("screening_id")
    if ids is None:
        import numpy as np

        ids = np.arange(cols.n).astype(str)
    write_verdicts(result, ids, out)
    if as_json:
        print_json(
            {
                "patients": cols.n,
                "verdicts": counts,
                "waterfall": rows,
                "verdicts_file": str(out),
                "absent_columns": sorted(result.absent_columns),
            }
        )
        return
    table = Table(title=f"Screening waterfall: {cols.n} patients ({path.name})")
    for col in ("criterion", "excluded here", "remaining", "not met (alone)", "only reason", "missing"):
        table.add_column(col, justify="right" if col != "criterion" else "left")
    for r in rows:
        table.add_row(
            r["criterion"],
            str(r["excluded_here"]),
            str(r["remaining"]),
            str(r["not_met"]),
            str(r["only_reason"]),
            str(r["missing"]),
        )
    console.print(table)
    console.print(
        f"eligible {counts['eligible']}, ineligible {counts['ineligible']}, incomplete {counts['incomplete']}; "
        f"verdicts written to {out}"
    )
    if result.absent_columns:
        console.print(f"[yellow]{len(result.absent_columns)} schema columns absent (missing for everyone)[/]")


screen_app = typer.Typer(help="Eligibility screening.")
screen_app.command("screen")(screen_command)
