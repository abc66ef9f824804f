"""Dependencies point inward.

- ``domain/`` and ``stats/`` stay pure: no I/O, web, ORM, CLI, clocks or global RNG.
- ``services/`` reach the outside only through ports: no adapter, entrypoint, ORM or web import (function-level
  imports included: the whole syntax tree is walked).
- ``entrypoints/`` stay thin: no SQL of their own (no SQLAlchemy, no tables), no domain rule re-implemented.
- ``adapters/`` never import the entrypoints.
- No trial id is a constant in code: the trial comes from the URL, the user's context or ``Settings``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trialdesk"

#: Frameworks and I/O libraries that belong to adapters and entrypoints: neither the pure core nor services import them.
EDGE_MODULES = {
    "sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "uvicorn", "jinja2", "typer", "click", "rich",
    "httpx", "requests", "matplotlib", "openpyxl", "pyarrow", "icalendar", "dask", "distributed", "sqlite3",
    "subprocess", "os",
}  # fmt: skip
#: The pure core also does no file, network, clock or global-RNG work of its own.
FORBIDDEN_MODULES = EDGE_MODULES | {
    "http", "io", "logging", "pathlib", "pickle", "platformdirs", "random", "shutil", "socket", "tempfile", "time",
    "urllib", "yaml",
}  # fmt: skip
FORBIDDEN_INTERNAL = ("trialdesk.adapters", "trialdesk.entrypoints", "trialdesk.services", "trialdesk.bootstrap")
ALLOWED_NP_RANDOM = {
    "Generator",
    "default_rng",
    "SeedSequence",
    "PCG64",
    "PCG64DXSM",
    "Philox",
    "SFC64",
    "BitGenerator",
}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "today"), ("datetime", "utcnow"), ("date", "today")}


def layer_files(*packages: str):
    for package in packages:
        yield from sorted((SRC / package).rglob("*.py"))


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
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"open", "input", "print", "exec", "eval"}
        ):
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
    bad.write_text(
        "import sqlalchemy\nfrom fastapi import FastAPI\nimport numpy as np\nimport datetime\n"
        "x = np.random.rand(3)\ny = datetime.datetime.now()\nopen('f')\n"
        "from trialdesk.adapters.db import tables\n",
        encoding="utf-8",
    )
    found = violations(bad)
    assert len(found) == 6, found


def test_there_are_pure_modules():
    assert len(list(pure_files())) >= 5


# --------------------------------------------------------------------------------------------------------------------
# services, entrypoints and adapters
# --------------------------------------------------------------------------------------------------------------------

SERVICE_FORBIDDEN = ("trialdesk.adapters", "trialdesk.entrypoints", "trialdesk.bootstrap")
SERVICE_FORBIDDEN_MODULES = EDGE_MODULES | {"argon2", "cryptography"}  # secrets go through ports
ENTRYPOINT_FORBIDDEN = ("trialdesk.adapters.db.tables", "trialdesk.adapters.db.repositories")
ENTRYPOINT_FORBIDDEN_MODULES = {"sqlalchemy"}
ADAPTER_FORBIDDEN = ("trialdesk.entrypoints",)


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every absolute module a file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def layer_violations(path: Path, internal: tuple[str, ...], modules: set[str]) -> list[str]:
    out = []
    for line, name in imported_names(path):
        if name.startswith(internal) or name.split(".")[0] in modules:
            out.append(f"line {line}: imports {name}")
    return sorted(set(out))


@pytest.mark.parametrize("path", list(layer_files("services")), ids=lambda p: str(p.relative_to(SRC)))
def test_services_reach_adapters_only_through_ports(path):
    assert layer_violations(path, SERVICE_FORBIDDEN, SERVICE_FORBIDDEN_MODULES) == []


@pytest.mark.parametrize("path", list(layer_files("entrypoints")), ids=lambda p: str(p.relative_to(SRC)))
def test_entrypoints_write_no_sql(path):
    assert layer_violations(path, ENTRYPOINT_FORBIDDEN, ENTRYPOINT_FORBIDDEN_MODULES) == []


@pytest.mark.parametrize("path", list(layer_files("adapters")), ids=lambda p: str(p.relative_to(SRC)))
def test_adapters_do_not_import_entrypoints(path):
    assert layer_violations(path, ADAPTER_FORBIDDEN, set()) == []


def test_layer_checker_catches_function_level_imports(tmp_path):
    bad = tmp_path / "svc.py"
    bad.write_text(
        "def f():\n    from trialdesk.adapters.secrets import hash_password\n    import sqlalchemy\n"
        "from trialdesk import adapters\n",
        encoding="utf-8",
    )
    found = layer_violations(bad, SERVICE_FORBIDDEN, SERVICE_FORBIDDEN_MODULES)
    assert found == [
        "line 2: imports trialdesk.adapters.secrets",
        "line 2: imports trialdesk.adapters.secrets.hash_password",
        "line 3: imports sqlalchemy",
        "line 4: imports trialdesk.adapters",
    ], found


# --------------------------------------------------------------------------------------------------------------------
# no trial id as a constant
# --------------------------------------------------------------------------------------------------------------------

NCT_ID = re.compile(r"NCT\d{8}")
#: The one home of the default trial: configuration.
TRIAL_ID_ALLOWED = {"settings.py"}


def docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def trial_id_constants(path: Path) -> list[str]:
    """String constants in code (not docstrings, not comments) that hold an NCT id."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docs = docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            for match in NCT_ID.findall(node.value):
                found.append(f"line {node.lineno}: {match}")
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(SRC.rglob("*.py")) if str(p.relative_to(SRC)) not in TRIAL_ID_ALLOWED],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_no_trial_id_constant_in_code(path):
    assert trial_id_constants(path) == []


def test_trial_id_checker_catches_constants(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text(
        '"""Docstring about NCT07003074 is fine."""\n# comment NCT07003074 fine\n'
        'DEFAULT = "NCT07003074"\nx = f"/trials/NCT00567190/{1}"\n',
        encoding="utf-8",
    )
    assert trial_id_constants(bad) == ["line 3: NCT07003074", "line 4: NCT00567190"]
