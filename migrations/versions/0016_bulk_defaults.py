"""the database's own defaults for the columns a bulk import leaves out

The Amazon import writes orders, their lines, returns, return lines and refunds by COPY on
PostgreSQL; columns that every imported row fills with the model's default (empty text, no
tags, the moment of writing) are left out of it, and the database fills them in: a tenth of
the server's work for those rows was reading the same defaults again. The models name the
same defaults (``server_default``). SQLite's import gives every column, so SQLite keeps its
tables as they are.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULTS = {
    "orders": {
        "shipped_from": "''",
        "export_reference": "''",
        "tags": "'[]'",
        "created_at": "now()",
        "updated_at": "now()",
    },
    "order_lines": {"hs_code": "''", "origin_country": "''", "tags": "'[]'"},
    "returns": {
        "source": "'platform'",
        "buyer_address": "'{}'",
        "note": "''",
        "review_queue": "''",
        "refund_trigger": "'received'",
        "route_option": "''",
        "returnless": "false",
        "resolution": "'refund'",
        "created_at": "now()",
        "updated_at": "now()",
    },
    "return_lines": {"outcome": "''", "decision_reason": "''", "grade": "''", "exchange_sku": "''"},
    "refunds": {"kind": "'refund'", "external_id": "''", "error": "''", "created_at": "now()"},
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in DEFAULTS.items():
        changes = ", ".join(f"ALTER COLUMN {c} SET DEFAULT {v}" for c, v in columns.items())
        op.execute(f"ALTER TABLE {table} {changes}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in DEFAULTS.items():
        changes = ", ".join(f"ALTER COLUMN {c} DROP DEFAULT" for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
