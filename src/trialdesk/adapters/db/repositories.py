"""Repositories: the only place services' reads and writes meet SQL."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trialdesk.adapters.db.tables import (
    ApiTokenRow,
    AuditEventRow,
    RoleGrantRow,
    SiteRow,
    TrialRow,
    UserRow,
    WebSessionRow,
)
from trialdesk.adapters.db.uow import chain_head, iter_events
from trialdesk.domain.audit import AuditEvent


class TrialRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        # nct_id -> row, for this transaction: a service asks for its trial two or three times per call, and a
        # repeated SELECT would only hand back the same object from the session's identity map.
        self._by_nct: dict[str, TrialRow] = {}

    def get(self, nct_id: str, *, for_update: bool = False) -> TrialRow | None:
        cached = self._by_nct.get(nct_id)
        if cached is not None and not for_update and cached in self.session:
            return cached
        stmt = select(TrialRow).where(TrialRow.nct_id == nct_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.session.execute(stmt).scalar_one_or_none()
        if row is not None:
            self._by_nct[nct_id] = row
        return row

    def list(self) -> list[TrialRow]:
        return list(self.session.execute(select(TrialRow).order_by(TrialRow.nct_id)).scalars())

    def create(self, **fields) -> TrialRow:
        row = TrialRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(TrialRow)).scalar_one()


class SiteRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def for_trial(self, trial_id: int) -> list[SiteRow]:
        return list(self.session.execute(
            select(SiteRow).where(SiteRow.trial_id == trial_id).order_by(SiteRow.position)).scalars())

    def get(self, trial_id: int, site_key: str, *, for_update: bool = False) -> SiteRow | None:
        stmt = select(SiteRow).where(SiteRow.trial_id == trial_id, SiteRow.site_key == site_key)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def create(self, **fields) -> SiteRow:
        row = SiteRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def events(self) -> Iterator[AuditEvent]:
        return iter_events(self.session)

    def head(self) -> tuple[int, str]:
        return chain_head(self.session)

    def query(self, *, entity_type: str | None = None, entity_id: str | None = None, trial: str | None = None,
              sites: set[str] | None = None, action_prefix: str | None = None, limit: int = 200,
              offset: int = 0) -> list[AuditEventRow]:
        stmt = select(AuditEventRow)
        if entity_type:
            stmt = stmt.where(AuditEventRow.entity_type == entity_type)
        if entity_id:
            stmt = stmt.where(AuditEventRow.entity_id == entity_id)
        if trial:
            stmt = stmt.where(AuditEventRow.trial == trial)
        if sites is not None:
            stmt = stmt.where(AuditEventRow.site.in_(sorted(sites)))
        if action_prefix:
            stmt = stmt.where(AuditEventRow.action.startswith(action_prefix))
        stmt = stmt.order_by(AuditEventRow.seq.desc()).limit(limit).offset(offset)
        return list(self.session.execute(stmt).scalars())

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(AuditEventRow)).scalar_one()


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, username: str, *, for_update: bool = False) -> UserRow | None:
        stmt = select(UserRow).where(UserRow.username == username)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def by_id(self, user_id: int) -> UserRow | None:
        return self.session.get(UserRow, user_id)

    def list(self) -> list[UserRow]:
        return list(self.session.execute(select(UserRow).order_by(UserRow.username)).scalars())

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(UserRow)).scalar_one()

    def create(self, **fields) -> UserRow:
        row = UserRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def grants(self, user_id: int) -> list[RoleGrantRow]:
        return list(self.session.execute(
            select(RoleGrantRow).where(RoleGrantRow.user_id == user_id).order_by(RoleGrantRow.id)).scalars())

    def add_grant(self, user_id: int, role: str, site_key: str | None) -> RoleGrantRow:
        row = RoleGrantRow(user_id=user_id, role=role, site_key=site_key)
        self.session.add(row)
        self.session.flush()
        return row

    # sessions -------------------------------------------------------------------------------------------
    def create_session(self, **fields) -> WebSessionRow:
        row = WebSessionRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def session_by_hash(self, token_hash: str) -> WebSessionRow | None:
        return self.session.execute(
            select(WebSessionRow).where(WebSessionRow.token_hash == token_hash)).scalar_one_or_none()

    def end_sessions(self, user_id: int, when: str) -> None:
        for row in self.session.execute(select(WebSessionRow).where(
                WebSessionRow.user_id == user_id, WebSessionRow.ended_at.is_(None))).scalars():
            row.ended_at = when

    # tokens ---------------------------------------------------------------------------------------------
    def create_token(self, **fields) -> ApiTokenRow:
        row = ApiTokenRow(**fields)
        self.session.add(row)
        self.session.flush()
        return row

    def token_by_hash(self, token_hash: str) -> ApiTokenRow | None:
        return self.session.execute(
            select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash)).scalar_one_or_none()

    def token_by_id(self, token_id: int) -> ApiTokenRow | None:
        return self.session.get(ApiTokenRow, token_id)

    def tokens(self, user_id: int | None = None) -> list[ApiTokenRow]:
        stmt = select(ApiTokenRow).order_by(ApiTokenRow.id)
        if user_id is not None:
            stmt = stmt.where(ApiTokenRow.user_id == user_id)
        return list(self.session.execute(stmt).scalars())
