"""Reading the hand-edited CSV files carriers are configured with (rate cards, drop-off networks).

Each record keeps its line number, and every reader names the cell it blames, so an error says
``zones.csv, line 7, column country_codes: 'USA' is not an ISO 3166 alpha-2 code`` and the person
who edited the file can go straight to it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from connector.domain.money import MoneyError, exponent
from connector.errors import PermanentError


class CsvFileError(PermanentError, ValueError):
    """A configuration file that cannot be used, with the place to fix it."""

    def __init__(self, file: str, line: int, column: str, message: str) -> None:
        where = f"{file}, line {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.column = column
        self.message = message


_Choice = TypeVar("_Choice", bound=StrEnum)


class Row:
    """One CSV record with its line number, and readers that blame the right cell."""

    def __init__(self, file: str, line: int, values: Mapping[str, str]) -> None:
        self.file = file
        self.line = line
        self.values = values

    def fail(self, column: str, message: str) -> CsvFileError:
        return CsvFileError(self.file, self.line, column, message)

    def text(self, column: str, *, required: bool = True) -> str:
        value = (self.values.get(column) or "").strip()
        if required and not value:
            raise self.fail(column, "is empty")
        return value

    def decimal(
        self,
        column: str,
        *,
        default: Decimal | None = None,
        positive: bool = False,
    ) -> Decimal:
        """A number of 0 or more (above 0 if ``positive``); empty gives ``default``, or fails
        when there is none."""
        raw = self.text(column, required=default is None)
        if not raw:
            assert default is not None
            return default
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise self.fail(column, f"{raw!r} is not a number") from None
        if not value.is_finite():
            raise self.fail(column, f"{raw!r} is not a finite number")
        if positive and value <= 0:
            raise self.fail(column, f"must be greater than 0, not {raw}")
        if value < 0:
            raise self.fail(column, f"must not be negative, not {raw}")
        return value

    def optional_positive(self, column: str) -> Decimal | None:
        """A number, where empty or 0 means "not used"."""
        if not self.text(column, required=False):
            return None
        value = self.decimal(column)
        return value if value > 0 else None

    def integer(self, column: str) -> int:
        raw = self.text(column)
        try:
            value = int(raw)
        except ValueError:
            raise self.fail(column, f"{raw!r} is not a whole number") from None
        if value < 0:
            raise self.fail(column, f"must not be negative, not {raw}")
        return value

    def choice(self, column: str, kind: type[_Choice]) -> _Choice:
        raw = self.text(column)
        try:
            return kind(raw)
        except ValueError:
            options = " | ".join(member.value for member in kind)
            raise self.fail(column, f"{raw!r} is not one of {options}") from None

    def flag(self, column: str) -> bool:
        raw = self.text(column, required=False).lower()
        if raw in ("", "0", "false", "no", "n"):
            return False
        if raw in ("1", "true", "yes", "y"):
            return True
        raise self.fail(column, f"{raw!r} is not true or false")

    def codes(self, column: str) -> list[str]:
        """A comma-separated list, e.g. ``"DE,FR,NL"``."""
        cells = self.text(column, required=False).split(",")
        return [cell.strip() for cell in cells if cell.strip()]

    def countries(self, column: str) -> list[str]:
        """A non-empty comma-separated list of ISO 3166 alpha-2 codes."""
        countries = self.codes(column)
        if not countries:
            raise self.fail(column, "needs at least one country")
        for country in countries:
            if len(country) != 2 or not country.isalpha() or not country.isupper():
                raise self.fail(column, f"{country!r} is not an ISO 3166 alpha-2 code")
        return countries

    def currency(self, column: str) -> str:
        code = self.text(column)
        try:
            exponent(code)
        except MoneyError as error:
            raise self.fail(column, str(error)) from None
        return code


def read_rows(file: str, text: str, columns: tuple[str, ...]) -> Iterator[Row]:
    """Records of a CSV file after checking its header; blank and ``#`` lines are skipped."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    for record in reader:
        line = reader.line_num
        if not record or all(not cell.strip() for cell in record) or record[0].startswith("#"):
            continue
        if header is None:
            header = [cell.strip() for cell in record]
            missing = [column for column in columns if column not in header]
            if missing:
                raise CsvFileError(file, line, missing[0], "column missing from the header")
            unknown = [column for column in header if column not in columns]
            if unknown:
                raise CsvFileError(file, line, unknown[0], "unknown column in the header")
            continue
        if len(record) < len(header):
            raise CsvFileError(file, line, header[len(record)], "the line ends before this column")
        if len(record) > len(header):
            raise CsvFileError(
                file, line, "", f"has {len(record)} cells, the header has {len(header)}"
            )
        yield Row(file, line, dict(zip(header, record, strict=True)))
    if header is None:
        raise CsvFileError(file, 1, "", "no header line")
