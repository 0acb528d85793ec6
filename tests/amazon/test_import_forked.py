"""The SQLite import's two processes: a forked builder reads and builds each batch while
this process writes the one before. Whatever the suite's database, these run on SQLite files
of their own, each import beside the same one stored batch after batch in one process."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select, text

from connector import create_app, jobs
from connector.config import Settings
from connector.crypto import Vault
from connector.db import Database, models
from connector.errors import NothingToDo
from connector.ledger import verify_all
from connector.services import amazon_import, merchants
from migrations import upgrade
from platforms.amazon import NeedsRelinking, RowError, file_lines, parse_returns_report
from tests.contract.amazon_store import FakeAmazon

from .conftest import FIXTURES, GERMANY, MERCHANT, SELLER, gone, line_keys, link
from .test_import import _shared_orders, report

TABLES = {
    "orders": "id, store_id, external_id, number, currency, total_minor, placed_at",
    "order_lines": "id, order_id, external_id, sku, title, quantity, unit_price_minor",
    "returns": "id, order_id, external_id, rma, status, requested_at, ledger_length",
    "return_lines": "id, return_id, order_line_id, external_id, quantity, reason, note",
    "ledger_events": "id, return_id, seq, kind, payload, actor",
    "refunds": "id, return_id, sequence, idempotency_key, amount_minor, status",
}


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Callable[[str], tuple[Database, int]]]:
    """Fresh SQLite files, each with the seller's account linked."""
    opened: list[Database] = []

    def fresh(name: str) -> tuple[Database, int]:
        url = f"sqlite:///{tmp_path / name}.sqlite3"
        upgrade(url)
        db = Database(url)
        opened.append(db)
        with db.transaction() as session:
            merchant = merchants.create_merchant(session, "Nordic Knits", "EUR")
            store = merchants.link_store(
                session,
                Vault((Fernet.generate_key().decode(),)),
                merchant,
                "amazon",
                SELLER,
                secrets={"refresh_token": "Atzr|IwEBI"},
                settings={"region": "eu", "marketplace_ids": [GERMANY]},
            )
            return db, store.id

    yield fresh
    for db in opened:
        db.dispose()


def imported(
    db: Database, store_id: int, path: Path, *, forked: bool, batch_rows: int = 7, **how: Any
) -> amazon_import.ImportSummary:
    """The report imported with the builder forked, or batch after batch in this process
    (whether it would fork by itself depends on the threads other tests left running)."""
    with pytest.MonkeyPatch.context() as patch, path.open("rb") as handle:
        patch.setattr(amazon_import, "_may_fork", lambda _: forked)
        return amazon_import.import_rows(
            db,
            store_id,
            parse_returns_report(file_lines(handle), GERMANY),
            batch_rows=batch_rows,
            **how,
        )


