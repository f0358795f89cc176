"""The pure parts of the KPI engine against seed figures (seed 003's cost table, seed 002's
sick-leave split)."""

from __future__ import annotations

from decimal import Decimal as D

from services.core.kpis.catalogue import CATALOGUE, Direction
from services.core.kpis.evaluation import Comparator, Status, Trend, assess


def test_catalogue_holds_every_kpi_of_the_design() -> None:
    assert set(CATALOGUE) == {
        "sick_leave_pct",
        # Found by the working-time rules and agency policies (compliance).
        "rest_violations",
        "agency_policy_violation_hours",
        "sick_leave_short_pct",
        "sick_leave_long_pct",
        "sick_leave_60plus_share_pct",
        "presence_pct",
        "absence_pct",
        "extended_presence_pct",
        "overtime_hours",
        "extra_time_hours",
        # Issue 21: on-call time (jour) and quick returns under the daily rest rule.
        "on_call_hours",
        "quick_returns",
        "agency_hours_share_pct",
        "agency_doctor_weeks",
        "agency_hours",
        "agency_cost_sek",
        "consultant_cost_sek",
        "new_hires",
        "women_share_pct",
        "women_managers_share_pct",
        "recovery_pct",
        "agency_cost_share_pct",
        "personnel_cost_sek",
        "headcount",
        "fte",
        "permanent_share_pct",
        "full_time_share_pct",
        "employees_per_manager",
        "turnover_pct",
    }


def test_ratios_pool_numerators_and_denominators_never_average_percentages() -> None:
    sick = CATALOGUE["sick_leave_pct"]
    # Two units: 10 of 100 scheduled hours (10 %) and 10 of 1 000 (1 %).
    n, d = sick.pooled([(D(10), D(100))])
    n2, d2 = sick.pooled([(D(10), D(1000))])
    assert d is not None and d2 is not None
    assert sick.value(n + n2, d + d2) == D(20) * 100 / D(1100)  # 1.818…, not 5.5


def test_seed_002_short_and_long_sick_leave_add_up_to_the_total() -> None:
    scheduled = D(100_000)
    short = CATALOGUE["sick_leave_short_pct"].value(D(1610), scheduled)
    long = CATALOGUE["sick_leave_long_pct"].value(D(1410), scheduled)
    total = CATALOGUE["sick_leave_pct"].value(D(3020), scheduled)
    assert (short, long, total) == (D("1.61"), D("1.41"), D("3.02"))


def test_stock_kpis_read_the_last_month_and_turnover_the_mean_headcount() -> None:
    headcount = CATALOGUE["headcount"]
    assert headcount.pooled([(D(100), D(0)), (D(104), D(0)), (D(110), D(0))]) == (D(110), None)
    turnover = CATALOGUE["turnover_pct"]
    n, d = turnover.pooled([(D(2), D(100)), (D(1), D(110)), (D(3), D(120))])
    assert (n, d) == (D(6), D(110))
    assert turnover.value(n, d) == D(600) / D(110)


def test_division_by_zero_is_no_value() -> None:
    assert CATALOGUE["sick_leave_pct"].value(D(5), D(0)) is None
    assert CATALOGUE["agency_doctor_weeks"].value(D(80), None) == D(2)


def test_seed_003_cost_table_row_total() -> None:
    # HELÄR agency cost, MSEK: target (2015 level) 127.9, 2017 189.9, 2018 134.1.
    result = assess(D("134.1"), D("189.9"), D("127.9"), Comparator.lte, Direction.lower)
    assert result.change == D("-55.8")
    assert round(result.change_pct or 0) == -29
    assert result.deviation == D("6.2")
    assert round(result.deviation_pct or 0) == 5
    assert result.status is Status.not_met
    assert result.trend is Trend.positive


def test_seed_003_primary_care_doctors_beat_the_target() -> None:
    result = assess(D("39.9"), D("70.3"), D("63.8"), Comparator.lte, Direction.lower)
    assert result.deviation == D("-23.9") and round(result.deviation_pct or 0) == -37
    assert round(result.change_pct or 0) == -43
    assert result.status is Status.met


def test_trend_tolerance_and_direction() -> None:
    # Within 1 % relative change: neutral.
    assert assess(D("3.02"), D("3.00"), None, None, Direction.lower).trend is Trend.neutral
    assert assess(D("3.2"), D("3.0"), None, None, Direction.lower).trend is Trend.negative
    assert assess(D("80"), D("78.5"), None, None, Direction.higher).trend is Trend.positive
    # A gte target makes "up" the good direction whatever the catalogue says.
    assert (
        assess(D("80"), D("70"), D("90"), Comparator.gte, Direction.lower).trend is Trend.positive
    )
    assert assess(D("5"), None, D("3"), Comparator.lte, Direction.lower).trend is None
    assert assess(None, D("3"), D("3"), Comparator.lte, Direction.lower).status is Status.not_met


def test_strict_comparators_and_the_line_to_a_dated_target() -> None:
    from services.core.kpis.evaluation import meets, on_line

    assert meets(D("585"), D("585"), Comparator.lte)
    assert not meets(D("585"), D("585"), Comparator.lt)  # "below 585 weeks"
    assert meets(D("3.1"), D("3"), Comparator.gt) and not meets(D("3"), D("3"), Comparator.gt)
    on_track = assess(D("146"), D("150"), D("146.25"), Comparator.lt, Direction.lower)
    assert on_track.status is Status.met and on_track.trend is Trend.positive
    # A third of the way from 7 % to 3 %; before the start and after the end the line holds.
    assert on_line(D(7), D(3), D(1) / 3) == D(7) - D(4) / 3
    assert on_line(D(7), D(3), D(-1)) == D(7) and on_line(D(7), D(3), D(2)) == D(3)
