"""Accounts, logins, web sessions and API tokens.

Password hashing (argon2id) and token generation are ports (``uow.ports.passwords``, ``uow.ports.tokens``),
injected by bootstrap: this module never touches an adapter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from trialdesk.domain.access import (
    POLICY,
    Action,
    Grant,
    Principal,
    Role,
    SecurityPolicy,
    check_password_strength,
    require,
)
from trialdesk.domain.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, PermissionDenied
from trialdesk.domain.protocol import SUPPORTED_LANGUAGES
from trialdesk.domain.records import User
from trialdesk.services.registry import stored_id
from trialdesk.services.unit_of_work import UnitOfWork

#: A web session ends this long after login however active it is (ASVS 3.3.2); the idle expiry comes first
#: for an idle one. Entrypoints pass ``Settings.session_absolute_hours``.
SESSION_LIFETIME = dt.timedelta(hours=12)

#: Shown when a one-time password is used for anything but changing it.
ONE_TIME_MESSAGE = "change your one-time password first (web: /account/password); nothing else is allowed until then"


def _iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat(timespec="seconds")


def _parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts)


def principal_for(uow: UnitOfWork, user: User, via: str = "session") -> Principal:
    by_role: dict[Role, set[str] | None] = {}
    for grant in uow.users.grants(stored_id(user)):
        role = Role(grant.role)
        if grant.site_key is None:
            by_role[role] = None
        else:
            sites = by_role.setdefault(role, set())
            if sites is not None:
                sites.add(grant.site_key)
    grants = tuple(Grant(role, None if sites is None else frozenset(sites)) for role, sites in by_role.items())
    return Principal(user.username, grants, user_id=user.id, via=via)


def _validate_grants(uow: UnitOfWork, grants: list[tuple[str, list[str] | None]]) -> list[tuple[Role, str | None]]:
    known_sites = {s.site_key for t in uow.trials.list() for s in uow.sites.for_trial(stored_id(t))}
    out: list[tuple[Role, str | None]] = []
    if not grants:
        raise InvalidInput("at least one role is required", field="role")
    for role_name, sites in grants:
        try:
            role = Role(role_name)
        except ValueError:
            raise InvalidInput(
                f"unknown role {role_name!r}; roles: {', '.join(r.value for r in Role)}", field="role"
            ) from None
        if not sites:
            out.append((role, None))
            continue
        for site in sites:
            if site not in known_sites:
                raise InvalidInput(f"unknown site {site!r}", field="site")
            out.append((role, site))
    return out


def _public_user(uow: UnitOfWork, user: User) -> dict[str, Any]:
    p = principal_for(uow, user)
    return {
        "username": user.username,
        "display_name": user.display_name,
        "active": user.active,
        "roles": p.role_summary,
        "locked_until": user.locked_until,
        "must_change_password": user.must_change_password,
    }


#: How many earlier passwords a new one may not repeat (the current one included).
PASSWORD_HISTORY = 5


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (``trialdesk/data/common-passwords.txt``; its source is in the data
    README), lower-cased."""
    text = resources.files("trialdesk").joinpath("data", "common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_password_policy(password: str, username: str) -> None:
    """ASVS 2.1: the length and spacing rules of :func:`check_password_strength`, then: not a common password
    (nor one with only digits or symbols added: ``password1234!``), not a run of three or fewer different
    characters (``aaaaaaaaaaaa``, ``121212121212``), and not containing the username."""
    check_password_strength(password)
    lowered = password.lower()
    core = lowered.strip("0123456789!@#$%^&*()-_=+.,;:?/ ")
    common = common_passwords()
    if lowered in common or core in common or lowered.replace(" ", "") in common:
        raise InvalidInput("is a commonly used password; choose another", field="password")
    if len(set(lowered)) <= 3:
        raise InvalidInput("repeats too few characters; choose another", field="password")
    if username and username.lower() in lowered:
        raise InvalidInput("must not contain the username", field="password")


def _check_not_reused(uow: UnitOfWork, user: User, new: str) -> None:
    """The new password must differ from the current one and the four before it (the last five)."""
    earlier = [user.password_hash, *uow.users.previous_passwords(stored_id(user), PASSWORD_HISTORY - 1)]
    if any(uow.ports.passwords.verify(h, new) for h in earlier):
        raise InvalidInput(f"must differ from your last {PASSWORD_HISTORY} passwords", field="new_password")


def _retire(uow: UnitOfWork, user: User) -> None:
    uow.users.retire_password(stored_id(user), user.password_hash, _iso(uow.now()))


def create_first_admin(uow: UnitOfWork, username: str = "admin") -> tuple[str, str]:
    """On an empty user table, create an admin with a one-time password (printed once, never stored)."""
    if uow.users.count() > 0:
        raise Conflict("users already exist; ask an admin to run 'trialdesk users add'")
    password = uow.ports.tokens.one_time_password()
    user = uow.users.create(
        username=username,
        password_hash=uow.ports.passwords.hash(password),
        must_change_password=True,
        active=True,
        failed_logins=0,
        created_at=_iso(uow.now()),
    )
    uow.users.add_grant(stored_id(user), Role.ADMIN.value, None)
    uow.record("user.created", "user", username, after={"roles": "admin (all sites)"}, reason="first admin")
    return username, password


def add_user(
    uow: UnitOfWork,
    actor: Principal,
    username: str,
    grants: list[tuple[str, list[str] | None]],
    *,
    display_name: str | None = None,
    password: str | None = None,
    demo: bool = False,
) -> str:
    """Create a user; returns the one-time password (or stores the given one, which must pass the policy).

    ``demo`` marks a demo account with a known password: it is hashed with argon2id's cheap profile."""
    require(actor, Action.USER_MANAGE)
    username = username.strip()
    if not username or len(username) > 80 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("use letters, digits, '.', '-' or '_' (1-80 characters)", field="username")
    if uow.users.get(username) is not None:
        raise Conflict(f"user {username!r} already exists")
    checked = _validate_grants(uow, grants)
    one_time = password is None
    if password is None:
        password = uow.ports.tokens.one_time_password()
    else:
        check_password_policy(password, "" if demo else username)  # demo passwords are "<username>-demo-..."
    user = uow.users.create(
        username=username,
        display_name=display_name,
        password_hash=uow.ports.passwords.hash(password, fast=demo),
        must_change_password=one_time,
        active=True,
        failed_logins=0,
        created_at=_iso(uow.now()),
    )
    for role, site in checked:
        uow.users.add_grant(stored_id(user), role.value, site)
    uow.record("user.created", "user", username, after=_public_user(uow, user), actor=actor.username)
    return password


def list_users(uow: UnitOfWork, actor: Principal) -> list[dict[str, Any]]:
    require(actor, Action.USER_MANAGE)
    out = []
    for user in uow.users.list():
        grants = [
            {"role": g.role.value, "sites": None if g.sites is None else sorted(g.sites)}
            for g in principal_for(uow, user).grants
        ]
        out.append({**_public_user(uow, user), "grants": grants})  # each role with its sites, for a page to word
    return out


def _user(uow: UnitOfWork, username: str) -> User:
    user = uow.users.get(username, for_update=True)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def disable_user(uow: UnitOfWork, actor: Principal, username: str, reason: str) -> None:
    require(actor, Action.USER_MANAGE)
    user = _user(uow, username)
    before = _public_user(uow, user)
    user.active = False
    uow.users.end_sessions(stored_id(user), _iso(uow.now()))
    for token in uow.users.tokens(stored_id(user)):
        token.revoked_at = token.revoked_at or _iso(uow.now())
    uow.record(
        "user.disabled",
        "user",
        username,
        before=before,
        after=_public_user(uow, user),
        reason=reason,
        actor=actor.username,
    )


def reset_password(uow: UnitOfWork, actor: Principal, username: str) -> str:
    require(actor, Action.USER_MANAGE)
    user = _user(uow, username)
    password = uow.ports.tokens.one_time_password()
    _retire(uow, user)
    user.password_hash, user.must_change_password = uow.ports.passwords.hash(password), True
    user.failed_logins, user.locked_until = 0, None
    uow.users.end_sessions(stored_id(user), _iso(uow.now()))
    uow.record("user.password_reset", "user", username, reason="password reset by admin", actor=actor.username)
    return password


def change_password(uow: UnitOfWork, username: str, old: str, new: str, *, keep_session: str | None = None) -> None:
    """Change a password and end the user's other web sessions (a stolen cookie dies with the old password).

    ``keep_session`` is the session token of the caller's own browser, which stays logged in."""
    user = _user(uow, username)
    if not uow.ports.passwords.verify(user.password_hash, old):
        raise AuthenticationFailed("the current password is wrong")
    check_password_policy(new, username)
    if old == new:
        raise InvalidInput("the new password must differ from the old one", field="new_password")
    _check_not_reused(uow, user, new)
    _retire(uow, user)
    user.password_hash, user.must_change_password = uow.ports.passwords.hash(new), False
    uow.users.end_sessions(stored_id(user), _iso(uow.now()))
    if keep_session:
        own = uow.users.session_by_hash(uow.ports.tokens.digest(keep_session))
        if own is not None and own.user_id == user.id:
            own.ended_at = None
    uow.record("user.password_changed", "user", username, actor=username)


def count_failure(user: User, now: dt.datetime, policy: SecurityPolicy = POLICY) -> str:
    """One more consecutive password failure (a login or an e-signature: one counter, one lockout); locks the
    account for ``lockout_minutes`` at ``lockout_threshold``. Returns the audit reason."""
    user.failed_logins = (user.failed_logins or 0) + 1
    reason = f"bad password (failure {user.failed_logins})"
    if user.failed_logins >= policy.lockout_threshold:
        user.locked_until = _iso(now + dt.timedelta(minutes=policy.lockout_minutes))
        user.failed_logins = 0
        reason += f"; locked until {user.locked_until}"
    return reason


def is_locked(user: User, now: dt.datetime) -> bool:
    return bool(user.locked_until) and _parse(user.locked_until or "") > now


def refuse_one_time(must_change_password: bool) -> None:
    """A one-time password allows nothing but changing it (the CLI ``--as`` path and bearer tokens)."""
    if must_change_password:
        raise PermissionDenied(ONE_TIME_MESSAGE)


@dataclass(frozen=True)
class LoginResult:
    session_token: str
    csrf_token: str
    principal: Principal
    must_change_password: bool
    #: the user's chosen language of the operations pages (None: not chosen; the browser's or the trial's)
    language: str | None = None


#: The one answer to every refused login (unknown, disabled or locked account, wrong password): the reason goes to
#: the audit trail only, so that a login tells nothing about the account (ASVS 2.2, 3.x).
LOGIN_REFUSED = "wrong username or password"


def login(uow: UnitOfWork, username: str, password: str, *, policy: SecurityPolicy = POLICY) -> LoginResult:
    """Check credentials. A refusal is audited and committed before :class:`AuthenticationFailed` (always
    :data:`LOGIN_REFUSED`) is raised; after ``lockout_threshold`` consecutive failures the account is locked for
    ``lockout_minutes``.

    Every path does the same work: one read of the user, exactly one argon2 verification (a dummy hash for an
    unknown user; the port pads a cheaper demo hash), one audit event, one commit."""
    now = uow.now()
    user = uow.users.get(username, for_update=True)
    matches = uow.ports.passwords.verify(user.password_hash if user is not None else None, password)
    refusal: tuple[str, str] | None = None
    if user is None:
        refusal = ("auth.login_failed", "unknown user")
    elif is_locked(user, now):
        refusal = ("auth.login_refused", f"locked until {user.locked_until}")
    elif not user.active:
        refusal = ("auth.login_refused", "account disabled")
    elif not matches:
        refusal = ("auth.login_failed", count_failure(user, now, policy))
    if refusal is not None or user is None:
        action, reason = refusal if refusal is not None else ("auth.login_failed", "unknown user")
        uow.record(action, "user", username, reason=reason, actor=username)
        uow.commit()
        raise AuthenticationFailed(LOGIN_REFUSED)
    user.failed_logins, user.locked_until = 0, None
    token, csrf = uow.ports.tokens.new_token(), uow.ports.tokens.new_token()
    uow.users.create_session(
        token_hash=uow.ports.tokens.digest(token),
        user_id=stored_id(user),
        csrf_token=csrf,
        created_at=_iso(now),
        last_seen_at=_iso(now),
    )
    uow.record("auth.login", "user", username, actor=username)
    uow.commit()
    return LoginResult(token, csrf, principal_for(uow, user), user.must_change_password, user.language)


def set_language(uow: UnitOfWork, actor: Principal, language: str) -> str:
    """Store the signed-in user's language for the operations pages (one of
    :data:`~trialdesk.domain.protocol.SUPPORTED_LANGUAGES`), audited as ``user.language`` with before and after."""
    if language not in SUPPORTED_LANGUAGES:
        raise InvalidInput(f"language: {language!r} is not one of {', '.join(SUPPORTED_LANGUAGES)}")
    user = _user(uow, actor.username)
    before = user.language
    if before != language:
        user.language = language
        uow.record("user.language", "user", actor.username, before={"language": before}, after={"language": language})
    return language


@dataclass(frozen=True)
class SessionInfo:
    principal: Principal
    csrf_token: str
    must_change_password: bool


def authenticate_session(
    uow: UnitOfWork,
    token: str | None,
    *,
    policy: SecurityPolicy = POLICY,
    touch: bool = True,
    lifetime: dt.timedelta = SESSION_LIFETIME,
) -> SessionInfo:
    """Resolve a session cookie; expired after ``session_idle_minutes`` of inactivity, and ``lifetime`` after
    login whatever the activity."""
    if not token:
        raise AuthenticationFailed("not logged in")
    row = uow.users.session_by_hash(uow.ports.tokens.digest(token))
    now = uow.now()
    if row is None or row.ended_at is not None:
        raise AuthenticationFailed("session ended; please log in")
    if now - _parse(row.last_seen_at) > dt.timedelta(minutes=policy.session_idle_minutes):
        row.ended_at = _iso(now)
        uow.record("auth.session_expired", "session", row.id, actor="system")
        uow.commit()
        raise AuthenticationFailed("session expired after inactivity; please log in")
    if now - _parse(row.created_at) > lifetime:
        row.ended_at = _iso(now)
        uow.record("auth.session_expired", "session", row.id, reason="absolute lifetime", actor="system")
        uow.commit()
        raise AuthenticationFailed("session expired; please log in again")
    user = uow.users.by_id(row.user_id)
    if user is None or not user.active:
        raise AuthenticationFailed("account disabled")
    if touch:
        row.last_seen_at = _iso(now)
        uow.commit()
    return SessionInfo(principal_for(uow, user), row.csrf_token, user.must_change_password)


def logout(uow: UnitOfWork, token: str | None) -> None:
    if not token:
        return
    row = uow.users.session_by_hash(uow.ports.tokens.digest(token))
    if row is not None and row.ended_at is None:
        row.ended_at = _iso(uow.now())
        user = uow.users.by_id(row.user_id)
        uow.record(
            "auth.logout", "user", user.username if user else row.user_id, actor=user.username if user else "unknown"
        )
        uow.commit()


def create_token(uow: UnitOfWork, actor: Principal, username: str, name: str | None = None) -> str:
    """An API token for ``username`` (admins for anyone, users for themselves). Shown once; stored hashed."""
    if actor.username != username:
        require(actor, Action.USER_MANAGE)
    user = _user(uow, username)
    if not user.active:
        raise Conflict(f"user {username!r} is disabled")
    token = uow.ports.tokens.new_token("td_")
    row = uow.users.create_token(
        token_hash=uow.ports.tokens.digest(token),
        prefix=token[:10],
        user_id=stored_id(user),
        name=name,
        created_at=_iso(uow.now()),
    )
    uow.record(
        "token.created",
        "api_token",
        row.id,
        after={"user": username, "prefix": row.prefix, "name": name},
        actor=actor.username,
    )
    return token


def revoke_token(uow: UnitOfWork, actor: Principal, token_id: int) -> None:
    row = uow.users.token_by_id(token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    owner = uow.users.by_id(row.user_id)
    if owner is None or owner.username != actor.username:
        require(actor, Action.USER_MANAGE)
    row.revoked_at = row.revoked_at or _iso(uow.now())
    uow.record("token.revoked", "api_token", token_id, actor=actor.username)


def list_tokens(uow: UnitOfWork, actor: Principal, username: str | None = None) -> list[dict[str, Any]]:
    if username != actor.username:
        require(actor, Action.USER_MANAGE)
    user = uow.users.get(username) if username else None
    rows = uow.users.tokens(stored_id(user) if user else None)
    names = {u.id: u.username for u in uow.users.list()}
    return [
        {
            "id": r.id,
            "user": names.get(r.user_id),
            "prefix": r.prefix,
            "name": r.name,
            "created_at": r.created_at,
            "last_used_at": r.last_used_at,
            "revoked_at": r.revoked_at,
        }
        for r in rows
    ]


def authenticate_token(uow: UnitOfWork, token: str) -> Principal:
    row = uow.users.token_by_hash(uow.ports.tokens.digest(token)) if token else None
    if row is None or row.revoked_at is not None:
        raise AuthenticationFailed("invalid or revoked API token")
    user = uow.users.by_id(row.user_id)
    if user is None or not user.active:
        raise AuthenticationFailed("invalid or revoked API token")
    refuse_one_time(user.must_change_password)
    return principal_for(uow, user, via="token")
