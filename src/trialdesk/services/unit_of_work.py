"""The unit of work: one transaction per use case, with its audit events appended in the same transaction.

Services receive a unit of work, do their reads and writes through its ``session`` (adapters' repositories) and
call :meth:`AbstractUnitOfWork.record` for every change. ``commit()`` appends the recorded events to the
hash-chained audit trail and commits everything together; leaving the ``with`` block without committing rolls
back everything, events included. Nothing is half-written.
"""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The real clock; injected by bootstrap, replaced by a fixed clock in tests and simulations."""
    return dt.datetime.now(dt.timezone.utc)


class ContinuingClock:
    """A clock that starts at ``start`` and runs at real speed (demo mode: the simulated trial's "now")."""

    def __init__(self, start: dt.datetime, real: Clock = utc_now) -> None:
        self.start, self.real, self.t0 = start, real, real()

    def __call__(self) -> dt.datetime:
        return self.start + (self.real() - self.t0)


@dataclass
class PendingEvent:
    action: str
    entity_type: str
    entity_id: str
    before: Any = None
    after: Any = None
    reason: str | None = None
    trial: str | None = None
    site: str | None = None
    actor: str | None = None


@dataclass
class AbstractUnitOfWork(abc.ABC):
    actor: str = "system"
    clock: Clock = utc_now
    events: list[PendingEvent] = field(default_factory=list)

    def record(self, action: str, entity_type: str, entity_id: Any, *, before: Any = None, after: Any = None,
               reason: str | None = None, trial: str | None = None, site: str | None = None,
               actor: str | None = None) -> None:
        """Queue an audit event; it is written by :meth:`commit`, in the same transaction as the change."""
        self.events.append(PendingEvent(action, entity_type, str(entity_id), before, after, reason, trial, site,
                                        actor))

    def now(self) -> dt.datetime:
        return self.clock()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.rollback()
