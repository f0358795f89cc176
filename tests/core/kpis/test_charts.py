"""The chart renderer's Swedish labels and scales, without a database."""

from __future__ import annotations

import pytest

from services.core.kpis import charts


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("2024-03", "mar 2024"),
        ("2024-05", "maj 2024"),
        ("2024-10", "okt 2024"),
        ("2024-Q1", "kv1 2024"),
        ("2024-T2", "T2 2024"),
        ("2024", "2024"),
        ("2024-03-R12", "R12 mar 2024"),
        ("2024-W05", "v. 5 2024"),
        ("2024-YTD08", "jan–aug 2024"),
        ("odd", "odd"),
    ],
)
def test_periods_in_swedish(label: str, shown: str) -> None:
    assert charts.period_sv(label) == shown


def test_numbers_have_a_decimal_comma_and_spaced_thousands() -> None:
    assert charts.number_sv(3.04, 1) == "3,0"
    assert charts.number_sv(1234567.891, 2) == "1\u00a0234\u00a0567,89"
    assert charts.number_sv(-2.5, 1) == "\u22122,5"
    assert charts.number_sv(-0.01, 1) == "0,0"  # no "−0,0"


def test_scales_follow_the_unit() -> None:
    assert charts.scale_for("percent", 8).show(8.0) == "8,0\u00a0%"
    assert charts.scale_for("sek", 134_100_000).show(134_100_000) == "134,1\u00a0mnkr"
    assert charts.scale_for("sek", 52_000).show(52_000) == "52,0\u00a0tkr"
    assert charts.scale_for("weeks", 585).show(585) == "585\u00a0veckor"
    assert charts.scale_for("ratio", 11).show(11.2) == "11,20"


def test_text_is_escaped_for_elements_and_attributes() -> None:
    assert charts.escape('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
