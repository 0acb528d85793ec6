"""What the buyer is offered for a draft, before anything is stored.

The policy decides the draft's lines with the ``rules.decide`` the pipeline decides returns
with, over the same order and the buyer's history, counting each line's photos; routing prices
the ways back for the lines that may come back with the ``route_goods`` the pipeline calls once
a return is approved. From those come the
resolutions every such line allows (refund, store credit with its bonus, or an exchange for
another variant where the platform offers one for every such line, at the price paid) and the
ways back, the one routing chooses first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db import models
from ...db.mapping import order_from_row
from ...domain import Condition, Money, Reason, ReturnLine, ReturnRequest
from ...errors import PermanentError
from ...ports import Variant
from ...routing import Item, NoRoute, OptionKind, RouteOption
from ...rules import decide
from ...rules.engine import LineDecision
from ...rules.policy import Outcome, Resolution
from ...services import fx, policies
from ...services.logistics import CarrierFor, Goods, parcel_of, reimbursement_cap, route_goods
from .drafts import Draft

OFFERED = (Resolution.REFUND.value, Resolution.STORE_CREDIT.value, Resolution.EXCHANGE.value)

# an order line's variants the buyer may take instead, or None: the platform has no exchanges
VariantsFor = Callable[[models.OrderLine], list[Variant] | None]


@dataclass(frozen=True)
class LineOffer:
    line: models.OrderLine
    quantity: int
    reason: str
    condition: str
    photos: int
    decision: LineDecision
    value: Money  # unit price × quantity, in the order's currency
    fee: Money | None  # the restocking fee kept from the refund
    days_since_delivery: int | None

    @property
    def live(self) -> bool:
        """Accepted, or waiting for a person: the line may come back."""
        return self.decision.outcome is not Outcome.DECLINE


@dataclass(frozen=True)
class WayBack:
    kind: str  # an OptionKind value
    country: str  # where the parcel goes; "" when nothing is sent
    days: int
    postage: Money  # what the shop expects to pay, in the order's currency
    cap: Money | None  # own shipment: the most the shop pays back
    recommended: bool


@dataclass(frozen=True)
class Offer:
    lines: tuple[LineOffer, ...]
    resolutions: tuple[str, ...]  # what the buyer may choose, refund first
    refund: Money  # what the live lines are worth back, fees kept
    bonus: Money  # added when the buyer takes store credit
    ways: tuple[WayBack, ...]
    refund_trigger: str  # first_scan | received | inspected: when the money leaves
    # with an exchange on offer: each live line's variants to choose from, by order line id
    variants: dict[int, tuple[Variant, ...]] = field(default_factory=dict)

    @property
    def any_live(self) -> bool:
        return any(line.live for line in self.lines)

    @property
    def returnless(self) -> bool:
        live = [line for line in self.lines if line.live]
        return bool(live) and all(line.decision.returnless for line in live)

    @property
    def in_review(self) -> bool:
        return any(line.decision.outcome is Outcome.REVIEW for line in self.lines)


def make_offer(
    session: Session,
    order: models.Order,
    draft: Draft,
    carrier_for: CarrierFor,
    variants_for: VariantsFor = lambda line: None,
) -> Offer:
    now = datetime.now(UTC)
    lines_by_id = {line.id: line for line in order.lines}
    request = ReturnRequest(
        order_external_id=order.external_id,
        lines=tuple(
            ReturnLine(
                lines_by_id[chosen.line_id].external_id,
                chosen.quantity,
                Reason(chosen.reason),
                Condition(chosen.condition),
                photo_count=draft.photos_of(chosen.line_id),
            )
            for chosen in draft.lines
        ),
        requested_at=now,
        note=draft.note,
    )
    # the return as it would be stored, never added to the session: what the policy's facts
    # about the buyer's history and the reimbursement cap are read from
    unsaved = models.Return(
        merchant_id=order.merchant_id, store_id=order.store_id, order=order, requested_at=now
    )
    policy, _ = policies.current(session, order.merchant_id)
    table = fx.load(session)
    decision = decide(
        request,
        order_from_row(order),
        policy,
        now.date(),
        convert=table.convert,
        context=policies.context_for(session, unsaved),
    )
    currency = order.currency
    offers = []
    for chosen, decided in zip(draft.lines, decision.lines, strict=True):
        ordered = lines_by_id[chosen.line_id]
        delivered = ordered.delivered_at or order.delivered_at
        fee = decided.restocking_fee
        offers.append(
            LineOffer(
                line=ordered,
                quantity=chosen.quantity,
                reason=chosen.reason,
                condition=chosen.condition,
                photos=draft.photos_of(chosen.line_id),
                decision=decided,
                value=Money.from_minor(ordered.unit_price_minor, currency) * chosen.quantity,
                fee=fee if fee is None or fee.currency == currency else None,
                days_since_delivery=(now.date() - delivered.date()).days if delivered else None,
            )
        )
    live = [line for line in offers if line.live]
    refund = bonus = Money.zero(currency)
    for offered in live:
        kept = offered.value
        if offered.fee is not None and offered.fee <= kept:
            kept = kept - offered.fee
        refund = refund + kept
        bonus = bonus + kept * (offered.decision.bonus_credit_percent / Decimal(100))
    allowed = [
        value
        for value in OFFERED
        if live and all(value in {r.value for r in line.decision.resolutions} for line in live)
    ]
    variants: dict[int, tuple[Variant, ...]] = {}
    if Resolution.EXCHANGE.value in allowed:  # and the platform has something to send
        for offered in live:
            variants[offered.line.id] = tuple(variants_for(offered.line) or ())
        if not all(variants.values()):
            allowed.remove(Resolution.EXCHANGE.value)
            variants = {}
    allowed = allowed or ([Resolution.REFUND.value] if live else [])
    if Resolution.STORE_CREDIT.value not in allowed:
        bonus = Money.zero(currency)
    ways = _ways_back(session, order, live, unsaved, carrier_for) if live else ()
    return Offer(
        tuple(offers),
        tuple(allowed),
        refund,
        bonus,
        ways,
        decision.refund_trigger.value,
        variants,
    )


def _ways_back(
    session: Session,
    order: models.Order,
    live: list[LineOffer],
    unsaved: models.Return,
    carrier_for: CarrierFor,
) -> tuple[WayBack, ...]:
    """The allowed ways back for the live lines, the cheapest of each kind, routing's choice
    first and the others by cost."""
    currency = order.currency
    goods = Goods(
        items=tuple(
            Item(
                line.value,
                Reason(line.reason),
                Condition(line.condition),
                exported_from=order.shipped_from or line.line.origin_country,
                export_reference=order.export_reference,
            )
            for line in live
        ),
        parcel=parcel_of(
            [
                (
                    Decimal(line.line.weight_g) / 1000,
                    [Decimal(v) / 10 for v in (line.line.dimensions_mm or [200, 150, 50])],
                    line.quantity,
                )
                for line in live
            ]
        ),
        declared_value=sum((line.value for line in live), Money.zero(currency)),
        reference="portal",
    )
    try:
        plan = route_goods(
            session,
            order.merchant_id,
            order.shipping_address,
            goods,
            carrier_for,
            returnless=all(line.decision.returnless for line in live),
        )
    except NoRoute:
        return ()
    table = fx.load(session)

    def in_order_currency(amount: Money) -> Money:
        if amount.currency == currency:
            return amount
        try:
            return table.convert(amount, currency)
        except PermanentError:  # no rate: show what routing priced
            return amount

    countries: dict[str, dict[str, Any]] = dict(
        session.execute(
            select(models.Destination.code, models.Destination.address).where(
                models.Destination.merchant_id == order.merchant_id
            )
        ).all()
    )
    allowed = [option for option in plan.route.options if option.allowed]
    allowed.sort(key=lambda o: (o.id != plan.route.chosen, o.net_cost.amount, o.transit_days, o.id))
    # buyers tell ways back apart by their kind, not by the carrier's service
    best_of_kind: dict[OptionKind, RouteOption] = {}
    for option in allowed:
        best_of_kind.setdefault(option.kind, option)
    cap = reimbursement_cap(session, unsaved)
    return tuple(
        WayBack(
            kind=option.kind.value,
            country=str((countries.get(option.destination) or {}).get("country", "")),
            days=option.transit_days,
            postage=in_order_currency(option.shipping),
            cap=cap if option.kind is OptionKind.OWN_SHIPMENT else None,
            recommended=option.id == plan.route.chosen,
        )
        for option in best_of_kind.values()
    )
