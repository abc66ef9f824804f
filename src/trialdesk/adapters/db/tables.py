"""Database tables, and the imperative mapping of the domain records onto them.

The tables are plain ``Table`` definitions on one ``MetaData``; the classes are ``trialdesk.domain.records``
dataclasses, mapped with ``registry.map_imperatively`` when this module is imported (``bootstrap`` imports it, and
so does every repository). The domain never imports SQLAlchemy; the ORM only instruments the records' attributes.
Schema changes go through Alembic migrations in ``migrations/``, which must keep matching these definitions.

The old declarative names (``SubjectRow``, ``AllocationRow``, ..., ``Base``) remain as aliases for existing
imports: ``XRow`` is the record class itself, ``Base.metadata`` the tables' metadata.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import deferred, registry

from trialdesk.domain import records

metadata = MetaData()
mapper_registry = registry(metadata=metadata)
# ``Base.metadata`` (Alembic's env, the demo reset, tests) is the tables' metadata.
Base = mapper_registry

_AUDIT_SEQ = BigInteger().with_variant(Integer, "sqlite")


def _trial_fk(**kw: Any) -> Column[int]:
    return Column("trial_id", ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True, **kw)


def _subject_fk() -> Column[int]:
    return Column("subject_id", ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)


trials = Table(
    "trials",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nct_id", String(16), unique=True, nullable=False),
    Column("brief_title", Text, nullable=False),
    Column("overall_status", String(40), nullable=False),
    Column("source", String(20), nullable=False),  # protocol | ctgov
    Column("protocol_json", Text, nullable=False),  # deferred: loaded on first access
    Column("search_text", Text, nullable=False, default=""),
    Column("results_json", Text),  # deferred
    Column("results_posted_at", String(40)),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    Column("site_key", String(80), nullable=False),
    Column("position", Integer, nullable=False),
    Column("facility", Text),
    Column("city", String(120)),
    Column("state", String(120)),
    Column("country", String(120)),
    Column("status", String(40)),
    UniqueConstraint("trial_id", "site_key", name="uq_sites_trial_site"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _AUDIT_SEQ, primary_key=True, autoincrement=False),
    Column("occurred_at", String(40), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("action", String(80), nullable=False),
    Column("entity_type", String(60), nullable=False),
    Column("entity_id", String(120), nullable=False),
    Column("trial", String(16)),
    Column("site", String(80)),
    Column("before_json", Text),
    Column("after_json", Text),
    Column("reason", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_entity", "entity_type", "entity_id"),
    Index("ix_audit_trial_site", "trial", "site"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", _AUDIT_SEQ, nullable=False),
    Column("hash", String(64), nullable=False),
    # keyed chain (migration 0007): the last event's occurred_at, the first HMAC-keyed seq, the key check and the
    # seal over the unkeyed prefix (see domain/audit.py)
    Column("last_at", String(40)),
    Column("keyed_from", _AUDIT_SEQ, nullable=False, server_default="1"),
    Column("key_check", String(64)),
    Column("seal", String(64)),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), unique=True, nullable=False),
    Column("display_name", String(200)),
    Column("password_hash", Text, nullable=False),
    Column("must_change_password", Boolean, nullable=False, default=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", String(40)),
    Column("created_at", String(40), nullable=False),
    Column("language", String(16)),
)

role_grants = Table(
    "role_grants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("role", String(40), nullable=False),
    Column("site_key", String(80)),  # NULL: all sites
    UniqueConstraint("user_id", "role", "site_key", name="uq_grant"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), unique=True, nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("last_seen_at", String(40), nullable=False),
    Column("ended_at", String(40)),
)

password_history = Table(
    "password_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("password_hash", Text, nullable=False),
    Column("retired_at", String(40), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), unique=True, nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(120)),
    Column("created_at", String(40), nullable=False),
    Column("last_used_at", String(40)),
    Column("revoked_at", String(40)),
)

# ---------------------------------------------------------------------------------------------------------------
# Operations (migration 0003). Dates are ISO strings (YYYY-MM-DD), timestamps ISO-8601 UTC strings, structured
# payloads canonical JSON text: identical on SQLite and PostgreSQL, and hashable for signatures.
# ---------------------------------------------------------------------------------------------------------------

subjects = Table(
    "subjects",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    Column("site_key", String(80), nullable=False, index=True),
    Column("subject_number", String(40), nullable=False),
    Column("patient_ref", String(80), nullable=False),  # site's pseudonymous reference
    Column("status", String(30), nullable=False, default="screening"),
    Column("birth_date", String(10)),
    Column("sex", String(10)),
    Column("height_cm", Float),
    Column("created_at", String(40), nullable=False),
    Column("data_version", Integer, nullable=False, default=0),  # bumps on every change
    UniqueConstraint("trial_id", "subject_number", name="uq_subject_number"),
    UniqueConstraint("trial_id", "site_key", "patient_ref", name="uq_subject_patient"),
)

screenings = Table(
    "screenings",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    _subject_fk(),
    Column("site_key", String(80), nullable=False, index=True),
    Column("screening_number", String(40), nullable=False),
    Column("screened_on", String(10), nullable=False),
    Column("verdict", String(20), nullable=False),  # eligible | ineligible | incomplete
    Column("record_json", Text, nullable=False),
    Column("results_json", Text, nullable=False),  # per-criterion status and reason
    Column("derived_json", Text, nullable=False, default="{}"),  # strata factors, etc.
    Column("failed_criteria", Text, nullable=False, default=""),  # comma-separated ids
    Column("protocol_digest", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(120), nullable=False),
    UniqueConstraint("trial_id", "site_key", "screening_number", name="uq_screening_number"),
)

randomization_lists = Table(
    "randomization_lists",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    Column("spec_json", Text, nullable=False),
    Column("spec_version", String(40), nullable=False),
    Column("seed_check", String(64), nullable=False),
    Column("status", String(20), nullable=False),  # generated | live | retired
    Column("commitment", String(64)),
    Column("generated_at", String(40), nullable=False),
    Column("live_at", String(40)),
    Column("next_number", Integer, nullable=False, default=1),  # R-0001, locked per allocation
)

randomization_strata = Table(
    "randomization_strata",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("list_id", ForeignKey("randomization_lists.id", ondelete="CASCADE"), nullable=False),
    Column("stratum", String(200), nullable=False),
    Column("next_seq", Integer, nullable=False, default=0),
    Column("n_slots", Integer, nullable=False, default=0),
    Column("n_blocks", Integer, nullable=False, default=0),
    Column("initial_blocks", Integer, nullable=False, default=0),  # migration 0004
    UniqueConstraint("list_id", "stratum", name="uq_list_stratum"),
)

randomization_slots = Table(
    "randomization_slots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("list_id", ForeignKey("randomization_lists.id", ondelete="CASCADE"), nullable=False),
    Column("stratum", String(200), nullable=False),
    Column("seq", Integer, nullable=False),  # order of use within the stratum
    Column("block_index", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("block_size", Integer, nullable=False),
    Column("sealed_arm", LargeBinary, nullable=False),
    UniqueConstraint("list_id", "stratum", "seq", name="uq_slot_seq"),
    UniqueConstraint("list_id", "stratum", "block_index", "position", name="uq_slot_block"),
)

allocations = Table(
    "allocations",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    Column("subject_id", ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
    Column("site_key", String(80), nullable=False, index=True),
    Column("list_id", ForeignKey("randomization_lists.id")),
    Column("slot_id", ForeignKey("randomization_slots.id")),
    Column("stratum", String(200), nullable=False),
    Column("randomization_number", String(40), nullable=False),
    Column("arm", String(40), nullable=False),
    Column("randomized_on", String(10), nullable=False),
    Column("allocated_at", String(40), nullable=False),
    Column("allocated_by", String(120), nullable=False),
    Column("client_key", String(120)),
    Column("details_json", Text, nullable=False, default="{}"),  # minimization scores etc.
    Column("in_error", Boolean, nullable=False, default=False),
    Column("error_reason", Text),
    UniqueConstraint("trial_id", "randomization_number", name="uq_randomization_number"),
    UniqueConstraint("slot_id", name="uq_allocation_slot"),
    UniqueConstraint("subject_id", name="uq_allocation_subject"),
    UniqueConstraint("trial_id", "client_key", name="uq_allocation_client_key"),
)

doses = Table(
    "doses",
    metadata,
    Column("id", Integer, primary_key=True),
    _subject_fk(),
    Column("cycle", Integer, nullable=False),
    Column("drug", String(40), nullable=False),
    Column("dose_date", String(10), nullable=False),
    Column("planned_mg", Float),
    Column("actual_mg", Float, nullable=False),
    Column("weight_kg", Float),
    Column("bsa_m2", Float),
    Column("loading", Boolean, nullable=False, default=False),
    Column("delay_days", Integer, nullable=False, default=0),
    Column("delay_reason", Text),
    Column("reduction_level", Integer, nullable=False, default=0),
    Column("reduction_reason", Text),
    Column("interrupted", Boolean, nullable=False, default=False),
    Column("override_reason", Text),
    Column("calculation_json", Text, nullable=False, default="{}"),
    Column("entered_at", String(40), nullable=False),
    Column("entered_by", String(120), nullable=False),
)

ctcae_terms = Table(
    "ctcae_terms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", String(20), nullable=False),
    Column("term", String(200), nullable=False, index=True),
    Column("meddra_code", Integer, nullable=False),
    Column("soc", String(200), nullable=False),
    Column("grades_json", Text, nullable=False),
    Column("definition", Text),
    UniqueConstraint("version", "meddra_code", name="uq_ctcae_code"),
)

adverse_events = Table(
    "adverse_events",
    metadata,
    Column("id", Integer, primary_key=True),
    _subject_fk(),
    Column("term", String(200), nullable=False),
    Column("meddra_code", Integer, nullable=False),
    Column("soc", String(200), nullable=False),
    Column("grade", Integer, nullable=False),
    Column("onset_date", String(10), nullable=False),
    Column("resolution_date", String(10)),
    Column("serious", Boolean, nullable=False, default=False),
    Column("seriousness_json", Text, nullable=False, default="[]"),
    Column("relationship_json", Text, nullable=False, default="{}"),
    Column("action_taken", String(60)),
    Column("outcome", String(60)),
    Column("sae_reported_at", String(40)),
    Column("entered_at", String(40), nullable=False),
    Column("entered_by", String(120), nullable=False),
)

tumor_assessments = Table(
    "tumor_assessments",
    metadata,
    Column("id", Integer, primary_key=True),
    _subject_fk(),
    Column("assessment_date", String(10), nullable=False),
    Column("baseline", Boolean, nullable=False, default=False),
    Column("lesions_json", Text, nullable=False),
    Column("overall_response", String(20)),
    Column("result_json", Text, nullable=False, default="{}"),
    Column("entered_at", String(40), nullable=False),
    Column("entered_by", String(120), nullable=False),
)

dispositions = Table(
    "dispositions",
    metadata,
    Column("id", Integer, primary_key=True),
    _subject_fk(),
    Column("kind", String(30), nullable=False),  # end_of_treatment|end_of_study|death|new_therapy
    Column("event_date", String(10), nullable=False),
    Column("reason", Text),
    Column("details_json", Text, nullable=False, default="{}"),
    Column("entered_at", String(40), nullable=False),
    Column("entered_by", String(120), nullable=False),
    # One end of treatment, end of study and death per subject; any number of new anticancer therapies.
    Index(
        "uq_disposition_once",
        "subject_id",
        "kind",
        unique=True,
        sqlite_where=text("kind <> 'new_therapy'"),
        postgresql_where=text("kind <> 'new_therapy'"),
    ),
)

queries = Table(
    "queries",
    metadata,
    Column("id", Integer, primary_key=True),
    _subject_fk(),
    Column("site_key", String(80), nullable=False, index=True),
    Column("entity_type", String(40), nullable=False),
    Column("entity_id", String(80), nullable=False),
    Column("field", String(80), nullable=False),
    Column("check_id", String(80)),
    Column("message", Text, nullable=False),
    Column("status", String(20), nullable=False),  # open | answered | closed
    Column("origin", String(20), nullable=False),  # edit_check | manual
    Column("history_json", Text, nullable=False, default="[]"),
    Column("raised_at", String(40), nullable=False),
    Column("raised_by", String(120), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

sdv_marks = Table(
    "sdv_marks",
    metadata,
    Column("id", Integer, primary_key=True),
    _subject_fk(),
    Column("site_key", String(80), nullable=False, index=True),
    Column("entity_type", String(40), nullable=False),
    Column("entity_id", String(80), nullable=False),
    Column("version", String(64), nullable=False),
    Column("marked_at", String(40), nullable=False),
    Column("marked_by", String(120), nullable=False),
    Column("cleared_at", String(40)),
    Column("cleared_by", String(120)),
    Column("clear_reason", Text),
)

protocol_deviations = Table(
    "protocol_deviations",
    metadata,
    Column("id", Integer, primary_key=True),
    _subject_fk(),
    Column("site_key", String(80), nullable=False, index=True),
    Column("category", String(40), nullable=False),
    Column("description", Text, nullable=False),
    Column("occurred_on", String(10), nullable=False),
    Column("important", Boolean, nullable=False, default=False),
    Column("found_by", String(120), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("recorded_by", String(120), nullable=False),
    Column("status", String(20), nullable=False, default="open"),  # open | closed
    Column("capa", Text),
    Column("closed_at", String(40)),
    Column("closed_by", String(120)),
)

signatures = Table(
    "signatures",
    metadata,
    Column("id", Integer, primary_key=True),
    _subject_fk(),
    Column("signer", String(120), nullable=False),
    Column("signer_name", String(200)),
    Column("meaning", Text, nullable=False),
    Column("signed_at", String(40), nullable=False),
    Column("data_version", Integer, nullable=False),
    Column("manifest_hash", String(64), nullable=False),
    Column("invalidated_at", String(40)),
    Column("invalidated_reason", Text),
)

analysis_runs = Table(
    "analysis_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    Column("cut_date", String(10), nullable=False),
    Column("run_at", String(40), nullable=False),
    Column("run_by", String(120), nullable=False),
    Column("summary_json", Text, nullable=False),
    Column("results_section_json", Text),
    Column("report_html", Text),
    Column("posted_at", String(40)),
)

results_approvals = Table(
    "results_approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    Column("run_id", ForeignKey("analysis_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("approved_at", String(40), nullable=False),
    Column("approved_by", String(120), nullable=False),
    Column("note", Text),
)

result_postings = Table(
    "result_postings",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    Column("version", Integer, nullable=False),
    Column("run_id", ForeignKey("analysis_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("approval_id", ForeignKey("results_approvals.id", ondelete="CASCADE"), nullable=False),
    Column("cut_date", String(10), nullable=False),
    Column("posted_at", String(40), nullable=False),
    Column("posted_by", String(120), nullable=False),
    Column("results_json", Text, nullable=False),
    UniqueConstraint("trial_id", "version", name="uq_result_postings_version"),
)

trial_decisions = Table(
    "trial_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    _trial_fk(),
    Column("kind", String(40), nullable=False),
    Column("decided_on", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("recorded_by", String(120), nullable=False),
)


def _map(cls: type, table: Table, **properties: Any) -> None:
    """Map a record class onto its table (once, however often this module is reloaded) and give it ``__table__``,
    as declarative classes had, for code that walks a record's columns."""
    if "__mapper__" not in cls.__dict__:
        mapper_registry.map_imperatively(cls, table, properties=properties or None)
    type.__setattr__(cls, "__table__", table)


