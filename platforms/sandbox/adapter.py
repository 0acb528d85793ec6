"""The sandbox platform adapter: Helloword's ports over the simulated store.

It orchestrates, nothing more: ``client`` reaches the store, ``mapper`` turns payloads into the
canonical model, ``webhooks`` checks signatures and headers. It behaves as a real marketplace
adapter must — signed webhooks, stable event ids, pushes idempotent by key, the store's
refusals typed as ``RetryableError``, ``PermanentError`` or ``NothingToDo`` — so the platform
contract suite holds it to the same standard as the Shopify adapter.

Credentials: ``external_id`` is the shop domain; ``secrets`` may hold ``webhook_secret`` and,
during a rotation, ``previous_webhook_secret``. The store's file is always ``sandbox.sqlite3`` in
the context's data folder: a setting that names a file would let whoever links a store make the
server open or create any file it can write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from connector.domain import Money, Order, ReturnRequest
from connector.errors import NothingToDo, PermanentError, RetryableError
from connector.ports import (
    AdapterContext,
    Credentials,
    InboundEvent,
    ParsedEvent,
    PushResult,
    Variant,
)

from . import mapper, webhooks
from .client import SandboxClient
from .demo import sizes_of
from .marketplace import DECLINE_REASONS, MarketplaceError, SandboxMarketplace

T = TypeVar("T")

ORDER_TOPICS = frozenset({"orders/create", "orders/updated"})
RETURN_REQUEST_TOPIC = "returns/request"
RETURN_TOPIC_PREFIX = "returns/"

_NOT_YET_RETRY_AFTER = 2.0  # seconds; an approval in flight lands within a job or two

_DECLINE_SYNONYMS = {
    "outside_window": "return_period_ended",
    "outside_return_window": "return_period_ended",
    "window_expired": "return_period_ended",
    "expired": "return_period_ended",
    "non_returnable": "final_sale",
}

# Canonical dispositions (restock / repair / destroy …) → the platform's disposition types.
_DISPOSITIONS = {
    "restock": "restocked",
    "restocked": "restocked",
    "repair": "processing_required",
    "refurbish": "processing_required",
    "processing_required": "processing_required",
    "destroy": "not_restocked",
    "dispose": "not_restocked",
    "discard": "not_restocked",
    "donate": "not_restocked",
    "liquidate": "not_restocked",
    "not_restocked": "not_restocked",
    "missing": "missing",
}


class _AlreadyThere(Exception):
    """The store is already where a push would take it."""


class SandboxPlatform:
    """One shop of the sandbox store, through the platform ports."""

    slug = "sandbox"

    def __init__(self, credentials: Credentials, context: AdapterContext) -> None:
        self.shop = credentials.external_id
        self._secrets = [
            secret
            for secret in (
                credentials.secrets.get("webhook_secret", ""),
                credentials.secrets.get("previous_webhook_secret", ""),
            )
            if secret
        ]
        self.client = SandboxClient.open(
            context.data_dir / "sandbox.sqlite3", self.shop, http=context.http
        )

    @property
    def marketplace(self) -> SandboxMarketplace:
        """The simulated store itself, for demos and tests that play the buyer's part."""
        return self.client.marketplace

    # WebhookReceiver --------------------------------------------------------------------

    @staticmethod
    def shop_of(headers: Mapping[str, str]) -> str:
        """The shop a delivery claims to come from (``X-Sandbox-Shop-Domain``), or ""."""
        return (webhooks.header(headers, webhooks.SHOP_HEADER) or "").strip()

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the raw ``body`` carries a good signature by the current or previous secret."""
        return webhooks.verify(body, webhooks.header(headers, webhooks.HMAC_HEADER), self._secrets)

    def parse(self, headers: Mapping[str, str], body: bytes) -> InboundEvent:
        """The delivery as an event keyed by ``X-Sandbox-Event-Id`` (stable across redeliveries).

        Raises ``ValueError`` (the app answers 400) for a missing header, a body that is not a
        JSON object, or a delivery addressed to another shop.
        """
        event = webhooks.parse_event(headers, body)
        if event.shop != self.shop:
            raise ValueError(
                f"{webhooks.SHOP_HEADER}: delivery for shop {event.shop!r} reached the adapter "
                f"of {self.shop!r}"
            )
        return event

    def interpret(self, event: InboundEvent) -> ParsedEvent:
        """What the event means: an order, a return request, a return's new status, or nothing.

        Raises ``PermanentError`` when the payload cannot be mapped, naming the field.
        """
        try:
            if event.topic in ORDER_TOPICS:
                return ParsedEvent("order", order=mapper.order_from_payload(event.payload))
            if event.topic == RETURN_REQUEST_TOPIC:
                request = mapper.return_request_from_payload(event.payload)
                return ParsedEvent("return_request", return_request=request)
            if event.topic.startswith(RETURN_TOPIC_PREFIX):
                status = mapper.return_status(event.payload)
                return ParsedEvent(
                    "return_update",
                    return_external_id=str(event.payload.get("id", "")),
                    external_return_status=status,
                )
        except ValueError as exc:
            raise PermanentError(f"{event.topic} event {event.event_id}: {exc}") from exc
        return ParsedEvent("ignored")

    # OrderSource ------------------------------------------------------------------------

    def fetch_order(self, external_id: str) -> Order:
        """The order; ``PermanentError`` if the shop has no such order."""
        payload = self._ask(lambda: self.client.order(external_id))
        return self._map(mapper.order_from_payload, payload, f"order {external_id}")

    def iter_orders(self, since: datetime) -> Iterator[Order]:
        """Orders created or updated at or after ``since`` (timezone-aware), oldest first."""
        for payload in self._ask(lambda: self.client.orders(since)):
            yield self._map(mapper.order_from_payload, payload, f"order {payload.get('id')}")

    # ReturnSource -----------------------------------------------------------------------

    def iter_return_requests(self, since: datetime) -> Iterator[ReturnRequest]:
        """Returns requested or changed at or after ``since``, whatever their status now.

        The platform's status of each is in ``raw["status"]`` (see ``mapper.return_status``).
        """
        for payload in self._ask(lambda: self.client.returns(since)):
            yield self._map(
                mapper.return_request_from_payload, payload, f"return {payload.get('id')}"
            )

    # ReturnPublisher --------------------------------------------------------------------
    # Every push answers, beyond a plain success:
    # - PushResult(already_done=True) for a repeated idempotency key, and also when the return
    #   is already where the push would take it (approved, declined, closed in the store by
    #   someone else): the work is done, so the outbox can mark it done;
    # - RetryableError when the return is still requested and the push needs it approved:
    #   pushes travel in separate jobs, and the approval may simply not have arrived yet;
    # - NothingToDo when the buyer canceled the return: the push no longer applies;
    # - PermanentError for an unknown return, a malformed push, or a conflict the platform
    #   refuses (approving a declined return, refunding past the order total).

    def approve(self, idempotency_key: str, return_external_id: str) -> PushResult:
        """Approve a requested return (it becomes ``open``)."""
        return self._push("approve", idempotency_key, {"return_id": return_external_id})

    def decline(
        self, idempotency_key: str, return_external_id: str, reason: str, note: str
    ) -> PushResult:
        """Decline a requested return. The platform knows three reasons (``return_period_ended``,
        ``final_sale``, ``other``); any other reason goes as ``other`` with it kept in the note."""
        key = reason.strip().lower().replace("-", "_").replace(" ", "_")
        platform_reason = key if key in DECLINE_REASONS else _DECLINE_SYNONYMS.get(key, "other")
        if platform_reason == "other" and key not in ("", "other"):
            note = f"{reason}: {note}" if note else reason
        return self._push(
            "decline",
            idempotency_key,
            {"return_id": return_external_id, "reason": platform_reason, "note": note},
        )

    def attach_label(
        self,
        idempotency_key: str,
        return_external_id: str,
        tracking_number: str,
        carrier: str,
        label_url: str,
    ) -> PushResult:
        """Give an open return its label and tracking number."""
        return self._push(
            "attach_label",
            idempotency_key,
            {
                "return_id": return_external_id,
                "tracking_number": tracking_number,
                "carrier": carrier,
                "label_url": label_url,
            },
        )

    def refund(
        self,
        idempotency_key: str,
        return_external_id: str,
        order_external_id: str,
        amount: Money,
        lines: list[tuple[str, int]],
        *,
        store_credit: bool = False,
    ) -> PushResult:
        """Refund ``amount`` (in the order's currency) for the order's ``lines``, or with
        ``store_credit`` credit it to the buyer's account in the store.

        ``PermanentError`` if a refund would take the order's refunds above the order's total.
        """
        return self._push(
            "refund",
            idempotency_key,
            {
                "return_id": return_external_id,
                "order_id": order_external_id,
                "amount": str(amount.amount),
                "currency": amount.currency,
                "lines": [
                    {"line_item_id": line_id, "quantity": quantity} for line_id, quantity in lines
                ],
                "store_credit": store_credit,
            },
        )

    def dispose(
        self,
        idempotency_key: str,
        return_external_id: str,
        dispositions: list[tuple[str, int, str]],
    ) -> PushResult:
        """Say what became of returned items: ``(line id, quantity, disposition)`` each.

        The line id is the return line's id or the order line's it returns; the disposition is
        canonical (restock, repair, destroy …) or the platform's own type.
        """
        entries = []
        for line_id, quantity, disposition in dispositions:
            platform_type = _DISPOSITIONS.get(disposition.strip().lower())
            if platform_type is None:
                raise PermanentError(
                    f"disposition {disposition!r} has no sandbox type "
                    f"(known: {', '.join(sorted(_DISPOSITIONS))})"
                )
            entries.append({"line_item_id": line_id, "quantity": quantity, "type": platform_type})
        return self._push(
            "dispose", idempotency_key, {"return_id": return_external_id, "dispositions": entries}
        )

    def close(self, idempotency_key: str, return_external_id: str) -> PushResult:
        """Close an open return."""
        return self._push("close", idempotency_key, {"return_id": return_external_id})

    # VariantSource ----------------------------------------------------------------------

    def variants(self, order_line_external_id: str, sku: str) -> list[Variant]:
        """The other sizes of a sized product (the store's SKUs end in the size), all at the
        price of the one bought. The sandbox keeps no stock for sale, so every size is
        available."""
        return [
            Variant(other, other.rpartition("-")[2], available=True)
            for other in sizes_of(sku)
            if other != sku
        ]

    def exchange(
        self,
        idempotency_key: str,
        return_external_id: str,
        order_external_id: str,
        lines: list[tuple[str, int, str]],
    ) -> PushResult:
        """Send the sizes wanted, ``(line id, quantity, sku)`` each, in exchange for the
        return's goods; nothing is charged or refunded."""
        return self._push(
            "exchange",
            idempotency_key,
            {
                "return_id": return_external_id,
                "order_id": order_external_id,
                "lines": [
                    {"line_item_id": line_id, "quantity": quantity, "sku": sku}
                    for line_id, quantity, sku in lines
                ],
            },
        )

    # InventoryPublisher -----------------------------------------------------------------

    def restock(self, idempotency_key: str, sku: str, quantity: int) -> PushResult:
        """Put ``quantity`` units of ``sku`` back on sale."""
        return self._push("restock", idempotency_key, {"sku": sku, "quantity": quantity})

    # plumbing ---------------------------------------------------------------------------

    def _push(self, kind: str, idempotency_key: str, payload: dict[str, Any]) -> PushResult:
        try:
            push_id, repeated = self._ask(lambda: self.client.push(kind, idempotency_key, payload))
        except _AlreadyThere as there:
            return PushResult(already_done=True, details={"kind": kind, "note": str(there)})
        return PushResult(external_id=push_id, already_done=repeated, details={"kind": kind})

    def _ask(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except MarketplaceError as exc:
            message = f"sandbox shop {self.shop}: {exc}"
            if exc.code == "already_in_state":
                raise _AlreadyThere(message) from exc
            if exc.code == "not_yet":
                raise RetryableError(message, retry_after=_NOT_YET_RETRY_AFTER) from exc
            if exc.code == "return_canceled":
                raise NothingToDo(message) from exc
            raise PermanentError(message) from exc

    @staticmethod
    def _map(convert: Callable[[dict[str, Any]], T], payload: dict[str, Any], what: str) -> T:
        try:
            return convert(payload)
        except ValueError as exc:
            raise PermanentError(f"sandbox {what}: {exc}") from exc
