"""Amazon returns reports stored: each row of a returns report becomes a return in Helloword
without a single call to Amazon, so an import from a file works offline.

A row's order is stored as the stub the report describes only when the store does not have
that order yet; an order read from the Orders API (or a stub from an earlier import) is never
overwritten, only given the SKU lines it lacks. Returns are upserted by the Amazon RMA id
(``external_id``): a row seen again changes nothing, but for a line a stored return lacks,
which is added to it, and the delivery to the seller of a parcel on Amazon's label, which
receives the return (``record_deliveries``). A seller-fulfilled return still open on Amazon
enters the pipeline like any platform's (REQUESTED, then ``decide_return``); FBA returns,
returns Amazon reports as refunded, and returns Amazon closed, declined or cancelled are
stored as settled history (with the refund Amazon made recorded as issued) and never reach
the refund pipeline.

Rows are stored in batches, one transaction each, with a handful of statements per batch
whatever its size (bulk inserts, the ledger's hash chains computed here), so a report of a
hundred thousand rows streams through in constant memory. Rows that cannot be read are handed
to ``on_error`` with their line numbers and skipped. Each batch's follow-up job
(``dispatch_amazon_batch``, which queues ``decide_return`` for each open return and
``fetch_amazon_order`` for each new order) is given to ``on_batch`` after the batch commits.
``settings["returns_import"]`` on the store keeps how far the scheduled imports got.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Table, select
from sqlalchemy.orm import Session

from platforms.amazon import ReportedReturn, RowError
from platforms.amazon.returns_report import ReportedLine

from .. import ledger
from ..db import Database, models
from ..db.conflicts import is_conflict
from ..db.types import utcnow
from ..domain import Money, OrderLine, Status, TrackingStatus
from ..domain.events import EventKind
from ..errors import NothingToDo
from ..routing import OptionKind
from .common import FollowUp

log = logging.getLogger(__name__)

BATCH_ROWS = 2000  # returns stored per transaction
SOURCE = "amazon_report"
PLATFORM = "amazon"
IMPORT_KEY = "returns_import"
OPEN_ON_AMAZON = frozenset({Status.REQUESTED, Status.APPROVED, Status.RECEIVED})
_FINAL_EVENT = {
    Status.CLOSED: EventKind.RETURN_CLOSED,
    Status.CANCELED: EventKind.RETURN_CANCELED,
    Status.DECLINED: EventKind.RETURN_DECIDED,
}


@dataclass
class ImportSummary:
    """What an import did, row by row."""

    rows: int = 0  # report rows read, errors included
    returns_new: int = 0  # returns stored for the first time
    returns_open: int = 0  # of them, open on Amazon: sent to the policy's decision
    returns_history: int = 0  # of them, settled already: FBA, refunded, closed on Amazon
    returns_seen: int = 0  # stored before, left as they were
    lines_added: int = 0  # lines a stored return lacked
    orders_new: int = 0  # orders stored as the report's stub, details fetched by jobs
    errors: int = 0

    def add(self, other: ImportSummary) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class Batch:
    """One committed batch: its counts and the jobs to queue now that it is stored."""

    summary: ImportSummary
    follow_ups: list[FollowUp] = field(default_factory=list)
    deliveries: dict[int, datetime] = field(default_factory=dict)  # return id → delivered at


def import_rows(
    db: Database,
    store_id: int,
    rows: Iterable[tuple[int, ReportedReturn | RowError]],
    *,
    batch_rows: int = BATCH_ROWS,
    on_error: Callable[[RowError], None] | None = None,
    on_batch: Callable[[Batch], None] | None = None,
) -> ImportSummary:
    """Store the rows of a returns report (``parse_returns_report``'s output) for the Amazon
    store, committing every ``batch_rows`` returns. ``NothingToDo`` if the store is gone.
    ``on_batch`` hears of each batch once it is stored, in the report's order.

    On PostgreSQL each batch is looked up and built here, then written and committed on a
    connection of its own while the next is built, ``WRITERS`` at a time: by a forked
    process of its own (``_beside_a_writer``), so that its Python work does not share this
    process's lock with the building; where it may not fork (``_may_fork``), by threads
    (``_side_by_side``). On SQLite, which takes Python's lock back after every row it
    inserts, a process of its own reads and builds the batches while this one writes them
    (``_forked``); where it may not fork, it stores batch after batch."""
    with _no_cycle_collection():
        if db.is_sqlite and _may_fork(db):
            stored: Iterator[Batch] = _forked(db, store_id, rows, batch_rows, on_error)
            return _total(stored, on_batch)
        batches = _batches(rows, batch_rows, on_error)
        if db.is_sqlite:
            stored = (_store_surely(db, store_id, item) for item in batches)
        elif _may_fork(db):
            stored = _beside_a_writer(db, store_id, batches)
        else:
            stored = _side_by_side(db, store_id, batches)
        return _total(stored, on_batch)


def _total(stored: Iterator[Batch], on_batch: Callable[[Batch], None] | None) -> ImportSummary:
    total = ImportSummary()
    for batch in stored:
        total.add(batch.summary)
        if on_batch is not None:
            on_batch(batch)
    return total


def _store(db: Database, store_id: int, item: _Pending, *, thorough: bool = False) -> Batch:
    """One batch stored in a transaction of its own, then the deliveries it reports."""
    return _begin(db, store_id, item, thorough=thorough).finish()


def _begin(db: Database, store_id: int, item: _Pending, *, thorough: bool = False) -> _Open:
    """One batch looked up and built in a transaction of its own, its rows not written yet:
    ``finish`` writes and commits them, in this thread or another."""
    pending, read, errors = item
    opened = _Open(db, read, errors)
    if pending:
        opened.prepare(store_id, pending, thorough)
    return opened


class _Open:
    """A batch in its open transaction, built (``prepare``) and then written and committed
    (``finish``); whatever fails on the way rolls the transaction back."""

    def __init__(self, db: Database, read: int, errors: int) -> None:
        self.db, self.read, self.errors = db, read, errors
        self._transaction: Any = None
        self._writer: _BatchWriter | None = None

    def prepare(self, store_id: int, pending: list[ReportedReturn], thorough: bool) -> None:
        self._transaction = self.db.transaction(bulk=True)
        session = self._transaction.__enter__()
        try:
            self._writer = _writer(session, store_id)
            self._writer.prepare(pending, thorough=thorough)
        except BaseException as error:
            self._close(error)
            raise

    def finish(self) -> Batch:
        if self._writer is None:
            batch = Batch(ImportSummary())
        else:
            try:
                batch = self._writer.finish()
            except BaseException as error:
                self._close(error)
                raise
            self._close(None)
        return _completed(self.db, batch, self.read, self.errors)

    def _close(self, error: BaseException | None) -> None:
        """The transaction committed (no error) or rolled back."""
        transaction, self._transaction = self._transaction, None
        if error is None:
            transaction.__exit__(None, None, None)
        else:
            transaction.__exit__(type(error), error, error.__traceback__)


def _completed(db: Database, batch: Batch, read: int, errors: int) -> Batch:
    """A committed batch, with the deliveries it reports recorded and its rows counted."""
    if batch.deliveries:
        with db.transaction() as session:
            batch.follow_ups += record_deliveries(session, batch.deliveries)
    batch.summary.rows += read
    batch.summary.errors += errors
    return batch


WRITERS = 2  # PostgreSQL: batches stored side by side


def _store_surely(db: Database, store_id: int, item: _Pending) -> Batch:
    """A batch stored; stored again looking every RMA up if it met a key already taken."""
    try:
        return _store(db, store_id, item)
    except Exception as error:
        return _store_again(db, store_id, item, error)


class _Writing(Protocol):
    """A batch being written: what a ``Future`` gives (``_side_by_side``), or an answer
    awaited from the writer process (``_Answer``)."""

    def result(self) -> Batch: ...

    def exception(self) -> BaseException | None: ...


def _side_by_side(db: Database, store_id: int, batches: Iterator[_Pending]) -> Iterator[Batch]:
    """The batches stored ``WRITERS`` at a time by threads of a pool, given back in order.
    Each is looked up and built here, in a transaction of its own, then written and
    committed by a thread while the next is built: building is Python's work, writing mostly
    the server's, so one overlaps the other, and only one thread at a time builds."""

    def write(item: _Pending) -> Future[Batch]:
        try:
            opened = _begin(db, store_id, item)
        except Exception as error:  # met as a failed write is: stored again, or raised
            failed: Future[Batch] = Future()
            failed.set_exception(error)
            return failed
        return pool.submit(opened.finish)

    with _quick_handoffs(), ThreadPoolExecutor(WRITERS, thread_name_prefix="amazon-import") as pool:
        yield from _in_order(db, store_id, batches, write, WRITERS)


def _beside_a_writer(db: Database, store_id: int, batches: Iterator[_Pending]) -> Iterator[Batch]:
    """The batches stored by a forked writer process (``_WriterProcess``), given back in
    order. Each is looked up and built here, outside any transaction, and its rows sent to
    the writer, which writes and commits ``WRITERS`` at a time, each on a connection of its
    own, after checking that the store and every stored row the batch refers to are still
    there (``_write_built``). Writing is mostly the server's work, and what Python work it
    has runs there, so this process's lock is the builder's alone. A batch with lines to
    add to stored returns is stored here, once the batches before it are done."""
    writer = _WriterProcess(db)
    try:

        def write(item: _Pending) -> _Writing:
            pending, read, errors = item
            if not pending:  # rows that could not be read, and nothing else
                return _Answer.done(_completed(db, Batch(ImportSummary()), read, errors))
            try:
                built = _built(db, store_id, pending)
            except Exception as error:  # met as a failed write is: stored again, or raised
                return _Answer.done(error)
            if built is None:
                return _Answer.done(_StoreHere("it adds lines to stored returns"))
            return writer.submit(built, read, errors)

        yield from _in_order(db, store_id, batches, write, WRITERS + 1)
    finally:
        writer.close()


def _in_order(
    db: Database,
    store_id: int,
    batches: Iterator[_Pending],
    write: Callable[[_Pending], _Writing],
    ahead: int,
) -> Iterator[Batch]:
    """Each batch handed to ``write`` as soon as fewer than ``ahead`` are being written, and
    given back stored, in the report's order. Two batches side by side can both meet a key
    new to the store (an order two RMAs share, an RMA the report repeats far apart): one
    waits for the other and, when that one commits, fails on the unique key (or on a
    deadlock, which PostgreSQL breaks). Nothing of it was kept; it is stored again here,
    looking every RMA up, once every batch beside it has finished."""
    running: deque[tuple[_Pending, _Writing]] = deque()
    try:
        for item in batches:
            while len(running) >= ahead:
                yield _stored(db, store_id, running)
            running.append((item, write(item)))
        while running:
            yield _stored(db, store_id, running)
    finally:
        for _, writing in running:  # each commits or rolls back
            writing.exception()
        close = getattr(batches, "close", None)
        if close is not None:  # the report's reading stops too, whatever stopped this
            close()


def _stored(db: Database, store_id: int, running: deque[tuple[_Pending, _Writing]]) -> Batch:
    """The oldest running batch, stored again if it lost a key to a batch beside it."""
    item, writing = running.popleft()
    try:
        return writing.result()
    except Exception as error:
        for _, other in running:
            other.exception()
        return _store_again(db, store_id, item, error)


class _StoreHere(Exception):
    """A batch the writer process does not write: it is stored in the import's process."""


def _store_again(db: Database, store_id: int, item: _Pending, error: Exception) -> Batch:
    """A batch that failed with ``error`` stored again, looking every RMA up, when the error
    was a key already taken, a stored row it refers to gone, or a batch to be stored here;
    any other error is raised as it was."""
    if not (is_conflict(error) or isinstance(error, _Stale | _StoreHere)):
        raise error
    if isinstance(error, _StoreHere):
        log.debug("a batch is stored by the import's own process: %s", error)
    else:
        log.info("a batch met a key already taken or a row gone (%s); storing it again", error)
    return _store(db, store_id, item, thorough=True)


def _built(db: Database, store_id: int, pending: list[ReportedReturn]) -> _Built | None:
    """A batch looked up in what is committed and built, for another process to write; None
    when it has lines to add to stored returns."""
    with db.session() as session:
        writer = _writer(session, store_id, {})
        writer.prepare(pending)
        return writer.built()


class _Answer:
    """The writer process's answer for one batch, read from its pipe when asked for; the
    batch's rows are not kept here meanwhile, only what it stored."""

    def __init__(
        self, writer: _WriterProcess | None, number: int, batch: Batch, read: int, errors: int
    ) -> None:
        self._writer, self._number = writer, number
        self._batch, self._read, self._errors = batch, read, errors
        self._outcome: Batch | BaseException | None = None

    @classmethod
    def done(cls, outcome: Batch | BaseException) -> _Answer:
        """An answer known without the writer: a batch with nothing to write, or an error."""
        answer = cls(None, -1, Batch(ImportSummary()), 0, 0)
        answer._outcome = outcome
        return answer

    def result(self) -> Batch:
        outcome = self._settle()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def exception(self) -> BaseException | None:
        outcome = self._settle()
        return outcome if isinstance(outcome, BaseException) else None

    def _settle(self) -> Batch | BaseException:
        if self._outcome is None:
            assert self._writer is not None
            try:
                self._writer.answer(self._number)
            except Exception as error:
                self._outcome = error
            else:
                self._outcome = _completed(self._writer.db, self._batch, self._read, self._errors)
        return self._outcome


class _WriterProcess:
    """A forked process that writes the batches sent to it (``_write_built``), ``WRITERS`` at
    a time, each on a connection of its own, and answers each with "stored" or its error.
    Forked before any thread is started here (``_may_fork``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pipe, theirs = multiprocessing.Pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the writer
            self._pipe.close()
            code = 0
            try:
                _serve_writes(db, theirs)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        self._sent = 0
        self._answers: dict[int, tuple[str, Any]] = {}

    def submit(self, built: _Built, read: int, errors: int) -> _Answer:
        number, self._sent = self._sent, self._sent + 1
        with suppress(OSError):  # the writer is gone: its answer says so (``answer``)
            self._pipe.send((number, built))
        return _Answer(self, number, built.batch, read, errors)

    def answer(self, number: int) -> None:
        """Batch ``number``'s answer, waited for: its error raised, if it met one."""
        while number not in self._answers:
            try:
                got, verdict, failure = self._pipe.recv()
            except (EOFError, OSError):  # its end of the pipe closed, or reset
                raise RuntimeError("the import's writer process ended without a word") from None
            except Exception as error:  # sent, but not to be unpickled here
                unreadable = f"what the import's writer process sent is unreadable: {error}"
                raise RuntimeError(unreadable) from error
            self._answers[got] = (verdict, failure)
        verdict, failure = self._answers.pop(number)
        if verdict != "stored":
            raise failure

    def close(self) -> None:
        """The writer told to stop once what it was sent is written or rolled back, and
        reaped; killed if this process is stopped meanwhile."""
        try:
            with suppress(OSError):
                self._pipe.send(None)
            os.waitpid(self._pid, 0)
        except BaseException:
            with suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            raise
        finally:
            self._pipe.close()


def _serve_writes(db: Database, pipe: Any) -> None:
    """The writer process: each batch received written by a thread of a pool on a
    connection of its own, answered as it is done, until told to stop (or the import's
    process is gone). The database's pooled connections are the import's process's; this
    one opens its own (``Database`` drops them in a forked child)."""
    sending = threading.Lock()

    def write(number: int, built: _Built) -> None:
        try:
            _write_built(db, built)
        except BaseException as error:
            with sending:
                try:
                    pipe.send((number, "failed", error))
                except Exception:  # an error that cannot be pickled: its kind and message
                    failed = RuntimeError(f"{type(error).__name__}: {error}")
                    pipe.send((number, "failed", failed))
            return
        with sending:
            pipe.send((number, "stored", None))

    with (
        _quick_handoffs(),
        ThreadPoolExecutor(WRITERS, thread_name_prefix="amazon-import") as pool,
        suppress(EOFError),
    ):
        while (message := pipe.recv()) is not None:
            pool.submit(write, *message)


# --- SQLite: batches built by a process of their own --------------------------------------


@dataclass
class _Built:
    """A batch built for another process to write: its rows (SQLite's statements and their
    parameters; PostgreSQL's COPY statements and their text), and the stored rows they
    refer to."""

    batch: Batch
    store_id: int
    rows: list[tuple[str, Any]]
    parents: dict[str, list[int]]


class _Stale(Exception):
    """A stored row a built batch refers to was deleted before the batch was written."""


def _may_fork(db: Database) -> bool:
    """Whether the import may build in a process of its own: on Linux (macOS's system
    libraries do not survive a fork once a network call has set them up), with the database
    in a file another process can open, and no other thread running (a fork copies only the
    calling thread, and any lock another one held)."""
    database = db.engine.url.database
    return (
        sys.platform.startswith("linux")
        and database not in (None, "", ":memory:")
        and threading.active_count() == 1
    )


def _forked(
    db: Database,
    store_id: int,
    rows: Iterable[tuple[int, ReportedReturn | RowError]],
    batch_rows: int,
    on_error: Callable[[RowError], None] | None,
) -> Iterator[Batch]:
    """The batches read and built by a forked process (``_build``) and written here, one
    transaction each, in the report's order: SQLite's inserts here overlap the reading
    and building of the next batch there. The rows it could not read come with the batch
    that covers them, for ``on_error`` here. The builder looks up in what is committed and
    builds one batch ahead, so a batch can meet a key that the one before it took (an
    order two RMAs share, an RMA the report repeats), or refer to a stored row deleted
    since: its transaction is rolled back, the builder sends its rows, and it is stored
    here looking every RMA up; the batch built after it is built again. A batch with lines
    to add to stored returns is stored here too."""
    ours, theirs = multiprocessing.Pipe()
    pid = os.fork()
    if pid == 0:  # the builder
        ours.close()
        code = 0
        try:
            _build(db, store_id, rows, batch_rows, theirs)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    generation = 0  # the builder's batches from before the last retry are stale
    try:
        while True:
            try:
                kind, made_in, payload = ours.recv()
            except EOFError:
                raise RuntimeError("the report's builder process ended without a word") from None
            except Exception as error:  # sent, but not to be unpickled here
                unreadable = f"what the report's builder sent is unreadable: {error}"
                raise RuntimeError(unreadable) from error
            if kind == "end":
                return
            if kind == "error":
                raise payload
            if made_in < generation:
                continue
            content, unread = payload
            if on_error is not None:
                for row_error in unread:
                    on_error(row_error)
            if kind == "rows":  # a batch to store here, thoroughly
                batch = _store(db, store_id, content, thorough=True)
                ours.send(("stored", generation))
                yield batch
                continue
            built, read, errors = content
            try:
                batch = _write_built(db, built)
            except Exception as error:
                if not (is_conflict(error) or isinstance(error, _Stale)):
                    raise
                log.info("a batch met a key already taken (%s); storing it again", error)
                generation += 1
                ours.send(("again", generation))
                continue
            ours.send(("stored", generation))
            yield _completed(db, batch, read, errors)
    finally:
        ours.close()
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _write_built(db: Database, built: _Built) -> Batch:
    """A built batch written in a bulk transaction, if its store and every stored row it
    refers to are still there (locked ``FOR KEY SHARE`` where the foreign-key triggers are
    off, as they would lock them; where they are on, a row deleted meanwhile fails them)."""
    with db.transaction(bulk=True) as session:
        driver = _Driver(session)
        driver.open(built.store_id)
        for table, ids in built.parents.items():
            found = driver.fetch(f"SELECT id FROM {table} WHERE id {{in}}", ids, parents=True)
            if len(found) != len(ids):
                raise _Stale(f"{table} the batch refers to are gone")
        try:
            driver.write(built.rows)
        except Exception as error:
            if getattr(error, "sqlstate", None) == FOREIGN_KEY_VIOLATION:
                raise _Stale(f"a row the batch refers to is gone: {error}") from error
            raise
    return built.batch


FOREIGN_KEY_VIOLATION = "23503"


def _build(
    db: Database,
    store_id: int,
    rows: Iterable[tuple[int, ReportedReturn | RowError]],
    batch_rows: int,
    pipe: Any,
) -> None:
    """The builder process: each batch read, looked up in what is committed and built,
    and sent to the writer with the rows it could not read, one batch ahead of what the
    writer has stored. Told a batch must be stored again, it sends that batch's returns
    for the writer to store, then builds the batch after it again. Whatever it raises is
    sent instead."""
    keys: dict[str, int] = {}  # the ends of the primary keys given out
    generation = 0
    unread: list[RowError] = []
    waiting: deque[tuple[_Pending, list[RowError]]] = deque()  # sent, not yet stored

    def send_built(item: _Pending, errors: list[RowError]) -> None:
        pending, read, skipped = item
        built: _Built | None = _Built(Batch(ImportSummary()), store_id, [], {})
        if pending:
            with db.session() as session:
                writer = _writer(session, store_id, keys)
                writer.prepare(pending)
                built = writer.built()
        if built is None:  # lines to add to stored returns: the writer stores it
            pipe.send(("rows", generation, (item, errors)))
        else:
            pipe.send(("built", generation, ((built, read, skipped), errors)))

    def settle_oldest() -> None:
        nonlocal generation
        verdict, generation = pipe.recv()
        item, _ = waiting.popleft()
        if verdict == "stored":
            return
        pipe.send(("rows", generation, (item, [])))  # told "again"; its errors were heard
        if pipe.recv()[0] != "stored":
            raise RuntimeError("the writer did not store the batch it asked for")
        for later, their_errors in waiting:
            send_built(later, their_errors)

    try:
        for item in _batches(rows, batch_rows, unread.append):
            errors, unread[:] = list(unread), []
            send_built(item, errors)
            waiting.append((item, errors))
            while len(waiting) > 1:
                settle_oldest()
        while waiting:
            settle_oldest()
        pipe.send(("end", generation, None))
    except BaseException as error:
        try:
            pipe.send(("error", generation, error))
        except Exception:  # an error that cannot be pickled: its kind and message
            with suppress(Exception):
                pipe.send(("error", generation, RuntimeError(f"{type(error).__name__}: {error}")))
        raise


@contextmanager
def _quick_handoffs() -> Iterator[None]:
    """Python's switch interval shortened while batches are written beside the building of
    the next: a writer sends its COPY text in chunks and, whenever the socket is full,
    waits without Python's lock, then needs it back; at the default 5 ms, each time the
    builder would keep it that long, and the writes would take longer than the server."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


SWITCH_INTERVAL = 0.0005  # seconds


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a report is stored: the import makes many
    small objects and no cycles, and each batch is let go as a whole, so the collector's
    passes over what is alive would cost a tenth of the import and free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_Pending = tuple[list[ReportedReturn], int, int]  # returns, rows read, rows with errors


def _batches(
    rows: Iterable[tuple[int, ReportedReturn | RowError]],
    batch_rows: int,
    on_error: Callable[[RowError], None] | None,
) -> Iterator[_Pending]:
    """The report's returns in batches of ``batch_rows``, with the count of rows each covers
    (errors included); errors go to ``on_error`` as they are met."""
    pending: list[ReportedReturn] = []
    read = errors = 0
    for _, parsed in rows:
        if isinstance(parsed, RowError):
            read += 1
            errors += 1
            if on_error is not None:
                on_error(parsed)
            continue
        read += len(parsed.lines)  # one report row per SKU of the RMA
        pending.append(parsed)
        if len(pending) >= batch_rows:
            yield pending, read, errors
            pending, read, errors = [], 0, 0
    if pending or read:
        yield pending, read, errors


def store_batch(
    session: Session, store_id: int, reported: list[ReportedReturn], *, thorough: bool = False
) -> Batch:
    """Store one batch of reported returns in ``session``'s transaction. An RMA whose order
    is new to the store is taken to be new too, and not looked up, unless ``thorough``: a
    report that named a stored RMA under another order would fail on its key, and is then
    stored again thoroughly."""
    writer = _writer(session, store_id)
    writer.prepare(reported, thorough=thorough)
    return writer.finish()


def _writer(session: Session, store_id: int, keys: dict[str, int] | None = None) -> _BatchWriter:
    """A batch's writer in ``session``'s transaction, set up for bulk writing (``_Driver.open``);
    ``NothingToDo`` if the store is gone."""
    db = _Driver(session, keys)
    return _BatchWriter(session, db, store_id, db.open(store_id))


def record_deliveries(session: Session, deliveries: Mapping[int, datetime]) -> list[FollowUp]:
    """Deliveries to the seller a report gives for returns stored before: each return still
    waiting for its parcel on Amazon's label has it delivered (``record_platform_delivery``,
    once per return and day), which receives it. In a transaction of its own, after the
    batch's, with every check and trigger the rest of Helloword has."""
    from . import logistics

    waiting = session.scalars(
        select(models.Shipment.return_id).where(
            models.Shipment.return_id.in_(list(deliveries)),
            models.Shipment.kind == OptionKind.PLATFORM_LABEL.value,
            models.Shipment.status != TrackingStatus.DELIVERED.value,
        )
    ).all()
    follow_ups: list[FollowUp] = []
    for return_id in sorted(set(waiting)):
        follow_ups += logistics.record_platform_delivery(
            session, return_id, deliveries[return_id], PLATFORM
        )
    return follow_ups


