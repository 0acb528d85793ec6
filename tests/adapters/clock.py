"""A clock for adapters that wait (rate limits, token expiry, report polling)."""

from __future__ import annotations


class FakeTime:
    """A clock that moves only when something sleeps, and remembers each sleep."""

    def __init__(self, now: float = 1_752_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
