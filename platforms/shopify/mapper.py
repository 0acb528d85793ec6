"""Shopify's GraphQL objects ⇄ the canonical model. Pure: no I/O, tested from saved payloads.

Money: a Shopify order carries every amount twice, in the shop's currency and in the buyer's
(presentment) currency. The canonical order is in the presentment currency, because that is
what the buyer paid and what Shopify refunds in; the shop-currency amounts stay in
``Order.raw["shop_money"]`` (and the whole GraphQL order in ``raw``). Amounts are decimal
strings and become ``Money`` through ``Decimal``, never through floats.

Reasons: Shopify's ``ReturnReason`` enum maps onto the canonical ``Reason`` both ways; the
reason handles of API 2026-01's return reason definitions map too. Decline reasons and
dispositions map onto the enums Shopify accepts, with the canonical synonyms the rest of
Helloword uses. A payload that cannot be mapped raises ``ValueError`` whose message starts with
the path of the field at fault (``lineItems[1].quantity: …``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from connector.domain import (
    Address,
    Customer,
    Money,
    Order,
    OrderLine,
    Reason,
    ReturnLine,
    ReturnRequest,
)
from connector.domain.money import CURRENCIES
from platforms.payload import mapping as _mapping
from platforms.payload import optional_time as _optional_time
from platforms.payload import required_time as _time
from platforms.payload import where as _where

RETURN_STATUSES = frozenset({"requested", "open", "declined", "closed", "canceled"})

_FROM_SHOPIFY: dict[str, Reason] = {
    "COLOR": Reason.COLOR,
    "DEFECTIVE": Reason.DEFECTIVE,
    "NOT_AS_DESCRIBED": Reason.NOT_AS_DESCRIBED,
    "OTHER": Reason.OTHER,
    "SIZE_TOO_LARGE": Reason.SIZE_TOO_LARGE,
    "SIZE_TOO_SMALL": Reason.SIZE_TOO_SMALL,
    "STYLE": Reason.STYLE,
    "UNWANTED": Reason.UNWANTED,
    "WRONG_ITEM": Reason.WRONG_ITEM,
    "UNKNOWN": Reason.OTHER,
    # handles of the return reason definitions (API 2026-01), normalised to upper snake case
    "TOO_SMALL": Reason.SIZE_TOO_SMALL,
    "TOO_TIGHT": Reason.SIZE_TOO_SMALL,
    "TOO_LARGE": Reason.SIZE_TOO_LARGE,
    "TOO_LOOSE": Reason.SIZE_TOO_LARGE,
    "CHANGED_MIND": Reason.UNWANTED,
    "DAMAGED": Reason.DEFECTIVE,
    "ARRIVED_DAMAGED": Reason.DAMAGED_IN_TRANSIT,
    "DAMAGED_IN_TRANSIT": Reason.DAMAGED_IN_TRANSIT,
    "ARRIVED_LATE": Reason.ARRIVED_LATE,
}

# Shopify has no reason for goods damaged on the way or late: the nearest it has.
_TO_SHOPIFY: dict[Reason, str] = {
    Reason.COLOR: "COLOR",
    Reason.DEFECTIVE: "DEFECTIVE",
    Reason.DAMAGED_IN_TRANSIT: "DEFECTIVE",
    Reason.NOT_AS_DESCRIBED: "NOT_AS_DESCRIBED",
    Reason.OTHER: "OTHER",
    Reason.ARRIVED_LATE: "OTHER",
    Reason.SIZE_TOO_LARGE: "SIZE_TOO_LARGE",
    Reason.SIZE_TOO_SMALL: "SIZE_TOO_SMALL",
    Reason.STYLE: "STYLE",
    Reason.UNWANTED: "UNWANTED",
    Reason.WRONG_ITEM: "WRONG_ITEM",
}

DECLINE_REASONS = frozenset({"FINAL_SALE", "OTHER", "RETURN_PERIOD_ENDED"})
_DECLINE_SYNONYMS = {
    "OUTSIDE_WINDOW": "RETURN_PERIOD_ENDED",
    "OUTSIDE_RETURN_WINDOW": "RETURN_PERIOD_ENDED",
    "WINDOW_EXPIRED": "RETURN_PERIOD_ENDED",
    "EXPIRED": "RETURN_PERIOD_ENDED",
    "NON_RETURNABLE": "FINAL_SALE",
}
DECLINE_NOTE_LIMIT = 500  # characters Shopify keeps of a decline note

# Canonical dispositions (the grades' restock / repair / destroy …) → Shopify's types.
_DISPOSITIONS = {
    "RESTOCK": "RESTOCKED",
    "RESTOCKED": "RESTOCKED",
    "REPAIR": "PROCESSING_REQUIRED",
    "REFURBISH": "PROCESSING_REQUIRED",
    "PROCESSING_REQUIRED": "PROCESSING_REQUIRED",
    "DESTROY": "NOT_RESTOCKED",
    "DISPOSE": "NOT_RESTOCKED",
    "DISCARD": "NOT_RESTOCKED",
    "DONATE": "NOT_RESTOCKED",
    "LIQUIDATE": "NOT_RESTOCKED",
    "NOT_RESTOCKED": "NOT_RESTOCKED",
    "MISSING": "MISSING",
}

_KILOGRAMS_PER = {
    "GRAMS": Decimal("0.001"),
    "KILOGRAMS": Decimal(1),
    "OUNCES": Decimal("0.028349523125"),
    "POUNDS": Decimal("0.45359237"),
}

# Where a buyer follows a parcel, for carriers Shopify may not recognise from the number.
_TRACKING_URLS = {
    "ups": "https://www.ups.com/track?tracknum={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={}",
    "dhl_express": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={}",
    "royal_mail": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
    "canada_post": "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{}",
    "australia_post": "https://auspost.com.au/mypost/track/details/{}",
}


# --- orders ------------------------------------------------------------------------------


def order_from_graphql(node: Mapping[str, Any]) -> Order:
    """The canonical ``Order`` of a GraphQL ``Order`` (``OrderFields``) in its buyer's currency."""
    data = _mapping(node, "order")
    currency = _currency(data, "presentmentCurrencyCode")
    shop_currency = _currency(data, "currencyCode")
    delivered = _line_deliveries(data.get("fulfillments"))
    items = _nodes(data.get("lineItems"), "lineItems")
    if not items:
        raise ValueError("lineItems: an order needs at least one line item")
    lines = tuple(
        _order_line(_mapping(item, f"lineItems[{i}]"), f"lineItems[{i}]", currency, delivered)
        for i, item in enumerate(items)
    )
    email = _optional_text(data, "email")
    delivered_lines = [line.delivered_at for line in lines if line.delivered_at is not None]
    return Order(
        external_id=_text(data, "id"),
        number=_text(data, "name"),
        currency=currency,
        placed_at=_optional_time(data, "processedAt") or _time(data, "createdAt"),
        customer=_customer(data, email),
        shipping_address=_address(data, email),
        lines=lines,
        total=_money_set(data, "totalPriceSet", currency),
        # the order is delivered when its last line is; until then each line has its own date
        delivered_at=max(delivered_lines) if len(delivered_lines) == len(lines) else None,
        tags=tuple(str(tag).strip() for tag in data.get("tags") or () if str(tag).strip()),
        shipped_from=_shipped_from(data.get("fulfillments")),
        raw={**data, "shop_money": _shop_money(data, items, shop_currency)},
    )


