"""The webhook inbox: signatures checked on the raw body, deliveries stored once, work queued."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue
from sqlalchemy import func, select

from connector.db import models
from connector.services import merchants
from platforms.sandbox.webhooks import sign

SHOP = "webhook-test.sandbox.test"
SECRET = "current-secret"
PREVIOUS = "previous-secret"


@pytest.fixture
def store(app: Flask) -> int:
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Webhook Merchant")
        row = merchants.link_store(
            session,
            runtime.vault,
            merchant,
            "sandbox",
            SHOP,
            secrets={"webhook_secret": SECRET, "previous_webhook_secret": PREVIOUS},
        )
        return row.id


def _deliver(
    client: FlaskClient,
    body: bytes,
    *,
    secret: str = SECRET,
    event_id: str | None = None,
    topic: str = "orders/create",
    shop: str = SHOP,
    signature: str | None = None,
) -> Any:
    headers = {
        "X-Sandbox-Topic": topic,
        "X-Sandbox-Shop-Domain": shop,
        "X-Sandbox-Event-Id": event_id or str(uuid.uuid4()),
        "X-Sandbox-Hmac-Sha256": signature if signature is not None else sign(body, secret),
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/sandbox", data=body, headers=headers)


def _inbound_count(app: Flask) -> int:
    with app.extensions["helloword"].db.session() as session:
        return session.scalar(select(func.count()).select_from(models.InboundEvent)) or 0


def _queued(app: Flask) -> list[str]:
    runtime = app.extensions["helloword"]
    return Queue(runtime.settings.queue_name, connection=runtime.redis).get_job_ids()


BODY = json.dumps({"id": 1001, "name": "#1001"}).encode()


def test_signed_delivery_is_stored_and_queued(app: Flask, client: FlaskClient, store: int) -> None:
    response = _deliver(client, BODY, event_id="evt-1")
    assert response.status_code == 200
    assert response.get_json()["status"] == "accepted"
    assert _inbound_count(app) == 1
    with app.extensions["helloword"].db.session() as session:
        row = session.scalars(select(models.InboundEvent)).one()
    assert row.store_id == store and row.topic == "orders/create" and row.body == BODY.decode()
    assert _queued(app) == [f"inbound-{row.id}"]


def test_bad_signature_gets_401_and_stores_nothing(
    app: Flask, client: FlaskClient, store: int
) -> None:
    response = _deliver(client, BODY, secret="not-the-secret")
    assert response.status_code == 401
    assert _inbound_count(app) == 0
    assert _queued(app) == []


def test_missing_signature_gets_401(app: Flask, client: FlaskClient, store: int) -> None:
    assert _deliver(client, BODY, signature="").status_code == 401
    assert _inbound_count(app) == 0


def test_body_changed_after_signing_gets_401(app: Flask, client: FlaskClient, store: int) -> None:
    signature = sign(BODY, SECRET)
    response = _deliver(client, BODY.replace(b"1001", b"1002"), signature=signature)
    assert response.status_code == 401
    assert _inbound_count(app) == 0


def test_unknown_shop_gets_401(app: Flask, client: FlaskClient, store: int) -> None:
    assert _deliver(client, BODY, shop="someone-else.sandbox.test").status_code == 401
    assert _inbound_count(app) == 0


def test_previous_secret_still_verifies_during_rotation(
    app: Flask, client: FlaskClient, store: int
) -> None:
    assert _deliver(client, BODY, secret=PREVIOUS).status_code == 200
    assert _inbound_count(app) == 1


def test_duplicate_delivery_is_stored_once(app: Flask, client: FlaskClient, store: int) -> None:
    first = _deliver(client, BODY, event_id="evt-dup")
    second = _deliver(client, BODY, event_id="evt-dup")
    assert first.status_code == second.status_code == 200
    assert second.get_json()["status"] == "duplicate"
    assert _inbound_count(app) == 1
    assert len(_queued(app)) == 1


def test_unknown_platform_is_404(client: FlaskClient, store: int) -> None:
    assert client.post("/webhooks/nowhere", data=BODY).status_code == 404


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}
