"""The karrio carrier against UPS's REST and DHL Express's XML-PI payloads.

karrio sends its requests with ``urllib``; the adapter carries them on a ``requests`` session
(``carriers/karrio/client.py``), which is the session these tests lend it and ``responses``
stubs. Every answer is a fixture shaped as the carrier documents it.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.request import Request

import karrio.core.utils.helpers as karrio_http
import pypdf
import pytest
import requests
import responses

from carriers.karrio import KarrioCarrier
from carriers.karrio.client import retry_after
from carriers.karrio.mapper import canonical_status
from connector.domain import (
    Address,
    Label,
    Money,
    Parcel,
    RateQuote,
    Shipment,
    TrackingStatus,
)
from connector.errors import PermanentError, RetryableError
from connector.ports import AdapterContext, Carrier, Credentials
from connector.registry import Registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "karrio"

UPS = "https://wwwcie.ups.com"
UPS_TOKEN = f"{UPS}/security/v1/oauth/token"
UPS_SHOP = f"{UPS}/api/rating/v2409/Shop"
UPS_SHIP = f"{UPS}/api/shipments/v2409/ship"
UPS_TRACKING_NUMBER = "1Z12E45Y6800000013"
UPS_SECRETS = {
    "client_id": "acme-client",
    "client_secret": "acme-secret",
    "account_number": "12E45Y",
}

DHL = "https://xmlpitest-ea.dhl.com/XMLShippingServlet"
DHL_SECRETS = {
    "site_id": "acmereturns",
    "password": "xmlpi-password",
    "account_number": "951234567",
}

GERMAN_BUYER = Address(
    name="Jan Käufer",
    line1="Hauptstr. 1",
    city="Berlin",
    postal_code="10115",
    country="DE",
    phone="+49 30 1234567",
    email="jan@example.com",
)
BRITISH_BUYER = Address(
    name="Jane Buyer",
    line1="10 Downing Street",
    city="London",
    postal_code="SW1A 2AA",
    country="GB",
    phone="+44 20 7946 0000",
    email="jane@example.com",
)
WAREHOUSE = Address(
    name="Acme Returns",
    line1="Celsiusweg 21",
    city="Venlo",
    postal_code="5928 PR",
    country="NL",
    phone="+31 77 123 4567",
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def xml(name: str) -> str:
    return (FIXTURES / name).read_text()


def ups_token() -> dict[str, Any]:
    """UPS's token answer, issued now: karrio keeps a token until shortly before it expires."""
    return {**fixture("ups_token.json"), "issued_at": str(int(time.time() * 1000))}


def shipment(
    buyer: Address = GERMAN_BUYER,
    value: str = "40.00",
    rma: str = "RMA-1001",
    export_reference: str = "",
) -> Shipment:
    return Shipment(
        reference=rma,
        from_address=buyer,
        to_address=WAREHOUSE,
        parcel=Parcel(Decimal("0.8"), Decimal(25), Decimal(18), Decimal(6)),
        declared_value=Money.of(value, "EUR"),
        export_reference=export_reference,
    )


def carrier(
    carrier_name: str = "ups",
    secrets: dict[str, str] | None = None,
    account: str = "ups-main",
    **settings: Any,
) -> KarrioCarrier:
    if secrets is None:
        secrets = UPS_SECRETS if carrier_name == "ups" else DHL_SECRETS
    credentials = Credentials(
        account, secrets, {"carrier_name": carrier_name, "test_mode": True, **settings}
    )
    return KarrioCarrier(credentials, AdapterContext(Path("/nonexistent"), http=requests.Session()))


def quote_from_route(service: str, account: str, amount: str) -> RateQuote:
    """A quote as the purchase job rebuilds it from the stored route: no breakdown."""
    return RateQuote("karrio", service, account, Money.of(amount, "EUR"), 0, 2)


def stored_label(service: str, tracking_number: str, amount: str) -> Label:
    """A label as the void job rebuilds it from the stored shipment."""
    return Label(
        "karrio", service, tracking_number, Money.of(amount, "EUR"), external_id=tracking_number
    )


