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
) -> None:
    """Start the web app (registry pages, operations, JSON API at /api/v1, OpenAPI at /docs)."""
    import uvicorn

    from trialdesk.entrypoints.web.app import create_app

    web = create_app(db, demo=demo)
    typer.echo(f"trialdesk serving on http://{host}:{port}/  (database: {web.state.td.url})")
    uvicorn.run(web, host=host, port=port, log_level="info")


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
