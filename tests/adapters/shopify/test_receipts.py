"""Receipts of the pushes Shopify cannot recognise as done: found by key, kept in Redis."""

from __future__ import annotations

import uuid

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connector.errors import RetryableError
from connector.ports import PushResult
from platforms.shopify.receipts import Receipts

RESULT = PushResult("gid://shopify/StoreCreditAccountCreditTransaction/1", details={"n": 1})


def test_a_kept_receipt_is_found_as_already_done() -> None:
    receipts = Receipts("a.myshopify.com")
    receipts.keep("credit:1", RESULT)

    found = receipts.find("credit:1")

    assert found == PushResult(RESULT.external_id, already_done=True, details={"n": 1})
    assert receipts.find("credit:2") is None


def test_receipts_in_redis_are_seen_by_every_worker(shared_redis_url: str) -> None:
    redis = Redis.from_url(shared_redis_url)
    shop = f"receipts-{uuid.uuid4().hex[:8]}.myshopify.com"
    try:
        Receipts(shop, redis).keep("restock:9", RESULT)

        found = Receipts(shop, redis).find("restock:9")

        assert found is not None and found.already_done
        assert Receipts("another.myshopify.com", redis).find("restock:9") is None
        assert 0 < redis.ttl(f"helloword:shopify:receipt:{shop}:restock:9") <= 90 * 24 * 3600
    finally:
        redis.delete(f"helloword:shopify:receipt:{shop}:restock:9")
        redis.close()


def test_a_receipt_redis_cannot_take_does_not_fail_the_push_already_made() -> None:
    unreachable = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    receipts = Receipts("a.myshopify.com", unreachable)

    receipts.keep("credit:1", RESULT)  # logged, not raised
    with pytest.raises(RetryableError, match="out of reach"):
        receipts.find("credit:1")
