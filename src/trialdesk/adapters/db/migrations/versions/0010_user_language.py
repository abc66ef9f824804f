"""users.language: the language of the operations pages each user chose (Simplified Chinese or English)

Revision ID: 0010_user_language
Revises: 0009_monitoring
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_user_language"
down_revision = "0009_monitoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
