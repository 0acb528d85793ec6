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
from ..errors import ValidationError
from . import outbox
from .common import FollowUp, lock_return, record


def refund_parts(session: Session, return_: models.Return) -> tuple[Money, Money]:
    """(goods, postage): what the approved lines refund, and the buyer's own postage paid
    back with them. A platform refunds no more than the order's total, so the postage is
    paid only as far as the order has room left beside its other refunds."""
    currency = return_.order.currency
    fees = _restocking_fees(session, return_)
    goods = Money.zero(currency)
    for line in return_.lines:
        if line.outcome == "approve":
            value = Money.from_minor(line.order_line.unit_price_minor, currency) * line.quantity
            fee = fees.get(line.order_line.external_id)
            goods = goods + (value - fee if fee is not None and fee <= value else value)
    claimed = Money.from_minor(
        sum(
            session.scalars(
                select(models.Shipment.price_minor).where(
                    models.Shipment.return_id == return_.id,
                    models.Shipment.kind == "own_shipment",
                    models.Shipment.currency == currency,
                )
            )
        ),
        currency,
    )
    if not claimed.minor:
        return goods, claimed
    refunded_elsewhere = session.scalar(
        select(func.coalesce(func.sum(models.Refund.amount_minor), 0))
        .join(models.Return, models.Refund.return_id == models.Return.id)
        .where(
            models.Return.order_id == return_.order_id,
            models.Return.id != return_.id,
            models.Refund.status.in_(["pending", "issued"]),
        )
    )
    room = max(return_.order.total_minor - int(refunded_elsewhere or 0) - goods.minor, 0)
    return goods, Money.from_minor(min(claimed.minor, room), currency)


def _restocking_fees(session: Session, return_: models.Return) -> dict[str, Money]:
    """Each line's restocking fee, from the policy's decision on the return."""
    decision = session.scalar(
        select(models.Decision)
        .where(models.Decision.return_id == return_.id, models.Decision.actor == "policy")
        .order_by(models.Decision.id.desc())
        .limit(1)
    )
    fees: dict[str, Money] = {}
    for line in decision.lines if decision else []:
        fee = line.get("restocking_fee")
        if fee and fee["currency"] == return_.order.currency:
            fees[line["line"]] = Money.of(fee["amount"], fee["currency"])
    return fees


def request_refund(
    session: Session, return_: models.Return, trigger: str, actor: str = "system"
) -> list[FollowUp]:
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
    goods, postage = refund_parts(session, return_)
    amount = goods + postage
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
        {"refund": key, "amount": str(amount), "trigger": trigger}
        | ({"postage": str(postage)} if postage.minor else {}),
        actor=actor,
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


def retry_refund(session: Session, return_id: int, actor: str) -> list[FollowUp]:
    """Staff ask again for a refund that failed for good (the platform was down for hours, a
    payment method expired): a new refund, under the next sequence number and key."""
    return_ = lock_return(session, return_id)
    statuses = set(
        session.scalars(select(models.Refund.status).where(models.Refund.return_id == return_id))
    )
    if statuses & {"pending", "issued"}:
        raise ValidationError("refund", f"return {return_.rma} has a refund pending or issued")
    if "failed" not in statuses:
        raise ValidationError("refund", f"return {return_.rma} has no failed refund to retry")
    return request_refund(session, return_, trigger="staff", actor=actor)
