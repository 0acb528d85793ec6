"""One outbox row is pushed by one job at a time, and a push that keeps failing ends failed,
in the open for staff, instead of pending for ever."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select, update

from connector import jobs
from connector.db import models
from connector.domain import Address, Customer, Money, Order, OrderLine
from connector.errors import RetryableError
from connector.ports import PushResult
from connector.services import intake, merchants, outbox
from connector.services.refunds import request_refund


class FlakyPlatform:
    """A platform whose every push answers 503: the refund can never get through."""

    calls: list[str] = []

    def __init__(self, credentials: Any, context: Any) -> None:
        pass

    def _fail(self, key: str, *_: Any) -> PushResult:
        FlakyPlatform.calls.append(key)
        raise RetryableError("503 Service Unavailable", retry_after=None)

    approve = decline = attach_label = refund = dispose = close = _fail


@pytest.fixture
def refund_action(app: Flask) -> Iterator[dict[str, Any]]:
    runtime = app.extensions["helloword"]
    runtime.registry.platforms["flaky"] = FlakyPlatform
    FlakyPlatform.calls = []
    delivered = datetime.now(UTC) - timedelta(days=3)
    order = Order(
        "o-1",
        "#1",
        "EUR",
        delivered,
        Customer("c-1", "ana@example.com"),
        Address("Ana", "Hauptstr. 1", "Berlin", "10115", "DE"),
        (OrderLine("l-1", "SKU", "Shirt", 1, Money.of("30.00", "EUR"), delivered_at=delivered),),
        Money.of("30.00", "EUR"),
        delivered_at=delivered,
    )
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Flaky Co")
        store = merchants.link_store(session, runtime.vault, merchant, "flaky", "flaky.test")
        order_row = intake.upsert_order(session, store, order)
        from connector.domain import Condition, Reason, ReturnLine, ReturnRequest

        request = ReturnRequest(
            "o-1", (ReturnLine("l-1", 1, Reason.UNWANTED, Condition.UNUSED),), datetime.now(UTC)
        )
        return_, _ = intake.create_return(session, store, order_row, request, source="api")
        return_.lines[0].outcome = "approve"
        follow_ups = request_refund(session, return_, trigger="received")
        action_id = follow_ups[0].args[0]
        return_id = return_.id
    with app.app_context():
        yield {"runtime": runtime, "action_id": action_id, "return_id": return_id}


def test_a_row_held_by_another_job_is_not_pushed_again(refund_action: dict[str, Any]) -> None:
    runtime = refund_action["runtime"]
    with runtime.db.transaction() as session:
        session.execute(
            update(models.OutboundAction).values(
                claimed_until=datetime.now(UTC) + timedelta(minutes=5)
            )
        )
    result = jobs.perform_outbound_action(refund_action["action_id"])
    assert "held by another job" in result["skipped"]
    assert FlakyPlatform.calls == []


def test_a_passing_failure_holds_the_row_until_its_retry(refund_action: dict[str, Any]) -> None:
    runtime = refund_action["runtime"]
    jobs.enqueue(runtime, "perform_outbound_action", refund_action["action_id"], job_id="push:1")
    SimpleWorker([runtime.queue], connection=runtime.redis).work(burst=True, logging_level="ERROR")
    with runtime.db.session() as session:
        action = session.get(models.OutboundAction, refund_action["action_id"])
    assert action.status == "pending" and "503" in action.last_error
    assert action.claimed_until > datetime.now(UTC) + timedelta(seconds=jobs.BACKOFF_SECONDS[0])
    # the sweeper leaves it to the scheduled retry
    with runtime.db.transaction() as session:
        session.execute(
            update(models.OutboundAction).values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert jobs.sweep_outbox()["queued"] == 0
    assert not any("perform_outbound_action" in j for j in runtime.queue.get_job_ids())
    # once the hold has run out (the retry was lost with Redis), the sweeper takes it up
    with runtime.db.transaction() as session:
        session.execute(
            update(models.OutboundAction).values(
                claimed_until=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    assert jobs.sweep_outbox()["queued"] == 1


def test_a_push_that_keeps_failing_ends_failed_and_says_so(refund_action: dict[str, Any]) -> None:
    runtime = refund_action["runtime"]
    last = len(jobs.BACKOFF_SECONDS)
    jobs.enqueue(
        runtime,
        "perform_outbound_action",
        refund_action["action_id"],
        job_id="push:last",
        meta={"attempt": last, "base_id": "push-last"},
    )
    SimpleWorker([runtime.queue], connection=runtime.redis).work(burst=True, logging_level="ERROR")
    with runtime.db.session() as session:
        action = session.get(models.OutboundAction, refund_action["action_id"])
        refund = session.scalars(select(models.Refund)).one()
        kinds = session.scalars(
            select(models.LedgerEvent.kind).where(
                models.LedgerEvent.return_id == refund_action["return_id"]
            )
        ).all()
    assert (action.status, refund.status) == ("failed", "failed")
    assert action.claimed_until is None
    assert "RefundFailed" in kinds
    assert FlakyPlatform.calls == [f"refund:{refund_action['return_id']}:1"]


def test_claiming_counts_the_attempt(refund_action: dict[str, Any]) -> None:
    runtime = refund_action["runtime"]
    with runtime.db.transaction() as session:
        row = session.get(models.OutboundAction, refund_action["action_id"])
        outbox.claim(row, retrying=False)
        assert row.attempts == 1 and row.claimed_until is not None
