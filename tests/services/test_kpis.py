"""The dashboard's figures on hand-built rows with known answers: returns per day, return rate
by product, reasons, time to refund, return cost over revenue, the returnless share and the
money routing saved, each in the merchant's currency and each blind to other merchants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from connector.db import models
from connector.domain import Money
from connector.services import kpis, merchants

PERIOD = kpis.Period(date(2026, 3, 1), date(2026, 3, 10))
_serial = count(1)


def at(day: int, hour: int = 12, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Shop:
    """One merchant's store, and builders for its rows."""

    session: Session
    merchant: models.Merchant
    store: models.Store
    lines: dict[str, models.OrderLine] = field(default_factory=dict)

    def order(
        self, placed_at: datetime, items: list[tuple[str, int, int]], currency: str = "USD"
    ) -> models.Order:
        number = next(_serial)
        order = models.Order(
            merchant_id=self.merchant.id,
            store_id=self.store.id,
            external_id=f"o{number}",
            number=f"#{number}",
            currency=currency,
            total_minor=sum(quantity * price for _, quantity, price in items),
            placed_at=placed_at,
        )
        for position, (sku, quantity, price) in enumerate(items):
            order.lines.append(
                models.OrderLine(
                    external_id=f"o{number}-{position}",
                    sku=sku,
                    title=f"Product {sku}",
                    quantity=quantity,
                    unit_price_minor=price,
                    currency=currency,
                )
            )
        self.session.add(order)
        self.session.flush()
        return order

    def return_(
        self,
        order: models.Order,
        requested_at: datetime,
        lines: list[tuple[int, int, str, str]] | None = None,
        *,
        status: str = "CLOSED",
        route: dict[str, Any] | None = None,
    ) -> models.Return:
        """``lines``: (index of the order line, quantity, reason, outcome)."""
        number = next(_serial)
        return_ = models.Return(
            merchant_id=self.merchant.id,
            store_id=self.store.id,
            order_id=order.id,
            external_id=f"r{number}",
            rma=f"RMA-{number}",
            status=status,
            requested_at=requested_at,
            route=route,
            route_option=route["chosen"] if route else "",
        )
        for index, quantity, reason, outcome in lines or [(0, 1, "UNWANTED", "approve")]:
            return_.lines.append(
                models.ReturnLine(
                    order_line_id=order.lines[index].id,
                    quantity=quantity,
                    reason=reason,
                    outcome=outcome,
                )
            )
        self.session.add(return_)
        self.session.flush()
        return return_

    def refund(
        self, return_: models.Return, issued_at: datetime | None, status: str = "issued"
    ) -> None:
        sequence = next(_serial)
        self.session.add(
            models.Refund(
                return_id=return_.id,
                sequence=sequence,
                idempotency_key=f"refund:{return_.id}:{sequence}",
                amount_minor=1000,
                currency="USD",
                status=status,
                trigger="received",
                issued_at=issued_at,
            )
        )

    def shipment(
        self, return_: models.Return, kind: str, price_minor: int, currency: str, status: str = ""
    ) -> None:
        self.session.add(
            models.Shipment(
                return_id=return_.id,
                kind=kind,
                carrier="ratecard",
                service="ground",
                tracking_number=f"T{next(_serial)}",
                price_minor=price_minor,
                currency=currency,
                status=status or "DELIVERED",
            )
        )

    def destination(self, code: str, kind: str) -> None:
        self.session.add(
            models.Destination(
                merchant_id=self.merchant.id,
                code=code,
                name=code,
                kind=kind,
                address={"country": "CN"},
                currency="USD",
                resale_factor="0.5",
            )
        )


def option(
    option_id: str, net_cost: str, *, handling: str = "0", allowed: bool = True
) -> dict[str, Any]:
    kind, _, rest = option_id.partition(":")
    return {
        "id": option_id,
        "kind": kind,
        "destination": rest.split(":")[0] if rest else "",
        "carrier": "ratecard" if kind in ("label", "dropoff") else "",
        "service": "ground",
        "shipping": "0",
        "handling": handling,
        "duties": "0",
        "recovery": "0",
        "time_cost": "0",
        "net_cost": net_cost,
        "transit_days": 5,
        "allowed": allowed,
        "why_not": "" if allowed else "takes too long",
    }


def route(chosen: str, *options: dict[str, Any], currency: str = "USD") -> dict[str, Any]:
    return {"chosen": chosen, "currency": currency, "options": list(options), "notes": []}


