"""Two merchants, each with an API key, a sandbox store and one delivered order, built through
the services; callers that reach the API as either of them; the job queue to look into."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue

from connector.domain import Address, Customer, Money, Order, OrderLine
from connector.runtime import Runtime
from connector.services import intake, merchants

from .support import Caller, Tenant

PLACED = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
DELIVERED = datetime(2025, 3, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["helloword"]
    return runtime


@pytest.fixture
def queue(runtime: Runtime) -> Iterator[Queue]:
    connection = Redis.from_url(runtime.redis_url)
    yield Queue(runtime.settings.queue_name, connection=connection)
    connection.close()


def _order(number: str, country: str) -> Order:
    shirt = OrderLine(
        "L1", "SHIRT-M", "Linen shirt", 2, Money.of("25.00", "EUR"), delivered_at=DELIVERED
    )
    mug = OrderLine(
        "L2", "MUG", "Stoneware mug", 1, Money.of("12.50", "EUR"), delivered_at=DELIVERED
    )
    return Order(
        external_id=f"order-{number}",
        number=number,
        currency="EUR",
        placed_at=PLACED,
        customer=Customer(f"customer-{number}", f"buyer-{number}@example.com", "Ana Buyer"),
        shipping_address=Address("Ana Buyer", "Hauptstr. 1", "Berlin", "10115", country),
        lines=(shirt, mug),
        total=Money.of("62.50", "EUR"),
        delivered_at=DELIVERED,
    )


def _tenant(runtime: Runtime, name: str, shop: str, order_number: str, country: str) -> Tenant:
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, name, currency="EUR")
        _, key = merchants.create_api_key(session, merchant, name="tests")
        store = merchants.link_store(
            session, runtime.vault, merchant, "sandbox", shop, name=name, secrets={"token": "s3"}
        )
        order = intake.upsert_order(session, store, _order(order_number, country))
        return Tenant(merchant.id, key, store.id, order.id, tuple(line.id for line in order.lines))


@pytest.fixture
def tenant_a(runtime: Runtime) -> Tenant:
    return _tenant(runtime, "Ana's Linen", "ana.sandbox", "1001", "DE")


@pytest.fixture
def tenant_b(runtime: Runtime) -> Tenant:
    return _tenant(runtime, "Bo's Boards", "bo.sandbox", "2001", "FR")


@pytest.fixture
def a(client: FlaskClient, tenant_a: Tenant) -> Caller:
    """The API as merchant A."""
    return Caller(client, tenant_a)


@pytest.fixture
def b(client: FlaskClient, tenant_b: Tenant) -> Caller:
    """The API as merchant B."""
    return Caller(client, tenant_b)
