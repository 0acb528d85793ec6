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
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

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


class ReportFormatError(ValueError):
    """The text is not a returns report Helloword reads (its header says so)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that could not be read, and why; the reading went on past it."""

    line_number: int
    message: str


@dataclass(frozen=True, slots=True)
class ReportedReturn:
    """One return as a report row tells it, ready to store without asking Amazon more."""

    line_number: int  # the row's line (the first row's, for an RMA over several rows)
    request: ReturnRequest  # external_id: the Amazon RMA ID (or fba-<license plate>)
    order: Order  # a stub: the row's SKU as the order line; Orders API details come later
    status: Status
    amazon_status: str
    fulfilment: str  # MFN: the seller's to handle; FBA: Amazon handled it, record only
    tracking_number: str = ""
    carrier: str = ""
    label_cost: Money | None = None
    label_paid_by: str = ""  # Seller | Customer | Amazon, as the report says
    refunded: Money | None = None  # what Amazon reports as refunded already
    delivered_at: datetime | None = None  # when the return reached the seller
    in_policy: bool = True  # within Amazon's return policy, as the report says
    a_to_z_claim: bool = False  # the buyer filed an A-to-z Guarantee claim
    prime: bool = False


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
    """Turns the rows of one report into returns, remembering what repeats."""

    def __init__(self, keys: list[str], market: marketplaces.Marketplace, kind: str) -> None:
        self.keys = keys
        self.width = len(keys)
        self.market = market
        self.kind = kind
        self.customer = Customer(external_id="", email="")
        self.address = Address("", "", "", "", market.country)
        self._dates: dict[str, datetime] = {}
        self._reasons: dict[str, tuple[Reason, bool]] = {}
        self._statuses: dict[str, Status] = {}
        self._amounts: dict[tuple[str, str], Money] = {}
        self._convert: Callable[[int, dict[str, Any]], ReportedReturn] = (
            self._mfn if kind == MFN else self._fba
        )

    def row(self, number: int, line: str) -> ParsedRow:
        try:
            fields = _fields(line)
        except csv.Error as exc:
            return number, RowError(number, f"the fields cannot be split: {exc}")
        if len(fields) > self.width:
            extra = len(fields) - self.width
            return number, RowError(
                number, f"{len(fields)} fields where the header has {self.width} ({extra} too many)"
            )
        if len(fields) < self.width:  # Amazon leaves trailing empty columns out
            fields.extend([""] * (self.width - len(fields)))
        values: dict[str, Any] = dict(zip(self.keys, map(str.strip, fields), strict=False))
        try:
            return number, self._convert(number, values)
        except (_Bad, MoneyError) as problem:
            return number, RowError(number, str(problem))

    # seller-fulfilled ----------------------------------------------------------------------

    def _mfn(self, number: int, row: dict[str, Any]) -> ReportedReturn:
        rma = _key(row, "amazon_rma_id", "Amazon RMA ID")
        order_id = _key(row, "order_id", "Order ID")
        sku = _key(row, "merchant_sku", "Merchant SKU")
        quantity = _count(row["return_quantity"], "Return quantity")
        currency = self._currency(row.get("currency_code", ""))
        reason, known = self._reason(row["return_reason"])
        requested_at = self._date(row["return_request_date"], "Return request date")
        placed_at = self._optional_date(row.get("order_date", ""), "Order date") or requested_at
        delivered_at = self._optional_date(
            row.get("return_delivery_date", ""), "Return delivery date"
        )
        ordered = max(quantity, _optional_count(row.get("order_quantity", ""), "Order quantity"))
        amount = self._money(row.get("order_amount", ""), currency, "Order Amount")
        line = ReturnLine(
            order_line_external_id=sku,
            quantity=quantity,
            reason=reason,
            note="" if known else f"Amazon's reason: {row['return_reason'] or 'none given'}",
            external_id=f"{rma}:{sku}",
        )
        amazon_status = row.get("return_request_status", "")
        status = self._status(amazon_status)
        if status is Status.APPROVED and delivered_at is not None:
            status = Status.RECEIVED
        request = ReturnRequest(
            order_external_id=order_id,
            lines=(line,),
            requested_at=requested_at,
            external_id=rma,
            raw=self._raw(row, status),
        )
        title = row.get("item_name", "")
        order = self._stub(order_id, placed_at, currency, sku, title, ordered, amount)
        return ReportedReturn(
            line_number=number,
            request=request,
            order=order,
            status=status,
            amazon_status=amazon_status,
            fulfilment=MFN,
            tracking_number=row.get("tracking_id", ""),
            carrier=row.get("return_carrier", ""),
            label_cost=self._money(row.get("label_cost", ""), currency, "Label cost"),
            label_paid_by=row.get("label_to_be_paid_by", ""),
            refunded=self._money(row.get("refunded_amount", ""), currency, "Refunded Amount"),
            delivered_at=delivered_at,
            in_policy=_flag(row.get("in_policy", ""), default=True),
            a_to_z_claim=_flag(row.get("a_to_z_claim", "")),
            prime=_flag(row.get("is_prime", "")),
        )

    # fulfilled by Amazon -------------------------------------------------------------------

    def _fba(self, number: int, row: dict[str, Any]) -> ReportedReturn:
        order_id = _key(row, "order_id", "order-id")
        sku = _key(row, "sku", "sku")
        quantity = _count(row["quantity"], "quantity")
        returned_at = self._date(row["return_date"], "return-date")
        reason, known = self._reason(row["reason"])
        plate = row.get("license_plate_number", "")
        if REPLACEMENT in plate:
            raise _Bad("license-plate-number has bytes that are not text")
        external_id = f"fba-{plate}" if plate else f"fba-{order_id}-{sku}-{returned_at:%Y%m%d}"
        disposition = row.get("detailed_disposition", "").upper()
        comments = row.get("customer_comments", "")
        note = comments if known else f"Amazon's reason: {row['reason']}. {comments}".strip()
        line = ReturnLine(
            order_line_external_id=sku,
            quantity=quantity,
            reason=reason,
            condition=_DISPOSITIONS.get(disposition, Condition.OPENED),
            note=note,
            external_id=f"{external_id}:{sku}",
        )
        request = ReturnRequest(
            order_external_id=order_id,
            lines=(line,),
            requested_at=returned_at,
            external_id=external_id,
            raw=self._raw(row, Status.CLOSED),
        )
        currency = self.market.currency
        title = row.get("product_name", "")
        order = self._stub(order_id, returned_at, currency, sku, title, quantity, None)
        return ReportedReturn(
            line_number=number,
            request=request,
            order=order,
            status=Status.CLOSED,
            amazon_status=row.get("return_status", ""),
            fulfilment=FBA,
            delivered_at=returned_at,
        )

    # pieces --------------------------------------------------------------------------------

    def _stub(
        self,
        order_id: str,
        placed_at: datetime,
        currency: str,
        sku: str,
        title: str,
        quantity: int,
        amount: Money | None,
    ) -> Order:
        total = amount if amount is not None else Money.zero(currency)
        unit = total if quantity <= 1 else Money.of(total.amount / quantity, currency)
        line = OrderLine(external_id=sku, sku=sku, title=title, quantity=quantity, unit_price=unit)
        return Order(
            external_id=order_id,
            number=order_id,
            currency=currency,
            placed_at=placed_at,
            customer=self.customer,
            shipping_address=self.address,
            lines=(line,),
            total=total,
            raw={"source": "returns_report", "marketplace_id": self.market.marketplace_id},
        )

    def _reason(self, code: str) -> tuple[Reason, bool]:
        found = self._reasons.get(code)
        if found is None:
            found = self._reasons[code] = reason_from_amazon(code)
        return found

    def _raw(self, row: dict[str, Any], status: Status) -> dict[str, object]:
        """The row itself (a dict of its own) as the request's ``raw``, with what was made of
        it."""
        row["status"] = status.value
        row["fulfilment"] = self.kind
        row["marketplace_id"] = self.market.marketplace_id
        return row

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
        currency = value.upper() or self.market.currency
        if currency not in CURRENCIES:
            raise _Bad(f"Currency code: {value!r} is not an ISO 4217 currency")
        return currency

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
        sku = parsed.request.lines[0].order_line_external_id
        if pending is not None and parsed.request.external_id == pending.request.external_id:
            if sku in skus:
                message = (
                    f"a second row for RMA {pending.request.external_id} and SKU {sku!r} "
                    f"(first on line {skus[sku]}); skipped"
                )
                held.append((number, RowError(number, message)))
            else:
                skus[sku] = number
                pending = _join(pending, parsed)
            continue
        if pending is not None:
            yield pending.line_number, pending
            yield from held
        pending, held, skus = parsed, [], {sku: number}
    if pending is not None:
        yield pending.line_number, pending
        yield from held


