"""Amazon's returns reports read row by row into canonical returns, storable with no further
call to Amazon. Pure: no I/O; lines in, results out.

Two reports are understood, told apart by their header line:

- ``GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE``, the seller-fulfilled (MFN) returns: one row
  per returned item of an RMA, with the order, the SKU, the quantity, Amazon's reason code,
  the label and its tracking, and the amounts. Columns as Amazon documents them (``Order
  ID`` … ``Refunded Amount``); Seller Central's download may call ``Merchant RMA ID`` ``Seller
  RMA ID``, write ``Safe-T`` for ``SafeT`` and add columns (``Category``), which are kept too.
  The upsert key is the Amazon RMA ID; rows of one RMA that follow each other become one
  return with a line per SKU.
- ``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA``, returns Amazon took back for FBA orders (no
  RMA, no amounts): keyed by the license plate number of the returned unit. Amazon has
  already refunded the buyer and decided what became of the unit, so these come out CLOSED,
  for the record, and must never be refunded again.

Each row becomes a ``ReportedReturn``: the ``ReturnRequest`` (lines keyed by SKU), a stub
``Order`` with what the row says of it (the SKU's line, the order date and amount, the buyer's
country taken from the marketplace until the Orders API says better), a canonical ``Status``,
and the label, tracking and amounts. A row that cannot be read is a ``RowError`` with its line
number and what is wrong, and the reading goes on. Results come in line order. A header that
is not one of these reports raises ``ReportFormatError``. Blank lines are not rows.

Fields are split on tabs; a line with a double quote goes through ``csv`` so a quoted field may
hold a tab, but never a line break: Amazon writes one record per line, and a stray quote must
not swallow the rows after it. Dates, amounts, reason codes and statuses repeat from row to
row and are parsed once each.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

from connector.domain import (
    Address,
    Condition,
    Customer,
    Money,
    Order,
    OrderLine,
    Reason,
    ReturnLine,
    ReturnRequest,
    Status,
)
from connector.domain.money import CURRENCIES, MoneyError

from . import marketplaces

MFN = "MFN"
FBA = "FBA"
REPLACEMENT = "\ufffd"
HELD_ERRORS = 1000  # errors kept back behind a return that may continue on the next row
AMOUNTS_KEPT = 50_000  # distinct amounts remembered while reading one report

# Header names as Amazon writes them, normalised (``_header_key``), to the keys used here.
_MFN_COLUMNS = {
    "order id": "order_id",
    "order date": "order_date",
    "return request date": "return_request_date",
    "return request status": "return_request_status",
    "amazon rma id": "amazon_rma_id",
    "merchant rma id": "merchant_rma_id",
    "seller rma id": "merchant_rma_id",
    "label type": "label_type",
    "label cost": "label_cost",
    "currency code": "currency_code",
    "return carrier": "return_carrier",
    "tracking id": "tracking_id",
    "label to be paid by": "label_to_be_paid_by",
    "a to z claim": "a_to_z_claim",
    "is prime": "is_prime",
    "asin": "asin",
    "merchant sku": "merchant_sku",
    "item name": "item_name",
    "return quantity": "return_quantity",
    "return reason": "return_reason",
    "in policy": "in_policy",
    "return type": "return_type",
    "resolution": "resolution",
    "invoice number": "invoice_number",
    "return delivery date": "return_delivery_date",
    "order amount": "order_amount",
    "order quantity": "order_quantity",
    "safet action reason": "safet_action_reason",
    "safet claim id": "safet_claim_id",
    "safet claim state": "safet_claim_state",
    "safet claim creation time": "safet_claim_creation_time",
    "safet claim reimbursement amount": "safet_claim_reimbursement_amount",
    "refunded amount": "refunded_amount",
    "category": "category",
}
# The cells a seller-fulfilled row is read from, in the order ``_Reader._mfn`` takes them.
_MFN_CELLS = (
    "amazon_rma_id",
    "order_id",
    "merchant_sku",
    "return_quantity",
    "currency_code",
    "return_reason",
    "return_request_date",
    "order_date",
    "return_delivery_date",
    "order_quantity",
    "order_amount",
    "return_request_status",
    "item_name",
    "tracking_id",
    "return_carrier",
    "label_cost",
    "label_to_be_paid_by",
    "refunded_amount",
    "in_policy",
    "a_to_z_claim",
    "is_prime",
)
_MFN_REQUIRED = (
    "order_id",
    "return_request_date",
    "amazon_rma_id",
    "merchant_sku",
    "return_quantity",
    "return_reason",
)
_FBA_COLUMNS = {
    "return date": "return_date",
    "order id": "order_id",
    "sku": "sku",
    "asin": "asin",
    "fnsku": "fnsku",
    "product name": "product_name",
    "quantity": "quantity",
    "fulfillment center id": "fulfillment_center_id",
    "detailed disposition": "detailed_disposition",
    "reason": "reason",
    "status": "return_status",  # raw["status"] is the canonical one, as for every platform
    "license plate number": "license_plate_number",
    "customer comments": "customer_comments",
}
_FBA_REQUIRED = ("return_date", "order_id", "sku", "quantity", "reason")

# Amazon's return reason codes, without their CR- / AMZ-PG- prefix, hyphens as underscores.
_REASONS: dict[str, Reason] = {
    "UNWANTED_ITEM": Reason.UNWANTED,
    "NO_LONGER_NEEDED": Reason.UNWANTED,
    "ORDERED_WRONG_ITEM": Reason.UNWANTED,
    "MISORDERED": Reason.UNWANTED,
    "FOUND_BETTER_PRICE": Reason.UNWANTED,
    "UNAUTHORIZED_PURCHASE": Reason.UNWANTED,
    "ACCIDENTAL_ORDER": Reason.UNWANTED,
    "EXCESSIVE_INSTALLATION": Reason.UNWANTED,
    "UNDELIVERABLE_REFUSED": Reason.UNWANTED,
    "DEFECTIVE": Reason.DEFECTIVE,
    "QUALITY_UNACCEPTABLE": Reason.DEFECTIVE,
    "MISSING_PARTS": Reason.DEFECTIVE,
    "NOT_AS_DESCRIBED": Reason.NOT_AS_DESCRIBED,
    "BAD_DESC": Reason.NOT_AS_DESCRIBED,
    "NOT_COMPATIBLE": Reason.NOT_AS_DESCRIBED,
    "PART_NOT_COMPATIBLE": Reason.NOT_AS_DESCRIBED,
    "SWITCHEROO": Reason.WRONG_ITEM,
    "RECEIVED_WRONG_ITEM": Reason.WRONG_ITEM,
    "EXTRA_ITEM": Reason.WRONG_ITEM,
    "DAMAGED_BY_CARRIER": Reason.DAMAGED_IN_TRANSIT,
    "DAMAGED_BY_FC": Reason.DAMAGED_IN_TRANSIT,
    "MISSED_ESTIMATED_DELIVERY": Reason.ARRIVED_LATE,
    "NEVER_ARRIVED": Reason.ARRIVED_LATE,
    "APPAREL_TOO_SMALL": Reason.SIZE_TOO_SMALL,
    "APPAREL_TOO_LARGE": Reason.SIZE_TOO_LARGE,
    "APPAREL_STYLE": Reason.STYLE,
    "DID_NOT_LIKE_FABRIC": Reason.STYLE,
    "DID_NOT_LIKE_COLOR": Reason.COLOR,
    "NO_REASON_GIVEN": Reason.OTHER,
    "CUSTOMER_DAMAGED": Reason.OTHER,
}
# Category-specific codes (AMZ-PG-APP-TOO-SMALL, AMZ-PG-WJ-TOO-SMALL …) end alike.
_REASON_ENDINGS: tuple[tuple[str, Reason], ...] = (
    ("TOO_SMALL", Reason.SIZE_TOO_SMALL),
    ("TOO_LARGE", Reason.SIZE_TOO_LARGE),
    ("STYLE", Reason.STYLE),
    ("COLOR", Reason.COLOR),
    ("COLOUR", Reason.COLOR),
    ("BAD_DESC", Reason.NOT_AS_DESCRIBED),
)
_REASON_PREFIXES = ("CR_", "AMZ_PG_")

# "Return request status" of a seller-fulfilled return, lower case without spaces.
_STATUSES: dict[str, Status] = {
    "pending": Status.REQUESTED,
    "pendingaction": Status.REQUESTED,
    "pendingauthorization": Status.REQUESTED,
    "requested": Status.REQUESTED,
    "unauthorized": Status.REQUESTED,
    "approved": Status.APPROVED,
    "authorized": Status.APPROVED,
    "authorised": Status.APPROVED,
    "autoauthorized": Status.APPROVED,
    "rejected": Status.DECLINED,
    "declined": Status.DECLINED,
    "denied": Status.DECLINED,
    "delivered": Status.RECEIVED,
    "received": Status.RECEIVED,
    "closed": Status.CLOSED,
    "completed": Status.CLOSED,
    "refunded": Status.CLOSED,
    "cancelled": Status.CANCELED,
    "canceled": Status.CANCELED,
    "withdrawn": Status.CANCELED,
}

# "detailed-disposition" of an FBA return, as Amazon graded the unit.
_DISPOSITIONS: dict[str, Condition] = {
    "SELLABLE": Condition.UNUSED,
    "DEFECTIVE": Condition.DAMAGED,
    "DAMAGED": Condition.DAMAGED,
    "CUSTOMER_DAMAGED": Condition.DAMAGED,
    "CARRIER_DAMAGED": Condition.DAMAGED,
    "DISTRIBUTOR_DAMAGED": Condition.DAMAGED,
    "WAREHOUSE_DAMAGED": Condition.DAMAGED,
    "EXPIRED": Condition.USED,
}

# Month abbreviations in the languages of Amazon's European reports ("10-Jul-2025").
_MONTH_NAMES = (
    "jan janv ene gen",
    "feb févr fevr",
    "mar mär mrz mars",
    "apr avr abr",
    "may mai mag",
    "jun juin giu",
    "jul juil lug",
    "aug août aout ago",
    "sep sept set",
    "oct okt ott",
    "nov",
    "dec dez déc dic",
)
_MONTHS: dict[str, int] = {
    name: number for number, names in enumerate(_MONTH_NAMES, start=1) for name in names.split()
}
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[-\s/.]([^\W\d_]+)\.?[-\s/.](\d{4})")
_TRUE = frozenset({"y", "yes", "true", "1"})
# What a storage format may have to escape: a quote, a backslash, a control character (the
# tab between fields aside). A row without any is stored as it stands.
_UNCLEAN = bytes(range(0x09)) + bytes(range(0x0A, 0x20)) + b'\x7f"\\'


class ReportFormatError(ValueError):
    """The text is not a returns report Helloword reads (its header says so)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that could not be read, and why; the reading went on past it."""

    line_number: int
    message: str


@dataclass(slots=True)
class ReportedLine:
    """One SKU of a reported return, as the row gives it: the returned quantity and Amazon's
    reason, and what the row says of the order line (title, quantity ordered, amount)."""

    sku: str
    quantity: int
    reason: Reason
    note: str
    title: str
    ordered: int  # the order line's quantity (at least the returned one)
    amount: Money | None  # the row's order amount, for ``ordered`` units
    condition: Condition = Condition.UNUSED
    clean: bool = True  # its row's text holds no quote, backslash or control character

    def unit_price(self, currency: str) -> Money:
        """The price of one unit ordered: the amount shared over the units (none: zero)."""
        amount = self.amount
        if amount is None:
            return Money.zero(currency)
        if self.ordered <= 1:
            return amount
        return Money.of(amount.amount / self.ordered, amount.currency)


@dataclass(slots=True)
class ReportedReturn:
    """One return as a report tells it (an RMA's rows joined), ready to store without asking
    Amazon more. Plain values, so a report of a hundred thousand rows is read fast; ``request``
    and ``order`` give the canonical ``ReturnRequest`` and stub ``Order`` they describe."""

    line_number: int  # the row's line (the first row's, for an RMA over several rows)
    external_id: str  # the Amazon RMA ID (or fba-<license plate>)
    order_external_id: str
    requested_at: datetime
    placed_at: datetime
    currency: str
    lines: list[ReportedLine]
    status: Status
    amazon_status: str
    fulfilment: str  # MFN: the seller's to handle; FBA: Amazon handled it, record only
    marketplace_id: str
    country: str  # the marketplace's, standing in for the buyer's until the Orders API says
    tracking_number: str = ""
    carrier: str = ""
    label_cost: Money | None = None
    label_paid_by: str = ""  # Seller | Customer | Amazon, as the report says
    refunded: Money | None = None  # what Amazon reports as refunded already
    delivered_at: datetime | None = None  # when the return reached the seller
    in_policy: bool = True  # within Amazon's return policy, as the report says
    a_to_z_claim: bool = False  # the buyer filed an A-to-z Guarantee claim
    prime: bool = False
    clean: bool = True  # its rows' text holds no quote, backslash or control character
    columns: list[str] = field(default_factory=list, repr=False)  # the report's, as keys
    cells: list[list[str]] = field(default_factory=list, repr=False)  # each row's fields

    @property
    def total(self) -> Money:
        """The order amount the rows give: their amounts added (those in another currency
        than the first left out)."""
        total: Money | None = None
        for line in self.lines:
            total = _sum(total, line.amount)
        return total if total is not None else Money.zero(self.currency)

    @property
    def raw(self) -> dict[str, object]:
        """The row's cells with what was made of them (``status``, ``fulfilment``,
        ``marketplace_id``); for an RMA over several rows, the first row's and ``rows``."""
        made = {
            "status": self.status.value,
            "fulfilment": self.fulfilment,
            "marketplace_id": self.marketplace_id,
        }
        cells: list[dict[str, object]] = [
            {**dict(zip(self.columns, map(str.strip, row), strict=False)), **made}
            for row in self.cells
        ]
        if len(cells) == 1:
            return cells[0]
        return {**cells[0], "rows": cells}

    @property
    def request(self) -> ReturnRequest:
        lines = tuple(
            ReturnLine(
                order_line_external_id=line.sku,
                quantity=line.quantity,
                reason=line.reason,
                condition=line.condition,
                note=line.note,
                external_id=f"{self.external_id}:{line.sku}",
            )
            for line in self.lines
        )
        return ReturnRequest(
            order_external_id=self.order_external_id,
            lines=lines,
            requested_at=self.requested_at,
            external_id=self.external_id,
            raw=self.raw,
        )

    @property
    def order(self) -> Order:
        """A stub of the order: the rows' SKUs as its lines; Orders API details come later."""
        currency = self.currency
        lines = tuple(
            OrderLine(
                external_id=line.sku,
                sku=line.sku,
                title=line.title,
                quantity=line.ordered,
                unit_price=line.unit_price(currency),
            )
            for line in self.lines
        )
        return Order(
            external_id=self.order_external_id,
            number=self.order_external_id,
            currency=currency,
            placed_at=self.placed_at,
            customer=Customer(external_id="", email=""),
            shipping_address=Address("", "", "", "", self.country),
            lines=lines,
            total=self.total,
            raw={"source": "returns_report", "marketplace_id": self.marketplace_id},
        )


