"""Dictionary-backed repositories for :class:`fakes.FakeUnitOfWork`: one :class:`Table` per record type in a
:class:`FakeDatabase`, and one class per repository protocol of :mod:`trialdesk.services.repositories`, answering
as the SQL adapters do (same orders, same filters, the same in-error rule for allocations).
"""

from __future__ import annotations

import builtins
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, Unpack

from trialdesk.domain.access import Denial
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
from trialdesk.services.repositories import AuditQuery, Sites
from trialdesk.services.unit_of_work import PendingEvent

R = TypeVar("R")


# -- storage ------------------------------------------------------------------------------------------------------
class Table(Generic[R]):
    """Records of one kind by id; ``insert`` numbers them like an autoincrement column."""

    def __init__(self, record: type[R]) -> None:
        self.record = record
        self.rows: dict[int, R] = {}
        self._ids = itertools.count(1)

    def insert(self, **fields: Any) -> R:
        row = self.record(**fields)
        if getattr(row, "id", None) is None:
            row.id = next(self._ids)  # type: ignore[attr-defined]
        self.rows[row.id] = row  # type: ignore[attr-defined]
        return row

    def all(self) -> builtins.list[R]:
        return [self.rows[k] for k in sorted(self.rows)]

    def where(self, test: Callable[[R], bool]) -> builtins.list[R]:
        return [r for r in self.all() if test(r)]


@dataclass
class FakeDatabase:
    """Everything the fake units of work of one test share."""

    trials: Table[Trial] = field(default_factory=lambda: Table(Trial))
    sites: Table[Site] = field(default_factory=lambda: Table(Site))
    users: Table[User] = field(default_factory=lambda: Table(User))
    grants: Table[RoleGrant] = field(default_factory=lambda: Table(RoleGrant))
    web_sessions: Table[WebSession] = field(default_factory=lambda: Table(WebSession))
    api_tokens: Table[ApiToken] = field(default_factory=lambda: Table(ApiToken))
    subjects: Table[Subject] = field(default_factory=lambda: Table(Subject))
    screenings: Table[Screening] = field(default_factory=lambda: Table(Screening))
    lists: Table[RandomizationList] = field(default_factory=lambda: Table(RandomizationList))
    strata: Table[RandomizationStratum] = field(default_factory=lambda: Table(RandomizationStratum))
    allocations: Table[Allocation] = field(default_factory=lambda: Table(Allocation))
    doses: Table[Dose] = field(default_factory=lambda: Table(Dose))
    adverse_events: Table[AdverseEvent] = field(default_factory=lambda: Table(AdverseEvent))
    tumor_assessments: Table[TumorAssessmentRecord] = field(default_factory=lambda: Table(TumorAssessmentRecord))
    dispositions: Table[Disposition] = field(default_factory=lambda: Table(Disposition))
    queries: Table[Query] = field(default_factory=lambda: Table(Query))
    signatures: Table[Signature] = field(default_factory=lambda: Table(Signature))
    analysis_runs: Table[AnalysisRun] = field(default_factory=lambda: Table(AnalysisRun))
    results_approvals: Table[ResultsApproval] = field(default_factory=lambda: Table(ResultsApproval))
    result_postings: Table[ResultPosting] = field(default_factory=lambda: Table(ResultPosting))
    trial_decisions: Table[TrialDecision] = field(default_factory=lambda: Table(TrialDecision))
    sdv_marks: Table[SdvMark] = field(default_factory=lambda: Table(SdvMark))
    deviations: Table[ProtocolDeviation] = field(default_factory=lambda: Table(ProtocolDeviation))
    #: committed audit events, in order
    events: list[PendingEvent] = field(default_factory=list)
    #: refused actions that left a unit of work (the SQL one audits them in a transaction of their own)
    denials: list[Denial] = field(default_factory=list)


def _in(sites: Sites, site_key: str) -> bool:
    return sites is None or site_key in sites


