"""Where returns go, and the carrier accounts that take them there, per merchant.

A destination is an origin warehouse, an overseas 3PL warehouse or a consolidation hub: its
address, the buyer countries it serves, its handling cost per parcel, what an item is worth
there relative to list price (the resale factor), the duty and tax rate goods pay entering its
country, and whether it grades and refurbishes. Carrier accounts name the destination they
reach (or none: they reach any). Both are data, validated field by field, and so are the
merchant's routing settings (resale table, time limit, cost per day, returnless and own-shipment
terms) that price the options.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..crypto import Vault
from ..db import models
from ..domain.money import Money, MoneyError
from ..errors import NotFound, ValidationError
from ..routing import RoutingSettings

KINDS = ("origin", "warehouse", "hub")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _decimal(data: dict[str, Any], field: str, low: Decimal, high: Decimal) -> str:
    try:
        value = Decimal(str(data[field]))
    except (KeyError, InvalidOperation):
        raise ValidationError(field, "expected a number") from None
    if not value.is_finite() or not low <= value <= high:
        raise ValidationError(field, f"expected a number from {low} to {high}")
    return str(value)


def upsert_destination(
    session: Session, merchant_id: int, data: dict[str, Any]
) -> models.Destination:
    """Create the destination with this code, or replace its settings."""
    code = str(data.get("code", ""))
    if not _CODE.match(code):
        raise ValidationError("code", "expected lower-case letters, digits and dashes")
    if data.get("kind") not in KINDS:
        raise ValidationError("kind", f"expected one of {', '.join(KINDS)}")
    address = data.get("address")
    if not isinstance(address, dict) or not _COUNTRY.match(str(address.get("country", ""))):
        raise ValidationError("address.country", "expected an ISO 3166 alpha-2 code")
    countries = data.get("countries", [])
    if not isinstance(countries, list) or not all(_COUNTRY.match(str(c)) for c in countries):
        raise ValidationError("countries", "expected a list of ISO 3166 alpha-2 codes")
    handling = data.get("handling", {"amount": "0", "currency": "USD"})
    try:
        fee = Money.of(str(handling["amount"]), str(handling["currency"]))
    except (KeyError, TypeError, MoneyError) as error:
        raise ValidationError("handling", f"expected {{amount, currency}}: {error}") from None
    row = session.scalar(
        select(models.Destination).where(
            models.Destination.merchant_id == merchant_id, models.Destination.code == code
        )
    )
    if row is None:
        row = models.Destination(merchant_id=merchant_id, code=code)
        session.add(row)
    row.name = str(data.get("name") or code)
    row.kind = data["kind"]
    row.address = {k: str(v) for k, v in address.items()}
    row.countries = sorted(set(countries))
    row.handling_minor, row.currency = fee.minor, fee.currency
    row.resale_factor = _decimal(
        {"resale_factor": data.get("resale_factor", "1")}, "resale_factor", Decimal(0), Decimal(2)
    )
    row.duty_rate = _decimal(
        {"duty_rate": data.get("duty_rate", "0")}, "duty_rate", Decimal(0), Decimal(1)
    )
    row.grades = bool(data.get("grades", False))
    row.active = bool(data.get("active", True))
    session.flush()
    return row


def destination(session: Session, merchant_id: int, destination_id: int) -> models.Destination:
    row = session.get(models.Destination, destination_id)
    if row is None or row.merchant_id != merchant_id:
        raise NotFound(f"destination {destination_id} does not exist")
    return row


def link_carrier(
    session: Session, vault: Vault, merchant_id: int, known: set[str], data: dict[str, Any]
) -> models.CarrierAccount:
    """Create or replace the merchant's carrier account of this name; secrets sealed."""
    carrier = str(data.get("carrier", ""))
    if carrier not in known:
        raise ValidationError(
            "carrier", f"no carrier {carrier!r} (known: {', '.join(sorted(known))})"
        )
    name = str(data.get("name", ""))
    if not _CODE.match(name):
        raise ValidationError("name", "expected lower-case letters, digits and dashes")
    destination_id = data.get("destination_id")
    if destination_id is not None:
        destination(session, merchant_id, int(destination_id))
    row = session.scalar(
        select(models.CarrierAccount).where(
            models.CarrierAccount.merchant_id == merchant_id, models.CarrierAccount.name == name
        )
    )
    if row is None:
        row = models.CarrierAccount(merchant_id=merchant_id, name=name)
        session.add(row)
    row.carrier = carrier
    row.destination_id = destination_id
    row.settings = dict(data.get("settings") or {})
    row.credentials = vault.seal(dict(data.get("secrets") or {}))
    row.active = bool(data.get("active", True))
    session.flush()
    return row


def routing_settings(session: Session, merchant_id: int) -> RoutingSettings:
    """The merchant's routing settings, defaults filled in."""
    merchant = session.get(models.Merchant, merchant_id)
    if merchant is None:
        raise NotFound(f"merchant {merchant_id} does not exist")
    return RoutingSettings.parse(merchant.routing)


def save_routing_settings(
    session: Session, merchant_id: int, data: dict[str, Any]
) -> RoutingSettings:
    """Validate and store the whole settings document (what is left out takes its default)."""
    merchant = session.get(models.Merchant, merchant_id, with_for_update=True)
    if merchant is None:
        raise NotFound(f"merchant {merchant_id} does not exist")
    settings = RoutingSettings.parse(data)
    merchant.routing = settings.as_dict()
    session.flush()
    return settings
