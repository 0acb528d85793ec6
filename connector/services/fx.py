"""Exchange rates: stored rows in, a pure converter out.

A rate row says how many units of ``quote`` one unit of ``base`` buys. Conversion uses the
newest direct rate, else the inverse, else a cross through USD.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import models
from ..domain.money import Money
from ..errors import PermanentError


class FxTable:
    def __init__(self, rates: dict[tuple[str, str], Decimal]) -> None:
        self.rates = rates

    def rate(self, base: str, quote: str) -> Decimal:
        if base == quote:
            return Decimal(1)
        if (base, quote) in self.rates:
            return self.rates[base, quote]
        if (quote, base) in self.rates:
            return Decimal(1) / self.rates[quote, base]
        if "USD" not in (base, quote):
            return self.rate(base, "USD") * self.rate("USD", quote)
        raise PermanentError(f"no exchange rate from {base} to {quote}")

    def convert(self, amount: Money, currency: str) -> Money:
        return amount.convert(currency, self.rate(amount.currency, currency))


def load(session: Session) -> FxTable:
    rates: dict[tuple[str, str], Decimal] = {}
    for row in session.scalars(select(models.FxRate).order_by(models.FxRate.as_of)):
        rates[row.base, row.quote] = Decimal(row.rate)  # newer rows overwrite older ones
    return FxTable(rates)


def store_reference_rates(session: Session, as_of: datetime | None = None) -> int:
    """Store the bundled reference rates (for the embedded default and the demo)."""
    as_of = as_of or datetime(2026, 11, 1, tzinfo=UTC)
    text = files("connector.data").joinpath("fx_rates.csv").read_text()
    count = 0
    for row in csv.DictReader(text.splitlines()):
        exists = session.scalar(
            select(models.FxRate).where(
                models.FxRate.base == row["base"],
                models.FxRate.quote == row["quote"],
                models.FxRate.as_of == as_of,
            )
        )
        if exists is None:
            session.add(
                models.FxRate(base=row["base"], quote=row["quote"], rate=row["rate"], as_of=as_of)
            )
            count += 1
    return count
