"""CLI: protocol, registry, db and audit commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trialdesk.entrypoints.cli.common import (
    DEFAULT_NCT,
    Db,
    JsonFlag,
    TrialArg,
    app_for,
    cli_errors,
    console,
    err_console,
    print_json,
)

if TYPE_CHECKING:
    from trialdesk.domain.errors import Problem
    from trialdesk.domain.protocol import Protocol

protocol_app = typer.Typer(help="Trial protocols: validate, show, load.", no_args_is_help=True)
registry_app = typer.Typer(help="ClinicalTrials.gov interchange and search.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


@protocol_app.command("validate")
def protocol_validate(file: Path = typer.Argument(..., help="Protocol YAML or JSON file.")) -> None:
    """Validate a protocol file; report every problem with its path, line and reason."""
    from trialdesk.adapters.protocol_files import load_protocol

    with cli_errors():
        protocol = load_protocol(file)
    console.print(
        f"OK: {file} ({protocol.nct_id}, {len(protocol.registry.locations)} locations, "
        f"{sum(1 for _ in protocol.registry.eligibility.all_criteria())} criteria)"
    )


@protocol_app.command("show")
def protocol_show(nct_id: TrialArg = DEFAULT_NCT, as_json: JsonFlag = False, db: Db = None) -> None:
    """Show a loaded trial's protocol (registry facts with live site status, and operations)."""
    from trialdesk.services import registry

    with cli_errors():
        app = app_for(db)
        with app.uow() as uow:
            protocol = registry.get_protocol(uow, nct_id)
    data = protocol.model_dump(mode="json", by_alias=True, exclude_none=True)
    if as_json:
        print_json(data)
        return
    r = protocol.registry
    console.print(f"[bold]{r.nct_id}[/] {r.identification.brief_title}")
    console.print(
        f"status {r.status.overall_status.value} · {', '.join(r.design.phases)} · enrollment "
        f"{r.design.enrollment.count if r.design.enrollment else '?'} · {len(r.locations)} locations"
    )
    for arm in r.arm_groups:
        console.print(f"  arm [cyan]{arm.id or '-'}[/] {arm.label} ({arm.type})")


@protocol_app.command("load")
def protocol_load(
    file: Path,
    db: Db = None,
    reason: str = typer.Option("protocol loaded from file", help="Audit reason."),
    as_user: str | None = typer.Option(
        None,
        "--as",
        help="Act as this user (password from $TRIALDESK_PASSWORD or a prompt); default: the local operator.",
    ),
) -> None:
    """Validate and load (or replace) a protocol in the database (``protocol.load``: admin)."""
    from trialdesk.adapters.protocol_files import load_protocol
    from trialdesk.entrypoints.cli.people import resolve_principal
    from trialdesk.services import registry

    with cli_errors():
        protocol = load_protocol(file)
        app = app_for(db)
        principal = resolve_principal(app, as_user)
        with app.uow(principal.username) as uow:
            outcome = registry.load_protocol(uow, principal, protocol, reason=reason)
            uow.commit()
    console.print(f"{protocol.nct_id}: {outcome}")


@registry_app.command("import")
def registry_import(
    paths: list[Path] = typer.Argument(..., help="Study JSON, JSON list, or legacy XML files."), db: Db = None
) -> None:
    """Import ClinicalTrials.gov records. Every file is validated first; on any problem nothing is written."""
    from trialdesk.adapters.ctgov import read_studies
    from trialdesk.domain.errors import InvalidInput, Problem
    from trialdesk.services import registry

    with cli_errors():
        protocols: list[Protocol] = []
        problems: list[Problem] = []
        for path in paths:
            try:
                protocols.extend(read_studies(path))
            except InvalidInput as exc:
                problems.extend(
                    Problem(f"{path}: {p.path}" if str(path) not in p.path else p.path, p.message, p.line)
                    for p in exc.problems
                )
        if problems:
            raise InvalidInput(problems)
        app = app_for(db)
        with app.uow("cli") as uow:
            outcomes = [
                (p.nct_id, registry.save_protocol(uow, p, source="ctgov", reason="registry import")) for p in protocols
            ]
            uow.commit()
    for nct_id, outcome in outcomes:
        console.print(f"{nct_id}: {outcome}")


@registry_app.command("export")
def registry_export(
    nct_id: TrialArg = DEFAULT_NCT, db: Db = None, output: Path | None = typer.Option(None, "--output", "-o")
) -> None:
    """Print a trial as ClinicalTrials.gov API v2 study JSON."""
    from trialdesk.services import registry

    with cli_errors():
        app = app_for(db)
        with app.uow() as uow:
            study = registry.export_study(uow, nct_id)
    text = json.dumps(study, indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        typer.echo(text)


@registry_app.command("list")
def registry_list(
    query: str | None = typer.Argument(None, help="Words that must all appear."),
    as_json: JsonFlag = False,
    db: Db = None,
) -> None:
    """List (or search) the loaded trials."""
    from trialdesk.services import registry

    with cli_errors():
        app = app_for(db)
        with app.uow() as uow:
            rows = registry.list_trials(uow, query)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['nct_id']}  {row['overall_status']:<22} {row['brief_title']}", highlight=False)