def fetch_order_details(session: Session, store_id: int, order_id: int, order: Any) -> None:
    """Replace a stub order with the Orders API's details (``upsert_order`` keeps its lines
    and adds those it lacked)."""
    from . import intake

    store = session.get(models.Store, store_id)
    row = session.get(models.Order, order_id)
    if store is None or row is None or row.store_id != store_id:
        raise NothingToDo(f"order {order_id} of store {store_id} is gone")
    intake.upsert_order(session, store, order)


def order_to_fetch(session: Session, order_id: int) -> tuple[int, str]:
    """The store and Amazon order id of an order, for ``fetch_amazon_order``."""
    row = session.get(models.Order, order_id)
    if row is None:
        raise NothingToDo(f"order {order_id} is gone")
    return row.store_id, row.external_id


# --- the store's import progress --------------------------------------------------------


def amazon_stores(session: Session) -> list[int]:
    """The active Amazon stores, whose returns the scheduled import reads."""
    return list(
        session.scalars(
            select(models.Store.id)
            .where(models.Store.platform == PLATFORM, models.Store.status == "active")
            .order_by(models.Store.id)
        )
    )


def import_window_start(session: Session, store_id: int, default: datetime) -> datetime:
    """Where the next scheduled import starts: the end of the last successful one."""
    store = session.get(models.Store, store_id)
    if store is None:
        raise NothingToDo(f"store {store_id} is gone")
    through = (store.settings.get(IMPORT_KEY) or {}).get("through")
    if not through:
        return default
    moment = datetime.fromisoformat(str(through))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def import_started(session: Session, store_id: int, since: datetime, until: datetime) -> None:
    _progress(session, store_id, status="running", since=_iso(since), until=_iso(until))