_map(
    records.Trial, trials, protocol_json=deferred(trials.c.protocol_json), results_json=deferred(trials.c.results_json)
)
_map(records.Site, sites)
_map(records.AuditEventRecord, audit_events)
_map(records.AuditHead, audit_head)
_map(records.User, users)
_map(records.RoleGrant, role_grants)
_map(records.WebSession, web_sessions)
_map(records.PasswordHistory, password_history)
_map(records.ApiToken, api_tokens)
_map(records.Subject, subjects)
_map(records.Screening, screenings)
_map(records.RandomizationList, randomization_lists)
_map(records.RandomizationStratum, randomization_strata)
_map(records.RandomizationSlot, randomization_slots)
_map(records.Allocation, allocations)
_map(records.Dose, doses)
_map(records.CtcaeTermRecord, ctcae_terms)
_map(records.AdverseEvent, adverse_events)
_map(records.TumorAssessmentRecord, tumor_assessments)
_map(records.Disposition, dispositions)
_map(records.Query, queries)
_map(records.Signature, signatures)
_map(records.SdvMark, sdv_marks)
_map(records.ProtocolDeviation, protocol_deviations)
_map(records.AnalysisRun, analysis_runs)
_map(records.ResultsApproval, results_approvals)
_map(records.ResultPosting, result_postings, results_json=deferred(result_postings.c.results_json))
_map(records.TrialDecision, trial_decisions)

