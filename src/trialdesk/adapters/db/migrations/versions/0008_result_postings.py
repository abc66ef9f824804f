"""results posting: the sponsor's approvals, every posting kept as a version, recorded trial decisions

``results_approvals`` (the sponsor approves an analysis run's results), ``result_postings`` (version 1, 2, ... of
the posted resultsSection per trial, each with its run and approval) and ``trial_decisions`` (early stop,
recruitment closed, completed, with the reason).

Revision ID: 0008_result_postings
Revises: 0007_audit_keyed_chain
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_result_postings"
down_revision = "0007_audit_keyed_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "results_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("approved_at", sa.String(length=40), nullable=False),
        sa.Column("approved_by", sa.String(length=120), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["analysis_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_results_approvals_trial_id", "results_approvals", ["trial_id"], unique=False)
    op.create_index("ix_results_approvals_run_id", "results_approvals", ["run_id"], unique=False)
    op.create_table(
        "result_postings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("cut_date", sa.String(length=10), nullable=False),
        sa.Column("posted_at", sa.String(length=40), nullable=False),
        sa.Column("posted_by", sa.String(length=120), nullable=False),
        sa.Column("results_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["analysis_runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["approval_id"], ["results_approvals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trial_id", "version", name="uq_result_postings_version"),
    )
    op.create_index("ix_result_postings_trial_id", "result_postings", ["trial_id"], unique=False)
    op.create_index("ix_result_postings_run_id", "result_postings", ["run_id"], unique=False)
    op.create_table(
        "trial_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("decided_on", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.String(length=40), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trial_decisions_trial_id", "trial_decisions", ["trial_id"], unique=False)
    # results posted before versions existed become version 1, approved by whoever posted them
    op.execute(
        "INSERT INTO results_approvals (trial_id, run_id, approved_at, approved_by, note) "
        "SELECT r.trial_id, r.id, r.posted_at, 'migration', 'posted before approvals were recorded' "
        "FROM analysis_runs r WHERE r.posted_at IS NOT NULL AND r.id = "
        "(SELECT max(x.id) FROM analysis_runs x WHERE x.trial_id = r.trial_id AND x.posted_at IS NOT NULL)"
    )
    op.execute(
        "INSERT INTO result_postings (trial_id, version, run_id, approval_id, cut_date, posted_at, posted_by, "
        "results_json) SELECT a.trial_id, 1, a.run_id, a.id, r.cut_date, t.results_posted_at, 'migration', "
        "t.results_json FROM results_approvals a JOIN analysis_runs r ON r.id = a.run_id "
        "JOIN trials t ON t.id = a.trial_id WHERE t.results_json IS NOT NULL AND t.results_posted_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_trial_decisions_trial_id", table_name="trial_decisions")
    op.drop_table("trial_decisions")
    op.drop_index("ix_result_postings_run_id", table_name="result_postings")
    op.drop_index("ix_result_postings_trial_id", table_name="result_postings")
    op.drop_table("result_postings")
    op.drop_index("ix_results_approvals_run_id", table_name="results_approvals")
    op.drop_index("ix_results_approvals_trial_id", table_name="results_approvals")
    op.drop_table("results_approvals")