def import_finished(
    session: Session, store_id: int, until: datetime, summary: ImportSummary
) -> None:
    """A successful import: the next one starts at ``until``."""
    _progress(
        session,
        store_id,
        status="done",
        through=_iso(until),
        finished_at=_iso(utcnow()),
        error=None,
        last=summary.as_dict(),
    )


def import_failed(session: Session, store_id: int, error: str) -> None:
    _progress(session, store_id, status="failed", error=error, finished_at=_iso(utcnow()))


def needs_relinking(session: Session, store_id: int, error: str) -> None:
    """The seller's authorisation lapsed: the store shows it, and nothing queued is dropped."""
    store = _locked(session, store_id)
    if store is not None:
        store.status = "needs_relinking"
        current = dict(store.settings.get(IMPORT_KEY) or {})
        current.update(status="needs_relinking", error=error, finished_at=_iso(utcnow()))
        store.settings = {**store.settings, IMPORT_KEY: current}


# --- the batch --------------------------------------------------------------------------


@dataclass(slots=True)
class _Orders:
    """A batch's orders as looked up (``_BatchWriter._orders``)."""

    rows: dict[str, ReportedReturn]  # Amazon order id → its first row in the batch
    wanted: dict[str, dict[str, ReportedLine]]  # Amazon order id → SKU → the line named
    ids: dict[str, int]  # Amazon order id → our id: those stored, then the new ones too
    lines: dict[str, dict[str, int]]  # Amazon order id → SKU → our order line id, likewise
    fresh: list[str]  # the Amazon order ids new to the store
    missing: list[tuple[str, ReportedLine]]  # the lines to add, by Amazon order id