def make_shop(session: Session, name: str, currency: str = "USD") -> Shop:
    merchant = merchants.create_merchant(session, name, currency)
    store = models.Store(merchant_id=merchant.id, platform="sandbox", external_id=f"{name}.test")
    session.add(store)
    session.flush()
    return Shop(session, merchant, store)


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.extensions["helloword"].db.transaction() as session:
        # one US dollar buys 0.8 euros: 1 EUR is 1.25 USD, exactly
        session.add(models.FxRate(base="USD", quote="EUR", rate="0.8", as_of=at(1, month=1)))
        yield session


@pytest.fixture
def shop(session: Session) -> Shop:
    return make_shop(session, "Figures Co")


def test_returns_are_counted_per_utc_day_with_every_day_listed(shop: Shop) -> None:
    order = shop.order(at(1, month=2), [("A", 5, 1000)])
    for moment in (at(1, 0, 0), at(1, 23, 59), at(4), at(10, 23, 59)):
        shop.return_(order, moment)
    shop.return_(order, at(28, 23, 59, month=2))  # the day before
    shop.return_(order, at(11, 0, 0))  # the day after

    days = kpis.returns_per_day(shop.session, shop.merchant.id, PERIOD)

    assert [d.day for d in days] == list(PERIOD.days()) and len(days) == 10
    assert {d.day.day: d.returns for d in days if d.returns} == {1: 2, 4: 1, 10: 1}


def test_return_rate_is_units_returned_over_units_sold_on_the_periods_orders(shop: Shop) -> None:
    first = shop.order(at(2), [("A", 4, 1000), ("B", 2, 500)])
    second = shop.order(at(3), [("A", 1, 1000), ("C", 3, 200)])
    earlier = shop.order(at(20, month=2), [("A", 9, 1000)])
    shop.return_(first, at(5), [(0, 2, "UNWANTED", "approve"), (1, 1, "DEFECTIVE", "decline")])
    shop.return_(first, at(12), [(1, 1, "DEFECTIVE", "approve")])  # after the period: counts
    shop.return_(second, at(6), [(0, 1, "UNWANTED", "approve")], status="CANCELED")
    shop.return_(second, at(6), [(1, 3, "UNWANTED", "approve")], status="EXPIRED")
    shop.return_(earlier, at(5), [(0, 5, "UNWANTED", "approve")])  # sold before the period

    rates = kpis.return_rates(shop.session, shop.merchant.id, PERIOD)

    assert [(r.sku, r.sold, r.returned, r.rate) for r in rates] == [
        ("B", 2, 1, Decimal("0.5")),
        ("A", 5, 2, Decimal("0.4")),
    ]
    assert rates[0].title == "Product B"


def test_the_ten_highest_return_rates_are_kept(shop: Shop) -> None:
    order = shop.order(at(2), [(f"S{n:02}", 20, 100) for n in range(12)])
    shop.return_(order, at(3), [(n, n + 1, "UNWANTED", "approve") for n in range(12)])

    rates = kpis.return_rates(shop.session, shop.merchant.id, PERIOD)

    assert [r.sku for r in rates] == [f"S{n:02}" for n in range(11, 1, -1)]


def test_reasons_count_return_lines_of_the_periods_returns(shop: Shop) -> None:
    order = shop.order(at(1, month=2), [("A", 3, 1000), ("B", 3, 1000)])
    shop.return_(order, at(2), [(0, 2, "DEFECTIVE", "approve"), (1, 1, "UNWANTED", "approve")])
    shop.return_(order, at(3), [(0, 1, "DEFECTIVE", "decline")])
    shop.return_(order, at(4), [(1, 1, "COLOR", "approve")])
    shop.return_(order, at(12), [(1, 1, "COLOR", "approve")])

    reasons = kpis.reasons(shop.session, shop.merchant.id, PERIOD)

    assert [(r.reason, r.lines) for r in reasons] == [
        ("DEFECTIVE", 2),
        ("COLOR", 1),
        ("UNWANTED", 1),
    ]


def test_time_to_refund_is_averaged_and_its_90th_percentile_is_nearest_rank(shop: Shop) -> None:
    order = shop.order(at(1, month=2), [("A", 9, 1000)])
    for asked, took in ((at(2), timedelta(hours=2)), (at(3), timedelta(days=1))):
        shop.refund(shop.return_(order, asked), asked + took)
    shop.refund(shop.return_(order, at(1, month=3)), at(6))  # 5 days
    shop.refund(shop.return_(order, at(4)), None, status="pending")
    shop.refund(shop.return_(order, at(4)), at(5), status="failed")
    shop.refund(shop.return_(order, at(9)), at(11))  # issued after the period

    times = kpis.refund_times(shop.session, shop.merchant.id, PERIOD)

    assert times.durations == (timedelta(hours=2), timedelta(days=1), timedelta(days=5))
    assert times.average == timedelta(hours=(2 + 24 + 120) / 3)
    assert times.p90 == timedelta(days=5)  # rank ceil(0.9 × 3) = 3
    assert [n for _, _, n in times.buckets] == [0, 1, 1, 1, 0, 0, 0]


