"""The repositories a unit of work offers, as protocols: what services may ask of storage, typed with records.

Each protocol lists the methods services and entrypoints call, nothing more; the SQL implementations live in
``adapters/db`` (``repositories.py`` and ``repo_*.py``), the in-memory ones in ``tests/fakes.py``. Records are the
plain classes of :mod:`trialdesk.domain.records`; ``**fields`` of ``create``/``add`` are their attribute names.

**Allocations have one home**, :class:`AllocationRepository` (``uow.allocations``), with one rule: an allocation
marked *in error* stays on record (its randomization number, slot and place in the list are used for good) but no
longer assigns the subject a treatment. So by default every read answers "the allocation that counts" and skips
in-error ones; a caller that needs the record whatever its state (randomization's own uniqueness and idempotency
checks, list bookkeeping, the balance report, the dashboard's and analysis' counts) says so with
``include_in_error=True``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any, Protocol, TypedDict, Unpack

from trialdesk.domain.audit import AuditEvent, ChainHead
from trialdesk.domain.ctcae import CtcaeTerm
from trialdesk.domain.datasets import CapturedData
from trialdesk.domain.records import (
    AdverseEvent,
    Allocation,
    AnalysisRun,
    ApiToken,
    AuditEventRecord,
    CtcaeTermRecord,
    Disposition,
    Dose,
    ProtocolDeviation,
    Query,
    RandomizationList,
    RandomizationSlot,
    RandomizationStratum,
    ResultPosting,
    ResultsApproval,
    RoleGrant,
    Screening,
    SdvMark,
    Signature,
    Site,
    Subject,
    Trial,
    TrialDecision,
    TumorAssessmentRecord,
    User,
    WebSession,
)

#: Site keys a reader may see; ``None``: every site.
Sites = AbstractSet[str] | None

__all__ = [
    "AdverseEventRepository",
    "AllocationRepository",
    "AnalysisRepository",
    "AuditQuery",
    "AuditRepository",
    "CtcaeRepository",
    "DashboardRepository",
    "DispositionRepository",
    "DoseRepository",
    "MonitoringRepository",
    "QueryRepository",
    "RandomizationRepository",
    "ScreeningRepository",
    "SignatureRepository",
    "SiteRepository",
    "Sites",
    "SubjectRepository",
    "TrialRepository",
    "TumorAssessmentRepository",
    "UserRepository",
]


class TrialRepository(Protocol):
    def get(self, nct_id: str, *, for_update: bool = False) -> Trial | None: ...

    def list(self) -> builtins.list[Trial]: ...

    def create(self, **fields: Any) -> Trial: ...

    def count(self) -> int: ...


class SiteRepository(Protocol):
    def for_trial(self, trial_id: int) -> list[Site]:
        """The trial's sites in registry order."""
        ...

    def get(self, trial_id: int, site_key: str, *, for_update: bool = False) -> Site | None: ...

    def create(self, **fields: Any) -> Site: ...


class UserRepository(Protocol):
    def get(self, username: str, *, for_update: bool = False) -> User | None: ...

    def by_id(self, user_id: int) -> User | None: ...

    def list(self) -> builtins.list[User]: ...

    def count(self) -> int: ...

    def create(self, **fields: Any) -> User: ...

    def grants(self, user_id: int) -> builtins.list[RoleGrant]: ...

    def add_grant(self, user_id: int, role: str, site_key: str | None) -> RoleGrant: ...

    def create_session(self, **fields: Any) -> WebSession: ...

    def session_by_hash(self, token_hash: str) -> WebSession | None: ...

    def end_sessions(self, user_id: int, when: str) -> None: ...

    def retire_password(self, user_id: int, password_hash: str, when: str) -> Any: ...

    def previous_passwords(self, user_id: int, limit: int) -> builtins.list[str]: ...

    def create_token(self, **fields: Any) -> ApiToken: ...

    def token_by_hash(self, token_hash: str) -> ApiToken | None: ...

    def token_by_id(self, token_id: int) -> ApiToken | None: ...

    def tokens(self, user_id: int | None = None) -> builtins.list[ApiToken]: ...


