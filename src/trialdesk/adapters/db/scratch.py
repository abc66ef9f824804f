"""Throwaway databases for operational checks (``randomization qualify``): never the database the user named.

:func:`scratch_database` yields the URL of a fresh, empty database of the same kind as the one given, and a private
working directory (for seed files and keys), and removes both when the block ends, however it ends:

- SQLite: a file in a private temporary directory ``trialdesk-qualify-<pid>-*``;
- PostgreSQL: a database ``trialdesk_qualify_<pid>_<random>`` created on the same server (the role needs
  ``CREATEDB``), dropped afterwards (``WITH (FORCE)``, so connections still open do not keep it alive).

:func:`terminate_as_interrupt` turns SIGTERM into ``KeyboardInterrupt`` so that a killed run still cleans up. A run
killed outright (SIGKILL, power loss) leaves its scratch behind; the next run sweeps it: temporary directories whose
process is gone, and scratch databases nobody is connected to.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from trialdesk.adapters.db.engine import resolve_url
from trialdesk.domain.errors import Conflict, InvalidInput

PREFIX = "trialdesk-qualify-"
PG_PREFIX = "trialdesk_qualify_"
_DIR_PATTERN = re.compile(rf"^{PREFIX}(\d+)-")

__all__ = ["scratch_database", "terminate_as_interrupt", "sweep_stale"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_directories() -> list[str]:
    swept: list[str] = []
    root = Path(tempfile.gettempdir())
    for path in root.glob(f"{PREFIX}*"):
        match = _DIR_PATTERN.match(path.name)
        if match and path.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            swept.append(str(path))
    return swept


def _sweep_databases(url: str) -> list[str]:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    swept: list[str] = []
    try:
        with engine.connect() as conn:
            names = conn.execute(
                text(
                    "SELECT datname FROM pg_database d WHERE datname LIKE :p AND NOT EXISTS "
                    "(SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
                ),
                {"p": PG_PREFIX.replace("_", r"\_") + "%"},
            ).scalars()
            for name in names:
                try:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))  # no FORCE: a live run keeps its own
                    swept.append(name)
                except Exception:
                    continue
    finally:
        engine.dispose()
    return swept


def sweep_stale(url: str | None = None) -> list[str]:
    """Remove what killed runs left: temporary directories of dead processes, unused scratch databases."""
    swept = _sweep_directories()
    if url is not None and make_url(resolve_url(url)).get_backend_name() == "postgresql":
        swept += _sweep_databases(resolve_url(url))
    return swept


@contextmanager
def scratch_database(url: str | None) -> Iterator[tuple[str, Path]]:
    """``(scratch URL, private working directory)``, both removed afterwards (see the module's docstring)."""
    resolved = resolve_url(url)
    backend = make_url(resolved).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"qualification runs on SQLite or PostgreSQL, not {backend}", field="--db")
    sweep_stale(resolved)
    workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    try:
        if backend == "sqlite":
            yield f"sqlite:///{workdir / 'qualify.sqlite'}", workdir
            return
        name = f"{PG_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        admin = create_engine(resolved, isolation_level="AUTOCOMMIT")
        try:
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            except Exception as exc:
                raise Conflict(
                    f"qualification on PostgreSQL needs a role that may CREATE DATABASE on the server: {exc}"
                ) from None
            try:
                yield make_url(resolved).set(database=name).render_as_string(hide_password=False), workdir
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``KeyboardInterrupt`` in the main thread (so ``finally`` blocks run)."""

    def _handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, _handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