def body_of(call: Any) -> str:
    body = call.request.body
    return body.decode() if isinstance(body, bytes) else str(body)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


# --- the adapter ---------------------------------------------------------------------------


def test_karrio_is_a_registered_carrier_built_without_calling_out() -> None:
    adapter = Registry.discover().carrier(
        "karrio",
        Credentials("ups-main", UPS_SECRETS, {"carrier_name": "ups"}),
        AdapterContext(Path("/nonexistent")),
    )
    assert isinstance(adapter, KarrioCarrier)
    assert isinstance(adapter, Carrier)
    assert adapter.slug == "karrio"


def test_an_account_without_a_carrier_name_is_refused() -> None:
    with pytest.raises(PermanentError, match="carrier_name"):
        KarrioCarrier(Credentials("acct", UPS_SECRETS, {}), AdapterContext(Path("/nonexistent")))


def test_an_unknown_label_type_is_refused() -> None:
    with pytest.raises(PermanentError, match="label_type"):
        carrier(label_type="PNG")


def test_a_carrier_karrio_cannot_reach_here_is_permanent() -> None:
    with pytest.raises(PermanentError, match=r"'nosuchpost'.*installed karrio carriers: .*ups"):
        carrier("nosuchpost", secrets={}).quote(shipment())


def test_missing_credentials_are_permanent_and_named() -> None:
    with pytest.raises(PermanentError, match="client_secret"):
        carrier(secrets={"client_id": "acme-client"}).quote(shipment())


# --- UPS: rates and their failures ---------------------------------------------------------


def test_ups_rates_are_quoted_for_the_buyers_lane_cheapest_first(
    http: responses.RequestsMock,
) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHOP, json=fixture("ups_rate_response.json"))

    quotes = carrier().quote(shipment())

    assert [(q.carrier, q.account, q.service) for q in quotes] == [
        ("karrio", "ups-main", "ups-ups_standard_eu"),
        ("karrio", "ups-main", "ups-ups_worldwide_saver_eu"),
    ]
    standard = quotes[0]
    assert standard.price == Money.of("12.07", "EUR")  # the account's negotiated rate
    assert (standard.transit_days_min, standard.transit_days_max) == (2, 2)
    assert standard.breakdown == (("BASE CHARGE", "9.80"), ("FUEL SURCHARGE", "2.27"))

    token_call, shop_call = http.calls
    assert token_call.request.headers["Authorization"] == "Basic " + base64.b64encode(
        b"acme-client:acme-secret"
    ).decode("ascii")
    assert shop_call.request.headers["Authorization"] == f"Bearer {ups_token()['access_token']}"
    rated = json.loads(body_of(shop_call))["RateRequest"]["Shipment"]
    assert rated["ShipFrom"]["Address"]["City"] == "Berlin"
    assert rated["ShipTo"]["Address"]["City"] == "Venlo"
    assert rated["Shipper"]["ShipperNumber"] == "12E45Y"


@pytest.mark.parametrize(
    ("status", "answer", "headers", "wait"),
    [
        (500, {"json": fixture("ups_error_server.json")}, {}, None),
        (
            503,
            {"body": "Service Unavailable", "content_type": "text/plain"},
            {"Retry-After": "120"},
            120.0,
        ),
    ],
)
def test_a_ups_server_error_is_retryable(
    http: responses.RequestsMock,
    status: int,
    answer: dict[str, Any],
    headers: dict[str, str],
    wait: float | None,
) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHOP, status=status, headers=headers, **answer)

    with pytest.raises(RetryableError, match=rf"\({status} on POST") as failure:
        carrier().quote(shipment())
    assert failure.value.retry_after == wait


def test_a_ups_rate_limit_is_retried_after_the_wait_ups_asks_for(
    http: responses.RequestsMock,
) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(
        UPS_SHOP,
        status=429,
        json=fixture("ups_error_rate_limit.json"),
        headers={"Retry-After": "30"},
    )

    with pytest.raises(RetryableError, match="Rate Limit Exceeded") as failure:
        carrier().quote(shipment())
    assert failure.value.retry_after == 30.0


