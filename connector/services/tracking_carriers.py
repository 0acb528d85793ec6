"""Which aggregator can follow a parcel another carrier moves, and by what token.

A platform's own prepaid return label (Amazon's) names its carrier in the platform's words:
"DHL", "Royal Mail", "Yamato". An aggregator account of the merchant's (Shippo, EasyPost)
tracks such a parcel only when told the carrier in its own vocabulary, and the same name can
mean different networks in different countries: a DHL label posted in Germany is DHL Paket,
one posted in the US is DHL eCommerce, neither is DHL Express. The table
``connector/data/tracking_carriers.csv`` says, per carrier name and country the parcel is
posted in (empty: any country), which token each aggregator tracks it by; its ``note`` column
says why where the choice is not obvious. A carrier or country not in the table is not
followed: the parcel waits for the platform or the receiving bench.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib.resources import files

from ..errors import PermanentError

FILE = "tracking_carriers.csv"
COLUMNS = ("carrier", "country", "aggregator", "token", "note")


class TableError(PermanentError, ValueError):
    """A tracking-carriers table that cannot be used, with the place to fix it."""

    def __init__(self, line: int, column: str, message: str) -> None:
        where = f"{FILE}, line {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}")
        self.line = line
        self.column = column


def carrier_key(name: str) -> str:
    """A carrier's name as the table knows it: lower case, words apart, no punctuation
    ("Royal-Mail" and "ROYAL MAIL" are both "royal mail")."""
    return " ".join(re.findall(r"[^\W_]+", name.casefold()))


@dataclass(frozen=True)
class TrackingCarriers:
    """Tokens by (aggregator slug, carrier key, country), the country "" meaning any."""

    tokens: dict[tuple[str, str, str], str]

    @property
    def aggregators(self) -> frozenset[str]:
        """The carrier slugs whose accounts can follow other carriers' parcels."""
        return frozenset(aggregator for aggregator, _, _ in self.tokens)

    def token(self, aggregator: str, carrier: str, country: str) -> str:
        """The aggregator's token for ``carrier`` posted in ``country``: the country's own
        row first, else the row for any country; "" when the aggregator cannot follow it."""
        key = carrier_key(carrier)
        return self.tokens.get((aggregator, key, country.upper()), "") or self.tokens.get(
            (aggregator, key, ""), ""
        )


def load(text: str | None = None) -> TrackingCarriers:
    """The table bundled with Helloword, or ``text`` in its format, checked line by line."""
    if text is None:
        text = files("connector.data").joinpath(FILE).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
        raise TableError(1, "", f"the header must be {','.join(COLUMNS)}, not {','.join(header)}")
    tokens: dict[tuple[str, str, str], str] = {}
    for row in reader:
        line = reader.line_num
        if None in row or any(value is None for value in row.values()):
            raise TableError(line, "", f"needs exactly {len(COLUMNS)} cells")
        carrier = carrier_key(row["carrier"])
        country = row["country"].strip()
        aggregator = row["aggregator"].strip()
        token = row["token"].strip()
        for column, value in (("carrier", carrier), ("aggregator", aggregator), ("token", token)):
            if not value:
                raise TableError(line, column, "is empty")
        if country and not (len(country) == 2 and country.isalpha() and country.isupper()):
            raise TableError(line, "country", f"{country!r} is not an ISO 3166 alpha-2 code")
        if (aggregator, carrier, country) in tokens:
            raise TableError(
                line, "carrier", f"{carrier!r} in {country or 'any country'} for {aggregator} twice"
            )
        tokens[aggregator, carrier, country] = token
    return TrackingCarriers(tokens)
