"""A returns report saved from Seller Central imported with ``helloword amazon import --file``
on the database the suite runs on: PostgreSQL, and (with ``HELLOWORD_TEST_DATABASE=sqlite``)
the embedded SQLite, whose bulk path differs (``executemany``, foreign-key checks paused for
the import's own transactions and back on afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select, text

from connector import create_app
from connector.cli import main
from connector.config import Settings
from connector.db import models
from connector.ledger import verify_all
from connector.services import merchants
from tests.conftest import make_settings, reset_state

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"
HEADER = (FIXTURES / "returns_flat_file.tsv").read_bytes().split(b"\n", 1)[0].decode("latin-1")
SELLER = "A3AMZSELLER42"
ROWS = 600


@pytest.fixture
def app(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[Flask]:
    reset_state(database_url, redis_url)
    settings: Settings = make_settings(tmp_path / "instance", database_url, redis_url)
    app = create_app(settings)
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Nordic Knits", "EUR")
        merchants.link_store(
            session,
            runtime.vault,
            merchant,
            "amazon",
            SELLER,
            secrets={"refresh_token": "Atzr|IwEBI"},
            settings={"region": "eu", "marketplace_ids": ["A1PA6795UKMFR9"]},
        )
    yield app
    runtime.close()


def report(path: Path) -> Path:
    """``ROWS`` returns, every fifth refunded by Amazon already, every seventh's item name
    holding a quoted tab and a backslash, and one row that cannot be read."""
    width = len(HEADER.split("\t"))
    lines = [HEADER]
    for n in range(ROWS):
        fields = [""] * width
        fields[:5] = [f"302-{n:07d}-0000001", "10-Jul-2025", "14-Jul-2025", "Approved", f"RMA{n}"]
        title = '"Wool\tscarf \\ grey"' if n % 7 == 0 else "Wool hat"
        fields[15:20] = [f"SKU-{n % 13}", title, "1", "CR-DEFECTIVE", "Y"]
        fields[24] = "19.00"
        if n % 5 == 0:
            fields[3], fields[31] = "Closed", "19.00"
        lines.append("\t".join(fields))
    lines.insert(9, lines[8].replace("\t1\tCR-DEFECTIVE", "\tone\tCR-DEFECTIVE"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_report_file_is_stored_whole_with_every_reference_kept(
    app: Flask, tmp_path: Path
) -> None:
    runtime = app.extensions["helloword"]
    result = CliRunner().invoke(
        main,
        ["amazon", "import", "--account", SELLER, "--file", str(report(tmp_path / "r.tsv"))],
        obj=ScriptInfo(create_app=lambda: app),
    )

    assert result.exit_code == 0, result.output
    assert "line 10" in result.stderr  # the row that cannot be read, by its line
    with runtime.db.session() as session:
        returns = session.scalar(select(func.count()).select_from(models.Return))
        refunds = session.scalars(select(models.Refund)).all()
        titles = set(session.scalars(select(models.OrderLine.title)))
        assert returns == ROWS
        assert len(refunds) == ROWS // 5 and {r.status for r in refunds} == {"issued"}
        assert titles == {"Wool\tscarf \\ grey", "Wool hat"}
        assert all(breach is None for _, breach in verify_all(session))
        if runtime.db.is_sqlite:
            assert session.execute(text("PRAGMA foreign_key_check")).all() == []
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        else:
            assert session.execute(text("SHOW session_replication_role")).scalar() == "origin"
            orphans = session.execute(
                text(
                    "SELECT count(*) FROM return_lines l "
                    "LEFT JOIN order_lines ol ON ol.id = l.order_line_id "
                    "LEFT JOIN returns r ON r.id = l.return_id "
                    "WHERE ol.id IS NULL OR r.id IS NULL"
                )
            ).scalar()
            assert orphans == 0
    with runtime.db.transaction() as session:  # a connection used by the import checks again
        if runtime.db.is_sqlite:
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_an_rma_a_later_report_names_under_another_order_is_not_stored_twice(
    app: Flask, tmp_path: Path
) -> None:
    """An RMA whose order is new is taken to be new; a report that names a stored RMA under
    an order never seen before fails on the RMA's key, and the batch is stored again looking
    every RMA up: the return is seen, not doubled, and the rest of the batch is stored."""
    runtime = app.extensions["helloword"]
    first = report(tmp_path / "first.tsv")
    moved = tmp_path / "moved.tsv"
    lines = first.read_text(encoding="utf-8").splitlines()[:4]
    lines[1] = lines[1].replace("302-0000000-0000001", "302-9999999-0000001")  # RMA0 moved
    lines[2] = lines[2].replace("RMA1\t", "RMA-NEW\t")
    moved.write_text("\n".join(lines) + "\n", encoding="utf-8")
    invoke = CliRunner().invoke

    def imported(path: Path) -> str:
        result = invoke(
            main,
            ["amazon", "import", "--account", SELLER, "--file", str(path)],
            obj=ScriptInfo(create_app=lambda: app),
        )
        assert result.exit_code == 0, result.output
        return result.stdout

    imported(first)
    imported(moved)

    with runtime.db.session() as session:
        rmas = list(session.scalars(select(models.Return.external_id)))
        assert len(rmas) == len(set(rmas)) == ROWS + 1
        assert "RMA-NEW" in rmas
