"""Benchmark: return decisions per second from the policy engine, beside a hand-written Python
function that implements the same 50 rules, on the same single-line requests, in the same run.

    .venv/bin/python bench/rules.py [--requests 20000] [--repeat 5]

Both sides take the same ``RequestFacts`` and work the whole decision out: days since delivery
and order, the line's value, the rules in order with their settings, the window, the statutory
floor, photos and the restocking fee. The engine also builds its ``Decision`` objects and their
messages; the hand-written function returns a plain tuple. Before timing, the outcomes of both
are checked equal on every request. It prints both rates (best of ``--repeat`` runs) and the
ratio engine ÷ hand-written (the aim is 0.5 or better).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from connector.domain.money import Money
from connector.rules import (
    STATUTORY_COUNTRIES,
    LineFacts,
    RequestContext,
    RequestFacts,
    compile_policy,
    evaluate,
)

TODAY = date(2024, 6, 30)
SEASONS = ["XMAS21", "XMAS22", "XMAS23", "BF22", "BF23", "CNY23", "CNY24", "SS22", "AW22", "EOL"]
LONG_WINDOWS = {
    "furniture": 90,
    "mattresses": 100,
    "garden": 60,
    "books": 21,
    "toys": 40,
    "kitchen": 35,
    "sports": 50,
    "luggage": 75,
    "lighting": 28,
    "rugs": 65,
}


def policy_document() -> dict[str, object]:
    rules: list[dict[str, object]] = [
        {
            "id": "final-sale",
            "when": {"tag": "final-sale"},
            "then": {"decision": "decline", "reason": "FINAL_SALE"},
        },
        {
            "id": "gift-cards",
            "when": {"sku": {"matches": "^GC-"}},
            "then": {"decision": "decline", "reason": "GIFT_CARD"},
        },
        {
            "id": "hygiene",
            "when": {"category": {"in": ["underwear", "swimwear", "cosmetics"]}},
            "then": {"decision": "decline", "reason": "HYGIENE"},
            "statutory_exception": True,
        },
        {
            "id": "personalised",
            "when": {"tag": "personalised"},
            "then": {"decision": "decline", "reason": "PERSONALISED"},
            "statutory_exception": True,
        },
        {
            "id": "damaged-by-buyer",
            "when": {
                "condition": "damaged",
                "reason": {"not_in": ["DEFECTIVE", "DAMAGED_IN_TRANSIT"]},
            },
            "then": {"decision": "decline", "reason": "DAMAGED_BY_BUYER"},
        },
        {
            "id": "photos-for-damage",
            "when": {"reason": {"in": ["DEFECTIVE", "DAMAGED_IN_TRANSIT"]}},
            "then": {"require_photos": 1},
        },
        {
            "id": "serial-returner",
            "when": {"customer_returns_90d": {"gte": 8}},
            "then": {"decision": "review", "queue": "serial-returners"},
        },
        {
            "id": "return-rate",
            "when": {"customer_return_rate": {"gt": 0.6}},
            "then": {"decision": "review", "queue": "return-rate"},
        },
        {
            "id": "risky",
            "when": {"risk_score": {"gte": 80}},
            "then": {"decision": "review", "queue": "fraud"},
        },
        {
            "id": "cheap-faulty-keep",
            "when": {
                "all": [
                    {"line_value": {"lte": 15}},
                    {"reason": {"in": ["DEFECTIVE", "WRONG_ITEM"]}},
                ]
            },
            "then": {"decision": "approve", "returnless": True},
        },
        {
            "id": "high-value",
            "when": {"line_value": {"gt": 1000}},
            "then": {"decision": "review", "queue": "high-value"},
        },
        {
            "id": "electronics-fee",
            "when": {"category": "electronics", "condition": "opened"},
            "then": {"restocking_fee": {"percent": 15}},
        },
        {
            "id": "electronics-window",
            "when": {"category": "electronics"},
            "then": {"window_days": 14},
        },
        {
            "id": "de-fr-longer",
            "when": {"country": {"in": ["DE", "FR"]}},
            "then": {"window_days": 45},
        },
        {
            "id": "nordics",
            "when": {"country": {"in": ["SE", "NO", "DK", "FI"]}},
            "then": {"window_days": 60},
        },
        {
            "id": "big-order-credit",
            "when": {"order_value": {"gte": 500}},
            "then": {"bonus_credit_percent": 10},
        },
        {
            "id": "bulky",
            "when": {"tag": "bulky"},
            "then": {"returnless": False, "refund_trigger": "inspected"},
        },
        {
            "id": "amazon-first-scan",
            "when": {"platform": "amazon"},
            "then": {"refund_trigger": "first_scan"},
        },
        {
            "id": "aliexpress-window",
            "when": {"platform": "aliexpress"},
            "then": {"window_days": 15},
        },
        {
            "id": "bulk-returns",
            "when": {"quantity": {"gt": 5}},
            "then": {"decision": "review", "queue": "bulk-returns"},
        },
        {
            "id": "order-too-old",
            "when": {"days_since_order": {"gt": 120}},
            "then": {"decision": "decline", "reason": "ORDER_TOO_OLD"},
        },
        {
            "id": "wrong-item-fast",
            "when": {"all": [{"reason": "WRONG_ITEM"}, {"days_since_delivery": {"lte": 7}}]},
            "then": {"decision": "approve"},
        },
        {"id": "arrived-late", "when": {"reason": "ARRIVED_LATE"}, "then": {"decision": "approve"}},
        {
            "id": "sale-credit-only",
            "when": {"tag": {"in": ["sale", "clearance"]}},
            "then": {"resolutions": ["store_credit", "exchange"]},
        },
        {
            "id": "clearance-fee",
            "when": {"tag": "clearance"},
            "then": {"restocking_fee": {"amount": 5}},
        },
    ]
    for season in SEASONS:
        rules.append(
            {
                "id": f"season-{season.lower()}",
                "when": {"sku": {"matches": f"^{season}-"}},
                "then": {"decision": "decline", "reason": "SEASONAL"},
            }
        )
    for category, days in LONG_WINDOWS.items():
        rules.append(
            {
                "id": f"window-{category}",
                "when": {"category": category},
                "then": {"window_days": days},
            }
        )
    rules += [
        {
            "id": "opened-beauty",
            "when": {"all": [{"category": "beauty"}, {"not": {"condition": "unused"}}]},
            "then": {"decision": "decline", "reason": "OPENED_BEAUTY"},
        },
        {
            "id": "loyal-bonus",
            "when": {"any": [{"tag": "vip"}, {"customer_returns_90d": 0}]},
            "then": {"bonus_credit_percent": 5},
        },
        {
            "id": "jewellery-review",
            "when": {"category": "jewellery", "line_value": {"between": [300, 1000]}},
            "then": {"decision": "review", "queue": "jewellery"},
        },
        {
            "id": "warranty",
            "when": {
                "all": [{"reason": "DEFECTIVE"}, {"days_since_delivery": {"between": [31, 365]}}]
            },
            "then": {"decision": "review", "queue": "warranty"},
        },
        {"id": "us-window", "when": {"country": "US"}, "then": {"window_days": 30}},
    ]
    assert len(rules) == 50
    return {
        "version": 1,
        "currency": "USD",
        "defaults": {"window_days": 30, "refund_trigger": "received",
                     "resolutions": ["refund", "store_credit", "exchange"]},
        "rules": rules,
    }  # fmt: skip


_HUNDRED = Decimal(100)
_SALE = frozenset({"sale", "clearance"})
_SEASON_PREFIXES = tuple(f"{season}-" for season in SEASONS)
_FIVE = Decimal(5)
_RATE = Decimal("0.6")


def _days(moment: datetime | None) -> int | None:
    return None if moment is None else (TODAY - moment.astimezone(UTC).date()).days


def hand_written(facts: RequestFacts) -> tuple[object, ...]:
    """The same 50 rules as ``policy_document()``, written out by hand for one line."""
    (line,) = facts.lines
    context = facts.context
    days = _days(line.delivered_at)
    since_order = _days(line.ordered_at)
    price = line.unit_price
    value = price.amount * line.quantity  # every request is in USD, the policy currency
    order_value = value
    tags, sku, category, reason = line.tags, line.sku, line.category, line.reason
    condition, country, platform = line.condition, context.country, context.platform
    window, trigger, resolutions = 30, "received", ("refund", "store_credit", "exchange")
    photos, fee, bonus, returnless = 0, None, Decimal(0), False
    matched: list[str] = []
    decided: tuple[str, str, str, str] | None = None  # (rule, outcome, reason, queue)

    def rule(rule_id: str, outcome: str = "", code: str = "", queue: str = "") -> bool:
        nonlocal decided
        matched.append(rule_id)
        if outcome:
            decided = (rule_id, outcome, code, queue)
            return True
        return False

    while True:  # each `break` is a decision: the line's evaluation ends
        if "final-sale" in tags and rule("final-sale", "decline", "FINAL_SALE"):
            break
        if sku.startswith("GC-") and rule("gift-cards", "decline", "GIFT_CARD"):
            break
        if category in ("underwear", "swimwear", "cosmetics") and rule(
            "hygiene", "decline", "HYGIENE"
        ):
            break
        if "personalised" in tags and rule("personalised", "decline", "PERSONALISED"):
            break
        if (
            condition == "damaged"
            and reason not in ("DEFECTIVE", "DAMAGED_IN_TRANSIT")
            and rule("damaged-by-buyer", "decline", "DAMAGED_BY_BUYER")
        ):
            break
        if reason in ("DEFECTIVE", "DAMAGED_IN_TRANSIT"):
            rule("photos-for-damage")
            photos = 1
        if context.customer_returns_90d >= 8 and rule(
            "serial-returner", "review", "REVIEW_SERIAL_RETURNERS", "serial-returners"
        ):
            break
        if context.customer_return_rate > _RATE and rule(
            "return-rate", "review", "REVIEW_RETURN_RATE", "return-rate"
        ):
            break
        if context.risk_score >= 80 and rule("risky", "review", "REVIEW_FRAUD", "fraud"):
            break
        if (
            value <= 15
            and reason in ("DEFECTIVE", "WRONG_ITEM")
            and rule("cheap-faulty-keep", "approve", "APPROVED_BY_RULE")
        ):
            returnless = True
            break
        if value > 1000 and rule("high-value", "review", "REVIEW_HIGH_VALUE", "high-value"):
            break
        if category == "electronics" and condition == "opened":
            rule("electronics-fee")
            fee = ("percent", Decimal(15))
        if category == "electronics":
            rule("electronics-window")
            window = 14
        if country in ("DE", "FR"):
            rule("de-fr-longer")
            window = 45
        if country in ("SE", "NO", "DK", "FI"):
            rule("nordics")
            window = 60
        if order_value >= 500:
            rule("big-order-credit")
            bonus = Decimal(10)
        if "bulky" in tags:
            rule("bulky")
            returnless, trigger = False, "inspected"
        if platform == "amazon":
            rule("amazon-first-scan")
            trigger = "first_scan"
        if platform == "aliexpress":
            rule("aliexpress-window")
            window = 15
        if line.quantity > 5 and rule(
            "bulk-returns", "review", "REVIEW_BULK_RETURNS", "bulk-returns"
        ):
            break
        if (
            since_order is not None
            and since_order > 120
            and rule("order-too-old", "decline", "ORDER_TOO_OLD")
        ):
            break
        if (
            reason == "WRONG_ITEM"
            and days is not None
            and days <= 7
            and rule("wrong-item-fast", "approve", "APPROVED_BY_RULE")
        ):
            break
        if reason == "ARRIVED_LATE" and rule("arrived-late", "approve", "APPROVED_BY_RULE"):
            break
        if not _SALE.isdisjoint(tags):
            rule("sale-credit-only")
            resolutions = ("store_credit", "exchange")
        if "clearance" in tags:
            rule("clearance-fee")
            fee = ("amount", _FIVE)
        if sku.startswith(_SEASON_PREFIXES):
            season = next(s for s in SEASONS if sku.startswith(f"{s}-"))
            rule(f"season-{season.lower()}", "decline", "SEASONAL")
            break
        if category in LONG_WINDOWS:
            rule(f"window-{category}")
            window = LONG_WINDOWS[category]
        if (
            category == "beauty"
            and condition != "unused"
            and rule("opened-beauty", "decline", "OPENED_BEAUTY")
        ):
            break
        if "vip" in tags or context.customer_returns_90d == 0:
            rule("loyal-bonus")
            bonus = _FIVE
        if (
            category == "jewellery"
            and 300 <= value <= 1000
            and rule("jewellery-review", "review", "REVIEW_JEWELLERY", "jewellery")
        ):
            break
        if (
            reason == "DEFECTIVE"
            and days is not None
            and 31 <= days <= 365
            and rule("warranty", "review", "REVIEW_WARRANTY", "warranty")
        ):
            break
        if country == "US":
            rule("us-window")
            window = 30
        break

    statutory = False
    floor = country in STATUTORY_COUNTRIES and (days is None or days <= 14)
    queue = rule_id = ""
    if decided is None:
        if days is None or days <= window:
            outcome, code = "approve", "NOT_YET_DELIVERED" if days is None else "WITHIN_WINDOW"
        elif floor:
            outcome, code, statutory = "approve", "STATUTORY_WITHDRAWAL", True
        else:
            outcome, code = "decline", "RETURN_PERIOD_ENDED"
    else:
        rule_id, outcome, code, queue = decided
        if outcome == "decline" and floor and rule_id not in ("hygiene", "personalised"):
            outcome, code, statutory = "approve", "STATUTORY_WITHDRAWAL", True
    if outcome == "approve" and line.photos < photos:
        outcome, code, queue = "review", "PHOTOS_MISSING", "photos-missing"
    fee_money = None
    if outcome != "decline" and fee is not None:
        line_value = price * line.quantity
        if fee[0] == "percent":
            charged = Money.of(line_value.amount * fee[1] / _HUNDRED, price.currency)
        else:
            charged = Money.of(fee[1], price.currency)
        fee_money = min(charged, line_value)
    return (
        line.ref, outcome, code, rule_id, tuple(matched), queue, window, trigger,
        resolutions, returnless, fee_money, bonus, photos, statutory,
    )  # fmt: skip


def engine_tuple(decision: object) -> tuple[object, ...]:
    (line,) = decision.lines  # type: ignore[attr-defined]
    return (
        line.order_line_external_id, line.outcome.value, line.reason, line.rule_id, line.rule_ids,
        line.queue, line.window_days, line.refund_trigger.value,
        tuple(r.value for r in line.resolutions), line.returnless, line.restocking_fee,
        line.bonus_credit_percent, line.require_photos, line.statutory,
    )  # fmt: skip


def requests(count: int, seed: int = 7) -> list[RequestFacts]:
    pick = random.Random(seed)
    tag_pool = ["final-sale", "personalised", "bulky", "sale", "clearance", "vip", "new", "gift"]
    categories = [
        "", "electronics", "beauty", "jewellery", "underwear", "shirts", "shoes",
        *LONG_WINDOWS,
    ]  # fmt: skip
    skus = ["GC-100", "SKU-1", "SKU-2", "TSHIRT-9", *(f"{s}-{n}" for s in SEASONS for n in (1, 2))]
    reasons = ["SIZE_TOO_SMALL", "UNWANTED", "DEFECTIVE", "WRONG_ITEM", "DAMAGED_IN_TRANSIT",
               "ARRIVED_LATE", "COLOR", "OTHER"]  # fmt: skip
    conditions = ["unused", "unused", "opened", "used", "damaged"]
    countries = ["US", "US", "GB", "DE", "FR", "SE", "CA", "AU", "JP", "NL"]
    platforms = ["shopify", "amazon", "aliexpress", "sandbox"]
    built = []
    for index in range(count):
        delivered_days = pick.choice([0, 3, 10, 14, 15, 20, 30, 31, 44, 46, 70, 200, None])
        ordered_days = (delivered_days or 0) + pick.choice([2, 5, 9, 130])
        tags = frozenset(pick.sample(tag_pool, pick.choice([0, 0, 0, 1, 1, 2])))
        line = LineFacts(
            unit_price=Money.of(Decimal(pick.randint(100, 150000)) / 100, "USD"),
            quantity=pick.choice([1, 1, 1, 2, 3, 6]),
            sku=pick.choice(skus if pick.random() < 0.3 else ["SKU-1", "SKU-2"]),
            tags=tags,
            category=pick.choice(categories),
            reason=pick.choice(reasons),
            condition=pick.choice(conditions),
            photos=pick.choice([0, 0, 1, 2]),
            ordered_at=_at(ordered_days),
            delivered_at=None if delivered_days is None else _at(delivered_days),
            ref=str(index),
        )
        context = RequestContext(
            platform=pick.choice(platforms),
            country=pick.choice(countries),
            customer_returns_90d=pick.choice([0, 1, 1, 2, 3, 9]),
            customer_return_rate=Decimal(pick.choice(["0", "0.1", "0.2", "0.3", "0.7"])),
            risk_score=Decimal(pick.choice([0, 10, 20, 50, 50, 85])),
        )
        built.append(RequestFacts(TODAY, (line,), context))
    return built


def _at(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC).replace(
        hour=22, minute=30
    )


def rate(work: Callable[[], None], count: int, repeat: int) -> float:
    best = min(_timed(work) for _ in range(repeat))
    return count / best


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    policy = compile_policy(policy_document())
    batch = requests(args.requests)
    for facts in batch:
        expected = hand_written(facts)
        got = engine_tuple(evaluate(policy, facts))
        assert got == expected, (facts, got, expected)

    def run_engine() -> None:
        for facts in batch:
            evaluate(policy, facts)

    def run_hand_written() -> None:
        for facts in batch:
            hand_written(facts)

    engine = rate(run_engine, len(batch), args.repeat)
    baseline = rate(run_hand_written, len(batch), args.repeat)
    outcomes: dict[str, int] = {}
    for facts in batch:
        outcome = str(hand_written(facts)[1])
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"policy: {len(policy.rules)} rules; {len(batch)} single-line requests; {outcomes}")
    print(f"engine        {engine:>10,.0f} decisions/s")
    print(f"hand-written  {baseline:>10,.0f} decisions/s")
    print(f"ratio engine / hand-written: {engine / baseline:.2f}")


if __name__ == "__main__":
    main()
