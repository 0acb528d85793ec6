"""back-office users; merchants get the slug of their buyer portal's address

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 12:30:00
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from connector.db.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _slug(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "store"


def upgrade() -> None:
    with op.batch_alter_table("merchants") as batch:
        batch.add_column(sa.Column("slug", sa.String(80), nullable=True))
    connection = op.get_bind()
    taken: set[str] = set()
    for merchant_id, name in connection.execute(sa.text("SELECT id, name FROM merchants")):
        slug, n = _slug(name), 1
        while slug in taken:
            n += 1
            slug = f"{_slug(name)}-{n}"
        taken.add(slug)
        connection.execute(
            sa.text("UPDATE merchants SET slug = :slug WHERE id = :id"),
            {"slug": slug, "id": merchant_id},
        )
    with op.batch_alter_table("merchants") as batch:
        batch.alter_column("slug", existing_type=sa.String(80), nullable=False)
        batch.create_unique_constraint("uq_merchants_slug", ["slug"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )


def downgrade() -> None:
    op.drop_table("users")
    with op.batch_alter_table("merchants") as batch:
        batch.drop_constraint("uq_merchants_slug", type_="unique")
        batch.drop_column("slug")