# -- repositories -------------------------------------------------------------------------------------------------
class FakeTrials:
    def __init__(self, db: FakeDatabase) -> None:
        self.t = db.trials

    def get(self, nct_id: str, *, for_update: bool = False) -> Trial | None:
        return next(iter(self.t.where(lambda r: r.nct_id == nct_id)), None)

    def list(self) -> builtins.list[Trial]:
        return sorted(self.t.all(), key=lambda r: r.nct_id)

    def create(self, **fields: Any) -> Trial:
        return self.t.insert(**fields)

    def count(self) -> int:
        return len(self.t.rows)


class FakeSites:
    def __init__(self, db: FakeDatabase) -> None:
        self.t = db.sites

    def for_trial(self, trial_id: int) -> list[Site]:
        return sorted(self.t.where(lambda r: r.trial_id == trial_id), key=lambda r: r.position)

    def get(self, trial_id: int, site_key: str, *, for_update: bool = False) -> Site | None:
        return next(iter(self.t.where(lambda r: r.trial_id == trial_id and r.site_key == site_key)), None)

    def create(self, **fields: Any) -> Site:
        return self.t.insert(**fields)


class FakeUsers:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def get(self, username: str, *, for_update: bool = False) -> User | None:
        return next(iter(self.db.users.where(lambda r: r.username == username)), None)

    def by_id(self, user_id: int) -> User | None:
        return self.db.users.rows.get(user_id)

    def list(self) -> builtins.list[User]:
        return sorted(self.db.users.all(), key=lambda r: r.username)

    def count(self) -> int:
        return len(self.db.users.rows)

    def create(self, **fields: Any) -> User:
        return self.db.users.insert(**fields)

    def grants(self, user_id: int) -> builtins.list[RoleGrant]:
        return self.db.grants.where(lambda r: r.user_id == user_id)

    def add_grant(self, user_id: int, role: str, site_key: str | None) -> RoleGrant:
        return self.db.grants.insert(user_id=user_id, role=role, site_key=site_key)

    def create_session(self, **fields: Any) -> WebSession:
        return self.db.web_sessions.insert(**fields)

    def session_by_hash(self, token_hash: str) -> WebSession | None:
        return next(iter(self.db.web_sessions.where(lambda r: r.token_hash == token_hash)), None)

    def end_sessions(self, user_id: int, when: str) -> None:
        for row in self.db.web_sessions.where(lambda r: r.user_id == user_id and r.ended_at is None):
            row.ended_at = when

    def retire_password(self, user_id: int, password_hash: str, when: str) -> tuple[int, str, str]:
        retired = (user_id, password_hash, when)
        self.db.__dict__.setdefault("password_history", []).append(retired)
        return retired

    def previous_passwords(self, user_id: int, limit: int) -> builtins.list[str]:
        mine = [h for uid, h, _ in self.db.__dict__.get("password_history", []) if uid == user_id]
        return list(reversed(mine))[:limit]

    def create_token(self, **fields: Any) -> ApiToken:
        return self.db.api_tokens.insert(**fields)

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return next(iter(self.db.api_tokens.where(lambda r: r.token_hash == token_hash)), None)

    def token_by_id(self, token_id: int) -> ApiToken | None:
        return self.db.api_tokens.rows.get(token_id)

    def tokens(self, user_id: int | None = None) -> builtins.list[ApiToken]:
        return self.db.api_tokens.where(lambda r: user_id is None or r.user_id == user_id)


