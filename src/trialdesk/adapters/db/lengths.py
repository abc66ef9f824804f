"""Column lengths: the schema (``String(n)`` in ``tables.py``) is the one declaration, enforced before the database.

PostgreSQL refuses a value longer than ``varchar(n)`` with a driver error (a 500), SQLite stores it whole whatever
``n`` says. A ``before_flush`` listener checks every ``String(n)`` column of every new or changed record against its
declared length on both databases and raises :class:`~trialdesk.domain.errors.InvalidInput` naming the column, so
the transaction is refused (422) and nothing is written. Lengths count characters, as both databases do.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from trialdesk.domain.errors import InvalidInput, Problem

__all__ = ["check_lengths", "install_length_checks"]


def _limits(mapper: Any) -> list[tuple[str, str, int]]:
    """(attribute, column name, declared length) of each ``String(n)`` column a mapper maps."""
    out = []
    for prop in mapper.column_attrs:
        for column in prop.columns:
            length = getattr(column.type, "length", None)
            if isinstance(column.type, String) and length:
                out.append((prop.key, column.name, int(length)))
    return out


_CACHE: dict[Any, list[tuple[str, str, int]]] = {}


def check_lengths(session: Session, flush_context: Any = None, instances: Any = None) -> None:
    problems: list[Problem] = []
    for obj in chain(session.new, session.dirty):
        mapper = inspect(obj).mapper
        limits = _CACHE.get(mapper)
        if limits is None:
            limits = _CACHE[mapper] = _limits(mapper)
        for attribute, column, length in limits:
            value = getattr(obj, attribute, None)
            if isinstance(value, str) and len(value) > length:
                problems.append(Problem(column, f"must be at most {length} characters ({len(value)} given)"))
    if problems:
        raise InvalidInput(problems)


def install_length_checks(factory: sessionmaker[Session]) -> None:
    """Check lengths before every flush of the sessions ``factory`` makes."""
    if not event.contains(factory, "before_flush", check_lengths):
        event.listen(factory, "before_flush", check_lengths)
