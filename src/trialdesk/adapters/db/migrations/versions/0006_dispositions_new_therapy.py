"""dispositions: one end of treatment, end of study and death per subject; any number of new anticancer therapies

Revision ID: 0006_dispositions_new_therapy
Revises: 0005_accounts_password_history
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_dispositions_new_therapy"
down_revision = "0005_accounts_password_history"
branch_labels = None
depends_on = None

_ONCE = sa.text("kind <> 'new_therapy'")


def upgrade() -> None:
    with op.batch_alter_table("dispositions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_disposition_kind", type_="unique")
    op.create_index(
        "uq_disposition_once",
        "dispositions",
        ["subject_id", "kind"],
        unique=True,
        sqlite_where=_ONCE,
        postgresql_where=_ONCE,
    )


def downgrade() -> None:
    op.drop_index("uq_disposition_once", table_name="dispositions")
    with op.batch_alter_table("dispositions", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_disposition_kind", ["subject_id", "kind"])
