"""Reading Amazon's returns reports: every column where it belongs, the odd rows reported by
line number and skipped, reasons and statuses in canonical terms, and nothing needing Amazon."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connector.domain import Condition, Money, Reason, Status
from platforms.amazon import (
    ReportedReturn,
    ReportFormatError,
    RowError,
    file_lines,
    parse_returns_report,
)
from platforms.amazon.returns_report import ParsedRow, reason_from_amazon, status_from_amazon

from .conftest import FLAT_FILE_HEADER as HEADER
from .conftest import GERMANY, fixture_bytes
from .conftest import flat_file_row as _row


def _read(name: str, marketplace: str = GERMANY) -> list[ParsedRow]:
    return list(parse_returns_report(file_lines(io.BytesIO(fixture_bytes(name))), marketplace))


def _returns(rows: list[ParsedRow]) -> dict[str, ReportedReturn]:
    return {r.request.external_id: r for _, r in rows if isinstance(r, ReportedReturn)}


def _one(line: str, marketplace: str = GERMANY) -> ReportedReturn | RowError:
    rows = list(parse_returns_report([HEADER, line], marketplace))
    assert len(rows) == 1
    return rows[0][1]


def test_every_column_of_a_seller_fulfilled_row_is_read() -> None:
    found = _returns(_read("returns_flat_file.tsv"))["DfqRyqfBRRMA"]

    request, order = found.request, found.order
    assert found.line_number == 2
    assert request.order_external_id == "302-1234567-1234567"
    assert request.requested_at == datetime(2025, 7, 14, tzinfo=UTC)
    line = request.lines[0]
    assert (line.order_line_external_id, line.quantity, line.reason) == (
        "LIN-SHIRT-M",
        1,
        Reason.UNWANTED,
    )
    assert line.condition is Condition.UNUSED and line.note == ""
    assert line.external_id == "DfqRyqfBRRMA:LIN-SHIRT-M"
    assert found.status is Status.RECEIVED  # approved, and delivered back to the seller
    assert found.amazon_status == "Approved"
    assert found.fulfilment == "MFN"
    assert (found.tracking_number, found.carrier) == ("00340434161094027318", "DHL")
    assert found.label_cost == Money.of("4.14", "EUR")
    assert found.label_paid_by == "Seller"
    assert found.refunded == Money.of("49.90", "EUR")
    assert found.delivered_at == datetime(2025, 7, 18, tzinfo=UTC)
    assert (found.in_policy, found.a_to_z_claim, found.prime) == (True, False, True)
    assert order.external_id == order.number == "302-1234567-1234567"
    assert order.placed_at == datetime(2025, 7, 10, tzinfo=UTC)
    assert order.currency == "EUR"
    assert order.shipping_address.country == "DE"
    assert order.customer.email == "" and order.customer.external_id == ""
    shirt = order.line("LIN-SHIRT-M")
    assert (shirt.sku, shirt.title, shirt.quantity) == ("LIN-SHIRT-M", "Linen shirt, sand, M", 1)
    assert shirt.unit_price == Money.of("49.90", "EUR")
    raw = request.raw["rows"][0]  # type: ignore[index]
    assert raw["merchant_rma_id"] == "HW-1001"
    assert raw["label_type"] == "AmazonPrePaidLabel"
    assert raw["return_type"] == "C-Returns"
    assert raw["resolution"] == "StandardRefund"
    assert raw["invoice_number"] == "INV-DE-2025-0042"
    assert raw["safet_action_reason"] == "Claim approved"
    assert raw["safet_claim_id"] == "SAFET-778899"
    assert raw["safet_claim_state"] == "Granted"
    assert raw["safet_claim_creation_time"] == "20-Jul-2025"
    assert raw["safet_claim_reimbursement_amount"] == "12.50"
    assert raw["asin"] == "B0DFN2HN9N"
    assert raw["status"] == "RECEIVED" and raw["marketplace_id"] == GERMANY


def test_rows_of_one_rma_become_one_return_with_a_line_per_sku() -> None:
    found = _returns(_read("returns_flat_file.tsv"))["DfqRyqfBRRMA"]

    lines = found.request.lines
    assert [(line.order_line_external_id, line.quantity, line.reason) for line in lines] == [
        ("LIN-SHIRT-M", 1, Reason.UNWANTED),
        ("LIN-TROUSER-32", 2, Reason.SIZE_TOO_SMALL),
    ]
    trousers = found.order.line("LIN-TROUSER-32")
    assert (trousers.quantity, trousers.unit_price) == (2, Money.of("59.90", "EUR"))
    assert found.order.total == Money.of("169.70", "EUR")
    assert found.refunded == Money.of("49.90", "EUR")


def test_odd_rows_are_reported_by_line_and_the_rest_read_in_order() -> None:
    rows = _read("returns_flat_file.tsv")

    assert [number for number, _ in rows] == [2, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    errors = {number: row.message for number, row in rows if isinstance(row, RowError)}
    assert errors == {
        4: "Amazon RMA ID is empty: a return needs it",
        5: "Return quantity: 'two' is not a whole number",
        8: "Merchant SKU has bytes that are not text: 'MUG-\ufffdBLUE'",
        12: "33 fields where the header has 32 (1 too many)",
        13: "Return request date: 'soon' is not a date",
    }
    assert all(row.line_number == number for number, row in rows)


def test_an_unknown_reason_is_other_and_keeps_amazons_code() -> None:
    found = _returns(_read("returns_flat_file.tsv"))["Dm8pXzRMA6"]

    line = found.request.lines[0]
    assert line.reason is Reason.OTHER
    assert line.note == "Amazon's reason: CR-GIFT_NOT_LIKED"
    assert found.status is Status.REQUESTED
    assert found.label_cost is None
    assert found.order.total == Money.of("26.10", "EUR")  # written 26,10
    assert found.in_policy is False


def test_a_windows_1252_byte_outside_a_key_reads_as_its_character() -> None:
    found = _returns(_read("returns_flat_file.tsv"))["Dq2rTuRMA7"]

    assert found.order.lines[0].title == "Café mug"
    assert found.request.lines[0].reason is Reason.DAMAGED_IN_TRANSIT


def test_a_quoted_field_may_hold_a_tab() -> None:
    found = _returns(_read("returns_flat_file.tsv"))["Dx7aBcRMA9"]

    assert found.order.lines[0].title == 'Wool scarf\tgrey, "Nordic"'
    assert found.request.lines[0].reason is Reason.WRONG_ITEM


def test_trailing_columns_amazon_leaves_out_read_as_empty() -> None:
    found = _returns(_read("returns_flat_file.tsv"))["Dz9cDeRMA10"]

    assert found.status is Status.DECLINED
    assert found.request.lines[0].reason is Reason.NOT_AS_DESCRIBED
    assert found.refunded is None
    assert found.order.total == Money.zero("EUR")


def test_a_stray_quote_never_swallows_the_rows_after_it() -> None:
    rows = list(
        parse_returns_report(
            [HEADER, _row(Item_Name='"Unclosed'), _row(Amazon_RMA_ID="RMA-TWO")], GERMANY
        )
    )

    assert [number for number, _ in rows] == [2, 3]
    assert isinstance(rows[1][1], ReportedReturn)
    assert rows[1][1].request.external_id == "RMA-TWO"


def test_a_second_row_for_the_same_rma_and_sku_is_reported_not_counted_twice() -> None:
    rows = list(parse_returns_report([HEADER, _row(), _row(), _row(Amazon_RMA_ID="B")], GERMANY))

    assert [(n, type(r).__name__) for n, r in rows] == [
        (2, "ReportedReturn"),
        (3, "RowError"),
        (4, "ReportedReturn"),
    ]
    first = rows[0][1]
    assert isinstance(first, ReportedReturn) and len(first.request.lines) == 1
    assert "first on line 2" in rows[1][1].message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"Order_ID": ""}, "Order ID is empty"),
        ({"Merchant_SKU": ""}, "Merchant SKU is empty"),
        ({"Return_quantity": "0"}, "0 is not a quantity of at least 1"),
        ({"Return_quantity": "1.5"}, "'1.5' is not a whole number"),
        ({"Order_Amount": "lots"}, "Order Amount: 'lots' is not an amount"),
        ({"Label_cost": "4.1.4"}, "Label cost: '4.1.4' is not an amount"),
        ({"Currency_code": "EURO"}, "'EURO' is not an ISO 4217 currency"),
        ({"Order_date": "32-Jul-2025"}, "Order date: '32-Jul-2025' is not a date"),
        ({"Return_request_date": ""}, "Return request date is empty"),
    ],
)
def test_a_malformed_value_names_its_column(cells: dict[str, str], message: str) -> None:
    row = _one(_row(**cells))

    assert isinstance(row, RowError) and row.line_number == 2
    assert message in row.message


def test_dates_amounts_and_the_currency_come_as_european_reports_write_them() -> None:
    row = _one(
        _row(
            Order_date="03-Okt-2025",
            Return_request_date="2025-10-09T14:30:00+02:00",
            Currency_code="",
            Order_Amount="1.234,50",
        ),
        marketplace="A1C3SOZRARQ6R3",  # Poland: złoty
    )

    assert isinstance(row, ReportedReturn)
    assert row.order.placed_at == datetime(2025, 10, 3, tzinfo=UTC)
    assert row.request.requested_at == datetime(2025, 10, 9, 12, 30, tzinfo=UTC)
    assert row.order.total == Money(Decimal("1234.50"), "PLN")
    assert row.order.shipping_address.country == "PL"


def test_seller_centrals_header_variants_and_extra_columns_are_read() -> None:
    header = (
        HEADER.replace("Merchant RMA ID", "Seller RMA ID").replace("SafeT", "Safe-T") + "\tCategory"
    )
    line = _row(Merchant_RMA_ID="HW-7") + "\tApparel"

    rows = list(parse_returns_report([header, line], GERMANY))

    found = rows[0][1]
    assert isinstance(found, ReportedReturn)
    assert found.request.raw["merchant_rma_id"] == "HW-7"
    assert found.request.raw["category"] == "Apparel"


def test_a_file_that_is_not_a_returns_report_is_refused_at_its_header() -> None:
    with pytest.raises(ReportFormatError, match="not an Amazon returns report"):
        list(parse_returns_report(["settlement-id\ttotal-amount", "1\t2"], GERMANY))
    with pytest.raises(ReportFormatError, match="'return quantity', 'return reason'"):
        list(parse_returns_report(["Order ID\tAmazon RMA ID\tMerchant SKU"], GERMANY))


def test_an_empty_report_has_no_rows() -> None:
    assert list(parse_returns_report([], GERMANY)) == []
    assert list(parse_returns_report(["", HEADER, "", "  "], GERMANY)) == []


def test_an_unknown_marketplace_is_refused() -> None:
    with pytest.raises(ValueError, match="not an Amazon marketplace"):
        list(parse_returns_report([HEADER], "NOWHERE"))


# --- FBA ----------------------------------------------------------------------------------


def test_fba_returns_are_closed_records_keyed_by_license_plate() -> None:
    rows = _read("fba_customer_returns.tsv")
    found = _returns(rows)

    shirt = found["fba-LPNRR123456789"]
    assert shirt.fulfilment == "FBA" and shirt.status is Status.CLOSED
    assert shirt.amazon_status == "Unit returned to inventory"
    assert shirt.request.requested_at == datetime(2025, 7, 14, 8, 12, 45, tzinfo=UTC)
    assert shirt.request.order_external_id == "028-1234567-1234567"
    assert shirt.request.lines[0].condition is Condition.UNUSED
    assert shirt.order.lines[0].unit_price == Money.zero("EUR")
    trousers = found["fba-LPNRR987654321"]
    assert trousers.request.lines[0].reason is Reason.SIZE_TOO_SMALL
    assert trousers.request.lines[0].condition is Condition.DAMAGED
    assert trousers.request.lines[0].note == "too tight at the waist"
    hat = found["fba-028-1111111-2222222-WOOL-HAT-20250716"]  # no license plate
    assert hat.request.lines[0].reason is Reason.OTHER
    assert hat.request.lines[0].note == "Amazon's reason: NEVER_HEARD_OF_IT. seam split"
    errors = [(n, r.message) for n, r in rows if isinstance(r, RowError)]
    assert errors == [(5, "order-id is empty: a return needs it")]


# --- reasons and statuses -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("CR-UNWANTED_ITEM", Reason.UNWANTED),
        ("CR-ORDERED_WRONG_ITEM", Reason.UNWANTED),
        ("CR-FOUND_BETTER_PRICE", Reason.UNWANTED),
        ("CR-UNAUTHORIZED_PURCHASE", Reason.UNWANTED),
        ("MISORDERED", Reason.UNWANTED),
        ("CR-DEFECTIVE", Reason.DEFECTIVE),
        ("CR-QUALITY_UNACCEPTABLE", Reason.DEFECTIVE),
        ("CR-MISSING_PARTS", Reason.DEFECTIVE),
        ("AMZ-PG-BAD-DESC", Reason.NOT_AS_DESCRIBED),
        ("CR-NOT_COMPATIBLE", Reason.NOT_AS_DESCRIBED),
        ("CR-SWITCHEROO", Reason.WRONG_ITEM),
        ("CR-EXTRA_ITEM", Reason.WRONG_ITEM),
        ("CR-DAMAGED_BY_CARRIER", Reason.DAMAGED_IN_TRANSIT),
        ("CR-DAMAGED_BY_FC", Reason.DAMAGED_IN_TRANSIT),
        ("CR-MISSED_ESTIMATED_DELIVERY", Reason.ARRIVED_LATE),
        ("AMZ-PG-APP-TOO-SMALL", Reason.SIZE_TOO_SMALL),
        ("AMZ-PG-WJ-TOO-SMALL", Reason.SIZE_TOO_SMALL),
        ("APPAREL_TOO_LARGE", Reason.SIZE_TOO_LARGE),
        ("AMZ-PG-APP-STYLE", Reason.STYLE),
        ("DID_NOT_LIKE_COLOR", Reason.COLOR),
        ("CR-NO_REASON_GIVEN", Reason.OTHER),
    ],
)
def test_amazons_reason_codes_map_to_canonical_reasons(code: str, reason: Reason) -> None:
    assert reason_from_amazon(code) == (reason, True)


def test_an_unknown_reason_code_is_other_and_said_to_be_unknown() -> None:
    assert reason_from_amazon("CR-SOMETHING_NEW") == (Reason.OTHER, False)
    assert reason_from_amazon("") == (Reason.OTHER, False)


@pytest.mark.parametrize(
    ("status", "canonical"),
    [
        ("Approved", Status.APPROVED),
        ("Authorized", Status.APPROVED),
        ("Pending", Status.REQUESTED),
        ("Pending Action", Status.REQUESTED),
        ("Rejected", Status.DECLINED),
        ("Closed", Status.CLOSED),
        ("Completed", Status.CLOSED),
        ("Cancelled", Status.CANCELED),
    ],
)
def test_return_request_statuses_map_to_canonical_ones(status: str, canonical: Status) -> None:
    assert status_from_amazon(status) is canonical


def test_an_unknown_status_is_a_request_with_amazons_word_kept() -> None:
    row = _one(_row(Return_request_status="Escalated"))

    assert isinstance(row, ReportedReturn)
    assert status_from_amazon("Escalated") is None
    assert row.status is Status.REQUESTED and row.amazon_status == "Escalated"
