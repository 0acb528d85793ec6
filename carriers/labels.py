"""4x6 return labels and drop-off vouchers that Helloword draws itself: PDF, ZPL and QR PNG.

Carriers that sell postage send their own label files; this module serves the ones that do not,
the rate-card carrier's intake labels and the drop-off network's vouchers. It is pure Python:
ReportLab draws the PDF with its built-in Code128 and QR widgets, the ``qrcode`` package with
PyPNG writes the QR PNG (ReportLab's own bitmap renderer would need a native Cairo binding), and
the ZPL for 203 dpi thermal printers is built as text. Nothing here reads or writes files.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import qrcode
from qrcode.image.pure import PyPNGImage
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128, createBarcodeDrawing
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from connector.domain import Address
from connector.pdftext import font_for

PAGE_SIZE = (4 * inch, 6 * inch)  # 288 x 432 points
_WIDTH, _HEIGHT = PAGE_SIZE
_MARGIN = 10.0

# ZPL geometry: 4 x 6 inches at 203 dots per inch.
ZPL_WIDTH_DOTS = 812
ZPL_LENGTH_DOTS = 1218


@dataclass(frozen=True, slots=True)
class LabelContent:
    """Everything printed on a 4x6 return label; the buyer sends the parcel to ``to_address``."""

    rma: str
    carrier: str
    service: str
    tracking_number: str
    from_address: Address  # the buyer
    to_address: Address  # the destination
    weight_kg: Decimal
    qr_payload: str  # what the QR code carries, e.g. the parcel's public status page
    created: date
    note: str = ""  # a short line at the foot, e.g. "intake label, not postage"


@dataclass(frozen=True, slots=True)
class DropOffVoucher:
    """What a buyer shows at a drop-off point instead of a label: no box, no printer needed."""

    rma: str
    code: str  # the drop-off code, also the tracking number
    network: str
    service: str
    from_address: Address  # the buyer
    to_address: Address  # where the network carries the parcel
    instructions: str
    qr_payload: str
    created: date
    expires: date


# --- PDF ---------------------------------------------------------------------------------


def render_pdf(content: LabelContent) -> bytes:
    """One 4x6 inch page: RETURN band, FROM small, SHIP TO large, tracking and RMA barcodes,
    a QR code, weight, date and the note."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, f"Return label {content.rma}")
    _band(canvas, "RETURN", f"RMA {content.rma}", f"{content.carrier} · {content.service}")

    # FROM: the buyer, small, because only the carrier's exception desk reads it.
    top = _HEIGHT - 52
    _text(canvas, _MARGIN, top, "FROM", 6.5, bold=True)
    from_lines = _address_lines(content.from_address, sender=True)
    for number, line in enumerate(from_lines, start=1):
        _text(canvas, _MARGIN, top - 9 * number, line, 7.5, max_width=170)
    right = 196.0
    _text(canvas, right, top, "WEIGHT", 6.5, bold=True)
    _text(canvas, right, top - 10, f"{content.weight_kg:f} kg", 10, bold=True)
    _text(canvas, right, top - 26, "DATE", 6.5, bold=True)
    _text(canvas, right, top - 36, content.created.isoformat(), 10, bold=True)
    _rule(canvas, 330)

    # SHIP TO: the destination, large, because every sorter reads it.
    _text(canvas, _MARGIN, 319, "SHIP TO", 8, bold=True)
    to_lines = _address_lines(content.to_address)
    _text(canvas, _MARGIN, 302, to_lines[0], 14, bold=True, max_width=_WIDTH - 2 * _MARGIN)
    for number, line in enumerate(to_lines[1:5], start=1):
        _text(canvas, _MARGIN, 302 - 14 * number, line, 12, max_width=_WIDTH - 2 * _MARGIN)
    _rule(canvas, 238)

    _text(canvas, _MARGIN, 228, "TRACKING", 7, bold=True)
    _barcode(canvas, content.tracking_number, y=162, bar_height=0.8 * inch, centred=True)
    _rule(canvas, 140)

    _text(canvas, _MARGIN, 130, "RMA", 7, bold=True)
    _barcode(canvas, content.rma, y=94, bar_height=0.4 * inch, max_width=160)
    note_lines = _wrap(content.note, 6.5, 160)
    for number, line in enumerate(note_lines[:6]):
        _text(canvas, _MARGIN, 70 - 8 * number, line, 6.5)
    _qr(canvas, content.qr_payload, x=_WIDTH - _MARGIN - 100, y=28, size=100)
    _text(canvas, _WIDTH - _MARGIN - 50, 20, "scan for status", 6, centred=True)

    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def render_dropoff_pdf(voucher: DropOffVoucher) -> bytes:
    """One 4x6 inch voucher: a large QR code and its code, the RMA, how to drop off, expiry."""
    buffer = io.BytesIO()
    canvas = _canvas(buffer, f"Drop-off voucher {voucher.rma}")
    _band(
        canvas,
        "DROP-OFF",
        f"RMA {voucher.rma}",
        f"{voucher.network} · {voucher.service} · no box, no label",
    )
    _text(canvas, _WIDTH / 2, 374, "Show this code at the drop-off point", 9, centred=True)
    _qr(canvas, voucher.qr_payload, x=(_WIDTH - 170) / 2, y=196, size=170)
    _text(canvas, _WIDTH / 2, 174, voucher.code, 22, bold=True, centred=True)
    _text(
        canvas,
        _WIDTH / 2,
        157,
        f"Valid until {voucher.expires.isoformat()}",
        9,
        centred=True,
    )
    _rule(canvas, 147)

    _text(canvas, _MARGIN, 135, "HOW TO DROP OFF", 8, bold=True)
    for number, line in enumerate(_wrap(voucher.instructions, 8, _WIDTH - 2 * _MARGIN)[:7]):
        _text(canvas, _MARGIN, 123 - 10 * number, line, 8)
    _rule(canvas, 50)

    buyer = voucher.from_address
    destination = voucher.to_address
    _text(canvas, _MARGIN, 40, f"From {buyer.name}, {buyer.city} {buyer.country}", 7)
    _text(
        canvas,
        _MARGIN,
        30,
        f"Goes to {destination.name}, {destination.city} {destination.country}",
        7,
        max_width=_WIDTH - 2 * _MARGIN,
    )
    _text(canvas, _MARGIN, 20, f"Issued {voucher.created.isoformat()}", 7)

    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _canvas(buffer: io.BytesIO, title: str) -> Canvas:
    # invariant=1 leaves out the creation time and random document id, so the same label
    # content always gives the same bytes: a retried purchase stores an identical file.
    canvas = Canvas(buffer, pagesize=PAGE_SIZE, invariant=1)
    canvas.setTitle(title)
    canvas.setAuthor("Helloword")
    canvas.setCreator("Helloword")
    return canvas


