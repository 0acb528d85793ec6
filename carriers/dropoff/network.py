"""Drop-off networks: which services take a return box-free from which countries, at what price.

A network is one CSV file, a row per service and group of countries::

    service,country_codes,price,per_kg,currency,max_kg,transit_min,transit_max,instructions
    parcelshop,"DE,AT",3.90,0.25,EUR,20,3,6,"Take the item to a partner parcel shop…"

The price of a parcel is ``price + per_kg × actual weight``: the point weighs what the buyer
brings, and packs it itself, so there are no dimensions to bill. ``load_network`` reads and
validates a file once per process (again only after it changes); the rest is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from connector.domain import Money

from ..csvfile import CsvFileError, read_rows

NETWORK_COLUMNS = (
    "service",
    "country_codes",
    "price",
    "per_kg",
    "currency",
    "max_kg",
    "transit_min",
    "transit_max",
    "instructions",
)


@dataclass(frozen=True, slots=True)
class DropOffService:
    """One row: a service as offered in some countries."""

    service: str
    countries: frozenset[str]
    price: Decimal
    per_kg: Decimal
    currency: str
    max_kg: Decimal
    transit_min: int
    transit_max: int
    instructions: str

    def takes(self, country: str, weight_kg: Decimal) -> bool:
        return country in self.countries and weight_kg <= self.max_kg

    def charge(self, weight_kg: Decimal) -> tuple[Money, tuple[tuple[str, str], ...]]:
        """The price for a parcel of this weight, and its (component, amount) breakdown."""
        base = Money.of(self.price, self.currency)
        weight_charge = Money.of(self.per_kg * weight_kg, self.currency)
        breakdown = (("base", str(base.amount)), ("weight", str(weight_charge.amount)))
        return base + weight_charge, breakdown


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    services: tuple[DropOffService, ...]

    @property
    def countries(self) -> frozenset[str]:
        return frozenset().union(*(service.countries for service in self.services))

    def offers(self, country: str, weight_kg: Decimal) -> list[DropOffService]:
        """The services that take a parcel of this weight from this country."""
        return [service for service in self.services if service.takes(country, weight_kg)]


def load_network(path: Path) -> Network:
    """The network in ``path``, parsed once per process and again only after it changes."""
    path = path.resolve()
    try:
        stat = path.stat()
    except OSError:
        raise CsvFileError(str(path), 0, "", "file not found") from None
    return _load_cached(path, (stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=32)
def _load_cached(path: Path, stamp: tuple[int, int]) -> Network:
    # ``stamp`` is only part of the cache key: an edited file has a new one.
    return parse_network(path.stem, path.read_text(encoding="utf-8-sig"), source=str(path))


def parse_network(name: str, text: str, *, source: str = "") -> Network:
    file = source or f"{name}.csv"
    services: list[DropOffService] = []
    for row in read_rows(file, text, NETWORK_COLUMNS):
        service_name = row.text("service")
        countries = row.countries("country_codes")
        for country in countries:
            if any(s.service == service_name and country in s.countries for s in services):
                raise row.fail("country_codes", f"{service_name} already serves {country}")
        currency = row.currency("currency")
        transit_min = row.integer("transit_min")
        transit_max = row.integer("transit_max")
        if transit_max < transit_min:
            raise row.fail("transit_max", f"must not be below transit_min ({transit_min})")
        services.append(
            DropOffService(
                service=service_name,
                countries=frozenset(countries),
                price=row.decimal("price"),
                per_kg=row.decimal("per_kg", default=Decimal(0)),
                currency=currency,
                max_kg=row.decimal("max_kg", positive=True),
                transit_min=transit_min,
                transit_max=transit_max,
                instructions=row.text("instructions"),
            )
        )
    if not services:
        raise CsvFileError(file, 1, "", "no services")
    return Network(name=name, services=tuple(services))
