"""Returns: ask for one on a buyer's behalf, follow it, and act on it at the warehouse bench.

Each action runs in one transaction through its service, so a request that fails leaves
nothing behind; the jobs it calls for are queued only once that transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, send_file
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from ... import links
from ...db import models
from ...db.types import utcnow
from ...domain import Address, Money, ReturnLine, ReturnRequest
from ...errors import NotFound, NothingToDo, ValidationError
from ...jobs import enqueue_all, refund_tracker
from ...ports import RefundTracker
from ...runtime import current_runtime
from ...services import FollowUp, intake, lifecycle, logistics, queries, receiving, refunds
from .auth import actor, api_blueprint, merchant_id, owned
from .schemas import (
    CancelSchema,
    GradeSchema,
    OwnShipmentSchema,
    ReceiveSchema,
    ReturnDetailSchema,
    ReturnQuerySchema,
    ReturnRequestSchema,
    ReturnSchema,
    ReviewSchema,
    RowWith,
    SettleRefundSchema,
)

blp = api_blueprint(
    "returns", "/api/v1/returns", "Return requests, their journey, and the actions on them."
)

LABEL_TYPES = {"pdf": "application/pdf", "zpl": "application/zpl", "png": "image/png"}
LABEL_CONTENT = {
    media_type: {"schema": {"type": "string", "format": "binary"}}
    for media_type in LABEL_TYPES.values()
}


@blp.get("")
@blp.arguments(ReturnQuerySchema, location="query")
@blp.response(200, ReturnSchema(many=True))
@blp.paginate()
def list_returns(
    filters: dict[str, Any], pagination_parameters: PaginationParameters
) -> list[models.Return]:
    """List the merchant's returns, newest first."""
    with current_runtime().db.session() as session:
        total, rows = queries.page(
            session,
            _matching(filters),
            pagination_parameters.first_item,
            pagination_parameters.page_size,
        )
    pagination_parameters.item_count = total
    return rows


@blp.post("")
@blp.arguments(ReturnRequestSchema)
@blp.response(201, ReturnDetailSchema)
def create_return(body: dict[str, Any]) -> RowWith:
    """Ask for a return of an order's lines.

    It starts REQUESTED; the merchant's policy decides it next, in a job. An exchange names on
    every line the variant wanted (``exchange_sku``), one the platform offers for that line.
    """
    runtime = current_runtime()
    if body["resolution"] == "exchange":
        _check_exchange(body)  # asks the platform: before the transaction, not inside it
    with runtime.db.transaction() as session:
        # The order's row lock makes concurrent requests count the units left one at a time.
        order = owned(
            session,
            models.Order,
            body["order_id"],
            "order",
            selectinload(models.Order.lines),
            for_update=True,
        )
        store = session.get_one(models.Store, order.store_id)
        return_, follow_ups = intake.create_return(
            session, store, order, _return_request(order, body), source="api", actor=actor()
        )
        return_id = return_.id
    enqueue_all(runtime, follow_ups)
    return _detail(return_id)


@blp.get("/<int:return_id>")
@blp.response(200, ReturnDetailSchema)
def get_return(return_id: int) -> RowWith:
    """Read a return with its decisions, shipments, refunds and ledger."""
    return _detail(return_id)


@blp.get("/<int:return_id>/label.<any(pdf, zpl, png):label_format>")
@blp.doc(
    responses={
        "200": {
            "description": "The label of the return's latest shipment, in that format.",
            "content": LABEL_CONTENT,
        }
    }
)
def get_label(return_id: int, label_format: str) -> Response:
    """Download the return label as PDF, ZPL (thermal printers) or PNG (a QR code)."""
    return _file(return_id, label_format, label_format, LABEL_TYPES[label_format], "label")


