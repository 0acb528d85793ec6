"""Orders are read-only here: listed with filters and pages, and read with their lines."""

from __future__ import annotations

import json
from datetime import timedelta

from connector.db import models
from connector.domain import Address, Customer, Money, Order, OrderLine
from connector.services import intake

from .conftest import PLACED
from .support import Caller


def _more_orders(runtime, tenant, count: int) -> None:
    with runtime.db.transaction() as session:
        store = session.get_one(models.Store, tenant.store_id)
        for n in range(count):
            intake.upsert_order(
                session,
                store,
                Order(
                    external_id=f"extra-{n}",
                    number=f"X{n}",
                    currency="EUR",
                    placed_at=PLACED + timedelta(days=n + 1),
                    customer=Customer(f"c-{n}", f"Other{n}@Example.com"),
                    shipping_address=Address("Bo", "Rue 1", "Paris", "75001", "FR"),
                    lines=(OrderLine("L1", "CAP", "Cap", 1, Money.of("9.90", "EUR")),),
                    total=Money.of("9.90", "EUR"),
                ),
            )


def test_an_order_reads_with_its_lines_and_money_as_decimal_strings(a: Caller):
    order = a.get(f"/api/v1/orders/{a.tenant.order_id}").json
    assert order["number"] == "1001"
    assert order["store_id"] == a.tenant.store_id
    assert order["total"] == {"amount": "62.50", "currency": "EUR"}
    assert order["customer_email"] == "buyer-1001@example.com"
    assert order["shipping_country"] == "DE"
    assert order["placed_at"] == "2025-03-01T10:00:00+00:00"
    shirt, mug = order["lines"]
    assert shirt == {
        "id": a.tenant.line_ids[0],
        "external_id": "L1",
        "sku": "SHIRT-M",
        "title": "Linen shirt",
        "quantity": 2,
        "unit_price": {"amount": "25.00", "currency": "EUR"},
        "delivered_at": "2025-03-05T15:00:00+00:00",
    }
    assert mug["unit_price"] == {"amount": "12.50", "currency": "EUR"}


def test_orders_filter_by_number_email_and_store(runtime, a: Caller):
    _more_orders(runtime, a.tenant, 3)
    by_number = a.get("/api/v1/orders?number=X1").json
    assert [order["number"] for order in by_number] == ["X1"]
    by_email = a.get("/api/v1/orders?email=other2@example.COM").json
    assert [order["number"] for order in by_email] == ["X2"]
    by_store = a.get(f"/api/v1/orders?store_id={a.tenant.store_id}").json
    assert len(by_store) == 4
    assert a.get("/api/v1/orders?store_id=999999").json == []


def test_orders_come_newest_first_in_pages(runtime, a: Caller):
    _more_orders(runtime, a.tenant, 4)
    response = a.get("/api/v1/orders?page=1&page_size=2")
    assert [order["number"] for order in response.json] == ["X3", "X2"]
    pages = json.loads(response.headers["X-Pagination"])
    assert pages["total"] == 5
    assert pages["total_pages"] == 3
    last = a.get("/api/v1/orders?page=3&page_size=2").json
    assert [order["number"] for order in last] == ["1001"]


def test_a_page_size_over_100_is_refused(a: Caller):
    response = a.get("/api/v1/orders?page_size=101")
    assert response.status_code == 422
    assert "page_size" in response.json["errors"]["query"]


def test_an_unknown_order_is_404(a: Caller):
    response = a.get("/api/v1/orders/424242")
    assert response.status_code == 404
    assert response.json["code"] == 404
