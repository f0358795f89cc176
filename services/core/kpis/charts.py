"""SVG charts of KPI series, written by hand from the points (no plotting library, no browser):
a line for months (and other month-stepped grains), bars for quarters, tertials and years, the
target as a dashed line, hidden and missing points as gaps, Swedish labels, and an accessible
`<title>` and `<desc>`. Every text comes from `escape`, so a unit's or KPI's name cannot inject
markup. Pure functions of the points: the services fetch, this module only draws."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape as _xml_escape

from services.core.kpis.schemas import Point, ScorecardRow, Series

MEDIA_TYPE = "image/svg+xml"
# A chart wider than this is unreadable at 720 px (labels overlap, bars are a pixel wide), and
# the limit keeps an SVG answer small; a longer range is a table (JSON or CSV).
MAX_CHART_POINTS = 60
LINE_COLOUR = "#1f5fa8"
TARGET_COLOUR = "#c0392b"
AXIS_COLOUR = "#555555"
GRID_COLOUR = "#e3e3e3"
# Grains drawn as a line (a continuous month-stepped flow); the others are separate periods.
LINE_GRAINS = frozenset({"month", "week", "rolling12"})

MONTHS_SV = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
GRAIN_SV = {
    "month": "per månad",
    "week": "per vecka",
    "quarter": "per kvartal",
    "tertial": "per tertial",
    "year": "per år",
    "rolling12": "rullande tolv månader",
    "ytd": "hittills i år",
}
_REASON_SV = {
    "suppressed": "dolda (för få anställda)",
    "no_data": "utan data",
    "zero_denominator": "utan underlag",
}
_NBSP = "\u00a0"
_MINUS = "\u2212"


def escape(text: str) -> str:
    """Text for an SVG element or attribute (quotes too)."""
    return _xml_escape(text, {'"': "&quot;", "'": "&apos;"})


class TooManyPoints(ValueError):
    def __init__(self, count: int) -> None:
        super().__init__(
            f"a chart draws at most {MAX_CHART_POINTS} points and this series has {count}; "
            "ask for a shorter range or a coarser grain, or for JSON or CSV"
        )


# ---------------------------------------------------------------- Swedish labels


def period_sv(label: str) -> str:
    """`2024-03` → `mar 2024`, `2024-Q1` → `kv1 2024`, `2024-T2` → `T2 2024`, `2024-03-R12` →
    `R12 mar 2024`, `2024-W05` → `v. 5 2024`, `2024-YTD08` → `jan–aug 2024`."""
    year, _, rest = label.partition("-")
    if not rest:
        return year
    if rest.endswith("-R12"):
        return f"R12 {period_sv(label[:-4])}"
    if rest.startswith("Q"):
        return f"kv{rest[1:]} {year}"
    if rest.startswith("T"):
        return f"T{rest[1:]} {year}"
    if rest.startswith("W") and rest[1:].isdigit():
        return f"v. {int(rest[1:])} {year}"
    if rest.startswith("YTD") and rest[3:].isdigit():
        return f"jan–{MONTHS_SV[int(rest[3:]) - 1]} {year}"
    if rest.isdigit() and 1 <= int(rest) <= 12:
        return f"{MONTHS_SV[int(rest) - 1]} {year}"
    return label


def number_sv(value: float, decimals: int) -> str:
    """Decimal comma, a no-break space between thousands, a true minus sign: `−1 234,5`."""
    text = f"{abs(value):,.{decimals}f}".replace(",", _NBSP).replace(".", ",")
    return (_MINUS if value < 0 and float(text.replace(_NBSP, "").replace(",", ".")) else "") + text


@dataclass(frozen=True)
class Scale:
    """How a unit's values are shown: divided by `divisor`, followed by `suffix`."""

    divisor: float
    suffix: str
    decimals: int

    def show(self, value: float, decimals: int | None = None) -> str:
        shown = number_sv(value / self.divisor, self.decimals if decimals is None else decimals)
        return f"{shown}{_NBSP}{self.suffix}" if self.suffix else shown


def scale_for(unit: str, largest: float) -> Scale:
    if unit == "percent":
        return Scale(1, "%", 1)
    if unit == "sek":
        if largest >= 1e6:
            return Scale(1e6, "mnkr", 1)
        if largest >= 1e3:
            return Scale(1e3, "tkr", 1)
        return Scale(1, "kr", 0)
    if unit == "hours":
        return Scale(1, "timmar", 0 if largest >= 100 else 1)
    if unit == "weeks":
        return Scale(1, "veckor", 0 if largest >= 100 else 1)
    if unit == "count":
        return Scale(1, "", 0 if largest >= 100 else 1)
    return Scale(1, "", 2)


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover


