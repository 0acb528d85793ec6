"""The Shippo carrier against Shippo's documented payloads: return shipments, rates, label
purchases bought once per key, refunds, tracking by poll and by webhook, errors typed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from carriers.shippo import ShippoCarrier, purchase_metadata
from connector.domain import Address, Label, Money, Parcel, RateQuote, Shipment
from connector.domain.logistics import TrackingStatus
from connector.errors import PermanentError, RetryableError
from connector.ports import AdapterContext, Carrier, Credentials, TrackingWebhook
from connector.registry import Registry, capabilities

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shippo"
API = "https://api.goshippo.com"
TOKEN = "shippo_test_0123456789abcdef"
WEBHOOK_TOKEN = "hook-secret-7f3a"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
KEY = "shippo:R-1:1"
LABEL_URL = (
    "https://shippo-delivery.s3.amazonaws.com/70ae8117ee1749e393f249d5b77c45e0.pdf"
    "?Signature=vDw1ltcyGveVR1OQoUDdzC43BY8%3D&Expires=1437093830&AWSAccessKeyId=AKIAJTHP3LLFMYAWALIA"
)
PDF = b"%PDF-1.4 shippo label"

BUYER = Address(
    name="Jo Buyer",
    line1="965 Mission St",
    city="San Francisco",
    postal_code="94103",
    country="US",
    region="CA",
    email="jo@example.com",
)
WAREHOUSE = Address(
    name="Acme Returns",
    line1="1092 Indian Summer Ct",
    city="San Jose",
    postal_code="95122",
    country="US",
    region="CA",
)
SHIPMENT = Shipment(
    reference="R-1",
    from_address=BUYER,
    to_address=WAREHOUSE,
    parcel=Parcel(Decimal("0.8"), Decimal(25), Decimal(18), Decimal("6.5")),
    declared_value=Money.of("40.00", "USD"),
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def make_carrier(
    settings: dict[str, Any] | None = None, session: requests.Session | None = None
) -> ShippoCarrier:
    credentials = Credentials(
        "shippo-acct-1",
        secrets={"api_token": TOKEN, "webhook_token": WEBHOOK_TOKEN},
        settings=settings or {},
    )
    context = AdapterContext(data_dir=Path("/nonexistent"), http=session)
    return ShippoCarrier(credentials, context, clock=lambda: NOW)


def ground_quote() -> RateQuote:
    return RateQuote(
        carrier="shippo",
        service="USPS-usps_ground_advantage",
        account="shippo-acct-1",
        price=Money.of("5.50", "USD"),
        transit_days_min=4,
        transit_days_max=4,
        breakdown=(("postage", "5.50"), ("shippo_rate_id", "adcfdddf8ec64b84ad22772bce3ea37a")),
    )


@pytest.fixture
def shippo() -> Any:
    with responses.RequestsMock() as mocked:
        yield mocked


# --- ports --------------------------------------------------------------------------------


def test_shippo_carrier_implements_carrier_and_tracking_webhook() -> None:
    carrier = make_carrier()
    assert isinstance(carrier, Carrier)
    assert isinstance(carrier, TrackingWebhook)
    assert carrier.slug == "shippo"
    assert {"Carrier", "TrackingWebhook"} <= set(capabilities(ShippoCarrier))


def test_the_registry_discovers_shippo() -> None:
    assert Registry.discover().carriers["shippo"] is ShippoCarrier


def test_an_account_without_an_api_token_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="api_token"):
        ShippoCarrier(Credentials("acct"), AdapterContext(data_dir=Path("/nonexistent")))


# --- quote --------------------------------------------------------------------------------


def test_quote_sends_an_unswapped_return_shipment_with_the_token(shippo: Any) -> None:
    shippo.post(
        f"{API}/shipments",
        json=fixture("shipment.json"),
        status=201,
        match=[
            matchers.header_matcher({"Authorization": f"ShippoToken {TOKEN}"}),
            matchers.json_params_matcher(
                {
                    "address_from": {
                        "name": "Acme Returns",
                        "street1": "1092 Indian Summer Ct",
                        "city": "San Jose",
                        "state": "CA",
                        "zip": "95122",
                        "country": "US",
                    },
                    "address_to": {
                        "name": "Jo Buyer",
                        "street1": "965 Mission St",
                        "city": "San Francisco",
                        "state": "CA",
                        "zip": "94103",
                        "country": "US",
                        "email": "jo@example.com",
                    },
                    "parcels": [
                        {
                            "length": "25",
                            "width": "18",
                            "height": "6.5",
                            "distance_unit": "cm",
                            "weight": "0.8",
                            "mass_unit": "kg",
                        }
                    ],
                    "extra": {"is_return": True, "qr_code_requested": True},
                    "async": False,
                },
                strict_match=True,
            ),
        ],
    )
    make_carrier({"qr_code_requested": True}).quote(SHIPMENT)


def test_rates_become_quotes_cheapest_first_keeping_the_rate_id(shippo: Any) -> None:
    shippo.post(f"{API}/shipments", json=fixture("shipment.json"), status=201)

    quotes = make_carrier().quote(SHIPMENT)

    assert quotes == [
        ground_quote(),
        RateQuote(
            carrier="shippo",
            service="USPS-usps_priority",
            account="shippo-acct-1",
            price=Money(Decimal("7.85"), "USD"),
            transit_days_min=2,
            transit_days_max=2,
            breakdown=(("postage", "7.85"), ("shippo_rate_id", "ec9f0d3adc9441449c85d315f0997fd5")),
        ),
    ]


def test_quote_asks_for_no_qr_code_unless_the_account_says_so(shippo: Any) -> None:
    call = shippo.post(f"{API}/shipments", json=fixture("shipment.json"), status=201)
    make_carrier().quote(SHIPMENT)
    assert json.loads(call.calls[0].request.body)["extra"] == {
        "is_return": True,
        "qr_code_requested": False,
    }


# --- buy ----------------------------------------------------------------------------------


def test_buy_purchases_the_rate_and_downloads_the_label(shippo: Any) -> None:
    listing = shippo.get(
        f"{API}/transactions",
        json=fixture("transactions_empty.json"),
        match=[
            matchers.query_param_matcher(
                {"object_created_gt": "2026-10-27T09:00:00Z", "results": "100"}
            )
        ],
    )
    purchase = shippo.post(
        f"{API}/transactions",
        json=fixture("transaction_success.json"),
        status=201,
        match=[
            matchers.json_params_matcher(
                {
                    "rate": "adcfdddf8ec64b84ad22772bce3ea37a",
                    "label_file_type": "PDF_4x6",
                    "async": False,
                    "metadata": KEY,
                },
                strict_match=True,
            )
        ],
    )
    download = shippo.get(LABEL_URL, body=PDF, content_type="application/pdf")

    label = make_carrier().buy(SHIPMENT, ground_quote(), KEY)

    assert label == Label(
        carrier="shippo",
        service="USPS-usps_ground_advantage",
        tracking_number="9205590164917312751089",
        price=Money.of("5.50", "USD"),
        pdf=PDF,
        qr_payload=fixture("transaction_success.json")["qr_code_url"],
        external_id="915d94940ea54c3a80cbfa328722f5a1",
        tracking_carrier="usps",
    )
    assert (listing.call_count, purchase.call_count, download.call_count) == (1, 1, 1)
    assert "Authorization" not in download.calls[0].request.headers


def test_a_retried_buy_finds_the_earlier_purchase_and_does_not_buy_twice(shippo: Any) -> None:
    shippo.get(
        f"{API}/transactions",
        json=fixture("transactions_page1.json"),
        match=[
            matchers.query_param_matcher(
                {"object_created_gt": "2026-10-27T09:00:00Z"}, strict_match=False
            )
        ],
    )
    shippo.get(
        f"{API}/transactions/",
        json=fixture("transactions_page2.json"),
        match=[matchers.query_param_matcher({"page": "2", "results": "100"})],
    )
    shippo.get(LABEL_URL, body=PDF, content_type="application/pdf")

    # No POST /transactions is stubbed: a purchase would fail the test as a refused connection.
    label = make_carrier().buy(SHIPMENT, ground_quote(), KEY)

    assert not [call for call in shippo.calls if call.request.method == "POST"]
    assert label.external_id == "915d94940ea54c3a80cbfa328722f5a1"
    assert label.tracking_number == "9205590164917312751089"
    assert label.price == Money.of("5.50", "USD")
    assert label.pdf == PDF


def test_a_long_idempotency_key_is_hashed_into_shippo_metadata() -> None:
    key = "k" * 101
    assert purchase_metadata(key) == purchase_metadata(key)
    assert len(purchase_metadata(key)) <= 100
    assert purchase_metadata("short-key") == "short-key"


def test_a_transaction_error_is_permanent_with_shippos_messages(shippo: Any) -> None:
    shippo.get(f"{API}/transactions", json=fixture("transactions_empty.json"))
    shippo.post(f"{API}/transactions", json=fixture("transaction_error.json"), status=201)

    with pytest.raises(PermanentError, match="USPS: The address as submitted could not be found"):
        make_carrier().buy(SHIPMENT, ground_quote(), KEY)


def test_a_queued_transaction_is_retried_later(shippo: Any) -> None:
    shippo.get(f"{API}/transactions", json=fixture("transactions_empty.json"))
    queued = dict(fixture("transaction_success.json"), status="QUEUED", label_url="")
    shippo.post(f"{API}/transactions", json=queued, status=201)

    with pytest.raises(RetryableError, match="QUEUED"):
        make_carrier().buy(SHIPMENT, ground_quote(), KEY)


def test_buy_refuses_a_quote_of_another_account() -> None:
    foreign = RateQuote(
        carrier="shippo",
        service="USPS-usps_priority",
        account="someone-else",
        price=Money.of("7.85", "USD"),
        transit_days_min=2,
        transit_days_max=2,
    )
    with pytest.raises(PermanentError, match="someone-else"):
        make_carrier().buy(SHIPMENT, foreign, KEY)


# --- void and track -----------------------------------------------------------------------


def test_void_refunds_the_transaction(shippo: Any) -> None:
    refund = shippo.post(
        f"{API}/refunds",
        json=fixture("refund.json"),
        status=201,
        match=[
            matchers.json_params_matcher(
                {"transaction": "915d94940ea54c3a80cbfa328722f5a1", "async": False}
            )
        ],
    )
    label = Label(
        carrier="shippo",
        service="USPS-usps_ground_advantage",
        tracking_number="9205590164917312751089",
        price=Money.of("5.50", "USD"),
        external_id="915d94940ea54c3a80cbfa328722f5a1",
    )
    make_carrier().void(label)
    assert refund.call_count == 1


def test_a_refused_refund_is_permanent(shippo: Any) -> None:
    refused = dict(
        fixture("refund.json"),
        status="ERROR",
        messages=[{"source": "USPS", "text": "Label already scanned."}],
    )
    shippo.post(f"{API}/refunds", json=refused, status=201)
    label = Label(
        carrier="shippo",
        service="USPS-usps_ground_advantage",
        tracking_number="9205590164917312751089",
        price=Money.of("5.50", "USD"),
        external_id="915d94940ea54c3a80cbfa328722f5a1",
    )
    with pytest.raises(PermanentError, match="Label already scanned"):
        make_carrier().void(label)


def test_track_maps_shippo_statuses_onto_the_canonical_ones(shippo: Any) -> None:
    shippo.get(f"{API}/tracks/usps/9205590164917312751089", json=fixture("track.json"))

    events = make_carrier({"tracking_carrier": "usps"}).track("9205590164917312751089")

    assert [event.status for event in events] == [
        TrackingStatus.LABEL_CREATED,
        TrackingStatus.DROPPED_OFF,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]
    delivered = events[-1]
    assert delivered.occurred_at == datetime(2026, 11, 29, 15, 20, tzinfo=UTC)
    assert delivered.carrier_status == "DELIVERED/delivered"
    assert delivered.location == "San Jose, CA, 95122, US"
    assert delivered.description.startswith("Your shipment has been delivered")
    assert len({event.dedup_key for event in events}) == 5


def test_track_accepts_a_carrier_qualified_number(shippo: Any) -> None:
    shippo.get(f"{API}/tracks/usps/9205590164917312751089", json=fixture("track.json"))
    assert make_carrier().track("usps/9205590164917312751089")


def test_a_parcel_on_amazons_dhl_label_is_tracked_as_dhl_germany(shippo: Any) -> None:
    """A number Shippo never sold is tracked by the carrier token alone, no registration."""
    shippo.get(
        f"{API}/tracks/dhl_germany/00340434161094027318", json=fixture("track_dhl_germany.json")
    )

    events = make_carrier().track("dhl_germany/00340434161094027318")

    assert [event.status for event in events] == [
        TrackingStatus.LABEL_CREATED,
        TrackingStatus.DROPPED_OFF,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.DELIVERED,
    ]
    assert events[-1].location == "Leipzig, 04109, DE"


def test_track_without_a_carrier_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="tracking_carrier"):
        make_carrier().track("9205590164917312751089")


@pytest.mark.parametrize(
    ("status", "substatus", "expected"),
    [
        ("UNKNOWN", "", TrackingStatus.UNKNOWN),
        ("PRE_TRANSIT", "", TrackingStatus.LABEL_CREATED),
        ("TRANSIT", "package_arrived", TrackingStatus.IN_TRANSIT),
        ("DELIVERED", "delivered", TrackingStatus.DELIVERED),
        ("RETURNED", "return_to_sender", TrackingStatus.RETURNED_TO_SENDER),
        ("FAILURE", "package_lost", TrackingStatus.EXCEPTION),
        ("FAILURE", "delivery_attempted", TrackingStatus.DELIVERY_FAILED),
    ],
)
def test_each_shippo_status_has_a_canonical_status(
    status: str, substatus: str, expected: TrackingStatus
) -> None:
    from carriers.shippo.mapper import tracking_status

    assert tracking_status(status, substatus) is expected


# --- webhook ------------------------------------------------------------------------------


def test_the_webhook_token_is_checked_in_constant_time_against_the_secret() -> None:
    carrier = make_carrier()
    assert carrier.verify_token(WEBHOOK_TOKEN)
    assert not carrier.verify_token("wrong")
    assert not carrier.verify_token("")
    assert carrier.verify({"x-webhook-token": WEBHOOK_TOKEN}, b"{}")
    assert not carrier.verify({"X-Webhook-Token": "wrong"}, b"{}")
    assert not carrier.verify({}, b"{}")


def test_an_account_without_a_webhook_token_accepts_no_webhook() -> None:
    carrier = ShippoCarrier(
        Credentials("acct", secrets={"api_token": TOKEN}),
        AdapterContext(data_dir=Path("/nonexistent")),
    )
    assert not carrier.verify({"X-Webhook-Token": ""}, b"{}")


def test_a_track_updated_webhook_becomes_tracking_events_with_stable_dedup_keys() -> None:
    body = (FIXTURES / "webhook_track_updated.json").read_bytes()
    carrier = make_carrier()

    events = carrier.parse_tracking(body)

    assert [(event.status, event.carrier_status) for event in events] == [
        (TrackingStatus.LABEL_CREATED, "PRE_TRANSIT/information_received"),
        (TrackingStatus.DROPPED_OFF, "TRANSIT/package_accepted"),
        (TrackingStatus.IN_TRANSIT, "TRANSIT/package_arrived"),
    ]
    assert events[1].location == "San Francisco, CA, 94103, US"
    assert [e.dedup_key for e in carrier.parse_tracking(body)] == [e.dedup_key for e in events]
    assert events[1].dedup_key == "9205590164917312751089|2026-11-27T14:05:00+00:00|DROPPED_OFF"


def test_other_webhook_events_carry_no_tracking() -> None:
    body = (FIXTURES / "webhook_transaction_created.json").read_bytes()
    assert make_carrier().parse_tracking(body) == []


def test_a_webhook_body_that_is_not_json_is_permanent() -> None:
    with pytest.raises(PermanentError):
        make_carrier().parse_tracking(b"<html>")


# --- errors -------------------------------------------------------------------------------


def test_a_refused_token_is_permanent_with_shippos_message(shippo: Any) -> None:
    shippo.post(f"{API}/shipments", json=fixture("error_401.json"), status=401)
    with pytest.raises(PermanentError, match="401: Invalid token"):
        make_carrier().quote(SHIPMENT)


def test_a_rejected_request_is_permanent_with_the_field_errors(shippo: Any) -> None:
    shippo.post(f"{API}/shipments", json=fixture("error_400.json"), status=400)
    with pytest.raises(PermanentError, match="address_to: zip: This field is required"):
        make_carrier().quote(SHIPMENT)


def test_a_rate_limit_is_retryable_after_the_time_shippo_asks(shippo: Any) -> None:
    shippo.post(
        f"{API}/shipments",
        json={"detail": "Request was throttled."},
        status=429,
        headers={"Retry-After": "17"},
    )
    with pytest.raises(RetryableError) as raised:
        make_carrier().quote(SHIPMENT)
    assert raised.value.retry_after == 17.0


def test_a_retry_after_given_as_a_date_is_read_too(shippo: Any) -> None:
    shippo.post(
        f"{API}/shipments",
        json={"detail": "Request was throttled."},
        status=429,
        headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
    )
    with pytest.raises(RetryableError) as raised:
        make_carrier().quote(SHIPMENT)
    assert raised.value.retry_after == 0.0


def test_a_server_error_is_retryable(shippo: Any) -> None:
    shippo.post(f"{API}/shipments", body="<h1>Server Error (500)</h1>", status=500)
    with pytest.raises(RetryableError, match="500"):
        make_carrier().quote(SHIPMENT)


def test_a_timeout_is_retryable(shippo: Any) -> None:
    shippo.post(f"{API}/shipments", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(RetryableError, match="timed out"):
        make_carrier().quote(SHIPMENT)


def test_a_dropped_connection_is_retryable(shippo: Any) -> None:
    shippo.post(f"{API}/shipments", body=requests.ConnectionError("connection reset"))
    with pytest.raises(RetryableError, match="could not reach Shippo"):
        make_carrier().quote(SHIPMENT)


def test_a_success_that_is_not_json_is_permanent(shippo: Any) -> None:
    shippo.post(f"{API}/shipments", body="not json", status=201)
    with pytest.raises(PermanentError, match="no JSON"):
        make_carrier().quote(SHIPMENT)


def test_the_session_lent_by_the_app_is_used(shippo: Any) -> None:
    session = requests.Session()
    session.headers["User-Agent"] = "helloword-test"
    call = shippo.post(f"{API}/shipments", json=fixture("shipment.json"), status=201)
    make_carrier(session=session).quote(SHIPMENT)
    assert call.calls[0].request.headers["User-Agent"] == "helloword-test"
    assert "Authorization" not in session.headers


@pytest.mark.parametrize(
    ("service", "token"),
    [
        ("USPS-usps_priority", "usps"),
        ("DHL Express-dhl_express_worldwide", "dhl_express"),
        ("Canada Post-canada_post_expedited_parcel", "canada_post"),
    ],
)
def test_the_tracking_carrier_is_shippos_token_for_the_provider(service: str, token: str) -> None:
    from carriers.shippo.mapper import tracking_carrier

    assert tracking_carrier(service) == token