class AuditQuery(TypedDict, total=False):
    """Filters of :meth:`AuditRepository.query`, all optional: a filter left out (or empty) does not narrow.
    ``sites`` keeps events at those sites (``None``: every site); ``limit`` (default 200) and ``offset`` (default
    0) page through the newest-first list. Declared once for the protocol and its implementations."""

    entity_type: str | None
    entity_id: str | None
    trial: str | None
    sites: Sites
    action_prefix: str | None
    #: events about this subject: the subject's own events and those whose before/after name its subject number
    subject: str | None
    actor: str | None
    #: ``occurred_at >= occurred_from`` and ``occurred_at < occurred_before`` (ISO text, e.g. ``2026-11-30``)
    occurred_from: str | None
    occurred_before: str | None
    #: with ``trial``: also keep events that name no trial (accounts, logins)
    include_trialless: bool
    limit: int
    offset: int


class AuditRepository(Protocol):
    def events(self) -> Iterator[AuditEvent]:
        """The whole chain, oldest first (streamed)."""
        ...

    def head(self) -> ChainHead:
        """What the store records about the chain: latest event, last timestamp, key check (empty chain: defaults)."""
        ...

    def event(self, seq: int) -> AuditEvent | None:
        """The stored event ``seq``, or None."""
        ...

    def query(self, **filters: Unpack[AuditQuery]) -> list[AuditEventRecord]:
        """Newest first; see :class:`AuditQuery` for the filters and their defaults."""
        ...

    def count(self) -> int: ...


class SubjectRepository(Protocol):
    def get(self, trial_id: int, subject_number: str, *, for_update: bool = False) -> Subject | None: ...

    def by_id(self, subject_id: int) -> Subject | None: ...

    def by_patient(self, trial_id: int, site_key: str, patient_ref: str) -> Subject | None: ...

    def list(self, trial_id: int, sites: Sites = None, status: str | None = None) -> builtins.list[Subject]: ...

    def count_at_site(self, trial_id: int, site_key: str) -> int: ...

    def create(self, **fields: Any) -> Subject: ...


class ScreeningRepository(Protocol):
    def add(self, **fields: Any) -> Screening: ...

    def count_at_site(self, trial_id: int, site_key: str) -> int: ...

    def number_taken(self, trial_id: int, site_key: str, screening_number: str) -> bool: ...

    def get(self, trial_id: int, site_key: str, screening_number: str) -> Screening | None: ...

    def latest(self, subject_id: int) -> Screening | None: ...

    def for_subject(self, subject_id: int) -> list[Screening]: ...

    def log(self, trial_id: int, sites: Sites = None) -> list[tuple[Screening, Subject]]:
        """Screenings with their subject, oldest first."""
        ...

    def latest_per_subject(self, trial_id: int) -> list[Screening]: ...

    def count(self, trial_id: int) -> int: ...

    def subject_for_patient(
        self, trial_id: int, site_key: str, patient_ref: str, *, for_update: bool = False
    ) -> Subject | None: ...


