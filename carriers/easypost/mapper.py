"""Pure conversions between Helloword's logistics objects and EasyPost's JSON.

Nothing here does I/O. Weights go to EasyPost in ounces and dimensions in inches, converted
from kilograms and centimetres with ``Decimal`` and rounded up to the tenth EasyPost keeps, so
a parcel is never declared lighter or smaller than it is. Tracking statuses follow the table
of the carrier reference §4.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from connector.domain import (
    Address,
    Label,
    Money,
    Parcel,
    RateQuote,
    Shipment,
    TrackingEvent,
    TrackingStatus,
)
from connector.domain.money import MoneyError

CARRIER_SLUG = "easypost"
OUNCES_PER_KG = Decimal("35.27396194958041")
CM_PER_INCH = Decimal("2.54")
_TENTH = Decimal("0.1")

# Keys of RateQuote.breakdown that carry what buying the quote needs.
SHIPMENT_ID = "shipment_id"
RATE_ID = "rate_id"


@dataclass(frozen=True, slots=True)
class CustomsItem:
    """One line of a customs declaration, for callers that know more than the shipment does."""

    description: str
    value: Money
    weight_kg: Decimal
    quantity: int = 1
    hs_tariff_number: str = ""
    origin_country: str = ""


# --- units -------------------------------------------------------------------------------


def ounces(kg: Decimal) -> Decimal:
    return (Decimal(kg) * OUNCES_PER_KG).quantize(_TENTH, rounding=ROUND_CEILING)


def inches(cm: Decimal) -> Decimal:
    return (Decimal(cm) / CM_PER_INCH).quantize(_TENTH, rounding=ROUND_CEILING)


def _number(value: Decimal) -> float:
    # EasyPost's JSON wants numbers; a value already quantised to a tenth or a cent is
    # exactly what the float prints back.
    return float(value)


# --- shipment request --------------------------------------------------------------------


def address(addr: Address) -> dict[str, str]:
    fields = {
        "name": addr.name,
        "street1": addr.line1,
        "street2": addr.line2,
        "city": addr.city,
        "state": addr.region,
        "zip": addr.postal_code,
        "country": addr.country,
        "phone": addr.phone,
        "email": addr.email,
    }
    return {key: value for key, value in fields.items() if value}


def parcel(box: Parcel) -> dict[str, float]:
    return {
        "length": _number(inches(box.length_cm)),
        "width": _number(inches(box.width_cm)),
        "height": _number(inches(box.height_cm)),
        "weight": _number(ounces(box.weight_kg)),
    }


def is_cross_border(shipment: Shipment) -> bool:
    return shipment.from_address.country != shipment.to_address.country


def default_customs_items(shipment: Shipment, description: str) -> list[CustomsItem]:
    """The whole parcel as one returned item, when the caller declares nothing finer."""
    return [
        CustomsItem(
            description=description,
            value=shipment.declared_value,
            weight_kg=shipment.parcel.weight_kg,
        )
    ]


def customs_info(
    items: Sequence[CustomsItem], *, signer: str, eel_pfc: str = "NOEEI 30.37(a)"
) -> dict[str, Any]:
    return {
        "contents_type": "returned_goods",
        "customs_certify": True,
        "customs_signer": signer,
        "eel_pfc": eel_pfc,
        "non_delivery_option": "return",
        "restriction_type": "none",
        "customs_items": [_customs_item(item) for item in items],
    }


def _customs_item(item: CustomsItem) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "description": item.description,
        "quantity": item.quantity,
        "value": _number(item.value.amount),
        "currency": item.value.currency,
        "weight": _number(ounces(item.weight_kg)),
    }
    if item.hs_tariff_number:
        fields["hs_tariff_number"] = item.hs_tariff_number
    if item.origin_country:
        fields["origin_country"] = item.origin_country
    return fields


def shipment_request(
    shipment: Shipment, *, customs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The fields of ``POST /v2/shipments`` (the SDK wraps them in ``{"shipment": …}``).

    On a return EasyPost swaps the addresses and the parcel travels to ``from_address``, so the
    destination warehouse goes there and the buyer in ``to_address``.
    """
    buyer, destination = shipment.from_address, shipment.to_address
    if shipment.is_return:
        from_address, to_address = destination, buyer
    else:
        from_address, to_address = buyer, destination
    fields: dict[str, Any] = {
        "is_return": shipment.is_return,
        "reference": shipment.reference,
        "from_address": address(from_address),
        "to_address": address(to_address),
        "parcel": parcel(shipment.parcel),
        "options": {"label_format": "PDF"},
    }
    if customs is not None:
        fields["customs_info"] = dict(customs)
    return fields


# --- rates and labels --------------------------------------------------------------------


def service_name(rate: Mapping[str, Any]) -> str:
    return f"{rate.get('carrier', '')}-{rate.get('service', '')}"


def rate_quotes(created: Mapping[str, Any], account: str) -> list[RateQuote]:
    """One quote per rate of a created shipment; rates without a usable price are left out."""
    quotes = []
    for rate in created.get("rates") or []:
        price = _price(rate)
        if price is None:
            continue
        days = [d for d in (rate.get("delivery_days"), rate.get("est_delivery_days")) if d]
        quotes.append(
            RateQuote(
                carrier=CARRIER_SLUG,
                service=service_name(rate),
                account=account,
                price=price,
                transit_days_min=min(days, default=0),
                transit_days_max=max(days, default=0),
                breakdown=(
                    (SHIPMENT_ID, str(rate.get("shipment_id") or created.get("id", ""))),
                    (RATE_ID, str(rate["id"])),
                ),
            )
        )
    return sorted(quotes, key=lambda quote: quote.price.amount)


