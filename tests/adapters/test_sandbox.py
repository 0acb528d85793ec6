"""The sandbox store and its adapter: signed webhooks, deterministic demo orders, return
requests validated as a platform would, pushes recorded once per key, refusals typed."""

from __future__ import annotations

import json
import sqlite3
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from connector.domain import Money
from connector.errors import NothingToDo, PermanentError, RetryableError
from connector.ports import AdapterContext, Credentials, ParsedEvent
from platforms.sandbox import SandboxMarketplace, SandboxPlatform
from platforms.sandbox.client import SandboxClient
from platforms.sandbox.mapper import order_from_payload
from platforms.sandbox.marketplace import MarketplaceError
from platforms.sandbox.webhooks import header, sign, verify

SHOP = "adapter-test.sandbox.test"
SECRET = "current-secret"
PREVIOUS = "previous-secret"
WEBHOOK_URL = "https://helloword.test/webhooks/sandbox"
TODAY = date(2025, 6, 30)
REQUESTED_AT = datetime(2025, 6, 29, 9, 0, tzinfo=UTC)

# Rough dollars per unit, only to tell which demo lines are worth more than 300 USD.
USD_PER_UNIT = {
    "USD": Decimal(1),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.26"),
    "JPY": Decimal("0.0066"),
    "AUD": Decimal("0.66"),
    "CAD": Decimal("0.73"),
}


@pytest.fixture
def marketplace(tmp_path: Path) -> SandboxMarketplace:
    store = SandboxMarketplace(tmp_path / "sandbox.sqlite3")
    store.create_shop(SHOP, SECRET, WEBHOOK_URL)
    return store


@pytest.fixture
def orders(marketplace: SandboxMarketplace) -> list[dict[str, Any]]:
    return marketplace.load_demo_orders(SHOP, 24, seed=7, today=TODAY)


@pytest.fixture
def adapter(marketplace: SandboxMarketplace, tmp_path: Path) -> SandboxPlatform:
    # No "path" setting: the adapter finds sandbox.sqlite3 in its data folder.
    credentials = Credentials(SHOP, {"webhook_secret": SECRET, "previous_webhook_secret": PREVIOUS})
    return SandboxPlatform(credentials, AdapterContext(data_dir=tmp_path))


def _line(order: dict[str, Any], index: int = 0, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "line_item_id": order["line_items"][index]["id"],
        "quantity": quantity,
        "reason": "unwanted",
        "condition": "unused",
        "note": "",
        **extra,
    }


def _request(
    marketplace: SandboxMarketplace, order: dict[str, Any], index: int = 0, **extra: Any
) -> str:
    payload = marketplace.request_return(
        SHOP, order["id"], [_line(order, index, **extra)], REQUESTED_AT
    )
    return str(payload["id"])


def _headers(body: bytes, **overrides: str) -> dict[str, str]:
    headers = {
        "X-Sandbox-Hmac-Sha256": sign(body, SECRET),
        "X-Sandbox-Topic": "orders/create",
        "X-Sandbox-Shop-Domain": SHOP,
        "X-Sandbox-Event-Id": "evt-1",
        "X-Sandbox-Triggered-At": "2025-06-30T10:00:00+00:00",
    }
    headers.update(overrides)
    return headers


# --- signatures ------------------------------------------------------------------------

BODY = b'{"id":1001,"name":"#1001"}'


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    # openssl dgst -sha256 -hmac hush -binary | base64
    assert sign(BODY, "hush") == "mZoz+FTePmx9dFBrP7w8HshtQ1AxfXYnsLiQnYyOHHk="


def test_good_signature_verifies(adapter: SandboxPlatform) -> None:
    assert adapter.verify(_headers(BODY), BODY)


def test_tampered_body_is_rejected(adapter: SandboxPlatform) -> None:
    assert not adapter.verify(_headers(BODY), BODY.replace(b"1001", b"1002"))


def test_signature_by_another_secret_is_rejected(adapter: SandboxPlatform) -> None:
    headers = _headers(BODY, **{"X-Sandbox-Hmac-Sha256": sign(BODY, "someone-else")})

    assert not adapter.verify(headers, BODY)


@pytest.mark.parametrize("signature", [None, "", "   ", "not base64 at all", "ünïcode"])
def test_missing_or_garbled_signature_is_rejected(
    adapter: SandboxPlatform, signature: str | None
) -> None:
    headers = _headers(BODY)
    del headers["X-Sandbox-Hmac-Sha256"]
    if signature is not None:
        headers["X-Sandbox-Hmac-Sha256"] = signature

    assert not adapter.verify(headers, BODY)


def test_previous_secret_verifies_during_a_rotation(adapter: SandboxPlatform) -> None:
    headers = _headers(BODY, **{"X-Sandbox-Hmac-Sha256": sign(BODY, PREVIOUS)})

    assert adapter.verify(headers, BODY)


def test_previous_secret_is_refused_once_the_rotation_is_over(
    marketplace: SandboxMarketplace, tmp_path: Path
) -> None:
    rotated = SandboxPlatform(
        Credentials(SHOP, {"webhook_secret": SECRET}), AdapterContext(data_dir=tmp_path)
    )
    headers = _headers(BODY, **{"X-Sandbox-Hmac-Sha256": sign(BODY, PREVIOUS)})

    assert not rotated.verify(headers, BODY)


def test_an_adapter_without_secrets_trusts_nothing(tmp_path: Path) -> None:
    bare = SandboxPlatform(Credentials(SHOP), AdapterContext(data_dir=tmp_path))

    assert not bare.verify(_headers(BODY), BODY)
    assert not verify(BODY, sign(BODY, ""), [])


