"""The warehouse bench: receiving a parcel, grading each line, and the refund that follows
when the policy's trigger is receipt or inspection."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..db import models
from ..domain import Status
from ..domain.events import EventKind
from ..errors import ValidationError
from . import outbox
from .common import FollowUp, lock_return, move
from .lifecycle import try_resolve
from .refunds import request_refund

GRADES = ("resellable", "needs_repair", "destroy", "donate")
_DISPOSITION = {
    "resellable": "RESTOCKED",
    "needs_repair": "PROCESSING_REQUIRED",
    "destroy": "NOT_RESTOCKED",
    "donate": "NOT_RESTOCKED",
}


def receive(
    session: Session, return_id: int, weight_g: int | None, note: str, actor: str
) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    status = Status(return_.status)
    if status is Status.AWAITING_SHIPMENT:  # arrived without a carrier scan
        move(
            session, return_, Status.IN_TRANSIT, EventKind.PARCEL_SCANNED, {"inferred": True}, actor
        )
    elif status is not Status.IN_TRANSIT:
        raise ValidationError("status", f"return {return_.rma} is {status}; nothing to receive")
    if weight_g is not None and weight_g <= 0:
        raise ValidationError("weight_g", "must be a positive number of grams")
    session.add(
        models.Receipt(return_id=return_.id, weight_g=weight_g, note=note, received_by=actor)
    )
    move(
        session, return_, Status.RECEIVED, EventKind.RETURN_RECEIVED, {"weight_g": weight_g}, actor
    )
    if return_.refund_trigger in ("received", "first_scan"):
        return request_refund(session, return_, trigger="received")
    return []


def grade(
    session: Session, return_id: int, grades: dict[int, str], actor: str, note: str = ""
) -> list[FollowUp]:
    """Grade the approved lines (by return line id); inspection ends when all are graded."""
    return_ = lock_return(session, return_id)
    if return_.status != Status.RECEIVED:
        raise ValidationError("status", f"return {return_.rma} is {return_.status}, not received")
    approved = {line.id: line for line in return_.lines if line.outcome == "approve"}
    for line_id, value in grades.items():
        if line_id not in approved:
            raise ValidationError("grades", f"return {return_.rma} has no approved line {line_id}")
        if value not in GRADES:
            raise ValidationError(f"grades.{line_id}", f"must be one of {', '.join(GRADES)}")
    missing = sorted(set(approved) - set(grades))
    if missing:
        raise ValidationError("grades", f"lines {missing} are not graded")
    for line_id, value in grades.items():
        approved[line_id].grade = value
        session.add(models.Grading(return_line_id=line_id, grade=value, note=note))
    move(
        session,
        return_,
        Status.INSPECTED,
        EventKind.RETURN_INSPECTED,
        {"grades": {str(k): v for k, v in sorted(grades.items())}},
        actor,
    )
    follow_ups = outbox.publish(
        session,
        return_,
        "dispose",
        {
            "dispositions": [
                [approved[i].order_line.external_id, approved[i].quantity, _DISPOSITION[g]]
                for i, g in sorted(grades.items())
            ]
        },
    )
    resellable: dict[str, int] = {}
    for i, g in grades.items():
        if g == "resellable" and approved[i].order_line.sku:
            sku = approved[i].order_line.sku
            resellable[sku] = resellable.get(sku, 0) + approved[i].quantity
    if resellable:  # back on sale, where the platform's disposal does not do it already
        follow_ups += outbox.publish(
            session, return_, "restock", {"items": sorted([s, q] for s, q in resellable.items())}
        )
    follow_ups += request_refund(session, return_, trigger="inspected")
    follow_ups += try_resolve(session, return_)
    return follow_ups
