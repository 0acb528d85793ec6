"""The EasyPost carrier against EasyPost's documented payloads, with HTTP stubbed by responses."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from carriers.easypost import CustomsItem, EasyPostCarrier
from carriers.easypost.client import retry_after
from carriers.easypost.mapper import canonical_status, inches, ounces
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
from connector.ports import AdapterContext, Carrier, Credentials, ParcelFollower, TrackingWebhook
from connector.registry import Registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "easypost"
API = "https://api.easypost.com/v2"
API_KEY = "EZTK_test_key"
WEBHOOK_SECRET = "s\u00e9cret\u2126"  # NFKD changes both characters
PDF_URL = "https://easypost-files.s3.us-west-2.amazonaws.com/files/postage_label/20240801/e8a1.pdf"
ZPL_URL = "https://easypost-files.s3.us-west-2.amazonaws.com/files/postage_label/20240801/e8a1.zpl"
PDF_BYTES = b"%PDF-1.4 easypost label"
ZPL_TEXT = "^XA^FO50,50^ADN,36,20^FD9400100105440000000001^FS^XZ"
AUTH = matchers.header_matcher({"Authorization": f"Bearer {API_KEY}"})

BUYER = Address(
    name="Jo Buyer",
    line1="179 N Harbor Dr",
    city="Redondo Beach",
    region="CA",
    postal_code="90277",
    country="US",
    phone="3105551234",
    email="jo@example.com",
)
WAREHOUSE = Address(
    name="Acme c/o 3PL",
    line1="3801 E Guasti Rd",
    city="Ontario",
    region="CA",
    postal_code="91761",
    country="US",
)
GERMAN_BUYER = Address(
    name="Jan Käufer", line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def shipment(buyer: Address = BUYER) -> Shipment:
    return Shipment(
        reference="RMA-123",
        from_address=buyer,
        to_address=WAREHOUSE,
        parcel=Parcel(Decimal("0.8"), Decimal(25), Decimal(18), Decimal(6)),
        declared_value=Money.of("23.25", "USD"),
    )


def quote() -> RateQuote:
    return RateQuote(
        carrier="easypost",
        service="USPS-GroundAdvantage",
        account="acct-1",
        price=Money.of("6.07", "USD"),
        transit_days_min=3,
        transit_days_max=3,
        breakdown=(("shipment_id", "shp_ret01"), ("rate_id", "rate_usps_ga")),
    )


@pytest.fixture
def carrier() -> EasyPostCarrier:
    credentials = Credentials(
        "acct-1",
        secrets={"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET},
        settings={"customs_signer": "Acme Returns Desk"},
    )
    return EasyPostCarrier(credentials, AdapterContext(data_dir=Path("/nonexistent")))


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def sent_json(mock: responses.RequestsMock, index: int = 0) -> dict[str, Any]:
    body = mock.calls[index].request.body
    assert body is not None
    return json.loads(body)


# --- ports -------------------------------------------------------------------------------


def test_adapter_implements_the_carrier_tracking_webhook_and_parcel_follower_ports(
    carrier: EasyPostCarrier,
) -> None:
    assert isinstance(carrier, Carrier)
    assert isinstance(carrier, TrackingWebhook)
    assert isinstance(carrier, ParcelFollower)
    assert carrier.slug == "easypost"


def test_the_registry_discovers_easypost() -> None:
    assert Registry.discover().carriers["easypost"] is EasyPostCarrier


def test_an_account_without_api_key_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="api_key"):
        EasyPostCarrier(Credentials("acct-1"), AdapterContext(data_dir=Path("/nonexistent")))


# --- quote -------------------------------------------------------------------------------


def test_parcel_units_are_ounces_and_inches_rounded_up() -> None:
    assert ounces(Decimal("0.8")) == Decimal("28.3")
    assert ounces(Decimal("1")) == Decimal("35.3")
    assert inches(Decimal("25.4")) == Decimal("10.0")
    assert inches(Decimal("18")) == Decimal("7.1")


def test_quote_creates_a_return_shipment_with_the_warehouse_as_from_address(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(f"{API}/shipments", json=fixture("shipment_created.json"), status=201, match=[AUTH])

    carrier.quote(shipment())

    body = sent_json(api)["shipment"]
    assert body["is_return"] is True
    assert body["reference"] == "RMA-123"
    assert body["options"] == {"label_format": "PDF"}
    # EasyPost swaps a return's addresses: the parcel travels to from_address.
    assert body["from_address"] == {
        "name": "Acme c/o 3PL",
        "street1": "3801 E Guasti Rd",
        "city": "Ontario",
        "state": "CA",
        "zip": "91761",
        "country": "US",
    }
    assert body["to_address"]["name"] == "Jo Buyer"
    assert body["to_address"]["zip"] == "90277"
    assert body["to_address"]["email"] == "jo@example.com"
    assert body["parcel"] == {"length": 9.9, "width": 7.1, "height": 2.4, "weight": 28.3}
    assert "customs_info" not in body


def test_cross_border_quote_declares_the_contents_as_returned_goods(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(f"{API}/shipments", json=fixture("shipment_created.json"), status=201)
    items = [
        CustomsItem(
            description="T-shirt",
            value=Money.of("23.25", "USD"),
            weight_kg=Decimal("0.3"),
            hs_tariff_number="610910",
            origin_country="CN",
        )
    ]

    carrier.quote(shipment(GERMAN_BUYER), customs_items=items)

    customs = sent_json(api)["shipment"]["customs_info"]
    assert customs == {
        "contents_type": "returned_goods",
        "customs_certify": True,
        "customs_signer": "Acme Returns Desk",
        "eel_pfc": "NOEEI 30.37(a)",
        "non_delivery_option": "return",
        "restriction_type": "none",
        "customs_items": [
            {
                "description": "T-shirt",
                "quantity": 1,
                "value": 23.25,
                "currency": "USD",
                "weight": 10.6,
                "hs_tariff_number": "610910",
                "origin_country": "CN",
            }
        ],
    }


def test_cross_border_quote_without_items_declares_the_whole_parcel(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(f"{API}/shipments", json=fixture("shipment_created.json"), status=201)

    carrier.quote(shipment(GERMAN_BUYER))

    (item,) = sent_json(api)["shipment"]["customs_info"]["customs_items"]
    assert item == {
        "description": "Returned goods",
        "quantity": 1,
        "value": 23.25,
        "currency": "USD",
        "weight": 28.3,
    }


def test_rates_become_quotes_that_remember_the_shipment_and_rate(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(f"{API}/shipments", json=fixture("shipment_created.json"), status=201)

    quotes = carrier.quote(shipment())

    assert quotes == [
        quote(),
        RateQuote(
            carrier="easypost",
            service="UPS-Ground",
            account="acct-1",
            price=Money.of("11.82", "USD"),
            transit_days_min=2,
            transit_days_max=4,
            breakdown=(("shipment_id", "shp_ret01"), ("rate_id", "rate_ups_ground")),
        ),
    ]


def test_a_shipment_without_rates_explains_why(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    created = fixture("shipment_created.json")
    created["rates"] = []
    created["messages"] = [
        {"carrier": "USPS", "type": "rate_error", "message": "Unable to retrieve USPS rates"}
    ]
    api.post(f"{API}/shipments", json=created, status=201)

    with pytest.raises(PermanentError, match="Unable to retrieve USPS rates"):
        carrier.quote(shipment())


# --- buy ---------------------------------------------------------------------------------


def stub_label_files(api: responses.RequestsMock) -> None:
    api.get(PDF_URL, body=PDF_BYTES, content_type="application/pdf")
    api.get(ZPL_URL, body=ZPL_TEXT, content_type="text/plain")


def test_buy_buys_the_quoted_rate_and_downloads_pdf_and_zpl(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(f"{API}/shipments/shp_ret01", json=fixture("shipment_created.json"), match=[AUTH])
    api.post(
        f"{API}/shipments/shp_ret01/buy",
        json=fixture("shipment_bought.json"),
        match=[AUTH, matchers.json_params_matcher({"rate": {"id": "rate_usps_ga"}})],
    )
    api.get(
        f"{API}/shipments/shp_ret01/label",
        json=fixture("shipment_label_zpl.json"),
        match=[matchers.query_param_matcher({"file_format": "ZPL"})],
    )
    stub_label_files(api)

    label = carrier.buy(shipment(), quote(), "job-1")

    assert label == Label(
        carrier="easypost",
        service="USPS-GroundAdvantage",
        tracking_number="9400100105440000000001",
        price=Money.of("6.07", "USD"),
        pdf=PDF_BYTES,
        zpl=ZPL_TEXT,
        external_id="shp_ret01",
    )
    # The label files live on EasyPost's file storage: the API key must not travel there.
    assert "Authorization" not in api.calls[3].request.headers


def test_buy_reuses_a_shipment_already_bought_instead_of_paying_twice(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(f"{API}/shipments/shp_ret01", json=fixture("shipment_label_zpl.json"))
    stub_label_files(api)

    label = carrier.buy(shipment(), quote(), "job-1-retry")

    assert label.tracking_number == "9400100105440000000001"
    assert label.pdf == PDF_BYTES
    assert label.zpl == ZPL_TEXT
    assert not any((call.request.url or "").endswith("/buy") for call in api.calls)


QR_URL = (
    "https://easypost-files.s3-us-west-2.amazonaws.com/files/form/20240801/"
    "label_qr_code_9400100105440000000001.png"
)
QR_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def qr_carrier() -> EasyPostCarrier:
    credentials = Credentials("acct-1", secrets={"api_key": API_KEY}, settings={"qr_code": True})
    return EasyPostCarrier(credentials, AdapterContext(data_dir=Path("/nonexistent")))


def test_a_usps_label_gets_its_label_broker_qr_code_when_the_account_asks(
    api: responses.RequestsMock,
) -> None:
    api.get(f"{API}/shipments/shp_ret01", json=fixture("shipment_label_zpl.json"))
    form = api.post(
        f"{API}/shipments/shp_ret01/forms",
        json=fixture("shipment_form_qr.json"),
        match=[AUTH, matchers.json_params_matcher({"form": {"type": "label_qr_code"}})],
    )
    stub_label_files(api)
    api.get(QR_URL, body=QR_PNG, content_type="image/png")

    label = qr_carrier().buy(shipment(), quote(), "job-1")

    assert (label.qr_png, label.qr_payload) == (QR_PNG, QR_URL)
    assert label.pdf == PDF_BYTES
    assert form.call_count == 1


def test_a_retried_buy_reuses_the_qr_code_form_already_made(
    api: responses.RequestsMock,
) -> None:
    # no POST /forms is stubbed: making a second form would fail the test
    api.get(f"{API}/shipments/shp_ret01", json=fixture("shipment_form_qr.json"))
    stub_label_files(api)
    api.get(QR_URL, body=QR_PNG, content_type="image/png")

    label = qr_carrier().buy(shipment(), quote(), "job-1-retry")

    assert label.qr_png == QR_PNG


def test_buy_refuses_a_quote_of_another_account(carrier: EasyPostCarrier) -> None:
    other = RateQuote(
        carrier="easypost",
        service="USPS-GroundAdvantage",
        account="acct-2",
        price=Money.of("6.07", "USD"),
        transit_days_min=3,
        transit_days_max=3,
        breakdown=quote().breakdown,
    )
    with pytest.raises(PermanentError, match="acct-2"):
        carrier.buy(shipment(), other, "job-1")


def test_buy_refuses_a_quote_without_easypost_ids(carrier: EasyPostCarrier) -> None:
    bare = RateQuote("easypost", "USPS-GroundAdvantage", "acct-1", Money.of("6.07", "USD"), 3, 3)
    with pytest.raises(PermanentError, match="ids"):
        carrier.buy(shipment(), bare, "job-1")


# --- void and track ----------------------------------------------------------------------


def bought_label() -> Label:
    return Label(
        carrier="easypost",
        service="USPS-GroundAdvantage",
        tracking_number="9400100105440000000001",
        price=Money.of("6.07", "USD"),
        external_id="shp_ret01",
    )


def test_void_asks_easypost_to_refund_the_shipment(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(
        f"{API}/shipments/shp_ret01/refund", json=fixture("shipment_refunded.json"), match=[AUTH]
    )

    carrier.void(bought_label())

    assert len(api.calls) == 1


def test_a_rejected_refund_is_permanent(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    refunded = fixture("shipment_refunded.json")
    refunded["refund_status"] = "rejected"
    api.post(f"{API}/shipments/shp_ret01/refund", json=refunded)

    with pytest.raises(PermanentError, match="rejected"):
        carrier.void(bought_label())


def test_track_maps_a_delivered_return_onto_canonical_statuses(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(
        f"{API}/trackers",
        json=fixture("trackers_list.json"),
        match=[matchers.query_param_matcher({"tracking_code": "9400100105440000000001"})],
    )

    events = carrier.track("9400100105440000000001")

    assert [event.status for event in events] == [
        TrackingStatus.LABEL_CREATED,
        TrackingStatus.DROPPED_OFF,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]
    dropped_off = events[1]
    assert dropped_off.tracking_number == "9400100105440000000001"
    assert dropped_off.occurred_at == datetime(2024, 8, 2, 9, 12, tzinfo=UTC)
    assert dropped_off.carrier_status == "in_transit:received_at_origin_facility"
    assert dropped_off.description == "Accepted at USPS Origin Facility"
    assert dropped_off.location == "REDONDO BEACH, CA 90277, US"
    assert events[0].location == ""


def test_track_creates_a_tracker_when_easypost_has_none(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(f"{API}/trackers", json={"trackers": [], "has_more": False})
    api.post(
        f"{API}/trackers",
        json=fixture("tracker_created.json"),
        match=[matchers.json_params_matcher({"tracker": {"tracking_code": "EZ6000000006"}})],
    )

    events = carrier.track("EZ6000000006")

    assert [event.status for event in events] == [
        TrackingStatus.LABEL_CREATED,
        TrackingStatus.DROPPED_OFF,
        TrackingStatus.ON_HOLD,
        TrackingStatus.DELIVERY_FAILED,
        TrackingStatus.EXCEPTION,
        TrackingStatus.RETURNED_TO_SENDER,
    ]


# --- parcels another carrier moves ---------------------------------------------------------

AMAZON_DHL = "00340434161094027318"  # a DHL Paket number on Amazon's prepaid return label


def test_a_parcel_of_another_carrier_gets_a_tracker_naming_that_carrier_on_first_sight(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(
        f"{API}/trackers",
        json={"trackers": [], "has_more": False},
        match=[
            AUTH,
            matchers.query_param_matcher({"tracking_code": AMAZON_DHL, "carrier": "DHLPaket"}),
        ],
    )
    api.post(
        f"{API}/trackers",
        json=fixture("tracker_dhl_paket.json"),
        status=201,
        match=[
            AUTH,
            matchers.json_params_matcher(
                {"tracker": {"tracking_code": AMAZON_DHL, "carrier": "DHLPaket"}}
            ),
        ],
    )

    events = carrier.track(f"DHLPaket/{AMAZON_DHL}")

    assert [event.status for event in events] == [
        TrackingStatus.LABEL_CREATED,
        TrackingStatus.DROPPED_OFF,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.DELIVERED,
    ]
    assert {event.tracking_number for event in events} == {AMAZON_DHL}
    assert events[1].location == "Berlin, 10115, DE"


def test_a_parcel_followed_already_is_read_without_a_second_tracker(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(
        f"{API}/trackers",
        json={"trackers": [fixture("tracker_dhl_paket.json")], "has_more": False},
        match=[matchers.query_param_matcher({"tracking_code": AMAZON_DHL, "carrier": "DHLPaket"})],
    )

    events = carrier.follow("DHLPaket", AMAZON_DHL)

    assert events[-1].status is TrackingStatus.DELIVERED
    assert [call.request.method for call in api.calls] == ["GET"]


def test_a_number_easypost_refuses_for_the_carrier_is_a_permanent_error(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(f"{API}/trackers", json={"trackers": [], "has_more": False})
    api.post(
        f"{API}/trackers",
        status=422,
        json={
            "error": {
                "code": "TRACKER.CREATE.ERROR",
                "message": "The tracking number does not belong to the carrier",
                "errors": [],
            }
        },
    )

    with pytest.raises(PermanentError, match="does not belong to the carrier"):
        carrier.track(f"DHLExpress/{AMAZON_DHL}")


@pytest.mark.parametrize(
    ("status", "detail", "first_scan", "expected"),
    [
        ("pre_transit", "status_update", True, TrackingStatus.LABEL_CREATED),
        ("in_transit", "received_at_origin_facility", True, TrackingStatus.DROPPED_OFF),
        ("in_transit", "arrived_at_facility", False, TrackingStatus.IN_TRANSIT),
        ("in_transit", "held", False, TrackingStatus.ON_HOLD),
        ("out_for_delivery", "out_for_delivery", False, TrackingStatus.OUT_FOR_DELIVERY),
        ("available_for_pickup", "", False, TrackingStatus.AVAILABLE_FOR_PICKUP),
        ("delivered", "arrived_at_destination", False, TrackingStatus.DELIVERED),
        ("return_to_sender", "return", False, TrackingStatus.RETURNED_TO_SENDER),
        ("failure", "attempted_delivery", False, TrackingStatus.DELIVERY_FAILED),
        ("failure", "lost", False, TrackingStatus.EXCEPTION),
        ("error", "", False, TrackingStatus.EXCEPTION),
        ("cancelled", "cancelled", False, TrackingStatus.CANCELLED),
        ("unknown", "", False, TrackingStatus.UNKNOWN),
        ("something_new", "", False, TrackingStatus.UNKNOWN),
    ],
)
def test_easypost_statuses_map_onto_the_canonical_set(
    status: str, detail: str, first_scan: bool, expected: TrackingStatus
) -> None:
    assert canonical_status(status, detail, first_scan=first_scan) is expected


# --- webhook -----------------------------------------------------------------------------


def signature(body: bytes, secret: str = "se\u0301cret\u03a9") -> str:
    # The NFKD form of WEBHOOK_SECRET, written out: what EasyPost signs with.
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"hmac-sha256-hex={digest}"


def event_body() -> bytes:
    return (FIXTURES / "event_tracker_updated.json").read_bytes()


def test_webhook_with_a_good_signature_is_verified(carrier: EasyPostCarrier) -> None:
    body = event_body()
    assert carrier.verify({"X-Hmac-Signature": signature(body)}, body)


def test_webhook_signature_header_is_found_in_any_letter_case(carrier: EasyPostCarrier) -> None:
    body = event_body()
    assert carrier.verify({"x-hmac-signature": signature(body)}, body)
    assert carrier.verify({"X-HMAC-SIGNATURE": signature(body)}, body)


def test_webhook_with_a_bad_signature_is_refused(carrier: EasyPostCarrier) -> None:
    body = event_body()
    assert not carrier.verify({"X-Hmac-Signature": signature(body, "other")}, body)
    assert not carrier.verify({"X-Hmac-Signature": signature(body)}, body + b" ")
    assert not carrier.verify(
        {"X-Hmac-Signature": signature(body)[len("hmac-sha256-hex=") :]}, body
    )


def test_webhook_without_signature_is_refused(carrier: EasyPostCarrier) -> None:
    assert not carrier.verify({"Content-Type": "application/json"}, event_body())


def test_webhook_of_an_account_without_secret_is_refused() -> None:
    keyless = EasyPostCarrier(
        Credentials("acct-1", secrets={"api_key": API_KEY}),
        AdapterContext(data_dir=Path("/nonexistent")),
    )
    body = event_body()
    assert not keyless.verify({"X-Hmac-Signature": signature(body)}, body)


def test_tracker_updated_event_becomes_tracking_events(carrier: EasyPostCarrier) -> None:
    events = carrier.parse_tracking(event_body())

    assert [event.status for event in events][-1] is TrackingStatus.DELIVERED
    assert len(events) == 5
    assert {event.tracking_number for event in events} == {"9400100105440000000001"}


def test_events_other_than_trackers_give_no_tracking(carrier: EasyPostCarrier) -> None:
    assert carrier.parse_tracking((FIXTURES / "event_batch_updated.json").read_bytes()) == []


def test_a_webhook_body_that_is_not_json_is_permanent(carrier: EasyPostCarrier) -> None:
    with pytest.raises(PermanentError):
        carrier.parse_tracking(b"<html>")


# --- errors ------------------------------------------------------------------------------


def test_401_is_permanent_with_easypost_message(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(f"{API}/shipments", json=fixture("error_401.json"), status=401)

    with pytest.raises(PermanentError, match="This api key is no longer active") as raised:
        carrier.quote(shipment())
    assert not isinstance(raised.value, RetryableError)


def test_403_is_permanent(carrier: EasyPostCarrier, api: responses.RequestsMock) -> None:
    forbidden = {"error": {"code": "FORBIDDEN", "message": "Not allowed.", "errors": []}}
    api.post(f"{API}/shipments/shp_ret01/refund", json=forbidden, status=403)

    with pytest.raises(PermanentError, match=r"\(403\): Not allowed"):
        carrier.void(bought_label())


def test_422_is_permanent_with_easypost_message(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(f"{API}/shipments/shp_ret01", json=fixture("shipment_created.json"))
    api.post(f"{API}/shipments/shp_ret01/buy", json=fixture("error_422.json"), status=422)

    with pytest.raises(PermanentError, match="The shipment could not be purchased"):
        carrier.buy(shipment(), quote(), "job-1")


def test_429_is_retryable_after_the_time_easypost_asks(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(
        f"{API}/shipments",
        json=fixture("error_429.json"),
        status=429,
        headers={"Retry-After": "17"},
    )

    with pytest.raises(RetryableError, match="exceeded the rate limit") as raised:
        carrier.quote(shipment())
    assert raised.value.retry_after == 17.0


def test_retry_after_may_be_an_http_date() -> None:
    now = datetime(2024, 8, 1, 17, 0, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "Thu, 01 Aug 2024 17:00:30 GMT"}, now=now) == 30.0
    assert retry_after({}, now=now) is None


def test_500_is_retryable(carrier: EasyPostCarrier, api: responses.RequestsMock) -> None:
    api.get(f"{API}/trackers", json=fixture("error_500.json"), status=500)

    with pytest.raises(RetryableError, match="something went wrong"):
        carrier.track("9400100105440000000001")


def test_a_5xx_page_that_is_not_json_is_retryable(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(f"{API}/shipments", body="<html>502 Bad Gateway</html>", status=502)

    with pytest.raises(RetryableError):
        carrier.quote(shipment())


def test_a_timeout_is_retryable(carrier: EasyPostCarrier, api: responses.RequestsMock) -> None:
    api.post(f"{API}/shipments", body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(RetryableError, match="timed out"):
        carrier.quote(shipment())


def test_a_connection_failure_is_retryable(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.post(f"{API}/shipments", body=requests.exceptions.ConnectionError("refused"))

    with pytest.raises(RetryableError):
        carrier.quote(shipment())


def test_a_label_download_that_fails_is_retryable(
    carrier: EasyPostCarrier, api: responses.RequestsMock
) -> None:
    api.get(f"{API}/shipments/shp_ret01", json=fixture("shipment_label_zpl.json"))
    api.get(PDF_URL, body="unavailable", status=503)

    with pytest.raises(RetryableError, match="503"):
        carrier.buy(shipment(), quote(), "job-1")