def _price(rate: Mapping[str, Any]) -> Money | None:
    try:
        return Money.of(str(rate["rate"]), str(rate["currency"]))
    except (KeyError, MoneyError, ArithmeticError):
        return None


def breakdown_value(quote: RateQuote, key: str) -> str:
    return next((value for name, value in quote.breakdown if name == key), "")


def is_bought(shipment: Mapping[str, Any]) -> bool:
    return bool(shipment.get("postage_label") and shipment.get("tracking_code"))


def label_urls(shipment: Mapping[str, Any]) -> tuple[str, str]:
    """The PDF and ZPL URLs of a bought shipment's postage label ("" where missing)."""
    postage = shipment.get("postage_label") or {}
    pdf = postage.get("label_pdf_url") or ""
    if not pdf and postage.get("label_file_type") == "application/pdf":
        pdf = postage.get("label_url") or ""
    return pdf, postage.get("label_zpl_url") or ""


QR_FORM = "label_qr_code"


def qr_form_url(shipment: Mapping[str, Any]) -> str:
    """The URL of the shipment's USPS Label Broker QR code form, "" when it has none."""
    for form in shipment.get("forms") or ():
        if form.get("form_type") == QR_FORM and form.get("form_url"):
            return str(form["form_url"])
    return ""


def carried_by_usps(shipment: Mapping[str, Any]) -> bool:
    return str((shipment.get("selected_rate") or {}).get("carrier", "")).upper() == "USPS"


def label(
    shipment: Mapping[str, Any],
    *,
    pdf: bytes,
    zpl: str,
    fallback: Money,
    qr_png: bytes = b"",
    qr_url: str = "",
) -> Label:
    selected = shipment.get("selected_rate") or {}
    return Label(
        carrier=CARRIER_SLUG,
        service=service_name(selected),
        tracking_number=str(shipment["tracking_code"]),
        price=_price(selected) or fallback,
        pdf=pdf,
        zpl=zpl,
        qr_png=qr_png,
        qr_payload=qr_url,
        external_id=str(shipment["id"]),
    )


# --- tracking ----------------------------------------------------------------------------

_STATUSES = {
    "pre_transit": TrackingStatus.LABEL_CREATED,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "available_for_pickup": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "delivered": TrackingStatus.DELIVERED,
    "return_to_sender": TrackingStatus.RETURNED_TO_SENDER,
    "failure": TrackingStatus.EXCEPTION,
    "error": TrackingStatus.EXCEPTION,
    "cancelled": TrackingStatus.CANCELLED,
    "unknown": TrackingStatus.UNKNOWN,
}
_HOLD_DETAILS = frozenset({"held", "delayed", "weather_delay"})
# Statuses that mean the carrier has had the parcel in hand.
_SCANNED = frozenset(
    {"in_transit", "out_for_delivery", "available_for_pickup", "delivered", "return_to_sender"}
)


def canonical_status(
    status: str, status_detail: str = "", *, first_scan: bool = False
) -> TrackingStatus:
    """EasyPost's ``status`` (and ``status_detail``) as a canonical ``TrackingStatus``."""
    if status == "in_transit":
        if first_scan:
            return TrackingStatus.DROPPED_OFF
        if status_detail in _HOLD_DETAILS:
            return TrackingStatus.ON_HOLD
    if status == "failure" and "attempt" in status_detail:
        return TrackingStatus.DELIVERY_FAILED
    return _STATUSES.get(status, TrackingStatus.UNKNOWN)


def tracking_events(tracker: Mapping[str, Any]) -> list[TrackingEvent]:
    """A tracker's history, oldest first; the first in-transit scan is the drop-off.

    A tracker without details (a label just bought) gives one event from its own status.
    """
    code = str(tracker.get("tracking_code") or "")
    details = [d for d in tracker.get("tracking_details") or [] if d.get("datetime")]
    if not details:
        when = tracker.get("updated_at") or tracker.get("created_at")
        if not when or not tracker.get("status"):
            return []
        details = [{"status": tracker["status"], "status_detail": "", "datetime": when}]
    events = []
    scanned = False
    for detail in sorted(details, key=lambda d: _timestamp(d["datetime"])):
        status = str(detail.get("status") or "unknown")
        status_detail = str(detail.get("status_detail") or "")
        canonical = canonical_status(status, status_detail, first_scan=not scanned)
        scanned = scanned or status in _SCANNED
        events.append(
            TrackingEvent(
                tracking_number=code,
                status=canonical,
                occurred_at=_timestamp(detail["datetime"]),
                carrier_status=f"{status}:{status_detail}" if status_detail else status,
                description=str(detail.get("message") or ""),
                location=_location(detail.get("tracking_location") or {}),
            )
        )
    return events


def tracker_of_event(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Tracker a ``tracker.updated`` / ``tracker.created`` webhook event carries."""
    description = str(event.get("description") or "")
    result = event.get("result")
    if not description.startswith("tracker.") or not isinstance(result, Mapping):
        return None
    return result if result.get("object") == "Tracker" else None


def _timestamp(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _location(place: Mapping[str, Any]) -> str:
    locality = " ".join(str(place[key]) for key in ("state", "zip") if place.get(key))
    parts: Iterable[str] = (str(place.get("city") or ""), locality, str(place.get("country") or ""))
    return ", ".join(part for part in parts if part)
