"""Where the audit trail's keys live: never in the database.

Two keys, both in one directory (``$TRIALDESK_AUDIT_DIR``, else ``<data dir>/audit``, else the user data
directory's ``audit``), created on first need, mode 0600 in a 0700 directory:

- ``audit-hmac.key``: the HMAC-SHA256 key of the hash chain (32 random bytes, written as 64 hex digits and a
  newline). ``$TRIALDESK_AUDIT_KEY`` (hex, at least 16 bytes) overrides the file. The database stores only
  ``HMAC(key, "trialdesk/audit-key-check/v1")``, enough to recognise the key and useless to recover it.
- ``checkpoint-ed25519.pem``: the Ed25519 private key (PKCS#8 PEM, unencrypted) that signs checkpoints.

Both come through :class:`~trialdesk.settings.Settings`: the one given to the store, else the environment's read at
call time. Backups archive every file of the directory (and ``$TRIALDESK_AUDIT_KEY``).
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from trialdesk.adapters.hex_secret import parse_hex_secret
from trialdesk.domain.audit import key_check
from trialdesk.domain.errors import InvalidInput
from trialdesk.settings import Settings, get_settings

ENV_KEY = "TRIALDESK_AUDIT_KEY"
ENV_DIR = "TRIALDESK_AUDIT_DIR"
HMAC_KEY_FILE = "audit-hmac.key"
SIGNING_KEY_FILE = "checkpoint-ed25519.pem"
KEY_BYTES = 32
MIN_KEY_BYTES = 16

__all__ = ["ENV_DIR", "ENV_KEY", "HMAC_KEY_FILE", "SIGNING_KEY_FILE", "AuditKeyStore", "parse_key"]


def parse_key(text: str, *, field: str = ENV_KEY) -> bytes:
    """An HMAC key written as hex (whitespace ignored), at least ``MIN_KEY_BYTES`` (16)."""
    return parse_hex_secret(text, min_bytes=MIN_KEY_BYTES, field=field)


def default_directory(settings: Settings) -> Path:
    return Path(settings.audit_dir) if settings.audit_dir else settings.data_directory() / "audit"


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (0600) unless it exists; atomic (a reader never sees a half-written file).
    Returns False when another writer got there first."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


class AuditKeyStore:
    """Reads (and on first need creates) the audit keys; caches them per process and per source."""

    def __init__(self, directory: Path | str | None = None, *, settings: Settings | None = None) -> None:
        self._directory = Path(directory) if directory is not None else None
        self._settings = settings
        self._cache: dict[str, bytes] = {}
        self._signers: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def directory(self) -> Path:
        return self._directory or default_directory(self.settings)

    # -- the HMAC key -------------------------------------------------------------------------------------------
    def hmac_key(self, *, create: bool = False) -> bytes | None:
        """The chain's key: ``$TRIALDESK_AUDIT_KEY``, else the key file (created when ``create``); None if none."""
        env = self.settings.audit_key
        if env:
            return parse_key(env)
        path = self.directory() / HMAC_KEY_FILE
        with self._lock:
            cached = self._cache.get(str(path))
        if cached is not None and path.is_file():
            return cached
        if not path.is_file():
            if not create:
                return None
            _write_new(path, (secrets.token_bytes(KEY_BYTES).hex() + "\n").encode("ascii"))
        key = parse_key(path.read_text(encoding="ascii"), field=str(path))
        with self._lock:
            self._cache[str(path)] = key
        return key

    def key_check(self, key: bytes) -> str:
        return key_check(key)

    # -- the Ed25519 checkpoint key ------------------------------------------------------------------------------
    def _signer(self, *, create: bool) -> Ed25519PrivateKey | None:
        path = self.directory() / SIGNING_KEY_FILE
        with self._lock:
            cached = self._signers.get(str(path))
        if cached is not None and path.is_file():
            return cached
        if not path.is_file():
            if not create:
                return None
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _write_new(path, pem)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise InvalidInput("is not an Ed25519 private key", field=str(path))
        with self._lock:
            self._signers[str(path)] = loaded
        return loaded

    def public_key(self, *, create: bool = False) -> str | None:
        """The checkpoint-signing public key (raw 32 bytes, base64); None when there is no signing key."""
        signer = self._signer(create=create)
        if signer is None:
            return None
        raw = signer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")

    def sign(self, payload: bytes) -> str:
        """An Ed25519 signature of ``payload`` (base64); creates the signing key on first use."""
        signer = self._signer(create=True)
        assert signer is not None
        return base64.b64encode(signer.sign(payload)).decode("ascii")

    def verify_signature(self, public_key: str, payload: bytes, signature: str) -> bool:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
            key.verify(base64.b64decode(signature, validate=True), payload)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True
