"""Deciding, reviewing, resolving, closing and canceling a return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import models
from ..db.mapping import order_from_row, return_request_from_row
from ..db.types import utcnow
from ..domain import Status
from ..domain.events import EventKind
from ..errors import NothingToDo, ValidationError
from ..routing import RoutingSettings
from ..rules import LineDecision, Outcome, decide
from . import fx, outbox, photos, policies
from .common import FollowUp, lock_return, move


def decide_return(session: Session, return_id: int) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    if return_.status != Status.REQUESTED:
        raise NothingToDo(f"return {return_.rma} is {return_.status}, already decided")
    policy, version = policies.current(session, return_.merchant_id)
    table = fx.load(session)
    decision = decide(
        return_request_from_row(return_, photos.photo_counts(session, return_.id)),
        order_from_row(return_.order),
        policy,
        return_.requested_at.astimezone(UTC).date(),  # the window as it was when asked
        convert=table.convert,
        context=policies.context_for(session, return_),
    )
    by_line = {line.order_line_external_id: line for line in decision.lines}
    for line in return_.lines:
        line_decision = by_line[line.order_line.external_id]
        line.outcome = line_decision.outcome.value
        line.decision_reason = line_decision.reason
    lines = [_line_record(d) for d in decision.lines]
    return_.returnless = _returnless(lines, return_)
    session.add(
        models.Decision(
            return_id=return_.id,
            outcome=decision.outcome.value,
            policy_version=version,
            lines=lines,
            explanation=decision.explain(),
        )
    )
    return_.refund_trigger = decision.refund_trigger.value
    payload = {"outcome": decision.outcome.value, "policy_version": version, "lines": lines}
    if decision.effective_outcome is Outcome.REVIEW:
        return_.review_queue = decision.queue
        move(session, return_, Status.IN_REVIEW, EventKind.RETURN_DECIDED, payload, "policy")
        return []
    if decision.effective_outcome is Outcome.DECLINE:
        move(session, return_, Status.DECLINED, EventKind.RETURN_DECIDED, payload, "policy")
        # platforms know a few decline reasons; the policy's own code stays in the note
        reason = decision.lines[0].reason
        reason = reason if reason in PLATFORM_DECLINE_REASONS else "OTHER"
        return outbox.publish(
            session, return_, "decline", {"reason": reason, "note": decision.explain()}
        )
    move(session, return_, Status.APPROVED, EventKind.RETURN_DECIDED, payload, "policy")
    return _approved(session, return_)


PLATFORM_DECLINE_REASONS = frozenset({"RETURN_PERIOD_ENDED", "FINAL_SALE", "OTHER"})


def _returnless(records: list[dict[str, Any]], return_: models.Return) -> bool:
    """The buyer keeps the goods only when the policy said so for every line that may still
    come back (approved, or waiting in review): one line to ship means a parcel anyway."""
    outcomes = {line.order_line.external_id: line.outcome for line in return_.lines}
    live = [r for r in records if outcomes.get(r["line"], r["outcome"]) != Outcome.DECLINE]
    return bool(live) and all(r["returnless"] for r in live)


def _line_record(line: LineDecision) -> dict[str, Any]:
    """A line's decision as stored: enough to refund, route and explain it later."""
    fee = line.restocking_fee
    return {
        "line": line.order_line_external_id,
        "outcome": line.outcome.value,
        "reason": line.reason,
        "rule_id": line.rule_id,
        "rule_ids": list(line.rule_ids),
        "queue": line.queue,
        "returnless": line.returnless,
        "refund_trigger": line.refund_trigger.value,
        "window_days": line.window_days,
        "resolutions": [r.value for r in line.resolutions],
        "restocking_fee": {"amount": str(fee.amount), "currency": fee.currency} if fee else None,
        "bonus_credit_percent": str(line.bonus_credit_percent),
        "statutory": line.statutory,
        "messages": [m.as_dict() for m in line.messages],
        "explanation": line.explanation,
    }


