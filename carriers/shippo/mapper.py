"""Converts between the connector's words and Shippo's JSON; pure, no network.

Requests: a return shipment (``extra.is_return``, warehouse in ``address_from`` and buyer in
``address_to``, which is how Shippo wants USPS, FedEx and UPS return labels) and a label
purchase. Responses: rates into ``RateQuote``, a transaction into a ``Label``, and a Track
(polled or pushed by the ``track_updated`` webhook) into canonical ``TrackingEvent``s.

Tracking follows the carrier reference §4: PRE_TRANSIT is LABEL_CREATED, the first TRANSIT
scan is DROPPED_OFF and later ones IN_TRANSIT, DELIVERED, RETURNED is RETURNED_TO_SENDER,
FAILURE is EXCEPTION and UNKNOWN stays UNKNOWN. A few Shippo substatus codes refine TRANSIT
and FAILURE (out for delivery, held, attempted) where the reference maps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.domain import Address, Label, Money, RateQuote, Shipment, TrackingEvent
from connector.domain.logistics import TrackingStatus
from connector.errors import PermanentError

SLUG = "shippo"
LABEL_FILE_TYPE = "PDF_4x6"
RATE_ID = "shippo_rate_id"  # the breakdown entry that carries the rate's object_id

_STATUSES = {
    "UNKNOWN": TrackingStatus.UNKNOWN,
    "PRE_TRANSIT": TrackingStatus.LABEL_CREATED,
    "TRANSIT": TrackingStatus.IN_TRANSIT,
    "DELIVERED": TrackingStatus.DELIVERED,
    "RETURNED": TrackingStatus.RETURNED_TO_SENDER,
    "FAILURE": TrackingStatus.EXCEPTION,
}
_TRANSIT_SUBSTATUSES = {
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "pickup_available": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "package_held": TrackingStatus.ON_HOLD,
}
_FAILURE_SUBSTATUSES = {"delivery_attempted": TrackingStatus.DELIVERY_FAILED}


# --- requests -----------------------------------------------------------------------------


def address(address: Address) -> dict[str, str]:
    fields = {
        "name": address.name,
        "street1": address.line1,
        "street2": address.line2,
        "city": address.city,
        "state": address.region,
        "zip": address.postal_code,
        "country": address.country,
        "phone": address.phone,
        "email": address.email,
    }
    return {key: value for key, value in fields.items() if value}


def shipment_request(shipment: Shipment, *, qr_code_requested: bool) -> dict[str, Any]:
    """The body of ``POST /shipments`` for a return label.

    Not swapped: Shippo's return labels keep the outbound direction, so ``address_from`` is
    where the parcel goes back to (our destination warehouse) and ``address_to`` the buyer."""
    parcel = shipment.parcel
    return {
        "address_from": address(shipment.to_address),
        "address_to": address(shipment.from_address),
        "parcels": [
            {
                "length": _decimal_text(parcel.length_cm),
                "width": _decimal_text(parcel.width_cm),
                "height": _decimal_text(parcel.height_cm),
                "distance_unit": "cm",
                "weight": _decimal_text(parcel.weight_kg),
                "mass_unit": "kg",
            }
        ],
        "extra": {"is_return": shipment.is_return, "qr_code_requested": qr_code_requested},
        "async": False,
    }


def transaction_request(rate_id: str, metadata: str) -> dict[str, Any]:
    return {
        "rate": rate_id,
        "label_file_type": LABEL_FILE_TYPE,
        "async": False,
        "metadata": metadata,
    }


# --- rates and labels ---------------------------------------------------------------------


def rate_quotes(shipment: Mapping[str, Any], account: str) -> list[RateQuote]:
    rates = shipment.get("rates")
    if not isinstance(rates, list):
        raise PermanentError("Shippo answered a shipment without a rates list")
    return [rate_quote(rate, account) for rate in rates]


def rate_quote(rate: Mapping[str, Any], account: str) -> RateQuote:
    servicelevel = rate.get("servicelevel") or {}
    days = rate.get("estimated_days")
    transit = days if isinstance(days, int) and days >= 0 else 0  # null when Shippo has none
    price = money(rate.get("amount"), rate.get("currency"))
    return RateQuote(
        carrier=SLUG,
        service=f"{rate.get('provider', '')}-{servicelevel.get('token', '')}",
        account=account,
        price=price,
        transit_days_min=transit,
        transit_days_max=transit,
        breakdown=(("postage", str(price.amount)), (RATE_ID, _required(rate, "object_id"))),
    )


def rate_id_of(quote: RateQuote) -> str:
    for component, value in quote.breakdown:
        if component == RATE_ID and value:
            return value
    raise PermanentError(f"quote {quote.service!r} carries no Shippo rate id to buy")


def money(amount: object, currency: object) -> Money:
    if not isinstance(amount, str | int) or not isinstance(currency, str):
        raise PermanentError(f"Shippo sent an unreadable price: {amount!r} {currency!r}")
    try:
        return Money.of(Decimal(amount), currency)
    except (InvalidOperation, ValueError) as exc:
        raise PermanentError(f"Shippo sent an unreadable price: {amount!r} {currency!r}") from exc


def transaction_messages(transaction: Mapping[str, Any]) -> str:
    texts = []
    for message in transaction.get("messages") or []:
        if isinstance(message, Mapping):
            source = message.get("source")
            text = message.get("text") or message.get("code") or ""
            texts.append(f"{source}: {text}" if source else str(text))
        elif message:
            texts.append(str(message))
    return "; ".join(texts) or "no message"


def label(transaction: Mapping[str, Any], quote: RateQuote, pdf: bytes) -> Label:
    """The Label of a SUCCESS transaction; the price is the rate's own when Shippo nests it."""
    rate = transaction.get("rate")
    price = (
        money(rate.get("amount"), rate.get("currency"))
        if isinstance(rate, Mapping) and rate.get("amount") is not None
        else quote.price
    )
    return Label(
        carrier=SLUG,
        service=quote.service,
        tracking_number=_required(transaction, "tracking_number"),
        price=price,
        pdf=pdf,
        qr_payload=transaction.get("qr_code_url") or "",
        external_id=_required(transaction, "object_id"),
        tracking_carrier=tracking_carrier(quote.service),
    )