ParsedRow = tuple[int, ReportedReturn | RowError]


class _Bad(ValueError):
    """What is wrong with the row being read."""


# --- entry point --------------------------------------------------------------------------


def parse_returns_report(lines: Iterable[str], marketplace_id: str) -> Iterator[ParsedRow]:
    """Each row of a returns report as ``(line number, ReportedReturn | RowError)``.

    ``marketplace_id`` is the marketplace the report covers: its currency is the amounts'
    when a row names none, and its country stands in for the buyer's. Line numbers count
    from 1, the header being line 1."""
    market = marketplaces.marketplace(marketplace_id)
    numbered = enumerate(lines, start=1)
    header = _header(numbered)
    if header is None:
        return
    keys, kind = header
    reader = _Reader(keys, market, kind)
    rows = (reader.row(number, line) for number, line in numbered if line.strip())
    yield from _merged(rows) if kind == MFN else rows


def reason_from_amazon(code: str) -> tuple[Reason, bool]:
    """The canonical reason for an Amazon return reason code, and whether the code is known
    (an unknown one is OTHER)."""
    return _map_reason(code)


def status_from_amazon(value: str) -> Status | None:
    """The canonical status of a seller-fulfilled return's "Return request status", or None
    for a status Amazon has not been seen to use."""
    return _STATUSES.get(_squash(value))