class AllocationRepository(Protocol):
    """The one home of allocations (see the module docstring for the in-error rule)."""

    def for_subject(self, subject_id: int, *, include_in_error: bool = False) -> Allocation | None:
        """The subject's allocation (a fresh read: randomization decides on it under lock)."""
        ...

    def for_subjects(self, subject_ids: Iterable[int], *, include_in_error: bool = False) -> dict[int, Allocation]:
        """``subject_id -> allocation`` for the subjects that have one."""
        ...

    def by_client_key(self, trial_id: int, client_key: str) -> Allocation | None:
        """The allocation a retried request already made, in error or not (idempotency)."""
        ...

    def for_trial(self, trial_id: int, sites: Sites = None, *, include_in_error: bool = False) -> list[Allocation]:
        """In allocation order."""
        ...

    def with_subject_numbers(self, trial_id: int, *, include_in_error: bool = False) -> list[tuple[Allocation, str]]:
        """``(allocation, subject_number)`` in allocation order."""
        ...

    def randomization_dates(self, trial_id: int, *, include_in_error: bool = False) -> list[tuple[str, str]]:
        """``(site_key, randomized_on)`` of every allocation, by date."""
        ...

    def count(self, trial_id: int, *, include_in_error: bool = False) -> int: ...

    def add(self, **fields: Any) -> Allocation: ...


class RandomizationRepository(Protocol):
    """Lists, strata cursors and sealed slots (allocations are :class:`AllocationRepository`'s)."""

    def current_list(self, trial_id: int, *, for_update: bool = False) -> RandomizationList | None: ...

    def live_list(self, trial_id: int) -> RandomizationList | None: ...

    def lock_list(self, list_id: int) -> RandomizationList: ...

    def create_list(self, **fields: Any) -> RandomizationList: ...

    def strata(self, list_id: int) -> list[RandomizationStratum]: ...

    def stratum(self, list_id: int, stratum: str) -> RandomizationStratum | None: ...

    def lock_stratum(self, list_id: int, stratum: str) -> RandomizationStratum | None: ...

    def create_stratum(self, **fields: Any) -> RandomizationStratum: ...

    def add_slots(self, rows: list[dict[str, Any]]) -> None: ...

    def slot_at(self, list_id: int, stratum: str, seq: int) -> RandomizationSlot | None: ...

    def slot(self, slot_id: int) -> RandomizationSlot | None: ...

    def slots(self, list_id: int) -> list[RandomizationSlot]: ...

    def count_slots(self, list_id: int) -> int: ...

    def latest_screening(self, subject_id: int) -> Screening | None: ...

    def add_screening(self, **fields: Any) -> Screening: ...


class DoseRepository(Protocol):
    def create(self, **fields: Any) -> Dose: ...

    def get(self, dose_id: int, *, for_update: bool = False) -> Dose | None: ...

    def for_subject(self, subject_id: int) -> list[Dose]:
        """In the order given (cycle, date, entry)."""
        ...

    def for_subjects(self, subject_ids: Iterable[int]) -> dict[int, list[Dose]]: ...

    def assessments(self, subject_ids: Iterable[int]) -> dict[int, list[tuple[str, bool, str | None]]]:
        """``subject_id -> [(assessment_date, baseline, overall_response), ...]`` by date."""
        ...


class CtcaeRepository(Protocol):
    def store_id(self) -> str:
        """Which database the terms come from (caches of the dictionary are kept per database)."""
        ...

    def count(self, version: str) -> int: ...

    def fingerprint(self, version: str) -> tuple[Any, ...]: ...

    def all(self, version: str) -> list[CtcaeTermRecord]: ...

    def terms(self, version: str) -> list[CtcaeTerm]: ...

    def upsert(self, version: str, terms: list[CtcaeTerm]) -> dict[str, int]: ...

    def remove(self, version: str, codes: list[int]) -> int: ...

    def recorded(self) -> list[tuple[int, str, int]]:
        """Distinct (MedDRA code, term, grade) of the recorded adverse events."""
        ...


class AdverseEventRepository(Protocol):
    def add(self, **fields: Any) -> AdverseEvent: ...

    def get(self, ae_id: int, *, for_update: bool = False) -> AdverseEvent | None: ...

    def for_subject(self, subject_id: int) -> list[AdverseEvent]: ...

    def serious_at_sites(self, trial_id: int, sites: Sites) -> list[tuple[AdverseEvent, Subject]]: ...

    def first_consent_date(self, subject_id: int) -> str | None: ...


