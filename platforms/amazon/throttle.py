"""SP-API usage plans, kept per seller and operation so calls wait instead of being throttled.

Amazon meters every operation with a token bucket per selling partner and application: a
``rate`` of requests per second refills it up to a ``burst``, and a call that finds it empty is
answered 429. The defaults are documented per operation (``DEFAULT_PLANS``); the rate Amazon
applies to this seller comes back on each answer in ``x-amzn-RateLimit-Limit`` and replaces
the default (the burst is never reported, so it stays the documented one).

Before each call the adapter takes a token from the mirror bucket here, sleeping until one is
due; past ``max_wait`` the work is better left to a later job (``RetryableError`` with the
wait as ``retry_after``). A 429 means Amazon's bucket is empty whatever ours says, so the
mirror is drained too. Workers share a seller's buckets through Redis (one hash per operation,
read and changed by one Lua script so two workers never spend the same token); a process
without Redis keeps them in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from connector.errors import RetryableError

KEY_PREFIX = "helloword:amazon:throttle:"
RATE_HEADER = "x-amzn-RateLimit-Limit"
MIN_TTL = 3600  # seconds a bucket nobody used is kept; longer for slow refills


@dataclass(frozen=True, slots=True)
class Plan:
    rate: float  # requests per second
    burst: int

    @property
    def ttl(self) -> int:
        """How long an idle bucket is kept: long enough to refill, so expiry grants nothing
        Amazon would not."""
        return int(max(MIN_TTL, 2 * self.burst / self.rate))


# Amazon's documented defaults for the operations this adapter calls.
DEFAULT_PLANS: dict[str, Plan] = {
    "createReport": Plan(0.0167, 15),
    "getReport": Plan(2.0, 15),
    "getReports": Plan(0.0222, 10),
    "getReportDocument": Plan(0.0167, 15),
    "createFeedDocument": Plan(0.5, 15),
    "createFeed": Plan(0.0083, 15),
    "getFeed": Plan(2.0, 15),
    "getFeeds": Plan(0.0222, 10),
    "getFeedDocument": Plan(0.0222, 10),
    "searchOrders": Plan(0.0056, 20),
    "getOrder": Plan(0.5, 30),
    "getListingsItem": Plan(5.0, 10),
    "patchListingsItem": Plan(5.0, 5),
    "getMarketplaceParticipations": Plan(0.016, 15),
}


def plan_for(operation: str) -> Plan:
    try:
        return DEFAULT_PLANS[operation]
    except KeyError:
        raise ValueError(f"no usage plan is known for the SP-API operation {operation!r}") from None


def rate_from(headers: Mapping[str, str] | None) -> float | None:
    """The rate in an answer's ``x-amzn-RateLimit-Limit`` header, or None."""
    if not headers:
        return None
    value = headers.get(RATE_HEADER) or headers.get(RATE_HEADER.lower())
    try:
        rate = float(str(value).strip()) if value is not None else 0.0
    except ValueError:
        return None
    return rate if rate > 0 else None


class Bucket(Protocol):
    def take(self, now: float) -> float:
        """Take a token and answer 0, or answer the seconds until one is due."""
        ...

    def set_rate(self, rate: float, now: float) -> None:
        """Use the rate Amazon reported from now on."""
        ...

    def drain(self, now: float) -> float:
        """Empty the bucket (Amazon answered 429); the seconds until the next token."""
        ...


class MemoryBucket:
    """One operation's bucket in this process's memory, full to begin with."""

    def __init__(self, plan: Plan) -> None:
        self._lock = threading.Lock()
        self._tokens = float(plan.burst)
        self._rate = plan.rate
        self._burst = float(plan.burst)
        self._at: float | None = None

    def take(self, now: float) -> float:
        with self._lock:
            self._refill(now)
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._rate

    def set_rate(self, rate: float, now: float) -> None:
        with self._lock:
            self._refill(now)
            self._rate = rate

    def drain(self, now: float) -> float:
        with self._lock:
            self._refill(now)
            self._tokens = 0.0
            return 1 / self._rate

    def _refill(self, now: float) -> None:
        if self._at is not None:
            elapsed = max(0.0, now - self._at)
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._at = now


