"""bench/scale.py's pure parts: the grown region's sizes, the table and the plot (the bench
itself runs with `bench/scale.py --sizes 0.1`, not in the test suite)."""

from __future__ import annotations

import math
from datetime import date

from defusedxml import ElementTree

from bench.scale import Measured, plot_svg, rows_of, spec_for, verdicts
from services.core.periods import add_months

TODAY = date(2026, 12, 6)


def measured(size: float, growth: float, json_rps: float = math.nan) -> Measured:
    """A size whose costs per million are `growth` times the first size's."""
    return Measured(
        size,
        spec_for(size, TODAY),
        rows=int(size * 1e6),
        json_rps=json_rps / growth,
        csv_rps=43_000 / growth,
        a2_rps=52_000 / growth,
        full_s=4.4 * size * growth,
        ceiling_s=0.38 * size,
        incremental_s=0.12,
        root={"p50": 15.0, "p99": 35.0, "rps": 200.0},
        api_rss=150,
        api_child_rss=110,
        worker_rss=120,
        worker_child_rss=110,
    )


def test_the_region_grows_in_months_and_employees_to_the_size_and_ends_last_month() -> None:
    one, ten = spec_for(1, TODAY), spec_for(10, TODAY)
    # 1 M is the other benches' region: 1 200 employees over 24 months.
    assert (one.employees, one.months) == (1200, 24)
    assert ten.months == 76  # 24·√10
    assert abs(ten.employees * ten.months / (10 * 1200 * 24) - 1) < 0.001
    for spec in (one, ten, spec_for(0.1, TODAY)):
        assert add_months(spec.start, spec.months) == date(2026, 12, 1)
        assert spec.units == 200


def test_the_table_gives_the_largest_sizes_cost_per_million_against_the_smallests() -> None:
    results = [measured(1, 1.0, 35_000), measured(3, 1.1, 35_000), measured(10, 1.4, 35_000)]
    header, table = rows_of(results)
    assert header[-2:] == ["10 M ÷ 1 M", "goal"]
    rows = {row[0]: row for row in table}
    full = rows["full recalculation: s per M rows (total, ÷ ceiling)"]
    assert full[-2:] == ["1.40", "≤ 1.3"]
    said = verdicts(results)
    assert "full recalculation per million: 10 M ÷ 1 M = 1.40 (goal ≤ 1.3: NOT met)" in said
    assert "root series p99: at most 35.0 ms (goal < 50 ms: met)" in said


def test_without_json_batches_the_table_says_so_and_the_plot_leaves_them_out() -> None:
    results = [measured(0.1, 1.0), measured(0.3, 1.2)]
    _, table = rows_of(results)
    json_row = next(row for row in table if row[0].startswith("(b)"))
    assert json_row[1:] == ["not measured", "not measured", "", "≤ 1.3"]
    assert "(b) JSON ingest per million: not measured" in verdicts(results)
    svg = plot_svg(results)
    root = ElementTree.fromstring(svg)  # well-formed
    assert "nan" not in svg and "JSON" not in svg
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 6  # the seven lines but (b)
