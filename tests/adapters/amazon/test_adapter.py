"""The Amazon adapter through its ports: orders keyed by SKU, refunds gathered into payment
adjustment feeds and never made twice, restocks onto the listing, and honest answers where
Amazon has no API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from redis import Redis

from connector.domain import Money
from connector.errors import (
    AwaitingPlatform,
    NothingToDo,
    PermanentError,
    RetryableError,
    Uncertain,
)
from connector.ports import (
    InventoryPublisher,
    Linker,
    OrderSource,
    PushResult,
    ReturnPublisher,
    ReturnSource,
    WebhookReceiver,
)
from platforms.amazon import AmazonPlatform, FeedPending, RefundLine, RefundState
from platforms.amazon.spapi import NotOnAmazon
from tests.contract.amazon_store import FakeAmazon, Item

from .conftest import GERMANY, ITEMS, Build, FakeTime, fixture_bytes

SHIRT, TROUSERS = ITEMS


Order = dict[str, Any]


@pytest.fixture
def order(amazon: FakeAmazon) -> Order:
    return amazon.add_order(ITEMS)


def _refund(
    adapter: AmazonPlatform,
    order: Order,
    key: str,
    amount: str,
    lines: list[tuple[str, int]] | None = None,
) -> PushResult:
    wanted = lines if lines is not None else [(SHIRT.sku, 1)]
    return adapter.refund(key, "RMA-1", order["orderId"], Money.of(amount, "EUR"), wanted)


def _shirt_item(order: Order) -> str:
    return str(order["orderItems"][0]["orderItemId"])


def test_the_adapter_implements_what_amazon_can_do(adapter: AmazonPlatform) -> None:
    for port in (Linker, OrderSource, ReturnSource, ReturnPublisher, InventoryPublisher):
        assert isinstance(adapter, port)
    assert not isinstance(adapter, WebhookReceiver)


def test_an_account_must_name_its_region_and_real_marketplaces(build: Build) -> None:
    with pytest.raises(PermanentError, match="region"):
        build(settings={"region": "mars"})
    with pytest.raises(PermanentError, match="not an Amazon marketplace"):
        build(settings={"marketplace_ids": ["NOWHERE"]})


# --- orders -------------------------------------------------------------------------------


def test_an_order_is_canonical_with_lines_keyed_by_sku(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    payload = json.loads(fixture_bytes("order.json"))["order"]
    amazon.orders[payload["orderId"]] = payload

    order = adapter.fetch_order("202-1234567-8901234")

    assert order.external_id == order.number == "202-1234567-8901234"
    assert order.currency == "GBP" and order.total == Money.of("103.97", "GBP")
    assert order.placed_at.isoformat() == "2024-12-25T09:15:00+00:00"
    line = order.line("ECHO-DOT-4-UK-CHARCOAL-3PACK")
    assert (line.quantity, line.unit_price) == (3, Money.of("29.99", "GBP"))
    assert line.tags == ("asin:B08DFPV54V",)
    assert order.customer.email == "buyer-email@marketplace.amazon.co.uk"
    address = order.shipping_address
    assert (address.name, address.line1, address.city, address.postal_code, address.country) == (
        "James Wilson",
        "123 High Street",
        "Manchester",
        "M1 2AB",
        "GB",
    )
    assert order.shipped_from == "GB"
    assert order.raw["order_items"] == {"ECHO-DOT-4-UK-CHARCOAL-3PACK": "20212345678901"}
    assert amazon.calls == ["token", "getOrder"]


def test_an_order_without_the_buyers_details_keeps_what_amazon_always_gives(
    adapter: AmazonPlatform, order: Order
) -> None:
    fetched = adapter.fetch_order(str(order["orderId"]))

    address = fetched.shipping_address
    assert (address.city, address.region, address.country, address.line1) == (
        "Köln",
        "NRW",
        "DE",
        "",
    )
    assert [line.external_id for line in fetched.lines] == [SHIRT.sku, TROUSERS.sku]
    assert fetched.shipped_from == "CN"


def test_an_order_amazon_does_not_have_is_permanent(adapter: AmazonPlatform) -> None:
    with pytest.raises(NotOnAmazon, match="Invalid order ID"):
        adapter.fetch_order("999-9999999-9999999")


def test_orders_updated_since_are_read_page_by_page(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    ids = {amazon.add_order(ITEMS)["orderId"] for _ in range(3)}
    broken = amazon.add_order(ITEMS)
    broken["orderItems"] = []

    found = list(adapter.iter_orders(datetime(2025, 6, 1, tzinfo=UTC)))

    assert {o.external_id for o in found} == ids
    assert amazon.calls.count("searchOrders") == 2


# --- refunds ------------------------------------------------------------------------------


def _send_batch(adapter: AmazonPlatform) -> list[str]:
    """What ``submit_amazon_refunds`` does: take the seller's batch and submit it; the feeds."""
    lines = adapter.take_queued_refunds()
    if not lines:
        return []
    try:
        return adapter.submit_refunds(lines)
    except NothingToDo:  # every refund of the batch was refused before a feed was made
        return []


