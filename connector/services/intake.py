"""Intake: platform events and API calls become canonical orders and return requests.

Orders are upserted by ``(store, external_id)``; a return request seen twice (a redelivered
webhook, a re-read report) is stored once. Every new return starts REQUESTED with a ledger
event, and its decision follows as a job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import ledger
from ..crypto import Vault
from ..db import models
from ..db.mapping import address_to_dict
from ..db.types import utcnow
from ..domain import Order, ReturnRequest, Status
from ..domain.events import EventKind
from ..domain.returns import TERMINAL
from ..errors import HellowordError, NotFound, NothingToDo, ValidationError
from ..files import FileStore
from ..ports import InboundEvent as InboundEventDTO
from ..ports import ParsedEvent, Variant, VariantSource
from . import privacy
from .common import FollowUp

_OPEN_OR_DONE = [s.value for s in Status if s not in (Status.DECLINED, Status.CANCELED)]


def upsert_order(session: Session, store: models.Store, order: Order) -> models.Order:
    customer = None
    if order.customer.external_id or order.customer.email:
        customer_key = order.customer.external_id or f"email:{order.customer.email}"
        customer = session.scalar(
            select(models.Customer).where(
                models.Customer.store_id == store.id, models.Customer.external_id == customer_key
            )
        )
        if customer is None:
            customer = models.Customer(store_id=store.id, external_id=customer_key)
            session.add(customer)
        customer.email = order.customer.email
        customer.name = order.customer.name
        customer.locale = order.customer.locale

    row = session.scalar(
        select(models.Order).where(
            models.Order.store_id == store.id, models.Order.external_id == order.external_id
        )
    )
    if row is None:
        row = models.Order(
            merchant_id=store.merchant_id, store_id=store.id, external_id=order.external_id
        )
        session.add(row)
    row.customer = customer
    row.number = order.number
    row.currency = order.currency
    row.total_minor = order.total.minor
    row.placed_at = order.placed_at
    row.delivered_at = order.delivered_at
    row.shipping_address = address_to_dict(order.shipping_address)
    row.tags = list(order.tags)
    row.shipped_from = order.shipped_from
    row.export_reference = order.export_reference
    row.raw = json.loads(json.dumps(order.raw, default=str))

    existing = {line.external_id: line for line in row.lines}
    for line in order.lines:
        line_row = existing.get(line.external_id)
        if line_row is None:
            line_row = models.OrderLine(external_id=line.external_id)
            row.lines.append(line_row)
        line_row.sku = line.sku
        line_row.title = line.title
        line_row.quantity = line.quantity
        line_row.unit_price_minor = line.unit_price.minor
        line_row.currency = line.unit_price.currency
        line_row.weight_g = int(line.weight_kg * 1000)
        line_row.dimensions_mm = [int(d * 10) for d in line.dimensions_cm]
        line_row.hs_code = line.hs_code
        line_row.origin_country = line.origin_country
        line_row.tags = list(line.tags)
        line_row.delivered_at = line.delivered_at
    session.flush()
    return row


def returned_quantities(session: Session, order: models.Order) -> dict[int, int]:
    """Units of each order line already in a return that was not declined or canceled."""
    rows = session.execute(
        select(models.ReturnLine.order_line_id, func.sum(models.ReturnLine.quantity))
        .join(models.Return)
        .where(models.Return.order_id == order.id, models.Return.status.in_(_OPEN_OR_DONE))
        .group_by(models.ReturnLine.order_line_id)
    )
    return {line_id: int(quantity) for line_id, quantity in rows}


def create_return(
    session: Session,
    store: models.Store,
    order: models.Order,
    request: ReturnRequest,
    *,
    source: str = "platform",
    actor: str = "buyer",
) -> tuple[models.Return, list[FollowUp]]:
    """Store a new return request, or find the one already stored for its external id."""
    # Two requests for the same order wait for each other before counting what is left.
    session.execute(select(models.Order.id).where(models.Order.id == order.id).with_for_update())
    if request.external_id:  # seen before (a webhook and a report poll, say)
        existing = session.scalar(
            select(models.Return).where(
                models.Return.store_id == store.id,
                models.Return.external_id == request.external_id,
            )
        )
        if existing is not None:
            return existing, []

    lines_by_external = {line.external_id: line for line in order.lines}
    already = returned_quantities(session, order)
    wanted: dict[int, int] = {}
    return_lines = []
    for index, line in enumerate(request.lines):
        field = f"lines[{index}]"
        order_line = lines_by_external.get(line.order_line_external_id)
        if order_line is None:
            raise ValidationError(
                f"{field}.order_line",
                f"order {order.number} has no line {line.order_line_external_id!r}",
            )
        wanted[order_line.id] = wanted.get(order_line.id, 0) + line.quantity
        available = order_line.quantity - already.get(order_line.id, 0)
        if wanted[order_line.id] > available:
            raise ValidationError(
                f"{field}.quantity",
                f"only {available} of {order_line.quantity} units of "
                f"{order_line.sku or order_line.title} can still be returned",
            )
        return_lines.append(
            models.ReturnLine(
                order_line_id=order_line.id,
                external_id=line.external_id,
                quantity=line.quantity,
                reason=line.reason.value,
                condition=line.condition.value,
                note=line.note,
                exchange_sku=line.exchange_sku,
            )
        )

    return_ = models.Return(
        merchant_id=store.merchant_id,
        store_id=store.id,
        order_id=order.id,
        external_id=request.external_id or None,
        status=Status.REQUESTED.value,
        source=source,
        requested_at=request.requested_at,
        buyer_address=address_to_dict(request.buyer_address) if request.buyer_address else {},
        note=request.note,
        resolution=request.resolution,
        lines=return_lines,
    )
    session.add(return_)
    session.flush()
    return_.rma = f"R{return_.id:07d}"
    ledger.append(
        session,
        return_,
        EventKind.RETURN_REQUESTED,
        {
            "rma": return_.rma,
            "order": order.number,
            "source": source,
            "lines": [
                {
                    "line": line.order_line_external_id,
                    "quantity": line.quantity,
                    "reason": line.reason,
                }
                | ({"exchange_sku": line.exchange_sku} if line.exchange_sku else {})
                for line in request.lines
            ],
        }
        | ({"resolution": request.resolution} if request.resolution == "exchange" else {}),
        actor=actor,
    )
    return return_, [FollowUp("decide_return", (return_.id,), f"decide_return:{return_.id}")]


def variants_on_offer(adapter: Any, line: models.OrderLine) -> list[Variant] | None:
    """The variants a buyer may take instead of an order line's (available, not the one
    bought), or None when the platform offers no exchanges."""
    if not isinstance(adapter, VariantSource):
        return None
    return [
        variant
        for variant in adapter.variants(line.external_id, line.sku)
        if variant.available and variant.sku != line.sku
    ]


def check_exchange(adapter: Any, order: models.Order, request: ReturnRequest) -> None:
    """Refuse an exchange whose lines name variants the platform does not offer for them
    (``ValidationError`` naming the line), or whose platform offers no exchanges."""
    if request.resolution != "exchange":
        return
    if not isinstance(adapter, VariantSource):
        raise ValidationError("resolution", "this store's platform offers no exchanges")
    lines = {line.external_id: line for line in order.lines}
    for index, wanted in enumerate(request.lines):
        line = lines.get(wanted.order_line_external_id)
        if line is None or not wanted.exchange_sku:
            continue  # an unknown line is create_return's to refuse
        offered = variants_on_offer(adapter, line) or []
        if wanted.exchange_sku not in {variant.sku for variant in offered}:
            choices = ", ".join(variant.sku for variant in offered) or "none"
            raise ValidationError(
                f"lines[{index}].exchange_sku",
                f"{wanted.exchange_sku!r} is not a variant on offer for line "
                f"{line.sku or line.external_id} (on offer: {choices})",
            )


def record_inbound(
    session: Session,
    source: str,
    store: models.Store | None,
    event: InboundEventDTO,
    body: bytes,
    headers: dict[str, str],
) -> models.InboundEvent | None:
    """Insert the delivery into the inbox, or None when this event id was seen before."""
    exists = session.scalar(
        select(models.InboundEvent.id).where(
            models.InboundEvent.source == source, models.InboundEvent.event_id == event.event_id
        )
    )
    if exists is not None:
        return None
    row = models.InboundEvent(
        source=source,
        store_id=store.id if store else None,
        event_id=event.event_id,
        topic=event.topic,
        headers=headers,
        body=body.decode("utf-8"),
    )
    session.add(row)
    session.flush()
    return row


def find_store(session: Session, platform: str, external_id: str) -> models.Store | None:
    """The linked store a delivery comes from. An uninstalled store still receives the
    platform's data-protection deliveries (a shop's erasure comes days after uninstall);
    ``apply_inbound`` ignores anything else it sends."""
    return session.scalar(
        select(models.Store).where(
            models.Store.platform == platform,
            models.Store.external_id == external_id,
            models.Store.status.in_(["active", "uninstalled"]),
        )
    )


@dataclass(frozen=True)
class Reading:
    """What a stored delivery means, worked out (with any platform calls) outside the
    transaction that stores it."""

    parsed: ParsedEvent
    order: Order | None = None  # the order a return request needs, read from the platform


def read_inbound(session: Session, adapter: Any, inbound_id: int) -> Reading:
    """Interpret a delivery; when a return arrives before its order, read the order too.
    Run it without holding locks: both may call the platform."""
    inbound = session.get(models.InboundEvent, inbound_id)
    if inbound is None or inbound.status == "processed":
        raise NothingToDo(f"inbound event {inbound_id} was processed already")
    store = session.get(models.Store, inbound.store_id) if inbound.store_id else None
    if store is None:
        raise NotFound(f"inbound event {inbound_id} has no store")
    dto = InboundEventDTO(
        event_id=inbound.event_id,
        topic=inbound.topic,
        shop=store.external_id,
        payload=json.loads(inbound.body),
    )
    if store.status != "active":
        try:  # with its tokens gone, only what needs no platform call can be read
            return Reading(adapter.interpret(dto))
        except HellowordError:
            return Reading(ParsedEvent("ignored"))
    parsed = adapter.interpret(dto)
    request = parsed.return_request
    if parsed.kind == "return_request" and request is not None:
        known = session.scalar(
            select(models.Order.id).where(
                models.Order.store_id == store.id,
                models.Order.external_id == request.order_external_id,
            )
        )
        if known is None:
            return Reading(parsed, adapter.fetch_order(request.order_external_id))
    return Reading(parsed)


@dataclass(frozen=True)
class Keepers:
    """What some deliveries need besides the database: the file store (privacy exports, label
    files to erase) and the vault (credentials to forget on uninstall)."""

    files: FileStore
    vault: Vault


def apply_inbound(
    session: Session, inbound_id: int, reading: Reading, keepers: Keepers
) -> list[FollowUp]:
    """Store what a delivery meant, once: the inbound row is locked and marked processed."""
    inbound = session.get(models.InboundEvent, inbound_id, with_for_update=True)
    if inbound is None or inbound.status == "processed":
        raise NothingToDo(f"inbound event {inbound_id} was processed already")
    store = session.get(models.Store, inbound.store_id)
    if store is None:
        raise NotFound(f"inbound event {inbound_id} has no store")
    parsed = reading.parsed
    follow_ups: list[FollowUp] = []
    if store.status != "active" and parsed.kind not in PRIVACY_KINDS:
        pass  # an uninstalled store's business is no longer ours
    elif parsed.kind == "order" and parsed.order is not None:
        upsert_order(session, store, parsed.order)
    elif parsed.kind == "return_request" and parsed.return_request is not None:
        request = parsed.return_request
        if reading.order is not None:
            upsert_order(session, store, reading.order)
        order = session.scalar(
            select(models.Order).where(
                models.Order.store_id == store.id,
                models.Order.external_id == request.order_external_id,
            )
        )
        if order is None:
            raise NotFound(f"order {request.order_external_id} is unknown to store {store.id}")
        _, follow_ups = create_return(session, store, order, request)
    elif parsed.kind == "return_update":
        follow_ups = _platform_status_changed(
            session, store, parsed.return_external_id, parsed.external_return_status
        )
    elif parsed.kind in PRIVACY_KINDS:
        _privacy(session, keepers, store, parsed)
    inbound.status = "processed"
    inbound.processed_at = utcnow()
    return follow_ups


PRIVACY_KINDS = ("uninstalled", "customer_data_request", "customer_redact", "shop_redact")


def _privacy(session: Session, keepers: Keepers, store: models.Store, parsed: ParsedEvent) -> None:
    """The platform's data-protection and uninstall deliveries. ``details`` name the customer
    (``customer_external_id``, ``email``), their orders (``order_external_ids``) and the
    platform's ``request_id``, in the store's own identifiers."""
    details = parsed.details
    customer = str(details.get("customer_external_id") or "")
    email = str(details.get("email") or "")
    orders = [str(i) for i in details.get("order_external_ids") or ()]
    reference = str(details.get("request_id") or "")
    if parsed.kind == "uninstalled":
        privacy.uninstall(session, keepers.vault, store)
    elif parsed.kind == "customer_data_request":
        privacy.export_customer(
            session,
            keepers.files,
            store,
            customer_external_id=customer,
            email=email,
            order_external_ids=orders,
            reference=reference,
        )
    elif parsed.kind == "customer_redact":
        privacy.redact_customer(
            session,
            keepers.files,
            store,
            customer_external_id=customer,
            email=email,
            order_external_ids=orders,
            reference=reference,
        )
    else:
        privacy.redact_shop(session, keepers.files, keepers.vault, store, reference)


def inbound_failed(session: Session, inbound_id: int, error: str) -> None:
    """A delivery that cannot be stored: say why on its row, for staff and the sweeper."""
    inbound = session.get(models.InboundEvent, inbound_id, with_for_update=True)
    if inbound is not None and inbound.status != "processed":
        inbound.status, inbound.error = "failed", error


def _platform_status_changed(
    session: Session, store: models.Store, external_id: str, status: str
) -> list[FollowUp]:
    """The platform moved a return: canceled there (the buyer withdrew it) cancels ours; a
    merchant who settled a return in review on the platform's own admin ("open" is approved
    there, "declined" declined) settles ours the same way. Anything else, including the echo
    of our own pushes, changes nothing."""
    from .lifecycle import cancel, review

    return_ = session.scalar(
        select(models.Return).where(
            models.Return.store_id == store.id, models.Return.external_id == external_id
        )
    )
    if not external_id or return_ is None:
        return []
    actor = store.platform
    if status == "canceled" and return_.status not in TERMINAL:
        return cancel(session, return_.id, reason="canceled on the platform", actor=actor)
    if status in ("open", "declined") and return_.status == Status.IN_REVIEW:
        note = f"{'approved' if status == 'open' else 'declined'} on {store.platform}"
        return review(session, return_.id, status == "open", note, actor)
    return []
