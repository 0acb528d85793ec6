"""The rate-card carrier: pricing arithmetic on small hand-written cards, card validation, the
bundled cards, and the adapter's quote and buy."""

from __future__ import annotations

import io
import os
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from carriers.ratecard import (
    CardError,
    RateCardCarrier,
    bundled_cards,
    load_card,
    tracking_number_for,
)
from connector.domain import Address, Money, Parcel, RateQuote, Shipment
from connector.errors import PermanentError
from connector.ports import AdapterContext, Credentials

ZONES_HEADER = "zone_id,country_codes,postal_prefixes"
SERVICES_HEADER = (
    "carrier,service,dim_divisor,vol_rule,round_step_kg,min_billable_kg,max_kg,fuel_pct,"
    "fuel_on_surcharges,surcharges_json"
)
RATES_HEADER = (
    "carrier,service,zone_id,min_kg,max_kg,mode,price,step_kg,step_price,per_parcel_fee,"
    "currency,transit_min,transit_max"
)


def write_card(folder: Path, *, zones: list[str], services: list[str], rates: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, header, lines in (
        ("zones.csv", ZONES_HEADER, zones),
        ("services.csv", SERVICES_HEADER, services),
        ("rates.csv", RATES_HEADER, rates),
    ):
        (folder / name).write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return folder


def one_service_card(
    folder: Path,
    *,
    service: str,
    rates: list[str],
    zones: tuple[str, ...] = ("US,US,",),
) -> Path:
    return write_card(folder, zones=list(zones), services=[service], rates=rates)


def parcel(kg: str, dims: tuple[int, int, int] = (10, 10, 10)) -> Parcel:
    return Parcel(Decimal(kg), Decimal(dims[0]), Decimal(dims[1]), Decimal(dims[2]))


def only_price(folder: Path, item: Parcel, country: str = "US", postal: str = "10001") -> Money:
    prices = load_card(folder).price(item, country, postal)
    assert len(prices) == 1, prices
    return prices[0].total


def context() -> AdapterContext:
    return AdapterContext(data_dir=Path("/nonexistent"), public_url="https://returns.example")


def buyer(country: str, postal_code: str) -> Address:
    return Address(
        name="Jane Doe", line1="1 Main St", city="Springfield", postal_code=postal_code,
        country=country,
    )  # fmt: skip


WAREHOUSE = Address(
    name="Acme Returns c/o Origin Warehouse",
    line1="88 Fuyong Avenue",
    city="Shenzhen",
    postal_code="518103",
    country="CN",
)


def shipment(sender: Address, item: Parcel, destination: Address = WAREHOUSE) -> Shipment:
    return Shipment(
        reference="R-10023",
        from_address=sender,
        to_address=destination,
        parcel=item,
        declared_value=Money.of("40.00", "USD"),
    )


def pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# --- billable weight -----------------------------------------------------------------------


def test_volumetric_weight_is_billed_when_larger_under_the_max_rule(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,5000,max,,0,30,0,false,",
        rates=["x,STD,US,0,30,per_kg,10.00,,,0,USD,2,4"],
    )
    # 40 × 30 × 20 = 24000 cm³ / 5000 = 4.8 kg volumetric > 1 kg actual → 4.8 × 10.00 = 48.00
    assert only_price(card, parcel("1", (40, 30, 20))) == Money.of("48.00", "USD")
    # 10 × 10 × 10 = 1000 cm³ / 5000 = 0.2 kg < 3 kg actual → 3 × 10.00 = 30.00
    assert only_price(card, parcel("3")) == Money.of("30.00", "USD")


def test_if_2x_rule_bills_volume_only_from_twice_the_actual_weight(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,5000,if_2x,,0,30,0,false,",
        rates=["x,STD,US,0,30,per_kg,10.00,,,0,USD,2,4"],
    )
    bulky = (40, 30, 20)  # 24000 cm³ / 5000 = 4.8 kg volumetric
    # 4.8 < 2 × 3 = 6 → actual 3 kg is billed: 3 × 10.00 = 30.00
    assert only_price(card, parcel("3", bulky)) == Money.of("30.00", "USD")
    # 4.8 ≥ 2 × 2.4 = 4.8 → volumetric 4.8 kg is billed: 4.8 × 10.00 = 48.00
    assert only_price(card, parcel("2.4", bulky)) == Money.of("48.00", "USD")


def test_none_rule_ignores_volume(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,,none,,0,30,0,false,",
        rates=["x,STD,US,0,30,per_kg,10.00,,,0,USD,2,4"],
    )
    # 100 × 100 × 100 cm would be 200 kg at 5000, but only the 1 kg actual counts: 10.00
    assert only_price(card, parcel("1", (100, 100, 100))) == Money.of("10.00", "USD")


def test_billable_weight_rounds_up_to_the_step_and_respects_the_minimum(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,5000,max,0.5,0.5,30,0,false,",
        rates=["x,STD,US,0,30,per_kg,10.00,,,0,USD,2,4"],
    )
    prices = load_card(card).price(parcel("1.01"), "US", "10001")
    # 1.01 kg rounds up to the next 0.5 step: 1.5 kg × 10.00 = 15.00
    assert prices[0].billable_kg == Decimal("1.5")
    assert prices[0].total == Money.of("15.00", "USD")
    # exactly on a step stays there: 1.5 kg × 10.00 = 15.00
    assert only_price(card, parcel("1.5")) == Money.of("15.00", "USD")
    # 0.1 kg is below the 0.5 kg minimum: 0.5 × 10.00 = 5.00
    assert only_price(card, parcel("0.1")) == Money.of("5.00", "USD")


# --- zones and bands -----------------------------------------------------------------------


def test_weight_at_the_top_of_a_band_falls_in_that_band(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,,none,,0,30,0,false,",
        rates=[
            "x,STD,US,0,0.5,flat,5.00,,,0,USD,2,4",
            "x,STD,US,0.5,1,flat,7.00,,,0,USD,2,4",
        ],
    )
    assert only_price(card, parcel("0.5")) == Money.of("5.00", "USD")  # 0 < 0.5 ≤ 0.5
    assert only_price(card, parcel("0.51")) == Money.of("7.00", "USD")  # 0.5 < 0.51 ≤ 1
    assert only_price(card, parcel("1")) == Money.of("7.00", "USD")  # 0.5 < 1 ≤ 1
    assert load_card(card).price(parcel("1.01"), "US", "10001") == []  # no band above 1


def test_postal_prefix_beats_country_and_the_longest_prefix_wins(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,,none,,0,30,0,false,",
        zones=("US,US,", "US-W,US,9", 'US-AK,US,"995,996"', "CA-BC,CA,V6B"),
        rates=[
            "x,STD,US,0,30,flat,10.00,,,0,USD,4,5",
            "x,STD,US-W,0,30,flat,8.00,,,0,USD,2,3",
            "x,STD,US-AK,0,30,flat,20.00,,,0,USD,5,6",
            "x,STD,CA-BC,0,30,flat,15.00,,,0,USD,4,6",
        ],
    )
    rate_card = load_card(card)
    assert rate_card.zone_for("US", "10001") is not None
    assert only_price(card, parcel("1"), "US", "10001") == Money.of("10.00", "USD")
    assert only_price(card, parcel("1"), "US", "94117") == Money.of("8.00", "USD")
    assert only_price(card, parcel("1"), "US", "99501") == Money.of("20.00", "USD")
    # Postal codes compare without spaces or case: "v6b 1a1" starts with V6B.
    assert only_price(card, parcel("1"), "CA", "v6b 1a1") == Money.of("15.00", "USD")
    # A prefix zone alone does not serve the rest of its country.
    assert rate_card.price(parcel("1"), "CA", "M5V 3L9") == []


def test_no_zone_for_the_buyer_gives_no_quote(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,,none,,0,30,0,false,",
        rates=["x,STD,US,0,30,flat,10.00,,,0,USD,2,4"],
    )
    assert load_card(card).price(parcel("1"), "FR", "75001") == []


# --- base, surcharges, fuel ------------------------------------------------------------------


def test_first_additional_charges_each_started_step_after_the_first(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,EXP,5000,max,0.5,0.5,30,0,false,",
        rates=["x,EXP,US,0,30,first_additional,25.10,0.5,4.20,0,USD,2,4"],
    )
    # 0.3 kg → min 0.5 kg, the first step only: 25.10
    assert only_price(card, parcel("0.3")) == Money.of("25.10", "USD")
    # 2.0 kg: 25.10 + ⌈(2.0 − 0.5) / 0.5⌉ = 3 steps × 4.20 = 12.60 → 37.70
    assert only_price(card, parcel("2.0")) == Money.of("37.70", "USD")
    # 1.2 kg rounds to 1.5 kg: 25.10 + ⌈1.0 / 0.5⌉ = 2 × 4.20 = 8.40 → 33.50
    assert only_price(card, parcel("1.2")) == Money.of("33.50", "USD")


def test_per_kg_adds_the_per_parcel_fee_and_rounds_half_up(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="cnline,ECONOMY,8000,if_2x,0.01,0.05,2,0,false,",
        rates=[
            "cnline,ECONOMY,US,0,2,per_kg,62.00,,,18.00,CNY,15,25",
        ],
    )
    # 0.75 kg × 62.00 = 46.50, + 18.00 registration = 64.50
    assert only_price(card, parcel("0.75")) == Money.of("64.50", "CNY")

    no_rounding = one_service_card(
        tmp_path / "exact",
        service="x,STD,,none,,0,2,0,false,",
        rates=["x,STD,US,0,2,per_kg,10.00,,,1.00,USD,2,4"],
    )
    # 0.1225 kg × 10.00 = 1.225 + 1.00 = 2.225 → half up → 2.23 (half-even would give 2.22)
    assert only_price(no_rounding, parcel("0.1225")) == Money.of("2.23", "USD")


@pytest.mark.parametrize(
    ("fuel_on_surcharges", "fuel", "total"),
    [
        # fuel = 20.00 × 10 % = 2.00; total = 20.00 + 5.00 + 2.00 = 27.00
        ("false", "2.00", "27.00"),
        # fuel = (20.00 + 5.00) × 10 % = 2.50; total = 20.00 + 5.00 + 2.50 = 27.50
        ("true", "2.50", "27.50"),
    ],
)
def test_fuel_is_a_percentage_of_base_and_optionally_of_surcharges(
    tmp_path: Path, fuel_on_surcharges: str, fuel: str, total: str
) -> None:
    card = one_service_card(
        tmp_path / "card",
        service=f'x,STD,,none,,0,30,10,{fuel_on_surcharges},"{{""remote_area"": ""5.00""}}"',
        rates=["x,STD,US,0,30,flat,20.00,,,0,USD,2,4"],
    )
    (price,) = load_card(card).price(parcel("1"), "US", "10001")
    assert price.total == Money.of(total, "USD")
    assert price.breakdown == (
        ("billable_kg", "1"),
        ("base", "20.00"),
        ("remote_area", "5.00"),
        ("fuel", fuel),
    )


def test_fuel_is_rounded_half_up_to_the_minor_unit(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,,none,,0,30,22.5,false,",
        rates=["x,STD,US,0,30,flat,8.10,,,0,USD,2,4"],
    )
    # fuel = 8.10 × 22.5 % = 1.8225 → 1.82; total = 8.10 + 1.82 = 9.92
    (price,) = load_card(card).price(parcel("1"), "US", "10001")
    assert price.fuel == Money.of("1.82", "USD")
    assert price.total == Money.of("9.92", "USD")


def test_a_parcel_over_the_service_maximum_gets_no_quote_from_it(tmp_path: Path) -> None:
    card = write_card(
        tmp_path / "card",
        zones=["US,US,"],
        services=["x,SMALL,,none,,0,2,0,false,", "x,BIG,,none,,0,30,0,false,"],
        rates=[
            "x,SMALL,US,0,30,flat,5.00,,,0,USD,2,4",
            "x,BIG,US,0,30,flat,9.00,,,0,USD,2,4",
        ],
    )
    services = [p.service for p in load_card(card).price(parcel("2.5"), "US", "10001")]
    assert services == ["x-BIG"]


def test_no_band_for_the_weight_gives_no_quote(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,,none,,0,30,0,false,",
        rates=["x,STD,US,0,1,flat,5.00,,,0,USD,2,4"],
    )
    assert load_card(card).price(parcel("1.5"), "US", "10001") == []


# --- malformed cards -------------------------------------------------------------------------

GOOD_SERVICE = "x,STD,5000,max,0.5,0,30,0,false,"
GOOD_RATE = "x,STD,US,0,30,flat,5.00,,,0,USD,2,4"


@pytest.mark.parametrize(
    ("zones", "services", "rates", "file", "line", "column"),
    [
        (["US,US,"], [GOOD_SERVICE], [GOOD_RATE, "x,STD,US,30,40,flat,abc,,,0,USD,2,4"],
         "rates.csv", 3, "price"),
        (["US,US,"], [GOOD_SERVICE], ["x,STD,EU,0,30,flat,5.00,,,0,USD,2,4"],
         "rates.csv", 2, "zone_id"),
        (["US,US,"], [GOOD_SERVICE], ["x,STD,US,0,30,flat,5.00,,,0,QQQ,2,4"],
         "rates.csv", 2, "currency"),
        (["US,US,"], [GOOD_SERVICE], ["x,STD,US,0,30,weird,5.00,,,0,USD,2,4"],
         "rates.csv", 2, "mode"),
        (["US,US,"], [GOOD_SERVICE], ["x,STD,US,0,30,first_additional,5.00,,1.00,0,USD,2,4"],
         "rates.csv", 2, "step_kg"),
        (["US,US,"], [GOOD_SERVICE], [GOOD_RATE, "x,STD,US,10,40,flat,5.00,,,0,USD,2,4"],
         "rates.csv", 3, "min_kg"),
        (["US,US,"], [GOOD_SERVICE], ["x,STD,US,2,1,flat,5.00,,,0,USD,2,4"],
         "rates.csv", 2, "max_kg"),
        (["US,US,"], [GOOD_SERVICE], ["x,OTHER,US,0,30,flat,5.00,,,0,USD,2,4"],
         "rates.csv", 2, "service"),
        (["US,US,", "EU,USA,"], [GOOD_SERVICE], [GOOD_RATE],
         "zones.csv", 3, "country_codes"),
        (["US,US,", "ALL,US,"], [GOOD_SERVICE], [GOOD_RATE],
         "zones.csv", 3, "country_codes"),
        (["US,US,"], ["x,STD,5000,sometimes,0.5,0,30,0,false,"], [GOOD_RATE],
         "services.csv", 2, "vol_rule"),
        (["US,US,"], ["x,STD,,max,0.5,0,30,0,false,"], [GOOD_RATE],
         "services.csv", 2, "dim_divisor"),
        (["US,US,"], ['x,STD,5000,max,0.5,0,30,0,false,"{not json"'], [GOOD_RATE],
         "services.csv", 2, "surcharges_json"),
        (["US,US,"], ['x,STD,5000,max,0.5,0,30,0,false,"{""fuel"": ""1.00""}"'], [GOOD_RATE],
         "services.csv", 2, "surcharges_json"),
        (["US,US,"], ["x,STD,5000,max,0.5,0,30,0,maybe,"], [GOOD_RATE],
         "services.csv", 2, "fuel_on_surcharges"),
        (["US,US,"], [GOOD_SERVICE], ["x,STD,US,0,30,flat,5.00,,,0,USD,2"],
         "rates.csv", 2, "transit_max"),
    ],
    ids=[
        "price-not-a-number", "unknown-zone", "unknown-currency", "unknown-mode",
        "first-additional-without-step", "overlapping-bands", "max-below-min",
        "service-not-in-services", "bad-country-code", "country-in-two-zones",
        "unknown-vol-rule", "volume-rule-without-divisor", "surcharges-not-json",
        "surcharge-with-reserved-name", "fuel-flag-not-boolean", "short-line",
    ],
)  # fmt: skip
def test_malformed_card_names_the_file_line_and_column(
    tmp_path: Path,
    zones: list[str],
    services: list[str],
    rates: list[str],
    file: str,
    line: int,
    column: str,
) -> None:
    card = write_card(tmp_path / "bad", zones=zones, services=services, rates=rates)
    with pytest.raises(CardError) as caught:
        load_card(card)
    error = caught.value
    assert isinstance(error, PermanentError)
    assert isinstance(error, ValueError)
    assert (Path(error.file).name, error.line, error.column) == (file, line, column)
    assert f"{file}, line {line}, column {column}:" in str(error)


def test_a_header_without_a_column_is_reported_on_the_header_line(tmp_path: Path) -> None:
    card = write_card(tmp_path / "bad", zones=["US,US,"], services=[GOOD_SERVICE], rates=[])
    (card / "rates.csv").write_text(RATES_HEADER.replace(",step_price", "") + "\n" + GOOD_RATE)
    with pytest.raises(CardError, match=r"rates\.csv, line 1, column step_price"):
        load_card(card)


def test_a_missing_file_is_a_permanent_error(tmp_path: Path) -> None:
    card = write_card(
        tmp_path / "bad", zones=["US,US,"], services=[GOOD_SERVICE], rates=[GOOD_RATE]
    )
    (card / "zones.csv").unlink()
    with pytest.raises(PermanentError, match=r"zones\.csv"):
        load_card(card)


# --- loading and caching -----------------------------------------------------------------------


def test_a_card_is_parsed_once_and_again_after_an_edit(tmp_path: Path) -> None:
    card = one_service_card(
        tmp_path / "card",
        service="x,STD,,none,,0,30,0,false,",
        rates=["x,STD,US,0,30,flat,5.00,,,0,USD,2,4"],
    )
    first = load_card(card)
    assert load_card(card) is first

    rates = card / "rates.csv"
    rates.write_text(rates.read_text().replace("5.00", "6.00"))
    stat = rates.stat()
    os.utime(rates, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert only_price(card, parcel("1")) == Money.of("6.00", "USD")


# --- bundled cards ----------------------------------------------------------------------------

SAMPLE_POSTAL_CODES = {
    "AT": "1010",
    "AU": "2000",
    "BE": "1000",
    "CA": "M5V 3L9",
    "DE": "10115",
    "ES": "28001",
    "FR": "75001",
    "GB": "SW1A 1AA",
    "IE": "D02 X285",
    "IT": "00184",
    "JP": "150-0001",
    "NL": "1012 AB",
    "PL": "00-001",
    "US": "10001",
}
BUNDLED_CURRENCIES = {"cn-origin": "CNY", "us-3pl": "USD", "eu-3pl": "EUR"}


def test_the_three_example_cards_ship() -> None:
    assert set(bundled_cards()) == set(BUNDLED_CURRENCIES)


@pytest.mark.parametrize("name", sorted(BUNDLED_CURRENCIES))
def test_every_bundled_card_prices_a_typical_parcel_from_every_country_it_serves(
    name: str,
) -> None:
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": name}), context())
    currency = BUNDLED_CURRENCIES[name]
    assert carrier.card.currency == currency
    for country in sorted(carrier.card.countries):
        postal = SAMPLE_POSTAL_CODES[country]
        quotes = carrier.quote(shipment(buyer(country, postal), parcel("0.8", (25, 18, 6))))
        assert quotes, f"{name}: no quote from {country}"
        for quote in quotes:
            assert quote.price.currency == currency
            assert quote.price.amount > 0
            assert 0 < quote.transit_days_min <= quote.transit_days_max
            amounts = [Decimal(amount) for part, amount in quote.breakdown if part != "billable_kg"]
            assert sum(amounts) == quote.price.amount, quote.breakdown


def test_the_us_card_prices_the_west_coast_below_the_east_coast() -> None:
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": "us-3pl"}), context())
    item = parcel("0.8", (25, 18, 6))
    (west,) = carrier.quote(shipment(buyer("US", "94117"), item))
    (east,) = carrier.quote(shipment(buyer("US", "10001"), item))
    assert west.price < east.price
    assert west.transit_days_max < east.transit_days_max


# --- the adapter ------------------------------------------------------------------------------


def test_quotes_zone_on_the_buyer_not_on_the_destination() -> None:
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": "cn-origin"}), context())
    from_us = carrier.quote(shipment(buyer("US", "10001"), parcel("0.8")))
    assert {q.service for q in from_us} == {"cnline-ECONOMY", "cnline-EXPRESS"}
    assert all((q.carrier, q.account) == ("ratecard", "acct-1") for q in from_us)
    # From China (the destination's country) to a US address: the card has no CN zone.
    reversed_trip = shipment(WAREHOUSE, parcel("0.8"), destination=buyer("US", "10001"))
    assert carrier.quote(reversed_trip) == []


def test_quote_carries_the_transit_time_and_breakdown_of_its_band() -> None:
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": "cn-origin"}), context())
    quotes = carrier.quote(shipment(buyer("US", "10001"), parcel("0.8")))
    economy = next(q for q in quotes if q.service == "cnline-ECONOMY")
    # 0.8 kg × 98.00 + 28.00 = 106.40; fuel 6.5 % = 6.916 → 6.92; total 113.32 CNY
    assert economy.price == Money.of("113.32", "CNY")
    assert (economy.transit_days_min, economy.transit_days_max) == (15, 25)
    assert economy.breakdown == (("billable_kg", "0.8"), ("base", "106.40"), ("fuel", "6.92"))


def test_buy_prints_a_label_with_a_tracking_number_fixed_by_the_idempotency_key() -> None:
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": "eu-3pl"}), context())
    parcel_shipment = shipment(buyer("DE", "10115"), parcel("0.8"))
    quote = carrier.quote(parcel_shipment)[0]

    label = carrier.buy(parcel_shipment, quote, "label:42:1")
    again = carrier.buy(parcel_shipment, quote, "label:42:1")
    other = carrier.buy(parcel_shipment, quote, "label:42:2")

    assert label.tracking_number == again.tracking_number == tracking_number_for("label:42:1")
    assert other.tracking_number != label.tracking_number
    assert label.tracking_number.startswith("RC") and len(label.tracking_number) == 14
    assert (label.carrier, label.service, label.price) == ("ratecard", quote.service, quote.price)
    assert label.qr_payload == f"https://returns.example/t/{label.tracking_number}"
    assert label.qr_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert label.zpl.startswith("^XA") and label.tracking_number in label.zpl
    text = pdf_text(label.pdf)
    assert label.tracking_number in text and "R-10023" in text and "Intake label" in text


def test_buy_refuses_a_service_that_no_longer_prices_the_parcel() -> None:
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": "cn-origin"}), context())
    stale = RateQuote(
        carrier="ratecard",
        service="cnline-ECONOMY",
        account="acct-1",
        price=Money.of("113.32", "CNY"),
        transit_days_min=15,
        transit_days_max=25,
    )
    too_heavy = shipment(buyer("US", "10001"), parcel("5"))  # ECONOMY takes up to 2 kg
    with pytest.raises(PermanentError, match="no longer carries"):
        carrier.buy(too_heavy, stale, "label:1:1")


def test_buy_refuses_a_quote_from_another_account() -> None:
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": "cn-origin"}), context())
    parcel_shipment = shipment(buyer("US", "10001"), parcel("0.8"))
    quote = carrier.quote(parcel_shipment)[0]
    other = RateCardCarrier(Credentials("acct-2", settings={"card": "cn-origin"}), context())
    with pytest.raises(PermanentError, match="account"):
        other.buy(parcel_shipment, quote, "label:1:1")


def test_a_card_can_be_given_by_absolute_path(tmp_path: Path) -> None:
    folder = one_service_card(
        tmp_path / "own-card",
        service="x,STD,,none,,0,30,0,false,",
        rates=["x,STD,US,0,30,flat,5.00,,,0,USD,2,4"],
    )
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": str(folder)}), context())
    (quote,) = carrier.quote(shipment(buyer("US", "10001"), parcel("1")))
    assert (quote.service, quote.price) == ("x-STD", Money.of("5.00", "USD"))


@pytest.mark.parametrize(
    "setting", [None, "", "no-such-card", "../cards/cn-origin", "/nonexistent"]
)
def test_an_account_without_a_usable_card_is_a_permanent_error(setting: str | None) -> None:
    settings = {} if setting is None else {"card": setting}
    with pytest.raises(PermanentError, match="card"):
        RateCardCarrier(Credentials("acct-1", settings=settings), context())


def test_void_and_track_have_nothing_to_call() -> None:
    carrier = RateCardCarrier(Credentials("acct-1", settings={"card": "us-3pl"}), context())
    parcel_shipment = shipment(buyer("US", "94117"), parcel("1"))
    label = carrier.buy(parcel_shipment, carrier.quote(parcel_shipment)[0], "label:7:1")
    carrier.void(label)  # an intake label is not postage: nothing to refund or cancel
    assert carrier.track(label.tracking_number) == []
