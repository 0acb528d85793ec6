"""Customs papers for a cross-border return: one A4 PDF that is both the commercial invoice
and the CN23 customs declaration, with "Returned goods" ticked.

Customs at the warehouse's border waive duty on goods coming back only when the papers name
them as returned goods and cite the original export declaration, so both are printed
prominently. ReportLab's platypus lays the document out and carries a long table of lines onto
further pages, repeating its header. Amounts are summed with ``Money``; nothing here reads or
writes files.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .domain import Address, Money
from .pdftext import font_for

PAGE_SIZE = A4  # 595 x 842 points
TITLE = "COMMERCIAL INVOICE / CN23 — RETURNED GOODS"
CERTIFICATION = (
    "I, the undersigned, whose name and address are given on the item, certify that the "
    "particulars given in this declaration are correct and that this item does not contain "
    "any dangerous article or articles prohibited by legislation or by postal or customs "
    "regulations."
)
# The CN23 "category of item" boxes, in the form's order.
CATEGORIES = ("Gift", "Documents", "Commercial sample", "Returned goods", "Sale of goods", "Other")
_TICKED = "Returned goods"

_MARGIN = 15 * mm
_CONTENT_WIDTH = PAGE_SIZE[0] - 2 * _MARGIN


@dataclass(frozen=True, slots=True)
class CustomsLine:
    """One kind of goods in the parcel. ``weight_kg`` is the net weight of the whole line,
    all units together, as the CN23 asks for it."""

    description: str
    quantity: int
    unit_value: Money
    hs_code: str
    origin_country: str  # ISO 3166-1 alpha-2, where the goods were made
    weight_kg: Decimal

    def __post_init__(self) -> None:
        if not self.description.strip():
            raise ValueError("a customs line needs a description of the goods")
        if self.quantity < 1:
            raise ValueError(f"{self.description!r}: quantity must be at least 1")
        if self.unit_value.amount < 0:
            raise ValueError(f"{self.description!r}: unit value must not be negative")
        if isinstance(self.weight_kg, float) or Decimal(self.weight_kg) < 0:
            raise ValueError(f"{self.description!r}: weight must be a non-negative Decimal")

    @property
    def total_value(self) -> Money:
        return self.unit_value * self.quantity


@dataclass(frozen=True, slots=True)
class CustomsPapers:
    """What the invoice and CN23 declare for one return parcel going back to a warehouse.

    ``export_reference`` is the original export declaration's number, which returned-goods
    relief needs; ``gross_weight_kg`` is the packed parcel's weight and defaults to the lines'
    net weight when the parcel was not weighed.
    """

    rma: str
    invoice_number: str
    date: dt.date
    sender: Address  # the buyer sending the goods back
    recipient: Address  # the warehouse
    lines: tuple[CustomsLine, ...]
    currency: str
    order_number: str  # the original order the goods were sold in
    export_reference: str = ""
    reason: str = "Returned goods"
    tracking_number: str = ""
    carrier: str = ""
    gross_weight_kg: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError(f"customs papers for {self.rma} need at least one line")
        Money.zero(self.currency)  # raises MoneyError (a ValueError) for an unknown code
        for number, line in enumerate(self.lines, start=1):
            if line.unit_value.currency != self.currency:
                raise ValueError(
                    f"line {number} ({line.description!r}) is valued in "
                    f"{line.unit_value.currency}, the papers in {self.currency}"
                )
        if self.gross_weight_kg is not None and self.gross_weight_kg < self.net_weight_kg:
            raise ValueError(
                f"gross weight {self.gross_weight_kg} kg is less than the lines' net weight "
                f"{self.net_weight_kg} kg"
            )

    @property
    def total_value(self) -> Money:
        result = Money.zero(self.currency)
        for line in self.lines:
            result = result + line.total_value
        return result

    @property
    def net_weight_kg(self) -> Decimal:
        return sum((Decimal(line.weight_kg) for line in self.lines), Decimal(0))

    @property
    def total_gross_weight_kg(self) -> Decimal:
        return self.net_weight_kg if self.gross_weight_kg is None else self.gross_weight_kg


def render_customs_invoice(papers: CustomsPapers) -> bytes:
    """The invoice and CN23 as an A4 PDF; the same papers always give the same bytes."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE_SIZE,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN + 6 * mm,
        title=f"Commercial invoice / CN23 {papers.invoice_number} (RMA {papers.rma})",
        author="Helloword",
        creator="Helloword",
        # No creation time or random document id: a regenerated invoice is byte-identical.
        invariant=1,
    )

    def footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        font, shown = font_for(
            f"{papers.invoice_number} · RMA {papers.rma} · page {doc.page}", bold=False
        )
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawRightString(PAGE_SIZE[0] - _MARGIN, _MARGIN, shown)
        canvas.restoreState()

    document.build(_story(papers), onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


# --- layout ------------------------------------------------------------------------------

_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=8.5, leading=10.5)
_SMALL = ParagraphStyle("small", parent=_BODY, fontSize=7.5, leading=9)
_NUMBER = ParagraphStyle("number", parent=_SMALL, alignment=TA_RIGHT)
_HEADING = ParagraphStyle("heading", parent=_BODY, fontName="Helvetica-Bold", fontSize=9)
_TITLE = ParagraphStyle("title", parent=_BODY, fontName="Helvetica-Bold", fontSize=14, leading=18)

_GRID = [
    ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("TOPPADDING", (0, 0), (-1, -1), 3),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
]


