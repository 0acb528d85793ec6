"""The payment adjustment feed as Amazon's XML schema has it, and its processing report read
back message by message."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from connector.domain import Money
from platforms.amazon.feeds import (
    MAX_FEED_BYTES,
    AdjustedItem,
    Adjustment,
    Fate,
    MessageOutcome,
    message_outcomes,
    payment_adjustment_feed,
    payment_adjustment_feeds,
)
from platforms.amazon.mapper import allocate

from .conftest import SELLER, fixture_bytes


def test_the_feed_is_an_order_adjustment_envelope() -> None:
    feed = payment_adjustment_feed(
        SELLER,
        [
            Adjustment(
                1,
                "302-1234567-1234567",
                (
                    AdjustedItem("20212345678901", Money.of("49.90", "EUR")),
                    AdjustedItem(
                        "20212345678902",
                        Money.of("59.90", "EUR"),
                        shipping=Money.of("4.90", "EUR"),
                    ),
                ),
            ),
            Adjustment(2, "302-7654321-7654321", (AdjustedItem("1", Money.of("5", "JPY")),)),
        ],
    )

    assert feed.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(feed)
    assert root.tag == "AmazonEnvelope"
    assert root.findtext("Header/DocumentVersion") == "1.01"
    assert root.findtext("Header/MerchantIdentifier") == SELLER
    assert root.findtext("MessageType") == "OrderAdjustment"
    first, second = root.findall("Message")
    assert first.findtext("MessageID") == "1"
    assert first.findtext("OrderAdjustment/AmazonOrderID") == "302-1234567-1234567"
    items = first.findall("OrderAdjustment/AdjustedItem")
    assert [child.tag for child in items[1]] == [
        "AmazonOrderItemCode",
        "AdjustmentReason",
        "ItemPriceAdjustments",
    ]
    assert items[0].findtext("AdjustmentReason") == "CustomerReturn"
    components = [
        (c.findtext("Type"), c.findtext("Amount"), c.find("Amount").get("currency"))  # type: ignore[union-attr]
        for c in items[1].iter("Component")
    ]
    assert components == [("Principal", "59.90", "EUR"), ("Shipping", "4.90", "EUR")]
    amount = "OrderAdjustment/AdjustedItem/ItemPriceAdjustments/Component/Amount"
    assert second.findtext(amount) == "5"


def test_text_in_the_feed_is_escaped() -> None:
    feed = payment_adjustment_feed(
        SELLER, [Adjustment(1, "<&>", (AdjustedItem("1", Money.of("1", "EUR")),))]
    )

    assert ET.fromstring(feed).findtext("Message/OrderAdjustment/AmazonOrderID") == "<&>"


def test_only_amazons_adjustment_reasons_are_sent() -> None:
    with pytest.raises(ValueError, match="adjustment reasons"):
        payment_adjustment_feed(
            SELLER,
            [Adjustment(1, "O", (AdjustedItem("1", Money.of("1", "EUR"), reason="Goodwill"),))],
        )


def _refunds(count: int) -> list[Adjustment]:
    return [
        Adjustment(n, f"302-0000000-{n:07d}", (AdjustedItem(f"{n}", Money.of("19.90", "EUR")),))
        for n in range(1, count + 1)
    ]


def test_a_batch_goes_in_one_feed_while_it_fits_amazons_limit() -> None:
    adjustments = _refunds(500)

    [(carried, feed)] = payment_adjustment_feeds(SELLER, adjustments)

    assert carried == tuple(adjustments)
    assert feed == payment_adjustment_feed(SELLER, adjustments)
    assert len(feed) < MAX_FEED_BYTES


def test_a_batch_larger_than_a_feed_may_be_is_split_in_as_few_feeds_as_fit() -> None:
    adjustments = _refunds(5)
    whole = len(payment_adjustment_feed(SELLER, adjustments))
    envelope = len(payment_adjustment_feed(SELLER, []))
    limit = envelope + (whole - envelope) * 2 // 5 + 10  # room for two messages, not three

    split = payment_adjustment_feeds(SELLER, adjustments, max_bytes=limit)

    assert [[a.message_id for a in carried] for carried, _ in split] == [[1, 2], [3, 4], [5]]
    for carried, feed in split:
        assert len(feed) <= limit
        root = ET.fromstring(feed)
        assert [m.findtext("MessageID") for m in root.findall("Message")] == [
            str(a.message_id) for a in carried
        ]


def test_a_report_with_no_errors_means_every_message_went_through() -> None:
    outcomes = message_outcomes(fixture_bytes("processing_report_success.xml"), [1, 2])

    assert outcomes == [MessageOutcome(1, Fate.DONE), MessageOutcome(2, Fate.DONE)]


def test_a_partial_failure_names_the_failed_message_with_amazons_words() -> None:
    outcomes = message_outcomes(fixture_bytes("processing_report_partial.xml"), [1, 2, 3])

    assert outcomes == [
        MessageOutcome(1, Fate.DONE),
        MessageOutcome(
            2,
            Fate.FAILED,
            "The refund amount for item 20212345678901 exceeds the amount that can be "
            "refunded. (18028)",
        ),
        MessageOutcome(
            3, Fate.DONE, "The shipping refund was capped at the shipping charged. (18113)"
        ),
    ]


def test_an_error_about_the_whole_document_fails_every_message() -> None:
    report = (
        "<AmazonEnvelope><Message><ProcessingReport><StatusCode>Complete</StatusCode>"
        "<ProcessingSummary><MessagesProcessed>0</MessagesProcessed>"
        "<MessagesSuccessful>0</MessagesSuccessful><MessagesWithError>1</MessagesWithError>"
        "</ProcessingSummary><Result><MessageID>0</MessageID><ResultCode>Error</ResultCode>"
        "<ResultMessageCode>5001</ResultMessageCode><ResultDescription>XML Parsing Fatal "
        "Error at Line 1</ResultDescription></Result></ProcessingReport></Message>"
        "</AmazonEnvelope>"
    )

    outcomes = message_outcomes(report, [1, 2])

    assert {o.fate for o in outcomes} == {Fate.FAILED}
    assert outcomes[0].message == "XML Parsing Fatal Error at Line 1 (5001)"


def test_messages_the_report_cannot_account_for_are_uncertain() -> None:
    report = (
        "<AmazonEnvelope><Message><ProcessingReport><ProcessingSummary>"
        "<MessagesProcessed>1</MessagesProcessed><MessagesSuccessful>1</MessagesSuccessful>"
        "</ProcessingSummary></ProcessingReport></Message></AmazonEnvelope>"
    )

    outcomes = message_outcomes(report, [1, 2])

    assert {o.fate for o in outcomes} == {Fate.UNCERTAIN}
    assert "does not say which" in outcomes[0].message


def test_a_document_that_is_not_a_processing_report_is_refused() -> None:
    with pytest.raises(ValueError, match="not XML"):
        message_outcomes(b"<html", [1])
    with pytest.raises(ValueError, match="no ProcessingReport"):
        message_outcomes(b"<AmazonEnvelope/>", [1])


def test_an_amount_is_split_in_proportion_and_adds_up() -> None:
    shares = [Money.of("10.00", "EUR"), Money.of("20.00", "EUR"), Money.of("10.00", "EUR")]

    parts = allocate(Money.of("10.00", "EUR"), shares)

    assert parts == [Money.of("2.50", "EUR"), Money.of("5.00", "EUR"), Money.of("2.50", "EUR")]
    odd = allocate(Money.of("0.10", "EUR"), shares[:1] * 3)
    assert sum(p.amount for p in odd) == Money.of("0.10", "EUR").amount
    assert allocate(Money.of("3", "JPY"), [Money.zero("JPY")] * 2) == [
        Money.of("2", "JPY"),
        Money.of("1", "JPY"),
    ]
