"""The real ports: thin classes over the adapter functions, assembled by :func:`real_ports`.

Services see only the protocols of :mod:`trialdesk.services.ports`; ``bootstrap`` builds one :class:`Ports` per
app with :func:`real_ports` and every unit of work carries it (``uow.ports``). Heavy adapters (matplotlib for the
report, openpyxl for CTCAE) are imported when first used, so building the ports costs nothing.

``settings=None`` means "the environment's settings at call time" (:func:`trialdesk.settings.get_settings`), so
an app built before a test sets ``TRIALDESK_*`` variables still follows them, as it always has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trialdesk.adapters import audit_keys, randomization_secret, secrets
from trialdesk.domain.ctcae import CtcaeSet
from trialdesk.services.ports import Ports
from trialdesk.settings import Settings, get_settings

__all__ = [
    "Argon2Passwords",
    "CtcaeWorkbooks",
    "CtgovResults",
    "CtgovStudies",
    "RandomTokens",
    "SeedFiles",
    "real_ports",
]


class Argon2Passwords:
    """argon2id (:mod:`trialdesk.adapters.secrets`); the cheap profile when ``argon2_profile`` is ``fast``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def hash(self, password: str, *, fast: bool = False) -> str:
        return secrets.hash_password(password, fast=fast, settings=self._settings)

    def verify(self, password_hash: str | None, password: str) -> bool:
        return secrets.verify_password(password_hash, password, settings=self._settings)


class RandomTokens:
    """Session and API tokens (256 random bits, stored as SHA-256) and one-time passwords."""

    def new_token(self, prefix: str = "") -> str:
        return secrets.new_token(prefix)

    def digest(self, token: str) -> str:
        return secrets.token_digest(token)

    def one_time_password(self) -> str:
        return secrets.one_time_password()


class SeedFiles:
    """The randomization seed store: the one place a seed is loaded from (environment or 0600 file).

    With no settings it hands out the process-wide store (:func:`randomization_secret.default_store`), whose cache
    of recognised seeds is shared by the web app, the CLI and the services; with settings, one store of its own.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._store = (
            randomization_secret.default_store()
            if settings is None
            else randomization_secret.SeedStore(settings=settings)
        )

    def store(self) -> randomization_secret.SeedStore:
        return self._store

    def check(self, seed: bytes) -> str:
        return randomization_secret.seed_check(seed)

    def new_seed(self) -> bytes:
        return randomization_secret.new_seed()


class CtgovResults:
    """The ClinicalTrials.gov ``resultsSection`` (validated against NLM's schema) and the HTML report."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def build_results_section(self, analysis: dict[str, Any], protocol: Any) -> dict[str, Any]:
        from trialdesk.adapters.ctgov_results import build_results_section

        return build_results_section(analysis, protocol)

    def check_results_section(self, section: dict[str, Any]) -> None:
        from trialdesk.adapters.ctgov_results import check_results_section

        check_results_section(section, settings=self._settings)

    def render_report_html(self, analysis: Any, *, title: str) -> str:
        from trialdesk.adapters.report import render_html

        return render_html(analysis, title=title)


class CtgovStudies:
    """Protocol -> CT.gov API v2 study JSON."""

    def protocol_to_study(self, protocol: Any, *, results_section: dict[str, Any] | None = None) -> dict[str, Any]:
        from trialdesk.adapters.ctgov import protocol_to_study

        return protocol_to_study(protocol, results_section=results_section)


class CtcaeWorkbooks:
    """NCI's CTCAE: the dictionary shipped with the package (``adapters/ctcae_json.py``) and workbooks
    (``ctcae_xlsx``, or a path given to ``ctcae load``)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def shipped(self) -> CtcaeSet:
        from trialdesk.adapters.ctcae_json import shipped_ctcae

        return shipped_ctcae()

    def configured(self) -> Path | None:
        configured = (self._settings or get_settings()).ctcae_xlsx
        return Path(configured) if configured else None

    def sha256(self, path: str | Path) -> str:
        import hashlib

        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def read_set(self, path: str | Path) -> CtcaeSet:
        from trialdesk.adapters.ctcae_json import workbook_set

        return workbook_set(path)


_default: Ports | None = None


def real_ports(settings: Settings | None = None) -> Ports:
    """The production ports. Without settings: one shared instance that reads the environment at call time."""
    global _default
    if settings is None and _default is not None:
        return _default
    ports = Ports(
        passwords=Argon2Passwords(settings),
        tokens=RandomTokens(),
        seeds=SeedFiles(settings),
        results=CtgovResults(settings),
        studies=CtgovStudies(),
        ctcae=CtcaeWorkbooks(settings),
        audit_keys=audit_keys.AuditKeyStore(settings=settings),
    )
    if settings is None:
        _default = ports
    return ports
