"""`trialdesk --help` stays light: listing the commands must not load the numerical stack.

pandas and scipy (and matplotlib) cost seconds to import; the commands that need them import them when they run.
Each check runs in a fresh interpreter, because this test process has long since imported everything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pandas", "scipy", "matplotlib")

_PROBE = """
import json, sys
from typer.testing import CliRunner
from trialdesk.entrypoints.cli.main import app

result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({
    "exit_code": result.exit_code,
    "output": result.output,
    "modules": sorted(sys.modules),
}))
"""


def _probe(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["stats", "--help"], ["dose", "--help"]])
def test_help_imports_neither_pandas_nor_scipy(args: list[str]) -> None:
    out = _probe(*args)
    assert out["exit_code"] == 0, out["output"]
    assert "Usage" in out["output"]
    loaded = [m for m in HEAVY if m in out["modules"]]
    assert loaded == [], f"`trialdesk {' '.join(args)}` imported {loaded}"


def test_trialdesk_help_runs() -> None:
    """The installed console script answers --help (next to this interpreter, or on PATH)."""
    script = Path(sys.executable).with_name("trialdesk")
    exe = str(script) if script.exists() else shutil.which("trialdesk")
    if exe is None:  # pragma: no cover - a checkout without the package installed
        pytest.skip("the trialdesk console script is not installed")
    proc = subprocess.run(
        [exe, "--help"], capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "COLUMNS": "120"}
    )
    assert proc.returncode == 0, proc.stderr
    for group in ("protocol", "stats", "dose", "screen"):
        assert group in proc.stdout
