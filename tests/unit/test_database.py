"""The embedded SQLite database: a bulk writer's transaction skips the per-row foreign-key
checks, and the connection checks them again for whoever uses it next."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from connector.db import Database


def test_only_a_bulk_transaction_goes_without_foreign_key_checks(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bulk.sqlite3'}")
    try:
        with db.transaction() as session:
            session.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            session.execute(
                text("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id REFERENCES parent)")
            )

        with db.transaction(bulk=True) as session:
            bulk = session.execute(text("PRAGMA foreign_keys")).scalar()
        with db.transaction() as session:
            after = session.execute(text("PRAGMA foreign_keys")).scalar()
        with db.session() as session:
            reading = session.execute(text("PRAGMA foreign_keys")).scalar()

        assert (bulk, after, reading) == (0, 1, 1)
    finally:
        db.dispose()
