"""The platforms the contract suite runs over, each with what the suite needs to drive it.

A harness gives the adapter under test, deliveries signed as its platform signs them, fresh
return requests on the remote side, and a snapshot of the remote's state so a test can tell
whether a call changed anything there. The sandbox's remote is its store file; a Shopify
harness would stub the HTTP API and snapshot the mutations it received. To put an adapter
under the contract, write its builder and add it to ``HARNESSES``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector.domain import Money
from connector.ports import AdapterContext, Credentials
from platforms.sandbox import SandboxMarketplace, SandboxPlatform
from platforms.sandbox.webhooks import headers_for


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


HARNESSES: dict[str, Callable[[Path], PlatformUnderTest]] = {
    "sandbox": sandbox,
}


def new_event_id() -> str:
    return str(uuid.uuid4())
