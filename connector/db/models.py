"""The tables of the canonical model (ARCHITECTURE §4).

Money is stored as integer minor units beside its currency. A platform's identifier lives in
``external_id`` next to our own ``id`` and is unique within its store. Every table belongs to a
merchant directly or through its parent, and every query made for an API caller filters by it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .types import CanonicalJSON, JSONType, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


def _created(*, bulk: bool = False) -> Mapped[datetime]:
    """``bulk``: the database's ``now()`` is its default too, for a bulk writer that leaves
    it out (see ``EMPTY``)."""
    return mapped_column(
        UTCDateTime(), default=utcnow, nullable=False, server_default=func.now() if bulk else None
    )


# A bulk writer (the Amazon import's COPY) leaves out the columns it would fill with their
# defaults where the database has the same default: these, given as ``server_default``.
EMPTY = text("''")
NO_TAGS = text("'[]'")


class Merchant(Base):
    __tablename__ = "merchants"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # the merchant's part of the buyer portal's address, /r/<slug>
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # the routing settings document (connector.routing.settings); empty: the defaults
    routing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Store(Base):
    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="")
    credentials: Mapped[str] = mapped_column(Text, default="")  # Fernet token of a JSON object
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = _created()


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("store_id", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320), default="", index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(20), default="en")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("store_id", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    external_id: Mapped[str] = mapped_column(String(255))
    number: Mapped[str] = mapped_column(String(100), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipping_address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the country the order left from and its export declaration, for returned-goods relief
    shipped_from: Mapped[str] = mapped_column(String(2), default="", server_default=EMPTY)
    export_reference: Mapped[str] = mapped_column(String(100), default="", server_default=EMPTY)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=NO_TAGS)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created(bulk=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )
    customer: Mapped[Customer | None] = relationship()


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str] = mapped_column(String(255), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    weight_g: Mapped[int] = mapped_column(Integer, default=500)
    dimensions_mm: Mapped[list[int]] = mapped_column(JSONType, default=list)
    hs_code: Mapped[str] = mapped_column(String(20), default="", server_default=EMPTY)
    origin_country: Mapped[str] = mapped_column(String(2), default="", server_default=EMPTY)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=NO_TAGS)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    order: Mapped[Order] = relationship(back_populates="lines")


class Return(Base):
    __tablename__ = "returns"
    __table_args__ = (
        UniqueConstraint("store_id", "external_id"),
        Index("ix_returns_merchant_status", "merchant_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(255))
    rma: Mapped[str | None] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(30), default="REQUESTED")
    source: Mapped[str] = mapped_column(String(20), default="platform", server_default="platform")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    buyer_address: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    note: Mapped[str] = mapped_column(Text, default="", server_default=EMPTY)
    review_queue: Mapped[str] = mapped_column(String(60), default="", server_default=EMPTY)
    refund_trigger: Mapped[str] = mapped_column(
        String(20), default="received", server_default="received"
    )
    route: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    route_option: Mapped[str] = mapped_column(String(200), default="", server_default=EMPTY)
    returnless: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # what the buyer asked to get back: refund | store_credit (given when the policy allows)
    resolution: Mapped[str] = mapped_column(String(20), default="refund", server_default="refund")
    ledger_head: Mapped[str] = mapped_column(String(64), default="")
    ledger_length: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created(bulk=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    lines: Mapped[list[ReturnLine]] = relationship(
        back_populates="return_", cascade="all, delete-orphan", order_by="ReturnLine.id"
    )
    order: Mapped[Order] = relationship()
    store: Mapped[Store] = relationship()


class ReturnLine(Base):
    __tablename__ = "return_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    external_id: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    condition: Mapped[str] = mapped_column(String(20), default="unused")
    note: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(20), default="", server_default=EMPTY)
    decision_reason: Mapped[str] = mapped_column(String(60), default="", server_default=EMPTY)
    grade: Mapped[str] = mapped_column(String(20), default="", server_default=EMPTY)
    # the variant wanted
    exchange_sku: Mapped[str] = mapped_column(String(255), default="", server_default=EMPTY)

    return_: Mapped[Return] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()


class ReturnPhoto(Base):
    """A photo of returned goods, from the buyer's portal or the receiving bench: checked by
    content and re-encoded without metadata before it is stored (``services/photos.py``)."""

    __tablename__ = "return_photos"
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    # the line it shows, or none for the parcel as a whole
    return_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("return_lines.id", ondelete="CASCADE")
    )
    path: Mapped[str] = mapped_column(String(500))  # relative to the files folder
    content_type: Mapped[str] = mapped_column(String(40))  # of the stored file
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = _created()


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200), default="policy")
    policy_version: Mapped[int | None] = mapped_column(Integer)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    explanation: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = _created()


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("carrier", "tracking_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # label | dropoff | own_shipment
    destination_id: Mapped[int | None] = mapped_column(ForeignKey("destinations.id"))
    carrier: Mapped[str] = mapped_column(String(40))
    service: Mapped[str] = mapped_column(String(100))
    tracking_number: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(255), default="")  # the carrier's id
    account: Mapped[str] = mapped_column(String(100), default="")  # carrier account name
    # the carrier that moves the parcel when an aggregator (Shippo) sold the label
    tracking_carrier: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(30), default="LABEL_CREATED")
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class LabelFile(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("shipment_id", "format"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(10))  # pdf | zpl | png
    path: Mapped[str] = mapped_column(String(500))  # relative to the files folder
    created_at: Mapped[datetime] = _created()


class TrackingEvent(Base):
    __tablename__ = "tracking_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    carrier_status: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)


class Receipt(Base):
    __tablename__ = "receipts"
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(
        ForeignKey("returns.id", ondelete="CASCADE"), unique=True
    )
    received_at: Mapped[datetime] = _created()
    weight_g: Mapped[int | None] = mapped_column(Integer)
    received_by: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class Grading(Base):
    __tablename__ = "gradings"
    id: Mapped[int] = mapped_column(primary_key=True)
    return_line_id: Mapped[int] = mapped_column(
        ForeignKey("return_lines.id", ondelete="CASCADE"), unique=True
    )
    grade: Mapped[str] = mapped_column(String(20))  # resellable | needs_repair | destroy | donate
    note: Mapped[str] = mapped_column(Text, default="")
    graded_at: Mapped[datetime] = _created()


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("return_id", "sequence"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|issued|failed
    trigger: Mapped[str] = mapped_column(String(20))
    # refund | store_credit | exchange (the other variant sent instead, no money)
    kind: Mapped[str] = mapped_column(String(20), default="refund", server_default="refund")
    external_id: Mapped[str] = mapped_column(String(255), default="", server_default=EMPTY)
    error: Mapped[str] = mapped_column(Text, default="", server_default=EMPTY)
    created_at: Mapped[datetime] = _created(bulk=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LedgerEvent(Base):
    __tablename__ = "ledger_events"
    __table_args__ = (UniqueConstraint("return_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(60))
    # kept as the canonical text that was hashed (not jsonb, which would re-order its keys)
    payload: Mapped[dict[str, Any]] = mapped_column(CanonicalJSON, default=dict)
    actor: Mapped[str] = mapped_column(String(200), default="system")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class InboundEvent(Base):
    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # platform or carrier slug
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(100))
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = _created()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboundAction(Base):
    __tablename__ = "outbound_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    return_id: Mapped[int | None] = mapped_column(
        ForeignKey("returns.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[str] = mapped_column(String(20))  # platform | carrier
    action: Mapped[str] = mapped_column(String(40))  # approve | decline | attach_label | …
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # while set and in the future, one job holds this row (a call in flight, or its backoff)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _created()
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Policy(Base):
    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("merchant_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column()
    saved_by: Mapped[str] = mapped_column(String(320), default="")  # who: a user, a key, setup
    created_at: Mapped[datetime] = _created()


class Destination(Base):
    __tablename__ = "destinations"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # origin | warehouse | hub
    address: Mapped[dict[str, Any]] = mapped_column()
    countries: Mapped[list[str]] = mapped_column(JSONType, default=list)
    handling_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    resale_factor: Mapped[str] = mapped_column(String(12))  # a Decimal, kept exact as text
    duty_rate: Mapped[str] = mapped_column(String(12), default="0")  # duty + tax on entry
    grades: Mapped[bool] = mapped_column(Boolean, default=False)  # grades and refurbishes
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CarrierAccount(Base):
    __tablename__ = "carrier_accounts"
    __table_args__ = (UniqueConstraint("merchant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    carrier: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    destination_id: Mapped[int | None] = mapped_column(ForeignKey("destinations.id"))
    credentials: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class FxRate(Base):
    __tablename__ = "fx_rates"
    __table_args__ = (UniqueConstraint("base", "quote", "as_of"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    base: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    rate: Mapped[str] = mapped_column(String(40))  # a Decimal, kept as text to stay exact
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())


class PrivacyRequest(Base):
    """A platform's data-protection request for a store: an export of what Helloword holds on
    a customer, or the erasure of a customer's or a whole shop's personal data."""

    __tablename__ = "privacy_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # data_request | customer_redact | shop_redact
    reference: Mapped[str] = mapped_column(String(255), default="")  # the platform's request id
    # which customer, as the platform named them; emptied once the erasure is done
    subject: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # counts of what was done
    export_path: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = _created()


class User(Base):
    """A person who signs in to a merchant's back office."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, with its parameters
    created_at: Mapped[datetime] = _created()
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
