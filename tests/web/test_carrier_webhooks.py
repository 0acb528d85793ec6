"""Carrier tracking webhooks: verified as the carrier signs, stored once, and the parcel's
scans move the return along (first scan: in transit; delivered: received)."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connector import ledger
from connector.db import models
from connector.services import merchants
from tests.services.test_refunds import drain

SECRET = "whsec-easypost"
EVENT = Path(__file__).parent.parent / "fixtures" / "easypost" / "event_tracker_updated.json"


def _signature(body: bytes, secret: str = SECRET) -> str:
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


@pytest.fixture
def shipped(app: Flask) -> dict[str, Any]:
    """A return awaiting shipment with an EasyPost label, and the account's webhook URL."""
    runtime = app.extensions["helloword"]
    tracking = json.loads(EVENT.read_text())["result"]["tracking_code"]
    now = datetime.now(UTC)
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Parcel Co")
        store = merchants.link_store(session, runtime.vault, merchant, "sandbox", "p.test")
        account = models.CarrierAccount(
            merchant_id=merchant.id,
            carrier="easypost",
            name="easypost-main",
            credentials=runtime.vault.seal({"api_key": "EZTK_test", "webhook_secret": SECRET}),
        )
        order = models.Order(
            merchant_id=merchant.id,
            store_id=store.id,
            external_id="o-1",
            number="#1",
            currency="USD",
            total_minor=4000,
            placed_at=now - timedelta(days=9),
            shipping_address={"country": "US", "name": "Ana"},
        )
        session.add_all([account, order])
        session.flush()
        line = models.OrderLine(
            order_id=order.id, external_id="l-1", quantity=1, unit_price_minor=4000, currency="USD"
        )
        session.add(line)
        session.flush()
        return_ = models.Return(
            merchant_id=merchant.id,
            store_id=store.id,
            order_id=order.id,
            rma="R1",
            status="AWAITING_SHIPMENT",
            requested_at=now,
            refund_trigger="inspected",
            lines=[
                models.ReturnLine(
                    order_line_id=line.id, quantity=1, reason="UNWANTED", outcome="approve"
                )
            ],
        )
        session.add(return_)
        session.flush()
        ledger.append(session, return_, "LabelIssued", {"tracking_number": tracking})
        session.add(
            models.Shipment(
                return_id=return_.id,
                kind="label",
                carrier="easypost",
                service="USPS-Ground",
                tracking_number=tracking,
                price_minor=600,
                currency="USD",
            )
        )
        return {"url": f"/webhooks/carriers/{account.id}", "return_id": return_.id}


def _count(app: Flask, model: Any) -> int:
    with app.extensions["helloword"].db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_signed_tracker_update_moves_the_return_to_received(
    app: Flask, client: FlaskClient, shipped: dict[str, Any]
) -> None:
    body = EVENT.read_bytes()
    response = client.post(
        shipped["url"], data=body, headers={"x-hmac-signature": _signature(body)}
    )
    assert response.status_code == 200, response.json
    with app.app_context():
        drain(app)
    with app.extensions["helloword"].db.session() as session:
        return_ = session.get(models.Return, shipped["return_id"])
        shipment = session.scalars(select(models.Shipment)).one()
        kinds = [
            e.kind
            for e in session.scalars(
                select(models.LedgerEvent)
                .where(models.LedgerEvent.return_id == return_.id)
                .order_by(models.LedgerEvent.seq)
            )
        ]
    assert return_.status == "RECEIVED"
    assert shipment.status == "DELIVERED"
    assert "ParcelScanned" in kinds and kinds[-1] == "ReturnReceived"
    assert _count(app, models.TrackingEvent) == 5


def test_the_same_update_twice_is_stored_once(
    app: Flask, client: FlaskClient, shipped: dict[str, Any]
) -> None:
    body = EVENT.read_bytes()
    headers = {"X-Hmac-Signature": _signature(body)}
    assert client.post(shipped["url"], data=body, headers=headers).json["status"] == "accepted"
    assert client.post(shipped["url"], data=body, headers=headers).json["status"] == "duplicate"
    assert _count(app, models.InboundEvent) == 1


def test_a_bad_signature_gets_401_and_stores_nothing(
    app: Flask, client: FlaskClient, shipped: dict[str, Any]
) -> None:
    body = EVENT.read_bytes()
    response = client.post(
        shipped["url"], data=body, headers={"X-Hmac-Signature": _signature(body, "wrong")}
    )
    assert response.status_code == 401
    assert client.post("/webhooks/carriers/999999", data=body).status_code == 401
    assert _count(app, models.InboundEvent) == 0