# --- the header ---------------------------------------------------------------------------


def _header(numbered: Iterator[tuple[int, str]]) -> tuple[list[str], str] | None:
    for number, line in numbered:
        if not line.strip():
            continue
        names = [_header_key(name) for name in _fields(line)]
        if "amazon rma id" in names:
            return _keys(names, _MFN_COLUMNS, _MFN_REQUIRED, number), MFN
        if "license plate number" in names or "detailed disposition" in names:
            return _keys(names, _FBA_COLUMNS, _FBA_REQUIRED, number), FBA
        raise ReportFormatError(
            f"line {number}: not an Amazon returns report (no 'Amazon RMA ID' column for the "
            "seller-fulfilled returns report, no 'license-plate-number' for the FBA customer "
            "returns report)"
        )
    return None


def _keys(
    names: list[str], columns: dict[str, str], required: tuple[str, ...], number: int
) -> list[str]:
    keys = [columns.get(name) or name.replace(" ", "_") for name in names]
    missing = [key for key in required if key not in keys]
    if missing:
        wanted = ", ".join(repr(name) for name, key in columns.items() if key in missing)
        raise ReportFormatError(f"line {number}: the report lacks the column(s) {wanted}")
    return keys


def _header_key(name: str) -> str:
    text = name.strip().strip('"').lower().replace("safe-t", "safet")
    return " ".join(text.replace("-", " ").replace("_", " ").split())


