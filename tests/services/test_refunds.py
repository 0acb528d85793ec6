"""No refund is ever issued twice: not when a trigger fires again, not when a job runs again,
not when a worker dies between the platform's answer and our record of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select, update

from connector import jobs
from connector.db import models
from connector.demo import SHOP
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.services import intake, publish, receiving
from connector.services.refunds import request_refund
from platforms.sandbox import SandboxMarketplace


def drain(app: Flask) -> None:
    """Run every queued job, and the jobs they queue, in this process."""
    runtime = app.extensions["helloword"]
    SimpleWorker([runtime.queue], connection=runtime.redis).work(burst=True, logging_level="ERROR")


def _shipped_return(ctx: dict[str, Any]) -> int:
    """A return approved, routed and labelled: the first demo order whose return ships."""
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
            line = order.lines[0]
            request = ReturnRequest(
                order_external_id=order.external_id,
                lines=(ReturnLine(line.external_id, 1, Reason.SIZE_TOO_SMALL, Condition.UNUSED),),
                requested_at=datetime.now(UTC),
            )
            return_, follow_ups = intake.create_return(session, store, order, request, source="api")
            return_id = return_.id
        jobs.enqueue_all(runtime, follow_ups)
        drain(ctx["app"])
        with runtime.db.session() as session:
            if session.get(models.Return, return_id).status == "AWAITING_SHIPMENT":
                return return_id
    raise AssertionError("no demo order gave a return that ships")


def _refund_pushes(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    return SandboxMarketplace(ctx["setup"].marketplace_path).pushes(SHOP, "refund")


def _receive(ctx: dict[str, Any], return_id: int) -> None:
    runtime = ctx["runtime"]
    with runtime.db.transaction() as session:
        follow_ups = receiving.receive(session, return_id, 640, "bench 3", "test:warehouse")
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])


def test_receipt_issues_one_refund_for_the_approved_lines(ctx: dict[str, Any]) -> None:
    return_id = _shipped_return(ctx)
    _receive(ctx, return_id)
    with ctx["runtime"].db.session() as session:
        refunds = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).all()
        return_ = session.get(models.Return, return_id)
        expected = return_.lines[0].order_line.unit_price_minor
    assert [(r.status, r.amount_minor, r.idempotency_key) for r in refunds] == [
        ("issued", expected, f"refund:{return_id}:1")
    ]
    assert [p["idempotency_key"] for p in _refund_pushes(ctx)] == [f"refund:{return_id}:1"]


def test_a_second_trigger_adds_no_refund(ctx: dict[str, Any]) -> None:
    return_id = _shipped_return(ctx)
    _receive(ctx, return_id)
    with ctx["runtime"].db.transaction() as session:
        return_ = session.get(models.Return, return_id)
        assert request_refund(session, return_, trigger="inspected") == []
        count = len(
            session.scalars(select(models.Refund).where(models.Refund.return_id == return_id)).all()
        )
    assert count == 1


def test_running_the_refund_job_again_pushes_nothing(ctx: dict[str, Any]) -> None:
    return_id = _shipped_return(ctx)
    _receive(ctx, return_id)
    with ctx["runtime"].db.session() as session:
        action = session.scalars(
            select(models.OutboundAction).where(models.OutboundAction.action == "refund")
        ).one()
    assert jobs.perform_outbound_action(action.id) == {
        "skipped": f"{action.idempotency_key} is done already"
    }
    assert len(_refund_pushes(ctx)) == 1


def test_a_crash_after_the_platform_refunded_does_not_refund_again(ctx: dict[str, Any]) -> None:
    """The worker died after the platform answered and before we recorded it: the retry sends
    the same idempotency key, the platform says it is done, and we record the one refund."""
    runtime = ctx["runtime"]
    return_id = _shipped_return(ctx)
    with runtime.db.transaction() as session:
        follow_ups = receiving.receive(session, return_id, None, "", "test:warehouse")
    refund_job = next(f for f in follow_ups if f.job == "perform_outbound_action")
    with runtime.db.transaction() as session:
        call, store = publish.prepare(
            session, refund_job.args[0], runtime.settings.secret_key, runtime.settings.public_url
        )
        adapter = runtime.platform(
            store.platform, store.external_id, store.credentials, store.settings
        )
    publish.push(adapter, call)  # the platform refunds; then the worker dies

    # while the dead job's claim lasts, nobody pushes again
    assert "held by another job" in jobs.perform_outbound_action(refund_job.args[0])["skipped"]
    with runtime.db.transaction() as session:  # the claim runs out; the sweeper retries
        row = session.get(models.OutboundAction, refund_job.args[0])
        row.claimed_until = datetime.now(UTC) - timedelta(seconds=1)
    result = jobs.perform_outbound_action(refund_job.args[0])
    assert "follow_ups" in result
    with runtime.db.session() as session:
        refund = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).one()
        action = session.get(models.OutboundAction, refund_job.args[0])
    assert refund.status == "issued"
    assert action.result["already_done"] is True
    assert len(_refund_pushes(ctx)) == 1


def test_the_whole_return_closes_after_grading(ctx: dict[str, Any]) -> None:
    runtime = ctx["runtime"]
    return_id = _shipped_return(ctx)
    _receive(ctx, return_id)
    with runtime.db.transaction() as session:
        return_ = session.get(models.Return, return_id)
        grades = {line.id: "resellable" for line in return_.lines}
        follow_ups = receiving.grade(session, return_id, grades, "test:warehouse")
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    with runtime.db.session() as session:
        return_ = session.get(models.Return, return_id)
        returned = return_.lines[0].order_line.sku, return_.lines[0].quantity
        kinds = [
            e.kind
            for e in session.scalars(
                select(models.LedgerEvent)
                .where(models.LedgerEvent.return_id == return_id)
                .order_by(models.LedgerEvent.seq)
            )
        ]
    assert return_.status == "CLOSED"
    assert kinds[:4] == ["ReturnRequested", "ReturnDecided", "ReturnRouted", "LabelIssued"]
    assert "ReturnClosed" in kinds
    assert "RefundIssued" in kinds and "ReturnInspected" in kinds
    pushes = SandboxMarketplace(ctx["setup"].marketplace_path).pushes(SHOP)
    # a return made through the API is unknown to the platform: the refund is pushed on the
    # order, and the resellable goods go back on sale
    assert sorted(p["kind"] for p in pushes) == ["refund", "restock"]
    [restock] = [p for p in pushes if p["kind"] == "restock"]
    assert (restock["payload"]["sku"], restock["payload"]["quantity"]) == returned


def test_a_refund_that_failed_for_good_can_be_asked_again(ctx: dict[str, Any]) -> None:
    from connector.errors import ValidationError
    from connector.services.refunds import retry_refund

    runtime = ctx["runtime"]
    return_id = _shipped_return(ctx)
    with pytest.raises(ValidationError, match="no failed refund"), runtime.db.transaction() as s:
        retry_refund(s, return_id, "staff:ana")
    with runtime.db.transaction() as session:  # received; its refund job is not run yet
        receiving.receive(session, return_id, None, "", "test:warehouse")
    with pytest.raises(ValidationError, match="pending or issued"), runtime.db.transaction() as s:
        retry_refund(s, return_id, "staff:ana")
    with runtime.db.transaction() as session:  # the platform was down longer than the backoff
        session.execute(update(models.Refund).values(status="failed"))
        session.execute(
            update(models.OutboundAction)
            .where(models.OutboundAction.action == "refund")
            .values(status="failed")
        )
    with runtime.db.transaction() as session:
        follow_ups = retry_refund(session, return_id, "staff:ana")
    jobs.enqueue_all(runtime, follow_ups)
    drain(ctx["app"])
    with runtime.db.session() as session:
        refunds = session.scalars(
            select(models.Refund)
            .where(models.Refund.return_id == return_id)
            .order_by(models.Refund.sequence)
        ).all()
    assert [(r.sequence, r.status, r.trigger) for r in refunds] == [
        (1, "failed", "received"),
        (2, "issued", "staff"),
    ]
