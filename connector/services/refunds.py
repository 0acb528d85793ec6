"""Refunds: requested when the policy's trigger fires, issued once through the outbox.

A return has at most one live refund: a second trigger finds the pending or issued one and adds
nothing. A refund that failed permanently may be requested again, with the next sequence number
and so a new idempotency key.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import models
from ..domain import Money
from ..domain.events import EventKind
from . import outbox
from .common import FollowUp, record


def refund_amount(return_: models.Return) -> Money:
    currency = return_.order.currency
    amount = Money.zero(currency)
    for line in return_.lines:
        if line.outcome == "approve":
            amount = (
                amount
                + Money.from_minor(line.order_line.unit_price_minor, currency) * line.quantity
            )
    return amount


def request_refund(session: Session, return_: models.Return, trigger: str) -> list[FollowUp]:
    live = session.scalar(
        select(models.Refund).where(
            models.Refund.return_id == return_.id, models.Refund.status.in_(["pending", "issued"])
        )
    )
    if live is not None:
        return []
    sequence = (
        session.scalar(
            select(func.max(models.Refund.sequence)).where(models.Refund.return_id == return_.id)
        )
        or 0
    ) + 1
    amount = refund_amount(return_)
    key = f"refund:{return_.id}:{sequence}"
    refund = models.Refund(
        return_id=return_.id,
        sequence=sequence,
        idempotency_key=key,
        amount_minor=amount.minor,
        currency=amount.currency,
        trigger=trigger,
    )
    session.add(refund)
    session.flush()
    record(
        session,
        return_,
        EventKind.REFUND_REQUESTED,
        {"refund": key, "amount": str(amount), "trigger": trigger},
    )
    lines = [
        [line.order_line.external_id, line.quantity]
        for line in return_.lines
        if line.outcome == "approve"
    ]
    _, follow_ups = outbox.add(
        session, return_, "refund", key, {"refund_id": refund.id, "lines": lines}
    )
    return follow_ups
