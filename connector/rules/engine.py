"""Applies a ``Policy`` to a return request, line by line, and explains each outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ..domain.money import Money
from ..domain.orders import Order
from ..domain.returns import ReturnRequest
from .policy import Policy, RefundTrigger

Converter = Callable[[Money, str], Money]


class Outcome(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class LineDecision:
    order_line_external_id: str
    outcome: Outcome
    reason: str  # a canonical code: WITHIN_WINDOW, RETURN_PERIOD_ENDED, REVIEW_HIGH_VALUE …
    explanation: str
    rule_ids: tuple[str, ...] = ()
    queue: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    lines: tuple[LineDecision, ...]
    refund_trigger: RefundTrigger

    @property
    def outcome(self) -> Outcome:
        """The return's outcome: review if any line needs a person, approve if any line may
        come back, decline when every line is declined."""
        outcomes = {line.outcome for line in self.lines}
        if Outcome.REVIEW in outcomes:
            return Outcome.REVIEW
        if Outcome.APPROVE in outcomes:
            return Outcome.APPROVE
        return Outcome.DECLINE

    @property
    def queue(self) -> str:
        return next((line.queue for line in self.lines if line.queue), "")

    def explain(self) -> str:
        return " ".join(line.explanation for line in self.lines)


def decide(
    request: ReturnRequest,
    order: Order,
    policy: Policy,
    today: date,
    convert: Converter | None = None,
) -> Decision:
    """Decide every line of ``request`` against ``policy`` as of ``today`` (UTC)."""
    lines = []
    for requested in request.lines:
        line = order.line(requested.order_line_external_id)
        value = line.unit_price * requested.quantity
        if value.currency != policy.currency:
            if convert is None:
                raise ValueError(f"no exchange rate to compare {value.currency} with the policy")
            value = convert(value, policy.currency)
        delivered = line.delivered_at or order.delivered_at
        lines.append(
            _decide_line(requested.order_line_external_id, value, delivered, policy, today)
        )
    return Decision(tuple(lines), policy.refund_trigger)


def _decide_line(
    line_id: str, value: Money, delivered: object, policy: Policy, today: date
) -> LineDecision:
    for rule in policy.review_rules:
        if value > rule.above:
            return LineDecision(
                line_id,
                Outcome.REVIEW,
                "REVIEW_HIGH_VALUE",
                f"Line {line_id} is worth {value}, above {rule.above}: a person reviews it "
                f"(rule {rule.id}).",
                (rule.id,),
                rule.queue,
            )
    if delivered is None:
        return LineDecision(
            line_id,
            Outcome.APPROVE,
            "NOT_YET_DELIVERED",
            f"Line {line_id} has no delivery date yet, so its window has not started.",
        )
    days = (today - delivered.date()).days  # type: ignore[attr-defined]
    if days <= policy.window_days:
        return LineDecision(
            line_id,
            Outcome.APPROVE,
            "WITHIN_WINDOW",
            f"Line {line_id} was delivered {days} days ago, within the {policy.window_days}-day "
            "return window.",
        )
    return LineDecision(
        line_id,
        Outcome.DECLINE,
        "RETURN_PERIOD_ENDED",
        f"Line {line_id} was delivered {days} days ago, after the {policy.window_days}-day "
        "return window ended.",
    )
