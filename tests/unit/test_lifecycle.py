"""A return's status follows the goods along ARCHITECTURE §5; every other move raises."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest

from connector.domain.returns import (
    TERMINAL,
    Condition,
    IllegalTransition,
    Reason,
    ReturnLine,
    ReturnRequest,
    Status,
    can_transition,
    transition,
)

S = Status

# The arrows of ARCHITECTURE §5, written out by hand so the test does not echo the code.
LIFECYCLE: list[tuple[Status, Status]] = [
    (S.REQUESTED, S.DECLINED),
    (S.REQUESTED, S.IN_REVIEW),
    (S.REQUESTED, S.APPROVED),
    (S.IN_REVIEW, S.APPROVED),
    (S.IN_REVIEW, S.DECLINED),
    (S.APPROVED, S.AWAITING_SHIPMENT),
    (S.APPROVED, S.RESOLVED),  # keep item: returnless
    (S.AWAITING_SHIPMENT, S.IN_TRANSIT),
    (S.AWAITING_SHIPMENT, S.EXPIRED),
    (S.IN_TRANSIT, S.RECEIVED),
    (S.RECEIVED, S.INSPECTED),
    (S.INSPECTED, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
]
TERMINAL_STATUSES = {S.DECLINED, S.CLOSED, S.EXPIRED, S.CANCELED}
NON_TERMINAL_STATUSES = [status for status in Status if status not in TERMINAL_STATUSES]
CANCELLATIONS = [(status, S.CANCELED) for status in NON_TERMINAL_STATUSES]
ALLOWED = set(LIFECYCLE) | set(CANCELLATIONS)
FORBIDDEN = [pair for pair in product(Status, Status) if pair not in ALLOWED]


def _ids(pairs):
    return [f"{current}->{target}" for current, target in pairs]


@pytest.mark.parametrize(("current", "target"), LIFECYCLE, ids=_ids(LIFECYCLE))
def test_every_move_of_the_lifecycle_is_allowed(current, target):
    assert transition(current, target) is target
    assert can_transition(current, target)


ILLEGAL_EXAMPLES: list[tuple[Status, Status]] = [
    (S.REQUESTED, S.CLOSED),
    (S.REQUESTED, S.AWAITING_SHIPMENT),
    (S.IN_REVIEW, S.IN_TRANSIT),
    (S.APPROVED, S.IN_TRANSIT),
    (S.APPROVED, S.DECLINED),
    (S.AWAITING_SHIPMENT, S.RECEIVED),
    (S.IN_TRANSIT, S.AWAITING_SHIPMENT),
    (S.IN_TRANSIT, S.EXPIRED),
    (S.RECEIVED, S.RESOLVED),
    (S.INSPECTED, S.CLOSED),
    (S.RESOLVED, S.APPROVED),
    (S.DECLINED, S.APPROVED),
    (S.CLOSED, S.REQUESTED),
    (S.EXPIRED, S.AWAITING_SHIPMENT),
    (S.CANCELED, S.REQUESTED),
    (S.APPROVED, S.APPROVED),
]


@pytest.mark.parametrize(("current", "target"), ILLEGAL_EXAMPLES, ids=_ids(ILLEGAL_EXAMPLES))
def test_illegal_move_raises_naming_both_statuses(current, target):
    with pytest.raises(IllegalTransition) as raised:
        transition(current, target)

    assert str(raised.value) == f"a return cannot go from {current} to {target}"
    assert raised.value.current is current
    assert raised.value.target is target


@pytest.mark.parametrize(("current", "target"), FORBIDDEN, ids=_ids(FORBIDDEN))
def test_no_move_outside_the_lifecycle_is_allowed(current, target):
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition):
        transition(current, target)


@pytest.mark.parametrize("current", NON_TERMINAL_STATUSES, ids=str)
def test_a_return_can_be_canceled_from_every_non_terminal_status(current):
    assert transition(current, S.CANCELED) is S.CANCELED


@pytest.mark.parametrize("current", sorted(TERMINAL_STATUSES), ids=str)
def test_a_finished_return_cannot_be_canceled(current):
    with pytest.raises(IllegalTransition, match=f"from {current} to CANCELED"):
        transition(current, S.CANCELED)


def test_terminal_statuses_are_declined_closed_expired_and_canceled():
    assert set(TERMINAL) == TERMINAL_STATUSES


@pytest.mark.parametrize("current", sorted(TERMINAL_STATUSES), ids=str)
def test_nothing_leaves_a_terminal_status(current):
    assert not any(can_transition(current, target) for target in Status)


def test_illegal_transition_is_a_value_error():
    with pytest.raises(ValueError):
        transition(S.CLOSED, S.REQUESTED)


def _line(quantity: int = 1) -> ReturnLine:
    return ReturnLine("line-1", quantity, Reason.SIZE_TOO_SMALL)


def test_return_line_defaults_to_an_unused_item():
    assert _line().condition is Condition.UNUSED


@pytest.mark.parametrize("quantity", [0, -1])
def test_return_line_needs_a_quantity_of_at_least_one(quantity):
    with pytest.raises(ValueError, match="quantity of at least 1"):
        _line(quantity)


def test_return_request_needs_at_least_one_line():
    with pytest.raises(ValueError, match="at least one line"):
        ReturnRequest("order-1", (), datetime(2024, 5, 1, tzinfo=UTC))


def test_return_request_keeps_its_lines_in_order():
    first, second = _line(1), ReturnLine("line-2", 2, Reason.DEFECTIVE, Condition.DAMAGED)

    request = ReturnRequest("order-1", (first, second), datetime(2024, 5, 1, tzinfo=UTC))

    assert request.lines == (first, second)