def review(
    session: Session, return_id: int, approve: bool, note: str, actor: str
) -> list[FollowUp]:
    """A person settles a return the policy sent to review."""
    return_ = lock_return(session, return_id)
    if return_.status != Status.IN_REVIEW:
        raise ValidationError("status", f"return {return_.rma} is {return_.status}, not in review")
    outcome = Outcome.APPROVE if approve else Outcome.DECLINE
    for line in return_.lines:
        if line.outcome == Outcome.REVIEW:
            line.outcome = outcome.value
            line.decision_reason = "APPROVED_BY_REVIEWER" if approve else "DECLINED_BY_REVIEWER"
    session.add(
        models.Decision(return_id=return_.id, outcome=outcome.value, actor=actor, explanation=note)
    )
    payload = {"outcome": outcome.value, "note": note, "queue": return_.review_queue}
    return_.review_queue = ""
    policy_decision = session.scalar(
        select(models.Decision)
        .where(models.Decision.return_id == return_.id, models.Decision.actor == "policy")
        .order_by(models.Decision.id.desc())
        .limit(1)
    )
    return_.returnless = _returnless(policy_decision.lines if policy_decision else [], return_)
    if not approve:
        move(session, return_, Status.DECLINED, EventKind.RETURN_REVIEWED, payload, actor)
        return outbox.publish(session, return_, "decline", {"reason": "OTHER", "note": note})
    move(session, return_, Status.APPROVED, EventKind.RETURN_REVIEWED, payload, actor)
    return _approved(session, return_)


def _approved(session: Session, return_: models.Return) -> list[FollowUp]:
    return [
        *outbox.publish(session, return_, "approve"),
        FollowUp("route_return", (return_.id,), f"route_return:{return_.id}"),
    ]


def try_resolve(session: Session, return_: models.Return) -> list[FollowUp]:
    """Resolve once the goods are settled (inspected, or kept by the buyer) and the money is
    out; then the return can close."""
    refunded = session.scalar(
        select(models.Refund.id).where(
            models.Refund.return_id == return_.id, models.Refund.status == "issued"
        )
    )
    if refunded is None:
        return []
    goods_settled = return_.status == Status.INSPECTED or (
        return_.status == Status.APPROVED and return_.returnless
    )
    if not goods_settled:
        return []
    move(
        session,
        return_,
        Status.RESOLVED,
        EventKind.RETURN_RESOLVED,
        {"returnless": return_.returnless},
    )
    return [FollowUp("close_return", (return_.id,), f"close_return:{return_.id}")]


def close_return(session: Session, return_id: int) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    if return_.status != Status.RESOLVED:
        raise NothingToDo(f"return {return_.rma} is {return_.status}, not resolved")
    return_.closed_at = utcnow()
    move(session, return_, Status.CLOSED, EventKind.RETURN_CLOSED)
    return outbox.publish(session, return_, "close")


def expire_stale(session: Session, now: datetime | None = None) -> list[FollowUp]:
    """Expire the returns still awaiting shipment once the merchant's label validity
    (``label_validity_days`` in the routing settings, 30 by default) has passed, and void
    their unused labels where the carrier allows."""
    now = now or utcnow()
    validity = {
        merchant_id: RoutingSettings.parse(document).label_validity_days
        for merchant_id, document in session.execute(
            select(models.Merchant.id, models.Merchant.routing)
        )
    }
    candidates = session.scalars(
        select(models.Return)
        .where(
            models.Return.status == Status.AWAITING_SHIPMENT,
            models.Return.updated_at < now - timedelta(days=min(validity.values(), default=30)),
        )
        .with_for_update()
    ).all()
    stale = []
    for return_ in candidates:
        days = validity.get(return_.merchant_id, 30)
        if return_.updated_at < now - timedelta(days=days):
            stale.append(return_)
            move(session, return_, Status.EXPIRED, EventKind.RETURN_EXPIRED, {"after_days": days})
    shipments = session.scalars(
        select(models.Shipment.id).where(models.Shipment.return_id.in_([r.id for r in stale]))
    ).all()
    return [
        FollowUp("void_label", (shipment_id,), f"void:{shipment_id}") for shipment_id in shipments
    ]


def cancel(session: Session, return_id: int, reason: str, actor: str) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    status = Status(return_.status)
    if status in (Status.DECLINED, Status.CLOSED, Status.EXPIRED, Status.CANCELED):
        raise ValidationError("status", f"return {return_.rma} is {status}, it cannot be canceled")
    issued = session.scalar(
        select(models.Refund.id).where(
            models.Refund.return_id == return_.id,
            models.Refund.status.in_(["pending", "issued", "uncertain"]),
        )
    )
    if issued is not None:
        raise ValidationError("status", f"return {return_.rma} has a refund; it cannot be canceled")
    move(session, return_, Status.CANCELED, EventKind.RETURN_CANCELED, {"reason": reason}, actor)
    return []