@dataclass(slots=True)
class _NewReturn:
    reported: ReportedReturn
    lines: dict[str, ReportedLine]  # by SKU
    clean: bool  # no text of its rows needs escaping


class _Rows:
    """How the import writes one table's rows: the columns it fills, in that order, then every
    other column with its default (so a column added to the model later is filled as an ORM
    insert would fill it). On PostgreSQL the other columns whose default the database has
    too (``server_default``) are left out, for the database to fill (``copied``)."""

    def __init__(
        self, model: type[models.Base], given: tuple[str, ...], free: tuple[str, ...] = ()
    ) -> None:
        """``free``: the given columns whose text comes from the report (or holds JSON made
        of it), so may hold anything, and is escaped for COPY."""
        self.table: Table = model.__table__  # type: ignore[assignment]
        self.name = self.table.name
        names = set(self.table.columns.keys())
        unknown = [name for name in given if name not in names]
        if unknown:
            raise RuntimeError(f"{self.name} has no column(s) {unknown}")
        self.rest = [c for c in self.table.columns if c.name not in given and c.name != "id"]
        for column in self.rest:
            if column.default is None and not column.nullable and column.server_default is None:
                raise RuntimeError(f"{self.name}.{column.name} needs a value from the import")
        self.given = given
        self.columns = given + tuple(column.name for column in self.rest)
        self.copied_rest = [c for c in self.rest if c.server_default is None]
        self.copied = given + tuple(column.name for column in self.copied_rest)
        self.free = tuple(given.index(name) for name in free)


_ORDERS = _Rows(
    models.Order,
    (
        "id",
        "merchant_id",
        "store_id",
        "external_id",
        "number",
        "currency",
        "total_minor",
        "placed_at",
        "shipping_address",
        "raw",
    ),
    free=("external_id", "number"),
)
_ORDER_LINES = _Rows(
    models.OrderLine,
    (
        "id",
        "order_id",
        "external_id",
        "sku",
        "title",
        "quantity",
        "unit_price_minor",
        "currency",
        "weight_g",
        "dimensions_mm",
    ),
    free=("external_id", "sku", "title"),
)
_RETURNS = _Rows(
    models.Return,
    (
        "id",
        "merchant_id",
        "store_id",
        "order_id",
        "external_id",
        "rma",
        "status",
        "requested_at",
        "ledger_head",
        "ledger_length",
        "refunded_at",
        "closed_at",
    ),
    free=("external_id",),
)
_RETURN_LINES = _Rows(
    models.ReturnLine,
    (
        "return_id",
        "order_line_id",
        "external_id",
        "quantity",
        "reason",
        "condition",
        "note",
    ),
    free=("external_id", "note"),
)
_LEDGER = _Rows(
    models.LedgerEvent,
    ("return_id", "seq", "kind", "payload", "actor", "occurred_at", "prev_hash", "hash"),
    free=("payload",),
)
_REFUNDS = _Rows(
    models.Refund,
    (
        "return_id",
        "sequence",
        "idempotency_key",
        "amount_minor",
        "currency",
        "status",
        "trigger",
        "issued_at",
    ),
    free=("idempotency_key",),
)


_STUB_LINE = OrderLine("", "", "", 1, Money.zero("EUR"))  # a stub's defaults: weight, size
_STUB_WEIGHT_G = int(_STUB_LINE.weight_kg * 1000)
_STUB_DIMENSIONS_MM = json.dumps([int(d * 10) for d in _STUB_LINE.dimensions_cm])


