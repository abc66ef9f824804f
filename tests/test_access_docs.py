"""The permission matrix rendered in docs/permissions.md is the one the code enforces."""

from pathlib import Path

from typer.testing import CliRunner

from trialdesk.entrypoints.cli.main import app

DOC = Path(__file__).resolve().parents[1] / "docs" / "permissions.md"


def test_docs_matrix_is_current():
    table = CliRunner().invoke(app, ["users", "permissions", "--markdown"]).output.strip()
    assert table.splitlines()[0].startswith("| action | scope | admin |")
    assert table in DOC.read_text(encoding="utf-8"), "regenerate docs/permissions.md"
