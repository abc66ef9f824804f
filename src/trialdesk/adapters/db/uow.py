"""SQLAlchemy unit of work and the audit-trail store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from types import TracebackType

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.tables import AuditEventRow, AuditHeadRow
from trialdesk.domain.audit import GENESIS_HASH, AuditEvent, ChainHead, canonical_json, chain_seal, key_check
from trialdesk.domain.errors import IntegrityError
from trialdesk.services import repositories as repos
from trialdesk.services.ports import Ports
from trialdesk.services.unit_of_work import AbstractUnitOfWork, Clock, PendingEvent, UnitOfWork, utc_now


def _iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat(timespec="microseconds")


class SqlUnitOfWork(AbstractUnitOfWork):
    """One database transaction. Use as ``with uow: ...; uow.commit()``.

    Every repository is created explicitly in ``__enter__``, bound to the transaction's session, and typed with
    the protocol services see (:mod:`trialdesk.services.repositories`). ``session`` stays public for tests and
    adapters (never for services).
    """

    trials: repos.TrialRepository
    sites: repos.SiteRepository
    users: repos.UserRepository
    audit: repos.AuditRepository
    subjects: repos.SubjectRepository
    screenings: repos.ScreeningRepository
    randomization: repos.RandomizationRepository
    allocations: repos.AllocationRepository
    doses: repos.DoseRepository
    ctcae: repos.CtcaeRepository
    adverse_events: repos.AdverseEventRepository
    tumor_assessments: repos.TumorAssessmentRepository
    dispositions: repos.DispositionRepository
    queries: repos.QueryRepository
    signatures: repos.SignatureRepository
    analysis: repos.AnalysisRepository
    dashboard: repos.DashboardRepository
    monitoring: repos.MonitoringRepository

    def __init__(
        self, session_factory: sessionmaker[Session], *, ports: Ports, actor: str = "system", clock: Clock = utc_now
    ) -> None:
        super().__init__(ports=ports, actor=actor, clock=clock)
        self._session_factory = session_factory
        self.session: Session | None = None

    def __enter__(self) -> SqlUnitOfWork:
        from trialdesk.adapters.db import (
            repo_adverse_events,
            repo_allocations,
            repo_analysis,
            repo_ctcae,
            repo_dashboard,
            repo_dispositions,
            repo_doses,
            repo_monitoring,
            repo_queries,
            repo_randomization,
            repo_screenings,
            repo_signatures,
            repo_subjects,
            repo_tumor_assessments,
        )
        from trialdesk.adapters.db.repositories import AuditRepository, SiteRepository, TrialRepository, UserRepository

        session = self.session = self._session_factory()
        self.events = []
        self.trials = TrialRepository(session)
        self.sites = SiteRepository(session)
        self.users = UserRepository(session)
        self.audit = AuditRepository(session)
        self.subjects = repo_subjects.Repository(session)
        self.screenings = repo_screenings.Repository(session)
        self.randomization = repo_randomization.Repository(session)
        self.allocations = repo_allocations.Repository(session)
        self.doses = repo_doses.Repository(session)
        self.ctcae = repo_ctcae.Repository(session)
        self.adverse_events = repo_adverse_events.Repository(session)
        self.tumor_assessments = repo_tumor_assessments.Repository(session)
        self.dispositions = repo_dispositions.Repository(session)
        self.queries = repo_queries.Repository(session)
        self.signatures = repo_signatures.Repository(session)
        self.analysis = repo_analysis.Repository(session)
        self.dashboard = repo_dashboard.Repository(session)
        self.monitoring = repo_monitoring.Repository(session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # close() rolls back whatever was not committed (events included) without expiring loaded objects
        self.events = []
        if self.session is not None:
            self.session.close()
            self.session = None
        if exc is not None:
            self._audit_denial(exc)

    def _audit_denial(self, error: BaseException) -> None:
        """A refused action is rolled back, then recorded in a transaction of its own."""
        from trialdesk.domain.access import Denial

        if not isinstance(error, Denial):
            return
        session = self._session_factory()
        try:
            self._append(
                session,
                [
                    PendingEvent(
                        "access.denied",
                        "permission",
                        error.action.value,
                        after={"action": error.action.value, "site": error.site},
                        reason=error.message,
                        site=error.site,
                        actor=error.principal.username,
                    )
                ],
            )
            session.commit()
        finally:
            session.close()

    def _append(self, session: Session, events: Iterable[PendingEvent]) -> None:
        key = self.ports.audit_keys.hmac_key(create=True)
        assert key is not None, "the audit key store created no key"
        append_events(session, events, default_actor=self.actor, now=_iso(self.clock()), key=key)

    def _session(self) -> Session:
        assert self.session is not None, "unit of work used outside its with-block"
        return self.session

    @property
    def dialect(self) -> str:
        return self._session().get_bind().dialect.name

    def flush(self) -> None:
        self._session().flush()

    def commit(self) -> None:
        session = self._session()
        session.flush()
        if self.events:
            self._append(session, self.events)
            self.events = []
        session.commit()

    def rollback(self) -> None:
        self.events = []
        if self.session is not None:
            self.session.rollback()


def _conforms(uow: SqlUnitOfWork) -> UnitOfWork:
    """Never called: mypy checks here that the SQL unit of work is a :class:`UnitOfWork`."""
    return uow


def append_events(
    session: Session, events: Iterable[PendingEvent], *, default_actor: str, now: str, key: bytes
) -> None:
    """Append events to the chain, each hashed with HMAC-SHA256 under ``key`` (held outside the database).

    The head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite transactions are already exclusive writers), so
    concurrent transactions append one after the other. Timestamps never run backwards: an event is dated
    ``max(now, the last event's occurred_at)``. The first keyed append records the key check and seals the
    unkeyed events before it (a database migrated from the unkeyed chain); a key that does not match the recorded
    key check is refused (:class:`IntegrityError`), so one chain never mixes keys.
    """
    stmt = select(AuditHeadRow).where(t.audit_head.c.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    head = session.execute(stmt).scalar_one_or_none()
    if head is None:
        head = AuditHeadRow(id=1, seq=0, hash=GENESIS_HASH, keyed_from=1)
        session.add(head)
    check = key_check(key)
    if head.key_check is None:
        head.keyed_from = head.seq + 1
        head.key_check = check
        head.seal = chain_seal(key, head.keyed_from, head.hash)
    elif head.key_check != check:
        raise IntegrityError(
            "the audit key on this machine does not match the key the audit trail was keyed with "
            "(check $TRIALDESK_AUDIT_KEY / the audit key directory)"
        )
    if head.last_at is not None and head.last_at > now:
        now = head.last_at
    seq, prev = head.seq, head.hash
    for pending in events:
        seq += 1
        event = AuditEvent(
            seq=seq,
            occurred_at=now,
            actor=pending.actor or default_actor,
            action=pending.action,
            entity_type=pending.entity_type,
            entity_id=pending.entity_id,
            trial=pending.trial,
            site=pending.site,
            before=None if pending.before is None else canonical_json(pending.before),
            after=None if pending.after is None else canonical_json(pending.after),
            reason=pending.reason,
            prev_hash=prev,
        )
        digest = event.compute_hash(key)
        session.add(
            AuditEventRow(
                seq=seq,
                occurred_at=event.occurred_at,
                actor=event.actor,
                action=event.action,
                entity_type=event.entity_type,
                entity_id=event.entity_id,
                trial=event.trial,
                site=event.site,
                before_json=event.before,
                after_json=event.after,
                reason=event.reason,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    head.seq, head.hash, head.last_at = seq, prev, now
    session.flush()


def row_to_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        trial=row.trial,
        site=row.site,
        before=row.before_json,
        after=row.after_json,
        reason=row.reason,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def iter_events(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = (
            session.execute(
                select(AuditEventRow).where(t.audit_events.c.seq > last).order_by(t.audit_events.c.seq).limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        for row in rows:
            yield row_to_event(row)
        last = rows[-1].seq
        session.expunge_all()


def chain_head(session: Session) -> ChainHead:
    head = session.execute(select(AuditHeadRow).where(t.audit_head.c.id == 1)).scalar_one_or_none()
    if head is None:
        return ChainHead()
    return ChainHead(
        seq=head.seq,
        hash=head.hash,
        last_at=head.last_at,
        keyed_from=head.keyed_from,
        key_check=head.key_check,
        seal=head.seal,
    )


def event_at(session: Session, seq: int) -> AuditEvent | None:
    row = session.execute(select(AuditEventRow).where(t.audit_events.c.seq == seq)).scalar_one_or_none()
    return None if row is None else row_to_event(row)
