"""Made-up but believable tracking scans, for carriers that have no tracking API.

The rate-card and drop-off carriers return nothing from ``track``: their scans reach Helloword
through the tracking job. In the demo and in tests nothing real scans those parcels, so the job
asks ``simulate_scans`` instead. The sequence is canonical (label created, handed over, in
transit, out for delivery, delivered), spread over the transit time, and depends only on its
arguments: the same parcel always gets the same scans, and two parcels get slightly different
ones because the hours are drawn from a hash of the tracking number.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from connector.domain import TrackingEvent, TrackingStatus

KINDS = ("label", "dropoff")

_FIRST_SCANS = {
    "label": (
        ("pre_transit", "Label created; the carrier awaits the parcel"),
        ("received_at_origin_facility", "Parcel received from the sender"),
    ),
    "dropoff": (
        ("code_issued", "Drop-off code issued; the buyer can bring the item to a drop-off point"),
        ("code_redeemed", "Item handed in at the drop-off point and packed for the hub"),
    ),
}
_IN_TRANSIT_SCANS = (
    ("departed_origin_facility", "Departed the origin facility"),
    ("arrived_at_sort_facility", "Arrived at the sorting hub"),
    ("departed_sort_facility", "Departed the sorting hub"),
    ("arrived_at_destination_facility", "Arrived at the destination facility"),
)


def simulate_scans(
    tracking_number: str,
    start: datetime,
    transit_days: int,
    kind: str = "label",
    *,
    origin: str = "Origin",
    destination: str = "Destination",
) -> list[TrackingEvent]:
    """The scans of one parcel from ``start`` to delivery ``transit_days`` later, oldest first.

    ``kind`` is ``"label"`` (the buyer hands a labelled parcel to the carrier) or ``"dropoff"``
    (the buyer redeems a QR code at a drop-off point). ``origin`` and ``destination`` name the
    places the scans happen at; scans in between are at the sorting hub.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if transit_days < 1:
        raise ValueError(f"transit_days must be at least 1, not {transit_days}")
    jitter = hashlib.sha256(tracking_number.encode("utf-8")).digest()
    span = timedelta(days=transit_days)

    # The buyer hands the parcel over 2 to 25 hours after the label, never later than a
    # sixth of the journey, so short journeys still leave room for the scans that follow.
    handed_over = start + min(timedelta(hours=2 + jitter[0] % 24), span / 6)
    delivered = start + span - timedelta(minutes=jitter[1] % 120)
    out_for_delivery = delivered - timedelta(hours=2, minutes=jitter[2] % 180)

    # Longer journeys pass more facilities: one scan for a day, all four from six days on.
    count = min(len(_IN_TRANSIT_SCANS), 1 + transit_days // 2)
    first, *middle, last = _IN_TRANSIT_SCANS
    hub_scans = [first, *middle[: count - 2], last][:count]
    step = (out_for_delivery - handed_over) / (count + 1)

    created_scan, handover_scan = _FIRST_SCANS[kind]
    events = [
        _event(tracking_number, TrackingStatus.LABEL_CREATED, start, created_scan, ""),
        _event(tracking_number, TrackingStatus.DROPPED_OFF, handed_over, handover_scan, origin),
    ]
    for number, scan in enumerate(hub_scans, start=1):
        if number == 1:
            location = origin
        elif number == count:
            location = destination
        else:
            location = "Sorting hub"
        at = handed_over + step * number + timedelta(minutes=jitter[2 + number] % 60)
        events.append(_event(tracking_number, TrackingStatus.IN_TRANSIT, at, scan, location))
    events.append(
        _event(
            tracking_number,
            TrackingStatus.OUT_FOR_DELIVERY,
            out_for_delivery,
            ("out_for_delivery", "Out for delivery to the returns warehouse"),
            destination,
        )
    )
    events.append(
        _event(
            tracking_number,
            TrackingStatus.DELIVERED,
            delivered,
            ("delivered", "Delivered to the returns warehouse"),
            destination,
        )
    )
    return events


def _event(
    tracking_number: str,
    status: TrackingStatus,
    occurred_at: datetime,
    scan: tuple[str, str],
    location: str,
) -> TrackingEvent:
    carrier_status, description = scan
    return TrackingEvent(
        tracking_number=tracking_number,
        status=status,
        occurred_at=occurred_at.replace(second=0, microsecond=0),
        carrier_status=carrier_status,
        description=description,
        location=location,
    )
