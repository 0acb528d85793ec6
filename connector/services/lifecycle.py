"""Deciding, reviewing, resolving, closing and canceling a return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import models
from ..db.mapping import order_from_row, return_request_from_row
from ..db.types import utcnow
from ..domain import Status
from ..domain.events import EventKind
from ..errors import NothingToDo, ValidationError
from ..rules import Outcome, decide
from . import fx, outbox, policies
from .common import FollowUp, lock_return, move, record


def decide_return(session: Session, return_id: int) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    if return_.status != Status.REQUESTED:
        raise NothingToDo(f"return {return_.rma} is {return_.status}, already decided")
    policy, version = policies.current(session, return_.merchant_id)
    table = fx.load(session)
    decision = decide(
        return_request_from_row(return_),
        order_from_row(return_.order),
        policy,
        return_.requested_at.astimezone(UTC).date(),  # the window as it was when asked
        convert=table.convert,
    )
    by_line = {line.order_line_external_id: line for line in decision.lines}
    for line in return_.lines:
        line_decision = by_line[line.order_line.external_id]
        line.outcome = line_decision.outcome.value
        line.decision_reason = line_decision.reason
    lines = [
        {
            "line": d.order_line_external_id,
            "outcome": d.outcome.value,
            "reason": d.reason,
            "rule_ids": list(d.rule_ids),
            "queue": d.queue,
            "explanation": d.explanation,
        }
        for d in decision.lines
    ]
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
    if decision.outcome is Outcome.REVIEW:
        return_.review_queue = decision.queue
        move(session, return_, Status.IN_REVIEW, EventKind.RETURN_DECIDED, payload, "policy")
        return []
    if decision.outcome is Outcome.DECLINE:
        move(session, return_, Status.DECLINED, EventKind.RETURN_DECIDED, payload, "policy")
        reason = decision.lines[0].reason
        return outbox.publish(
            session, return_, "decline", {"reason": reason, "note": decision.explain()}
        )
    move(session, return_, Status.APPROVED, EventKind.RETURN_DECIDED, payload, "policy")
    return _approved(session, return_)


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


LABEL_VALIDITY = timedelta(days=30)


def expire_stale(session: Session, now: datetime | None = None) -> list[str]:
    """Returns still awaiting shipment once their label's validity has passed."""
    cutoff = (now or utcnow()) - LABEL_VALIDITY
    stale = session.scalars(
        select(models.Return)
        .where(models.Return.status == Status.AWAITING_SHIPMENT, models.Return.updated_at < cutoff)
        .with_for_update()
    ).all()
    for return_ in stale:
        move(
            session,
            return_,
            Status.EXPIRED,
            EventKind.RETURN_EXPIRED,
            {"after_days": LABEL_VALIDITY.days},
        )
    return [r.rma or str(r.id) for r in stale]


def cancel(session: Session, return_id: int, reason: str, actor: str) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    status = Status(return_.status)
    if status in (Status.DECLINED, Status.CLOSED, Status.EXPIRED, Status.CANCELED):
        raise ValidationError("status", f"return {return_.rma} is {status}, it cannot be canceled")
    issued = session.scalar(
        select(models.Refund.id).where(
            models.Refund.return_id == return_.id, models.Refund.status.in_(["pending", "issued"])
        )
    )
    if issued is not None:
        raise ValidationError("status", f"return {return_.rma} has a refund; it cannot be canceled")
    move(session, return_, Status.CANCELED, EventKind.RETURN_CANCELED, {"reason": reason}, actor)
    return []


def note_platform_update(
    session: Session, return_: models.Return, action: str, result: dict[str, object]
) -> None:
    record(session, return_, EventKind.PLATFORM_UPDATED, {"action": action, **result})
