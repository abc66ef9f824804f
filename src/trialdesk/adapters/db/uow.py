"""SQLAlchemy unit of work and the audit-trail store."""

from __future__ import annotations

import datetime as dt
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from trialdesk.adapters.db.tables import AuditEventRow, AuditHeadRow
from trialdesk.domain.audit import GENESIS_HASH, AuditEvent, canonical_json
from trialdesk.services.unit_of_work import AbstractUnitOfWork, Clock, PendingEvent, utc_now


def _iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


class SqlUnitOfWork(AbstractUnitOfWork):
    """One database transaction. Use as ``with uow: ...; uow.commit()``."""

    def __init__(self, session_factory: sessionmaker, *, actor: str = "system", clock: Clock = utc_now) -> None:
        super().__init__(actor=actor, clock=clock)
        self._session_factory = session_factory
        self.session: Session | None = None

    def __enter__(self) -> "SqlUnitOfWork":
        self.session = self._session_factory()
        self.events = []
        for name in [k for k, v in vars(self).items() if type(v).__name__ == "Repository"]:
            delattr(self, name)
        from trialdesk.adapters.db.repositories import (
            AuditRepository,
            SiteRepository,
            TrialRepository,
            UserRepository,
        )

        self.trials = TrialRepository(self.session)
        self.users = UserRepository(self.session)
        self.sites = SiteRepository(self.session)
        self.audit = AuditRepository(self.session)
        return self

    def __exit__(self, *exc) -> None:
        # close() rolls back whatever was not committed (events included) without expiring loaded objects
        self.events = []
        if self.session is not None:
            self.session.close()
            self.session = None
        if exc and exc[1] is not None:
            self._audit_denial(exc[1])

    def _audit_denial(self, error: BaseException) -> None:
        """A refused action is rolled back, then recorded in a transaction of its own."""
        from trialdesk.domain.access import Denial

        if not isinstance(error, Denial):
            return
        session = self._session_factory()
        try:
            append_events(session, [PendingEvent("access.denied", "permission", error.action.value,
                                                 after={"action": error.action.value, "site": error.site},
                                                 reason=error.message, site=error.site,
                                                 actor=error.principal.username)],
                          default_actor=self.actor, now=_iso(self.clock()))
            session.commit()
        finally:
            session.close()

    def __getattr__(self, name: str):
        """Feature repositories by convention: ``uow.screenings`` is ``adapters/db/repo_screenings.Repository``
        bound to this transaction's session (created on first use)."""
        if name.startswith("_") or self.__dict__.get("session") is None:
            raise AttributeError(name)
        import importlib

        try:
            module = importlib.import_module(f"trialdesk.adapters.db.repo_{name}")
        except ModuleNotFoundError as exc:
            raise AttributeError(f"no repository {name!r} (adapters/db/repo_{name}.py)") from exc
        repo = module.Repository(self.session)
        setattr(self, name, repo)
        return repo

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def commit(self) -> None:
        assert self.session is not None, "unit of work used outside its with-block"
        self.session.flush()
        if self.events:
            append_events(self.session, self.events, default_actor=self.actor, now=_iso(self.clock()))
            self.events = []
        self.session.commit()

    def rollback(self) -> None:
        self.events = []
        if self.session is not None:
            self.session.rollback()


def append_events(session: Session, events, *, default_actor: str, now: str) -> None:
    """Append events to the chain. The head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite transactions are
    already exclusive writers), so concurrent transactions append one after the other."""
    stmt = select(AuditHeadRow).where(AuditHeadRow.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    head = session.execute(stmt).scalar_one_or_none()
    if head is None:
        head = AuditHeadRow(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
    seq, prev = head.seq, head.hash
    for pending in events:
        seq += 1
        event = AuditEvent(
            seq=seq, occurred_at=now, actor=pending.actor or default_actor, action=pending.action,
            entity_type=pending.entity_type, entity_id=pending.entity_id, trial=pending.trial, site=pending.site,
            before=None if pending.before is None else canonical_json(pending.before),
            after=None if pending.after is None else canonical_json(pending.after),
            reason=pending.reason, prev_hash=prev,
        )
        digest = event.compute_hash()
        session.add(AuditEventRow(
            seq=seq, occurred_at=event.occurred_at, actor=event.actor, action=event.action,
            entity_type=event.entity_type, entity_id=event.entity_id, trial=event.trial, site=event.site,
            before_json=event.before, after_json=event.after, reason=event.reason, prev_hash=prev, hash=digest,
        ))
        prev = digest
    head.seq, head.hash = seq, prev
    session.flush()


def row_to_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(seq=row.seq, occurred_at=row.occurred_at, actor=row.actor, action=row.action,
                      entity_type=row.entity_type, entity_id=row.entity_id, trial=row.trial, site=row.site,
                      before=row.before_json, after=row.after_json, reason=row.reason, prev_hash=row.prev_hash,
                      hash=row.hash)


def iter_events(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.execute(
            select(AuditEventRow).where(AuditEventRow.seq > last).order_by(AuditEventRow.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        for row in rows:
            yield row_to_event(row)
        last = rows[-1].seq
        session.expunge_all()


def chain_head(session: Session) -> tuple[int, str]:
    head = session.execute(select(AuditHeadRow).where(AuditHeadRow.id == 1)).scalar_one_or_none()
    return (head.seq, head.hash) if head else (0, GENESIS_HASH)