def _order_line(
    item: Mapping[str, Any], path: str, currency: str, delivered: Mapping[str, datetime]
) -> OrderLine:
    line_id = _text(item, "id", path)
    extra: dict[str, Any] = {}
    inventory = _inventory_item(item)
    weight = weight_kg(_dig(inventory, "measurement", "weight"), f"{path}.variant.inventoryItem")
    if weight:  # Shopify reports 0 for a variant nobody weighed: keep the canonical default
        extra["weight_kg"] = weight
    price_field = (
        "discountedUnitPriceAfterAllDiscountsSet"
        if item.get("discountedUnitPriceAfterAllDiscountsSet")
        else "originalUnitPriceSet"
    )
    return OrderLine(
        external_id=line_id,
        sku=_optional_text(item, "sku"),
        title=_optional_text(item, "name") or _text(item, "title", path),
        quantity=_whole(item.get("quantity"), f"{path}.quantity", minimum=1),
        unit_price=_money_set(item, price_field, currency, path),
        hs_code=_optional_text(inventory, "harmonizedSystemCode"),
        origin_country=_optional_text(inventory, "countryCodeOfOrigin").upper(),
        tags=tuple(
            f"{_optional_text(attribute, 'key')}:{_optional_text(attribute, 'value')}"
            for attribute in item.get("customAttributes") or ()
            if isinstance(attribute, Mapping) and _optional_text(attribute, "key")
        ),
        delivered_at=delivered.get(line_id),
        **extra,
    )