def tracking_carrier(service: str) -> str:
    """Shippo's carrier token (``usps``, ``dhl_express``) from a quoted service
    (``USPS-usps_priority``, ``DHL Express-dhl_express_worldwide``): what ``/tracks`` takes."""
    provider = service.split("-", 1)[0].strip()
    return provider.lower().replace(" ", "_")


# --- tracking -----------------------------------------------------------------------------


def tracking_events(track: Mapping[str, Any]) -> list[TrackingEvent]:
    """Every scan of a Track, oldest first, with ``tracking_status`` folded into the history.

    The history is the whole story on every poll and every webhook, so "the first TRANSIT"
    is the same scan each time and the events' dedup keys stay stable across deliveries."""
    number = track.get("tracking_number")
    if not isinstance(number, str) or not number:
        raise PermanentError("Shippo sent a Track without a tracking_number")
    scans = [scan for scan in track.get("tracking_history") or [] if isinstance(scan, Mapping)]
    current = track.get("tracking_status")
    if isinstance(current, Mapping) and current.get("status") and not _seen(current, scans):
        scans.append(current)
    dated = sorted(
        ((_when(scan), scan) for scan in scans if scan.get("status_date")),
        key=lambda pair: pair[0],
    )
    events: list[TrackingEvent] = []
    dropped_off = False
    for when, scan in dated:
        raw = str(scan.get("status") or "UNKNOWN")
        status = tracking_status(raw, _substatus(scan))
        if raw == "TRANSIT" and not dropped_off:
            status, dropped_off = TrackingStatus.DROPPED_OFF, True
        events.append(
            TrackingEvent(
                tracking_number=number,
                status=status,
                occurred_at=when,
                carrier_status=raw if not _substatus(scan) else f"{raw}/{_substatus(scan)}",
                description=str(scan.get("status_details") or ""),
                location=_location(scan.get("location")),
            )
        )
    return events


def tracking_status(status: str, substatus: str = "") -> TrackingStatus:
    if status == "TRANSIT" and substatus in _TRANSIT_SUBSTATUSES:
        return _TRANSIT_SUBSTATUSES[substatus]
    if status == "FAILURE" and substatus in _FAILURE_SUBSTATUSES:
        return _FAILURE_SUBSTATUSES[substatus]
    return _STATUSES.get(status, TrackingStatus.UNKNOWN)


def _seen(current: Mapping[str, Any], scans: list[Mapping[str, Any]]) -> bool:
    key = (current.get("status"), current.get("status_date"))
    return any(
        (current.get("object_id") and scan.get("object_id") == current.get("object_id"))
        or (scan.get("status"), scan.get("status_date")) == key
        for scan in scans
    )


def _substatus(scan: Mapping[str, Any]) -> str:
    substatus = scan.get("substatus")
    return str(substatus.get("code") or "") if isinstance(substatus, Mapping) else ""


def _location(location: object) -> str:
    if not isinstance(location, Mapping):
        return ""
    parts = (location.get(key) for key in ("city", "state", "zip", "country"))
    return ", ".join(str(part) for part in parts if part)


def _when(scan: Mapping[str, Any]) -> datetime:
    text = str(scan.get("status_date"))
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PermanentError(f"Shippo sent an unreadable status_date {text!r}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _required(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise PermanentError(f"Shippo answered without {key}")
    return value


def _decimal_text(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")
