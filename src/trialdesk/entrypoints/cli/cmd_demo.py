"""`trialdesk demo`: create or reset a database and drive a simulated NCT07003074 through the services."""

from __future__ import annotations

import datetime as dt
import json

import typer

from trialdesk.entrypoints.cli.common import Db, JsonFlag, cli_errors, console, progress_bar
from trialdesk.settings import DEMO_SEED, DEMO_SUBJECTS


def demo_command(
    subjects: int = typer.Option(DEMO_SUBJECTS, "--subjects", min=4, max=2000, help="Subjects to randomize."),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="The run is deterministic for a seed."),
    until: str | None = typer.Option(None, "--until", help="Stop on this date (YYYY-MM-DD)."),
    to_completion: bool = typer.Option(
        False, "--to-completion", help="Run to the event-driven cut, analyse, post results."
    ),
    db: Db = None,
    as_json: JsonFlag = False,
) -> None:
    """Create or RESET the database, load NCT07003074, create sites and demo users, and simulate the trial."""

    from trialdesk.adapters.db.migrate import reset
    from trialdesk.bootstrap import bootstrap, ensure_default_trial
    from trialdesk.services.demo import run_demo

    if until and to_completion:
        raise typer.BadParameter("give --until or --to-completion, not both")
    with cli_errors():
        stop = None
        if until:
            try:
                stop = dt.date.fromisoformat(until)
            except ValueError:
                raise typer.BadParameter(f"--until {until!r} is not a date (YYYY-MM-DD)") from None
        td = bootstrap(db, load_default=False)
        reset(td.engine)
        ensure_default_trial(td, dated_at_start=True)  # the trail's clock starts where the simulation's does
        with progress_bar("[bold]demo[/]", console=console, disable=as_json) as bar:
            task = bar.add_task("events", total=None)
            report = run_demo(
                td,
                subjects=subjects,
                seed=seed,
                until=stop,
                to_completion=to_completion,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    data = report.to_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    console.print(
        f"[bold]Demo database ready[/] ({td.url}): screened {data['screened']}, randomized "
        f"{data['randomized']}, PFS events {data['pfs_events']}, simulated until {data['until']}"
        + (f", cut {data['cut_date']}, results posted" if data["results_posted"] else "")
    )
    console.print(
        "[bold yellow]DEMO LOGINS — known passwords, for demonstration only; never use demo mode with real data[/]"
    )
    for user in data["users"][:8]:
        console.print(f"  {user['username']:<16} {user['password']:<32} {user['role']}", highlight=False, markup=False)
    if len(data["users"]) > 8:
        console.print(
            f"  ... and {len(data['users']) - 8} more site users (coord.NN / inv.NN, password "
            f"'<username>-demo-password')",
            highlight=False,
            markup=False,
        )
    if data["refused_count"]:
        console.print(
            f"{data['refused_count']} simulated actions were refused by the services (first: {data['refused'][0]})",
            highlight=False,
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
