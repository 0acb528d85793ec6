"""The embedded SQLite database: a bulk writer's transaction skips the per-row foreign-key
checks and checkpoints less often, and the connection is back to the usual for whoever uses
it next."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from connector.db import Database
from connector.db.session import BULK_CHECKPOINT_PAGES, CHECKPOINT_PAGES


def test_only_a_bulk_transaction_goes_without_foreign_key_checks(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bulk.sqlite3'}")
    try:
        with db.transaction() as session:
            session.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            session.execute(
                text("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id REFERENCES parent)")
            )

        def pragmas(session: Session) -> tuple[int, int]:
            keys = session.execute(text("PRAGMA foreign_keys")).scalar()
            pages = session.execute(text("PRAGMA wal_autocheckpoint")).scalar()
            return int(keys or 0), int(pages or 0)

        with db.transaction(bulk=True) as session:
            bulk = pragmas(session)
        with db.transaction() as session:
            after = pragmas(session)
        with db.session() as session:
            reading = pragmas(session)

        assert bulk == (0, BULK_CHECKPOINT_PAGES)
        assert after == reading == (1, CHECKPOINT_PAGES)
    finally:
        db.dispose()
