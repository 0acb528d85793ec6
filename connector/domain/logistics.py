"""Parcels, quotes, labels and tracking, in the carrier-neutral words the core uses.

``TrackingStatus`` is the canonical set every carrier's statuses map onto (see the carrier
reference §4); ``is_terminal`` marks the ones after which a parcel no longer moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from .money import Money
from .orders import Address


class TrackingStatus(StrEnum):
    LABEL_CREATED = "LABEL_CREATED"
    DROPPED_OFF = "DROPPED_OFF"
    IN_TRANSIT = "IN_TRANSIT"
    ON_HOLD = "ON_HOLD"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    AVAILABLE_FOR_PICKUP = "AVAILABLE_FOR_PICKUP"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    DELIVERED = "DELIVERED"
    RETURNED_TO_SENDER = "RETURNED_TO_SENDER"
    EXCEPTION = "EXCEPTION"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_TRACKING

    @property
    def is_first_scan(self) -> bool:
        """The carrier has the parcel: the moment a ``first_scan`` refund trigger fires."""
        return self in _CARRIER_HAS_IT


_TERMINAL_TRACKING = frozenset(
    {
        TrackingStatus.DELIVERED,
        TrackingStatus.RETURNED_TO_SENDER,
        TrackingStatus.CANCELLED,
        TrackingStatus.EXPIRED,
    }
)
_CARRIER_HAS_IT = frozenset(
    {
        TrackingStatus.DROPPED_OFF,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.ON_HOLD,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.AVAILABLE_FOR_PICKUP,
        TrackingStatus.DELIVERY_FAILED,
        TrackingStatus.DELIVERED,
    }
)


@dataclass(frozen=True, slots=True)
class Parcel:
    weight_kg: Decimal
    length_cm: Decimal
    width_cm: Decimal
    height_cm: Decimal

    def __post_init__(self) -> None:
        for name in ("weight_kg", "length_cm", "width_cm", "height_cm"):
            if Decimal(getattr(self, name)) <= 0:
                raise ValueError(f"parcel {name} must be positive")

    @property
    def volume_cm3(self) -> Decimal:
        return self.length_cm * self.width_cm * self.height_cm


@dataclass(frozen=True, slots=True)
class Shipment:
    """What a carrier is asked to quote or carry: a parcel from a buyer to a destination."""

    reference: str  # the RMA
    from_address: Address  # the buyer
    to_address: Address  # the destination
    parcel: Parcel
    declared_value: Money
    is_return: bool = True
    export_reference: str = ""  # the goods' original export declaration, for customs relief


@dataclass(frozen=True, slots=True)
class RateQuote:
    carrier: str  # carrier slug
    service: str
    account: str  # which carrier account (rate card, contract) gave the price
    price: Money
    transit_days_min: int
    transit_days_max: int
    breakdown: tuple[tuple[str, str], ...] = ()  # (component, amount) in price.currency


@dataclass(frozen=True, slots=True)
class Label:
    carrier: str
    service: str
    tracking_number: str
    price: Money
    pdf: bytes = b""
    zpl: str = ""
    qr_png: bytes = b""
    qr_payload: str = ""
    expires_at: datetime | None = None
    external_id: str = ""
    tracking_carrier: str = ""  # who moves the parcel, when an aggregator sold the label


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    tracking_number: str
    status: TrackingStatus
    occurred_at: datetime
    carrier_status: str = ""
    description: str = ""
    location: str = ""

    @property
    def dedup_key(self) -> str:
        return f"{self.tracking_number}|{self.occurred_at.isoformat()}|{self.status}"
