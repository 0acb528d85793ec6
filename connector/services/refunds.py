"""Refunds: requested when the policy's trigger fires, issued once through the outbox.

A return has at most one live refund: a second trigger finds the pending, issued or uncertain
one and adds nothing. A refund that failed permanently may be requested again, with the next
sequence number and so a new idempotency key, but only once the platform agrees it was never
made: a platform that makes refunds after the push (``RefundTracker``, Amazon) may still be
making one recorded here as failed. A refund the platform may or may not have made is
``uncertain``; a person checks the platform and settles it, as made or as not made.

An exchange settles a return the same way, without money: its refund row (kind ``exchange``,
amount zero) stands for the other variants the platform sends, through the outbound action
``exchange`` instead of ``refund``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import models
from ..db.types import utcnow
from ..domain import Money
from ..domain.events import EventKind
from ..errors import HellowordError, ValidationError
from ..ports import RefundTracker
from . import outbox
from .common import FollowUp, lock_return, record
from .lifecycle import try_resolve

LIVE = ("pending", "issued", "uncertain")  # refunds that are, or may be, paid
# where a platform's refund may still be made, in the words of ``RefundStanding.state``
PLATFORM_WORDS = {
    "queued": "waits to be sent to the platform",
    "submitting": "is being sent to the platform",
    "submitted": "is with the platform, which has not said whether it made it",
    "issued": "was made by the platform",
    "uncertain": "may or may not have been made by the platform",
}


@dataclass(frozen=True)
class RefundParts:
    """What a refund is made of. ``kind`` is ``store_credit`` when the buyer asked for it and
    the policy allows it on every approved line; the bonus comes only with store credit.
    ``exchange`` likewise, when every approved line also names the variant wanted: then no
    money moves, and ``goods`` is only what the exchanged goods are worth."""

    kind: str
    goods: Money
    postage: Money
    bonus: Money
    note: str = ""

    @property
    def amount(self) -> Money:
        return self.goods + self.postage + self.bonus


def refund_parts(session: Session, return_: models.Return) -> RefundParts:
    """The approved lines' value less the restocking fees the policy set on them, the buyer's
    own postage paid back with them, and the store-credit bonus. A platform refunds no more
    than the order's total, so a refund pays the postage only as far as the order has room
    left beside its other refunds; store credit pays no money back and has no such cap."""
    currency = return_.order.currency
    decided = _policy_lines(session, return_)
    approved = [line for line in return_.lines if line.outcome == "approve"]
    credit = return_.resolution == "store_credit" and _allowed(decided, approved, "store_credit")
    exchange, why_not = exchange_allowed(session, return_)
    goods = bonus = Money.zero(currency)
    for line in approved:
        value = Money.from_minor(line.order_line.unit_price_minor, currency) * line.quantity
        policy = decided.get(line.order_line.external_id, {})
        fee_doc = policy.get("restocking_fee")
        fee = Money.of(fee_doc["amount"], fee_doc["currency"]) if fee_doc else None
        if fee is not None and fee.currency == currency and fee <= value:
            value = value - fee
        goods = goods + value
        percent = Decimal(policy.get("bonus_credit_percent") or 0)
        if credit and percent:
            bonus = bonus + value * (percent / 100)
    note = ""
    if return_.resolution == "store_credit" and not credit:
        note = "store credit was asked for, but the policy does not allow it: refunded"
    if exchange:
        zero = Money.zero(currency)
        return RefundParts("exchange", goods, zero, zero)
    if why_not:
        note = f"an exchange was asked for, but {why_not}: refunded"
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
    kind = "store_credit" if credit else "refund"
    if not claimed.minor or credit:
        return RefundParts(kind, goods, claimed, bonus, note)
    refunded_elsewhere = session.scalar(
        select(func.coalesce(func.sum(models.Refund.amount_minor), 0))
        .join(models.Return, models.Refund.return_id == models.Return.id)
        .where(
            models.Return.order_id == return_.order_id,
            models.Return.id != return_.id,
            models.Refund.kind == "refund",
            models.Refund.status.in_(LIVE),
        )
    )
    room = max(return_.order.total_minor - int(refunded_elsewhere or 0) - goods.minor, 0)
    return RefundParts(kind, goods, Money.from_minor(min(claimed.minor, room), currency), bonus)


def exchange_allowed(session: Session, return_: models.Return) -> tuple[bool, str]:
    """Whether the return is settled by an exchange: the buyer asked for one, every approved
    line names the variant wanted, and the policy allows exchange on each. If asked for but
    not allowed, why not."""
    if return_.resolution != "exchange":
        return False, ""
    approved = [line for line in return_.lines if line.outcome == "approve"]
    if not approved:
        return False, "no line was approved"
    unnamed = [line.order_line.external_id for line in approved if not line.exchange_sku]
    if unnamed:
        return False, f"line {', '.join(unnamed)} names no variant wanted"
    if not _allowed(_policy_lines(session, return_), approved, "exchange"):
        return False, "the policy does not allow it"
    return True, ""


def _allowed(
    decided: dict[str, dict[str, Any]], lines: list[models.ReturnLine], resolution: str
) -> bool:
    return all(
        resolution in decided.get(line.order_line.external_id, {}).get("resolutions", ())
        for line in lines
    )


def _policy_lines(session: Session, return_: models.Return) -> dict[str, dict[str, Any]]:
    """Each line's decision by the policy, by order line id."""
    decision = session.scalar(
        select(models.Decision)
        .where(models.Decision.return_id == return_.id, models.Decision.actor == "policy")
        .order_by(models.Decision.id.desc())
        .limit(1)
    )
    return {line["line"]: line for line in (decision.lines if decision else [])}


