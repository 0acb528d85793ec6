"""The payment adjustment feed and its processing report. Pure: bytes in, bytes out.

Amazon has no API call that refunds a seller-fulfilled order; a seller refunds by feed. The
XML ``POST_PAYMENT_ADJUSTMENT_DATA`` feed carries one ``OrderAdjustment`` message per refund,
each numbered by a ``MessageID`` the processing report answers by: an item is named by its
``AmazonOrderItemCode`` and refunded as signed ``Component`` amounts (totals for the quantity,
positive amounts going back to the buyer), for an ``AdjustmentReason`` such as
``CustomerReturn``.

Many refunds go in one feed: Amazon asks for fewer, larger feeds rather than many small ones,
and for feed documents under 10 MiB (Feeds API best practices), so a batch is split into
several feeds only when one document would be larger (``payment_adjustment_feeds``).

The processing report (``AmazonEnvelope`` / ``ProcessingReport``) gives a summary count and a
``Result`` for each message that failed (``ResultCode`` Error) or succeeded with a warning; a
message with no Error result went through. A result numbered 0 is about the document as a
whole. When the report cannot account for a message (fewer successes than messages without an
error), that message's fate is ``UNCERTAIN``: a person must look before it is tried again.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from connector.domain import Money

FEED_TYPE = "POST_PAYMENT_ADJUSTMENT_DATA"
CONTENT_TYPE = "text/xml; charset=UTF-8"
DOCUMENT_VERSION = "1.01"
DEFAULT_REASON = "CustomerReturn"
MAX_FEED_BYTES = 10 * 1024 * 1024  # Amazon's limit for one feed document
ADJUSTMENT_REASONS = frozenset(
    {
        "NoInventory",
        "CustomerReturn",
        "GeneralAdjustment",
        "CouldNotShip",
        "DifferentItem",
        "Abandoned",
        "CustomerCancel",
        "PriceError",
        "ProductOutofStock",
        "CustomerAddressIncorrect",
        "Exchange",
        "Other",
        "CarrierCreditDecision",
        "RiskAssessmentInformationNotValid",
        "CarrierCoverageFailure",
        "TransactionRecord",
        "Undeliverable",
        "RefusedDelivery",
    }
)


class Fate(StrEnum):
    """What became of one message of a feed."""

    DONE = "done"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class AdjustedItem:
    order_item_id: str  # AmazonOrderItemCode
    principal: Money  # the item price refunded, for all the units
    shipping: Money | None = None  # shipping refunded with it (the buyer's postage, say)
    reason: str = DEFAULT_REASON


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One ``OrderAdjustment`` message: one refund of one order."""

    message_id: int
    order_id: str
    items: tuple[AdjustedItem, ...]


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    message_id: int
    fate: Fate
    message: str = ""  # Amazon's words: the error, the warning, or why it is uncertain


def payment_adjustment_feed(seller_id: str, adjustments: Iterable[Adjustment]) -> bytes:
    """The feed document, UTF-8 XML."""
    envelope = ET.Element(
        "AmazonEnvelope",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "amzn-envelope.xsd",
        },
    )
    header = ET.SubElement(envelope, "Header")
    ET.SubElement(header, "DocumentVersion").text = DOCUMENT_VERSION
    ET.SubElement(header, "MerchantIdentifier").text = seller_id
    ET.SubElement(envelope, "MessageType").text = "OrderAdjustment"
    for adjustment in adjustments:
        _message(envelope, adjustment)
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=True)


def payment_adjustment_feeds(
    seller_id: str, adjustments: Sequence[Adjustment], max_bytes: int = MAX_FEED_BYTES
) -> list[tuple[tuple[Adjustment, ...], bytes]]:
    """The feed documents for ``adjustments`` with the messages each carries: one document,
    unless it would exceed ``max_bytes``; then as few as keep each within it, in order."""
    envelope_size = len(payment_adjustment_feed(seller_id, ()))
    groups: list[list[Adjustment]] = []
    size = envelope_size
    for adjustment in adjustments:
        scratch = ET.Element("AmazonEnvelope")
        _message(scratch, adjustment)
        grown = len(ET.tostring(scratch[0], encoding="utf-8"))
        if not groups or size + grown > max_bytes:
            groups.append([])
            size = envelope_size
        groups[-1].append(adjustment)
        size += grown
    return [(tuple(group), payment_adjustment_feed(seller_id, group)) for group in groups]


