"""Registers the pure-analysis commands: stats, dose, recist, randomization simulate."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from trialdesk.entrypoints.cli.dose import dose_command
    from trialdesk.entrypoints.cli.recist import recist_app
    from trialdesk.entrypoints.cli.stats import app as stats_app

    app.add_typer(stats_app, name="stats")
    app.add_typer(recist_app, name="recist")
    app.command("dose")(dose_command)
