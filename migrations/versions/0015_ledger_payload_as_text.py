"""the ledger keeps each payload as text: the canonical JSON its hash covers

A payload is written once and read whole; the hash chain, checked by ``helloword ledger
verify``, is what vouches for it. PostgreSQL's json type parsed every payload on the way in
to check it is JSON, which for the bulk importers was two fifths of writing an event. SQLite
keeps the text as it is already.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_events ALTER COLUMN payload TYPE text USING payload::text")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_events ALTER COLUMN payload TYPE json USING payload::json")
