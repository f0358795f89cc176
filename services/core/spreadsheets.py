"""What every CSV the API writes shares: the dialect (Swedish spreadsheets by default, or
`decimal=point` for machines), and cells a spreadsheet would run as a formula escaped (CSV
injection, OWASP), so a title such as `=HYPERLINK(…)` typed into Puls by one user opens as
text on another user's machine."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (a tab
# or carriage return in front of one is skipped by some of them).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value` for a CSV cell: None as empty, text that would start a formula prefixed with `'`
    (spreadsheets show the text and drop the quote). Numbers stay numbers: a negative
    deviation is a number, not text to escape."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


class Decimals(StrEnum):
    """How a CSV writes its numbers, and so which separator it uses."""

    # Swedish spreadsheets (Excel, LibreOffice with a Swedish locale): `;` between cells,
    # decimal comma, UTF-8 with a byte order mark (without it Excel reads å, ä, ö as Latin-1).
    comma = "comma"
    # Machines (pandas, R, a database's COPY): RFC 4180 `,` between cells, decimal point, UTF-8
    # without a byte order mark.
    point = "point"


BOM = "\ufeff"


def _number(value: Decimal | float | int, decimals: Decimals) -> str:
    if isinstance(value, int):
        return str(value)
    # Through Decimal so a float prints as its shortest exact form, never in exponent form.
    text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    return text.replace(".", ",") if decimals is Decimals.comma else text


def csv_cell(value: Any, decimals: Decimals) -> str:
    """One cell as text: empty for None, `true`/`false`, numbers with the chosen decimal mark,
    dates and times in ISO 8601, enums as their value, and text escaped by `safe_cell` (before
    numbers are turned into text, so a negative number stays a number)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, int | float | Decimal):
        return _number(value, decimals)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(safe_cell(str(value)))


def write_csv(
    header: Sequence[str], rows: Iterable[Iterable[Any]], decimals: Decimals = Decimals.comma
) -> str:
    """A whole CSV file in the dialect `decimals` names (see `Decimals`), with its header."""
    out = io.StringIO()
    delimiter = ";" if decimals is Decimals.comma else ","
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([csv_cell(v, decimals) for v in row] for row in rows)
    return (BOM if decimals is Decimals.comma else "") + out.getvalue()
