"""Expected net cost of each way back, and the choice of the cheapest allowed one.

For a label or a drop-off to a destination::

    net_cost = shipping + handling + duties + time_cost - recovery
    recovery = Σ item value × destination resale factor × P(resale | reason, condition)

Keeping the item costs nothing to ship and recovers nothing, so its net cost is zero. All
amounts are converted to the merchant's currency before they are compared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from ..domain.logistics import RateQuote
from ..domain.money import Money
from ..domain.orders import Address
from ..domain.returns import Condition, Reason

Converter = Callable[[Money, str], Money]


class OptionKind(StrEnum):
    LABEL = "label"
    DROPOFF = "dropoff"
    OWN_SHIPMENT = "own_shipment"
    KEEP_ITEM = "keep_item"
    DONATE = "donate"


@dataclass(frozen=True, slots=True)
class Destination:
    id: str
    name: str
    kind: str  # origin | warehouse | hub
    address: Address
    handling: Money
    resale_factor: Decimal
    countries: frozenset[str] = frozenset()  # empty: serves every country
    # import duty and tax, as a share of the goods' value, when goods enter its country
    duty_rate: Decimal = Decimal(0)

    def serves(self, country: str) -> bool:
        return not self.countries or country in self.countries


@dataclass(frozen=True, slots=True)
class Item:
    value: Money  # unit price × quantity returned
    reason: Reason
    condition: Condition
    exported_from: str = ""  # the country the goods were first shipped from
    export_reference: str = ""  # the original export declaration, for returned-goods relief

    def duties(self, destination: Destination, buyer_country: str) -> Decimal:
        """The share of the value at risk as import duty and tax on the way back: none within
        one country, none under returned-goods relief (goods going back to the country that
        exported them, with the export reference on the papers), else the destination's rate."""
        if destination.address.country == buyer_country:
            return Decimal(0)
        if self.export_reference and self.exported_from == destination.address.country:
            return Decimal(0)
        return destination.duty_rate


@dataclass(frozen=True, slots=True)
class Candidate:
    """A quoted way to one destination: a label, or a QR code for a drop-off point."""

    destination: Destination
    quote: RateQuote
    kind: OptionKind = OptionKind.LABEL


@dataclass(frozen=True, slots=True)
class ResaleTable:
    """P(resale) by condition, scaled by reason; merchants will edit their own copy."""

    by_condition: Mapping[Condition, Decimal]
    reason_factor: Mapping[Reason, Decimal] = field(default_factory=dict)

    def probability(self, reason: Reason, condition: Condition) -> Decimal:
        base = self.by_condition.get(condition, Decimal(0))
        return base * self.reason_factor.get(reason, Decimal(1))


DEFAULT_RESALE_TABLE = ResaleTable(
    by_condition={
        Condition.UNUSED: Decimal("0.90"),
        Condition.OPENED: Decimal("0.75"),
        Condition.USED: Decimal("0.40"),
        Condition.DAMAGED: Decimal("0.05"),
    },
    reason_factor={
        Reason.DEFECTIVE: Decimal("0.20"),
        Reason.DAMAGED_IN_TRANSIT: Decimal("0.30"),
        Reason.NOT_AS_DESCRIBED: Decimal("0.80"),
        Reason.WRONG_ITEM: Decimal("0.90"),
    },
)


@dataclass(frozen=True, slots=True)
class RouteOption:
    id: str
    kind: OptionKind
    destination: str  # destination id, "" for keep-item
    carrier: str
    service: str
    shipping: Money
    handling: Money
    duties: Money
    recovery: Money
    time_cost: Money
    transit_days: int
    allowed: bool = True
    why_not: str = ""
    account: str = ""  # the carrier account that quoted, so the label is bought on the same

    @property
    def net_cost(self) -> Money:
        return self.shipping + self.handling + self.duties + self.time_cost - self.recovery

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "destination": self.destination,
            "carrier": self.carrier,
            "service": self.service,
            "shipping": str(self.shipping.amount),
            "handling": str(self.handling.amount),
            "duties": str(self.duties.amount),
            "recovery": str(self.recovery.amount),
            "time_cost": str(self.time_cost.amount),
            "net_cost": str(self.net_cost.amount),
            "transit_days": self.transit_days,
            "allowed": self.allowed,
            "why_not": self.why_not,
            "account": self.account,
        }


