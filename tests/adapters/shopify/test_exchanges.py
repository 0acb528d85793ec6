"""Exchanges on Shopify: a line's other variants at its price, a return created with exchange
line items, and returnProcess fulfilling them without a refund."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.domain import Reason, ReturnLine, ReturnRequest
from connector.errors import PermanentError
from platforms.shopify import ShopifyPlatform
from tests.contract.shopify_store import FakeShopify, Line

SHIRT = Line(
    "Linen Overshirt",
    "LIN-OVR-M-SND",
    1,
    "49.50",
    "54.00",
    variants=[("LIN-OVR-L-SND", "L / Sand", True), ("LIN-OVR-S-SND", "S / Sand", False)],
)


@pytest.fixture
def order(store: FakeShopify) -> dict[str, Any]:
    order = store.add_order([SHIRT])
    [line] = order["lineItems"]["nodes"]
    product = store.products[line["id"]]
    product["variants"].append(  # a dearer variant is never offered: no money changes hands
        {
            "id": "gid://shopify/ProductVariant/1",
            "sku": "LIN-OVR-XL-SND",
            "title": "XL / Sand",
            "price": "64.00",
            "availableForSale": True,
        }
    )
    return order


def _line_id(order: dict[str, Any]) -> str:
    return str(order["lineItems"]["nodes"][0]["id"])


def _exchange_request(order: dict[str, Any], sku: str = "LIN-OVR-L-SND") -> ReturnRequest:
    return ReturnRequest(
        order_external_id=order["id"],
        lines=(ReturnLine(_line_id(order), 1, Reason.SIZE_TOO_SMALL, exchange_sku=sku),),
        requested_at=datetime(2025, 6, 2, 8, 0, tzinfo=UTC),
        resolution="exchange",
    )


def test_variants_are_the_products_others_at_the_ordered_price(
    adapter: ShopifyPlatform, order: dict[str, Any]
) -> None:
    variants = adapter.variants(_line_id(order), "LIN-OVR-M-SND")

    assert [(v.sku, v.title, v.available) for v in variants] == [
        ("LIN-OVR-L-SND", "L / Sand", True),
        ("LIN-OVR-S-SND", "S / Sand", False),
    ]


def test_a_return_made_in_helloword_carries_its_exchange_line_items(
    adapter: ShopifyPlatform, store: FakeShopify, order: dict[str, Any]
) -> None:
    result = adapter.create_return("create:1", _exchange_request(order))

    sent = store.calls[-1][1]["returnInput"]
    wanted = next(
        v for v in store.products[_line_id(order)]["variants"] if v["sku"] == "LIN-OVR-L-SND"
    )
    assert sent["exchangeLineItems"] == [{"variantId": wanted["id"], "quantity": 1}]
    [exchange] = store.returns[result.external_id]["exchanges"]
    assert (exchange["variantId"], exchange["processedQuantity"]) == (wanted["id"], 0)


def test_the_exchange_push_fulfils_the_exchange_without_a_refund_once(
    adapter: ShopifyPlatform, store: FakeShopify, order: dict[str, Any]
) -> None:
    created = adapter.create_return("create:1", _exchange_request(order)).external_id
    lines = [(_line_id(order), 1, "LIN-OVR-L-SND")]

    result = adapter.exchange("exchange:1:1", created, order["id"], lines)

    record = store.returns[created]
    assert result.external_id == created and not result.already_done
    assert record["exchanges"][0]["processedQuantity"] == 1
    assert record["lines"][0]["processedQuantity"] == 1
    assert record["refunds"] == [] and record["lines"][0]["refundedQuantity"] == 0
    [process] = [v["input"] for name, v in store.calls if name == "ReturnProcess"]
    assert "financialTransfer" not in process
    assert process["exchangeLineItems"] == [{"id": record["exchanges"][0]["id"], "quantity": 1}]

    before = store.snapshot()
    again = adapter.exchange("exchange:1:1", created, order["id"], lines)
    assert again.already_done and store.snapshot() == before


def test_an_exchange_on_a_return_made_without_one_is_permanent(
    adapter: ShopifyPlatform, store: FakeShopify, order: dict[str, Any]
) -> None:
    return_id = store.request_return(order["id"], [(_line_id(order), 1, "SIZE_TOO_SMALL")])
    adapter.approve("approve:1", return_id)

    with pytest.raises(PermanentError, match="no exchange for 'LIN-OVR-L-SND'"):
        adapter.exchange(
            "exchange:1:1", return_id, order["id"], [(_line_id(order), 1, "LIN-OVR-L-SND")]
        )


def test_a_variant_at_another_price_cannot_be_asked_for(
    adapter: ShopifyPlatform, order: dict[str, Any]
) -> None:
    with pytest.raises(PermanentError, match="no variant 'LIN-OVR-XL-SND' at its price"):
        adapter.create_return("create:1", _exchange_request(order, "LIN-OVR-XL-SND"))
