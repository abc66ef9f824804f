"""audit trail: HMAC-keyed chain (key outside the database), monotonic timestamps

Adds to ``audit_head``: ``last_at`` (the last event's occurred_at, so appends never go back in time),
``keyed_from`` (the first seq hashed with the key: one past the events already stored, which stay plain SHA-256),
``key_check`` (HMAC of a constant label under the key) and ``seal`` (HMAC over ``keyed_from`` and the last unkeyed
hash), the last two written by the first keyed append.

Revision ID: 0007_audit_keyed_chain
Revises: 0006_dispositions_new_therapy
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_audit_keyed_chain"
down_revision = "0006_dispositions_new_therapy"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_at", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("keyed_from", _SEQ, nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("key_check", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("seal", sa.String(length=64), nullable=True))
    # events already stored stay unkeyed: the chain is keyed from the next one on
    op.execute(
        "UPDATE audit_head SET keyed_from = seq + 1, "
        "last_at = (SELECT max(occurred_at) FROM audit_events WHERE audit_events.seq <= audit_head.seq)"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("seal")
        batch_op.drop_column("key_check")
        batch_op.drop_column("keyed_from")
        batch_op.drop_column("last_at")