def test_the_90th_percentile_of_ten_refunds_is_the_ninth() -> None:
    durations = tuple(timedelta(hours=h) for h in range(1, 11))
    times = kpis.RefundTimes(durations, ())
    assert times.p90 == timedelta(hours=9)
    assert times.average == timedelta(hours=5.5)
    assert kpis.RefundTimes((), ()).p90 is None


def test_return_cost_is_labels_and_handling_over_revenue_in_the_merchants_currency(
    shop: Shop,
) -> None:
    in_euros = shop.order(at(2), [("A", 1, 10000)], currency="EUR")  # 125.00 USD
    in_dollars = shop.order(at(3), [("B", 3, 2500)])  # 75.00 USD
    shop.order(at(11), [("B", 1, 99900)])  # after the period: no revenue counted
    to_warehouse = route(
        "label:us-3pl:ratecard:ground", option("label:us-3pl:ratecard:ground", "9", handling="2.50")
    )
    to_hub = route(
        "dropoff:eu-hub:dropoff:qr",
        option("dropoff:eu-hub:dropoff:qr", "4", handling="1.60"),
        currency="EUR",
    )
    first = shop.return_(in_euros, at(4), route=to_warehouse)
    shop.shipment(first, "label", 800, "EUR")  # 10.00 USD
    shop.shipment(first, "label", 700, "USD", status="CANCELLED")  # voided: no cost
    second = shop.return_(in_dollars, at(5), route=to_hub)  # handling 1.60 EUR = 2.00 USD
    shop.shipment(second, "dropoff", 300, "USD")
    expired = shop.return_(in_dollars, at(5), status="EXPIRED", route=to_warehouse)
    shop.shipment(expired, "label", 500, "USD")  # bought, then never used nor voided
    own = shop.return_(
        in_dollars,
        at(6),
        route=route("own_shipment:us-3pl", option("own_shipment:us-3pl", "5", handling="0")),
    )
    shop.shipment(own, "own_shipment", 1200, "USD")  # the buyer's postage, not a label bought
    late = shop.return_(in_dollars, at(11), route=to_warehouse)
    shop.shipment(late, "label", 900, "USD")

    cost = kpis.return_cost(shop.session, shop.merchant.id, PERIOD)

    assert cost.labels == Money.of("18.00", "USD")  # 10.00 + 3.00 + 5.00
    assert cost.labels_bought == 3
    assert cost.handling == Money.of("4.50", "USD")  # 2.50 + 2.00; the expired one's is not
    assert cost.revenue == Money.of("200.00", "USD")
    assert cost.total == Money.of("22.50", "USD")
    assert cost.share == Decimal("0.1125")


def test_no_revenue_leaves_the_share_undefined(shop: Shop) -> None:
    cost = kpis.return_cost(shop.session, shop.merchant.id, PERIOD)
    assert cost.share is None and cost.total == Money.zero("USD")


def test_returnless_share_is_keep_or_donate_over_all_routed(shop: Shop) -> None:
    order = shop.order(at(1, month=2), [("A", 9, 1000)])
    keep = route("keep_item", option("keep_item", "0"))
    for chosen in (keep, keep, route("donate", option("donate", "0"))):
        shop.return_(order, at(3), route=chosen)
    shop.return_(
        order, at(4), route=route("label:x:ratecard:ground", option("label:x:ratecard:ground", "7"))
    )
    shop.return_(order, at(4), status="IN_REVIEW")  # not routed
    shop.return_(order, at(12), route=keep)  # after the period

    share = kpis.returnless_share(shop.session, shop.merchant.id, PERIOD)

    assert share.by_way_back == {"keep_item": 2, "donate": 1, "label": 1}
    assert (share.returnless, share.routed, share.share) == (3, 4, Decimal("0.75"))


