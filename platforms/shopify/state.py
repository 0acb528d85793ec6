"""What a Shopify return says of the work already done on it. Pure: reads ``ReturnFields``.

A push names the lines it concerns as Helloword knows them: the order line's id (the usual
case), or Shopify's return line, fulfillment line or reverse fulfillment order line id. These
functions find the Shopify objects a mutation needs for those lines, and tell from the return's
state whether the push has already been made — a delivery with this tracking number, a line
already refunded, units already disposed — which is how a retried job changes nothing.
An unknown line raises ``ValueError`` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import ids
from .mapper import nodes

Node = Mapping[str, Any]


def line_item_id(value: str) -> str:
    """An order line's global id from either of its forms (other global ids pass through)."""
    text = str(value).strip()
    return ids.gid("LineItem", text) if text.isdigit() else text


def return_line_items(node: Node) -> list[Node]:
    """The return's lines that return a fulfilled order line."""
    return [
        item
        for item in nodes(node.get("returnLineItems"), "returnLineItems")
        if isinstance(item, Mapping) and isinstance(item.get("fulfillmentLineItem"), Mapping)
    ]


def items_for(node: Node, lines: Iterable[tuple[str, int]]) -> list[tuple[Node, int]]:
    """The return lines that ``lines`` (``(line id, quantity)``) name, with the quantity each
    takes; an order line returned from two fulfillments spreads over both."""
    chosen: list[tuple[Node, int]] = []
    items = return_line_items(node)
    for line_id, quantity in lines:
        matches = [item for item in items if _names(item, line_id)]
        if not matches:
            raise ValueError(f"return {node.get('id')} has no line for {line_id!r}")
        left = quantity
        for item in matches:
            take = min(left, int(item.get("quantity") or 0))
            if take > 0:
                chosen.append((item, take))
                left -= take
        if left > 0:
            raise ValueError(
                f"return {node.get('id')} returns fewer than {quantity} units of {line_id!r}"
            )
    return chosen


def reverse_items_for(node: Node, line_id: str) -> list[Node]:
    """The reverse fulfillment order lines that ``line_id`` names."""
    wanted = line_item_id(line_id)
    by_return_line = {
        str(item.get("id")): _dig(item, "fulfillmentLineItem", "id")
        for item in return_line_items(node)
    }
    found: list[Node] = []
    for order in reverse_orders(node):
        for item in nodes(order.get("lineItems"), "reverseFulfillmentOrder.lineItems"):
            fulfillment_line = _dig(item, "fulfillmentLineItem", "id")
            if wanted in (
                item.get("id"),
                fulfillment_line,
                _dig(item, "fulfillmentLineItem", "lineItem", "id"),
            ) or (wanted in by_return_line and by_return_line[wanted] == fulfillment_line):
                found.append({**item, "reverseFulfillmentOrderId": order.get("id")})
    if not found:
        raise ValueError(f"return {node.get('id')} has no reverse fulfillment line for {line_id!r}")
    return found


def disposed(item: Node) -> int:
    """Units of a reverse fulfillment order line already given a disposition."""
    return sum(int(d.get("quantity") or 0) for d in item.get("dispositions") or () if d)


def reverse_orders(node: Node) -> list[Node]:
    return [
        order
        for order in nodes(node.get("reverseFulfillmentOrders"), "reverseFulfillmentOrders")
        if isinstance(order, Mapping)
    ]


def open_reverse_order(node: Node) -> Node | None:
    """The reverse fulfillment order a new delivery goes on: the first still open."""
    for order in reverse_orders(node):
        if str(order.get("status", "")).upper() == "OPEN":
            return order
    return None


def delivery_tracked_as(node: Node, tracking_number: str) -> Node | None:
    """The return's reverse delivery with this tracking number, if one was attached."""
    wanted = tracking_number.strip().upper()
    for order in reverse_orders(node):
        for delivery in nodes(order.get("reverseDeliveries"), "reverseDeliveries"):
            number = _dig(delivery, "deliverable", "tracking", "number")
            if isinstance(number, str) and number.strip().upper() == wanted:
                return delivery
    return None


def refund_ids(node: Node) -> list[str]:
    """The return's refunds, oldest first."""
    refunds = [r for r in nodes(node.get("refunds"), "refunds") if isinstance(r, Mapping)]
    refunds.sort(key=lambda refund: str(refund.get("createdAt") or ""))
    return [str(refund["id"]) for refund in refunds if refund.get("id")]


def customer_id(node: Node) -> str:
    value = _dig(node, "order", "customer", "id")
    return value if isinstance(value, str) else ""


def returned_units(node: Node) -> dict[str, int]:
    """Units of each order line (global id) a return takes back."""
    units: dict[str, int] = {}
    for item in return_line_items(node):
        line = _dig(item, "fulfillmentLineItem", "lineItem", "id")
        if isinstance(line, str):
            units[line] = units.get(line, 0) + int(item.get("quantity") or 0)
    return units


def _names(item: Node, line_id: str) -> bool:
    wanted = line_item_id(line_id)
    return wanted in (
        item.get("id"),
        _dig(item, "fulfillmentLineItem", "id"),
        _dig(item, "fulfillmentLineItem", "lineItem", "id"),
    )


def _dig(value: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
