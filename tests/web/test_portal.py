"""The buyer portal through Flask's test client, on the sandbox merchant's demo orders: finding
an order (and not finding it, with one message and a rate limit), photos checked by content and
stripped of their metadata, forms that need their CSRF token, the policy's answer before
sending, the one-step withdrawal for EU buyers, and the status page behind its signed link."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from rq import SimpleWorker
from sqlalchemy import select

from connector.db import models
from connector.demo import bootstrap, import_orders
from connector.domain.events import EventKind
from connector.services import policies as policy_documents
from connector.web.portal.status_links import status_token

WEB = Path(__file__).resolve().parents[2] / "connector" / "web"
CATALOGUES = ("zh_Hans", "de", "fr", "es", "ja")


@pytest.fixture
def shop(app: Flask) -> Iterator[dict[str, Any]]:
    """The sandbox merchant with its demo orders: one from each buyer country."""
    runtime = app.extensions["helloword"]
    with app.app_context():
        setup = bootstrap(runtime, orders=8)
        import_orders(runtime, setup)
        with runtime.db.transaction() as session:  # every order arrived five days ago
            delivered = datetime.now(UTC) - timedelta(days=5)
            for order in session.scalars(select(models.Order)):
                order.delivered_at = delivered
                for line in order.lines:
                    line.delivered_at = delivered
        with runtime.db.session() as session:
            orders = session.scalars(select(models.Order).order_by(models.Order.id)).all()
            by_country = {
                order.shipping_address["country"]: {
                    "id": order.id,
                    "number": order.number,
                    "email": order.customer.email if order.customer else "",
                    "postal_code": order.shipping_address.get("postal_code", ""),
                    "lines": [(line.id, line.quantity) for line in order.lines],
                }
                for order in orders
            }
    # outside the app context: each request then gets its own, with its own language
    yield {"runtime": runtime, "slug": setup.slug, "orders": by_country, "app": app}


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "every portal form carries a CSRF token"
    return found.group(1)


def _look_up(
    client: FlaskClient, slug: str, number: str, contact: str, address: str = "127.0.0.1"
) -> Any:
    token = _token(client.get(f"/r/{slug}").get_data(as_text=True))
    return client.post(
        f"/r/{slug}",
        data={"order": number, "contact": contact, "csrf_token": token},
        environ_overrides={"REMOTE_ADDR": address},
    )


def _open(client: FlaskClient, shop: dict[str, Any], country: str) -> dict[str, Any]:
    order = shop["orders"][country]
    response = _look_up(client, shop["slug"], order["number"], order["email"])
    assert response.status_code == 302, response.get_data(as_text=True)
    return order


def _choose(
    client: FlaskClient,
    shop: dict[str, Any],
    order: dict[str, Any],
    photos: list[tuple[bytes, str]] = (),  # type: ignore[assignment]
    reason: str = "SIZE_TOO_SMALL",
    condition: str = "unused",
) -> Any:
    page = client.get(f"/r/{shop['slug']}/order").get_data(as_text=True)
    line_id = order["lines"][0][0]
    data: dict[str, Any] = {
        "csrf_token": _token(page),
        "line": str(line_id),
        f"quantity-{line_id}": "1",
        f"reason-{line_id}": reason,
        f"condition-{line_id}": condition,
        "note": "Runs small.",
        f"photos-{line_id}": [(io.BytesIO(data), name) for data, name in photos],
    }
    return client.post(f"/r/{shop['slug']}/order", data=data, content_type="multipart/form-data")


def _submit(client: FlaskClient, shop: dict[str, Any], resolution: str = "refund") -> Any:
    page = client.get(f"/r/{shop['slug']}/review").get_data(as_text=True)
    return client.post(
        f"/r/{shop['slug']}/review", data={"csrf_token": _token(page), "resolution": resolution}
    )


def _image(fmt: str = "PNG", size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, fmt, **save)
    return out.getvalue()


def drain(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    with app.app_context():
        SimpleWorker([runtime.queue], connection=runtime.redis).work(
            burst=True, logging_level="ERROR"
        )


# --- finding the order --------------------------------------------------------------------


def test_an_order_is_found_by_its_number_and_the_buyers_email(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    order = shop["orders"]["US"]
    response = _look_up(client, shop["slug"], order["number"], order["email"].upper())

    assert response.headers["Location"] == f"/r/{shop['slug']}/order"
    page = client.get(f"/r/{shop['slug']}/order").get_data(as_text=True)
    assert f"Order {order['number']}" in page and "Return this item" in page


def test_an_order_is_found_by_its_number_and_the_postal_code(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    order = shop["orders"]["GB"]
    typed = order["postal_code"].lower().replace(" ", "")
    response = _look_up(client, shop["slug"], order["number"].lstrip("#"), typed)

    assert response.status_code == 302


@pytest.mark.parametrize("wrong", ["email", "postal_code", "number", "other_merchant"])
def test_a_wrong_combination_gets_one_message_that_names_no_part(
    client: FlaskClient, shop: dict[str, Any], wrong: str
) -> None:
    order, other = shop["orders"]["DE"], shop["orders"]["FR"]
    number, contact = order["number"], order["email"]
    if wrong == "email":
        contact = other["email"]
    elif wrong == "postal_code":
        contact = other["postal_code"]
    elif wrong == "number":
        number = other["number"]
        contact = order["postal_code"]

    if wrong == "other_merchant":
        with shop["runtime"].db.transaction() as session:
            from connector.services import merchants

            elsewhere = merchants.create_merchant(session, "Elsewhere Ltd").slug
        response = _look_up(client, elsewhere, number, contact)
    else:
        response = _look_up(client, shop["slug"], number, contact)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "We could not find an order with these details." in page
    problem = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert problem is not None
    said = problem.group(0)
    assert "Check the order number and the email address or postal code" in said
    for hint in ("is wrong", "does not match", "incorrect", "unknown", "no order"):
        assert hint not in said.lower()
    with client.session_transaction() as session:
        assert "portal" not in session


def test_lookups_are_limited_per_address(client: FlaskClient, shop: dict[str, Any]) -> None:
    codes = [
        _look_up(client, shop["slug"], f"#9{n:03d}", "someone@example.com").status_code
        for n in range(11)
    ]

    assert codes == [422] * 10 + [429]
    page = _look_up(client, shop["slug"], "#9999", "x@example.com").get_data(as_text=True)
    assert "Too many attempts" in page
    assert "email" not in page.split("<main", 1)[1].lower()


def test_lookups_are_limited_per_order_number_from_any_address(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    order = shop["orders"]["US"]
    codes = [
        _look_up(
            client, shop["slug"], order["number"], f"guess{n}@example.com", f"10.0.0.{n}"
        ).status_code
        for n in range(6)
    ]

    assert codes == [422] * 5 + [429]
    # the right answer is refused too until the window passes: the limit guards the order
    refused = _look_up(client, shop["slug"], order["number"], order["email"], "10.0.1.1")
    assert refused.status_code == 429
    # another order from the same addresses is not held back
    other = shop["orders"]["CA"]
    assert (
        _look_up(client, shop["slug"], other["number"], other["email"], "10.0.0.1").status_code
        == 302
    )


def test_a_link_from_the_store_fills_the_form_without_sending_it(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    order = shop["orders"]["US"]
    response = client.get(
        f"/r/{shop['slug']}", query_string={"order": order["number"], "email": order["email"]}
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'value="{order["number"]}"' in page and f'value="{order["email"]}"' in page
    with client.session_transaction() as session:
        assert "portal" not in session


def test_an_unknown_shop_is_not_found(client: FlaskClient, shop: dict[str, Any]) -> None:
    assert client.get("/r/no-such-shop").status_code == 404


# --- choosing items and photos ------------------------------------------------------------


def _stored_photos(shop: dict[str, Any]) -> list[models.ReturnPhoto]:
    with shop["runtime"].db.session() as session:
        return list(session.scalars(select(models.ReturnPhoto)).all())


def test_a_png_photo_is_stored_with_the_return(client: FlaskClient, shop: dict[str, Any]) -> None:
    order = _open(client, shop, "US")
    assert _choose(client, shop, order, [(_image("PNG"), "front.png")]).status_code == 302

    response = _submit(client, shop)

    assert response.status_code == 302 and "/status/" in response.headers["Location"]
    (photo,) = _stored_photos(shop)
    assert photo.content_type == "image/png" and (photo.width, photo.height) == (64, 48)
    assert photo.uploaded_by == "buyer" and photo.return_line_id is not None
    stored = shop["runtime"].files.read(photo.path)
    assert Image.open(io.BytesIO(stored)).format == "PNG"


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (80, 60), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 15"  # Model
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 5.5), 3: "E", 4: (4.0, 53.0, 12.1)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"taken at home")
    return out.getvalue()


def test_a_jpeg_loses_its_exif_and_gps_position_before_it_is_stored(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825), "the fixture has GPS"
    order = _open(client, shop, "US")
    _choose(client, shop, order, [(original, "IMG_0001.jpg")])
    _submit(client, shop)

    (photo,) = _stored_photos(shop)
    stored = shop["runtime"].files.read(photo.path)
    image = Image.open(io.BytesIO(stored))
    assert photo.content_type == "image/jpeg" and image.format == "JPEG"
    assert not image.getexif() and "exif" not in image.info and "comment" not in image.info
    assert b"Exif" not in stored and b"PhoneMaker" not in stored and b"taken at home" not in stored


def test_a_text_file_named_jpg_is_refused(client: FlaskClient, shop: dict[str, Any]) -> None:
    order = _open(client, shop, "US")
    response = _choose(client, shop, order, [(b"just some words, not a picture", "holiday.jpg")])

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "holiday.jpg is not a JPEG, PNG, HEIC or WebP photo." in page
    assert 'aria-invalid="true"' in page and 'role="alert"' in page
    with client.session_transaction() as session:
        assert "portal_draft" not in session


def test_an_oversized_photo_is_refused(client: FlaskClient, shop: dict[str, Any]) -> None:
    order = _open(client, shop, "US")
    big = _image("PNG") + b"\0" * (10 * 1024 * 1024)

    response = _choose(client, shop, order, [(big, "huge.png")])

    assert response.status_code == 422
    assert "huge.png is larger than 10 MB." in response.get_data(as_text=True)


def test_a_sixth_photo_is_refused(client: FlaskClient, shop: dict[str, Any]) -> None:
    order = _open(client, shop, "US")
    six = [(_image("PNG"), f"photo{n}.png") for n in range(6)]

    response = _choose(client, shop, order, six)

    assert response.status_code == 422
    assert "A return can have at most 5 photos." in response.get_data(as_text=True)
    assert _choose(client, shop, order, six[:5]).status_code == 302


def test_a_form_without_its_csrf_token_is_refused(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    order = shop["orders"]["US"]
    response = client.post(
        f"/r/{shop['slug']}", data={"order": order["number"], "contact": order["email"]}
    )

    assert response.status_code == 400
    with client.session_transaction() as session:
        assert "portal" not in session


# --- the offer before sending -------------------------------------------------------------


def test_the_policy_decides_a_line_with_the_photos_attached(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    with shop["runtime"].db.transaction() as session:
        merchant = session.scalars(select(models.Merchant)).one()
        policy_documents.save(
            session,
            merchant.id,
            {
                "version": 1,
                "currency": "USD",
                "defaults": {"window_days": 90, "resolutions": ["refund", "store_credit"]},
                "rules": [
                    {
                        "id": "photos-for-faults",
                        "when": {"reason": {"in": ["DEFECTIVE"]}},
                        "then": {"require_photos": 1},
                    },
                    {"id": "credit-bonus", "when": {}, "then": {"bonus_credit_percent": 10}},
                ],
            },
        )
    order = _open(client, shop, "US")

    _choose(client, shop, order, [], reason="DEFECTIVE", condition="damaged")
    without = client.get(f"/r/{shop['slug']}/review").get_data(as_text=True)
    _choose(client, shop, order, [(_image("PNG"), "fault.png")], reason="DEFECTIVE")
    with_photo = client.get(f"/r/{shop['slug']}/review").get_data(as_text=True)

    assert "The shop will review it" in without and "asks for 1 photo" in without
    assert "Accepted" in with_photo and "1 photo" in with_photo
    assert "Store credit of" in with_photo and "including a bonus of" in with_photo
    assert "exchange" not in with_photo.lower()


def test_the_review_shows_the_ways_back_with_the_recommended_one_first(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    order = _open(client, shop, "DE")
    _choose(client, shop, order)

    page = client.get(f"/r/{shop['slug']}/review").get_data(as_text=True)

    ways = re.search(r'<ol class="ways">(.*?)</ol>', page, re.S)
    assert ways is not None
    items = re.findall(r"<li(.*?)</li>", ways.group(1), re.S)
    assert len(items) >= 2
    assert 'class="recommended"' in items[0] and "Recommended" in items[0]
    assert all("Recommended" not in item for item in items[1:])
    assert "€" in page  # the German order's euros, formatted
    assert "up to" in items[0] or "Keep the item" in items[0]


# --- sending, following, and the mail -----------------------------------------------------


def _mail(shop: dict[str, Any]) -> list[str]:
    """Each email written to the instance's mail folder: its subject, then its body."""
    folder = shop["runtime"].settings.mail_path
    letters = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = message_from_string(path.read_text(), policy=policy.default)
        letters.append(f"{message['Subject']}\n{message.get_content()}")
    return letters


