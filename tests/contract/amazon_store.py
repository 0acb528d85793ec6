"""An Amazon seller account's Selling Partner API for tests, behind ``respx``: stateful, and
strict where Amazon is strict.

It answers what the Amazon adapter calls, shaped as Amazon documents it: the LWA token
endpoint (``invalid_grant`` for a used code or a revoked refresh token), Orders 2026-01-01,
Reports 2021-06-30 with documents behind presigned URLs (gzipped when asked), Feeds 2021-06-30
(a payment adjustment feed is processed when it is created: each message checked against the
order and what is left to refund, and a processing report written, errors per ``MessageID``),
Listings Items 2021-08-01 (a quantity patch sets the seller-fulfilled quantity) and the Sellers
API. Every answer carries ``x-amzn-RateLimit-Limit`` when ``rate_limit`` is set; ``inject``
queues raw answers (a 429, a 503) ahead of an operation's own; ``feed_polls_pending`` makes
``getFeed`` say IN_PROGRESS that many times first.

``snapshot()`` is the remote state a test compares to tell whether a call changed anything.
"""

from __future__ import annotations

import copy
import gzip
import itertools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

import httpx
import respx

TOKEN_URL = "https://api.amazon.com/auth/o2/token"
DOCUMENTS = "https://tortuga-prod-eu.s3-eu-west-1.amazonaws.com"

Handler = Callable[[httpx.Request, re.Match[str]], httpx.Response]


@dataclass
class Item:
    """A line of a new order: SKU, title, quantity and unit price."""

    sku: str
    title: str
    quantity: int
    price: str


