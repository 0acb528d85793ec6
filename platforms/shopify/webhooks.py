"""Shopify webhook deliveries: the signature, the headers, and the topics Helloword hears.

Shopify signs each delivery with the base64 of HMAC-SHA256 over the raw request body. Which
secret signs depends on how the store was linked, so the adapter accepts any of these keys of
``Credentials.secrets``:

- ``webhook_secret`` — the secret a custom app shows in the store's admin, and
  ``previous_webhook_secret`` while it is being rotated;
- ``api_secret`` — the app's client secret, which signs every delivery to an installed app, and
  ``previous_api_secret`` for the hour after it is rotated, when Shopify may still sign with it.

Verification runs on the raw bytes (re-serialised JSON would not match), compares in constant
time, and compares against every secret so the time taken does not tell which one matched.
Deliveries are deduplicated by ``X-Shopify-Event-Id`` (one per event, stable across retries),
falling back to ``X-Shopify-Webhook-Id`` for a sender that omits it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from connector.ports import InboundEvent

from . import ids

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_HEADER = "X-Shopify-Shop-Domain"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"
API_VERSION_HEADER = "X-Shopify-API-Version"

SECRET_KEYS = ("webhook_secret", "previous_webhook_secret", "api_secret", "previous_api_secret")

ORDER_TOPICS = frozenset({"orders/create", "orders/updated"})
RETURN_REQUEST_TOPIC = "returns/request"
RETURN_STATUS_TOPICS = frozenset(
    {"returns/approve", "returns/decline", "returns/cancel", "returns/close", "returns/reopen"}
)
DELIVERY_TOPIC = "reverse_deliveries/attach_deliverable"
DISPOSE_TOPIC = "reverse_fulfillment_orders/dispose"
REFUND_TOPIC = "refunds/create"
UNINSTALLED_TOPIC = "app/uninstalled"
# The mandatory privacy topics: an app subscribes to them in its configuration, not by API.
COMPLIANCE_KINDS = {
    "customers/data_request": "customer_data_request",
    "customers/redact": "customer_redact",
    "shop/redact": "shop_redact",
}

# Every topic the adapter subscribes a store to, as ``WebhookSubscriptionTopic`` names them.
SUBSCRIBED_TOPICS: tuple[str, ...] = (
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "RETURNS_REQUEST",
    "RETURNS_APPROVE",
    "RETURNS_DECLINE",
    "RETURNS_CANCEL",
    "RETURNS_CLOSE",
    "RETURNS_REOPEN",
    "REVERSE_DELIVERIES_ATTACH_DELIVERABLE",
    "REVERSE_FULFILLMENT_ORDERS_DISPOSE",
    "REFUNDS_CREATE",
    "APP_UNINSTALLED",
)


def sign(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value for ``body``: base64 of HMAC-SHA256(secret, body)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, signature: str | None, secrets: Sequence[str]) -> bool:
    """Whether ``signature`` signs ``body`` under any of ``secrets``.

    A missing signature, or no secret at all, never verifies: an unsigned body is never trusted.
    """
    if not signature:
        return False
    given = signature.strip().encode("ascii", "replace")
    matches = [
        hmac.compare_digest(sign(body, secret).encode("ascii"), given)
        for secret in secrets
        if secret
    ]
    return any(matches)


def secrets_of(secrets: Mapping[str, str]) -> list[str]:
    """The signing secrets a store's credentials hold, in ``SECRET_KEYS`` order."""
    return [secrets[key] for key in SECRET_KEYS if secrets.get(key)]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, whatever the case the sender or the server gave it."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def shop_of(headers: Mapping[str, str]) -> str:
    """The shop domain a delivery claims to come from, lowercase, or ""."""
    return (header(headers, SHOP_HEADER) or "").strip().lower()


def headers_for(
    body: bytes,
    secret: str,
    topic: str,
    shop: str,
    event_id: str,
    triggered_at: datetime,
    api_version: str = "2025-10",
    webhook_id: str = "",
) -> dict[str, str]:
    """The headers Shopify sends with a webhook body (for tests and for replaying deliveries)."""
    return {
        "Content-Type": "application/json",
        HMAC_HEADER: sign(body, secret),
        TOPIC_HEADER: topic,
        SHOP_HEADER: shop,
        API_VERSION_HEADER: api_version,
        WEBHOOK_ID_HEADER: webhook_id or f"webhook-{event_id}",
        EVENT_ID_HEADER: event_id,
        TRIGGERED_AT_HEADER: triggered_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def parse_event(headers: Mapping[str, str], body: bytes) -> InboundEvent:
    """The delivery as an ``InboundEvent``; ``ValueError`` names the header or body at fault.

    This does not check the signature: call ``verify`` on the raw body first.
    """
    topic = _required(headers, TOPIC_HEADER)
    shop = shop_of(headers)
    if not shop:
        raise ValueError(f"{SHOP_HEADER}: header missing or empty")
    event_id = (
        header(headers, EVENT_ID_HEADER) or header(headers, WEBHOOK_ID_HEADER) or ""
    ).strip()
    if not event_id:
        raise ValueError(f"{EVENT_ID_HEADER} and {WEBHOOK_ID_HEADER}: both missing or empty")
    triggered = (header(headers, TRIGGERED_AT_HEADER) or "").strip()
    occurred_at = parse_time(triggered, TRIGGERED_AT_HEADER) if triggered else None
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body: not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise ValueError("body: expected a JSON object")
    return InboundEvent(
        event_id=event_id, topic=topic, shop=shop, payload=payload, occurred_at=occurred_at
    )


def parse_time(text: str, where: str) -> datetime:
    """An ISO 8601 time with an offset (Shopify sends nanoseconds and ``Z``), in UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where}: not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{where}: time has no UTC offset: {text!r}")
    return moment.astimezone(UTC)


def uninstalled_details(payload: Mapping[str, object], shop: str) -> dict[str, object]:
    """What an ``app/uninstalled`` delivery (the shop's JSON) tells the app."""
    return {
        "shop_domain": str(payload.get("myshopify_domain") or shop),
        "shop_id": _id_text(payload.get("id")),
    }


def privacy_details(payload: Mapping[str, object], shop: str) -> dict[str, object]:
    """What a ``customers/data_request``, ``customers/redact`` or ``shop/redact`` delivery
    asks about, with Shopify's numeric ids turned into the global ids Helloword stores."""
    details: dict[str, object] = {
        "shop_domain": str(payload.get("shop_domain") or shop),
        "shop_id": _id_text(payload.get("shop_id")),
    }
    customer = payload.get("customer")
    if isinstance(customer, Mapping):
        customer_id = _id_text(customer.get("id"))
        details["customer_external_id"] = ids.gid("Customer", customer_id) if customer_id else ""
        details["email"] = str(customer.get("email") or "")
        details["phone"] = str(customer.get("phone") or "")
    orders = payload.get("orders_requested", payload.get("orders_to_redact"))
    if isinstance(orders, list):
        details["order_external_ids"] = [ids.gid("Order", _id_text(order)) for order in orders]
    request = payload.get("data_request")
    if isinstance(request, Mapping):
        details["request_id"] = _id_text(request.get("id"))
    return details


def _id_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return ""
    return str(value).strip()


def _required(headers: Mapping[str, str], name: str) -> str:
    value = (header(headers, name) or "").strip()
    if not value:
        raise ValueError(f"{name}: header missing or empty")
    return value