@dataclass(frozen=True, slots=True)
class Route:
    chosen: str
    currency: str
    options: tuple[RouteOption, ...]

    @property
    def chosen_option(self) -> RouteOption:
        return next(option for option in self.options if option.id == self.chosen)

    def as_dict(self) -> dict[str, object]:
        return {
            "chosen": self.chosen,
            "currency": self.currency,
            "options": [option.as_dict() for option in self.options],
        }

    def explain(self) -> str:
        chosen = self.chosen_option
        return (
            f"Chose {chosen.id}: net {chosen.net_cost} = shipping {chosen.shipping.amount} + "
            f"handling {chosen.handling.amount} + duties {chosen.duties.amount} + time "
            f"{chosen.time_cost.amount} - recovery {chosen.recovery.amount}, the lowest of "
            f"{sum(1 for o in self.options if o.allowed)} allowed options."
        )


class NoRoute(ValueError):
    """No option is allowed for this return."""


def route(
    items: list[Item],
    candidates: list[Candidate],
    currency: str,
    convert: Converter,
    *,
    resale: ResaleTable = DEFAULT_RESALE_TABLE,
    keep_item_allowed: bool = True,
    max_transit_days: int | None = None,
    buyer_country: str = "",
    cost_per_day: Money | None = None,
) -> Route:
    """Every option with its expected net cost in ``currency``, and the cheapest allowed.

    ``cost_per_day`` prices the wait until the refund (support contacts, a buyer's goodwill),
    charged for each day in transit."""
    if not items:
        raise ValueError("a route needs at least one item")

    def money(amount: Money) -> Money:
        return amount if amount.currency == currency else convert(amount, currency)

    zero = Money.zero(currency)
    per_day = money(cost_per_day) if cost_per_day is not None else zero
    options: list[RouteOption] = []
    for candidate in candidates:
        destination, quote = candidate.destination, candidate.quote
        recovery = duties = zero
        for item in items:
            probability = resale.probability(item.reason, item.condition)
            value = money(item.value)
            recovery = recovery + value * (destination.resale_factor * probability)
            duties = duties + value * item.duties(destination, buyer_country)
        too_slow = max_transit_days is not None and quote.transit_days_max > max_transit_days
        options.append(
            RouteOption(
                id=f"{candidate.kind.value}:{destination.id}:{quote.carrier}:{quote.service}",
                kind=candidate.kind,
                destination=destination.id,
                carrier=quote.carrier,
                service=quote.service,
                shipping=money(quote.price),
                handling=money(destination.handling),
                duties=duties,
                recovery=recovery,
                time_cost=per_day * quote.transit_days_max,
                transit_days=quote.transit_days_max,
                account=quote.account,
                allowed=not too_slow,
                why_not=f"takes up to {quote.transit_days_max} days, over the limit of "
                f"{max_transit_days}"
                if too_slow
                else "",
            )
        )
    options.append(
        RouteOption(
            id=OptionKind.KEEP_ITEM.value,
            kind=OptionKind.KEEP_ITEM,
            destination="",
            carrier="",
            service="",
            shipping=zero,
            handling=zero,
            duties=zero,
            recovery=zero,
            time_cost=zero,
            transit_days=0,
            allowed=keep_item_allowed,
            why_not="" if keep_item_allowed else "the policy does not allow keeping the item",
        )
    )
    allowed = [option for option in options if option.allowed]
    if not allowed:
        raise NoRoute("no option is allowed for this return")
    best = min(allowed, key=lambda o: (o.net_cost.amount, o.transit_days, o.id))
    return Route(best.id, currency, tuple(options))
