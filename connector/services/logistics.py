"""Routing, fulfilment and tracking: the way back for an approved return.

Carrier calls happen outside the transaction that stores their result, so no database lock is
held while a carrier answers. A label is bought with the idempotency key ``label:<return id>``,
so a retried job gets the same label back instead of a second one.

A parcel on the platform's own prepaid label is followed through the merchant's aggregator
account (Shippo, EasyPost) when one can track its carrier where it is posted
(``tracking_carriers``); otherwise its scans are the platform's, and arrive with the parcel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from ..db import models
from ..db.mapping import address_from_dict
from ..db.types import utcnow
from ..domain import (
    Condition,
    Label,
    Money,
    Parcel,
    RateQuote,
    Reason,
    Shipment,
    Status,
    TrackingEvent,
    TrackingStatus,
)
from ..domain.events import EventKind
from ..errors import NothingToDo, PermanentError, RetryableError, ValidationError
from ..papers import CustomsLine, CustomsPapers, render_customs_invoice
from ..routing import (
    Candidate,
    Destination,
    Item,
    OptionKind,
    Route,
    RouteOption,
    RoutingSettings,
    route,
)
from . import fx, outbox, tracking_carriers
from .common import FollowUp, lock_return, move, record
from .destinations import routing_settings
from .refunds import request_refund

log = logging.getLogger(__name__)

CarrierFor = Callable[[models.CarrierAccount], Any]

PACKAGING_KG = Decimal("0.15")


def approved_lines(return_: models.Return) -> list[models.ReturnLine]:
    return [line for line in return_.lines if line.outcome == "approve"]


def buyer_address(return_: models.Return) -> dict[str, Any]:
    return return_.buyer_address or return_.order.shipping_address


def parcel_for(return_: models.Return) -> Parcel:
    """One parcel holding every approved unit."""
    return parcel_of(
        [
            (
                Decimal(line.order_line.weight_g) / 1000,
                [Decimal(v) / 10 for v in (line.order_line.dimensions_mm or [200, 150, 50])],
                line.quantity,
            )
            for line in approved_lines(return_)
        ]
    )


def parcel_of(units: list[tuple[Decimal, list[Decimal], int]]) -> Parcel:
    """A parcel for (weight kg, [length, width, height] cm, quantity) lines: summed weight
    plus packaging, the largest footprint, the heights stacked."""
    weight = PACKAGING_KG
    length = width = height = Decimal(0)
    for unit_weight, dims, quantity in units:
        weight += unit_weight * quantity
        length, width = max(length, dims[0]), max(width, dims[1])
        height += dims[2] * quantity
    return Parcel(weight, max(length, Decimal(1)), max(width, Decimal(1)), max(height, Decimal(1)))


def destination_of(row: models.Destination) -> Destination:
    return Destination(
        id=row.code,
        name=row.name,
        kind=row.kind,
        address=address_from_dict(row.address),
        handling=Money.from_minor(row.handling_minor, row.currency),
        resale_factor=Decimal(row.resale_factor),
        countries=frozenset(row.countries or ()),
        duty_rate=Decimal(row.duty_rate or "0"),
    )


def shipment_for(return_: models.Return, destination: Destination) -> Shipment:
    lines = approved_lines(return_)
    currency = return_.order.currency
    value = Money.zero(currency)
    for line in lines:
        value = value + Money.from_minor(line.order_line.unit_price_minor, currency) * line.quantity
    return Shipment(
        reference=return_.rma or str(return_.id),
        from_address=address_from_dict(buyer_address(return_)),
        to_address=destination.address,
        parcel=parcel_for(return_),
        declared_value=value,
        export_reference=return_.order.export_reference,
    )


@dataclass(frozen=True)
class Plan:
    route: Route
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Goods:
    """What is coming back, as routing needs it: the items, the parcel, the declared value."""

    items: tuple[Item, ...]
    parcel: Parcel
    declared_value: Money
    reference: str


def plan_route(session: Session, return_id: int, carrier_for: CarrierFor) -> Plan:
    """Quote every carrier account to every destination that serves the buyer, and choose."""
    return_ = session.get(models.Return, return_id)
    if return_ is None or return_.status != Status.APPROVED or return_.route:
        raise NothingToDo(f"return {return_id} needs no route")
    given = platform_label(session, return_)
    if given is not None:
        return _on_platform_label(session, return_, given)
    lines = approved_lines(return_)
    currency = return_.order.currency
    value = Money.zero(currency)
    for line in lines:
        value = value + Money.from_minor(line.order_line.unit_price_minor, currency) * line.quantity
    order = return_.order
    goods = Goods(
        items=tuple(
            Item(
                Money.from_minor(line.order_line.unit_price_minor, line.order_line.currency)
                * line.quantity,
                Reason(line.reason),
                Condition(line.condition),
                exported_from=order.shipped_from or line.order_line.origin_country,
                export_reference=order.export_reference,
            )
            for line in lines
        ),
        parcel=parcel_for(return_),
        declared_value=value,
        reference=return_.rma or str(return_.id),
    )
    return route_goods(
        session,
        return_.merchant_id,
        buyer_address(return_),
        goods,
        carrier_for,
        returnless=return_.returnless,
    )


def platform_label(session: Session, return_: models.Return) -> dict[str, Any] | None:
    """The return label the platform already gave the buyer (Amazon's prepaid label for a
    seller-fulfilled return), as the request recorded it: ``carrier``, ``tracking_number`` and
    ``cost`` when the seller pays it. None when Helloword is to find the way back."""
    requested = session.scalar(
        select(models.LedgerEvent.payload)
        .where(
            models.LedgerEvent.return_id == return_.id,
            models.LedgerEvent.kind == EventKind.RETURN_REQUESTED.value,
        )
        .order_by(models.LedgerEvent.seq)
        .limit(1)
    )
    label = (requested or {}).get("platform_label")
    return label if isinstance(label, dict) and label.get("tracking_number") else None


def _on_platform_label(session: Session, return_: models.Return, label: dict[str, Any]) -> Plan:
    """The one way back there is: the platform's label. Nothing to compare or buy; its cost,
    when the seller pays it, is the shipping."""
    merchant = session.get(models.Merchant, return_.merchant_id)
    assert merchant is not None
    currency = merchant.currency
    zero = Money.zero(currency)
    cost = label.get("cost")
    shipping = zero
    if cost:
        shipping = Money.of(cost["amount"], cost["currency"])
        if shipping.currency != currency:
            shipping = fx.load(session).convert(shipping, currency)
    option = RouteOption(
        id=OptionKind.PLATFORM_LABEL.value,
        kind=OptionKind.PLATFORM_LABEL,
        destination="",
        carrier=str(label.get("carrier", "")),
        service="",
        shipping=shipping,
        handling=zero,
        duties=zero,
        recovery=zero,
        time_cost=zero,
        transit_days=0,
    )
    return Plan(
        Route(option.id, currency, (option,)),
        ("the buyer ships on the return label the platform gave them",),
    )


def route_goods(
    session: Session,
    merchant_id: int,
    address: dict[str, Any],
    goods: Goods,
    carrier_for: CarrierFor,
    *,
    returnless: bool = False,
    settings: RoutingSettings | None = None,
) -> Plan:
    """Every way back for ``goods`` from the buyer at ``address``, priced and chosen: what a
    stored return and the routing preview both ask. ``settings`` defaults to the merchant's."""
    merchant = session.get(models.Merchant, merchant_id)
    assert merchant is not None
    settings = settings or routing_settings(session, merchant_id)
    buyer = address_from_dict(address)
    accounts = session.scalars(
        select(models.CarrierAccount).where(
            models.CarrierAccount.merchant_id == merchant.id, models.CarrierAccount.active
        )
    ).all()
    destinations = session.scalars(
        select(models.Destination).where(
            models.Destination.merchant_id == merchant.id, models.Destination.active
        )
    ).all()
    candidates: list[Candidate] = []
    serving: list[Destination] = []
    notes: list[str] = []
    if returnless:  # the policy lets the buyer keep the goods: no way back to price
        destinations = []
        notes.append("the policy grants a returnless refund")
    for row in destinations:
        destination = destination_of(row)
        if not destination.serves(buyer.country):
            continue
        serving.append(destination)
        shipment = Shipment(
            reference=goods.reference,
            from_address=buyer,
            to_address=destination.address,
            parcel=goods.parcel,
            declared_value=goods.declared_value,
            export_reference=next(
                (i.export_reference for i in goods.items if i.export_reference), ""
            ),
        )
        for account in accounts:
            if account.destination_id not in (None, row.id):
                continue
            try:
                carrier = carrier_for(account)
                kind = OptionKind(getattr(carrier, "option_kind", OptionKind.LABEL.value))
                quotes: list[RateQuote] = carrier.quote(shipment)
            except (PermanentError, RetryableError) as error:
                # a carrier that fails is left out of this quote, and says why in the route
                notes.append(f"{account.name}: {error}")
                continue
            candidates.extend(Candidate(destination, quote, kind) for quote in quotes)
    chosen = route(
        list(goods.items),
        candidates,
        merchant.currency,
        fx.load(session).convert,
        settings=settings,
        buyer_country=buyer.country,
        own_shipment_to=serving,
        returnless_granted=returnless,
    )
    return Plan(chosen, tuple(notes))


