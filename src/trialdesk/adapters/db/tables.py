"""Database tables (SQLAlchemy 2 declarative). Schema changes go through Alembic migrations in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class TrialRow(Base):
    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nct_id: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    brief_title: Mapped[str] = mapped_column(Text, nullable=False)
    overall_status: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False)  # protocol | ctgov
    protocol_json: Mapped[str] = mapped_column(Text, nullable=False, deferred=True)  # loaded on first access
    search_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    results_json: Mapped[str | None] = mapped_column(Text, deferred=True)
    results_posted_at: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[str] = mapped_column(String(40), nullable=False)
    updated_at: Mapped[str] = mapped_column(String(40), nullable=False)


class SiteRow(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("trial_id", "site_key", name="uq_sites_trial_site"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True)
    site_key: Mapped[str] = mapped_column(String(80), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    facility: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str | None] = mapped_column(String(40))


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    occurred_at: Mapped[str] = mapped_column(String(40), nullable=False)
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    action: Mapped[str] = mapped_column(String(80), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(60), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(120), nullable=False)
    trial: Mapped[str | None] = mapped_column(String(16))
    site: Mapped[str | None] = mapped_column(String(80))
    before_json: Mapped[str | None] = mapped_column(Text)
    after_json: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_audit_entity", "entity_type", "entity_id"),
        Index("ix_audit_trial_site", "trial", "site"),
    )


class AuditHeadRow(Base):
    """One row: the latest event of the chain. Appending locks it, so the chain stays linear."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


__all__ = [
    "Base", "TrialRow", "SiteRow", "AuditEventRow", "AuditHeadRow",
    # re-exported column types for later migrations' convenience
    "Boolean", "Date", "DateTime", "Float",
]


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[str] = mapped_column(String(40), nullable=False)


