"""shipments keep the carrier's own id and the account that bought them, to track and void

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 08:46:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(sa.Column("external_id", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("account", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("account")
        batch.drop_column("external_id")