def test_a_carrier_that_does_not_answer_is_retryable(http: responses.RequestsMock) -> None:
    http.post(UPS_TOKEN, body=requests.ConnectTimeout("connect timed out"))

    with pytest.raises(RetryableError, match="timed out"):
        carrier().quote(shipment())


def test_refused_credentials_are_permanent_with_the_carriers_words(
    http: responses.RequestsMock,
) -> None:
    http.post(UPS_TOKEN, status=401, json=fixture("ups_error_auth.json"))

    with pytest.raises(PermanentError, match=r"401 on POST .*10401: ClientId is Invalid"):
        carrier().quote(shipment())


def test_a_rejected_request_is_permanent_with_the_carriers_words(
    http: responses.RequestsMock,
) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHOP, status=400, json=fixture("ups_error_validation.json"))

    with pytest.raises(PermanentError) as failure:
        carrier().quote(shipment())
    assert "111210: The requested service is unavailable between the selected locations." in str(
        failure.value
    )


def test_one_token_serves_an_accounts_calls(http: responses.RequestsMock) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHOP, json=fixture("ups_rate_response.json"))
    http.post(UPS_SHOP, json=fixture("ups_rate_response.json"))
    adapter = carrier()

    adapter.quote(shipment())
    adapter.quote(shipment())

    assert [call.request.url.split("?")[0] for call in http.calls] == [
        UPS_TOKEN,
        UPS_SHOP,
        UPS_SHOP,
    ]


# --- UPS: labels, tracking, void -----------------------------------------------------------


def test_quote_buy_void_track_keep_the_carrier_contract(http: responses.RequestsMock) -> None:
    """The contract suite's cycle (tests/adapters/test_carriers_contract.py), against UPS.

    Not its idempotency check: the direct carriers take no key, so buying the same quote
    again buys a second label (see the adapter's docstring)."""
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHOP, json=fixture("ups_rate_response.json"))
    http.post(UPS_SHIP, json=fixture("ups_ship_response.json"))
    http.delete(
        f"{UPS}/api/shipments/v2409/void/cancel/{UPS_TRACKING_NUMBER}",
        json=fixture("ups_void_response.json"),
    )
    http.get(
        f"{UPS}/api/track/v1/details/{UPS_TRACKING_NUMBER}",
        json=fixture("ups_track_response.json"),
    )
    adapter: Carrier = carrier(account="acct-1")

    quotes = adapter.quote(shipment())
    assert quotes and all((q.carrier, q.account) == ("karrio", "acct-1") for q in quotes)
    cheapest = min(quotes, key=lambda q: q.price.amount)
    label = adapter.buy(shipment(), cheapest, "karrio:1:1")
    assert (label.carrier, label.service, label.price) == (
        "karrio",
        cheapest.service,
        cheapest.price,
    )
    assert label.tracking_number and label.pdf.startswith(b"%PDF")
    assert adapter.void(label) is None  # type: ignore[func-returns-value]
    assert all(
        e.tracking_number == label.tracking_number for e in adapter.track(label.tracking_number)
    )


