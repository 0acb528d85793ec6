"""A policy document is validated as a whole, every error located by its path, and compiled
once; YAML and JSON text read into the same document."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from connector.rules import (
    DEFAULT_DOCUMENT,
    DEFAULT_POLICY,
    PolicyError,
    RefundTrigger,
    Resolution,
    check_policy,
    compile_policy,
    parse_policy,
    parse_policy_text,
)
from connector.rules.messages import CATALOGUES, PARAMETERS, placeholders
from connector.rules.policy import cache_clear, cache_info

ISSUE_EXAMPLE = """
version: 1
currency: USD              # amounts in conditions are in this currency
defaults:
  window_days: 30          # counted from the line's delivery date
  refund_trigger: received # first_scan | received | inspected
  resolutions: [refund, store_credit, exchange]
rules:
  - id: final-sale
    when: {tag: final-sale}
    then: {decision: decline, reason: FINAL_SALE}
  - id: photos-for-damage
    when: {reason: {in: [DEFECTIVE, DAMAGED_IN_TRANSIT]}}
    then: {require_photos: 1}
  - id: cheap-faulty-keep
    when: {all: [{line_value: {lte: 15}}, {reason: {in: [DEFECTIVE, WRONG_ITEM]}}]}
    then: {decision: approve, returnless: true}
  - id: high-value
    when: {line_value: {gt: 300}}
    then: {decision: review, queue: high-value}
  - id: de-fr-longer
    when: {country: {in: [DE, FR]}}
    then: {window_days: 45}
