"""Shared test fixtures.

``shared_dir`` points at the read-only ``../shared`` folder beside the checkout (registry seed, CT.gov records,
CTCAE workbook, R reference numbers). Tests that need it skip with a clear message when it is absent; CI has it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Tests create many users: hash their passwords with argon2id's cheap profile (production keeps the default).
os.environ.setdefault("TRIALDESK_ARGON2_PROFILE", "fast")
# Seeds and audit keys a test makes without a directory of its own go to a scratch data directory, never the user's.
os.environ.setdefault("TRIALDESK_DATA_DIR", tempfile.mkdtemp(prefix="trialdesk-tests-"))
SHARED_DIR = Path(os.environ.get("TRIALDESK_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        if os.environ.get("TRIALDESK_REQUIRE_ALL"):
            pytest.fail(f"shared material not found at {SHARED_DIR} (TRIALDESK_REQUIRE_ALL is set)")
        pytest.skip(f"shared material not found at {SHARED_DIR}; set TRIALDESK_SHARED_DIR to run this test")
    return SHARED_DIR


# ---------------------------------------------------------------------------------------------------------------
# Databases: every test that takes ``db_url`` runs on SQLite and on PostgreSQL.
# PostgreSQL comes from $TRIALDESK_TEST_POSTGRES_URL (CI sets it and sets TRIALDESK_REQUIRE_ALL=1, so an
# unreachable server fails the run instead of skipping). Each test gets a fresh database, dropped afterwards.
# ---------------------------------------------------------------------------------------------------------------

import uuid  # noqa: E402

PG_ADMIN_URL = os.environ.get("TRIALDESK_TEST_POSTGRES_URL")


def _require_all() -> bool:
    return bool(os.environ.get("TRIALDESK_REQUIRE_ALL"))


def _pg_admin_engine():
    from sqlalchemy import create_engine

    from trialdesk.adapters.db.engine import resolve_url

    return create_engine(resolve_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_url():
    if not PG_ADMIN_URL:
        if _require_all():
            pytest.fail("TRIALDESK_TEST_POSTGRES_URL is not set but TRIALDESK_REQUIRE_ALL is")
        pytest.skip("PostgreSQL tests need TRIALDESK_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)")
    from sqlalchemy import text

    from trialdesk.adapters.db.engine import resolve_url

    name = f"trialdesk_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem
        if _require_all():
            pytest.fail(f"cannot reach PostgreSQL at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"cannot reach PostgreSQL at {PG_ADMIN_URL}: {exc}")
    base = resolve_url(PG_ADMIN_URL)
    url = base.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'trialdesk.sqlite'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trialdesk.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def td(db_url):
    """A bootstrapped trialdesk App (migrated, NCT07003074 loaded) on each database."""
    from trialdesk.bootstrap import bootstrap

    app = bootstrap(db_url)
    yield app
    app.dispose()


# ---------------------------------------------------------------------------------------------------------------
# A closing line that shows, in CI's log, how many tests ran against each database.
# ---------------------------------------------------------------------------------------------------------------

_BACKEND_COUNTS: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report):
    if report.when != "call" and not (report.when == "setup" and report.outcome == "skipped"):
        return
    for backend in ("postgres", "sqlite"):
        if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid or f"-{backend}-" in report.nodeid:
            counts = _BACKEND_COUNTS.setdefault(backend, {})
            counts[report.outcome] = counts.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter):
    if _BACKEND_COUNTS:
        parts = [
            f"{backend}: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            for backend, counts in sorted(_BACKEND_COUNTS.items())
        ]
        terminalreporter.write_line("database backends -> " + "; ".join(parts))
        if PG_ADMIN_URL:
            terminalreporter.write_line(f"PostgreSQL tests ran against {PG_ADMIN_URL}")