class FakeAudit:
    """The committed events, numbered in order (no hash chain: that is the SQL adapter's, tested there)."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def _records(self) -> list[AuditEventRecord]:
        return [
            AuditEventRecord(
                seq=i,
                occurred_at="",
                actor=e.actor or "",
                action=e.action,
                entity_type=e.entity_type,
                entity_id=e.entity_id,
                trial=e.trial,
                site=e.site,
                reason=e.reason,
                prev_hash="",
                hash="",
            )
            for i, e in enumerate(self.db.events, start=1)
        ]

    def events(self) -> Iterator[AuditEvent]:
        raise NotImplementedError("the hash chain is the SQL adapter's")

    def head(self) -> ChainHead:
        return ChainHead(seq=len(self.db.events))

    def event(self, seq: int) -> AuditEvent | None:
        return None

    def query(self, **filters: Unpack[AuditQuery]) -> list[AuditEventRecord]:
        f = filters
        trial, sites, subject = f.get("trial"), f.get("sites"), f.get("subject")
        found = [
            r
            for r in reversed(self._records())
            if (not f.get("entity_type") or r.entity_type == f.get("entity_type"))
            and (not f.get("entity_id") or r.entity_id == f.get("entity_id"))
            and (not trial or r.trial == trial or (f.get("include_trialless") and r.trial is None))
            and (sites is None or r.site in sites)
            and (not f.get("action_prefix") or r.action.startswith(f.get("action_prefix") or ""))
            and (not f.get("actor") or r.actor == f.get("actor"))
            and (not subject or (r.entity_type == "subject" and r.entity_id == subject))
        ]
        offset = f.get("offset", 0)
        return found[offset : offset + f.get("limit", 200)]

    def count(self) -> int:
        return len(self.db.events)


class FakeSubjects:
    def __init__(self, db: FakeDatabase) -> None:
        self.t = db.subjects

    def get(self, trial_id: int, subject_number: str, *, for_update: bool = False) -> Subject | None:
        return next(iter(self.t.where(lambda r: r.trial_id == trial_id and r.subject_number == subject_number)), None)

    def by_id(self, subject_id: int) -> Subject | None:
        return self.t.rows.get(subject_id)

    def by_patient(self, trial_id: int, site_key: str, patient_ref: str) -> Subject | None:
        return next(
            iter(self.t.where(lambda r: (r.trial_id, r.site_key, r.patient_ref) == (trial_id, site_key, patient_ref))),
            None,
        )

    def list(self, trial_id: int, sites: Sites = None, status: str | None = None) -> builtins.list[Subject]:
        return self.t.where(
            lambda r: r.trial_id == trial_id and _in(sites, r.site_key) and (status is None or r.status == status)
        )

    def count_at_site(self, trial_id: int, site_key: str) -> int:
        return len(self.t.where(lambda r: r.trial_id == trial_id and r.site_key == site_key))

    def create(self, **fields: Any) -> Subject:
        return self.t.insert(**fields)


class FakeScreenings:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.t = db.screenings

    def add(self, **fields: Any) -> Screening:
        return self.t.insert(**fields)

    def count_at_site(self, trial_id: int, site_key: str) -> int:
        return len(self.t.where(lambda r: r.trial_id == trial_id and r.site_key == site_key))

    def number_taken(self, trial_id: int, site_key: str, screening_number: str) -> bool:
        return self.get(trial_id, site_key, screening_number) is not None

    def get(self, trial_id: int, site_key: str, screening_number: str) -> Screening | None:
        return next(
            iter(
                self.t.where(
                    lambda r: (r.trial_id, r.site_key, r.screening_number) == (trial_id, site_key, screening_number)
                )
            ),
            None,
        )

    def latest(self, subject_id: int) -> Screening | None:
        found = self.for_subject(subject_id)
        return found[-1] if found else None

    def for_subject(self, subject_id: int) -> list[Screening]:
        return self.t.where(lambda r: r.subject_id == subject_id)

    def log(self, trial_id: int, sites: Sites = None) -> list[tuple[Screening, Subject]]:
        return [
            (r, self.db.subjects.rows[r.subject_id])
            for r in self.t.where(lambda r: r.trial_id == trial_id and _in(sites, r.site_key))
        ]

    def latest_per_subject(self, trial_id: int) -> list[Screening]:
        last: dict[int, Screening] = {}
        for r in self.t.where(lambda r: r.trial_id == trial_id):
            last[r.subject_id] = r
        return sorted(last.values(), key=lambda r: r.id or 0)

    def count(self, trial_id: int) -> int:
        return len(self.t.where(lambda r: r.trial_id == trial_id))

    def subject_for_patient(
        self, trial_id: int, site_key: str, patient_ref: str, *, for_update: bool = False
    ) -> Subject | None:
        return FakeSubjects(self.db).by_patient(trial_id, site_key, patient_ref)


class FakeAllocations:
    """The in-error rule of :class:`trialdesk.services.repositories.AllocationRepository`."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.t = db.allocations

    def _rows(self, include_in_error: bool) -> list[Allocation]:
        return self.t.where(lambda r: include_in_error or not r.in_error)

    def for_subject(self, subject_id: int, *, include_in_error: bool = False) -> Allocation | None:
        return next((r for r in self._rows(include_in_error) if r.subject_id == subject_id), None)

    def for_subjects(self, subject_ids: Iterable[int], *, include_in_error: bool = False) -> dict[int, Allocation]:
        ids = set(subject_ids)
        return {r.subject_id: r for r in self._rows(include_in_error) if r.subject_id in ids}

    def by_client_key(self, trial_id: int, client_key: str) -> Allocation | None:
        return next((r for r in self.t.all() if r.trial_id == trial_id and r.client_key == client_key), None)

    def for_trial(self, trial_id: int, sites: Sites = None, *, include_in_error: bool = False) -> list[Allocation]:
        return [r for r in self._rows(include_in_error) if r.trial_id == trial_id and _in(sites, r.site_key)]

    def with_subject_numbers(self, trial_id: int, *, include_in_error: bool = False) -> list[tuple[Allocation, str]]:
        return [
            (r, self.db.subjects.rows[r.subject_id].subject_number)
            for r in self.for_trial(trial_id, include_in_error=include_in_error)
        ]

    def randomization_dates(self, trial_id: int, *, include_in_error: bool = False) -> list[tuple[str, str]]:
        return sorted(
            ((r.site_key, r.randomized_on) for r in self.for_trial(trial_id, include_in_error=include_in_error)),
            key=lambda pair: pair[1],
        )

    def count(self, trial_id: int, *, include_in_error: bool = False) -> int:
        return len(self.for_trial(trial_id, include_in_error=include_in_error))

    def add(self, **fields: Any) -> Allocation:
        return self.t.insert(**fields)


