"""The Shopify platform adapter: Helloword's ports over one store's GraphQL Admin API.

It orchestrates, nothing more: ``graphql`` talks to Shopify, ``mapper`` converts, ``state``
reads what a return says of the work done on it, ``webhooks`` checks signatures and headers.

Credentials: ``external_id`` is the shop's ``*.myshopify.com`` domain. ``secrets`` hold
``access_token`` (the Admin API token) and the webhook signing secrets ``webhook_secret`` /
``previous_webhook_secret`` (a custom app's) or ``api_secret`` / ``previous_api_secret`` (the
app's client secret, for installs). ``settings``: ``api_version`` (default ``2025-10``; refunds
need 2025-07 or later), ``location_id`` (where restocked goods go back: required to restock
and for RESTOCKED dispositions), ``notify_customer`` (whether Shopify emails the buyer on
approvals, declines and labels; default false, because Helloword writes to the buyer itself).

Webhook payloads are triggers: ``interpret`` re-reads the order, return or refund through
GraphQL, so a late or repeated delivery never carries stale state into Helloword. The
uninstall and privacy topics are answered from the payload alone — after an uninstall the
token no longer works, and every API call fails as ``PermanentError`` saying so.

Pushes are idempotent through Shopify's own state: each reads the return first and answers
``PushResult(already_done=True)`` when the work is already there (an OPEN return to approve, a
delivery with this tracking number, lines already refunded, exchange line items already
processed, a CLOSED return to close).

Exchanges follow Shopify's model: a return made in Helloword is created with its exchange line
items (the variants wanted), and the exchange push processes them with ``returnProcess``, which
has Shopify fulfil them; no money moves. Only variants at the ordered variant's price are
offered, so there is no difference to pay. A return
still REQUESTED when a push needs it approved is ``RetryableError`` (the approval may be in a
job not yet run); a CANCELED one is ``NothingToDo``; any other conflict is ``PermanentError``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from connector.domain import Money, Order, ReturnLine, ReturnRequest
from connector.errors import NothingToDo, PermanentError, RetryableError
from connector.ports import (
    AdapterContext,
    Credentials,
    InboundEvent,
    ParsedEvent,
    PushResult,
    Variant,
)

from . import ids, mapper, state, webhooks
from .graphql import ShopifyGraphQL, UserErrors
from .receipts import Receipts
from .throttle import bucket_for

T = TypeVar("T")
Node = Mapping[str, Any]

DEFAULT_API_VERSION = "2025-10"
IDEMPOTENT_DIRECTIVE_SINCE = "2026-01"  # the first version with @idempotent on inventory
NOT_YET_RETRY_AFTER = 5.0  # seconds; an approval in flight lands within a job or two
REASON_NOTE_LIMIT = 255  # characters Shopify keeps of a return line's reason note
CUSTOMER_NOTE_LIMIT = 300

log = logging.getLogger(__name__)


class ShopifyPlatform:
    """One Shopify store, through the platform ports."""

    slug = "shopify"
    restocks_on_dispose = True  # returnProcess / dispose RESTOCKED puts goods back on sale

    def __init__(
        self,
        credentials: Credentials,
        context: AdapterContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.shop = credentials.external_id.strip().lower()
        settings = credentials.settings
        self.api_version = str(settings.get("api_version") or DEFAULT_API_VERSION)
        self.location_id = str(settings.get("location_id") or "")
        self.notify_customer = bool(settings.get("notify_customer", False))
        self._secrets = webhooks.secrets_of(credentials.secrets)
        session = context.http if isinstance(context.http, requests.Session) else None
        self.api = ShopifyGraphQL(
            self.shop,
            credentials.secrets.get("access_token", ""),
            self.api_version,
            session=session,
            bucket=bucket_for(self.shop, context.redis),
            sleep=sleep,
            clock=clock,
        )
        self.receipts = Receipts(self.shop, context.redis)

    # WebhookReceiver --------------------------------------------------------------------

    @staticmethod
    def shop_of(headers: Mapping[str, str]) -> str:
        """The shop a delivery claims to come from (``X-Shopify-Shop-Domain``), or ""."""
        return webhooks.shop_of(headers)

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the raw ``body`` carries a good signature by any of the store's secrets."""
        return webhooks.verify(body, webhooks.header(headers, webhooks.HMAC_HEADER), self._secrets)

    def parse(self, headers: Mapping[str, str], body: bytes) -> InboundEvent:
        """The delivery as an event keyed by ``X-Shopify-Event-Id``.

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
        """What the event means, read afresh from Shopify.

        Kinds: ``order``, ``return_request``, ``return_update`` (with the return's status now,
        lowercase), ``uninstalled``, ``customer_data_request``, ``customer_redact``,
        ``shop_redact`` (their ``details`` carry the shop, customer and order ids) and
        ``ignored`` — also for an order or return that can never become canonical (an order
        with no address at all, as a gift card alone; a return of unverified lines only), with
        the reason in ``details``, as ``iter_orders`` skips them. Raises ``PermanentError`` for
        a payload without the object's id or an object Shopify lacks.
        """
        topic, payload = event.topic, event.payload
        try:
            if topic in webhooks.ORDER_TOPICS:
                order = self.fetch_order(_payload_id(payload, "Order"))
                return ParsedEvent("order", order=order, details={"topic": topic})
            if topic == webhooks.RETURN_REQUEST_TOPIC:
                request = self.fetch_return_request(_payload_id(payload, "Return"))
                return ParsedEvent(
                    "return_request", return_request=request, details={"topic": topic}
                )
            if topic in webhooks.RETURN_STATUS_TOPICS:
                return self._return_update(topic, _payload_id(payload, "Return"))
            if topic == webhooks.DELIVERY_TOPIC:
                return self._delivery_attached(topic, _payload_id(payload, "ReverseDelivery"))
            if topic == webhooks.DISPOSE_TOPIC:
                return self._disposed(topic, _payload_id(payload, "ReverseFulfillmentOrder"))
            if topic == webhooks.REFUND_TOPIC:
                return self._refunded(topic, _payload_id(payload, "Refund"))
            if topic == webhooks.UNINSTALLED_TOPIC:
                details = webhooks.uninstalled_details(payload, self.shop)
                return ParsedEvent("uninstalled", details={"topic": topic, **details})
            if topic in webhooks.COMPLIANCE_KINDS:
                details = webhooks.privacy_details(payload, self.shop)
                return ParsedEvent(
                    webhooks.COMPLIANCE_KINDS[topic], details={"topic": topic, **details}
                )
        except _Unmappable as exc:
            log.warning("ignoring Shopify %s event %s: %s", topic, event.event_id, exc)
            return ParsedEvent("ignored", details={"topic": topic, "reason": str(exc)})
        except ValueError as exc:
            raise PermanentError(f"Shopify {topic} event {event.event_id}: {exc}") from exc
        return ParsedEvent("ignored", details={"topic": topic})

    def _return_update(self, topic: str, return_id: str) -> ParsedEvent:
        node = self._required("ReturnStatus", {"id": return_id}, "return", return_id)
        return _update(node, {"topic": topic})

    def _delivery_attached(self, topic: str, delivery_id: str) -> ParsedEvent:
        node = self._required(
            "ReverseDelivery", {"id": delivery_id}, "reverseDelivery", delivery_id
        )
        returned = _dig(node, "reverseFulfillmentOrder", "return")
        if not isinstance(returned, Mapping):
            return ParsedEvent("ignored", details={"topic": topic})
        tracking = _dig(node, "deliverable", "tracking") or {}
        details = {
            "topic": topic,
            "reverse_delivery_id": node.get("id"),
            "tracking_number": tracking.get("number") or "",
            "carrier": tracking.get("carrierName") or "",
            "tracking_url": tracking.get("url") or "",
            "label_url": _dig(node, "deliverable", "label", "publicFileUrl") or "",
        }
        return _update(returned, details)

    def _disposed(self, topic: str, order_id: str) -> ParsedEvent:
        node = self._required(
            "ReverseFulfillmentOrder", {"id": order_id}, "reverseFulfillmentOrder", order_id
        )
        returned = node.get("return")
        if not isinstance(returned, Mapping):
            return ParsedEvent("ignored", details={"topic": topic})
        dispositions = [
            {
                "order_line_external_id": _dig(item, "fulfillmentLineItem", "lineItem", "id"),
                "type": disposition.get("type"),
                "quantity": disposition.get("quantity"),
            }
            for item in mapper.nodes(node.get("lineItems"), "lineItems")
            for disposition in item.get("dispositions") or ()
        ]
        details = {
            "topic": topic,
            "reverse_fulfillment_order_id": node.get("id"),
            "dispositions": dispositions,
        }
        return _update(returned, details)

    def _refunded(self, topic: str, refund_id: str) -> ParsedEvent:
        node = self._required("Refund", {"id": refund_id}, "refund", refund_id)
        returned = node.get("return")
        if not isinstance(returned, Mapping):  # a refund of an order, not of a return
            return ParsedEvent("ignored", details={"topic": topic, "refund_external_id": refund_id})
        amount = _dig(node, "totalRefundedSet", "presentmentMoney") or {}
        details = {
            "topic": topic,
            "refund_external_id": node.get("id"),
            "order_external_id": _dig(node, "order", "id") or "",
            "amount": {"amount": amount.get("amount"), "currency": amount.get("currencyCode")},
        }
        return _update(returned, details)

    # OrderSource ------------------------------------------------------------------------

    def fetch_order(self, external_id: str) -> Order:
        """The order (global or numeric id); ``PermanentError`` if the store has no such order
        or it cannot be mapped."""
        order_id = self._gid("Order", external_id)
        node = self._with_all_lines(self._required("Order", {"id": order_id}, "order", order_id))
        return self._map(mapper.order_from_graphql, node, f"order {order_id}")

    def iter_orders(self, since: datetime) -> Iterator[Order]:
        """Orders created or updated at or after ``since`` (timezone-aware), oldest first.

        An order that cannot become a canonical order (no address at all: a gift card alone)
        is skipped with a warning, so one odd order does not stop a backfill.
        """
        for node in self._pages("OrderIds", {"query": _updated_since(since)}, "orders"):
            try:
                yield self.fetch_order(str(node["id"]))
            except _Unmappable as exc:
                log.warning("skipping a Shopify order that cannot be mapped: %s", exc)

    def _with_all_lines(self, node: Node) -> Node:
        connection = node.get("lineItems") or {}
        lines = list(mapper.nodes(connection, "lineItems"))
        page = connection.get("pageInfo") or {}
        while page.get("hasNextPage"):
            data = self.api.query(
                "OrderLineItems", {"id": node["id"], "after": page.get("endCursor")}
            )
            more = _dig(data, "order", "lineItems") or {}
            lines.extend(mapper.nodes(more, "lineItems"))
            page = more.get("pageInfo") or {}
        return {**node, "lineItems": {"nodes": lines}}

    # ReturnSource -----------------------------------------------------------------------

    def iter_return_requests(self, since: datetime) -> Iterator[ReturnRequest]:
        """Returns on orders updated at or after ``since``, whatever their status now (in
        ``raw["status"]``). A return with no line that returns an order line is skipped."""
        for order in self._pages("OrderReturnIds", {"query": _updated_since(since)}, "orders"):
            for returned in mapper.nodes(order.get("returns"), "returns"):
                try:
                    yield self.fetch_return_request(str(returned["id"]))
                except _Unmappable as exc:
                    log.warning("skipping a Shopify return that cannot be mapped: %s", exc)

    def fetch_return_request(self, external_id: str) -> ReturnRequest:
        """The return as a canonical request; ``PermanentError`` if there is no such return."""
        node = self._return(external_id)
        return self._map(mapper.return_request_from_graphql, node, f"return {node['id']}")

    # ReturnPublisher --------------------------------------------------------------------

    def approve(self, idempotency_key: str, return_external_id: str) -> PushResult:
        """Approve a requested return (it becomes OPEN, with a reverse fulfillment order)."""
        node = self._return(return_external_id)
        status = node["status"]
        if status in ("OPEN", "CLOSED"):
            return _done("approve", node)
        _refuse_unless(node, "approve", {"REQUESTED"})
        variables = {"input": {"id": node["id"], "notifyCustomer": self.notify_customer}}
        try:
            payload = self.api.mutate(
                "ReturnApproveRequest", variables, "returnApproveRequest", repeatable=True
            )
        except UserErrors as refused:
            return self._settled(refused, node["id"], "approve", {"OPEN", "CLOSED"})
        return _pushed("approve", payload.get("return") or node)

    def decline(
        self, idempotency_key: str, return_external_id: str, reason: str, note: str
    ) -> PushResult:
        """Decline a requested return, for one of Shopify's three reasons (another reason goes
        as OTHER and leads the note the buyer reads)."""
        node = self._return(return_external_id)
        if node["status"] == "DECLINED":
            return _done("decline", node)
        _refuse_unless(node, "decline", {"REQUESTED"})
        shopify_reason, decline_note = mapper.decline_reason(reason, note)
        variables = {
            "input": {
                "id": node["id"],
                "declineReason": shopify_reason,
                "declineNote": decline_note,
                "notifyCustomer": self.notify_customer,
            }
        }
        try:
            payload = self.api.mutate(
                "ReturnDeclineRequest", variables, "returnDeclineRequest", repeatable=True
            )
        except UserErrors as refused:
            return self._settled(refused, node["id"], "decline", {"DECLINED"})
        return _pushed("decline", payload.get("return") or node, reason=shopify_reason)

    def attach_label(
        self,
        idempotency_key: str,
        return_external_id: str,
        tracking_number: str,
        carrier: str,
        label_url: str,
    ) -> PushResult:
        """Give an open return its label and tracking, as a reverse delivery on its reverse
        fulfillment order; Shopify fetches the label from ``label_url``."""
        node = self._return(return_external_id)
        existing = state.delivery_tracked_as(node, tracking_number)
        details = {"kind": "attach_label", "tracking_number": tracking_number, "carrier": carrier}
        if existing is not None:
            return PushResult(str(existing["id"]), already_done=True, details=details)
        _refuse_unless(node, "attach a label to", {"OPEN"})
        reverse_order = state.open_reverse_order(node)
        if reverse_order is None:
            raise PermanentError(
                f"Shopify return {node['id']} has no open reverse fulfillment order"
            )
        tracking: dict[str, str] = {"number": tracking_number}
        url = mapper.tracking_url(carrier, tracking_number)
        if url:
            tracking["url"] = url
        variables = {
            "reverseFulfillmentOrderId": reverse_order["id"],
            "reverseDeliveryLineItems": [],  # empty: every line of the reverse fulfillment order
            "trackingInput": tracking,
            "labelInput": {"fileUrl": label_url},
            "notifyCustomer": self.notify_customer,
        }
        payload = self.api.mutate(
            "ReverseDeliveryCreateWithShipping", variables, "reverseDeliveryCreateWithShipping"
        )
        delivery = payload.get("reverseDelivery") or {}
        return PushResult(str(delivery.get("id", "")), details=details)

    def refund(
        self,
        idempotency_key: str,
        return_external_id: str,
        order_external_id: str,
        amount: Money,
        lines: list[tuple[str, int]],
        *,
        store_credit: bool = False,
        dispositions: Sequence[tuple[str, int, str]] = (),
    ) -> PushResult:
        """Refund ``amount`` (in the order's presentment currency) for the return's ``lines``
        with ``returnProcess``, which also records the lines' ``dispositions`` when given.

        With ``store_credit`` the lines are processed without a payment refund and ``amount``
        is credited to the buyer's store credit account instead. ``PermanentError`` if the
        refund would take the order's refunds past what was paid.
        """
        node = self._return(return_external_id)
        order_id = self._gid("Order", order_external_id)
        if _dig(node, "order", "id") != order_id:
            raise PermanentError(f"Shopify return {node['id']} does not belong to order {order_id}")
        items = self._lines(node, lines)
        if store_credit:
            return self._credit(idempotency_key, node, items, amount, dispositions)
        if all(int(item.get("refundedQuantity") or 0) >= quantity for item, quantity in items):
            refunds = state.refund_ids(node)
            return PushResult(
                refunds[-1] if refunds else "",
                already_done=True,
                details={"kind": "refund", "amount": str(amount)},
            )
        _refuse_unless(node, "refund", {"OPEN"})
        transactions = self._refund_transactions(order_id, amount) if not amount.is_zero() else []
        process: dict[str, Any] = {
            "returnId": node["id"],
            "returnLineItems": self._process_lines(node, items, dispositions),
            "notifyCustomer": self.notify_customer,
        }
        if transactions:
            process["financialTransfer"] = {"issueRefund": {"orderTransactions": transactions}}
        payload = self.api.mutate("ReturnProcess", {"input": process}, "returnProcess")
        before = set(state.refund_ids(node))
        after = state.refund_ids(payload.get("return") or {})
        new = [refund for refund in after if refund not in before]
        return PushResult(new[-1] if new else "", details={"kind": "refund", "amount": str(amount)})

    def dispose(
        self,
        idempotency_key: str,
        return_external_id: str,
        dispositions: list[tuple[str, int, str]],
    ) -> PushResult:
        """Say what became of returned units: ``(line id, quantity, disposition)`` each, the
        disposition canonical (restock, repair, destroy …) or Shopify's own type. Restocked
        units go back to the ``location_id`` setting."""
        node = self._return(return_external_id)
        _refuse_unless(node, "dispose of the goods of", {"OPEN", "CLOSED"})
        inputs, touched = self._dispositions(node, dispositions, only_pending=True)
        details = {"kind": "dispose", "lines": len(dispositions)}
        external_id = ",".join(sorted(touched))
        if not inputs:
            return PushResult(external_id, already_done=True, details=details)
        self.api.mutate(
            "ReverseFulfillmentOrderDispose",
            {"dispositionInputs": inputs},
            "reverseFulfillmentOrderDispose",
        )
        return PushResult(external_id, details=details)

    def close(self, idempotency_key: str, return_external_id: str) -> PushResult:
        """Close an open return: its work is done."""
        node = self._return(return_external_id)
        if node["status"] == "CLOSED":
            return _done("close", node)
        _refuse_unless(node, "close", {"OPEN"})
        try:
            payload = self.api.mutate(
                "ReturnClose", {"id": node["id"]}, "returnClose", repeatable=True
            )
        except UserErrors as refused:
            return self._settled(refused, node["id"], "close", {"CLOSED"})
        return _pushed("close", payload.get("return") or node)

    # returns made in Helloword ----------------------------------------------------------

    def create_return(
        self, idempotency_key: str, request: ReturnRequest, *, approved: bool = True
    ) -> PushResult:
        """Create on Shopify a return requested in Helloword's portal: already approved
        (``returnCreate``, status OPEN) or awaiting the merchant (``returnRequest``).

        A return on the order with the same lines and quantities that is not declined or
        canceled is taken as this one, made by an earlier attempt: ``already_done``.
        """
        order_id = self._gid("Order", request.order_external_id)
        wanted: dict[str, int] = {}
        for line in request.lines:
            key = state.line_item_id(line.order_line_external_id)
            wanted[key] = wanted.get(key, 0) + line.quantity
        existing = self._existing_return(order_id, wanted)
        if existing is not None:
            return _done("create_return", existing)
        allocated = self._allocate(order_id, request)
        exchanges = self._exchange_inputs(request)
        if approved:
            lines = _return_lines(allocated, "returnReasonNote", REASON_NOTE_LIMIT)
            created = {"orderId": order_id, "returnLineItems": lines}
            created["requestedAt"] = _iso(request.requested_at)
            if exchanges:
                created["exchangeLineItems"] = exchanges
            payload = self.api.mutate("ReturnCreate", {"returnInput": created}, "returnCreate")
        else:
            lines = _return_lines(allocated, "customerNote", CUSTOMER_NOTE_LIMIT)
            requested = {"orderId": order_id, "returnLineItems": lines}
            if exchanges:
                requested["exchangeLineItems"] = exchanges
            payload = self.api.mutate("ReturnRequest", {"input": requested}, "returnRequest")
        return _pushed("create_return", payload.get("return") or {})

    def _existing_return(self, order_id: str, wanted: Mapping[str, int]) -> Node | None:
        data = self.api.query("OrderReturns", {"id": order_id})
        order = data.get("order")
        if order is None:
            raise PermanentError(f"Shopify {self.shop} has no order {order_id}")
        for returned in mapper.nodes(order.get("returns"), "returns"):
            if returned.get("status") in ("DECLINED", "CANCELED"):
                continue
            if state.returned_units(returned) == dict(wanted):
                return returned
        return None

    def _allocate(self, order_id: str, request: ReturnRequest) -> list[tuple[ReturnLine, str, int]]:
        """Each request line spread over the fulfilled units of its order line still
        returnable: ``(line, fulfillment line item id, quantity)``."""
        data = self.api.query("ReturnableFulfillments", {"orderId": order_id})
        available: list[list[Any]] = []  # [order line id, fulfillment line item id, units]
        for fulfillment in mapper.nodes(data.get("returnableFulfillments"), "fulfillments"):
            entries = fulfillment.get("returnableFulfillmentLineItems")
            for entry in mapper.nodes(entries, "returnableFulfillmentLineItems"):
                line_id = _dig(entry, "fulfillmentLineItem", "lineItem", "id")
                fulfillment_line = _dig(entry, "fulfillmentLineItem", "id")
                available.append([line_id, fulfillment_line, int(entry.get("quantity") or 0)])
        allocated = []
        for line in request.lines:
            wanted, left = state.line_item_id(line.order_line_external_id), line.quantity
            for slot in available:
                if slot[0] != wanted or slot[2] <= 0 or left <= 0:
                    continue
                take = min(slot[2], left)
                allocated.append((line, str(slot[1]), take))
                slot[2] -= take
                left -= take
            if left > 0:
                raise PermanentError(
                    f"Shopify order {order_id} has {line.quantity - left} returnable units of "
                    f"line {line.order_line_external_id}, not {line.quantity}"
                )
        return allocated

    def _exchange_inputs(self, request: ReturnRequest) -> list[dict[str, Any]]:
        """``exchangeLineItems`` for the request's lines that name a variant wanted."""
        return [
            {
                "variantId": self._variant_id(line.order_line_external_id, line.exchange_sku),
                "quantity": line.quantity,
            }
            for line in request.lines
            if line.exchange_sku
        ]

    # VariantSource ----------------------------------------------------------------------

    def variants(self, order_line_external_id: str, sku: str) -> list[Variant]:
        """The other variants of the line's product at the ordered variant's price, available
        when Shopify sells them now (``availableForSale``)."""
        return [
            Variant(str(node["sku"]), str(node.get("title") or ""), bool(node["availableForSale"]))
            for node in self._variant_nodes(order_line_external_id)
        ]

    def exchange(
        self,
        idempotency_key: str,
        return_external_id: str,
        order_external_id: str,
        lines: list[tuple[str, int, str]],
    ) -> PushResult:
        """Have Shopify send the variants wanted, ``(line id, quantity, sku)`` each: process
        the return's exchange line items for them, and its returned lines, with
        ``returnProcess`` and no refund. The exchange line items must be on the return (set
        when it was created); ``PermanentError`` if they are not."""
        if not return_external_id:
            raise PermanentError("a Shopify exchange belongs to a return, and none was named")
        node = self._return(return_external_id)
        order_id = self._gid("Order", order_external_id)
        if _dig(node, "order", "id") != order_id:
            raise PermanentError(f"Shopify return {node['id']} does not belong to order {order_id}")
        exchanged = self._exchange_items(node, lines)
        details = {"kind": "exchange", "lines": len(lines)}
        pending = [
            (item, min(quantity, int(item.get("unprocessedQuantity") or 0)))
            for item, quantity in exchanged
        ]
        pending = [(item, quantity) for item, quantity in pending if quantity > 0]
        if not pending:
            return PushResult(str(node["id"]), already_done=True, details=details)
        _refuse_unless(node, "exchange the goods of", {"OPEN"})
        returned = self._lines(node, [(line, quantity) for line, quantity, _sku in lines])
        process = {
            "returnId": node["id"],
            "returnLineItems": self._process_lines(node, returned, ()),
            "exchangeLineItems": [
                {"id": item["id"], "quantity": quantity} for item, quantity in pending
            ],
            "notifyCustomer": self.notify_customer,
        }
        self.api.mutate("ReturnProcess", {"input": process}, "returnProcess")
        return PushResult(str(node["id"]), details=details)

    def _exchange_items(
        self, node: Node, lines: list[tuple[str, int, str]]
    ) -> list[tuple[Node, int]]:
        """The return's exchange line items for ``lines``, with the quantity each takes."""
        items = [
            item
            for item in mapper.nodes(node.get("exchangeLineItems"), "exchangeLineItems")
            if isinstance(item, Mapping)
        ]
        chosen = []
        for line_id, quantity, sku in lines:
            variant = self._variant_id(line_id, sku)
            item = next((item for item in items if item.get("variantId") == variant), None)
            if item is None:
                raise PermanentError(
                    f"Shopify return {node['id']} has no exchange for {sku!r}: Shopify takes "
                    "exchanges only with the return they belong to, when it is created"
                )
            chosen.append((item, quantity))
        return chosen

    def _variant_id(self, order_line_external_id: str, sku: str) -> str:
        for node in self._variant_nodes(order_line_external_id):
            if node["sku"] == sku:
                return str(node["id"])
        raise PermanentError(
            f"Shopify line {order_line_external_id} has no variant {sku!r} at its price"
        )

    def _variant_nodes(self, order_line_external_id: str) -> list[Node]:
        """The other variants of the line's product, at the price of the ordered variant."""
        line_id = state.line_item_id(order_line_external_id)
        line = self.api.query("LineItemVariants", {"id": line_id}).get("node")
        if not isinstance(line, Mapping):
            raise PermanentError(f"Shopify {self.shop} has no line item {line_id}")
        ordered = line.get("variant")
        if not isinstance(ordered, Mapping):
            return []  # a custom item, or its variant was deleted: nothing to exchange it for
        price = Decimal(str(ordered.get("price")))
        product = line.get("product") or {}
        return [
            node
            for node in mapper.nodes(product.get("variants"), "variants")
            if isinstance(node, Mapping)
            and node.get("sku")
            and node.get("id") != ordered.get("id")
            and Decimal(str(node.get("price"))) == price
        ]

    # InventoryPublisher -----------------------------------------------------------------

    def restock(self, idempotency_key: str, sku: str, quantity: int) -> PushResult:
        """Put ``quantity`` units of ``sku`` back on sale at the ``location_id`` setting."""
        if quantity < 1:
            raise PermanentError(f"cannot restock {quantity} units of {sku!r}")
        done = self.receipts.find(idempotency_key)
        if done is not None:
            return done
        location = self._location()
        item_id = self._inventory_item(sku)
        adjustment = {
            "reason": "restock",
            "name": "available",
            "referenceDocumentUri": f"gid://helloword/Restock/{quote(idempotency_key, safe='')}",
            "changes": [{"delta": quantity, "inventoryItemId": item_id, "locationId": location}],
        }
        if self._has_idempotent_directive():
            payload = self.api.mutate(
                "InventoryAdjustQuantitiesIdempotent",
                {"input": adjustment, "idempotencyKey": idempotency_key},
                "inventoryAdjustQuantities",
                repeatable=True,
            )
        else:
            payload = self.api.mutate(
                "InventoryAdjustQuantities", {"input": adjustment}, "inventoryAdjustQuantities"
            )
        group = payload.get("inventoryAdjustmentGroup") or {}
        result = PushResult(
            str(group.get("id", "")),
            details={"kind": "restock", "sku": sku, "quantity": quantity, "location": location},
        )
        self.receipts.keep(idempotency_key, result)
        return result

    def _inventory_item(self, sku: str) -> str:
        escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
        data = self.api.query("InventoryItemBySku", {"query": f'sku:"{escaped}"'})
        found = [
            item
            for item in mapper.nodes(data.get("inventoryItems"), "inventoryItems")
            if isinstance(item, Mapping) and item.get("sku") == sku
        ]
        if len(found) != 1:
            raise PermanentError(
                f"Shopify {self.shop} has {len(found) or 'no'} inventory items with SKU {sku!r}; "
                "a restock needs exactly one"
            )
        return str(found[0]["id"])

    # webhook subscriptions --------------------------------------------------------------

    def register_webhooks(self, callback_url: str) -> dict[str, str]:
        """Subscribe the store to every topic Helloword hears, delivered to ``callback_url``;
        the subscription id of each topic. Topics already subscribed there are kept, so a
        second call creates nothing. The privacy topics (customers/data_request,
        customers/redact, shop/redact) cannot be subscribed by API: the app's configuration
        declares them."""
        if not callback_url.startswith("https://"):
            raise PermanentError(
                f"Shopify delivers webhooks only over HTTPS, not to {callback_url}"
            )
        subscribed = {
            str(node.get("topic")): str(node.get("id"))
            for node in self._pages("WebhookSubscriptions", {}, "webhookSubscriptions")
            if node.get("uri") == callback_url
        }
        for topic in webhooks.SUBSCRIBED_TOPICS:
            if topic in subscribed:
                continue
            variables = {
                "topic": topic,
                "webhookSubscription": {"uri": callback_url, "format": "JSON"},
            }
            payload = self.api.mutate(
                "WebhookSubscriptionCreate", variables, "webhookSubscriptionCreate"
            )
            subscribed[topic] = str(_dig(payload, "webhookSubscription", "id") or "")
        return {topic: subscribed[topic] for topic in webhooks.SUBSCRIBED_TOPICS}

    # refunds and store credit -----------------------------------------------------------

    def _refund_transactions(self, order_id: str, amount: Money) -> list[dict[str, Any]]:
        """The order's payments ``amount`` goes back to, each no further than what is left of
        it after earlier refunds; ``PermanentError`` if they cannot cover it."""
        order = self._required("OrderTransactions", {"id": order_id}, "order", order_id)
        transactions = [t for t in order.get("transactions") or () if isinstance(t, Mapping)]
        refunded: dict[str, Decimal] = {}
        for transaction in transactions:
            parent = _dig(transaction, "parentTransaction", "id")
            if transaction.get("kind") == "REFUND" and transaction.get("status") == "SUCCESS":
                paid = self._presentment(transaction)
                refunded[str(parent)] = refunded.get(str(parent), Decimal(0)) + paid.amount
        plan, left = [], amount.amount
        for transaction in transactions:
            if transaction.get("kind") not in ("SALE", "CAPTURE"):
                continue
            if transaction.get("status") != "SUCCESS":
                continue
            paid = self._presentment(transaction)
            if paid.currency != amount.currency:
                raise PermanentError(
                    f"Shopify order {order_id} was paid in {paid.currency}; cannot refund {amount}"
                )
            room = paid.amount - refunded.get(str(transaction["id"]), Decimal(0))
            take = min(room, left)
            if take > 0:
                plan.append(
                    {
                        "parentId": transaction["id"],
                        "transactionAmount": mapper.money_input(Money.of(take, amount.currency)),
                    }
                )
                left -= take
        if left > 0:
            raise PermanentError(
                f"a refund of {amount} exceeds the {amount.amount - left} {amount.currency} "
                f"still refundable on Shopify order {order_id}"
            )
        return plan

    def _credit(
        self,
        idempotency_key: str,
        node: Node,
        items: list[tuple[Node, int]],
        amount: Money,
        dispositions: Sequence[tuple[str, int, str]],
    ) -> PushResult:
        """Process the lines without a payment refund, then credit the buyer's store credit."""
        done = self.receipts.find(idempotency_key)
        if done is not None:
            return done
        customer = state.customer_id(node)
        if not customer:
            raise PermanentError(
                f"Shopify order {_dig(node, 'order', 'id')} has no customer to hold store credit"
            )
        pending = [(item, min(q, int(item.get("unprocessedQuantity") or 0))) for item, q in items]
        pending = [(item, quantity) for item, quantity in pending if quantity > 0]
        if pending:
            _refuse_unless(node, "refund", {"OPEN"})
            process = {
                "returnId": node["id"],
                "returnLineItems": self._process_lines(node, pending, dispositions),
                "notifyCustomer": self.notify_customer,
            }
            self.api.mutate("ReturnProcess", {"input": process}, "returnProcess")
        variables = {"id": customer, "creditInput": {"creditAmount": mapper.money_input(amount)}}
        payload = self.api.mutate("StoreCreditAccountCredit", variables, "storeCreditAccountCredit")
        transaction = payload.get("storeCreditAccountTransaction") or {}
        result = PushResult(
            str(transaction.get("id", "")),
            details={"kind": "refund", "amount": str(amount), "method": "store_credit"},
        )
        self.receipts.keep(idempotency_key, result)
        return result

    def _process_lines(
        self,
        node: Node,
        items: list[tuple[Node, int]],
        dispositions: Sequence[tuple[str, int, str]],
    ) -> list[dict[str, Any]]:
        """``returnProcess`` lines: each return line with the dispositions of its units."""
        inputs, _ = self._dispositions(node, dispositions, only_pending=False)
        by_fulfillment_line: dict[str, list[dict[str, Any]]] = {}
        reverse_lines = {
            str(item["id"]): _dig(item, "fulfillmentLineItem", "id")
            for order in state.reverse_orders(node)
            for item in mapper.nodes(order.get("lineItems"), "lineItems")
        }
        for disposal in inputs:
            line = reverse_lines.get(disposal["reverseFulfillmentOrderLineItemId"])
            by_fulfillment_line.setdefault(str(line), []).append(disposal)
        lines = []
        for item, wanted in items:
            unprocessed = item.get("unprocessedQuantity")
            quantity = wanted if unprocessed is None else min(wanted, int(unprocessed))
            if quantity <= 0:
                continue  # processed already (without a refund): the refund goes alone
            entry: dict[str, Any] = {"id": item["id"], "quantity": quantity}
            disposed = by_fulfillment_line.get(str(_dig(item, "fulfillmentLineItem", "id")))
            if disposed:
                entry["dispositions"] = disposed
            lines.append(entry)
        return lines

    def _dispositions(
        self, node: Node, dispositions: Sequence[tuple[str, int, str]], *, only_pending: bool
    ) -> tuple[list[dict[str, Any]], set[str]]:
        """Shopify's dispose inputs for ``(line id, quantity, disposition)`` entries, and the
        reverse fulfillment orders they touch. With ``only_pending``, units already disposed
        count as done: a line with ``quantity`` disposed already is left out."""
        inputs: list[dict[str, Any]] = []
        touched: set[str] = set()
        for line_id, quantity, disposition in dispositions:
            try:
                kind = mapper.disposition_type(disposition)
                candidates = state.reverse_items_for(node, line_id)
            except ValueError as exc:
                raise PermanentError(f"Shopify {exc}") from exc
            touched.update(str(item["reverseFulfillmentOrderId"]) for item in candidates)
            if only_pending and sum(state.disposed(item) for item in candidates) >= quantity:
                continue
            left = quantity
            for item in candidates:
                room = int(item.get("totalQuantity") or 0) - state.disposed(item)
                take = min(room, left)
                if take <= 0:
                    continue
                entry: dict[str, Any] = {
                    "reverseFulfillmentOrderLineItemId": item["id"],
                    "quantity": take,
                    "dispositionType": kind,
                }
                if kind == "RESTOCKED":
                    entry["locationId"] = self._location()
                inputs.append(entry)
                left -= take
            if left > 0:
                raise PermanentError(
                    f"Shopify return {node['id']} has fewer than {quantity} units of "
                    f"{line_id!r} left to dispose of"
                )
        return inputs, touched

    # plumbing ---------------------------------------------------------------------------

    def _return(self, external_id: str) -> dict[str, Any]:
        return_id = self._gid("Return", external_id)
        return self._required("Return", {"id": return_id}, "return", return_id)

    def _required(
        self, operation: str, variables: Mapping[str, Any], field: str, what: str
    ) -> dict[str, Any]:
        node = self.api.query(operation, variables).get(field)
        if not isinstance(node, dict):
            raise PermanentError(f"Shopify {self.shop} has no {field} {what}")
        return node

    def _settled(
        self, refused: UserErrors, return_id: str, kind: str, done: set[str]
    ) -> PushResult:
        """After Shopify refused a push: done all the same if the return got there meanwhile
        (another worker, the merchant in the admin), else the refusal stands."""
        node = self._required("ReturnStatus", {"id": return_id}, "return", return_id)
        if node.get("status") in done:
            return _done(kind, node)
        raise refused

    def _pages(
        self, operation: str, variables: Mapping[str, Any], field: str
    ) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            data = self.api.query(operation, {**variables, "after": after})
            connection = data.get(field) or {}
            for node in mapper.nodes(connection, field):
                if isinstance(node, dict):
                    yield node
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")

    @staticmethod
    def _lines(node: Node, lines: list[tuple[str, int]]) -> list[tuple[Node, int]]:
        try:
            return state.items_for(node, lines)
        except ValueError as exc:
            raise PermanentError(f"Shopify {exc}") from exc

    def locations(self) -> list[dict[str, str]]:
        """The store's active locations, for the merchant to choose where goods go back."""
        data = self.api.query("Locations", {})
        return [
            {
                "id": node["id"],
                "name": node.get("name") or "",
                "country": _dig(node, "address", "countryCode") or "",
                "city": _dig(node, "address", "city") or "",
            }
            for node in _dig(data, "locations", "nodes") or []
            if node.get("isActive", True)
        ]

    def _location(self) -> str:
        if not self.location_id:
            raise PermanentError(
                f"Shopify store {self.shop} has no location_id setting: where do goods go back?"
            )
        return self._gid("Location", self.location_id)

    def _has_idempotent_directive(self) -> bool:
        return self.api_version == "unstable" or self.api_version >= IDEMPOTENT_DIRECTIVE_SINCE

    @staticmethod
    def _gid(kind: str, value: str) -> str:
        try:
            return ids.gid(kind, value)
        except ValueError as exc:
            raise PermanentError(str(exc)) from exc

    @staticmethod
    def _presentment(transaction: Node) -> Money:
        try:
            return mapper.money_of(
                _dig(transaction, "amountSet", "presentmentMoney"), "transaction.amountSet"
            )
        except ValueError as exc:
            raise PermanentError(f"Shopify transaction {transaction.get('id')}: {exc}") from exc

    @staticmethod
    def _map(convert: Callable[[Any], T], value: Any, what: str) -> T:
        try:
            return convert(value)
        except ValueError as exc:
            raise _Unmappable(f"Shopify {what}: {exc}") from exc


class _Unmappable(PermanentError):
    """A Shopify object Helloword cannot map (or a push naming what the return lacks)."""


def _refuse_unless(node: Node, action: str, allowed: set[str]) -> None:
    status = str(node.get("status"))
    if status in allowed:
        return
    what = f"Shopify return {node.get('id')} is {status.lower()}"
    if status == "CANCELED":
        raise NothingToDo(f"{what}: nothing to {action}")
    if status == "REQUESTED":
        raise RetryableError(
            f"{what}, not yet approved: cannot {action} it", retry_after=NOT_YET_RETRY_AFTER
        )
    raise PermanentError(f"{what}: cannot {action} it")


def _return_lines(
    allocated: list[tuple[ReturnLine, str, int]], note_field: str, note_limit: int
) -> list[dict[str, Any]]:
    """Return line inputs of ``returnCreate`` (a reason note) or ``returnRequest`` (a
    customer note)."""
    return [
        {
            "fulfillmentLineItemId": fulfillment_line,
            "quantity": quantity,
            "returnReason": mapper.reason_to_shopify(line.reason),
            note_field: line.note[:note_limit],
        }
        for line, fulfillment_line, quantity in allocated
    ]


def _done(kind: str, node: Node) -> PushResult:
    return PushResult(
        str(node.get("id", "")),
        already_done=True,
        details={"kind": kind, "status": str(node.get("status", "")).lower()},
    )


def _pushed(kind: str, node: Node, **extra: str) -> PushResult:
    return PushResult(
        str(node.get("id", "")),
        details={"kind": kind, "status": str(node.get("status", "")).lower(), **extra},
    )


def _update(node: Node, details: dict[str, Any]) -> ParsedEvent:
    return ParsedEvent(
        "return_update",
        return_external_id=str(node.get("id", "")),
        external_return_status=mapper.return_status(node),
        details=details,
    )


def _payload_id(payload: Mapping[str, Any], kind: str) -> str:
    """The global id of the object a webhook payload is about."""
    given = payload.get("admin_graphql_api_id")
    if isinstance(given, str) and ids.kind_of(given) == kind:
        return given
    return ids.gid(kind, payload.get("id", ""))


def _updated_since(since: datetime) -> str:
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return f"updated_at:>='{_iso(since)}'"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _dig(value: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
