"""A parcel on the platform's own prepaid label (Amazon's) is followed through the merchant's
aggregator account when one tracks its carrier where it is posted: polls and the aggregator's
webhooks move the return in transit, then received. Without such an account the parcel is left
to the platform, whose reported delivery is recorded once."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import unicodedata
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from responses import matchers
from sqlalchemy import func, select, update

from connector import jobs, ledger
from connector.db import models
from connector.db.types import utcnow
from connector.domain import TrackingEvent, TrackingStatus
from connector.errors import NothingToDo
from connector.runtime import Runtime
from connector.services import logistics, merchants, tracking_carriers
from connector.services.tracking_carriers import TableError
from tests.services.test_refunds import drain

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NUMBER = "00340434161094027318"  # DHL Paket, as in Amazon.de's returns report
SHIPPO_TRACK = f"https://api.goshippo.com/tracks/dhl_germany/{NUMBER}"
EASYPOST = "https://api.easypost.com/v2"
WEBHOOK_SECRET = "whsec-easypost"
SELLER = "A3AMZSELLER42"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def amazon_return(
    runtime: Runtime,
    accounts: tuple[tuple[str, str], ...] = (),
    carrier: str = "DHL",
    country: str = "DE",
    number: str = NUMBER,
) -> int:
    """An approved Amazon return whose buyer has Amazon's prepaid label, for a merchant with
    the carrier ``accounts`` (carrier slug, account name) linked in that order."""
    now = datetime.now(UTC)
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Nordic Knits", "EUR")
        store = merchants.link_store(session, runtime.vault, merchant, "amazon", SELLER)
        for slug, name in accounts:
            session.add(
                models.CarrierAccount(
                    merchant_id=merchant.id,
                    carrier=slug,
                    name=name,
                    credentials=runtime.vault.seal(
                        {
                            "api_token": "shippo_live_token",
                            "api_key": "EZAK_live_key",
                            "webhook_secret": WEBHOOK_SECRET,
                        }
                    ),
                )
            )
        order = models.Order(
            merchant_id=merchant.id,
            store_id=store.id,
            external_id=f"302-{number[-7:]}-0000001",
            number=f"302-{number[-7:]}-0000001",
            currency="EUR",
            total_minor=1900,
            placed_at=now - timedelta(days=9),
            shipping_address={"name": "Jan Käufer", "city": "Berlin", "country": country},
        )
        session.add(order)
        session.flush()
        line = models.OrderLine(
            order_id=order.id, external_id="l-1", quantity=1, unit_price_minor=1900, currency="EUR"
        )
        session.add(line)
        session.flush()
        return_ = models.Return(
            merchant_id=merchant.id,
            store_id=store.id,
            order_id=order.id,
            rma=f"RMA-{number[-6:]}",
            status="APPROVED",
            requested_at=now,
            refund_trigger="inspected",
            lines=[
                models.ReturnLine(
                    order_line_id=line.id, quantity=1, reason="DEFECTIVE", outcome="approve"
                )
            ],
        )
        session.add(return_)
        session.flush()
        ledger.append(
            session,
            return_,
            "ReturnRequested",
            {"platform_label": {"carrier": carrier, "tracking_number": number}},
        )
        return return_.id


def ship(app: Flask, return_id: int) -> models.Shipment:
    """Route and fulfil the return: its shipment is the platform's label."""
    runtime = app.extensions["helloword"]
    with app.app_context():
        jobs.enqueue(runtime, "route_return", return_id, job_id=f"route_return:{return_id}")
        drain(app)
    with runtime.db.session() as session:
        return session.scalars(
            select(models.Shipment).where(models.Shipment.return_id == return_id)
        ).one()


def status_of(app: Flask, return_id: int) -> str:
    with app.extensions["helloword"].db.session() as session:
        return session.get(models.Return, return_id).status


def poll(app: Flask) -> dict[str, Any]:
    """Poll as the cron does, once every shipment's last poll is old enough."""
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        session.execute(update(models.Shipment).values(updated_at=utcnow() - timedelta(hours=1)))
    with app.app_context():
        polled = jobs.poll_tracking()
        drain(app)
    return polled


