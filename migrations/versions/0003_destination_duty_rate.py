"""destinations carry the duty and tax rate goods pay on entering their country

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("destinations") as batch:
        batch.add_column(sa.Column("duty_rate", sa.String(12), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("destinations") as batch:
        batch.drop_column("duty_rate")
