"""Registers `trialdesk design events|power|duration` and `trialdesk simulate`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from trialdesk.entrypoints.cli.design import design_app, simulate_command

    app.add_typer(design_app, name="design")
    app.command("simulate")(simulate_command)
