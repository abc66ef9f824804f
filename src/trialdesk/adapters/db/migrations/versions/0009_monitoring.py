"""risk-based monitoring: source-data verification marks and protocol deviations

``sdv_marks`` (a monitor's verification of one record at one version, cleared with a reason) and
``protocol_deviations`` (per subject: category, description, date, importance, who found it, open -> closed with a
corrective and preventive action).

Revision ID: 0009_monitoring
Revises: 0008_result_postings
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_monitoring"
down_revision = "0008_result_postings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sdv_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("site_key", sa.String(length=80), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=80), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("marked_at", sa.String(length=40), nullable=False),
        sa.Column("marked_by", sa.String(length=120), nullable=False),
        sa.Column("cleared_at", sa.String(length=40), nullable=True),
        sa.Column("cleared_by", sa.String(length=120), nullable=True),
        sa.Column("clear_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sdv_marks_subject_id", "sdv_marks", ["subject_id"], unique=False)
    op.create_index("ix_sdv_marks_site_key", "sdv_marks", ["site_key"], unique=False)
    op.create_table(
        "protocol_deviations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("site_key", sa.String(length=80), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_on", sa.String(length=10), nullable=False),
        sa.Column("important", sa.Boolean(), nullable=False),
        sa.Column("found_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.String(length=40), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("capa", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.String(length=40), nullable=True),
        sa.Column("closed_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_protocol_deviations_subject_id", "protocol_deviations", ["subject_id"], unique=False)
    op.create_index("ix_protocol_deviations_site_key", "protocol_deviations", ["site_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_protocol_deviations_site_key", table_name="protocol_deviations")
    op.drop_index("ix_protocol_deviations_subject_id", table_name="protocol_deviations")
    op.drop_table("protocol_deviations")
    op.drop_index("ix_sdv_marks_site_key", table_name="sdv_marks")
    op.drop_index("ix_sdv_marks_subject_id", table_name="sdv_marks")
    op.drop_table("sdv_marks")