class RoleGrantRow(Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "site_key", name="uq_grant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    site_key: Mapped[str | None] = mapped_column(String(80))  # NULL: all sites


class WebSessionRow(Base):
    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[str] = mapped_column(String(40), nullable=False)
    last_seen_at: Mapped[str] = mapped_column(String(40), nullable=False)
    ended_at: Mapped[str | None] = mapped_column(String(40))


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[str] = mapped_column(String(40), nullable=False)
    last_used_at: Mapped[str | None] = mapped_column(String(40))
    revoked_at: Mapped[str | None] = mapped_column(String(40))


# ---------------------------------------------------------------------------------------------------------------
# Operations (migration 0003). Dates are ISO strings (YYYY-MM-DD), timestamps ISO-8601 UTC strings, structured
# payloads canonical JSON text: identical on SQLite and PostgreSQL, and hashable for signatures.
# ---------------------------------------------------------------------------------------------------------------

from sqlalchemy import LargeBinary  # noqa: E402


class SubjectRow(Base):
    """A patient at a site, from first screening on. ``subject_number`` is site-unique (e.g. HUN-0007)."""

    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("trial_id", "subject_number", name="uq_subject_number"),
                      UniqueConstraint("trial_id", "site_key", "patient_ref", name="uq_subject_patient"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True)
    site_key: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    subject_number: Mapped[str] = mapped_column(String(40), nullable=False)
    patient_ref: Mapped[str] = mapped_column(String(80), nullable=False)  # site's pseudonymous reference
    status: Mapped[str] = mapped_column(String(30), nullable=False, default="screening")
    birth_date: Mapped[str | None] = mapped_column(String(10))
    sex: Mapped[str | None] = mapped_column(String(10))
    height_cm: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[str] = mapped_column(String(40), nullable=False)
    data_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # bumps on every change


class ScreeningRow(Base):
    __tablename__ = "screenings"
    __table_args__ = (UniqueConstraint("trial_id", "site_key", "screening_number", name="uq_screening_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    site_key: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    screening_number: Mapped[str] = mapped_column(String(40), nullable=False)
    screened_on: Mapped[str] = mapped_column(String(10), nullable=False)
    verdict: Mapped[str] = mapped_column(String(20), nullable=False)  # eligible | ineligible | incomplete
    record_json: Mapped[str] = mapped_column(Text, nullable=False)
    results_json: Mapped[str] = mapped_column(Text, nullable=False)  # per-criterion status and reason
    derived_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # strata factors, etc.
    failed_criteria: Mapped[str] = mapped_column(Text, nullable=False, default="")  # comma-separated ids
    protocol_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[str] = mapped_column(String(40), nullable=False)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)


class RandomizationListRow(Base):
    """A generated allocation list. Arms in its slots are sealed (AES-GCM) with a key derived from a secret seed
    that is *not* in the database; ``seed_check`` lets the system recognise the right seed."""

    __tablename__ = "randomization_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True)
    spec_json: Mapped[str] = mapped_column(Text, nullable=False)
    spec_version: Mapped[str] = mapped_column(String(40), nullable=False)
    seed_check: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # generated | live | retired
    commitment: Mapped[str | None] = mapped_column(String(64))
    generated_at: Mapped[str] = mapped_column(String(40), nullable=False)
    live_at: Mapped[str | None] = mapped_column(String(40))
    next_number: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # R-0001, locked per allocation


class RandomizationStratumRow(Base):
    """Per-stratum cursor: the next slot to hand out (row-locked during allocation)."""

    __tablename__ = "randomization_strata"
    __table_args__ = (UniqueConstraint("list_id", "stratum", name="uq_list_stratum"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("randomization_lists.id", ondelete="CASCADE"), nullable=False)
    stratum: Mapped[str] = mapped_column(String(200), nullable=False)
    next_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    n_slots: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    n_blocks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # blocks in the list at go-live: the commitment covers blocks [0, initial_blocks); later ones are extensions
    initial_blocks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # migration 0004


class RandomizationSlotRow(Base):
    __tablename__ = "randomization_slots"
    __table_args__ = (UniqueConstraint("list_id", "stratum", "seq", name="uq_slot_seq"),
                      UniqueConstraint("list_id", "stratum", "block_index", "position", name="uq_slot_block"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("randomization_lists.id", ondelete="CASCADE"), nullable=False)
    stratum: Mapped[str] = mapped_column(String(200), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # order of use within the stratum
    block_index: Mapped[int] = mapped_column(Integer, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    block_size: Mapped[int] = mapped_column(Integer, nullable=False)
    sealed_arm: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class AllocationRow(Base):
    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("trial_id", "randomization_number", name="uq_randomization_number"),
                      UniqueConstraint("slot_id", name="uq_allocation_slot"),
                      UniqueConstraint("subject_id", name="uq_allocation_subject"),
                      UniqueConstraint("trial_id", "client_key", name="uq_allocation_client_key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False)
    site_key: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("randomization_lists.id"))
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("randomization_slots.id"))
    stratum: Mapped[str] = mapped_column(String(200), nullable=False)
    randomization_number: Mapped[str] = mapped_column(String(40), nullable=False)
    arm: Mapped[str] = mapped_column(String(40), nullable=False)
    randomized_on: Mapped[str] = mapped_column(String(10), nullable=False)
    allocated_at: Mapped[str] = mapped_column(String(40), nullable=False)
    allocated_by: Mapped[str] = mapped_column(String(120), nullable=False)
    client_key: Mapped[str | None] = mapped_column(String(120))
    details_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # minimization scores etc.
    in_error: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error_reason: Mapped[str | None] = mapped_column(Text)


class DoseRow(Base):
    __tablename__ = "doses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    cycle: Mapped[int] = mapped_column(Integer, nullable=False)
    drug: Mapped[str] = mapped_column(String(40), nullable=False)
    dose_date: Mapped[str] = mapped_column(String(10), nullable=False)
    planned_mg: Mapped[float | None] = mapped_column(Float)
    actual_mg: Mapped[float] = mapped_column(Float, nullable=False)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    bsa_m2: Mapped[float | None] = mapped_column(Float)
    loading: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    delay_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    delay_reason: Mapped[str | None] = mapped_column(Text)
    reduction_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reduction_reason: Mapped[str | None] = mapped_column(Text)
    interrupted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    override_reason: Mapped[str | None] = mapped_column(Text)
    calculation_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    entered_at: Mapped[str] = mapped_column(String(40), nullable=False)
    entered_by: Mapped[str] = mapped_column(String(120), nullable=False)


class CtcaeTermRow(Base):
    __tablename__ = "ctcae_terms"
    __table_args__ = (UniqueConstraint("version", "meddra_code", name="uq_ctcae_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(20), nullable=False)
    term: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    meddra_code: Mapped[int] = mapped_column(Integer, nullable=False)
    soc: Mapped[str] = mapped_column(String(200), nullable=False)
    grades_json: Mapped[str] = mapped_column(Text, nullable=False)
    definition: Mapped[str | None] = mapped_column(Text)


class AdverseEventRow(Base):
    __tablename__ = "adverse_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    term: Mapped[str] = mapped_column(String(200), nullable=False)
    meddra_code: Mapped[int] = mapped_column(Integer, nullable=False)
    soc: Mapped[str] = mapped_column(String(200), nullable=False)
    grade: Mapped[int] = mapped_column(Integer, nullable=False)
    onset_date: Mapped[str] = mapped_column(String(10), nullable=False)
    resolution_date: Mapped[str | None] = mapped_column(String(10))
    serious: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    seriousness_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    relationship_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    action_taken: Mapped[str | None] = mapped_column(String(60))
    outcome: Mapped[str | None] = mapped_column(String(60))
    sae_reported_at: Mapped[str | None] = mapped_column(String(40))
    entered_at: Mapped[str] = mapped_column(String(40), nullable=False)
    entered_by: Mapped[str] = mapped_column(String(120), nullable=False)


class TumorAssessmentRow(Base):
    __tablename__ = "tumor_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    assessment_date: Mapped[str] = mapped_column(String(10), nullable=False)
    baseline: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    lesions_json: Mapped[str] = mapped_column(Text, nullable=False)
    overall_response: Mapped[str | None] = mapped_column(String(20))
    result_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    entered_at: Mapped[str] = mapped_column(String(40), nullable=False)
    entered_by: Mapped[str] = mapped_column(String(120), nullable=False)


class DispositionRow(Base):
    """End of treatment, end of study, death, new anticancer therapy (one row per event)."""

    __tablename__ = "dispositions"
    __table_args__ = (UniqueConstraint("subject_id", "kind", name="uq_disposition_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)  # end_of_treatment|end_of_study|death|new_therapy
    event_date: Mapped[str] = mapped_column(String(10), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    details_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    entered_at: Mapped[str] = mapped_column(String(40), nullable=False)
    entered_by: Mapped[str] = mapped_column(String(120), nullable=False)


class QueryRow(Base):
    __tablename__ = "queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    site_key: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    entity_type: Mapped[str] = mapped_column(String(40), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(80), nullable=False)
    field: Mapped[str] = mapped_column(String(80), nullable=False)
    check_id: Mapped[str | None] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # open | answered | closed
    origin: Mapped[str] = mapped_column(String(20), nullable=False)  # edit_check | manual
    history_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    raised_at: Mapped[str] = mapped_column(String(40), nullable=False)
    raised_by: Mapped[str] = mapped_column(String(120), nullable=False)
    updated_at: Mapped[str] = mapped_column(String(40), nullable=False)


class SignatureRow(Base):
    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True)
    signer: Mapped[str] = mapped_column(String(120), nullable=False)
    signer_name: Mapped[str | None] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(Text, nullable=False)
    signed_at: Mapped[str] = mapped_column(String(40), nullable=False)
    data_version: Mapped[int] = mapped_column(Integer, nullable=False)
    manifest_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    invalidated_at: Mapped[str | None] = mapped_column(String(40))
    invalidated_reason: Mapped[str | None] = mapped_column(Text)


class AnalysisRunRow(Base):
    __tablename__ = "analysis_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), nullable=False, index=True)
    cut_date: Mapped[str] = mapped_column(String(10), nullable=False)
    run_at: Mapped[str] = mapped_column(String(40), nullable=False)
    run_by: Mapped[str] = mapped_column(String(120), nullable=False)
    summary_json: Mapped[str] = mapped_column(Text, nullable=False)
    results_section_json: Mapped[str | None] = mapped_column(Text)
    report_html: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[str | None] = mapped_column(String(40))
