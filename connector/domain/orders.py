"""Orders as every platform's adapter delivers them: the canonical shape the core reasons on.

``external_id`` is the platform's identifier; the core never invents meaning for it. Dates are
timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .money import Money


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2
    line2: str = ""
    region: str = ""
    phone: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        if len(self.country) != 2 or not self.country.isalpha() or not self.country.isupper():
            raise ValueError(f"country must be an ISO 3166 alpha-2 code, not {self.country!r}")


@dataclass(frozen=True, slots=True)
class Customer:
    external_id: str
    email: str
    name: str = ""
    locale: str = "en"


@dataclass(frozen=True, slots=True)
class OrderLine:
    external_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Money
    weight_kg: Decimal = Decimal("0.5")
    dimensions_cm: tuple[Decimal, Decimal, Decimal] = (Decimal(20), Decimal(15), Decimal(5))
    hs_code: str = ""
    origin_country: str = ""
    tags: tuple[str, ...] = ()
    delivered_at: datetime | None = None

    @property
    def value(self) -> Money:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class Order:
    external_id: str
    number: str
    currency: str
    placed_at: datetime
    customer: Customer
    shipping_address: Address
    lines: tuple[OrderLine, ...]
    total: Money
    delivered_at: datetime | None = None
    tags: tuple[str, ...] = ()
    shipped_from: str = ""  # the country the order left from
    export_reference: str = ""  # its export declaration, cited when goods come back
    raw: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def line(self, external_id: str) -> OrderLine:
        for line in self.lines:
            if line.external_id == external_id:
                return line
        raise KeyError(f"order {self.number} has no line {external_id!r}")
