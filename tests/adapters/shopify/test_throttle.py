"""The per-store query budget: calls wait for Shopify's points instead of being throttled, and
workers sharing a store share its budget through Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import responses
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connector.errors import RetryableError
from platforms.shopify import ShopifyPlatform
from platforms.shopify.graphql import ShopifyGraphQL
from platforms.shopify.throttle import (
    CostBucket,
    MemoryBucket,
    RedisBucket,
    Throttle,
    ThrottleStatus,
)

from .conftest import SHOP, TOKEN, FakeTime, fixture

LOW = ThrottleStatus(maximum_available=2000.0, currently_available=50.0, restore_rate=100.0)


@pytest.fixture
def redis(shared_redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(shared_redis_url)
    yield client
    client.close()


@pytest.fixture
def shop() -> str:
    return f"throttle-{uuid.uuid4().hex[:10]}.myshopify.com"


@pytest.fixture
def redis_bucket(redis: Redis, shop: str) -> Iterator[RedisBucket]:
    bucket = RedisBucket(redis, shop)
    yield bucket
    redis.delete(bucket.key)


@pytest.fixture(params=["memory", "redis"])
def bucket(request: pytest.FixtureRequest) -> CostBucket:
    if request.param == "memory":
        return MemoryBucket()
    return request.getfixturevalue("redis_bucket")


def test_a_bucket_that_knows_nothing_lets_calls_through(bucket: CostBucket) -> None:
    assert bucket.take(500, now=100.0) == 0


def test_a_call_costing_more_than_is_left_waits_for_the_restore(bucket: CostBucket) -> None:
    bucket.report(LOW, now=100.0)

    assert bucket.take(250, now=100.0) == pytest.approx(2.0)  # 200 points short at 100/s
    assert bucket.take(250, now=102.0) == 0


def test_reserved_points_are_spent_for_the_next_caller(bucket: CostBucket) -> None:
    bucket.report(
        ThrottleStatus(maximum_available=1000.0, currently_available=300.0, restore_rate=50.0),
        now=10.0,
    )

    assert bucket.take(200, now=10.0) == 0
    assert bucket.take(200, now=10.0) == pytest.approx(2.0)  # 100 left, 100 short at 50/s


def test_the_bucket_never_fills_past_its_maximum(bucket: CostBucket) -> None:
    bucket.report(
        ThrottleStatus(maximum_available=1000.0, currently_available=0.0, restore_rate=100.0),
        now=0.0,
    )

    assert bucket.take(1000, now=3600.0) == 0
    assert bucket.take(1, now=3600.0) == pytest.approx(0.01)


def test_a_cost_above_the_maximum_waits_only_for_a_full_bucket(bucket: CostBucket) -> None:
    bucket.report(
        ThrottleStatus(maximum_available=1000.0, currently_available=900.0, restore_rate=100.0),
        now=0.0,
    )

    assert bucket.take(5000, now=0.0) == pytest.approx(1.0)


def test_two_workers_share_one_stores_budget_in_redis(redis: Redis, shop: str) -> None:
    first, second = RedisBucket(redis, shop), RedisBucket(redis, shop)
    try:
        first.report(
            ThrottleStatus(maximum_available=2000.0, currently_available=400.0, restore_rate=100.0),
            now=50.0,
        )

        assert first.take(300, now=50.0) == 0
        assert second.take(300, now=50.0) == pytest.approx(2.0)
    finally:
        redis.delete(first.key)


def test_the_stores_budget_expires_when_nobody_calls(
    redis: Redis, redis_bucket: RedisBucket
) -> None:
    redis_bucket.report(LOW, now=1.0)

    assert 0 < redis.ttl(redis_bucket.key) <= 3600


def test_throttle_sleeps_until_the_points_are_back(redis_bucket: RedisBucket) -> None:
    clock = FakeTime(now=1000.0)
    throttle = Throttle(redis_bucket, clock=clock.time, sleep=clock.sleep)
    throttle.report(LOW)

    waited = throttle.acquire(350)

    assert waited == pytest.approx(3.0)
    assert sum(clock.sleeps) == pytest.approx(3.0)


def test_throttle_leaves_a_long_wait_to_a_later_job(redis_bucket: RedisBucket) -> None:
    clock = FakeTime(now=1000.0)
    throttle = Throttle(redis_bucket, clock=clock.time, sleep=clock.sleep, max_wait=1.0)
    throttle.report(LOW)

    with pytest.raises(RetryableError) as raised:
        throttle.acquire(350)

    assert raised.value.retry_after == pytest.approx(3.0)
    assert clock.sleeps == []


def test_the_client_waits_on_the_shared_redis_budget_before_calling(
    mock: responses.RequestsMock, redis: Redis, shop: str
) -> None:
    url = f"https://{shop}/admin/api/2025-10/graphql.json"
    mock.post(url, json=fixture("return.json"))
    clock = FakeTime(now=5000.0)
    bucket = RedisBucket(redis, shop)
    try:
        # another worker has just spent the store down to 20 points
        spent = ThrottleStatus(
            maximum_available=2000.0, currently_available=20.0, restore_rate=100.0
        )
        RedisBucket(redis, shop).report(spent, now=5000.0)
        client = ShopifyGraphQL(
            shop, TOKEN, "2025-10", bucket=bucket, sleep=clock.sleep, clock=clock.time
        )

        client.query("Return", {"id": "gid://shopify/Return/945000961"})

        # an unpriced operation is expected to cost 50 points: 30 short at 100/s
        assert sum(clock.sleeps) == pytest.approx(0.3)
        assert len(mock.calls) == 1
        # and the answer's own report (1982 left) replaces the estimate
        assert float(redis.hget(bucket.key, "available") or 0) == pytest.approx(1982.0)
    finally:
        redis.delete(bucket.key)


def test_the_status_is_read_from_a_responses_extensions() -> None:
    status = ThrottleStatus.from_extensions(fixture("order.json")["extensions"])

    assert status == ThrottleStatus(2000.0, 1959.0, 100.0)
    assert ThrottleStatus.from_extensions({"cost": {}}) is None
    assert ThrottleStatus.from_extensions(None) is None


def test_the_adapters_budget_lives_in_redis_when_the_app_has_one(
    make_adapter: Callable[..., ShopifyPlatform], redis: Redis
) -> None:
    adapter = make_adapter(redis=redis)

    assert isinstance(adapter.api.throttle.bucket, RedisBucket)
    assert adapter.api.throttle.bucket.key.endswith(SHOP)
    assert isinstance(make_adapter().api.throttle.bucket, MemoryBucket)


def test_a_redis_out_of_reach_is_a_passing_failure() -> None:
    unreachable = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))

    with pytest.raises(RetryableError, match="out of reach"):
        RedisBucket(unreachable, SHOP).take(10, now=1.0)