# The declarative-era names, for existing imports: the record classes themselves.
TrialRow = records.Trial
SiteRow = records.Site
AuditEventRow = records.AuditEventRecord
AuditHeadRow = records.AuditHead
UserRow = records.User
RoleGrantRow = records.RoleGrant
WebSessionRow = records.WebSession
PasswordHistoryRow = records.PasswordHistory
ApiTokenRow = records.ApiToken
SubjectRow = records.Subject
ScreeningRow = records.Screening
RandomizationListRow = records.RandomizationList
RandomizationStratumRow = records.RandomizationStratum
RandomizationSlotRow = records.RandomizationSlot
AllocationRow = records.Allocation
DoseRow = records.Dose
CtcaeTermRow = records.CtcaeTermRecord
AdverseEventRow = records.AdverseEvent
TumorAssessmentRow = records.TumorAssessmentRecord
DispositionRow = records.Disposition
QueryRow = records.Query
SignatureRow = records.Signature
AnalysisRunRow = records.AnalysisRun

__all__ = [
    "Base",
    "metadata",
    "mapper_registry",
    "TrialRow",
    "SiteRow",
    "AuditEventRow",
    "AuditHeadRow",
    "UserRow",
    "RoleGrantRow",
    "WebSessionRow",
    "PasswordHistoryRow",
    "ApiTokenRow",
    "SubjectRow",
    "ScreeningRow",
    "RandomizationListRow",
    "RandomizationStratumRow",
    "RandomizationSlotRow",
    "AllocationRow",
    "DoseRow",
    "CtcaeTermRow",
    "AdverseEventRow",
    "TumorAssessmentRow",
    "DispositionRow",
    "QueryRow",
    "SignatureRow",
    "AnalysisRunRow",
    # re-exported column types for later migrations' convenience
    "Boolean",
    "Date",
    "DateTime",
    "Float",
]
