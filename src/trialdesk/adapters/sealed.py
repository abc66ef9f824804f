"""Sealed files: a passphrase, scrypt and AES-256-GCM in chunks, so that any damage is detected.

Layout (format 1)::

    b"TDSEALED"  u32 header length  header (JSON, UTF-8)  chunk 0  chunk 1 ...  chunk n

The header names the key derivation (``scrypt`` with ``n``, ``r``, ``p`` and a random 16-byte ``salt``), an
8-byte random ``nonce_prefix``, the plaintext ``chunk`` size and a ``check``. scrypt turns the passphrase into 64
bytes: the first 32 are the AES-256-GCM key, the last 32 give ``check = HMAC-SHA256(last 32, "trialdesk/sealed/
check/v1")``, which tells a wrong passphrase apart from a damaged file (it helps a guesser no more than the first
chunk's tag would). Each chunk is ``chunk`` bytes of plaintext (the last one fewer, possibly none) encrypted with
nonce ``nonce_prefix || u32 index`` and associated data ``magic || header || u32 index || u8 last``: a flipped
byte anywhere, chunks reordered, dropped or a file cut short (even at a chunk boundary) fail authentication.

Nothing here writes plaintext anywhere but the destination the caller names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from trialdesk.domain.errors import IntegrityError, InvalidInput

MAGIC = b"TDSEALED"
FORMAT = 1
CHUNK = 1 << 20
TAG = 16
#: scrypt cost: 2**17 x 8 x 128 bytes = 128 MiB of memory, about half a second.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 17, 8, 1
#: What a header may ask for when unsealing (a crafted header must not make us allocate gigabytes).
MAX_SCRYPT_N, MAX_HEADER = 1 << 20, 4096
MIN_PASSPHRASE = 12
_CHECK_LABEL = b"trialdesk/sealed/check/v1"

__all__ = ["MIN_PASSPHRASE", "seal", "unseal", "is_sealed"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, str]:
    material = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    check = hmac.new(material[32:], _CHECK_LABEL, hashlib.sha256).hexdigest()
    return material[:32], check


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return MAGIC + header + struct.pack(">IB", index, 1 if last else 0)


def seal(source: IO[bytes], destination: IO[bytes], passphrase: str, *, chunk: int = CHUNK) -> None:
    """Encrypt the stream ``source`` into ``destination`` under ``passphrase``."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"must be at least {MIN_PASSPHRASE} characters", field="passphrase")
    salt, prefix = secrets.token_bytes(16), secrets.token_bytes(8)
    key, check = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    meta = {
        "format": FORMAT,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
        "cipher": "AES-256-GCM",
        "nonce_prefix": _b64(prefix),
        "chunk": chunk,
        "check": check,
    }
    header = json.dumps(meta, sort_keys=True).encode("utf-8")
    destination.write(MAGIC + struct.pack(">I", len(header)) + header)
    aead = AESGCM(key)
    index = 0
    current = source.read(chunk)
    while True:
        following = source.read(chunk)
        last = not following
        nonce = prefix + struct.pack(">I", index)
        destination.write(aead.encrypt(nonce, current, _aad(header, index, last)))
        if last:
            return
        current, index = following, index + 1


def is_sealed(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _read_header(source: IO[bytes]) -> tuple[bytes, dict[str, Any]]:
    damaged = "the archive is damaged or not a trialdesk backup"
    if source.read(len(MAGIC)) != MAGIC:
        raise IntegrityError(f"{damaged} (no trialdesk seal at its start)")
    raw_length = source.read(4)
    if len(raw_length) != 4:
        raise IntegrityError(f"{damaged} (cut short in its header)")
    (length,) = struct.unpack(">I", raw_length)
    if length > MAX_HEADER:
        raise IntegrityError(f"{damaged} (header of {length} bytes)")
    header = source.read(length)
    try:
        meta = json.loads(header)
        kdf = meta["kdf"]
        ok = (
            meta["format"] == FORMAT
            and kdf["name"] == "scrypt"
            and all(isinstance(kdf[k], int) for k in ("n", "r", "p"))
            and 2 <= kdf["n"] <= MAX_SCRYPT_N
            and 1 <= kdf["r"] <= 32
            and 1 <= kdf["p"] <= 16
            and isinstance(meta["chunk"], int)
            and 1 <= meta["chunk"] <= 1 << 26
        )
        base64.b64decode(kdf["salt"], validate=True)
        base64.b64decode(meta["nonce_prefix"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"{damaged} (unreadable header)") from None
    if not ok:
        raise IntegrityError(f"{damaged} (unsupported seal format or parameters)")
    return header, meta


def unseal(source: IO[bytes], destination: IO[bytes], passphrase: str) -> None:
    """Decrypt ``source`` into ``destination``; :class:`InvalidInput` for a wrong passphrase, :class:`IntegrityError`
    for any damage. Callers must discard ``destination`` on error: it may hold a verified prefix."""
    header, meta = _read_header(source)
    kdf = meta["kdf"]
    key, check = _derive(passphrase, base64.b64decode(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
    if not hmac.compare_digest(check, str(meta.get("check", ""))):
        raise InvalidInput("wrong passphrase for this archive", field="passphrase")
    aead, prefix, size = AESGCM(key), base64.b64decode(meta["nonce_prefix"]), meta["chunk"] + TAG
    index = 0
    current = source.read(size)
    while True:
        following = source.read(size)
        last = not following
        try:
            plain = aead.decrypt(prefix + struct.pack(">I", index), current, _aad(header, index, last))
        except InvalidTag:
            raise IntegrityError(
                f"the archive is damaged: chunk {index} fails authentication (altered, reordered or cut short)"
            ) from None
        destination.write(plain)
        if last:
            return
        current, index = following, index + 1


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` exclusively with mode 0600 and write ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
