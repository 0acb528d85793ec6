"""The commercial invoice / CN23 that travels with a cross-border return."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from connector.domain import Address, Money
from connector.papers import CERTIFICATION, CustomsLine, CustomsPapers, render_customs_invoice

BUYER = Address(
    name="Marie Dupont",
    line1="12 rue de la Paix",
    city="Paris",
    postal_code="75002",
    country="FR",
    phone="+33 1 23 45 67 89",
)
WAREHOUSE = Address(
    name="Acme Origin Warehouse",
    line1="88 Bao'an Avenue",
    city="Shenzhen",
    region="Guangdong",
    postal_code="518000",
    country="CN",
)
SCARF = CustomsLine(
    description="Silk scarf",
    quantity=2,
    unit_value=Money(Decimal("12.50"), "EUR"),
    hs_code="6214.10",
    origin_country="CN",
    weight_kg=Decimal("0.200"),
)
LAMP = CustomsLine(
    description="Desk lamp <LED> & cable",
    quantity=1,
    unit_value=Money(Decimal("30.00"), "EUR"),
    hs_code="9405.21",
    origin_country="CN",
    weight_kg=Decimal("0.850"),
)


def papers(**changes: object) -> CustomsPapers:
    fields: dict[str, object] = {
        "rma": "R-10023",
        "invoice_number": "CI-2026-0042",
        "date": date(2026, 3, 2),
        "sender": BUYER,
        "recipient": WAREHOUSE,
        "lines": (SCARF, LAMP),
        "currency": "EUR",
        "order_number": "#1001",
        "export_reference": "24CN4403E000123456",
        "tracking_number": "LX123456789CN",
        "carrier": "easypost",
    }
    fields.update(changes)
    return CustomsPapers(**fields)  # type: ignore[arg-type]


def pdf_text(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    words = " ".join(page.extract_text() for page in reader.pages).split()
    return reader, " ".join(words)


def test_invoice_is_a_valid_a4_pdf() -> None:
    pdf = render_customs_invoice(papers())
    reader, _ = pdf_text(pdf)
    assert pdf.startswith(b"%PDF-")
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_invoice_names_the_return_the_order_and_the_export_declaration() -> None:
    _, text = pdf_text(render_customs_invoice(papers()))
    assert "COMMERCIAL INVOICE / CN23 — RETURNED GOODS" in text
    assert "CI-2026-0042" in text
    assert "2026-03-02" in text
    assert "R-10023" in text
    assert "#1001" in text
    assert "24CN4403E000123456" in text
    assert "LX123456789CN" in text
    assert "Marie Dupont" in text
    assert "Acme Origin Warehouse" in text


def test_missing_export_reference_is_stated_not_left_blank() -> None:
    _, text = pdf_text(render_customs_invoice(papers(export_reference="")))
    assert "none given" in text


def test_every_line_shows_its_hs_code_origin_and_values() -> None:
    _, text = pdf_text(render_customs_invoice(papers()))
    assert "6214.10" in text
    assert "9405.21" in text
    assert "Desk lamp <LED> & cable" in text  # escaped for the layout, printed as given
    assert "12.50 EUR" in text
    assert "25.00 EUR" in text  # 2 x 12.50
    assert "30.00 EUR" in text


def test_totals_are_summed_exactly_in_the_papers_currency() -> None:
    customs = papers()
    assert customs.total_value == Money(Decimal("55.00"), "EUR")
    assert customs.net_weight_kg == Decimal("1.050")
    _, text = pdf_text(render_customs_invoice(customs))
    assert "55.00 EUR" in text
    assert "1.050 kg" in text


def test_gross_weight_is_the_parcels_when_given() -> None:
    _, text = pdf_text(render_customs_invoice(papers(gross_weight_kg=Decimal("1.4"))))
    assert "1.4 kg" in text


def test_category_returned_goods_is_ticked_and_declaration_is_certified() -> None:
    _, text = pdf_text(render_customs_invoice(papers()))
    assert "[X] Returned goods" in text
    assert "[ ] Sale of goods" in text
    assert CERTIFICATION in text
    assert "certify that the particulars given in this declaration are correct" in text
    assert "Signature of sender" in text


def test_cjk_warehouse_address_is_printed_in_a_font_that_has_the_glyphs() -> None:
    warehouse = replace(WAREHOUSE, name="深圳退货仓")
    _, text = pdf_text(render_customs_invoice(papers(recipient=warehouse)))
    assert "深圳退货仓" in text


def test_sixty_lines_flow_onto_further_pages_with_every_hs_code() -> None:
    lines = tuple(
        replace(SCARF, description=f"Item {number}", hs_code=f"6214.{number:04d}")
        for number in range(60)
    )
    reader, text = pdf_text(render_customs_invoice(papers(lines=lines)))
    assert len(reader.pages) > 1
    assert all(f"6214.{number:04d}" in text for number in range(60))
    assert "1500.00 EUR" in text  # 60 x 2 x 12.50
    assert all("HS code" in page.extract_text() for page in reader.pages[:-1])


def test_same_papers_give_the_same_bytes() -> None:
    assert render_customs_invoice(papers()) == render_customs_invoice(papers())


def test_papers_without_lines_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one line"):
        render_customs_invoice(papers(lines=()))


def test_a_line_in_another_currency_is_refused_by_name() -> None:
    dollars = replace(LAMP, unit_value=Money(Decimal("30.00"), "USD"))
    with pytest.raises(ValueError, match=r"line 2 \('Desk lamp <LED> & cable'\).*USD"):
        render_customs_invoice(papers(lines=(SCARF, dollars)))


def test_gross_weight_below_net_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="gross weight"):
        papers(gross_weight_kg=Decimal("0.5"))
