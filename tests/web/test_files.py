"""Signed label links: the buyer downloads with no key; a forged or expired link gets nothing."""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from connector import links
from connector.db import models
from connector.db.types import utcnow
from connector.services import merchants


def _label(app: Flask) -> int:
    runtime = app.extensions["helloword"]
    path = runtime.files.write("labels/R9/RC1.pdf", b"%PDF-1.4 label")
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Links Co")
        store = merchants.link_store(session, runtime.vault, merchant, "sandbox", "l.test")
        order = models.Order(
            merchant_id=merchant.id,
            store_id=store.id,
            external_id="o",
            number="#1",
            currency="USD",
            total_minor=100,
            placed_at=utcnow(),
        )
        session.add(order)
        session.flush()
        return_ = models.Return(
            merchant_id=merchant.id,
            store_id=store.id,
            order_id=order.id,
            rma="R9",
            requested_at=utcnow(),
        )
        session.add(return_)
        session.flush()
        shipment = models.Shipment(
            return_id=return_.id,
            kind="label",
            carrier="ratecard",
            service="X",
            tracking_number="RC1",
            price_minor=1,
            currency="USD",
        )
        session.add(shipment)
        session.flush()
        label = models.LabelFile(shipment_id=shipment.id, format="pdf", path=path)
        session.add(label)
        session.flush()
        return label.id


def test_a_signed_link_downloads_the_label_without_a_key(app: Flask, client: FlaskClient) -> None:
    settings = app.extensions["helloword"].settings
    url = links.file_url(settings.secret_key, settings.public_url, _label(app))
    response = client.get(url.removeprefix(settings.public_url))
    assert response.status_code == 200
    assert response.data == b"%PDF-1.4 label"
    assert response.mimetype == "application/pdf"
    assert "R9.pdf" in response.headers["Content-Disposition"]


def test_a_forged_link_is_not_found(app: Flask, client: FlaskClient) -> None:
    settings = app.extensions["helloword"].settings
    label_id = _label(app)
    forged = links.file_url("another-secret", settings.public_url, label_id)
    assert client.get(forged.removeprefix(settings.public_url)).status_code == 404


class _SignedLongAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - links.VALID_FOR - 60


def test_an_expired_link_is_gone(app: Flask, client: FlaskClient) -> None:
    settings = app.extensions["helloword"].settings
    old = URLSafeTimedSerializer(settings.secret_key, salt=links.SALT, signer=_SignedLongAgo)
    token = old.dumps({"file": _label(app)})
    assert client.get(f"/files/{token}").status_code == 410
