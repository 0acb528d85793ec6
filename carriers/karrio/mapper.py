"""Pure conversions between Helloword's logistics objects and karrio's unified models.

Nothing here does I/O or imports karrio: requests are dicts shaped as karrio's ``RateRequest``,
``ShipmentRequest`` and ``ShipmentCancelRequest``, and answers arrive as dicts of its
``RateDetails``, ``ShipmentDetails`` and ``TrackingDetails``. karrio converts kilograms and
centimetres to whatever unit each carrier wants, so parcels go out in those units unchanged.

Rates are asked for the lane the parcel travels, buyer to destination, which every carrier
prices the same way. A purchase uses karrio's return shipment where the carrier's extension
has one: karrio expects it in outbound orientation (the destination as shipper, the buyer as
recipient), swaps the two, and adds the carrier's return service. Tracking statuses follow
the carrier reference §4 through karrio's normalised set.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.domain import (
    Address,
    Label,
    Money,
    RateQuote,
    Shipment,
    TrackingEvent,
    TrackingStatus,
)
from connector.domain.money import MoneyError
from connector.errors import PermanentError

CARRIER_SLUG = "karrio"
LABEL_TYPES = ("PDF", "ZPL")
SERVICE_SEPARATOR = "-"  # "<carrier name>-<karrio service code>", as EasyPost's "UPS-Ground"

# What a purchase asks of a carrier by default to make it a return a buyer can send alone:
# UPS's return service defaults in karrio to three pickup attempts at the buyer's door, while
# a Print Return Label is one the buyer prints and drops off. Account settings override it.
RETURN_OPTIONS: Mapping[str, Mapping[str, Any]] = {
    "ups": {"ups_return_service": "ups_print_return_label"},
}

# The EU's member states, one customs territory (ISO 3166-1 alpha-2).
EU_CUSTOMS_UNION = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

# karrio's normalised tracking statuses (``karrio.core.units.TrackingStatus``).
_STATUSES = {
    "pending": TrackingStatus.LABEL_CREATED,
    "picked_up": TrackingStatus.DROPPED_OFF,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "on_hold": TrackingStatus.ON_HOLD,
    "delivery_delayed": TrackingStatus.ON_HOLD,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "ready_for_pickup": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "delivery_failed": TrackingStatus.DELIVERY_FAILED,
    "delivered": TrackingStatus.DELIVERED,
    "return_to_sender": TrackingStatus.RETURNED_TO_SENDER,
    "cancelled": TrackingStatus.CANCELLED,
    "unknown": TrackingStatus.UNKNOWN,
}


# --- requests ------------------------------------------------------------------------------


def address(addr: Address, *, residential: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "person_name": addr.name,
        "company_name": "" if residential else addr.name,
        "address_line1": addr.line1,
        "address_line2": addr.line2,
        "city": addr.city,
        "state_code": addr.region,
        "postal_code": addr.postal_code,
        "country_code": addr.country,
        "phone_number": addr.phone,
        "email": addr.email,
    }
    return {
        **{key: value for key, value in fields.items() if value},
        "residential": residential,
    }


def parcel(shipment: Shipment) -> dict[str, Any]:
    box = shipment.parcel
    return {
        "weight": float(box.weight_kg),
        "length": float(box.length_cm),
        "width": float(box.width_cm),
        "height": float(box.height_cm),
        "weight_unit": "KG",
        "dimension_unit": "CM",
        "description": "Returned goods",
    }


def crosses_customs(shipment: Shipment) -> bool:
    """Whether the parcel passes a customs border: between two countries, unless both are in
    the EU's customs union, where goods move without a declaration."""
    origin, destination = shipment.from_address.country, shipment.to_address.country
    if origin == destination:
        return False
    return not (origin in EU_CUSTOMS_UNION and destination in EU_CUSTOMS_UNION)