def test_a_sent_return_gets_its_status_link_by_email_and_moves_on(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    order = _open(client, shop, "US")
    _choose(client, shop, order)
    location = _submit(client, shop).headers["Location"]

    page = client.get(location).get_data(as_text=True)
    assert "we have your return request R" in page
    with shop["runtime"].db.session() as session:
        return_ = session.scalars(select(models.Return)).one()
        assert return_.source == "portal" and return_.note == "Runs small."
        rma = return_.rma
    drain(shop["app"])

    (mail,) = _mail(shop)
    assert f"Your return {rma}" in mail and f"http://helloword.test{location}" in mail
    page = client.get(location).get_data(as_text=True)
    assert "Your return was accepted." in page
    assert "We received your return request." in page


def test_the_status_page_needs_its_signed_link(client: FlaskClient, shop: dict[str, Any]) -> None:
    order = _open(client, shop, "US")
    _choose(client, shop, order)
    location = _submit(client, shop).headers["Location"]
    token = location.rsplit("/", 1)[1]

    fresh = shop["app"].test_client()  # no session: the link alone opens the page
    assert fresh.get(location).status_code == 200
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert fresh.get(location.replace(token, tampered)).status_code == 404
    other = status_token("another secret", 1)
    assert fresh.get(location.replace(token, other)).status_code == 404


def test_the_buyer_reports_their_own_shipment(client: FlaskClient, shop: dict[str, Any]) -> None:
    runtime = shop["runtime"]
    with runtime.db.transaction() as session:
        merchant = session.scalars(select(models.Merchant)).one()
        # the buyer's own parcel is the only way back: no carriers, nothing kept or donated
        for account in session.scalars(select(models.CarrierAccount)):
            account.active = False
        merchant.routing = {
            "own_shipment_cap": {"amount": "15", "currency": "USD"},
            "keep_item_max_value": {"amount": "0.01", "currency": "USD"},
        }
    order = _open(client, shop, "US")
    _choose(client, shop, order)
    location = _submit(client, shop).headers["Location"]
    drain(shop["app"])

    page = client.get(location).get_data(as_text=True)
    assert "Send the parcel yourself" in page and "1500 S Milliken Ave" in page
    token = _token(page)
    refused = client.post(
        f"{location}/shipment",
        data={"csrf_token": token, "carrier": "", "tracking_number": "", "postage": "x"},
    )
    assert refused.status_code == 422
    said = refused.get_data(as_text=True)
    assert "Enter the carrier you sent the parcel with." in said
    assert "Enter the postage as an amount" in said

    sent = client.post(
        f"{location}/shipment",
        data={
            "csrf_token": token,
            "carrier": "USPS",
            "tracking_number": "9400 1",
            "postage": "7.25",
        },
    )

    assert sent.status_code == 302
    with runtime.db.session() as session:
        return_ = session.scalars(select(models.Return)).one()
        assert return_.status == "IN_TRANSIT"
        kinds = session.scalars(
            select(models.LedgerEvent.kind).where(models.LedgerEvent.return_id == return_.id)
        ).all()
    assert EventKind.OWN_SHIPMENT_SENT in kinds
    assert "You told us your parcel is on its way." in client.get(location).get_data(as_text=True)


# --- withdrawal from the contract ---------------------------------------------------------


def test_an_eu_buyer_withdraws_from_the_contract_in_one_step(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    order = _open(client, shop, "FR")
    page = client.get(f"/r/{shop['slug']}/order").get_data(as_text=True)
    assert "Withdraw from contract" in page

    response = client.post(f"/r/{shop['slug']}/withdraw", data={"csrf_token": _token(page)})

    assert response.status_code == 302 and "/status/" in response.headers["Location"]
    with shop["runtime"].db.session() as session:
        return_ = session.scalars(select(models.Return)).one()
        assert return_.order_id == order["id"] and return_.note == "Withdrawal from contract"
        assert sorted((line.order_line_id, line.quantity) for line in return_.lines) == sorted(
            order["lines"]
        )
        assert {line.reason for line in return_.lines} == {"OTHER"}
        events = session.scalars(
            select(models.LedgerEvent)
            .where(models.LedgerEvent.return_id == return_.id)
            .order_by(models.LedgerEvent.seq)
        ).all()
    assert [e.kind for e in events[:2]] == ["ReturnRequested", EventKind.WITHDRAWAL_DECLARED]
    assert events[1].payload["received_at"]
    status = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "We received your withdrawal from the contract on" in status
    drain(shop["app"])
    (mail,) = _mail(shop)
    assert f"We received your withdrawal from order {order['number']}" in mail
    assert "We received your withdrawal from the contract for order" in mail and "UTC" in mail
    # nothing is left to withdraw from, so the function is gone
    after = client.get(f"/r/{shop['slug']}/order").get_data(as_text=True)
    assert "Withdraw from contract" not in after and "Nothing left to return" in after


def test_a_buyer_outside_the_eu_is_not_offered_the_withdrawal(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    _open(client, shop, "US")
    page = client.get(f"/r/{shop['slug']}/order").get_data(as_text=True)

    assert "Withdraw from contract" not in page
    response = client.post(f"/r/{shop['slug']}/withdraw", data={"csrf_token": _token(page)})
    assert response.status_code == 404
    with shop["runtime"].db.session() as session:
        assert session.scalars(select(models.Return)).first() is None


def test_pages_speak_the_buyers_language(client: FlaskClient, shop: dict[str, Any]) -> None:
    order = shop["orders"]["DE"]
    page = client.get(f"/r/{shop['slug']}", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(
        as_text=True
    )
    assert "Bestellnummer" in page and 'lang="de"' in page
    _look_up(client, shop["slug"], order["number"], order["email"])
    page = client.get(f"/r/{shop['slug']}/order?lang=ja").get_data(as_text=True)
    assert "契約を撤回する" in page and "€" in page


# --- the catalogues -----------------------------------------------------------------------


def _portal_msgids() -> set[str]:
    method_map = [
        ("templates/portal/**.html", "jinja2"),
        ("templates/portal/**.txt", "jinja2"),
        ("templates/base.html", "jinja2"),
        ("portal/**.py", "python"),
    ]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(WEB), method_map):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


@pytest.mark.parametrize("locale", CATALOGUES)
def test_every_portal_message_is_translated(locale: str) -> None:
    msgids = _portal_msgids()
    assert len(msgids) > 100
    with open(WEB / "translations" / locale / "LC_MESSAGES" / "messages.po", "rb") as file:
        catalogue = read_po(file, locale=locale)
    missing = []
    for msgid in sorted(msgids):
        message = catalogue.get(msgid)
        if message is None and any(
            isinstance(m.id, tuple) and msgid in m.id for m in catalogue if m.id
        ):
            continue  # a plural form's second id
        if (
            message is None
            or not message.string
            or (isinstance(message.string, tuple) and not all(message.string))
        ):
            missing.append(msgid)
        elif message.fuzzy:
            missing.append(f"(fuzzy) {msgid}")
    assert not missing, f"{locale} lacks: {missing}"
    assert (WEB / "translations" / locale / "LC_MESSAGES" / "messages.mo").exists()


# --- exchanges ----------------------------------------------------------------------------


def _sized_first_line(shop: dict[str, Any]) -> tuple[str, str]:
    """A buyer country whose order starts with a sized item, and that item's SKU."""
    with shop["runtime"].db.session() as session:
        for country, order in shop["orders"].items():
            line = session.get_one(models.OrderLine, order["lines"][0][0])
            if line.sku.startswith("APP-"):
                return country, line.sku
    raise AssertionError("no demo order starts with a sized item")


def test_the_buyer_chooses_another_size_in_exchange(
    client: FlaskClient, shop: dict[str, Any]
) -> None:
    with shop["runtime"].db.transaction() as session:
        merchant = session.scalars(select(models.Merchant)).one()
        policy_documents.save(
            session,
            merchant.id,
            {"defaults": {"window_days": 90, "resolutions": ["refund", "exchange"]}, "rules": []},
        )
    country, sku = _sized_first_line(shop)
    order = _open(client, shop, country)
    line_id = order["lines"][0][0]
    _choose(client, shop, order)
    others = [f"{sku.rpartition('-')[0]}-{size}" for size in ("S", "M", "L", "XL")]
    others.remove(sku)

    page = client.get(f"/r/{shop['slug']}/review").get_data(as_text=True)

    assert "Exchange for another size or variant" in page
    choices = re.search(rf'<select id="exchange-{line_id}".*?</select>', page, re.S)
    assert choices and re.findall(r'<option value="([^"]+)"', choices.group(0)) == others
    assert "at the price you paid" in page

    refused = client.post(
        f"/r/{shop['slug']}/review",
        data={"csrf_token": _token(page), "resolution": "exchange", f"exchange-{line_id}": sku},
    )
    assert refused.headers["Location"].endswith("/review")
    sent = client.post(
        f"/r/{shop['slug']}/review",
        data={
            "csrf_token": _token(page),
            "resolution": "exchange",
            f"exchange-{line_id}": others[-1],
        },
    )

    assert sent.status_code == 302 and "/status/" in sent.headers["Location"]
    with shop["runtime"].db.session() as session:
        [return_] = session.scalars(select(models.Return)).all()
        assert return_.resolution == "exchange"
        assert [line.exchange_sku for line in return_.lines] == [others[-1]]
    status = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "You asked for an exchange." in status