def test_a_ups_purchase_is_a_print_return_label_with_returned_goods_customs(
    http: responses.RequestsMock,
) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHIP, json=fixture("ups_ship_response.json"))
    quote = quote_from_route("ups-ups_standard_eu", "ups-main", "12.07")

    label = carrier().buy(shipment(BRITISH_BUYER, rma="RMA-1003"), quote, "label:1003")

    assert (label.carrier, label.service, label.price) == ("karrio", quote.service, quote.price)
    assert label.tracking_number == label.external_id == UPS_TRACKING_NUMBER
    assert label.tracking_carrier == "ups"
    assert label.pdf.startswith(b"%PDF")
    assert len(pypdf.PdfReader(io.BytesIO(label.pdf)).pages) == 1
    assert label.zpl == ""

    sent = json.loads(body_of(http.calls[1]))["ShipmentRequest"]
    ups_shipment = sent["Shipment"]
    assert ups_shipment["ReturnService"]["Code"] == "9"  # UPS Print Return Label
    assert ups_shipment["Service"]["Code"] == "11"
    assert ups_shipment["ShipFrom"]["Address"]["City"] == "London"
    assert ups_shipment["ShipTo"]["Address"]["City"] == "Venlo"
    assert ups_shipment["Shipper"]["ShipperNumber"] == "12E45Y"
    forms = ups_shipment["ShipmentServiceOptions"]["InternationalForms"]
    assert forms["ReasonForExport"] == "RETURN"
    assert forms["InvoiceNumber"] == "INV-RMA-1003"
    assert forms["Product"][0]["Unit"]["Value"] == "40.0"
    assert sent["LabelSpecification"]["LabelImageFormat"]["Code"] == "PNG"


def test_a_label_within_the_eu_customs_union_declares_no_customs(
    http: responses.RequestsMock,
) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHIP, json=fixture("ups_ship_response.json"))

    carrier().buy(shipment(), quote_from_route("ups-ups_standard_eu", "ups-main", "12.07"), "k")

    options = json.loads(body_of(http.calls[1]))["ShipmentRequest"]["Shipment"]
    assert "InternationalForms" not in (options.get("ShipmentServiceOptions") or {})


def test_an_account_that_prints_zpl_gets_the_carriers_zpl(http: responses.RequestsMock) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHIP, json=fixture("ups_ship_response_zpl.json"))
    quote = quote_from_route("ups-ups_standard_eu", "ups-main", "12.07")

    label = carrier(label_type="ZPL").buy(shipment(), quote, "label:1001")

    assert label.zpl.startswith("^XA") and label.zpl.rstrip().endswith("^XZ")
    assert label.pdf == b""  # UPS sends one format per label
    sent = json.loads(body_of(http.calls[1]))["ShipmentRequest"]
    assert sent["LabelSpecification"]["LabelImageFormat"]["Code"] == "ZPL"


def test_a_quote_of_another_account_or_adapter_is_not_bought() -> None:
    adapter = carrier()
    with pytest.raises(PermanentError, match="account"):
        adapter.buy(shipment(), quote_from_route("ups-ups_standard_eu", "other", "1.00"), "k")
    with pytest.raises(PermanentError, match="cannot be bought"):
        adapter.buy(
            shipment(),
            RateQuote("easypost", "UPS-Ground", "ups-main", Money.of("1", "EUR"), 0, 0),
            "k",
        )
    with pytest.raises(PermanentError, match="not a ups service"):
        adapter.buy(
            shipment(), quote_from_route("dhl_express-dhl_express_worldwide", "ups-main", "1"), "k"
        )


def test_ups_scans_become_canonical_tracking_events(http: responses.RequestsMock) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.get(
        f"{UPS}/api/track/v1/details/{UPS_TRACKING_NUMBER}",
        json=fixture("ups_track_response.json"),
    )

    events = carrier().track(f"ups/{UPS_TRACKING_NUMBER}")  # as the tracking poll asks

    assert [(e.status, e.carrier_status) for e in events] == [
        (TrackingStatus.LABEL_CREATED, "pending:MP"),
        (TrackingStatus.DROPPED_OFF, "picked_up:PU"),
        (TrackingStatus.IN_TRANSIT, "in_transit:DP"),
        (TrackingStatus.IN_TRANSIT, "in_transit:AR"),
        (TrackingStatus.DELIVERED, "delivered:KB"),
    ]
    assert [e.occurred_at.isoformat() for e in (events[0], events[-1])] == [
        "2024-06-20T09:12:00+00:00",
        "2024-06-24T10:32:00+00:00",
    ]
    assert events[1].description == "Pickup Scan"
    assert events[1].location == "Berlin, 10115, DE"
    assert all(e.tracking_number == UPS_TRACKING_NUMBER for e in events)
    assert len({e.dedup_key for e in events}) == len(events)
    transport = http.calls[1].request.headers
    assert transport["transactionSrc"] == "karrio-test" and transport["transId"]