def _join(first: ReportedReturn, more: ReportedReturn) -> ReportedReturn:
    request, order = first.request, first.order
    rows = request.raw.get("rows")
    earlier = list(rows) if isinstance(rows, list) else [dict(request.raw)]
    joined_request = ReturnRequest(
        order_external_id=request.order_external_id,
        lines=request.lines + more.request.lines,
        requested_at=request.requested_at,
        external_id=request.external_id,
        raw={**request.raw, "rows": [*earlier, dict(more.request.raw)]},
    )
    joined_order = Order(
        external_id=order.external_id,
        number=order.number,
        currency=order.currency,
        placed_at=order.placed_at,
        customer=order.customer,
        shipping_address=order.shipping_address,
        lines=order.lines + more.order.lines,
        total=_sum(order.total, more.order.total) or order.total,
        raw=order.raw,
    )
    return ReportedReturn(
        line_number=first.line_number,
        request=joined_request,
        order=joined_order,
        status=first.status,
        amazon_status=first.amazon_status,
        fulfilment=first.fulfilment,
        tracking_number=first.tracking_number,
        carrier=first.carrier,
        label_cost=first.label_cost,
        label_paid_by=first.label_paid_by,
        refunded=_sum(first.refunded, more.refunded),
        delivered_at=first.delivered_at,
        in_policy=first.in_policy and more.in_policy,
        a_to_z_claim=first.a_to_z_claim or more.a_to_z_claim,
        prime=first.prime,
    )


def _sum(a: Money | None, b: Money | None) -> Money | None:
    """The two amounts added; either alone when the other is missing or in another currency."""
    if a is None:
        return b
    if b is None or a.currency != b.currency:
        return a
    return a + b


# --- values -------------------------------------------------------------------------------


def _fields(line: str) -> list[str]:
    text = line.rstrip("\r\n")
    if '"' not in text:
        return text.split("\t")
    return next(csv.reader((text,), delimiter="\t", quotechar='"'), [])


def _key(row: dict[str, Any], key: str, column: str) -> str:
    value = row.get(key, "")
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


def _optional_count(value: str, column: str) -> int:
    return _count(value, column) if value else 0


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


def _flag(value: str, *, default: bool = False) -> bool:
    """A report's Y/N column as a bool; an empty one is ``default``."""
    return value.lower() in _TRUE if value else default
