"""Job functions that fail on purpose, run through the same wrapper as the real jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from connector.db import models
from connector.errors import AwaitingPlatform, NothingToDo, PermanentError, RetryableError
from connector.jobs import _run


def rate_limited(retry_after: float | None = None) -> dict[str, Any]:
    def work(_: Any) -> list[Any]:
        raise RetryableError("429 Too Many Requests", retry_after=retry_after)

    return _run("tests.jobs.flaky.rate_limited", (retry_after,), work)


def misconfigured() -> dict[str, Any]:
    def work(_: Any) -> list[Any]:
        raise PermanentError("401 Unauthorized: the token was revoked")

    return _run("tests.jobs.flaky.misconfigured", (), work)


def already_done() -> dict[str, Any]:
    def work(_: Any) -> list[Any]:
        raise NothingToDo("the refund was issued before")

    return _run("tests.jobs.flaky.already_done", (), work)


def still_processing(retry_after: float | None = None) -> dict[str, Any]:
    def work(_: Any) -> list[Any]:
        raise AwaitingPlatform("Amazon feed 50001 is IN_PROGRESS", retry_after=retry_after)

    return _run("tests.jobs.flaky.still_processing", (retry_after,), work)


def customer_twice(external_id: str) -> dict[str, Any]:
    """Stores a customer that is there already, as the slower of two jobs racing to store it
    does: its insert meets the other's key."""

    def work(runtime: Any) -> list[Any]:
        with runtime.db.transaction() as session:
            store = session.scalars(select(models.Store)).one()
            session.add(models.Customer(store_id=store.id, external_id=external_id))
            session.flush()
        return []

    return _run("tests.jobs.flaky.customer_twice", (external_id,), work)


def nameless_store() -> dict[str, Any]:
    """A write that is wrong, not late: a store without its merchant."""

    def work(runtime: Any) -> list[Any]:
        with runtime.db.transaction() as session:
            session.add(models.Store(platform="sandbox", external_id="orphan"))
            session.flush()
        return []

    return _run("tests.jobs.flaky.nameless_store", (), work)
