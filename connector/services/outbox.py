"""The outbox: every side effect on a platform or carrier is first a row with a unique
idempotency key, written in the same transaction as the change that calls for it, then a job.

A key seen again adds nothing, so a retried job or a redelivered event never pushes twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import models
from .common import FollowUp


def add(
    session: Session,
    return_: models.Return,
    action: str,
    key: str,
    payload: dict[str, Any] | None = None,
    target: str = "platform",
) -> tuple[models.OutboundAction, list[FollowUp]]:
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
    return row, [FollowUp("perform_outbound_action", (row.id,), f"outbound:{key}")]


def publish(
    session: Session, return_: models.Return, action: str, payload: dict[str, Any] | None = None
) -> list[FollowUp]:
    """Push a change of the return to its platform, once per return and action."""
    _, follow_ups = add(session, return_, action, f"{action}:{return_.id}", payload)
    return follow_ups