def save_route(session: Session, return_id: int, plan: Plan) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    if return_.status != Status.APPROVED or return_.route:
        raise NothingToDo(f"return {return_.rma} was routed already")
    chosen = plan.route.chosen_option
    return_.route = {**plan.route.as_dict(), "notes": list(plan.notes)}
    return_.route_option = chosen.id
    return_.returnless = chosen.kind in (OptionKind.KEEP_ITEM, OptionKind.DONATE)
    record(
        session,
        return_,
        EventKind.RETURN_ROUTED,
        {
            "chosen": chosen.id,
            "net_cost": str(chosen.net_cost),
            "explanation": plan.route.explain(),
        },
    )
    return [FollowUp("fulfil_return", (return_.id,), f"fulfil_return:{return_.id}")]


@dataclass(frozen=True)
class Purchase:
    """What fulfilment needs to buy outside a transaction: the carrier call and its inputs."""

    account_id: int
    destination_id: int
    shipment: Shipment
    quote: RateQuote
    kind: OptionKind
    key: str


def chosen_option(return_: models.Return) -> dict[str, Any]:
    """The stored route's chosen option, as the route records it."""
    return next(o for o in (return_.route or {})["options"] if o["id"] == return_.route_option)


def plan_fulfilment(session: Session, return_id: int) -> Purchase | None:
    """The label or code to buy, or None when nothing is bought: a returnless resolution, or
    the buyer's own shipment (``fulfil_without_label``)."""
    return_ = session.get(models.Return, return_id)
    if return_ is None or return_.status != Status.APPROVED or not return_.route:
        raise NothingToDo(f"return {return_id} is not waiting for fulfilment")
    option = chosen_option(return_)
    if return_.returnless or option["kind"] in _NOTHING_TO_BUY:
        return None
    destination = session.scalar(
        select(models.Destination).where(
            models.Destination.merchant_id == return_.merchant_id,
            models.Destination.code == option["destination"],
        )
    )
    if destination is None:
        raise PermanentError(f"destination {option['destination']} no longer exists")
    account = session.scalar(
        select(models.CarrierAccount).where(
            models.CarrierAccount.merchant_id == return_.merchant_id,
            models.CarrierAccount.name == option.get("account", ""),
            models.CarrierAccount.carrier == option["carrier"],
            models.CarrierAccount.active,
        )
    )
    if account is None:
        raise PermanentError(
            f"the {option['carrier']} account {option.get('account')!r} that quoted this route "
            "is gone or inactive"
        )
    shipment = shipment_for(return_, destination_of(destination))
    quote = RateQuote(
        carrier=option["carrier"],
        service=option["service"],
        account=account.name,
        price=Money.of(option["shipping"], return_.route["currency"]),
        transit_days_min=0,
        transit_days_max=int(option["transit_days"]),
    )
    return Purchase(
        account.id,
        destination.id,
        shipment,
        quote,
        OptionKind(option["kind"]),
        f"label:{return_.id}",
    )


