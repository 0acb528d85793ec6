"""A Shopify store's GraphQL Admin API for tests, behind ``responses``: stateful, and strict
where Shopify is strict.

It answers the operations the Shopify adapter sends (by ``operationName``) with objects shaped
as the API documents them — global ids, ``nodes`` connections, ``MoneyBag`` amounts in shop and
presentment currencies, ``userErrors`` with codes, ``extensions.cost`` on every answer — and it
moves returns along as Shopify does: approving makes a reverse fulfillment order, processing
records refunds and transactions (and fulfils exchange line items), closing needs an open
return. What Shopify refuses, it refuses the same way (a userError, a 401 for a wrong
token), and ``inject`` queues raw answers (a 500, ``THROTTLED``) ahead of an operation's real
one; ``lose_answer`` runs an operation and then answers 502, as a gateway that dropped
Shopify's answer would.

``snapshot()`` is the remote state a test compares to tell whether a call changed anything.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import responses
from requests import PreparedRequest

API_VERSION = "2025-10"
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
BUDGET = {"maximumAvailable": 2000.0, "currentlyAvailable": 1990.0, "restoreRate": 100.0}

Answer = tuple[int, dict[str, str], str]


def money_bag(shop: str, shop_currency: str, presentment: str, currency: str) -> dict[str, Any]:
    return {
        "shopMoney": {"amount": shop, "currencyCode": shop_currency},
        "presentmentMoney": {"amount": presentment, "currencyCode": currency},
    }


@dataclass
class Line:
    """A line of a new order: title, sku, quantity, unit price (presentment) and in shop money."""

    title: str
    sku: str
    quantity: int
    price: str
    shop_price: str
    hs_code: str | None = None
    origin: str | None = None
    grams: float = 0.0
    # the product's other variants at the same price: (sku, title, available for sale)
    variants: list[tuple[str, str, bool]] = field(default_factory=list)


@dataclass
class FakeShopify:
    shop: str
    token: str
    api_version: str = API_VERSION
    page_size: int = 50  # orders per page, whatever the query asks
    line_page_size: int = 25  # line items per page of an order
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    returns: dict[str, dict[str, Any]] = field(default_factory=dict)
    inventory: dict[str, dict[str, Any]] = field(default_factory=dict)  # sku → item
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # line item id → product
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _injected: dict[str, list[Answer]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(900_000_001))
    _clock: Any = field(default_factory=lambda: itertools.count(0))
    _idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lost: dict[str, int] = field(default_factory=dict)  # operation → answers to lose

    # set-up ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.shop}/admin/api/{self.api_version}/graphql.json"

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, self.url, callback=self._handle)

    def inject(
        self, operation: str, *answers: tuple[int, Any] | tuple[int, Any, dict[str, str]]
    ) -> None:
        """Queue raw answers (status, JSON body[, headers]) ahead of ``operation``'s own."""
        queue = self._injected.setdefault(operation, [])
        for answer in answers:
            status, body = answer[0], answer[1]
            headers = answer[2] if len(answer) > 2 else {}  # type: ignore[misc]
            text = body if isinstance(body, str) else json.dumps(body)
            queue.append((status, dict(headers), text))

    def lose_answer(self, operation: str, times: int = 1) -> None:
        """Run ``operation`` for real but answer 502, as when a gateway drops Shopify's answer."""
        self._lost[operation] = self._lost.get(operation, 0) + times

    def add_order(
        self,
        lines: list[Line],
        *,
        currency: str = "EUR",
        shop_currency: str = "USD",
        delivered: bool = True,
        customer: bool = True,
        updated_at: str = "2025-06-01T10:00:00Z",
    ) -> dict[str, Any]:
        """A paid, fulfilled order; returns its GraphQL node."""
        order_id = self._gid("Order")
        number = 1000 + len(self.orders) + 1
        line_nodes, fulfillment_lines = [], []
        total = shop_total = Decimal(0)
        for line in lines:
            line_id = self._gid("LineItem")
            item_id = self._gid("InventoryItem")
            self.inventory.setdefault(line.sku, {"id": item_id, "sku": line.sku, "available": 0})
            variant_id = self._gid("ProductVariant")
            self.products[line_id] = {
                "id": self._gid("Product"),
                "ordered": variant_id,
                "variants": [
                    {
                        "id": variant_id,
                        "sku": line.sku,
                        "title": "Default",
                        "price": line.shop_price,
                        "availableForSale": True,
                    }
                ]
                + [
                    {
                        "id": self._gid("ProductVariant"),
                        "sku": sku,
                        "title": title,
                        "price": line.shop_price,
                        "availableForSale": available,
                    }
                    for sku, title, available in line.variants
                ],
            }
            line_nodes.append(
                {
                    "id": line_id,
                    "title": line.title,
                    "name": line.title,
                    "variantTitle": None,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "currentQuantity": line.quantity,
                    "customAttributes": [],
                    "originalUnitPriceSet": money_bag(
                        line.shop_price, shop_currency, line.price, currency
                    ),
                    "discountedUnitPriceAfterAllDiscountsSet": money_bag(
                        line.shop_price, shop_currency, line.price, currency
                    ),
                    "variant": {
                        "id": variant_id,
                        "inventoryItem": {
                            "id": self.inventory[line.sku]["id"],
                            "harmonizedSystemCode": line.hs_code,
                            "countryCodeOfOrigin": line.origin,
                            "measurement": {"weight": {"unit": "GRAMS", "value": line.grams}},
                        },
                    },
                }
            )
            fulfillment_lines.append(
                {
                    "id": self._gid("FulfillmentLineItem"),
                    "quantity": line.quantity,
                    "lineItem": {"id": line_id},
                }
            )
            total += Decimal(line.price) * line.quantity
            shop_total += Decimal(line.shop_price) * line.quantity
        node: dict[str, Any] = {
            "id": order_id,
            "legacyResourceId": order_id.rsplit("/", 1)[-1],
            "name": f"#{number}",
            "email": f"buyer{number}@example.com",
            "phone": None,
            "createdAt": "2025-05-01T09:00:00Z",
            "processedAt": "2025-05-01T09:00:00Z",
            "updatedAt": updated_at,
            "cancelledAt": None,
            "currencyCode": shop_currency,
            "presentmentCurrencyCode": currency,
            "customerLocale": "de",
            "tags": [],
            "totalPriceSet": money_bag(str(shop_total), shop_currency, str(total), currency),
            "customer": (
                {
                    "id": self._gid("Customer"),
                    "firstName": "Jonas",
                    "lastName": "Weber",
                    "displayName": "Jonas Weber",
                    "locale": "de",
                }
                if customer
                else None
            ),
            "shippingAddress": {
                "name": "Jonas Weber",
                "firstName": "Jonas",
                "lastName": "Weber",
                "company": None,
                "address1": "Bergmannstraße 5",
                "address2": None,
                "city": "Berlin",
                "zip": "10961",
                "provinceCode": None,
                "countryCodeV2": "DE",
                "phone": None,
            },
            "billingAddress": None,
            "lineItems": {"nodes": line_nodes},
            "fulfillments": [
                {
                    "id": self._gid("Fulfillment"),
                    "status": "SUCCESS",
                    "createdAt": "2025-05-02T09:00:00Z",
                    "deliveredAt": "2025-05-06T15:30:00Z" if delivered else None,
                    "location": {"id": self._gid("Location"), "address": {"countryCode": "US"}},
                    "fulfillmentLineItems": {"nodes": fulfillment_lines},
                }
            ],
            "_transactions": [
                {
                    "id": self._gid("OrderTransaction"),
                    "kind": "SALE",
                    "status": "SUCCESS",
                    "gateway": "shopify_payments",
                    "parentTransaction": None,
                    "amountSet": money_bag(str(shop_total), shop_currency, str(total), currency),
                }
            ],
        }
        self.orders[order_id] = node
        return self._public_order(node)

    def request_return(
        self, order_id: str, lines: list[tuple[str, int, str]], status: str = "REQUESTED"
    ) -> str:
        """A buyer's return of ``(line item id, quantity, ReturnReason)`` entries."""
        order = self.orders[order_id]
        fulfillment_lines = {
            entry["lineItem"]["id"]: entry
            for fulfillment in order["fulfillments"]
            for entry in fulfillment["fulfillmentLineItems"]["nodes"]
        }
        return_id = self._gid("Return")
        record = {
            "id": return_id,
            "name": f"{order['name']}-R{1 + len(self._returns_of(order_id))}",
            "status": status,
            "createdAt": self._now(),
            "closedAt": None,
            "decline": None,
            "order_id": order_id,
            "lines": [
                {
                    "id": self._gid("ReturnLineItem"),
                    "quantity": quantity,
                    "returnReason": reason,
                    "returnReasonNote": "",
                    "customerNote": None,
                    "processedQuantity": 0,
                    "refundedQuantity": 0,
                    "fulfillmentLineItem": {
                        "id": fulfillment_lines[line_id]["id"],
                        "lineItem": {"id": line_id, "sku": self._sku(order, line_id)},
                    },
                }
                for line_id, quantity, reason in lines
            ],
            "rfos": [],
            "refunds": [],
            "exchanges": [],
        }
        self.returns[return_id] = record
        if status == "OPEN":
            self._open(record)
        return return_id

    def snapshot(self) -> str:
        """Everything a push can change, as one comparable text."""
        return json.dumps(
            {
                "returns": self.returns,
                "transactions": {k: o["_transactions"] for k, o in self.orders.items()},
                "inventory": self.inventory,
                "adjustments": self.adjustments,
                "credits": self.credits,
                "subscriptions": self.subscriptions,
            },
            sort_keys=True,
        )

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    # the endpoint ------------------------------------------------------------------------

    def _handle(self, request: PreparedRequest) -> Answer:
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return 401, {}, json.dumps({"errors": UNAUTHORIZED})
        document = json.loads(request.body or b"{}")
        name = document.get("operationName") or ""
        variables = document.get("variables") or {}
        query = document.get("query") or ""
        found = re.search(r"^\s*(?:query|mutation)\s+(\w+)", query, re.MULTILINE)
        assert found and found.group(1) == name, f"operationName {name!r} does not match the query"
        self.calls.append((name, copy.deepcopy(variables)))
        queue = self._injected.get(name)
        if queue:
            return queue.pop(0)
        handler: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(
            self, f"_op_{name}", None
        )
        assert handler is not None, f"the fake store does not know {name}"
        data = handler(variables)
        if self._lost.get(name):
            self._lost[name] -= 1
            return 502, {}, "<html><body>502 Bad Gateway</body></html>"
        cost = {"requestedQueryCost": 10, "actualQueryCost": 10, "throttleStatus": BUDGET}
        return 200, {}, json.dumps({"data": data, "extensions": {"cost": cost}})

    # queries -----------------------------------------------------------------------------

    def _op_Order(self, v: dict[str, Any]) -> dict[str, Any]:
        node = self.orders.get(v["id"])
        if node is None:
            return {"order": None}
        public = self._public_order(node)
        lines = public["lineItems"]["nodes"]
        page = lines[: self.line_page_size]
        more = len(lines) > len(page)
        public["lineItems"] = {
            "pageInfo": {"hasNextPage": more, "endCursor": f"line:{len(page)}" if more else None},
            "nodes": page,
        }
        return {"order": public}

    def _op_OrderLineItems(self, v: dict[str, Any]) -> dict[str, Any]:
        lines = self.orders[v["id"]]["lineItems"]["nodes"]
        start = int(v["after"].split(":")[1])
        page = lines[start : start + self.line_page_size]
        end = start + len(page)
        more = end < len(lines)
        return {
            "order": {
                "id": v["id"],
                "lineItems": {
                    "pageInfo": {"hasNextPage": more, "endCursor": f"line:{end}" if more else None},
                    "nodes": copy.deepcopy(page),
                },
            }
        }

    def _op_OrderIds(self, v: dict[str, Any]) -> dict[str, Any]:
        page, info = self._order_page(v)
        return {"orders": {"pageInfo": info, "nodes": [{"id": o["id"]} for o in page]}}

    def _op_OrderReturnIds(self, v: dict[str, Any]) -> dict[str, Any]:
        page, info = self._order_page(v)
        nodes = [
            {
                "id": o["id"],
                "returns": {
                    "nodes": [
                        {"id": r["id"]} for r in self.returns.values() if r["order_id"] == o["id"]
                    ]
                },
            }
            for o in page
        ]
        return {"orders": {"pageInfo": info, "nodes": nodes}}

    def _op_OrderTransactions(self, v: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(v["id"])
        if order is None:
            return {"order": None}
        return {
            "order": {
                "id": order["id"],
                "presentmentCurrencyCode": order["presentmentCurrencyCode"],
                "transactions": copy.deepcopy(order["_transactions"]),
            }
        }

    def _op_Return(self, v: dict[str, Any]) -> dict[str, Any]:
        record = self.returns.get(v["id"])
        return {"return": self._render_return(record) if record else None}

    def _op_ReturnStatus(self, v: dict[str, Any]) -> dict[str, Any]:
        record = self.returns.get(v["id"])
        return {"return": {"id": record["id"], "status": record["status"]} if record else None}

    def _op_OrderReturns(self, v: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(v["id"])
        if order is None:
            return {"order": None}
        nodes = [
            self._render_return(r) for r in self.returns.values() if r["order_id"] == order["id"]
        ]
        return {"order": {"id": order["id"], "returns": {"nodes": nodes}}}

    def _op_ReturnableFulfillments(self, v: dict[str, Any]) -> dict[str, Any]:
        order = self.orders[v["orderId"]]
        taken: dict[str, int] = {}
        for record in self.returns.values():
            if record["order_id"] == order["id"] and record["status"] not in (
                "DECLINED",
                "CANCELED",
            ):
                for line in record["lines"]:
                    key = line["fulfillmentLineItem"]["id"]
                    taken[key] = taken.get(key, 0) + line["quantity"]
        nodes = []
        for fulfillment in order["fulfillments"]:
            entries = [
                {
                    "quantity": entry["quantity"] - taken.get(entry["id"], 0),
                    "fulfillmentLineItem": {"id": entry["id"], "lineItem": entry["lineItem"]},
                }
                for entry in fulfillment["fulfillmentLineItems"]["nodes"]
                if entry["quantity"] > taken.get(entry["id"], 0)
            ]
            nodes.append(
                {
                    "id": fulfillment["id"].replace("Fulfillment", "ReturnableFulfillment"),
                    "returnableFulfillmentLineItems": {"nodes": entries},
                }
            )
        return {"returnableFulfillments": {"nodes": nodes}}

    def _op_ReverseDelivery(self, v: dict[str, Any]) -> dict[str, Any]:
        for record in self.returns.values():
            for rfo in record["rfos"]:
                for delivery in rfo["reverseDeliveries"]:
                    if delivery["id"] == v["id"]:
                        return {
                            "reverseDelivery": {
                                **copy.deepcopy(delivery),
                                "reverseFulfillmentOrder": {
                                    "id": rfo["id"],
                                    "order": {"id": record["order_id"]},
                                    "return": {"id": record["id"], "status": record["status"]},
                                },
                            }
                        }
        return {"reverseDelivery": None}

    def _op_ReverseFulfillmentOrder(self, v: dict[str, Any]) -> dict[str, Any]:
        for record in self.returns.values():
            for rfo in record["rfos"]:
                if rfo["id"] == v["id"]:
                    return {
                        "reverseFulfillmentOrder": {
                            "id": rfo["id"],
                            "status": rfo["status"],
                            "return": {"id": record["id"], "status": record["status"]},
                            "lineItems": {"nodes": copy.deepcopy(rfo["lineItems"])},
                        }
                    }
        return {"reverseFulfillmentOrder": None}

    def _op_Refund(self, v: dict[str, Any]) -> dict[str, Any]:
        for record in self.returns.values():
            for refund in record["refunds"]:
                if refund["id"] == v["id"]:
                    order = self.orders[record["order_id"]]
                    amount = refund["totalRefundedSet"]["presentmentMoney"]
                    return {
                        "refund": {
                            "id": refund["id"],
                            "createdAt": refund["createdAt"],
                            "order": {"id": record["order_id"]},
                            "return": {"id": record["id"], "status": record["status"]},
                            "totalRefundedSet": money_bag(
                                amount["amount"],
                                order["currencyCode"],
                                amount["amount"],
                                amount["currencyCode"],
                            ),
                        }
                    }
        return {"refund": None}

    def _op_LineItemVariants(self, v: dict[str, Any]) -> dict[str, Any]:
        product = self.products.get(v["id"])
        if product is None:
            return {"node": None}
        ordered = next(n for n in product["variants"] if n["id"] == product["ordered"])
        return {
            "node": copy.deepcopy(
                {
                    "id": v["id"],
                    "sku": ordered["sku"],
                    "variant": {"id": ordered["id"], "price": ordered["price"]},
                    "product": {"id": product["id"], "variants": {"nodes": product["variants"]}},
                }
            )
        }

    def _op_Locations(self, v: dict[str, Any]) -> dict[str, Any]:
        return {
            "locations": {
                "nodes": [
                    {
                        "id": "gid://shopify/Location/71829094466",
                        "name": "Lisbon warehouse",
                        "isActive": True,
                        "fulfillsOnlineOrders": True,
                        "address": {"countryCode": "PT", "city": "Lisbon"},
                    },
                    {
                        "id": "gid://shopify/Location/71829094467",
                        "name": "Paris shop",
                        "isActive": True,
                        "fulfillsOnlineOrders": False,
                        "address": {"countryCode": "FR", "city": "Paris"},
                    },
                ]
            }
        }

    def _op_InventoryItemBySku(self, v: dict[str, Any]) -> dict[str, Any]:
        wanted = re.fullmatch(r'sku:"(.*)"', v["query"])
        item = self.inventory.get(wanted.group(1)) if wanted else None
        nodes = [{"id": item["id"], "sku": item["sku"]}] if item else []
        return {"inventoryItems": {"nodes": nodes}}

    def _op_WebhookSubscriptions(self, v: dict[str, Any]) -> dict[str, Any]:
        return {
            "webhookSubscriptions": {
                "pageInfo": {"hasNextPage": False, "endCursor": None},
                "nodes": copy.deepcopy(self.subscriptions),
            }
        }

    # mutations ---------------------------------------------------------------------------

    def _op_ReturnApproveRequest(self, v: dict[str, Any]) -> dict[str, Any]:
        record = self.returns.get(v["input"]["id"])
        if record is None:
            return _refused("returnApproveRequest", ["id"], "Return does not exist.", "NOT_FOUND")
        if record["status"] != "REQUESTED":
            return _refused(
                "returnApproveRequest",
                ["id"],
                "Return is not approvable. Only returns with status REQUESTED can be approved.",
                "INVALID_STATE",
            )
        self._open(record)
        return {"returnApproveRequest": {"return": _status(record), "userErrors": []}}

    def _op_ReturnDeclineRequest(self, v: dict[str, Any]) -> dict[str, Any]:
        data = v["input"]
        record = self.returns.get(data["id"])
        if record is None or record["status"] != "REQUESTED":
            return _refused(
                "returnDeclineRequest",
                ["id"],
                "Return is not declinable. Only non-refunded returns with status REQUESTED "
                "can be declined.",
                "INVALID_STATE",
            )
        if data["declineReason"] not in ("FINAL_SALE", "OTHER", "RETURN_PERIOD_ENDED"):
            return _refused(
                "returnDeclineRequest", ["declineReason"], "Decline reason is invalid.", "INVALID"
            )
        record["status"] = "DECLINED"
        record["decline"] = {"reason": data["declineReason"], "note": data.get("declineNote")}
        return {
            "returnDeclineRequest": {
                "return": {**_status(record), "decline": record["decline"]},
                "userErrors": [],
            }
        }

    def _op_ReturnClose(self, v: dict[str, Any]) -> dict[str, Any]:
        record = self.returns.get(v["id"])
        if record is None or record["status"] != "OPEN":
            return _refused("returnClose", ["id"], "Return is not closable.", "INVALID_STATE")
        record["status"] = "CLOSED"
        record["closedAt"] = self._now()
        return {
            "returnClose": {
                "return": {**_status(record), "closedAt": record["closedAt"]},
                "userErrors": [],
            }
        }

    def _op_ReverseDeliveryCreateWithShipping(self, v: dict[str, Any]) -> dict[str, Any]:
        rfo = self._rfo(v["reverseFulfillmentOrderId"])
        if rfo is None or rfo["status"] != "OPEN":
            return _refused(
                "reverseDeliveryCreateWithShipping",
                ["reverseFulfillmentOrderId"],
                "Reverse fulfillment order is not open.",
                "INVALID_STATE",
            )
        tracking = v.get("trackingInput") or {}
        number = tracking.get("number", "")
        delivery = {
            "id": self._gid("ReverseDelivery"),
            "deliverable": {
                "__typename": "ReverseDeliveryShippingDeliverable",
                "tracking": {
                    "number": number,
                    "carrierName": "UPS" if number.startswith("1Z") else None,
                    "url": tracking.get("url"),
                },
                "label": {"publicFileUrl": (v.get("labelInput") or {}).get("fileUrl")},
            },
        }
        rfo["reverseDeliveries"].append(delivery)
        return {
            "reverseDeliveryCreateWithShipping": {
                "reverseDelivery": copy.deepcopy(delivery),
                "userErrors": [],
            }
        }

    def _op_ReturnProcess(self, v: dict[str, Any]) -> dict[str, Any]:
        data = v["input"]
        record = self.returns.get(data["returnId"])
        if record is None or record["status"] != "OPEN":
            return _refused(
                "returnProcess", ["returnId"], "Return is not processable.", "INVALID_STATE"
            )
        lines = {line["id"]: line for line in record["lines"]}
        for i, entry in enumerate(data.get("returnLineItems") or []):
            line = lines.get(entry["id"])
            if line is None or entry["quantity"] > line["quantity"] - line["processedQuantity"]:
                return _refused(
                    "returnProcess",
                    ["returnLineItems", str(i), "quantity"],
                    "Quantity exceeds the unprocessed quantity of the return line item.",
                    "INVALID",
                )
        exchanges = {item["id"]: item for item in record["exchanges"]}
        for i, entry in enumerate(data.get("exchangeLineItems") or []):
            item = exchanges.get(entry["id"])
            if item is None or entry["quantity"] > item["quantity"] - item["processedQuantity"]:
                return _refused(
                    "returnProcess",
                    ["exchangeLineItems", str(i), "quantity"],
                    "Quantity exceeds the unprocessed quantity of the exchange line item.",
                    "INVALID",
                )
        transfer = (data.get("financialTransfer") or {}).get("issueRefund")
        order = self.orders[record["order_id"]]
        if transfer is not None:
            problem = self._check_refund(order, transfer["orderTransactions"])
            if problem:
                return _refused("returnProcess", ["financialTransfer"], problem, "INVALID")
        for entry in data.get("exchangeLineItems") or []:
            exchanges[entry["id"]]["processedQuantity"] += entry["quantity"]
        for entry in data.get("returnLineItems") or []:
            line = lines[entry["id"]]
            line["processedQuantity"] += entry["quantity"]
            if transfer is not None:
                line["refundedQuantity"] += entry["quantity"]
            for disposal in entry.get("dispositions") or []:
                self._dispose(disposal)
        if transfer is not None:
            total = Decimal(0)
            for t in transfer["orderTransactions"]:
                amount = t["transactionAmount"]
                total += Decimal(amount["amount"])
                order["_transactions"].append(
                    {
                        "id": self._gid("OrderTransaction"),
                        "kind": "REFUND",
                        "status": "SUCCESS",
                        "gateway": "shopify_payments",
                        "parentTransaction": {"id": t["parentId"]},
                        "amountSet": money_bag(
                            amount["amount"],
                            order["currencyCode"],
                            amount["amount"],
                            amount["currencyCode"],
                        ),
                    }
                )
            record["refunds"].append(
                {
                    "id": self._gid("Refund"),
                    "createdAt": self._now(),
                    "totalRefundedSet": {
                        "presentmentMoney": {
                            "amount": str(total),
                            "currencyCode": order["presentmentCurrencyCode"],
                        }
                    },
                }
            )
        return {
            "returnProcess": {
                "return": {
                    **_status(record),
                    "refunds": {
                        "nodes": [
                            {"id": r["id"], "createdAt": r["createdAt"]} for r in record["refunds"]
                        ]
                    },
                },
                "userErrors": [],
            }
        }

    def _op_ReverseFulfillmentOrderDispose(self, v: dict[str, Any]) -> dict[str, Any]:
        touched = []
        for i, disposal in enumerate(v["dispositionInputs"]):
            item = self._rfo_line(disposal["reverseFulfillmentOrderLineItemId"])
            left = (
                item["totalQuantity"] - sum(d["quantity"] for d in item["dispositions"])
                if item
                else 0
            )
            if item is None or disposal["quantity"] > left:
                return _refused(
                    "reverseFulfillmentOrderDispose",
                    ["dispositionInputs", str(i), "quantity"],
                    "Quantity exceeds the quantity left to dispose of.",
                    "INVALID",
                )
            if disposal["dispositionType"] == "RESTOCKED" and not disposal.get("locationId"):
                return _refused(
                    "reverseFulfillmentOrderDispose",
                    ["dispositionInputs", str(i), "locationId"],
                    "Location is required when restocking.",
                    "BLANK",
                )
        for disposal in v["dispositionInputs"]:
            touched.append(self._dispose(disposal))
        return {
            "reverseFulfillmentOrderDispose": {
                "reverseFulfillmentOrderLineItems": copy.deepcopy(touched),
                "userErrors": [],
            }
        }

    def _op_ReturnCreate(self, v: dict[str, Any]) -> dict[str, Any]:
        return self._create("returnCreate", v["returnInput"], "OPEN")

    def _op_ReturnRequest(self, v: dict[str, Any]) -> dict[str, Any]:
        return self._create("returnRequest", v["input"], "REQUESTED")

    def _op_StoreCreditAccountCredit(self, v: dict[str, Any]) -> dict[str, Any]:
        credit = {
            "id": self._gid("StoreCreditAccountCreditTransaction"),
            "amount": v["creditInput"]["creditAmount"],
            "account": {"id": v["id"].replace("Customer", "StoreCreditAccount")},
        }
        self.credits.append(credit)
        return {
            "storeCreditAccountCredit": {
                "storeCreditAccountTransaction": copy.deepcopy(credit),
                "userErrors": [],
            }
        }

    def _op_InventoryAdjustQuantities(self, v: dict[str, Any]) -> dict[str, Any]:
        group = {"id": self._gid("InventoryAdjustmentGroup"), "reason": v["input"]["reason"]}
        for change in v["input"]["changes"]:
            item = next(i for i in self.inventory.values() if i["id"] == change["inventoryItemId"])
            item["available"] += change["delta"]
        self.adjustments.append({**group, "input": v["input"]})
        return {"inventoryAdjustQuantities": {"inventoryAdjustmentGroup": group, "userErrors": []}}

    def _op_InventoryAdjustQuantitiesIdempotent(self, v: dict[str, Any]) -> dict[str, Any]:
        key = v["idempotencyKey"]
        if key not in self._idempotent:
            self._idempotent[key] = self._op_InventoryAdjustQuantities(v)
        return copy.deepcopy(self._idempotent[key])

    def _op_WebhookSubscriptionCreate(self, v: dict[str, Any]) -> dict[str, Any]:
        uri = v["webhookSubscription"]["uri"]
        if any(s["topic"] == v["topic"] and s["uri"] == uri for s in self.subscriptions):
            return {
                "webhookSubscriptionCreate": {
                    "webhookSubscription": None,
                    "userErrors": [
                        {
                            "field": ["webhookSubscription", "callbackUrl"],
                            "message": "Address for this topic has already been taken",
                        }
                    ],
                }
            }
        subscription = {"id": self._gid("WebhookSubscription"), "topic": v["topic"], "uri": uri}
        self.subscriptions.append(subscription)
        return {
            "webhookSubscriptionCreate": {
                "webhookSubscription": dict(subscription),
                "userErrors": [],
            }
        }

    # the store's own moves ---------------------------------------------------------------

    def _open(self, record: dict[str, Any]) -> None:
        record["status"] = "OPEN"
        record["rfos"].append(
            {
                "id": self._gid("ReverseFulfillmentOrder"),
                "status": "OPEN",
                "lineItems": [
                    {
                        "id": self._gid("ReverseFulfillmentOrderLineItem"),
                        "totalQuantity": line["quantity"],
                        "dispositions": [],
                        "fulfillmentLineItem": {
                            "id": line["fulfillmentLineItem"]["id"],
                            "lineItem": {"id": line["fulfillmentLineItem"]["lineItem"]["id"]},
                        },
                    }
                    for line in record["lines"]
                ],
                "reverseDeliveries": [],
            }
        )

    def _create(self, field_name: str, data: dict[str, Any], status: str) -> dict[str, Any]:
        order = self.orders.get(data["orderId"])
        if order is None:
            return _refused(field_name, ["orderId"], "Order does not exist.", "NOT_FOUND")
        by_fulfillment_line = {
            entry["id"]: entry["lineItem"]["id"]
            for fulfillment in order["fulfillments"]
            for entry in fulfillment["fulfillmentLineItems"]["nodes"]
        }
        lines = [
            (
                by_fulfillment_line[entry["fulfillmentLineItemId"]],
                entry["quantity"],
                entry["returnReason"],
            )
            for entry in data["returnLineItems"]
        ]
        variants = {
            node["id"] for product in self.products.values() for node in product["variants"]
        }
        for i, entry in enumerate(data.get("exchangeLineItems") or []):
            if entry.get("variantId") not in variants:
                return _refused(
                    field_name,
                    ["exchangeLineItems", str(i), "variantId"],
                    "Variant does not exist.",
                    "NOT_FOUND",
                )
        return_id = self.request_return(order["id"], lines, status=status)
        record = self.returns[return_id]
        record["exchanges"] = [
            {
                "id": self._gid("ExchangeLineItem"),
                "variantId": entry["variantId"],
                "quantity": entry["quantity"],
                "processedQuantity": 0,
            }
            for entry in data.get("exchangeLineItems") or []
        ]
        return {
            field_name: {"return": {**_status(record), "name": record["name"]}, "userErrors": []}
        }

    def _check_refund(self, order: dict[str, Any], transactions: list[dict[str, Any]]) -> str:
        refunded: dict[str, Decimal] = {}
        for t in order["_transactions"]:
            if t["kind"] == "REFUND":
                parent = t["parentTransaction"]["id"]
                refunded[parent] = refunded.get(parent, Decimal(0)) + Decimal(
                    t["amountSet"]["presentmentMoney"]["amount"]
                )
        paid = {t["id"]: t for t in order["_transactions"] if t["kind"] in ("SALE", "CAPTURE")}
        for t in transactions:
            parent = paid.get(t["parentId"])
            if parent is None:
                return "Parent transaction does not exist."
            room = Decimal(parent["amountSet"]["presentmentMoney"]["amount"]) - refunded.get(
                t["parentId"], Decimal(0)
            )
            if Decimal(t["transactionAmount"]["amount"]) > room:
                return "Refund amount exceeds the refundable amount of the transaction."
            if t["transactionAmount"]["currencyCode"] != order["presentmentCurrencyCode"]:
                return "Currency must match the order's presentment currency."
        return ""

    def _dispose(self, disposal: dict[str, Any]) -> dict[str, Any]:
        item = self._rfo_line(disposal["reverseFulfillmentOrderLineItemId"])
        assert item is not None
        item["dispositions"].append(
            {"quantity": disposal["quantity"], "type": disposal["dispositionType"]}
        )
        return item

    # reading the store -------------------------------------------------------------------

    def _order_page(self, v: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        since = re.search(r"updated_at:>='([^']+)'", v.get("query") or "")
        orders = sorted(self.orders.values(), key=lambda o: (o["updatedAt"], o["id"]))
        if since:
            moment = datetime.fromisoformat(since.group(1))
            orders = [o for o in orders if datetime.fromisoformat(o["updatedAt"]) >= moment]
        start = int(v["after"].split(":")[1]) if v.get("after") else 0
        page = orders[start : start + self.page_size]
        end = start + len(page)
        more = end < len(orders)
        return page, {"hasNextPage": more, "endCursor": f"order:{end}" if page else None}

    def _render_return(self, record: dict[str, Any]) -> dict[str, Any]:
        order = self.orders[record["order_id"]]
        customer = order["customer"]
        return copy.deepcopy(
            {
                "id": record["id"],
                "name": record["name"],
                "status": record["status"],
                "createdAt": record["createdAt"],
                "closedAt": record["closedAt"],
                "decline": record["decline"],
                "order": {
                    "id": order["id"],
                    "name": order["name"],
                    "customer": {"id": customer["id"]} if customer else None,
                },
                "returnLineItems": {
                    "nodes": [
                        {
                            "__typename": "ReturnLineItem",
                            **line,
                            "unprocessedQuantity": line["quantity"] - line["processedQuantity"],
                        }
                        for line in record["lines"]
                    ]
                },
                "reverseFulfillmentOrders": {
                    "nodes": [
                        {
                            "id": rfo["id"],
                            "status": rfo["status"],
                            "lineItems": {"nodes": rfo["lineItems"]},
                            "reverseDeliveries": {"nodes": rfo["reverseDeliveries"]},
                        }
                        for rfo in record["rfos"]
                    ]
                },
                "refunds": {"nodes": record["refunds"]},
                "exchangeLineItems": {
                    "nodes": [
                        {
                            **item,
                            "unprocessedQuantity": item["quantity"] - item["processedQuantity"],
                        }
                        for item in record["exchanges"]
                    ]
                },
            }
        )

    def _returns_of(self, order_id: str) -> list[dict[str, Any]]:
        return [r for r in self.returns.values() if r["order_id"] == order_id]

    def _rfo(self, rfo_id: str) -> dict[str, Any] | None:
        for record in self.returns.values():
            for rfo in record["rfos"]:
                if rfo["id"] == rfo_id:
                    return rfo
        return None

    def _rfo_line(self, line_id: str) -> dict[str, Any] | None:
        for record in self.returns.values():
            for rfo in record["rfos"]:
                for item in rfo["lineItems"]:
                    if item["id"] == line_id:
                        return item
        return None

    @staticmethod
    def _public_order(node: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy({k: v for k, v in node.items() if not k.startswith("_")})

    @staticmethod
    def _sku(order: dict[str, Any], line_id: str) -> str:
        return next(line["sku"] for line in order["lineItems"]["nodes"] if line["id"] == line_id)

    def _gid(self, kind: str) -> str:
        return f"gid://shopify/{kind}/{next(self._ids)}"

    def _now(self) -> str:
        moment = datetime(2025, 6, 1, 12, tzinfo=UTC) + timedelta(seconds=next(self._clock))
        return moment.isoformat().replace("+00:00", "Z")


def _status(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], "status": record["status"]}


_PAYLOAD_OBJECT = {
    "reverseDeliveryCreateWithShipping": "reverseDelivery",
    "reverseFulfillmentOrderDispose": "reverseFulfillmentOrderLineItems",
}


def _refused(field_name: str, where: list[str], message: str, code: str) -> dict[str, Any]:
    """A mutation's payload when Shopify refuses it: its object null, and the userErrors."""
    return {
        field_name: {
            _PAYLOAD_OBJECT.get(field_name, "return"): None,
            "userErrors": [{"field": where, "message": message, "code": code}],
        }
    }
