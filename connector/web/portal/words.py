"""The canonical model in a buyer's words, in the buyer's language.

Reasons, conditions and statuses are codes in the core; decisions are rule outcomes and ledger
events are kinds with payloads. Each function here turns one of them into a short sentence for
the person who is sending something back, through the portal's message catalogues. Each builds
its table when called, so the words come out in the language of the request at hand.
"""

from __future__ import annotations

from typing import Any

from flask_babel import (
    format_currency,
    format_date,
    format_datetime,
    format_time,
    get_locale,
    ngettext,
)
from flask_babel import gettext as _

from ...domain import Money
from ...domain.events import EventKind
from ...rules.engine import STATUTORY_DAYS, LineDecision
from ...rules.policy import Outcome


def reasons() -> dict[str, str]:
    """Every canonical reason, in the order a buyer reads them."""
    return {
        "SIZE_TOO_SMALL": _("Too small"),
        "SIZE_TOO_LARGE": _("Too large"),
        "NOT_AS_DESCRIBED": _("Not as described or pictured"),
        "DEFECTIVE": _("Faulty or does not work"),
        "DAMAGED_IN_TRANSIT": _("Arrived damaged"),
        "WRONG_ITEM": _("Wrong item sent"),
        "ARRIVED_LATE": _("Arrived too late"),
        "COLOR": _("Colour is not as expected"),
        "STYLE": _("Did not like the style"),
        "UNWANTED": _("No longer wanted"),
        "OTHER": _("Another reason"),
    }


def conditions() -> dict[str, str]:
    return {
        "unused": _("Unused, with tags and packaging"),
        "opened": _("Opened or tried on, not used"),
        "used": _("Used"),
        "damaged": _("Damaged or broken"),
    }


def status(code: str) -> str:
    return {
        "REQUESTED": _("Request received"),
        "IN_REVIEW": _("Being reviewed by the shop"),
        "APPROVED": _("Approved"),
        "DECLINED": _("Declined"),
        "AWAITING_SHIPMENT": _("Waiting for your parcel"),
        "IN_TRANSIT": _("On its way back"),
        "RECEIVED": _("Received by the shop"),
        "INSPECTED": _("Checked by the shop"),
        "RESOLVED": _("Settled"),
        "CLOSED": _("Completed"),
        "EXPIRED": _("Expired"),
        "CANCELED": _("Cancelled"),
    }.get(code, code)


def status_tone(code: str) -> str:
    """The badge colour of a status: ok, warn or bad."""
    if code in ("DECLINED", "EXPIRED", "CANCELED"):
        return "bad"
    if code in ("REQUESTED", "IN_REVIEW", "AWAITING_SHIPMENT"):
        return "warn"
    return "ok"


def verdict(outcome: Outcome) -> tuple[str, str]:
    """A line's outcome as a badge: its words and its tone."""
    if outcome is Outcome.APPROVE:
        return _("Accepted"), "ok"
    if outcome is Outcome.DECLINE:
        return _("Not accepted"), "bad"
    return _("The shop will review it"), "warn"


# the decline reasons docs/policies.md suggests, which buyers should read in their own words
def _rule_reason(code: str) -> str:
    return {
        "FINAL_SALE": _("It was sold as a final sale."),
        "PERSONALISED": _("It was personalised for you."),
    }.get(code, "")


