"""randomization IWRS: blocks covered by the go-live commitment

Revision ID: 0004_randomization_iwrs
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_randomization_iwrs"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("randomization_strata", schema=None) as batch_op:
        batch_op.add_column(sa.Column("initial_blocks", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("randomization_strata", schema=None) as batch_op:
        batch_op.drop_column("initial_blocks")