def _inventory_item(item: Mapping[str, Any]) -> Mapping[str, Any]:
    found = _dig(item, "variant", "inventoryItem")
    return found if isinstance(found, Mapping) else {}


def weight_kg(weight: object, path: str = "") -> Decimal | None:
    """Kilograms of a GraphQL ``Weight`` (``{unit, value}``), or None when there is none."""
    if not isinstance(weight, Mapping) or weight.get("value") is None:
        return None
    unit = str(weight.get("unit", "")).upper()
    if unit not in _KILOGRAMS_PER:
        raise ValueError(f"{path}.measurement.weight.unit: {unit!r} is not a weight unit")
    try:
        value = Decimal(str(weight["value"]))
    except InvalidOperation:
        raise ValueError(f"{path}.measurement.weight.value: {weight['value']!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{path}.measurement.weight.value: {weight['value']!r}")
    return (value * _KILOGRAMS_PER[unit]).quantize(Decimal("0.001"))


def _line_deliveries(fulfillments: object) -> dict[str, datetime]:
    """When each line item was delivered: the latest delivery of a fulfillment holding it."""
    delivered: dict[str, datetime] = {}
    for i, fulfillment in enumerate(fulfillments if isinstance(fulfillments, list) else ()):
        path = f"fulfillments[{i}]"
        moment = _optional_time(_mapping(fulfillment, path), "deliveredAt", path)
        if moment is None:
            continue
        for entry in _nodes(
            fulfillment.get("fulfillmentLineItems"), f"{path}.fulfillmentLineItems"
        ):
            line_id = _dig(entry, "lineItem", "id")
            if isinstance(line_id, str) and (
                line_id not in delivered or delivered[line_id] < moment
            ):
                delivered[line_id] = moment
    return delivered


def _shipped_from(fulfillments: object) -> str:
    for fulfillment in fulfillments if isinstance(fulfillments, list) else ():
        country = _dig(fulfillment, "location", "address", "countryCode")
        if isinstance(country, str) and len(country.strip()) == 2:
            return country.strip().upper()
    return ""


def _shop_money(data: Mapping[str, Any], items: list[Any], currency: str) -> dict[str, Any]:
    """The order's amounts in the shop's own currency, beside the canonical presentment ones."""
    lines = {}
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            for field in ("discountedUnitPriceAfterAllDiscountsSet", "originalUnitPriceSet"):
                amount = _dig(item, field, "shopMoney", "amount")
                if amount is not None:
                    lines[item["id"]] = str(amount)
                    break
    return {
        "currency": currency,
        "total": str(_dig(data, "totalPriceSet", "shopMoney", "amount") or ""),
        "unit_prices": lines,
    }


def _customer(data: Mapping[str, Any], email: str) -> Customer:
    locale = _optional_text(data, "customerLocale")
    value = data.get("customer")
    if value is None:  # a guest checkout has no customer record
        return Customer(external_id="", email=email, locale=locale or "en")
    customer = _mapping(value, "customer")
    name = " ".join(
        part
        for part in (_optional_text(customer, "firstName"), _optional_text(customer, "lastName"))
        if part
    )
    return Customer(
        external_id=_text(customer, "id", "customer"),
        email=email,
        name=name or _optional_text(customer, "displayName"),
        locale=locale or _optional_text(customer, "locale") or "en",
    )