def _band(canvas: Canvas, marker: str, reference: str, subtitle: str) -> None:
    band_height = 40
    canvas.setFillGray(0)
    canvas.rect(0, _HEIGHT - band_height, _WIDTH, band_height, stroke=0, fill=1)
    canvas.setFillGray(1)
    _text(canvas, _MARGIN, _HEIGHT - 22, marker, 20, bold=True)
    _text(canvas, _WIDTH - _MARGIN, _HEIGHT - 20, reference, 12, bold=True, right=True)
    _text(canvas, _MARGIN, _HEIGHT - 35, subtitle, 9, max_width=_WIDTH - 2 * _MARGIN)
    canvas.setFillGray(0)


def _rule(canvas: Canvas, y: float) -> None:
    canvas.setLineWidth(1.2)
    canvas.line(_MARGIN, y, _WIDTH - _MARGIN, y)


def _barcode(
    canvas: Canvas,
    value: str,
    *,
    y: float,
    bar_height: float,
    centred: bool = False,
    max_width: float = _WIDTH - 2 * _MARGIN,
) -> None:
    bar_width = 0.012 * inch
    barcode = code128.Code128(
        value, barHeight=bar_height, barWidth=bar_width, humanReadable=True, quiet=False
    )
    if barcode.width > max_width:
        # Narrower modules keep a long number on the page; scanners read down to ~0.5 pt.
        bar_width *= max_width / barcode.width
        barcode = code128.Code128(
            value, barHeight=bar_height, barWidth=bar_width, humanReadable=True, quiet=False
        )
    x = (_WIDTH - barcode.width) / 2 if centred else _MARGIN
    barcode.drawOn(canvas, x, y)


def _qr(canvas: Canvas, payload: str, *, x: float, y: float, size: float) -> None:
    drawing = createBarcodeDrawing("QR", value=payload, width=size, height=size)
    renderPDF.draw(drawing, canvas, x, y)


