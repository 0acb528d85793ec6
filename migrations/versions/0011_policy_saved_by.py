"""policy versions remember who saved them

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.add_column(sa.Column("saved_by", sa.String(320), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.drop_column("saved_by")