def _address(data: Mapping[str, Any], email: str) -> Address:
    # An order picked up in store has no shipping address; its billing address is the buyer's.
    path = "shippingAddress" if data.get("shippingAddress") is not None else "billingAddress"
    if data.get(path) is None:
        raise ValueError("shippingAddress: missing, and the order has no billingAddress either")
    address = _mapping(data[path], path)
    name = _optional_text(address, "name") or " ".join(
        part
        for part in (_optional_text(address, "firstName"), _optional_text(address, "lastName"))
        if part
    )
    country = _text(address, "countryCodeV2", path).upper()
    if len(country) != 2 or not country.isalpha():
        raise ValueError(f"{path}.countryCodeV2: {country!r} is not an ISO 3166 alpha-2 code")
    return Address(
        name=name or _optional_text(address, "company"),
        line1=_text(address, "address1", path),
        line2=_optional_text(address, "address2"),
        city=_text(address, "city", path),
        postal_code=_optional_text(address, "zip"),
        country=country,
        region=_optional_text(address, "provinceCode"),
        phone=_optional_text(address, "phone") or _optional_text(data, "phone"),
        email=email,
    )


# --- returns -----------------------------------------------------------------------------


def return_request_from_graphql(node: Mapping[str, Any]) -> ReturnRequest:
    """The canonical ``ReturnRequest`` of a GraphQL ``Return`` (``ReturnFields``).

    Only lines tied to a fulfilled order line become canonical lines: an unverified line
    (entered at a point of sale without the original sale) has no order line to return.
    """
    data = _mapping(node, "return")
    lines = tuple(
        _return_line(_mapping(item, f"returnLineItems[{i}]"), f"returnLineItems[{i}]")
        for i, item in enumerate(_nodes(data.get("returnLineItems"), "returnLineItems"))
        if isinstance(item, Mapping) and item.get("fulfillmentLineItem")
    )
    if not lines:
        raise ValueError("returnLineItems: no line of this return returns an order line")
    return ReturnRequest(
        order_external_id=_text(_mapping(data.get("order"), "order"), "id", "order"),
        lines=lines,
        requested_at=_time(data, "createdAt"),
        external_id=_text(data, "id"),
        raw={**data, "status": return_status(data)},
    )


def _return_line(item: Mapping[str, Any], path: str) -> ReturnLine:
    line_item = _mapping(
        _dig(item, "fulfillmentLineItem", "lineItem"), f"{path}.fulfillmentLineItem.lineItem"
    )
    notes = [_optional_text(item, "returnReasonNote"), _optional_text(item, "customerNote")]
    return ReturnLine(
        order_line_external_id=_text(line_item, "id", f"{path}.fulfillmentLineItem.lineItem"),
        quantity=_whole(item.get("quantity"), f"{path}.quantity", minimum=1),
        reason=reason_from_shopify(item.get("returnReason")),
        note=" / ".join(note for note in notes if note),
        external_id=_text(item, "id", path),
    )


def return_status(node: Mapping[str, Any]) -> str:
    """The return's status, lowercase: one of ``RETURN_STATUSES``."""
    status = node.get("status")
    if not isinstance(status, str) or status.lower() not in RETURN_STATUSES:
        raise ValueError(f"status: {status!r} is not one of {', '.join(sorted(RETURN_STATUSES))}")
    return status.lower()


def reason_from_shopify(value: object) -> Reason:
    """The canonical reason of a ``ReturnReason`` (any case) or a reason definition handle."""
    if not isinstance(value, str):
        return Reason.OTHER
    key = value.strip().upper().replace("-", "_").replace(" ", "_")
    return _FROM_SHOPIFY.get(key, Reason.OTHER)


def reason_to_shopify(reason: Reason) -> str:
    """The ``ReturnReason`` Shopify knows nearest to a canonical reason."""
    return _TO_SHOPIFY[reason]


