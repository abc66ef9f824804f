"""What every SQL repository shares: its session, an insert that returns the row, row locks, reads by subject.

Each repository module (``repo_*.py``, :mod:`~trialdesk.adapters.db.repositories`) subclasses
:class:`SqlRepository`, so that the PostgreSQL-only ``FOR UPDATE`` rule and the shape of "a subject's rows" or
"these subjects' rows, grouped" have one home instead of one copy per table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, Table, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

V = TypeVar("V")


class _OfSubject(Protocol):
    subject_id: int


R = TypeVar("R")
S = TypeVar("S", bound=_OfSubject)
Q = TypeVar("Q", bound=Select[Any])


def group_by_subject(pairs: Iterable[tuple[int, V]]) -> defaultdict[int, list[V]]:
    """``subject_id -> [value, ...]`` in the order given; a subject with nothing reads as an empty list."""
    out: defaultdict[int, list[V]] = defaultdict(list)
    for subject_id, value in pairs:
        out[subject_id].append(value)
    return out


class SqlRepository:
    """A repository bound to the unit of work's session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _insert(self, row: R) -> R:
        """Add ``row`` and flush, so that the caller sees its generated id."""
        self.session.add(row)
        self.session.flush()
        return row

    def _lock(self, stmt: Q, for_update: bool) -> Q:
        """``SELECT ... FOR UPDATE`` on PostgreSQL when asked; SQLite transactions are already the one writer."""
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            return stmt.with_for_update()
        return stmt

    def _one(self, stmt: Select[R], *, for_update: bool = False) -> R | None:
        """The one row ``stmt`` selects, locked when ``for_update``; None when there is none."""
        return self.session.execute(self._lock(stmt, for_update)).scalar_one_or_none()

    def _by_id(self, record: type[R], table: Table, row_id: int, *, for_update: bool = False) -> R | None:
        """The ``record`` row whose ``id`` is ``row_id`` (a fresh SELECT, locked when ``for_update``)."""
        return self._one(select(record).where(table.c.id == row_id), for_update=for_update)

    def _subject_rows(self, record: type[R], table: Table, subject_id: int, *order_by: ColumnElement[Any]) -> list[R]:
        """The ``record`` rows of one subject, in ``order_by`` order."""
        stmt = select(record).where(table.c.subject_id == subject_id).order_by(*order_by)
        return list(self.session.execute(stmt).scalars())

    def _rows_by_subject(
        self, record: type[S], table: Table, subject_ids: Iterable[int], *order_by: ColumnElement[Any]
    ) -> defaultdict[int, list[S]]:
        """The ``record`` rows of these subjects grouped by subject, each list in ``order_by`` order."""
        ids = sorted(set(subject_ids))
        if not ids:
            return defaultdict(list)
        stmt = select(record).where(table.c.subject_id.in_(ids)).order_by(*order_by)
        return group_by_subject((row.subject_id, row) for row in self.session.execute(stmt).scalars())
