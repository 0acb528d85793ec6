"""Store credit: given when the buyer asks for it and the policy allows it, with the policy's
bonus, pushed to the platform as credit rather than a payment; refunded as money otherwise."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from connector import jobs
from connector.db import models
from connector.demo import SHOP
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.services import intake, policies
from platforms.sandbox import SandboxMarketplace
from tests.services.test_refunds import drain

CREDIT_POLICY = {
    "defaults": {"window_days": 3650, "resolutions": ["refund", "store_credit"]},
    "rules": [
        {
            "id": "keep-it-and-take-credit",
            "when": {"quantity": {"gte": 1}},
            "then": {"decision": "approve", "returnless": True, "bonus_credit_percent": 10},
        }
    ],
}


def _returnless_return(ctx: dict[str, Any], resolution: str) -> tuple[int, int]:
    """A returnless return of one unit of the first demo order's first line: its id and the
    unit's price in minor units."""
    runtime = ctx["runtime"]
    with runtime.db.transaction() as session:
        store = session.get(models.Store, ctx["setup"].store_id)
        order = session.scalars(
            select(models.Order).where(models.Order.store_id == store.id).order_by(models.Order.id)
        ).first()
        line = order.lines[0]
        request = ReturnRequest(
            order_external_id=order.external_id,
            lines=(ReturnLine(line.external_id, 1, Reason.UNWANTED, Condition.UNUSED),),
            requested_at=datetime.now(UTC),
            resolution=resolution,
        )
        return_, follow_ups = intake.create_return(session, store, order, request, source="api")
        ids = return_.id, line.unit_price_minor
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    return ids


def _refund(ctx: dict[str, Any], return_id: int) -> models.Refund:
    with ctx["runtime"].db.session() as session:
        return session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).one()


def test_store_credit_comes_with_the_policys_bonus_and_is_pushed_as_credit(ctx):
    with ctx["runtime"].db.transaction() as session:
        policies.save(session, ctx["setup"].merchant_id, CREDIT_POLICY)

    return_id, price = _returnless_return(ctx, "store_credit")

    refund = _refund(ctx, return_id)
    bonus = (Decimal(price) * Decimal("0.10")).quantize(Decimal(1))
    assert (refund.kind, refund.status) == ("store_credit", "issued")
    assert refund.amount_minor == price + int(bonus)
    [push] = SandboxMarketplace(ctx["setup"].marketplace_path).pushes(SHOP, "refund")
    assert push["payload"]["store_credit"] is True


def test_store_credit_the_policy_does_not_allow_is_refunded_as_money(ctx):
    with ctx["runtime"].db.transaction() as session:
        document = {**CREDIT_POLICY, "defaults": {"window_days": 3650, "resolutions": ["refund"]}}
        policies.save(session, ctx["setup"].merchant_id, document)

    return_id, price = _returnless_return(ctx, "store_credit")

    refund = _refund(ctx, return_id)
    assert (refund.kind, refund.amount_minor, refund.status) == ("refund", price, "issued")
    with ctx["runtime"].db.session() as session:
        requested = session.scalars(
            select(models.LedgerEvent.payload).where(
                models.LedgerEvent.return_id == return_id,
                models.LedgerEvent.kind == "RefundRequested",
            )
        ).one()
    assert "does not allow" in requested["note"]
    [push] = SandboxMarketplace(ctx["setup"].marketplace_path).pushes(SHOP, "refund")
    assert push["payload"]["store_credit"] is False