def record_purchase(
    session: Session, return_id: int, purchase: Purchase, retrying: bool = False
) -> None:
    """The carrier call about to be made, in the outbox under its idempotency key and claimed
    by this job, so a second job for the same return does not buy a second label."""
    return_ = lock_return(session, return_id)
    if return_.status != Status.APPROVED:
        raise NothingToDo(f"return {return_.rma} has its label already")
    action, _ = outbox.add(
        session,
        return_,
        "buy_label",
        purchase.key,
        {
            "carrier": purchase.quote.carrier,
            "service": purchase.quote.service,
            "account": purchase.quote.account,
        },
        target="carrier",
    )
    outbox.claim(action, retrying)


def purchase_failed(
    session: Session, purchase: Purchase, error: str, retry_in: float | None = None
) -> None:
    action = session.scalar(
        select(models.OutboundAction).where(models.OutboundAction.idempotency_key == purchase.key)
    )
    if action is None:
        return
    if retry_in is None:
        outbox.release(action, "failed", error)
    else:
        outbox.hold(action, error, retry_in)


def store_label(
    session: Session, files: Any, return_id: int, purchase: Purchase, label: Label
) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    if return_.status != Status.APPROVED:
        raise NothingToDo(f"return {return_.rma} has its label already")
    action = session.scalar(
        select(models.OutboundAction).where(models.OutboundAction.idempotency_key == purchase.key)
    )
    if action is not None:
        outbox.release(action, "done")
        action.result = {"tracking_number": label.tracking_number, "price": str(label.price)}
    shipment = models.Shipment(
        return_id=return_.id,
        kind=purchase.kind.value,
        destination_id=purchase.destination_id,
        carrier=label.carrier,
        service=label.service,
        tracking_number=label.tracking_number,
        external_id=label.external_id,
        account=purchase.quote.account,
        tracking_carrier=label.tracking_carrier,
        status=TrackingStatus.LABEL_CREATED.value,
        price_minor=label.price.minor,
        currency=label.price.currency,
    )
    session.add(shipment)
    session.flush()
    base = f"labels/{return_.rma}/{label.tracking_number}"
    papers = customs_papers(return_, purchase.shipment, label)
    invoice = render_customs_invoice(papers) if papers else b""
    for fmt, data in (
        ("pdf", label.pdf),
        ("zpl", label.zpl.encode()),
        ("png", label.qr_png),
        ("invoice", invoice),
    ):
        if data:
            session.add(
                models.LabelFile(
                    shipment_id=shipment.id, format=fmt, path=files.write(f"{base}.{fmt}", data)
                )
            )
    kind = (
        EventKind.DROPOFF_CODE_ISSUED
        if purchase.kind is OptionKind.DROPOFF
        else EventKind.LABEL_ISSUED
    )
    move(
        session,
        return_,
        Status.AWAITING_SHIPMENT,
        kind,
        {
            "carrier": label.carrier,
            "service": label.service,
            "tracking_number": label.tracking_number,
            "price": str(label.price),
        },
    )
    return outbox.publish(
        session,
        return_,
        "attach_label",
        {
            "tracking_number": label.tracking_number,
            "carrier": label.carrier,
            # the printable label: the PDF, or the format the carrier sent when not a PDF
            "label_path": f"{base}.pdf"
            if label.pdf
            else f"{base}.png"
            if label.qr_png
            else f"{base}.zpl",
        },
    )


