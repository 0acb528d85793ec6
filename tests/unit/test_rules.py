"""The policy engine decides each returned line as the policy document says, and explains it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from connector.domain.money import Money
from connector.domain.orders import Address, Customer, Order, OrderLine
from connector.domain.returns import Condition, Reason, ReturnLine, ReturnRequest
from connector.rules import (
    DEFAULT_POLICY,
    LineDecision,
    LineFacts,
    NoExchangeRate,
    Outcome,
    RefundTrigger,
    RequestContext,
    RequestFacts,
    Resolution,
    compile_policy,
    decide,
    evaluate,
)

TODAY = date(2024, 3, 31)


def _at(days_ago: int, hour: int = 23, minute: int = 59) -> datetime:
    """A moment ``days_ago`` calendar days before TODAY, late in the UTC day by default."""
    day = TODAY - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _policy(*rules: dict[str, Any], **defaults: Any) -> Any:
    return compile_policy(
        {"currency": "USD", "defaults": {"window_days": 30, **defaults}, "rules": list(rules)}
    )


def _rule(rule_id: str, when: Any = None, **then: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": rule_id, "then": then}
    if when is not None:
        rule["when"] = when
    return rule


def _line(**overrides: Any) -> LineFacts:
    values: dict[str, Any] = {
        "unit_price": Money.of("20.00", "USD"),
        "quantity": 1,
        "sku": "SKU-1",
        "tags": frozenset({"new"}),
        "category": "shirts",
        "reason": "SIZE_TOO_SMALL",
        "condition": "unused",
        "photos": 0,
        "ordered_at": _at(10),
        "delivered_at": _at(3),
        "ref": "0",
    }
    values.update(overrides)
    return LineFacts(**values)


_CONTEXT = RequestContext(
    platform="shopify",
    country="US",
    customer_returns_90d=2,
    customer_return_rate=Decimal("0.25"),
    risk_score=Decimal(40),
)


def _one(policy: Any, context: RequestContext = _CONTEXT, convert: Any = None, **line: Any):
    decision = evaluate(policy, RequestFacts(TODAY, (_line(**line),), context), convert)
    (only,) = decision.lines
    return only


def _matches(when: Any, context: RequestContext = _CONTEXT, **line: Any) -> bool:
    policy = _policy(_rule("r", when, decision="review", queue="q"))
    return _one(policy, context, **line).rule_id == "r"


# conditions and operators ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        # eq: the bare value, on every fact
        ({"days_since_delivery": 3}, True),
        ({"days_since_delivery": 4}, False),
        ({"days_since_order": 10}, True),
        ({"country": "US"}, True),
        ({"country": "DE"}, False),
        ({"platform": "shopify"}, True),
        ({"sku": "SKU-1"}, True),
        ({"tag": "new"}, True),
        ({"tag": "sale"}, False),
        ({"category": "shirts"}, True),
        ({"line_value": 20}, True),
        ({"line_value": "20.00"}, True),
        ({"order_value": 20}, True),
        ({"quantity": 1}, True),
        ({"reason": "SIZE_TOO_SMALL"}, True),
        ({"reason": "DEFECTIVE"}, False),
        ({"condition": "unused"}, True),
        ({"photos": 0}, True),
        ({"customer_returns_90d": 2}, True),
        ({"customer_return_rate": 0.25}, True),
        ({"risk_score": 40}, True),
        ({"sku": {"eq": "SKU-1"}}, True),
        # in / not_in
        ({"country": {"in": ["DE", "US"]}}, True),
        ({"country": {"in": ["DE", "FR"]}}, False),
        ({"country": {"not_in": ["DE"]}}, True),
        ({"country": {"not_in": ["US"]}}, False),
        ({"tag": {"in": ["sale", "new"]}}, True),
        ({"tag": {"in": ["sale"]}}, False),
        ({"tag": {"not_in": ["sale"]}}, True),
        ({"tag": {"not_in": ["new", "sale"]}}, False),
        ({"quantity": {"in": [1, 2]}}, True),
        ({"reason": {"in": ["DEFECTIVE", "SIZE_TOO_SMALL"]}}, True),
        # lt / lte / gt / gte
        ({"line_value": {"lt": 20}}, False),
        ({"line_value": {"lte": 20}}, True),
        ({"line_value": {"gt": 19.99}}, True),
        ({"line_value": {"gt": 20}}, False),
        ({"line_value": {"gte": "20.01"}}, False),
        ({"days_since_delivery": {"gt": 2}}, True),
        ({"customer_return_rate": {"lt": 0.3}}, True),
        ({"risk_score": {"gte": 41}}, False),
        # between: both ends included
        ({"line_value": {"between": [20, 30]}}, True),
        ({"line_value": {"between": [10, 20]}}, True),
        ({"line_value": {"between": ["20.01", 30]}}, False),
        ({"days_since_delivery": {"between": [0, 3]}}, True),
        # several operators on one fact: all of them
        ({"line_value": {"gt": 10, "lt": 30}}, True),
        ({"line_value": {"gt": 10, "lt": 15}}, False),
        # matches: a regular expression, searched
        ({"sku": {"matches": "^SKU-"}}, True),
        ({"sku": {"matches": "-1$"}}, True),
        ({"sku": {"matches": "^GC-"}}, False),
        ({"sku": {"matches": "^sku-"}}, False),
        ({"tag": {"matches": "^ne"}}, True),
        ({"tag": {"matches": "^sa"}}, False),
        ({"category": {"matches": "shi|sho"}}, True),
        ({"country": {"matches": "^U"}}, True),
        # combinators
        ({"all": [{"country": "US"}, {"tag": "new"}]}, True),
        ({"all": [{"country": "US"}, {"tag": "sale"}]}, False),
        ({"any": [{"country": "DE"}, {"tag": "new"}]}, True),
        ({"any": [{"country": "DE"}, {"tag": "sale"}]}, False),
        ({"not": {"country": "US"}}, False),
        ({"not": {"country": "DE"}}, True),
        ({"country": "US", "tag": "new"}, True),  # several keys: all of them
        ({"country": "US", "tag": "sale"}, False),
        (
            {"all": [{"any": [{"tag": "sale"}, {"quantity": {"lt": 2}}]}, {"not": {"sku": "X"}}]},
            True,
        ),
        (
            {
                "any": [
                    {"tag": "a"},
                    {"tag": "b"},
                    {"tag": "c"},
                    {"all": [{"tag": "new"}, {"sku": "SKU-1"}, {"photos": 0}, {"quantity": 1}]},
                ]
            },
            True,
        ),
        ({"any": [{"tag": "a"}, {"tag": "b"}, {"tag": "c"}, {"tag": "d"}]}, False),
        ({}, True),
    ],
)
def test_condition_matches_as_documented(when, expected):
    assert _matches(when) is expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"days_since_delivery": {"lt": 100}}, False),
        ({"days_since_delivery": {"gte": 0}}, False),
        ({"days_since_delivery": {"not_in": [1, 2]}}, False),
        ({"days_since_delivery": {"between": [0, 100]}}, False),
        ({"not": {"days_since_delivery": {"lt": 100}}}, True),
    ],
)
def test_condition_on_the_days_of_an_undelivered_line_is_false(when, expected):
    assert _matches(when, delivered_at=None) is expected


def test_rule_without_when_always_matches():
    policy = _policy(_rule("always", decision="review", queue="everything"))

    assert _one(policy).queue == "everything"


def test_tags_given_as_a_tuple_are_read_as_a_set():
    assert _matches({"tag": "sale"}, tags=("new", "sale"))


def test_reason_and_condition_enums_read_as_their_codes():
    assert _matches({"condition": "opened"}, condition=Condition.OPENED)
    assert _matches({"reason": "DEFECTIVE"}, reason=Reason.DEFECTIVE)


def test_compiled_rule_test_reads_the_facts_tuple():
    policy = _policy(_rule("cheap", {"line_value": {"lt": 10}}, decision="approve"))
    (rule,) = policy.rules
    facts = [None] * 16
    facts[7] = Decimal("9.99")

    assert rule.test(tuple(facts)) is True


# rule order: setters accumulate, the first decision ends the line --------------------------


def test_later_setters_override_earlier_ones():
    policy = _policy(
        _rule("short", {"tag": "new"}, window_days=10, refund_trigger="first_scan"),
        _rule("long", {"country": "US"}, window_days=45),
        _rule("unmatched", {"country": "DE"}, window_days=99),
    )

    line = _one(policy, delivered_at=_at(40))

    assert line.window_days == 45
    assert line.refund_trigger is RefundTrigger.FIRST_SCAN
    assert line.outcome is Outcome.APPROVE
    assert line.rule_ids == ("short", "long")
    assert line.rule_id == ""


def test_every_setter_is_carried_onto_the_line():
    policy = _policy(
        _rule(
            "all-settings",
            window_days=60,
            refund_trigger="inspected",
            resolutions=["store_credit", "exchange"],
            require_photos=0,
            restocking_fee={"percent": 10},
            bonus_credit_percent=5,
            returnless=True,
        )
    )

    line = _one(policy)

    assert line.window_days == 60
    assert line.refund_trigger is RefundTrigger.INSPECTED
    assert line.resolutions == (Resolution.STORE_CREDIT, Resolution.EXCHANGE)
    assert line.restocking_fee == Money.of("2.00", "USD")
    assert line.bonus_credit_percent == Decimal(5)
    assert line.returnless is True


def test_first_matching_decision_wins_and_later_rules_are_not_read():
    policy = _policy(
        _rule("longer", {"tag": "new"}, window_days=60),
        _rule("decline-us", {"country": "US"}, decision="decline", reason="NO_US_RETURNS"),
        _rule("review-us", {"country": "US"}, decision="review", queue="us"),
        _rule("after", {"tag": "new"}, window_days=5),
    )

    line = _one(policy)

    assert line.outcome is Outcome.DECLINE
    assert line.reason == "NO_US_RETURNS"
    assert line.rule_id == "decline-us"
    assert line.rule_ids == ("longer", "decline-us")
    assert line.window_days == 60


def test_rule_with_settings_and_a_decision_applies_both():
    policy = _policy(
        _rule("keep-it", {"line_value": {"lte": 25}}, decision="approve", returnless=True)
    )

    line = _one(policy, delivered_at=_at(90))

    assert line.outcome is Outcome.APPROVE
    assert line.reason == "APPROVED_BY_RULE"
    assert line.returnless is True


@pytest.mark.parametrize(
    ("then", "reason"),
    [
        ({"decision": "review", "queue": "high-value"}, "REVIEW_HIGH_VALUE"),
        ({"decision": "review", "queue": "q", "reason": "LOOKS_ODD"}, "LOOKS_ODD"),
        ({"decision": "approve", "reason": "GOODWILL"}, "GOODWILL"),
        ({"decision": "decline", "reason": "FINAL_SALE"}, "FINAL_SALE"),
    ],
)
def test_rule_decision_gives_its_reason_code(then, reason):
    assert _one(_policy({"id": "r", "then": then})).reason == reason


def test_no_rule_matching_leaves_the_defaults():
    policy = _policy(
        _rule("de", {"country": "DE"}, window_days=60),
        refund_trigger="inspected",
        resolutions=["refund", "exchange"],
    )

    line = _one(policy)

    assert line.rule_ids == ()
    assert line.window_days == 30
    assert line.refund_trigger is RefundTrigger.INSPECTED
    assert line.resolutions == (Resolution.REFUND, Resolution.EXCHANGE)
    assert line.restocking_fee is None
    assert line.returnless is False


# the window and its days --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered_at", "outcome", "reason"),
    [
        (_at(30), Outcome.APPROVE, "WITHIN_WINDOW"),  # the last day is inside
        (_at(31), Outcome.DECLINE, "RETURN_PERIOD_ENDED"),
        (_at(30, hour=0, minute=0), Outcome.APPROVE, "WITHIN_WINDOW"),
        (_at(31, hour=23, minute=59), Outcome.DECLINE, "RETURN_PERIOD_ENDED"),
        # 00:30 on day 30 in UTC+2 is 22:30 on day 31 in UTC: whole UTC calendar days count
        (
            _at(30, hour=0, minute=30).replace(tzinfo=timezone(timedelta(hours=2))),
            Outcome.DECLINE,
            "RETURN_PERIOD_ENDED",
        ),
        # 23:30 on day 31 in UTC-2 is 01:30 on day 30 in UTC
        (
            _at(31, hour=23, minute=30).replace(tzinfo=timezone(timedelta(hours=-2))),
            Outcome.APPROVE,
            "WITHIN_WINDOW",
        ),
        (None, Outcome.APPROVE, "NOT_YET_DELIVERED"),
    ],
    ids=[
        "day-30",
        "day-31",
        "day-30-midnight",
        "day-31-late",
        "utc-plus-2",
        "utc-minus-2",
        "undelivered",
    ],
)
def test_window_counts_whole_utc_calendar_days(delivered_at, outcome, reason):
    line = _one(_policy(), delivered_at=delivered_at)

    assert (line.outcome, line.reason) == (outcome, reason)


def test_zero_day_window_declines_the_day_after_delivery():
    policy = _policy(window_days=0)

    assert _one(policy, delivered_at=_at(0)).outcome is Outcome.APPROVE
    assert _one(policy, delivered_at=_at(1)).outcome is Outcome.DECLINE


def test_days_since_order_counts_from_the_order_date():
    assert _matches({"days_since_order": {"gt": 120}}, ordered_at=_at(121))
    assert not _matches({"days_since_order": {"gt": 120}}, ordered_at=_at(120))


# statutory floor ----------------------------------------------------------------------------

_FINAL_SALE = _rule("final-sale", {"tag": "final-sale"}, decision="decline", reason="FINAL_SALE")
_PERSONALISED = {
    **_rule("personalised", {"tag": "engraved"}, decision="decline", reason="PERSONALISED"),
    "statutory_exception": True,
}


@pytest.mark.parametrize(
    ("country", "days", "tags", "outcome", "reason", "statutory"),
    [
        # a 7-day window, outside it but inside the 14 statutory days
        ("DE", 10, (), Outcome.APPROVE, "STATUTORY_WITHDRAWAL", True),
        ("DE", 14, (), Outcome.APPROVE, "STATUTORY_WITHDRAWAL", True),
        ("DE", 15, (), Outcome.DECLINE, "RETURN_PERIOD_ENDED", False),
        ("NO", 10, (), Outcome.APPROVE, "STATUTORY_WITHDRAWAL", True),  # EEA
        ("GB", 10, (), Outcome.APPROVE, "STATUTORY_WITHDRAWAL", True),  # UK
        ("CH", 10, (), Outcome.DECLINE, "RETURN_PERIOD_ENDED", False),
        ("US", 10, (), Outcome.DECLINE, "RETURN_PERIOD_ENDED", False),
        ("DE", 3, (), Outcome.APPROVE, "WITHIN_WINDOW", False),  # the floor changed nothing
        # a rule's decline within 14 days becomes approve for a European buyer …
        ("FR", 3, ("final-sale",), Outcome.APPROVE, "STATUTORY_WITHDRAWAL", True),
        ("FR", 14, ("final-sale",), Outcome.APPROVE, "STATUTORY_WITHDRAWAL", True),
        ("FR", 15, ("final-sale",), Outcome.DECLINE, "FINAL_SALE", False),
        ("US", 3, ("final-sale",), Outcome.DECLINE, "FINAL_SALE", False),
        # … unless the rule is a statutory exception
        ("FR", 3, ("engraved",), Outcome.DECLINE, "PERSONALISED", False),
    ],
)
def test_statutory_floor_for_eu_eea_and_uk_buyers(country, days, tags, outcome, reason, statutory):
    policy = _policy(_FINAL_SALE, _PERSONALISED, window_days=7)
    context = RequestContext(country=country)

    line = _one(policy, context, delivered_at=_at(days), tags=frozenset(tags))

    assert (line.outcome, line.reason, line.statutory) == (outcome, reason, statutory)


def test_statutory_approval_names_the_rule_and_says_why():
    policy = _policy(_FINAL_SALE)

    line = _one(policy, RequestContext(country="IT"), tags=frozenset({"final-sale"}))

    assert line.rule_id == "final-sale"
    assert line.message.id == "line.statutory_rule"
    assert "Rule final-sale would decline line 0 (FINAL_SALE)" in line.explanation
    assert "a buyer in IT may withdraw" in line.explanation
    assert "14 days of delivery" in line.explanation


def test_statutory_floor_covers_an_undelivered_line():
    policy = _policy(_FINAL_SALE)

    line = _one(policy, RequestContext(country="ES"), delivered_at=None, tags={"final-sale"})

    assert line.outcome is Outcome.APPROVE
    assert line.statutory is True


def test_statutory_floor_does_not_touch_a_review():
    policy = _policy(_rule("look", decision="review", queue="q"))

    assert _one(policy, RequestContext(country="DE")).outcome is Outcome.REVIEW


# photos -------------------------------------------------------------------------------------

_PHOTOS = _rule("photos-for-damage", {"reason": "DEFECTIVE"}, require_photos=2)


@pytest.mark.parametrize(
    ("photos", "outcome", "queue", "reason"),
    [
        (0, Outcome.REVIEW, "photos-missing", "PHOTOS_MISSING"),
        (1, Outcome.REVIEW, "photos-missing", "PHOTOS_MISSING"),
        (2, Outcome.APPROVE, "", "WITHIN_WINDOW"),
        (3, Outcome.APPROVE, "", "WITHIN_WINDOW"),
    ],
)
def test_required_photos_not_met_turn_an_approval_into_review(photos, outcome, queue, reason):
    line = _one(_policy(_PHOTOS), reason="DEFECTIVE", photos=photos)

    assert (line.outcome, line.queue, line.reason) == (outcome, queue, reason)
    assert line.require_photos == 2


def test_missing_photos_do_not_change_a_decline():
    line = _one(_policy(_PHOTOS), reason="DEFECTIVE", delivered_at=_at(60))

    assert line.outcome is Outcome.DECLINE


def test_missing_photos_hold_a_rule_approval_for_review():
    policy = _policy(_PHOTOS, _rule("keep", {"line_value": {"lt": 50}}, decision="approve"))

    line = _one(policy, reason="DEFECTIVE")

    assert line.outcome is Outcome.REVIEW
    assert line.rule_id == "keep"
    assert line.message.id == "line.photos_missing"
    assert "needs 2 photos and has 0" in line.explanation


def test_missing_photos_hold_a_statutory_approval_for_review():
    policy = _policy(_PHOTOS, window_days=7)

    line = _one(policy, RequestContext(country="DE"), reason="DEFECTIVE", delivered_at=_at(10))

    assert line.outcome is Outcome.REVIEW
    assert line.statutory is True
    assert [m.id for m in line.messages] == ["line.photos_missing", "line.statutory_window"]


# money: values, conversion, fees ------------------------------------------------------------


def _rates(rates: dict[tuple[str, str], str], calls: list[Any] | None = None):
    def convert(money: Money, currency: str) -> Money:
        if calls is not None:
            calls.append((money, currency))
        return money.convert(currency, Decimal(rates[(money.currency, currency)]))

    return convert


_HIGH_VALUE = _rule("high-value", {"line_value": {"gt": 300}}, decision="review", queue="hv")


def test_line_value_is_unit_price_times_quantity():
    policy = _policy(_HIGH_VALUE)

    assert _one(policy, unit_price=Money.of("150.01", "USD"), quantity=1).rule_id == ""
    assert _one(policy, unit_price=Money.of("150.01", "USD"), quantity=2).rule_id == "high-value"


def test_line_in_another_currency_is_converted_into_the_policy_currency():
    calls: list[Any] = []
    convert = _rates({("EUR", "USD"): "1.25"}, calls)

    line = _one(_policy(_HIGH_VALUE), unit_price=Money.of("250.00", "EUR"), convert=convert)

    assert calls == [(Money.of("250.00", "EUR"), "USD")]
    assert line.outcome is Outcome.REVIEW


def test_converted_line_under_the_threshold_is_approved():
    convert = _rates({("EUR", "USD"): "1.10"})

    line = _one(_policy(_HIGH_VALUE), unit_price=Money.of("250.00", "EUR"), convert=convert)

    assert line.outcome is Outcome.APPROVE


def test_amount_in_another_currency_without_a_converter_is_a_clear_error():
    with pytest.raises(NoExchangeRate, match=r"no exchange rate to compare EUR with .* USD"):
        _one(_policy(_HIGH_VALUE), unit_price=Money.of("250.00", "EUR"))


def test_policy_without_amounts_needs_no_exchange_rate():
    policy = _policy(_rule("de", {"country": "DE"}, window_days=60))

    assert _one(policy, unit_price=Money.of("250.00", "EUR")).outcome is Outcome.APPROVE


def test_same_currency_never_calls_the_converter():
    calls: list[Any] = []

    _one(_policy(_HIGH_VALUE), convert=_rates({}, calls))

    assert calls == []


def test_order_value_is_the_order_total_when_given_else_the_lines():
    policy = _policy(_rule("big", {"order_value": {"gte": 100}}, decision="review", queue="big"))
    lines = (_line(ref="a"), _line(ref="b", unit_price=Money.of("90.00", "USD")))
    convert = _rates({("GBP", "USD"): "1.30"})

    summed = evaluate(policy, RequestFacts(TODAY, lines, _CONTEXT))
    small_total = RequestContext(order_total=Money.of("50.00", "GBP"))
    given = evaluate(policy, RequestFacts(TODAY, lines, small_total), convert)

    assert [line.outcome for line in summed.lines] == [Outcome.REVIEW, Outcome.REVIEW]
    assert [line.outcome for line in given.lines] == [Outcome.APPROVE, Outcome.APPROVE]


@pytest.mark.parametrize(
    ("fee", "price", "quantity", "expected"),
    [
        ({"percent": 15}, "49.90", 1, Money.of("7.49", "USD")),  # 7.485, half up
        ({"percent": 10}, "20.00", 3, Money.of("6.00", "USD")),
        ({"amount": 5}, "20.00", 1, Money.of("5.00", "USD")),
        ({"amount": 50}, "20.00", 1, Money.of("20.00", "USD")),  # never more than the line
    ],
)
def test_restocking_fee_in_the_line_currency(fee, price, quantity, expected):
    policy = _policy(_rule("fee", restocking_fee=fee))

    line = _one(policy, unit_price=Money.of(price, "USD"), quantity=quantity)

    assert line.restocking_fee == expected


def test_restocking_fee_amount_is_converted_into_the_line_currency():
    policy = _policy(_rule("fee", restocking_fee={"amount": 5}))
    convert = _rates({("USD", "JPY"): "150"})

    line = _one(policy, unit_price=Money.of("3000", "JPY"), convert=convert)

    assert line.restocking_fee == Money.of("750", "JPY")


def test_declined_line_has_no_restocking_fee():
    policy = _policy(_rule("fee", restocking_fee={"percent": 10}))

    assert _one(policy, delivered_at=_at(90)).restocking_fee is None


# the whole return ---------------------------------------------------------------------------


def _evaluate(policy: Any, *lines: LineFacts, context: RequestContext = _CONTEXT):
    return evaluate(policy, RequestFacts(TODAY, lines, context))


@pytest.mark.parametrize(
    ("days", "outcome", "effective"),
    [
        ((3, 5), Outcome.APPROVE, Outcome.APPROVE),
        ((40, 50), Outcome.DECLINE, Outcome.DECLINE),
        ((3, 50), Outcome.PARTIAL, Outcome.APPROVE),
    ],
)
def test_return_outcome_is_the_lines_when_they_agree_else_partial(days, outcome, effective):
    lines = [_line(ref=str(i), delivered_at=_at(d)) for i, d in enumerate(days)]

    decision = _evaluate(_policy(), *lines)

    assert decision.outcome is outcome
    assert decision.effective_outcome is effective


def test_return_with_a_line_in_review_is_partial_and_waits_in_that_queue():
    decision = _evaluate(
        _policy(_HIGH_VALUE),
        _line(ref="cheap"),
        _line(ref="dear", unit_price=Money.of("999.00", "USD")),
        _line(ref="late", delivered_at=_at(90)),
    )

    assert [line.outcome for line in decision.lines] == [
        Outcome.APPROVE,
        Outcome.REVIEW,
        Outcome.DECLINE,
    ]
    assert decision.outcome is Outcome.PARTIAL
    assert decision.effective_outcome is Outcome.REVIEW
    assert decision.queue == "hv"


def test_return_refund_trigger_is_the_strictest_of_the_lines_not_declined():
    policy = _policy(
        _rule("inspect-bulky", {"tag": "bulky"}, refund_trigger="inspected"),
        _rule("late-scan", {"tag": "late"}, refund_trigger="first_scan"),
        refund_trigger="first_scan",
    )

    mixed = _evaluate(policy, _line(ref="a"), _line(ref="b", tags=frozenset({"bulky"})))
    declined_bulky = _evaluate(
        policy, _line(ref="a"), _line(ref="b", tags=frozenset({"bulky"}), delivered_at=_at(90))
    )
    all_declined = _evaluate(policy, _line(delivered_at=_at(90), tags=frozenset({"bulky"})))

    assert mixed.refund_trigger is RefundTrigger.INSPECTED
    assert declined_bulky.refund_trigger is RefundTrigger.FIRST_SCAN
    assert all_declined.refund_trigger is RefundTrigger.FIRST_SCAN


def test_decision_records_the_policy_revision():
    document = {"rules": [_HIGH_VALUE]}

    assert _evaluate(compile_policy(document, revision=7), _line()).policy_version == 7
    assert _evaluate(compile_policy(document), _line()).policy_version is None


# explanations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "english", "chinese"),
    [
        (
            {"delivered_at": _at(12)},
            "Line 0 was delivered 12 days ago, within the 30-day return window.",
            "商品行 0 于 12 天前送达，仍在 30 天退货期内。",
        ),
        (
            {"delivered_at": _at(45)},
            "Line 0 was delivered 45 days ago, after the 30-day return window ended.",
            "商品行 0 于 45 天前送达，已超过 30 天退货期。",
        ),
        (
            {"unit_price": Money.of("301.00", "USD")},
            "Line 0 goes to the hv queue for a person to review (rule high-value).",
            "商品行 0 已转入 hv 队列，由人工审核（规则 high-value）。",
        ),
        (
            {"delivered_at": None},
            "Line 0 has no delivery date yet, so its return window has not started.",
            "商品行 0 尚无送达日期，退货期尚未开始计算。",
        ),
    ],
)
def test_explanation_in_english_and_chinese(line, english, chinese):
    decided = _one(_policy(_HIGH_VALUE), **line)

    assert decided.explanation == english
    assert decided.explain("en") == english
    assert decided.explain("zh") == chinese
    assert decided.explain("zh-CN") == chinese
    assert decided.explain("fr") == english  # no French catalogue yet: English


def test_explanation_notes_returnless_fee_and_bonus():
    policy = _policy(
        _rule(
            "keep",
            returnless=True,
            restocking_fee={"amount": 2},
            bonus_credit_percent=10,
            resolutions=["refund", "store_credit"],
        )
    )

    line = _one(policy)

    assert [m.id for m in line.messages] == [
        "line.within_window",
        "line.returnless",
        "line.restocking_fee",
        "line.bonus_credit",
    ]
    assert "A restocking fee of 2.00 USD applies." in line.explanation
    assert "adds a 10% bonus" in line.explanation
    assert "重新上架费" in line.explain("zh")


def test_message_is_machine_readable():
    line = _one(_policy(), delivered_at=_at(12))

    assert line.message.id == "line.within_window"
    assert line.message.params == {"line": "0", "days": 12, "window": 30}
    assert line.message.as_dict() == {
        "id": "line.within_window",
        "params": {"line": "0", "days": "12", "window": "30"},
    }


def test_decision_explains_every_line_in_the_locale_asked():
    decision = _evaluate(_policy(), _line(ref="a", delivered_at=_at(31)), _line(ref="b"))

    assert "Line a was delivered 31 days ago" in decision.explain()
    assert "Line b was delivered 3 days ago" in decision.explain()
    assert "商品行 a" in decision.explain("zh")


# decide(): from the domain's request and order -------------------------------------------


def _order(*lines: OrderLine, delivered_at: datetime | None = None, country: str = "PT") -> Order:
    currency = lines[0].unit_price.currency
    return Order(
        external_id="gid://shop/Order/1001",
        number="#1001",
        currency=currency,
        placed_at=datetime(2024, 2, 1, tzinfo=UTC),
        customer=Customer("cust-1", "ana@example.com", "Ana"),
        shipping_address=Address("Ana", "Rua Augusta 1", "Lisboa", "1100-048", country),
        lines=lines,
        total=Money.zero(currency),
        delivered_at=delivered_at,
    )


def _order_line(
    external_id: str = "line-1",
    price: str = "49.90",
    currency: str = "USD",
    delivered_at: datetime | None = None,
    tags: tuple[str, ...] = (),
) -> OrderLine:
    return OrderLine(
        external_id=external_id,
        sku=f"SKU-{external_id}",
        title="Linen shirt",
        quantity=3,
        unit_price=Money.of(price, currency),
        delivered_at=delivered_at,
        tags=tags,
    )


def _request(
    *line_ids: str,
    quantity: int = 1,
    reason: Reason = Reason.SIZE_TOO_SMALL,
    photos: int = 0,
    buyer_country: str | None = None,
) -> ReturnRequest:
    buyer = None
    if buyer_country:
        buyer = Address("Ana", "Street 1", "City", "1000", buyer_country)
    return ReturnRequest(
        order_external_id="gid://shop/Order/1001",
        lines=tuple(
            ReturnLine(line_id, quantity, reason, photo_count=photos) for line_id in line_ids
        ),
        requested_at=datetime.combine(TODAY, datetime.min.time(), UTC),
        buyer_address=buyer,
    )


def test_default_policy_decides_as_the_foundation_did():
    order = _order(
        _order_line("fresh", delivered_at=_at(3)),
        _order_line("late", delivered_at=_at(31)),
        _order_line("dear", price="300.01", delivered_at=_at(3)),
    )

    decision = decide(_request("fresh", "late", "dear"), order, DEFAULT_POLICY, TODAY)

    assert [(d.order_line_external_id, d.outcome, d.reason) for d in decision.lines] == [
        ("fresh", Outcome.APPROVE, "WITHIN_WINDOW"),
        ("late", Outcome.DECLINE, "RETURN_PERIOD_ENDED"),
        ("dear", Outcome.REVIEW, "REVIEW_HIGH_VALUE"),
    ]
    assert decision.lines[2].rule_ids == ("high-value",)
    assert decision.queue == "high-value"
    assert decision.refund_trigger is RefundTrigger.RECEIVED
    assert "Line late was delivered 31 days ago" in decision.explain()


def test_decide_with_a_converter_as_before():
    convert = _rates({("EUR", "USD"): "1.25"})
    order = _order(_order_line(price="250.00", currency="EUR", delivered_at=_at(3)))

    decision = decide(_request("line-1"), order, DEFAULT_POLICY, TODAY, convert=convert)

    assert decision.outcome is Outcome.REVIEW


def test_decide_without_a_needed_converter_raises_a_value_error():
    order = _order(_order_line(price="250.00", currency="EUR", delivered_at=_at(3)))

    with pytest.raises(ValueError, match="no exchange rate to compare EUR"):
        decide(_request("line-1"), order, DEFAULT_POLICY, TODAY)


def test_line_delivery_date_wins_over_the_order_delivery_date():
    order = _order(_order_line(delivered_at=_at(40)), delivered_at=_at(2))

    assert decide(_request("line-1"), order, DEFAULT_POLICY, TODAY).outcome is Outcome.DECLINE


def test_order_delivery_date_serves_a_line_without_one():
    order = _order(_order_line(), delivered_at=_at(40))

    assert decide(_request("line-1"), order, DEFAULT_POLICY, TODAY).outcome is Outcome.DECLINE


def test_unknown_order_line_raises_naming_it():
    order = _order(_order_line(delivered_at=_at(3)))

    with pytest.raises(KeyError, match="line-404"):
        decide(_request("line-404"), order, DEFAULT_POLICY, TODAY)


@pytest.mark.parametrize(
    ("shipping", "buyer", "context", "expected"),
    [
        ("PT", None, None, Outcome.APPROVE),  # the shipping address: in the EU
        ("US", None, None, Outcome.DECLINE),
        ("US", "DE", None, Outcome.APPROVE),  # the buyer's address wins
        ("PT", "US", None, Outcome.DECLINE),
        ("PT", "PT", RequestContext(country="US"), Outcome.DECLINE),  # the context wins
    ],
)
def test_buyer_country_for_the_statutory_floor(shipping, buyer, context, expected):
    policy = _policy(window_days=7)
    order = _order(_order_line(delivered_at=_at(10)), country=shipping)

    decision = decide(_request("line-1", buyer_country=buyer), order, policy, TODAY, None, context)

    assert decision.outcome is expected


def test_decide_reads_tags_category_reason_photos_and_context():
    policy = _policy(
        _rule(
            "match-all",
            {
                "tag": "sale",
                "category": "shirts",
                "reason": "DEFECTIVE",
                "photos": 1,
                "quantity": 2,
                "platform": "amazon",
                "risk_score": {"gt": 50},
                "days_since_order": 59,
                "sku": "SKU-line-1",
            },
            decision="review",
            queue="matched",
        )
    )
    order = _order(_order_line(delivered_at=_at(3), tags=("sale", "category:shirts")))
    request = _request("line-1", quantity=2, reason=Reason.DEFECTIVE, photos=1)
    context = RequestContext(platform="amazon", risk_score=Decimal(60))

    decision = decide(request, order, policy, TODAY, context=context)

    assert decision.queue == "matched"


def test_line_decision_keeps_the_fields_callers_read():
    order = _order(_order_line(delivered_at=_at(3)))

    (line,) = decide(_request("line-1"), order, DEFAULT_POLICY, TODAY).lines

    assert isinstance(line, LineDecision)
    assert line.order_line_external_id == "line-1"
    assert (line.outcome, line.reason, line.rule_ids, line.queue) == (
        Outcome.APPROVE,
        "WITHIN_WINDOW",
        (),
        "",
    )
    assert line.explanation.startswith("Line line-1 was delivered 3 days ago")
