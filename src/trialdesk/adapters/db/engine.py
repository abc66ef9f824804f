"""Engines and connection settings for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from trialdesk.settings import Settings, get_settings

ENV_URL = "TRIALDESK_DATABASE_URL"


def default_sqlite_path(settings: Settings | None = None) -> Path:
    """``<user data dir>/trialdesk/trialdesk.sqlite`` (platformdirs), overridable with ``TRIALDESK_DATA_DIR``."""
    directory = (settings or get_settings()).data_directory()
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "trialdesk.sqlite"


def resolve_url(url: str | None = None, settings: Settings | None = None) -> str:
    """``--db`` beats ``$TRIALDESK_DATABASE_URL`` (``settings.database_url``) beats the default SQLite file."""
    settings = settings or get_settings()
    url = url or settings.database_url
    if not url:
        return f"sqlite:///{default_sqlite_path(settings)}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str | None = None, *, pool_size: int = 10) -> Engine:
    """An engine with the right transaction semantics.

    SQLite: every transaction is ``BEGIN IMMEDIATE`` (one writer at a time, taken at the start so two writers
    never deadlock on lock upgrade), WAL journal, foreign keys on and a 30 s busy timeout.
    PostgreSQL: psycopg 3, READ COMMITTED; services take row locks (``SELECT ... FOR UPDATE``) where needed.
    """
    url = resolve_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        memory = database in (None, "", ":memory:")
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            **({"poolclass": NullPool} if memory else {"pool_size": pool_size, "max_overflow": max(pool_size, 10)}),
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:  # pragma: no cover - trivial
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:  # pragma: no cover - trivial
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=max(pool_size, 10), pool_pre_ping=True)