@pytest.mark.parametrize("name", ["x-sandbox-hmac-sha256", "X-SANDBOX-HMAC-SHA256"])
def test_header_names_are_case_insensitive(adapter: SandboxPlatform, name: str) -> None:
    headers = {key.lower(): value for key, value in _headers(BODY).items()}
    headers[name] = headers.pop("x-sandbox-hmac-sha256")

    assert adapter.verify(headers, BODY)
    assert adapter.parse(headers, BODY).event_id == "evt-1"
    assert SandboxPlatform.shop_of(headers) == SHOP
    assert header(headers, "X-Sandbox-Topic") == "orders/create"


# --- parsing and interpreting ----------------------------------------------------------


def test_parse_reads_event_id_topic_shop_and_time(adapter: SandboxPlatform) -> None:
    event = adapter.parse(_headers(BODY, **{"X-Sandbox-Topic": "returns/request"}), BODY)

    assert event.event_id == "evt-1"
    assert event.topic == "returns/request"
    assert event.shop == SHOP
    assert event.payload == {"id": 1001, "name": "#1001"}
    assert event.occurred_at == datetime(2025, 6, 30, 10, 0, tzinfo=UTC)


def test_shop_of_reads_the_shop_before_any_credentials() -> None:
    assert SandboxPlatform.shop_of(_headers(BODY)) == SHOP
    assert SandboxPlatform.shop_of({}) == ""


@pytest.mark.parametrize(
    "missing", ["X-Sandbox-Event-Id", "X-Sandbox-Topic", "X-Sandbox-Shop-Domain"]
)
def test_parse_names_a_missing_header(adapter: SandboxPlatform, missing: str) -> None:
    headers = _headers(BODY)
    del headers[missing]

    with pytest.raises(ValueError, match=f"^{missing}: "):
        adapter.parse(headers, BODY)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_parse_refuses_a_body_that_is_not_a_json_object(
    adapter: SandboxPlatform, body: bytes
) -> None:
    with pytest.raises(ValueError, match=r"^body: "):
        adapter.parse(_headers(body), body)


def test_parse_refuses_a_delivery_for_another_shop(adapter: SandboxPlatform) -> None:
    headers = _headers(BODY, **{"X-Sandbox-Shop-Domain": "other.sandbox.test"})

    with pytest.raises(ValueError, match=r"^X-Sandbox-Shop-Domain: "):
        adapter.parse(headers, BODY)


def test_parse_refuses_a_time_without_offset(adapter: SandboxPlatform) -> None:
    headers = _headers(BODY, **{"X-Sandbox-Triggered-At": "2025-06-30T10:00:00"})

    with pytest.raises(ValueError, match=r"^X-Sandbox-Triggered-At: "):
        adapter.parse(headers, BODY)


def _interpret(adapter: SandboxPlatform, topic: str, payload: dict[str, Any]) -> ParsedEvent:
    body = json.dumps(payload).encode()
    return adapter.interpret(adapter.parse(_headers(body, **{"X-Sandbox-Topic": topic}), body))


@pytest.mark.parametrize("topic", ["orders/create", "orders/updated"])
def test_order_topics_give_a_canonical_order(
    adapter: SandboxPlatform, orders: list[dict[str, Any]], topic: str
) -> None:
    parsed = _interpret(adapter, topic, orders[0])

    assert parsed.kind == "order"
    assert parsed.order is not None and parsed.order.external_id == str(orders[0]["id"])