class FakeRandomization:
    """Lists and strata cursors; sealed slots are the SQL adapter's (tested there)."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def current_list(self, trial_id: int, *, for_update: bool = False) -> RandomizationList | None:
        found = self.db.lists.where(lambda r: r.trial_id == trial_id and r.status != "retired")
        return found[-1] if found else None

    def live_list(self, trial_id: int) -> RandomizationList | None:
        return next(iter(self.db.lists.where(lambda r: r.trial_id == trial_id and r.status == "live")), None)

    def lock_list(self, list_id: int) -> RandomizationList:
        return self.db.lists.rows[list_id]

    def create_list(self, **fields: Any) -> RandomizationList:
        return self.db.lists.insert(**fields)

    def strata(self, list_id: int) -> list[RandomizationStratum]:
        return sorted(self.db.strata.where(lambda r: r.list_id == list_id), key=lambda r: r.stratum)

    def stratum(self, list_id: int, stratum: str) -> RandomizationStratum | None:
        return next((r for r in self.strata(list_id) if r.stratum == stratum), None)

    def lock_stratum(self, list_id: int, stratum: str) -> RandomizationStratum | None:
        return self.stratum(list_id, stratum)

    def create_stratum(self, **fields: Any) -> RandomizationStratum:
        return self.db.strata.insert(**fields)

    def add_slots(self, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError("sealed slots: use the database tests")

    def slot_at(self, list_id: int, stratum: str, seq: int) -> RandomizationSlot | None:
        raise NotImplementedError("sealed slots: use the database tests")

    def slot(self, slot_id: int) -> RandomizationSlot | None:
        raise NotImplementedError("sealed slots: use the database tests")

    def slots(self, list_id: int) -> list[RandomizationSlot]:
        raise NotImplementedError("sealed slots: use the database tests")

    def count_slots(self, list_id: int) -> int:
        raise NotImplementedError("sealed slots: use the database tests")

    def latest_screening(self, subject_id: int) -> Screening | None:
        found = sorted(
            self.db.screenings.where(lambda r: r.subject_id == subject_id), key=lambda r: (r.screened_on, r.id or 0)
        )
        return found[-1] if found else None

    def add_screening(self, **fields: Any) -> Screening:
        return self.db.screenings.insert(**fields)


class FakeDoses:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.t = db.doses

    def create(self, **fields: Any) -> Dose:
        return self.t.insert(**fields)

    def get(self, dose_id: int, *, for_update: bool = False) -> Dose | None:
        return self.t.rows.get(dose_id)

    def for_subject(self, subject_id: int) -> list[Dose]:
        return sorted(
            self.t.where(lambda r: r.subject_id == subject_id), key=lambda r: (r.cycle, r.dose_date, r.id or 0)
        )

    def for_subjects(self, subject_ids: Iterable[int]) -> dict[int, list[Dose]]:
        out: dict[int, list[Dose]] = defaultdict(list)
        for sid in sorted(set(subject_ids)):
            if doses := self.for_subject(sid):
                out[sid] = doses
        return out

    def assessments(self, subject_ids: Iterable[int]) -> dict[int, list[tuple[str, bool, str | None]]]:
        ids = set(subject_ids)
        out: dict[int, list[tuple[str, bool, str | None]]] = defaultdict(list)
        for r in sorted(
            self.db.tumor_assessments.where(lambda r: r.subject_id in ids), key=lambda r: (r.assessment_date, r.id or 0)
        ):
            out[r.subject_id].append((r.assessment_date, bool(r.baseline), r.overall_response))
        return out


class FakeCtcae:
    def store_id(self) -> str:
        return "memory"

    def count(self, version: str) -> int:
        return 0

    def fingerprint(self, version: str) -> tuple[Any, ...]:
        return (0,)

    def all(self, version: str) -> list[CtcaeTermRecord]:
        return []

    def terms(self, version: str) -> list[CtcaeTerm]:
        return []

    def upsert(self, version: str, terms: list[CtcaeTerm]) -> dict[str, int]:
        raise NotImplementedError("CTCAE terms: use the database tests")

    def remove(self, version: str, codes: list[int]) -> int:
        raise NotImplementedError("CTCAE terms: use the database tests")

    def recorded(self) -> list[tuple[int, str, int]]:
        return []


class FakeAdverseEvents:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.t = db.adverse_events

    def add(self, **fields: Any) -> AdverseEvent:
        return self.t.insert(**fields)

    def get(self, ae_id: int, *, for_update: bool = False) -> AdverseEvent | None:
        return self.t.rows.get(ae_id)

    def for_subject(self, subject_id: int) -> list[AdverseEvent]:
        return sorted(self.t.where(lambda r: r.subject_id == subject_id), key=lambda r: (r.onset_date, r.id or 0))

    def serious_at_sites(self, trial_id: int, sites: Sites) -> list[tuple[AdverseEvent, Subject]]:
        out = []
        for ae in self.t.where(lambda r: r.serious):
            subject = self.db.subjects.rows[ae.subject_id]
            if subject.trial_id == trial_id and _in(sites, subject.site_key):
                out.append((ae, subject))
        return out

    def first_consent_date(self, subject_id: int) -> str | None:
        raise NotImplementedError("consent dates read screening JSON: use the database tests")


class FakeTumorAssessments:
    def __init__(self, db: FakeDatabase) -> None:
        self.t = db.tumor_assessments

    def add(self, **fields: Any) -> TumorAssessmentRecord:
        return self.t.insert(**fields)

    def get(self, assessment_id: int) -> TumorAssessmentRecord | None:
        return self.t.rows.get(assessment_id)

    def for_subject(self, subject_id: int) -> list[TumorAssessmentRecord]:
        return sorted(
            self.t.where(lambda r: r.subject_id == subject_id),
            key=lambda r: (not r.baseline, r.assessment_date, r.id or 0),
        )


class FakeDispositions:
    def __init__(self, db: FakeDatabase) -> None:
        self.t = db.dispositions

    def create(self, **fields: Any) -> Disposition:
        return self.t.insert(**fields)

    def for_subject(self, subject_id: int) -> list[Disposition]:
        return sorted(self.t.where(lambda r: r.subject_id == subject_id), key=lambda r: (r.event_date, r.id or 0))

    def for_subjects(self, subject_ids: Iterable[int]) -> dict[int, list[Disposition]]:
        out: dict[int, list[Disposition]] = defaultdict(list)
        for sid in sorted(set(subject_ids)):
            if rows := self.for_subject(sid):
                out[sid] = rows
        return out


class FakeQueries:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.t = db.queries

    def add(self, **fields: Any) -> Query:
        return self.t.insert(**fields)

    def get(self, query_id: int, *, for_update: bool = False) -> Query | None:
        return self.t.rows.get(query_id)

    def find_unresolved(
        self, subject_id: int, entity_type: str, entity_id: str, field: str, check_id: str | None
    ) -> Query | None:
        return next(
            iter(
                self.t.where(
                    lambda r: (
                        (r.subject_id, r.entity_type, r.entity_id, r.field, r.check_id)
                        == (subject_id, entity_type, entity_id, field, check_id)
                        and r.status in ("open", "answered")
                    )
                )
            ),
            None,
        )

    def list(
        self, trial_id: int, *, sites: Sites = None, subject_id: int | None = None, status: str | None = None
    ) -> builtins.list[tuple[Query, Subject]]:
        out = []
        for q in self.t.all():
            subject = self.db.subjects.rows[q.subject_id]
            if (
                subject.trial_id == trial_id
                and _in(sites, q.site_key)
                and (subject_id is None or q.subject_id == subject_id)
                and (status is None or q.status == status)
            ):
                out.append((q, subject))
        return out

    def nct_of(self, trial_id: int) -> str:
        return self.db.trials.rows[trial_id].nct_id


class FakeMonitoring:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def _of_trial(self, subject_id: int, trial_id: int) -> bool:
        return self.db.subjects.rows[subject_id].trial_id == trial_id

    def add_mark(self, **fields: Any) -> SdvMark:
        return self.db.sdv_marks.insert(**fields)

    def active_mark(
        self, subject_id: int, entity_type: str, entity_id: str, *, for_update: bool = False
    ) -> SdvMark | None:
        found = self.db.sdv_marks.where(
            lambda m: (
                (m.subject_id, m.entity_type, m.entity_id) == (subject_id, entity_type, entity_id)
                and m.cleared_at is None
            )
        )
        return found[-1] if found else None

    def active_marks(self, trial_id: int, *, subject_id: int | None = None) -> builtins.list[SdvMark]:
        return self.db.sdv_marks.where(
            lambda m: (
                m.cleared_at is None
                and self._of_trial(m.subject_id, trial_id)
                and (subject_id is None or m.subject_id == subject_id)
            )
        )

    def add_deviation(self, **fields: Any) -> ProtocolDeviation:
        return self.db.deviations.insert(**fields)

    def get_deviation(self, deviation_id: int, *, for_update: bool = False) -> ProtocolDeviation | None:
        return self.db.deviations.rows.get(deviation_id)

    def deviations(
        self, trial_id: int, *, sites: Sites = None, subject_id: int | None = None, status: str | None = None
    ) -> builtins.list[tuple[ProtocolDeviation, Subject]]:
        return [
            (d, self.db.subjects.rows[d.subject_id])
            for d in self.db.deviations.all()
            if self._of_trial(d.subject_id, trial_id)
            and _in(sites, d.site_key)
            and (subject_id is None or d.subject_id == subject_id)
            and (status is None or d.status == status)
        ]


class FakeSignatures:
    def __init__(self, db: FakeDatabase) -> None:
        self.t = db.signatures

    def add(self, **fields: Any) -> Signature:
        return self.t.insert(**fields)

    def for_subject(self, subject_id: int) -> list[Signature]:
        return self.t.where(lambda r: r.subject_id == subject_id)

    def active(self, subject_id: int) -> Signature | None:
        live = [r for r in self.for_subject(subject_id) if r.invalidated_at is None]
        return live[-1] if live else None

    def invalidate_active(self, subject_id: int, when: str, reason: str) -> list[Signature]:
        rows = [r for r in self.for_subject(subject_id) if r.invalidated_at is None]
        for row in rows:
            row.invalidated_at, row.invalidated_reason = when, reason
        return rows

    def casebook_content(self, subject_id: int) -> dict[str, Any]:
        raise NotImplementedError("the signed casebook: use the database tests")


class FakeAnalysis:
    def __init__(self, db: FakeDatabase) -> None:
        self.t = db.analysis_runs
        self.db = db

    def add_approval(self, **fields: Any) -> ResultsApproval:
        return self.db.results_approvals.insert(**fields)

    def approval_for_run(self, trial_id: int, run_id: int) -> ResultsApproval | None:
        found = self.db.results_approvals.where(lambda a: a.trial_id == trial_id and a.run_id == run_id)
        return found[-1] if found else None

    def approvals(self, trial_id: int) -> list[ResultsApproval]:
        return self.db.results_approvals.where(lambda a: a.trial_id == trial_id)

    def add_posting(self, **fields: Any) -> ResultPosting:
        return self.db.result_postings.insert(**fields)

    def postings(self, trial_id: int) -> list[ResultPosting]:
        return sorted(self.db.result_postings.where(lambda p: p.trial_id == trial_id), key=lambda p: p.version)

    def add_decision(self, **fields: Any) -> TrialDecision:
        return self.db.trial_decisions.insert(**fields)

    def decisions(self, trial_id: int) -> list[TrialDecision]:
        return self.db.trial_decisions.where(lambda d: d.trial_id == trial_id)

    def captured_data(self, trial_id: int) -> CapturedData:
        raise NotImplementedError("captured data: use the database tests")

    def add_run(self, **fields: Any) -> AnalysisRun:
        return self.t.insert(**fields)

    def get_run(self, trial_id: int, run_id: int, *, for_update: bool = False) -> AnalysisRun | None:
        run = self.t.rows.get(run_id)
        return run if run is not None and run.trial_id == trial_id else None

    def latest_run(self, trial_id: int) -> AnalysisRun | None:
        runs = self.list_runs(trial_id)
        return runs[0] if runs else None

    def list_runs(self, trial_id: int) -> list[AnalysisRun]:
        return list(reversed(self.t.where(lambda r: r.trial_id == trial_id)))


class FakeDashboard:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def screenings(self, trial_id: int) -> list[tuple[str, str, int, str]]:
        return [
            (r.site_key, r.screened_on, r.subject_id, r.verdict)
            for r in self.db.screenings.where(lambda r: r.trial_id == trial_id)
        ]

    def open_queries(self, trial_id: int) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for q, _subject in FakeQueries(self.db).list(trial_id):
            if q.status != "closed":
                out[q.site_key] += 1
        return dict(out)
