"""Pieces every use case shares: follow-up jobs, row loading under lock, state moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import ledger
from ..db import models
from ..domain.returns import Status, transition
from ..errors import NotFound


@dataclass(frozen=True)
class FollowUp:
    """A job to enqueue once the transaction that asked for it has committed."""

    job: str  # name of a function in connector.jobs
    args: tuple[Any, ...]
    job_id: str
    delay: float = 0.0


def lock_return(session: Session, return_id: int) -> models.Return:
    """Load a return and hold its row lock until the transaction ends."""
    row = session.scalars(
        select(models.Return)
        .where(models.Return.id == return_id)
        .with_for_update()
        # a copy the session loaded before the lock may be stale: read it again under the lock
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFound(f"return {return_id} does not exist")
    return row


def move(
    session: Session,
    return_: models.Return,
    target: Status,
    kind: str,
    payload: dict[str, Any] | None = None,
    actor: str = "system",
) -> None:
    """Change a return's status through the lifecycle and record why in its ledger."""
    current = Status(return_.status)
    return_.status = transition(current, target).value
    ledger.append(
        session,
        return_,
        kind,
        {"from": current.value, "to": target.value, **(payload or {})},
        actor=actor,
    )


def record(
    session: Session,
    return_: models.Return,
    kind: str,
    payload: dict[str, Any] | None = None,
    actor: str = "system",
) -> None:
    """Record an event that does not change the status (a scan, a refund, a push)."""
    ledger.append(session, return_, kind, payload or {}, actor=actor)
