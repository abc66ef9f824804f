"""Password hashing (argon2id) and random tokens."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from trialdesk.settings import Settings, get_settings

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4)
# A cheap argon2id profile for the demo's known passwords and for the test suite ($TRIALDESK_ARGON2_PROFILE=fast).
# Hashes record their parameters, so verification works whichever profile made them.
_fast_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
_DUMMY_PASSWORD = "timing-equaliser-not-a-password"


def _hasher_for(settings: Settings | None) -> PasswordHasher:
    return _fast_hasher if (settings or get_settings()).argon2_profile == "fast" else _hasher


@lru_cache(maxsize=2)
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(_DUMMY_PASSWORD)


def _cheaper(password_hash: str, hasher: PasswordHasher) -> bool:
    """Whether ``password_hash`` was made with a cheaper profile than ``hasher``'s (a demo account's)."""
    try:
        made = extract_parameters(password_hash)
    except InvalidHashError:
        return True
    return made.time_cost * made.memory_cost < hasher.time_cost * hasher.memory_cost


def hash_password(password: str, *, fast: bool = False, settings: Settings | None = None) -> str:
    """argon2id; the cheap profile when asked (``fast``) or configured (``argon2_profile``, read at call time)."""
    if fast or (settings or get_settings()).argon2_profile == "fast":
        return _fast_hasher.hash(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str, *, settings: Settings | None = None) -> bool:
    """Every call costs (at least) one argon2 verification at the configured profile, whatever the hash: an unknown
    user's (None) is checked against a dummy hash, and a hash made with a cheaper profile (a demo account's) is
    followed by a dummy verification, so that a login's time tells nothing about the account."""
    hasher = _hasher_for(settings)
    try:
        ok = hasher.verify(password_hash or _dummy_hash(hasher), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if password_hash is not None and _cheaper(password_hash, hasher):
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            hasher.verify(_dummy_hash(hasher), password)
    return ok


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens are random (256 bits), so a plain SHA-256 is a sufficient one-way store."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def one_time_password() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))