class TumorAssessmentRepository(Protocol):
    def add(self, **fields: Any) -> TumorAssessmentRecord: ...

    def get(self, assessment_id: int) -> TumorAssessmentRecord | None: ...

    def for_subject(self, subject_id: int) -> list[TumorAssessmentRecord]:
        """Baseline first, then by date."""
        ...


class DispositionRepository(Protocol):
    def create(self, **fields: Any) -> Disposition: ...

    def for_subject(self, subject_id: int) -> list[Disposition]: ...

    def for_subjects(self, subject_ids: Iterable[int]) -> dict[int, list[Disposition]]: ...


class QueryRepository(Protocol):
    def add(self, **fields: Any) -> Query: ...

    def get(self, query_id: int, *, for_update: bool = False) -> Query | None: ...

    def find_unresolved(
        self, subject_id: int, entity_type: str, entity_id: str, field: str, check_id: str | None
    ) -> Query | None: ...

    def list(
        self, trial_id: int, *, sites: Sites = None, subject_id: int | None = None, status: str | None = None
    ) -> builtins.list[tuple[Query, Subject]]: ...

    def nct_of(self, trial_id: int) -> str: ...


class MonitoringRepository(Protocol):
    """SDV marks and protocol deviations (migration 0009_monitoring)."""

    def add_mark(self, **fields: Any) -> SdvMark: ...

    def active_mark(
        self, subject_id: int, entity_type: str, entity_id: str, *, for_update: bool = False
    ) -> SdvMark | None: ...

    def active_marks(self, trial_id: int, *, subject_id: int | None = None) -> builtins.list[SdvMark]:
        """The marks not cleared, of the trial's subjects (or of one subject)."""
        ...

    def add_deviation(self, **fields: Any) -> ProtocolDeviation: ...

    def get_deviation(self, deviation_id: int, *, for_update: bool = False) -> ProtocolDeviation | None: ...

    def deviations(
        self, trial_id: int, *, sites: Sites = None, subject_id: int | None = None, status: str | None = None
    ) -> builtins.list[tuple[ProtocolDeviation, Subject]]:
        """With their subject, in id order."""
        ...


class SignatureRepository(Protocol):
    def add(self, **fields: Any) -> Signature: ...

    def for_subject(self, subject_id: int) -> list[Signature]: ...

    def active(self, subject_id: int) -> Signature | None: ...

    def invalidate_active(self, subject_id: int, when: str, reason: str) -> list[Signature]: ...

    def casebook_content(self, subject_id: int) -> dict[str, Any]: ...


class AnalysisRepository(Protocol):
    def captured_data(self, trial_id: int) -> CapturedData: ...

    def add_run(self, **fields: Any) -> AnalysisRun: ...

    def get_run(self, trial_id: int, run_id: int, *, for_update: bool = False) -> AnalysisRun | None: ...

    def latest_run(self, trial_id: int) -> AnalysisRun | None: ...

    def list_runs(self, trial_id: int) -> list[AnalysisRun]: ...

    # results posting (migration 0008_result_postings)
    def add_approval(self, **fields: Any) -> ResultsApproval: ...

    def approval_for_run(self, trial_id: int, run_id: int) -> ResultsApproval | None: ...

    def approvals(self, trial_id: int) -> list[ResultsApproval]: ...

    def add_posting(self, **fields: Any) -> ResultPosting: ...

    def postings(self, trial_id: int) -> list[ResultPosting]:
        """Every posting of the trial, version 1 first."""
        ...

    def add_decision(self, **fields: Any) -> TrialDecision: ...

    def decisions(self, trial_id: int) -> list[TrialDecision]: ...


class DashboardRepository(Protocol):
    def screenings(self, trial_id: int) -> list[tuple[str, str, int, str]]:
        """``(site, screened_on, subject_id, verdict)`` of every screening."""
        ...

    def open_queries(self, trial_id: int) -> dict[str, int]: ...