# --- rows ---------------------------------------------------------------------------------


class _Reader:
    """Turns the rows of one report into returns, remembering what repeats. Cells are taken
    by position (a column the report lacks reads as empty), and only those a return needs
    are looked at."""

    def __init__(self, keys: list[str], market: marketplaces.Marketplace, kind: str) -> None:
        self.keys = keys
        self.width = len(keys)
        self.market = market
        self.kind = kind
        self._at = {key: index for index, key in enumerate(keys)}
        self._dates: dict[str, datetime] = {}
        self._reasons: dict[str, tuple[Reason, bool]] = {}
        self._statuses: dict[str, Status] = {}
        self._amounts: dict[tuple[str, str], Money] = {}
        self._currencies: dict[str, str] = {}
        self._mfn_at = tuple(self.column(key) for key in _MFN_CELLS)
        self._convert: Callable[[int, list[str]], ReportedReturn] = (
            self._mfn if kind == MFN else self._fba
        )

    def column(self, key: str) -> int:
        """Where ``key``'s cell is in a row, or the empty cell past the last column."""
        return self._at.get(key, self.width)

    def row(self, number: int, line: str) -> ParsedRow:
        text = line.rstrip("\r\n")
        encoded = text.encode(errors="surrogatepass")  # a control character: one byte alone
        clean = len(encoded.translate(None, _UNCLEAN)) == len(encoded)  # and no quote either
        try:
            fields = text.split("\t") if clean else _fields(text)
        except csv.Error as exc:
            return number, RowError(number, f"the fields cannot be split: {exc}")
        count = len(fields)
        if count > self.width:
            extra = count - self.width
            return number, RowError(
                number, f"{count} fields where the header has {self.width} ({extra} too many)"
            )
        if count < self.width:  # Amazon leaves trailing empty columns out
            fields.extend([""] * (self.width - count))
        fields.append("")  # the cell of every column the report lacks
        try:
            found = self._convert(number, fields)
        except (_Bad, MoneyError) as problem:
            return number, RowError(number, str(problem))
        if not clean:
            found.clean = found.lines[0].clean = False
        return number, found

    # seller-fulfilled ----------------------------------------------------------------------

    def _mfn(self, number: int, fields: list[str]) -> ReportedReturn:
        (
            rma_at,
            order_at,
            sku_at,
            quantity_at,
            currency_at,
            reason_at,
            requested_at_at,
            placed_at_at,
            delivered_at_at,
            ordered_at,
            amount_at,
            status_at,
            title_at,
            tracking_at,
            carrier_at,
            label_cost_at,
            paid_by_at,
            refunded_at,
            in_policy_at,
            claim_at,
            prime_at,
        ) = self._mfn_at
        rma = fields[rma_at].strip()
        order_id = fields[order_at].strip()
        sku = fields[sku_at].strip()
        for value, column in (
            (rma, "Amazon RMA ID"),
            (order_id, "Order ID"),
            (sku, "Merchant SKU"),
        ):
            if not value or REPLACEMENT in value:
                _key(value, column)  # says what is wrong
        quantity = _count(fields[quantity_at].strip(), "Return quantity")
        currency = self._currency(fields[currency_at].strip())
        code = fields[reason_at].strip()
        reason, known = self._reason(code)
        dates = self._dates
        text = fields[requested_at_at].strip()
        requested_at = dates.get(text) or self._date(text, "Return request date")
        text = fields[placed_at_at].strip()
        placed_at = (dates.get(text) or self._optional_date(text, "Order date")) or requested_at
        text = fields[delivered_at_at].strip()
        delivered_at = (
            (dates.get(text) or self._optional_date(text, "Return delivery date")) if text else None
        )
        text = fields[ordered_at].strip()
        ordered = max(quantity, _count(text, "Order quantity")) if text else quantity
        text = fields[amount_at].strip()
        amount = self._money(text, currency, "Order Amount") if text else None
        amazon_status = fields[status_at].strip()
        status = self._status(amazon_status)
        if status is Status.APPROVED and delivered_at is not None:
            status = Status.RECEIVED
        line = ReportedLine(
            sku,
            quantity,
            reason,
            "" if known else f"Amazon's reason: {code or 'none given'}",
            fields[title_at].strip(),
            ordered,
            amount,
        )
        text = fields[label_cost_at].strip()
        label_cost = self._money(text, currency, "Label cost") if text else None
        text = fields[refunded_at].strip()
        refunded = self._money(text, currency, "Refunded Amount") if text else None
        text = fields[in_policy_at].strip()
        return ReportedReturn(
            number,
            rma,
            order_id,
            requested_at,
            placed_at,
            currency,
            [line],
            status,
            amazon_status,
            MFN,
            self.market.marketplace_id,
            self.market.country,
            fields[tracking_at].strip(),
            fields[carrier_at].strip(),
            label_cost,
            fields[paid_by_at].strip(),
            refunded,
            delivered_at,
            text.lower() in _TRUE if text else True,  # in Amazon's policy unless it says not
            fields[claim_at].strip().lower() in _TRUE,
            fields[prime_at].strip().lower() in _TRUE,
            True,
            self.keys,
            [fields],
        )

    # fulfilled by Amazon -------------------------------------------------------------------

    def _fba(self, number: int, fields: list[str]) -> ReportedReturn:
        def cell(key: str) -> str:
            return fields[self.column(key)].strip()

        order_id = _key(cell("order_id"), "order-id")
        sku = _key(cell("sku"), "sku")
        quantity = _count(cell("quantity"), "quantity")
        returned_at = self._date(cell("return_date"), "return-date")
        code = cell("reason")
        reason, known = self._reason(code)
        plate = cell("license_plate_number")
        if REPLACEMENT in plate:
            raise _Bad("license-plate-number has bytes that are not text")
        external_id = f"fba-{plate}" if plate else f"fba-{order_id}-{sku}-{returned_at:%Y%m%d}"
        disposition = cell("detailed_disposition").upper()
        comments = cell("customer_comments")
        note = comments if known else f"Amazon's reason: {code}. {comments}".strip()
        line = ReportedLine(
            sku,
            quantity,
            reason,
            note,
            cell("product_name"),
            quantity,
            None,
            _DISPOSITIONS.get(disposition, Condition.OPENED),
        )
        return ReportedReturn(
            number,
            external_id,
            order_id,
            returned_at,
            returned_at,
            self.market.currency,
            [line],
            Status.CLOSED,
            cell("return_status"),
            FBA,
            self.market.marketplace_id,
            self.market.country,
            delivered_at=returned_at,
            columns=self.keys,
            cells=[fields],
        )

    # pieces --------------------------------------------------------------------------------

    def _reason(self, code: str) -> tuple[Reason, bool]:
        found = self._reasons.get(code)
        if found is None:
            found = self._reasons[code] = reason_from_amazon(code)
        return found

    def _status(self, value: str) -> Status:
        found = self._statuses.get(value)
        if found is None:
            found = self._statuses[value] = _STATUSES.get(_squash(value), Status.REQUESTED)
        return found

    def _money(self, value: str, currency: str, column: str) -> Money | None:
        if not value:
            return None
        found = self._amounts.get((value, currency))
        if found is None:
            found = _money(value, currency, column)
            if found is not None and len(self._amounts) < AMOUNTS_KEPT:
                self._amounts[(value, currency)] = found
        return found

    def _currency(self, value: str) -> str:
        found = self._currencies.get(value)
        if found is None:
            currency = value.upper() or self.market.currency
            if currency not in CURRENCIES:
                raise _Bad(f"Currency code: {value!r} is not an ISO 4217 currency")
            found = self._currencies[value] = currency
        return found

    def _date(self, value: str, column: str) -> datetime:
        found = self._optional_date(value, column)
        if found is None:
            raise _Bad(f"{column} is empty")
        return found

    def _optional_date(self, value: str, column: str) -> datetime | None:
        if not value:
            return None
        found = self._dates.get(value)
        if found is None:
            found = _parse_date(value)
            if found is None:
                raise _Bad(f"{column}: {value!r} is not a date")
            self._dates[value] = found
        return found


