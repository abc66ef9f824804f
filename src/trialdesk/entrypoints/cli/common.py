"""Shared CLI plumbing: the parameters every command takes (--trial, --db, --as, --json, the subject), JSON output,
and turning TrialdeskError into exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
from rich.console import Console

from trialdesk.domain.errors import TrialdeskError

if TYPE_CHECKING:
    from rich.progress import Progress

    from trialdesk.bootstrap import App
    from trialdesk.domain.access import Principal

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def _trial_or_default(value: str | None) -> str:
    """The trial named on the command line, else the configured default (``$TRIALDESK_DEFAULT_TRIAL``)."""
    if value:
        return value
    from trialdesk.settings import get_settings

    return get_settings().default_trial


TRIAL_HELP = "NCT id of the trial (default: the configured default trial, $TRIALDESK_DEFAULT_TRIAL)."

# The parameters the commands share, as ``Annotated`` aliases declared once, so that a signature says
# ``subject: SubjectArg, trial: Trial = DEFAULT_NCT, db: Db = None, as_user: AsUser = None, as_json: AsJson = False``
# instead of repeating each option, its flag and its help in every command. Typer reads the flag, help and callback
# from the alias and the default from the ``=`` (it refuses a default inside ``Annotated``).
SubjectArg = Annotated[str, typer.Argument()]
Trial = Annotated[str, typer.Option("--trial", callback=_trial_or_default, help=TRIAL_HELP)]
TrialArg = Annotated[str, typer.Argument(callback=_trial_or_default, help=TRIAL_HELP, show_default=False)]
Db = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: $TRIALDESK_DATABASE_URL or a SQLite file in the user data directory)."
    ),
]
AsUser = Annotated[
    str | None, typer.Option("--as", help="Act as this user (password from $TRIALDESK_PASSWORD or a prompt).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
JsonFlag = Annotated[bool, typer.Option("--json")]
"""``--json`` without a help line: the commands that never had one keep their ``--help`` as it was."""

DEFAULT_NCT = cast("str", None)
"""The default of a ``Trial`` / ``TrialArg`` parameter: None on the command line, which the callback turns into the
configured default trial before the command runs, so the command itself only ever sees a ``str``."""


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print a TrialdeskError as 'error: ...' (one problem per line) and exit 1 (2 for bad input). A command model
    that refuses the options (``pydantic.ValidationError``) is bad input too: its problems name the fields."""
    from pydantic import ValidationError

    from trialdesk.domain.errors import InvalidInput, problems_from_pydantic

    try:
        try:
            yield
        except ValidationError as invalid:
            raise InvalidInput(problems_from_pydantic(invalid)) from invalid
    except TrialdeskError as exc:
        if isinstance(exc, InvalidInput):
            err_console.print("[bold red]error:[/] invalid input", highlight=False)
            for problem in exc.problems:
                err_console.print(f"  {problem}", highlight=False, markup=False)
            raise typer.Exit(2) from exc
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc


def app_for(db: str | None, *, load_default: bool = True) -> App:
    """The app for ``--db`` (bootstrap is imported here, not at module level, so that ``--help`` stays light)."""
    from trialdesk.bootstrap import bootstrap

    return bootstrap(db, load_default=load_default)


def progress_bar(label: str, *, console: Console, disable: bool = False, transient: bool = False) -> Progress:
    """The CLI's progress bar: ``label``, the bar, done/total and the time elapsed (rich is imported here, when a
    long command runs, not at module level)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
        transient=transient,
    )


def run_as(db: str | None, as_user: str | None, fn: Callable[[Any, Principal], T], *, commit: bool) -> T:
    """Run ``fn(uow, principal)`` in one unit of work as the CLI caller (``--as`` / $TRIALDESK_TOKEN / the local
    operator), committed when ``commit``: the one home of the "resolve the caller, open a unit of work, call the
    service, commit" steps every command repeats."""
    from trialdesk.entrypoints.cli.people import resolve_principal

    app = app_for(db)
    principal = resolve_principal(app, as_user)
    with app.uow(principal.username) as uow:
        out = fn(uow, principal)
        if commit:
            uow.commit()
    return out


def show(value: T, as_json: bool, lines: Callable[[T], list[str]]) -> None:
    """Print ``value`` as JSON with ``--json``, else the plain lines ``lines(value)`` (no Rich markup in them)."""
    if as_json:
        print_json(value)
    else:
        for line in lines(value):
            console.print(line, highlight=False, markup=False)
