"""``trialdesk backup ARCHIVE`` and ``trialdesk restore ARCHIVE``: the database and its secrets, sealed.

Like the ``db`` commands they administer the installation from the machine itself (the local operator, who can
read the database and the secret directories anyway): they take no ``--as``. The passphrase comes from
``--passphrase-file``, else ``$TRIALDESK_BACKUP_PASSPHRASE``, else a prompt; never from the command line.
The logic lives in :mod:`trialdesk.adapters.backup`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.cli.common import Db, JsonFlag, cli_errors, console, err_console, print_json

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="File whose first line is the passphrase (default: $TRIALDESK_BACKUP_PASSPHRASE, else a prompt).",
    ),
]


def _passphrase(path: Path | None, *, confirm: bool) -> str:
    from trialdesk.settings import get_settings

    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {path}: {exc}", field="--passphrase-file") from None
        if not lines or not lines[0]:
            raise InvalidInput(f"{path} holds no passphrase on its first line", field="--passphrase-file")
        return lines[0]
    configured = get_settings().backup_passphrase
    if configured:
        return configured
    value = typer.prompt("backup passphrase", hide_input=True, confirmation_prompt=confirm)
    if not value:
        raise InvalidInput("must not be empty", field="passphrase")
    return str(value)


def backup_command(
    archive: Path = typer.Argument(..., help="The sealed archive to write (must not exist)."),
    db: Db = None,
    passphrase_file: PassphraseFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Back up the database (SQLite online backup / pg_dump) with the randomization seeds and audit keys, sealed with
    a passphrase (scrypt + AES-256-GCM)."""
    from trialdesk.adapters.backup import create_backup
    from trialdesk.adapters.db.engine import resolve_url

    with cli_errors():
        passphrase = _passphrase(passphrase_file, confirm=True)
        report = create_backup(resolve_url(db), archive, passphrase)
    if as_json:
        print_json(asdict(report))
        return
    console.print(
        f"backup written to {report.archive} ({report.bytes} bytes): {report.database} at revision "
        f"{report.revision}, {report.tables} tables, {report.rows} rows, {report.secret_files} secret files"
        + (f", {', '.join(report.environment_secrets)}" if report.environment_secrets else ""),
        highlight=False,
        markup=False,
    )
    console.print("Keep the passphrase apart from the archive: without it nothing can be restored.", highlight=False)


def restore_command(
    archive: Path = typer.Argument(..., help="A sealed archive written by 'trialdesk backup'."),
    db: Db = None,
    passphrase_file: PassphraseFile = None,
    force: bool = typer.Option(False, "--force", help="Replace the contents of a non-empty target database."),
    as_json: JsonFlag = False,
) -> None:
    """Restore a backup into an empty database and write its secrets back; refuses a damaged or mismatched archive
    without changing anything, and checks every table's row count afterwards."""
    from trialdesk.adapters.backup import restore_backup
    from trialdesk.adapters.db.engine import resolve_url

    with cli_errors():
        passphrase = _passphrase(passphrase_file, confirm=False)
        report = restore_backup(resolve_url(db), archive, passphrase, force=force)
    if as_json:
        print_json(asdict(report))
        return
    console.print(
        f"restored {report.database} backup of {report.created_at} at revision {report.revision}: "
        f"{report.tables} tables, {report.rows} rows, row counts match; {len(report.secrets_written)} secret files "
        f"written, {len(report.secrets_kept)} already in place",
        highlight=False,
        markup=False,
    )
    for note in report.notes:
        err_console.print(f"note: {note}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
