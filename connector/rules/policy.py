"""A merchant's policy document, parsed and validated.

The document is versioned JSON (or YAML read into the same shape)::

    {"version": 1, "currency": "USD",
     "defaults": {"window_days": 30, "refund_trigger": "received"},
     "rules": [{"id": "high-value", "when": {"line_value": {"gt": 300}},
                "then": {"decision": "review", "queue": "high-value"}}]}

This module accepts the part of the format the foundation needs: the defaults, and rules that
send a line to review above a line value. Anything else is refused with a message naming the
field, never ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from ..domain.money import CURRENCIES, Money


class PolicyError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RefundTrigger(StrEnum):
    FIRST_SCAN = "first_scan"
    RECEIVED = "received"
    INSPECTED = "inspected"


@dataclass(frozen=True, slots=True)
class ReviewRule:
    id: str
    above: Money  # line value strictly greater than this goes to review
    queue: str


@dataclass(frozen=True, slots=True)
class Policy:
    currency: str
    window_days: int
    refund_trigger: RefundTrigger
    review_rules: tuple[ReviewRule, ...] = ()
    version: int = 1


def parse_policy(document: dict[str, Any]) -> Policy:
    if not isinstance(document, dict):
        raise PolicyError("$", "a policy is a JSON object")
    _known(document, "", {"version", "currency", "defaults", "rules"})
    version = document.get("version", 1)
    if isinstance(version, bool) or version != 1:
        raise PolicyError("version", "only version 1 is understood")
    currency = document.get("currency", "USD")
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise PolicyError("currency", f"{currency!r} is not an ISO-4217 currency")
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        raise PolicyError("defaults", "must be an object")
    _known(defaults, "defaults.", {"window_days", "refund_trigger"})
    window = defaults.get("window_days", 30)
    if not isinstance(window, int) or isinstance(window, bool) or window < 0:
        raise PolicyError("defaults.window_days", "must be a whole number of days, 0 or more")
    trigger_value = defaults.get("refund_trigger", RefundTrigger.RECEIVED.value)
    try:
        trigger = RefundTrigger(trigger_value)
    except ValueError:
        choices = ", ".join(t.value for t in RefundTrigger)
        raise PolicyError("defaults.refund_trigger", f"must be one of {choices}") from None
    rules = document.get("rules", [])
    if not isinstance(rules, list):
        raise PolicyError("rules", "must be a list")
    review_rules = tuple(_review_rule(i, rule, currency) for i, rule in enumerate(rules))
    return Policy(currency, window, trigger, review_rules)


def _review_rule(index: int, rule: Any, currency: str) -> ReviewRule:
    where = f"rules[{index}]"
    if not isinstance(rule, dict) or not isinstance(rule.get("id"), str):
        raise PolicyError(where, "a rule is an object with a string id")
    _known(rule, f"{where}.", {"id", "when", "then"})
    when, then = rule.get("when"), rule.get("then")
    condition = when.get("line_value") if isinstance(when, dict) and len(when) == 1 else None
    if not isinstance(condition, dict) or list(condition) != ["gt"]:
        raise PolicyError(f"{where}.when", "only {line_value: {gt: AMOUNT}} is supported")
    if not isinstance(then, dict) or then.get("decision") != "review":
        raise PolicyError(f"{where}.then", "only {decision: review, queue: NAME} is supported")
    _known(then, f"{where}.then.", {"decision", "queue"})
    try:
        above = Money.of(Decimal(str(condition["gt"])), currency)
    except (InvalidOperation, ValueError):
        raise PolicyError(f"{where}.when.line_value.gt", "must be an amount") from None
    queue = then.get("queue") or "review"
    if not isinstance(queue, str):
        raise PolicyError(f"{where}.then.queue", "must be a name")
    return ReviewRule(rule["id"], above, queue)


def _known(mapping: dict[str, Any], prefix: str, allowed: set[str]) -> None:
    for key in mapping:
        if key not in allowed:
            raise PolicyError(f"{prefix}{key}", "unknown field")


DEFAULT_DOCUMENT: dict[str, Any] = {
    "version": 1,
    "currency": "USD",
    "defaults": {"window_days": 30, "refund_trigger": "received"},
    "rules": [
        {
            "id": "high-value",
            "when": {"line_value": {"gt": 300}},
            "then": {"decision": "review", "queue": "high-value"},
        }
    ],
}
DEFAULT_POLICY = parse_policy(DEFAULT_DOCUMENT)