def customs_papers(
    return_: models.Return, shipment: Shipment, label: Label
) -> CustomsPapers | None:
    """The commercial invoice / CN23 a cross-border return travels with; None at home."""
    if shipment.from_address.country == shipment.to_address.country:
        return None
    currency = return_.order.currency
    lines = tuple(
        CustomsLine(
            description=line.order_line.title or line.order_line.sku or "Returned item",
            quantity=line.quantity,
            unit_value=Money.from_minor(line.order_line.unit_price_minor, currency),
            hs_code=line.order_line.hs_code,
            origin_country=line.order_line.origin_country,
            weight_kg=Decimal(line.order_line.weight_g) / 1000 * line.quantity,
        )
        for line in approved_lines(return_)
    )
    if not lines:
        return None
    return CustomsPapers(
        rma=return_.rma or str(return_.id),
        invoice_number=f"INV-{return_.rma or return_.id}",
        date=utcnow().date(),
        sender=shipment.from_address,
        recipient=shipment.to_address,
        lines=lines,
        currency=currency,
        order_number=return_.order.number,
        export_reference=return_.order.export_reference,
        tracking_number=label.tracking_number,
        carrier=f"{label.carrier} {label.service}",
        gross_weight_kg=max(
            shipment.parcel.weight_kg, sum((c.weight_kg for c in lines), Decimal(0))
        ),
    )


_NOTHING_TO_BUY = (OptionKind.OWN_SHIPMENT.value, OptionKind.PLATFORM_LABEL.value)


def fulfil_without_label(session: Session, return_id: int) -> list[FollowUp]:
    """A route that buys nothing: the returnless refund, instructions for the buyer's own
    shipment, or the label the platform gave the buyer."""
    return_ = lock_return(session, return_id)
    if (
        return_.status == Status.APPROVED
        and return_.route
        and chosen_option(return_)["kind"] == OptionKind.PLATFORM_LABEL.value
    ):
        return _ship_on_platform_label(session, return_)
    if (
        return_.status == Status.APPROVED
        and not return_.returnless
        and return_.route
        and chosen_option(return_)["kind"] == OptionKind.OWN_SHIPMENT.value
    ):
        return _request_own_shipment(session, return_)
    return grant_returnless(session, return_id)


