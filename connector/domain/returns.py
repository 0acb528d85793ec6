"""Return requests and the lifecycle every return follows.

The status follows the goods (ARCHITECTURE §5); money has its own record. ``transition``
is the only way a status changes, and an illegal move raises ``IllegalTransition``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .orders import Address


class Reason(StrEnum):
    SIZE_TOO_SMALL = "SIZE_TOO_SMALL"
    SIZE_TOO_LARGE = "SIZE_TOO_LARGE"
    UNWANTED = "UNWANTED"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    WRONG_ITEM = "WRONG_ITEM"
    DEFECTIVE = "DEFECTIVE"
    DAMAGED_IN_TRANSIT = "DAMAGED_IN_TRANSIT"
    ARRIVED_LATE = "ARRIVED_LATE"
    COLOR = "COLOR"
    STYLE = "STYLE"
    OTHER = "OTHER"


class Condition(StrEnum):
    UNUSED = "unused"
    OPENED = "opened"
    USED = "used"
    DAMAGED = "damaged"


RESOLUTIONS = ("refund", "store_credit", "exchange")


class Status(StrEnum):
    REQUESTED = "REQUESTED"
    IN_REVIEW = "IN_REVIEW"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    AWAITING_SHIPMENT = "AWAITING_SHIPMENT"
    IN_TRANSIT = "IN_TRANSIT"
    RECEIVED = "RECEIVED"
    INSPECTED = "INSPECTED"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    EXPIRED = "EXPIRED"
    CANCELED = "CANCELED"


TERMINAL: frozenset[Status] = frozenset(
    {Status.DECLINED, Status.CLOSED, Status.EXPIRED, Status.CANCELED}
)

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.REQUESTED: frozenset({Status.DECLINED, Status.IN_REVIEW, Status.APPROVED}),
    Status.IN_REVIEW: frozenset({Status.APPROVED, Status.DECLINED}),
    Status.APPROVED: frozenset({Status.AWAITING_SHIPMENT, Status.RESOLVED}),
    Status.AWAITING_SHIPMENT: frozenset({Status.IN_TRANSIT, Status.EXPIRED}),
    Status.IN_TRANSIT: frozenset({Status.RECEIVED}),
    Status.RECEIVED: frozenset({Status.INSPECTED}),
    Status.INSPECTED: frozenset({Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED}),
}


class IllegalTransition(ValueError):
    """A return was asked to move to a status its lifecycle does not allow from here."""

    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"a return cannot go from {current} to {target}")
        self.current = current
        self.target = target


def can_transition(current: Status, target: Status) -> bool:
    if target is Status.CANCELED:
        return current not in TERMINAL
    return target in _ALLOWED.get(current, frozenset())


def transition(current: Status, target: Status) -> Status:
    """The new status, or ``IllegalTransition`` when the lifecycle forbids the move."""
    if not can_transition(current, target):
        raise IllegalTransition(current, target)
    return target


@dataclass(frozen=True, slots=True)
class ReturnLine:
    order_line_external_id: str
    quantity: int
    reason: Reason
    condition: Condition = Condition.UNUSED
    note: str = ""
    photo_count: int = 0
    external_id: str = ""
    exchange_sku: str = ""  # the other variant (size, colour) wanted instead, for an exchange

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError("a return line needs a quantity of at least 1")


@dataclass(frozen=True, slots=True)
class ReturnRequest:
    """What a buyer asked for, as a platform or the portal delivered it."""

    order_external_id: str
    lines: tuple[ReturnLine, ...]
    requested_at: datetime
    external_id: str = ""
    buyer_address: Address | None = None
    note: str = ""
    # refund | store_credit | exchange: what the buyer asks to get back; an exchange names the
    # variant wanted on its lines
    resolution: str = "refund"
    raw: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("a return request needs at least one line")
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
        if self.resolution != "exchange" and any(line.exchange_sku for line in self.lines):
            raise ValueError("only an exchange names a variant wanted instead")
