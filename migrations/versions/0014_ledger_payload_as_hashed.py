"""the ledger keeps each payload as the text that was hashed

PostgreSQL's jsonb re-orders an object's keys and re-spaces it; json keeps the text as given,
which for the ledger is the canonical JSON its hash covers. It is also read back, and written
by the bulk importers, without building a binary document per event.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 13:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite keeps JSON as text already
        op.execute("ALTER TABLE ledger_events ALTER COLUMN payload TYPE json USING payload::json")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_events ALTER COLUMN payload TYPE jsonb USING payload::jsonb")
