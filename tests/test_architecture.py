"""Dependencies point inward: domain/ and stats/ stay pure (no I/O, web, ORM, CLI, clocks or global RNG)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trialdesk"

FORBIDDEN_MODULES = {
    "sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "uvicorn", "jinja2", "typer", "click", "rich",
    "httpx", "requests", "urllib", "http", "socket", "subprocess", "shutil", "io", "os", "pathlib", "tempfile",
    "sqlite3", "pickle", "dask", "distributed", "matplotlib", "openpyxl", "pyarrow", "yaml", "icalendar",
    "random", "time", "platformdirs", "logging",
}
FORBIDDEN_INTERNAL = ("trialdesk.adapters", "trialdesk.entrypoints", "trialdesk.services", "trialdesk.bootstrap")
ALLOWED_NP_RANDOM = {"Generator", "default_rng", "SeedSequence", "PCG64", "PCG64DXSM", "Philox", "SFC64",
                     "BitGenerator"}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "today"), ("datetime", "utcnow"), ("date", "today")}


def pure_files():
    for package in ("domain", "stats"):
        yield from sorted((SRC / package).rglob("*.py"))


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        else:
            names = []
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES or name.startswith(FORBIDDEN_INTERNAL):
                found.append(f"line {node.lineno}: imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"open", "input",
                                                                                            "print", "exec", "eval"}:
            found.append(f"line {node.lineno}: calls {node.func.id}()")
        if isinstance(node, ast.Attribute):
            base = node.value
            if isinstance(base, ast.Name) and (base.id, node.attr) in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: uses {base.id}.{node.attr} (pass a clock in)")
            if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
                if (base.attr, node.attr) in FORBIDDEN_CALLS:
                    found.append(f"line {node.lineno}: uses {base.attr}.{node.attr} (pass a clock in)")
                if base.value.id in {"np", "numpy"} and base.attr == "random" and node.attr not in ALLOWED_NP_RANDOM:
                    found.append(f"line {node.lineno}: uses global np.random.{node.attr} (pass a Generator in)")
    return found


@pytest.mark.parametrize("path", list(pure_files()), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module(path):
    assert violations(path) == []


def test_checker_catches_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom fastapi import FastAPI\nimport numpy as np\nimport datetime\n"
                   "x = np.random.rand(3)\ny = datetime.datetime.now()\nopen('f')\n"
                   "from trialdesk.adapters.db import tables\n", encoding="utf-8")
    found = violations(bad)
    assert len(found) == 6, found


def test_there_are_pure_modules():
    assert len(list(pure_files())) >= 5
