"""4x6 labels drawn by Helloword: the PDF a buyer prints, the ZPL a warehouse prints, the QR PNG."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import png
from pypdf import PdfReader

from carriers.labels import LabelContent, render_pdf, render_qr_png, render_zpl
from connector.domain import Address

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

BUYER = Address(
    name="Jane Doe",
    line1="1 Main St",
    city="Austin",
    region="TX",
    postal_code="78701",
    country="US",
    phone="+1 512 555 0100",
)
WAREHOUSE = Address(
    name="Acme Returns c/o 3PL West",
    line1="4200 E Airport Dr",
    city="Ontario",
    region="CA",
    postal_code="91761",
    country="US",
)


def content(**changes: object) -> LabelContent:
    fields: dict[str, object] = {
        "rma": "R-10023",
        "carrier": "usparcel",
        "service": "GROUND",
        "tracking_number": "RCHMVAXZ2PLLMC",
        "from_address": BUYER,
        "to_address": WAREHOUSE,
        "weight_kg": Decimal("0.80"),
        "qr_payload": "https://returns.example/t/RCHMVAXZ2PLLMC",
        "created": date(2026, 3, 2),
        "note": "Intake label of the rate-card carrier usparcel, not postage.",
    }
    fields.update(changes)
    return LabelContent(**fields)  # type: ignore[arg-type]


def pdf_pages(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def test_pdf_is_one_4x6_page_with_rma_tracking_number_and_destination() -> None:
    reader = pdf_pages(render_pdf(content()))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == (288.0, 432.0)
    text = reader.pages[0].extract_text()
    for expected in ("RETURN", "RMA R-10023", "RCHMVAXZ2PLLMC", "Acme Returns c/o 3PL West"):
        assert expected in text
    assert "FROM" in text and "Jane Doe" in text and "SHIP TO" in text
    assert "0.80 kg" in text and "2026-03-02" in text
    assert "Intake label of the rate-card carrier" in text


def test_the_same_content_renders_the_same_pdf_bytes() -> None:
    assert render_pdf(content()) == render_pdf(content())


def test_pdf_shows_addresses_outside_latin_1() -> None:
    tokyo_buyer = Address(
        name="山田 太郎", line1="渋谷区神南1-2-3", city="東京", postal_code="150-0041", country="JP"
    )
    polish_hub = Address(
        name="Zwroty Wiśniewski", line1="ul. Łąkowa 5", city="Łódź", postal_code="90-001",
        country="PL",
    )  # fmt: skip
    text = pdf_pages(render_pdf(content(from_address=tokyo_buyer, to_address=polish_hub)))
    extracted = text.pages[0].extract_text()
    assert "山田 太郎" in extracted  # drawn in a CJK font, not as missing-glyph boxes
    assert "Zwroty Wisniewski" in extracted and "Lodz" in extracted  # folded to Latin letters


def test_zpl_is_a_4x6_203_dpi_label_with_code128_tracking_and_a_qr_code() -> None:
    zpl = render_zpl(content())
    assert zpl.startswith("^XA^CI28^PW812^LL1218")
    assert zpl.rstrip().endswith("^XZ")
    assert "^BCN,160,Y,N,N^FDRCHMVAXZ2PLLMC^FS" in zpl
    assert "^BQN,2,5^FH^FDQA,https://returns.example/t/RCHMVAXZ2PLLMC^FS" in zpl
    assert "^FH^FDRMA R-10023^FS" in zpl
    assert "Acme Returns c/o 3PL West" in zpl


def test_zpl_escapes_command_characters_in_addresses() -> None:
    hostile = Address(
        name="Eve^XZ^XA^FO0,0^GB812,1218,1218^FS",
        line1="~JA cancel_all",
        city="Austin",
        postal_code="78701",
        country="US",
    )
    zpl = render_zpl(content(from_address=hostile))
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1
    assert "~" not in zpl
    assert "^FDEve_5EXZ_5EXA_5EFO0,0_5EGB812,1218,1218_5EFS^FS" in zpl
    assert "^FD_7EJA cancel_5Fall^FS" in zpl  # "_" is the ^FH escape, so it is escaped too


def test_zpl_barcodes_carry_only_characters_code128_fields_can_hold() -> None:
    zpl = render_zpl(content(rma="R-1>^~2"))
    assert "^BCN,80,Y,N,N^FDR-12^FS" in zpl


def test_qr_png_is_a_png_image() -> None:
    image = render_qr_png("DO-7K3M-Q9PX")
    assert image.startswith(PNG_SIGNATURE)
    width, height, _, info = png.Reader(bytes=image).read()
    # Version 1 holds the code: 21 modules plus a 4-module border each side, 10 pixels each.
    assert width == height == (21 + 2 * 4) * 10
    assert info["greyscale"] and info["bitdepth"] == 1