def customs(
    shipment: Shipment, *, description: str = "Returned goods", export_reference: str = ""
) -> dict[str, Any]:
    """Returned goods, declared as one line at the shipment's value.

    The invoice number is the one of the commercial invoice Helloword stores beside the label
    (``INV-<RMA>``); the original export declaration, where known, is cited in the remarks the
    carriers print on their own customs papers."""
    value = shipment.declared_value
    remarks = description
    if export_reference:
        remarks = f"{description}; original export {export_reference}"
    return {
        "content_type": "return_merchandise",
        "content_description": remarks,
        "invoice": f"INV-{shipment.reference}",
        "certify": True,
        "signer": shipment.from_address.name,
        "commodities": [
            {
                "title": description,
                "description": description,
                "quantity": 1,
                "value_amount": float(value.amount),
                "value_currency": value.currency,
                "weight": float(shipment.parcel.weight_kg),
                "weight_unit": "KG",
            }
        ],
        "duty": {"currency": value.currency, "declared_value": float(value.amount)},
    }


def rate_request(
    shipment: Shipment,
    *,
    services: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    export_reference: str = "",
    customs_description: str = "Returned goods",
) -> dict[str, Any]:
    """A ``RateRequest`` for the lane the parcel travels: from the buyer to the destination."""
    request: dict[str, Any] = {
        "shipper": address(shipment.from_address, residential=True),
        "recipient": address(shipment.to_address, residential=False),
        "parcels": [parcel(shipment)],
        "services": list(services),
        "options": {**_declared(shipment), **(options or {})},
        "reference": shipment.reference,
    }
    if crosses_customs(shipment):
        request["customs"] = customs(
            shipment, description=customs_description, export_reference=export_reference
        )
    return request


def shipment_request(
    shipment: Shipment,
    *,
    carrier_name: str,
    service: str,
    label_type: str,
    as_return: bool,
    options: Mapping[str, Any] | None = None,
    export_reference: str = "",
    customs_description: str = "Returned goods",
) -> dict[str, Any]:
    """A ``ShipmentRequest`` for the quoted service.

    ``as_return`` asks for the carrier's return shipment: karrio wants it in outbound
    orientation, the destination as shipper and the buyer as recipient, and swaps them
    itself. Otherwise the label is a plain one from the buyer to the destination."""
    buyer = address(shipment.from_address, residential=True)
    destination = address(shipment.to_address, residential=False)
    shipper, recipient = (destination, buyer) if as_return else (buyer, destination)
    merged = {
        **(RETURN_OPTIONS.get(carrier_name, {}) if as_return else {}),
        **_declared(shipment),
        **(options or {}),
    }
    request: dict[str, Any] = {
        "service": service,
        "shipper": shipper,
        "recipient": recipient,
        "parcels": [parcel(shipment)],
        "options": merged,
        "reference": shipment.reference,
        "label_type": label_type,
        "is_return": as_return,
    }
    if crosses_customs(shipment):
        request["customs"] = customs(
            shipment, description=customs_description, export_reference=export_reference
        )
    return request


def _declared(shipment: Shipment) -> dict[str, Any]:
    value = shipment.declared_value
    return {"declared_value": float(value.amount), "currency": value.currency}


def cancel_request(label: Label, service: str) -> dict[str, Any]:
    return {"shipment_identifier": label.external_id or label.tracking_number, "service": service}


# --- quotes and labels ---------------------------------------------------------------------


def service_name(carrier_name: str, service: str) -> str:
    return f"{carrier_name}{SERVICE_SEPARATOR}{service}"


def karrio_service(carrier_name: str, service: str) -> str:
    """The karrio service code of a quote's service, which must be of this carrier."""
    prefix = f"{carrier_name}{SERVICE_SEPARATOR}"
    code = service.removeprefix(prefix)
    if code == service or not code:
        raise PermanentError(f"service {service!r} is not a {carrier_name} service")
    return code


def rate_quotes(
    rates: Sequence[Mapping[str, Any]], carrier_name: str, account: str
) -> list[RateQuote]:
    """One quote per priced rate, cheapest first; a rate without a price is left out."""
    quotes = []
    for rate in rates:
        price = _money(rate.get("total_charge"), rate.get("currency"))
        if price is None or not rate.get("service"):
            continue
        days = rate.get("transit_days")
        transit = days if isinstance(days, int) and days > 0 else 0
        quotes.append(
            RateQuote(
                carrier=CARRIER_SLUG,
                service=service_name(carrier_name, str(rate["service"])),
                account=account,
                price=price,
                transit_days_min=transit,
                transit_days_max=transit,
                breakdown=_charges(rate.get("extra_charges") or [], price.currency),
            )
        )
    return sorted(quotes, key=lambda quote: quote.price.amount)


