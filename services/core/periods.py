"""Period labels and their months (DESIGN.md "Periods, targets, status").

Every figure is stored per month; a period is just the set of months it sums over:
month `2024-03`, quarter `2024-Q1`, tertial `2024-T1` (Jan–Apr, May–Aug, Sep–Dec), year `2024`,
rolling twelve months `2024-03-R12` (Apr 2023 – Mar 2024), year to date `2024-YTD08` (January to
August, the "delår"). An ISO week `2024-W05` is the one period that is not made of months: its
`first` and `last` are its Monday, and the time KPIs keep weekly facts for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum


def month_of(day: str) -> str:
    """SQL for the first day of the month of `day`, an SQL date expression. Through
    `timestamp`: a bare date takes date_trunc's `timestamptz` form and the session's time zone,
    twice the work for the same first of the month (100 000 rows: 38–48 ms against 19)."""
    return f"date_trunc('month', {day}::timestamp)::date"


class Grain(StrEnum):
    month = "month"
    quarter = "quarter"
    tertial = "tertial"
    year = "year"
    rolling12 = "rolling12"
    ytd = "ytd"
    week = "week"


_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_QUARTER = re.compile(r"^([0-9]{4})-Q([0-9])$")
_TERTIAL = re.compile(r"^([0-9]{4})-T([0-9])$")
_YEAR = re.compile(r"^([0-9]{4})$")
_ROLLING = re.compile(r"^([0-9]{4})-([0-9]{2})-R12$")
_YTD = re.compile(r"^([0-9]{4})-YTD([0-9]{2})$")
_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
# A week in months, for scaling a bound per month or year to a week (and back).
WEEK_IN_MONTHS = Decimal(12) * 7 / Decimal("365.2425")
_MONTHS_PER = {
    Grain.month: 1,
    Grain.quarter: 3,
    Grain.tertial: 4,
    Grain.year: 12,
    Grain.rolling12: 12,
}
# (ytd has no fixed length; week is not made of months)
MAX_YEARS_PER_REQUEST = 10


class PeriodError(ValueError):
    """A label that does not parse, or a range that makes no sense."""


def month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def month_from_index(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def add_months(d: date, months: int) -> date:
    return month_from_index(month_index(d) + months)


def last_day(month: date) -> date:
    return date.fromordinal(add_months(month, 1).toordinal() - 1)


@dataclass(frozen=True, order=True)
class Period:
    """The months [first, last] (first days of months) a label covers."""

    last: date
    grain: Grain
    first: date

    @property
    def label(self) -> str:
        y, m = self.last.year, self.last.month
        match self.grain:
            case Grain.week:
                iso = self.first.isocalendar()
                return f"{iso.year}-W{iso.week:02d}"
            case Grain.ytd:
                return f"{y}-YTD{m:02d}"
            case Grain.month:
                return f"{y}-{m:02d}"
            case Grain.quarter:
                return f"{y}-Q{(m - 1) // 3 + 1}"
            case Grain.tertial:
                return f"{y}-T{(m - 1) // 4 + 1}"
            case Grain.year:
                return f"{y}"
            case Grain.rolling12:
                return f"{y}-{m:02d}-R12"
        raise AssertionError(self.grain)  # pragma: no cover

    @property
    def months(self) -> list[date]:
        """The months it sums over; a week's one key is its Monday (weekly facts)."""
        if self.grain is Grain.week:
            return [self.first]
        return [
            month_from_index(i) for i in range(month_index(self.first), month_index(self.last) + 1)
        ]

    @property
    def month_count(self) -> int:
        return month_index(self.last) - month_index(self.first) + 1

    @property
    def length_in_months(self) -> Decimal:
        """How long it is, for scaling a bound set per another grain."""
        if self.grain is Grain.week:
            return WEEK_IN_MONTHS
        return Decimal(self.month_count)

    @property
    def start_date(self) -> date:
        return self.first

    @property
    def end_date(self) -> date:
        if self.grain is Grain.week:
            return self.first + timedelta(days=6)
        return last_day(self.last)

    def year_before(self) -> Period:
        if self.grain is Grain.week:
            iso = self.first.isocalendar()
            return week_of(iso.year - 1, iso.week)
        return Period(add_months(self.last, -12), self.grain, add_months(self.first, -12))

    def next(self) -> Period:
        if self.grain is Grain.week:
            return week_containing(self.first + timedelta(days=7))
        return period_ending(self.grain, add_months(self.last, _step(self.grain)))

    def __str__(self) -> str:
        return self.label


def _step(grain: Grain) -> int:
    return 1 if grain in (Grain.rolling12, Grain.ytd) else _MONTHS_PER[grain]


