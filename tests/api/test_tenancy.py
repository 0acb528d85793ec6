"""One merchant never sees another's data: their ids answer 404, exactly like ids that do not
exist, and their rows never show in a list."""

from __future__ import annotations

import pytest

from connector.db import models

from .support import Caller, add_label, count_rows, set_return

MISSING = 999_999


def _a_return_with_a_label(runtime, a: Caller) -> int:
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="AWAITING_SHIPMENT")
    add_label(runtime, return_id, {"pdf": b"%PDF-1.4 label"})
    return return_id


def test_lists_show_only_the_callers_own_rows(a: Caller, b: Caller):
    return_id = a.new_return_id()

    assert [store["id"] for store in b.get("/api/v1/stores").json] == [b.tenant.store_id]
    assert [order["id"] for order in b.get("/api/v1/orders").json] == [b.tenant.order_id]
    assert b.get("/api/v1/returns").json == []
    assert [row["id"] for row in a.get("/api/v1/returns").json] == [return_id]
    keys_a = {key["id"] for key in a.get("/api/v1/api-keys").json}
    keys_b = {key["id"] for key in b.get("/api/v1/api-keys").json}
    assert len(keys_a) == len(keys_b) == 1
    assert keys_a.isdisjoint(keys_b)


def test_filters_on_another_merchants_ids_find_nothing(a: Caller, b: Caller):
    a.new_return_id()
    assert b.get(f"/api/v1/orders?store_id={a.tenant.store_id}").json == []
    assert b.get(f"/api/v1/returns?order_id={a.tenant.order_id}").json == []
    assert b.get(f"/api/v1/returns?store_id={a.tenant.store_id}").json == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stores/{store}",
        "/api/v1/orders/{order}",
        "/api/v1/returns/{return_}",
        "/api/v1/returns/{return_}/label.pdf",
    ],
)
def test_another_merchants_row_answers_like_a_missing_one(runtime, a: Caller, b: Caller, path):
    return_id = _a_return_with_a_label(runtime, a)
    ids = {"store": a.tenant.store_id, "order": a.tenant.order_id, "return_": return_id}
    assert a.get(path.format(**ids)).status_code == 200

    theirs = b.get(path.format(**ids))
    missing = b.get(path.format(store=MISSING, order=MISSING, return_=MISSING))

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json["code"] == 404
    assert theirs.json.keys() == missing.json.keys()


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("receive", {}),
        ("grade", {"grades": [{"line_id": 1, "grade": "resellable"}]}),
        ("cancel", {"reason": "not yours"}),
        ("review", {"decision": "approve", "note": "not yours"}),
    ],
)
def test_another_merchants_return_cannot_be_acted_on(runtime, a: Caller, b: Caller, action, body):
    return_id = a.new_return_id()
    response = b.post(f"/api/v1/returns/{return_id}/{action}", json=body)
    assert response.status_code == 404
    assert a.get(f"/api/v1/returns/{return_id}").json["status"] == "REQUESTED"
    assert len(a.get(f"/api/v1/returns/{return_id}").json["ledger"]) == 1


def test_a_return_cannot_be_made_on_another_merchants_order(runtime, a: Caller, b: Caller):
    response = b.post(
        "/api/v1/returns",
        json={
            "order_id": a.tenant.order_id,
            "lines": [{"order_line_id": a.tenant.line_ids[0], "quantity": 1, "reason": "UNWANTED"}],
        },
    )
    assert response.status_code == 404
    assert count_rows(runtime, models.Return) == 0


def test_another_merchants_key_cannot_be_revoked(runtime, a: Caller, b: Caller):
    their_key = b.get("/api/v1/api-keys").json[0]["id"]
    assert a.delete(f"/api/v1/api-keys/{their_key}").status_code == 404
    assert b.get("/api/v1/stores").status_code == 200


def test_a_store_linked_by_another_merchant_cannot_be_taken_over(a: Caller, b: Caller):
    response = b.post("/api/v1/stores", json={"platform": "sandbox", "external_id": "ana.sandbox"})
    assert response.status_code == 422
    assert "external_id" in response.json["errors"]["json"]
    assert a.get(f"/api/v1/stores/{a.tenant.store_id}").json["external_id"] == "ana.sandbox"
