"""Shopify's GraphQL orders and returns as the canonical model, from saved payloads: money in
the buyer's currency with the shop's kept beside it, customs facts, reasons both ways."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector.domain import Condition, Money, Reason
from platforms.shopify import mapper

from .conftest import fixture

OVERSHIRT = "gid://shopify/LineItem/13645473517572"
TOTE = "gid://shopify/LineItem/13645473550340"


@pytest.fixture
def order_node() -> dict[str, Any]:
    return fixture("order.json")["data"]["order"]


@pytest.fixture
def return_node() -> dict[str, Any]:
    return fixture("return.json")["data"]["return"]


# --- orders ------------------------------------------------------------------------------


def test_an_order_is_in_the_currency_the_buyer_paid(order_node: dict[str, Any]) -> None:
    order = mapper.order_from_graphql(order_node)

    assert order.external_id == "gid://shopify/Order/5531567751234"
    assert order.number == "#1042"
    assert order.currency == "EUR"
    assert order.total == Money.of("134.90", "EUR")
    assert order.placed_at == datetime(2025, 5, 2, 9, 14, 25, tzinfo=UTC)  # processedAt
    assert order.tags == ("vip", "spring-sale")


def test_the_shops_own_currency_amounts_are_kept_beside(order_node: dict[str, Any]) -> None:
    order = mapper.order_from_graphql(order_node)

    assert order.raw["shop_money"] == {
        "currency": "USD",
        "total": "147.65",
        "unit_prices": {OVERSHIRT: "54.00", TOTE: "28.80"},
    }
    assert order.raw["totalPriceSet"]["presentmentMoney"]["amount"] == "134.90"


def test_lines_carry_what_the_buyer_paid_and_the_customs_facts(
    order_node: dict[str, Any],
) -> None:
    shirt, tote = mapper.order_from_graphql(order_node).lines

    assert shirt.external_id == OVERSHIRT
    assert shirt.sku == "LIN-OVR-M-SND"
    assert shirt.title == "Linen Overshirt - M / Sand"
    assert shirt.quantity == 2
    assert shirt.unit_price == Money.of("49.50", "EUR")  # after discounts, not the list 55.00
    assert shirt.weight_kg == Decimal("0.420")
    assert shirt.hs_code == "620530"
    assert shirt.origin_country == "PT"
    assert shirt.tags == ("Gift wrap:yes",)
    assert tote.weight_kg == Decimal("0.227")  # half a pound
    assert (tote.hs_code, tote.origin_country) == ("", "")
    assert tote.unit_price == Money.of("26.10", "EUR")


def test_the_buyer_and_the_address_come_with_the_order(order_node: dict[str, Any]) -> None:
    order = mapper.order_from_graphql(order_node)

    assert order.customer.external_id == "gid://shopify/Customer/7208612577346"
    assert order.customer.email == "camille.roux@example.fr"
    assert order.customer.name == "Camille Roux"
    assert order.customer.locale == "fr"
    address = order.shipping_address
    assert (address.name, address.line1, address.line2) == (
        "Camille Roux",
        "14 Rue des Lilas",
        "Bâtiment B",
    )
    assert (address.city, address.postal_code, address.country) == ("Lyon", "69003", "FR")
    assert address.email == "camille.roux@example.fr"


def test_delivery_dates_come_from_the_fulfillments(order_node: dict[str, Any]) -> None:
    order = mapper.order_from_graphql(order_node)

    delivered = datetime(2025, 5, 7, 14, 45, 9, tzinfo=UTC)
    assert [line.delivered_at for line in order.lines] == [delivered, delivered]
    assert order.delivered_at == delivered
    assert order.shipped_from == "US"


def test_an_order_with_a_line_still_on_its_way_is_not_delivered(
    order_node: dict[str, Any],
) -> None:
    second = copy.deepcopy(order_node["fulfillments"][0])
    order_node["fulfillments"][0]["fulfillmentLineItems"]["nodes"].pop()
    second["deliveredAt"] = None
    order_node["fulfillments"].append(second)

    order = mapper.order_from_graphql(order_node)

    assert order.lines[0].delivered_at is not None
    assert order.lines[1].delivered_at is None
    assert order.delivered_at is None


def test_a_guest_order_has_a_customer_without_a_record(order_node: dict[str, Any]) -> None:
    order_node["customer"] = None

    customer = mapper.order_from_graphql(order_node).customer

    assert (customer.external_id, customer.email, customer.locale) == (
        "",
        "camille.roux@example.fr",
        "fr",
    )


def test_an_order_picked_up_in_store_uses_the_billing_address(
    order_node: dict[str, Any],
) -> None:
    order_node["shippingAddress"] = None
    order_node["billingAddress"]["city"] = "Villeurbanne"

    assert mapper.order_from_graphql(order_node).shipping_address.city == "Villeurbanne"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.update(shippingAddress=None, billingAddress=None), "shippingAddress"),
        (lambda o: o.update(presentmentCurrencyCode="XXQ"), "presentmentCurrencyCode"),
        (lambda o: o["lineItems"].update(nodes=[]), "lineItems"),
        (lambda o: o["lineItems"]["nodes"][1].update(quantity=0), r"lineItems\[1\].quantity"),
        (
            lambda o: o["lineItems"]["nodes"][0]["discountedUnitPriceAfterAllDiscountsSet"][
                "presentmentMoney"
            ].update(currencyCode="USD"),
            "not the order's EUR",
        ),
        (lambda o: o.update(processedAt=None, createdAt=None), "createdAt"),
    ],
)
def test_an_order_that_cannot_be_mapped_names_the_field(
    order_node: dict[str, Any], change: Any, message: str
) -> None:
    change(order_node)

    with pytest.raises(ValueError, match=message):
        mapper.order_from_graphql(order_node)


@pytest.mark.parametrize(
    ("unit", "value", "kilograms"),
    [
        ("GRAMS", 1500.0, Decimal("1.500")),
        ("KILOGRAMS", 2.25, Decimal("2.250")),
        ("OUNCES", 16.0, Decimal("0.454")),
        ("POUNDS", 2.0, Decimal("0.907")),
    ],
)
def test_weights_become_kilograms(unit: str, value: float, kilograms: Decimal) -> None:
    assert mapper.weight_kg({"unit": unit, "value": value}) == kilograms


def test_an_unweighed_variant_keeps_the_default_weight(order_node: dict[str, Any]) -> None:
    inventory = order_node["lineItems"]["nodes"][0]["variant"]["inventoryItem"]
    inventory["measurement"]["weight"]["value"] = 0.0

    assert mapper.order_from_graphql(order_node).lines[0].weight_kg == Decimal("0.5")


# --- returns -----------------------------------------------------------------------------


def test_a_return_becomes_a_request_for_its_order_lines(return_node: dict[str, Any]) -> None:
    request = mapper.return_request_from_graphql(return_node)

    assert request.external_id == "gid://shopify/Return/945000961"
    assert request.order_external_id == "gid://shopify/Order/5531567751234"
    assert request.requested_at == datetime(2025, 5, 12, 8, 30, tzinfo=UTC)
    shirt, tote = request.lines  # the unverified line returns no order line: left out
    assert shirt.order_line_external_id == OVERSHIRT
    assert shirt.external_id == "gid://shopify/ReturnLineItem/677614678"
    assert shirt.quantity == 1
    assert shirt.reason is Reason.SIZE_TOO_SMALL
    assert shirt.note == "Tight across the shoulders / Could I get an L instead?"
    assert shirt.condition is Condition.UNUSED
    assert tote.reason is Reason.OTHER  # UNKNOWN
    assert request.raw["status"] == "requested"


def test_a_return_of_unverified_lines_only_cannot_be_mapped(
    return_node: dict[str, Any],
) -> None:
    return_node["returnLineItems"]["nodes"] = return_node["returnLineItems"]["nodes"][2:]

    with pytest.raises(ValueError, match="returnLineItems"):
        mapper.return_request_from_graphql(return_node)


@pytest.mark.parametrize("status", ["REQUESTED", "OPEN", "DECLINED", "CLOSED", "CANCELED"])
def test_return_statuses_are_lowercase(status: str) -> None:
    assert mapper.return_status({"status": status}) == status.lower()


# --- reasons and enums -------------------------------------------------------------------

SHOPIFY_REASONS = {
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
}


@pytest.mark.parametrize(("shopify", "canonical"), sorted(SHOPIFY_REASONS.items()))
def test_every_shopify_reason_has_a_canonical_one(shopify: str, canonical: Reason) -> None:
    assert mapper.reason_from_shopify(shopify) is canonical
    assert mapper.reason_from_shopify(shopify.lower()) is canonical  # as webhooks spell them


@pytest.mark.parametrize("canonical", list(Reason))
def test_every_canonical_reason_goes_back_as_one_shopify_knows(canonical: Reason) -> None:
    shopify = mapper.reason_to_shopify(canonical)

    assert shopify in SHOPIFY_REASONS and shopify != "UNKNOWN"
    if canonical not in (Reason.DAMAGED_IN_TRANSIT, Reason.ARRIVED_LATE):
        assert mapper.reason_from_shopify(shopify) is canonical  # a round trip


@pytest.mark.parametrize(
    ("handle", "canonical"),
    [
        ("too-tight", Reason.SIZE_TOO_SMALL),
        ("too-loose", Reason.SIZE_TOO_LARGE),
        ("arrived-late", Reason.ARRIVED_LATE),
        ("arrived-damaged", Reason.DAMAGED_IN_TRANSIT),
        ("something-new", Reason.OTHER),
        (None, Reason.OTHER),
    ],
)
def test_reason_definition_handles_map_too(handle: str | None, canonical: Reason) -> None:
    assert mapper.reason_from_shopify(handle) is canonical


@pytest.mark.parametrize(
    ("reason", "note", "expected"),
    [
        ("FINAL_SALE", "Sale items are final.", ("FINAL_SALE", "Sale items are final.")),
        ("RETURN_PERIOD_ENDED", "", ("RETURN_PERIOD_ENDED", "")),
        ("outside_window", "30 days", ("RETURN_PERIOD_ENDED", "30 days")),
        ("non-returnable", "", ("FINAL_SALE", "")),
        ("OTHER", "see note", ("OTHER", "see note")),
        ("HYGIENE", "Opened cosmetics", ("OTHER", "HYGIENE: Opened cosmetics")),
    ],
)
def test_decline_reasons_map_to_the_three_shopify_knows(
    reason: str, note: str, expected: tuple[str, str]
) -> None:
    assert mapper.decline_reason(reason, note) == expected


def test_a_decline_note_is_cut_to_what_shopify_keeps() -> None:
    _, note = mapper.decline_reason("OTHER", "x" * 900)

    assert len(note) == 500


@pytest.mark.parametrize(
    ("disposition", "shopify"),
    [
        ("RESTOCKED", "RESTOCKED"),
        ("restock", "RESTOCKED"),
        ("PROCESSING_REQUIRED", "PROCESSING_REQUIRED"),
        ("repair", "PROCESSING_REQUIRED"),
        ("NOT_RESTOCKED", "NOT_RESTOCKED"),
        ("destroy", "NOT_RESTOCKED"),
        ("missing", "MISSING"),
    ],
)
def test_dispositions_map_to_shopifys_types(disposition: str, shopify: str) -> None:
    assert mapper.disposition_type(disposition) == shopify


def test_an_unknown_disposition_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="RESTOCKED"):
        mapper.disposition_type("sell-on-ebay")


def test_tracking_pages_for_known_carriers_only() -> None:
    assert mapper.tracking_url("UPS", "1Z999AA10123456784") == (
        "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    )
    assert mapper.tracking_url("ratecard", "RC123") is None