def _merged(rows: Iterator[ParsedRow]) -> Iterator[ParsedRow]:
    """Rows of one RMA that follow each other as one return with a line per SKU, everything
    still in line order: errors met while a return may yet grow wait behind it (up to
    ``HELD_ERRORS``; past that the return is given as it stands). A second row for an RMA and
    SKU already read is reported, not counted twice."""
    pending: ReportedReturn | None = None
    held: list[ParsedRow] = []
    skus: dict[str, int] = {}
    for number, parsed in rows:
        if isinstance(parsed, RowError):
            if pending is None:
                yield number, parsed
                continue
            held.append((number, parsed))
            if len(held) >= HELD_ERRORS:
                yield pending.line_number, pending
                yield from held
                pending, held = None, []
            continue
        sku = parsed.lines[0].sku
        if pending is not None and parsed.external_id == pending.external_id:
            if sku in skus:
                message = (
                    f"a second row for RMA {pending.external_id} and SKU {sku!r} "
                    f"(first on line {skus[sku]}); skipped"
                )
                held.append((number, RowError(number, message)))
            else:
                skus[sku] = number
                _join(pending, parsed)
            continue
        if pending is not None:
            yield pending.line_number, pending
            yield from held
        pending, held, skus = parsed, [], {sku: number}
    if pending is not None:
        yield pending.line_number, pending
        yield from held


