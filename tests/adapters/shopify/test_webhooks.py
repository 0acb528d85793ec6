"""Shopify webhook deliveries: signatures by the current, previous or app secret, headers read
whatever their case, and every topic Helloword hears interpreted by re-reading Shopify."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector.domain import Money
from connector.errors import PermanentError
from connector.ports import InboundEvent
from platforms.shopify import ShopifyPlatform
from platforms.shopify.webhooks import headers_for, sign
from tests.contract.shopify_store import FakeShopify

from .conftest import APP_SECRET, LINES, PREVIOUS, SECRET, SHOP, fixture

TRIGGERED = datetime(2025, 5, 12, 8, 30, 1, tzinfo=UTC)


def delivery(
    topic: str, payload: dict[str, Any], secret: str = SECRET, event_id: str = "evt-1"
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    return headers_for(body, secret, topic, SHOP, event_id, TRIGGERED), body


def event(topic: str, payload: dict[str, Any]) -> InboundEvent:
    return InboundEvent(event_id="evt-1", topic=topic, shop=SHOP, payload=payload)


# --- signatures --------------------------------------------------------------------------


def test_a_delivery_signed_with_the_current_secret_verifies(adapter: ShopifyPlatform) -> None:
    headers, body = delivery("orders/create", fixture("orders_create.json"))

    assert adapter.verify(headers, body)


def test_a_forged_signature_does_not_verify(adapter: ShopifyPlatform) -> None:
    headers, body = delivery("orders/create", fixture("orders_create.json"), secret="guessed")

    assert not adapter.verify(headers, body)


def test_a_body_changed_after_signing_does_not_verify(adapter: ShopifyPlatform) -> None:
    headers, body = delivery("orders/create", fixture("orders_create.json"))

    assert not adapter.verify(headers, body.replace(b"134.90", b"1.00"))


def test_the_previous_secret_verifies_during_a_rotation(
    make_adapter: Callable[..., ShopifyPlatform],
) -> None:
    adapter = make_adapter(secrets={"webhook_secret": SECRET, "previous_webhook_secret": PREVIOUS})
    headers, body = delivery("orders/create", fixture("orders_create.json"), secret=PREVIOUS)

    assert adapter.verify(headers, body)


def test_an_installed_app_verifies_with_its_client_secret(
    make_adapter: Callable[..., ShopifyPlatform],
) -> None:
    adapter = make_adapter(secrets={"access_token": "t", "api_secret": APP_SECRET})
    headers, body = delivery("returns/request", fixture("returns_request.json"), APP_SECRET)

    assert adapter.verify(headers, body)
    assert not adapter.verify(*delivery("returns/request", fixture("returns_request.json")))


def test_a_missing_signature_header_never_verifies(adapter: ShopifyPlatform) -> None:
    headers, body = delivery("orders/create", fixture("orders_create.json"))
    del headers["X-Shopify-Hmac-Sha256"]

    assert not adapter.verify(headers, body)


def test_a_store_without_secrets_trusts_nothing(
    make_adapter: Callable[..., ShopifyPlatform],
) -> None:
    adapter = make_adapter(secrets={"access_token": "t"})
    body = b"{}"

    assert not adapter.verify({"X-Shopify-Hmac-Sha256": sign(body, "")}, body)


def test_headers_are_read_whatever_their_case(adapter: ShopifyPlatform) -> None:
    headers, body = delivery("orders/create", fixture("orders_create.json"))
    lowered = {key.lower(): value for key, value in headers.items()}

    assert ShopifyPlatform.shop_of(lowered) == SHOP
    assert adapter.verify(lowered, body)
    assert adapter.parse(lowered, body).topic == "orders/create"


# --- parsing -----------------------------------------------------------------------------


def test_parse_keys_the_event_by_its_event_id(adapter: ShopifyPlatform) -> None:
    headers, body = delivery("returns/approve", fixture("returns_approve.json"), event_id="e-77")

    parsed = adapter.parse(headers, body)

    assert (parsed.event_id, parsed.topic, parsed.shop) == ("e-77", "returns/approve", SHOP)
    assert parsed.occurred_at == TRIGGERED
    assert parsed.payload["admin_graphql_api_id"] == "gid://shopify/Return/945000961"


def test_parse_falls_back_to_the_webhook_id(adapter: ShopifyPlatform) -> None:
    headers, body = delivery("returns/approve", fixture("returns_approve.json"))
    del headers["X-Shopify-Event-Id"]
    headers["X-Shopify-Webhook-Id"] = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"

    assert adapter.parse(headers, body).event_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


def test_parse_reads_shopifys_nanosecond_timestamps(adapter: ShopifyPlatform) -> None:
    headers, body = delivery("orders/create", fixture("orders_create.json"))
    headers["X-Shopify-Triggered-At"] = "2025-05-12T08:30:01.877041743Z"

    assert adapter.parse(headers, body).occurred_at == datetime(
        2025, 5, 12, 8, 30, 1, 877041, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.pop("X-Shopify-Topic"), "X-Shopify-Topic"),
        (lambda h: h.pop("X-Shopify-Shop-Domain"), "X-Shopify-Shop-Domain"),
        (
            lambda h: (h.pop("X-Shopify-Event-Id"), h.pop("X-Shopify-Webhook-Id")),
            "X-Shopify-Event-Id",
        ),
        (lambda h: h.update({"X-Shopify-Triggered-At": "yesterday"}), "X-Shopify-Triggered-At"),
        (lambda h: h.update({"X-Shopify-Shop-Domain": "other.myshopify.com"}), "other"),
    ],
)
def test_parse_refuses_a_delivery_it_cannot_trust_with_a_value_error(
    adapter: ShopifyPlatform, change: Callable[[dict[str, str]], object], message: str
) -> None:
    headers, body = delivery("orders/create", fixture("orders_create.json"))
    change(headers)

    with pytest.raises(ValueError, match=message):
        adapter.parse(headers, body)


def test_parse_refuses_a_body_that_is_not_a_json_object(adapter: ShopifyPlatform) -> None:
    headers, _ = delivery("orders/create", {})

    with pytest.raises(ValueError, match="body"):
        adapter.parse(headers, b"[1, 2]")


# --- interpreting every topic ------------------------------------------------------------


@pytest.fixture
def returned(store: FakeShopify) -> dict[str, Any]:
    """An order with an open return on Shopify, and the payload ids pointing at them."""
    order = store.add_order(LINES)
    line = order["lineItems"]["nodes"][0]
    return_id = store.request_return(order["id"], [(line["id"], 1, "SIZE_TOO_SMALL")])
    return {"order": order, "line": line, "return_id": return_id}


def test_an_order_event_re_reads_the_order(
    adapter: ShopifyPlatform, store: FakeShopify, returned: dict[str, Any]
) -> None:
    order = returned["order"]
    payload = {**fixture("orders_create.json"), "admin_graphql_api_id": order["id"]}

    for topic in ("orders/create", "orders/updated"):
        parsed = adapter.interpret(event(topic, payload))

        assert parsed.kind == "order"
        assert parsed.order is not None
        assert parsed.order.external_id == order["id"]
        assert parsed.order.currency == "EUR"
        assert parsed.order.total.amount == Decimal("125.10")
    assert store.operations() == ["Order", "Order"]


def test_an_order_event_with_only_the_numeric_id_still_finds_the_order(
    adapter: ShopifyPlatform, returned: dict[str, Any]
) -> None:
    order = returned["order"]

    parsed = adapter.interpret(event("orders/create", {"id": int(order["legacyResourceId"])}))

    assert parsed.order is not None and parsed.order.external_id == order["id"]


def test_a_return_request_event_re_reads_the_return(
    adapter: ShopifyPlatform, returned: dict[str, Any]
) -> None:
    payload = {**fixture("returns_request.json"), "admin_graphql_api_id": returned["return_id"]}

    parsed = adapter.interpret(event("returns/request", payload))

    assert parsed.kind == "return_request"
    request = parsed.return_request
    assert request is not None
    assert request.external_id == returned["return_id"]
    assert request.order_external_id == returned["order"]["id"]
    assert [(line.order_line_external_id, line.quantity) for line in request.lines] == [
        (returned["line"]["id"], 1)
    ]
    assert request.lines[0].reason == "SIZE_TOO_SMALL"


@pytest.mark.parametrize(
    ("topic", "name"),
    [
        ("returns/approve", "returns_approve.json"),
        ("returns/decline", "returns_decline.json"),
        ("returns/cancel", "returns_cancel.json"),
        ("returns/close", "returns_close.json"),
        ("returns/reopen", "returns_reopen.json"),
    ],
)
def test_a_return_status_event_carries_the_status_shopify_has_now(
    adapter: ShopifyPlatform,
    store: FakeShopify,
    returned: dict[str, Any],
    topic: str,
    name: str,
) -> None:
    store.returns[returned["return_id"]]["status"] = "CANCELED"
    payload = {**fixture(name), "admin_graphql_api_id": returned["return_id"]}

    parsed = adapter.interpret(event(topic, payload))

    assert parsed.kind == "return_update"
    assert parsed.return_external_id == returned["return_id"]
    # the payload said otherwise; a trigger is re-read, so a late delivery carries no stale state
    assert parsed.external_return_status == "canceled"
    assert parsed.details == {"topic": topic}


def test_an_attached_delivery_names_its_return_and_tracking(
    adapter: ShopifyPlatform, store: FakeShopify, returned: dict[str, Any]
) -> None:
    adapter.approve("approve:1", returned["return_id"])
    label = adapter.attach_label(
        "label:1", returned["return_id"], "1Z999AA10123456784", "ups", "https://l.test/1.pdf"
    )
    payload = {
        **fixture("reverse_deliveries_attach_deliverable.json"),
        "admin_graphql_api_id": label.external_id,
    }

    parsed = adapter.interpret(event("reverse_deliveries/attach_deliverable", payload))

    assert parsed.kind == "return_update"
    assert (parsed.return_external_id, parsed.external_return_status) == (
        returned["return_id"],
        "open",
    )
    assert parsed.details["tracking_number"] == "1Z999AA10123456784"
    assert parsed.details["carrier"] == "UPS"
    assert parsed.details["label_url"] == "https://l.test/1.pdf"


def test_a_disposal_names_its_return_and_what_became_of_each_line(
    adapter: ShopifyPlatform, store: FakeShopify, returned: dict[str, Any]
) -> None:
    adapter.approve("approve:1", returned["return_id"])
    adapter.dispose("dispose:1", returned["return_id"], [(returned["line"]["id"], 1, "restock")])
    rfo_id = store.returns[returned["return_id"]]["rfos"][0]["id"]
    payload = {**fixture("reverse_fulfillment_orders_dispose.json"), "admin_graphql_api_id": rfo_id}

    parsed = adapter.interpret(event("reverse_fulfillment_orders/dispose", payload))

    assert parsed.kind == "return_update"
    assert parsed.return_external_id == returned["return_id"]
    assert parsed.details["dispositions"] == [
        {"order_line_external_id": returned["line"]["id"], "type": "RESTOCKED", "quantity": 1}
    ]


def test_a_refund_of_a_return_names_the_return_and_the_amount(
    adapter: ShopifyPlatform, returned: dict[str, Any]
) -> None:
    adapter.approve("approve:1", returned["return_id"])
    refund = adapter.refund(
        "refund:1",
        returned["return_id"],
        returned["order"]["id"],
        Money.of("49.50", "EUR"),
        [(returned["line"]["id"], 1)],
    )
    payload = {**fixture("refunds_create.json"), "admin_graphql_api_id": refund.external_id}

    parsed = adapter.interpret(event("refunds/create", payload))

    assert parsed.kind == "return_update"
    assert parsed.return_external_id == returned["return_id"]
    assert parsed.details["refund_external_id"] == refund.external_id
    assert parsed.details["amount"] == {"amount": "49.50", "currency": "EUR"}


def test_a_refund_that_is_no_return_of_goods_is_ignored(
    adapter: ShopifyPlatform, store: FakeShopify
) -> None:
    store.inject(
        "Refund",
        (
            200,
            {
                "data": {
                    "refund": {
                        "id": "gid://shopify/Refund/929361463",
                        "createdAt": "2025-05-16T14:12:44Z",
                        "order": {"id": "gid://shopify/Order/5531567751234"},
                        "return": None,
                        "totalRefundedSet": None,
                    }
                }
            },
        ),
    )

    parsed = adapter.interpret(event("refunds/create", fixture("refunds_create.json")))

    assert parsed.kind == "ignored"


def test_app_uninstalled_is_read_from_the_payload_without_calling_shopify(
    adapter: ShopifyPlatform, store: FakeShopify
) -> None:
    parsed = adapter.interpret(event("app/uninstalled", fixture("app_uninstalled.json")))

    assert parsed.kind == "uninstalled"
    assert parsed.details == {
        "topic": "app/uninstalled",
        "shop_domain": "ateliernord.myshopify.com",
        "shop_id": "63177719874",
    }
    assert store.calls == []


def test_a_customer_data_request_names_the_customer_and_orders_as_stored(
    adapter: ShopifyPlatform, store: FakeShopify
) -> None:
    parsed = adapter.interpret(
        event("customers/data_request", fixture("customers_data_request.json"))
    )

    assert parsed.kind == "customer_data_request"
    assert parsed.details == {
        "topic": "customers/data_request",
        "shop_domain": "ateliernord.myshopify.com",
        "shop_id": "63177719874",
        "customer_external_id": "gid://shopify/Customer/7208612577346",
        "email": "camille.roux@example.fr",
        "phone": "+33478000000",
        "order_external_ids": [
            "gid://shopify/Order/5531567751234",
            "gid://shopify/Order/5531567784002",
        ],
        "request_id": "9999",
    }
    assert store.calls == []


def test_a_customer_redaction_names_the_customer_and_orders_to_erase(
    adapter: ShopifyPlatform,
) -> None:
    parsed = adapter.interpret(event("customers/redact", fixture("customers_redact.json")))

    assert parsed.kind == "customer_redact"
    assert parsed.details["customer_external_id"] == "gid://shopify/Customer/7208612577346"
    assert parsed.details["order_external_ids"] == [
        "gid://shopify/Order/5531567751234",
        "gid://shopify/Order/5531567784002",
    ]


def test_a_shop_redaction_names_the_shop(adapter: ShopifyPlatform) -> None:
    parsed = adapter.interpret(event("shop/redact", fixture("shop_redact.json")))

    assert parsed.kind == "shop_redact"
    assert parsed.details == {
        "topic": "shop/redact",
        "shop_domain": "ateliernord.myshopify.com",
        "shop_id": "63177719874",
    }


def test_an_unknown_topic_is_ignored(adapter: ShopifyPlatform, store: FakeShopify) -> None:
    parsed = adapter.interpret(event("products/update", {"id": 1}))

    assert parsed.kind == "ignored"
    assert store.calls == []


def test_an_event_about_a_return_shopify_no_longer_has_is_permanent(
    adapter: ShopifyPlatform, store: FakeShopify
) -> None:
    with pytest.raises(PermanentError, match="no return"):
        adapter.interpret(event("returns/close", fixture("returns_close.json")))


def test_an_event_without_an_id_is_permanent(adapter: ShopifyPlatform) -> None:
    with pytest.raises(PermanentError, match="returns/approve event evt-1"):
        adapter.interpret(event("returns/approve", {"status": "open"}))


def test_an_order_that_can_never_be_returned_is_ignored_with_the_reason(
    adapter: ShopifyPlatform, store: FakeShopify
) -> None:
    order = store.add_order(LINES)
    store.orders[order["id"]]["shippingAddress"] = None  # a gift card alone: nothing to ship

    parsed = adapter.interpret(event("orders/create", {"admin_graphql_api_id": order["id"]}))

    assert parsed.kind == "ignored"
    assert "shippingAddress" in parsed.details["reason"]


def test_a_return_of_unverified_lines_only_is_ignored_with_the_reason(
    adapter: ShopifyPlatform, store: FakeShopify, returned: dict[str, Any]
) -> None:
    store.returns[returned["return_id"]]["lines"][0]["fulfillmentLineItem"] = None
    payload = {**fixture("returns_request.json"), "admin_graphql_api_id": returned["return_id"]}

    parsed = adapter.interpret(event("returns/request", payload))

    assert parsed.kind == "ignored"
    assert "returnLineItems" in parsed.details["reason"]
