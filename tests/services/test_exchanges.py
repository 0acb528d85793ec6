"""Exchanges: when the buyer asks for another variant and the policy allows it, the platform
sends that variant at the refund trigger instead of money, and the return resolves; when the
policy does not allow it, the buyer is refunded and the ledger says why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from connector import jobs
from connector.db import models
from connector.demo import SHOP
from connector.domain import Reason, ReturnLine, ReturnRequest
from connector.services import intake, policies
from platforms.sandbox import SandboxMarketplace
from tests.services.test_refunds import drain

EXCHANGE_POLICY = {
    "defaults": {"window_days": 3650, "resolutions": ["refund", "exchange"]},
    "rules": [
        {
            "id": "keep-it-and-take-another-size",
            "when": {"quantity": {"gte": 1}},
            "then": {"decision": "approve", "returnless": True},
        }
    ],
}


def _exchange_return(ctx: dict[str, Any]) -> tuple[int, str, str]:
    """A returnless exchange of one unit of the first sized demo line for another size: the
    return's id, the order line's id and the size wanted."""
    runtime = ctx["runtime"]
    with runtime.db.transaction() as session:
        store = session.get(models.Store, ctx["setup"].store_id)
        line = session.scalars(
            select(models.OrderLine)
            .join(models.Order)
            .where(models.Order.store_id == store.id, models.OrderLine.sku.like("APP-%"))
            .order_by(models.OrderLine.id)
        ).first()
        order = session.get(models.Order, line.order_id)
        wanted = next(sku for sku in _sizes(line.sku) if sku != line.sku)
        request = ReturnRequest(
            order_external_id=order.external_id,
            lines=(ReturnLine(line.external_id, 1, Reason.SIZE_TOO_SMALL, exchange_sku=wanted),),
            requested_at=datetime.now(UTC),
            resolution="exchange",
        )
        return_, follow_ups = intake.create_return(session, store, order, request, source="api")
        ids = return_.id, line.external_id, wanted
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    return ids


def _sizes(sku: str) -> list[str]:
    base = sku.rpartition("-")[0]
    return [f"{base}-{size}" for size in ("S", "M", "L", "XL")]


def _ledger(ctx: dict[str, Any], return_id: int, kind: str) -> list[dict[str, Any]]:
    with ctx["runtime"].db.session() as session:
        return list(
            session.scalars(
                select(models.LedgerEvent.payload).where(
                    models.LedgerEvent.return_id == return_id, models.LedgerEvent.kind == kind
                )
            )
        )


def test_an_allowed_exchange_sends_the_variant_moves_no_money_and_resolves(ctx):
    with ctx["runtime"].db.transaction() as session:
        policies.save(session, ctx["setup"].merchant_id, EXCHANGE_POLICY)

    return_id, line_id, wanted = _exchange_return(ctx)

    with ctx["runtime"].db.session() as session:
        return_ = session.get_one(models.Return, return_id)
        [refund] = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        )
        assert (refund.kind, refund.amount_minor, refund.status) == ("exchange", 0, "issued")
        assert return_.status in ("RESOLVED", "CLOSED")
        assert return_.refunded_at is None
        assert [line.exchange_sku for line in return_.lines] == [wanted]
    marketplace = SandboxMarketplace(ctx["setup"].marketplace_path)
    assert marketplace.pushes(SHOP, "refund") == []
    [push] = marketplace.pushes(SHOP, "exchange")
    assert push["payload"]["lines"] == [{"line_item_id": line_id, "quantity": 1, "sku": wanted}]
    [requested] = _ledger(ctx, return_id, "RefundRequested")
    assert requested["kind"] == "exchange"
    assert requested["lines"] == [{"line": line_id, "quantity": 1, "sku": wanted}]
    [issued] = _ledger(ctx, return_id, "RefundIssued")
    assert issued["kind"] == "exchange"
    assert _ledger(ctx, return_id, "ReturnResolved")


def test_an_exchange_the_policy_does_not_allow_is_refunded_and_says_why(ctx):
    with ctx["runtime"].db.transaction() as session:
        document = {**EXCHANGE_POLICY, "defaults": {"window_days": 3650, "resolutions": ["refund"]}}
        policies.save(session, ctx["setup"].merchant_id, document)

    return_id, _line_id, _wanted = _exchange_return(ctx)

    with ctx["runtime"].db.session() as session:
        [refund] = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        )
        assert (refund.kind, refund.status) == ("refund", "issued")
        assert refund.amount_minor > 0
    marketplace = SandboxMarketplace(ctx["setup"].marketplace_path)
    assert marketplace.pushes(SHOP, "exchange") == []
    assert len(marketplace.pushes(SHOP, "refund")) == 1
    [requested] = _ledger(ctx, return_id, "RefundRequested")
    assert requested["note"] == (
        "an exchange was asked for, but the policy does not allow it: refunded"
    )
