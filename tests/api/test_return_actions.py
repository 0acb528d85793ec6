"""Acting on a return: review, receive, grade, cancel. Each moves the return through its
lifecycle in one transaction, or is refused (422 for the wrong state) and changes nothing."""

from __future__ import annotations

import pytest

from connector.db import models

from .support import Caller, approve_lines, count_rows, set_return


def _ledger_kinds(a: Caller, return_id: int) -> list[str]:
    return [event["kind"] for event in a.get(f"/api/v1/returns/{return_id}").json["ledger"]]


def test_review_approves_a_return_in_review_and_queues_its_route(runtime, a: Caller, queue):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="IN_REVIEW", review_queue="high_value")

    response = a.post(
        f"/api/v1/returns/{return_id}/review",
        json={"decision": "approve", "note": "photos show the tear"},
    )

    assert response.status_code == 200
    body = response.json
    assert body["status"] == "APPROVED"
    assert body["review_queue"] == ""
    [decision] = body["decisions"]
    assert decision["outcome"] == "approve"
    assert decision["actor"] == "api:tests"
    assert decision["explanation"] == "photos show the tear"
    assert body["ledger"][-1]["kind"] == "ReturnReviewed"
    assert body["ledger_verified"] is True
    assert f"route_return-{return_id}" in queue.job_ids
    assert f"outbound-approve-{return_id}" in queue.job_ids


def test_review_declines_a_return_in_review(runtime, a: Caller):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="IN_REVIEW")
    response = a.post(
        f"/api/v1/returns/{return_id}/review", json={"decision": "decline", "note": "worn"}
    )
    assert response.status_code == 200
    assert response.json["status"] == "DECLINED"


def test_review_of_a_return_not_in_review_is_422_on_status(a: Caller):
    return_id = a.new_return_id()
    response = a.post(
        f"/api/v1/returns/{return_id}/review", json={"decision": "approve", "note": "ok"}
    )
    assert response.status_code == 422
    assert "not in review" in response.json["errors"]["json"]["status"][0]
    assert _ledger_kinds(a, return_id) == ["ReturnRequested"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "maybe", "note": "hm"}, "decision"),
        ({"decision": "approve"}, "note"),
        ({"decision": "approve", "note": ""}, "note"),
    ],
)
def test_review_needs_a_decision_and_a_note(runtime, a: Caller, body, field):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="IN_REVIEW")
    response = a.post(f"/api/v1/returns/{return_id}/review", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]


def test_receiving_a_parcel_awaited_records_receipt_and_asks_for_the_refund(runtime, a, queue):
    return_id = a.new_return_id()
    approve_lines(runtime, return_id)
    set_return(runtime, return_id, status="AWAITING_SHIPMENT", refund_trigger="received")

    response = a.post(f"/api/v1/returns/{return_id}/receive", json={"weight_g": 480})

    assert response.status_code == 200
    body = response.json
    assert body["status"] == "RECEIVED"
    assert [event["kind"] for event in body["ledger"]][-3:] == [
        "ParcelScanned",
        "ReturnReceived",
        "RefundRequested",
    ]
    [refund] = body["refunds"]
    assert refund["amount"] == {"amount": "25.00", "currency": "EUR"}
    assert f"outbound-refund-{return_id}-1" in queue.job_ids
    assert count_rows(runtime, models.Receipt) == 1


def test_receiving_a_return_not_yet_shipped_is_422_on_status(runtime, a: Caller):
    return_id = a.new_return_id()
    response = a.post(f"/api/v1/returns/{return_id}/receive", json={})
    assert response.status_code == 422
    assert "nothing to receive" in response.json["errors"]["json"]["status"][0]
    assert count_rows(runtime, models.Receipt) == 0


def test_a_zero_weight_is_refused_before_anything_is_received(runtime, a: Caller):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="IN_TRANSIT")
    response = a.post(f"/api/v1/returns/{return_id}/receive", json={"weight_g": 0})
    assert response.status_code == 422
    assert "weight_g" in response.json["errors"]["json"]
    assert a.get(f"/api/v1/returns/{return_id}").json["status"] == "IN_TRANSIT"


def test_grading_every_approved_line_inspects_the_return(runtime, a: Caller):
    return_id = a.new_return_id()
    approve_lines(runtime, return_id)
    set_return(runtime, return_id, status="RECEIVED")
    line_id = a.get(f"/api/v1/returns/{return_id}").json["lines"][0]["id"]

    response = a.post(
        f"/api/v1/returns/{return_id}/grade",
        json={"grades": [{"line_id": line_id, "grade": "resellable"}], "note": "as new"},
    )

    assert response.status_code == 200
    assert response.json["status"] == "INSPECTED"
    assert response.json["lines"][0]["grade"] == "resellable"
    assert count_rows(runtime, models.Grading) == 1


def test_grading_a_return_not_received_is_422_on_status(runtime, a: Caller):
    return_id = a.new_return_id()
    approve_lines(runtime, return_id)
    line_id = a.get(f"/api/v1/returns/{return_id}").json["lines"][0]["id"]
    response = a.post(
        f"/api/v1/returns/{return_id}/grade",
        json={"grades": [{"line_id": line_id, "grade": "resellable"}]},
    )
    assert response.status_code == 422
    assert "not received" in response.json["errors"]["json"]["status"][0]
    assert count_rows(runtime, models.Grading) == 0


