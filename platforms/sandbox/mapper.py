"""Sandbox payloads → the canonical model. Pure: no I/O, tested from saved payloads.

The payloads are Shopify's order and return JSON, plus the sandbox's own fields: the order's
``delivered_at``, ``shipped_from`` and ``export_reference``, and per line ``hs_code``,
``origin_country`` and ``dimensions_mm``; per return line ``condition``. Amounts arrive as
decimal strings and become ``Money`` through ``Decimal``, never through floats. A payload that
cannot be mapped raises ``ValueError`` whose message starts
with the path of the field at fault (``line_items[1].price: …``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.domain import (
    Address,
    Condition,
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

# Shopify's ReturnReason values (lowercase in webhooks) and the handles of its 2026-01 return
# reason definitions that have a canonical counterpart. Anything else is OTHER, because the
# platform adds reasons faster than the policy engine needs to know them.
_REASONS: dict[str, Reason] = {
    "size_too_small": Reason.SIZE_TOO_SMALL,
    "too_small": Reason.SIZE_TOO_SMALL,
    "too_tight": Reason.SIZE_TOO_SMALL,
    "size_too_large": Reason.SIZE_TOO_LARGE,
    "too_large": Reason.SIZE_TOO_LARGE,
    "too_loose": Reason.SIZE_TOO_LARGE,
    "unwanted": Reason.UNWANTED,
    "changed_mind": Reason.UNWANTED,
    "not_as_described": Reason.NOT_AS_DESCRIBED,
    "wrong_item": Reason.WRONG_ITEM,
    "defective": Reason.DEFECTIVE,
    "damaged_in_transit": Reason.DAMAGED_IN_TRANSIT,
    "arrived_damaged": Reason.DAMAGED_IN_TRANSIT,
    "arrived_late": Reason.ARRIVED_LATE,
    "color": Reason.COLOR,
    "style": Reason.STYLE,
    "other": Reason.OTHER,
    "unknown": Reason.OTHER,
}

_CONDITIONS: dict[str, Condition] = {
    "unused": Condition.UNUSED,
    "new": Condition.UNUSED,
    "opened": Condition.OPENED,
    "used": Condition.USED,
    "damaged": Condition.DAMAGED,
}


def order_from_payload(payload: Mapping[str, Any]) -> Order:
    """The canonical ``Order`` of an order payload (REST resource or ``orders/*`` webhook)."""
    data = _mapping(payload, "order")
    currency = _text(data, "currency").upper()
    if currency not in CURRENCIES:
        raise ValueError(f"currency: {currency!r} is not an ISO-4217 code")
    delivered_at = _optional_time(data, "delivered_at")
    items = data.get("line_items")
    if not isinstance(items, list) or not items:
        raise ValueError("line_items: an order needs at least one line item")
    lines = tuple(
        _order_line(_mapping(item, f"line_items[{i}]"), f"line_items[{i}]", currency, delivered_at)
        for i, item in enumerate(items)
    )
    email = _optional_text(data, "email")
    return Order(
        external_id=_id(data, "id"),
        number=_text(data, "name"),
        currency=currency,
        placed_at=_time(data, "created_at"),
        customer=_customer(data.get("customer"), email, _optional_text(data, "customer_locale")),
        shipping_address=_address(data.get("shipping_address"), "shipping_address", email),
        lines=lines,
        total=_money(data, "total_price", currency),
        delivered_at=delivered_at,
        tags=tuple(tag.strip() for tag in _optional_text(data, "tags").split(",") if tag.strip()),
        shipped_from=_optional_text(data, "shipped_from").upper(),
        export_reference=_optional_text(data, "export_reference"),
        raw=dict(data),
    )


def return_request_from_payload(payload: Mapping[str, Any]) -> ReturnRequest:
    """The canonical ``ReturnRequest`` of a return payload (``returns/request`` and the like)."""
    data = _mapping(payload, "return")
    items = data.get("return_line_items")
    if not isinstance(items, list) or not items:
        raise ValueError("return_line_items: a return needs at least one line")
    return ReturnRequest(
        order_external_id=_order_id(data),
        lines=tuple(
            _return_line(_mapping(item, f"return_line_items[{i}]"), f"return_line_items[{i}]")
            for i, item in enumerate(items)
        ),
        requested_at=_time(data, "requested_at"),
        external_id=_id(data, "id"),
        raw=dict(data),
    )


def return_status(payload: Mapping[str, Any]) -> str:
    """The platform's status of a return payload, lowercase: one of ``RETURN_STATUSES``."""
    data = _mapping(payload, "return")
    status = data.get("status")
    if not isinstance(status, str) or status.lower() not in RETURN_STATUSES:
        raise ValueError(f"status: {status!r} is not one of {', '.join(sorted(RETURN_STATUSES))}")
    return status.lower()


def reason_of(value: object) -> Reason:
    """The canonical reason for a platform reason, enum value or definition handle."""
    if not isinstance(value, str):
        return Reason.OTHER
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    return _REASONS.get(key, Reason.OTHER)


# --- parts -----------------------------------------------------------------------------


def _order_line(
    item: Mapping[str, Any], path: str, currency: str, delivered_at: datetime | None
) -> OrderLine:
    extra: dict[str, Any] = {}
    grams = item.get("grams")
    # Shopify sends 0 grams for a variant nobody weighed: keep the canonical default weight
    # rather than quote a carrier for a weightless parcel.
    if grams not in (None, 0):
        extra["weight_kg"] = Decimal(_whole(grams, f"{path}.grams", minimum=0)) / 1000
    dimensions = item.get("dimensions_mm")
    if dimensions is not None:
        if not isinstance(dimensions, list) or len(dimensions) != 3:
            raise ValueError(f"{path}.dimensions_mm: expected [length, width, height]")
        extra["dimensions_cm"] = tuple(
            Decimal(_whole(side, f"{path}.dimensions_mm[{i}]", minimum=1)) / 10
            for i, side in enumerate(dimensions)
        )
    line_delivered = _optional_time(item, "delivered_at", path)
    return OrderLine(
        external_id=_id(item, "id", path),
        sku=_optional_text(item, "sku"),
        title=_text(item, "title", path),
        quantity=_whole(item.get("quantity"), f"{path}.quantity", minimum=1),
        unit_price=_money(item, "price", currency, path),
        hs_code=_optional_text(item, "hs_code"),
        origin_country=_optional_text(item, "origin_country").upper(),
        tags=_properties(item.get("properties"), f"{path}.properties"),
        delivered_at=line_delivered or delivered_at,
        **extra,
    )


def _customer(value: object, order_email: str, order_locale: str) -> Customer:
    if value is None:  # a guest checkout has no customer record
        return Customer(external_id="", email=order_email, locale=order_locale or "en")
    data = _mapping(value, "customer")
    name = " ".join(
        part
        for part in (_optional_text(data, "first_name"), _optional_text(data, "last_name"))
        if part
    )
    return Customer(
        external_id=_id(data, "id", "customer"),
        email=_optional_text(data, "email") or order_email,
        name=name,
        locale=_optional_text(data, "locale") or order_locale or "en",
    )


def _address(value: object, path: str, email: str) -> Address:
    data = _mapping(value, path)
    name = _optional_text(data, "name") or " ".join(
        part
        for part in (_optional_text(data, "first_name"), _optional_text(data, "last_name"))
        if part
    )
    country = _text(data, "country_code", path).upper()
    if len(country) != 2 or not country.isalpha():
        raise ValueError(f"{path}.country_code: {country!r} is not an ISO 3166 alpha-2 code")
    return Address(
        name=name,
        line1=_text(data, "address1", path),
        line2=_optional_text(data, "address2"),
        city=_text(data, "city", path),
        postal_code=_optional_text(data, "zip"),
        country=country,
        region=_optional_text(data, "province_code"),
        phone=_optional_text(data, "phone"),
        email=email,
    )


def _return_line(item: Mapping[str, Any], path: str) -> ReturnLine:
    fulfillment = _mapping(item.get("fulfillment_line_item"), f"{path}.fulfillment_line_item")
    line_item = _mapping(fulfillment.get("line_item"), f"{path}.fulfillment_line_item.line_item")
    condition_text = _optional_text(item, "condition").lower()
    if condition_text and condition_text not in _CONDITIONS:
        raise ValueError(
            f"{path}.condition: {condition_text!r} is not one of {', '.join(sorted(_CONDITIONS))}"
        )
    return ReturnLine(
        order_line_external_id=_id(line_item, "id", f"{path}.fulfillment_line_item.line_item"),
        quantity=_whole(item.get("quantity"), f"{path}.quantity", minimum=1),
        reason=reason_of(item.get("return_reason")),
        condition=_CONDITIONS.get(condition_text, Condition.UNUSED),
        note=_optional_text(item, "customer_note"),
        external_id=_id(item, "id", path) if item.get("id") is not None else "",
    )


def _order_id(data: Mapping[str, Any]) -> str:
    order = data.get("order")
    if order is None and data.get("order_id") is not None:
        return _id(data, "order_id")
    return _id(_mapping(order, "order"), "id", "order")


def _properties(value: object, path: str) -> tuple[str, ...]:
    """Line item properties (a buyer's engraving, a gift note) as ``name:value`` tags."""
    if value in (None, []):
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected a list of {{name, value}}")
    tags = []
    for i, entry in enumerate(value):
        prop = _mapping(entry, f"{path}[{i}]")
        tags.append(f"{_text(prop, 'name', f'{path}[{i}]')}:{_optional_text(prop, 'value')}")
    return tuple(tags)


# --- fields ----------------------------------------------------------------------------


def _id(data: Mapping[str, Any], key: str, path: str = "") -> str:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        raise ValueError(f"{_where(path, key)}: missing or not an id")
    return str(value).strip()


def _text(data: Mapping[str, Any], key: str, path: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{_where(path, key)}: missing or empty")
    return value.strip()


def _optional_text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _whole(value: object, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def _money(data: Mapping[str, Any], key: str, currency: str, path: str = "") -> Money:
    where = _where(path, key)
    value = data.get(key)
    # A float has already lost the exact amount; the platform sends decimal strings.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{where}: expected a decimal string, got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{where}: not a decimal amount: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{where}: not a non-negative amount: {value!r}")
    money = Money.of(amount, currency)
    if money.amount != amount:
        raise ValueError(f"{where}: {value} has more decimals than {currency} allows")
    return money