@blp.get("/<int:return_id>/invoice.pdf")
@blp.doc(
    responses={
        "200": {
            "description": "The commercial invoice / CN23 of a cross-border return shipment.",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
)
def get_invoice(return_id: int) -> Response:
    """Download the customs papers (commercial invoice and CN23, "returned goods") that a
    cross-border return parcel travels with."""
    return _file(return_id, "invoice", "pdf", "application/pdf", "customs invoice")


def _file(return_id: int, stored: str, extension: str, mimetype: str, what: str) -> Response:
    runtime = current_runtime()
    with runtime.db.session() as session:
        found = session.execute(
            select(models.LabelFile.path, models.Return.rma)
            .join(models.Shipment, models.LabelFile.shipment_id == models.Shipment.id)
            .join(models.Return, models.Shipment.return_id == models.Return.id)
            .where(
                models.Return.id == return_id,
                models.Return.merchant_id == merchant_id(),
                models.LabelFile.format == stored,
            )
            .order_by(models.Shipment.id.desc())
        ).first()
    if found is None:
        raise NotFound(f"return {return_id} has no {what} ({stored})")
    path, rma = found
    suffix = "-invoice" if stored == "invoice" else ""
    return send_file(
        runtime.files.path(path),
        mimetype=mimetype,
        download_name=f"{rma or return_id}{suffix}.{extension}",
    )


@blp.post("/<int:return_id>/receive")
@blp.arguments(ReceiveSchema)
@blp.response(200, ReturnDetailSchema)
def receive(body: dict[str, Any], return_id: int) -> RowWith:
    """Receive the parcel at the warehouse (from AWAITING_SHIPMENT or IN_TRANSIT)."""
    return _act(
        return_id,
        lambda session: receiving.receive(
            session, return_id, body["weight_g"], body["note"], actor()
        ),
    )


@blp.post("/<int:return_id>/shipment")
@blp.arguments(OwnShipmentSchema)
@blp.response(200, ReturnDetailSchema)
def own_shipment(body: dict[str, Any], return_id: int) -> RowWith:
    """The buyer sent the parcel themselves (the route chose ``own_shipment``): record the
    carrier, the tracking number and the postage, reimbursed with the refund up to the
    merchant's cap. The return goes IN_TRANSIT."""
    postage = Money.of(body["postage"]["amount"], body["postage"]["currency"])
    return _act(
        return_id,
        lambda session: logistics.record_own_shipment(
            session, return_id, body["carrier"], body["tracking_number"], postage, actor()
        ),
    )


@blp.post("/<int:return_id>/grade")
@blp.arguments(GradeSchema)
@blp.response(200, ReturnDetailSchema)
def grade(body: dict[str, Any], return_id: int) -> RowWith:
    """Grade every approved line of a RECEIVED return; it becomes INSPECTED."""
    grades = {item["line_id"]: item["grade"] for item in body["grades"]}
    return _act(
        return_id,
        lambda session: receiving.grade(session, return_id, grades, actor(), body["note"]),
    )


@blp.post("/<int:return_id>/cancel")
@blp.arguments(CancelSchema)
@blp.response(200, ReturnDetailSchema)
def cancel(body: dict[str, Any], return_id: int) -> RowWith:
    """Cancel a return that is not finished and has no refund."""
    return _act(
        return_id, lambda session: lifecycle.cancel(session, return_id, body["reason"], actor())
    )


@blp.post("/<int:return_id>/review")
@blp.arguments(ReviewSchema)
@blp.response(200, ReturnDetailSchema)
def review(body: dict[str, Any], return_id: int) -> RowWith:
    """Settle a return the policy sent to review (IN_REVIEW)."""
    approve = body["decision"] == "approve"
    return _act(
        return_id,
        lambda session: lifecycle.review(session, return_id, approve, body["note"], actor()),
    )


@blp.post("/<int:return_id>/refund")
@blp.response(200, ReturnDetailSchema)
def retry_refund(return_id: int) -> RowWith:
    """Ask again for a refund that failed for good; the new one has the next sequence number.
    Refused (422) while the platform may still make the earlier one: awaiting the platform
    (Amazon's feeds), or uncertain until settled."""
    tracker = _tracker(return_id)
    return _act(
        return_id, lambda session: refunds.retry_refund(session, return_id, actor(), tracker)
    )


@blp.post("/<int:return_id>/refund/settle")
@blp.arguments(SettleRefundSchema)
@blp.response(200, ReturnDetailSchema)
def settle_refund(body: dict[str, Any], return_id: int) -> RowWith:
    """Settle the return's uncertain refund (the platform may or may not have made it) with
    what a person found on the platform: made (issued) or not made (failed, and it may then
    be asked for again)."""
    tracker = _tracker(return_id)
    return _act(
        return_id,
        lambda session: refunds.settle_refund(
            session, return_id, body["made"], body["note"], actor(), tracker
        ),
    )


def _tracker(return_id: int) -> RefundTracker | None:
    """The return's platform when it keeps its own record of refunds, read before the action's
    transaction."""
    runtime = current_runtime()
    with runtime.db.session() as session:
        store_id = owned(session, models.Return, return_id, "return").store_id
    try:
        return refund_tracker(runtime, store_id)
    except NothingToDo:
        return None


def _act(return_id: int, work: Callable[[Session], list[FollowUp]]) -> RowWith:
    runtime = current_runtime()
    with runtime.db.transaction() as session:
        owned(session, models.Return, return_id, "return")
        follow_ups = work(session)
    enqueue_all(runtime, follow_ups)
    return _detail(return_id)


def _check_exchange(body: dict[str, Any]) -> None:
    """Refuse an exchange for variants the store's platform does not offer (422 naming the
    line)."""
    runtime = current_runtime()
    with runtime.db.session() as session:
        order = owned(
            session, models.Order, body["order_id"], "order", selectinload(models.Order.lines)
        )
        request = _return_request(order, body)
        store = session.get_one(models.Store, order.store_id)
        adapter = runtime.platform(
            store.platform, store.external_id, store.credentials, store.settings
        )
        intake.check_exchange(adapter, order, request)


def _return_request(order: models.Order, body: dict[str, Any]) -> ReturnRequest:
    order_lines = {line.id: line for line in order.lines}
    exchange = body["resolution"] == "exchange"
    lines = []
    for index, line in enumerate(body["lines"]):
        order_line = order_lines.get(line["order_line_id"])
        if order_line is None:
            raise ValidationError(
                f"lines[{index}].order_line_id",
                f"order {order.number} has no line {line['order_line_id']}",
            )
        if exchange != bool(line["exchange_sku"]):
            raise ValidationError(
                f"lines[{index}].exchange_sku",
                "an exchange names the variant wanted on every line"
                if exchange
                else "only an exchange names a variant wanted",
            )
        lines.append(
            ReturnLine(
                order_line_external_id=order_line.external_id,
                quantity=line["quantity"],
                reason=line["reason"],
                condition=line["condition"],
                note=line["note"],
                exchange_sku=line["exchange_sku"],
            )
        )
    address = body["buyer_address"]
    return ReturnRequest(
        order_external_id=order.external_id,
        lines=tuple(lines),
        requested_at=utcnow(),
        buyer_address=Address(**address) if address else None,
        note=body["note"],
        resolution=body["resolution"],
    )


def _detail(return_id: int) -> RowWith:
    """The return with everything that happened to it, loaded for dumping."""
    settings = current_runtime().settings
    with current_runtime().db.snapshot() as session:  # the return and its ledger, as one
        found = queries.history(session, merchant_id(), return_id)
    return RowWith(
        found.return_,
        decisions=found.decisions,
        shipments=[
            RowWith(
                shipment,
                label_formats=[label.format for label in found.labels.get(shipment.id, [])],
                label_urls={
                    label.format: links.file_url(settings.secret_key, settings.public_url, label.id)
                    for label in found.labels.get(shipment.id, [])
                },
            )
            for shipment in found.shipments
        ],
        tracking_events=found.tracking_events,
        refunds=found.refunds,
        ledger=found.ledger,
        ledger_verified=found.verified,
    )


def _matching(filters: dict[str, Any]) -> Select[models.Return]:
    return queries.matching(
        merchant_id(),
        queries.ReturnFilter(
            statuses=tuple(status.value for status in filters.get("status") or ()),
            store_id=filters.get("store_id"),
            order_id=filters.get("order_id"),
            rma=filters.get("rma"),
            review_queue=filters.get("review_queue"),
            reason=filters["reason"].value if "reason" in filters else None,
            country=filters.get("country"),
            created_after=filters.get("created_after"),
            created_before=filters.get("created_before"),
        ),
    )
