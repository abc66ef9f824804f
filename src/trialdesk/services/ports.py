"""Ports: what services need from the outside world, as protocols.

Services never import an adapter. ``bootstrap`` builds a :class:`Ports` from real adapters and hands it to every
unit of work it creates (``uow.ports``); the fake unit of work used by fast service tests carries fakes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from trialdesk.domain.ctcae import CtcaeSet

Clock = Callable[[], dt.datetime]


class PasswordHasher(Protocol):
    """argon2id in production (``adapters/secrets``)."""

    def hash(self, password: str, *, fast: bool = False) -> str: ...

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True only for a stored hash that matches; ``None`` still costs one verification (timing)."""
        ...


class TokenFactory(Protocol):
    def new_token(self, prefix: str = "") -> str: ...

    def digest(self, token: str) -> str: ...

    def one_time_password(self) -> str: ...


class SeedStore(Protocol):
    """Where randomization seeds live: outside the database."""

    def save(self, nct_id: str, seed: bytes) -> Path: ...

    def load(self, nct_id: str, check: str) -> bytes: ...

    def remember(self, seed: bytes) -> None: ...


class SeedTools(Protocol):
    """Seed store factory plus the seed fingerprint (``seed_check``) and fresh seeds."""

    def store(self) -> SeedStore: ...

    def check(self, seed: bytes) -> str: ...

    def new_seed(self) -> bytes: ...


class ResultsPublisher(Protocol):
    """Builds and checks a ClinicalTrials.gov ``resultsSection`` and renders the HTML report."""

    def build_results_section(self, analysis: dict[str, Any], protocol: Any) -> dict[str, Any]: ...

    def check_results_section(self, section: dict[str, Any]) -> None: ...

    def render_report_html(self, analysis: Any, *, title: str) -> str: ...


class StudyDocuments(Protocol):
    """ClinicalTrials.gov study documents: protocol -> study JSON (validated against NLM's shipped schema)."""

    def protocol_to_study(self, protocol: Any, *, results_section: dict[str, Any] | None = None) -> dict[str, Any]: ...


class CtcaeSource(Protocol):
    """NCI's CTCAE terms: the dictionary shipped with the package, or a workbook (``ctcae_xlsx``, or a path an
    administrator names)."""

    def shipped(self) -> CtcaeSet:
        """The dictionary shipped with the package (derived from NCI's workbook)."""
        ...

    def configured(self) -> Path | None:
        """``ctcae_xlsx`` ($TRIALDESK_CTCAE_XLSX), to load instead of the shipped dictionary; None when unset."""
        ...

    def sha256(self, path: str | Path) -> str:
        """The file's SHA-256 (to tell whether a configured workbook is the one loaded, without reading it)."""
        ...

    def read_set(self, path: str | Path) -> CtcaeSet:
        """A workbook's terms with its version and SHA-256; ``InvalidInput`` for a file that is not one."""
        ...


class AuditKeys(Protocol):
    """The audit trail's keys, held outside the database: the chain's HMAC key and the Ed25519 checkpoint key."""

    def hmac_key(self, *, create: bool = False) -> bytes | None:
        """The chain's HMAC key (created on first need when ``create``); None when this machine has none."""
        ...

    def key_check(self, key: bytes) -> str: ...

    def public_key(self, *, create: bool = False) -> str | None:
        """The checkpoint-signing public key (base64); None when there is none and ``create`` is false."""
        ...

    def sign(self, payload: bytes) -> str: ...

    def verify_signature(self, public_key: str, payload: bytes, signature: str) -> bool: ...


@dataclass(frozen=True)
class Ports:
    """Everything a service may reach outside the database, injected by ``bootstrap``."""

    passwords: PasswordHasher
    tokens: TokenFactory
    seeds: SeedTools
    results: ResultsPublisher
    studies: StudyDocuments
    ctcae: CtcaeSource
    audit_keys: AuditKeys
