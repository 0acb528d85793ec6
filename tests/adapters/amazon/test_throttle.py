"""Usage plans per seller and operation: calls wait for a token instead of being throttled, the
rate follows ``x-amzn-RateLimit-Limit``, and a 429 waits and tries again before giving up."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from redis import Redis

from connector.errors import RetryableError
from platforms.amazon.throttle import (
    DEFAULT_PLANS,
    Bucket,
    MemoryBucket,
    Plan,
    RedisBucket,
    Throttle,
    rate_from,
)
from tests.contract.amazon_store import FakeAmazon

from .conftest import ITEMS, Build, FakeTime

PLAN = Plan(rate=0.5, burst=2)
QUOTA = {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota"}]}


@pytest.fixture
def redis(shared_redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(shared_redis_url)
    yield client
    client.close()


@pytest.fixture
def redis_bucket(redis: Redis) -> Iterator[RedisBucket]:
    bucket = RedisBucket(redis, f"helloword:amazon:throttle:test-{uuid.uuid4().hex}", PLAN)
    yield bucket
    redis.delete(bucket.key)


@pytest.fixture(params=["memory", "redis"])
def bucket(request: pytest.FixtureRequest) -> Bucket:
    if request.param == "memory":
        return MemoryBucket(PLAN)
    bucket: Bucket = request.getfixturevalue("redis_bucket")
    return bucket


def test_a_new_bucket_is_full_to_its_burst(bucket: Bucket) -> None:
    assert bucket.take(100.0) == 0
    assert bucket.take(100.0) == 0
    assert bucket.take(100.0) == pytest.approx(2.0)  # one token at 0.5/s


def test_tokens_come_back_at_the_rate(bucket: Bucket) -> None:
    bucket.take(100.0)
    bucket.take(100.0)

    assert bucket.take(101.0) == pytest.approx(1.0)
    assert bucket.take(102.0) == 0


def test_the_reported_rate_replaces_the_default(bucket: Bucket) -> None:
    bucket.take(100.0)
    bucket.take(100.0)
    bucket.set_rate(2.0, 100.0)

    assert bucket.take(100.0) == pytest.approx(0.5)


def test_a_drained_bucket_waits_a_whole_token(bucket: Bucket) -> None:
    assert bucket.drain(100.0) == pytest.approx(2.0)
    assert bucket.take(100.0) == pytest.approx(2.0)


def test_workers_share_a_sellers_bucket_through_redis(redis: Redis) -> None:
    key = f"helloword:amazon:throttle:test-{uuid.uuid4().hex}"
    first, second = RedisBucket(redis, key, PLAN), RedisBucket(redis, key, PLAN)
    try:
        assert first.take(100.0) == 0
        assert second.take(100.0) == 0
        assert first.take(100.0) > 0
    finally:
        redis.delete(key)


def test_the_rate_header_is_read_as_requests_per_second() -> None:
    assert rate_from(httpx.Headers({"x-amzn-RateLimit-Limit": "0.0167"})) == 0.0167
    assert rate_from(httpx.Headers({})) is None
    assert rate_from(httpx.Headers({"x-amzn-RateLimit-Limit": "soon"})) is None


def test_every_operation_called_has_a_documented_plan() -> None:
    assert DEFAULT_PLANS["createReport"] == Plan(0.0167, 15)
    assert DEFAULT_PLANS["createFeed"] == Plan(0.0083, 15)
    assert DEFAULT_PLANS["getOrder"] == Plan(0.5, 30)
    assert DEFAULT_PLANS["patchListingsItem"] == Plan(5.0, 5)


def test_acquiring_sleeps_until_a_token_is_due() -> None:
    clock = FakeTime()
    throttle = Throttle("eu:SELLER", clock=clock.time, sleep=clock.sleep)
    for _ in range(30):
        throttle.acquire("getOrder")

    waited = throttle.acquire("getOrder")

    assert waited == pytest.approx(2.0)
    assert clock.sleeps == [pytest.approx(2.0)]


def test_a_wait_past_the_limit_is_left_to_a_later_job() -> None:
    clock = FakeTime()
    throttle = Throttle("eu:SELLER", clock=clock.time, sleep=clock.sleep, max_wait=30.0)
    for _ in range(15):
        throttle.acquire("createFeed")

    with pytest.raises(RetryableError) as raised:
        throttle.acquire("createFeed")
    assert raised.value.retry_after == pytest.approx(1 / 0.0083)
    assert clock.sleeps == []


def test_a_429_waits_for_the_next_token_and_tries_again(
    build: Build, amazon: FakeAmazon, clock: FakeTime
) -> None:
    order = amazon.add_order(ITEMS)
    amazon.inject("getOrder", httpx.Response(429, json=QUOTA))
    adapter = build()

    fetched = adapter.fetch_order(order["orderId"])

    assert fetched.external_id == order["orderId"]
    assert amazon.calls.count("getOrder") == 2
    assert clock.sleeps == [pytest.approx(2.0)]  # getOrder's 0.5 requests per second


def test_429s_that_do_not_stop_end_in_a_retryable_error_with_the_wait(
    build: Build, amazon: FakeAmazon
) -> None:
    order = amazon.add_order(ITEMS)
    amazon.inject("getOrder", *[httpx.Response(429, json=QUOTA) for _ in range(4)])
    adapter = build()

    with pytest.raises(RetryableError, match="QuotaExceeded") as raised:
        adapter.fetch_order(order["orderId"])
    assert raised.value.retry_after == pytest.approx(2.0)
    assert amazon.calls.count("getOrder") == 4


def test_the_bucket_follows_the_rate_amazon_reports(
    build: Build, amazon: FakeAmazon, clock: FakeTime
) -> None:
    order = amazon.add_order(ITEMS)
    amazon.rate_limit = "0.25"
    adapter = build()
    adapter.fetch_order(order["orderId"])

    wait = adapter.throttle.throttled("getOrder")

    assert wait == pytest.approx(4.0)  # 1 / 0.25, not the documented 0.5/s


def test_a_sellers_buckets_are_shared_by_adapters_through_redis(
    build: Build, amazon: FakeAmazon, clock: FakeTime, redis: Redis
) -> None:
    order = amazon.add_order(ITEMS)
    seller = f"SELLER{uuid.uuid4().hex[:8].upper()}"
    amazon.seller_id = seller
    first, second = build(redis=redis, seller=seller), build(redis=redis, seller=seller)
    key = f"helloword:amazon:throttle:eu:{seller}:getOrder"
    try:
        amazon.inject("getOrder", httpx.Response(429, json=QUOTA))
        first.fetch_order(order["orderId"])
        second.fetch_order(order["orderId"])
        assert clock.sleeps == [pytest.approx(2.0), pytest.approx(2.0)]
    finally:
        redis.delete(key)
