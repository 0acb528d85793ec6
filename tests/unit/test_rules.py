"""A merchant's policy document is validated field by field, then decides each returned line."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connector.domain.money import Money
from connector.domain.orders import Address, Customer, Order, OrderLine
from connector.domain.returns import Reason, ReturnLine, ReturnRequest
from connector.rules import (
    DEFAULT_POLICY,
    Decision,
    LineDecision,
    Outcome,
    PolicyError,
    RefundTrigger,
    decide,
    parse_policy,
)
from connector.rules.policy import DEFAULT_DOCUMENT

TODAY = date(2024, 3, 31)
WINDOW = 30


def _delivered_days_ago(days: int) -> datetime:
    # Late in the day, so the count is by calendar date, not by 24-hour periods.
    return datetime.combine(TODAY - timedelta(days=days), datetime.min.time(), UTC).replace(
        hour=23, minute=59
    )


def _order(*lines: OrderLine, delivered_at: datetime | None = None) -> Order:
    currency = lines[0].unit_price.currency
    return Order(
        external_id="gid://shop/Order/1001",
        number="#1001",
        currency=currency,
        placed_at=datetime(2024, 2, 1, tzinfo=UTC),
        customer=Customer("cust-1", "ana@example.com", "Ana"),
        shipping_address=Address("Ana", "Rua Augusta 1", "Lisboa", "1100-048", "PT"),
        lines=lines,
        total=Money.zero(currency),
        delivered_at=delivered_at,
    )


def _line(
    external_id: str = "line-1",
    price: str = "49.90",
    currency: str = "USD",
    quantity: int = 1,
    delivered_at: datetime | None = None,
) -> OrderLine:
    return OrderLine(
        external_id=external_id,
        sku=f"SKU-{external_id}",
        title="Linen shirt",
        quantity=quantity,
        unit_price=Money.of(price, currency),
        delivered_at=delivered_at,
    )


def _request(*line_ids: str, quantity: int = 1) -> ReturnRequest:
    return ReturnRequest(
        order_external_id="gid://shop/Order/1001",
        lines=tuple(ReturnLine(line_id, quantity, Reason.SIZE_TOO_SMALL) for line_id in line_ids),
        requested_at=datetime.combine(TODAY, datetime.min.time(), UTC),
    )


def _decide_one(order: Order, quantity: int = 1, **kwargs) -> LineDecision:
    decision = decide(_request("line-1", quantity=quantity), order, DEFAULT_POLICY, TODAY, **kwargs)
    (line,) = decision.lines
    return line


def _rate_converter(rates: dict[tuple[str, str], Decimal], calls: list | None = None):
    def convert(money: Money, currency: str) -> Money:
        if calls is not None:
            calls.append((money, currency))
        return money.convert(currency, rates[(money.currency, currency)])

    return convert


# parse_policy ----------------------------------------------------------------------------


def test_default_document_parses_into_the_default_policy():
    policy = parse_policy(DEFAULT_DOCUMENT)

    assert policy == DEFAULT_POLICY
    assert policy.currency == "USD"
    assert policy.window_days == 30
    assert policy.refund_trigger is RefundTrigger.RECEIVED
    (rule,) = policy.review_rules
    assert rule.id == "high-value"
    assert rule.above == Money.of("300.00", "USD")
    assert rule.queue == "high-value"
    assert policy.version == 1


def test_empty_document_takes_the_documented_defaults():
    policy = parse_policy({})

    assert policy.currency == "USD"
    assert policy.window_days == 30
    assert policy.refund_trigger is RefundTrigger.RECEIVED
    assert policy.review_rules == ()


def test_review_threshold_is_money_in_the_policy_currency():
    policy = parse_policy(
        {
            "currency": "JPY",
            "defaults": {"window_days": 14, "refund_trigger": "first_scan"},
            "rules": [
                {
                    "id": "pricey",
                    "when": {"line_value": {"gt": "50000"}},
                    "then": {"decision": "review", "queue": "jp-desk"},
                }
            ],
        }
    )

    assert policy.window_days == 14
    assert policy.refund_trigger is RefundTrigger.FIRST_SCAN
    assert policy.review_rules[0].above == Money.of("50000", "JPY")
    assert policy.review_rules[0].queue == "jp-desk"


def test_review_rule_without_a_queue_goes_to_the_review_queue():
    policy = parse_policy(
        {"rules": [{"id": "r", "when": {"line_value": {"gt": 10}}, "then": {"decision": "review"}}]}
    )

    assert policy.review_rules[0].queue == "review"


def _with(path: str, value: object) -> dict:
    """The default document with one field replaced (``defaults.window_days``, ``rules``…)."""
    document = copy.deepcopy(DEFAULT_DOCUMENT)
    *parents, last = path.split(".")
    target = document
    for key in parents:
        target = target[key]
    target[last] = value
    return document


def _rule(when: object = None, then: object = None, **extra: object) -> dict:
    rule: dict[str, object] = {
        "id": "r1",
        "when": {"line_value": {"gt": 100}} if when is None else when,
        "then": {"decision": "review", "queue": "q"} if then is None else then,
    }
    rule.update(extra)
    return rule


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        (["not", "an", "object"], "$", "JSON object"),
        (_with("version", 2), "version", "version 1"),
        (_with("currency", "ABC"), "currency", "'ABC'"),
        (_with("currency", "usd"), "currency", "'usd'"),
        (_with("defaults", "30 days"), "defaults", "object"),
        (_with("defaults.window_days", -1), "defaults.window_days", "0 or more"),
        (_with("defaults.window_days", "30"), "defaults.window_days", "whole number"),
        (_with("defaults.window_days", 30.5), "defaults.window_days", "whole number"),
        (_with("defaults.window_days", True), "defaults.window_days", "whole number"),
        (_with("defaults.refund_trigger", "delivered"), "defaults.refund_trigger", "first_scan"),
        (_with("rules", {"high-value": {}}), "rules", "list"),
    ],
    ids=[
        "not-an-object",
        "version-2",
        "unknown-currency",
        "lowercase-currency",
        "defaults-not-object",
        "negative-window",
        "window-as-text",
        "fractional-window",
        "boolean-window",
        "unknown-refund-trigger",
        "rules-not-list",
    ],
)
def test_bad_policy_is_refused_with_the_field_named(document, field, words):
    with pytest.raises(PolicyError) as raised:
        parse_policy(document)

    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert words in str(raised.value)


def test_unknown_refund_trigger_lists_the_choices():
    with pytest.raises(PolicyError, match="first_scan, received, inspected"):
        parse_policy(_with("defaults.refund_trigger", "on_delivery"))


def test_zero_day_window_is_allowed():
    assert parse_policy(_with("defaults.window_days", 0)).window_days == 0


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ("review above 300", "rules[0]"),
        ({"when": {"line_value": {"gt": 1}}, "then": {"decision": "review"}}, "rules[0]"),
        (_rule(id=7), "rules[0]"),
        (_rule(when={"reason": {"in": ["DEFECTIVE"]}}), "rules[0].when"),
        (_rule(when={"line_value": {"gte": 100}}), "rules[0].when"),
        (_rule(when={"line_value": {"gt": 100, "lt": 500}}), "rules[0].when"),
        (_rule(when={"line_value": {"gt": 100}, "reason": "DEFECTIVE"}), "rules[0].when"),
        (_rule(when=[{"line_value": {"gt": 100}}]), "rules[0].when"),
        (_rule(then={"decision": "decline"}), "rules[0].then"),
        (_rule(then={"decision": "approve"}), "rules[0].then"),
        (_rule(then="review"), "rules[0].then"),
        (_rule(when={"line_value": {"gt": "lots"}}), "rules[0].when.line_value.gt"),
        (_rule(when={"line_value": {"gt": None}}), "rules[0].when.line_value.gt"),
    ],
    ids=[
        "rule-not-object",
        "rule-without-id",
        "numeric-id",
        "reason-condition",
        "gte-comparison",
        "range-comparison",
        "two-conditions",
        "when-as-list",
        "decline-decision",
        "approve-decision",
        "then-as-text",
        "amount-as-words",
        "amount-missing",
    ],
)
def test_unsupported_rule_is_refused_with_its_position_named(rule, field):
    with pytest.raises(PolicyError) as raised:
        parse_policy(_with("rules", [rule]))

    assert raised.value.field == field


def test_bad_second_rule_is_named_by_its_index():
    good = _rule()
    bad = _rule(when={"line_value": {"lt": 5}})

    with pytest.raises(PolicyError) as raised:
        parse_policy(_with("rules", [good, bad]))

    assert raised.value.field == "rules[1].when"


def test_currency_that_is_not_text_is_refused_with_the_field_named():
    with pytest.raises(PolicyError) as raised:
        parse_policy(_with("currency", ["USD"]))

    assert raised.value.field == "currency"


def test_boolean_version_is_refused():
    with pytest.raises(PolicyError) as raised:
        parse_policy(_with("version", True))

    assert raised.value.field == "version"


@pytest.mark.parametrize(
    ("document", "unknown"),
    [
        (_with("exchanges", {"allowed": True}), "exchanges"),
        (_with("defaults.restocking_fee", 5), "restocking_fee"),
        (
            _with("rules", [_rule(then={"decision": "review", "queue": "q", "notify": "ops"})]),
            "notify",
        ),
        (_with("rules", [_rule(priority=1)]), "priority"),
    ],
    ids=["top-level", "in-defaults", "in-rule-then", "in-rule"],
)
def test_unknown_field_is_refused_not_ignored(document, unknown):
    # policy.py: "Anything else is refused with a message naming the field, never ignored."
    with pytest.raises(PolicyError, match=unknown):
        parse_policy(document)


# decide ----------------------------------------------------------------------------------


def test_approve_inside_the_window():
    line = _decide_one(_order(_line(), delivered_at=_delivered_days_ago(3)))

    assert line.outcome is Outcome.APPROVE
    assert line.reason == "WITHIN_WINDOW"
    assert line.order_line_external_id == "line-1"


def test_last_day_of_the_window_is_inside():
    line = _decide_one(_order(_line(), delivered_at=_delivered_days_ago(WINDOW)))

    assert line.outcome is Outcome.APPROVE
    assert line.reason == "WITHIN_WINDOW"


def test_day_after_the_window_is_outside():
    line = _decide_one(_order(_line(), delivered_at=_delivered_days_ago(WINDOW + 1)))

    assert line.outcome is Outcome.DECLINE


def test_decline_outside_window_names_the_window():
    line = _decide_one(_order(_line(), delivered_at=_delivered_days_ago(45)))

    assert line.outcome is Outcome.DECLINE
    assert line.reason == "RETURN_PERIOD_ENDED"
    assert "45 days ago" in line.explanation
    assert "30-day return window" in line.explanation


def test_approval_explanation_mentions_the_days_since_delivery():
    line = _decide_one(_order(_line(), delivered_at=_delivered_days_ago(12)))

    assert "delivered 12 days ago" in line.explanation
    assert "within the 30-day return window" in line.explanation


def test_zero_day_window_declines_the_day_after_delivery():
    policy = parse_policy(_with("defaults.window_days", 0))
    order = _order(_line(), delivered_at=_delivered_days_ago(1))

    decision = decide(_request("line-1"), order, policy, TODAY)

    assert decision.outcome is Outcome.DECLINE


def test_undelivered_line_is_approved_because_its_window_has_not_started():
    line = _decide_one(_order(_line(), delivered_at=None))

    assert line.outcome is Outcome.APPROVE
    assert line.reason == "NOT_YET_DELIVERED"


def test_line_delivery_date_wins_over_the_order_delivery_date():
    order = _order(_line(delivered_at=_delivered_days_ago(40)), delivered_at=_delivered_days_ago(2))

    assert _decide_one(order).outcome is Outcome.DECLINE


def test_line_over_the_value_threshold_goes_to_review_with_rule_and_queue():
    order = _order(_line(price="300.01"), delivered_at=_delivered_days_ago(3))

    line = _decide_one(order)

    assert line.outcome is Outcome.REVIEW
    assert line.reason == "REVIEW_HIGH_VALUE"
    assert line.rule_ids == ("high-value",)
    assert line.queue == "high-value"
    assert "300.01 USD" in line.explanation
    assert "rule high-value" in line.explanation


def test_line_worth_exactly_the_threshold_is_not_reviewed():
    order = _order(_line(price="300.00"), delivered_at=_delivered_days_ago(3))

    line = _decide_one(order)

    assert line.outcome is Outcome.APPROVE
    assert line.rule_ids == ()
    assert line.queue == ""


def test_line_value_counts_the_quantity_returned():
    order = _order(_line(price="150.01", quantity=3), delivered_at=_delivered_days_ago(3))

    assert _decide_one(order, quantity=1).outcome is Outcome.APPROVE
    assert _decide_one(order, quantity=2).outcome is Outcome.REVIEW


def test_line_in_another_currency_is_converted_before_the_threshold():
    calls: list = []
    convert = _rate_converter({("EUR", "USD"): Decimal("1.25")}, calls)
    order = _order(_line(price="250.00", currency="EUR"), delivered_at=_delivered_days_ago(3))

    line = _decide_one(order, convert=convert)

    assert calls == [(Money.of("250.00", "EUR"), "USD")]
    assert line.outcome is Outcome.REVIEW
    assert "312.50 USD" in line.explanation


def test_converted_line_under_the_threshold_is_approved():
    convert = _rate_converter({("EUR", "USD"): Decimal("1.10")})
    order = _order(_line(price="250.00", currency="EUR"), delivered_at=_delivered_days_ago(3))

    assert _decide_one(order, convert=convert).outcome is Outcome.APPROVE


def test_line_in_another_currency_without_a_converter_raises():
    order = _order(_line(price="250.00", currency="EUR"), delivered_at=_delivered_days_ago(3))

    with pytest.raises(ValueError, match="no exchange rate to compare EUR"):
        _decide_one(order)


def test_same_currency_line_never_calls_the_converter():
    calls: list = []
    order = _order(_line(), delivered_at=_delivered_days_ago(3))

    _decide_one(order, convert=_rate_converter({}, calls))

    assert calls == []


def test_unknown_order_line_raises_naming_it():
    order = _order(_line(), delivered_at=_delivered_days_ago(3))

    with pytest.raises(KeyError, match="line-404"):
        decide(_request("line-404"), order, DEFAULT_POLICY, TODAY)


def test_decision_has_one_line_decision_per_requested_line_in_order():
    order = _order(
        _line("a", delivered_at=_delivered_days_ago(40)),
        _line("b", delivered_at=_delivered_days_ago(5)),
    )

    decision = decide(_request("b", "a"), order, DEFAULT_POLICY, TODAY)

    assert [line.order_line_external_id for line in decision.lines] == ["b", "a"]
    assert [line.outcome for line in decision.lines] == [Outcome.APPROVE, Outcome.DECLINE]


def test_decision_carries_the_policy_refund_trigger():
    policy = parse_policy(_with("defaults.refund_trigger", "inspected"))
    order = _order(_line(), delivered_at=_delivered_days_ago(3))

    assert decide(_request("line-1"), order, policy, TODAY).refund_trigger is (
        RefundTrigger.INSPECTED
    )


def test_return_with_an_approved_and_a_declined_line_is_approved():
    order = _order(
        _line("late", delivered_at=_delivered_days_ago(60)),
        _line("fresh", delivered_at=_delivered_days_ago(1)),
    )

    decision = decide(_request("late", "fresh"), order, DEFAULT_POLICY, TODAY)

    assert decision.outcome is Outcome.APPROVE
    assert decision.queue == ""


def test_return_with_a_line_in_review_is_in_review():
    order = _order(
        _line("late", delivered_at=_delivered_days_ago(60)),
        _line("fresh", delivered_at=_delivered_days_ago(1)),
        _line("pricey", price="999.00", delivered_at=_delivered_days_ago(1)),
    )

    decision = decide(_request("late", "fresh", "pricey"), order, DEFAULT_POLICY, TODAY)

    assert decision.outcome is Outcome.REVIEW
    assert decision.queue == "high-value"


def test_return_with_every_line_declined_is_declined():
    order = _order(
        _line("a", delivered_at=_delivered_days_ago(31)),
        _line("b", delivered_at=_delivered_days_ago(90)),
    )

    decision = decide(_request("a", "b"), order, DEFAULT_POLICY, TODAY)

    assert decision.outcome is Outcome.DECLINE


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([Outcome.DECLINE, Outcome.APPROVE, Outcome.REVIEW], Outcome.REVIEW),
        ([Outcome.REVIEW, Outcome.DECLINE], Outcome.REVIEW),
        ([Outcome.DECLINE, Outcome.APPROVE], Outcome.APPROVE),
        ([Outcome.APPROVE], Outcome.APPROVE),
        ([Outcome.DECLINE, Outcome.DECLINE], Outcome.DECLINE),
    ],
)
def test_review_beats_approve_beats_decline(outcomes, expected):
    lines = tuple(
        LineDecision(f"line-{i}", outcome, "CODE", "why") for i, outcome in enumerate(outcomes)
    )

    assert Decision(lines, RefundTrigger.RECEIVED).outcome is expected


def test_decision_explanation_joins_every_line_explanation():
    order = _order(
        _line("a", delivered_at=_delivered_days_ago(31)),
        _line("b", delivered_at=_delivered_days_ago(2)),
    )

    explanation = decide(_request("a", "b"), order, DEFAULT_POLICY, TODAY).explain()

    assert "Line a was delivered 31 days ago" in explanation
    assert "Line b was delivered 2 days ago" in explanation
