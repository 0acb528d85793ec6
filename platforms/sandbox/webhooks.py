"""Webhook signatures and headers of the sandbox store, exactly as Shopify signs its own.

The signature is the base64 of HMAC-SHA256 over the raw request body, keyed with the shop's
webhook secret. Verification runs on the raw bytes (re-serialised JSON would not match) and
accepts any of several secrets, because after a rotation the platform may keep signing with the
previous secret for a while.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from connector.ports import InboundEvent

HMAC_HEADER = "X-Sandbox-Hmac-Sha256"
TOPIC_HEADER = "X-Sandbox-Topic"
SHOP_HEADER = "X-Sandbox-Shop-Domain"
EVENT_ID_HEADER = "X-Sandbox-Event-Id"
TRIGGERED_AT_HEADER = "X-Sandbox-Triggered-At"


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: base64 of HMAC-SHA256(secret, body)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, signature_header: str | None, secrets: Sequence[str]) -> bool:
    """Whether ``signature_header`` is the signature of ``body`` under any of ``secrets``.

    A missing header, or no secret at all, never verifies: an unsigned body is never trusted.
    """
    if not signature_header:
        return False
    given = signature_header.strip().encode("utf-8")
    # Every secret is compared, so the time taken does not tell which one matched.
    matches = [
        hmac.compare_digest(sign(body, secret).encode("ascii"), given)
        for secret in secrets
        if secret
    ]
    return any(matches)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, whatever the case the sender or the server gave it."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def headers_for(
    body: bytes, secret: str, topic: str, shop: str, event_id: str, triggered_at: datetime
) -> dict[str, str]:
    """The headers the sandbox store sends with a webhook body."""
    return {
        "Content-Type": "application/json",
        HMAC_HEADER: sign(body, secret),
        TOPIC_HEADER: topic,
        SHOP_HEADER: shop,
        EVENT_ID_HEADER: event_id,
        TRIGGERED_AT_HEADER: triggered_at.astimezone(UTC).isoformat(timespec="seconds"),
    }


def parse_event(headers: Mapping[str, str], body: bytes) -> InboundEvent:
    """The delivery as an ``InboundEvent``; ``ValueError`` names the header or body at fault.

    This does not check the signature: call ``verify`` on the raw body first.
    """
    values = {}
    for name in (TOPIC_HEADER, SHOP_HEADER, EVENT_ID_HEADER):
        value = (header(headers, name) or "").strip()
        if not value:
            raise ValueError(f"{name}: header missing or empty")
        values[name] = value
    occurred_at = None
    triggered = (header(headers, TRIGGERED_AT_HEADER) or "").strip()
    if triggered:
        try:
            occurred_at = datetime.fromisoformat(triggered)
        except ValueError:
            raise ValueError(
                f"{TRIGGERED_AT_HEADER}: not an ISO 8601 time: {triggered!r}"
            ) from None
        if occurred_at.tzinfo is None:
            raise ValueError(f"{TRIGGERED_AT_HEADER}: time has no UTC offset: {triggered!r}")
        occurred_at = occurred_at.astimezone(UTC)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body: not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise ValueError("body: expected a JSON object")
    return InboundEvent(
        event_id=values[EVENT_ID_HEADER],
        topic=values[TOPIC_HEADER],
        shop=values[SHOP_HEADER],
        payload=payload,
        occurred_at=occurred_at,
    )
