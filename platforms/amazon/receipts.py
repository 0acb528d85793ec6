"""What Helloword has asked of Amazon, by idempotency key, so a repeated push never acts twice.

A refund goes to Amazon inside a payment adjustment feed, and Amazon keeps nothing Helloword
could read back to learn whether a refund was already made. So each refund has a receipt here,
moved along as the feed goes:

    QUEUED ──(the batch is sent)──► SUBMITTING ──(createFeed answered)──► SUBMITTED
       ▲                                 │                                    │
       └──(Amazon certainly never got it)┤                     (processing report)
                                         │                                    ▼
                    (createFeed may have run, and Amazon lists feeds since)   ISSUED | FAILED
                                         └──────────────────────────────────► UNCERTAIN

A refund asked for waits QUEUED in its seller's batch, with everything its feed message needs,
so one feed carries every refund asked for in the same minute. The receipt is written and the
key joins the batch in one step, and the refund that finds the batch empty opens it: it gets
the batch's number, by which the job that sends the batch is queued once. Sending takes the
whole batch in one step too, and each refund is claimed by moving its receipt from QUEUED to
SUBMITTING only if it is still QUEUED, so two workers never submit the same key. A refund
whose feed certainly never reached Amazon goes back to QUEUED and to the front of the batch.

A receipt left SUBMITTING had its feed possibly created: it is queued again only when Amazon
lists no payment adjustment feed created since the claim, and is otherwise UNCERTAIN, which a
person settles. Each feed also keeps the map from its ``MessageID`` to the idempotency keys, so
its processing report can be read back whichever job asks, and one reading settles every refund
of the feed. A restock keeps a receipt of the quantity it set, for the same reason.

Receipts live in Redis when the app has one (shared by every worker, kept 90 days; the steps
above that must be one are Lua scripts), else in this process's memory, which is enough for
one process and for tests.
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
    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    ISSUED = "issued"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class RefundReceipt:
    """Where one refund stands with Amazon, and (while QUEUED) what its feed message is."""

    idempotency_key: str
    state: RefundState
    claimed_at: float  # seconds since the epoch, when it last joined the batch or was taken on
    feed_id: str = ""
    message_id: int = 0
    message: str = ""  # Amazon's words on a failure or a warning, or why it is uncertain
    order_external_id: str = ""
    amount: str = ""  # as ``str(Money)``
    lines: tuple[tuple[str, int], ...] = ()  # (SKU, quantity) of the order refunded
    return_external_id: str = ""
    reason: str = ""  # the feed's AdjustmentReason
    queued_at: float = 0.0  # seconds since the epoch, when it first joined a batch

    def moved(self, state: RefundState, **changes: Any) -> RefundReceipt:
        return replace(self, state=state, **changes)


# KEYS: the receipt, the batch, the batch number. ARGV: the receipt, its key, the TTL.
# -1: a receipt for the key exists already; 0: joined the open batch; n: opened batch n.
_QUEUE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  return -1
end
local length = redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if length > 1 then
  return 0
end
local number = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return number
"""

# KEYS: the receipt, the batch, the batch number. ARGV: the state expected, the receipt, its
# key, the TTL. -1: the receipt is not in that state; n: back in the batch, as batch n.
_REQUEUE = """
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current)['state'] ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
if not redis.call('LPOS', KEYS[2], ARGV[3]) then
  redis.call('LPUSH', KEYS[2], ARGV[3])
end
redis.call('EXPIRE', KEYS[2], ARGV[4])
local number = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return number
"""

