"""Shopify's query-cost budget for one store, kept so calls wait instead of being throttled.

The GraphQL Admin API meters each app and store with a leaky bucket of points: every response
reports ``extensions.cost.throttleStatus`` (``maximumAvailable``, ``currentlyAvailable``,
``restoreRate`` points per second), and a query that costs more than is available is refused
with ``THROTTLED``. A ``CostBucket`` mirrors that bucket: before a call it reserves the call's
expected cost, or says how long to wait until the points have been restored; after the call the
reported status replaces the estimate.

Workers on several machines share one store's budget, so the bucket lives in Redis when the app
has one (a hash per shop, read and changed by one Lua script so concurrent workers never both
spend the same points); a process without Redis keeps it in memory. Until the first response
the bucket knows nothing and lets calls through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from connector.errors import RetryableError

KEY_PREFIX = "helloword:shopify:throttle:"
KEY_TTL = 3600  # seconds; a store nobody called for an hour starts afresh


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """The bucket as Shopify last reported it."""

    maximum_available: float
    currently_available: float
    restore_rate: float  # points restored per second

    @classmethod
    def from_extensions(cls, extensions: object) -> ThrottleStatus | None:
        """The status in a response's ``extensions``, or None when it carries none."""
        if not isinstance(extensions, Mapping):
            return None
        cost = extensions.get("cost")
        status = cost.get("throttleStatus") if isinstance(cost, Mapping) else None
        if not isinstance(status, Mapping):
            return None
        try:
            return cls(
                maximum_available=float(status["maximumAvailable"]),
                currently_available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


class CostBucket(Protocol):
    def take(self, cost: float, now: float) -> float:
        """Reserve ``cost`` points and answer 0, or answer the seconds to wait for them."""
        ...

    def report(self, status: ThrottleStatus, now: float) -> None:
        """Replace the estimate with what Shopify reported at ``now``."""
        ...


class MemoryBucket:
    """The bucket of one store in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: tuple[float, float, float, float] | None = None  # available, max, rate, at

    def take(self, cost: float, now: float) -> float:
        with self._lock:
            if self._state is None:
                return 0.0
            available, maximum, rate, at = self._state
            available = min(maximum, available + max(0.0, now - at) * rate)
            cost = min(cost, maximum)
            if available >= cost:
                self._state = (available - cost, maximum, rate, now)
                return 0.0
            self._state = (available, maximum, rate, now)
            return (cost - available) / rate if rate > 0 else 1.0

    def report(self, status: ThrottleStatus, now: float) -> None:
        with self._lock:
            self._state = (
                status.currently_available,
                status.maximum_available,
                status.restore_rate,
                now,
            )


# KEYS[1] the store's hash; ARGV[1] "take" or "report"; ARGV[2] now (seconds);
# take: ARGV[3] cost. report: ARGV[3..5] available, maximum, rate. Answers the wait, as text.
_SCRIPT = """
local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
if op == 'report' then
  redis.call('HSET', key, 'available', ARGV[3], 'maximum', ARGV[4], 'rate', ARGV[5], 'at', ARGV[2])
  redis.call('EXPIRE', key, tonumber(ARGV[6]))
  return '0'
end
local state = redis.call('HMGET', key, 'available', 'maximum', 'rate', 'at')
if not state[1] then
  return '0'
end
local maximum, rate = tonumber(state[2]), tonumber(state[3])
local elapsed = math.max(0, now - tonumber(state[4]))
local available = math.min(maximum, tonumber(state[1]) + elapsed * rate)
local cost = math.min(tonumber(ARGV[3]), maximum)
if available >= cost then
  redis.call('HSET', key, 'available', tostring(available - cost), 'at', ARGV[2])
  return '0'
end
redis.call('HSET', key, 'available', tostring(available), 'at', ARGV[2])
if rate <= 0 then
  return '1'
end
return tostring((cost - available) / rate)
"""


class RedisBucket:
    """The bucket of one store in Redis, shared by every worker that calls the store."""

    def __init__(self, redis: Any, shop: str) -> None:
        self.key = f"{KEY_PREFIX}{shop}"
        self._script = redis.register_script(_SCRIPT)

    def take(self, cost: float, now: float) -> float:
        return float(self._call("take", repr(now), repr(float(cost))))

    def report(self, status: ThrottleStatus, now: float) -> None:
        self._call(
            "report",
            repr(now),
            repr(status.currently_available),
            repr(status.maximum_available),
            repr(status.restore_rate),
            str(KEY_TTL),
        )

    def _call(self, *args: str) -> str:
        try:
            answer = self._script(keys=[self.key], args=list(args))
        except RedisError as exc:
            raise RetryableError(
                f"the Shopify query budget in Redis is out of reach: {exc}"
            ) from exc
        return answer.decode() if isinstance(answer, bytes) else str(answer)


def bucket_for(shop: str, redis: Any = None) -> CostBucket:
    """The store's bucket: in Redis when the app has one, else in this process."""
    return RedisBucket(redis, shop) if redis is not None else MemoryBucket()


class Throttle:
    """Waits, before each call, until the store's bucket holds the call's expected cost."""

    def __init__(
        self,
        bucket: CostBucket,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 60.0,
    ) -> None:
        self.bucket = bucket
        self._clock = clock
        self._sleep = sleep
        self.max_wait = max_wait

    def acquire(self, cost: float) -> float:
        """Reserve ``cost`` points, sleeping while they are restored; the seconds slept.

        Past ``max_wait`` the call is better made by a later job: ``RetryableError``.
        """
        waited = 0.0
        while True:
            wait = self.bucket.take(cost, self._clock())
            if wait <= 0:
                return waited
            if waited + wait > self.max_wait:
                raise RetryableError(
                    f"Shopify's query budget needs {wait:.1f} s more to afford {cost:g} points",
                    retry_after=wait,
                )
            self._sleep(wait)
            waited += wait

    def report(self, status: ThrottleStatus) -> None:
        self.bucket.report(status, self._clock())