def _charges(charges: Sequence[Mapping[str, Any]], currency: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(charge.get("name") or "charge"), str(amount.amount))
        for charge in charges
        if (amount := _money(charge.get("amount"), charge.get("currency") or currency))
    )


def label(
    details: Mapping[str, Any], quote: RateQuote, label_type: str, carrier_name: str
) -> Label:
    """The Label of a karrio ``ShipmentDetails``: its PDF (and ZPL when that was asked for),
    priced as the carrier charged where it says, else as quoted, and naming the carrier that
    moves the parcel as its ``tracking_carrier``."""
    tracking_number = str(details.get("tracking_number") or "")
    if not tracking_number:
        raise PermanentError("the carrier answered the purchase without a tracking number")
    docs = details.get("docs") or {}
    main = _decoded(docs.get("label"), "label")
    pdf, zpl = b"", ""
    if label_type == "ZPL":
        zpl = main.decode("utf-8", errors="replace")
        pdf = _decoded(docs.get("pdf_label"), "PDF label") if docs.get("pdf_label") else b""
    else:
        pdf = main
    if pdf and not pdf.startswith(b"%PDF"):
        raise PermanentError(
            f"the carrier's label for {tracking_number} is a {details.get('label_type')} "
            "file, not a PDF"
        )
    if not pdf and not zpl:
        raise PermanentError(f"the carrier sent no label file for {tracking_number}")
    selected = details.get("selected_rate") or {}
    return Label(
        carrier=CARRIER_SLUG,
        service=quote.service,
        tracking_number=tracking_number,
        price=_money(selected.get("total_charge"), selected.get("currency")) or quote.price,
        pdf=pdf,
        zpl=zpl,
        external_id=str(details.get("shipment_identifier") or tracking_number),
        tracking_carrier=carrier_name,
    )


def _decoded(content: object, what: str) -> bytes:
    if not isinstance(content, str) or not content:
        return b""
    try:
        return base64.b64decode(content, validate=False)
    except (binascii.Error, ValueError) as error:
        raise PermanentError(f"the carrier's {what} is not base64: {error}") from error


def _money(amount: object, currency: object) -> Money | None:
    if amount is None or not isinstance(currency, str) or not currency:
        return None
    try:
        return Money.of(Decimal(str(amount)), currency)
    except (InvalidOperation, MoneyError, ValueError):
        return None


# --- tracking ------------------------------------------------------------------------------


def canonical_status(status: str | None) -> TrackingStatus:
    return _STATUSES.get(status or "unknown", TrackingStatus.UNKNOWN)


def tracking_events(details: Mapping[str, Any]) -> list[TrackingEvent]:
    """A parcel's scans, oldest first. The first scan that shows the carrier holding it (a
    pickup or the first transit scan) is the drop-off, the moment a first-scan refund waits
    for; an event karrio could not classify stays UNKNOWN with the carrier's own code."""
    number = str(details.get("tracking_number") or "")
    dated = sorted(
        (
            (when, event)
            for event in details.get("events") or []
            if (when := _when(event)) is not None
        ),
        key=lambda pair: pair[0],
    )
    events = []
    dropped_off = False
    for when, event in dated:
        status = canonical_status(event.get("status"))
        if status in (TrackingStatus.DROPPED_OFF, TrackingStatus.IN_TRANSIT):
            status = TrackingStatus.IN_TRANSIT if dropped_off else TrackingStatus.DROPPED_OFF
            dropped_off = True
        elif status.is_first_scan:
            dropped_off = True
        code = str(event.get("code") or "")
        raw = str(event.get("status") or "")
        events.append(
            TrackingEvent(
                tracking_number=number,
                status=status,
                occurred_at=when,
                carrier_status=f"{raw}:{code}" if raw and code else raw or code,
                description=str(event.get("description") or ""),
                location=str(event.get("location") or ""),
            )
        )
    return events


def _when(event: Mapping[str, Any]) -> datetime | None:
    """When a scan happened. Carriers give the local time of the scan without its offset; it
    is read as UTC, so the order of one parcel's scans holds."""
    stamp = event.get("timestamp")
    candidates = [str(stamp)] if stamp else []
    if event.get("date"):
        candidates.append(f"{event['date']}T{event.get('time') or '00:00'}")
    for text in candidates:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return None