@pytest.mark.parametrize(
    ("grades", "path"),
    [
        ([], ("grades",)),
        ([{"line_id": "LINE", "grade": "resellable"}], ("grades", "0", "line_id")),
        ([{"line_id": 1, "grade": "shiny"}], ("grades", "0", "grade")),
    ],
)
def test_grades_are_validated_naming_the_field(runtime, a: Caller, grades, path):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="RECEIVED")
    response = a.post(f"/api/v1/returns/{return_id}/grade", json={"grades": grades})
    assert response.status_code == 422
    errors = response.json["errors"]["json"]
    for key in path:
        errors = errors[key]
    assert errors


def test_grading_a_line_twice_in_one_request_is_refused(runtime, a: Caller):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="RECEIVED")
    twice = [{"line_id": 1, "grade": "resellable"}, {"line_id": 1, "grade": "destroy"}]
    response = a.post(f"/api/v1/returns/{return_id}/grade", json={"grades": twice})
    assert response.status_code == 422
    assert "grades" in response.json["errors"]["json"]


def test_grading_a_line_that_was_not_approved_is_422_on_grades(runtime, a: Caller):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="RECEIVED")
    line_id = a.get(f"/api/v1/returns/{return_id}").json["lines"][0]["id"]
    response = a.post(
        f"/api/v1/returns/{return_id}/grade",
        json={"grades": [{"line_id": line_id, "grade": "resellable"}]},
    )
    assert response.status_code == 422
    assert "no approved line" in response.json["errors"]["json"]["grades"][0]
    assert a.get(f"/api/v1/returns/{return_id}").json["status"] == "RECEIVED"


def test_canceling_an_open_return_records_why(a: Caller):
    return_id = a.new_return_id()
    response = a.post(f"/api/v1/returns/{return_id}/cancel", json={"reason": "buyer kept it"})
    assert response.status_code == 200
    assert response.json["status"] == "CANCELED"
    last = response.json["ledger"][-1]
    assert last["kind"] == "ReturnCanceled"
    assert last["payload"]["reason"] == "buyer kept it"
    assert last["actor"] == "api:tests"


def test_canceling_frees_the_units_for_another_return(a: Caller):
    first = a.new_return_id(
        lines=[{"order_line_id": a.tenant.line_ids[0], "quantity": 2, "reason": "UNWANTED"}]
    )
    a.post(f"/api/v1/returns/{first}/cancel", json={})
    again = a.create_return(
        lines=[{"order_line_id": a.tenant.line_ids[0], "quantity": 2, "reason": "UNWANTED"}]
    )
    assert again.status_code == 201


@pytest.mark.parametrize("status", ["DECLINED", "CLOSED", "EXPIRED", "CANCELED"])
def test_canceling_a_finished_return_is_422_on_status(runtime, a: Caller, status):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status=status)
    response = a.post(f"/api/v1/returns/{return_id}/cancel", json={"reason": "too late"})
    assert response.status_code == 422
    assert "cannot be canceled" in response.json["errors"]["json"]["status"][0]
    assert _ledger_kinds(a, return_id) == ["ReturnRequested"]


def test_an_action_on_a_missing_return_is_404(a: Caller):
    response = a.post("/api/v1/returns/999999/cancel", json={})
    assert response.status_code == 404
    assert response.json["status"] == "Not Found"


def _own_shipment_route(runtime, return_id: int) -> None:
    option = {
        "id": "own_shipment:nowhere",
        "kind": "own_shipment",
        "destination": "nowhere",
        "carrier": "",
        "service": "",
    }
    set_return(
        runtime,
        return_id,
        status="AWAITING_SHIPMENT",
        route={"chosen": option["id"], "currency": "USD", "options": [option]},
        route_option=option["id"],
    )


def test_the_buyers_own_shipment_puts_the_return_in_transit(runtime, a: Caller):
    return_id = a.new_return_id()
    approve_lines(runtime, return_id)
    _own_shipment_route(runtime, return_id)
    with runtime.db.session() as session:
        currency = session.get(models.Return, return_id).order.currency

    response = a.post(
        f"/api/v1/returns/{return_id}/shipment",
        json={
            "carrier": "USPS",
            "tracking_number": "9400111899223100000000",
            "postage": {"amount": "7.10", "currency": currency},
        },
    )

    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "IN_TRANSIT"
    [shipment] = body["shipments"]
    assert (shipment["kind"], shipment["carrier"]) == ("own_shipment", "usps")
    # no reimbursement cap is set, so no postage is paid back
    assert shipment["price"]["amount"] == "0.00"
    assert body["ledger"][-1]["kind"] == "OwnShipmentSent"


def test_own_shipment_is_refused_for_a_return_on_a_bought_label(runtime, a: Caller):
    return_id = a.new_return_id()
    set_return(runtime, return_id, status="AWAITING_SHIPMENT")

    response = a.post(
        f"/api/v1/returns/{return_id}/shipment",
        json={
            "carrier": "usps",
            "tracking_number": "1",
            "postage": {"amount": "1", "currency": "USD"},
        },
    )

    assert response.status_code == 422
    assert count_rows(runtime, models.Shipment) == 0
