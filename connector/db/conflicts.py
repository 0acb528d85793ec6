"""Telling a write that lost a race from one that is wrong."""

from __future__ import annotations

import sqlite3

# unique violation, deadlock detected, serialization failure
_CONFLICTS = frozenset({"23505", "40P01", "40001"})


def is_conflict(error: BaseException) -> bool:
    """Whether a database error is a key another transaction took first (or a deadlock or
    serialization failure over one): PostgreSQL's SQLSTATE, raised by the driver or wrapped
    by SQLAlchemy, or SQLite's unique failure. Work that met one, done again from the
    start, sees the other transaction's row and goes on from it."""
    cause = getattr(error, "orig", None) or error
    if isinstance(cause, sqlite3.IntegrityError):
        return "UNIQUE" in str(cause)
    return str(getattr(cause, "sqlstate", None) or "") in _CONFLICTS