def _message(envelope: ET.Element, adjustment: Adjustment) -> None:
    message = ET.SubElement(envelope, "Message")
    ET.SubElement(message, "MessageID").text = str(adjustment.message_id)
    order = ET.SubElement(message, "OrderAdjustment")
    ET.SubElement(order, "AmazonOrderID").text = adjustment.order_id
    for item in adjustment.items:
        if item.reason not in ADJUSTMENT_REASONS:
            raise ValueError(f"{item.reason!r} is not one of Amazon's adjustment reasons")
        adjusted = ET.SubElement(order, "AdjustedItem")
        ET.SubElement(adjusted, "AmazonOrderItemCode").text = item.order_item_id
        ET.SubElement(adjusted, "AdjustmentReason").text = item.reason
        prices = ET.SubElement(adjusted, "ItemPriceAdjustments")
        _component(prices, "Principal", item.principal)
        if item.shipping is not None and not item.shipping.is_zero():
            _component(prices, "Shipping", item.shipping)


def _component(parent: ET.Element, kind: str, amount: Money) -> None:
    component = ET.SubElement(parent, "Component")
    ET.SubElement(component, "Type").text = kind
    ET.SubElement(component, "Amount", {"currency": amount.currency}).text = str(amount.amount)


def message_outcomes(report: bytes | str, message_ids: Iterable[int]) -> list[MessageOutcome]:
    """What the processing report says of each message sent. ``ValueError`` when the text is
    not a processing report."""
    try:
        root = ET.fromstring(report)
    except ET.ParseError as exc:
        raise ValueError(f"the processing report is not XML: {exc}") from exc
    processing = root if root.tag == "ProcessingReport" else root.find(".//ProcessingReport")
    if processing is None:
        raise ValueError("the document holds no ProcessingReport")
    errors, warnings = _results(processing)
    sent = sorted(set(message_ids))
    unknown = [mid for mid in sent if mid not in errors and mid not in warnings]
    successful = _count(processing, "ProcessingSummary/MessagesSuccessful")
    return [_outcome(mid, errors, warnings, successful, len(unknown)) for mid in sent]


def _outcome(
    mid: int,
    errors: Mapping[int, list[str]],
    warnings: Mapping[int, list[str]],
    successful: int | None,
    unknown: int,
) -> MessageOutcome:
    """One message's fate: failed when Amazon names an error for it, done with a warning when
    it names a warning, done when the successes cover every message it says nothing of."""
    if mid in errors:
        return MessageOutcome(mid, Fate.FAILED, "; ".join(errors[mid]))
    if mid in warnings:
        return MessageOutcome(mid, Fate.DONE, "; ".join(warnings[mid]))
    if successful is not None and successful >= unknown:
        return MessageOutcome(mid, Fate.DONE)
    if errors.get(0) and not successful:
        return MessageOutcome(mid, Fate.FAILED, "; ".join(errors[0]))
    return MessageOutcome(
        mid,
        Fate.UNCERTAIN,
        f"the processing report counts {successful} successful messages for {unknown} it says "
        "nothing of, and does not say which",
    )


def _results(processing: ET.Element) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    errors: dict[int, list[str]] = {}
    warnings: dict[int, list[str]] = {}
    for result in processing.findall("Result"):
        try:
            mid = int((result.findtext("MessageID") or "0").strip())
        except ValueError:
            mid = 0
        text = _describe(result)
        code = (result.findtext("ResultCode") or "").strip().lower()
        (errors if code == "error" else warnings).setdefault(mid, []).append(text)
    return errors, warnings


def _describe(result: ET.Element) -> str:
    description = (result.findtext("ResultDescription") or "").strip()
    code = (result.findtext("ResultMessageCode") or "").strip()
    return f"{description} ({code})" if code else description or "no description"


def _count(processing: ET.Element, path: str) -> int | None:
    text = processing.findtext(path)
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def summary(outcomes: Iterable[MessageOutcome]) -> Mapping[str, int]:
    """How many messages went each way, for logs."""
    counts = {fate.value: 0 for fate in Fate}
    for outcome in outcomes:
        counts[outcome.fate.value] += 1
    return counts