def test_a_number_of_another_carrier_is_not_tracked_here() -> None:
    with pytest.raises(PermanentError, match="dhl_express number"):
        carrier().track("dhl_express/1234567890")


def test_void_cancels_the_ups_shipment(http: responses.RequestsMock) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.post(UPS_SHIP, json=fixture("ups_ship_response.json"))
    http.delete(
        f"{UPS}/api/shipments/v2409/void/cancel/{UPS_TRACKING_NUMBER}",
        json=fixture("ups_void_response.json"),
    )
    adapter = carrier()
    label = adapter.buy(
        shipment(), quote_from_route("ups-ups_standard_eu", "ups-main", "12.07"), "k"
    )

    assert adapter.void(label) is None  # type: ignore[func-returns-value]
    assert http.calls[-1].request.method == "DELETE"


def test_a_void_ups_refuses_is_permanent(http: responses.RequestsMock) -> None:
    http.post(UPS_TOKEN, json=ups_token())
    http.delete(
        f"{UPS}/api/shipments/v2409/void/cancel/{UPS_TRACKING_NUMBER}",
        status=400,
        json={"response": {"errors": [{"code": "190117", "message": "Void period has expired"}]}},
    )
    stored = stored_label("ups-ups_standard_eu", UPS_TRACKING_NUMBER, "12.07")

    with pytest.raises(PermanentError, match="190117: Void period has expired"):
        carrier().void(stored)


# --- DHL Express (XML-PI) ------------------------------------------------------------------


def test_dhl_express_rates_are_quoted_from_its_quote_response(
    http: responses.RequestsMock,
) -> None:
    http.post(DHL, body=xml("dhl_express_rate_response.xml"), content_type="application/xml")

    quotes = carrier("dhl_express", account="dhl-nl").quote(shipment(BRITISH_BUYER, "85.00"))

    assert [(q.service, q.price, q.transit_days_max) for q in quotes] == [
        ("dhl_express-dhl_economy_select", Money.of("30.97", "EUR"), 5),
        ("dhl_express-dhl_express_worldwide_nondoc", Money.of("49.47", "EUR"), 1),
    ]
    assert all((q.carrier, q.account) == ("karrio", "dhl-nl") for q in quotes)
    sent = body_of(http.calls[0])
    assert "<SiteID>acmereturns</SiteID>" in sent
    assert re.search(r"<From>\s*<CountryCode>GB</CountryCode>", sent)
    assert "<IsDutiable>Y</IsDutiable>" in sent


def test_a_dhl_express_refusal_in_its_answer_is_permanent(http: responses.RequestsMock) -> None:
    http.post(DHL, body=xml("dhl_express_rate_error.xml"), content_type="application/xml")

    with pytest.raises(PermanentError, match="340004: The location information is missing"):
        carrier("dhl_express", account="dhl-nl").quote(shipment(BRITISH_BUYER))


def test_a_dhl_express_purchase_is_a_return_with_its_pdf_label(
    http: responses.RequestsMock,
) -> None:
    http.post(DHL, body=xml("dhl_express_ship_response.xml"), content_type="application/xml")
    quote = quote_from_route("dhl_express-dhl_express_worldwide_nondoc", "dhl-nl", "49.47")

    label = carrier("dhl_express", account="dhl-nl").buy(
        shipment(BRITISH_BUYER, "85.00", "RMA-1002", export_reference="24GB1234567890ABC1"),
        quote,
        "label:1002",
    )

    assert (label.carrier, label.service) == ("karrio", quote.service)
    assert label.tracking_number == label.external_id == "1234567890"
    assert label.tracking_carrier == "dhl_express"
    assert label.price == Money.of("49.47", "EUR")  # what DHL charged, from its answer
    assert label.pdf.startswith(b"%PDF")
    assert pypdf.PdfReader(io.BytesIO(label.pdf)).metadata.title == "DHL Express label 1234567890"
    sent = body_of(http.calls[0])
    assert "<SpecialServiceType>TG</SpecialServiceType>" in sent  # karrio's DHL return option
    assert re.search(r"<Shipper>.*<CountryCode>GB</CountryCode>.*</Shipper>", sent, re.S)
    assert re.search(r"<Consignee>.*<City>Venlo</City>.*</Consignee>", sent, re.S)
    assert "<ExportReason>return_merchandise</ExportReason>" in sent
    assert "<InvoiceNumber>INV-RMA-1002</InvoiceNumber>" in sent
    assert "original export 24GB1234567890ABC1" in sent
    assert "<LabelImageFormat>PDF</LabelImageFormat>" in sent


