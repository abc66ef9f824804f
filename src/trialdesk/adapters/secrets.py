"""Password hashing (argon2id) and random tokens."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from trialdesk.settings import Settings, get_settings

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4)
# A cheap argon2id profile for the demo's known passwords and for the test suite ($TRIALDESK_ARGON2_PROFILE=fast).
# Hashes record their parameters, so verification works whichever profile made them.
_fast_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
_DUMMY = _hasher.hash("timing-equaliser-not-a-password")


def hash_password(password: str, *, fast: bool = False, settings: Settings | None = None) -> str:
    """argon2id; the cheap profile when asked (``fast``) or configured (``argon2_profile``, read at call time)."""
    if fast or (settings or get_settings()).argon2_profile == "fast":
        return _fast_hasher.hash(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time: an unknown user still costs one argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens are random (256 bits), so a plain SHA-256 is a sufficient one-way store."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def one_time_password() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))
