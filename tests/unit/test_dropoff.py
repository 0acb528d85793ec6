"""The drop-off carrier: quotes by the buyer's country, codes fixed by the idempotency key, and a
voucher the buyer shows at the counter."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from carriers.csvfile import CsvFileError
from carriers.dropoff import DropOffCarrier, bundled_networks, dropoff_code_for
from carriers.dropoff.network import load_network
from connector.domain import Address, Money, Parcel, Shipment
from connector.errors import PermanentError
from connector.ports import AdapterContext, Credentials

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CODE = re.compile(r"^DO-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
HUB = Address(
    name="Acme EU Returns Hub", line1="Celsiusweg 21", city="Venlo", postal_code="5928 PR",
    country="NL",
)  # fmt: skip


def carrier(network: str = "eu-hubs", account: str = "acct-1") -> DropOffCarrier:
    return DropOffCarrier(
        Credentials(account, settings={"network": network}),
        AdapterContext(data_dir=Path("/nonexistent")),
        clock=lambda: NOW,
    )


def shipment(country: str, kg: str = "0.8") -> Shipment:
    buyer = Address(
        name="Erika Mustermann", line1="Hauptstr. 1", city="Berlin", postal_code="10115",
        country=country,
    )  # fmt: skip
    return Shipment(
        reference="R-20031",
        from_address=buyer,
        to_address=HUB,
        parcel=Parcel(Decimal(kg), Decimal(30), Decimal(20), Decimal(10)),
        declared_value=Money.of("59.00", "EUR"),
    )


def test_both_example_networks_ship() -> None:
    assert bundled_networks() == ["eu-hubs", "us-hubs"]


def test_quotes_every_service_with_points_in_the_buyers_country() -> None:
    quotes = {q.service: q for q in carrier().quote(shipment("DE"))}
    assert set(quotes) == {"parcelshop", "returnbar"}
    # parcelshop in DE: 3.90 + 0.25 × 0.8 kg = 0.20 → 4.10 EUR
    assert quotes["parcelshop"].price == Money.of("4.10", "EUR")
    assert quotes["parcelshop"].breakdown == (("base", "3.90"), ("weight", "0.20"))
    assert (quotes["parcelshop"].transit_days_min, quotes["parcelshop"].transit_days_max) == (3, 6)
    # returnbar: a flat 2.95 EUR
    assert quotes["returnbar"].price == Money.of("2.95", "EUR")
    assert all((q.carrier, q.account) == ("dropoff", "acct-1") for q in quotes.values())


def test_prices_differ_by_country() -> None:
    (austria,) = carrier().quote(shipment("AT"))  # no return bars in Austria
    (spain,) = carrier().quote(shipment("ES"))
    # AT: 3.90 + 0.25 × 0.8 = 4.10; ES: 4.90 + 0.35 × 0.8 = 5.18
    assert (austria.service, austria.price) == ("parcelshop", Money.of("4.10", "EUR"))
    assert (spain.service, spain.price) == ("parcelshop", Money.of("5.18", "EUR"))


def test_an_unserved_country_gets_no_quote() -> None:
    assert carrier().quote(shipment("US")) == []
    assert carrier("us-hubs").quote(shipment("DE")) == []


def test_a_parcel_over_a_services_maximum_is_left_out() -> None:
    services = [q.service for q in carrier().quote(shipment("DE", kg="12"))]
    assert services == ["parcelshop"]  # return bars take up to 10 kg


def test_us_network_quotes_in_dollars() -> None:
    quotes = {q.service: q.price for q in carrier("us-hubs").quote(shipment("US"))}
    # returnbar 4.95 flat; shipstore 6.40 + 0.55 × 0.8 = 0.44 → 6.84
    assert quotes == {"returnbar": Money.of("4.95", "USD"), "shipstore": Money.of("6.84", "USD")}


def test_buy_issues_the_same_code_for_the_same_key_and_another_for_another_key() -> None:
    dropoff = carrier()
    parcel_shipment = shipment("DE")
    quote = next(q for q in dropoff.quote(parcel_shipment) if q.service == "parcelshop")

    label = dropoff.buy(parcel_shipment, quote, "dropoff:42:1")
    again = dropoff.buy(parcel_shipment, quote, "dropoff:42:1")
    other = dropoff.buy(parcel_shipment, quote, "dropoff:42:2")

    assert CODE.match(label.tracking_number)
    assert label.tracking_number == again.tracking_number == dropoff_code_for("dropoff:42:1")
    assert label.pdf == again.pdf
    assert other.tracking_number != label.tracking_number
    assert label.qr_payload == label.tracking_number
    assert (label.carrier, label.service, label.price) == ("dropoff", "parcelshop", quote.price)
    assert label.expires_at == NOW + timedelta(days=30)
    assert label.qr_png.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_voucher_shows_the_code_rma_expiry_and_instructions() -> None:
    dropoff = carrier()
    parcel_shipment = shipment("FR")
    label = dropoff.buy(parcel_shipment, dropoff.quote(parcel_shipment)[0], "dropoff:7:1")
    reader = PdfReader(io.BytesIO(label.pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == (288.0, 432.0)
    text = reader.pages[0].extract_text()
    assert label.tracking_number in text
    assert "RMA R-20031" in text
    assert "Valid until 2026-04-01" in text
    assert "relay point" in text  # the French parcelshop row's own instructions


def test_buy_refuses_a_service_that_no_longer_takes_the_parcel() -> None:
    dropoff = carrier()
    quote = next(q for q in dropoff.quote(shipment("DE")) if q.service == "returnbar")
    with pytest.raises(PermanentError, match="no longer takes"):
        dropoff.buy(shipment("DE", kg="12"), quote, "dropoff:1:1")


def test_void_and_track_have_nothing_to_call() -> None:
    dropoff = carrier()
    parcel_shipment = shipment("NL")
    label = dropoff.buy(parcel_shipment, dropoff.quote(parcel_shipment)[0], "dropoff:3:1")
    dropoff.void(label)  # an unused code lapses by itself
    assert dropoff.track(label.tracking_number) == []


@pytest.mark.parametrize("setting", [None, "", "no-such-network", "../networks/eu-hubs"])
def test_an_account_without_a_usable_network_is_a_permanent_error(setting: str | None) -> None:
    settings = {} if setting is None else {"network": setting}
    with pytest.raises(PermanentError, match="network"):
        DropOffCarrier(Credentials("acct-1", settings=settings), AdapterContext(Path("/x")))


def test_a_malformed_network_names_the_file_line_and_column(tmp_path: Path) -> None:
    network = tmp_path / "mine.csv"
    network.write_text(
        "service,country_codes,price,per_kg,currency,max_kg,transit_min,transit_max,instructions\n"
        "parcelshop,DE,3.90,0.25,EUR,20,3,6,Bring it to a shop.\n"
        "parcelshop,FR,4.40,0.30,EURO,20,3,7,Bring it to a relay.\n"
    )
    with pytest.raises(CsvFileError) as caught:
        load_network(network)
    assert (caught.value.line, caught.value.column) == (3, "currency")
    assert "mine.csv, line 3, column currency" in str(caught.value)


def test_a_network_can_be_given_by_absolute_path(tmp_path: Path) -> None:
    network = tmp_path / "mine.csv"
    network.write_text(
        "service,country_codes,price,per_kg,currency,max_kg,transit_min,transit_max,instructions\n"
        'kiosk,"DE,AT",2.00,0,EUR,5,2,4,Bring it to a kiosk.\n'
    )
    (quote,) = carrier(str(network)).quote(shipment("AT"))
    assert (quote.service, quote.price) == ("kiosk", Money.of("2.00", "EUR"))
