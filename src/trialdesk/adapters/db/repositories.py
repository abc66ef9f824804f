"""Repositories: the only place services' reads and writes meet SQL."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any, Unpack

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import (
    ApiTokenRow,
    AuditEventRow,
    PasswordHistoryRow,
    RoleGrantRow,
    SiteRow,
    TrialRow,
    UserRow,
    WebSessionRow,
)
from trialdesk.adapters.db.uow import chain_head, event_at, iter_events
from trialdesk.domain.audit import AuditEvent, ChainHead, canonical_json
from trialdesk.services.repositories import AuditQuery


class TrialRepository(SqlRepository):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        # nct_id -> row, for this transaction: a service asks for its trial two or three times per call, and a
        # repeated SELECT would only hand back the same object from the session's identity map.
        self._by_nct: dict[str, TrialRow] = {}

    def get(self, nct_id: str, *, for_update: bool = False) -> TrialRow | None:
        cached = self._by_nct.get(nct_id)
        if cached is not None and not for_update and cached in self.session:
            return cached
        row = self._one(select(TrialRow).where(t.trials.c.nct_id == nct_id), for_update=for_update)
        if row is not None:
            self._by_nct[nct_id] = row
        return row

    def list(self) -> builtins.list[TrialRow]:
        return list(self.session.execute(select(TrialRow).order_by(t.trials.c.nct_id)).scalars())

    def create(self, **fields: Any) -> TrialRow:
        return self._insert(TrialRow(**fields))

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(TrialRow)).scalar_one()


class SiteRepository(SqlRepository):
    def for_trial(self, trial_id: int) -> list[SiteRow]:
        return list(
            self.session.execute(
                select(SiteRow).where(t.sites.c.trial_id == trial_id).order_by(t.sites.c.position)
            ).scalars()
        )

    def get(self, trial_id: int, site_key: str, *, for_update: bool = False) -> SiteRow | None:
        return self._one(
            select(SiteRow).where(t.sites.c.trial_id == trial_id, t.sites.c.site_key == site_key), for_update=for_update
        )

    def create(self, **fields: Any) -> SiteRow:
        return self._insert(SiteRow(**fields))


class AuditRepository(SqlRepository):
    def events(self) -> Iterator[AuditEvent]:
        return iter_events(self.session)

    def head(self) -> ChainHead:
        return chain_head(self.session)

    def event(self, seq: int) -> AuditEvent | None:
        return event_at(self.session, seq)

    def query(self, **filters: Unpack[AuditQuery]) -> list[AuditEventRow]:
        c = t.audit_events.c
        stmt = select(AuditEventRow)
        if entity_type := filters.get("entity_type"):
            stmt = stmt.where(c.entity_type == entity_type)
        if entity_id := filters.get("entity_id"):
            stmt = stmt.where(c.entity_id == entity_id)
        if trial := filters.get("trial"):
            stmt = stmt.where(
                or_(c.trial == trial, c.trial.is_(None)) if filters.get("include_trialless") else c.trial == trial
            )
        if (sites := filters.get("sites")) is not None:
            stmt = stmt.where(c.site.in_(sorted(sites)))
        if action_prefix := filters.get("action_prefix"):
            stmt = stmt.where(c.action.startswith(action_prefix, autoescape=True))
        if subject := filters.get("subject"):
            literal = canonical_json(subject).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            named = f'%"subject_number":{literal}%'
            stmt = stmt.where(
                or_(
                    and_(c.entity_type == "subject", c.entity_id == subject),
                    c.after_json.like(named, escape="\\"),
                    c.before_json.like(named, escape="\\"),
                )
            )
        if actor := filters.get("actor"):
            stmt = stmt.where(c.actor == actor)
        if occurred_from := filters.get("occurred_from"):
            stmt = stmt.where(c.occurred_at >= occurred_from)
        if occurred_before := filters.get("occurred_before"):
            stmt = stmt.where(c.occurred_at < occurred_before)
        stmt = stmt.order_by(c.seq.desc()).limit(filters.get("limit", 200)).offset(filters.get("offset", 0))
        return list(self.session.execute(stmt).scalars())

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(AuditEventRow)).scalar_one()


class UserRepository(SqlRepository):
    def get(self, username: str, *, for_update: bool = False) -> UserRow | None:
        return self._one(select(UserRow).where(t.users.c.username == username), for_update=for_update)

    def by_id(self, user_id: int) -> UserRow | None:
        return self.session.get(UserRow, user_id)

    def list(self) -> builtins.list[UserRow]:
        return list(self.session.execute(select(UserRow).order_by(t.users.c.username)).scalars())

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(UserRow)).scalar_one()

    def create(self, **fields: Any) -> UserRow:
        return self._insert(UserRow(**fields))

    def grants(self, user_id: int) -> builtins.list[RoleGrantRow]:
        return list(
            self.session.execute(
                select(RoleGrantRow).where(t.role_grants.c.user_id == user_id).order_by(t.role_grants.c.id)
            ).scalars()
        )

    def add_grant(self, user_id: int, role: str, site_key: str | None) -> RoleGrantRow:
        return self._insert(RoleGrantRow(user_id=user_id, role=role, site_key=site_key))

    # sessions -------------------------------------------------------------------------------------------
    def create_session(self, **fields: Any) -> WebSessionRow:
        return self._insert(WebSessionRow(**fields))

    def session_by_hash(self, token_hash: str) -> WebSessionRow | None:
        return self._one(select(WebSessionRow).where(t.web_sessions.c.token_hash == token_hash))

    def end_sessions(self, user_id: int, when: str) -> None:
        for row in self.session.execute(
            select(WebSessionRow).where(t.web_sessions.c.user_id == user_id, t.web_sessions.c.ended_at.is_(None))
        ).scalars():
            row.ended_at = when

    # password history -----------------------------------------------------------------------------------
    def retire_password(self, user_id: int, password_hash: str, when: str) -> PasswordHistoryRow:
        return self._insert(PasswordHistoryRow(user_id=user_id, password_hash=password_hash, retired_at=when))

    def previous_passwords(self, user_id: int, limit: int) -> builtins.list[str]:
        """The user's last ``limit`` retired password hashes, newest first."""
        query = (
            select(t.password_history.c.password_hash)
            .where(t.password_history.c.user_id == user_id)
            .order_by(t.password_history.c.id.desc())
            .limit(limit)
        )
        return list(self.session.execute(query).scalars())

    # tokens ---------------------------------------------------------------------------------------------
    def create_token(self, **fields: Any) -> ApiTokenRow:
        return self._insert(ApiTokenRow(**fields))

    def token_by_hash(self, token_hash: str) -> ApiTokenRow | None:
        return self._one(select(ApiTokenRow).where(t.api_tokens.c.token_hash == token_hash))

    def token_by_id(self, token_id: int) -> ApiTokenRow | None:
        return self.session.get(ApiTokenRow, token_id)

    def tokens(self, user_id: int | None = None) -> builtins.list[ApiTokenRow]:
        stmt = select(ApiTokenRow).order_by(t.api_tokens.c.id)
        if user_id is not None:
            stmt = stmt.where(t.api_tokens.c.user_id == user_id)
        return list(self.session.execute(stmt).scalars())