def week_containing(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    return Period(monday, Grain.week, monday)


def week_of(year: int, week: int) -> Period:
    """ISO week `week` of `year`; week 53 of a year that has none is its week 52."""
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        monday = date.fromisocalendar(year, 52, 1)
    return Period(monday, Grain.week, monday)


def _year(text: str) -> int:
    year = int(text)
    if not 1900 <= year <= 2999:
        raise PeriodError(f"year {year} is out of range")
    return year


def period_ending(grain: Grain, last_month: date) -> Period:
    """The period of `grain` whose last month is `last_month` (aligned for calendar grains;
    a week: the week containing that day)."""
    if grain is Grain.week:
        return week_containing(last_month)
    if grain is Grain.ytd:
        return Period(last_month, grain, date(last_month.year, 1, 1))
    span = _MONTHS_PER[grain]
    if grain is not Grain.rolling12 and last_month.month % span != 0:
        raise PeriodError(f"{last_month:%Y-%m} does not end a {grain.value}")
    return Period(last_month, grain, add_months(last_month, -(span - 1)))


def period_containing(grain: Grain, month: date) -> Period:
    if grain in (Grain.month, Grain.rolling12, Grain.ytd, Grain.week):
        return period_ending(grain, month)
    span = _MONTHS_PER[grain]
    end_month = ((month.month - 1) // span + 1) * span
    return period_ending(grain, date(month.year, end_month, 1))


def parse(label: str) -> Period:
    """Parses any label; raises PeriodError naming what is wrong. Exactly the contract's
    pattern: no spaces around it."""
    text = label
    if text != text.strip():
        raise PeriodError(f"{label!r}: a period label has no spaces around it")
    if m := _MONTH.fullmatch(text):
        month = int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"{label!r}: month {month} is not 01–12")
        return period_ending(Grain.month, date(_year(m[1]), month, 1))
    if m := _QUARTER.fullmatch(text):
        q = int(m[2])
        if not 1 <= q <= 4:
            raise PeriodError(f"{label!r}: quarter {q} is not 1–4")
        return period_ending(Grain.quarter, date(_year(m[1]), q * 3, 1))
    if m := _TERTIAL.fullmatch(text):
        t = int(m[2])
        if not 1 <= t <= 3:
            raise PeriodError(f"{label!r}: tertial {t} is not 1–3")
        return period_ending(Grain.tertial, date(_year(m[1]), t * 4, 1))
    if m := _YEAR.fullmatch(text):
        return period_ending(Grain.year, date(_year(m[1]), 12, 1))
    if m := _ROLLING.fullmatch(text):
        month = int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"{label!r}: month {month} is not 01–12")
        return period_ending(Grain.rolling12, date(_year(m[1]), month, 1))
    if m := _YTD.fullmatch(text):
        month = int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"{label!r}: year to date through month {month} is not 01–12")
        return period_ending(Grain.ytd, date(_year(m[1]), month, 1))
    if m := _WEEK.fullmatch(text):
        year, week = _year(m[1]), int(m[2])
        weeks = date(year, 12, 28).isocalendar().week  # 52 or 53
        if not 1 <= week <= weeks:
            raise PeriodError(f"{label!r}: ISO year {year} has weeks 01–{weeks}")
        return week_of(year, week)
    raise PeriodError(
        f"{label!r} is not a period label; use 2024-03, 2024-Q1, 2024-T1, 2024, 2024-03-R12, "
        "2024-YTD08 or 2024-W05"
    )


def series(grain: Grain, start: str, end: str) -> list[Period]:
    """The periods of `grain` from the one containing `start` to the one containing `end`
    (both any label; their months decide, or their days for weeks; a year to date counts as
    its last month). At most ten years."""
    begins, ends = parse(start), parse(end)
    # A year to date names its last month (2024-YTD07 is the July figure, not January's).
    first = begins.last if begins.grain is Grain.ytd else begins.first
    last = ends.last
    if grain is Grain.week or Grain.week in (begins.grain, ends.grain):
        first, last = begins.start_date, ends.end_date
    if last < first:
        raise PeriodError(f"from {start!r} is after to {end!r}")
    if month_index(last) - month_index(first) + 1 > MAX_YEARS_PER_REQUEST * 12:
        raise PeriodError(f"at most {MAX_YEARS_PER_REQUEST} years per request")
    if grain is Grain.week:
        weeks = [week_containing(first)]
        while weeks[-1].end_date < last:
            weeks.append(weeks[-1].next())
        return weeks
    first = date(first.year, first.month, 1)
    last = date(last.year, last.month, 1)
    periods = [period_containing(grain, first)]
    while periods[-1].last < last:
        periods.append(periods[-1].next())
    return periods
