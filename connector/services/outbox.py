"""The outbox: every side effect on a platform or carrier is first a row with a unique
idempotency key, written in the same transaction as the change that calls for it, then a job.

A key seen again adds nothing, so a retried job or a redelivered event never pushes twice.
A platform sees one return's changes in the order they happened: a row waits while an earlier
row of the same return is pending, and finishing a row queues the next one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import models
from ..db.types import utcnow
from ..errors import NothingToDo
from .common import FollowUp


def add(
    session: Session,
    return_: models.Return,
    action: str,
    key: str,
    payload: dict[str, Any] | None = None,
    target: str = "platform",
) -> tuple[models.OutboundAction, list[FollowUp]]:
    """The row for this key (new, or the one written before) and the job that will push it.

    Carrier calls (``target="carrier"``) are made by the job that needs their answer, so they
    get a row for the record and the key, but no job of their own."""
    existing = session.scalar(
        select(models.OutboundAction).where(models.OutboundAction.idempotency_key == key)
    )
    if existing is not None:
        return existing, []
    row = models.OutboundAction(
        idempotency_key=key,
        merchant_id=return_.merchant_id,
        store_id=return_.store_id,
        return_id=return_.id,
        target=target,
        action=action,
        payload=payload or {},
    )
    session.add(row)
    session.flush()
    if target != "platform":
        return row, []
    if earlier_pending(session, row) is not None:
        return row, []  # queued by the row before it, when that one finishes
    return row, [_job(row)]


def earlier_pending(session: Session, row: models.OutboundAction) -> str | None:
    return session.scalar(
        select(models.OutboundAction.idempotency_key)
        .where(
            models.OutboundAction.return_id == row.return_id,
            models.OutboundAction.target == "platform",
            models.OutboundAction.id < row.id,
            models.OutboundAction.status == "pending",
        )
        .limit(1)
    )


def next_after(session: Session, row: models.OutboundAction) -> list[FollowUp]:
    """The job for the return's next pending row, once ``row`` is no longer pending."""
    following = session.scalar(
        select(models.OutboundAction)
        .where(
            models.OutboundAction.return_id == row.return_id,
            models.OutboundAction.target == "platform",
            models.OutboundAction.id > row.id,
            models.OutboundAction.status == "pending",
        )
        .order_by(models.OutboundAction.id)
        .limit(1)
    )
    return [_job(following)] if following is not None else []


def _job(row: models.OutboundAction) -> FollowUp:
    return FollowUp("perform_outbound_action", (row.id,), f"outbound:{row.idempotency_key}")


def publish(
    session: Session, return_: models.Return, action: str, payload: dict[str, Any] | None = None
) -> list[FollowUp]:
    """Push a change of the return to its platform, once per return and action."""
    _, follow_ups = add(session, return_, action, f"{action}:{return_.id}", payload)
    return follow_ups


LEASE = timedelta(minutes=6)  # longer than a job may run (connector.jobs.JOB_TIMEOUT)


def claim(row: models.OutboundAction, retrying: bool) -> None:
    """Take the row for this job, or raise ``NothingToDo`` while another job holds it: a call
    in flight, or one waiting out its backoff. A job's own scheduled retry takes it back."""
    now = utcnow()
    if row.claimed_until is not None and row.claimed_until > now and not retrying:
        raise NothingToDo(f"{row.idempotency_key} is held by another job")
    row.claimed_until = now + LEASE
    row.attempts += 1


def release(row: models.OutboundAction, status: str, error: str = "") -> None:
    row.status, row.last_error, row.claimed_until = status, error, None
    if status == "done":
        row.done_at = utcnow()


def hold(row: models.OutboundAction, error: str, seconds: float) -> None:
    """A passing failure: keep the row for the job's retry, ``seconds`` from now."""
    row.last_error = error
    row.claimed_until = utcnow() + timedelta(seconds=seconds + 30)


def wait(row: models.OutboundAction, why: str, seconds: float) -> None:
    """The platform has the work and answers later: keep the row for the job's next ask,
    ``seconds`` from now, with what the platform said, and no error."""
    row.last_error = ""
    row.result = {"awaiting": why}
    row.claimed_until = utcnow() + timedelta(seconds=seconds + 30)
