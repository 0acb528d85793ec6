"""returns keep the resolution the buyer asked for; refunds say whether they were store credit

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("returns") as batch:
        batch.add_column(
            sa.Column("resolution", sa.String(20), nullable=False, server_default="refund")
        )
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="refund"))


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("returns") as batch:
        batch.drop_column("resolution")
