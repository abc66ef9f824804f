"""The unit of work: one transaction per use case, with its audit events appended in the same transaction.

Services receive a :class:`UnitOfWork`, read and write through its repositories (``uow.subjects``,
``uow.allocations``, ... declared below and in :mod:`trialdesk.services.repositories`) and call
:meth:`UnitOfWork.record` for every change. ``commit()`` appends the recorded events to the hash-chained audit
trail and commits everything together; leaving the ``with`` block without committing rolls back everything, events
included. Nothing is half-written.

Two implementations share :class:`AbstractUnitOfWork` (event recording, the clock, the ``with`` protocol): the SQL
one in ``adapters/db/uow.py``, built by ``bootstrap``, and the in-memory fake of the tests (``tests/fakes.py``),
on which services' use-case logic runs without a database. Both create every repository explicitly, so each
``uow.x.y`` has a type.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypedDict, Unpack

from trialdesk.services.ports import Ports
from trialdesk.services.repositories import (
    AdverseEventRepository,
    AllocationRepository,
    AnalysisRepository,
    AuditRepository,
    CtcaeRepository,
    DashboardRepository,
    DispositionRepository,
    DoseRepository,
    MonitoringRepository,
    QueryRepository,
    RandomizationRepository,
    ScreeningRepository,
    SignatureRepository,
    SiteRepository,
    SubjectRepository,
    TrialRepository,
    TumorAssessmentRepository,
    UserRepository,
)

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The real clock; injected by bootstrap, replaced by a fixed clock in tests and simulations."""
    return dt.datetime.now(dt.UTC)


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


class EventDetails(TypedDict, total=False):
    """The optional keyword arguments of :meth:`UnitOfWork.record`: the fields of :class:`PendingEvent` after the
    entity. Declared once so that the protocol and :class:`AbstractUnitOfWork` cannot drift apart."""

    before: Any
    after: Any
    reason: str | None
    trial: str | None
    site: str | None
    actor: str | None


class UnitOfWork(Protocol):
    """What a service may use: repositories, ports, the clock, audit events, and the transaction."""

    actor: str
    clock: Clock
    ports: Ports

    trials: TrialRepository
    sites: SiteRepository
    users: UserRepository
    audit: AuditRepository
    subjects: SubjectRepository
    screenings: ScreeningRepository
    randomization: RandomizationRepository
    allocations: AllocationRepository
    doses: DoseRepository
    ctcae: CtcaeRepository
    adverse_events: AdverseEventRepository
    tumor_assessments: TumorAssessmentRepository
    dispositions: DispositionRepository
    queries: QueryRepository
    signatures: SignatureRepository
    analysis: AnalysisRepository
    dashboard: DashboardRepository
    monitoring: MonitoringRepository

    @property
    def dialect(self) -> str:
        """The database's dialect name (``postgresql``, ``sqlite``; ``memory`` for the fake)."""
        ...

    def record(self, action: str, entity_type: str, entity_id: Any, **details: Unpack[EventDetails]) -> None:
        """Queue an audit event; it is written by :meth:`commit`, in the same transaction as the change."""
        ...

    def recorded(self) -> Sequence[PendingEvent]:
        """The events recorded in this transaction so far (not yet committed)."""
        ...

    def now(self) -> dt.datetime: ...

    def flush(self) -> None:
        """Send pending writes to the database now (still uncommitted: a rollback undoes them)."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class AbstractUnitOfWork(abc.ABC):
    """What every unit of work shares: the actor, the clock, the ports and the queue of audit events."""

    def __init__(self, *, ports: Ports, actor: str = "system", clock: Clock = utc_now) -> None:
        self.actor = actor
        self.clock = clock
        self.ports = ports
        self.events: list[PendingEvent] = []

    def record(self, action: str, entity_type: str, entity_id: Any, **details: Unpack[EventDetails]) -> None:
        """Queue an audit event; it is written by :meth:`commit`, in the same transaction as the change."""
        self.events.append(PendingEvent(action, entity_type, str(entity_id), **details))

    def recorded(self) -> Sequence[PendingEvent]:
        return tuple(self.events)

    def now(self) -> dt.datetime:
        return self.clock()

    @abc.abstractmethod
    def flush(self) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...
