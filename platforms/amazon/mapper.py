"""SP-API payloads ⇄ the canonical model and back. Pure: no I/O, tested from saved payloads.

Orders (Orders API 2026-01-01, items inline): an order's lines are keyed by the seller's SKU,
as the returns report keys them, so an order first stored from a report row and later read
through the API is the same order with the same lines (two items of one SKU become one line).
The Amazon order item id a refund needs stays in ``Order.raw["order_items"]``. The buyer's
name, street and postal code come only to an app with Amazon's Direct-to-Consumer Delivery
role; without them the address keeps what Amazon always gives (city, region, country), and
when even the country is missing, the marketplace's.

Listings (Listings Items 2021-08-01): ``listing_stock`` reads the seller-fulfilled quantity and
the product type a patch needs; ``stock_patch`` writes a new quantity with a ``merge`` patch, so
the listing's other fulfilment settings (handling time, restock date) stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.domain import Address, Customer, Money, Order, OrderLine

from . import marketplaces

SELLER_FULFILLED = "DEFAULT"  # Amazon's fulfillment channel code for the seller's own stock
AVAILABILITY_PATH = "/attributes/fulfillment_availability"


@dataclass(frozen=True, slots=True)
class OrderItem:
    """What a refund needs of one SKU of an order."""

    order_item_id: str
    sku: str
    quantity: int
    unit_price: Money | None


@dataclass(frozen=True, slots=True)
class ListingStock:
    quantity: int
    product_type: str
    fulfilled_by_amazon: bool  # the listing's stock is FBA's, which Amazon alone changes


def order_from_api(payload: Mapping[str, Any], fallback_marketplace: str) -> Order:
    """The canonical order for a 2026-01-01 ``order``; ``ValueError`` naming the field at
    fault when it cannot be one."""
    order_id = _text(payload.get("orderId"))
    if not order_id:
        raise ValueError("orderId: missing")
    marketplace_id = _text(_dig(payload, "salesChannel", "marketplaceId")) or fallback_marketplace
    market = marketplaces.MARKETPLACES.get(marketplace_id)
    paid = grand_total(payload)
    priced = [item.unit_price.currency for item in order_items(payload) if item.unit_price]
    currency = paid.currency if paid else (priced[0] if priced else "")
    currency = currency or (market.currency if market else "")
    if not currency:
        raise ValueError("proceeds.grandTotal: no currency for the order")
    lines = _lines(payload, currency)
    if not lines:
        raise ValueError("orderItems: the order has no items")
    total = paid or sum((line.value for line in lines), Money.zero(currency))
    return Order(
        external_id=order_id,
        number=order_id,
        currency=currency,
        placed_at=_time(payload.get("createdTime"), "createdTime"),
        customer=_customer(payload),
        shipping_address=_address(payload, market.country if market else ""),
        lines=tuple(lines),
        total=total,
        shipped_from=_shipped_from(payload),
        raw={
            "order": dict(payload),
            "marketplace_id": marketplace_id,
            "order_items": {item.sku: item.order_item_id for item in order_items(payload)},
            "fulfilled_by": _text(_dig(payload, "fulfillment", "fulfilledBy")),
        },
    )


def grand_total(payload: Mapping[str, Any]) -> Money | None:
    """What the order came to (``proceeds.grandTotal``), when the payload says."""
    return _money(_dig(payload, "proceeds", "grandTotal"), "proceeds.grandTotal")


def order_items(payload: Mapping[str, Any]) -> list[OrderItem]:
    """The order's items, each with its Amazon order item id."""
    found = []
    for index, item in enumerate(_list(payload.get("orderItems"))):
        where = f"orderItems[{index}]"
        item_id = _text(item.get("orderItemId"))
        if not item_id:
            raise ValueError(f"{where}.orderItemId: missing")
        product = _mapping(item.get("product"))
        sku = _text(product.get("sellerSku")) or item_id
        price = _money(_dig(product, "price", "unitPrice"), f"{where}.product.price.unitPrice")
        quantity = _int(item.get("quantityOrdered"), f"{where}.quantityOrdered")
        found.append(OrderItem(item_id, sku, quantity, price))
    return found