def grant_returnless(session: Session, return_id: int) -> list[FollowUp]:
    return_ = lock_return(session, return_id)
    if return_.status != Status.APPROVED or not return_.returnless:
        raise NothingToDo(f"return {return_.rma} is not a returnless approval")
    if session.scalar(select(models.Refund.id).where(models.Refund.return_id == return_.id)):
        raise NothingToDo(f"return {return_.rma} was granted its returnless refund already")
    kind = return_.route_option if return_.route_option in ("keep_item", "donate") else "keep_item"
    record(
        session,
        return_,
        EventKind.RETURNLESS_GRANTED,
        {
            "route": return_.route_option,
            "buyer": "donates the item" if kind == "donate" else "keeps the item",
        },
    )
    return request_refund(session, return_, trigger="returnless")


def _ship_on_platform_label(session: Session, return_: models.Return) -> list[FollowUp]:
    """Keep the platform's label as the return's shipment (bought by no one here) and wait
    for the parcel, followed through an aggregator account of the merchant's when one can
    track its carrier; polling then asks that account like any other."""
    label = platform_label(session, return_)
    if label is None:
        raise PermanentError(f"return {return_.rma} lost the platform label its route chose")
    carrier = str(label.get("carrier") or "platform").lower()
    tracking_number = str(label["tracking_number"])
    cost = label.get("cost")
    price = (
        Money.of(cost["amount"], cost["currency"]) if cost else Money.zero(return_.order.currency)
    )
    follower = parcel_follower(
        session, return_.merchant_id, carrier, str(buyer_address(return_).get("country") or "")
    )
    known = session.scalar(
        select(models.Shipment.id).where(
            models.Shipment.carrier == carrier, models.Shipment.tracking_number == tracking_number
        )
    )
    if known is None:
        session.add(
            models.Shipment(
                return_id=return_.id,
                kind=OptionKind.PLATFORM_LABEL.value,
                carrier=carrier,
                service="",
                tracking_number=tracking_number,
                account=follower.account if follower else "",
                tracking_carrier=follower.token if follower else "",
                status=TrackingStatus.LABEL_CREATED.value,
                price_minor=price.minor,
                currency=price.currency,
            )
        )
    issued: dict[str, Any] = {
        "by": "platform",
        "carrier": carrier,
        "tracking_number": tracking_number,
    }
    if follower is not None:
        issued["followed_with"] = follower.account
    move(session, return_, Status.AWAITING_SHIPMENT, EventKind.LABEL_ISSUED, issued)
    delivered = label.get("delivered_at")
    if not delivered:
        return []
    # the platform reported the parcel delivered before the return was routed
    moment = datetime.fromisoformat(str(delivered))
    return record_platform_delivery(session, return_.id, moment, return_.store.platform)


@dataclass(frozen=True)
class Follower:
    """The carrier account that follows a parcel another carrier moves, and the token that
    account knows the carrier by."""

    account: str
    token: str


def parcel_follower(
    session: Session, merchant_id: int, carrier: str, country: str
) -> Follower | None:
    """The merchant's first active aggregator account (oldest first) that can track
    ``carrier`` (the platform's name for it) on a parcel posted in ``country``; None, said in
    the log, when no account can, and the parcel's scans are left to the platform."""
    table = tracking_carriers.load()
    accounts = session.scalars(
        select(models.CarrierAccount)
        .where(
            models.CarrierAccount.merchant_id == merchant_id,
            models.CarrierAccount.active,
            models.CarrierAccount.carrier.in_(sorted(table.aggregators)),
        )
        .order_by(models.CarrierAccount.id)
    ).all()
    for account in accounts:
        token = table.token(account.carrier, carrier, country)
        if token:
            return Follower(account.name, token)
    if accounts:
        log.warning(
            "merchant %s: no aggregator account tracks %r posted in %s (%s); the parcel on "
            "the platform's label is left to the platform",
            merchant_id,
            carrier,
            country or "an unknown country",
            ", ".join(account.name for account in accounts),
        )
    else:
        log.info(
            "merchant %s has no aggregator account; the parcel on the platform's %r label is "
            "left to the platform",
            merchant_id,
            carrier,
        )
    return None


