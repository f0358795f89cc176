"""Text for people: Markdown that shows user text as exactly that text, and Swedish dates. The
meetings' minutes and the plans' follow-up reports both print with these."""

from __future__ import annotations

import re
from datetime import date

# Characters that make Markdown (or the HTML it may hold) out of text wherever they stand, and
# what makes a block (heading, list, quote, rule, setext underline) at the start of a line.
_INLINE = re.compile(r"([\\`*_\[\]<>|~&])")
_LINE_START = re.compile(r"^(\s*)([#>+=-])", re.MULTILINE)
_ORDERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def md_text(text: str) -> str:
    """User text as Markdown that renders as exactly that text: links, images, HTML, emphasis,
    headings and lists written into a title or a note stay text. A backslash escape is valid
    before any ASCII punctuation (CommonMark), so the rendered text is unchanged."""
    escaped = _INLINE.sub(r"\\\1", text)
    escaped = _ORDERED.sub(r"\1\\\2", escaped)  # "1. " → "1\. " (a digit takes no escape)
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


_MONTHS = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)


def swedish_date(day: date) -> str:
    """A date as Swedish minutes and reports write it: "15 januari 2024"."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def swedish_month(day: date) -> str:
    """The month of a date as Swedish reports name it: "december 2016"."""
    return f"{_MONTHS[day.month - 1]} {day.year}"


def swedish_list(items: list[str]) -> str:
    """Names as Swedish text lists them: A; A och B; A, B och C."""
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " och " + items[-1]
