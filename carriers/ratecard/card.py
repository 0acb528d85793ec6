"""Rate cards: three CSV files that say what a parcel costs, read, checked and applied.

A card is a folder holding ``zones.csv`` (which countries and postal prefixes form a zone),
``rates.csv`` (weight bands per service and zone) and ``services.csv`` (each service's
volumetric divisor, rounding, limits, fuel and fixed surcharges); the carrier reference §6
describes the columns. ``load_card`` reads and validates a folder once per process (again only
when a file changes); ``RateCard.price`` applies the card to a parcel and is pure.

Pricing follows the reference's steps: billable weight is the actual weight, or the volumetric
weight (L·W·H / divisor) where the service's rule says so, raised to the service's minimum and
rounded up to its step. The buyer's address picks one zone, the longest matching postal prefix
before a whole country; a service without a band for that weight in that zone does not quote,
rather than fall back to a less specific zone. Base, each surcharge and fuel are rounded half-up
to the currency's minor unit on their own, so the breakdown adds up to the total exactly.

Every problem in a file is reported with the file, line and column, because cards are edited by
hand and a person must be able to find the cell to fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from connector.domain import Money, Parcel

from ..csvfile import CsvFileError, Row, read_rows

ZONES_FILE = "zones.csv"
RATES_FILE = "rates.csv"
SERVICES_FILE = "services.csv"

ZONE_COLUMNS = ("zone_id", "country_codes", "postal_prefixes")
RATE_COLUMNS = (
    "carrier",
    "service",
    "zone_id",
    "min_kg",
    "max_kg",
    "mode",
    "price",
    "step_kg",
    "step_price",
    "per_parcel_fee",
    "currency",
    "transit_min",
    "transit_max",
)
SERVICE_COLUMNS = (
    "carrier",
    "service",
    "dim_divisor",
    "vol_rule",
    "round_step_kg",
    "min_billable_kg",
    "max_kg",
    "fuel_pct",
    "fuel_on_surcharges",
    "surcharges_json",
)
# Breakdown names the pricing itself uses; a surcharge may not take one of them.
RESERVED_COMPONENTS = frozenset({"billable_kg", "base", "fuel"})


# Errors in a card name the file, line and column; callers may catch them as CardError.
CardError = CsvFileError


class Mode(StrEnum):
    FLAT = "flat"  # the band's price, whatever the weight inside the band
    PER_KG = "per_kg"  # price × billable kg
    FIRST_ADDITIONAL = "first_additional"  # price for the first step, step_price per further step


class VolumeRule(StrEnum):
    MAX = "max"  # bill the greater of actual and volumetric weight
    IF_2X = "if_2x"  # bill volumetric weight only when it is at least twice the actual weight
    NONE = "none"  # bill actual weight only


@dataclass(frozen=True, slots=True)
class Zone:
    zone_id: str
    countries: frozenset[str]
    postal_prefixes: tuple[str, ...]  # normalised: upper case, no spaces or dashes


@dataclass(frozen=True, slots=True)
class Band:
    carrier: str
    service: str
    zone_id: str
    min_kg: Decimal
    max_kg: Decimal
    mode: Mode
    price: Decimal
    step_kg: Decimal | None
    step_price: Decimal | None
    per_parcel_fee: Decimal
    currency: str
    transit_min: int
    transit_max: int

    def holds(self, weight_kg: Decimal) -> bool:
        """``min < w ≤ max``: "up to 0.5 kg" includes 0.5 kg; a band from 0 also holds 0."""
        return self.min_kg < weight_kg <= self.max_kg or weight_kg == self.min_kg == 0

    def base(self, weight_kg: Decimal) -> Decimal:
        if self.mode is Mode.FLAT:
            amount = self.price
        elif self.mode is Mode.PER_KG:
            amount = self.price * weight_kg
        else:
            assert self.step_kg is not None and self.step_price is not None
            extra_steps = _ceil(max(Decimal(0), weight_kg - self.step_kg) / self.step_kg)
            amount = self.price + extra_steps * self.step_price
        return amount + self.per_parcel_fee


@dataclass(frozen=True, slots=True)
class Service:
    carrier: str
    service: str
    dim_divisor: Decimal | None  # cm³ per kg; None when the service ignores volume
    vol_rule: VolumeRule
    round_step_kg: Decimal | None  # None: no rounding
    min_billable_kg: Decimal
    max_kg: Decimal  # heaviest actual weight the service accepts
    fuel_pct: Decimal
    fuel_on_surcharges: bool
    surcharges: tuple[tuple[str, Decimal], ...]  # fixed amounts in the card's currency

    @property
    def name(self) -> str:
        """The name quotes carry, e.g. ``cnline-ECONOMY``."""
        return f"{self.carrier}-{self.service}"

    def billable_kg(self, parcel: Parcel) -> Decimal:
        actual = Decimal(parcel.weight_kg)
        weight = actual
        if self.dim_divisor is not None and self.vol_rule is not VolumeRule.NONE:
            volumetric = parcel.volume_cm3 / self.dim_divisor
            if self.vol_rule is VolumeRule.MAX or volumetric >= 2 * actual:
                weight = max(actual, volumetric)
        weight = max(self.min_billable_kg, weight)
        if self.round_step_kg is not None:
            weight = _ceil(weight / self.round_step_kg) * self.round_step_kg
        return weight


@dataclass(frozen=True, slots=True)
class Price:
    """What one service of a card charges for one parcel, and how the amount came about."""

    carrier: str  # the card's carrier column, e.g. "cnline"
    service_code: str  # the card's service column, e.g. "ECONOMY"
    service: str  # both together, the name quotes carry: "cnline-ECONOMY"
    zone_id: str
    billable_kg: Decimal
    base: Money
    surcharges: tuple[tuple[str, Money], ...]
    fuel: Money
    total: Money
    transit_min: int
    transit_max: int

    @property
    def breakdown(self) -> tuple[tuple[str, str], ...]:
        return (
            ("billable_kg", f"{self.billable_kg.normalize():f}"),
            ("base", str(self.base.amount)),
            *((name, str(amount.amount)) for name, amount in self.surcharges),
            ("fuel", str(self.fuel.amount)),
        )


@dataclass(frozen=True, slots=True)
class RateCard:
    name: str
    currency: str
    zones: tuple[Zone, ...]
    services: tuple[Service, ...]
    bands: tuple[Band, ...]

    @property
    def countries(self) -> frozenset[str]:
        """Every country some zone of the card serves."""
        return frozenset().union(*(zone.countries for zone in self.zones))

    def zone_for(self, country: str, postal_code: str) -> Zone | None:
        """The most specific zone: the longest matching postal prefix, else the country."""
        postal = _normal_postal(postal_code)
        best: Zone | None = None
        best_length = -1
        for zone in self.zones:
            if country not in zone.countries:
                continue
            if not zone.postal_prefixes:
                length = 0
            else:
                matching = [len(p) for p in zone.postal_prefixes if postal.startswith(p)]
                if not matching:
                    continue
                length = max(matching)
            if length > best_length:
                best, best_length = zone, length
        return best

    def price(self, parcel: Parcel, country: str, postal_code: str) -> list[Price]:
        """One price per service that carries this parcel from this place; others are left
        out (too heavy, no zone, no band), since not carrying a parcel is not an error."""
        zone = self.zone_for(country, postal_code)
        if zone is None:
            return []
        prices = []
        for service in self.services:
            price = self._price_service(service, zone, parcel)
            if price is not None:
                prices.append(price)
        return prices

    def _price_service(self, service: Service, zone: Zone, parcel: Parcel) -> Price | None:
        if Decimal(parcel.weight_kg) > service.max_kg:
            return None
        weight = service.billable_kg(parcel)
        band = next(
            (
                band
                for band in self.bands
                if (band.carrier, band.service, band.zone_id)
                == (service.carrier, service.service, zone.zone_id)
                and band.holds(weight)
            ),
            None,
        )
        if band is None:
            return None
        currency = band.currency
        # Each component is rounded to the minor unit on its own so the breakdown adds up to
        # the total exactly; fuel is a percentage of the rounded amounts it applies to.
        base = Money.of(band.base(weight), currency)
        surcharges = tuple(
            (name, Money.of(amount, currency)) for name, amount in service.surcharges
        )
        fuel_basis = base.amount
        if service.fuel_on_surcharges:
            fuel_basis += sum((amount.amount for _, amount in surcharges), Decimal(0))
        fuel = Money.of(fuel_basis * service.fuel_pct / 100, currency)
        total = base + fuel
        for _, amount in surcharges:
            total = total + amount
        return Price(
            carrier=service.carrier,
            service_code=service.service,
            service=service.name,
            zone_id=zone.zone_id,
            billable_kg=weight,
            base=base,
            surcharges=surcharges,
            fuel=fuel,
            total=total,
            transit_min=band.transit_min,
            transit_max=band.transit_max,
        )


# --- loading -----------------------------------------------------------------------------


def load_card(folder: Path) -> RateCard:
    """The card in ``folder``, parsed once per process and again only after a file changes."""
    folder = folder.resolve()
    stamps = []
    for file_name in (ZONES_FILE, RATES_FILE, SERVICES_FILE):
        path = folder / file_name
        try:
            stat = path.stat()
        except OSError:
            raise CardError(str(path), 0, "", "file not found") from None
        stamps.append((stat.st_mtime_ns, stat.st_size))
    return _load_cached(folder, tuple(stamps))


@lru_cache(maxsize=64)
def _load_cached(folder: Path, stamps: tuple[tuple[int, int], ...]) -> RateCard:
    # ``stamps`` is only part of the cache key: an edited file has a new one.
    texts = {
        name: (folder / name).read_text(encoding="utf-8-sig")
        for name in (ZONES_FILE, RATES_FILE, SERVICES_FILE)
    }
    return parse_card(folder.name, texts, source=str(folder))


def parse_card(name: str, texts: Mapping[str, str], *, source: str = "") -> RateCard:
    """A card from the text of its three files (keys: the file names)."""

    def where(file_name: str) -> str:
        return f"{source}/{file_name}" if source else file_name

    zones = _parse_zones(where(ZONES_FILE), texts[ZONES_FILE])
    services = _parse_services(where(SERVICES_FILE), texts[SERVICES_FILE])
    bands, currency = _parse_rates(
        where(RATES_FILE),
        texts[RATES_FILE],
        zone_ids={zone.zone_id for zone in zones},
        service_keys={(s.carrier, s.service) for s in services},
    )
    return RateCard(
        name=name,
        currency=currency,
        zones=tuple(zones),
        services=tuple(services),
        bands=tuple(bands),
    )


def _parse_zones(file: str, text: str) -> list[Zone]:
    zones: list[Zone] = []
    seen: dict[tuple[str, str], str] = {}  # (country, prefix) → zone that claims it
    for row in read_rows(file, text, ZONE_COLUMNS):
        zone_id = row.text("zone_id")
        if any(zone.zone_id == zone_id for zone in zones):
            raise row.fail("zone_id", f"zone {zone_id!r} is defined twice")
        countries = row.countries("country_codes")
        prefixes = tuple(_normal_postal(prefix) for prefix in row.codes("postal_prefixes"))
        for country in countries:
            for prefix in prefixes or ("",):
                other = seen.get((country, prefix))
                if other is not None:
                    what = f"postal prefix {prefix!r}" if prefix else "the whole country"
                    raise row.fail(
                        "postal_prefixes" if prefix else "country_codes",
                        f"{country} {what} is already in zone {other!r}",
                    )
                seen[(country, prefix)] = zone_id
        zones.append(Zone(zone_id, frozenset(countries), prefixes))
    return zones


def _parse_services(file: str, text: str) -> list[Service]:
    services: list[Service] = []
    for row in read_rows(file, text, SERVICE_COLUMNS):
        carrier = row.text("carrier")
        service_code = row.text("service")
        if any((s.carrier, s.service) == (carrier, service_code) for s in services):
            raise row.fail("service", f"{carrier} {service_code} is defined twice")
        vol_rule = row.choice("vol_rule", VolumeRule)
        divisor = row.optional_positive("dim_divisor")
        if divisor is None and vol_rule is not VolumeRule.NONE:
            raise row.fail("dim_divisor", f"vol_rule {vol_rule.value} needs a divisor above 0")
        services.append(
            Service(
                carrier=carrier,
                service=service_code,
                dim_divisor=divisor,
                vol_rule=vol_rule,
                round_step_kg=row.optional_positive("round_step_kg"),
                min_billable_kg=row.decimal("min_billable_kg", default=Decimal(0)),
                max_kg=row.decimal("max_kg", positive=True),
                fuel_pct=row.decimal("fuel_pct", default=Decimal(0)),
                fuel_on_surcharges=row.flag("fuel_on_surcharges"),
                surcharges=_surcharges(row),
            )
        )
    if not services:
        raise CardError(file, 1, "", "no services")
    return services


def _surcharges(row: Row) -> tuple[tuple[str, Decimal], ...]:
    raw = row.text("surcharges_json", required=False)
    if not raw:
        return ()
    try:
        document = json.loads(raw, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as error:
        raise row.fail("surcharges_json", f"not JSON: {error.msg}") from None
    if not isinstance(document, dict):
        raise row.fail("surcharges_json", "must be a JSON object of name → amount")
    surcharges = []
    for name, value in document.items():
        if name in RESERVED_COMPONENTS:
            raise row.fail("surcharges_json", f"{name!r} is a reserved component name")
        try:
            amount = Decimal(value) if isinstance(value, Decimal | str) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0:
            raise row.fail("surcharges_json", f"{name!r} needs an amount of 0 or more")
        surcharges.append((name, amount))
    return tuple(surcharges)


def _parse_rates(
    file: str,
    text: str,
    *,
    zone_ids: set[str],
    service_keys: set[tuple[str, str]],
) -> tuple[list[Band], str]:
    bands: list[Band] = []
    currency = ""
    for row in read_rows(file, text, RATE_COLUMNS):
        carrier = row.text("carrier")
        service_code = row.text("service")
        if (carrier, service_code) not in service_keys:
            raise row.fail("service", f"{carrier} {service_code} is not in {SERVICES_FILE}")
        zone_id = row.text("zone_id")
        if zone_id not in zone_ids:
            raise row.fail("zone_id", f"zone {zone_id!r} is not in {ZONES_FILE}")
        row_currency = row.currency("currency")
        if currency and row_currency != currency:
            # Surcharges are plain amounts "in the card's currency", so a card has just one.
            raise row.fail("currency", f"the card is priced in {currency}, not {row_currency}")
        currency = row_currency
        min_kg = row.decimal("min_kg")
        max_kg = row.decimal("max_kg", positive=True)
        if max_kg <= min_kg:
            raise row.fail("max_kg", f"must be above min_kg ({min_kg})")
        mode = row.choice("mode", Mode)
        step_kg = row.optional_positive("step_kg")
        step_price = row.decimal("step_price", default=Decimal(0))
        if mode is Mode.FIRST_ADDITIONAL:
            if step_kg is None:
                raise row.fail("step_kg", "first_additional needs a step above 0")
            if not row.text("step_price", required=False):
                raise row.fail("step_price", "first_additional needs a price per step")
        price = row.decimal("price")
        fee = row.decimal("per_parcel_fee", default=Decimal(0))
        transit_min = row.integer("transit_min")
        transit_max = row.integer("transit_max")
        if transit_max < transit_min:
            raise row.fail("transit_max", f"must not be below transit_min ({transit_min})")
        band = Band(
            carrier=carrier,
            service=service_code,
            zone_id=zone_id,
            min_kg=min_kg,
            max_kg=max_kg,
            mode=mode,
            price=price,
            step_kg=step_kg if mode is Mode.FIRST_ADDITIONAL else None,
            step_price=step_price if mode is Mode.FIRST_ADDITIONAL else None,
            per_parcel_fee=fee,
            currency=row_currency,
            transit_min=transit_min,
            transit_max=transit_max,
        )
        for other in bands:
            same = (other.carrier, other.service, other.zone_id) == (carrier, service_code, zone_id)
            if same and band.min_kg < other.max_kg and other.min_kg < band.max_kg:
                raise row.fail(
                    "min_kg",
                    f"band {min_kg}–{max_kg} kg overlaps {other.min_kg}–{other.max_kg} kg "
                    f"of {carrier} {service_code} in zone {zone_id}",
                )
        bands.append(band)
    if not bands:
        raise CardError(file, 1, "", "no rates")
    return bands, currency


def _normal_postal(code: str) -> str:
    return "".join(code.upper().split()).replace("-", "")


def _ceil(value: Decimal) -> Decimal:
    return Decimal(math.ceil(value))
