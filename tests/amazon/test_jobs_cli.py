"""The scheduled import marks an account whose authorisation lapsed; the CLI links accounts
and imports a report file offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from connector import jobs
from connector.cli import main
from connector.db import models
from connector.runtime import Runtime
from platforms.amazon import NeedsRelinking
from tests.contract.amazon_store import FakeAmazon

from .conftest import FIXTURES, GERMANY, MERCHANT, SELLER, link


def helloword(app: Flask, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_a_revoked_authorisation_marks_the_store_and_keeps_it(
    app: Flask, runtime: Runtime, amazon: FakeAmazon
) -> None:
    store_id = link(runtime, refresh_token="Atzr|RevokedBySeller")

    with app.app_context(), pytest.raises(NeedsRelinking):
        jobs.import_amazon_returns(store_id)

    with runtime.db.session() as session:
        store = session.get_one(models.Store, store_id)
        assert store.status == "needs_relinking"
        assert store.settings["returns_import"]["status"] == "needs_relinking"
        assert "through" not in store.settings["returns_import"]  # the window is read again


def test_the_scheduled_import_stores_the_reported_returns_and_remembers_how_far_it_got(
    app: Flask, runtime: Runtime, amazon: FakeAmazon
) -> None:
    store_id = link(runtime)
    amazon.queue_report((FIXTURES / "returns_flat_file.tsv").read_bytes(), gzip=True)

    with app.app_context():
        first = jobs.import_amazon_returns(store_id)
        again = jobs.import_amazon_returns(store_id)  # the same hour: nothing new to read

    with runtime.db.session() as session:
        store = session.get_one(models.Store, store_id)
        returns = session.scalar(
            select(func.count())
            .select_from(models.Return)
            .where(models.Return.store_id == store_id)
        )
        progress = store.settings["returns_import"]
    assert "follow_ups" in first
    assert returns and returns > 0
    assert progress["status"] == "done" and progress["through"]
    assert "imported up to" in again["skipped"]
    assert amazon.calls.count("createReport") == 1


def test_the_scheduled_import_runs_in_a_work_horse_beside_its_writer(
    app: Flask,
    runtime: Runtime,
    amazon: FakeAmazon,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In production the scheduled import is an RQ job run by a forked work horse, whose only
    thread is its main one: on PostgreSQL the import forks its writer there. The job
    finishes, the returns are stored, and the writer is gone with the horse."""
    from rq import Worker

    from connector.services import amazon_import

    store_id = link(runtime)
    amazon.queue_report((FIXTURES / "returns_flat_file.tsv").read_bytes(), gzip=True)
    writers = tmp_path / "writers"
    start = amazon_import._WriterProcess.__init__

    def recorded(self: Any, db: Any) -> None:  # in the work horse
        start(self, db)
        with writers.open("a") as out:
            out.write(f"{self._pid}\n")

    monkeypatch.setattr(amazon_import._WriterProcess, "__init__", recorded)
    assert jobs.enqueue(runtime, "import_amazon_returns", store_id, job_id=f"import:{store_id}")

    with app.app_context():
        Worker([runtime.queue], connection=runtime.redis).work(burst=True, logging_level="ERROR")

    job = runtime.queue.fetch_job(jobs.rq_job_id(f"import:{store_id}"))
    assert job is not None and job.is_finished, job.exc_info if job else None
    with runtime.db.session() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(models.Return)
            .where(models.Return.store_id == store_id)
        )
    assert stored and stored > 0
    if not runtime.db.is_sqlite:
        [writer] = writers.read_text().split()
        assert not Path(f"/proc/{writer}").exists()


def test_stores_add_amazon_links_the_account_with_its_marketplaces(
    app: Flask, runtime: Runtime
) -> None:
    result = helloword(
        app,
        "stores", "add", "amazon",
        "--merchant", MERCHANT,
        "--selling-partner-id", SELLER,
        "--region", "eu",
        "--marketplace", "DE",
        "--marketplace", "fr",
        "--refresh-token", "Atzr|IwEBIPrivateApp",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    with runtime.db.session() as session:
        store = session.scalars(select(models.Store)).one()
        assert store.settings["marketplace_ids"] == [GERMANY, "A13V1IB3VIYZZH"]
        assert runtime.vault.open(store.credentials) == {"refresh_token": "Atzr|IwEBIPrivateApp"}
    wrong = helloword(
        app,
        "stores", "add", "amazon",
        "--merchant", MERCHANT,
        "--selling-partner-id", SELLER,
        "--region", "eu",
        "--marketplace", "JP",
        "--refresh-token", "Atzr|IwEBIPrivateApp",
    )  # fmt: skip
    assert wrong.exit_code == 2
    assert "JP" in wrong.output


def test_amazon_import_file_names_odd_rows_and_summarises(
    app: Flask, runtime: Runtime, amazon: FakeAmazon
) -> None:
    link(runtime)

    result = helloword(
        app,
        "amazon", "import",
        "--account", SELLER,
        "--file", str(FIXTURES / "returns_flat_file.tsv"),
        "--marketplace", "DE",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "returns_flat_file.tsv: line " in result.stderr
    assert "new returns" in result.stdout
    assert amazon.calls == []
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(models.Return))
