"""The sandbox mapper turns saved platform payloads into the canonical model, exactly."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.domain import Condition, Money, Reason
from platforms.sandbox.mapper import (
    order_from_payload,
    reason_of,
    return_request_from_payload,
    return_status,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sandbox"


def _fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload


@pytest.fixture
def order_payload() -> dict[str, Any]:
    return _fixture("order_create.json")


@pytest.fixture
def return_payload() -> dict[str, Any]:
    return _fixture("return_request.json")


# --- orders ----------------------------------------------------------------------------


def test_order_identity_and_money_are_exact(order_payload: dict[str, Any]) -> None:
    order = order_from_payload(order_payload)

    assert order.external_id == "9023157174860"
    assert order.number == "#1002"
    assert order.currency == "EUR"
    assert order.total == Money(Decimal("589.97"), "EUR")
    assert [line.unit_price for line in order.lines] == [
        Money(Decimal("413.99"), "EUR"),
        Money(Decimal("110.99"), "EUR"),
        Money(Decimal("64.99"), "EUR"),
    ]
    assert all(isinstance(line.unit_price.amount, Decimal) for line in order.lines)
    assert sum((line.value.amount for line in order.lines), Decimal(0)) == order.total.amount


def test_order_lines_carry_what_customs_and_carriers_need(order_payload: dict[str, Any]) -> None:
    drone = order_from_payload(order_payload).lines[0]

    assert drone.external_id == "7938438385955"
    assert drone.sku == "ELE-DRN-150"
    assert drone.title == "Foldable 4K Camera Drone"
    assert drone.quantity == 1
    assert drone.weight_kg == Decimal("1.2")
    assert drone.dimensions_cm == (Decimal(30), Decimal(22), Decimal(11))
    assert drone.hs_code == "880622"
    assert drone.origin_country == "CN"
    assert drone.tags == ("Gift message:Alles Gute!",)


def test_order_dates_are_timezone_aware_utc(order_payload: dict[str, Any]) -> None:
    order_payload["created_at"] = "2025-06-06T13:10:00+02:00"

    order = order_from_payload(order_payload)

    assert order.placed_at == datetime(2025, 6, 6, 11, 10, tzinfo=UTC)
    assert order.placed_at.utcoffset() is not None and order.placed_at.tzinfo == UTC
    assert order.delivered_at == datetime(2025, 6, 17, 12, 10, tzinfo=UTC)
    assert order.delivered_at.tzinfo == UTC
    assert {line.delivered_at for line in order.lines} == {order.delivered_at}


def test_order_buyer_and_shipping_address(order_payload: dict[str, Any]) -> None:
    order = order_from_payload(order_payload)

    assert order.customer.external_id == "9572826808048"
    assert order.customer.email == "jonas.schaefer@example.com"
    assert order.customer.name == "Jonas Schäfer"
    assert order.customer.locale == "de"
    address = order.shipping_address
    assert address.name == "Jonas Schäfer"
    assert address.line1 == "Schillerstraße 54"
    assert address.city == "Berlin"
    assert address.postal_code == "10625"
    assert address.country == "DE"
    assert address.phone == "+49 30 90182054"
    assert address.email == "jonas.schaefer@example.com"
    assert order.tags == ("demo", "vip")
    assert order.raw["name"] == "#1002"


def test_yen_order_has_no_decimals() -> None:
    order = order_from_payload(_fixture("order_create_jpy.json"))

    assert order.currency == "JPY"
    assert order.total == Money(Decimal(71960), "JPY")
    assert order.total.minor == 71960
    assert [line.unit_price.amount for line in order.lines] == [Decimal(6490), Decimal(52490)]
    assert order.lines[0].value == Money(Decimal(19470), "JPY")
    assert order.shipping_address.country == "JP"
    assert order.shipping_address.region == "JP-13"


def test_yen_amount_with_decimals_is_refused() -> None:
    payload = _fixture("order_create_jpy.json")
    payload["line_items"][0]["price"] = "6490.5"

    with pytest.raises(ValueError, match=r"^line_items\[0\]\.price: .*JPY"):
        order_from_payload(payload)


def test_lowercase_country_code_is_normalised(order_payload: dict[str, Any]) -> None:
    order_payload["shipping_address"]["country_code"] = "de"

    assert order_from_payload(order_payload).shipping_address.country == "DE"


def test_guest_checkout_takes_the_order_email(order_payload: dict[str, Any]) -> None:
    order_payload["customer"] = None

    customer = order_from_payload(order_payload).customer

    assert customer.external_id == ""
    assert customer.email == "jonas.schaefer@example.com"
    assert customer.locale == "de"


def test_unweighed_line_keeps_the_default_weight(order_payload: dict[str, Any]) -> None:
    order_payload["line_items"][1]["grams"] = 0
    del order_payload["line_items"][1]["dimensions_mm"]

    line = order_from_payload(order_payload).lines[1]

    assert line.weight_kg == Decimal("0.5")
    assert line.dimensions_cm == (Decimal(20), Decimal(15), Decimal(5))


# --- bad orders name the field ---------------------------------------------------------


def _broken(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(payload)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("id",), _DELETE, "id"),
        (("name",), "", "name"),
        (("currency",), "EURO", "currency"),
        (("created_at",), _DELETE, "created_at"),
        (("created_at",), "2025-06-06T11:10:00", "created_at"),
        (("created_at",), "yesterday", "created_at"),
        (("delivered_at",), "2025-06-17", "delivered_at"),
        (("total_price",), 589.97, "total_price"),
        (("total_price",), "lots", "total_price"),
        (("line_items",), [], "line_items"),
        (("line_items", 1, "price"), 110.99, "line_items[1].price"),
        (("line_items", 1, "price"), "-1.00", "line_items[1].price"),
        (("line_items", 2, "quantity"), 0, "line_items[2].quantity"),
        (("line_items", 2, "quantity"), "1", "line_items[2].quantity"),
        (("line_items", 0, "id"), None, "line_items[0].id"),
        (("line_items", 0, "title"), _DELETE, "line_items[0].title"),
        (("line_items", 0, "grams"), -5, "line_items[0].grams"),
        (("line_items", 0, "dimensions_mm"), [300, 220], "line_items[0].dimensions_mm"),
        (("line_items", 0, "properties"), "engraved", "line_items[0].properties"),
        (("shipping_address",), None, "shipping_address"),
        (("shipping_address", "country_code"), "DEU", "shipping_address.country_code"),
        (("shipping_address", "country_code"), _DELETE, "shipping_address.country_code"),
        (("shipping_address", "address1"), "", "shipping_address.address1"),
        (("shipping_address", "city"), None, "shipping_address.city"),
        (("customer",), "jonas", "customer"),
    ],
)
def test_bad_order_payload_names_the_field(
    order_payload: dict[str, Any], path: tuple[Any, ...], value: Any, field: str
) -> None:
    with pytest.raises(ValueError) as error:
        order_from_payload(_broken(order_payload, path, value))

    assert str(error.value).startswith(f"{field}: ")


def test_order_payload_must_be_an_object() -> None:
    with pytest.raises(ValueError, match=r"^order: expected an object"):
        order_from_payload([])  # type: ignore[arg-type]


# --- returns ---------------------------------------------------------------------------


def test_return_request_maps_lines_reasons_and_conditions(return_payload: dict[str, Any]) -> None:
    request = return_request_from_payload(return_payload)

    assert request.external_id == "7000000001"
    assert request.order_external_id == "9023157174860"
    assert request.requested_at == datetime(2025, 6, 25, 8, 0, tzinfo=UTC)
    first, second = request.lines
    assert first.external_id == "8000000001"
    assert first.order_line_external_id == "7938438385955"
    assert first.quantity == 1
    assert first.reason is Reason.SIZE_TOO_SMALL
    assert first.condition is Condition.OPENED
    assert first.note == "Fällt eine Nummer zu klein aus"
    assert second.order_line_external_id == "6886919610466"
    assert second.reason is Reason.DEFECTIVE
    assert second.condition is Condition.DAMAGED
    assert second.note == ""
    assert request.raw["status"] == "requested"


def test_return_lines_map_to_lines_of_the_order(
    order_payload: dict[str, Any], return_payload: dict[str, Any]
) -> None:
    order = order_from_payload(order_payload)
    request = return_request_from_payload(return_payload)

    assert [order.line(line.order_line_external_id).sku for line in request.lines] == [
        "ELE-DRN-150",
        "APP-JKT-033-S",
    ]


@pytest.mark.parametrize(
    ("platform_reason", "reason"),
    [
        ("size_too_small", Reason.SIZE_TOO_SMALL),
        ("size_too_large", Reason.SIZE_TOO_LARGE),
        ("unwanted", Reason.UNWANTED),
        ("not_as_described", Reason.NOT_AS_DESCRIBED),
        ("wrong_item", Reason.WRONG_ITEM),
        ("defective", Reason.DEFECTIVE),
        ("color", Reason.COLOR),
        ("style", Reason.STYLE),
        ("other", Reason.OTHER),
        ("unknown", Reason.OTHER),
        ("damaged_in_transit", Reason.DAMAGED_IN_TRANSIT),
        ("arrived_late", Reason.ARRIVED_LATE),
        ("SIZE_TOO_LARGE", Reason.SIZE_TOO_LARGE),
        ("arrived-late", Reason.ARRIVED_LATE),
        ("too-tight", Reason.SIZE_TOO_SMALL),
        ("smells-funny", Reason.OTHER),
        ("", Reason.OTHER),
        (None, Reason.OTHER),
    ],
)
def test_every_reason_maps_to_a_canonical_one(platform_reason: object, reason: Reason) -> None:
    assert reason_of(platform_reason) is reason


def test_unknown_reason_in_a_payload_is_other(return_payload: dict[str, Any]) -> None:
    return_payload["return_line_items"][0]["return_reason"] = "changed_my_horoscope"

    assert return_request_from_payload(return_payload).lines[0].reason is Reason.OTHER


def test_condition_defaults_to_unused(return_payload: dict[str, Any]) -> None:
    del return_payload["return_line_items"][0]["condition"]
    return_payload["return_line_items"][1]["condition"] = None

    lines = return_request_from_payload(return_payload).lines

    assert [line.condition for line in lines] == [Condition.UNUSED, Condition.UNUSED]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("id",), _DELETE, "id"),
        (("order",), _DELETE, "order"),
        (("order", "id"), "", "order.id"),
        (("requested_at",), _DELETE, "requested_at"),
        (("requested_at",), "2025-06-25 08:00", "requested_at"),
        (("return_line_items",), [], "return_line_items"),
        (("return_line_items", 0, "quantity"), 0, "return_line_items[0].quantity"),
        (
            ("return_line_items", 1, "fulfillment_line_item"),
            _DELETE,
            "return_line_items[1].fulfillment_line_item",
        ),
        (
            ("return_line_items", 1, "fulfillment_line_item", "line_item", "id"),
            None,
            "return_line_items[1].fulfillment_line_item.line_item.id",
        ),
        (("return_line_items", 0, "condition"), "like new-ish", "return_line_items[0].condition"),
    ],
)
def test_bad_return_payload_names_the_field(
    return_payload: dict[str, Any], path: tuple[Any, ...], value: Any, field: str
) -> None:
    with pytest.raises(ValueError) as error:
        return_request_from_payload(_broken(return_payload, path, value))

    assert str(error.value).startswith(f"{field}: ")


# --- return status ---------------------------------------------------------------------


def test_status_of_a_cancel_payload() -> None:
    assert return_status(_fixture("return_cancel.json")) == "canceled"


def test_status_of_a_request_payload(return_payload: dict[str, Any]) -> None:
    assert return_status(return_payload) == "requested"


def test_status_is_lowercased(return_payload: dict[str, Any]) -> None:
    return_payload["status"] = "CLOSED"

    assert return_status(return_payload) == "closed"


@pytest.mark.parametrize("status", [None, "", "shredded", 3])
def test_unknown_status_names_the_field(return_payload: dict[str, Any], status: object) -> None:
    return_payload["status"] = status

    with pytest.raises(ValueError, match=r"^status: "):
        return_status(return_payload)
