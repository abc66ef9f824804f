"""Issue 15: `trialdesk demo` and `serve --demo` simulate the same default trial: 100 subjects, seed 7 (README)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import typer

import trialdesk.services.demo as demo_service
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.cli.cmd_demo import register
from trialdesk.entrypoints.web.demo_hook import ensure_demo

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_cli_default_is_the_documented_one():
    readme = README.read_text(encoding="utf-8")
    assert "`serve --demo` simulates a trial of 100 subjects" in readme
    assert re.search(r"`demo \[--subjects N\].*100 subjects, seed 7 by default", readme)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    command = typer.main.get_command(app)
    params = {p.name: p.default for p in command.commands["demo"].params}  # type: ignore[attr-defined]
    assert (params["subjects"], params["seed"]) == (100, 7)
    signature = inspect.signature(demo_service.run_demo)
    assert (signature.parameters["subjects"].default, signature.parameters["seed"].default) == (100, 7)


def test_serve_demo_runs_the_same_default(db_url, monkeypatch):
    calls = []

    def fake_run_demo(td, **kwargs):
        calls.append({name: kwargs.get(name, p.default) for name, p in inspect.signature(real).parameters.items()})

    real = demo_service.run_demo
    monkeypatch.setattr(demo_service, "run_demo", fake_run_demo)
    td = bootstrap(db_url)
    try:
        ensure_demo(td)
    finally:
        td.dispose()
    [call] = calls
    assert (call["subjects"], call["seed"]) == (100, 7)
