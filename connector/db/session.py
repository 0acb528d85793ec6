"""Engines and sessions: one ``Database`` per process, a short transaction per unit of work.

On SQLite every transaction begins IMMEDIATE, so concurrent writers (web, workers, the demo)
queue on the database lock instead of failing half-way; WAL lets readers go on meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.engine = _make_engine(url, echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Reads on SQLite begin DEFERRED so they never wait behind a writer (WAL lets them run).
        self._reader = self.engine.execution_options(sqlite_begin="DEFERRED")
        self._bulk = self.engine.execution_options(sqlite_foreign_keys=False)
        os.register_at_fork(after_in_child=self._after_fork)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error.

        ``bulk``: for a writer that keeps every reference valid by construction (a bulk
        import): on SQLite its transaction runs without the per-row foreign-key checks,
        which no other writer can race, SQLite writing one transaction at a time, and its
        commits copy the write-ahead log into the database every ``BULK_CHECKPOINT_PAGES``
        rather than every thousand pages."""
        bind = self._bulk if bulk and self.is_sqlite else self.engine
        with self.sessions(bind=bind) as session, session.begin():
            yield session

    def snapshot(self) -> Session:
        """A session whose reads all see one moment (REPEATABLE READ on PostgreSQL; on SQLite a
        read transaction in WAL mode already does), for checks that read several tables."""
        if self.is_sqlite:
            return self.sessions(bind=self._reader)
        return self.sessions(bind=self.engine.execution_options(isolation_level="REPEATABLE READ"))

    def session(self) -> Session:
        """A session for reading. Writes go through ``transaction()``."""
        return self.sessions(bind=self._reader)

    def dispose(self) -> None:
        self.engine.dispose()

    def _after_fork(self) -> None:
        # A forked job process must not share the parent's pooled connections.
        self.engine.dispose(close=False)


CHECKPOINT_PAGES = 1000  # SQLite's default: the log is copied back every 4 MiB or so
BULK_CHECKPOINT_PAGES = 16384  # for bulk writers: every 64 MiB, a fraction of the copying


def _make_engine(url: str, echo: bool) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": 60, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        event.listen(engine, "checkin", _sqlite_checkin)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    options = connection.get_execution_options()
    if options.get("sqlite_foreign_keys") is False:  # only outside a transaction it counts
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")
        connection.connection._connection_record.info["bulk"] = True
    mode = options.get("sqlite_begin", "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_checkin(dbapi_connection: Any, record: Any) -> None:
    """A connection back in the pool checks foreign keys again, and checkpoints as usual,
    whoever used it before."""
    if record is not None and record.info.pop("bulk", False):
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