def test_routing_saves_the_cheapest_allowed_origin_option_less_the_chosen(shop: Shop) -> None:
    shop.destination("cn-origin", "origin")
    shop.destination("us-3pl", "warehouse")
    order = shop.order(at(1, month=2), [("A", 9, 1000)])
    chose_warehouse = shop.return_(
        order,
        at(2),
        route=route(
            "label:us-3pl:ratecard:ground",
            option("label:us-3pl:ratecard:ground", "4.00"),
            option("label:cn-origin:ratecard:ground", "20.00"),
            option("label:cn-origin:ratecard:express", "15.00", allowed=False),  # too slow
            option("own_shipment:cn-origin", "18.00"),
            option("keep_item", "0", allowed=False),
        ),
    )
    kept = shop.return_(
        order,
        at(3),
        route=route(
            "keep_item",
            option("keep_item", "0"),
            option("label:cn-origin:ratecard:ground", "9.50"),  # 9.50 EUR = 11.875 → 11.88 USD
            currency="EUR",
        ),
    )
    to_origin = shop.return_(
        order,
        at(4),
        route=route(
            "label:cn-origin:ratecard:ground",
            option("label:cn-origin:ratecard:ground", "6.00"),
            option("label:us-3pl:ratecard:ground", "7.00"),
        ),
    )
    no_origin = shop.return_(
        order,
        at(5),
        route=route(
            "label:us-3pl:ratecard:ground",
            option("label:us-3pl:ratecard:ground", "3.00"),
            option("keep_item", "0", allowed=False),
        ),
    )
    shop.return_(
        order,
        at(12),
        route=route(  # after the period
            "keep_item", option("keep_item", "0"), option("label:cn-origin:ratecard:ground", "50")
        ),
    )

    savings = kpis.routing_savings(shop.session, shop.merchant.id, PERIOD)

    assert [(r.rma, r.origin_option, r.saved) for r in savings.returns] == [
        (chose_warehouse.rma, "own_shipment:cn-origin", Money.of("14.00", "USD")),
        (kept.rma, "label:cn-origin:ratecard:ground", Money.of("11.88", "USD")),
        (to_origin.rma, "label:cn-origin:ratecard:ground", Money.of("0.00", "USD")),
        (no_origin.rma, "", None),
    ]
    assert savings.saved == Money.of("25.88", "USD")
    assert savings.without_origin == 1 and len(savings.counted) == 3
    assert savings.by_way_back() == {
        "label": (2, Money.of("14.00", "USD")),
        "keep_item": (1, Money.of("11.88", "USD")),
    }


def test_another_merchants_rows_are_never_counted(session: Session, shop: Shop) -> None:
    shop.destination("cn-origin", "origin")
    order = shop.order(at(2), [("A", 2, 1000)])
    chosen = route(
        "keep_item", option("keep_item", "0"), option("label:cn-origin:ratecard:ground", "8")
    )
    mine = shop.return_(order, at(3), route=chosen)
    shop.shipment(mine, "label", 100, "USD")
    shop.refund(mine, at(4))
    before = kpis.dashboard(session, shop.merchant.id, PERIOD)

    other = make_shop(session, "Other Co", "EUR")
    other.destination("cn-origin", "origin")
    theirs = other.order(at(2), [("A", 50, 1000)], currency="EUR")
    for day in (2, 3, 4):
        returned = other.return_(theirs, at(day), [(0, 5, "DEFECTIVE", "approve")], route=chosen)
        other.shipment(returned, "label", 5000, "EUR")
        other.refund(returned, at(day, 18))
    after = kpis.dashboard(session, shop.merchant.id, PERIOD)
    theirs_seen = kpis.dashboard(session, other.merchant.id, PERIOD)

    assert after == before
    assert sum(d.returns for d in after.returns_per_day) == 1
    assert [(r.sku, r.sold, r.returned) for r in after.return_rates] == [("A", 2, 1)]
    assert after.cost.revenue == Money.of("20.00", "USD")
    assert after.savings.saved == Money.of("8.00", "USD")
    assert theirs_seen.currency == "EUR"
    assert sum(d.returns for d in theirs_seen.returns_per_day) == 3
    assert theirs_seen.refund_times.count == 3
    assert theirs_seen.cost.labels == Money.of("150.00", "EUR")


def test_a_period_is_whole_utc_days_both_included() -> None:
    period = kpis.Period.last(30, date(2026, 3, 30))
    assert (period.start, period.end, len(period)) == (date(2026, 3, 1), date(2026, 3, 30), 30)
    assert period.since == at(1, 0) and period.until == at(31, 0)
    with pytest.raises(ValueError):
        kpis.Period(date(2026, 3, 2), date(2026, 3, 1))