@db_app.command("upgrade")
def db_upgrade(db: Db = None) -> None:
    """Create or migrate the database schema to the latest revision."""
    from trialdesk.adapters.db.migrate import current_revision

    with cli_errors():
        app = app_for(db, load_default=False)
        console.print(f"{app.url}: at revision {current_revision(app.engine)}")


@audit_app.command("verify")
def audit_verify(
    db: Db = None,
    checkpoint: list[Path] = typer.Option(
        [], "--checkpoint", help="A signed checkpoint (from `audit checkpoint`) the trail must still contain."
    ),
) -> None:
    """Recompute the keyed hash chain (and compare it with signed checkpoints). Prints OK, or the first problem
    (event seq and what) and exits 1; exits 3 when this machine's audit key is missing or not the chain's."""
    from trialdesk.domain.audit import WrongKey
    from trialdesk.services.audit import parse_checkpoint, verify_audit

    with cli_errors():
        checkpoints = []
        for path in checkpoint:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                from trialdesk.domain.errors import InvalidInput

                raise InvalidInput(f"cannot read: {exc.strerror}", field=str(path)) from None
            checkpoints.append(parse_checkpoint(text, field=str(path)))
        app = app_for(db, load_default=False)
        with app.uow() as uow:
            try:
                count, broken = verify_audit(uow, checkpoints=checkpoints)
            except WrongKey as exc:
                err_console.print(f"WRONG KEY: {exc.message}", highlight=False, markup=False, soft_wrap=True)
                raise typer.Exit(3) from exc
    if broken is None:
        against = f", matches {len(checkpoints)} checkpoint(s)" if checkpoints else ""
        console.print(f"OK: {count} events, chain intact{against}")
        return
    err_console.print(f"BROKEN at event {broken.seq}: {broken.problem}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    db: Db = None,
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the checkpoint here (default: stdout)."),
) -> None:
    """Verify the chain, then print (or write) its head signed with the installation's Ed25519 key: keep it
    somewhere the database's writers cannot reach, and pass it to `audit verify --checkpoint` later."""
    from trialdesk.services.audit import make_checkpoint

    with cli_errors():
        app = app_for(db, load_default=False)
        with app.uow() as uow:
            checkpoint = make_checkpoint(uow)
    text = json.dumps(checkpoint, indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    err_console.print(
        f"checkpoint of event {checkpoint['seq']} written to {out}", highlight=False, markup=False, soft_wrap=True
    )


@audit_app.command("log")
def audit_log(
    limit: int = typer.Option(20, min=1, max=10000),
    entity: str | None = typer.Option(
        None, help="Entity type (e.g. dose, subject), or type:id as the log shows it (e.g. subject:12-0010)."
    ),
    entity_id: str | None = typer.Option(None, "--id", help="Entity id (with --entity: one record)."),
    subject: str | None = typer.Option(None, help="Subject number: its own events and those that name it."),
    user: str | None = typer.Option(None, "--user", help="Who acted (username)."),
    action: str | None = typer.Option(None, help="Action, or its beginning (e.g. dose.)."),
    trial: str | None = typer.Option(None, help="Only this trial's events."),
    date_from: str | None = typer.Option(None, "--from", help="From this date (YYYY-MM-DD)."),
    date_to: str | None = typer.Option(None, "--to", help="Up to and including this date (YYYY-MM-DD)."),
    as_json: JsonFlag = False,
    db: Db = None,
) -> None:
    """Show the latest audit events, newest first (filters narrow; all of them together)."""
    import datetime as dt

    from trialdesk.domain.errors import InvalidInput

    def day(value: str | None, field: str) -> str | None:
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise InvalidInput("must be a date YYYY-MM-DD", field=field) from None

    if entity and ":" in entity and entity_id is None:  # "subject:12-0010", the form the log's entity column has
        entity, entity_id = entity.split(":", 1)
    with cli_errors():
        start, end = day(date_from, "--from"), day(date_to, "--to")
        if start and end and end < start:
            raise InvalidInput("must not be before --from", field="--to")
        before = (dt.date.fromisoformat(end) + dt.timedelta(days=1)).isoformat() if end else None
        app = app_for(db, load_default=False)
        with app.uow() as uow:
            rows = uow.audit.query(
                entity_type=entity,
                entity_id=entity_id,
                subject=subject,
                actor=user,
                action_prefix=action,
                trial=trial,
                occurred_from=start,
                occurred_before=before,
                limit=limit,
            )
            data: list[dict[str, Any]] = [
                {
                    "seq": r.seq,
                    "at": r.occurred_at,
                    "actor": r.actor,
                    "action": r.action,
                    "entity": f"{r.entity_type}:{r.entity_id}",
                    "reason": r.reason,
                    "before": json.loads(r.before_json) if r.before_json else None,
                    "after": json.loads(r.after_json) if r.after_json else None,
                }
                for r in rows
            ]
    if as_json:
        print_json(data)
        return
    for d in data:
        console.print(
            f"{d['seq']:>6} {d['at'][:19]} {d['actor']:<16} {d['action']:<28} {d['entity']} {d['reason'] or ''}",
            highlight=False,
            markup=False,
        )
