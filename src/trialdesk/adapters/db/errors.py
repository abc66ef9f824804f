"""Which database errors are worth retrying.

Callers outside the database adapter (the CLI's randomization qualification runs many allocations from
concurrent workers) need to know whether a failed transaction lost a race or is really broken, without
importing SQLAlchemy themselves: the entrypoints write no SQL and know no driver (``tests/test_architecture.py``).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

#: PostgreSQL SQLSTATEs of a lost race: serialization failure, deadlock detected, lock not available.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})

__all__ = ["RETRYABLE_SQLSTATES", "UNAVAILABLE", "is_retryable"]

#: The database cannot be reached or answer for now (refused or dropped connection, server shutting down, SQLite
#: locked, no pooled connection free): the web answers 503 with ``Retry-After`` rather than a 500.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def is_retryable(exc: BaseException) -> bool:
    """True when running the same transaction again may succeed.

    Any ``OperationalError`` counts (SQLite's "database is locked", a dropped connection); another driver error
    counts only when PostgreSQL reports a serialization failure, a deadlock or a lock it could not take.
    """
    if isinstance(exc, OperationalError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and code in RETRYABLE_SQLSTATES
