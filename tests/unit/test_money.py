"""Money is exact to its currency's minor unit, never a float, and never mixes currencies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.domain.money import Money, MoneyError, exponent, total


@pytest.mark.parametrize(
    ("currency", "places", "smallest"),
    [
        ("JPY", 0, Decimal("1")),
        ("USD", 2, Decimal("0.01")),
        ("KWD", 3, Decimal("0.001")),
        ("CLF", 4, Decimal("0.0001")),
    ],
)
def test_currency_has_its_iso_4217_minor_units(currency, places, smallest):
    assert exponent(currency) == places
    assert Money.from_minor(1, currency).amount == smallest


def test_jpy_has_no_minor_units():
    yen = Money.of("1234", "JPY")

    assert yen.minor == 1234
    assert str(yen) == "1234 JPY"
    with pytest.raises(MoneyError, match="JPY"):
        Money(Decimal("1234.5"), "JPY")


def test_amount_is_kept_at_the_currency_precision():
    assert str(Money.of("5", "KWD")) == "5.000 KWD"
    assert str(Money.of("5", "USD")) == "5.00 USD"
    assert Money(Decimal("1.500"), "USD").amount.as_tuple().exponent == -2


@pytest.mark.parametrize("currency", ["JPY", "USD", "KWD", "CLF"])
@pytest.mark.parametrize("minor", [0, 1, 7, 1999, -250, 123456789012])
def test_minor_units_round_trip_without_loss(currency, minor):
    money = Money.from_minor(minor, currency)

    assert money.minor == minor
    assert Money.from_minor(money.minor, money.currency) == money


def test_minor_units_of_a_dollar_amount_are_cents():
    assert Money(Decimal("12.34"), "USD").minor == 1234
    assert Money.from_minor(1234, "USD") == Money(Decimal("12.34"), "USD")


def test_constructor_refuses_a_float():
    with pytest.raises(MoneyError, match="float"):
        Money(1.5, "USD")  # type: ignore[arg-type]


def test_of_refuses_a_float():
    with pytest.raises(MoneyError, match="float"):
        Money.of(1.5, "USD")  # type: ignore[arg-type]


def test_multiplying_by_a_float_is_refused_from_either_side():
    price = Money.of("10.00", "USD")

    with pytest.raises(MoneyError, match="float"):
        price * 1.5  # type: ignore[operator]
    with pytest.raises(MoneyError, match="float"):
        1.5 * price  # type: ignore[operator]


def test_constructor_refuses_more_decimals_than_the_currency_allows():
    with pytest.raises(MoneyError, match=r"more decimals than USD allows \(2\)"):
        Money(Decimal("1.005"), "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1.005", "USD", "1.01"),
        ("1.004", "USD", "1.00"),
        ("-1.005", "USD", "-1.01"),
        ("2.5", "JPY", "3"),
        ("0.0005", "KWD", "0.001"),
        ("0.00005", "CLF", "0.0001"),
    ],
)
def test_of_rounds_half_up_to_the_minor_unit(amount, currency, expected):
    assert Money.of(amount, currency).amount == Decimal(expected)


@pytest.mark.parametrize("amount", ["abc", "", "1,50"])
def test_text_that_is_not_a_number_is_refused(amount):
    with pytest.raises(MoneyError, match="not an amount"):
        Money.of(amount, "USD")


@pytest.mark.parametrize("amount", ["Infinity", "-Infinity", "NaN"])
def test_constructor_refuses_an_amount_that_is_not_finite(amount):
    with pytest.raises(MoneyError, match="finite"):
        Money(Decimal(amount), "USD")


@pytest.mark.parametrize("amount", ["Infinity", "-Infinity", "NaN"])
def test_of_refuses_an_amount_that_is_not_finite_as_money_error(amount):
    with pytest.raises(MoneyError):
        Money.of(amount, "USD")


@pytest.mark.parametrize("currency", ["XYZ", "usd", "", "DOLLARS"])
def test_unknown_currency_is_refused_with_its_code_in_the_message(currency):
    for build in (
        lambda: Money(Decimal("1"), currency),
        lambda: Money.of("1", currency),
        lambda: Money.from_minor(1, currency),
        lambda: Money.zero(currency),
    ):
        with pytest.raises(MoneyError, match=f"unknown currency {currency!r}"):
            build()


def test_same_currency_arithmetic_is_exact():
    a, b = Money.of("10.10", "USD"), Money.of("0.20", "USD")

    assert a + b == Money.of("10.30", "USD")
    assert a - b == Money.of("9.90", "USD")
    assert -a == Money.of("-10.10", "USD")
    assert Money.of("19.99", "USD") * 3 == Money.of("59.97", "USD")
    assert 3 * Money.of("19.99", "USD") == Money.of("59.97", "USD")


def test_multiplying_by_a_decimal_rounds_half_up():
    assert Money.of("20.00", "USD") * Decimal("0.333") == Money.of("6.66", "USD")
    assert Money.of("0.50", "USD") * Decimal("0.01") == Money.of("0.01", "USD")


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
    ],
    ids=["add", "subtract"],
)
def test_arithmetic_across_currencies_raises(combine):
    with pytest.raises(MoneyError, match="cannot combine USD with EUR"):
        combine(Money.of("1", "USD"), Money.of("1", "EUR"))


@pytest.mark.parametrize(
    "compare",
    [
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
    ids=["lt", "le", "gt", "ge"],
)
def test_comparison_across_currencies_raises(compare):
    with pytest.raises(MoneyError, match="cannot combine USD with EUR"):
        compare(Money.of("1", "USD"), Money.of("2", "EUR"))


def test_comparison_in_one_currency_orders_by_amount():
    small, large = Money.of("1.99", "USD"), Money.of("2.00", "USD")

    assert small < large
    assert small <= large
    assert large > small
    assert large >= small
    assert small <= Money.of("1.99", "USD")


def test_money_cannot_be_added_to_a_bare_number():
    with pytest.raises(TypeError, match="int"):
        Money.of("1", "USD") + 1  # type: ignore[operator]


def test_convert_applies_the_rate_and_rounds_to_the_target_currency():
    ten_dollars = Money.of("10.00", "USD")

    assert ten_dollars.convert("JPY", Decimal("151.237")) == Money.of("1512", "JPY")
    assert ten_dollars.convert("KWD", Decimal("0.30712")) == Money.of("3.071", "KWD")
    assert ten_dollars.convert("EUR", Decimal("0.9215")) == Money.of("9.22", "EUR")


def test_total_of_an_empty_list_is_zero_in_the_given_currency():
    result = total([], "EUR")

    assert result == Money.zero("EUR")
    assert result.currency == "EUR"
    assert result.is_zero()


def test_total_sums_amounts_in_one_currency():
    amounts = [Money.of("1.10", "USD"), Money.of("2.20", "USD"), Money.of("3.30", "USD")]

    assert total(amounts, "USD") == Money.of("6.60", "USD")


def test_total_refuses_an_amount_in_another_currency():
    with pytest.raises(MoneyError, match="cannot combine USD with EUR"):
        total([Money.of("1", "USD"), Money.of("1", "EUR")], "USD")


def test_money_is_immutable():
    price = Money.of("1", "USD")

    with pytest.raises(AttributeError):
        price.amount = Decimal("2")  # type: ignore[misc]
