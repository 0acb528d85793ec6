"""The platforms the contract suite runs over, each with what the suite needs to drive it.

A harness gives the adapter under test, deliveries signed as its platform signs them, fresh
return requests on the remote side, and a snapshot of the remote's state so a test can tell
whether a call changed anything there. The sandbox's remote is its store file; Shopify's is a
stateful stand-in for its GraphQL Admin API behind ``responses`` (``shopify_store``); Amazon's a
stand-in for its Selling Partner API behind ``respx`` (``amazon_store``). To put an adapter
under the contract, write its builder and add it to ``HARNESSES``; ``close`` undoes whatever
the builder set up (an HTTP stub, say). A platform that answers some pushes later
(``AwaitingPlatform``) names in ``catch_up`` the work its jobs do meanwhile (Amazon sends the
refunds it gathered as one feed), which the suite runs before asking again. A platform
without an API for part of the contract names it in ``UNSUPPORTED`` with the reason
(``"webhooks"`` or a push's kind), and the tests of that part are not generated for it: the
reason stands here instead.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import responses
import respx

from connector.domain import Money
from connector.errors import NothingToDo
from connector.ports import AdapterContext, Credentials
from platforms.amazon import AmazonPlatform
from platforms.sandbox import SandboxMarketplace, SandboxPlatform
from platforms.sandbox.webhooks import headers_for
from platforms.shopify import ShopifyPlatform
from platforms.shopify import webhooks as shopify_webhooks

from .amazon_store import FakeAmazon, Item
from .shopify_store import FakeShopify, Line


@dataclass(frozen=True)
class ReturnCase:
    """A return request that exists on the platform, still awaiting a decision."""

    external_id: str
    order_external_id: str
    order_line_external_id: str
    refund: Money  # an amount the platform will accept as a refund for it


@dataclass(frozen=True)
class PlatformUnderTest:
    slug: str
    adapter: Any
    order_payload: dict[str, Any]  # an order as the platform's order webhook carries it
    # (topic, payload, event id) → the headers and raw body of a signed delivery
    signed_delivery: Callable[[str, dict[str, Any], str], tuple[dict[str, str], bytes]]
    new_return: Callable[[], ReturnCase]
    remote_state: Callable[[], object]
    close: Callable[[], None] = lambda: None
    catch_up: Callable[[], None] = lambda: None


def sandbox(tmp_path: Path) -> PlatformUnderTest:
    shop, secret = "contract.sandbox.test", "contract-secret"
    marketplace = SandboxMarketplace(tmp_path / "sandbox.sqlite3")
    marketplace.create_shop(shop, secret, "https://helloword.test/webhooks/sandbox")
    orders = marketplace.load_demo_orders(shop, 10, seed=11, today=date(2025, 6, 30))
    adapter = SandboxPlatform(
        Credentials(shop, {"webhook_secret": secret}),
        AdapterContext(data_dir=tmp_path),
    )
    remaining = iter(orders)

    def signed_delivery(
        topic: str, payload: dict[str, Any], event_id: str
    ) -> tuple[dict[str, str], bytes]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return headers_for(body, secret, topic, shop, event_id, datetime.now(UTC)), body

    def new_return() -> ReturnCase:
        order = next(remaining)
        line = order["line_items"][0]
        payload = marketplace.request_return(
            shop,
            order["id"],
            [{"line_item_id": line["id"], "quantity": 1, "reason": "unwanted"}],
            datetime.now(UTC),
        )
        return ReturnCase(
            external_id=str(payload["id"]),
            order_external_id=str(order["id"]),
            order_line_external_id=str(line["id"]),
            refund=Money.of(Decimal(line["price"]), order["currency"]),
        )

    def remote_state() -> object:
        return (
            marketplace.pushes(shop),
            marketplace.returns(shop),
            [marketplace.refunded(shop, order["id"]) for order in orders],
        )

    return PlatformUnderTest(
        "sandbox", adapter, orders[0], signed_delivery, new_return, remote_state
    )


def shopify(tmp_path: Path) -> PlatformUnderTest:
    shop, token, secret = "contract-store.myshopify.com", "shpat_contract", "contract-secret"
    store = FakeShopify(shop, token)
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    store.install(mock)
    mock.start()
    lines = [
        Line("Wool Scarf", "SCARF-GRY", 2, "39.00", "42.00", hs_code="611720", origin="IT"),
        Line("Leather Gloves", "GLOVE-BRN-M", 1, "65.00", "70.00", grams=180),
    ]
    orders = [store.add_order(lines) for _ in range(12)]
    adapter = ShopifyPlatform(
        Credentials(
            shop,
            {"access_token": token, "api_secret": secret},
            {"location_id": "gid://shopify/Location/71829094466"},
        ),
        AdapterContext(data_dir=tmp_path),
        sleep=lambda seconds: None,
    )
    remaining = iter(orders)
    first = orders[0]
    order_payload = {
        "id": int(first["legacyResourceId"]),
        "admin_graphql_api_id": first["id"],
        "name": first["name"],
        "email": first["email"],
        "currency": first["currencyCode"],
        "presentment_currency": first["presentmentCurrencyCode"],
        "total_price": first["totalPriceSet"]["shopMoney"]["amount"],
        "created_at": first["createdAt"],
    }

    def signed_delivery(
        topic: str, payload: dict[str, Any], event_id: str
    ) -> tuple[dict[str, str], bytes]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = shopify_webhooks.headers_for(
            body, secret, topic, shop, event_id, datetime.now(UTC)
        )
        return headers, body

    def new_return() -> ReturnCase:
        order = next(remaining)
        line = order["lineItems"]["nodes"][0]
        return_id = store.request_return(order["id"], [(line["id"], 1, "UNWANTED")])
        price = line["discountedUnitPriceAfterAllDiscountsSet"]["presentmentMoney"]
        return ReturnCase(
            external_id=return_id,
            order_external_id=order["id"],
            order_line_external_id=line["id"],
            refund=Money.of(Decimal(price["amount"]), price["currencyCode"]),
        )

    def close() -> None:
        mock.stop()
        mock.reset()

    return PlatformUnderTest(
        "shopify", adapter, order_payload, signed_delivery, new_return, store.snapshot, close
    )


def amazon(tmp_path: Path) -> PlatformUnderTest:
    seller, client_id, secret = "A2CONTRACTSELLER", "amzn1.application-oa2-client.c0", "lwa-secret"
    refresh_token = "Atzr|contract-refresh-token"
    store = FakeAmazon(seller, client_id, secret, refresh_tokens={refresh_token})
    router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
    store.install(router)
    router.start()
    items = [
        Item("WOOL-SCARF-GRY", "Wool scarf, grey", 2, "39.00"),
        Item("GLOVES-BRN-M", "Leather gloves, brown, M", 1, "65.00"),
    ]
    orders = [store.add_order(items) for _ in range(12)]
    adapter = AmazonPlatform(
        Credentials(
            seller,
            {"refresh_token": refresh_token, "lwa_app_id": client_id, "lwa_client_secret": secret},
            {"region": "eu", "marketplace_ids": [store.marketplace_id]},
        ),
        AdapterContext(data_dir=tmp_path),
        sleep=lambda seconds: None,
    )
    remaining = iter(orders)

    def no_deliveries(
        topic: str, payload: dict[str, Any], event_id: str
    ) -> tuple[dict[str, str], bytes]:
        raise AssertionError("Amazon sends no webhook deliveries for returns")

    def new_return() -> ReturnCase:
        # Amazon's returns exist only as report rows: the RMA is all there is of one remotely.
        order = next(remaining)
        item = order["orderItems"][0]
        price = item["product"]["price"]["unitPrice"]
        return ReturnCase(
            external_id=f"RMA-{order['orderId']}",
            order_external_id=order["orderId"],
            order_line_external_id=item["product"]["sellerSku"],
            refund=Money.of(Decimal(price["amount"]), price["currencyCode"]),
        )

    def close() -> None:
        router.stop()
        router.reset()

    def send_refunds() -> None:  # what the submit_amazon_refunds job does
        lines = adapter.take_queued_refunds()
        if lines:
            with contextlib.suppress(NothingToDo):  # every refund refused before any feed
                adapter.submit_refunds(lines)

    return PlatformUnderTest(
        "amazon",
        adapter,
        {},
        no_deliveries,
        new_return,
        store.snapshot,
        close,
        send_refunds,
    )


_NO_API = "Amazon has no API for it on seller-fulfilled returns (the adapter says so)"
# part of the contract → why a platform cannot do it
UNSUPPORTED: dict[str, dict[str, str]] = {
    "amazon": {
        "webhooks": "Amazon's returns arrive in reports; there are no webhook deliveries",
        **dict.fromkeys(("approve", "decline", "attach_label", "dispose", "close"), _NO_API),
    },
}


def supporting(*parts: str) -> list[str]:
    """The harnesses whose platforms can do every one of ``parts``."""
    return [slug for slug in sorted(HARNESSES) if not set(parts) & set(UNSUPPORTED.get(slug, {}))]


HARNESSES: dict[str, Callable[[Path], PlatformUnderTest]] = {
    "sandbox": sandbox,
    "shopify": shopify,
    "amazon": amazon,
}


def new_event_id() -> str:
    return str(uuid.uuid4())
