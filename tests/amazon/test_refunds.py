"""Refunds to an Amazon account through the outbox: a burst of refunds goes out as one payment
adjustment feed, sent by one job; the refunds wait on Amazon without failing, each settled from
the one processing report; a refused one alone fails and can be asked for again, and one Amazon
never answers for ends uncertain, which nobody can ask for again until a person settles it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select, update

from connector import jobs
from connector.db import models
from connector.domain import (
    Address,
    Condition,
    Customer,
    Money,
    Order,
    OrderLine,
    Reason,
    ReturnLine,
    ReturnRequest,
)
from connector.errors import ValidationError
from connector.runtime import Runtime
from connector.services import intake, merchants, refunds, users
from platforms.amazon import RefundState
from tests.contract.amazon_store import FakeAmazon, Item

from .conftest import MERCHANT, link

SHIRT = Item("LIN-SHIRT-M", "Linen shirt, sand, M", 1, "49.90")
TROUSERS = Item("LIN-TROUSER-32", "Linen trousers, 32", 2, "59.90")
PASSWORD = "a long enough password"


@dataclass(frozen=True)
class Refund:
    return_id: int
    action_id: int
    key: str
    order_external_id: str


@pytest.fixture
def store_id(runtime: Runtime, amazon: FakeAmazon) -> int:
    return link(runtime)


def ask_refund(runtime: Runtime, amazon: FakeAmazon, store_id: int, price: str) -> Refund:
    """An approved return of the shirt of a new Amazon order, and its refund asked for at the
    price Helloword holds for the shirt (Amazon's own price is 49.90)."""
    payload = amazon.add_order([SHIRT, TROUSERS])
    delivered = datetime.now(UTC) - timedelta(days=3)
    order = Order(
        payload["orderId"],
        payload["orderId"],
        "EUR",
        delivered,
        Customer("", ""),
        Address("", "", "Köln", "", "DE"),
        (OrderLine(SHIRT.sku, SHIRT.sku, SHIRT.title, 1, Money.of(price, "EUR")),),
        Money.of("169.70", "EUR"),
        delivered_at=delivered,
    )
    with runtime.db.transaction() as session:
        store = session.get_one(models.Store, store_id)
        order_row = intake.upsert_order(session, store, order)
        request = ReturnRequest(
            order.external_id,
            (ReturnLine(SHIRT.sku, 1, Reason.UNWANTED, Condition.UNUSED),),
            datetime.now(UTC),
        )
        return_, _ = intake.create_return(session, store, order_row, request, source="api")
        return_.lines[0].outcome = "approve"
        [push] = refunds.request_refund(session, return_, trigger="received")
        key = f"refund:{return_.id}:1"
        return Refund(return_.id, push.args[0], key, order.external_id)


def run_due(app: Flask, job: str) -> None:
    """Run now the scheduled ``job`` jobs (the outbox's next asks, or the batch's sending), as
    the scheduler would once they are due, and whatever they queue."""
    runtime: Runtime = app.extensions["helloword"]
    registry = ScheduledJobRegistry(queue=runtime.queue)
    for job_id in registry.get_job_ids():
        due = Job.fetch(job_id, connection=runtime.redis)
        if due.func_name == f"connector.jobs.{job}":
            registry.remove(due)
            runtime.queue.enqueue_job(due)
    with app.app_context():
        SimpleWorker([runtime.queue], connection=runtime.redis).work(
            burst=True, logging_level="ERROR"
        )


def scheduled(runtime: Runtime, job: str) -> list[str]:
    """The ids of the scheduled ``job`` jobs."""
    registry = ScheduledJobRegistry(queue=runtime.queue)
    return sorted(
        job_id
        for job_id in registry.get_job_ids()
        if Job.fetch(job_id, connection=runtime.redis).func_name == f"connector.jobs.{job}"
    )


def refund_rows(runtime: Runtime, *return_ids: int) -> list[tuple[int, int, str, str]]:
    with runtime.db.session() as session:
        rows = session.scalars(
            select(models.Refund)
            .where(models.Refund.return_id.in_(return_ids))
            .order_by(models.Refund.return_id, models.Refund.sequence)
        ).all()
        return [(r.return_id, r.sequence, r.status, r.error) for r in rows]


def receipt_state(app: Flask, store_id: int, key: str) -> RefundState | None:
    with app.app_context():
        tracker = jobs.refund_tracker(app.extensions["helloword"], store_id)
        assert tracker is not None
        standing = tracker.refund_status(key)
    return RefundState(standing.state) if standing is not None else None


def ask_again(app: Flask, store_id: int, return_id: int) -> list[Any]:
    runtime: Runtime = app.extensions["helloword"]
    with app.app_context():
        tracker = jobs.refund_tracker(runtime, store_id)
        with runtime.db.transaction() as session:
            return refunds.retry_refund(session, return_id, "staff:ana", tracker)


def test_three_refunds_go_in_one_feed_sent_by_one_job(
    app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int
) -> None:
    burst = [ask_refund(runtime, amazon, store_id, "49.90") for _ in range(3)]

    started = datetime.now(UTC)
    with app.app_context():
        answers = [jobs.perform_outbound_action(refund.action_id) for refund in burst]
    ended = datetime.now(UTC)

    assert all("awaiting" in answer for answer in answers)
    assert amazon.calls == []
    assert scheduled(runtime, "submit_amazon_refunds") == [f"submit_amazon_refunds-{store_id}-1"]
    assert len(scheduled(runtime, "perform_outbound_action")) == 3
    due = ScheduledJobRegistry(queue=runtime.queue).get_scheduled_time(
        f"submit_amazon_refunds-{store_id}-1"
    )
    # 60 s after the first refund was batched, whenever that was while they ran (RQ keeps
    # the time to the whole second)
    assert (due - ended).total_seconds() <= 60 < (due - started).total_seconds() + 1
    assert {row[2] for row in refund_rows(runtime, *(r.return_id for r in burst))} == {"pending"}

    run_due(app, "submit_amazon_refunds")

    [feed_id] = amazon.feeds
    messages = amazon.feed_xml(feed_id).findall("Message")
    assert [m.findtext("OrderAdjustment/AmazonOrderID") for m in messages] == [
        refund.order_external_id for refund in burst
    ]
    assert scheduled(runtime, "submit_amazon_refunds") == []


def test_a_partly_refused_feed_issues_two_fails_one_and_the_retry_sends_only_that_one(
    app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int
) -> None:
    kept, refused, other = (
        ask_refund(runtime, amazon, store_id, price) for price in ("49.90", "99.00", "49.90")
    )
    with app.app_context():
        for refund in (kept, refused, other):
            jobs.perform_outbound_action(refund.action_id)
    run_due(app, "submit_amazon_refunds")

    run_due(app, "perform_outbound_action")

    rows = refund_rows(runtime, kept.return_id, refused.return_id, other.return_id)
    assert [(row[2], row[3]) for row in rows if row[0] != refused.return_id] == [
        ("issued", ""),
        ("issued", ""),
    ]
    [(_, _, status, error)] = [row for row in rows if row[0] == refused.return_id]
    assert status == "failed"
    assert "exceeds the amount that can be refunded" in error
    assert amazon.calls.count("getFeed") == 1  # one reading settled the whole feed
    assert receipt_state(app, store_id, refused.key) is RefundState.FAILED
    refunded = dict(amazon.refunded)

    with runtime.db.transaction() as session:  # the shop corrects its price for the shirt
        session.execute(
            update(models.OrderLine)
            .where(models.OrderLine.external_id == SHIRT.sku)
            .values(unit_price_minor=4990)
        )
    jobs.enqueue_all(runtime, ask_again(app, store_id, refused.return_id))
    run_due(app, "perform_outbound_action")  # the new key waits in a batch of its own
    run_due(app, "submit_amazon_refunds")
    run_due(app, "perform_outbound_action")

    _, second_feed = amazon.feeds
    messages = amazon.feed_xml(second_feed).findall("Message")
    assert [m.findtext("OrderAdjustment/AmazonOrderID") for m in messages] == [
        refused.order_external_id
    ]
    assert refund_rows(runtime, refused.return_id) == [
        (refused.return_id, 1, "failed", rows[1][3]),
        (refused.return_id, 2, "issued", ""),
    ]
    assert {k: v for k, v in amazon.refunded.items() if k in refunded} == refunded
    assert len(amazon.refunded) == len(refunded) + 1


def _waiting_on_amazon(app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int) -> Refund:
    """A refund sent in a feed Amazon goes on processing."""
    refund = ask_refund(runtime, amazon, store_id, "49.90")
    amazon.feed_polls_pending = 10_000
    with app.app_context():
        jobs.perform_outbound_action(refund.action_id)
    run_due(app, "submit_amazon_refunds")
    return refund


def _ask_again_after(app: Flask, refund: Refund, waited: timedelta, waits: int) -> None:
    """The refund's outbox job asking Amazon again, ``waits`` asks and ``waited`` after the
    first, the ordinary backoff long spent."""
    runtime: Runtime = app.extensions["helloword"]
    meta = {
        "attempt": len(jobs.BACKOFF_SECONDS),
        "waits": waits,
        "awaiting_since": time.time() - waited.total_seconds(),
        "base_id": "outbound-waiting",
    }
    for job_id in scheduled(runtime, "perform_outbound_action"):
        ScheduledJobRegistry(queue=runtime.queue).remove(job_id)
    jobs.enqueue(
        runtime, "perform_outbound_action", refund.action_id, job_id="outbound:waiting", meta=meta
    )
    with app.app_context():
        SimpleWorker([runtime.queue], connection=runtime.redis).work(
            burst=True, logging_level="ERROR"
        )


@pytest.fixture
def staff(app: Flask, runtime: Runtime, client: FlaskClient) -> Iterator[FlaskClient]:
    with runtime.db.transaction() as session:
        merchant = merchants.merchant_by_name(session, MERCHANT)
        users.create_user(session, merchant, "ana@nordic-knits.example", PASSWORD)
    page = client.get("/admin/sign-in").get_data(as_text=True)
    response = client.post(
        "/admin/sign-in",
        data={
            "email": "ana@nordic-knits.example",
            "password": PASSWORD,
            "csrf_token": _csrf(page),
        },
    )
    assert response.status_code == 302
    yield client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found
    return found.group(1)


def test_a_feed_still_processing_past_the_backoff_keeps_the_refund_awaiting(
    app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int, staff: FlaskClient
) -> None:
    refund = _waiting_on_amazon(app, runtime, amazon, store_id)

    _ask_again_after(app, refund, timedelta(minutes=50), waits=10)

    assert refund_rows(runtime, refund.return_id) == [(refund.return_id, 1, "pending", "")]
    with runtime.db.session() as session:
        action = session.get_one(models.OutboundAction, refund.action_id)
        assert action.status == "pending" and action.last_error == ""
        assert "still processing" in action.result["awaiting"]
    assert FailedJobRegistry(queue=runtime.queue).get_job_ids() == []
    assert scheduled(runtime, "perform_outbound_action") == ["outbound-waiting-wait11"]
    assert receipt_state(app, store_id, refund.key) is RefundState.SUBMITTED
    page = staff.get(f"/admin/returns/{refund.return_id}").get_data(as_text=True)
    assert "Awaiting Amazon" in page
    assert "Ask for the refund again" not in page


def test_past_the_long_deadline_a_refund_is_uncertain_and_cannot_be_asked_for_again(
    app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int, staff: FlaskClient
) -> None:
    refund = _waiting_on_amazon(app, runtime, amazon, store_id)

    _ask_again_after(app, refund, timedelta(hours=49), waits=580)

    [(_, _, status, error)] = refund_rows(runtime, refund.return_id)
    assert status == "uncertain" and "check the platform" in error
    assert FailedJobRegistry(queue=runtime.queue).get_job_ids() == ["outbound-waiting"]
    with runtime.db.session() as session:
        kinds = session.scalars(
            select(models.LedgerEvent.kind).where(models.LedgerEvent.return_id == refund.return_id)
        ).all()
        assert session.get_one(models.OutboundAction, refund.action_id).status == "uncertain"
    assert kinds[-1] == "RefundUncertain" and "RefundFailed" not in kinds
    with pytest.raises(ValidationError, match="may or may not have made"):
        ask_again(app, store_id, refund.return_id)

    page = staff.get(f"/admin/returns/{refund.return_id}").get_data(as_text=True)
    assert "Uncertain — check Seller Central" in page
    assert "Ask for the refund again" not in page and "It was not made" in page
    refused = staff.post(
        f"/admin/returns/{refund.return_id}/refund",
        data={"csrf_token": _csrf(page)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "may or may not have made" in refused
    assert len(refund_rows(runtime, refund.return_id)) == 1


def test_a_refund_failed_here_but_still_with_amazon_is_not_asked_for_again(
    app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int
) -> None:
    refund = _waiting_on_amazon(app, runtime, amazon, store_id)
    with runtime.db.transaction() as session:  # failed the old way: the backoff ran out
        session.execute(
            update(models.Refund).values(status="failed", error="gave up after 6 attempts")
        )

    with pytest.raises(ValidationError, match="is with the platform"):
        ask_again(app, store_id, refund.return_id)

    assert receipt_state(app, store_id, refund.key) is RefundState.SUBMITTED
    assert len(refund_rows(runtime, refund.return_id)) == 1


def test_an_uncertain_refund_settled_as_not_made_can_be_asked_for_again(
    app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int, staff: FlaskClient
) -> None:
    refund = _waiting_on_amazon(app, runtime, amazon, store_id)
    _ask_again_after(app, refund, timedelta(hours=49), waits=580)
    page = staff.get(f"/admin/returns/{refund.return_id}").get_data(as_text=True)

    settled = staff.post(
        f"/admin/returns/{refund.return_id}/refund/settle",
        data={"csrf_token": _csrf(page), "made": "no", "note": "not in Seller Central"},
        follow_redirects=True,
    ).get_data(as_text=True)

    assert "recorded as not made" in settled and "Ask for the refund again" in settled
    assert receipt_state(app, store_id, refund.key) is RefundState.FAILED
    assert refund_rows(runtime, refund.return_id) == [
        (refund.return_id, 1, "failed", "not in Seller Central")
    ]
    staff.post(f"/admin/returns/{refund.return_id}/refund", data={"csrf_token": _csrf(settled)})
    assert [row[1:3] for row in refund_rows(runtime, refund.return_id)] == [
        (1, "failed"),
        (2, "pending"),
    ]


def test_an_uncertain_refund_settled_as_made_is_issued(
    app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int
) -> None:
    refund = _waiting_on_amazon(app, runtime, amazon, store_id)
    _ask_again_after(app, refund, timedelta(hours=49), waits=580)
    with app.app_context():
        tracker = jobs.refund_tracker(runtime, store_id)
        with runtime.db.transaction() as session:
            refunds.settle_refund(
                session, refund.return_id, True, "seen in Seller Central", "staff:ana", tracker
            )

    assert refund_rows(runtime, refund.return_id) == [(refund.return_id, 1, "issued", "")]
    assert receipt_state(app, store_id, refund.key) is RefundState.ISSUED
    with runtime.db.session() as session:
        return_ = session.get_one(models.Return, refund.return_id)
        assert return_.refunded_at is not None
        last = session.scalars(
            select(models.LedgerEvent)
            .where(models.LedgerEvent.return_id == refund.return_id)
            .order_by(models.LedgerEvent.seq.desc())
            .limit(1)
        ).one()
    assert (last.kind, last.actor, last.payload["note"]) == (
        "RefundIssued",
        "staff:ana",
        "seen in Seller Central",
    )


def test_the_api_refuses_to_ask_again_while_amazon_may_make_the_refund_and_settles_it(
    app: Flask, runtime: Runtime, amazon: FakeAmazon, store_id: int, client: FlaskClient
) -> None:
    with runtime.db.transaction() as session:
        _, key = merchants.create_api_key(
            session, merchants.merchant_by_name(session, MERCHANT), "bench"
        )
    headers = {"Authorization": f"Bearer {key}"}
    refund = _waiting_on_amazon(app, runtime, amazon, store_id)
    with runtime.db.transaction() as session:
        session.execute(update(models.Refund).values(status="failed"))

    refused = client.post(f"/api/v1/returns/{refund.return_id}/refund", headers=headers)

    assert refused.status_code == 422
    assert "is with the platform" in refused.json["message"]
    with runtime.db.transaction() as session:
        session.execute(update(models.Refund).values(status="uncertain"))
    settled = client.post(
        f"/api/v1/returns/{refund.return_id}/refund/settle",
        json={"made": True, "note": "seen in Seller Central"},
        headers=headers,
    )
    assert settled.status_code == 200, settled.json
    assert [r["status"] for r in settled.json["refunds"]] == ["issued"]
    assert receipt_state(app, store_id, refund.key) is RefundState.ISSUED