def request_refund(
    session: Session, return_: models.Return, trigger: str, actor: str = "system"
) -> list[FollowUp]:
    live = session.scalar(
        select(models.Refund).where(
            models.Refund.return_id == return_.id, models.Refund.status.in_(LIVE)
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
    parts = refund_parts(session, return_)
    if parts.kind == "exchange":
        return _request_exchange(session, return_, sequence, trigger, parts, actor)
    amount = parts.amount
    key = f"refund:{return_.id}:{sequence}"
    refund = models.Refund(
        return_id=return_.id,
        sequence=sequence,
        idempotency_key=key,
        amount_minor=amount.minor,
        currency=amount.currency,
        trigger=trigger,
        kind=parts.kind,
    )
    session.add(refund)
    session.flush()
    record(
        session,
        return_,
        EventKind.REFUND_REQUESTED,
        {"refund": key, "amount": str(amount), "trigger": trigger, "kind": parts.kind}
        | ({"postage": str(parts.postage)} if parts.postage.minor else {})
        | ({"bonus": str(parts.bonus)} if parts.bonus.minor else {})
        | ({"note": parts.note} if parts.note else {}),
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


def _request_exchange(
    session: Session,
    return_: models.Return,
    sequence: int,
    trigger: str,
    parts: RefundParts,
    actor: str,
) -> list[FollowUp]:
    """The platform sends the variants wanted instead of money: a refund row of kind
    ``exchange`` for the amount nothing, pushed as the outbound action ``exchange``."""
    key = f"exchange:{return_.id}:{sequence}"
    refund = models.Refund(
        return_id=return_.id,
        sequence=sequence,
        idempotency_key=key,
        amount_minor=0,
        currency=return_.order.currency,
        trigger=trigger,
        kind="exchange",
    )
    session.add(refund)
    session.flush()
    lines = [
        [line.order_line.external_id, line.quantity, line.exchange_sku]
        for line in return_.lines
        if line.outcome == "approve"
    ]
    record(
        session,
        return_,
        EventKind.REFUND_REQUESTED,
        {
            "refund": key,
            "amount": str(refund_amount(refund)),
            "trigger": trigger,
            "kind": "exchange",
            "value": str(parts.goods),
            "lines": [{"line": line, "quantity": qty, "sku": sku} for line, qty, sku in lines],
        },
        actor=actor,
    )
    _, follow_ups = outbox.add(
        session, return_, "exchange", key, {"refund_id": refund.id, "lines": lines}
    )
    return follow_ups


def refund_amount(refund: models.Refund) -> Money:
    return Money.from_minor(refund.amount_minor, refund.currency)


def retry_refund(
    session: Session, return_id: int, actor: str, tracker: RefundTracker | None = None
) -> list[FollowUp]:
    """Staff ask again for a refund (or an exchange) that failed for good (the platform was
    down for hours, a payment method expired): a new one, under the next sequence number and
    key. The policy and the lines decide afresh whether it is an exchange.

    ``tracker`` is the store's platform when it makes refunds after the push: each failed
    refund must then be failed in its record too, since a new key sent while the platform may
    still make the old one would refund twice."""
    return_ = lock_return(session, return_id)
    refunds = session.scalars(
        select(models.Refund).where(models.Refund.return_id == return_id)
    ).all()
    statuses = {refund.status for refund in refunds}
    if statuses & {"pending", "issued"}:
        raise ValidationError("refund", f"return {return_.rma} has a refund pending or issued")
    if "uncertain" in statuses:
        raise ValidationError(
            "refund",
            f"return {return_.rma} has a refund the platform may or may not have made: check "
            "the platform and settle it before asking again",
        )
    if "failed" not in statuses:
        raise ValidationError("refund", f"return {return_.rma} has no failed refund to retry")
    for refund in refunds:
        state = platform_state(tracker, refund.idempotency_key)
        if state and state != "failed":
            raise ValidationError(
                "refund",
                f"refund {refund.idempotency_key} of return {return_.rma} "
                f"{PLATFORM_WORDS.get(state, f'is {state} on the platform')}: asking again "
                "could refund twice",
            )
    return request_refund(session, return_, trigger="staff", actor=actor)


def platform_state(tracker: RefundTracker | None, key: str) -> str:
    """Where the platform's own record has the refund under ``key`` ("" when it keeps none,
    or was never asked); ``ValidationError`` when the record cannot be read now."""
    if tracker is None:
        return ""
    try:
        standing = tracker.refund_status(key)
    except HellowordError as error:
        raise ValidationError(
            "refund", f"where refund {key} stands on the platform cannot be read now: {error}"
        ) from error
    return str(standing.state) if standing is not None else ""


def settle_refund(
    session: Session,
    return_id: int,
    made: bool,
    note: str,
    actor: str,
    tracker: RefundTracker | None = None,
) -> list[FollowUp]:
    """A person checked the platform for the return's uncertain refund: it was ``made`` (the
    refund is issued, and the return may resolve) or it was not (failed, and may be asked for
    again). The platform's own record (``tracker``) is settled first, so it never says a
    refund may still be made that the return says failed."""
    return_ = lock_return(session, return_id)
    refund = session.scalar(
        select(models.Refund)
        .where(models.Refund.return_id == return_id, models.Refund.status == "uncertain")
        .order_by(models.Refund.sequence.desc())
        .limit(1)
    )
    if refund is None:
        raise ValidationError("refund", f"return {return_.rma} has no uncertain refund")
    if tracker is not None:
        try:
            tracker.settle_refund(refund.idempotency_key, made, note)
        except HellowordError as error:
            raise ValidationError("refund", str(error)) from error
    action = session.scalar(
        select(models.OutboundAction).where(
            models.OutboundAction.idempotency_key == refund.idempotency_key
        )
    )
    settled = {"refund": refund.idempotency_key, "settled_by_hand": True}
    if note:
        settled["note"] = note
    if not made:
        refund.status, refund.error = "failed", note or "not made, as checked on the platform"
        if action is not None:
            outbox.release(action, "failed", refund.error)
        record(session, return_, EventKind.REFUND_FAILED, settled, actor=actor)
        return []
    refund.status, refund.error, refund.issued_at = "issued", "", utcnow()
    if action is not None:
        outbox.release(action, "done")
    if return_.refunded_at is None and refund.kind != "exchange":
        return_.refunded_at = refund.issued_at
    record(
        session,
        return_,
        EventKind.REFUND_ISSUED,
        settled | {"amount": str(refund_amount(refund))},
        actor=actor,
    )
    return try_resolve(session, return_)
