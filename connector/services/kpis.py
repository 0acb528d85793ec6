"""The back office's key figures over a period: how many returns, why, how fast the money
goes back, what returns cost, and what routing saved.

Each function reads one merchant's rows for a ``Period`` (whole UTC days, both ends included)
and answers a small dataclass; amounts are in the merchant's currency, converted with the
stored exchange rates (``services.fx``). Which timestamp places a row in the period differs by
figure and is said in each docstring: returns by when the buyer asked, sales by when the
order was placed, refunds by when they were issued.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import models
from ..domain import Status
from ..domain.money import Money
from ..routing import OptionKind
from . import fx

RETURNLESS = (OptionKind.KEEP_ITEM.value, OptionKind.DONATE.value)
# ways back that carry goods to a destination, and so can be "back to the origin"
_TO_A_DESTINATION = (
    OptionKind.LABEL.value,
    OptionKind.DROPOFF.value,
    OptionKind.OWN_SHIPMENT.value,
)
# returns whose goods never came back: their routes' handling was never spent
_NEVER_CAME = (Status.EXPIRED.value, Status.CANCELED.value)
_VOIDED = "CANCELLED"  # a shipment's status once its label is voided with the carrier

# how long a refund took, in buckets: (from, up to but not including; None: no end)
REFUND_BUCKETS: tuple[tuple[timedelta, timedelta | None], ...] = (
    (timedelta(0), timedelta(hours=1)),
    (timedelta(hours=1), timedelta(days=1)),
    (timedelta(days=1), timedelta(days=3)),
    (timedelta(days=3), timedelta(days=7)),
    (timedelta(days=7), timedelta(days=14)),
    (timedelta(days=14), timedelta(days=30)),
    (timedelta(days=30), None),
)


@dataclass(frozen=True)
class Period:
    """Whole UTC days from ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a period ends on or after the day it starts")

    @classmethod
    def last(cls, days: int, today: date) -> Period:
        return cls(today - timedelta(days=days - 1), today)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min, UTC)

    def days(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)

    def __len__(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class DayCount:
    day: date
    returns: int


@dataclass(frozen=True)
class ProductRate:
    sku: str
    title: str
    sold: int
    returned: int

    @property
    def rate(self) -> Decimal:
        return Decimal(self.returned) / Decimal(self.sold)


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    lines: int


@dataclass(frozen=True)
class RefundTimes:
    durations: tuple[timedelta, ...]  # one per issued refund, shortest first
    buckets: tuple[tuple[timedelta, timedelta | None, int], ...]

    @property
    def count(self) -> int:
        return len(self.durations)

    @property
    def average(self) -> timedelta | None:
        if not self.durations:
            return None
        return sum(self.durations, timedelta(0)) / len(self.durations)

    @property
    def p90(self) -> timedelta | None:
        """The nearest-rank 90th percentile: the shortest time within which at least 90% of
        the refunds were issued."""
        if not self.durations:
            return None
        return self.durations[math.ceil(0.9 * len(self.durations)) - 1]


@dataclass(frozen=True)
class ReturnCost:
    labels: Money  # labels and drop-off codes bought, less the voided ones
    labels_bought: int
    handling: Money  # the chosen routes' handling, for goods that came or are coming back
    revenue: Money  # the orders placed in the period

    @property
    def total(self) -> Money:
        return self.labels + self.handling

    @property
    def share(self) -> Decimal | None:
        """Return cost over order revenue; None without revenue."""
        if self.revenue.amount <= 0:
            return None
        return self.total.amount / self.revenue.amount


@dataclass(frozen=True)
class ReturnlessShare:
    by_way_back: dict[str, int]  # routed returns per kind of the chosen option

    @property
    def routed(self) -> int:
        return sum(self.by_way_back.values())

    @property
    def returnless(self) -> int:
        return sum(self.by_way_back.get(kind, 0) for kind in RETURNLESS)

    @property
    def share(self) -> Decimal | None:
        return Decimal(self.returnless) / Decimal(self.routed) if self.routed else None


@dataclass(frozen=True)
class RoutedReturn:
    """One routed return beside the best allowed way back to an origin destination."""

    return_id: int
    rma: str
    chosen: str  # the chosen option's id
    kind: str
    chosen_cost: Money
    origin_option: str  # "" when the route had no allowed option to an origin
    origin_cost: Money | None

    @property
    def saved(self) -> Money | None:
        return None if self.origin_cost is None else self.origin_cost - self.chosen_cost


@dataclass(frozen=True)
class RoutingSavings:
    currency: str
    returns: tuple[RoutedReturn, ...] = field(default=())

    @property
    def counted(self) -> tuple[RoutedReturn, ...]:
        return tuple(r for r in self.returns if r.saved is not None)

    @property
    def without_origin(self) -> int:
        return sum(1 for r in self.returns if r.saved is None)

    @property
    def saved(self) -> Money:
        total = Money.zero(self.currency)
        for routed in self.counted:
            assert routed.saved is not None
            total = total + routed.saved
        return total

    def by_way_back(self) -> dict[str, tuple[int, Money]]:
        """Per kind of chosen option: returns counted and money saved, most saved first."""
        sums: dict[str, tuple[int, Money]] = {}
        for routed in self.counted:
            assert routed.saved is not None
            count, money = sums.get(routed.kind, (0, Money.zero(self.currency)))
            sums[routed.kind] = (count + 1, money + routed.saved)
        return dict(sorted(sums.items(), key=lambda item: (-item[1][1].amount, item[0])))


@dataclass(frozen=True)
class Dashboard:
    period: Period
    currency: str
    returns_per_day: list[DayCount]
    return_rates: list[ProductRate]
    reasons: list[ReasonCount]
    refund_times: RefundTimes
    cost: ReturnCost
    returnless: ReturnlessShare
    savings: RoutingSavings


def merchant_currency(session: Session, merchant_id: int) -> str:
    currency = session.scalar(
        select(models.Merchant.currency).where(models.Merchant.id == merchant_id)
    )
    if currency is None:
        raise LookupError(f"no merchant {merchant_id}")
    return currency


def returns_per_day(session: Session, merchant_id: int, period: Period) -> list[DayCount]:
    """Returns asked for on each UTC day of the period, every day listed (zero included)."""
    asked = session.scalars(
        select(models.Return.requested_at).where(
            models.Return.merchant_id == merchant_id,
            models.Return.requested_at >= period.since,
            models.Return.requested_at < period.until,
        )
    )
    counts = Counter(moment.astimezone(UTC).date() for moment in asked)
    return [DayCount(day, counts[day]) for day in period.days()]


def return_rates(
    session: Session, merchant_id: int, period: Period, limit: int = 10
) -> list[ProductRate]:
    """Per SKU, of the units sold on orders placed in the period, how many were returned:
    units on return lines of those orders, whenever asked for, except lines declined and
    returns canceled or expired (their goods never came back). The ``limit`` SKUs with the
    highest rate and at least one unit returned, ties by more units returned, then SKU."""
    sold_rows = session.execute(
        select(
            models.OrderLine.sku,
            func.sum(models.OrderLine.quantity),
            func.min(models.OrderLine.title),
        )
        .join(models.Order, models.OrderLine.order_id == models.Order.id)
        .where(
            models.Order.merchant_id == merchant_id,
            models.Order.placed_at >= period.since,
            models.Order.placed_at < period.until,
        )
        .group_by(models.OrderLine.sku)
    ).all()
    returned_rows = session.execute(
        select(models.OrderLine.sku, func.sum(models.ReturnLine.quantity))
        .join(models.OrderLine, models.ReturnLine.order_line_id == models.OrderLine.id)
        .join(models.Return, models.ReturnLine.return_id == models.Return.id)
        .join(models.Order, models.Return.order_id == models.Order.id)
        .where(
            models.Return.merchant_id == merchant_id,
            models.Order.merchant_id == merchant_id,
            models.Order.placed_at >= period.since,
            models.Order.placed_at < period.until,
            models.Return.status.not_in(_NEVER_CAME),
            models.ReturnLine.outcome != "decline",
        )
        .group_by(models.OrderLine.sku)
    ).all()
    returned = {sku: int(units or 0) for sku, units in returned_rows}
    rates = [
        ProductRate(sku, title or "", int(sold), returned[sku])
        for sku, sold, title in sold_rows
        if sold and returned.get(sku)
    ]
    rates.sort(key=lambda r: (-r.rate, -r.returned, r.sku))
    return rates[:limit]


def reasons(session: Session, merchant_id: int, period: Period) -> list[ReasonCount]:
    """Return lines per reason the buyer gave, for returns asked for in the period (declined
    lines included: the reason is the buyer's), most frequent first."""
    rows = session.execute(
        select(models.ReturnLine.reason, func.count(models.ReturnLine.id))
        .join(models.Return, models.ReturnLine.return_id == models.Return.id)
        .where(
            models.Return.merchant_id == merchant_id,
            models.Return.requested_at >= period.since,
            models.Return.requested_at < period.until,
        )
        .group_by(models.ReturnLine.reason)
    ).all()
    counts = [ReasonCount(reason, int(lines)) for reason, lines in rows]
    counts.sort(key=lambda c: (-c.lines, c.reason))
    return counts


def refund_times(session: Session, merchant_id: int, period: Period) -> RefundTimes:
    """For each refund (money or store credit) issued in the period: the time from the
    buyer's request to the refund's issue."""
    rows = session.execute(
        select(models.Refund.issued_at, models.Return.requested_at)
        .join(models.Return, models.Refund.return_id == models.Return.id)
        .where(
            models.Return.merchant_id == merchant_id,
            models.Refund.status == "issued",
            models.Refund.issued_at >= period.since,
            models.Refund.issued_at < period.until,
        )
    ).all()
    durations = sorted(
        max(issued - asked, timedelta(0)) for issued, asked in rows if issued is not None
    )
    buckets = tuple(
        (low, high, sum(1 for d in durations if d >= low and (high is None or d < high)))
        for low, high in REFUND_BUCKETS
    )
    return RefundTimes(tuple(durations), buckets)


def return_cost(session: Session, merchant_id: int, period: Period) -> ReturnCost:
    """What the returns asked for in the period cost, beside the revenue of the orders placed
    in it: labels and drop-off codes bought for those returns (voided ones excluded), plus the
    handling of each one's chosen route unless it expired or was canceled."""
    currency = merchant_currency(session, merchant_id)
    table = fx.load(session)
    in_period = (
        models.Return.merchant_id == merchant_id,
        models.Return.requested_at >= period.since,
        models.Return.requested_at < period.until,
    )
    label_rows = session.execute(
        select(
            models.Shipment.currency,
            func.sum(models.Shipment.price_minor),
            func.count(models.Shipment.id),
        )
        .join(models.Return, models.Shipment.return_id == models.Return.id)
        .where(
            *in_period,
            models.Shipment.kind.in_((OptionKind.LABEL.value, OptionKind.DROPOFF.value)),
            models.Shipment.status != _VOIDED,
        )
        .group_by(models.Shipment.currency)
    ).all()
    labels = _sum_in(table, currency, [(code, minor) for code, minor, _ in label_rows])
    handling = Money.zero(currency)
    for route, option_id in session.execute(
        select(models.Return.route, models.Return.route_option).where(
            *in_period,
            models.Return.route_option != "",
            models.Return.status.not_in(_NEVER_CAME),
        )
    ):
        option = _option(route, option_id)
        if option is not None:
            handling = handling + _money(table, option["handling"], route["currency"], currency)
    revenue_rows = session.execute(
        select(models.Order.currency, func.sum(models.Order.total_minor))
        .where(
            models.Order.merchant_id == merchant_id,
            models.Order.placed_at >= period.since,
            models.Order.placed_at < period.until,
        )
        .group_by(models.Order.currency)
    ).all()
    revenue = _sum_in(table, currency, [(code, minor) for code, minor in revenue_rows])
    return ReturnCost(labels, sum(int(n) for _, _, n in label_rows), handling, revenue)


def returnless_share(session: Session, merchant_id: int, period: Period) -> ReturnlessShare:
    """Of the returns asked for in the period that were routed, how many chose each kind of
    way back; keep-item and donate are the returnless ones."""
    rows = session.execute(
        select(models.Return.route_option, func.count(models.Return.id))
        .where(
            models.Return.merchant_id == merchant_id,
            models.Return.requested_at >= period.since,
            models.Return.requested_at < period.until,
            models.Return.route_option != "",
        )
        .group_by(models.Return.route_option)
    ).all()
    kinds: Counter[str] = Counter()
    for option_id, count in rows:
        kinds[_kind_of(option_id)] += int(count)
    return ReturnlessShare(dict(kinds.most_common()))


def routing_savings(session: Session, merchant_id: int, period: Period) -> RoutingSavings:
    """For each return asked for in the period and routed: the net cost of the cheapest
    allowed option to a destination of kind ``origin`` in its stored route, less the net
    cost of the option chosen. A route without an allowed option to an origin is listed
    with no saving and left out of the sum."""
    currency = merchant_currency(session, merchant_id)
    table = fx.load(session)
    origins = set(
        session.scalars(
            select(models.Destination.code).where(
                models.Destination.merchant_id == merchant_id,
                models.Destination.kind == "origin",
            )
        )
    )
    routed = []
    for return_id, rma, route, option_id in session.execute(
        select(models.Return.id, models.Return.rma, models.Return.route, models.Return.route_option)
        .where(
            models.Return.merchant_id == merchant_id,
            models.Return.requested_at >= period.since,
            models.Return.requested_at < period.until,
            models.Return.route_option != "",
        )
        .order_by(models.Return.id)
    ):
        chosen = _option(route, option_id)
        if chosen is None:
            continue
        to_origin = [
            option
            for option in route["options"]
            if option.get("allowed")
            and option.get("kind") in _TO_A_DESTINATION
            and option.get("destination") in origins
        ]
        best = min(to_origin, key=lambda o: (Decimal(o["net_cost"]), o["id"]), default=None)
        routed.append(
            RoutedReturn(
                return_id=return_id,
                rma=rma or str(return_id),
                chosen=option_id,
                kind=_kind_of(option_id),
                chosen_cost=_money(table, chosen["net_cost"], route["currency"], currency),
                origin_option=best["id"] if best else "",
                origin_cost=(
                    _money(table, best["net_cost"], route["currency"], currency) if best else None
                ),
            )
        )
    return RoutingSavings(currency, tuple(routed))


def dashboard(session: Session, merchant_id: int, period: Period) -> Dashboard:
    return Dashboard(
        period=period,
        currency=merchant_currency(session, merchant_id),
        returns_per_day=returns_per_day(session, merchant_id, period),
        return_rates=return_rates(session, merchant_id, period),
        reasons=reasons(session, merchant_id, period),
        refund_times=refund_times(session, merchant_id, period),
        cost=return_cost(session, merchant_id, period),
        returnless=returnless_share(session, merchant_id, period),
        savings=routing_savings(session, merchant_id, period),
    )


def _kind_of(option_id: str) -> str:
    """An option id starts with its kind: ``label:us-3pl:ratecard:ground``, ``keep_item``."""
    return option_id.split(":", 1)[0]


def _option(route: dict[str, Any] | None, option_id: str) -> dict[str, Any] | None:
    if not route:
        return None
    return next((o for o in route.get("options", []) if o.get("id") == option_id), None)


def _money(table: fx.FxTable, amount: str, currency: str, into: str) -> Money:
    money = Money.of(amount, currency)
    return money if currency == into else table.convert(money, into)


def _sum_in(table: fx.FxTable, currency: str, sums: list[tuple[str, Any]]) -> Money:
    """Per-currency sums of minor units, each converted once, added up in ``currency``."""
    total = Money.zero(currency)
    for code, minor in sums:
        money = Money.from_minor(int(minor or 0), code)
        total = total + (money if code == currency else table.convert(money, currency))
    return total
