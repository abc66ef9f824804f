"""Whole-database copies for backup and restore: SQLite's online backup API, PostgreSQL's pg_dump / pg_restore.

SQLite: :func:`dump` copies the live file with ``sqlite3.Connection.backup`` (a consistent snapshot even while the
app writes), and counts rows and reads the Alembic revision from that copy. :func:`restore` copies back the same way
into the target file, in one step that SQLite makes atomic.

PostgreSQL: :func:`dump` opens a REPEATABLE READ transaction, exports its snapshot and runs
``pg_dump --format=custom --snapshot=...`` on it, so the dump, the row counts and the revision describe the same
instant. :func:`restore` runs ``pg_restore --single-transaction --exit-on-error``: all or nothing. The binaries come
from ``PATH``; the connection goes to the child through libpq's ``PG*`` environment variables (``PGPASSWORD`` among
them), never on its command line.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url

from trialdesk.adapters.db.engine import resolve_url
from trialdesk.domain.errors import Conflict, IntegrityError, InvalidInput, NotFound

__all__ = ["DumpInfo", "database_kind", "dump", "restore", "row_counts", "user_tables", "pg_environment"]

SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
_PG_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "host": "PGHOST",
    "port": "PGPORT",
}


@dataclass(frozen=True)
class DumpInfo:
    kind: str
    filename: str
    revision: str | None
    counts: dict[str, int]


def database_kind(url: str) -> str:
    """``sqlite`` or ``postgresql`` (anything else is refused)."""
    backend = make_url(resolve_url(url)).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"backup supports SQLite and PostgreSQL, not {backend}", field="--db")
    return backend


def _sqlite_path(url: str) -> Path:
    database = make_url(resolve_url(url)).database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory SQLite database cannot be backed up or restored", field="--db")
    return Path(database)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return sorted(r[0] for r in rows)


def _sqlite_counts(conn: sqlite3.Connection) -> tuple[str | None, dict[str, int]]:
    tables = _sqlite_tables(conn)
    counts = {t: int(conn.execute(f"SELECT COUNT(*) FROM {_quote(t)}").fetchone()[0]) for t in tables}
    revision = None
    if "alembic_version" in tables:
        revision = ",".join(sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))) or None
    return revision, counts


def _pg_tables(conn: Connection) -> list[str]:
    rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
    return sorted(r[0] for r in rows)


def _pg_counts(conn: Connection) -> tuple[str | None, dict[str, int]]:
    tables = _pg_tables(conn)
    counts = {t: int(conn.execute(text(f"SELECT COUNT(*) FROM {_quote(t)}")).scalar_one()) for t in tables}
    revision = None
    if "alembic_version" in tables:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
        revision = ",".join(sorted(versions)) or None
    return revision, counts


def _sqlite_connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    return sqlite3.connect(path, timeout=30)


def pg_environment(url: str) -> dict[str, str]:
    """libpq's environment for ``url``: the child process's connection, password included, off its command line."""
    parsed: URL = make_url(resolve_url(url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for value, name in (
        (parsed.host, "PGHOST"),
        (parsed.port, "PGPORT"),
        (parsed.username, "PGUSER"),
        (parsed.password, "PGPASSWORD"),
        (parsed.database, "PGDATABASE"),
    ):
        if value is not None:
            env[name] = str(value)
    for key, name in _PG_QUERY_ENV.items():
        option = parsed.query.get(key)
        if isinstance(option, str):
            env[name] = option
    return env


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise NotFound(f"{name} is not on PATH: install the PostgreSQL client tools (same major version as the server)")
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tool = Path(args[0]).name
        raise IntegrityError(f"{tool} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def dump(url: str, directory: Path) -> DumpInfo:
    """Copy the database into ``directory`` (a file named ``database.sqlite`` or ``database.pgdump``)."""
    kind = database_kind(url)
    if kind == "sqlite":
        source_path = _sqlite_path(url)
        if not source_path.is_file():
            raise NotFound(f"no SQLite database at {source_path}")
        target = directory / SQLITE_FILE
        source = _sqlite_connect(source_path, read_only=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            revision, counts = _sqlite_counts(copy)
        finally:
            copy.close()
            source.close()
        return DumpInfo(kind, SQLITE_FILE, revision, counts)
    pg_dump = _binary("pg_dump")
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                revision, counts = _pg_counts(conn)
                target = directory / PG_FILE
                _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}"], pg_environment(url))
    finally:
        engine.dispose()
    return DumpInfo(kind, PG_FILE, revision, counts)


def user_tables(url: str) -> list[str]:
    """The tables in the target database (none for a missing SQLite file)."""
    if database_kind(url) == "sqlite":
        path = _sqlite_path(url)
        if not path.exists():
            return []
        conn = _sqlite_connect(path, read_only=True)
        try:
            return _sqlite_tables(conn)
        finally:
            conn.close()
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as pg:
            return _pg_tables(pg)
    finally:
        engine.dispose()


def row_counts(url: str) -> tuple[str | None, dict[str, int]]:
    """The Alembic revision and every table's row count."""
    if database_kind(url) == "sqlite":
        conn = _sqlite_connect(_sqlite_path(url), read_only=True)
        try:
            return _sqlite_counts(conn)
        finally:
            conn.close()
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as pg:
            return _pg_counts(pg)
    finally:
        engine.dispose()


def check_copy(path: Path, kind: str) -> tuple[str | None, dict[str, int]] | None:
    """For a SQLite copy: its integrity check, then its revision and counts (None for a PostgreSQL dump)."""
    if kind != "sqlite":
        return None
    conn = _sqlite_connect(path, read_only=True)
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise IntegrityError(f"the archived SQLite database fails its integrity check: {verdict}")
        return _sqlite_counts(conn)
    finally:
        conn.close()


def restore(url: str, copy: Path, kind: str, *, force: bool) -> None:
    """Write the archived copy into the target database (emptied first when ``force``)."""
    if database_kind(url) != kind:
        raise Conflict(f"the archive holds a {kind} database; the target is {database_kind(url)}")
    if kind == "sqlite":
        target_path = _sqlite_path(url)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        source = _sqlite_connect(copy, read_only=True)
        target = _sqlite_connect(target_path, read_only=False)
        try:
            target.execute("PRAGMA journal_mode=WAL")
            source.backup(target)  # replaces the whole target in one transaction
        finally:
            target.close()
            source.close()
        return
    pg_restore = _binary("pg_restore")
    if force:
        engine = create_engine(resolve_url(url))
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    env = pg_environment(url)
    database = env.get("PGDATABASE", "")
    _run(
        [
            pg_restore,
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-acl",
            f"--dbname={database}",
            str(copy),
        ],
        env,
    )


def list_seed_checks(url: str) -> list[tuple[str, str]]:
    """``(nct_id, seed_check)`` of every randomization list in the database."""
    sql = text("SELECT t.nct_id, l.seed_check FROM randomization_lists l JOIN trials t ON t.id = l.trial_id")
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute(sql)]
    finally:
        engine.dispose()