def _copy_escape(text: str) -> str:
    """Text as COPY's text format needs it: backslash, tab and line breaks escaped."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _sql_value(value: Any) -> str:
    """A constant (a column's default) as an SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def _copy_value(value: Any) -> str:
    """A constant (a column's default) in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return _copy_escape(str(value))


_SEQUENCES: dict[str, str] = {}  # table → the sequence of its primary key (PostgreSQL)


class _Driver:
    """The batch's statements given to the database driver itself, in the session's
    transaction: SQLAlchemy's per-parameter processing would cost more than the rows. Primary
    keys are taken before the inserts (PostgreSQL: the sequence's next values; SQLite: past
    the largest id, under the write lock every transaction takes), so nothing is read back.
    On PostgreSQL the rows go in by COPY, each table's text made by ``insert`` and copied in
    by ``flush`` (so a batch is built first and written after, see ``_side_by_side``); on
    SQLite by ``executemany``, there and then. JSON columns are given their JSON text,
    datetimes what the column type makes of them."""

    def __init__(self, session: Session, keys: dict[str, int] | None = None) -> None:
        """``keys``: the rows are written by another process's transaction (``_write_built``),
        so nothing is locked or set up for writing here. SQLite's are kept in ``captured``,
        and primary keys are taken past the largest stored and those given out before, whose
        ends ``keys`` keeps; PostgreSQL's keys come from the sequences as ever."""
        connection = session.connection()
        dialect = connection.dialect
        self.postgres = dialect.name == "postgresql"
        self.raw: Any = connection.connection.driver_connection
        column_type = _table(models.Return).c.requested_at.type
        stamp = column_type.dialect_impl(dialect).bind_processor(dialect)
        self._stamp: Callable[[Any], Any] = stamp or (lambda value: value)
        if self.postgres:  # COPY's text: ISO 8601 with the offset
            self._stamp = datetime.isoformat
        self._formats: dict[str, str] = {}
        self._statements: dict[str, str] = {}
        self.null: Any = "\\N" if self.postgres else None  # how a row's None is written
        self._stamps: dict[datetime, Any] = {}
        self._texts: dict[str, str] = {}
        self.locking = False  # rows found are locked FOR KEY SHARE (``bulk``)
        self._copies: list[tuple[str, str]] = []  # PostgreSQL: COPY statements and their text
        self._keys = keys
        self.captured: list[tuple[str, list[tuple[Any, ...]]]] = []  # statement, rows
        self.parents: dict[str, list[int]] = {}  # stored rows the batch refers to, by table

    def open(self, store_id: int) -> int:
        """The store's merchant, its transaction set up for bulk writing in the same
        statement; ``NothingToDo`` if the store is gone. On PostgreSQL the store and merchant
        are locked ``FOR KEY SHARE``, the commit does not wait for the disk (a batch lost to a
        crash is read again by the next import: rows are keyed by RMA), and, where the role
        may (a superuser, or ``GRANT SET ON PARAMETER session_replication_role``), the per-row
        foreign-key triggers are off for this transaction alone, as for a restore: they cost
        more than the rows themselves. The import keeps the same guarantees by construction:
        every row it writes refers to a row written in the same transaction, or to one it has
        locked ``FOR KEY SHARE`` as the trigger would (the store and merchant here, and the
        orders and lines it finds). For rows another process writes (``keys``), only the
        merchant is read."""
        if not self.postgres:
            found = self.raw.execute("SELECT merchant_id FROM stores WHERE id = ?", (store_id,))
            row = found.fetchone()
        elif self._keys is not None:  # built here, written by another process's transaction
            with self.raw.cursor() as cursor:
                cursor.execute("SELECT merchant_id FROM stores WHERE id = %s", (store_id,))
                row = cursor.fetchone()
        else:
            may = "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
            if self.raw.info.server_version >= 150000:
                may += " OR has_parameter_privilege('session_replication_role', 'SET')"
            with self.raw.cursor() as cursor:
                cursor.execute(
                    f"SELECT s.merchant_id, coalesce({may}, false) AS may, "
                    "set_config('synchronous_commit', 'off', true), "
                    f"CASE WHEN coalesce({may}, false) "
                    "THEN set_config('session_replication_role', 'replica', true) END "
                    "FROM stores s JOIN merchants m ON m.id = s.merchant_id "
                    "WHERE s.id = %s FOR KEY SHARE OF s, m",
                    (store_id,),
                )
                row = cursor.fetchone()
            if row is not None:
                self.locking = bool(row[1])
        if row is None:
            raise NothingToDo(f"store {store_id} is gone")
        return int(row[0])

    def stamp(self, value: datetime | None) -> Any:
        """A datetime as the column type binds it (aware UTC; SQLite's text)."""
        if value is None:
            return self.null
        found = self._stamps.get(value)
        if found is None:
            found = self._stamps[value] = self._stamp(value)
        return found

    def json(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def address(self, country: str) -> str:
        """The JSON text of a stub order's shipping address: only the marketplace's country,
        all the report tells (the shape an erased address keeps, ``services/privacy``; the
        order details job fills the rest in)."""
        found = self._texts.get(country)
        if found is None:
            found = self._texts[country] = self.json({"country": country})
        return found

    def order_raw(self, marketplace_id: str) -> str:
        """The JSON text of a stub order's ``raw``: where it came from."""
        key = f"raw:{marketplace_id}"
        found = self._texts.get(key)
        if found is None:
            value = {"source": "returns_report", "marketplace_id": marketplace_id}
            found = self._texts[key] = self.json(value)
        return found

    def by_key(self, table: str, store_id: int, keys: list[str]) -> dict[str, int]:
        """The ids of the store's rows of ``table`` (orders, returns) among ``keys``, their
        external ids, in one statement: its keys in one JSON parameter (which the driver
        passes as it stands), each looked up by the index on its own (the planner may not
        know the table's size in the middle of an import, and would scan the store's rows for
        every batch; ``LIMIT 1``, the key being unique, keeps it from joining the lookups
        into one such scan)."""
        if self.postgres:
            lock = " FOR KEY SHARE" if self.locking and table == "orders" else ""
            with self.raw.cursor() as cursor:
                cursor.execute(
                    "SELECT t.external_id, t.id FROM json_array_elements_text(%s::json) AS k(key) "
                    f"CROSS JOIN LATERAL (SELECT id, external_id FROM {table} "
                    f"WHERE store_id = %s AND external_id = k.key LIMIT 1{lock}) AS t",
                    (json.dumps(keys), store_id),
                )
                found = cursor.fetchall()
        else:
            found = self.raw.execute(
                f"SELECT external_id, id FROM {table} "
                "WHERE store_id = ? AND external_id IN (SELECT value FROM json_each(?))",
                (store_id, json.dumps(keys)),
            ).fetchall()
        return {str(key): int(row_id) for key, row_id in found}

    def fetch(self, sql: str, keys: list[int], *, parents: bool = False) -> list[tuple[Any, ...]]:
        """Rows of ``sql``, whose ``{in}`` is the test that a value is one of ``keys`` (one
        parameter, whatever their number); ``parents``: rows the batch's rows will refer to,
        locked as ``bulk`` says."""
        if self.postgres:
            lock = " FOR KEY SHARE" if self.locking and parents else ""
            with self.raw.cursor() as cursor:
                test = "= ANY(ARRAY(SELECT json_array_elements_text(%s::json)::int))"
                cursor.execute(sql.format(**{"in": test}) + lock, (json.dumps(keys),))
                return list(cursor.fetchall())
        query = sql.format(**{"in": "IN (SELECT value FROM json_each(?))"})
        return list(self.raw.execute(query, (json.dumps(keys),)).fetchall())

    def ids(self, *wanted: tuple[_Rows, int]) -> list[list[int]]:
        """New primary keys for each table, as many as asked, in increasing order; on
        PostgreSQL all in one statement."""
        if not self.postgres:
            taken: list[list[int]] = []
            for rows, count in wanted:
                if not count:
                    taken.append([])
                    continue
                (last,) = self.raw.execute(
                    f"SELECT coalesce(max(id), 0) FROM {rows.name}"
                ).fetchone()
                if self._keys is not None:
                    last = max(int(last), self._keys.get(rows.name, 0))
                    self._keys[rows.name] = int(last) + count
                taken.append(list(range(int(last) + 1, int(last) + 1 + count)))
            return taken
        asked = [(self._sequence(rows), count) for rows, count in wanted if count]
        if not asked:
            return [[] for _ in wanted]
        taking = "ARRAY(SELECT nextval(%s::regclass) FROM generate_series(1, %s))"
        with self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join([taking] * len(asked)),
                [value for pair in asked for value in pair],
            )
            arrays = iter(cursor.fetchone())
        return [sorted(next(arrays)) if count else [] for _, count in wanted]

    def _sequence(self, rows: _Rows) -> str:
        """The sequence of the table's primary key (asked once per process)."""
        sequence = _SEQUENCES.get(rows.name)
        if sequence is None:
            with self.raw.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", (rows.name,))
                (sequence,) = cursor.fetchone()
            _SEQUENCES[rows.name] = sequence
        return str(sequence)

    def insert(self, rows: _Rows, values: list[tuple[Any, ...]]) -> None:
        if not values:
            return
        if self.postgres:
            copying = f"COPY {rows.name} ({', '.join(rows.copied)}) FROM STDIN"
            self._copies.append((copying, self._copy_text(rows, values)))
            return
        statement = self._statements.get(rows.name)
        if statement is None:  # the other columns' defaults written into the statement
            marks = ["?"] * len(rows.given) + [_sql_value(v) for v in self._defaults(rows.rest)]
            statement = self._statements[rows.name] = (
                f"INSERT INTO {rows.name} ({', '.join(rows.columns)}) VALUES ({', '.join(marks)})"
            )
        if self._keys is not None:
            self.captured.append((statement, values))
            return
        self.raw.executemany(statement, values)

    def built(self) -> list[tuple[str, Any]]:
        """The rows ``insert`` was given, for another process's ``write``: PostgreSQL's COPY
        statements and text, or SQLite's statements and parameters."""
        return self._copies if self.postgres else self.captured

    def write(self, rows: list[tuple[str, Any]]) -> None:
        """Rows another process built (``built``), written here."""
        if self.postgres:
            self._copies = list(rows)
            self.flush()
            return
        for statement, values in rows:
            self.raw.executemany(statement, values)

    def flush(self) -> None:
        """PostgreSQL: the rows ``insert`` was given, copied in, in that order (SQLite's are
        inserted there and then)."""
        copies, self._copies = self._copies, []
        for copying, text in copies:
            with self.raw.cursor() as cursor, cursor.copy(copying) as copy:
                copy.write(text)

    def _copy_text(self, rows: _Rows, values: list[tuple[Any, ...]]) -> str:
        """The rows in COPY's text format, written here rather than value by value by the
        driver (several times faster): each row through one format string. Its values are
        ready for it: numbers, text made here, ``null`` for None, stamps as ISO 8601, and the
        report's text escaped (``escaped``) where its row was not clean."""
        form = self._formats.get(rows.name)
        if form is None:
            rest = "".join(f"\t{_copy_value(v)}" for v in self._defaults(rows.copied_rest))
            form = "\t".join(["%s"] * len(rows.given)) + rest.replace("%", "%%") + "\n"
            self._formats[rows.name] = form
        return "".join([form % value for value in values])

    def escaped(self, rows: _Rows, value: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row of ``rows`` whose report text may hold what COPY escapes (a backslash, a line
        break, a tab), escaped there; as it is for SQLite."""
        if not self.postgres:
            return value
        cells = list(value)
        for index in rows.free:
            if isinstance(cells[index], str):
                cells[index] = _copy_escape(cells[index])
        return tuple(cells)

    def _defaults(self, columns: Iterable[Any]) -> tuple[Any, ...]:
        return tuple(self._default(column) for column in columns)

    def _default(self, column: Any) -> Any:
        default = column.default
        if default is None:
            return None
        value = default.arg(None) if default.is_callable else default.arg
        if value is None:
            return None
        if isinstance(column.type, JSON):
            return self.json(value)
        if isinstance(value, datetime):
            return self.stamp(value)
        return value


class _BatchWriter:
    """Stores one batch with a fixed number of statements: look-ups by key list, primary keys
    taken beforehand, and one bulk insert per table (the ledger's hash chains computed here,
    so each new return is written once, with its RMA and ledger head)."""

    def __init__(self, session: Session, db: _Driver, store_id: int, merchant_id: int) -> None:
        self.session = session
        self.db = db
        self.now = utcnow()
        self._merchant_id, self._store_id = merchant_id, store_id
        self.summary = ImportSummary()
        self.open_returns: list[int] = []
        self.new_orders: list[int] = []
        self._units: dict[tuple[Any, str, int], tuple[int, str]] = {}
        self.deliveries: dict[int, datetime] = {}
        self._lines_of_order: dict[str, dict[str, int]] = {}
        self._additions: dict[int, list[tuple[str, str, ReportedLine]]] = {}

    def prepare(self, reported: list[ReportedReturn], *, thorough: bool = False) -> None:
        """The batch looked up and its rows built, to be written by ``finish``."""
        if not reported:
            return
        orders = self._orders(reported)
        new, self._additions = self._returns(reported, set() if thorough else set(orders.fresh))
        order_ids, line_ids, return_ids = self.db.ids(
            (_ORDERS, len(orders.fresh)), (_ORDER_LINES, len(orders.missing)), (_RETURNS, len(new))
        )
        self._insert_orders(orders, order_ids, line_ids)
        self._lines_of_order = orders.lines
        self._insert_returns(new, orders.ids, orders.lines, return_ids)

    def finish(self) -> Batch:
        """The batch's rows written, in the order they were built."""
        self.db.flush()
        self._add_lines(self._additions, self._lines_of_order)
        return Batch(self.summary, self._follow_ups(), self.deliveries)

    def built(self) -> _Built | None:
        """The batch as another process writes it (``_forked``), or None when it has lines
        to add to stored returns, which only the writing transaction can do."""
        if self._additions:
            return None
        batch = Batch(self.summary, self._follow_ups(), self.deliveries)
        return _Built(batch, self._store_id, self.db.built(), self.db.parents)

    def _follow_ups(self) -> list[FollowUp]:
        """One job per batch, which queues ``decide_return`` for each open return and
        ``fetch_amazon_order`` for each new order: queueing them one by one here would make
        the import wait on Redis for every row."""
        if not self.open_returns and not self.new_orders:
            return []
        first = min(self.open_returns or self.new_orders)
        sizes = f"{len(self.open_returns)}:{len(self.new_orders)}"
        key = f"dispatch_amazon_batch:{self._store_id}:{first}:{sizes}"
        return [FollowUp("dispatch_amazon_batch", (self.open_returns, self.new_orders), key)]

    # orders ------------------------------------------------------------------------------

    def _orders(self, reported: list[ReportedReturn]) -> _Orders:
        """The batch's orders looked up: those stored before with the lines they have, and
        what the store lacks (the orders new to it, and the SKU lines of any order)."""
        db = self.db
        orders: dict[str, ReportedReturn] = {}
        wanted: dict[str, dict[str, ReportedLine]] = {}
        for row in reported:
            key = row.order_external_id
            skus = wanted.get(key)
            if skus is None:
                orders[key] = row
                skus = wanted[key] = {}
            for line in row.lines:
                known = skus.get(line.sku)
                if known is None or line.ordered > known.ordered:
                    skus[line.sku] = line
        ids = db.by_key("orders", self._store_id, list(orders))
        found: dict[str, dict[str, int]] = {key: {} for key in orders}
        if ids:  # only orders stored before have lines already
            by_id = {order_id: key for key, order_id in ids.items()}
            lines = db.fetch(
                "SELECT id, order_id, external_id FROM order_lines WHERE order_id {in}",
                list(by_id),
                parents=True,
            )
            for line_id, order_id, external_id in lines:
                found[by_id[order_id]][external_id] = int(line_id)
            db.parents = {"orders": list(by_id), "order_lines": [int(row[0]) for row in lines]}
        missing = [
            (key, line)
            for key, skus in wanted.items()
            for sku, line in skus.items()
            if sku not in found[key]
        ]
        fresh = [key for key in orders if key not in ids]
        return _Orders(orders, wanted, ids, found, fresh, missing)

    def _insert_orders(self, orders: _Orders, order_ids: list[int], line_ids: list[int]) -> None:
        """Stubs for the orders new to the store and the lines any order lacks, under the
        keys taken for them; ``orders`` then holds every id."""
        ids, found = orders.ids, orders.lines
        if orders.fresh:
            stubs = []
            for key, order_id in zip(orders.fresh, order_ids, strict=True):
                ids[key] = order_id
                stubs.append(self._stub(order_id, orders.rows[key], orders.wanted[key]))
                self.new_orders.append(order_id)
            self.db.insert(_ORDERS, stubs)
            self.summary.orders_new += len(orders.fresh)
        if orders.missing:
            values = []
            for (key, line), line_id in zip(orders.missing, line_ids, strict=True):
                found[key][line.sku] = line_id
                values.append(self._line(line_id, ids[key], line, orders.rows[key].currency))
            self.db.insert(_ORDER_LINES, values)

    def _stub(
        self, order_id: int, row: ReportedReturn, lines: Mapping[str, ReportedLine]
    ) -> tuple[Any, ...]:
        db, currency = self.db, row.currency
        total = 0
        for line in lines.values():
            minor, in_currency = self._unit(line, currency)
            if in_currency == currency:
                total += minor * line.ordered
        value = (
            order_id,
            self._merchant_id,
            self._store_id,
            row.order_external_id,
            row.order_external_id,
            currency,
            total or row.total.minor,
            db.stamp(row.placed_at),
            db.address(row.country),
            db.order_raw(row.marketplace_id),
        )
        return value if row.clean else db.escaped(_ORDERS, value)

    def _line(
        self, line_id: int, order_id: int, line: ReportedLine, currency: str
    ) -> tuple[Any, ...]:
        minor, in_currency = self._unit(line, currency)
        value = (
            line_id,
            order_id,
            line.sku,
            line.sku,
            line.title[:500],
            line.ordered,
            minor,
            in_currency,
            _STUB_WEIGHT_G,
            _STUB_DIMENSIONS_MM,
        )
        return value if line.clean else self.db.escaped(_ORDER_LINES, value)

    def _unit(self, line: ReportedLine, currency: str) -> tuple[int, str]:
        """The line's unit price in minor units and its currency, worked out once per
        amount and quantity."""
        amount = line.amount
        key = (amount.amount, amount.currency, line.ordered) if amount else (None, currency, 0)
        found = self._units.get(key)
        if found is None:
            unit = line.unit_price(currency)
            found = self._units[key] = (unit.minor, unit.currency)
        return found

    # returns -----------------------------------------------------------------------------

    def _returns(
        self, reported: list[ReportedReturn], new_orders: set[str]
    ) -> tuple[dict[str, _NewReturn], dict[int, list[tuple[str, str, ReportedLine]]]]:
        """The batch's returns split into new ones (rows of one RMA joined) and lines to add
        to returns stored before. The RMAs of ``new_orders`` are not looked up: no stored
        return can be of an order stored only now."""
        db = self.db
        keys = list(
            {row.external_id: None for row in reported if row.order_external_id not in new_orders}
        )
        stored = db.by_key("returns", self._store_id, keys) if keys else {}
        stored_lines: dict[int, set[str]] = {return_id: set() for return_id in stored.values()}
        if stored:
            for return_id, external_id in db.fetch(
                "SELECT return_id, external_id FROM return_lines WHERE return_id {in}",
                list(stored.values()),
            ):
                stored_lines[int(return_id)].add(external_id)
        new: dict[str, _NewReturn] = {}
        additions: dict[int, list[tuple[str, str, ReportedLine]]] = {}
        for row in reported:
            key = row.external_id
            if key in stored:
                if row.delivered_at is not None and _platform_label(row):
                    self.deliveries[stored[key]] = row.delivered_at
                have = stored_lines[stored[key]]
                lacking = [
                    (row.order_external_id, key, line)
                    for line in row.lines
                    if f"{key}:{line.sku}" not in have
                ]
                have.update(f"{key}:{line.sku}" for _, _, line in lacking)
                if lacking:
                    additions.setdefault(stored[key], []).extend(lacking)
                else:
                    self.summary.returns_seen += 1
                continue
            item = new.get(key)
            if item is not None:  # the same RMA further down the same batch
                for line in row.lines:
                    item.lines.setdefault(line.sku, line)
                item.clean = item.clean and row.clean
                continue
            if len(row.lines) == 1:
                (line,) = row.lines
                new[key] = _NewReturn(row, {line.sku: line}, row.clean)
            else:
                new[key] = _NewReturn(row, {line.sku: line for line in row.lines}, row.clean)
        return new, additions

    def _insert_returns(
        self,
        new: dict[str, _NewReturn],
        order_ids: dict[str, int],
        lines_of_order: dict[str, dict[str, int]],
        return_ids: list[int],
    ) -> None:
        if not new:
            return
        db = self.db
        merchant_id, store_id = self._merchant_id, self._store_id
        occurred = self.now.astimezone(UTC).replace(microsecond=0)
        occurred_at = db.stamp(occurred)
        returns, line_values, refunds, events = [], [], [], []
        heads = {
            (kind, actor): _event_head(kind, actor, occurred)
            for kind, actor in (
                (EventKind.RETURN_REQUESTED.value, "buyer"),
                (EventKind.REFUND_ISSUED.value, PLATFORM),
                *((event.value, PLATFORM) for event in _FINAL_EVENT.values()),
            )
        }
        requested_kind = EventKind.RETURN_REQUESTED.value
        refund_kind = EventKind.REFUND_ISSUED.value
        requested_head = heads[requested_kind, "buyer"]
        stamp, null, escaped, sha256 = db.stamp, db.null, db.escaped, hashlib.sha256
        genesis, closed, opened = ledger.GENESIS, Status.CLOSED, Status.REQUESTED
        open_returns = self.open_returns
        history = 0
        for (key, item), return_id in zip(new.items(), return_ids, strict=True):
            row = item.reported
            status = _stored_status(row)
            order_lines = lines_of_order[row.order_external_id]
            lines = item.lines.values()
            clean = item.clean
            for line in lines:
                value = _return_line(return_id, order_lines, key, line)
                line_values.append(value if clean else escaped(_RETURN_LINES, value))
            rma = _rma(return_id)
            text = _requested(rma, row, lines)
            body = f'{requested_head}{text},"return_id":{return_id},"seq":1}}'
            head = sha256((genesis + body).encode()).hexdigest()
            event = (return_id, 1, requested_kind, text, "buyer", occurred_at, genesis, head)
            events.append(event if clean else escaped(_LEDGER, event))
            length = 1
            refunded_at = closed_at = null
            if status is opened:
                open_returns.append(return_id)
            else:  # settled on Amazon: what Amazon did follows the request in the ledger
                history += 1
                at = stamp(row.delivered_at or row.requested_at)
                chain = []
                if row.refunded is not None:
                    refunded_at = at
                    chain.append((refund_kind, _refund_payload(row), PLATFORM))
                    value = (
                        return_id,
                        1,
                        f"amazon-report:{store_id}:{key}",
                        row.refunded.minor,
                        row.refunded.currency,
                        "issued",
                        "platform",
                        at,
                    )
                    refunds.append(value if clean else escaped(_REFUNDS, value))
                if status is closed:
                    closed_at = at
                chain.append((_FINAL_EVENT[status].value, _settled(row, status), PLATFORM))
                for kind, text, actor in chain:
                    length += 1
                    prev = head
                    head = _event_hash(prev, return_id, length, heads[kind, actor], text)
                    event = (return_id, length, kind, text, actor, occurred_at, prev, head)
                    events.append(event if clean else escaped(_LEDGER, event))
            value = (
                return_id,
                merchant_id,
                store_id,
                order_ids[row.order_external_id],
                key,
                rma,
                status,
                stamp(row.requested_at),
                head,
                length,
                refunded_at,
                closed_at,
            )
            returns.append(value if clean else escaped(_RETURNS, value))
        self.summary.returns_history += history
        self.summary.returns_open += len(new) - history
        self.summary.returns_new += len(new)
        db.insert(_RETURNS, returns)
        db.insert(_RETURN_LINES, line_values)
        db.insert(_LEDGER, events)
        db.insert(_REFUNDS, refunds)

    def _add_lines(
        self,
        additions: dict[int, list[tuple[str, str, ReportedLine]]],
        lines_of_order: dict[str, dict[str, int]],
    ) -> None:
        """Lines a stored return lacked (a report that split its rows differently): added
        under the return's lock, with a ledger event naming them. Rare, so one at a time."""
        for return_id, lines in additions.items():
            return_ = self.session.get(models.Return, return_id, with_for_update=True)
            if return_ is None:
                continue
            for order_key, key, line in lines:
                values = _return_line(return_id, lines_of_order[order_key], key, line)
                named = dict(zip(_RETURN_LINES.given, values, strict=True))
                self.session.add(models.ReturnLine(**named))
            ledger.append(
                self.session,
                return_,
                EventKind.PLATFORM_UPDATED,
                {
                    "source": SOURCE,
                    "lines_added": [
                        {"line": line.sku, "quantity": line.quantity} for _, _, line in lines
                    ],
                },
                actor=PLATFORM,
            )
            self.summary.lines_added += len(lines)
        self.session.flush()


def _stored_status(row: ReportedReturn) -> Status:
    """REQUESTED for a seller-fulfilled return still open on Amazon and not refunded (the
    policy decides it); otherwise what Amazon settled: CLOSED, DECLINED or CANCELED."""
    if row.fulfilment != "MFN" or row.refunded is not None:
        return Status.CLOSED
    if row.status in OPEN_ON_AMAZON:
        return Status.REQUESTED
    return row.status if row.status in _FINAL_EVENT else Status.CLOSED


# --- the ledger's payloads ----------------------------------------------------------------
#
# A new return's ledger is its request and, for a settled one, what Amazon did. Each payload
# is written here as its canonical JSON (``ledger.canonical_json``: keys sorted, no spaces,
# text unescaped), which is both what is hashed and what is stored, as ``ledger.append``
# does; building the text directly spares a dict and a sorting encoder per event.


def _platform_label(row: ReportedReturn) -> dict[str, Any]:
    """The return label Amazon gave the buyer of a seller-fulfilled return, when the report
    names its tracking: routing then buys no label of its own (``services/logistics``)."""
    if row.fulfilment != "MFN" or not row.tracking_number:
        return {}
    label: dict[str, Any] = {
        "carrier": row.carrier or "amazon",
        "tracking_number": row.tracking_number,
    }
    if row.label_cost is not None and row.label_paid_by.lower() == "seller":
        label["cost"] = {"amount": str(row.label_cost.amount), "currency": row.label_cost.currency}
    if row.delivered_at is not None:  # the parcel reached the seller already
        label["delivered_at"] = row.delivered_at.isoformat()
    return {"platform_label": label}


def _requested(rma: str, row: ReportedReturn, lines: Iterable[ReportedLine]) -> str:
    """The canonical JSON of the request's payload: ``{"amazon": {...}, "lines": [...],
    "order": …, "platform_label": {...}, "rma": …, "source": …}``. What rows share (their
    status, marketplace, carrier, label cost…) is written once per kind of row."""
    key = (
        row.a_to_z_claim,
        row.fulfilment,
        row.in_policy,
        row.label_cost,
        row.label_paid_by,
        row.marketplace_id,
        row.amazon_status,
        bool(row.tracking_number),
        row.carrier,
        row.delivered_at,
    )
    parts = _PARTS.get(key)
    if parts is None:
        parts = _request_parts(row)
        if len(_PARTS) < _TEXTS_KEPT:
            _PARTS[key] = parts
    head, middle, label = parts
    text = _quoted if row.clean else _text  # a clean row's text needs no escaping
    tracking = text(row.tracking_number) if row.tracking_number else ""
    items = ",".join([_line_text(line) for line in lines])
    return (
        f'{head}{row.line_number}{middle}{tracking}{"}" if tracking else ""}}},"lines":[{items}],'
        f'"order":{text(row.order_external_id)},{label}{tracking}{"}," if label else ""}'
        f'"rma":"{rma}","source":"{SOURCE}"}}'
    )


_PARTS: dict[tuple[Any, ...], tuple[str, str, str]] = {}
_LINES: dict[tuple[str, int, str], str] = {}


def _request_parts(row: ReportedReturn) -> tuple[str, str, str]:
    """The request payload's text around a row's own values (line number, tracking number):
    up to ``"line_number":``, from there up to the tracking number, and the platform label
    up to its tracking number (empty when there is none). Keys in sorted order."""
    head = ['"a_to_z_claim":true'] if row.a_to_z_claim else []
    head.append(f'"fulfilment":{_text(row.fulfilment)}')
    if not row.in_policy:
        head.append('"in_policy":false')
    if row.label_cost is not None:
        head.append(f'"label_cost":{_text(str(row.label_cost))}')
        head.append(f'"label_paid_by":{_text(row.label_paid_by)}')
    head.append('"line_number":')
    middle = f',"marketplace_id":{_text(row.marketplace_id)},"status":{_text(row.amazon_status)}'
    if row.tracking_number:
        middle += f',"tracking":{{"carrier":{_text(row.carrier)},"number":'
    label = _platform_label(row).get("platform_label")
    shown = ""
    if label is not None:
        cost = label.get("cost")
        priced = (
            f'"cost":{{"amount":{_text(cost["amount"])},"currency":{_text(cost["currency"])}}},'
            if cost
            else ""
        )
        if "delivered_at" in label:
            priced += f'"delivered_at":{_text(label["delivered_at"])},'
        shown = f'"platform_label":{{"carrier":{_text(label["carrier"])},{priced}"tracking_number":'
    return '{"amazon":{' + ",".join(head), middle, shown


def _line_text(line: ReportedLine) -> str:
    key = (line.sku, line.quantity, line.reason.value)
    found = _LINES.get(key)
    if found is None:
        found = (
            f'{{"line":{_text(line.sku)},"quantity":{line.quantity},'
            f'"reason":{_text(line.reason.value)}}}'
        )
        if len(_LINES) < _TEXTS_KEPT:
            _LINES[key] = found
    return found


def _refund_payload(row: ReportedReturn) -> str:
    return f'{{"amount":{_known(str(row.refunded))},"by":"{PLATFORM}","source":"{SOURCE}"}}'


def _settled(row: ReportedReturn, status: Status) -> str:
    outcome = ',"outcome":"declined"' if status is Status.DECLINED else ""
    return (
        f'{{"amazon_status":{_known(row.amazon_status)},"by":"{PLATFORM}",'
        f'"fulfilment":{_known(row.fulfilment)}{outcome}}}'
    )


def _quoted(value: str) -> str:
    return f'"{value}"'


def _text(value: str) -> str:
    """A JSON string as ``ledger.canonical_json`` writes it (non-ASCII left as it is)."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


_TEXTS: dict[str, str] = {}
_TEXTS_KEPT = 10_000


def _known(value: str) -> str:
    """``_text`` of a value that repeats from row to row (a status, a carrier, a SKU), made
    once each."""
    found = _TEXTS.get(value)
    if found is None:
        found = _text(value)
        if len(_TEXTS) < _TEXTS_KEPT:
            _TEXTS[value] = found
    return found


def _event_hash(prev: str, return_id: int, seq: int, head: str, payload: str) -> str:
    """``ledger.event_hash`` of an event whose payload's canonical JSON is made already, as
    is the start of its body (``_event_head``): the same canonical body, keys in order,
    without encoding the payload a second time."""
    body = f'{head}{payload},"return_id":{return_id},"seq":{seq}}}'
    return hashlib.sha256((prev + body).encode()).hexdigest()


def _event_head(kind: str, actor: str, occurred_at: datetime) -> str:
    """The canonical body of a ledger event up to its payload: actor, kind and moment."""
    moment = ledger.canonical_json(occurred_at.isoformat())
    return f'{{"actor":{_text(actor)},"kind":{_text(kind)},"occurred_at":{moment},"payload":'


def _return_line(
    return_id: int, order_lines: Mapping[str, int], key: str, line: ReportedLine
) -> tuple[Any, ...]:
    """A return line's values, in ``_RETURN_LINES``' column order."""
    return (
        return_id,
        order_lines[line.sku],
        f"{key}:{line.sku}",
        line.quantity,
        line.reason,  # a StrEnum: its own value
        line.condition,
        line.note,
    )


def _table(model: type[models.Base]) -> Table:
    table: Table = model.__table__  # type: ignore[assignment]
    return table


def _rma(return_id: int) -> str:
    return f"R{return_id:07d}"


def _locked(session: Session, store_id: int) -> models.Store | None:
    return session.scalars(
        select(models.Store)
        .where(models.Store.id == store_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _progress(session: Session, store_id: int, **changes: Any) -> None:
    store = _locked(session, store_id)
    if store is None:
        return
    current = dict(store.settings.get(IMPORT_KEY) or {})
    merged = {k: v for k, v in {**current, **changes}.items() if v is not None}
    store.settings = {**store.settings, IMPORT_KEY: merged}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
