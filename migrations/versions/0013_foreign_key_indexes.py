"""index the foreign keys a return's pages and jobs look up by

A return's lines, an order's returns, a return's outbound actions and a shipment's scans are
read by the row they belong to on every page and job that shows or moves a return; without
an index each read scanned the whole table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("return_lines", "return_id"),
    ("returns", "order_id"),
    ("outbound_actions", "return_id"),
    ("tracking_events", "shipment_id"),
)


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in INDEXES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
