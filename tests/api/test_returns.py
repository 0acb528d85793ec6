"""Asking for a return through the API, reading it back, and finding returns with filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connector.db import models
from connector.domain import Status

from .support import Caller, add_label, count_rows, set_return


def test_a_new_return_is_requested_recorded_and_queued_for_a_decision(runtime, a: Caller, queue):
    response = a.create_return(
        lines=[
            {
                "order_line_id": a.tenant.line_ids[0],
                "quantity": 2,
                "reason": "SIZE_TOO_SMALL",
                "condition": "opened",
                "note": "runs small",
            }
        ],
        note="please hurry",
    )

    assert response.status_code == 201
    created = response.json
    assert created["status"] == Status.REQUESTED
    assert created["source"] == "api"
    assert created["rma"] == f"R{created['id']:07d}"
    assert created["order_id"] == a.tenant.order_id
    assert created["order_number"] == "1001"
    assert created["store_id"] == a.tenant.store_id
    assert created["buyer_country"] == "DE"
    assert created["note"] == "please hurry"
    [line] = created["lines"]
    assert line["order_line_id"] == a.tenant.line_ids[0]
    assert (line["sku"], line["quantity"], line["reason"]) == ("SHIRT-M", 2, "SIZE_TOO_SMALL")
    assert (line["condition"], line["note"]) == ("opened", "runs small")
    [event] = created["ledger"]
    assert event["seq"] == 1
    assert event["kind"] == "ReturnRequested"
    assert event["actor"] == "api:tests"
    assert created["ledger_verified"] is True
    assert f"decide_return-{created['id']}" in queue.job_ids


def test_a_buyer_address_gives_the_returns_country(a: Caller):
    address = {
        "name": "Ana Buyer",
        "line1": "Calle Mayor 3",
        "city": "Madrid",
        "postal_code": "28013",
        "country": "ES",
    }
    response = a.create_return(buyer_address=address)
    assert response.status_code == 201
    assert response.json["buyer_country"] == "ES"


def test_more_units_than_remain_are_refused_and_leave_nothing_behind(runtime, a: Caller, queue):
    a.new_return_id()  # one of the two shirts is on its way back already
    response = a.create_return(
        lines=[{"order_line_id": a.tenant.line_ids[0], "quantity": 2, "reason": "UNWANTED"}]
    )

    assert response.status_code == 422
    assert "only 1 of 2" in response.json["errors"]["json"]["lines"]["0"]["quantity"][0]
    assert count_rows(runtime, models.Return) == 1
    assert count_rows(runtime, models.ReturnLine) == 1
    assert count_rows(runtime, models.LedgerEvent) == 1
    assert len(queue.job_ids) == 1


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"lines": []}, ("lines",)),
        ({"lines": None}, ("lines",)),
        ({"order_id": None}, ("order_id",)),
        (
            {"lines": [{"order_line_id": 1, "quantity": 0, "reason": "UNWANTED"}]},
            ("lines", "0", "quantity"),
        ),
        (
            {"lines": [{"order_line_id": 1, "quantity": 1, "reason": "BORED"}]},
            ("lines", "0", "reason"),
        ),
        (
            {
                "lines": [
                    {"order_line_id": 1, "quantity": 1, "reason": "UNWANTED", "condition": "mint"}
                ]
            },
            ("lines", "0", "condition"),
        ),
        ({"lines": [{"quantity": 1, "reason": "UNWANTED"}]}, ("lines", "0", "order_line_id")),
        (
            {"buyer_address": {"name": "A", "line1": "B", "city": "C", "country": "Germany"}},
            ("buyer_address", "country"),
        ),
        (
            {"buyer_address": {"name": "A", "line1": "B", "city": "C", "country": "de"}},
            ("buyer_address", "country"),
        ),
        ({"colour": "blue"}, ("colour",)),
    ],
    ids=[
        "no-lines",
        "null-lines",
        "null-order",
        "quantity-0",
        "unknown-reason",
        "unknown-condition",
        "line-without-id",
        "country-name",
        "country-lowercase",
        "unknown-field",
    ],
)
def test_an_invalid_request_is_422_naming_the_field(runtime, a: Caller, changes, path):
    response = a.create_return(**changes)
    assert response.status_code == 422
    assert response.json["code"] == 422
    assert response.json["status"] == "Unprocessable Entity"
    errors = response.json["errors"]["json"]
    for key in path:
        errors = errors[key]
    assert isinstance(errors, list)
    assert errors
    assert count_rows(runtime, models.Return) == 0


def test_a_line_of_another_order_is_422_naming_it(a: Caller, b: Caller):
    response = a.create_return(
        lines=[{"order_line_id": b.tenant.line_ids[0], "quantity": 1, "reason": "UNWANTED"}]
    )
    assert response.status_code == 422
    [message] = response.json["errors"]["json"]["lines"]["0"]["order_line_id"]
    assert "1001" in message


def test_an_unknown_order_is_404(runtime, a: Caller):
    response = a.create_return(order_id=999_999)
    assert response.status_code == 404
    assert count_rows(runtime, models.Return) == 0


def test_a_return_reads_with_its_history(runtime, a: Caller):
    return_id = a.new_return_id()
    with runtime.db.transaction() as session:
        session.add(
            models.Decision(
                return_id=return_id, outcome="approve", policy_version=1, explanation="in window"
            )
        )
        session.add(
            models.Refund(
                return_id=return_id,
                sequence=1,
                idempotency_key=f"refund:{return_id}:1",
                amount_minor=2500,
                currency="EUR",
                trigger="received",
            )
        )
    set_return(
        runtime,
        return_id,
        status="AWAITING_SHIPMENT",
        route={"chosen": "ratecard:economy", "currency": "EUR", "options": [{"cost": "7.90"}]},
    )
    add_label(runtime, return_id, {"pdf": b"%PDF", "zpl": b"^XA^XZ"})

    detail = a.get(f"/api/v1/returns/{return_id}").json

    assert detail["status"] == "AWAITING_SHIPMENT"
    assert detail["route"]["chosen"] == "ratecard:economy"
    assert detail["route"]["options"] == [{"cost": "7.90"}]
    [decision] = detail["decisions"]
    assert (decision["outcome"], decision["explanation"]) == ("approve", "in window")
    [shipment] = detail["shipments"]
    assert shipment["price"] == {"amount": "7.90", "currency": "EUR"}
    assert shipment["label_formats"] == ["pdf", "zpl"]
    assert shipment["tracking_number"] == f"RC{return_id:08d}"
    [refund] = detail["refunds"]
    assert refund["amount"] == {"amount": "25.00", "currency": "EUR"}
    assert refund["status"] == "pending"
    assert detail["tracking_events"] == []
    assert detail["created_at"].endswith("+00:00")


def test_a_tampered_ledger_reads_as_unverified(runtime, a: Caller):
    return_id = a.new_return_id()
    with runtime.db.transaction() as session:
        event = session.scalars(
            select(models.LedgerEvent).where(models.LedgerEvent.return_id == return_id)
        ).one()
        event.actor = "someone else"
    assert a.get(f"/api/v1/returns/{return_id}").json["ledger_verified"] is False


@pytest.mark.parametrize(
    ("label_format", "content_type"),
    [("pdf", "application/pdf"), ("zpl", "application/zpl"), ("png", "image/png")],
)
def test_a_label_downloads_in_each_stored_format(runtime, a: Caller, label_format, content_type):
    return_id = a.new_return_id()
    files = {"pdf": b"%PDF-1.4", "zpl": b"^XA^XZ", "png": b"\x89PNG\r\n"}
    add_label(runtime, return_id, files)
    response = a.get(f"/api/v1/returns/{return_id}/label.{label_format}")
    assert response.status_code == 200
    assert response.mimetype == content_type
    assert response.data == files[label_format]


def test_a_missing_label_is_404(runtime, a: Caller):
    return_id = a.new_return_id()
    assert a.get(f"/api/v1/returns/{return_id}/label.pdf").status_code == 404
    add_label(runtime, return_id, {"pdf": b"%PDF"})
    response = a.get(f"/api/v1/returns/{return_id}/label.zpl")
    assert response.status_code == 404
    assert response.json["message"]
    assert a.get(f"/api/v1/returns/{return_id}/label.gif").status_code == 404


# --- finding returns -------------------------------------------------------------------------


@pytest.fixture
def three_returns(runtime, a: Caller) -> dict[str, int]:
    """A shirt (REQUESTED), a mug (IN_REVIEW, sent from Spain), another shirt (APPROVED)."""
    shirt = a.new_return_id()
    mug = a.new_return_id(
        lines=[{"order_line_id": a.tenant.line_ids[1], "quantity": 1, "reason": "DEFECTIVE"}],
        buyer_address={"name": "A", "line1": "B", "city": "Madrid", "country": "ES"},
    )
    set_return(runtime, mug, status="IN_REVIEW", review_queue="damage")
    second_shirt = a.new_return_id()
    set_return(runtime, second_shirt, status="APPROVED")
    return {"shirt": shirt, "mug": mug, "second_shirt": second_shirt}


def _ids(a: Caller, query: str) -> list[int]:
    response = a.get(f"/api/v1/returns?{query}")
    assert response.status_code == 200, response.json
    return [row["id"] for row in response.json]


def test_returns_list_newest_first(a: Caller, three_returns):
    expected = [three_returns["second_shirt"], three_returns["mug"], three_returns["shirt"]]
    assert _ids(a, "") == expected


def test_returns_filter_by_status_repeated_or_comma_separated(a: Caller, three_returns):
    assert _ids(a, "status=IN_REVIEW") == [three_returns["mug"]]
    both = [three_returns["second_shirt"], three_returns["shirt"]]
    assert _ids(a, "status=REQUESTED&status=APPROVED") == both
    assert _ids(a, "status=REQUESTED,APPROVED") == both
    assert _ids(a, "status=CLOSED") == []


def test_an_unknown_status_filter_is_422_naming_it(a: Caller):
    response = a.get("/api/v1/returns?status=REQUESTED,LOST")
    assert response.status_code == 422
    assert "status" in response.json["errors"]["query"]


def test_returns_filter_by_reason_country_queue_rma_order_and_store(
    a: Caller, b: Caller, three_returns
):
    mug = three_returns["mug"]
    assert _ids(a, "reason=DEFECTIVE") == [mug]
    assert _ids(a, "country=ES") == [mug]
    assert _ids(a, "country=DE") == [three_returns["second_shirt"], three_returns["shirt"]]
    assert _ids(a, "review_queue=damage") == [mug]
    assert _ids(a, f"rma=R{mug:07d}") == [mug]
    assert len(_ids(a, f"order_id={a.tenant.order_id}&store_id={a.tenant.store_id}")) == 3


def test_returns_filter_by_creation_time(runtime, a: Caller, three_returns):
    old = datetime(2025, 1, 1, tzinfo=UTC)
    set_return(runtime, three_returns["shirt"], created_at=old)
    assert _ids(a, "created_before=2025-02-01T00:00:00Z") == [three_returns["shirt"]]
    after = (old + timedelta(days=31)).isoformat().replace("+00:00", "Z")
    assert three_returns["shirt"] not in _ids(a, f"created_after={after}")
    assert len(_ids(a, "created_after=2025-02-01T00:00:00")) == 2  # naive is read as UTC


@pytest.mark.parametrize(
    "query",
    ["country=Spain", "reason=BORED", "created_after=yesterday", "store_id=abc", "page=0"],
)
def test_a_bad_filter_is_422_naming_it(a: Caller, query):
    response = a.get(f"/api/v1/returns?{query}")
    assert response.status_code == 422
    name = query.split("=")[0]
    assert name in response.json["errors"]["query"]


def test_returns_come_in_pages_with_the_pagination_header(a: Caller, three_returns):
    first = a.get("/api/v1/returns?page_size=2")
    assert len(first.json) == 2
    assert json.loads(first.headers["X-Pagination"]) == {
        "total": 3,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 1,
        "next_page": 2,
    }
    second = a.get("/api/v1/returns?page_size=2&page=2")
    assert [row["id"] for row in second.json] == [three_returns["shirt"]]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/returns/1099511627776",
        "/api/v1/orders/1099511627776",
        "/api/v1/returns?store_id=1099511627776",
    ],
)
def test_an_id_beyond_the_database_range_is_a_clear_4xx(path: str, client, tenant_a) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path, headers={"Authorization": f"Bearer {tenant_a.key}"})
    assert response.status_code in (404, 422)
    assert response.is_json


def _sized_shirt(runtime, a: Caller) -> int:
    """Make the tenant's shirt a sized product of the sandbox store's catalogue (size M)."""
    with runtime.db.transaction() as session:
        session.get_one(models.OrderLine, a.tenant.line_ids[0]).sku = "APP-TEE-001-M"
    return a.tenant.line_ids[0]


def test_an_exchange_for_a_variant_on_offer_is_stored_on_its_line(runtime, a: Caller):
    line_id = _sized_shirt(runtime, a)

    response = a.create_return(
        resolution="exchange",
        lines=[
            {
                "order_line_id": line_id,
                "quantity": 1,
                "reason": "SIZE_TOO_SMALL",
                "exchange_sku": "APP-TEE-001-L",
            }
        ],
    )

    assert response.status_code == 201, response.json
    assert response.json["resolution"] == "exchange"
    [line] = response.json["lines"]
    assert line["exchange_sku"] == "APP-TEE-001-L"


@pytest.mark.parametrize(
    ("resolution", "sku", "said"),
    [
        ("exchange", "APP-TEE-001-M", "not a variant on offer for line APP-TEE-001-M"),
        ("exchange", "HOM-MUG-201", "on offer: APP-TEE-001-S, APP-TEE-001-L, APP-TEE-001-XL"),
        ("exchange", "", "an exchange names the variant wanted on every line"),
        ("refund", "APP-TEE-001-L", "only an exchange names a variant wanted"),
    ],
)
def test_an_exchange_the_platform_does_not_offer_is_422_naming_the_line(
    runtime, a: Caller, resolution, sku, said
):
    line_id = _sized_shirt(runtime, a)

    response = a.create_return(
        resolution=resolution,
        lines=[
            {"order_line_id": line_id, "quantity": 1, "reason": "UNWANTED", "exchange_sku": sku}
        ],
    )

    assert response.status_code == 422
    assert said in response.json["errors"]["json"]["lines"]["0"]["exchange_sku"][0]
    assert count_rows(runtime, models.Return) == 0
