"""outbound actions carry a claim, so one row is never pushed by two jobs at once

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import connector.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_actions") as batch:
        batch.add_column(
            sa.Column("claimed_until", connector.db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_actions") as batch:
        batch.drop_column("claimed_until")
