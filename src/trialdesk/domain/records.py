"""Domain records: the things a trial keeps, one plain class per stored table.

These are ordinary dataclasses with no knowledge of the database: ``adapters/db/tables.py`` maps them onto the
tables imperatively (cosmicpython style), so services and rules work on the trial's own vocabulary (``Subject``,
``Allocation``, ``Dose``) while the ORM stays an adapter detail. The fake unit of work in the tests stores the
same classes in dictionaries.

Conventions, shared with the table definitions:

- attribute names and Python types are the columns'; dates are ISO text (``YYYY-MM-DD``), timestamps ISO-8601 UTC
  text, structured payloads canonical JSON text (identical on SQLite and PostgreSQL, and hashable for signatures);
- ``id: int | None = None``: assigned by the database on insert (the identity of a record is its object, hence
  ``eq=False``: two records are equal only if they are the same record, as in the ORM's identity map);
- nullable columns default to ``None``; columns with a database-side default carry the same default here.

Names follow the trial's vocabulary; three carry a ``Record`` suffix because the domain already has a value type of
that name (``domain.audit.AuditEvent``, ``domain.ctcae.CtcaeTerm``, ``domain.recist_models.TumorAssessment``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


# -- registry and sites -------------------------------------------------------------------------------------------
@dataclass(kw_only=True, eq=False)
class Trial:
    """A trial known to the system, from its protocol file or from ClinicalTrials.gov."""

    id: int | None = None
    nct_id: str
    brief_title: str
    overall_status: str
    source: str  # protocol | ctgov
    # large, loaded on first access by the database adapter: kept out of repr() so printing a record never loads it
    protocol_json: str = field(repr=False)
    search_text: str = ""
    results_json: str | None = field(default=None, repr=False)
    results_posted_at: str | None = None
    created_at: str
    updated_at: str


@dataclass(kw_only=True, eq=False)
class Site:
    id: int | None = None
    trial_id: int
    site_key: str
    position: int
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    status: str | None = None


# -- audit trail --------------------------------------------------------------------------------------------------
@dataclass(kw_only=True, eq=False)
class AuditEventRecord:
    """A stored link of the hash chain; ``seq`` is assigned by the appender, not by the database."""

    seq: int
    occurred_at: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    trial: str | None = None
    site: str | None = None
    before_json: str | None = None
    after_json: str | None = None
    reason: str | None = None
    prev_hash: str
    hash: str


@dataclass(kw_only=True, eq=False)
class AuditHead:
    """One row: the latest event of the chain. Appending locks it, so the chain stays linear."""

    id: int | None = None
    seq: int
    hash: str
    last_at: str | None = None
    keyed_from: int = 1
    key_check: str | None = None
    seal: str | None = None


# -- people and access --------------------------------------------------------------------------------------------
@dataclass(kw_only=True, eq=False)
class User:
    id: int | None = None
    username: str
    display_name: str | None = None
    password_hash: str
    must_change_password: bool = True
    active: bool = True
    failed_logins: int = 0
    locked_until: str | None = None
    created_at: str
    #: the language of the operations pages the user chose (None: not chosen)
    language: str | None = None


@dataclass(kw_only=True, eq=False)
class RoleGrant:
    id: int | None = None
    user_id: int
    role: str
    site_key: str | None = None  # None: all sites


@dataclass(kw_only=True, eq=False)
class WebSession:
    id: int | None = None
    token_hash: str
    user_id: int
    csrf_token: str
    created_at: str
    last_seen_at: str
    ended_at: str | None = None


@dataclass(kw_only=True, eq=False)
class PasswordHistory:
    """A password hash a user had before (argon2id, as stored on the user): a new password may not repeat the
    last five (ASVS 2.1.10 / Part 11 password aging)."""

    id: int | None = None
    user_id: int
    password_hash: str
    retired_at: str


@dataclass(kw_only=True, eq=False)
class ApiToken:
    id: int | None = None
    token_hash: str
    prefix: str
    user_id: int
    name: str | None = None
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None


# -- subjects, screening, randomization ---------------------------------------------------------------------------
@dataclass(kw_only=True, eq=False)
class Subject:
    """A patient at a site, from first screening on. ``subject_number`` is site-unique (e.g. HUN-0007)."""

    id: int | None = None
    trial_id: int
    site_key: str
    subject_number: str
    patient_ref: str  # the site's pseudonymous reference
    status: str = "screening"
    birth_date: str | None = None
    sex: str | None = None
    height_cm: float | None = None
    created_at: str
    data_version: int = 0  # bumps on every change (signatures pin it)


@dataclass(kw_only=True, eq=False)
class Screening:
    id: int | None = None
    trial_id: int
    subject_id: int
    site_key: str
    screening_number: str
    screened_on: str
    verdict: str  # eligible | ineligible | incomplete
    record_json: str
    results_json: str  # per-criterion status and reason
    derived_json: str = "{}"  # strata factors, etc.
    failed_criteria: str = ""  # comma-separated ids
    protocol_digest: str
    created_at: str
    created_by: str


@dataclass(kw_only=True, eq=False)
class RandomizationList:
    """A generated allocation list. Arms in its slots are sealed (AES-GCM) with a key derived from a secret seed
    that is *not* stored with the list; ``seed_check`` lets the system recognise the right seed."""

    id: int | None = None
    trial_id: int
    spec_json: str
    spec_version: str
    seed_check: str
    status: str  # generated | live | retired
    commitment: str | None = None
    generated_at: str
    live_at: str | None = None
    next_number: int = 1  # R-0001, locked per allocation


@dataclass(kw_only=True, eq=False)
class RandomizationStratum:
    """Per-stratum cursor: the next slot to hand out (row-locked during allocation)."""

    id: int | None = None
    list_id: int
    stratum: str
    next_seq: int = 0
    n_slots: int = 0
    n_blocks: int = 0
    # blocks in the list at go-live: the commitment covers blocks [0, initial_blocks); later ones are extensions
    initial_blocks: int = 0


@dataclass(kw_only=True, eq=False)
class RandomizationSlot:
    id: int | None = None
    list_id: int
    stratum: str
    seq: int  # order of use within the stratum
    block_index: int
    position: int
    block_size: int
    sealed_arm: bytes


@dataclass(kw_only=True, eq=False)
class Allocation:
    """A subject's randomization. An allocation marked ``in_error`` stays (its number and slot are used) but no
    longer assigns the subject a treatment: see ``AllocationRepository`` for the one rule on which counts."""

    id: int | None = None
    trial_id: int
    subject_id: int
    site_key: str
    list_id: int | None = None
    slot_id: int | None = None
    stratum: str
    randomization_number: str
    arm: str
    randomized_on: str
    allocated_at: str
    allocated_by: str
    client_key: str | None = None
    details_json: str = "{}"  # minimization scores etc.
    in_error: bool = False
    error_reason: str | None = None


# -- treatment and outcomes ---------------------------------------------------------------------------------------
@dataclass(kw_only=True, eq=False)
class Dose:
    id: int | None = None
    subject_id: int
    cycle: int
    drug: str
    dose_date: str
    planned_mg: float | None = None
    actual_mg: float
    weight_kg: float | None = None
    bsa_m2: float | None = None
    loading: bool = False
    delay_days: int = 0
    delay_reason: str | None = None
    reduction_level: int = 0
    reduction_reason: str | None = None
    interrupted: bool = False
    override_reason: str | None = None
    calculation_json: str = "{}"
    entered_at: str
    entered_by: str


@dataclass(kw_only=True, eq=False)
class CtcaeTermRecord:
    """A stored CTCAE term (grades as JSON text); ``domain.ctcae.CtcaeTerm`` is the value the rules use."""

    id: int | None = None
    version: str
    term: str
    meddra_code: int
    soc: str
    grades_json: str
    definition: str | None = None


@dataclass(kw_only=True, eq=False)
class AdverseEvent:
    id: int | None = None
    subject_id: int
    term: str
    meddra_code: int
    soc: str
    grade: int
    onset_date: str
    resolution_date: str | None = None
    serious: bool = False
    seriousness_json: str = "[]"
    relationship_json: str = "{}"
    action_taken: str | None = None
    outcome: str | None = None
    sae_reported_at: str | None = None
    entered_at: str
    entered_by: str


@dataclass(kw_only=True, eq=False)
class TumorAssessmentRecord:
    """A stored tumour assessment (lesions and RECIST result as JSON text)."""

    id: int | None = None
    subject_id: int
    assessment_date: str
    baseline: bool = False
    lesions_json: str
    overall_response: str | None = None
    result_json: str = "{}"
    entered_at: str
    entered_by: str


@dataclass(kw_only=True, eq=False)
class Disposition:
    """End of treatment, end of study, death, new anticancer therapy (one record per event)."""

    id: int | None = None
    subject_id: int
    kind: str  # end_of_treatment | end_of_study | death | new_therapy
    event_date: str
    reason: str | None = None
    details_json: str = "{}"
    entered_at: str
    entered_by: str


# -- data management ----------------------------------------------------------------------------------------------
@dataclass(kw_only=True, eq=False)
class Query:
    id: int | None = None
    subject_id: int
    site_key: str
    entity_type: str
    entity_id: str
    field: str
    check_id: str | None = None
    message: str
    status: str  # open | answered | closed
    origin: str  # edit_check | manual
    history_json: str = "[]"
    raised_at: str
    raised_by: str
    updated_at: str


@dataclass(kw_only=True, eq=False)
class SdvMark:
    """A monitor's source-data verification of one record at one version (``record_version``); cleared with a
    reason (or superseded by a new mark), never deleted."""

    id: int | None = None
    subject_id: int
    site_key: str
    entity_type: str
    entity_id: str
    version: str
    marked_at: str
    marked_by: str
    cleared_at: str | None = None
    cleared_by: str | None = None
    clear_reason: str | None = None


@dataclass(kw_only=True, eq=False)
class ProtocolDeviation:
    """A protocol deviation of one subject (``domain/monitoring.py``: categories, importance)."""

    id: int | None = None
    subject_id: int
    site_key: str
    category: str
    description: str
    occurred_on: str
    important: bool = False
    found_by: str
    recorded_at: str
    recorded_by: str
    status: str = "open"  # open | closed
    capa: str | None = None  # corrective and preventive action, on closing
    closed_at: str | None = None
    closed_by: str | None = None


@dataclass(kw_only=True, eq=False)
class Signature:
    id: int | None = None
    subject_id: int
    signer: str
    signer_name: str | None = None
    meaning: str
    signed_at: str
    data_version: int
    manifest_hash: str
    invalidated_at: str | None = None
    invalidated_reason: str | None = None


@dataclass(kw_only=True, eq=False)
class AnalysisRun:
    id: int | None = None
    trial_id: int
    cut_date: str
    run_at: str
    run_by: str
    summary_json: str
    results_section_json: str | None = None
    report_html: str | None = None
    posted_at: str | None = None


@dataclass(kw_only=True, eq=False)
class ResultsApproval:
    """The sponsor's approval of an analysis run's results for posting."""

    id: int | None = None
    trial_id: int
    run_id: int
    approved_at: str
    approved_by: str
    note: str | None = None


@dataclass(kw_only=True, eq=False)
class ResultPosting:
    """One posting of results to the registry: version 1, 2, ... per trial, every one kept."""

    id: int | None = None
    trial_id: int
    version: int
    run_id: int
    approval_id: int
    cut_date: str
    posted_at: str
    posted_by: str
    results_json: str = field(repr=False)


@dataclass(kw_only=True, eq=False)
class TrialDecision:
    """A recorded trial-level decision (early stop, recruitment closed, completed) with its reason."""

    id: int | None = None
    trial_id: int
    kind: str  # domain.results_posting.DecisionKind
    decided_on: str
    reason: str
    recorded_at: str
    recorded_by: str


__all__ = [
    "AdverseEvent",
    "Allocation",
    "AnalysisRun",
    "ApiToken",
    "AuditEventRecord",
    "AuditHead",
    "CtcaeTermRecord",
    "Disposition",
    "Dose",
    "Query",
    "RandomizationList",
    "RandomizationSlot",
    "RandomizationStratum",
    "ResultPosting",
    "ResultsApproval",
    "RoleGrant",
    "Screening",
    "Signature",
    "Site",
    "Subject",
    "Trial",
    "TrialDecision",
    "TumorAssessmentRecord",
    "User",
    "WebSession",
]
