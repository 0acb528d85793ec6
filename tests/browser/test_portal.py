"""The buyer portal in a real browser, in German: a buyer in the EU finds a demo order, returns
one item with a photo, sees the policy's answer and the ways back before sending, lands on the
status page (which shows the label once the workers have made it), and finds the one-step
withdrawal from the contract on the order page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Page, expect
from rq import SimpleWorker
from sqlalchemy import select

from connector.db import models
from connector.demo import bootstrap, import_orders

EU = ("DE", "FR", "NL")


@pytest.fixture
def eu_order(app: Flask) -> dict[str, Any]:
    """A demo order of an EU buyer with at least two units, delivered five days ago."""
    runtime = app.extensions["helloword"]
    with app.app_context():
        setup = bootstrap(runtime, orders=16)
        import_orders(runtime, setup)
    with runtime.db.transaction() as session:
        delivered = datetime.now(UTC) - timedelta(days=5)
        chosen = None
        for order in session.scalars(select(models.Order).order_by(models.Order.id)):
            order.delivered_at = delivered
            for line in order.lines:
                line.delivered_at = delivered
            units = sum(line.quantity for line in order.lines)
            if chosen is None and order.shipping_address["country"] in EU and units >= 2:
                chosen = {
                    "slug": setup.slug,
                    "number": order.number,
                    "email": order.customer.email if order.customer else "",
                    "first_item": order.lines[0].title,
                }
    assert chosen is not None, "the demo has an EU order with two units or more"
    return chosen


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "riss.jpg"
    Image.new("RGB", (320, 240), (180, 60, 40)).save(path, "JPEG", quality=85)
    return path


def _work_off(app: Flask) -> None:
    """What the workers would do meanwhile: decide, route and make the label."""
    runtime = app.extensions["helloword"]
    with app.app_context():
        SimpleWorker([runtime.queue], connection=runtime.redis).work(
            burst=True, logging_level="ERROR"
        )


def test_a_buyer_in_germany_returns_an_item_with_a_photo(
    app: Flask,
    live_url: str,
    new_page: Callable[..., Page],
    shoot: Callable[[Page, str], object],
    eu_order: dict[str, Any],
    photo: Path,
) -> None:
    page = new_page(locale="de-DE")
    page.goto(f"{live_url}/r/{eu_order['slug']}")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text("Einen Kauf zurücksenden")
    shoot(page, "lookup")

    page.get_by_label("Bestellnummer").fill(eu_order["number"])
    page.get_by_label("E-Mail-Adresse oder Postleitzahl").fill("nicht@example.com")
    page.get_by_role("button", name="Bestellung suchen").click()
    expect(page.get_by_role("alert")).to_contain_text("keine Bestellung mit diesen Angaben")
    shoot(page, "lookup-not-found")

    page.get_by_label("E-Mail-Adresse oder Postleitzahl").fill(eu_order["email"])
    page.get_by_role("button", name="Bestellung suchen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(eu_order["number"])
    withdraw = page.get_by_role("button", name="Vertrag widerrufen")
    expect(withdraw).to_be_visible()
    shoot(page, "order")

    page.get_by_role("button", name="Weiter").click()  # nothing chosen yet
    expect(page.get_by_role("alert")).to_contain_text("mindestens einen Artikel")
    shoot(page, "order-incomplete")

    item = page.locator("fieldset.item").first
    expect(item).to_contain_text(eu_order["first_item"])
    item.get_by_label("Diesen Artikel zurücksenden").check()
    item.get_by_label("Grund der Rücksendung").select_option(label="Zu groß")
    item.get_by_label("Zustand des Artikels").select_option(
        label="Geöffnet oder anprobiert, nicht benutzt"
    )
    item.get_by_label("Fotos (optional)").set_input_files(photo)
    page.get_by_label("Möchten Sie dem Shop noch etwas mitteilen? (optional)").fill(
        "Fällt eine Nummer zu groß aus."
    )
    page.get_by_role("button", name="Weiter").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Rücksendung prüfen")
    expect(page.locator(".lines")).to_contain_text("Angenommen")
    expect(page.locator(".lines")).to_contain_text("1 Foto")
    expect(page.locator(".ways li").first).to_contain_text("Empfohlen")
    expect(page.get_by_text(re.compile(r"Erstattung von .*€"))).to_be_visible()
    shoot(page, "review")

    page.get_by_role("button", name="Rücksendeanfrage senden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Rücksendung R\d+"))
    expect(page.get_by_role("status")).to_contain_text("Vielen Dank")
    expect(page.locator(".timeline")).to_contain_text("Wir haben Ihre Rücksendeanfrage erhalten.")
    shoot(page, "status")

    _work_off(app)
    page.reload()
    expect(page.locator(".timeline")).to_contain_text("Ihre Rücksendung wurde angenommen.")
    expect(page.locator(".downloads a").first).to_be_visible()
    shoot(page, "status-ready")

    page.goto(f"{live_url}/r/{eu_order['slug']}/order")
    expect(page.get_by_role("button", name="Vertrag widerrufen")).to_be_visible()
    expect(page.locator("#withdraw-effect")).to_contain_text("Datum und Uhrzeit")
    expect(
        page.get_by_role("heading", name="Ihre Rücksendungen zu dieser Bestellung")
    ).to_be_visible()
    shoot(page, "order-after")


def test_the_language_switcher_works_and_a_us_buyer_sees_no_withdrawal(
    app: Flask,
    live_url: str,
    new_page: Callable[..., Page],
    shoot: Callable[[Page, str], object],
    eu_order: dict[str, Any],
) -> None:
    with app.extensions["helloword"].db.session() as session:
        order = session.scalars(select(models.Order).order_by(models.Order.id)).all()
        us = next(o for o in order if o.shipping_address["country"] == "US")
        number, postal_code = us.number, us.shipping_address["postal_code"]
    page = new_page(locale="en-US")
    page.goto(f"{live_url}/r/{eu_order['slug']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Return something you bought")

    page.get_by_label("Language").select_option(label="简体中文")
    expect(page.get_by_role("heading", level=1)).to_have_text("退回已购商品")
    page.get_by_label("订单号").fill(number)
    page.get_by_label("电子邮箱或邮政编码").fill(postal_code)
    page.get_by_role("button", name="查找我的订单").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    expect(page.get_by_role("heading", name="您想退回哪些商品？")).to_be_visible()
    expect(page.get_by_role("button", name="撤回合同")).to_have_count(0)
    expect(page.get_by_role("button", name="Withdraw from contract")).to_have_count(0)
    shoot(page, "order-zh")
