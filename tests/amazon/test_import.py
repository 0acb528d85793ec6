"""Returns reports stored without a call to Amazon: upserted by RMA, odd rows reported by their
line numbers, settled returns kept as history and never refunded again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connector.db import models
from connector.ledger import verify_all
from connector.runtime import Runtime
from connector.services import amazon_import
from platforms.amazon import RowError, file_lines, parse_returns_report
from tests.adapters.amazon.conftest import flat_file_row as _row
from tests.contract.amazon_store import FakeAmazon

from .conftest import FIXTURES, GERMANY, link

HEADER = (FIXTURES / "returns_flat_file.tsv").read_bytes().split(b"\n", 1)[0].decode("latin-1")


def run(runtime: Runtime, store_id: int, path: Path) -> tuple[amazon_import.ImportSummary, list]:
    errors: list[RowError] = []
    batches: list[amazon_import.Batch] = []
    with path.open("rb") as handle:
        summary = amazon_import.import_rows(
            runtime.db,
            store_id,
            parse_returns_report(file_lines(handle), GERMANY),
            batch_rows=7,
            on_error=errors.append,
            on_batch=batches.append,
        )
    return summary, [errors, batches]


def count(runtime: Runtime, model: type) -> int:
    with runtime.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def report(tmp_path: Path, rows: int) -> Path:
    """A report of ``rows`` open returns, one per order, and two malformed rows."""
    path = tmp_path / "returns.tsv"
    width = len(HEADER.split("\t"))
    lines = [HEADER]
    for n in range(rows):
        fields = [""] * width
        fields[:5] = [
            f"302-{n:07d}-0000001",
            "10-Jul-2025",
            "14-Jul-2025",
            "Approved",
            f"RMA{n:05d}",
        ]
        fields[15:20] = [f"SKU-{n % 9}", "Wool hat", "1", "CR-DEFECTIVE", "Y"]
        fields[24] = "19.00"
        lines.append("\t".join(fields))
    lines.insert(3, lines[2].replace("\t1\tCR-DEFECTIVE", "\tone\tCR-DEFECTIVE"))
    lines.append("not\ta\trow" + "\tx" * (width + 2))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.usefixtures("runtime")
def test_a_report_of_a_hundred_rows_imports_offline_and_odd_rows_are_named_by_line(
    runtime: Runtime, tmp_path: Path, amazon: FakeAmazon
) -> None:
    store_id = link(runtime)

    summary, (errors, batches) = run(runtime, store_id, report(tmp_path, 100))

    assert amazon.calls == []  # not one call to Amazon
    assert [e.line_number for e in errors] == [4, 103]
    assert "Return quantity" in errors[0].message
    assert (summary.rows, summary.returns_new, summary.orders_new, summary.errors) == (
        102,
        100,
        100,
        2,
    )
    assert summary.returns_open == 100
    assert count(runtime, models.Return) == 100
    follow_ups = [f for batch in batches for f in batch.follow_ups]
    assert {f.job for f in follow_ups} == {"dispatch_amazon_batch"}
    assert sum(len(f.args[0]) for f in follow_ups) == 100  # every open return gets decided
    assert sum(len(f.args[1]) for f in follow_ups) == 100  # every new order gets fetched
    with runtime.db.session() as session:
        assert all(breach is None for _, breach in verify_all(session))
        rmas = session.scalars(select(models.Return.rma)).all()
        stubs = session.execute(select(models.Order.shipping_address, models.Order.raw)).all()
    assert all(rma and rma.startswith("R") for rma in rmas)
    # a stub order knows only where the report came from: the marketplace and its country
    assert {(str(address), str(raw)) for address, raw in stubs} == {
        (str({"country": "DE"}), str({"source": "returns_report", "marketplace_id": GERMANY}))
    }


@pytest.mark.usefixtures("runtime")
def test_a_row_seen_twice_changes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    store_id = link(runtime)
    path = report(tmp_path, 20)
    run(runtime, store_id, path)
    before = [count(runtime, m) for m in (models.Order, models.Return, models.ReturnLine)]

    again, (_, batches) = run(runtime, store_id, path)

    assert (again.returns_new, again.orders_new, again.lines_added) == (0, 0, 0)
    assert again.returns_seen == 20
    assert [count(runtime, m) for m in (models.Order, models.Return, models.ReturnLine)] == before
    assert all(not batch.follow_ups for batch in batches)
    assert count(runtime, models.LedgerEvent) == 20


@pytest.mark.usefixtures("runtime")
def test_an_order_already_stored_is_not_overwritten(runtime: Runtime, tmp_path: Path) -> None:
    store_id = link(runtime)
    path = report(tmp_path, 3)
    with runtime.db.transaction() as session:
        store = session.get_one(models.Store, store_id)
        order = models.Order(
            merchant_id=store.merchant_id,
            store_id=store_id,
            external_id="302-0000000-0000001",
            number="302-0000000-0000001",
            currency="EUR",
            total_minor=12345,
            placed_at=models.utcnow(),
            raw={"source": "orders_api"},
        )
        session.add(order)

    run(runtime, store_id, path)

    with runtime.db.session() as session:
        stored = session.scalar(
            select(models.Order).where(models.Order.external_id == "302-0000000-0000001")
        )
        assert stored is not None
        assert (stored.total_minor, stored.raw) == (12345, {"source": "orders_api"})
        assert [line.sku for line in stored.lines] == ["SKU-0"]  # the missing line was added


@pytest.mark.usefixtures("runtime")
def test_fba_and_refunded_returns_are_history_and_never_refunded_again(
    runtime: Runtime,
) -> None:
    store_id = link(runtime)

    fba, (_, fba_batches) = run(runtime, store_id, FIXTURES / "fba_customer_returns.tsv")
    _, (errors, batches) = run(runtime, store_id, FIXTURES / "returns_flat_file.tsv")

    assert fba.returns_history == fba.returns_new > 0
    assert fba.returns_open == 0
    with runtime.db.session() as session:
        returns = session.scalars(select(models.Return)).all()
        refunds = session.scalars(select(models.Refund)).all()
        fba_returns = [r for r in returns if (r.external_id or "").startswith("fba-")]
        assert fba_returns and all(r.status == "CLOSED" for r in fba_returns)
        refunded = {refund.return_id for refund in refunds}
        assert refunded and all(refund.status == "issued" for refund in refunds)
        for return_ in returns:
            if return_.id in refunded:
                assert return_.status == "CLOSED"
                assert return_.refunded_at is not None
        outbound = session.scalar(select(func.count()).select_from(models.OutboundAction))
    assert outbound == 0
    decided = {
        rid for batch in fba_batches + batches for f in batch.follow_ups for rid in f.args[0]
    }
    assert decided.isdisjoint(refunded)
    assert not decided & {r.id for r in fba_returns}
    assert errors  # the fixture's odd rows are named


@pytest.mark.usefixtures("runtime")
def test_keys_taken_before_the_inserts_follow_on_across_batches(
    runtime: Runtime, tmp_path: Path
) -> None:
    store_id = link(runtime)

    summary, _ = run(runtime, store_id, report(tmp_path, 30))  # batches of 7

    assert summary.returns_new == 30
    with runtime.db.session() as session:
        returns = session.scalars(select(models.Return).order_by(models.Return.id)).all()
        assert len({r.id for r in returns}) == len({r.order_id for r in returns}) == 30
        for return_ in returns:
            assert return_.rma == f"R{return_.id:07d}"
            assert return_.ledger_length == 1 and len(return_.ledger_head) == 64
            assert return_.requested_at == datetime(2025, 7, 14, tzinfo=UTC)
            assert return_.order.placed_at == datetime(2025, 7, 10, tzinfo=UTC)
            [line] = return_.lines
            assert line.order_line.order_id == return_.order_id
            assert line.order_line.sku == return_.order.lines[0].sku
        stamps = session.execute(
            select(models.Return.created_at, models.Order.created_at).join(models.Order)
        ).all()
    assert all(a.tzinfo is not None and b.tzinfo is not None for a, b in stamps)


@pytest.mark.usefixtures("runtime")
def test_columns_left_to_the_database_read_back_with_the_models_defaults(
    runtime: Runtime, tmp_path: Path
) -> None:
    """On PostgreSQL the import's COPY leaves out the columns whose default the database has
    too: the rows read back as an ORM insert would have made them, and each such default the
    models name, the migrations gave the database."""
    from datetime import timedelta

    from sqlalchemy import text

    started = datetime.now(UTC)
    run(runtime, link(runtime), report(tmp_path, 3))

    with runtime.db.session() as session:
        return_ = session.scalars(select(models.Return)).first()
        assert return_ is not None
        order, [line] = return_.order, return_.lines
        [order_line] = order.lines
        assert (order.shipped_from, order.export_reference, order.tags) == ("", "", [])
        assert (order_line.hs_code, order_line.origin_country, order_line.tags) == ("", "", [])
        assert (return_.source, return_.buyer_address, return_.note, return_.resolution) == (
            "platform",
            {},
            "",
            "refund",
        )
        assert (return_.review_queue, return_.refund_trigger, return_.route_option) == (
            "",
            "received",
            "",
        )
        assert return_.returnless is False
        assert (line.outcome, line.decision_reason, line.grade, line.exchange_sku) == ("",) * 4
        for stamp in (order.created_at, order.updated_at, return_.created_at, return_.updated_at):
            assert started - timedelta(seconds=5) <= stamp <= datetime.now(UTC)
        if runtime.db.is_sqlite:
            return
        tables = ("orders", "order_lines", "returns", "return_lines", "refunds")
        in_database = {
            (table, column)
            for table, column in session.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_name = ANY(:tables) AND column_default IS NOT NULL "
                    "AND column_default NOT LIKE 'nextval(%'"
                ),
                {"tables": list(tables)},
            )
        }
    in_models = {
        (table, column.name)
        for table in tables
        for column in models.Base.metadata.tables[table].columns
        if column.server_default is not None
    }
    assert in_database == in_models and ("returns", "created_at") in in_models


def test_a_return_on_amazons_own_label_is_not_given_a_second_one(
    app: Any, runtime: Runtime, tmp_path: Path
) -> None:
    """Amazon gave the buyer a prepaid label (the report names its tracking): routing keeps
    that label as the shipment and buys none."""
    from connector import jobs
    from connector.services import policies
    from tests.services.test_refunds import drain

    store_id = link(runtime)
    path = tmp_path / "labelled.tsv"
    fields = [""] * len(HEADER.split("\t"))
    fields[:12] = [
        "302-7777777-0000001", "10-Jul-2025", "14-Jul-2025", "Approved", "RMA77777", "",
        "AmazonPrePaidLabel", "5.40", "EUR", "DHL", "JJD000390007766554", "Seller",
    ]  # fmt: skip
    fields[15:20] = ["SKU-LBL", "Wool hat", "1", "CR-DEFECTIVE", "Y"]
    fields[24] = "19.00"
    path.write_text(HEADER + "\n" + "\t".join(fields) + "\n", encoding="utf-8")
    with runtime.db.transaction() as session:
        merchant_id = session.get(models.Store, store_id).merchant_id
        policies.save(session, merchant_id, {"defaults": {"window_days": 3650}})
    run(runtime, store_id, path)
    with runtime.db.session() as session:
        return_id = session.scalars(select(models.Return.id)).one()

    with app.app_context():
        jobs.enqueue(runtime, "decide_return", return_id, job_id=f"decide_return:{return_id}")
        drain(app)

    with runtime.db.session() as session:
        return_ = session.get(models.Return, return_id)
        shipments = session.scalars(
            select(models.Shipment).where(models.Shipment.return_id == return_id)
        ).all()
        bought = session.scalars(
            select(models.OutboundAction).where(models.OutboundAction.action == "buy_label")
        ).all()
        assert return_.status == "AWAITING_SHIPMENT"
        assert return_.route["chosen"] == "platform_label"
        assert [(o["kind"], o["shipping"]) for o in return_.route["options"]] == [
            ("platform_label", "5.40")
        ]
    assert [(s.kind, s.carrier, s.tracking_number) for s in shipments] == [
        ("platform_label", "dhl", "JJD000390007766554")
    ]
    assert bought == []


@pytest.mark.usefixtures("runtime")
def test_the_reports_own_text_is_stored_as_written(runtime: Runtime, tmp_path: Path) -> None:
    """Item names and SKUs may hold a quoted tab, backslashes, quotes and any script: stored
    exactly (COPY's escaping on PostgreSQL), and the ledger that cites them verifies."""
    title = 'Wool scarf\tgrey, \\"Nordic\\" \\\\ 北欧 \u00a0édition'
    path = tmp_path / "odd.tsv"
    rows = [
        HEADER,
        _row(
            Amazon_RMA_ID="RMA-\\1",
            Merchant_SKU='SKU\\"7"',
            Item_Name='"' + title.replace('"', '""') + '"',
            In_policy="N",
            **{"A-to-Z Claim": "Y"},
            Label_cost="5,40",
            Label_to_be_paid_by="Seller",
            Return_carrier="Deutsche Post",
            Tracking_ID="JJD\\0001",
        ),
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    store_id = link(runtime)

    summary, (errors, _) = run(runtime, store_id, path)

    assert (summary.returns_new, errors) == (1, [])
    with runtime.db.session() as session:
        return_ = session.scalars(select(models.Return)).one()
        [line] = return_.lines
        assert return_.external_id == "RMA-\\1"
        assert line.external_id == 'RMA-\\1:SKU\\"7"'
        assert (line.order_line.sku, line.order_line.title) == ('SKU\\"7"', title)
        [event] = session.scalars(select(models.LedgerEvent)).all()
        assert event.payload["lines"] == [{"line": 'SKU\\"7"', "quantity": 1, "reason": "UNWANTED"}]
        assert event.payload["amazon"]["a_to_z_claim"] is True
        assert event.payload["amazon"]["in_policy"] is False
        assert event.payload["platform_label"] == {
            "carrier": "Deutsche Post",
            "cost": {"amount": "5.40", "currency": "EUR"},
            "tracking_number": "JJD\\0001",
        }
        assert all(breach is None for _, breach in verify_all(session))


@pytest.mark.parametrize("status", ["Approved", "Closed", "Rejected", "Cancelled"])
@pytest.mark.parametrize("flags", [{}, {"A-to-Z Claim": "Y", "In_policy": "N"}])
@pytest.mark.parametrize(
    "label",
    [
        {},
        {"Tracking_ID": "1Z999", "Return_carrier": "UPS"},
        {"Tracking_ID": "1Z999", "Label_cost": "4.14", "Label_to_be_paid_by": "Seller"},
        {"Label_cost": "4.14", "Label_to_be_paid_by": "Customer"},
    ],
)
def test_each_ledger_payload_is_written_as_its_canonical_json(
    status: str, flags: dict[str, str], label: dict[str, str]
) -> None:
    """The import writes the ledger's payloads as text; that text must be exactly what
    ``ledger.canonical_json`` makes of the payload, or the chain would not verify."""
    import json

    from connector.domain import Status
    from connector.ledger import canonical_json

    cells = {**flags, **label, "Refunded_Amount": "10.00" if status == "Closed" else ""}
    [(_, row)] = list(parse_returns_report([HEADER, _row(**cells, **{
        "Return request status": status})], GERMANY))  # fmt: skip
    assert not isinstance(row, RowError)
    texts = [
        amazon_import._requested("R0000042", row, row.lines),
        amazon_import._refund_payload(row),
        amazon_import._settled(row, Status.DECLINED),
        amazon_import._settled(row, Status.CLOSED),
    ]
    for text in texts:
        assert canonical_json(json.loads(text)) == text
    requested = json.loads(texts[0])
    assert requested["rma"] == "R0000042" and requested["order"] == "302-1111111-1111111"
    assert requested["amazon"]["status"] == status
    assert ("platform_label" in requested) == ("Tracking_ID" in label)


def test_an_import_by_a_role_that_keeps_the_row_triggers_stores_the_same(
    runtime: Runtime, tmp_path: Path
) -> None:
    """On PostgreSQL a role that may not turn the per-row foreign-key triggers off imports all
    the same, with the triggers doing their checks, and a superuser's import (triggers off,
    references kept by construction) leaves no row pointing nowhere; nor does SQLite's."""
    from sqlalchemy import text

    postgres = not runtime.db.is_sqlite
    store_id = link(runtime)
    if postgres:
        with runtime.db.transaction() as session:
            session.execute(
                text(
                    "DO $$ BEGIN CREATE ROLE helloword_importer NOSUPERUSER; "
                    "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                )
            )
            session.execute(text("GRANT ALL ON ALL TABLES IN SCHEMA public TO helloword_importer"))
            session.execute(
                text("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO helloword_importer")
            )
    with report(tmp_path, 6).open("rb") as handle:
        reported = [
            row
            for _, row in parse_returns_report(file_lines(handle), GERMANY)
            if not isinstance(row, RowError)
        ]

    with runtime.db.transaction() as session:
        if postgres:
            session.execute(text("SET LOCAL ROLE helloword_importer"))
        plain = amazon_import.store_batch(session, store_id, reported[:3])
        if postgres:
            assert session.execute(text("SHOW session_replication_role")).scalar() == "origin"
    with runtime.db.transaction() as session:
        amazon_import.store_batch(session, store_id, reported[3:])

    assert plain.summary.returns_new == 3
    assert count(runtime, models.Return) == count(runtime, models.ReturnLine) == 6
    with runtime.db.session() as session:
        if not postgres:
            assert session.execute(text("PRAGMA foreign_key_check")).all() == []
            return
        assert session.execute(text("SHOW session_replication_role")).scalar() == "origin"
        orphans = session.execute(
            text(
                "SELECT (SELECT count(*) FROM returns r LEFT JOIN orders o ON o.id = r.order_id "
                "WHERE o.id IS NULL) + (SELECT count(*) FROM return_lines l LEFT JOIN "
                "order_lines ol ON ol.id = l.order_line_id WHERE ol.id IS NULL) + (SELECT "
                "count(*) FROM ledger_events e LEFT JOIN returns r ON r.id = e.return_id "
                "WHERE r.id IS NULL) + (SELECT count(*) FROM order_lines ol LEFT JOIN orders o "
                "ON o.id = ol.order_id WHERE o.id IS NULL)"
            )
        ).scalar()
        assert orphans == 0


def _labelled(path: Path, delivered: str = "") -> Path:
    """A report of one return on Amazon's prepaid DHL label, delivered to the seller on
    ``delivered`` (a report date) when given."""
    fields = [""] * len(HEADER.split("\t"))
    fields[:12] = [
        "302-7777777-0000002", "10-Jul-2025", "14-Jul-2025", "Approved", "RMA77778", "",
        "AmazonPrePaidLabel", "5.40", "EUR", "DHL", "JJD000390007766555", "Seller",
    ]  # fmt: skip
    fields[15:20] = ["SKU-LBL", "Wool hat", "1", "CR-DEFECTIVE", "Y"]
    fields[23:25] = [delivered, "19.00"]
    path.write_text(HEADER + "\n" + "\t".join(fields) + "\n", encoding="utf-8")
    return path


def _decided(app: Any, runtime: Runtime, path: Path) -> int:
    """The report imported and its one return decided and routed by the workers."""
    from connector import jobs
    from connector.services import policies
    from tests.services.test_refunds import drain

    store_id = link(runtime)
    with runtime.db.transaction() as session:
        merchant_id = session.get(models.Store, store_id).merchant_id
        policies.save(session, merchant_id, {"defaults": {"window_days": 3650}})
    run(runtime, store_id, path)
    with runtime.db.session() as session:
        return_id = int(session.scalars(select(models.Return.id)).one())
    with app.app_context():
        jobs.enqueue(runtime, "decide_return", return_id, job_id=f"decide_return:{return_id}")
        drain(app)
    return return_id


def _state(runtime: Runtime, return_id: int) -> tuple[str, list[str], int]:
    with runtime.db.session() as session:
        return_ = session.get_one(models.Return, return_id)
        shipment = session.scalars(select(models.Shipment)).one()
        events = session.scalar(select(func.count()).select_from(models.LedgerEvent))
        return return_.status, [shipment.status], int(events or 0)


def test_a_later_report_that_says_the_parcel_arrived_receives_the_return_once(
    app: Any, runtime: Runtime, tmp_path: Path
) -> None:
    """Amazon's label is not ours to track: the report's return delivery date, read again
    in a later import, is the parcel's delivery. Read a third time, it changes nothing."""
    return_id = _decided(app, runtime, _labelled(tmp_path / "sent.tsv"))
    assert _state(runtime, return_id)[:2] == ("AWAITING_SHIPMENT", ["LABEL_CREATED"])
    store_id = link(runtime)

    summary, (_, batches) = run(runtime, store_id, _labelled(tmp_path / "in.tsv", "18-Jul-2025"))
    received = _state(runtime, return_id)
    run(runtime, store_id, _labelled(tmp_path / "in.tsv", "18-Jul-2025"))

    assert summary.returns_seen == 1
    assert received[:2] == ("RECEIVED", ["DELIVERED"])
    assert _state(runtime, return_id) == received
    with runtime.db.session() as session:
        [scan] = session.scalars(select(models.TrackingEvent)).all()
        assert scan.occurred_at == datetime(2025, 7, 18, tzinfo=UTC)
        assert all(breach is None for _, breach in verify_all(session))
    assert any(batch.deliveries == {return_id: scan.occurred_at} for batch in batches)


def test_a_parcel_delivered_before_the_import_is_received_once_routed(
    app: Any, runtime: Runtime, tmp_path: Path
) -> None:
    return_id = _decided(app, runtime, _labelled(tmp_path / "in.tsv", "18-Jul-2025"))

    status, shipments, _ = _state(runtime, return_id)

    assert (status, shipments) == ("RECEIVED", ["DELIVERED"])


def _shared_orders(path: Path, returns: int) -> Path:
    """``returns`` open returns, every two of them (three rows apart) on one order."""
    width = len(HEADER.split("\t"))
    lines = [HEADER]
    for n in range(returns):
        fields = [""] * width
        order = n // 6 * 3 + n % 3  # RMAs n and n + 3 share an order
        fields[:5] = [f"302-{order:07d}-0000009", "10-Jul-2025", "14-Jul-2025", "Approved"]
        fields[4] = f"RMA-S{n:04d}"
        fields[15:20] = [f"SKU-{n % 4}", "Wool hat", "1", "CR-DEFECTIVE", "Y"]
        fields[24] = "19.00"
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("forked", [False, True], ids=["threads", "writer process"])
def test_batches_stored_side_by_side_share_new_orders_without_a_double(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forked: bool
) -> None:
    """On PostgreSQL two batches are stored at once, by threads or by a forked writer; when
    both hold the same new order, one loses the race on its key, is rolled back and stored
    again: every order once."""
    monkeypatch.setattr(amazon_import, "_may_fork", lambda _: forked)
    store_id = link(runtime)
    with _shared_orders(tmp_path / "shared.tsv", 60).open("rb") as handle:
        summary = amazon_import.import_rows(
            runtime.db, store_id, parse_returns_report(file_lines(handle), GERMANY), batch_rows=2
        )

    assert (summary.returns_new, summary.orders_new) == (60, 30)
    with runtime.db.session() as session:
        returns = session.scalars(select(models.Return)).all()
        by_order: dict[str, set[str]] = {}
        for return_ in returns:
            by_order.setdefault(return_.order.external_id, set()).add(return_.external_id)
            [line] = return_.lines
            assert line.order_line.order_id == return_.order_id
        assert len(by_order) == 30 and all(len(rmas) == 2 for rmas in by_order.values())
        assert count(runtime, models.Order) == 30
        assert all(breach is None for _, breach in verify_all(session))


def test_a_batch_that_lost_a_key_to_the_batch_beside_it_is_stored_again(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry itself, made certain: the second batch's write fails as a unique violation
    does; its transaction is rolled back, and it is stored again once the batch beside it
    is done, and reported in the report's order."""

    class UniqueViolation(Exception):
        sqlstate = "23505"

    store_id = link(runtime)
    tries: list[int] = []
    begin = amazon_import._begin

    def flaky(*args: Any, **how: Any) -> Any:
        opened = begin(*args, **how)
        tries.append(len(tries))
        if len(tries) == 2:

            def conflict() -> None:
                raise UniqueViolation('duplicate key value violates unique constraint "uq_orders"')

            opened._writer.db.flush = conflict
        return opened

    monkeypatch.setattr(amazon_import, "_begin", flaky)
    with report(tmp_path, 9).open("rb") as handle:
        parsed = parse_returns_report(file_lines(handle), GERMANY)
        batches = amazon_import._batches(parsed, 4, None)
        stored = list(amazon_import._side_by_side(runtime.db, store_id, batches))

    assert len(tries) == 4  # three batches, the second twice
    assert [batch.summary.returns_new for batch in stored] == [4, 4, 1]
    assert [batch.summary.errors for batch in stored] == [1, 0, 1]
    assert count(runtime, models.Return) == 9
    assert runtime.db.engine.pool.checkedout() == 0


@pytest.mark.parametrize("stage", ["building", "writing"])
def test_a_batch_that_cannot_be_stored_stops_the_import(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """An error that is no conflict over a key, met building a batch or writing it, ends the
    import with that error: the batch is rolled back, the batches stored before it stay,
    and no writer thread or connection is left behind, nor the short switch interval the
    writing had (the writer threads; ``test_import_writer`` has the writer process's)."""
    import sys
    import threading

    monkeypatch.setattr(amazon_import, "_may_fork", lambda _: False)
    store_id = link(runtime)
    begin = amazon_import._begin
    before = sys.getswitchinterval()
    meanwhile: list[float] = []

    def disk_full(*_: Any) -> None:
        raise RuntimeError("the disk is full")

    def failing(db: Any, store_id: int, item: tuple, **how: Any) -> Any:
        meanwhile.append(sys.getswitchinterval())
        doomed = any(row.external_id == "RMA00020" for row in item[0])
        if doomed and stage == "building":
            disk_full()
        opened = begin(db, store_id, item, **how)
        if doomed:
            opened._writer.db.flush = disk_full
        return opened

    monkeypatch.setattr(amazon_import, "_begin", failing)
    with pytest.raises(RuntimeError, match="disk is full"):
        run(runtime, store_id, report(tmp_path, 30))  # batches of 7: the third fails

    with runtime.db.session() as session:
        stored = set(session.scalars(select(models.Return.external_id)))
    assert {f"RMA{n:05d}" for n in range(14)} <= stored
    assert not {f"RMA{n:05d}" for n in range(14, 21)} & stored
    assert not [t for t in threading.enumerate() if t.name.startswith("amazon-import")]
    assert runtime.db.engine.pool.checkedout() == 0
    assert meanwhile and max(meanwhile) <= amazon_import.SWITCH_INTERVAL < before
    assert sys.getswitchinterval() == before
