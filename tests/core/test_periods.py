from __future__ import annotations

import re
from datetime import date

import pytest

from services.core.periods import Grain, PeriodError, parse, series
from services.core.validation import PERIOD_LABEL_PATTERN


@pytest.mark.parametrize(
    ("label", "first", "last", "grain"),
    [
        ("2024-03", date(2024, 3, 1), date(2024, 3, 1), Grain.month),
        ("2024-Q1", date(2024, 1, 1), date(2024, 3, 1), Grain.quarter),
        ("2024-Q4", date(2024, 10, 1), date(2024, 12, 1), Grain.quarter),
        ("2024-T1", date(2024, 1, 1), date(2024, 4, 1), Grain.tertial),
        ("2024-T2", date(2024, 5, 1), date(2024, 8, 1), Grain.tertial),
        ("2024-T3", date(2024, 9, 1), date(2024, 12, 1), Grain.tertial),
        ("2024", date(2024, 1, 1), date(2024, 12, 1), Grain.year),
        ("2024-03-R12", date(2023, 4, 1), date(2024, 3, 1), Grain.rolling12),
        ("2024-YTD08", date(2024, 1, 1), date(2024, 8, 1), Grain.ytd),
        ("2024-YTD01", date(2024, 1, 1), date(2024, 1, 1), Grain.ytd),
        # A week is keyed by its Monday: 2024-W05 is 29 January – 4 February.
        ("2024-W05", date(2024, 1, 29), date(2024, 1, 29), Grain.week),
        ("2025-W01", date(2024, 12, 30), date(2024, 12, 30), Grain.week),
    ],
)
def test_labels_cover_their_months(label: str, first: date, last: date, grain: Grain) -> None:
    period = parse(label)
    assert (period.first, period.last, period.grain) == (first, last, grain)
    assert period.label == label
    assert period.months[0] == first and period.months[-1] == last


def test_rolling_twelve_spans_the_year_boundary_and_ends_on_the_last_day() -> None:
    period = parse("2018-09-R12")
    assert len(period.months) == 12 and period.end_date == date(2018, 9, 30)
    assert parse("2024-02").end_date == date(2024, 2, 29)


def test_year_before() -> None:
    assert parse("2018-T2").year_before().label == "2017-T2"
    assert parse("2024-03-R12").year_before().label == "2023-03-R12"
    # The same months of the year before; the same ISO week (week 52 when it had no 53).
    assert parse("2024-YTD08").year_before().months == parse("2023-YTD08").months
    assert parse("2024-W05").year_before().label == "2023-W05"
    assert parse("2026-W53").year_before().label == "2025-W52"
    assert parse("2020-W53").year_before().label == "2019-W52"


def test_weeks_end_on_sunday_and_scale_by_their_share_of_a_year() -> None:
    week = parse("2024-W05")
    assert week.end_date == date(2024, 2, 4) and week.next().label == "2024-W06"
    assert float(week.length_in_months * 52) == pytest.approx(11.96, abs=0.01)


NOT_A_LABEL = (
    "is not a period label; use 2024-03, 2024-Q1, 2024-T1, 2024, 2024-03-R12, 2024-YTD08 or "
    "2024-W05"
)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("2024-Q5", "'2024-Q5': quarter 5 is not 1–4"),
        ("2024-13", "'2024-13': month 13 is not 01–12"),
        ("2024-00", "'2024-00': month 0 is not 01–12"),
        ("2024-T4", "'2024-T4': tertial 4 is not 1–3"),
        ("24-01", f"'24-01' {NOT_A_LABEL}"),
        ("2024-1", f"'2024-1' {NOT_A_LABEL}"),
        ("", f"'' {NOT_A_LABEL}"),
        ("2024-Q0", "'2024-Q0': quarter 0 is not 1–4"),
        ("1800", "year 1800 is out of range"),
        ("2024-03-R6", f"'2024-03-R6' {NOT_A_LABEL}"),
        ("2024-YTD13", "'2024-YTD13': year to date through month 13 is not 01–12"),
        ("2024-YTD00", "'2024-YTD00': year to date through month 0 is not 01–12"),
        ("2024-W53", "'2024-W53': ISO year 2024 has weeks 01–52"),
        ("2024-W00", "'2024-W00': ISO year 2024 has weeks 01–52"),
    ],
)
def test_bad_labels_say_what_is_wrong(label: str, message: str) -> None:
    with pytest.raises(PeriodError) as raised:
        parse(label)
    assert str(raised.value) == message


def test_series_of_each_grain() -> None:
    assert [p.label for p in series(Grain.quarter, "2023-11", "2024-Q2")] == [
        "2023-Q4",
        "2024-Q1",
        "2024-Q2",
    ]
    assert [p.label for p in series(Grain.tertial, "2024", "2024")] == [
        "2024-T1",
        "2024-T2",
        "2024-T3",
    ]
    assert [p.label for p in series(Grain.rolling12, "2024-01", "2024-03")] == [
        "2024-01-R12",
        "2024-02-R12",
        "2024-03-R12",
    ]
    # Year to date runs on into the next year's January.
    assert [p.label for p in series(Grain.ytd, "2023-11", "2024-02")] == [
        "2023-YTD11",
        "2023-YTD12",
        "2024-YTD01",
        "2024-YTD02",
    ]
    assert [p.label for p in series(Grain.week, "2024-02", "2024-02")] == [
        "2024-W05",
        "2024-W06",
        "2024-W07",
        "2024-W08",
        "2024-W09",
    ]
    assert [p.label for p in series(Grain.month, "2024-W05", "2024-W06")] == ["2024-01", "2024-02"]
    assert len(series(Grain.month, "2015", "2024")) == 120


def test_series_refuses_reversed_and_too_long_ranges() -> None:
    with pytest.raises(PeriodError, match="after"):
        series(Grain.month, "2024-05", "2024-04")
    with pytest.raises(PeriodError, match="at most 10 years"):
        series(Grain.month, "2014-12", "2024-12")


def test_labels_are_read_exactly_as_the_contract_pattern_says() -> None:
    # The contract publishes PERIOD_LABEL_PATTERN; what it refuses, parse refuses too.
    pattern = re.compile(PERIOD_LABEL_PATTERN)
    for label in (
        " 2024",
        "2024 ",
        "2024-03\n",
        "٢٠٢٤",
        "2024-q1",
        "2024-03-r12",
        "2024-YTD13",
        "2024-ytd08",
        "2024-W00",
        "2024-W05\n",
    ):
        assert pattern.fullmatch(label) is None
        with pytest.raises(PeriodError):
            parse(label)
    for label in (
        "2024",
        "2024-Q1",
        "2024-T3",
        "2024-03",
        "2024-03-R12",
        "2024-YTD08",
        "2024-W05",
        "2020-W53",
    ):
        assert pattern.fullmatch(label) is not None
        assert parse(label).label == label