def _text(
    canvas: Canvas,
    x: float,
    y: float,
    text: str,
    size: float,
    *,
    bold: bool = False,
    max_width: float | None = None,
    centred: bool = False,
    right: bool = False,
) -> None:
    """Draw one line, shrinking it (down to 60 %) and then cutting it to fit ``max_width``."""
    font, shown = font_for(text, bold)
    if max_width is not None:
        smallest = size * 0.6
        while size > smallest and pdfmetrics.stringWidth(shown, font, size) > max_width:
            size -= 0.5
        while len(shown) > 1 and pdfmetrics.stringWidth(shown, font, size) > max_width:
            shown = shown[:-2] + "…" if font.startswith("Helvetica") else shown[:-1]
    canvas.setFont(font, size)
    if centred:
        canvas.drawCentredString(x, y, shown)
    elif right:
        canvas.drawRightString(x, y, shown)
    else:
        canvas.drawString(x, y, shown)


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Greedy word wrap measured in the font the text will be drawn in."""
    font, _ = font_for(text, False)
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and pdfmetrics.stringWidth(candidate, font, size) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        if line:
            lines.append(line)
    return lines


def _address_lines(address: Address, *, sender: bool = False) -> list[str]:
    """Name, street lines, locality and country; the sender's block is kept to five lines by
    putting the country on the locality line and adds the phone the carrier calls."""
    parts = (address.city, address.region, address.postal_code)
    locality = " ".join(part for part in parts if part)
    if sender:
        lines = [address.name, address.line1, address.line2, f"{locality} {address.country}"]
        if address.phone:
            lines.append(f"Tel {address.phone}")
    else:
        lines = [address.name, address.line1, address.line2, locality, address.country]
    return [line.strip() for line in lines if line.strip()]


# --- ZPL ---------------------------------------------------------------------------------


def render_zpl(content: LabelContent) -> str:
    """The same label as ZPL II for a 4x6 label at 203 dpi (812 x 1218 dots), UTF-8 (^CI28).

    Every text field is hex-escaped under ``^FH`` so an address holding ``^`` or ``~`` stays
    text and cannot start a printer command.
    """
    out: list[str] = [f"^XA^CI28^PW{ZPL_WIDTH_DOTS}^LL{ZPL_LENGTH_DOTS}^LH0,0"]
    # Band: a black box with reversed (^FR) text.
    out.append(f"^FO0,0^GB{ZPL_WIDTH_DOTS},112,112^FS")
    out.append(_zpl_field(30, 18, 64, "RETURN", reverse=True))
    out.append(_zpl_field(430, 24, 40, f"RMA {content.rma}", reverse=True, width=352, right=True))
    out.append(_zpl_field(30, 80, 26, f"{content.carrier} · {content.service}", reverse=True))

    out.append(_zpl_field(30, 132, 22, "FROM"))
    from_lines = _address_lines(content.from_address, sender=True)
    for number, line in enumerate(from_lines, start=1):
        out.append(_zpl_field(30, 132 + 26 * number, 24, _cut(line, 40)))
    out.append(_zpl_field(560, 132, 22, "WEIGHT"))
    out.append(_zpl_field(560, 160, 36, f"{content.weight_kg:f} kg"))
    out.append(_zpl_field(560, 212, 22, "DATE"))
    out.append(_zpl_field(560, 240, 36, content.created.isoformat()))
    out.append("^FO20,322^GB772,4,4^FS")

    out.append(_zpl_field(30, 340, 26, "SHIP TO"))
    to_lines = _address_lines(content.to_address)
    out.append(_zpl_field(30, 376, 50, _cut(to_lines[0], 28)))
    for number, line in enumerate(to_lines[1:5], start=1):
        out.append(_zpl_field(30, 384 + 44 * number, 40, _cut(line, 34)))
    out.append("^FO20,612^GB772,4,4^FS")

    out.append(_zpl_field(30, 630, 22, "TRACKING"))
    tracking = _zpl_barcode_data(content.tracking_number)
    module = _zpl_module_width(tracking, 752)
    out.append(f"^FO30,664^BY{module}^BCN,160,Y,N,N^FD{tracking}^FS")
    out.append("^FO20,880^GB772,4,4^FS")

    out.append(_zpl_field(30, 898, 22, "RMA"))
    rma = _zpl_barcode_data(content.rma)
    out.append(f"^FO30,930^BY{_zpl_module_width(rma, 480)}^BCN,80,Y,N,N^FD{rma}^FS")
    for number, line in enumerate(textwrap.wrap(content.note, 40)[:5]):
        out.append(_zpl_field(30, 1060 + 28 * number, 22, line))
    # QR: model 2, 5 dots a module; "QA," asks for error correction level Q, automatic mode.
    out.append(f"^FO560,900^BQN,2,5^FH^FDQA,{_zpl_escape(content.qr_payload)}^FS")
    out.append("^XZ")
    return "\n".join(out) + "\n"


def _zpl_field(
    x: int,
    y: int,
    height: int,
    text: str,
    *,
    reverse: bool = False,
    width: int = 0,
    right: bool = False,
) -> str:
    block = f"^FB{width},1,0,R,0" if right and width else ""
    colour = "^FR" if reverse else ""
    return f"^FO{x},{y}^A0N,{height},{height}{colour}{block}^FH^FD{_zpl_escape(text)}^FS"


def _zpl_escape(text: str) -> str:
    """Text as ^FH field data: the escape character and both command prefixes as hex."""
    flat = " ".join(text.split())  # no line breaks or tabs inside a field
    return flat.replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


# Characters a Code128 field can carry verbatim in ZPL: no command prefixes, no ^FH escape,
# and no ">" (it starts a Code128 subset switch in ^BC data).
_ZPL_BARCODE_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -./+:#*$%"
)


def _zpl_barcode_data(value: str) -> str:
    return "".join(ch for ch in value if ch in _ZPL_BARCODE_SAFE)


def _zpl_module_width(data: str, max_dots: int) -> int:
    # Code128 subset B: 11 modules per character plus start, check digit and stop (35).
    modules = 11 * len(data) + 35
    for width in (3, 2):
        if modules * width <= max_dots:
            return width
    return 1


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- PNG ---------------------------------------------------------------------------------


def render_qr_png(payload: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """A black-on-white QR code as PNG bytes (1-bit greyscale, written by PyPNG)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
    )
    code.add_data(payload)
    code.make(fit=True)
    image = code.make_image(image_factory=PyPNGImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()
