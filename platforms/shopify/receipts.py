"""Receipts for the pushes Shopify cannot recognise as done by itself.

Most pushes are idempotent through Shopify's own state: the adapter reads the return first and
skips what is already so (an approved return, a delivery with this tracking number). A restock
before API 2026-01 and a store credit leave nothing to read back, so the adapter keeps a receipt
per idempotency key once Shopify has accepted the push, and a retried job finds it. Receipts
live in Redis when the app has one (shared by every worker, kept 90 days), else in memory.

One gap remains by nature: when Shopify runs the push but its answer is lost (a gateway's 5xx,
a timeout) or the worker dies before writing the receipt, there is no receipt, and the job's
retry pushes again. A receipt that cannot be written is logged, not raised: the push is made.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

from redis.exceptions import RedisError

from connector.errors import RetryableError
from connector.ports import PushResult

KEY_PREFIX = "helloword:shopify:receipt:"
TTL = 90 * 24 * 3600  # seconds; longer than any job is retried

log = logging.getLogger(__name__)


class Receipts:
    """The receipts of one store."""

    def __init__(self, shop: str, redis: Any = None) -> None:
        self._prefix = f"{KEY_PREFIX}{shop}:"
        self._redis = redis
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()

    def find(self, idempotency_key: str) -> PushResult | None:
        """The push made under ``idempotency_key``, marked ``already_done``; or None."""
        text = self._get(self._prefix + idempotency_key)
        if text is None:
            return None
        stored = json.loads(text)
        return PushResult(
            external_id=str(stored.get("external_id", "")),
            already_done=True,
            details=dict(stored.get("details", {})),
        )

    def keep(self, idempotency_key: str, result: PushResult) -> None:
        document = {"external_id": result.external_id, "details": _plain(result.details)}
        self._set(self._prefix + idempotency_key, json.dumps(document, sort_keys=True))

    def _get(self, key: str) -> str | None:
        if self._redis is None:
            with self._lock:
                return self._memory.get(key)
        try:
            value = self._redis.get(key)
        except RedisError as exc:
            raise RetryableError(f"Shopify push receipts in Redis are out of reach: {exc}") from exc
        return value.decode() if isinstance(value, bytes) else value

    def _set(self, key: str, value: str) -> None:
        if self._redis is None:
            with self._lock:
                self._memory[key] = value
            return
        try:
            self._redis.set(key, value, ex=TTL)
        except RedisError as exc:
            # The push is made: failing it now would have the job make it a second time.
            log.error("could not keep the receipt of Shopify push %s: %s", key, exc)


def _plain(details: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(details), default=str))