def listing_stock(payload: Mapping[str, Any], marketplace_id: str) -> ListingStock:
    """The listing's seller-fulfilled quantity in the marketplace and its product type."""
    availability = _list(payload.get("fulfillmentAvailability"))
    own = [a for a in availability if a.get("fulfillmentChannelCode") == SELLER_FULFILLED]
    summaries = _list(payload.get("summaries"))
    matching = [s for s in summaries if s.get("marketplaceId") == marketplace_id]
    summary = (matching or summaries or [{}])[0]
    product_type = _text(summary.get("productType"))
    quantity = _int(own[0].get("quantity") or 0, "fulfillmentAvailability.quantity") if own else 0
    return ListingStock(quantity, product_type, fulfilled_by_amazon=bool(availability) and not own)


def stock_patch(product_type: str, quantity: int) -> dict[str, Any]:
    """The ``patchListingsItem`` body that sets the seller-fulfilled quantity."""
    value = [{"fulfillment_channel_code": SELLER_FULFILLED, "quantity": quantity}]
    return {
        "productType": product_type,
        "patches": [{"op": "merge", "path": AVAILABILITY_PATH, "value": value}],
    }


def allocate(amount: Money, shares: Sequence[Money]) -> list[Money]:
    """``amount`` split over ``shares`` in proportion to them (equally when they are all zero),
    rounded to the currency; the last share takes what rounding leaves."""
    if not shares:
        return []
    weights = [share.amount for share in shares]
    whole = sum(weights, Decimal(0))
    if whole <= 0:
        weights, whole = [Decimal(1)] * len(shares), Decimal(len(shares))
    parts, left = [], amount
    for weight in weights[:-1]:
        part = Money.of(amount.amount * weight / whole, amount.currency)
        parts.append(part)
        left = left - part
    parts.append(left)
    return parts


# --- pieces -------------------------------------------------------------------------------


def _lines(payload: Mapping[str, Any], currency: str) -> list[OrderLine]:
    by_sku: dict[str, OrderLine] = {}
    for index, item in enumerate(_list(payload.get("orderItems"))):
        product = _mapping(item.get("product"))
        item_id = _text(item.get("orderItemId"))
        sku = _text(product.get("sellerSku")) or item_id
        quantity = _int(item.get("quantityOrdered"), f"orderItems[{index}].quantityOrdered")
        price = _money(_dig(product, "price", "unitPrice"), f"orderItems[{index}].unitPrice")
        unit = price if price is not None and price.currency == currency else Money.zero(currency)
        earlier = by_sku.get(sku)
        if earlier is not None:
            quantity += earlier.quantity
        by_sku[sku] = OrderLine(
            external_id=sku,
            sku=sku,
            title=_text(product.get("title")),
            quantity=quantity,
            unit_price=unit,
            tags=(f"asin:{_text(product.get('asin'))}",) if product.get("asin") else (),
        )
    return list(by_sku.values())


def _customer(payload: Mapping[str, Any]) -> Customer:
    buyer = _mapping(payload.get("buyer"))
    return Customer(
        external_id="",
        email=_text(buyer.get("buyerEmail")),
        name=_text(buyer.get("buyerName")),
    )


def _address(payload: Mapping[str, Any], fallback_country: str) -> Address:
    address = _mapping(_dig(payload, "recipient", "deliveryAddress"))
    country = (_text(address.get("countryCode")) or fallback_country).upper()
    if not country:
        raise ValueError("recipient.deliveryAddress.countryCode: missing, and no marketplace")
    return Address(
        name=_text(address.get("name")),
        line1=_text(address.get("addressLine1")),
        line2=_text(address.get("addressLine2")),
        city=_text(address.get("city")),
        region=_text(address.get("stateOrRegion")),
        postal_code=_text(address.get("postalCode")),
        country=country,
        phone=_text(address.get("phone")),
    )


def _shipped_from(payload: Mapping[str, Any]) -> str:
    for package in _list(payload.get("packages")):
        country = _text(_dig(package, "shipFromAddress", "countryCode"))
        if country:
            return country.upper()
    return ""


def _money(value: object, where: str) -> Money | None:
    if not isinstance(value, Mapping):
        return None
    currency = _text(value.get("currencyCode"))
    try:
        return Money.of(Decimal(str(value.get("amount"))), currency)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _time(value: object, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an ISO 8601 time") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{where}: {value!r} is not a number")
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a number") from None


def _list(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, Mapping)]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return str(value).strip() if value is not None else ""


def _dig(value: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
