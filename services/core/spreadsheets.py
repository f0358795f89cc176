"""What every CSV the API writes shares: cells a spreadsheet would run as a formula are
escaped (CSV injection, OWASP), so a title such as `=HYPERLINK(…)` typed into Puls by one
user opens as text on another user's machine."""

from __future__ import annotations

from collections.abc import Iterable
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
