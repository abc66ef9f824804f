"""Registers `trialdesk screen` and `trialdesk randomization simulate`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from trialdesk.entrypoints.cli.screen import screen_command

    app.command("screen")(screen_command)
