"""Shopify's webhooks through the whole application: signed deliveries to /webhooks/shopify are
stored once and answered at once, and the jobs re-read Shopify, store orders and returns, push
the decision back, follow the returns Shopify's admin settles, and honour the compliance and
uninstall topics. Shopify's API is the stateful stand-in of the contract suite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connector.db import models
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.jobs import enqueue_all
from connector.services import fx, intake, merchants, policies
from platforms.shopify.webhooks import headers_for
from tests.contract.shopify_store import FakeShopify, Line
from tests.services.test_refunds import drain

SHOP = "ateliernord.myshopify.com"
TOKEN = "shpat_webhook_test"
SECRET = "shopify-webhook-secret"
LINES = [Line("Linen Overshirt", "LIN-OVR-M-SND", 2, "49.50", "54.00", hs_code="620530")]


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeShopify(SHOP, TOKEN)
        fake.install(mock)
        yield fake


@pytest.fixture(autouse=True)
def _in_app(app: Flask) -> Iterator[None]:
    with app.app_context():  # the jobs drained in these tests find the runtime there
        yield


@pytest.fixture
def store_id(app: Flask) -> int:
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        fx.store_reference_rates(session)  # what `helloword db upgrade` gives a new install
        merchant = merchants.create_merchant(session, "Atelier Nord", "EUR")
        store = merchants.link_store(
            session,
            runtime.vault,
            merchant,
            "shopify",
            SHOP,
            secrets={"access_token": TOKEN, "webhook_secret": SECRET},
            settings={"location_id": "gid://shopify/Location/1"},
        )
        return store.id


def _deliver(
    client: FlaskClient,
    topic: str,
    payload: dict[str, Any],
    *,
    secret: str = SECRET,
    shop: str = SHOP,
    event_id: str | None = None,
) -> Any:
    body = json.dumps(payload).encode()
    headers = headers_for(
        body, secret, topic, shop, event_id or str(uuid.uuid4()), datetime.now(UTC)
    )
    return client.post("/webhooks/shopify", data=body, headers=headers)


def _count(app: Flask, model: type[models.Base]) -> int:
    with app.extensions["helloword"].db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_order_delivery_is_stored_once_and_the_order_read_back(
    app: Flask, client: FlaskClient, shopify: FakeShopify, store_id: int
) -> None:
    order = shopify.add_order(LINES)
    payload = {"id": int(order["legacyResourceId"]), "admin_graphql_api_id": order["id"]}

    first = _deliver(client, "orders/create", payload, event_id="evt-order-1")
    again = _deliver(client, "orders/create", payload, event_id="evt-order-1")

    assert first.status_code == 200 and first.json["status"] == "accepted"
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert _count(app, models.InboundEvent) == 1
    drain(app)
    with app.extensions["helloword"].db.session() as session:
        stored = session.scalars(select(models.Order)).one()
        assert (stored.external_id, stored.currency, stored.store_id) == (
            order["id"],
            "EUR",
            store_id,
        )
    assert shopify.operations() == ["Order"]


@pytest.mark.parametrize(
    ("secret", "shop"),
    [("guessed-secret", SHOP), (SECRET, "stranger.myshopify.com")],
    ids=["forged", "unknown shop"],
)
def test_a_forged_or_foreign_delivery_gets_401_and_leaves_nothing(
    app: Flask, client: FlaskClient, store_id: int, secret: str, shop: str
) -> None:
    response = _deliver(client, "orders/create", {"id": 1}, secret=secret, shop=shop)

    assert response.status_code == 401
    assert _count(app, models.InboundEvent) == 0


def test_a_return_asked_on_shopify_is_decided_and_the_decision_goes_back(
    app: Flask, client: FlaskClient, shopify: FakeShopify, store_id: int
) -> None:
    order = shopify.add_order(LINES)
    line = order["lineItems"]["nodes"][0]
    return_id = shopify.request_return(order["id"], [(line["id"], 1, "SIZE_TOO_SMALL")])

    response = _deliver(client, "returns/request", {"admin_graphql_api_id": return_id})
    assert response.status_code == 200
    drain(app)

    with app.extensions["helloword"].db.session() as session:
        stored = session.scalars(select(models.Return)).one()
        assert stored.external_id == return_id
        assert stored.lines[0].reason == "SIZE_TOO_SMALL"
        assert stored.status not in ("REQUESTED", "DECLINED")
        kinds = [
            kind
            for kind in session.scalars(
                select(models.LedgerEvent.kind).where(models.LedgerEvent.return_id == stored.id)
            )
        ]
    assert "ReturnDecided" in kinds
    assert shopify.returns[return_id]["status"] in ("OPEN", "CLOSED")
    assert "ReturnApproveRequest" in shopify.operations()


@pytest.mark.parametrize(
    ("topic", "shopify_status", "ours"),
    [
        ("returns/cancel", "CANCELED", {"CANCELED"}),
        ("returns/decline", "DECLINED", {"DECLINED"}),
        # approved on Shopify's admin: ours goes on to its route and refund
        ("returns/approve", "OPEN", {"APPROVED", "AWAITING_SHIPMENT", "RESOLVED", "CLOSED"}),
    ],
)
def test_a_return_in_review_settled_on_shopify_is_settled_here(
    app: Flask,
    client: FlaskClient,
    shopify: FakeShopify,
    store_id: int,
    topic: str,
    shopify_status: str,
    ours: set[str],
) -> None:
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:  # a policy that sends every return to review
        policies.save(
            session,
            session.get(models.Store, store_id).merchant_id,
            {
                "defaults": {"window_days": 3650},
                "rules": [
                    {
                        "id": "look-first",
                        "when": {"quantity": {"gte": 1}},
                        "then": {"decision": "review", "queue": "everything"},
                    }
                ],
            },
        )
    order = shopify.add_order(LINES)
    line = order["lineItems"]["nodes"][0]
    return_id = shopify.request_return(order["id"], [(line["id"], 1, "UNWANTED")])
    _deliver(client, "returns/request", {"admin_graphql_api_id": return_id})
    drain(app)
    with runtime.db.session() as session:
        assert session.scalars(select(models.Return.status)).one() == "IN_REVIEW"

    shopify.returns[return_id]["status"] = shopify_status
    _deliver(client, topic, {"admin_graphql_api_id": return_id})
    drain(app)

    with runtime.db.session() as session:
        assert session.scalars(select(models.Return.status)).one() in ours


def test_compliance_and_uninstall_deliveries_are_honoured(
    app: Flask, client: FlaskClient, shopify: FakeShopify, store_id: int
) -> None:
    runtime = app.extensions["helloword"]
    order = shopify.add_order(LINES)
    _deliver(client, "orders/create", {"admin_graphql_api_id": order["id"]})
    drain(app)
    with runtime.db.session() as session:
        customer = session.scalars(select(models.Customer)).one()
        email, customer_id = customer.email, customer.external_id
    assert email

    _deliver(
        client,
        "customers/data_request",
        {
            "shop_id": 954889,
            "shop_domain": SHOP,
            "orders_requested": [int(order["legacyResourceId"])],
            "customer": {"id": int(customer_id.rsplit("/", 1)[-1]), "email": email},
            "data_request": {"id": 9999},
        },
    )
    _deliver(
        client,
        "customers/redact",
        {
            "shop_id": 954889,
            "shop_domain": SHOP,
            "customer": {"id": int(customer_id.rsplit("/", 1)[-1]), "email": email},
            "orders_to_redact": [int(order["legacyResourceId"])],
        },
    )
    _deliver(client, "app/uninstalled", {"id": 954889, "domain": SHOP})
    drain(app)

    with runtime.db.session() as session:
        kinds = [r.kind for r in session.scalars(select(models.PrivacyRequest))]
        customer = session.scalars(select(models.Customer)).one()
        store = session.get(models.Store, store_id)
        secrets = runtime.vault.open(store.credentials)
    assert sorted(kinds) == ["customer_redact", "data_request"]
    assert (customer.email, customer.name) == ("", "")
    assert store.status == "uninstalled"
    assert secrets == {"webhook_secret": SECRET}

    # the shop's erasure comes after the uninstall, and is still verified and honoured
    response = _deliver(client, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
    assert response.status_code == 200
    drain(app)
    with runtime.db.session() as session:
        assert "shop_redact" in [r.kind for r in session.scalars(select(models.PrivacyRequest))]


def test_a_return_asked_in_helloword_is_created_on_shopify_once_approved(
    app: Flask, client: FlaskClient, shopify: FakeShopify, store_id: int
) -> None:
    runtime = app.extensions["helloword"]
    order = shopify.add_order(LINES)
    _deliver(client, "orders/create", {"admin_graphql_api_id": order["id"]})
    drain(app)
    with runtime.db.transaction() as session:
        store = session.get(models.Store, store_id)
        policies.save(session, store.merchant_id, {"defaults": {"window_days": 3650}})
        stored = session.scalars(select(models.Order)).one()
        request = ReturnRequest(
            order_external_id=stored.external_id,
            lines=(
                ReturnLine(stored.lines[0].external_id, 1, Reason.SIZE_TOO_LARGE, Condition.UNUSED),
            ),
            requested_at=datetime.now(UTC),
        )
        return_, follow_ups = intake.create_return(session, store, stored, request, source="api")
        return_id = return_.id
    enqueue_all(runtime, follow_ups)
    drain(app)

    with runtime.db.session() as session:
        external_id = session.get(models.Return, return_id).external_id
    assert external_id in shopify.returns
    created = shopify.returns[external_id]
    assert [(line["quantity"], line["returnReason"]) for line in created["lines"]] == [
        (1, "SIZE_TOO_LARGE")
    ]
    assert shopify.operations().count("ReturnCreate") == 1


def test_the_merchant_picks_the_restock_location_from_the_stores_locations(
    app: Flask, client: FlaskClient, shopify: FakeShopify, store_id: int
) -> None:
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        merchant = session.get(models.Store, store_id).merchant_id
        _, key = merchants.create_api_key(session, session.get(models.Merchant, merchant))
    headers = {"Authorization": f"Bearer {key}"}

    listed = client.get(f"/api/v1/stores/{store_id}/locations", headers=headers)
    chosen = client.patch(
        f"/api/v1/stores/{store_id}/settings",
        json={"settings": {"location_id": listed.json[0]["id"], "notify_customer": None}},
        headers=headers,
    )
    reserved = client.patch(
        f"/api/v1/stores/{store_id}/settings",
        json={"settings": {"backfill": {}}},
        headers=headers,
    )

    assert listed.status_code == 200, listed.json
    assert listed.json[0]["id"].startswith("gid://shopify/Location/")
    assert chosen.status_code == 200
    assert chosen.json["settings"]["location_id"] == listed.json[0]["id"]
    assert reserved.status_code == 422
    with runtime.db.session() as session:  # the credentials are untouched
        store = session.get(models.Store, store_id)
        assert runtime.vault.open(store.credentials)["access_token"] == TOKEN
