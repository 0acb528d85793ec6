"""The whole pipeline through real RQ worker processes: sandbox webhooks in, labels, scans,
grading, refunds and closing out; on PostgreSQL + Redis, and (with
``HELLOWORD_TEST_DATABASE=sqlite``) on SQLite + the embedded Redis."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from connector import create_app
from connector.db import models
from connector.demo import SHOP, run_demo
from connector.domain import TERMINAL
from connector.ledger import verify_all
from platforms.sandbox import SandboxMarketplace
from tests.conftest import make_settings, reset_state

pytestmark = pytest.mark.integration

RETURNS = 16


@pytest.fixture(scope="module")
def outcome(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_url: str
) -> Iterator[dict[str, object]]:
    """One demo run, shared by the assertions below: it is the slow part."""
    reset_state(database_url, redis_url)
    folder = tmp_path_factory.mktemp("demo")
    app = create_app(make_settings(folder / "instance", database_url, redis_url))
    runtime = app.extensions["helloword"]
    with app.app_context():
        summary = run_demo(
            runtime,
            RETURNS,
            workers=2,
            labels_dir=folder / "labels",
            timeout=240,
            progress=False,
            app=app,
        )
    yield {"summary": summary, "runtime": runtime, "labels": folder / "labels"}
    runtime.close()


def test_every_return_reaches_a_terminal_status(outcome: dict[str, object]) -> None:
    summary = outcome["summary"]
    data = summary.as_dict()  # type: ignore[attr-defined]
    assert data["returns"] == RETURNS
    assert summary.unfinished == []  # type: ignore[attr-defined]
    assert set(data["statuses"]) <= {s.value for s in TERMINAL}
    assert data["statuses"].get("CLOSED", 0) > 0
    runtime = outcome["runtime"]
    with runtime.db.session() as session:  # type: ignore[attr-defined]
        returns = session.scalars(select(models.Return)).all()
        refunds = session.scalars(select(models.Refund)).all()
        shipments = session.scalars(select(models.Shipment)).all()
    closed = [r for r in returns if r.status == "CLOSED"]
    issued = Counter(refund.return_id for refund in refunds if refund.status == "issued")
    # every closed return was refunded exactly once, and nothing else was refunded
    assert {r.id for r in closed} == set(issued)
    assert all(count == 1 for count in issued.values())
    # every closed return that shipped something has a label or drop-off code
    shipped = {s.return_id for s in shipments}
    assert {r.id for r in closed if not r.returnless} <= shipped
    assert all(r.refunded_at is not None and r.closed_at is not None for r in closed)


def test_refunds_reach_the_platform_once_each(outcome: dict[str, object]) -> None:
    runtime = outcome["runtime"]
    with runtime.db.session() as session:  # type: ignore[attr-defined]
        keys = {r.idempotency_key for r in session.scalars(select(models.Refund))}
        closed = session.scalars(select(models.Return.id).where(models.Return.status == "CLOSED"))
        closed_ids = set(closed)
        pending = session.scalars(
            select(models.OutboundAction.idempotency_key).where(
                models.OutboundAction.status != "done"
            )
        ).all()
    assert pending == []
    marketplace = SandboxMarketplace(runtime.settings.instance_path / "sandbox.sqlite3")  # type: ignore[attr-defined]
    pushed = [push["idempotency_key"] for push in marketplace.pushes(SHOP, "refund")]
    assert sorted(pushed) == sorted(keys)
    assert len(pushed) == len(set(pushed))
    closes = [push["idempotency_key"] for push in marketplace.pushes(SHOP, "close")]
    assert sorted(closes) == sorted(f"close:{return_id}" for return_id in closed_ids)


def test_the_ledger_of_every_return_verifies(outcome: dict[str, object]) -> None:
    runtime = outcome["runtime"]
    with runtime.db.session() as session:  # type: ignore[attr-defined]
        results = list(verify_all(session))
    assert len(results) == RETURNS
    assert [breach for _, breach in results if breach is not None] == []


def test_routes_show_their_arithmetic_and_choose_the_cheapest(outcome: dict[str, object]) -> None:
    summary = outcome["summary"]
    routed = [d for d in summary.as_dict()["details"] if d["route"]]  # type: ignore[attr-defined]
    assert routed
    for detail in routed:
        route = detail["route"]
        options = route["options"]
        assert any(o["kind"] == "keep_item" for o in options)
        for option in options:
            expected = (
                Decimal(option["shipping"])
                + Decimal(option["handling"])
                + Decimal(option["duties"])
                + Decimal(option["time_cost"])
                - Decimal(option["recovery"])
            )
            assert Decimal(option["net_cost"]) == expected
        cheapest = min(Decimal(o["net_cost"]) for o in options if o["allowed"])
        assert Decimal(route["chosen_option"]["net_cost"]) == cheapest
        assert detail["returnless"] == (route["chosen_option"]["kind"] == "keep_item")


def test_labels_are_written_as_pdf_files(outcome: dict[str, object]) -> None:
    runtime = outcome["runtime"]
    with runtime.db.session() as session:  # type: ignore[attr-defined]
        shipped = session.scalars(
            select(models.Return.rma).join(
                models.Shipment, models.Shipment.return_id == models.Return.id
            )
        ).all()
    labels = outcome["labels"]
    written = sorted(p.stem for p in labels.glob("*.pdf"))  # type: ignore[attr-defined]
    assert written == sorted(shipped)
    for path in labels.glob("*.pdf"):  # type: ignore[attr-defined]
        assert path.read_bytes().startswith(b"%PDF")


def test_cross_border_parcels_travel_with_customs_papers(outcome: dict[str, object]) -> None:
    from pypdf import PdfReader

    runtime = outcome["runtime"]
    with runtime.db.session() as session:  # type: ignore[attr-defined]
        rows = session.execute(
            select(models.Shipment, models.Return, models.Destination)
            .join(models.Return, models.Shipment.return_id == models.Return.id)
            .join(models.Destination, models.Shipment.destination_id == models.Destination.id)
        ).all()
        invoices = {
            label.shipment_id: label.path
            for label in session.scalars(
                select(models.LabelFile).where(models.LabelFile.format == "invoice")
            )
        }
        buyers = {
            return_.id: (return_.buyer_address or return_.order.shipping_address)["country"]
            for _, return_, _ in rows
        }
    assert rows
    for shipment, return_, destination in rows:
        buyer = buyers[return_.id]
        cross_border = buyer != destination.address["country"]
        assert (shipment.id in invoices) == cross_border, (return_.rma, buyer)
        if cross_border:
            path = runtime.files.path(invoices[shipment.id])  # type: ignore[attr-defined]
            text = "".join(page.extract_text() for page in PdfReader(str(path)).pages)
            assert return_.rma in text and "Returned goods" in text


def test_platforms_get_signed_label_links_they_can_fetch(outcome: dict[str, object]) -> None:
    runtime = outcome["runtime"]
    marketplace = SandboxMarketplace(runtime.settings.instance_path / "sandbox.sqlite3")  # type: ignore[attr-defined]
    pushes = marketplace.pushes(SHOP, "attach_label")
    assert pushes
    app = create_app(runtime.settings)  # type: ignore[attr-defined]
    client = app.test_client()
    public = runtime.settings.public_url  # type: ignore[attr-defined]
    for push in pushes:
        url = push["payload"]["label_url"]
        assert url.startswith(f"{public}/files/")
        response = client.get(url.removeprefix(public))
        assert response.status_code == 200 and response.data.startswith(b"%PDF")
    app.extensions["helloword"].close()
