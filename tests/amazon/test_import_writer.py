"""PostgreSQL's import beside a forked writer process: each batch is looked up and built in
the import's process and written by the writer, two at a time, each on a connection of its
own. Run on the suite's database; each test forks the writer whatever threads other tests
left running."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from connector.db import models
from connector.errors import NothingToDo
from connector.ledger import verify_all
from connector.runtime import Runtime
from connector.services import amazon_import
from platforms.amazon import RowError, file_lines, parse_returns_report

from .conftest import GERMANY, gone, line_keys, link
from .test_import import _shared_orders, count, report


def imported(
    runtime: Runtime, store_id: int, path: Path, *, batch_rows: int = 7, **how: Any
) -> amazon_import.ImportSummary:
    """The report imported beside a forked writer."""
    with pytest.MonkeyPatch.context() as patch, path.open("rb") as handle:
        patch.setattr(amazon_import, "_may_fork", lambda _: True)
        return amazon_import.import_rows(
            runtime.db,
            store_id,
            parse_returns_report(file_lines(handle), GERMANY),
            batch_rows=batch_rows,
            **how,
        )


def returns_of(runtime: Runtime) -> set[str]:
    with runtime.db.session() as session:
        return set(session.scalars(select(models.Return.external_id)))


def test_a_report_written_by_a_process_of_its_own_is_stored_whole(
    runtime: Runtime, tmp_path: Path, forks: list[int]
) -> None:
    store_id = link(runtime)
    errors: list[RowError] = []
    batches: list[amazon_import.Batch] = []

    summary = imported(
        runtime,
        store_id,
        report(tmp_path, 40),
        on_error=errors.append,
        on_batch=batches.append,
    )

    assert (summary.rows, summary.returns_new, summary.orders_new, summary.errors) == (
        42,
        40,
        40,
        2,
    )
    assert [error.line_number for error in errors] == [4, 43]
    assert [batch.summary.rows for batch in batches] == [8, 7, 7, 7, 7, 6]  # in the report's order
    assert [f.job for batch in batches for f in batch.follow_ups] == ["dispatch_amazon_batch"] * 6
    assert count(runtime, models.Return) == count(runtime, models.ReturnLine) == 40
    with runtime.db.session() as session:
        assert all(breach is None for _, breach in verify_all(session))
    assert len(forks) == 1 and gone(forks)
    assert runtime.db.engine.pool.checkedout() == 0


def test_a_batch_that_lost_a_key_to_the_batch_beside_it_is_stored_here(
    runtime: Runtime,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    forks: list[int],
) -> None:
    """RMAs three rows apart share an order: with batches of two, two batches written side
    by side both hold an order new to the store. One loses its key, is rolled back and
    stored here, looking the order up; rows that cannot be read are heard once each, in
    order."""
    path = _shared_orders(tmp_path / "shared.tsv", 60)
    lines = path.read_text(encoding="utf-8").splitlines()
    for at in (4, 20, 41):
        lines.insert(at, "not\ta\trow")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store_id = link(runtime)
    heard: list[int] = []

    with caplog.at_level("INFO", logger=amazon_import.__name__):
        summary = imported(
            runtime,
            store_id,
            path,
            batch_rows=2,
            on_error=lambda error: heard.append(error.line_number),
        )

    assert "storing it again" in caplog.text
    assert (summary.returns_new, summary.orders_new, summary.errors) == (60, 30, 3)
    assert heard == [5, 21, 42]
    with runtime.db.session() as session:
        keys = list(session.scalars(select(models.Order.external_id)))
        assert len(keys) == len(set(keys)) == 30
        assert all(breach is None for _, breach in verify_all(session))
    assert forks and gone(forks)


def test_lines_a_stored_return_lacks_are_added_by_the_imports_own_process(
    runtime: Runtime, tmp_path: Path, forks: list[int]
) -> None:
    """A later report that gives a stored RMA a second SKU: only a transaction that locks
    the return can add a line to it, so that batch is stored here, after the one before."""
    store_id = link(runtime)
    first = report(tmp_path, 10)
    imported(runtime, store_id, first)
    header, *rows = first.read_text(encoding="utf-8").splitlines()
    [row] = [row for row in rows if "\tRMA00004\t" in row]
    more = tmp_path / "more.tsv"
    fresh = row.replace("RMA00004", "RMA00099").replace("302-0000004", "302-0000099")
    more.write_text(f"{header}\n{fresh}\n{row.replace('SKU-4', 'SKU-EXTRA')}\n", encoding="utf-8")

    summary = imported(runtime, store_id, more, batch_rows=1)

    assert (summary.lines_added, summary.returns_new) == (1, 1)
    with runtime.db.session() as session:
        assert line_keys(session, "RMA00004") == {"RMA00004:SKU-4", "RMA00004:SKU-EXTRA"}
        assert all(breach is None for _, breach in verify_all(session))
    assert len(forks) == 2 and gone(forks)


def test_a_stored_order_deleted_before_the_write_is_looked_up_again_here(
    runtime: Runtime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    forks: list[int],
) -> None:
    """The builder found a stored order a new RMA belongs to; before the writer writes the
    RMA, the order is deleted (its returns with it). The writer finds the order gone and
    writes nothing of the batch; it is stored here, looking every RMA up, under a new stub
    order."""
    store_id = link(runtime)
    first = report(tmp_path, 3)
    imported(runtime, store_id, first)
    header, *rows = first.read_text(encoding="utf-8").splitlines()
    row = next(row for row in rows if "\tRMA00001\t" in row)  # the readable one
    later = tmp_path / "later.tsv"
    later.write_text(f"{header}\n{row.replace('RMA00001', 'RMA00077')}\n", encoding="utf-8")
    write_built = amazon_import._write_built

    def order_deleted_first(db: Any, built: Any) -> Any:  # in the writer process
        deleted = built.parents["orders"]
        with db.transaction() as session:
            session.execute(delete(models.Return).where(models.Return.order_id.in_(deleted)))
            session.execute(delete(models.Order).where(models.Order.id.in_(deleted)))
        return write_built(db, built)

    monkeypatch.setattr(amazon_import, "_write_built", order_deleted_first)
    with caplog.at_level("INFO", logger=amazon_import.__name__):
        summary = imported(runtime, store_id, later)

    assert "a row gone" in caplog.text
    assert (summary.returns_new, summary.orders_new) == (1, 1)
    assert returns_of(runtime) == {"RMA00000", "RMA00002", "RMA00077"}
    with runtime.db.session() as session:
        [order] = session.scalars(
            select(models.Order).where(models.Order.external_id == "302-0000001-0000001")
        )
        assert [r.external_id for r in session.scalars(select(models.Return).where(
            models.Return.order_id == order.id))] == ["RMA00077"]  # fmt: skip
    assert forks and gone(forks)


@pytest.mark.parametrize("stage", ["building", "writing"])
def test_a_batch_that_cannot_be_stored_stops_the_import(
    runtime: Runtime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forks: list[int],
    stage: str,
) -> None:
    """An error that is no conflict over a key, met building a batch here or writing it in
    the writer, ends the import with that error: the batch is rolled back, the batches
    before it stay, and the writer is gone, with no connection left behind here."""
    store_id = link(runtime)

    def disk_full(*_: Any) -> None:
        raise RuntimeError("the disk is full")

    def doomed(batch: list[Any]) -> bool:
        return any(getattr(row, "external_id", "") == "RMA00020" for row in batch)

    if stage == "building":
        built = amazon_import._built

        def failing(db: Any, store_id: int, pending: list[Any]) -> Any:
            if doomed(pending):
                disk_full()
            return built(db, store_id, pending)

        monkeypatch.setattr(amazon_import, "_built", failing)
    else:
        write_built = amazon_import._write_built

        def failing_there(db: Any, built: Any) -> Any:  # in the writer process
            if any("RMA00020" in text for _, text in built.rows):
                disk_full()
            return write_built(db, built)

        monkeypatch.setattr(amazon_import, "_write_built", failing_there)

    with pytest.raises(RuntimeError, match="disk is full"):
        imported(runtime, store_id, report(tmp_path, 30))  # batches of 7: the third fails

    stored = returns_of(runtime)
    assert {f"RMA{n:05d}" for n in range(14)} <= stored
    assert not {f"RMA{n:05d}" for n in range(14, 21)} & stored
    assert forks and gone(forks)
    assert runtime.db.engine.pool.checkedout() == 0


def test_the_import_stops_with_what_stops_it_and_the_writer_is_gone(
    runtime: Runtime, tmp_path: Path, forks: list[int]
) -> None:
    store_id = link(runtime)
    path = report(tmp_path, 40)

    with pytest.raises(NothingToDo, match="store 999 is gone"):
        imported(runtime, 999, path)
    assert forks and gone(forks)

    def stop(batch: amazon_import.Batch) -> None:
        raise RuntimeError("the progress bar was closed")

    with pytest.raises(RuntimeError, match="progress bar"):
        imported(runtime, store_id, path, on_batch=stop)
    assert len(forks) == 2 and gone(forks)
    # the first batch was heard of; those sent beside it were written or rolled back whole
    assert count(runtime, models.Return) % 7 == 0 and count(runtime, models.Return) >= 7
    assert runtime.db.engine.pool.checkedout() == 0


def test_an_error_the_writer_cannot_send_as_it_is_arrives_by_kind_and_message(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    class Vanished(Exception):
        def __init__(self) -> None:
            super().__init__("the connection was cut")
            self.retry = lambda: None  # no pickle carries a lambda

    def write_built(*_: Any) -> None:  # in the writer process
        raise Vanished()

    monkeypatch.setattr(amazon_import, "_write_built", write_built)

    with pytest.raises(RuntimeError, match="Vanished: the connection was cut"):
        imported(runtime, link(runtime), report(tmp_path, 10))
    assert forks and gone(forks)


def test_a_writer_that_dies_ends_the_import_with_the_reason(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    def killed(*_: Any) -> None:  # in the writer process: as the kernel's OOM killer would
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(amazon_import, "_write_built", killed)

    with pytest.raises(RuntimeError, match="writer process ended without a word"):
        imported(runtime, link(runtime), report(tmp_path, 10))
    assert forks and gone(forks)
    assert count(runtime, models.Return) == 0


def test_the_writer_is_forked_only_where_a_fork_is_safe(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Linux, with no other thread running; otherwise threads write the batches."""
    import sys

    monkeypatch.setattr(amazon_import.threading, "active_count", lambda: 1)
    assert amazon_import._may_fork(runtime.db) is sys.platform.startswith("linux")

    monkeypatch.undo()
    running = threading.Event()
    other = threading.Thread(target=running.wait, name="another")
    other.start()
    try:
        assert not amazon_import._may_fork(runtime.db)
    finally:
        running.set()
        other.join()


def test_a_row_gone_that_the_row_triggers_find_is_looked_up_again_here(
    runtime: Runtime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    forks: list[int],
) -> None:
    """Where the role keeps the per-row foreign-key triggers, the writer does not lock the
    rows a batch refers to; one deleted meanwhile fails the triggers, and the batch is
    stored here, looking every RMA up."""

    class ForeignKeyViolation(Exception):
        sqlstate = "23503"

    def write(*_: Any) -> None:  # in the writer process
        raise ForeignKeyViolation('insert on table "returns" violates foreign key constraint')

    monkeypatch.setattr(amazon_import._Driver, "write", write)
    with caplog.at_level("INFO", logger=amazon_import.__name__):
        summary = imported(runtime, link(runtime), report(tmp_path, 10))

    assert "a row gone" in caplog.text
    assert summary.returns_new == 10 and count(runtime, models.Return) == 10
    assert forks and gone(forks)