def _axis(values: Sequence[float]) -> tuple[float, float, float]:
    """(low, high, step): from 0 (or below, for negative values) to a round number above."""
    low, high = min(0.0, *values), max(0.0, *values)
    if high == low:
        high = low + 1
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _tick_decimals(step: float, scale: Scale) -> int:
    shown = step / scale.divisor
    return max(0, -math.floor(math.log10(shown))) if shown < 1 else 0


# ---------------------------------------------------------------- the chart


WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 76, 20, 56, 44
TITLE_CHARS = 58  # bold 16 px text up to the chart's right edge


def _summary(series: Series, name_sv: str, scale: Scale) -> str:
    pts = series.points
    span = f"{period_sv(pts[0].period)}–{period_sv(pts[-1].period)}" if pts else "inga perioder"
    head = f"{name_sv} för {series.org_unit_name} {GRAIN_SV.get(series.grain, '')}, {span}."
    shown = [p for p in pts if p.value is not None]
    parts = [head, f"{len(pts)} perioder, {len(shown)} med värde."]
    for reason, text in _REASON_SV.items():
        count = sum(1 for p in pts if p.value is None and (p.reason or "no_data") == reason)
        if count:
            parts.append(f"{count} {text}.")
    if shown:
        last = shown[-1]
        status = {"met": " Målet nås.", "not_met": " Målet nås inte.", "no_target": ""}
        target = f", mål {scale.show(last.target)}" if last.target is not None else ""
        parts.append(
            f"Senaste värde {scale.show(last.value)} ({period_sv(last.period)}){target}."  # type: ignore[arg-type]
            + status[last.status]
        )
        low = min(shown, key=lambda p: p.value)  # type: ignore[arg-type, return-value]
        high = max(shown, key=lambda p: p.value)  # type: ignore[arg-type, return-value]
        parts.append(
            f"Lägsta {scale.show(low.value)} ({period_sv(low.period)}), "  # type: ignore[arg-type]
            f"högsta {scale.show(high.value)} ({period_sv(high.period)})."  # type: ignore[arg-type]
        )
    return " ".join(parts)


def _shortened(text: str, limit: int) -> str:
    """What fits on the chart; the `<title>` element keeps the whole text."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _empty_text(points: Sequence[Point]) -> str:
    if points and all(p.reason == "suppressed" for p in points):
        return "Inga värden att visa: alla perioder är dolda (för få anställda)"
    if points and any(p.reason == "suppressed" for p in points):
        return "Inga värden att visa: perioderna saknar data eller är dolda"
    return "Inga värden att visa för perioden"


def _runs(coords: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Consecutive drawn points; a None (hidden or missing) ends a run, leaving a gap."""
    runs: list[list[tuple[float, float]]] = [[]]
    for c in coords:
        if c is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(c)
    return [r for r in runs if r]


def _path(run: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in run)