"""


def _document(*rules: Any, **top: Any) -> dict[str, Any]:
    return {"version": 1, "currency": "USD", "rules": list(rules), **top}


def _rule(when: Any = None, then: Any = None, **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "r1",
        "when": {"line_value": {"gt": 100}} if when is None else when,
        "then": {"decision": "review", "queue": "q"} if then is None else then,
    }
    rule.update(extra)
    return rule


def _errors(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as raised:
        compile_policy(document)
    assert raised.value.errors == check_policy(document)
    return raised.value.errors


# the default policy -------------------------------------------------------------------------


def test_default_policy_is_a_30_day_window_refunded_at_receipt_with_high_value_review():
    assert DEFAULT_POLICY.currency == "USD"
    assert DEFAULT_POLICY.window_days == 30
    assert DEFAULT_POLICY.refund_trigger is RefundTrigger.RECEIVED
    assert DEFAULT_POLICY.defaults.resolutions == (Resolution.REFUND,)
    (rule,) = DEFAULT_POLICY.rules
    assert (rule.id, rule.queue, rule.reason) == ("high-value", "high-value", "REVIEW_HIGH_VALUE")
    assert parse_policy(copy.deepcopy(DEFAULT_DOCUMENT)) == DEFAULT_POLICY


def test_empty_document_takes_the_documented_defaults():
    policy = compile_policy({})

    assert policy.currency == "USD"
    assert policy.window_days == 30
    assert policy.refund_trigger is RefundTrigger.RECEIVED
    assert policy.rules == ()


def test_issue_example_reads_from_yaml():
    policy = parse_policy_text(ISSUE_EXAMPLE)

    assert [rule.id for rule in policy.rules] == [
        "final-sale",
        "photos-for-damage",
        "cheap-faulty-keep",
        "high-value",
        "de-fr-longer",
    ]
    assert policy.defaults.resolutions == (
        Resolution.REFUND,
        Resolution.STORE_CREDIT,
        Resolution.EXCHANGE,
    )
    assert policy.rules[1].settings is not None
    assert policy.rules[1].settings.require_photos == 1
    assert policy.rules[4].settings is not None
    assert policy.rules[4].settings.window_days == 45


def test_json_text_reads_like_yaml():
    text = '{"currency": "EUR", "defaults": {"window_days": 14}, "rules": []}'

    policy = parse_policy_text(text)

    assert (policy.currency, policy.window_days) == ("EUR", 14)


def test_yaml_floats_become_exact_decimals():
    policy = parse_policy_text(
        "rules:\n"
        "  - id: cheap\n"
        "    when: {line_value: {lte: 15.10}}\n"
        "    then: {bonus_credit_percent: 2.5, restocking_fee: {percent: 12.35}}\n"
    )
    (rule,) = policy.rules
    facts: list[Any] = [None] * 16

    facts[7] = Decimal("15.10")
    assert rule.test(tuple(facts)) is True
    facts[7] = Decimal("15.11")
    assert rule.test(tuple(facts)) is False
    assert rule.settings is not None
    assert rule.settings.bonus_credit_percent == Decimal("2.5")
    assert rule.settings.restocking_fee is not None
    assert rule.settings.restocking_fee.percent == Decimal("12.35")


def test_text_that_is_not_yaml_is_refused_with_its_line():
    with pytest.raises(PolicyError) as raised:
        parse_policy_text("rules:\n  - id: [unclosed\n")

    assert raised.value.field == "$"
    assert "line 3" in raised.value.message


def test_yaml_that_is_not_a_mapping_is_refused():
    with pytest.raises(PolicyError) as raised:
        parse_policy_text("- just\n- a list\n")

    assert raised.value.errors == [("$", "a policy is a JSON object (a YAML mapping)")]


# validation: every error, located by path --------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path", "words"),
    [
        (_document(version=2), "version", "version 1"),
        (_document(version=True), "version", "version 1"),
        (_document(currency="ABC"), "currency", "'ABC'"),
        (_document(currency="usd"), "currency", "'usd'"),
        (_document(currency=["USD"]), "currency", "ISO-4217"),
        (_document(defaults="30 days"), "defaults", "object"),
        (_document(defaults={"window_days": -1}), "defaults.window_days", "0 or more"),
        (_document(defaults={"window_days": "30"}), "defaults.window_days", "whole number"),
        (_document(defaults={"window_days": 30.5}), "defaults.window_days", "whole number"),
        (_document(defaults={"window_days": True}), "defaults.window_days", "whole number"),
        (
            _document(defaults={"refund_trigger": "on_delivery"}),
            "defaults.refund_trigger",
            "first_scan, received, inspected",
        ),
        (_document(defaults={"resolutions": []}), "defaults.resolutions", "non-empty"),
        (
            _document(defaults={"resolutions": ["refund", "cash"]}),
            "defaults.resolutions[1]",
            "refund, store_credit, exchange",
        ),
        (
            _document(defaults={"resolutions": ["refund", "refund"]}),
            "defaults.resolutions[1]",
            "twice",
        ),
        (_document(defaults={"decision": "approve"}), "defaults.decision", "unknown field"),
        ({"version": 1, "rules": "none"}, "rules", "list"),
        (_document("review above 300"), "rules[0]", "object"),
        (_document({"when": {}, "then": {"window_days": 1}}), "rules[0].id", "id"),
        (_document(_rule(id=7)), "rules[0].id", "id as text"),
        (_document(_rule(priority=1)), "rules[0].priority", "unknown field"),
        (_document(_rule(statutory_exception="yes")), "rules[0].statutory_exception", "true"),
        (
            _document(_rule(statutory_exception=True)),
            "rules[0].statutory_exception",
            "only a rule that declines",
        ),
        (_document(_rule(description=5)), "rules[0].description", "text"),
        # when
        (_document(_rule(when=[{"tag": "x"}])), "rules[0].when", "object of conditions"),
        (_document(_rule(when={"colour": "red"})), "rules[0].when.colour", "unknown condition"),
        (
            _document(_rule(when={"line_value": {"gt": "lots"}})),
            "rules[0].when.line_value.gt",
            "expected a number",
        ),
        (
            _document(_rule(when={"line_value": {"gt": None}})),
            "rules[0].when.line_value.gt",
            "expected a number",
        ),
        (
            _document(_rule(when={"line_value": {"gt": float("nan")}})),
            "rules[0].when.line_value.gt",
            "expected a number",
        ),
        (
            _document(_rule(when={"line_value": {"more": 3}})),
            "rules[0].when.line_value.more",
            "unknown operator",
        ),
        (_document(_rule(when={"line_value": {}})), "rules[0].when.line_value", "an operator"),
        (
            _document(_rule(when={"quantity": 1.5})),
            "rules[0].when.quantity",
            "whole number",
        ),
        (
            _document(_rule(when={"country": {"gt": "DE"}})),
            "rules[0].when.country.gt",
            "not a number",
        ),
        (
            _document(_rule(when={"quantity": {"matches": "1+"}})),
            "rules[0].when.quantity.matches",
            "is a number",
        ),
        (
            _document(_rule(when={"sku": {"matches": "("}})),
            "rules[0].when.sku.matches",
            "invalid regular expression",
        ),
        (
            _document(_rule(when={"country": "Germany"})),
            "rules[0].when.country",
            "ISO 3166",
        ),
        (
            _document(_rule(when={"reason": {"in": ["DEFECTIVE", "BROKEN"]}})),
            "rules[0].when.reason.in[1]",
            "'BROKEN' is not a reason",
        ),
        (
            _document(_rule(when={"condition": "new"})),
            "rules[0].when.condition",
            "not a condition",
        ),
        (_document(_rule(when={"tag": {"in": []}})), "rules[0].when.tag.in", "non-empty"),
        (
            _document(_rule(when={"line_value": {"between": [10]}})),
            "rules[0].when.line_value.between",
            "[low, high]",
        ),
        (
            _document(_rule(when={"line_value": {"between": [30, 10]}})),
            "rules[0].when.line_value.between",
            "low is above high",
        ),
        (_document(_rule(when={"all": []})), "rules[0].when.all", "non-empty list"),
        (
            _document(_rule(when={"any": [{"tag": "a"}, {"tag": 5}]})),
            "rules[0].when.any[1].tag",
            "tag as text",
        ),
        (
            _document(_rule(when={"not": {"all": [{"sku": {"lt": 3}}]}})),
            "rules[0].when.not.all[0].sku.lt",
            "not a number",
        ),
        # then
        (_document(_rule(then="review")), "rules[0].then", "expected an object"),
        (_document(_rule(then={})), "rules[0].then", "expected an object"),
        (
            _document(_rule(then={"decision": "escalate"})),
            "rules[0].then.decision",
            "approve, decline, review",
        ),
        (_document(_rule(then={"decision": "decline"})), "rules[0].then.reason", "needs a reason"),
        (
            _document(_rule(then={"decision": "decline", "reason": "final sale"})),
            "rules[0].then.reason",
            "capitals",
        ),
        (_document(_rule(then={"decision": "review"})), "rules[0].then.queue", "needs a queue"),
        (
            _document(_rule(then={"decision": "approve", "queue": "q"})),
            "rules[0].then.queue",
            "only a review",
        ),
        (
            _document(_rule(then={"reason": "WHY"})),
            "rules[0].then.decision",
            "goes with a decision",
        ),
        (
            _document(_rule(then={"decision": "review", "queue": "q", "notify": "ops"})),
            "rules[0].then.notify",
            "unknown field",
        ),
        (
            _document(_rule(then={"restocking_fee": 5})),
            "rules[0].then.restocking_fee",
            "{percent: N} or {amount: N}",
        ),
        (
            _document(_rule(then={"restocking_fee": {"percent": 150}})),
            "rules[0].then.restocking_fee.percent",
            "0 to 100",
        ),
        (
            _document(_rule(then={"restocking_fee": {"fixed": 5}})),
            "rules[0].then.restocking_fee.fixed",
            "unknown field",
        ),
        (
            _document(_rule(then={"bonus_credit_percent": -5})),
            "rules[0].then.bonus_credit_percent",
            "from 0 to 1000",
        ),
        (_document(_rule(then={"returnless": "yes"})), "rules[0].then.returnless", "true or false"),
        (_document(_rule(then={"require_photos": -1})), "rules[0].then.require_photos", "0 or"),
        (
            _document(_rule(), _rule()),
            "rules[1].id",
            "'r1' is already the id of rules[0]",
        ),
    ],
)
def test_bad_document_is_refused_with_the_path_named(document, path, words):
    errors = _errors(document)

    assert errors[0][0] == path, errors
    assert words in errors[0][1]


def test_conditions_nested_too_deep_are_refused():
    when: dict[str, Any] = {"tag": "x"}
    for _ in range(20):
        when = {"not": when}

    errors = _errors(_document(_rule(when=when)))

    assert "levels deep" in errors[0][1]


def test_every_error_is_reported_together_in_document_order():
    document = {
        "version": 1,
        "currency": "usd",
        "colour": "blue",
        "defaults": {"window_days": -3},
        "rules": [
            _rule(),
            _rule(id="r2", when={"line_value": {"gt": "lots"}, "country": "de"}),
            _rule(id="r3", then={"decision": "decline"}),
            _rule(id="r4", when={"sku": {"matches": "(["}}),
        ],
    }

    with pytest.raises(PolicyError) as raised:
        compile_policy(document)

    assert [path for path, _ in raised.value.errors] == [
        "colour",
        "currency",
        "defaults.window_days",
        "rules[1].when.line_value.gt",
        "rules[1].when.country",
        "rules[2].then.reason",
        "rules[3].when.sku.matches",
    ]
    assert raised.value.field == "colour"
    assert str(raised.value).startswith("colour: unknown field")
    assert "\nrules[1].when.line_value.gt: expected a number" in str(raised.value)


def test_policy_error_keeps_the_single_error_form():
    error = PolicyError("currency", "'XYZ' is not an ISO-4217 currency")

    assert (error.field, error.message) == ("currency", "'XYZ' is not an ISO-4217 currency")
    assert error.errors == [("currency", "'XYZ' is not an ISO-4217 currency")]
    assert isinstance(error, ValueError)


def test_valid_document_has_no_errors():
    assert check_policy(DEFAULT_DOCUMENT) == []


def test_pattern_values_never_become_code():
    hostile = "__import__('os').system('false')"
    policy = compile_policy(_document(_rule(when={"sku": {"matches": hostile}})))
    facts: list[Any] = [None] * 16
    facts[4] = "SKU-1"

    assert policy.rules[0].test(tuple(facts)) is False


# the compile cache --------------------------------------------------------------------------


def test_same_document_compiles_once():
    cache_clear()
    document = _document(_rule())

    first = compile_policy(document)
    second = compile_policy(copy.deepcopy(document))
    reordered = compile_policy(dict(reversed(list(document.items()))))

    assert first is second is reordered
    hits, misses, size = cache_info()
    assert (hits, misses, size) == (2, 1, 1)


def test_revision_is_part_of_the_cache_key():
    document = _document(_rule())

    assert compile_policy(document, revision=1) is not compile_policy(document, revision=2)
    assert compile_policy(document, revision=1).revision == 1
    assert compile_policy(document, revision=1) is compile_policy(document, revision=1)


def test_refused_document_is_refused_every_time():
    document = _document(_rule(when={"line_value": {"gt": "lots"}}))

    for _ in range(2):
        with pytest.raises(PolicyError):
            compile_policy(document)


def test_compiled_policy_keeps_its_document():
    assert DEFAULT_POLICY.document == DEFAULT_DOCUMENT


def test_decimal_amounts_are_cached_and_kept_exactly():
    document = _document(_rule(when={"line_value": {"gt": Decimal("99.90")}}))

    policy = compile_policy(document)

    assert compile_policy(copy.deepcopy(document)) is policy
    assert policy.document["rules"][0]["when"] == {"line_value": {"gt": "99.90"}}


# message catalogues -------------------------------------------------------------------------


@pytest.mark.parametrize("locale", sorted(CATALOGUES))
def test_every_catalogue_has_every_message_with_the_same_parameters(locale):
    catalogue = CATALOGUES[locale]

    assert set(catalogue) == set(PARAMETERS)
    for message_id, names in PARAMETERS.items():
        assert placeholders(catalogue[message_id]) == set(names), message_id


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "a: &a0 [x]\n"
            + "".join(
                f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9)
            ),
            "aliases",
        ),
        ("rules: " + "[" * 3000 + "]" * 3000, "nests too deeply"),
        ("version: 1\ndefaults: {window_days: " + "9" * 5000 + "}\n", "too large"),
    ],
    ids=["alias-bomb", "deep-nesting", "huge-integer"],
)
def test_hostile_text_is_refused_quickly_and_by_name(text: str, words: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy_text(text)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("then", "path"),
    [
        ({"restocking_fee": {"amount": "1e27"}}, "rules[0].then.restocking_fee.amount"),
        ({"bonus_credit_percent": "1E+1000000"}, "rules[0].then.bonus_credit_percent"),
    ],
)
def test_numbers_no_policy_means_are_refused(then: dict[str, object], path: str) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(_document(_rule(then=then)))
    assert path in dict(caught.value.errors)


def test_a_pattern_that_would_backtrack_runs_in_linear_time() -> None:
    import time

    policy = compile_policy(
        _document(
            _rule(when={"sku": {"matches": "^(a+)+$"}}, then={"decision": "review", "queue": "q"})
        )
    )
    started = time.perf_counter()
    assert policy.rules[0].test is not None
    from connector.rules.conditions import _pattern

    pattern = _pattern("^(a+)+$", "p", lambda *_: None)
    assert pattern.search("a" * 50_000 + "!") is None
    assert time.perf_counter() - started < 1.0


def test_a_pattern_re2_cannot_run_is_reported_by_path() -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(_document(_rule(when={"sku": {"matches": "(a)\\1"}})))
    assert "rules[0].when.sku.matches" in dict(caught.value.errors)