def _story(papers: CustomsPapers) -> list[Flowable]:
    return [
        Paragraph(_markup(TITLE, _TITLE), _TITLE),
        Spacer(0, 4 * mm),
        _references(papers),
        Spacer(0, 3 * mm),
        _parties(papers),
        Spacer(0, 3 * mm),
        _goods(papers),
        Spacer(0, 3 * mm),
        _totals(papers),
        Spacer(0, 3 * mm),
        _category(papers),
        Spacer(0, 3 * mm),
        Paragraph(_markup(CERTIFICATION), _BODY),
        Spacer(0, 6 * mm),
        _signature(papers),
    ]


def _references(papers: CustomsPapers) -> Table:
    shipment = " · ".join(part for part in (papers.carrier, papers.tracking_number) if part)
    rows = [
        ("Invoice number", papers.invoice_number, "Date", papers.date.isoformat()),
        ("RMA", papers.rma, "Original order", papers.order_number),
        (
            "Export reference",
            papers.export_reference or "none given",
            "Carrier / tracking",
            shipment or "not yet assigned",
        ),
    ]
    cells = [
        [_cell(label, _HEADING), _cell(value), _cell(label2, _HEADING), _cell(value2)]
        for label, value, label2, value2 in rows
    ]
    widths = [0.18, 0.32, 0.18, 0.32]
    return Table(cells, colWidths=[_CONTENT_WIDTH * w for w in widths], style=TableStyle(_GRID))


def _parties(papers: CustomsPapers) -> Table:
    cells = [
        [
            _cell("Sender (returning the goods)", _HEADING),
            _cell("Recipient (warehouse)", _HEADING),
        ],
        [_address_cell(papers.sender), _address_cell(papers.recipient)],
    ]
    half = _CONTENT_WIDTH / 2
    return Table(cells, colWidths=[half, half], style=TableStyle(_GRID))


_GOODS_COLUMNS = (
    ("#", 0.04),
    ("Description of contents", 0.30),
    ("Qty", 0.06),
    ("HS code", 0.12),
    ("Origin", 0.08),
    ("Unit value", 0.13),
    ("Total value", 0.14),
    ("Net weight (kg)", 0.13),
)


def _goods(papers: CustomsPapers) -> Table:
    header = [_cell(name, _HEADING) for name, _ in _GOODS_COLUMNS]
    rows: list[list[Flowable]] = [header]
    for number, line in enumerate(papers.lines, start=1):
        rows.append(
            [
                _cell(str(number), _NUMBER),
                _cell(line.description, _SMALL),
                _cell(str(line.quantity), _NUMBER),
                _cell(line.hs_code, _SMALL),
                _cell(line.origin_country, _SMALL),
                _cell(str(line.unit_value), _NUMBER),
                _cell(str(line.total_value), _NUMBER),
                _cell(f"{Decimal(line.weight_kg):f}", _NUMBER),
            ]
        )
    style = TableStyle([*_GRID, ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey)])
    return Table(
        rows,
        colWidths=[_CONTENT_WIDTH * share for _, share in _GOODS_COLUMNS],
        style=style,
        repeatRows=1,  # each further page starts with the column names again
    )


def _totals(papers: CustomsPapers) -> Table:
    rows = [
        ("Total value", str(papers.total_value)),
        ("Total net weight", f"{papers.net_weight_kg:f} kg"),
        ("Total gross weight", f"{papers.total_gross_weight_kg:f} kg"),
    ]
    cells = [[_cell(label, _HEADING), _cell(value, _NUMBER)] for label, value in rows]
    return Table(
        cells,
        colWidths=[_CONTENT_WIDTH * 0.25, _CONTENT_WIDTH * 0.2],
        style=TableStyle(_GRID),
        hAlign="RIGHT",
    )


def _category(papers: CustomsPapers) -> Table:
    boxes = "   ".join(
        f"[{'X' if category == _TICKED else ' '}] {category}" for category in CATEGORIES
    )
    cells = [
        [_cell("Category of item", _HEADING), _cell(boxes)],
        [_cell("Reason for export", _HEADING), _cell(papers.reason)],
    ]
    return Table(
        cells,
        colWidths=[_CONTENT_WIDTH * 0.2, _CONTENT_WIDTH * 0.8],
        style=TableStyle(_GRID),
    )


def _signature(papers: CustomsPapers) -> Table:
    place = ", ".join(part for part in (papers.sender.city, papers.sender.country) if part)
    cells = [
        [
            _cell("Place", _HEADING),
            _cell("Date", _HEADING),
            _cell("Signature of sender", _HEADING),
        ],
        [_cell(place), _cell(papers.date.isoformat()), _cell("")],
    ]
    widths = [0.3, 0.2, 0.5]
    return Table(
        cells,
        colWidths=[_CONTENT_WIDTH * w for w in widths],
        rowHeights=[None, 14 * mm],  # room to sign by hand
        style=TableStyle(_GRID),
    )


def _address_cell(address: Address) -> Paragraph:
    parts = (address.postal_code, address.city, address.region)
    locality = " ".join(part for part in parts if part)
    lines = [address.name, address.line1, address.line2, locality, address.country]
    if address.phone:
        lines.append(f"Tel {address.phone}")
    if address.email:
        lines.append(address.email)
    return _cell_lines([line.strip() for line in lines if line.strip()])


def _cell(text: str, style: ParagraphStyle = _BODY) -> Paragraph:
    return _cell_lines([text], style)


def _cell_lines(lines: Sequence[str], style: ParagraphStyle = _BODY) -> Paragraph:
    return Paragraph("<br/>".join(_markup(line, style) for line in lines), style)


# --- text --------------------------------------------------------------------------------


def _markup(text: str, style: ParagraphStyle = _BODY) -> str:
    """Text as Paragraph markup: XML-escaped, in a font that has its glyphs."""
    font, shown = font_for(text, bold=style.fontName.endswith("-Bold"))
    return f'<font name="{font}">{escape(shown)}</font>'
