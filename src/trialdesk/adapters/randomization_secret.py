"""Where the randomization seed lives: never in the database.

The seed (32 random bytes) is the secret from which the allocation list is derived and with which its arms are
sealed. The database keeps only ``seed_check = HMAC-SHA256(seed, "trialdesk/seed-check/v1")`` (hex), enough to
recognise the right seed and useless to recover it.

Lookup order (:meth:`SeedStore.load`):

1. ``$TRIALDESK_RANDOMIZATION_SECRET``: the seed as hex (64 hex digits), used when its check matches;
2. a file ``<directory>/<nct_id>-<seed_check[:16]>.seed`` (hex, mode 0600) written by ``randomization generate``.
   The directory is ``$TRIALDESK_RANDOMIZATION_DIR``, else ``<data dir>/randomization`` (``$TRIALDESK_DATA_DIR``
   or the user data directory).

Both variables come through :class:`~trialdesk.settings.Settings`: the one given to the store, else the
environment's settings read at call time (so a store made before the environment changed still follows it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from trialdesk.adapters.hex_secret import parse_hex_secret
from trialdesk.domain.errors import Conflict, IntegrityError, NotFound
from trialdesk.domain.randomization import MIN_SEED_BYTES
from trialdesk.settings import Settings, get_settings

ENV_SECRET = "TRIALDESK_RANDOMIZATION_SECRET"
ENV_DIR = "TRIALDESK_RANDOMIZATION_DIR"
SEED_BYTES = 32

__all__ = [
    "ENV_SECRET",
    "ENV_DIR",
    "SeedStore",
    "new_seed",
    "seed_check",
    "parse_seed",
    "default_store",
    "seed_directory",
]


def new_seed() -> bytes:
    """32 bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(SEED_BYTES)


def seed_check(seed: bytes) -> str:
    """``HMAC-SHA256(seed, "trialdesk/seed-check/v1")`` as hex: what the database stores."""
    return hmac.new(bytes(seed), b"trialdesk/seed-check/v1", hashlib.sha256).hexdigest()


def parse_seed(text: str, *, field: str = "seed") -> bytes:
    """A seed written as hex (whitespace ignored), at least ``MIN_SEED_BYTES``."""
    return parse_hex_secret(text, min_bytes=MIN_SEED_BYTES, field=field)


def _default_directory(settings: Settings) -> Path:
    return (
        Path(settings.randomization_dir) if settings.randomization_dir else settings.data_directory() / "randomization"
    )


def seed_directory(settings: Settings | None = None) -> Path:
    """The directory of seed files for ``settings`` (default: the environment's)."""
    return _default_directory(settings or get_settings())


class SeedStore:
    """Reads and writes seeds outside the database; caches recognised seeds in memory (per process)."""

    def __init__(self, directory: Path | str | None = None, *, settings: Settings | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._settings = settings
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def path_for(self, nct_id: str, check: str) -> Path:
        directory = self.directory or _default_directory(self.settings)
        return directory / f"{nct_id}-{check[:16]}.seed"

    def save(self, nct_id: str, seed: bytes) -> Path:
        """Write the seed to its 0600 file (created exclusively; an identical existing file is kept)."""
        check = seed_check(seed)
        path = self.path_for(nct_id, check)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if self._read(path) == seed:
                return path
            raise Conflict(f"a different seed is already stored at {path}") from None
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(seed.hex() + "\n")
        os.chmod(path, 0o600)
        with self._lock:
            self._cache[check] = bytes(seed)
        return path

    @staticmethod
    def _read(path: Path) -> bytes:
        return parse_seed(path.read_text(encoding="ascii"), field=str(path))

    def load(self, nct_id: str, check: str) -> bytes:
        """The seed whose check is ``check``; :class:`NotFound` when no source holds it."""
        with self._lock:
            cached = self._cache.get(check)
        if cached is not None:
            return cached
        env = self.settings.randomization_secret
        candidates: list[bytes] = []
        if env:
            candidates.append(parse_seed(env, field=ENV_SECRET))
        path = self.path_for(nct_id, check)
        if path.is_file():
            candidates.append(self._read(path))
        for seed in candidates:
            if hmac.compare_digest(seed_check(seed), check):
                with self._lock:
                    self._cache[check] = seed
                return seed
        if candidates:
            raise IntegrityError(f"the randomization seed found for {nct_id} does not match the list's seed check")
        raise NotFound(
            f"the randomization seed of {nct_id} is not available on this machine: set ${ENV_SECRET} or provide {path}"
        )

    def remember(self, seed: bytes) -> None:
        """Make a seed known to this process (e.g. one passed on the command line) without writing it."""
        with self._lock:
            self._cache[seed_check(seed)] = bytes(seed)


_default: SeedStore | None = None


def default_store() -> SeedStore:
    global _default
    if _default is None:
        _default = SeedStore()
    return _default
