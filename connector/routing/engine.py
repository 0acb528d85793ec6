"""Expected net cost of each way back, and the choice of the cheapest allowed one.

For a label or a drop-off to a destination::

    net_cost = shipping + handling + duties + time_cost - recovery
    recovery = Σ item value × destination resale factor × P(resale | reason, condition)

The buyer's own shipment is priced at the merchant's reimbursement cap (the most it can cost),
with the destination's handling, duties and recovery. Keeping the item, or donating it, costs
nothing to ship and recovers nothing, so its net cost is zero. All amounts are converted to the
merchant's currency before they are compared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ..domain.logistics import RateQuote
from ..domain.money import Money
from ..domain.orders import Address
from ..domain.returns import Condition, Reason
from .settings import RoutingSettings

Converter = Callable[[Money, str], Money]


class OptionKind(StrEnum):
    LABEL = "label"
    DROPOFF = "dropoff"
    OWN_SHIPMENT = "own_shipment"
    KEEP_ITEM = "keep_item"
    DONATE = "donate"
    PLATFORM_LABEL = "platform_label"  # the platform gave the buyer its own return label


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


_RETURNLESS = (OptionKind.KEEP_ITEM, OptionKind.DONATE)
DEFAULT_SETTINGS = RoutingSettings()


def route(
    items: Sequence[Item],
    candidates: Sequence[Candidate],
    currency: str,
    convert: Converter,
    *,
    settings: RoutingSettings = DEFAULT_SETTINGS,
    buyer_country: str = "",
    own_shipment_to: Sequence[Destination] = (),
    returnless_granted: bool = False,
) -> Route:
    """Every option with its expected net cost in ``currency``, and the cheapest allowed.

    ``candidates`` are the carriers' quotes to each destination that serves the buyer;
    ``own_shipment_to`` the destinations a buyer may ship to themselves (priced when the
    merchant offers a reimbursement cap). ``returnless_granted`` says the policy already
    decided the buyer keeps the goods, so no value limit applies to the returnless option."""
    if not items:
        raise ValueError("a route needs at least one item")

    def money(amount: Money) -> Money:
        return amount if amount.currency == currency else convert(amount, currency)

    zero = Money.zero(currency)
    per_day = money(settings.cost_per_day) if settings.cost_per_day is not None else zero
    limit = settings.max_transit_days
    values = [money(item.value) for item in items]
    probabilities = [settings.resale.probability(item.reason, item.condition) for item in items]

    def priced(
        option_id: str,
        kind: OptionKind,
        destination: Destination,
        shipping: Money,
        days: int,
        quote: RateQuote | None = None,
    ) -> RouteOption:
        recovery = duties = zero
        for item, value, probability in zip(items, values, probabilities, strict=True):
            recovery = recovery + value * (destination.resale_factor * probability)
            duties = duties + value * item.duties(destination, buyer_country)
        too_slow = limit is not None and days > limit
        return RouteOption(
            id=option_id,
            kind=kind,
            destination=destination.id,
            carrier=quote.carrier if quote else "",
            service=quote.service if quote else "",
            account=quote.account if quote else "",
            shipping=shipping,
            handling=money(destination.handling),
            duties=duties,
            recovery=recovery,
            time_cost=per_day * days,
            transit_days=days,
            allowed=not too_slow,
            why_not=f"takes up to {days} days, over the limit of {limit}" if too_slow else "",
        )

    options = [
        priced(
            f"{c.kind.value}:{c.destination.id}:{c.quote.carrier}:{c.quote.service}",
            c.kind,
            c.destination,
            money(c.quote.price),
            c.quote.transit_days_max,
            c.quote,
        )
        for c in candidates
    ]
    if settings.own_shipment_cap is not None:
        cap = money(settings.own_shipment_cap)
        options += [
            priced(
                f"{OptionKind.OWN_SHIPMENT.value}:{destination.id}",
                OptionKind.OWN_SHIPMENT,
                destination,
                cap,
                settings.own_shipment_days,
            )
            for destination in own_shipment_to
        ]
    goods_value = sum(values, zero)
    value_limit = (
        money(settings.keep_item_max_value)
        if settings.keep_item_max_value is not None and not returnless_granted
        else None
    )
    for kind in _RETURNLESS:
        if kind.value != settings.returnless:
            why_not = f"the merchant resolves returnless returns as {settings.returnless}"
        elif value_limit is not None and goods_value > value_limit:
            why_not = (
                f"the goods are worth {goods_value}, over the returnless limit of {value_limit}"
            )
        else:
            why_not = ""
        options.append(
            RouteOption(
                id=kind.value,
                kind=kind,
                destination="",
                carrier="",
                service="",
                shipping=zero,
                handling=zero,
                duties=zero,
                recovery=zero,
                time_cost=zero,
                transit_days=0,
                allowed=not why_not,
                why_not=why_not,
            )
        )
    allowed = [option for option in options if option.allowed]
    if not allowed:
        raise NoRoute("no option is allowed for this return")
    best = min(allowed, key=lambda o: (o.net_cost.amount, o.transit_days, o.id))
    return Route(best.id, currency, tuple(options))