def explain(line: LineDecision, days: int | None, fee: Money | None) -> list[str]:
    """Why the policy decided a line as it did, in sentences for the buyer. ``days``: since
    delivery (None before it); ``fee``: the restocking fee in the order's currency."""
    said: list[str] = []
    if line.reason == "PHOTOS_MISSING":
        said.append(
            ngettext(
                "The shop asks for %(num)d photo of this item to accept it straight away; "
                "without it, a person looks at your request first.",
                "The shop asks for %(num)d photos of this item to accept it straight away; "
                "with fewer, a person looks at your request first.",
                line.require_photos,
            )
        )
    elif line.statutory:
        said.append(
            _(
                "You may withdraw from a purchase within %(days)d days of delivery, as the law "
                "where you live provides, so the item is accepted.",
                days=STATUTORY_DAYS,
            )
        )
    elif line.reason == "WITHIN_WINDOW" and days is not None:
        said.append(
            ngettext(
                "Delivered %(num)d day ago, within the %(window)d-day return period.",
                "Delivered %(num)d days ago, within the %(window)d-day return period.",
                days,
                window=line.window_days,
            )
        )
    elif line.reason == "NOT_YET_DELIVERED":
        said.append(_("It has not been delivered yet, so the return period has not started."))
    elif line.reason == "RETURN_PERIOD_ENDED" and days is not None:
        said.append(
            ngettext(
                "Delivered %(num)d day ago; the %(window)d-day return period has ended.",
                "Delivered %(num)d days ago; the %(window)d-day return period has ended.",
                days,
                window=line.window_days,
            )
        )
    elif line.outcome is Outcome.REVIEW:
        said.append(_("A person at the shop looks at this request before it is accepted."))
    elif line.outcome is Outcome.DECLINE:
        said.append(_("The shop's return policy does not take this item back."))
        if reason := _rule_reason(line.reason):
            said.append(reason)
    else:
        said.append(_("The shop's return policy takes this item back."))
    if line.outcome is not Outcome.DECLINE:
        if line.returnless:
            said.append(_("You keep the item: nothing needs to be sent back."))
        if fee is not None and not fee.is_zero():
            said.append(
                _(
                    "A restocking fee of %(fee)s is kept from the refund.",
                    fee=money(fee),
                )
            )
    return said


def money(amount: Money) -> str:
    return format_currency(amount.amount, amount.currency)


def price(minor: int, currency: str) -> str:
    """An amount stored in minor units, formatted for the reader."""
    return money(Money.from_minor(minor, currency))


def country(code: str) -> str:
    """A country's name in the reader's language."""
    locale = get_locale()
    return str(locale.territories.get(code, code)) if locale and code else code


def option_title(kind: str) -> str:
    return {
        "label": _("Prepaid return label"),
        "dropoff": _("Drop-off with a QR code"),
        "own_shipment": _("Send it yourself"),
        "keep_item": _("Keep the item"),
        "donate": _("Donate the item"),
    }.get(kind, kind)


def option_description(kind: str) -> str:
    return {
        "label": _(
            "Print the label, pack the items and hand the parcel to the carrier. "
            "The shop pays the postage."
        ),
        "dropoff": _(
            "No box and no printer: show the QR code at a drop-off point and they pack the "
            "items for you. The shop pays the postage."
        ),
        "own_shipment": _(
            "Send the parcel with any carrier you like and tell us its tracking number; "
            "the shop pays the postage back with your refund, up to a limit."
        ),
        "keep_item": _("You keep the items and nothing needs to be sent back."),
        "donate": _("Give the items to a charity instead of sending them back."),
    }.get(kind, "")