# KEYS[1] the bucket's hash. ARGV: op (take | rate | drain), now, default rate, default burst,
# ttl, and for "rate" the new rate. A bucket not yet in Redis starts full. Answers the wait.
_SCRIPT = """
local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local rate, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens = burst
local state = redis.call('HMGET', key, 'tokens', 'rate', 'burst', 'at')
if state[1] then
  rate, burst = tonumber(state[2]), tonumber(state[3])
  local elapsed = math.max(0, now - tonumber(state[4]))
  tokens = math.min(burst, tonumber(state[1]) + elapsed * rate)
end
local wait = 0
if op == 'take' then
  if tokens >= 1 then
    tokens = tokens - 1
  else
    wait = (1 - tokens) / rate
  end
elseif op == 'rate' then
  rate = tonumber(ARGV[6])
elseif op == 'drain' then
  tokens = 0
  wait = 1 / rate
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'rate', tostring(rate),
  'burst', tostring(burst), 'at', ARGV[2])
redis.call('EXPIRE', key, tonumber(ARGV[5]))
return tostring(wait)
"""


class RedisBucket:
    """One operation's bucket in Redis, shared by every worker acting for the seller."""

    def __init__(self, redis: Any, key: str, plan: Plan) -> None:
        self.key = key
        self._plan = plan
        self._script = redis.register_script(_SCRIPT)

    def take(self, now: float) -> float:
        return self._call("take", now)

    def set_rate(self, rate: float, now: float) -> None:
        self._call("rate", now, repr(rate))

    def drain(self, now: float) -> float:
        return self._call("drain", now)

    def _call(self, op: str, now: float, *extra: str) -> float:
        plan = self._plan
        args = [op, repr(now), repr(plan.rate), str(plan.burst), str(plan.ttl), *extra]
        try:
            answer = self._script(keys=[self.key], args=args)
        except RedisError as exc:
            raise RetryableError(f"the Amazon rate budget in Redis is out of reach: {exc}") from exc
        return float(answer.decode() if isinstance(answer, bytes) else answer)


class Throttle:
    """The buckets of one seller's operations, and the waiting on them."""

    def __init__(
        self,
        seller_key: str,
        redis: Any = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 30.0,
    ) -> None:
        self.seller_key = seller_key
        self._redis = redis
        self._clock = clock
        self._sleep = sleep
        self.max_wait = max_wait
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def bucket(self, operation: str) -> Bucket:
        with self._lock:
            found = self._buckets.get(operation)
            if found is None:
                plan = plan_for(operation)
                key = f"{KEY_PREFIX}{self.seller_key}:{operation}"
                found = RedisBucket(self._redis, key, plan) if self._redis else MemoryBucket(plan)
                self._buckets[operation] = found
            return found

    def acquire(self, operation: str) -> float:
        """Take a token for ``operation``, sleeping until one is due; the seconds slept.
        Past ``max_wait`` in all: ``RetryableError`` with the wait still ahead."""
        bucket, waited = self.bucket(operation), 0.0
        while True:
            wait = bucket.take(self._clock())
            if wait <= 0:
                return waited
            if waited + wait > self.max_wait:
                raise RetryableError(
                    f"Amazon's {operation} budget for this seller needs {wait:.1f} s more",
                    retry_after=wait,
                )
            self._sleep(wait)
            waited += wait

    def observe(self, operation: str, headers: Mapping[str, str] | None) -> None:
        """Adopt the rate an answer reports for ``operation``."""
        rate = rate_from(headers)
        if rate is not None:
            self.bucket(operation).set_rate(rate, self._clock())

    def throttled(self, operation: str) -> float:
        """Amazon answered 429: drain the mirror; the seconds until a token is due."""
        return self.bucket(operation).drain(self._clock())