def _join(first: ReportedReturn, more: ReportedReturn) -> None:
    """``more``, a further row of ``first``'s RMA, added to it."""
    first.lines.extend(more.lines)
    first.cells.extend(more.cells)
    first.refunded = _sum(first.refunded, more.refunded)
    first.in_policy = first.in_policy and more.in_policy
    first.a_to_z_claim = first.a_to_z_claim or more.a_to_z_claim
    first.clean = first.clean and more.clean


def _sum(a: Money | None, b: Money | None) -> Money | None:
    """The two amounts added; either alone when the other is missing or in another currency."""
    if a is None:
        return b
    if b is None or a.currency != b.currency:
        return a
    return a + b


# --- values -------------------------------------------------------------------------------


def _fields(text: str) -> list[str]:
    """A line's fields (its line break removed already)."""
    if '"' not in text:
        return text.split("\t")
    return next(csv.reader((text,), delimiter="\t", quotechar='"'), [])


def _key(value: str, column: str) -> str:
    if not value:
        raise _Bad(f"{column} is empty: a return needs it")
    if REPLACEMENT in value:
        raise _Bad(f"{column} has bytes that are not text: {value!r}")
    return value


def _count(value: str, column: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise _Bad(f"{column}: {value!r} is not a whole number") from None
    if number < 1:
        raise _Bad(f"{column}: {number} is not a quantity of at least 1")
    return number


def _money(value: str, currency: str, column: str) -> Money | None:
    if not value:
        return None
    amount = _decimal(value)
    if amount is None:
        raise _Bad(f"{column}: {value!r} is not an amount")
    return Money.of(amount, currency)


def _decimal(value: str) -> Decimal | None:
    text = value.replace("\u00a0", "").replace(" ", "")
    if "," in text:
        if "." in text and text.rfind(".") > text.rfind(","):
            text = text.replace(",", "")  # 1,234.56
        elif "." in text:
            text = text.replace(".", "").replace(",", ".")  # 1.234,56
        elif len(text) - text.rfind(",") - 1 == 3:
            text = text.replace(",", "")  # 1,234
        else:
            text = text.replace(",", ".")  # 21,38
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _parse_date(value: str) -> datetime | None:
    """A report date: ``10-Jul-2025`` (any of the European month abbreviations), ISO 8601
    with or without a time, in UTC when no offset is given."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is not None:
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    found = _DAY_MONTH_YEAR.fullmatch(value.strip())
    if found is None:
        return None
    month = _MONTHS.get(found.group(2).lower().rstrip("."))
    if month is None:
        return None
    try:
        day = date(int(found.group(3)), month, int(found.group(1)))
    except ValueError:
        return None
    return datetime.combine(day, time(), UTC)


def _map_reason(code: str) -> tuple[Reason, bool]:
    name = code.strip().upper().replace("-", "_").replace(" ", "_")
    for prefix in _REASON_PREFIXES:
        name = name.removeprefix(prefix)
    if name in _REASONS:
        return _REASONS[name], True
    for ending, reason in _REASON_ENDINGS:
        if name.endswith(ending):
            return reason, True
    return Reason.OTHER, False


def _squash(value: str) -> str:
    return "".join(value.lower().replace("-", " ").replace("_", " ").split())