def test_dhl_express_checkpoints_become_canonical_tracking_events(
    http: responses.RequestsMock,
) -> None:
    http.post(DHL, body=xml("dhl_express_track_response.xml"), content_type="application/xml")

    events = carrier("dhl_express", account="dhl-nl").track("1234567890")

    assert [e.status for e in events] == [
        TrackingStatus.DROPPED_OFF,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]
    assert events[-1].description == "Delivered - Signed for by VERMEULEN"
    assert events[-1].location == "EINDHOVEN - NETHERLANDS"
    assert "<AWBNumber>1234567890</AWBNumber>" in body_of(http.calls[0])


def test_a_dhl_express_void_calls_nobody(http: responses.RequestsMock) -> None:
    label = stored_label("dhl_express-dhl_express_worldwide_nondoc", "1234567890", "49.47")

    assert carrier("dhl_express", account="dhl-nl").void(label) is None  # type: ignore[func-returns-value]
    assert len(http.calls) == 0


# --- the HTTP under karrio, and small pieces -----------------------------------------------


def test_without_the_karrio_extra_the_app_starts_and_refuses_karrio_accounts() -> None:
    """The entry point is always declared; karrio itself is an optional extra."""
    script = """
import sys
from pathlib import Path
sys.modules["karrio"] = None  # as if helloword[karrio] were not installed
from connector.errors import PermanentError
from connector.ports import AdapterContext, Credentials
from connector.registry import Registry
registry = Registry.discover()
try:
    account = Credentials("a", {}, {"carrier_name": "ups"})
    registry.carrier("karrio", account, AdapterContext(Path(".")))
except PermanentError as error:
    print(error)
"""
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "install helloword[karrio]" in ran.stdout


def test_a_karrio_request_no_adapter_announced_still_goes_through_urllib(tmp_path: Path) -> None:
    carrier()  # routes karrio's urlopen through the adapters' transports
    page = tmp_path / "answer.txt"
    page.write_text("plain urllib")

    with karrio_http.urlopen(Request(page.as_uri()), timeout=5) as answer:
        assert answer.read() == b"plain urllib"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "45"}) == 45.0
    assert retry_after({"Retry-After": "Thu, 20 Jun 2024 12:01:30 GMT"}, now=now) == 90.0
    assert retry_after({}) is None


@pytest.mark.parametrize(
    ("karrio_status", "canonical"),
    [
        ("pending", TrackingStatus.LABEL_CREATED),
        ("on_hold", TrackingStatus.ON_HOLD),
        ("delivery_delayed", TrackingStatus.ON_HOLD),
        ("ready_for_pickup", TrackingStatus.AVAILABLE_FOR_PICKUP),
        ("delivery_failed", TrackingStatus.DELIVERY_FAILED),
        ("return_to_sender", TrackingStatus.RETURNED_TO_SENDER),
        ("cancelled", TrackingStatus.CANCELLED),
        (None, TrackingStatus.UNKNOWN),
        ("something_new", TrackingStatus.UNKNOWN),
    ],
)
def test_karrio_statuses_map_onto_the_canonical_set(
    karrio_status: str | None, canonical: TrackingStatus
) -> None:
    assert canonical_status(karrio_status) is canonical
