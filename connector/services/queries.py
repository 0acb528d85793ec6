"""Finding a merchant's returns: the filters, search and pages that the API and the back office
share, one return's whole history, and a return found by its RMA as typed or scanned.

Every function takes the merchant's id and reads only that merchant's rows; a return of
another merchant is found exactly like one that does not exist.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.interfaces import ORMOption

from ..db import models
from ..domain import Status
from ..errors import NotFound
from ..ledger import Breach, verify_return

# what a list of returns shows of each: its order and buyer, its store, its lines
LIST_LOAD: tuple[ORMOption, ...] = (
    selectinload(models.Return.order).selectinload(models.Order.customer),
    selectinload(models.Return.store),
    selectinload(models.Return.lines).selectinload(models.ReturnLine.order_line),
)


# the largest id an integer column holds: a larger one names nothing
LARGEST_ID = 2**31 - 1


def whole_id(text: str) -> int | None:
    """An id as typed in a form or a query string, or None when it cannot be one."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= LARGEST_ID:
        return None
    return int(text)


@dataclass(frozen=True)
class ReturnFilter:
    """Which returns to list; a field left at None (or empty) does not narrow the list.

    ``search`` finds a return by its RMA (as scanned or typed: spaces and case do not
    matter), its order's number (with or without ``#``), or its buyer's email (a whole
    address in any case, or a part of one written with its ``@``, like ``@example.com``).
    """

    statuses: tuple[str, ...] = ()
    store_id: int | None = None
    order_id: int | None = None
    platform: str | None = None
    rma: str | None = None
    review_queue: str | None = None
    reason: str | None = None  # any line's reason
    country: str | None = None  # the buyer's, else the order's shipping country
    created_after: datetime | None = None
    created_before: datetime | None = None
    requested_after: datetime | None = None
    requested_before: datetime | None = None
    search: str = ""


def matching(merchant_id: int, wanted: ReturnFilter) -> Select[models.Return]:
    """The merchant's returns that pass every filter, unordered."""
    Return, Order = models.Return, models.Order
    query = (
        select(Return)
        .join(Order, Return.order_id == Order.id)
        .where(Return.merchant_id == merchant_id)
    )
    if wanted.statuses:
        query = query.where(Return.status.in_(wanted.statuses))
    if wanted.store_id is not None:
        query = query.where(Return.store_id == wanted.store_id)
    if wanted.order_id is not None:
        query = query.where(Return.order_id == wanted.order_id)
    if wanted.platform is not None:
        query = query.where(
            Return.store_id.in_(
                select(models.Store.id).where(
                    models.Store.merchant_id == merchant_id,
                    models.Store.platform == wanted.platform,
                )
            )
        )
    if wanted.rma is not None:
        query = query.where(Return.rma == wanted.rma)
    if wanted.review_queue is not None:
        query = query.where(Return.review_queue == wanted.review_queue)
    if wanted.reason is not None:
        query = query.where(
            Return.id.in_(
                select(models.ReturnLine.return_id).where(models.ReturnLine.reason == wanted.reason)
            )
        )
    if wanted.country is not None:
        country = func.coalesce(
            Return.buyer_address["country"].as_string(),
            Order.shipping_address["country"].as_string(),
        )
        query = query.where(country == wanted.country)
    for column, after, before in (
        (Return.created_at, wanted.created_after, wanted.created_before),
        (Return.requested_at, wanted.requested_after, wanted.requested_before),
    ):
        if after is not None:
            query = query.where(column >= after)
        if before is not None:
            query = query.where(column < before)
    if wanted.search.strip():
        query = query.where(_found_by(wanted.search.strip()))
    return query


def _found_by(term: str) -> ColumnElement[bool]:
    Return, Order = models.Return, models.Order
    found = [Return.rma == normal_rma(term), Order.number == term.removeprefix("#").strip()]
    if "@" in term:
        email = term.lower()
        pattern = "%" + email.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        buyer_emails = select(models.Customer.id).where(
            func.lower(models.Customer.email).like(pattern, escape="\\")
        )
        found.append(Order.customer_id.in_(buyer_emails))
        found.append(func.lower(Return.buyer_address["email"].as_string()) == email)
    return or_(*found)