def test_return_request_topic_gives_a_return_request(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    payload = marketplace.request_return(SHOP, orders[0]["id"], [_line(orders[0])], REQUESTED_AT)

    parsed = _interpret(adapter, "returns/request", payload)

    assert parsed.kind == "return_request"
    assert parsed.return_request is not None
    assert parsed.return_request.external_id == str(payload["id"])
    assert parsed.return_request.order_external_id == str(orders[0]["id"])


@pytest.mark.parametrize(
    ("topic", "status"),
    [
        ("returns/cancel", "canceled"),
        ("returns/close", "closed"),
        ("returns/approve", "open"),
        ("returns/decline", "declined"),
    ],
)
def test_other_return_topics_give_the_platform_status(
    adapter: SandboxPlatform, topic: str, status: str
) -> None:
    parsed = _interpret(adapter, topic, {"id": 7000000001, "order_id": 9, "status": status})

    assert parsed == ParsedEvent(
        "return_update", return_external_id="7000000001", external_return_status=status
    )


def test_unknown_topics_are_ignored(adapter: SandboxPlatform) -> None:
    assert _interpret(adapter, "products/update", {"id": 1}).kind == "ignored"


def test_an_unmappable_payload_is_a_permanent_error(adapter: SandboxPlatform) -> None:
    with pytest.raises(PermanentError, match="line_items"):
        _interpret(adapter, "orders/create", {"id": 1, "name": "#1", "currency": "USD"})


# --- deliveries ------------------------------------------------------------------------


class _Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class _RecordingHttp:
    """Captures what would go on the wire."""

    def __init__(self, status_code: int = 200) -> None:
        self.status_code = status_code
        self.calls: list[dict[str, Any]] = []

    def post(self, url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Any:
        self.calls.append({"url": url, "data": data, "headers": headers, "timeout": timeout})
        return _Response(self.status_code)


def test_deliver_posts_the_exact_signed_bytes(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    http = _RecordingHttp()
    client = SandboxClient(marketplace, SHOP, http=http)
    order = next(o for o in orders if o["shipping_address"]["country_code"] in ("DE", "JP"))

    status = client.deliver("orders/create", order)

    assert status == 200
    (call,) = http.calls
    assert call["url"] == WEBHOOK_URL
    assert call["timeout"] <= 5
    body, headers = call["data"], call["headers"]
    assert isinstance(body, bytes)
    assert json.loads(body) == order
    assert order["customer"]["last_name"].encode("utf-8") in body  # UTF-8, not \\u escapes
    assert headers["X-Sandbox-Hmac-Sha256"] == sign(body, SECRET)
    assert verify(body, headers["X-Sandbox-Hmac-Sha256"], [SECRET])
    assert headers["X-Sandbox-Topic"] == "orders/create"
    assert headers["X-Sandbox-Shop-Domain"] == SHOP
    assert uuid.UUID(headers["X-Sandbox-Event-Id"]).version == 4
    assert datetime.fromisoformat(headers["X-Sandbox-Triggered-At"]).tzinfo is not None
    assert headers["Content-Type"] == "application/json"


def test_each_delivery_gets_a_new_event_id_and_a_redelivery_keeps_it(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    http = _RecordingHttp()
    client = SandboxClient(marketplace, SHOP, http=http)

    client.deliver("orders/create", orders[0])
    client.deliver("orders/create", orders[0])
    first = http.calls[0]["headers"]["X-Sandbox-Event-Id"]
    client.deliver("orders/create", orders[0], event_id=first)

    ids = [call["headers"]["X-Sandbox-Event-Id"] for call in http.calls]
    assert ids[0] != ids[1]
    assert ids[2] == ids[0]
    assert http.calls[2]["data"] == http.calls[0]["data"]


def test_deliver_reports_the_endpoint_status(marketplace: SandboxMarketplace) -> None:
    client = SandboxClient(marketplace, SHOP, http=_RecordingHttp(status_code=401))

    assert client.deliver("orders/create", {"id": 1}) == 401


def test_a_failed_connection_is_retryable(marketplace: SandboxMarketplace) -> None:
    class Unreachable:
        def post(self, url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Any:
            raise ConnectionError("connection refused")

    with pytest.raises(RetryableError, match="connection refused"):
        SandboxClient(marketplace, SHOP, http=Unreachable()).deliver("orders/create", {"id": 1})


def test_a_shop_without_webhook_url_cannot_deliver(marketplace: SandboxMarketplace) -> None:
    marketplace.create_shop("quiet.sandbox.test", SECRET, "")

    with pytest.raises(PermanentError, match="no webhook URL"):
        SandboxClient(marketplace, "quiet.sandbox.test", http=_RecordingHttp()).deliver(
            "orders/create", {"id": 1}
        )


class _FlaskTransport:
    """Carries a delivery into a Flask app's test client, as HTTP would."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()

    def post(self, url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Any:
        return self.client.post(
            url.removeprefix("https://helloword.test"), data=data, headers=headers
        )


def _receiving_app(adapter: SandboxPlatform) -> tuple[Flask, list[ParsedEvent]]:
    app = Flask(__name__)
    received: list[ParsedEvent] = []

    @app.post("/webhooks/sandbox")
    def receive() -> tuple[dict[str, str], int]:
        body = request.get_data()
        headers = dict(request.headers.items())
        if not adapter.verify(headers, body):
            return {"error": "bad signature"}, 401
        event = adapter.parse(headers, body)
        received.append(adapter.interpret(event))
        return {"event_id": event.event_id}, 200

    return app, received


def test_a_delivery_verifies_and_parses_at_the_receiving_app(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    app, received = _receiving_app(adapter)
    client = SandboxClient(marketplace, SHOP, http=_FlaskTransport(app))
    payload = marketplace.request_return(SHOP, orders[2]["id"], [_line(orders[2])], REQUESTED_AT)

    assert client.deliver("orders/create", orders[2]) == 200
    assert client.deliver("returns/request", payload) == 200

    assert [event.kind for event in received] == ["order", "return_request"]
    assert received[0].order == order_from_payload(orders[2])


def test_a_delivery_signed_with_a_retired_secret_is_refused_by_the_app(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    marketplace.create_shop(SHOP, "a-secret-helloword-never-saw", WEBHOOK_URL)
    app, received = _receiving_app(adapter)

    status = SandboxClient(marketplace, SHOP, http=_FlaskTransport(app)).deliver(
        "orders/create", orders[0]
    )

    assert status == 401
    assert received == []


# --- demo orders -----------------------------------------------------------------------


def test_demo_orders_are_deterministic(tmp_path: Path) -> None:
    first = SandboxMarketplace(tmp_path / "one.sqlite3")
    second = SandboxMarketplace(tmp_path / "two.sqlite3")
    for store in (first, second):
        store.create_shop(SHOP, SECRET, WEBHOOK_URL)

    assert first.load_demo_orders(SHOP, 12, seed=3, today=TODAY) == second.load_demo_orders(
        SHOP, 12, seed=3, today=TODAY
    )
    other_seed = second.load_demo_orders(SHOP, 12, seed=4, today=TODAY)
    assert [o["line_items"] for o in other_seed] != [o["line_items"] for o in first.orders(SHOP)]


def test_loading_demo_orders_again_adds_nothing(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    again = marketplace.load_demo_orders(SHOP, 24, seed=7, today=TODAY + timedelta(days=9))

    assert again == orders
    assert len(marketplace.orders(SHOP)) == 24


def test_loading_more_demo_orders_keeps_the_first_ones(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    more = marketplace.load_demo_orders(SHOP, 30, seed=7, today=TODAY)

    assert more[:24] == orders
    assert len(marketplace.orders(SHOP)) == 30
    assert [o["name"] for o in more[24:]] == [f"#{n}" for n in range(1025, 1031)]


def test_demo_orders_are_numbered_like_a_store(orders: list[dict[str, Any]]) -> None:
    assert [o["name"] for o in orders] == [f"#{n}" for n in range(1001, 1025)]
    assert len({o["id"] for o in orders}) == 24
    assert len({line["id"] for o in orders for line in o["line_items"]}) == sum(
        len(o["line_items"]) for o in orders
    )


def test_demo_orders_span_countries_and_currencies(orders: list[dict[str, Any]]) -> None:
    countries = {o["shipping_address"]["country_code"] for o in orders}
    currencies = {o["currency"] for o in orders}

    assert len(countries) >= 5
    assert len(currencies) >= 4
    expected = {
        "US": "USD",
        "GB": "GBP",
        "DE": "EUR",
        "FR": "EUR",
        "NL": "EUR",
        "JP": "JPY",
        "AU": "AUD",
        "CA": "CAD",
    }
    for order in orders:
        assert order["currency"] == expected[order["shipping_address"]["country_code"]]


@pytest.mark.parametrize("seed", range(8))
def test_any_five_demo_orders_cover_five_countries_and_four_currencies(
    marketplace: SandboxMarketplace, seed: int
) -> None:
    five = marketplace.load_demo_orders(SHOP, 5, seed=seed, today=TODAY)

    assert len({o["shipping_address"]["country_code"] for o in five}) == 5
    assert len({o["currency"] for o in five}) >= 4


def test_demo_deliveries_spread_across_sixty_days(orders: list[dict[str, Any]]) -> None:
    days = [(TODAY - datetime.fromisoformat(o["delivered_at"]).date()).days for o in orders]

    assert all(1 <= d <= 60 for d in days)
    assert any(d <= 30 for d in days) and any(d > 30 for d in days)
    assert len(set(days)) >= 20
    for order in orders:
        placed = datetime.fromisoformat(order["created_at"])
        assert placed < datetime.fromisoformat(order["delivered_at"])


def test_demo_lines_are_complete_and_some_are_expensive(orders: list[dict[str, Any]]) -> None:
    expensive = 0
    for order in orders:
        assert 1 <= len(order["line_items"]) <= 3
        assert order["email"] and order["customer"]["first_name"]
        assert order["shipping_address"]["address1"] and order["shipping_address"]["city"]
        subtotal = Decimal(0)
        for line in order["line_items"]:
            assert line["sku"] and line["title"]
            assert isinstance(line["price"], str)
            assert line["quantity"] >= 1 and line["grams"] > 0
            assert len(line["dimensions_mm"]) == 3 and min(line["dimensions_mm"]) > 0
            assert len(line["hs_code"]) == 6 and line["hs_code"].isdigit()
            assert line["origin_country"] == "CN"
            price = Decimal(line["price"])
            subtotal += price * line["quantity"]
            if price * USD_PER_UNIT[order["currency"]] > 300:
                expensive += 1
        assert Decimal(order["total_price"]) == subtotal
    assert expensive >= 3


def test_every_demo_order_maps_to_a_canonical_order(orders: list[dict[str, Any]]) -> None:
    mapped = [order_from_payload(order) for order in orders]

    assert {order.currency for order in mapped} >= {"JPY", "EUR", "USD"}
    for order in mapped:
        assert order.total == sum((line.value for line in order.lines), Money.zero(order.currency))


# --- return requests -------------------------------------------------------------------


def test_request_return_gives_a_requested_return(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = orders[0]

    payload = marketplace.request_return(
        SHOP, order["id"], [_line(order, reason="size_too_small", note="too tight")], REQUESTED_AT
    )

    assert payload["status"] == "requested"
    assert payload["order"]["id"] == order["id"]
    assert payload["name"] == f"{order['name']}-R1"
    (line,) = payload["return_line_items"]
    assert line["fulfillment_line_item"]["line_item"]["id"] == order["line_items"][0]["id"]
    assert line["return_reason"] == "size_too_small"
    assert line["customer_note"] == "too tight"
    assert marketplace.returns(SHOP) == [payload]
    assert marketplace.return_request(SHOP, payload["id"]) == payload


def test_return_ids_are_new_each_time(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    assert _request(marketplace, orders[0]) != _request(marketplace, orders[1])


def test_request_for_a_line_not_in_the_order_is_refused(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    stranger = orders[1]["line_items"][0]["id"]

    with pytest.raises(ValueError, match=rf"lines\[0\]\.line_item_id: .* '{stranger}'"):
        marketplace.request_return(
            SHOP, orders[0]["id"], [_line(orders[0], line_item_id=stranger)], REQUESTED_AT
        )


def test_request_for_more_than_was_ordered_is_refused(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = orders[0]
    ordered = order["line_items"][0]["quantity"]

    with pytest.raises(ValueError, match=r"lines\[0\]\.quantity: .*left to return"):
        marketplace.request_return(
            SHOP, order["id"], [_line(order, quantity=ordered + 1)], REQUESTED_AT
        )


def test_what_was_returned_already_cannot_be_returned_again(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = orders[0]
    ordered = order["line_items"][0]["quantity"]
    marketplace.request_return(SHOP, order["id"], [_line(order, quantity=ordered)], REQUESTED_AT)

    with pytest.raises(ValueError, match=f"only 0 of {ordered}"):
        marketplace.request_return(SHOP, order["id"], [_line(order)], REQUESTED_AT)


def test_the_same_line_twice_in_one_request_counts_twice(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = orders[0]
    ordered = order["line_items"][0]["quantity"]

    with pytest.raises(ValueError, match=r"lines\[1\]\.quantity"):
        marketplace.request_return(
            SHOP, order["id"], [_line(order, quantity=ordered), _line(order)], REQUESTED_AT
        )


def test_a_declined_return_frees_its_quantity(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = orders[0]
    ordered = order["line_items"][0]["quantity"]
    first = _request(marketplace, order, quantity=ordered)
    adapter.decline("decline:1", first, "RETURN_PERIOD_ENDED", "")

    again = marketplace.request_return(
        SHOP, order["id"], [_line(order, quantity=ordered)], REQUESTED_AT
    )

    assert again["name"] == f"{order['name']}-R2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quantity": 0}, r"lines\[0\]\.quantity: must be a whole number"),
        ({"quantity": "1"}, r"lines\[0\]\.quantity: must be a whole number"),
        ({"reason": "mercury_retrograde"}, r"lines\[0\]\.reason: "),
        ({"condition": "pristine"}, r"lines\[0\]\.condition: "),
    ],
)
def test_request_with_a_bad_line_is_refused(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]], change: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        marketplace.request_return(
            SHOP, orders[0]["id"], [_line(orders[0], **change)], REQUESTED_AT
        )
    assert marketplace.returns(SHOP) == []


def test_request_without_lines_or_with_naive_time_is_refused(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    with pytest.raises(ValueError, match="at least one line"):
        marketplace.request_return(SHOP, orders[0]["id"], [], REQUESTED_AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        marketplace.request_return(
            SHOP, orders[0]["id"], [_line(orders[0])], datetime(2025, 6, 29, 9, 0)
        )


def test_request_for_an_unknown_order_is_not_found(marketplace: SandboxMarketplace) -> None:
    with pytest.raises(MarketplaceError) as error:
        marketplace.request_return(SHOP, 42, [{"line_item_id": 1, "quantity": 1}], REQUESTED_AT)

    assert error.value.code == "not_found"


# --- reading through the adapter -------------------------------------------------------


def test_fetch_order_maps_the_stored_order(
    adapter: SandboxPlatform, orders: list[dict[str, Any]]
) -> None:
    assert adapter.fetch_order(str(orders[3]["id"])) == order_from_payload(orders[3])


@pytest.mark.parametrize("external_id", ["42", "not-a-number"])
def test_fetch_of_an_unknown_order_is_permanent(
    adapter: SandboxPlatform, orders: list[dict[str, Any]], external_id: str
) -> None:
    with pytest.raises(PermanentError, match="no order"):
        adapter.fetch_order(external_id)


def test_iter_orders_gives_those_updated_since(
    adapter: SandboxPlatform, orders: list[dict[str, Any]]
) -> None:
    since = datetime.combine(TODAY - timedelta(days=30), datetime.min.time(), UTC)

    recent = list(adapter.iter_orders(since))

    expected = {str(o["id"]) for o in orders if datetime.fromisoformat(o["updated_at"]) >= since}
    assert {order.external_id for order in recent} == expected
    assert 0 < len(recent) < len(orders)
    assert [o.delivered_at for o in recent] == sorted(o.delivered_at for o in recent)  # type: ignore[type-var]


def test_iter_return_requests_gives_those_changed_since(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    old = marketplace.request_return(
        SHOP, orders[0]["id"], [_line(orders[0])], REQUESTED_AT - timedelta(days=5)
    )
    new = marketplace.request_return(SHOP, orders[1]["id"], [_line(orders[1])], REQUESTED_AT)

    recent = list(adapter.iter_return_requests(REQUESTED_AT - timedelta(days=1)))

    assert [r.external_id for r in recent] == [str(new["id"])]
    adapter.approve("approve:old", str(old["id"]))  # a change brings it back into view
    changed = list(adapter.iter_return_requests(REQUESTED_AT - timedelta(days=1)))
    assert [r.external_id for r in changed] == [str(new["id"]), str(old["id"])]
    assert changed[1].raw["status"] == "open"


def test_iter_orders_refuses_a_naive_since(adapter: SandboxPlatform) -> None:
    with pytest.raises(PermanentError, match="timezone-aware"):
        list(adapter.iter_orders(datetime(2025, 1, 1)))


def test_an_unknown_shop_is_permanent(tmp_path: Path, marketplace: SandboxMarketplace) -> None:
    stranger = SandboxPlatform(
        Credentials("nobody.sandbox.test", settings={"path": "/tmp/ignored.sqlite3"}),
        AdapterContext(data_dir=marketplace.path.parent),
    )

    with pytest.raises(PermanentError, match="no sandbox shop"):
        list(stranger.iter_orders(datetime(2025, 1, 1, tzinfo=UTC)))


# --- pushes ----------------------------------------------------------------------------


def test_a_push_is_recorded_with_its_key_and_payload(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])

    result = adapter.approve("approve:1", return_id)

    assert not result.already_done
    (push,) = marketplace.pushes(SHOP)
    assert push["id"] == result.external_id
    assert push["kind"] == "approve"
    assert push["idempotency_key"] == "approve:1"
    assert push["payload"] == {"return_id": return_id}
    assert datetime.fromisoformat(push["created_at"]).tzinfo is not None
    assert marketplace.return_request(SHOP, return_id)["status"] == "open"


def test_a_repeated_key_is_recorded_once(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])
    first = adapter.approve("approve:1", return_id)

    second = adapter.approve("approve:1", return_id)

    assert second.already_done
    assert second.external_id == first.external_id
    assert len(marketplace.pushes(SHOP)) == 1


def test_record_push_says_whether_the_key_was_seen(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])

    first = marketplace.record_push(SHOP, "approve", "k-1", {"return_id": return_id})
    second = marketplace.record_push(SHOP, "approve", "k-1", {"return_id": return_id})

    assert first == (first[0], False)
    assert second == (first[0], True)


def test_one_key_for_two_kinds_of_push_is_refused(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])
    adapter.approve("key-1", return_id)

    with pytest.raises(PermanentError, match="was used for a approve push"):
        adapter.close("key-1", return_id)


def test_pushes_can_be_read_by_kind(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])
    adapter.approve("approve:1", return_id)
    adapter.attach_label("label:1", return_id, "1Z999", "ups", "https://labels.test/1.pdf")
    adapter.close("close:1", return_id)

    assert [p["kind"] for p in marketplace.pushes(SHOP)] == ["approve", "attach_label", "close"]
    (label,) = marketplace.pushes(SHOP, "attach_label")
    assert label["payload"]["tracking_number"] == "1Z999"
    stored = marketplace.return_request(SHOP, return_id)
    assert stored["status"] == "closed"
    assert stored["reverse_deliveries"][0]["label"]["public_file_url"] == (
        "https://labels.test/1.pdf"
    )


@pytest.mark.parametrize(
    ("reason", "note", "platform_reason", "platform_note"),
    [
        ("RETURN_PERIOD_ENDED", "30 days passed", "return_period_ended", "30 days passed"),
        ("final-sale", "", "final_sale", ""),
        ("OUTSIDE_WINDOW", "", "return_period_ended", ""),
        ("REVIEW_HIGH_VALUE", "staff said no", "other", "REVIEW_HIGH_VALUE: staff said no"),
        ("OTHER", "", "other", ""),
    ],
)
def test_decline_speaks_the_platforms_reasons(
    adapter: SandboxPlatform,
    marketplace: SandboxMarketplace,
    orders: list[dict[str, Any]],
    reason: str,
    note: str,
    platform_reason: str,
    platform_note: str,
) -> None:
    return_id = _request(marketplace, orders[0])

    adapter.decline("decline:1", return_id, reason, note)

    stored = marketplace.return_request(SHOP, return_id)
    assert stored["status"] == "declined"
    assert stored["decline"] == {"reason": platform_reason, "note": platform_note}


def test_dispose_speaks_the_platforms_disposition_types(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = next(o for o in orders if len(o["line_items"]) >= 2)
    payload = marketplace.request_return(
        SHOP, order["id"], [_line(order, 0), _line(order, 1)], REQUESTED_AT
    )
    return_id = str(payload["id"])
    adapter.approve("approve:1", return_id)
    order_line = str(order["line_items"][0]["id"])
    return_line = str(payload["return_line_items"][1]["id"])

    adapter.dispose(
        "dispose:1", return_id, [(order_line, 1, "RESTOCKED"), (return_line, 1, "destroy")]
    )

    (push,) = marketplace.pushes(SHOP, "dispose")
    assert [d["type"] for d in push["payload"]["dispositions"]] == ["restocked", "not_restocked"]


@pytest.mark.parametrize(
    ("dispositions", "message"),
    [
        ([("LINE", 1, "feed to the goat")], "has no sandbox type"),
        ([("999", 1, "restock")], "not a line of return"),
        ([("LINE", 5, "restock")], "must be between 1 and 1"),
    ],
)
def test_a_bad_disposition_is_refused(
    adapter: SandboxPlatform,
    marketplace: SandboxMarketplace,
    orders: list[dict[str, Any]],
    dispositions: list[tuple[str, int, str]],
    message: str,
) -> None:
    return_id = _request(marketplace, orders[0])
    adapter.approve("approve:1", return_id)
    line = str(orders[0]["line_items"][0]["id"])
    dispositions = [(line if d[0] == "LINE" else d[0], d[1], d[2]) for d in dispositions]

    with pytest.raises(PermanentError, match=message):
        adapter.dispose("dispose:1", return_id, dispositions)
    assert marketplace.pushes(SHOP, "dispose") == []


def test_restock_adds_to_inventory_once_per_key(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace
) -> None:
    adapter.restock("restock:1", "APP-TEE-001-M", 2)
    adapter.restock("restock:1", "APP-TEE-001-M", 2)
    adapter.restock("restock:2", "APP-TEE-001-M", 1)

    assert marketplace.inventory(SHOP, "APP-TEE-001-M") == 3
    assert len(marketplace.pushes(SHOP, "restock")) == 2


# --- refunds ---------------------------------------------------------------------------


def _order_total(order: dict[str, Any]) -> Money:
    return Money.of(Decimal(order["total_price"]), order["currency"])


def _two_returns(
    marketplace: SandboxMarketplace, orders: list[dict[str, Any]], currency: str | None = None
) -> tuple[dict[str, Any], str, str]:
    """An order (in ``currency``, or any but yen) and two returns of different units of it."""
    order = next(
        o
        for o in orders
        if (o["currency"] == currency if currency else o["currency"] != "JPY")
        and (len(o["line_items"]) >= 2 or o["line_items"][0]["quantity"] >= 2)
    )
    second_line = 1 if len(order["line_items"]) >= 2 else 0
    return order, _request(marketplace, order), _request(marketplace, order, index=second_line)


def test_refund_is_recorded_on_the_return_and_the_order(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = orders[0]
    return_id = _request(marketplace, order)
    adapter.approve("approve:1", return_id)
    line = order["line_items"][0]
    amount = Money.of(Decimal(line["price"]), order["currency"])

    result = adapter.refund(
        "refund:1:1", return_id, str(order["id"]), amount, [(str(line["id"]), 1)]
    )

    (push,) = marketplace.pushes(SHOP, "refund")
    assert push["id"] == result.external_id
    assert push["payload"]["amount"] == line["price"]
    assert push["payload"]["currency"] == order["currency"]
    assert push["payload"]["lines"] == [{"line_item_id": str(line["id"]), "quantity": 1}]
    assert marketplace.return_request(SHOP, return_id)["refunded_amount"] == line["price"]
    assert marketplace.refunded(SHOP, order["id"]) == Decimal(line["price"])


def test_refunding_the_whole_order_is_allowed_and_one_cent_more_is_not(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order, first, second = _two_returns(marketplace, orders)
    total = _order_total(order)

    adapter.refund("refund:a:1", first, str(order["id"]), total, [])
    with pytest.raises(PermanentError, match="above its total"):
        adapter.refund("refund:b:1", second, str(order["id"]), Money.of("0.01", total.currency), [])

    assert len(marketplace.pushes(SHOP, "refund")) == 1
    assert marketplace.refunded(SHOP, order["id"]) == total.amount


def test_refunds_across_returns_of_one_order_cannot_pass_its_total(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order, first, second = _two_returns(marketplace, orders, "JPY")
    total = _order_total(order)
    most = Money.of(total.amount - 100, "JPY")

    adapter.refund("refund:a:1", first, str(order["id"]), most, [])
    with pytest.raises(PermanentError, match="above its total"):
        adapter.refund("refund:b:1", second, str(order["id"]), Money.of(101, "JPY"), [])
    adapter.refund("refund:b:2", second, str(order["id"]), Money.of(100, "JPY"), [])

    assert marketplace.refunded(SHOP, order["id"]) == total.amount


def test_a_repeated_refund_key_refunds_once(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = orders[0]
    return_id = _request(marketplace, order)
    total = _order_total(order)

    first = adapter.refund("refund:1:1", return_id, str(order["id"]), total, [])
    second = adapter.refund("refund:1:1", return_id, str(order["id"]), total, [])

    assert (first.already_done, second.already_done) == (False, True)
    assert marketplace.refunded(SHOP, order["id"]) == total.amount


@pytest.mark.parametrize(
    ("amount", "order_id", "message"),
    [
        (Money.of("1.00", "CHF"), None, "not the order's"),
        (Money.zero("USD"), None, "must be positive"),
        (None, "1234", "belongs to order"),
    ],
)
def test_a_malformed_refund_is_refused(
    adapter: SandboxPlatform,
    marketplace: SandboxMarketplace,
    orders: list[dict[str, Any]],
    amount: Money | None,
    order_id: str | None,
    message: str,
) -> None:
    order = next(o for o in orders if o["currency"] == "USD")
    return_id = _request(marketplace, order)

    with pytest.raises(PermanentError, match=message):
        adapter.refund(
            "refund:1:1",
            return_id,
            order_id or str(order["id"]),
            amount or Money.of("1.00", "USD"),
            [],
        )
    assert marketplace.pushes(SHOP) == []


# --- refusals, typed -------------------------------------------------------------------


def test_a_push_to_an_unknown_return_is_permanent(
    adapter: SandboxPlatform, orders: list[dict[str, Any]]
) -> None:
    with pytest.raises(PermanentError, match="no return"):
        adapter.approve("approve:x", "7999999999")


def test_a_label_before_the_approval_arrives_is_retried(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])

    with pytest.raises(RetryableError, match="still requested"):
        adapter.attach_label("label:1", return_id, "1Z999", "ups", "https://labels.test/1.pdf")
    adapter.approve("approve:1", return_id)

    assert not adapter.attach_label(
        "label:1", return_id, "1Z999", "ups", "https://labels.test/1.pdf"
    ).already_done


def test_approving_a_declined_return_is_permanent(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])
    adapter.decline("decline:1", return_id, "FINAL_SALE", "")

    with pytest.raises(PermanentError, match="it is declined"):
        adapter.approve("approve:1", return_id)


def test_approving_what_someone_else_approved_is_already_done(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])
    marketplace.record_push(SHOP, "approve", "merchant-admin", {"return_id": return_id})

    result = adapter.approve("approve:1", return_id)

    assert result.already_done
    assert len(marketplace.pushes(SHOP)) == 1


def test_a_push_to_a_canceled_return_has_nothing_to_do(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    return_id = _request(marketplace, orders[0])
    cancel = marketplace.cancel_return(SHOP, return_id, REQUESTED_AT + timedelta(hours=1))

    with pytest.raises(NothingToDo, match="canceled"):
        adapter.approve("approve:1", return_id)
    assert cancel["status"] == "canceled"
    assert marketplace.pushes(SHOP) == []


# --- several processes on one file -----------------------------------------------------


def test_two_instances_on_one_file_see_each_others_writes(
    tmp_path: Path, orders: list[dict[str, Any]]
) -> None:
    path = tmp_path / "sandbox.sqlite3"
    web, worker = SandboxMarketplace(path), SandboxMarketplace(path)

    payload = web.request_return(SHOP, orders[0]["id"], [_line(orders[0])], REQUESTED_AT)
    push_id, repeated = worker.record_push(
        SHOP, "approve", "approve:1", {"return_id": payload["id"]}
    )

    assert web.return_request(SHOP, payload["id"])["status"] == "open"
    assert web.pushes(SHOP) == worker.pushes(SHOP)
    assert web.record_push(SHOP, "approve", "approve:1", {"return_id": payload["id"]}) == (
        push_id,
        True,
    )
    assert not repeated


def test_the_store_file_uses_write_ahead_logging(marketplace: SandboxMarketplace) -> None:
    with sqlite3.connect(marketplace.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _push_many(path: str, keys: list[str]) -> list[bool]:
    """Run in another process: restock under each key; whether each key was seen before."""
    store = SandboxMarketplace(Path(path))
    return [
        store.record_push(SHOP, "restock", key, {"sku": "SKU-1", "quantity": 1})[1] for key in keys
    ]


def test_processes_racing_on_the_same_keys_record_each_once(
    marketplace: SandboxMarketplace,
) -> None:
    keys = [f"restock:{n}" for n in range(25)]
    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_push_many, [str(marketplace.path)] * 4, [keys] * 4))

    firsts = sum(not seen for result in results for seen in result)
    assert firsts == len(keys)
    assert len(marketplace.pushes(SHOP, "restock")) == len(keys)
    assert marketplace.inventory(SHOP, "SKU-1") == len(keys)


def test_a_store_locked_past_the_busy_timeout_is_retryable(
    marketplace: SandboxMarketplace,
) -> None:
    impatient = SandboxClient(SandboxMarketplace(marketplace.path, busy_timeout=0.05), SHOP)
    holder = sqlite3.connect(marketplace.path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(RetryableError, match="busy"):
            impatient.push("restock", "restock:1", {"sku": "SKU-1", "quantity": 1})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert impatient.push("restock", "restock:1", {"sku": "SKU-1", "quantity": 1})[1] is False


def test_a_refund_without_a_platform_return_is_made_on_the_order(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order = orders[0]
    line = order["line_items"][0]
    amount = Money.of(Decimal(line["price"]), order["currency"])

    adapter.refund("refund:api:1", "", str(order["id"]), amount, [(str(line["id"]), 1)])
    again = adapter.refund("refund:api:1", "", str(order["id"]), amount, [(str(line["id"]), 1)])

    assert again.already_done is True
    assert marketplace.refunded(SHOP, order["id"]) == Decimal(line["price"])
    total = _order_total(order)
    with pytest.raises(PermanentError, match="above its total"):
        adapter.refund("refund:api:2", "", str(order["id"]), total, [])


def test_the_store_file_cannot_be_chosen_by_settings(
    tmp_path: Path, marketplace: SandboxMarketplace
) -> None:
    elsewhere = tmp_path / "chosen" / "x.sqlite3"
    SandboxPlatform(
        Credentials(SHOP, settings={"path": str(elsewhere)}),
        AdapterContext(data_dir=marketplace.path.parent),
    )
    assert not elsewhere.parent.exists()


# --- exchanges -------------------------------------------------------------------------


def _sized_line(orders: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The first demo order with a sized line, and that line's index."""
    for order in orders:
        for index, line in enumerate(order["line_items"]):
            if line["variant_title"]:
                return order, index
    raise AssertionError("the demo orders have no sized line")


def test_variants_are_the_other_sizes_of_a_sized_product(
    adapter: SandboxPlatform, orders: list[dict[str, Any]]
) -> None:
    order, index = _sized_line(orders)
    line = order["line_items"][index]
    base = line["sku"].rpartition("-")[0]

    variants = adapter.variants(str(line["id"]), line["sku"])

    assert sorted(v.sku for v in variants) == sorted(
        f"{base}-{size}" for size in ("S", "M", "L", "XL") if size != line["variant_title"]
    )
    assert all(v.available and v.title == v.sku.rpartition("-")[2] for v in variants)
    assert adapter.variants("1", "ELE-EAR-102") == []


def test_an_exchange_push_is_recorded_once_and_checked_against_the_order(
    adapter: SandboxPlatform, marketplace: SandboxMarketplace, orders: list[dict[str, Any]]
) -> None:
    order, index = _sized_line(orders)
    line = order["line_items"][index]
    return_id = _request(marketplace, order, index)
    adapter.approve("approve:1", return_id)
    wanted = adapter.variants(str(line["id"]), line["sku"])[0].sku

    first = adapter.exchange(
        "exchange:1:1", return_id, str(order["id"]), [(str(line["id"]), 1, wanted)]
    )
    again = adapter.exchange(
        "exchange:1:1", return_id, str(order["id"]), [(str(line["id"]), 1, wanted)]
    )

    (push,) = marketplace.pushes(SHOP, "exchange")
    assert (first.external_id, first.already_done) == (push["id"], False)
    assert (again.external_id, again.already_done) == (push["id"], True)
    assert push["payload"]["lines"] == [
        {"line_item_id": str(line["id"]), "quantity": 1, "sku": wanted}
    ]
    assert marketplace.refunded(SHOP, order["id"]) == Decimal(0)
    with pytest.raises(PermanentError, match="not another size"):
        adapter.exchange(
            "exchange:1:2", return_id, str(order["id"]), [(str(line["id"]), 1, line["sku"])]
        )
    with pytest.raises(PermanentError, match="not another size"):
        adapter.exchange(
            "exchange:1:3", "", str(order["id"]), [(str(line["id"]), 1, "HOM-MUG-201")]
        )