def _request_own_shipment(session: Session, return_: models.Return) -> list[FollowUp]:
    """Tell the buyer where to send the parcel and how much postage is reimbursed."""
    option = chosen_option(return_)
    destination = session.scalar(
        select(models.Destination).where(
            models.Destination.merchant_id == return_.merchant_id,
            models.Destination.code == option["destination"],
        )
    )
    if destination is None:
        raise PermanentError(f"destination {option['destination']} no longer exists")
    cap = reimbursement_cap(session, return_)
    move(
        session,
        return_,
        Status.AWAITING_SHIPMENT,
        EventKind.OWN_SHIPMENT_REQUESTED,
        {
            "destination": destination.code,
            "address": destination.address,
            "reimbursed_up_to": str(cap),
        },
    )
    return []


def reimbursement_cap(session: Session, return_: models.Return) -> Money:
    """The most the merchant pays back for the buyer's own postage, in the order's currency."""
    cap = routing_settings(session, return_.merchant_id).own_shipment_cap
    currency = return_.order.currency
    if cap is None:
        return Money.zero(currency)
    return cap if cap.currency == currency else fx.load(session).convert(cap, currency)


def record_own_shipment(
    session: Session,
    return_id: int,
    carrier: str,
    tracking_number: str,
    postage: Money,
    actor: str,
) -> list[FollowUp]:
    """The buyer sent the parcel themselves: keep the tracking number and the postage to
    reimburse (up to the merchant's cap), and put the return in transit. A buyer's own
    shipment has no carrier scan Helloword can trust, so a first-scan refund waits for
    receipt."""
    return_ = lock_return(session, return_id)
    if return_.status != Status.AWAITING_SHIPMENT or not return_.route:
        raise ValidationError(
            "status", f"return {return_.rma} is {return_.status}, not awaiting the buyer's parcel"
        )
    if chosen_option(return_)["kind"] != OptionKind.OWN_SHIPMENT.value:
        raise ValidationError("route", f"return {return_.rma} travels on a label Helloword bought")
    carrier, tracking_number = carrier.strip().lower(), tracking_number.strip()
    if not carrier or not tracking_number:
        raise ValidationError("tracking_number", "give the carrier and the tracking number")
    if postage.currency != return_.order.currency:
        raise ValidationError(
            "postage", f"expected an amount in the order's currency, {return_.order.currency}"
        )
    if postage.amount < 0:
        raise ValidationError("postage", "must not be negative")
    if session.scalar(
        select(models.Shipment.id).where(
            models.Shipment.carrier == carrier, models.Shipment.tracking_number == tracking_number
        )
    ):
        raise ValidationError("tracking_number", f"{carrier} {tracking_number} is already in use")
    option = chosen_option(return_)
    destination = session.scalar(
        select(models.Destination).where(
            models.Destination.merchant_id == return_.merchant_id,
            models.Destination.code == option["destination"],
        )
    )
    reimbursed = min(postage, reimbursement_cap(session, return_), key=lambda m: m.amount)
    session.add(
        models.Shipment(
            return_id=return_.id,
            kind=OptionKind.OWN_SHIPMENT.value,
            destination_id=destination.id if destination else None,
            carrier=carrier,
            service="",
            tracking_number=tracking_number,
            status=TrackingStatus.IN_TRANSIT.value,
            price_minor=reimbursed.minor,
            currency=reimbursed.currency,
        )
    )
    move(
        session,
        return_,
        Status.IN_TRANSIT,
        EventKind.OWN_SHIPMENT_SENT,
        {
            "carrier": carrier,
            "tracking_number": tracking_number,
            "postage": str(postage),
            "reimbursed": str(reimbursed),
        },
        actor,
    )
    return []


_ORDER = [
    TrackingStatus.LABEL_CREATED,
    TrackingStatus.DROPPED_OFF,
    TrackingStatus.IN_TRANSIT,
    TrackingStatus.OUT_FOR_DELIVERY,
    TrackingStatus.DELIVERED,
]


def record_tracking(session: Session, carrier: str, events: list[TrackingEvent]) -> list[FollowUp]:
    """Store carrier scans (each once), move the shipment forward, and let the return follow:
    the first scan puts it in transit, delivery to the destination receives it.

    ``carrier`` is who reports the scans: the shipment's own carrier (a poll, or a label the
    carrier sold), or the carrier of the account following the parcel for another carrier
    (an aggregator's webhook about a parcel on a platform's own label)."""
    follow_ups: list[FollowUp] = []
    for event in sorted(events, key=lambda e: e.occurred_at):
        shipment = _tracked_shipment(session, carrier, event.tracking_number)
        if shipment is not None:
            follow_ups += _record_scan(
                session,
                shipment,
                event,
                event.dedup_key,
                f"carrier:{carrier}",
                "delivered by carrier",
            )
    return follow_ups