def count(app: Flask, model: Any) -> int:
    with app.extensions["helloword"].db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def ledger_kinds(app: Flask, return_id: int) -> list[str]:
    with app.extensions["helloword"].db.session() as session:
        return list(
            session.scalars(
                select(models.LedgerEvent.kind)
                .where(models.LedgerEvent.return_id == return_id)
                .order_by(models.LedgerEvent.seq)
            )
        )


def in_transit_only(track: dict[str, Any]) -> dict[str, Any]:
    """The same Track as Shippo answers it before delivery: the history up to the last
    TRANSIT scan, which is also its ``tracking_status``."""
    earlier = deepcopy(track)
    earlier["tracking_history"] = [
        scan for scan in earlier["tracking_history"] if scan["status"] != "DELIVERED"
    ]
    earlier["tracking_status"] = deepcopy(earlier["tracking_history"][-1])
    return earlier


# --- the account that follows the parcel ----------------------------------------------------


@pytest.mark.parametrize(
    ("accounts", "carrier", "country", "account", "token"),
    [
        ((("shippo", "shippo-main"),), "DHL", "DE", "shippo-main", "dhl_germany"),
        ((("easypost", "ep"),), "DHL", "DE", "ep", "DHLPaket"),
        ((("shippo", "shippo-main"),), "DHL", "US", "shippo-main", "dhl_ecommerce"),
        (
            (("shippo", "shippo-main"), ("easypost", "ep")),
            "DHL",
            "DE",
            "shippo-main",
            "dhl_germany",
        ),
        ((("shippo", "shippo-main"), ("easypost", "ep")), "Yamato", "JP", "ep", "KuronekoYamato"),
        ((("shippo", "shippo-main"),), "Royal Mail", "GB", "shippo-main", "royal_mail"),
        ((("ratecard", "rates"), ("shippo", "shippo-main")), "UPS", "IT", "shippo-main", "ups"),
    ],
)
def test_a_parcel_on_amazons_label_is_followed_by_the_oldest_account_that_tracks_its_carrier(
    app: Flask,
    accounts: tuple[tuple[str, str], ...],
    carrier: str,
    country: str,
    account: str,
    token: str,
) -> None:
    return_id = amazon_return(app.extensions["helloword"], accounts, carrier, country)

    shipment = ship(app, return_id)

    assert (shipment.kind, shipment.carrier, shipment.tracking_number) == (
        "platform_label",
        carrier.lower(),
        NUMBER,
    )
    assert (shipment.account, shipment.tracking_carrier) == (account, token)
    assert status_of(app, return_id) == "AWAITING_SHIPMENT"
    with app.extensions["helloword"].db.session() as session:
        issued = session.scalars(
            select(models.LedgerEvent.payload).where(
                models.LedgerEvent.return_id == return_id, models.LedgerEvent.kind == "LabelIssued"
            )
        ).one()
    assert issued["followed_with"] == account