def series_svg(series: Series, name_sv: str, *, element_id: str = "puls-chart") -> str:
    """The chart of one series; raises TooManyPoints past MAX_CHART_POINTS."""
    pts = series.points
    if len(pts) > MAX_CHART_POINTS:
        raise TooManyPoints(len(pts))
    known = [v for p in pts for v in (p.value, p.target) if v is not None]
    scale = scale_for(series.unit, max((abs(v) for v in known), default=0.0))
    title = f"{name_sv}, {series.org_unit_name}"
    summary = _summary(series, name_sv, scale)
    tid, did = f"{element_id}-title", f"{element_id}-desc"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{tid} {did}" '
        f'font-family="DejaVu Sans, Arial, sans-serif" font-size="12" class="puls-chart" '
        f'data-kpi="{escape(series.kpi)}" data-grain="{escape(series.grain)}">',
        f'<title id="{tid}">{escape(title)}</title>',
        f'<desc id="{did}">{escape(summary)}</desc>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="24" font-size="16" font-weight="bold" fill="#222222">'
        f"{escape(_shortened(title, TITLE_CHARS))}</text>",
        f'<text x="{LEFT}" y="42" fill="{AXIS_COLOUR}">'
        f"{escape(GRAIN_SV.get(series.grain, series.grain))}"
        f"{escape(', ' + scale.suffix) if scale.suffix else ''}</text>",
    ]
    values = [p.value for p in pts if p.value is not None]
    if not values:
        out.append(
            f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" font-size="14" '
            f'fill="{AXIS_COLOUR}" class="empty">{escape(_empty_text(pts))}</text>'
        )
        out.append("</svg>")
        return "\n".join(out) + "\n"

    low, high, step = _axis(known)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(pts)

    def y_of(v: float) -> float:
        return TOP + plot_h * (high - v) / (high - low)

    def x_of(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    decimals = _tick_decimals(step, scale)
    tick = low
    while tick <= high + step / 1000:
        y = y_of(tick)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS_COLOUR}">'
            f"{escape(number_sv(tick / scale.divisor, decimals))}</text>"
        )
        tick += step
    base = y_of(max(low, 0.0))
    out.append(
        f'<line x1="{LEFT}" y1="{base:.1f}" x2="{WIDTH - RIGHT}" y2="{base:.1f}" '
        f'stroke="{AXIS_COLOUR}" stroke-width="1"/>'
    )
    every = max(1, math.ceil(len(pts) / 12))
    shown_year = ""
    for i, p in enumerate(pts):
        if i % every == 0:
            # "mar" on the first line, the year under it where a new year starts.
            head, _, year = period_sv(p.period).rpartition(" ")
            first, second = (head, year if year != shown_year else "") if head else (year, "")
            shown_year = year if head else shown_year
            out.append(
                f'<text x="{x_of(i):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
                f'fill="{AXIS_COLOUR}">{escape(first)}</text>'
            )
            if second:
                out.append(
                    f'<text x="{x_of(i):.1f}" y="{HEIGHT - BOTTOM + 32}" text-anchor="middle" '
                    f'fill="{AXIS_COLOUR}">{escape(second)}</text>'
                )
        if p.value is None and p.reason == "suppressed":
            # Said, not drawn: the gap is marked under the axis, never plotted as a value.
            out.append(
                f'<text x="{x_of(i):.1f}" y="{base - 4:.1f}" text-anchor="middle" font-size="10" '
                f'fill="{AXIS_COLOUR}" class="suppressed" data-period="{escape(p.period)}">'
                "dold</text>"
            )

    bars = series.grain not in LINE_GRAINS
    if bars:
        width = slot * 0.6
        for i, p in enumerate(pts):
            if p.value is None:
                continue
            top, bottom = sorted((y_of(p.value), y_of(0.0)))
            out.append(
                f'<rect class="value" data-period="{escape(p.period)}" '
                f'x="{x_of(i) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                f'height="{max(bottom - top, 0.5):.1f}" fill="{LINE_COLOUR}">'
                f"<title>{escape(period_sv(p.period))}: {escape(scale.show(p.value))}</title>"
                "</rect>"
            )
        for i, p in enumerate(pts):
            if p.target is not None:
                y = y_of(p.target)
                out.append(
                    f'<line class="target" x1="{x_of(i) - slot / 2 + 2:.1f}" y1="{y:.1f}" '
                    f'x2="{x_of(i) + slot / 2 - 2:.1f}" y2="{y:.1f}" stroke="{TARGET_COLOUR}" '
                    'stroke-width="2" stroke-dasharray="6 4"/>'
                )
    else:
        targets = [
            None if p.target is None else (x_of(i), y_of(p.target)) for i, p in enumerate(pts)
        ]
        for run in _runs(targets):
            if len(run) == 1:
                x, y = run[0]
                run = [(x - slot / 2, y), (x + slot / 2, y)]
            out.append(
                f'<polyline class="target" points="{_path(run)}" fill="none" '
                f'stroke="{TARGET_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>'
            )
        line = [None if p.value is None else (x_of(i), y_of(p.value)) for i, p in enumerate(pts)]
        for run in _runs(line):
            if len(run) > 1:
                out.append(
                    f'<polyline class="value" points="{_path(run)}" fill="none" '
                    f'stroke="{LINE_COLOUR}" stroke-width="2.5" stroke-linejoin="round"/>'
                )
        for i, p in enumerate(pts):
            if p.value is not None:
                out.append(
                    f'<circle class="value" data-period="{escape(p.period)}" '
                    f'cx="{x_of(i):.1f}" cy="{y_of(p.value):.1f}" r="3.5" fill="{LINE_COLOUR}">'
                    f"<title>{escape(period_sv(p.period))}: {escape(scale.show(p.value))}</title>"
                    "</circle>"
                )

    legend_y, lx = 42, WIDTH - RIGHT - 150
    out.append(
        f'<rect x="{lx}" y="{legend_y - 9}" width="14" height="10" fill="{LINE_COLOUR}"/>'
        f'<text x="{lx + 20}" y="{legend_y}" fill="#222222">Utfall</text>'
    )
    if any(p.target is not None for p in pts):
        out.append(
            f'<line x1="{lx + 80}" y1="{legend_y - 4}" x2="{lx + 104}" y2="{legend_y - 4}" '
            f'stroke="{TARGET_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>'
            f'<text x="{lx + 110}" y="{legend_y}" fill="#222222">Mål</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- sparklines and the scorecard


SPARK_W, SPARK_H = 120, 28
_STATUS_SV = {"met": "nås", "not_met": "nås inte", "no_target": "inget mål"}


def sparkline(points: Sequence[Point], x: float = 0, y: float = 0) -> str:
    """A `<g>` of a small line (gaps for hidden points) and the target dashed, no text."""
    values = [v for p in points for v in (p.value, p.target) if v is not None]
    if not values or not points:
        return (
            f'<text x="{x + SPARK_W / 2:.1f}" y="{y + SPARK_H / 2 + 4:.1f}" text-anchor="middle" '
            f'font-size="10" fill="{AXIS_COLOUR}">inga värden</text>'
        )
    low, high = min(0.0, *values), max(values)
    high = high if high > low else low + 1
    step = SPARK_W / max(len(points) - 1, 1)

    def at(i: int, v: float) -> tuple[float, float]:
        return x + i * step, y + 2 + (SPARK_H - 4) * (high - v) / (high - low)

    out = ['<g class="sparkline">']
    targets = [None if p.target is None else at(i, p.target) for i, p in enumerate(points)]
    for run in _runs(targets):
        if len(run) > 1:
            out.append(
                f'<polyline class="target" points="{_path(run)}" fill="none" '
                f'stroke="{TARGET_COLOUR}" stroke-width="1" stroke-dasharray="3 2"/>'
            )
    line = [None if p.value is None else at(i, p.value) for i, p in enumerate(points)]
    for run in _runs(line):
        if len(run) > 1:
            out.append(
                f'<polyline class="value" points="{_path(run)}" fill="none" '
                f'stroke="{LINE_COLOUR}" stroke-width="1.5"/>'
            )
    drawn = [(i, p) for i, p in enumerate(points) if p.value is not None]
    if drawn:
        i, p = drawn[-1]
        cx, cy = at(i, p.value)  # type: ignore[arg-type]
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="{LINE_COLOUR}"/>')
    out.append("</g>")
    return "".join(out)


@dataclass(frozen=True)
class ScorecardLine:
    row: ScorecardRow
    trail: Sequence[Point]  # the months leading up to the scorecard's period, for the sparkline


ROW_H = 40


def scorecard_svg(org_unit_name: str, period: str, lines: Sequence[ScorecardLine]) -> str:
    """A table: per KPI its Swedish name, value, target, status and a sparkline."""
    height = 70 + ROW_H * max(len(lines), 1)
    width = 760
    title = f"Styrkort för {org_unit_name}, {period_sv(period)}"
    met = sum(1 for line in lines if line.row.point.status == "met")
    missed = sum(1 for line in lines if line.row.point.status == "not_met")
    summary = (
        f"{len(lines)} nyckeltal med mål; {met} nås, {missed} nås inte."
        if lines
        else "Inga nyckeltal med mål för enheten och perioden."
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="sc-title sc-desc" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="12" class="puls-scorecard">',
        f'<title id="sc-title">{escape(title)}</title>',
        f'<desc id="sc-desc">{escape(summary)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="12" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
    ]
    head_y = 52
    for x, text in ((12, "Nyckeltal"), (330, "Värde"), (430, "Mål"), (520, "Status")):
        out.append(f'<text x="{x}" y="{head_y}" font-weight="bold">{text}</text>')
    out.append(
        f'<text x="{width - 12 - SPARK_W}" y="{head_y}" font-weight="bold">Senaste året</text>'
    )
    if not lines:
        out.append(f'<text x="12" y="{head_y + 30}" fill="{AXIS_COLOUR}">{escape(summary)}</text>')
    for n, line in enumerate(lines):
        row, p = line.row, line.row.point
        y = head_y + 12 + n * ROW_H
        known = [abs(v) for v in (p.value, p.target) if v is not None]
        scale = scale_for(row.unit, max(known, default=0.0))
        name = row.name_sv + (f" ({row.profession})" if row.profession else "")
        value = scale.show(p.value) if p.value is not None else ("dold" if p.suppressed else "–")
        target = scale.show(p.target) if p.target is not None else "–"
        colour = {"met": "#2e7d32", "not_met": TARGET_COLOUR}.get(p.status, AXIS_COLOUR)
        out.append(
            f'<g class="row" data-kpi="{escape(row.kpi)}">'
            f'<text x="12" y="{y + 24}">{escape(name)}</text>'
            f'<text x="330" y="{y + 24}">{escape(value)}</text>'
            f'<text x="430" y="{y + 24}">{escape(target)}</text>'
            f'<text x="520" y="{y + 24}" fill="{colour}">{escape(_STATUS_SV[p.status])}</text>'
            f"{sparkline(line.trail, width - 12 - SPARK_W, y + 6)}</g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