# KEYS: the receipt. ARGV: the state expected, the receipt, the TTL. 1 if replaced.
_REPLACE = """
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current)['state'] ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# KEYS: the batch. Every key in it, the batch emptied.
_TAKE = """
local keys = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return keys
"""


class Receipts:
    """The receipts and the refund batch of one seller."""

    def __init__(self, seller_key: str, redis: Any = None) -> None:
        self._prefix = f"{KEY_PREFIX}{seller_key}:"
        self._redis = redis
        self._memory: dict[str, str] = {}
        self._batch: list[str] = []
        self._batch_number = 0
        self._lock = threading.Lock()
        self._scripts = (
            {
                name: redis.register_script(text)
                for name, text in (
                    ("queue", _QUEUE),
                    ("requeue", _REQUEUE),
                    ("replace", _REPLACE),
                    ("take", _TAKE),
                )
            }
            if redis is not None
            else {}
        )

    # refunds -----------------------------------------------------------------------------

    def refund(self, idempotency_key: str) -> RefundReceipt | None:
        text = self._get(self._refund_key(idempotency_key))
        return _load(text) if text is not None else None

    def claim(self, receipt: RefundReceipt) -> bool:
        """Take the refund on, unless a receipt for its key already exists."""
        return self._set(self._refund_key(receipt.idempotency_key), _dump(receipt), only_new=True)

    def keep(self, receipt: RefundReceipt) -> None:
        self._set(self._refund_key(receipt.idempotency_key), _dump(receipt))

    def replace(self, expected: RefundState, receipt: RefundReceipt) -> bool:
        """Keep ``receipt`` only if the one stored for its key is still ``expected``: how a
        refund is claimed from the batch, or withdrawn from it, by one worker alone."""
        key = self._refund_key(receipt.idempotency_key)
        if self._redis is None:
            with self._lock:
                if _state_of(self._memory.get(key)) != expected:
                    return False
                self._memory[key] = _dump(receipt)
                return True
        return bool(self._run("replace", [key], [expected.value, _dump(receipt), TTL]))

    def keep_feed(self, feed_id: str, messages: dict[int, str]) -> None:
        """Remember which idempotency key each message of a feed carries."""
        document = {str(message_id): key for message_id, key in messages.items()}
        self._set(self._feed_key(feed_id), json.dumps(document, sort_keys=True))

    def feed_messages(self, feed_id: str) -> dict[int, str]:
        text = self._get(self._feed_key(feed_id))
        return {int(mid): key for mid, key in json.loads(text).items()} if text else {}

    # the batch ---------------------------------------------------------------------------

    def queue(self, receipt: RefundReceipt) -> int | None:
        """Keep a QUEUED receipt and add its key to the batch, unless a receipt for the key
        exists already (None). The batch's number when this refund opened it, else 0."""
        key = receipt.idempotency_key
        if self._redis is None:
            with self._lock:
                stored = self._refund_key(key)
                if stored in self._memory:
                    return None
                self._memory[stored] = _dump(receipt)
                self._batch.append(key)
                if len(self._batch) > 1:
                    return 0
                self._batch_number += 1
                return self._batch_number
        keys = [self._refund_key(key), self._batch_key(), self._number_key()]
        number = int(self._run("queue", keys, [_dump(receipt), key, TTL]))
        return None if number < 0 else number

    def requeue(self, expected: RefundState, receipt: RefundReceipt) -> int | None:
        """Put a refund back at the front of the batch as ``receipt`` (QUEUED), if the one
        stored is still ``expected``; else None. It opens a new batch number, so the job that
        sends the batch can be queued afresh."""
        key = receipt.idempotency_key
        if self._redis is None:
            with self._lock:
                stored = self._refund_key(key)
                if _state_of(self._memory.get(stored)) != expected:
                    return None
                self._memory[stored] = _dump(receipt)
                if key not in self._batch:
                    self._batch.insert(0, key)
                self._batch_number += 1
                return self._batch_number
        keys = [self._refund_key(key), self._batch_key(), self._number_key()]
        number = int(self._run("requeue", keys, [expected.value, _dump(receipt), key, TTL]))
        return None if number < 0 else number

    def take_batch(self) -> list[str]:
        """Every key waiting in the batch, in the order they joined; the batch is left empty."""
        if self._redis is None:
            with self._lock:
                taken, self._batch = self._batch, []
                return taken
        return [_text(key) for key in self._run("take", [self._batch_key()], [])]

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

    def _batch_key(self) -> str:
        return f"{self._prefix}batch"

    def _number_key(self) -> str:
        return f"{self._prefix}batch:number"

    def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return self._scripts[script](keys=keys, args=args)
        except RedisError as exc:
            raise RetryableError(f"Amazon receipts in Redis are out of reach: {exc}") from exc

    def _get(self, key: str) -> str | None:
        if self._redis is None:
            with self._lock:
                return self._memory.get(key)
        try:
            value = self._redis.get(key)
        except RedisError as exc:
            raise RetryableError(f"Amazon receipts in Redis are out of reach: {exc}") from exc
        return _text(value) if value is not None else None

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


def _dump(receipt: RefundReceipt) -> str:
    document = asdict(receipt)
    document["state"] = receipt.state.value
    return json.dumps(document, sort_keys=True)


def _load(text: str) -> RefundReceipt:
    stored = json.loads(text)
    stored["state"] = RefundState(stored["state"])
    stored["lines"] = tuple((str(sku), int(quantity)) for sku, quantity in stored.get("lines", ()))
    return RefundReceipt(**stored)


def _state_of(text: str | None) -> RefundState | None:
    return RefundState(json.loads(text)["state"]) if text is not None else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
