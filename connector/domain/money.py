"""Money in a currency, exact to that currency's minor unit.

Amounts are ``Decimal`` and never floats. Every ISO-4217 currency has an exponent: 0 for JPY or
KRW, 2 for USD or EUR, 3 for KWD or BHD. Storage keeps integer minor units beside the currency
code (``Money.minor`` / ``Money.from_minor``), so an amount round-trips without loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 active codes and their minor-unit exponents (the standard's "E" column).
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS "
    "GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR "
    "LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD "
    "PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD XCG YER ZAR ZMW "
    "ZWG"
).split()
_EXPONENTS.update(dict.fromkeys(_TWO_DECIMALS, 2))

CURRENCIES: frozenset[str] = frozenset(_EXPONENTS)


class MoneyError(ValueError):
    """An amount or currency that cannot be money."""


def exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit."""
    try:
        return _EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}: expected an ISO-4217 code") from None


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Arithmetic across currencies raises."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise MoneyError("money amounts must not be floats; pass a Decimal, int or str")
        try:
            amount = Decimal(self.amount)
        except (InvalidOperation, TypeError):
            raise MoneyError(f"not an amount: {self.amount!r}") from None
        if not amount.is_finite():
            raise MoneyError(f"not a finite amount: {self.amount!r}")
        quantum = _quantum(self.currency)
        try:
            exact = amount.quantize(quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise MoneyError(f"{self.amount} is too large an amount") from None
        if amount != exact:
            raise MoneyError(
                f"{self.amount} has more decimals than {self.currency} allows "
                f"({exponent(self.currency)})"
            )
        object.__setattr__(self, "amount", amount.quantize(quantum))

    # construction -----------------------------------------------------------------------
    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Money from an amount, rounded half-up to the currency's minor unit."""
        if isinstance(amount, float):
            raise MoneyError("money amounts must not be floats; pass a Decimal, int or str")
        try:
            value = Decimal(amount)
        except (InvalidOperation, TypeError):
            raise MoneyError(f"not an amount: {amount!r}") from None
        if not value.is_finite():
            raise MoneyError(f"not a finite amount: {amount!r}")
        try:
            rounded = value.quantize(_quantum(currency), rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise MoneyError(f"{amount} is too large an amount") from None
        return cls(rounded, currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(Decimal(int(minor)).scaleb(-exponent(currency)), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    # views ------------------------------------------------------------------------------
    @property
    def minor(self) -> int:
        return int(self.amount.scaleb(exponent(self.currency)))

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    # arithmetic -------------------------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise MoneyError("multiply money by a Decimal or int, not a float")
        return Money.of(self.amount * Decimal(factor), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def convert(self, currency: str, rate: Decimal) -> Money:
        """This amount in ``currency`` at ``rate`` units of it per unit of ours."""
        return Money.of(self.amount * rate, currency)


def total(amounts: list[Money], currency: str) -> Money:
    """Sum of amounts in one currency; an empty list sums to zero."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