def tables(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.session() as session:
        return {
            table: [tuple(row) for row in session.execute(text(f"SELECT {cols} FROM {table}"))]
            for table, cols in TABLES.items()
        }


def test_a_report_built_in_a_process_of_its_own_is_stored_as_one_process_stores_it(
    databases: Callable[[str], tuple[Database, int]], tmp_path: Path, forks: list[int]
) -> None:
    path = report(tmp_path, 40)
    serial, serial_store = databases("serial")
    forked, forked_store = databases("forked")
    errors: list[RowError] = []
    batches: list[amazon_import.Batch] = []

    one = imported(serial, serial_store, path, forked=False)
    two = imported(
        forked, forked_store, path, forked=True, on_error=errors.append, on_batch=batches.append
    )

    assert one == two and two.returns_new == 40 and two.errors == 2
    assert [error.line_number for error in errors] == [4, 43]
    assert sum(batch.summary.rows for batch in batches) == two.rows
    assert [f.job for batch in batches for f in batch.follow_ups] == ["dispatch_amazon_batch"] * 6
    assert tables(forked) == tables(serial)
    with forked.session() as session:
        assert all(breach is None for _, breach in verify_all(session))
        assert session.execute(text("PRAGMA foreign_key_check")).all() == []
    assert forks and gone(forks)


def test_a_batch_built_before_the_one_ahead_of_it_was_stored_is_stored_again(
    databases: Callable[[str], tuple[Database, int]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    forks: list[int],
) -> None:
    """RMAs three rows apart share an order: with batches of two, the builder builds a batch
    holding an order the batch ahead of it is storing as new. That batch loses the order's
    key, is rolled back and stored here looking it up: every order once, as stored by one
    process."""
    path = _shared_orders(tmp_path / "shared.tsv", 60)
    lines = path.read_text(encoding="utf-8").splitlines()
    for at in (4, 20, 41):  # unreadable rows inside batches that are stored again
        lines.insert(at, "not\ta\trow")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    serial, serial_store = databases("serial")
    forked, forked_store = databases("forked")
    heard: dict[str, list[int]] = {"serial": [], "forked": []}

    one = imported(
        serial,
        serial_store,
        path,
        forked=False,
        batch_rows=2,
        on_error=lambda error: heard["serial"].append(error.line_number),
    )
    caplog.clear()
    with caplog.at_level("INFO", logger=amazon_import.__name__):
        two = imported(
            forked,
            forked_store,
            path,
            forked=True,
            batch_rows=2,
            on_error=lambda error: heard["forked"].append(error.line_number),
        )

    assert "storing it again" in caplog.text  # the race was met, and settled

    assert one == two and (two.returns_new, two.orders_new, two.errors) == (60, 30, 3)
    assert heard["forked"] == heard["serial"] == [5, 21, 42]  # each once, in order
    assert {t: len(rows) for t, rows in tables(forked).items()} == {
        t: len(rows) for t, rows in tables(serial).items()
    }
    with forked.session() as session:
        keys = list(session.scalars(select(models.Order.external_id)))
        assert len(keys) == len(set(keys)) == 30
        assert all(breach is None for _, breach in verify_all(session))
    assert forks and gone(forks)


def test_lines_a_stored_return_lacks_are_added_by_the_writing_process(
    databases: Callable[[str], tuple[Database, int]], tmp_path: Path, forks: list[int]
) -> None:
    """A later report that gives a stored RMA a second SKU: only the writing transaction can
    add a line to a stored return, so the builder sends that batch's rows to be stored."""
    db, store_id = databases("forked")
    first = report(tmp_path, 10)
    imported(db, store_id, first, forked=True)
    header, *rows = first.read_text(encoding="utf-8").splitlines()
    [row] = [row for row in rows if "\tRMA00004\t" in row]
    more = tmp_path / "more.tsv"
    more.write_text(f"{header}\n{row.replace('SKU-4', 'SKU-EXTRA')}\n", encoding="utf-8")

    summary = imported(db, store_id, more, forked=True)

    assert summary.lines_added == 1 and summary.returns_new == 0
    with db.session() as session:
        assert line_keys(session, "RMA00004") == {"RMA00004:SKU-4", "RMA00004:SKU-EXTRA"}
    assert forks and gone(forks)


def test_what_the_builder_raises_is_raised_here_and_it_is_gone(
    databases: Callable[[str], tuple[Database, int]], tmp_path: Path, forks: list[int]
) -> None:
    db, store_id = databases("forked")
    path = report(tmp_path, 40)

    with pytest.raises(NothingToDo, match="store 999 is gone"):
        imported(db, 999, path, forked=True)
    assert forks and gone(forks)

    def stop(batch: amazon_import.Batch) -> None:
        raise RuntimeError("the progress bar was closed")

    with pytest.raises(RuntimeError, match="progress bar"):
        imported(db, store_id, path, forked=True, on_batch=stop)
    assert forks and gone(forks)
    with db.session() as session:  # the first batch stayed; the builder's next never came
        assert session.scalar(text("SELECT count(*) FROM returns")) == 7


def test_an_error_the_builder_cannot_send_as_it_is_arrives_by_kind_and_message(
    databases: Callable[[str], tuple[Database, int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forks: list[int],
) -> None:
    class Vanished(Exception):
        def __init__(self) -> None:
            super().__init__("the report's file was cut short")
            self.retry = lambda: None  # no pickle carries a lambda

    def prepare(*_: Any, **__: Any) -> None:
        raise Vanished()

    db, store_id = databases("forked")
    monkeypatch.setattr(amazon_import._BatchWriter, "prepare", prepare)  # the builder's copy

    with pytest.raises(RuntimeError, match="Vanished: the report's file was cut short"):
        imported(db, store_id, report(tmp_path, 10), forked=True)
    assert forks and gone(forks)


def test_the_builder_is_forked_only_where_a_fork_is_safe(
    databases: Callable[[str], tuple[Database, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Linux, for a database in a file, with no other thread running; otherwise the
    import stores batch after batch in one process."""
    import threading

    db, _ = databases("file")
    memory = Database("sqlite://")
    monkeypatch.setattr(amazon_import.threading, "active_count", lambda: 1)
    assert amazon_import._may_fork(db) is sys.platform.startswith("linux")
    assert not amazon_import._may_fork(memory)

    monkeypatch.undo()
    running = threading.Event()
    other = threading.Thread(target=running.wait, name="another")
    other.start()
    try:
        assert not amazon_import._may_fork(db)
    finally:
        running.set()
        other.join()
    memory.dispose()


@pytest.fixture
def sqlite_app(settings: Settings, tmp_path: Path) -> Iterator[Flask]:
    """The application on a SQLite file of its own, with the Amazon app configured."""
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    upgrade(url)
    app = create_app(settings.with_(database_url=url))
    with app.extensions["helloword"].db.transaction() as session:
        merchants.create_merchant(session, MERCHANT, "EUR")
    yield app
    app.extensions["helloword"].close()


def test_the_scheduled_import_asks_amazon_and_downloads_in_the_builder(
    sqlite_app: Flask,
    amazon: FakeAmazon,
    forks: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The report's rows are a stream from Amazon: the forked builder asks for the report,
    waits for it and downloads it; the returns are stored here, and the window remembered.
    A lapsed authorisation met in the builder is met by the job as it is in one process."""
    runtime = sqlite_app.extensions["helloword"]
    monkeypatch.setattr(amazon_import, "_may_fork", lambda _: True)
    store_id = link(runtime)
    lapsed = link_another(runtime)
    amazon.queue_report((FIXTURES / "returns_flat_file.tsv").read_bytes(), gzip=True)

    with sqlite_app.app_context():
        done = jobs.import_amazon_returns(store_id)
        with pytest.raises(NeedsRelinking):
            jobs.import_amazon_returns(lapsed)

    assert "follow_ups" in done and len(forks) == 2 and gone(forks)
    with runtime.db.session() as session:
        stored = session.scalar(text(f"SELECT count(*) FROM returns WHERE store_id = {store_id}"))
        assert stored and stored > 0
        store = session.get_one(models.Store, store_id)
        assert store.settings["returns_import"]["status"] == "done"
        assert session.get_one(models.Store, lapsed).status == "needs_relinking"


def link_another(runtime: Any) -> int:
    """A second account of the merchant, whose refresh token Amazon no longer takes."""
    with runtime.db.transaction() as session:
        store = merchants.link_store(
            session,
            runtime.vault,
            merchants.merchant_by_name(session, MERCHANT),
            "amazon",
            "A1OTHERSELLER9",
            secrets={"refresh_token": "Atzr|RevokedBySeller"},
            settings={"region": "eu", "marketplace_ids": [GERMANY]},
        )
        return store.id