def _tracked_shipment(
    session: Session, carrier: str, tracking_number: str
) -> models.Shipment | None:
    """The shipment ``carrier`` reports on: the one it carries, else the one another carrier
    moves that the return's merchant follows through an account of ``carrier``."""
    shipment = session.scalar(
        select(models.Shipment).where(
            models.Shipment.carrier == carrier, models.Shipment.tracking_number == tracking_number
        )
    )
    if shipment is not None:
        return shipment
    return session.scalar(
        select(models.Shipment)
        .join(models.Return, models.Shipment.return_id == models.Return.id)
        .join(
            models.CarrierAccount,
            and_(
                models.CarrierAccount.merchant_id == models.Return.merchant_id,
                models.CarrierAccount.name == models.Shipment.account,
            ),
        )
        .where(
            models.Shipment.tracking_number == tracking_number,
            models.Shipment.account != "",
            models.CarrierAccount.carrier == carrier,
        )
        .order_by(models.Shipment.id)
        .limit(1)
    )


def _record_scan(
    session: Session,
    shipment: models.Shipment,
    event: TrackingEvent,
    dedup_key: str,
    actor: str,
    delivered_note: str,
) -> list[FollowUp]:
    """One scan of ``shipment``, stored once under ``dedup_key``, and what it moves."""
    from .receiving import receive  # receiving builds on logistics, not the other way round

    seen = session.scalar(
        select(models.TrackingEvent.id).where(models.TrackingEvent.dedup_key == dedup_key)
    )
    if seen is not None:
        return []
    session.add(
        models.TrackingEvent(
            shipment_id=shipment.id,
            status=event.status.value,
            occurred_at=event.occurred_at,
            carrier_status=event.carrier_status,
            description=event.description,
            location=event.location,
            dedup_key=dedup_key,
        )
    )
    if _moves_forward(TrackingStatus(shipment.status), event.status):
        shipment.status = event.status.value
    return_ = lock_return(session, shipment.return_id)
    record(
        session,
        return_,
        EventKind.PARCEL_SCANNED,
        {
            "tracking_number": event.tracking_number,
            "status": event.status.value,
            "at": event.occurred_at.isoformat(),
            "location": event.location,
        },
        actor=actor,
    )
    follow_ups: list[FollowUp] = []
    if event.status.is_first_scan and return_.status == Status.AWAITING_SHIPMENT:
        move(session, return_, Status.IN_TRANSIT, EventKind.PARCEL_SCANNED, {"first_scan": True})
        if return_.refund_trigger == "first_scan":
            follow_ups += request_refund(session, return_, trigger="first_scan")
    if event.status is TrackingStatus.DELIVERED and return_.status == Status.IN_TRANSIT:
        follow_ups += receive(session, return_.id, weight_g=None, note=delivered_note, actor=actor)
    return follow_ups


def record_platform_delivery(
    session: Session, return_id: int, delivered_at: datetime, source: str
) -> list[FollowUp]:
    """The platform reports the parcel on its own label delivered (Amazon's returns report
    has a return delivery date): a DELIVERED scan of the platform-label shipment, which moves
    it and the return on as a carrier's delivery scan does (in transit, then received).

    Stored once per return and day, so a report read again, or a later report repeating the
    row, changes nothing. A return with no parcel on the platform's label (not fulfilled yet,
    or sent another way) is left alone. ``source`` names the platform, as the ledger's actor.
    Returns the jobs to follow (a refund the receipt triggers)."""
    shipment = session.scalar(
        select(models.Shipment)
        .where(
            models.Shipment.return_id == return_id,
            models.Shipment.kind == OptionKind.PLATFORM_LABEL.value,
        )
        .order_by(models.Shipment.id)
        .limit(1)
    )
    if shipment is None:
        return []
    when = delivered_at if delivered_at.tzinfo else delivered_at.replace(tzinfo=UTC)
    event = TrackingEvent(
        tracking_number=shipment.tracking_number,
        status=TrackingStatus.DELIVERED,
        occurred_at=when,
        carrier_status=f"{source}:delivered",
        description=f"delivered, as {source} reports",
    )
    key = f"platform-delivery|{return_id}|{when.astimezone(UTC).date().isoformat()}"
    return _record_scan(session, shipment, event, key, source, f"delivered, as {source} reports")


