"""An in-memory unit of work, for service tests of pure use-case logic (no database, no adapters).

:class:`FakeUnitOfWork` implements :class:`trialdesk.services.unit_of_work.UnitOfWork` with the
dictionary-backed repositories of ``tests/fake_repositories.py`` over one :class:`FakeDatabase` (shared by the
units of work of a test, so what one commits the next reads). It follows the SQL unit of work's contract where services can tell the difference:

- ``commit()`` keeps the changes and appends the recorded events to ``db.events`` (``committed`` turns true);
  leaving the ``with`` block without committing restores the records as they were at ``__enter__``;
- a refused action (:class:`~trialdesk.domain.access.Denial`) leaving the block is kept in ``db.denials``;
- ``add``/``create`` assign ids like an autoincrement column and fill column defaults (the records' own);
- allocations follow the one rule of :mod:`trialdesk.services.repositories` (in-error ones skipped by default).

Repositories that pure use-case tests have not needed yet (analysis, dashboard, CTCAE terms, slots) raise
``NotImplementedError``; their signatures are still the protocols', which mypy checks (see :func:`_conforms`).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from fake_repositories import (
    FakeAdverseEvents,
    FakeAllocations,
    FakeAnalysis,
    FakeAudit,
    FakeCtcae,
    FakeDashboard,
    FakeDatabase,
    FakeDispositions,
    FakeDoses,
    FakeMonitoring,
    FakeQueries,
    FakeRandomization,
    FakeScreenings,
    FakeSignatures,
    FakeSites,
    FakeSubjects,
    FakeTrials,
    FakeTumorAssessments,
    FakeUsers,
    Table,
)
from trialdesk.domain.access import Denial
from trialdesk.services import repositories as repos
from trialdesk.services.ports import Ports, SeedStore
from trialdesk.services.unit_of_work import AbstractUnitOfWork, Clock, PendingEvent, UnitOfWork

__all__ = ["FIXED_NOW", "FakeDatabase", "FakeUnitOfWork", "Table", "fake_ports"]

FIXED_NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


# -- ports --------------------------------------------------------------------------------------------------------
class FakePasswords:
    """Reversible "hashes", so tests can read what was set; ``verify(None, ...)`` is False like the real one."""

    def hash(self, password: str, *, fast: bool = False) -> str:
        return f"plain:{password}"

    def verify(self, password_hash: str | None, password: str) -> bool:
        return password_hash is not None and password_hash == f"plain:{password}"


class FakeTokens:
    def __init__(self) -> None:
        self._n = itertools.count(1)

    def new_token(self, prefix: str = "") -> str:
        return f"{prefix}token{next(self._n):04d}"

    def digest(self, token: str) -> str:
        return f"digest:{token}"

    def one_time_password(self) -> str:
        return f"otp{next(self._n):04d}"


class FakeSeedStore:
    def __init__(self) -> None:
        self.seeds: dict[str, bytes] = {}

    def save(self, nct_id: str, seed: bytes) -> Path:
        self.seeds[nct_id] = seed
        return Path(f"/memory/{nct_id}.seed")

    def load(self, nct_id: str, check: str) -> bytes:
        return self.seeds[nct_id]

    def remember(self, seed: bytes) -> None:
        pass


class FakeSeeds:
    def __init__(self) -> None:
        self._store = FakeSeedStore()

    def store(self) -> SeedStore:
        return self._store

    def check(self, seed: bytes) -> str:
        return seed.hex()[:16]

    def new_seed(self) -> bytes:
        return bytes(range(32))


class FakeResults:
    def build_results_section(self, analysis: dict[str, Any], protocol: Any) -> dict[str, Any]:
        return {"fake": True}

    def check_results_section(self, section: dict[str, Any]) -> None:
        pass

    def render_report_html(self, analysis: Any, *, title: str) -> str:
        return f"<h1>{title}</h1>"


class FakeStudies:
    def protocol_to_study(self, protocol: Any, *, results_section: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"protocolSection": {}, **({"resultsSection": results_section} if results_section else {})}


class FakeCtcaeSource:
    def shipped(self) -> Any:
        from trialdesk.adapters.ctcae_json import shipped_ctcae

        return shipped_ctcae()

    def configured(self) -> Path | None:
        return None

    def sha256(self, path: str | Path) -> str:
        raise NotImplementedError("CTCAE workbooks: use the database tests")

    def read_set(self, path: str | Path) -> Any:
        raise NotImplementedError("CTCAE workbooks: use the database tests")


class FakeAuditKeys:
    """A fixed HMAC key and a stand-in signer (HMAC under a fixed "private" key; the public key names it)."""

    KEY = bytes(range(32))

    def hmac_key(self, *, create: bool = False) -> bytes | None:
        return self.KEY

    def key_check(self, key: bytes) -> str:
        from trialdesk.domain.audit import key_check

        return key_check(key)

    def public_key(self, *, create: bool = False) -> str | None:
        return "fake-public-key"

    def sign(self, payload: bytes) -> str:
        import hashlib
        import hmac

        return hmac.new(b"fake-signing-key", payload, hashlib.sha256).hexdigest()

    def verify_signature(self, public_key: str, payload: bytes, signature: str) -> bool:
        return public_key == "fake-public-key" and signature == self.sign(payload)


def fake_ports() -> Ports:
    return Ports(
        passwords=FakePasswords(),
        tokens=FakeTokens(),
        seeds=FakeSeeds(),
        results=FakeResults(),
        studies=FakeStudies(),
        ctcae=FakeCtcaeSource(),
        audit_keys=FakeAuditKeys(),
    )


# -- the unit of work ---------------------------------------------------------------------------------------------
class FakeUnitOfWork(AbstractUnitOfWork):
    """A :class:`~trialdesk.services.unit_of_work.UnitOfWork` over a :class:`FakeDatabase` (see the module doc)."""

    def __init__(
        self,
        db: FakeDatabase | None = None,
        *,
        actor: str = "system",
        clock: Clock = lambda: FIXED_NOW,
        ports: Ports | None = None,
    ) -> None:
        super().__init__(ports=ports or fake_ports(), actor=actor, clock=clock)
        self.db = db if db is not None else FakeDatabase()
        self.committed = False
        self._snapshot: dict[str, dict[int, Any]] | None = None
        self.trials: repos.TrialRepository = FakeTrials(self.db)
        self.sites: repos.SiteRepository = FakeSites(self.db)
        self.users: repos.UserRepository = FakeUsers(self.db)
        self.audit: repos.AuditRepository = FakeAudit(self.db)
        self.subjects: repos.SubjectRepository = FakeSubjects(self.db)
        self.screenings: repos.ScreeningRepository = FakeScreenings(self.db)
        self.randomization: repos.RandomizationRepository = FakeRandomization(self.db)
        self.allocations: repos.AllocationRepository = FakeAllocations(self.db)
        self.doses: repos.DoseRepository = FakeDoses(self.db)
        self.ctcae: repos.CtcaeRepository = FakeCtcae()
        self.adverse_events: repos.AdverseEventRepository = FakeAdverseEvents(self.db)
        self.tumor_assessments: repos.TumorAssessmentRepository = FakeTumorAssessments(self.db)
        self.dispositions: repos.DispositionRepository = FakeDispositions(self.db)
        self.queries: repos.QueryRepository = FakeQueries(self.db)
        self.signatures: repos.SignatureRepository = FakeSignatures(self.db)
        self.analysis: repos.AnalysisRepository = FakeAnalysis(self.db)
        self.dashboard: repos.DashboardRepository = FakeDashboard(self.db)
        self.monitoring: repos.MonitoringRepository = FakeMonitoring(self.db)

    @property
    def dialect(self) -> str:
        return "memory"

    def __enter__(self) -> FakeUnitOfWork:
        self.events = []
        self.committed = False
        self._snapshot = self._save()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()
        self._snapshot = None
        if isinstance(exc, Denial):
            self.db.denials.append(exc)

    def _tables(self) -> dict[str, Table[Any]]:
        return {name: value for name, value in vars(self.db).items() if isinstance(value, Table)}

    def _save(self) -> dict[str, dict[int, Any]]:
        return {name: copy.deepcopy(table.rows) for name, table in self._tables().items()}

    def flush(self) -> None:
        pass

    def commit(self) -> None:
        self.db.events.extend(self.events)
        self.events = []
        self.committed = True
        self._snapshot = self._save()

    def rollback(self) -> None:
        """Back to the last commit (or to ``__enter__``): records, and the events not committed. Ids handed out
        are not reused (like a database sequence)."""
        self.events = []
        if self._snapshot is not None:
            for name, table in self._tables().items():
                table.rows = copy.deepcopy(self._snapshot[name])

    @property
    def committed_events(self) -> Sequence[PendingEvent]:
        return tuple(self.db.events)


def _conforms() -> UnitOfWork:
    """Checked by mypy (``tests/test_services_fake_uow.py`` runs it): the fake is a :class:`UnitOfWork`."""
    return FakeUnitOfWork()
