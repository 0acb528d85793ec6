"""The business's own words: money, orders, returns and logistics, as plain dataclasses."""

from .logistics import Label, Parcel, RateQuote, Shipment, TrackingEvent, TrackingStatus
from .money import Money, MoneyError
from .orders import Address, Customer, Order, OrderLine
from .returns import (
    TERMINAL,
    Condition,
    IllegalTransition,
    Reason,
    ReturnLine,
    ReturnRequest,
    Status,
    transition,
)

__all__ = [
    "TERMINAL",
    "Address",
    "Condition",
    "Customer",
    "IllegalTransition",
    "Label",
    "Money",
    "MoneyError",
    "Order",
    "OrderLine",
    "Parcel",
    "RateQuote",
    "Reason",
    "ReturnLine",
    "ReturnRequest",
    "Shipment",
    "Status",
    "TrackingEvent",
    "TrackingStatus",
    "transition",
]