def test_a_carrier_no_aggregator_tracks_is_left_to_amazon_and_said_in_the_log(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    return_id = amazon_return(
        app.extensions["helloword"], (("shippo", "shippo-main"),), "Yodel", "GB"
    )

    with caplog.at_level(logging.WARNING, logger="connector.services.logistics"):
        shipment = ship(app, return_id)

    assert (shipment.account, shipment.tracking_carrier) == ("", "")
    assert status_of(app, return_id) == "AWAITING_SHIPMENT"
    assert "no aggregator account tracks 'yodel' posted in GB (shippo-main)" in caplog.text
    with app.extensions["helloword"].db.session() as session:
        assert logistics.shipments_to_poll(session, 10) == []


def test_without_an_aggregator_account_the_parcel_waits_for_amazon(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    return_id = amazon_return(app.extensions["helloword"], (("ratecard", "rates"),))

    with caplog.at_level(logging.INFO, logger="connector.services.logistics"):
        shipment = ship(app, return_id)

    assert (shipment.account, shipment.tracking_carrier) == ("", "")
    assert "has no aggregator account" in caplog.text
    assert poll(app) == {"polled": 0}


# --- polls and webhooks move the return -----------------------------------------------------


@responses.activate
def test_shippo_polls_move_the_return_in_transit_then_received(app: Flask) -> None:
    return_id = amazon_return(app.extensions["helloword"], (("shippo", "shippo-main"),))
    ship(app, return_id)
    track = fixture("shippo/track_dhl_germany.json")
    auth = matchers.header_matcher({"Authorization": "ShippoToken shippo_live_token"})
    responses.get(SHIPPO_TRACK, json=in_transit_only(track), match=[auth])

    assert poll(app) == {"polled": 1}
    assert status_of(app, return_id) == "IN_TRANSIT"

    responses.replace(responses.GET, SHIPPO_TRACK, json=track)
    assert poll(app) == {"polled": 1}
    assert status_of(app, return_id) == "RECEIVED"
    assert poll(app) == {"polled": 0}  # delivered: no longer asked about
    with app.extensions["helloword"].db.session() as session:
        shipment = session.scalars(select(models.Shipment)).one()
        receipt = session.scalars(select(models.Receipt)).one()
    assert shipment.status == "DELIVERED"
    assert receipt.received_by == "carrier:dhl"
    assert count(app, models.TrackingEvent) == 4
    assert ledger_kinds(app, return_id)[-3:] == ["ParcelScanned", "ParcelScanned", "ReturnReceived"]


@responses.activate
def test_easypost_creates_its_tracker_on_the_first_poll_and_only_then(app: Flask) -> None:
    return_id = amazon_return(app.extensions["helloword"], (("easypost", "ep"),))
    ship(app, return_id)
    tracker = fixture("easypost/tracker_dhl_paket.json")
    in_transit = deepcopy(tracker)
    in_transit["status"], in_transit["status_detail"] = "in_transit", "arrived_at_facility"
    in_transit["tracking_details"] = tracker["tracking_details"][:3]
    listed = matchers.query_param_matcher({"tracking_code": NUMBER, "carrier": "DHLPaket"})
    responses.get(f"{EASYPOST}/trackers", json={"trackers": [], "has_more": False}, match=[listed])
    create = responses.post(
        f"{EASYPOST}/trackers",
        json=in_transit,
        status=201,
        match=[
            matchers.json_params_matcher(
                {"tracker": {"tracking_code": NUMBER, "carrier": "DHLPaket"}}
            )
        ],
    )

    assert poll(app) == {"polled": 1}
    assert status_of(app, return_id) == "IN_TRANSIT"

    responses.replace(
        responses.GET,
        f"{EASYPOST}/trackers",
        json={"trackers": [tracker], "has_more": False},
        match=[listed],
    )
    assert poll(app) == {"polled": 1}
    assert status_of(app, return_id) == "RECEIVED"
    assert create.call_count == 1


def _signature(body: bytes) -> str:
    key = unicodedata.normalize("NFKD", WEBHOOK_SECRET).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def test_the_aggregators_webhook_finds_the_parcel_it_follows_for_another_carrier(
    app: Flask, client: FlaskClient
) -> None:
    """EasyPost's ``tracker.updated`` names no Helloword carrier: the parcel is found as the
    one the account of that carrier follows, though its carrier is Amazon's "dhl"."""
    runtime = app.extensions["helloword"]
    return_id = amazon_return(runtime, (("easypost", "ep"),))
    ship(app, return_id)
    event = fixture("easypost/event_tracker_updated.json")
    event["result"] = fixture("easypost/tracker_dhl_paket.json")
    body = json.dumps(event).encode()
    with runtime.db.session() as session:
        account_id = session.scalars(select(models.CarrierAccount.id)).one()

    response = client.post(
        f"/webhooks/carriers/{account_id}",
        data=body,
        headers={"X-Hmac-Signature": _signature(body)},
    )
    assert response.status_code == 200, response.json
    with app.app_context():
        drain(app)

    assert status_of(app, return_id) == "RECEIVED"
    assert count(app, models.TrackingEvent) == 4


def test_scans_reach_only_the_parcel_an_account_of_that_carrier_follows(app: Flask) -> None:
    """Another merchant's account of the same name, of another carrier, claims nothing; a
    label a carrier sold is still found by its own carrier, as before."""
    runtime = app.extensions["helloword"]
    return_id = amazon_return(runtime, (("easypost", "main"),))
    ship(app, return_id)
    with runtime.db.transaction() as session:
        other = merchants.create_merchant(session, "Other Shop", "EUR")
        session.add(models.CarrierAccount(merchant_id=other.id, carrier="shippo", name="main"))
    events = [
        TrackingEvent(NUMBER, TrackingStatus.IN_TRANSIT, datetime(2025, 7, 15, 10, 41, tzinfo=UTC))
    ]

    with runtime.db.transaction() as session:
        assert logistics.record_tracking(session, "shippo", events) == []
    assert status_of(app, return_id) == "AWAITING_SHIPMENT"

    with runtime.db.transaction() as session:
        logistics.record_tracking(session, "easypost", events)
    assert status_of(app, return_id) == "IN_TRANSIT"

    with runtime.db.transaction() as session:
        logistics.record_tracking(session, "dhl", events)  # a poll: the shipment's own carrier
    assert count(app, models.TrackingEvent) == 1


# --- the platform's own report of delivery --------------------------------------------------


def test_a_delivery_amazon_reports_is_recorded_once_and_receives_the_return(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    return_id = amazon_return(runtime)
    ship(app, return_id)
    delivered_at = datetime(2025, 7, 17, 9, 55, tzinfo=UTC)

    with runtime.db.transaction() as session:
        assert logistics.record_platform_delivery(session, return_id, delivered_at, "amazon") == []
    kinds = ledger_kinds(app, return_id)
    with runtime.db.transaction() as session:
        again = delivered_at.replace(hour=18)  # the same day, read again from a later report
        assert logistics.record_platform_delivery(session, return_id, again, "amazon") == []

    assert ledger_kinds(app, return_id) == kinds
    assert kinds[-3:] == ["ParcelScanned", "ParcelScanned", "ReturnReceived"]
    assert status_of(app, return_id) == "RECEIVED"
    with runtime.db.session() as session:
        [event] = session.scalars(select(models.TrackingEvent)).all()
        shipment = session.scalars(select(models.Shipment)).one()
        receipt = session.scalars(select(models.Receipt)).one()
    assert (event.status, event.occurred_at, event.carrier_status) == (
        "DELIVERED",
        delivered_at,
        "amazon:delivered",
    )
    assert shipment.status == "DELIVERED"
    assert (receipt.received_by, receipt.note) == ("amazon", "delivered, as amazon reports")


def test_a_reported_delivery_of_a_return_not_yet_on_its_way_changes_nothing(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    return_id = amazon_return(runtime)  # approved, not routed: no shipment yet

    with runtime.db.transaction() as session:
        assert logistics.record_platform_delivery(session, return_id, utcnow(), "amazon") == []

    assert count(app, models.TrackingEvent) == 0
    assert status_of(app, return_id) == "APPROVED"


def test_the_label_of_an_expired_return_on_amazons_label_is_voided_by_no_one(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    shipment = ship(app, amazon_return(runtime, (("shippo", "shippo-main"),)))

    with runtime.db.session() as session, pytest.raises(NothingToDo, match="platform's label"):
        logistics.label_to_void(session, shipment.id)


# --- the table of carriers the aggregators track --------------------------------------------


def test_the_bundled_table_reads_and_knows_dhl_by_the_country_it_is_posted_in() -> None:
    table = tracking_carriers.load()

    assert table.aggregators == {"shippo", "easypost"}
    assert table.token("shippo", "DHL", "DE") == "dhl_germany"
    assert table.token("shippo", "dhl", "us") == "dhl_ecommerce"
    assert table.token("shippo", "DHL", "FR") == ""  # not guessed: DHL Express is not DHL
    assert table.token("shippo", "DHL-Express", "FR") == "dhl_express"
    assert table.token("easypost", "ROYAL MAIL", "GB") == "RoyalMail"
    assert table.token("shippo", "Yamato", "JP") == ""
    assert table.token("shippo", "Hermes", "DE") == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("carrier,country,aggregator,token\n", "line 1: the header must be"),
        (
            "carrier,country,aggregator,token,note\ndhl,DEU,shippo,dhl_germany,\n",
            "line 2, column country",
        ),
        (
            "carrier,country,aggregator,token,note\ndhl,DE,shippo,,\n",
            "line 2, column token: is empty",
        ),
        (
            "carrier,country,aggregator,token,note\nups,,shippo,ups,\nUPS,,shippo,ups,\n",
            "line 3, column carrier: 'ups' in any country for shippo twice",
        ),
        ("carrier,country,aggregator,token,note\nups,,shippo\n", "line 2: needs exactly 5 cells"),
    ],
)
def test_a_table_that_cannot_be_used_names_the_line_to_fix(text: str, message: str) -> None:
    with pytest.raises(TableError, match=re.escape(message)):
        tracking_carriers.load(text)