def page(
    session: Session, query: Select[models.Return], first: int, size: int
) -> tuple[int, list[models.Return]]:
    """How many returns match, and ``size`` of them from ``first`` on, newest first, with
    what a list shows of each loaded."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(*LIST_LOAD)
        .order_by(models.Return.created_at.desc(), models.Return.id.desc())
        .offset(first)
        .limit(size)
    ).all()
    return total, list(rows)


_RMA_NOISE = re.compile(r"[\s\-_]+")


def normal_rma(text: str) -> str:
    """An RMA as stored (``R0000012``) from what a scanner or a person typed (``r 0000012``)."""
    return _RMA_NOISE.sub("", text).upper()


def find_by_rma(session: Session, merchant_id: int, text: str) -> models.Return | None:
    rma = normal_rma(text)
    if not rma:
        return None
    return session.scalar(
        select(models.Return).where(
            models.Return.merchant_id == merchant_id, models.Return.rma == rma
        )
    )


def owned_return(
    session: Session, merchant_id: int, return_id: int, *load: ORMOption
) -> models.Return:
    """The merchant's return; ``NotFound`` when it is missing or another merchant's."""
    if not 0 < return_id <= LARGEST_ID:
        raise NotFound(f"return {return_id} does not exist")
    return_ = session.scalar(
        select(models.Return)
        .where(models.Return.id == return_id, models.Return.merchant_id == merchant_id)
        .options(*load)
    )
    if return_ is None:
        raise NotFound(f"return {return_id} does not exist")
    return return_


@dataclass(frozen=True)
class History:
    """A return with everything that happened to it, read at one moment."""

    return_: models.Return
    decisions: list[models.Decision]
    shipments: list[models.Shipment]
    labels: dict[int, list[models.LabelFile]]  # by shipment id, in format order
    tracking_events: list[models.TrackingEvent]
    receipt: models.Receipt | None
    photos: list[models.ReturnPhoto]
    refunds: list[models.Refund]
    ledger: list[models.LedgerEvent]
    breach: Breach | None  # the first break in the hash chain; None: verified
    tracking_by_shipment: dict[int, list[models.TrackingEvent]] = field(init=False)

    def __post_init__(self) -> None:
        grouped: dict[int, list[models.TrackingEvent]] = defaultdict(list)
        for event in self.tracking_events:
            grouped[event.shipment_id].append(event)
        object.__setattr__(self, "tracking_by_shipment", dict(grouped))

    @property
    def verified(self) -> bool:
        return self.breach is None


def history(session: Session, merchant_id: int, return_id: int) -> History:
    """Read in a ``Database.snapshot()`` session, so the return and its ledger agree."""
    return_ = owned_return(session, merchant_id, return_id, *LIST_LOAD)
    shipments = list(
        session.scalars(
            select(models.Shipment)
            .where(models.Shipment.return_id == return_id)
            .order_by(models.Shipment.id)
        )
    )
    shipment_ids = [shipment.id for shipment in shipments]
    labels: dict[int, list[models.LabelFile]] = defaultdict(list)
    for label in session.scalars(
        select(models.LabelFile)
        .where(models.LabelFile.shipment_id.in_(shipment_ids))
        .order_by(models.LabelFile.format)
    ):
        labels[label.shipment_id].append(label)
    events = list(
        session.scalars(
            select(models.LedgerEvent)
            .where(models.LedgerEvent.return_id == return_id)
            .order_by(models.LedgerEvent.seq, models.LedgerEvent.id)
        )
    )
    return History(
        return_=return_,
        decisions=list(
            session.scalars(
                select(models.Decision)
                .where(models.Decision.return_id == return_id)
                .order_by(models.Decision.decided_at, models.Decision.id)
            )
        ),
        shipments=shipments,
        labels=dict(labels),
        tracking_events=list(
            session.scalars(
                select(models.TrackingEvent)
                .where(models.TrackingEvent.shipment_id.in_(shipment_ids))
                .order_by(models.TrackingEvent.occurred_at, models.TrackingEvent.id)
            )
        ),
        receipt=session.scalar(select(models.Receipt).where(models.Receipt.return_id == return_id)),
        photos=list(
            session.scalars(
                select(models.ReturnPhoto)
                .where(models.ReturnPhoto.return_id == return_id)
                .order_by(models.ReturnPhoto.id)
            )
        ),
        refunds=list(
            session.scalars(
                select(models.Refund)
                .where(models.Refund.return_id == return_id)
                .order_by(models.Refund.sequence)
            )
        ),
        ledger=events,
        breach=verify_return(return_, events),
    )


def in_review(session: Session, merchant_id: int) -> dict[str, list[models.Return]]:
    """The returns waiting for a person, by review queue (queues in name order, each oldest
    request first)."""
    rows = session.scalars(
        select(models.Return)
        .where(models.Return.merchant_id == merchant_id, models.Return.status == Status.IN_REVIEW)
        .options(*LIST_LOAD)
        .order_by(models.Return.review_queue, models.Return.requested_at, models.Return.id)
    )
    queues: dict[str, list[models.Return]] = {}
    for return_ in rows:
        queues.setdefault(return_.review_queue, []).append(return_)
    return queues


def review_queues(session: Session, merchant_id: int) -> list[str]:
    """The names of the review queues the merchant's returns wait in now."""
    return list(
        session.scalars(
            select(models.Return.review_queue)
            .where(models.Return.merchant_id == merchant_id, models.Return.review_queue != "")
            .distinct()
            .order_by(models.Return.review_queue)
        )
    )


def stores(session: Session, merchant_id: int) -> list[models.Store]:
    return list(
        session.scalars(
            select(models.Store)
            .where(models.Store.merchant_id == merchant_id)
            .order_by(models.Store.id)
        )
    )
