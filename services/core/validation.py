"""Reusable field types for request schemas: codes and human text free of control characters."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from services.core import deprecation

# Bidi overrides/isolates can make a name render as something else; NUL breaks PostgreSQL text.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_FORBIDDEN_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _single_line(value: str) -> str:
    if _FORBIDDEN_SINGLE_LINE.search(value):
        raise ValueError("must not contain control or bidirectional-override characters")
    return value


def _multi_line(value: str) -> str:
    if _FORBIDDEN.search(value):
        raise ValueError("must not contain control or bidirectional-override characters")
    return value


# ASCII, as the contract's pattern always read under JSON Schema's (ECMA 262) rules; Python's
# and pydantic's `\w` would also take any letter of Unicode.
Code = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"),
    Field(examples=["RS-KL"]),
]
# The patterns repeat the checks in the contract, so generated clients and fuzzers know them.
_NO_CONTROL_LINE = r"^[^\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]*$"
_NO_CONTROL_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]*$"
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_CONTROL_LINE
    ),
    AfterValidator(_single_line),
]
Text = Annotated[
    str, StringConstraints(max_length=20_000, pattern=_NO_CONTROL_TEXT), AfterValidator(_multi_line)
]
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    # pydantic would also take 0 or "0.5" as a Unix time; the contract promises RFC 3339 only.
    if not isinstance(value, datetime) and not (isinstance(value, str) and _RFC3339.match(value)):
        raise ValueError("must be an RFC 3339 time with an offset, e.g. 2026-11-25T08:00:00Z")
    return value


Rfc3339Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: object) -> object:
    # pydantic would also take 0 or "1700000000" as a Unix time; the contract says YYYY-MM-DD.
    if not isinstance(value, date) and not (isinstance(value, str) and _ISO_DATE.match(value)):
        raise ValueError("must be a date like 2024-03-31")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
LocalDate = IsoDate  # the name the plans domain uses

# Money travels as a decimal string in SEK with at most two decimals ("107800000.00").
MONEY_PATTERN = r"^-?[0-9]{1,14}(\.[0-9]{1,2})?$"
_MONEY = re.compile(MONEY_PATTERN)


def _money_string(value: object) -> object:
    # Floats lose öre; money travels as a decimal string ("107800000.00"). A whole JSON number
    # is still taken for one more version, as it always was, and the answer says it is
    # deprecated (a `Warning` header); the contract promises strings only.
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError('money must be a decimal string such as "1250.50", not a float')
    if isinstance(value, int):
        deprecation.note(deprecation.MONEY_NUMBER)
    if isinstance(value, str) and not _MONEY.match(value):
        raise ValueError('money must be a decimal string with at most 2 decimals, e.g. "1250.50"')
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_money_string),
    Field(max_digits=16, decimal_places=2),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": "An amount in SEK as a decimal string with at most 2 decimals "
            "(never a JSON number: a float loses öre).",
            "examples": ["107800000.00"],
        },
        mode="validation",
    ),
]


def decimal_pattern(max_digits: int, places: int, *, signed: bool = False) -> str:
    """The decimal strings with at most `max_digits` digits, `places` of them after the point."""
    sign = "-?" if signed else ""
    whole = max_digits - places
    fraction = f"(\\.[0-9]{{1,{places}}})?" if places else ""
    return f"^{sign}[0-9]{{1,{whole}}}{fraction}$"


def decimal_schema(
    max_digits: int,
    places: int,
    *,
    description: str,
    example: str,
    minimum: str | None = None,
    exclusive_minimum: str | None = None,
    maximum: str | None = None,
    signed: bool = False,
) -> WithJsonSchema:
    """How a bounded decimal input is published: a decimal string with its pattern, and the
    numeric bounds (which JSON Schema cannot put on a string) as `x-minimum`,
    `x-exclusiveMinimum` and `x-maximum` beside the words of `description`."""
    schema: dict[str, Any] = {
        "type": "string",
        "pattern": decimal_pattern(max_digits, places, signed=signed),
        "description": description,
        "examples": [example],
    }
    for key, bound in (
        ("x-minimum", minimum),
        ("x-exclusiveMinimum", exclusive_minimum),
        ("x-maximum", maximum),
    ):
        if bound is not None:
            schema[key] = bound
    return WithJsonSchema(schema, mode="validation")


# A decimal a response carries: always a string, never a float.
DecimalOut = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
            "description": "A decimal number as a string (never a JSON number).",
            "examples": ["7.50"],
        },
        mode="serialization",
    ),
]


def loads_strict(raw: str | bytes) -> Any:
    """json.loads that refuses duplicate object keys and excessive nesting with a clear error
    (both raise json.JSONDecodeError, so callers handle one exception)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)  # in C; only a batch with a repeated key pays for the search below
        if len(result) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise json.JSONDecodeError(f"duplicate key {key!r}", "", 0)
                seen.add(key)
        return result

    try:
        return json.loads(raw, object_pairs_hook=no_duplicates)
    except RecursionError:
        raise json.JSONDecodeError("nesting too deep", "", 0) from None


# Period labels and clock times, as the contract shows them. The services parse these values
# themselves (with errors naming what is wrong), so the patterns are published, not enforced
# twice: `Field(json_schema_extra=...)`.
PERIOD_LABEL_PATTERN = (
    r"^[0-9]{4}(-(0[1-9]|1[0-2])(-R12)?|-Q[1-4]|-T[1-3]|-YTD(0[1-9]|1[0-2])"
    r"|-W(0[1-9]|[1-4][0-9]|5[0-3]))?$"
)
PERIOD_LABEL: dict[str, Any] = {
    "pattern": PERIOD_LABEL_PATTERN,
    "description": "A period label: a month `2024-03`, a quarter `2024-Q1`, a tertial "
    "`2024-T1`, a year `2024`, twelve months to a month `2024-03-R12`, a year to date "
    "`2024-YTD08` (January to August) or an ISO week `2024-W05`.",
}
YEAR_MONTH: dict[str, Any] = {
    "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$",
    "description": "A month, `YYYY-MM`.",
}
HH_MM: dict[str, Any] = {"pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"}
