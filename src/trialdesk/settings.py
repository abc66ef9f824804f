"""Configuration: the one home of every setting (``TRIALDESK_*`` environment variables).

Read once by the entrypoints (``get_settings()``) and handed to ``bootstrap``; nothing else reads the
environment. Tests build a ``Settings(...)`` of their own or set the variables and call ``get_settings.cache_clear()``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIALDESK_", extra="ignore")

    #: SQLAlchemy URL; empty means the embedded SQLite file in ``data_dir``.
    database_url: str | None = None
    #: Where the SQLite file, seeds and other local state live; empty means the user data directory.
    data_dir: Path | None = None
    #: Randomization seed as hex (overrides the seed files), and the directory of seed files.
    randomization_secret: str | None = Field(default=None, repr=False)
    randomization_dir: Path | None = None
    #: ``fast``: a cheap argon2id profile for the demo's known passwords and the test suite only.
    argon2_profile: Literal["default", "fast"] = "default"
    #: NCI's CTCAE v5.0 workbook, to load instead of the dictionary shipped with the package.
    ctcae_xlsx: Path | None = None
    #: NLM's ``ctg-oas-v2.yaml`` to validate against instead of the copy shipped with the package.
    ctgov_oas: Path | None = None
    #: CLI credentials (a Bearer token, or a password for ``--as`` users).
    token: str | None = Field(default=None, repr=False)
    password: str | None = Field(default=None, repr=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