def _refund(
    adapter: AmazonPlatform,
    order: Order,
    key: str,
    amount: str,
    lines: list[tuple[str, int]] | None = None,
) -> PushResult:
    """The refund pushed; when it waits in the batch, the batch sent and the refund asked
    about again, as its outbox job's next try would."""
    wanted = lines if lines is not None else [(SHIRT.sku, 1)]

    def push() -> PushResult:
        return adapter.refund(key, "RMA-1", order["orderId"], Money.of(amount, "EUR"), wanted)

    try:
        return push()
    except AwaitingPlatform:
        _send_batch(adapter)
    return push()


def test_a_refund_waits_in_the_batch_and_goes_to_amazon_as_a_payment_adjustment_feed(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    with pytest.raises(AwaitingPlatform) as waiting:
        adapter.refund(
            "refund:17:1", "RMA-1", order["orderId"], Money.of("49.90", "EUR"), [(SHIRT.sku, 1)]
        )
    assert (waiting.value.batch, waiting.value.send_in) == ("1", 60.0)
    assert _state(adapter, "refund:17:1") is RefundState.QUEUED
    assert amazon.calls == []

    result = _refund(adapter, order, "refund:17:1", "49.90")

    assert not result.already_done
    feed = amazon.feeds[result.external_id]
    assert feed["feedType"] == "POST_PAYMENT_ADJUSTMENT_DATA"
    assert feed["marketplaceIds"] == [GERMANY]
    assert amazon.document_types[feed["inputFeedDocumentId"]] == "text/xml; charset=UTF-8"
    xml = amazon.feed_xml(result.external_id)
    assert xml.findtext("Message/OrderAdjustment/AmazonOrderID") == order["orderId"]
    item = xml.find("Message/OrderAdjustment/AdjustedItem")
    assert item is not None
    assert item.findtext("AmazonOrderItemCode") == _shirt_item(order)
    assert item.findtext("AdjustmentReason") == "CustomerReturn"
    assert item.findtext("ItemPriceAdjustments/Component/Amount") == "49.90"
    assert result.details == {
        "kind": "refund",
        "amount": "49.90 EUR",
        "feed_id": result.external_id,
    }
    assert _state(adapter, "refund:17:1") is RefundState.ISSUED


def test_a_repeated_refund_is_already_done_and_sends_nothing(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    first = _refund(adapter, order, "refund:17:1", "49.90")
    calls = len(amazon.calls)

    again = _refund(adapter, order, "refund:17:1", "49.90")

    assert again.already_done and again.external_id == first.external_id
    assert len(amazon.calls) == calls


def test_a_refund_amazon_is_still_processing_is_awaited_and_never_sent_again(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order, clock: FakeTime
) -> None:
    amazon.feed_polls_pending = 100

    with pytest.raises(AwaitingPlatform, match="still processing") as pending:
        _refund(adapter, order, "refund:17:1", "49.90")
    assert pending.value.retry_after == 300.0
    assert not pending.value.batch
    assert clock.sleeps == []  # nothing waits on Amazon inside a job
    amazon.feed_polls_pending = 0

    result = _refund(adapter, order, "refund:17:1", "49.90")

    assert not result.already_done
    assert amazon.calls.count("createFeed") == 1
    assert amazon.refunded == {(order["orderId"], _shirt_item(order)): Decimal("49.90")}


def test_a_passing_failure_reading_the_feed_is_still_a_wait(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    busy = {"errors": [{"code": "ServiceUnavailable", "message": "busy"}]}
    amazon.inject("getFeed", *[httpx.Response(503, json=busy) for _ in range(4)])

    with pytest.raises(AwaitingPlatform, match="could not be read yet"):
        _refund(adapter, order, "refund:17:1", "49.90")

    assert _state(adapter, "refund:17:1") is RefundState.SUBMITTED


def test_amazons_refusal_is_permanent_with_its_words_and_stays_so(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    with pytest.raises(PermanentError, match="exceeds the amount that can be refunded"):
        _refund(adapter, order, "refund:17:1", "60.00")  # more than the shirt, within the order

    with pytest.raises(PermanentError, match="exceeds the amount that can be refunded"):
        _refund(adapter, order, "refund:17:1", "60.00")
    assert amazon.calls.count("createFeed") == 1
    assert amazon.refunded == {}


def test_a_refund_beyond_the_order_total_is_refused_before_anything_is_sent(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    with pytest.raises(PermanentError, match=r"exceeds the 169\.70 EUR"):
        _refund(adapter, order, "refund:17:1", "500.00")

    assert "createFeedDocument" not in amazon.calls
    assert _state(adapter, "refund:17:1") is RefundState.FAILED


def test_a_refund_of_a_sku_the_order_lacks_is_refused(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    with pytest.raises(PermanentError, match="no item with SKU 'NOPE'"):
        _refund(adapter, order, "refund:17:1", "10.00", lines=[("NOPE", 1)])
    with pytest.raises(PermanentError, match="has 1 of 'LIN-SHIRT-M'; cannot refund 2"):
        _refund(adapter, order, "refund:17:2", "10.00", lines=[(SHIRT.sku, 2)])


def test_a_refund_over_several_lines_is_split_by_their_price(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    result = _refund(
        adapter, order, "refund:17:1", "100.00", lines=[(SHIRT.sku, 1), (TROUSERS.sku, 1)]
    )

    amounts = [
        component.findtext("Amount")
        for component in amazon.feed_xml(result.external_id).iter("Component")
    ]
    assert amounts == ["45.45", "54.55"]


def test_a_refund_beyond_the_lines_price_refunds_the_rest_as_shipping(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    order = amazon.add_order([Item("LIN-SHIRT-M", "Linen shirt", 2, "49.90")])

    result = _refund(adapter, order, "refund:18:1", "54.80")  # the shirt and its postage

    components = [
        (c.findtext("Type"), c.findtext("Amount"))
        for c in amazon.feed_xml(result.external_id).iter("Component")
    ]
    assert components == [("Principal", "49.90"), ("Shipping", "4.90")]


def test_store_credit_and_nothing_to_refund(adapter: AmazonPlatform, order: Order) -> None:
    with pytest.raises(PermanentError, match="no store credit"):
        adapter.refund("k", "RMA-1", order["orderId"], Money.of("1", "EUR"), [], store_credit=True)

    skipped = _refund(adapter, order, "refund:17:1", "0")

    assert skipped.details["skipped"] == "nothing to refund"


# --- refunds in batches -------------------------------------------------------------------


def _batch(amazon: FakeAmazon) -> list[RefundLine]:
    orders = [amazon.add_order(ITEMS)["orderId"] for _ in range(3)]
    eur = "EUR"
    return [
        RefundLine("refund:1:1", orders[0], Money.of("49.90", eur), ((SHIRT.sku, 1),)),
        RefundLine("refund:2:1", orders[1], Money.of("99.00", eur), ((SHIRT.sku, 1),)),
        RefundLine("refund:3:1", orders[2], Money.of("59.90", eur), ((TROUSERS.sku, 1),)),
    ]


def _push(adapter: AmazonPlatform, line: RefundLine) -> PushResult:
    return adapter.refund(
        line.idempotency_key, "", line.order_external_id, line.amount, list(line.lines)
    )


def _state(adapter: AmazonPlatform, key: str) -> RefundState | None:
    receipt = adapter.refund_status(key)
    return receipt.state if receipt else None


def test_refunds_asked_for_together_share_one_feed_and_one_reading_settles_them(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    batch = _batch(amazon)
    opened = []
    for line in batch:
        with pytest.raises(AwaitingPlatform) as waiting:
            _push(adapter, line)
        opened.append(waiting.value.batch)
    assert opened == ["1", "", ""]  # only the first queues the job that sends the batch

    feed_ids = adapter.submit_refunds(adapter.take_queued_refunds())

    assert len(feed_ids) == 1 and list(amazon.feeds) == feed_ids
    assert len(amazon.feed_xml(feed_ids[0]).findall("Message")) == 3
    assert adapter.take_queued_refunds() == []
    first = _push(adapter, batch[0])  # reads the feed once, for all three
    assert amazon.calls.count("getFeed") == 1
    with pytest.raises(PermanentError, match="exceeds the amount that can be refunded"):
        _push(adapter, batch[1])
    third = _push(adapter, batch[2])
    assert amazon.calls.count("getFeed") == 1
    assert not first.already_done
    assert third.already_done  # settled by the first one's reading
    assert first.external_id == third.external_id == feed_ids[0]


def test_many_refunds_go_in_one_feed_and_each_is_settled_by_its_message(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    batch = _batch(amazon)

    [feed_id] = adapter.submit_refunds(batch)
    outcomes = adapter.feed_result(feed_id)

    assert len(amazon.feeds) == 1
    assert [(o.idempotency_key, o.ok, o.message_id) for o in outcomes] == [
        ("refund:1:1", True, 1),
        ("refund:2:1", False, 2),
        ("refund:3:1", True, 3),
    ]
    assert "exceeds the amount that can be refunded" in outcomes[1].message
    assert outcomes[1].state is RefundState.FAILED
    states = [_state(adapter, line.idempotency_key) for line in batch]
    assert states == [RefundState.ISSUED, RefundState.FAILED, RefundState.ISSUED]


def test_a_failed_refund_retried_never_refunds_the_rest_again(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    batch = _batch(amazon)
    [feed_id] = adapter.submit_refunds(batch)
    adapter.feed_result(feed_id)
    refunded = dict(amazon.refunded)

    with pytest.raises(NothingToDo):
        adapter.submit_refunds(batch)
    failed = batch[1]
    with pytest.raises(PermanentError, match="exceeds the amount"):
        adapter.refund("refund:2:1", "", failed.order_external_id, failed.amount, [(SHIRT.sku, 1)])
    corrected = RefundLine(
        "refund:2:2", failed.order_external_id, Money.of("49.90", "EUR"), ((SHIRT.sku, 1),)
    )
    with pytest.raises(AwaitingPlatform) as waiting:
        _push(adapter, corrected)
    assert waiting.value.batch  # a batch of its own, sent by a job of its own
    [again] = adapter.submit_refunds([*batch, *adapter.take_queued_refunds()])
    adapter.feed_result(again)

    assert len(amazon.feeds) == 2
    assert len(amazon.feed_xml(again).findall("Message")) == 1
    assert len(amazon.refunded) == len(refunded) + 1
    assert _push(adapter, corrected).external_id == again


def test_a_feed_being_processed_says_so(adapter: AmazonPlatform, amazon: FakeAmazon) -> None:
    amazon.feed_polls_pending = 1
    [feed_id] = adapter.submit_refunds(_batch(amazon))

    with pytest.raises(FeedPending):
        adapter.feed_result(feed_id)
    assert len(adapter.feed_result(feed_id)) == 3


def test_a_cancelled_feed_fails_its_refunds(adapter: AmazonPlatform, amazon: FakeAmazon) -> None:
    amazon.feed_status = "CANCELLED"

    [feed_id] = adapter.submit_refunds(_batch(amazon))
    outcomes = adapter.feed_result(feed_id)

    assert {o.state for o in outcomes} == {RefundState.FAILED}
    assert "cancelled" in outcomes[0].message


def test_a_fatal_feed_leaves_its_refunds_for_a_person(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    amazon.feed_status = "FATAL"

    with pytest.raises(Uncertain, match="may or may not have made the refund"):
        _refund(adapter, order, "refund:17:1", "49.90")
    with pytest.raises(Uncertain, match="may or may not"):
        _refund(adapter, order, "refund:17:1", "49.90")
    assert amazon.calls.count("createFeed") == 1


def test_the_result_of_a_feed_helloword_did_not_send_is_refused(
    adapter: AmazonPlatform, amazon: FakeAmazon, build: Build
) -> None:
    [feed_id] = adapter.submit_refunds(_batch(amazon))
    elsewhere = build()  # a worker whose receipts never saw the feed

    with pytest.raises(PermanentError, match="not a refund feed Helloword submitted"):
        elsewhere.feed_result(feed_id)


# --- refunds cut off, lost, or left for a person --------------------------------------------


def test_a_refund_whose_feed_answer_was_lost_is_never_sent_again(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order, clock: FakeTime
) -> None:
    amazon.lose_answer("createFeed")
    line = RefundLine("refund:17:1", order["orderId"], Money.of("49.90", "EUR"), ((SHIRT.sku, 1),))

    with pytest.raises(AwaitingPlatform):
        _push(adapter, line)
    with pytest.raises(RetryableError, match="may or may not have run"):
        _send_batch(adapter)
    with pytest.raises(AwaitingPlatform, match="being submitted"):
        _push(adapter, line)
    clock.now += 700
    with pytest.raises(Uncertain, match="check them in Seller Central"):
        _push(adapter, line)

    assert amazon.calls.count("createFeed") == 1
    assert _state(adapter, "refund:17:1") is RefundState.UNCERTAIN
    assert _send_batch(adapter) == []


def test_a_refund_cut_off_before_amazon_made_its_feed_is_sent_once_more(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order, clock: FakeTime
) -> None:
    busy = {"errors": [{"code": "ServiceUnavailable", "message": "busy"}]}
    amazon.inject("createFeed", httpx.Response(503, json=busy))
    line = RefundLine("refund:17:1", order["orderId"], Money.of("49.90", "EUR"), ((SHIRT.sku, 1),))

    with pytest.raises(AwaitingPlatform):
        _push(adapter, line)
    with pytest.raises(RetryableError):
        _send_batch(adapter)
    clock.now += 700
    with pytest.raises(AwaitingPlatform) as back:
        _push(adapter, line)  # Amazon lists no feed since: back in the batch, with a new job
    assert back.value.batch
    _send_batch(adapter)
    result = _push(adapter, line)

    assert not result.already_done
    assert len(amazon.feeds) == 1
    assert "getFeeds" in amazon.calls


def test_a_submission_refused_before_amazon_acted_puts_its_refunds_back_in_the_batch(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    failure = {"errors": [{"code": "InternalFailure", "message": "We encountered an error"}]}
    amazon.inject("createFeedDocument", *[httpx.Response(500, json=failure) for _ in range(4)])
    line = RefundLine("refund:17:1", order["orderId"], Money.of("49.90", "EUR"), ((SHIRT.sku, 1),))

    with pytest.raises(AwaitingPlatform):
        _push(adapter, line)
    with pytest.raises(RetryableError, match="createFeedDocument failed after 4 attempts"):
        _send_batch(adapter)
    receipt = adapter.refund_status("refund:17:1")
    assert receipt is not None and receipt.state is RefundState.QUEUED
    assert "createFeedDocument failed" in receipt.message

    assert _send_batch(adapter)  # the job's retry finds it in the batch
    assert not _push(adapter, line).already_done


def test_a_refund_whose_batch_job_was_lost_queues_the_job_again(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order, clock: FakeTime
) -> None:
    line = RefundLine("refund:17:1", order["orderId"], Money.of("49.90", "EUR"), ((SHIRT.sku, 1),))
    with pytest.raises(AwaitingPlatform):
        _push(adapter, line)
    with pytest.raises(AwaitingPlatform) as soon:
        _push(adapter, line)
    assert soon.value.batch == ""

    clock.now += 1000
    with pytest.raises(AwaitingPlatform) as later:
        _push(adapter, line)

    assert later.value.batch == "2"
    assert [queued.idempotency_key for queued in adapter.take_queued_refunds()] == ["refund:17:1"]


def test_a_refund_that_could_not_be_sent_for_a_day_fails_with_the_reason(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order, clock: FakeTime
) -> None:
    failure = {"errors": [{"code": "InternalFailure", "message": "We encountered an error"}]}
    amazon.inject("createFeedDocument", *[httpx.Response(500, json=failure) for _ in range(4)])
    line = RefundLine("refund:17:1", order["orderId"], Money.of("49.90", "EUR"), ((SHIRT.sku, 1),))
    with pytest.raises(AwaitingPlatform):
        _push(adapter, line)
    with pytest.raises(RetryableError):
        _send_batch(adapter)

    clock.now += 25 * 3600
    with pytest.raises(PermanentError, match="could not be sent to Amazon in 24 hours") as failed:
        _push(adapter, line)

    assert not isinstance(failed.value, Uncertain)
    assert "createFeedDocument failed" in str(failed.value)
    assert _send_batch(adapter) == []
    assert "createFeed" not in amazon.calls


def test_a_person_settles_an_uncertain_refund_with_what_seller_central_shows(
    adapter: AmazonPlatform, amazon: FakeAmazon, order: Order
) -> None:
    amazon.feed_status = "FATAL"
    with pytest.raises(Uncertain):
        _refund(adapter, order, "refund:17:1", "49.90")
    with pytest.raises(Uncertain):
        _refund(adapter, order, "refund:18:1", "49.90", lines=[(TROUSERS.sku, 1)])

    adapter.settle_refund("refund:17:1", True, "seen in Seller Central")
    adapter.settle_refund("refund:18:1", False, "")
    adapter.settle_refund("refund:18:1", False, "")  # settled the same way again: no change

    made = _refund(adapter, order, "refund:17:1", "49.90")
    assert made.details["warning"] == "settled by hand: seen in Seller Central"
    with pytest.raises(PermanentError, match="settled by hand") as not_made:
        _refund(adapter, order, "refund:18:1", "49.90", lines=[(TROUSERS.sku, 1)])
    assert not isinstance(not_made.value, Uncertain)
    with pytest.raises(PermanentError, match="cannot be settled as failed"):
        adapter.settle_refund("refund:17:1", False, "")
    with pytest.raises(PermanentError, match="never asked"):
        adapter.settle_refund("refund:99:1", True, "")


@pytest.fixture
def redis(shared_redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(shared_redis_url)
    yield client
    client.close()


def test_workers_share_refund_receipts_and_the_batch_through_redis(
    build: Build, amazon: FakeAmazon, redis: Redis
) -> None:
    seller = f"SELLER{uuid.uuid4().hex[:8].upper()}"
    amazon.seller_id = seller
    first, second = build(redis=redis, seller=seller), build(redis=redis, seller=seller)
    batch = _batch(amazon)
    try:
        opened = []
        for worker, line in zip((first, second, first), batch, strict=True):
            with pytest.raises(AwaitingPlatform) as waiting:
                _push(worker, line)
            opened.append(waiting.value.batch)
        with pytest.raises(AwaitingPlatform) as again:
            _push(second, batch[0])
        taken = second.take_queued_refunds()
        [feed_id] = first.submit_refunds(taken)
        done = _push(second, batch[0])
        again_done = _push(first, batch[0])
    finally:
        for key in redis.scan_iter(f"helloword:amazon:eu:{seller}:*"):
            redis.delete(key)
        for key in redis.scan_iter(f"helloword:amazon:throttle:eu:{seller}:*"):
            redis.delete(key)

    assert opened == ["1", "", ""] and again.value.batch == ""
    assert [line.idempotency_key for line in taken] == [line.idempotency_key for line in batch]
    assert taken[1] == batch[1]
    assert done.external_id == feed_id and not done.already_done
    assert again_done.already_done and again_done.external_id == feed_id
    assert amazon.calls.count("createFeed") == 1


# --- restock ------------------------------------------------------------------------------


def test_a_restock_adds_to_the_listings_seller_fulfilled_quantity(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    amazon.listings[SHIRT.sku] = json.loads(fixture_bytes("listings_item.json"))

    result = adapter.restock("restock:17:1", SHIRT.sku, 2)

    assert not result.already_done and result.external_id.startswith("f")
    assert result.details == {
        "kind": "restock",
        "sku": SHIRT.sku,
        "quantity": 2,
        "marketplace_id": GERMANY,
        "before": 7,
        "after": 9,
    }
    assert amazon.listings[SHIRT.sku]["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": 9}
    ]


def test_the_patch_merges_the_quantity_for_the_listings_product_type(
    adapter: AmazonPlatform, amazon: FakeAmazon, router: respx.MockRouter
) -> None:
    amazon.add_listing(SHIRT.sku, 1, product_type="SHIRT")
    adapter.restock("restock:17:1", SHIRT.sku, 1)

    patch = next(call.request for call in router.calls if call.request.method == "PATCH")
    assert patch.url.params["marketplaceIds"] == GERMANY
    assert json.loads(patch.content) == {
        "productType": "SHIRT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 2}],
            }
        ],
    }


def test_a_repeated_restock_is_already_done(adapter: AmazonPlatform, amazon: FakeAmazon) -> None:
    amazon.add_listing(SHIRT.sku, 3)
    first = adapter.restock("restock:17:1", SHIRT.sku, 2)

    again = adapter.restock("restock:17:1", SHIRT.sku, 2)

    assert again.already_done and again.external_id == first.external_id
    assert amazon.listings[SHIRT.sku]["fulfillmentAvailability"][0]["quantity"] == 5
    assert amazon.calls.count("patchListingsItem") == 1


def test_a_restock_whose_answer_was_lost_sets_the_same_quantity_again(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    amazon.add_listing(SHIRT.sku, 3)
    amazon.lose_answer("patchListingsItem")

    adapter.restock("restock:17:1", SHIRT.sku, 2)

    assert amazon.listings[SHIRT.sku]["fulfillmentAvailability"][0]["quantity"] == 5
    assert amazon.calls.count("patchListingsItem") == 2


def test_a_restock_cut_off_after_amazon_took_it_is_not_added_twice(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    amazon.add_listing(SHIRT.sku, 5)
    adapter.receipts.keep_restock(
        "restock:17:1",
        {"state": "pending", "sku": SHIRT.sku, "before": 3, "target": 5, "quantity": 2},
    )

    result = adapter.restock("restock:17:1", SHIRT.sku, 2)

    assert result.already_done
    assert "patchListingsItem" not in amazon.calls


def test_fba_stock_and_unknown_listings_cannot_be_restocked(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    amazon.add_listing("FBA-SKU", 3, fba=True)

    with pytest.raises(PermanentError, match="fulfilled by Amazon"):
        adapter.restock("restock:1", "FBA-SKU", 1)
    with pytest.raises(NotOnAmazon):
        adapter.restock("restock:2", "NO-SUCH-SKU", 1)
    with pytest.raises(PermanentError, match="cannot restock 0"):
        adapter.restock("restock:3", SHIRT.sku, 0)


def test_a_patch_amazon_finds_invalid_is_permanent_with_its_issues(
    adapter: AmazonPlatform, amazon: FakeAmazon
) -> None:
    amazon.add_listing(SHIRT.sku, 3)
    amazon.inject(
        "patchListingsItem",
        httpx.Response(
            200,
            json={
                "sku": SHIRT.sku,
                "status": "INVALID",
                "submissionId": "",
                "issues": [
                    {
                        "code": "90220",
                        "message": "'quantity' is required but not supplied.",
                        "severity": "ERROR",
                    }
                ],
            },
        ),
    )

    with pytest.raises(PermanentError, match="90220: 'quantity' is required"):
        adapter.restock("restock:17:1", SHIRT.sku, 2)


# --- what Amazon has no API for -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["approve", "decline", "attach_label", "dispose", "close"])
def test_pushes_amazon_has_no_api_for_say_so_and_change_nothing(
    adapter: AmazonPlatform, amazon: FakeAmazon, kind: str
) -> None:
    calls = {
        "approve": lambda: adapter.approve("k", "RMA-1"),
        "decline": lambda: adapter.decline("k", "RMA-1", "OTHER", ""),
        "attach_label": lambda: adapter.attach_label("k", "RMA-1", "1Z", "ups", "https://l"),
        "dispose": lambda: adapter.dispose("k", "RMA-1", [(SHIRT.sku, 1, "RESTOCKED")]),
        "close": lambda: adapter.close("k", "RMA-1"),
    }

    result = calls[kind]()

    assert result.external_id == "RMA-1" and not result.already_done
    assert result.details["kind"] == kind
    assert "Amazon" in result.details["skipped"]
    assert amazon.calls == []
