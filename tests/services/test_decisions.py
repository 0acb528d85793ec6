"""The policy engine inside the pipeline: the version each decision used, a rule that lets
the buyer keep the goods, and a restocking fee taken off the refund."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from connector import jobs
from connector.db import models
from connector.demo import bootstrap, import_orders
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.services import intake, policies
from tests.services.test_refunds import drain


@pytest.fixture
def ctx(app: Flask) -> Iterator[dict[str, Any]]:
    runtime = app.extensions["helloword"]
    with app.app_context():
        setup = bootstrap(runtime, orders=12)
        import_orders(runtime, setup)
        yield {"app": app, "runtime": runtime, "setup": setup}


def _policy(ctx: dict[str, Any], then: dict[str, Any]) -> int:
    document = {
        "version": 1,
        "currency": "USD",
        "defaults": {"window_days": 365, "refund_trigger": "received"},
        "rules": [{"id": "everything", "when": {"quantity": {"gte": 1}}, "then": then}],
    }
    with ctx["runtime"].db.transaction() as session:
        return policies.save(session, ctx["setup"].merchant_id, document).version


def _return(ctx: dict[str, Any]) -> int:
    runtime = ctx["runtime"]
    with runtime.db.transaction() as session:
        store = session.get(models.Store, ctx["setup"].store_id)
        order = session.scalars(
            select(models.Order)
            .where(models.Order.delivered_at.is_not(None))
            .order_by(models.Order.id)
        ).first()
        line = order.lines[0]
        request = ReturnRequest(
            order.external_id,
            (ReturnLine(line.external_id, 1, Reason.UNWANTED, Condition.UNUSED),),
            datetime.now(UTC),
        )
        return_, follow_ups = intake.create_return(session, store, order, request, source="api")
        return_id = return_.id
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    return return_id


def test_a_decision_records_the_policy_version_and_the_deciding_rule(ctx: dict[str, Any]) -> None:
    version = _policy(ctx, {"decision": "review", "queue": "everything"})
    return_id = _return(ctx)
    with ctx["runtime"].db.session() as session:
        return_ = session.get(models.Return, return_id)
        decision = session.scalars(
            select(models.Decision).where(models.Decision.return_id == return_id)
        ).one()
    assert (return_.status, return_.review_queue) == ("IN_REVIEW", "everything")
    assert decision.policy_version == version == 2  # the sandbox merchant starts at version 1
    assert decision.lines[0]["rule_id"] == "everything"


def test_a_returnless_rule_refunds_and_closes_without_a_parcel(ctx: dict[str, Any]) -> None:
    _policy(ctx, {"decision": "approve", "returnless": True})
    return_id = _return(ctx)
    with ctx["runtime"].db.session() as session:
        return_ = session.get(models.Return, return_id)
        shipments = session.scalars(
            select(models.Shipment).where(models.Shipment.return_id == return_id)
        ).all()
        refund = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).one()
    assert return_.status == "CLOSED" and return_.returnless
    assert return_.route["chosen"] == "keep_item"
    assert shipments == []
    assert (refund.status, refund.trigger) == ("issued", "returnless")


def test_a_restocking_fee_comes_off_the_refund(ctx: dict[str, Any]) -> None:
    _policy(ctx, {"decision": "approve", "returnless": True, "restocking_fee": {"percent": 10}})
    return_id = _return(ctx)
    with ctx["runtime"].db.session() as session:
        return_ = session.get(models.Return, return_id)
        refund = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).one()
        price = return_.lines[0].order_line.unit_price_minor
    assert refund.amount_minor == price - round(price / 10)


def test_one_returnless_line_does_not_keep_a_reviewed_line_from_coming_back(
    ctx: dict[str, Any],
) -> None:
    runtime = ctx["runtime"]
    with runtime.db.session() as session:
        order = next(
            o
            for o in session.scalars(select(models.Order).order_by(models.Order.id))
            if len(o.lines) >= 2 and o.delivered_at is not None
        )
        first, second = order.lines[0], order.lines[1]
        order_external = order.external_id
    document = {
        "version": 1,
        "currency": "USD",
        "defaults": {"window_days": 365},
        "rules": [
            {
                "id": "keep-it",
                "when": {"sku": first.sku},
                "then": {"decision": "approve", "returnless": True},
            },
            {
                "id": "look",
                "when": {"quantity": {"gte": 1}},
                "then": {"decision": "review", "queue": "look"},
            },
        ],
    }
    with runtime.db.transaction() as session:
        policies.save(session, ctx["setup"].merchant_id, document)
        store = session.get(models.Store, ctx["setup"].store_id)
        order_row = session.scalars(
            select(models.Order).where(models.Order.external_id == order_external)
        ).one()
        request = ReturnRequest(
            order_external,
            (
                ReturnLine(first.external_id, 1, Reason.UNWANTED, Condition.UNUSED),
                ReturnLine(second.external_id, 1, Reason.UNWANTED, Condition.UNUSED),
            ),
            datetime.now(UTC),
        )
        return_, follow_ups = intake.create_return(session, store, order_row, request, source="api")
        return_id = return_.id
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    with runtime.db.session() as session:
        return_ = session.get(models.Return, return_id)
        assert (return_.status, return_.returnless) == ("IN_REVIEW", False)
    from connector.services import lifecycle

    with runtime.db.transaction() as session:
        follow_ups = lifecycle.review(session, return_id, True, "fine", "staff:ana")
        assert session.get(models.Return, return_id).returnless is False
