"""The ways back besides a bought label, end to end through the jobs: the buyer's own
shipment reimbursed up to the merchant's cap, donation, per-merchant label validity, and
returned-goods relief from the order's export declaration."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from connector import jobs
from connector.db import models
from connector.domain import Condition, Money, Reason, ReturnLine, ReturnRequest
from connector.errors import ValidationError
from connector.services import intake, lifecycle, logistics, receiving
from connector.services.destinations import save_routing_settings
from tests.services.test_refunds import drain


def _settings(ctx: dict[str, Any], **document: Any) -> None:
    with ctx["runtime"].db.transaction() as session:
        save_routing_settings(session, ctx["setup"].merchant_id, document)


def _approved_return(ctx: dict[str, Any], room: bool | None = None) -> int:
    """Ask to return one unused, too-small item of each demo order in turn until the policy
    approves one; run its jobs; answer its id. ``room`` True takes only orders worth more than
    the item returned (a refund has room for the buyer's postage), False only orders of that
    one item."""
    runtime = ctx["runtime"]
    with runtime.db.session() as session:
        order_ids = session.scalars(
            select(models.Order.id)
            .where(models.Order.store_id == ctx["setup"].store_id)
            .order_by(models.Order.id)
        ).all()
    for order_id in order_ids:
        with runtime.db.transaction() as session:
            store = session.get(models.Store, ctx["setup"].store_id)
            order = session.get(models.Order, order_id)
            if room is not None and room != (order.total_minor > order.lines[0].unit_price_minor):
                continue
            request = ReturnRequest(
                order_external_id=order.external_id,
                lines=(
                    ReturnLine(
                        order.lines[0].external_id, 1, Reason.SIZE_TOO_SMALL, Condition.UNUSED
                    ),
                ),
                requested_at=datetime.now(UTC),
            )
            return_, follow_ups = intake.create_return(session, store, order, request, source="api")
            return_id = return_.id
        jobs.enqueue_all(runtime, follow_ups)
        drain(ctx["app"])
        with runtime.db.session() as session:
            if session.get(models.Return, return_id).status not in ("DECLINED", "IN_REVIEW"):
                return return_id
    raise AssertionError("the policy approved none of the demo orders' returns")


def _events(ctx: dict[str, Any], return_id: int) -> list[tuple[str, dict[str, Any]]]:
    with ctx["runtime"].db.session() as session:
        rows = session.scalars(
            select(models.LedgerEvent)
            .where(models.LedgerEvent.return_id == return_id)
            .order_by(models.LedgerEvent.seq)
        ).all()
        return [(row.kind, row.payload) for row in rows]


def test_the_buyer_ships_their_own_parcel_and_is_reimbursed_up_to_the_cap(ctx):
    runtime = ctx["runtime"]
    # a cap far below any label, and no returnless refund for goods worth anything
    _settings(
        ctx,
        own_shipment_cap={"amount": "0.50", "currency": "USD"},
        keep_item_max_value={"amount": "0", "currency": "USD"},
    )
    return_id = _approved_return(ctx, room=True)
    with runtime.db.session() as session:
        return_ = session.get(models.Return, return_id)
        assert return_.route_option.startswith("own_shipment:")
        assert return_.status == "AWAITING_SHIPMENT"
        currency = return_.order.currency
        line_value = return_.lines[0].order_line.unit_price_minor
        cap = logistics.reimbursement_cap(session, return_)
    requested = dict(_events(ctx, return_id))["OwnShipmentRequested"]
    destination = return_.route_option.split(":", 1)[1]
    assert requested["destination"] == destination
    assert requested["address"]["country"]
    assert requested["reimbursed_up_to"] == str(cap)

    postage = Money.of("1000", currency)  # more than the cap: the cap is what is paid back
    with (
        runtime.db.transaction() as session,
        pytest.raises(ValidationError, match="order's currency"),
    ):
        logistics.record_own_shipment(
            session,
            return_id,
            "royal_mail",
            "RM1",
            Money.of("5", "JPY" if currency != "JPY" else "USD"),
            "buyer",
        )
    with runtime.db.transaction() as session:
        logistics.record_own_shipment(
            session, return_id, " Royal_Mail ", "RM123456785GB", postage, "buyer"
        )
    with runtime.db.transaction() as session, pytest.raises(ValidationError, match="not awaiting"):
        logistics.record_own_shipment(session, return_id, "usps", "9400", postage, "buyer")
    with runtime.db.session() as session:
        assert session.get(models.Return, return_id).status == "IN_TRANSIT"
        shipment = session.scalars(
            select(models.Shipment).where(models.Shipment.return_id == return_id)
        ).one()
    assert (shipment.kind, shipment.carrier, shipment.tracking_number) == (
        "own_shipment",
        "royal_mail",
        "RM123456785GB",
    )
    assert Money.from_minor(shipment.price_minor, shipment.currency) == cap

    with runtime.db.transaction() as session:
        follow_ups = receiving.receive(session, return_id, 700, "", "test:warehouse")
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    with runtime.db.session() as session:
        refund = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).one()
    assert refund.amount_minor == line_value + cap.minor
    assert refund.status == "issued"
    assert dict(_events(ctx, return_id))["RefundRequested"]["postage"] == str(cap)


def test_postage_is_paid_back_only_as_far_as_the_order_has_room(ctx):
    """A platform refunds no more than the order's total: returning the whole order leaves no
    room for postage, and the refund is the goods alone rather than a refund refused."""
    runtime = ctx["runtime"]
    _settings(
        ctx,
        own_shipment_cap={"amount": "0.50", "currency": "USD"},
        keep_item_max_value={"amount": "0", "currency": "USD"},
    )
    return_id = _approved_return(ctx, room=False)
    with runtime.db.session() as session:
        return_ = session.get(models.Return, return_id)
        currency = return_.order.currency
        line_value = return_.lines[0].order_line.unit_price_minor
        assert return_.order.total_minor == line_value
    with runtime.db.transaction() as session:
        logistics.record_own_shipment(
            session, return_id, "usps", "9400100000000000000001", Money.of("9", currency), "buyer"
        )
    with runtime.db.transaction() as session:
        follow_ups = receiving.receive(session, return_id, None, "", "test:warehouse")
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    with runtime.db.session() as session:
        refund = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).one()
    assert (refund.status, refund.amount_minor) == ("issued", line_value)
    assert "postage" not in dict(_events(ctx, return_id))["RefundRequested"]


def test_a_buyer_cannot_report_their_own_shipment_for_a_label_return(ctx):
    return_id = _approved_return(ctx)
    with ctx["runtime"].db.session() as session:
        return_ = session.get(models.Return, return_id)
        assert return_.route_option.split(":")[0] in ("label", "dropoff")
        currency = return_.order.currency
    with ctx["runtime"].db.transaction() as session, pytest.raises(ValidationError, match="label"):
        logistics.record_own_shipment(
            session, return_id, "usps", "9400", Money.of("3", currency), "buyer"
        )


def test_a_merchant_who_donates_resolves_returnless_returns_by_donation(ctx):
    runtime = ctx["runtime"]
    _settings(ctx, returnless="donate")
    with runtime.db.transaction() as session:  # nowhere to send the goods: returnless it is
        session.execute(update(models.Destination).values(active=False))
    return_id = _approved_return(ctx)
    with runtime.db.session() as session:
        return_ = session.get(models.Return, return_id)
        route = return_.route
        refunds = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).all()
    assert route["chosen"] == "donate"
    assert return_.returnless
    keep = next(o for o in route["options"] if o["id"] == "keep_item")
    assert keep["why_not"] == "the merchant resolves returnless returns as donate"
    granted = dict(_events(ctx, return_id))["ReturnlessGranted"]
    assert granted == {"route": "donate", "buyer": "donates the item"}
    assert [(r.trigger, r.status) for r in refunds] == [("returnless", "issued")]


def test_labels_expire_after_the_merchants_own_validity(ctx):
    runtime = ctx["runtime"]
    return_id = _approved_return(ctx)
    with runtime.db.transaction() as session:
        session.execute(
            update(models.Return)
            .where(models.Return.id == return_id)
            .values(updated_at=datetime.now(UTC) - timedelta(days=4))
        )
    with runtime.db.transaction() as session:
        assert lifecycle.expire_stale(session) == []  # 4 days is within the default 30
    _settings(ctx, label_validity_days=3)
    with runtime.db.transaction() as session:
        follow_ups = lifecycle.expire_stale(session)
    assert [f.job for f in follow_ups] == ["void_label"]
    with runtime.db.session() as session:
        assert session.get(models.Return, return_id).status == "EXPIRED"
    assert dict(_events(ctx, return_id))["ReturnExpired"]["after_days"] == 3


def test_goods_going_back_to_the_country_that_exported_them_pay_no_duty(ctx):
    runtime = ctx["runtime"]
    return_id = _approved_return(ctx)
    with runtime.db.session() as session:
        return_ = session.get(models.Return, return_id)
        order = return_.order
        route = return_.route
        buyer_country = return_.order.shipping_address["country"]
    assert order.shipped_from == "CN"
    assert len(order.export_reference) == 18
    origin = [o for o in route["options"] if o["destination"] == "cn-origin"]
    assert origin and all(Decimal(o["duties"]) == 0 for o in origin)
    abroad = [
        o
        for o in route["options"]
        if o["destination"] not in ("", "cn-origin") and o["kind"] != "keep_item"
    ]
    # the overseas warehouses do charge duty on goods crossing a border to reach them
    crossing = [o for o in abroad if not _same_country(o["destination"], buyer_country)]
    assert all(Decimal(o["duties"]) > 0 for o in crossing)


def test_the_customs_invoice_cites_the_export_declaration(ctx):
    runtime = ctx["runtime"]
    _settings(ctx, keep_item_max_value={"amount": "0", "currency": "USD"})
    with runtime.db.transaction() as session:  # only the origin warehouse: always abroad
        session.execute(
            update(models.Destination)
            .where(models.Destination.code != "cn-origin")
            .values(active=False)
        )
    return_id = _approved_return(ctx)
    with runtime.db.session() as session:
        return_ = session.get(models.Return, return_id)
        reference = return_.order.export_reference
        path = session.scalar(
            select(models.LabelFile.path)
            .join(models.Shipment)
            .where(models.Shipment.return_id == return_id, models.LabelFile.format == "invoice")
        )
    assert path, "a cross-border return travels with a customs invoice"
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(runtime.files.read(path))).pages
    )
    assert reference in text


_COUNTRY = {"cn-origin": "CN", "us-3pl": "US", "eu-3pl": "NL", "eu-hub": "NL"}


def _same_country(destination: str, country: str) -> bool:
    return _COUNTRY.get(destination) == country