def decline_reason(reason: str, note: str) -> tuple[str, str]:
    """``(ReturnDeclineReason, declineNote)`` for a canonical decline reason and note.

    Shopify knows three reasons; a policy's own reason goes as ``OTHER`` and leads the note so
    the buyer still reads it. The note is cut to what Shopify keeps.
    """
    key = reason.strip().upper().replace("-", "_").replace(" ", "_")
    shopify = key if key in DECLINE_REASONS else _DECLINE_SYNONYMS.get(key, "OTHER")
    if shopify == "OTHER" and key not in ("", "OTHER"):
        note = f"{reason}: {note}" if note else reason
    return shopify, note[:DECLINE_NOTE_LIMIT]


def disposition_type(disposition: str) -> str:
    """Shopify's ``ReverseFulfillmentOrderDispositionType`` for a canonical disposition."""
    key = disposition.strip().upper().replace("-", "_").replace(" ", "_")
    if key not in _DISPOSITIONS:
        raise ValueError(
            f"disposition {disposition!r} has no Shopify type "
            f"(known: {', '.join(sorted(_DISPOSITIONS))})"
        )
    return _DISPOSITIONS[key]


def tracking_url(carrier: str, number: str) -> str | None:
    """A page where the buyer follows the parcel, for the carriers Helloword knows."""
    template = _TRACKING_URLS.get(carrier.strip().lower().replace(" ", "_").replace("-", "_"))
    return template.format(quote(number, safe="")) if template else None


def money_input(amount: Money) -> dict[str, str]:
    """A GraphQL ``MoneyInput``."""
    return {"amount": str(amount.amount), "currencyCode": amount.currency}


def money_of(value: object, path: str) -> Money:
    """``Money`` of a GraphQL ``MoneyV2`` (``{amount, currencyCode}``)."""
    data = _mapping(value, path)
    currency = _text(data, "currencyCode", path).upper()
    if currency not in CURRENCIES:
        raise ValueError(f"{path}.currencyCode: {currency!r} is not an ISO-4217 code")
    return Money.of(_decimal(data.get("amount"), f"{path}.amount"), currency)


# --- fields ------------------------------------------------------------------------------


def nodes(value: object, path: str) -> list[Any]:
    """The items of a connection (``{nodes: [...]}`` or ``{edges: [{node}]}``) or a list."""
    return _nodes(value, path)


def _nodes(value: object, path: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    data = _mapping(value, path)
    if isinstance(data.get("nodes"), list):
        return list(data["nodes"])
    if isinstance(data.get("edges"), list):
        return [edge.get("node") for edge in data["edges"] if isinstance(edge, Mapping)]
    raise ValueError(f"{path}: expected a connection with nodes or edges")


def _dig(value: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(data: Mapping[str, Any], key: str, path: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{_where(path, key)}: missing or empty")
    return value.strip()


def _optional_text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _currency(data: Mapping[str, Any], key: str) -> str:
    currency = _text(data, key).upper()
    if currency not in CURRENCIES:
        raise ValueError(f"{key}: {currency!r} is not an ISO-4217 code")
    return currency


def _whole(value: object, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def _decimal(value: object, where: str) -> Decimal:
    # A float has already lost the exact amount; Shopify sends decimal strings.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{where}: expected a decimal string, got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{where}: not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"{where}: not a finite amount: {value!r}")
    return amount


def _money_set(data: Mapping[str, Any], key: str, currency: str, path: str = "") -> Money:
    """The presentment half of a ``MoneyBag``, which must be in the order's ``currency``.

    Shopify's per-unit prices after order-level discounts are approximate (a third of a
    discount), so they are rounded half-up to the currency's minor unit."""
    where = _where(path, key)
    money = money_of(_dig(data, key, "presentmentMoney"), f"{where}.presentmentMoney")
    if money.currency != currency:
        raise ValueError(f"{where}.presentmentMoney: {money.currency}, not the order's {currency}")
    if money.amount < 0:
        raise ValueError(f"{where}.presentmentMoney.amount: negative")
    return money
