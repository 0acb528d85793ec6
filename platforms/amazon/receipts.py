"""What Helloword has asked of Amazon, by idempotency key, so a repeated push never acts twice.

A refund goes to Amazon inside a payment adjustment feed, and Amazon keeps nothing Helloword
could read back to learn whether a refund was already made. So each refund has a receipt here,
moved along as the feed goes:

    SUBMITTING ──(createFeed answered)──► SUBMITTED ──(processing report)──► ISSUED | FAILED
         │                                                               └─► UNCERTAIN
         └──(createFeed may have run, or the worker died)──► recovered, or UNCERTAIN

A refund is claimed (SET NX) before its feed is built, so two workers never submit the same
key; the claim records when it was made. A receipt left SUBMITTING had its feed possibly
created: it is submitted again only when Amazon lists no payment adjustment feed created since
the claim, and is otherwise UNCERTAIN, which a person settles. Each feed also keeps the map
from its ``MessageID`` to the idempotency keys, so its processing report can be read back
whichever job asks. A restock keeps a receipt of the quantity it set, for the same reason.

Receipts live in Redis when the app has one (shared by every worker, kept 90 days), else in
this process's memory, which is enough for one process and for tests.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError

from connector.errors import RetryableError

KEY_PREFIX = "helloword:amazon:"
TTL = 90 * 24 * 3600  # seconds; longer than any job is retried or any feed is looked at


class RefundState(StrEnum):
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    ISSUED = "issued"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class RefundReceipt:
    """Where one refund stands with Amazon."""

    idempotency_key: str
    state: RefundState
    claimed_at: float  # seconds since the epoch, when a worker took it on
    feed_id: str = ""
    message_id: int = 0
    message: str = ""  # Amazon's words on a failure or a warning, or why it is uncertain
    order_external_id: str = ""
    amount: str = ""  # as ``str(Money)``, for people reading the receipt

    def moved(self, state: RefundState, **changes: Any) -> RefundReceipt:
        return replace(self, state=state, **changes)


class Receipts:
    """The receipts of one seller."""

    def __init__(self, seller_key: str, redis: Any = None) -> None:
        self._prefix = f"{KEY_PREFIX}{seller_key}:"
        self._redis = redis
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()

    # refunds -----------------------------------------------------------------------------

    def refund(self, idempotency_key: str) -> RefundReceipt | None:
        text = self._get(self._refund_key(idempotency_key))
        if text is None:
            return None
        stored = json.loads(text)
        stored["state"] = RefundState(stored["state"])
        return RefundReceipt(**stored)

    def claim(self, receipt: RefundReceipt) -> bool:
        """Take the refund on, unless a receipt for its key already exists."""
        return self._set(self._refund_key(receipt.idempotency_key), _dump(receipt), only_new=True)

    def keep(self, receipt: RefundReceipt) -> None:
        self._set(self._refund_key(receipt.idempotency_key), _dump(receipt))

    def release(self, idempotency_key: str) -> None:
        """Forget a claim whose feed certainly never reached Amazon."""
        self._delete(self._refund_key(idempotency_key))

    def keep_feed(self, feed_id: str, messages: dict[int, str]) -> None:
        """Remember which idempotency key each message of a feed carries."""
        document = {str(message_id): key for message_id, key in messages.items()}
        self._set(self._feed_key(feed_id), json.dumps(document, sort_keys=True))

    def feed_messages(self, feed_id: str) -> dict[int, str]:
        text = self._get(self._feed_key(feed_id))
        return {int(mid): key for mid, key in json.loads(text).items()} if text else {}

    # restocks ----------------------------------------------------------------------------

    def restock(self, idempotency_key: str) -> dict[str, Any] | None:
        text = self._get(f"{self._prefix}restock:{idempotency_key}")
        return json.loads(text) if text else None

    def keep_restock(self, idempotency_key: str, record: dict[str, Any]) -> None:
        self._set(f"{self._prefix}restock:{idempotency_key}", json.dumps(record, sort_keys=True))

    # storage -----------------------------------------------------------------------------

    def _refund_key(self, idempotency_key: str) -> str:
        return f"{self._prefix}refund:{idempotency_key}"

    def _feed_key(self, feed_id: str) -> str:
        return f"{self._prefix}feed:{feed_id}"

    def _get(self, key: str) -> str | None:
        if self._redis is None:
            with self._lock:
                return self._memory.get(key)
        try:
            value = self._redis.get(key)
        except RedisError as exc:
            raise RetryableError(f"Amazon receipts in Redis are out of reach: {exc}") from exc
        return value.decode() if isinstance(value, bytes) else value

    def _set(self, key: str, value: str, *, only_new: bool = False) -> bool:
        if self._redis is None:
            with self._lock:
                if only_new and key in self._memory:
                    return False
                self._memory[key] = value
                return True
        try:
            return bool(self._redis.set(key, value, ex=TTL, nx=only_new))
        except RedisError as exc:
            raise RetryableError(f"Amazon receipts in Redis are out of reach: {exc}") from exc

    def _delete(self, key: str) -> None:
        if self._redis is None:
            with self._lock:
                self._memory.pop(key, None)
            return
        try:
            self._redis.delete(key)
        except RedisError as exc:
            raise RetryableError(f"Amazon receipts in Redis are out of reach: {exc}") from exc


def _dump(receipt: RefundReceipt) -> str:
    document = asdict(receipt)
    document["state"] = receipt.state.value
    return json.dumps(document, sort_keys=True)
