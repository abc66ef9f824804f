"""The ``trialdesk`` command."""

from __future__ import annotations

import typer

from trialdesk.entrypoints.cli.common import Db
from trialdesk.entrypoints.cli.foundation import audit_app, db_app, protocol_app, registry_app
from trialdesk.entrypoints.cli.people import sites_app, tokens_app, users_app

app = typer.Typer(
    name="trialdesk",
    help="Run a randomized multicenter clinical trial, from registry record to posted results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(protocol_app, name="protocol")
app.add_typer(registry_app, name="registry")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(sites_app, name="sites")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    db: Db = None,
    demo: bool = typer.Option(False, "--demo", help="Fill an empty database with a simulated trial first."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Worker processes (PostgreSQL only: SQLite stays one process, one writer)."
    ),
) -> None:
    """Start the web app (registry pages, operations, JSON API at /api/v1, OpenAPI at /docs)."""
    import os

    import uvicorn

    from trialdesk.adapters.db.engine import is_sqlite, resolve_url
    from trialdesk.entrypoints.web.app import create_app

    url = resolve_url(db)
    if workers > 1 and is_sqlite(url):
        typer.echo(
            "--workers: SQLite is one writer in one process; several workers need PostgreSQL "
            "(--db postgresql://... or TRIALDESK_DATABASE_URL)",
            err=True,
        )
        raise typer.Exit(2)
    # the demo is simulated (or found) once here, before any worker starts; each worker then opens the database
    web = create_app(url, demo=demo)
    typer.echo(f"trialdesk serving on http://{host}:{port}/  (database: {web.state.td.url}, workers: {workers})")
    if workers == 1:
        uvicorn.run(web, host=host, port=port, log_level="info")
        return
    web.state.td.dispose()
    os.environ["TRIALDESK_DATABASE_URL"] = url  # what each worker's create_app reads (entrypoints/web/app.py)
    os.environ["TRIALDESK_SERVE_DEMO"] = "1" if demo else ""
    uvicorn.run(
        "trialdesk.entrypoints.web.app:create_worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


def _register_optional() -> None:
    """Feature modules: every ``entrypoints/cli/cmd_*.py`` exposes ``register(app)``."""
    import importlib
    import pkgutil

    from trialdesk.entrypoints import cli as cli_pkg

    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"trialdesk.entrypoints.cli.{info.name}").register(app)


_register_optional()

if __name__ == "__main__":  # pragma: no cover
    app()
