"""merchants keep routing settings; orders keep where they shipped from and their export
declaration (returned-goods relief); shipments keep the carrier that moves them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("merchants") as batch:
        batch.add_column(sa.Column("routing", json, nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("shipped_from", sa.String(2), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("export_reference", sa.String(100), nullable=False, server_default="")
        )
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(
            sa.Column("tracking_carrier", sa.String(40), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("tracking_carrier")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("export_reference")
        batch.drop_column("shipped_from")
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("routing")