@dataclass
class FakeAmazon:
    seller_id: str
    client_id: str
    client_secret: str
    region: str = "eu"
    marketplace_id: str = "A1PA6795UKMFR9"
    currency: str = "EUR"
    refresh_tokens: set[str] = field(default_factory=set)
    codes: dict[str, str] = field(default_factory=dict)  # spapi_oauth_code → refresh token
    redirect_uris: set[str] = field(default_factory=set)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunded: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (order, item)
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)
    document_types: dict[str, str] = field(default_factory=dict)
    gzipped: set[str] = field(default_factory=set)
    charsets: dict[str, str] = field(default_factory=dict)  # document → declared charset
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_texts: list[tuple[str, bytes, bool, str]] = field(default_factory=list)
    listings: dict[str, dict[str, Any]] = field(default_factory=dict)
    participations: list[str] = field(default_factory=lambda: ["A1PA6795UKMFR9"])
    rate_limit: str | None = None
    feed_polls_pending: int = 0
    report_polls_pending: int = 0
    feed_status: str = "DONE"  # what a new feed ends as: DONE, CANCELLED or FATAL
    calls: list[str] = field(default_factory=list)
    _injected: dict[str, list[httpx.Response]] = field(default_factory=dict)
    _lost: dict[str, int] = field(default_factory=dict)  # operation → answers to lose
    _ids: Any = field(default_factory=lambda: itertools.count(50001))

    @property
    def endpoint(self) -> str:
        return f"https://sellingpartnerapi-{self.region}.amazon.com"

    # set-up ------------------------------------------------------------------------------

    def install(self, router: respx.MockRouter) -> None:
        router.post(TOKEN_URL).mock(side_effect=self._token)
        router.route(url__startswith=DOCUMENTS).mock(side_effect=self._document)
        router.route(url__startswith=self.endpoint).mock(side_effect=self._api)

    def inject(self, operation: str, *answers: httpx.Response) -> None:
        """Queue raw answers ahead of ``operation``'s own."""
        self._injected.setdefault(operation, []).extend(answers)

    def lose_answer(self, operation: str, times: int = 1) -> None:
        """Run ``operation`` for real but answer 502, as when a gateway drops Amazon's answer."""
        self._lost[operation] = self._lost.get(operation, 0) + times

    def add_order(self, items: list[Item], *, order_id: str = "") -> dict[str, Any]:
        """A shipped seller-fulfilled order in the marketplace; returns its payload."""
        number = next(self._ids)
        order_id = order_id or f"302-{number:07d}-{number * 7 % 10_000_000:07d}"
        order_items, total = [], Decimal(0)
        for index, item in enumerate(items):
            order_items.append(
                {
                    "orderItemId": f"{number}{index:04d}",
                    "quantityOrdered": item.quantity,
                    "product": {
                        "asin": f"B0{number:08d}"[:10],
                        "title": item.title,
                        "sellerSku": item.sku,
                        "price": {
                            "unitPrice": {"amount": item.price, "currencyCode": self.currency}
                        },
                    },
                    "fulfillment": {"quantityFulfilled": item.quantity, "quantityUnfulfilled": 0},
                }
            )
            total += Decimal(item.price) * item.quantity
        payload = {
            "orderId": order_id,
            "createdTime": "2025-06-02T09:15:00Z",
            "lastUpdatedTime": "2025-06-05T16:30:00Z",
            "salesChannel": {
                "channelName": "AMAZON",
                "marketplaceId": self.marketplace_id,
                "marketplaceName": "Amazon.de",
            },
            "recipient": {
                "deliveryAddress": {
                    "city": "Köln",
                    "stateOrRegion": "NRW",
                    "countryCode": "DE",
                    "addressType": "RESIDENTIAL",
                }
            },
            "proceeds": {
                "grandTotal": {"amount": f"{total:.2f}", "currencyCode": self.currency},
                "breakdowns": [
                    {
                        "type": "ITEM",
                        "subtotal": {"amount": f"{total:.2f}", "currencyCode": self.currency},
                    }
                ],
            },
            "fulfillment": {"fulfillmentStatus": "SHIPPED", "fulfilledBy": "MERCHANT"},
            "orderItems": order_items,
            "packages": [
                {
                    "packageReferenceId": f"PKG-{number}",
                    "packageStatus": {"status": "DELIVERED", "detailedStatus": "DELIVERED"},
                    "carrier": "DHL",
                    "trackingNumber": f"00340434{number:010d}",
                    "shipFromAddress": {"city": "Shenzhen", "countryCode": "CN"},
                }
            ],
        }
        self.orders[order_id] = payload
        return payload

    def add_listing(
        self, sku: str, quantity: int, *, product_type: str = "SHIRT", fba: bool = False
    ) -> None:
        channel = "AMAZON_EU" if fba else "DEFAULT"
        self.listings[sku] = {
            "sku": sku,
            "summaries": [
                {
                    "marketplaceId": self.marketplace_id,
                    "asin": "B0TESTASIN",
                    "productType": product_type,
                    "conditionType": "new_new",
                    "status": ["BUYABLE"],
                    "itemName": sku,
                }
            ],
            "fulfillmentAvailability": [{"fulfillmentChannelCode": channel, "quantity": quantity}],
        }

    def queue_report(
        self, body: bytes, *, status: str = "DONE", gzip: bool = False, charset: str = "UTF-8"
    ) -> None:
        """The document (or, for FATAL, the error text) of the next report requested: stored
        gzipped when ``gzip``, served with ``charset`` declared (none when empty)."""
        self.report_texts.append((status, body, gzip, charset))

    def snapshot(self) -> object:
        return copy.deepcopy(
            (
                self.refunded,
                {feed_id: feed["processingStatus"] for feed_id, feed in self.feeds.items()},
                {sku: listing["fulfillmentAvailability"] for sku, listing in self.listings.items()},
            )
        )

    def feed_xml(self, feed_id: str) -> ET.Element:
        """The payment adjustment feed the adapter uploaded for ``feed_id``."""
        document_id = self.feeds[feed_id]["inputFeedDocumentId"]
        return ET.fromstring(self.documents[document_id])

    # LWA ---------------------------------------------------------------------------------

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.calls.append("token")
        if injected := self._pop("token"):
            return injected
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        if form.get("grant_type") == "authorization_code":
            refresh = self.codes.pop(form.get("code", ""), None)
            if refresh is None:
                return _oauth_error(400, "invalid_grant", "The authorization code is invalid")
            if self.redirect_uris and form.get("redirect_uri") not in self.redirect_uris:
                return _oauth_error(400, "invalid_request", "redirect_uri mismatch")
            self.refresh_tokens.add(refresh)
            return _token_answer(refresh)
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return _oauth_error(
                    400,
                    "invalid_grant",
                    "The request has an invalid grant parameter : refresh_token",
                )
            return _token_answer(None)
        return _oauth_error(400, "unsupported_grant_type", "unknown grant type")

    # SP-API ------------------------------------------------------------------------------

    def _api(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for method, pattern, operation, handler in self._routes():
            found = re.fullmatch(pattern, path)
            if found and request.method == method:
                self.calls.append(operation)
                if not request.headers.get("x-amz-access-token", "").startswith("Atza|"):
                    return _errors(403, "Unauthorized", "Access to requested resource is denied.")
                answer = self._pop(operation) or handler(request, found)
                if self._lost.get(operation):
                    self._lost[operation] -= 1
                    return _errors(502, "BadGateway", "The gateway lost the answer")
                if self.rate_limit and answer.status_code != 429:
                    answer.headers["x-amzn-RateLimit-Limit"] = self.rate_limit
                return answer
        return _errors(404, "NotFound", f"no route {request.method} {path}")

    def _routes(self) -> list[tuple[str, str, str, Handler]]:
        return [
            ("GET", r"/orders/2026-01-01/orders/([^/]+)", "getOrder", self._get_order),
            ("GET", r"/orders/2026-01-01/orders", "searchOrders", self._search_orders),
            ("POST", r"/reports/2021-06-30/reports", "createReport", self._create_report),
            ("GET", r"/reports/2021-06-30/reports", "getReports", self._get_reports),
            ("GET", r"/reports/2021-06-30/reports/([^/]+)", "getReport", self._get_report),
            (
                "GET",
                r"/reports/2021-06-30/documents/([^/]+)",
                "getReportDocument",
                self._get_document,
            ),
            (
                "POST",
                r"/feeds/2021-06-30/documents",
                "createFeedDocument",
                self._create_feed_document,
            ),
            ("POST", r"/feeds/2021-06-30/feeds", "createFeed", self._create_feed),
            ("GET", r"/feeds/2021-06-30/feeds", "getFeeds", self._get_feeds),
            ("GET", r"/feeds/2021-06-30/feeds/([^/]+)", "getFeed", self._get_feed),
            ("GET", r"/feeds/2021-06-30/documents/([^/]+)", "getFeedDocument", self._get_document),
            (
                "GET",
                r"/listings/2021-08-01/items/([^/]+)/([^/]+)",
                "getListingsItem",
                self._get_listing,
            ),
            (
                "PATCH",
                r"/listings/2021-08-01/items/([^/]+)/([^/]+)",
                "patchListingsItem",
                self._patch_listing,
            ),
            (
                "GET",
                r"/sellers/v1/marketplaceParticipations",
                "getMarketplaceParticipations",
                self._participations,
            ),
        ]

    def _get_order(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        order = self.orders.get(found.group(1))
        if order is None:
            return _errors(404, "NotFound", "Invalid order ID.")
        return httpx.Response(200, json={"order": order})

    def _search_orders(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        orders = sorted(self.orders.values(), key=lambda o: o["orderId"])
        page = int(request.url.params.get("paginationToken") or 0)
        chunk = orders[page * 2 : page * 2 + 2]
        answer: dict[str, Any] = {"orders": chunk}
        if page * 2 + 2 < len(orders):
            answer["pagination"] = {"nextToken": str(page + 1)}
        return httpx.Response(200, json=answer)

    # reports -----------------------------------------------------------------------------

    def _create_report(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        body = json.loads(request.content)
        report_id = str(next(self._ids))
        queued = self.report_texts.pop(0) if self.report_texts else ("CANCELLED", b"", False, "")
        status, text, zipped, charset = queued
        document_id = ""
        if text:
            document_id = f"amzn1.spdoc.1.4.eu.{report_id}"
            self.documents[document_id] = text
            self.charsets[document_id] = charset
            if zipped:
                self.gzipped.add(document_id)
        self.reports[report_id] = {
            "reportId": report_id,
            "reportType": body["reportType"],
            "marketplaceIds": body["marketplaceIds"],
            "dataStartTime": body.get("dataStartTime"),
            "dataEndTime": body.get("dataEndTime"),
            "createdTime": "2025-07-01T10:00:00+00:00",
            "processingStatus": status,
            **({"reportDocumentId": document_id} if document_id else {}),
        }
        return httpx.Response(202, json={"reportId": report_id})

    def _get_reports(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        wanted = set((request.url.params.get("processingStatuses") or "").split(","))
        kinds = set((request.url.params.get("reportTypes") or "").split(","))
        markets = set((request.url.params.get("marketplaceIds") or "").split(","))
        found_reports = [
            r
            for r in self.reports.values()
            if r["processingStatus"] in wanted
            and r["reportType"] in kinds
            and markets & set(r["marketplaceIds"])
        ]
        return httpx.Response(200, json={"reports": found_reports})

    def _get_report(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        report = self.reports.get(found.group(1))
        if report is None:
            return _errors(404, "NotFound", "Report not found")
        if self.report_polls_pending > 0:
            self.report_polls_pending -= 1
            return httpx.Response(200, json={**report, "processingStatus": "IN_PROGRESS"})
        return httpx.Response(200, json=report)

    def _get_document(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        document_id = found.group(1)
        if document_id not in self.documents:
            return _errors(404, "NotFound", "Document not found")
        answer: dict[str, Any] = {
            "reportDocumentId" if "reports" in request.url.path else "feedDocumentId": document_id,
            "url": f"{DOCUMENTS}/{document_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300",
        }
        if document_id in self.gzipped:
            answer["compressionAlgorithm"] = "GZIP"
        return httpx.Response(200, json=answer)

    def _document(self, request: httpx.Request) -> httpx.Response:
        document_id = request.url.path.strip("/")
        if request.method == "PUT":
            self.calls.append("upload")
            self.documents[document_id] = request.content
            self.document_types[document_id] = request.headers.get("content-type", "")
            return httpx.Response(200)
        self.calls.append("download")
        if document_id not in self.documents:
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
        content = self.documents[document_id]
        if document_id in self.gzipped:
            content = gzip.compress(content)
        charset = self.charsets.get(document_id, "UTF-8")
        content_type = f"text/plain; charset={charset}" if charset else "text/plain"
        return httpx.Response(200, content=content, headers={"content-type": content_type})

    # feeds -------------------------------------------------------------------------------

    def _create_feed_document(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        body = json.loads(request.content)
        document_id = f"amzn1.tortuga.4.eu.{next(self._ids)}"
        self.document_types[document_id] = body.get("contentType", "")
        return httpx.Response(
            201,
            json={
                "feedDocumentId": document_id,
                "url": f"{DOCUMENTS}/{document_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256",
            },
        )

    def _create_feed(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        body = json.loads(request.content)
        document_id = body.get("inputFeedDocumentId", "")
        if document_id not in self.documents:
            return _errors(400, "InvalidInput", "The feed document was not uploaded")
        feed_id = str(next(self._ids))
        feed: dict[str, Any] = {
            "feedId": feed_id,
            "feedType": body.get("feedType"),
            "marketplaceIds": body.get("marketplaceIds"),
            "createdTime": "2025-07-01T10:00:00+00:00",
            "processingStatus": self.feed_status,
            "inputFeedDocumentId": document_id,
        }
        if body.get("feedType") == "POST_PAYMENT_ADJUSTMENT_DATA" and self.feed_status == "DONE":
            result_id = f"amzn1.tortuga.4.eu.result.{feed_id}"
            self.documents[result_id] = self._process_adjustments(self.documents[document_id])
            feed["resultFeedDocumentId"] = result_id
        self.feeds[feed_id] = feed
        return httpx.Response(202, json={"feedId": feed_id})

    def _get_feed(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        feed = self.feeds.get(found.group(1))
        if feed is None:
            return _errors(404, "NotFound", "Feed not found")
        public = {k: v for k, v in feed.items() if k != "inputFeedDocumentId"}
        if self.feed_polls_pending > 0:
            self.feed_polls_pending -= 1
            public = {k: v for k, v in public.items() if k != "resultFeedDocumentId"} | {
                "processingStatus": "IN_PROGRESS"
            }
        return httpx.Response(200, json=public)

    def _get_feeds(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        kinds = set((request.url.params.get("feedTypes") or "").split(","))
        listed = [
            {k: v for k, v in feed.items() if k != "inputFeedDocumentId"}
            for feed in self.feeds.values()
            if feed["feedType"] in kinds
        ]
        return httpx.Response(200, json={"feeds": listed})

    def _process_adjustments(self, content: bytes) -> bytes:
        root = ET.fromstring(content)
        results, processed = [], 0
        for message in root.findall("Message"):
            processed += 1
            message_id = message.findtext("MessageID") or "0"
            problem = self._adjust(message.find("OrderAdjustment"))
            if problem:
                results.append((message_id, problem))
        return _processing_report(self.seller_id, processed, results)

    def _adjust(self, adjustment: ET.Element | None) -> str:
        """Apply one OrderAdjustment, or say why Amazon would not."""
        if adjustment is None:
            return "The message has no OrderAdjustment"
        order_id = adjustment.findtext("AmazonOrderID") or ""
        order = self.orders.get(order_id)
        if order is None:
            return f"The order ID {order_id} was not found in our system"
        items = {item["orderItemId"]: item for item in order["orderItems"]}
        planned: dict[tuple[str, str], Decimal] = {}
        for adjusted in adjustment.findall("AdjustedItem"):
            code = adjusted.findtext("AmazonOrderItemCode") or ""
            if code not in items:
                return f"The order item code {code} was not found for order {order_id}"
            amount = sum(
                (Decimal(c.findtext("Amount") or "0") for c in adjusted.iter("Component")),
                Decimal(0),
            )
            price = items[code]["product"]["price"]["unitPrice"]
            worth = Decimal(price["amount"]) * items[code]["quantityOrdered"]
            key = (order_id, code)
            if self.refunded.get(key, Decimal(0)) + planned.get(key, Decimal(0)) + amount > worth:
                return f"The refund amount for item {code} exceeds the amount that can be refunded"
            planned[key] = planned.get(key, Decimal(0)) + amount
        for key, amount in planned.items():
            self.refunded[key] = self.refunded.get(key, Decimal(0)) + amount
        return ""

    # listings ----------------------------------------------------------------------------

    def _get_listing(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        listing = self.listings.get(unquote(found.group(2)))
        if found.group(1) != self.seller_id or listing is None:
            return _errors(404, "NOT_FOUND", "SKU not found in marketplace")
        return httpx.Response(200, json=listing)

    def _patch_listing(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        sku = unquote(found.group(2))
        listing = self.listings.get(sku)
        if listing is None:
            return _errors(404, "NOT_FOUND", "SKU not found in marketplace")
        body = json.loads(request.content)
        summary = listing["summaries"][0]
        if body.get("productType") != summary["productType"]:
            return httpx.Response(
                200,
                json={
                    "sku": sku,
                    "status": "INVALID",
                    "submissionId": "",
                    "issues": [
                        {
                            "code": "4000003",
                            "message": "The product type does not match the listing",
                            "severity": "ERROR",
                        }
                    ],
                },
            )
        for patch in body.get("patches", []):
            if patch["path"] == "/attributes/fulfillment_availability":
                value = patch["value"][0]
                listing["fulfillmentAvailability"] = [
                    {
                        "fulfillmentChannelCode": value["fulfillment_channel_code"],
                        "quantity": value["quantity"],
                    }
                ]
        submission = f"f{next(self._ids)}"
        return httpx.Response(
            200, json={"sku": sku, "status": "ACCEPTED", "submissionId": submission, "issues": []}
        )

    def _participations(self, request: httpx.Request, found: re.Match[str]) -> httpx.Response:
        payload = [
            {
                "marketplace": {
                    "id": marketplace_id,
                    "countryCode": "DE",
                    "name": "Amazon.de",
                    "defaultCurrencyCode": "EUR",
                    "defaultLanguageCode": "de_DE",
                    "domainName": "www.amazon.de",
                },
                "participation": {"isParticipating": True, "hasSuspendedListings": False},
            }
            for marketplace_id in self.participations
        ]
        return httpx.Response(200, json={"payload": payload})

    # plumbing ----------------------------------------------------------------------------

    def _pop(self, operation: str) -> httpx.Response | None:
        queue = self._injected.get(operation)
        return queue.pop(0) if queue else None


def _token_answer(refresh_token: str | None) -> httpx.Response:
    body: dict[str, Any] = {
        "access_token": "Atza|IwEBIA-test-access-token",
        "token_type": "bearer",
        "expires_in": 3600,
    }
    if refresh_token:
        body["refresh_token"] = refresh_token
    return httpx.Response(200, json=body)


def _oauth_error(status: int, code: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": code, "error_description": description})


def _errors(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "message": message}]})


def _processing_report(seller_id: str, processed: int, errors: list[tuple[str, str]]) -> bytes:
    failed = {message_id for message_id, _ in errors}
    results = "".join(
        f"<Result><MessageID>{message_id}</MessageID><ResultCode>Error</ResultCode>"
        f"<ResultMessageCode>18028</ResultMessageCode>"
        f"<ResultDescription>{escape(text)}</ResultDescription></Result>"
        for message_id, text in errors
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">'
        f"<Header><DocumentVersion>1.02</DocumentVersion>"
        f"<MerchantIdentifier>{seller_id}</MerchantIdentifier></Header>"
        "<MessageType>ProcessingReport</MessageType><Message><MessageID>1</MessageID>"
        "<ProcessingReport><DocumentTransactionID>50001234567</DocumentTransactionID>"
        "<StatusCode>Complete</StatusCode><ProcessingSummary>"
        f"<MessagesProcessed>{processed}</MessagesProcessed>"
        f"<MessagesSuccessful>{processed - len(failed)}</MessagesSuccessful>"
        f"<MessagesWithError>{len(failed)}</MessagesWithError>"
        "<MessagesWithWarning>0</MessagesWithWarning></ProcessingSummary>"
        f"{results}</ProcessingReport></Message></AmazonEnvelope>"
    ).encode()