def _moves_forward(current: TrackingStatus, new: TrackingStatus) -> bool:
    if current.is_terminal:
        return False
    if new in (TrackingStatus.ON_HOLD, TrackingStatus.EXCEPTION, TrackingStatus.DELIVERY_FAILED):
        return True
    if current in _ORDER and new in _ORDER:
        return _ORDER.index(new) > _ORDER.index(current)
    return True


def tracking_events_from_json(items: list[dict[str, Any]]) -> list[TrackingEvent]:
    return [
        TrackingEvent(
            tracking_number=item["tracking_number"],
            status=TrackingStatus(item["status"]),
            occurred_at=datetime.fromisoformat(item["occurred_at"]),
            carrier_status=item.get("carrier_status", ""),
            description=item.get("description", ""),
            location=item.get("location", ""),
        )
        for item in items
    ]


def tracking_events_to_json(events: list[TrackingEvent]) -> list[dict[str, Any]]:
    return [
        {
            "tracking_number": e.tracking_number,
            "status": e.status.value,
            "occurred_at": e.occurred_at.isoformat(),
            "carrier_status": e.carrier_status,
            "description": e.description,
            "location": e.location,
        }
        for e in events
    ]


def _account_of(session: Session, shipment: models.Shipment) -> models.CarrierAccount | None:
    return_ = session.get(models.Return, shipment.return_id)
    if return_ is None or not shipment.account:
        return None
    return session.scalar(
        select(models.CarrierAccount).where(
            models.CarrierAccount.merchant_id == return_.merchant_id,
            models.CarrierAccount.name == shipment.account,
        )
    )


def label_to_void(session: Session, shipment_id: int) -> tuple[Label, models.CarrierAccount]:
    shipment = session.get(models.Shipment, shipment_id)
    if shipment is None or shipment.status in (
        TrackingStatus.CANCELLED,
        TrackingStatus.DELIVERED,
    ):
        raise NothingToDo(f"shipment {shipment_id} has no label left to void")
    if shipment.kind == OptionKind.PLATFORM_LABEL.value:  # its account only follows the parcel
        raise NothingToDo(f"shipment {shipment_id} is on the platform's label, not one of ours")
    account = _account_of(session, shipment)
    if account is None:
        raise NothingToDo(f"shipment {shipment_id} has no carrier account to void with")
    label = Label(
        carrier=shipment.carrier,
        service=shipment.service,
        tracking_number=shipment.tracking_number,
        price=Money.from_minor(shipment.price_minor, shipment.currency),
        external_id=shipment.external_id,
    )
    return label, account


def label_voided(session: Session, shipment_id: int) -> None:
    shipment = session.get(models.Shipment, shipment_id, with_for_update=True)
    if shipment is None or shipment.status == TrackingStatus.CANCELLED:
        return
    shipment.status = TrackingStatus.CANCELLED.value
    return_ = lock_return(session, shipment.return_id)
    record(
        session,
        return_,
        EventKind.LABEL_VOIDED,
        {"tracking_number": shipment.tracking_number, "carrier": shipment.carrier},
    )


POLL_EVERY = timedelta(minutes=30)


def shipments_to_poll(
    session: Session, batch: int
) -> list[tuple[int, str, str, models.CarrierAccount]]:
    """Parcels not yet delivered (or otherwise finished) that nobody has asked about lately."""
    done = [s.value for s in TrackingStatus if s.is_terminal]
    shipments = session.scalars(
        select(models.Shipment)
        .where(
            models.Shipment.status.not_in(done),
            models.Shipment.account != "",
            models.Shipment.updated_at < utcnow() - POLL_EVERY,
        )
        .order_by(models.Shipment.updated_at)
        .limit(batch)
    ).all()
    due = []
    for shipment in shipments:
        account = _account_of(session, shipment)
        if account is not None and account.active:
            # an aggregator tracks a number by the carrier that moves it: "usps/9205…"
            number = (
                f"{shipment.tracking_carrier}/{shipment.tracking_number}"
                if shipment.tracking_carrier
                else shipment.tracking_number
            )
            due.append((shipment.id, number, shipment.carrier, account))
    return due


def polled(session: Session, shipment_id: int) -> None:
    """Note the ask, so the next poll goes to other parcels first."""
    shipment = session.get(models.Shipment, shipment_id, with_for_update=True)
    if shipment is not None:
        shipment.updated_at = utcnow()