def timeline_entry(kind: str, payload: dict[str, Any]) -> str | None:
    """A ledger event as the buyer reads it in their timeline; None for events that are the
    shop's business alone (its pushes to the platform, its routing arithmetic)."""
    to = str(payload.get("to", ""))
    if kind == EventKind.RETURN_REQUESTED:
        return _("We received your return request.")
    if kind == EventKind.WITHDRAWAL_DECLARED:
        return _("We received your withdrawal from the contract.")
    if kind in (EventKind.RETURN_DECIDED, EventKind.RETURN_REVIEWED):
        return {
            "APPROVED": _("Your return was accepted."),
            "DECLINED": _("Your return was declined."),
            "IN_REVIEW": _("A person at the shop is looking at your request."),
        }.get(to)
    if kind == EventKind.LABEL_ISSUED:
        return _("Your return label is ready.")
    if kind == EventKind.DROPOFF_CODE_ISSUED:
        return _("Your drop-off code is ready.")
    if kind == EventKind.LABEL_VOIDED:
        return _("The unused label was cancelled.")
    if kind == EventKind.RETURNLESS_GRANTED:
        return _("You keep the items: nothing needs to be sent back.")
    if kind == EventKind.OWN_SHIPMENT_REQUESTED:
        return _("Please send the parcel to the shop's address.")
    if kind == EventKind.OWN_SHIPMENT_SENT:
        return _("You told us your parcel is on its way.")
    if kind == EventKind.PARCEL_SCANNED:
        if payload.get("first_scan"):
            return None  # the scan itself is in the timeline already
        return _scan(str(payload.get("status", "")), str(payload.get("location", "")))
    if kind == EventKind.RETURN_RECEIVED:
        return _("The shop received your parcel.")
    if kind == EventKind.RETURN_INSPECTED:
        return _("The shop checked the items.")
    if kind == EventKind.REFUND_REQUESTED and payload.get("kind") == "exchange":
        return _("The shop is preparing your exchange.")
    if kind == EventKind.REFUND_ISSUED and payload.get("kind") == "exchange":
        return _("Your exchange is on its way to you.")
    if kind == EventKind.REFUND_REQUESTED:
        amount = _amount(payload.get("amount"))
        if payload.get("kind") == "store_credit":
            return _("Store credit of %(amount)s is on its way to you.", amount=amount)
        return _("A refund of %(amount)s is on its way to you.", amount=amount)
    if kind == EventKind.REFUND_ISSUED:
        return _("Paid back to you: %(amount)s.", amount=_amount(payload.get("amount")))
    if kind == EventKind.REFUND_FAILED:
        return _("The refund did not go through yet; the shop is looking into it.")
    if kind == EventKind.RETURN_RESOLVED:
        return _("Your return is settled.")
    if kind == EventKind.RETURN_CLOSED:
        return _("Your return is complete.")
    if kind == EventKind.RETURN_CANCELED:
        return _("The return was cancelled.")
    if kind == EventKind.RETURN_EXPIRED:
        return _("The return expired because the parcel was not sent in time.")
    return None


def _scan(code: str, location: str) -> str:
    said = {
        "DROPPED_OFF": _("You handed in the parcel."),
        "IN_TRANSIT": _("Your parcel is on its way."),
        "ON_HOLD": _("Your parcel is held by the carrier."),
        "OUT_FOR_DELIVERY": _("Your parcel is out for delivery to the shop."),
        "AVAILABLE_FOR_PICKUP": _("Your parcel is waiting at a pick-up point."),
        "DELIVERY_FAILED": _("The carrier could not deliver your parcel yet."),
        "DELIVERED": _("Your parcel arrived at the shop."),
        "RETURNED_TO_SENDER": _("The carrier is bringing your parcel back to you."),
        "EXCEPTION": _("The carrier reports a problem with your parcel."),
    }.get(code, _("The carrier scanned your parcel."))
    if location:
        return _("%(event)s (%(place)s)", event=said, place=location)
    return said


def _amount(text: object) -> str:
    """A ledger amount (``"12.50 EUR"``) formatted for the reader."""
    amount, _space, currency = str(text or "").partition(" ")
    try:
        return money(Money.of(amount, currency))
    except (ValueError, ArithmeticError):
        return str(text or "")


def when(moment: Any) -> str:
    """A moment in a timeline, to the minute: ``26 Nov 2026, 10:15`` as the locale writes it."""
    pattern = str(get_locale().datetime_formats["medium"]) if get_locale() else "{1}, {0}"
    return pattern.format(format_time(moment, "short"), format_date(moment, "medium"))


def received_at(moment: Any) -> str:
    """A moment as the buyer reads it, with the time zone named."""
    return format_datetime(moment, "long")
