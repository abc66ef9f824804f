"""Configuration: the one home of every setting (``TRIALDESK_*`` environment variables).

Nothing outside this module reads the environment. Entrypoints call :func:`get_settings` and hand the result on;
adapters take a ``settings`` argument and, when none is given, call :func:`get_settings` at call time. That keeps
tests that ``monkeypatch.setenv("TRIALDESK_...")`` working without cache juggling: :func:`get_settings` is cached
per distinct ``TRIALDESK_*`` environment, so it is cheap (building a ``Settings`` costs ~2 ms) yet never stale.
Tests may also build a ``Settings(...)`` of their own.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIALDESK_", extra="ignore", env_ignore_empty=True)

    #: SQLAlchemy URL; empty means the embedded SQLite file in ``data_dir``.
    database_url: str | None = None
    #: Where the SQLite file, seeds and other local state live; empty means the user data directory.
    data_dir: Path | None = None
    #: Randomization seed as hex (overrides the seed files), and the directory of seed files.
    randomization_secret: str | None = Field(default=None, repr=False)
    randomization_dir: Path | None = None
    #: The audit trail's HMAC key as hex (overrides the key files), and the directory of audit key files (the HMAC
    #: key and the Ed25519 checkpoint-signing key); empty means ``<data dir>/audit``. Kept outside the database, like
    #: the randomization seed, and included (sealed) in backups.
    audit_key: str | None = Field(default=None, repr=False)
    audit_dir: Path | None = None
    #: The passphrase that seals and opens backup archives (``trialdesk backup`` / ``restore``), when neither
    #: ``--passphrase-file`` nor the prompt gives it.
    backup_passphrase: str | None = Field(default=None, repr=False)
    #: ``fast``: a cheap argon2id profile for the demo's known passwords and the test suite only (any other
    #: value means the default profile, as it always has).
    argon2_profile: str = "default"
    #: NCI's CTCAE v5.0 workbook, to load instead of the dictionary shipped with the package.
    ctcae_xlsx: Path | None = None
    #: NLM's ``ctg-oas-v2.yaml`` to validate against instead of the copy shipped with the package.
    ctgov_oas: Path | None = None
    #: CLI credentials (a Bearer token, or a password for ``--as`` users).
    token: str | None = Field(default=None, repr=False)
    password: str | None = Field(default=None, repr=False)
    #: The trial the web pages show when the URL names none (``?trial=`` or a path's ``nct_id`` does): configuration,
    #: so this is the one place the id appears in code.
    default_trial: str = "NCT07003074"
    #: A web session ends this many hours after login however active it is (the idle expiry still applies).
    session_absolute_hours: float = Field(default=12.0, gt=0)

    def data_directory(self) -> Path:
        """``data_dir``, else the user data directory (platformdirs: ``~/.local/share/trialdesk`` on Linux): the one
        home of local state (the SQLite file, the seed and audit-key directories)."""
        if self.data_dir:
            return Path(self.data_dir)
        import platformdirs

        return Path(platformdirs.user_data_dir("trialdesk", appauthor=False))

    #: Login anti-automation (ASVS 2.2.1): at most this many login attempts per minute from one client address and
    #: for one username; more are answered 429 with ``Retry-After``. A successful login is not counted. The counts
    #: live in the web process's memory: several workers each allow this many.
    login_attempts_per_address: int = Field(default=30, ge=1)
    login_attempts_per_username: int = Field(default=10, ge=1)
    #: Largest request body accepted (bytes), checked before authentication: a larger one is answered 413.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: ``registry import`` bounds: the largest file read, the largest study within it (its JSON, in bytes) and the
    #: longest list in a study (arm groups, locations, outcomes, ...); a larger one is refused, naming it.
    registry_max_file_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    registry_max_study_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    registry_max_list_items: int = Field(default=5000, ge=1)


ENV_PREFIX = "TRIALDESK_"

#: The demo's one default size and seed: ``trialdesk demo``, ``serve --demo`` and ``run_demo`` all read them here
#: (a constant, not a setting: a demo database is reproducible from its command line alone).
DEMO_SUBJECTS = 100
DEMO_SEED = 7


@lru_cache(maxsize=8)
def _settings_for(environment: tuple[tuple[str, str], ...]) -> Settings:
    return Settings()


def get_settings() -> Settings:
    """The settings of the environment as it is now (one ``Settings`` per distinct ``TRIALDESK_*`` environment)."""
    return _settings_for(tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX))))


def _cache_clear() -> None:
    _settings_for.cache_clear()


#: Kept for callers that clear the cache explicitly (no longer needed: a changed environment is seen anyway).
get_settings.cache_clear = _cache_clear  # type: ignore[attr-defined]
