"""Scale benchmark (issue #25 point 2): is the cost per million time records flat from 1 M to
10 M? The generator's region (200 units) is grown in employees and months: at `size` million
records, 24·√size months (the last ones before this month, all inside the accepted window; one
partition of `time_records` each) and as many employees as bring the records to `size` million
(1 200 × 24 months gives the one million the other benches use).

At each size, in a fresh database, against the same run's ceilings measured at that size:
- ingest, as `bench/ingest.py` measures it: (b) JSON batches through one API process (`puls
  feed`, two batches in flight) and (c) the CSV file import end to end (upload → worker →
  succeeded), each against (a2), the best hand-written upsert (COPY into staging and one
  `INSERT … ON CONFLICT` into a table shaped like `time_records`);
- the KPI engine, as `bench/kpi.py` measures it: a full recalculation of every cell with facts
  (as `POST /v1/recalculations` does it, over facts that exist) against the one-aggregate
  ceiling (monthly sick leave % per unit, best of three), an incremental recalculation after
  1 000 changed records in one unit, and the region root's 24-month series under 4 concurrent
  clients (p99);
- peak RSS of the API and the worker processes (and of the validator child processes each
  starts), read from /proc; the worker's covers the import and the recalculation after it.

It prints the cost per million rows at each size and the largest size's against the smallest
(goals: ingest rows/s and full recalculation per million within 1.3×, incremental < 1 s, root
p99 < 50 ms, RSS flat), a markdown table for docs/benchmarks.md (`--markdown FILE` writes it
too) and with `--plot FILE.svg` a line chart of each cost per million relative to the smallest
size. Progress goes to stdout with the time each phase took. The bench databases and generated
files are dropped after each size (10 M records are a few GB on disk).

    uv run python bench/scale.py [--sizes 1,3,10] [--plot docs/scale.svg] [--markdown FILE]

Run full sizes alone on the machine (`flock /tmp/bench.lock …`): the ratios compare only
within one quiet run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import asyncpg

from bench.common import (
    PSEUDONYM_KEY,
    TOKEN,
    aggregate_ceiling,
    bench_database,
    ceilings,
    change_records,
    children_peak_rss_mb,
    free_port,
    load,
    mark_all_dirty,
    measure_series,
    peak_rss_mb,
    print_table,
    process,
    recalculate_all,
    recalculated,
    reset,
    run_import,
    server_url,
    service_env,
    settled,
    wait_until_healthy,
    wait_until_settled,
)
from services.cli import demo, feed
from services.core.config import Settings
from services.core.kpis import charts
from services.core.periods import add_months

GROWTH_LIMIT = 1.3  # the goal: the largest size's cost per million within 1.3× the smallest's
RECORDS_PER_EMPLOYEE_MONTH = 1_000_000 / (1200 * 24)  # the generator's, at its 1 M spec


def spec_for(size: float, today: date) -> demo.Spec:
    """The generator's region grown to about `size` million records, in months (√size) and in
    employees (the rest), ending with the last whole month before `today`."""
    months = max(6, round(24 * math.sqrt(size)))
    employees = max(50, round(size * 1_000_000 / RECORDS_PER_EMPLOYEE_MONTH / months))
    start = add_months(today.replace(day=1), -months)
    return demo.Spec(employees=employees, months=months, start=start)


@dataclass
class Measured:
    size: float
    spec: demo.Spec
    rows: int = 0
    employments: int = 0
    partitions: int = 0
    cells: int = 0
    facts: int = 0
    json_rps: float = math.nan  # (b); NaN when not measured (--no-json)
    csv_rps: float = 0.0  # (c)
    a2_rps: float = 0.0
    full_s: float = 0.0
    ceiling_s: float = 0.0
    incremental_s: float = 0.0
    incremental_cells: int = 0
    root: dict[str, float] = field(default_factory=dict)
    api_rss: float = 0.0
    api_child_rss: float = 0.0
    worker_rss: float = 0.0
    worker_child_rss: float = 0.0
    seconds: float = 0.0  # the whole size, generation to dropped database

    def per_million(self, seconds: float) -> float:
        return seconds / (self.rows / 1e6)


class Progress:
    def __init__(self, label: str) -> None:
        self.label, self.started, self.last = label, time.monotonic(), time.monotonic()

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        print(
            f"[{self.label} {now - self.started:6.0f} s] {text} ({now - self.last:.1f} s)",
            flush=True,
        )
        self.last = now


class ChildPeaks:
    """The largest RSS the children of some processes reached (the validator processes the API
    and the worker start), sampled twice a second while it runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.peaks = pids, dict.fromkeys(pids, 0.0)
        self.task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            for name, pid in self.pids.items():
                try:
                    self.peaks[name] = max(self.peaks[name], children_peak_rss_mb(pid))
                except OSError:  # the process ended
                    pass
            await asyncio.sleep(0.5)

    async def __aenter__(self) -> ChildPeaks:
        self.task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


async def measure(size: float, redis_url: str, today: date, json: bool) -> Measured:
    spec = spec_for(size, today)
    m = Measured(size, spec)
    step = Progress(f"{size:g} M")
    work = Path(tempfile.mkdtemp(prefix="puls-bench-scale-"))
    try:
        counts = demo.generate(spec, work)
        m.rows, m.employments = counts.time_records, counts.employments
        times_csv = work / demo.FILES["time-records"]
        step(
            f"generated {m.rows:,} time records ({spec.employees:,} employees, {spec.months} "
            f"months from {spec.start:%Y-%m}, {spec.units} units), {m.employments:,} employments,"
            f" {times_csv.stat().st_size / 1e6:,.0f} MB of CSV"
        )
        async with bench_database() as database_url:
            await measure_in(m, database_url, redis_url, work, times_csv, step, json)
        step("bench database dropped")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    m.seconds = time.monotonic() - step.started
    return m


async def measure_in(
    m: Measured,
    database_url: str,
    redis_url: str,
    work: Path,
    times_csv: Path,
    step: Callable[[str], None],
    json: bool,
) -> None:
    env = service_env(database_url, redis_url, work, "scale")
    settings = Settings(DATABASE_URL=database_url, REDIS_URL=redis_url, pseudonym_key=PSEUDONYM_KEY)
    await reset(database_url, redis_url)
    # The org tree, employments and costs in-process (not measured); their cells' dirty marks
    # are kept aside so that the first recalculation below covers every cell, as in kpi.py.
    await load(settings, work, kinds=("employments", "personnel-costs"))
    conn = await asyncpg.connect(database_url)
    await conn.execute("CREATE TABLE bench_dirty AS SELECT * FROM kpi_dirty_cells")
    await conn.close()
    step("org tree, employments and personnel costs loaded")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process(["api", "--port", str(port)], env) as api:
        wait_until_healthy(url)
        async with ChildPeaks({"api": api.pid}) as api_children:
            async with feed.api_client(url, TOKEN) as client:
                if json:
                    await settled(database_url)
                    summary = await feed.feed_file(
                        client, times_csv, kind="time-records", source="heroma", concurrency=2
                    )
                    assert summary.rejected == 0, summary
                    assert summary.counts["inserted"] == m.rows, summary
                    m.json_rps = m.rows / summary.seconds
                    step(f"(b) JSON batches: {m.json_rps:,.0f} rows/s")

                await reset(database_url, redis_url)
                child_rss: list[float] = []
                with process(["worker"], env) as worker:
                    async with ChildPeaks({"worker": worker.pid}) as worker_children:
                        wait_until_settled(worker.pid)
                        await settled(database_url)
                        m.csv_rps = m.rows / await run_import(
                            client, times_csv, worker.pid, child_rss
                        )
                        step(f"(c) CSV import: {m.csv_rps:,.0f} rows/s")
                        # The worker's recalculation after the import: its RSS, not its time.
                        await recalculated(database_url, timeout=3 * 3600)
                        step("the worker's recalculation after the import done")
                        m.worker_rss = peak_rss_mb(worker.pid)
                    m.worker_child_rss = max(worker_children.peaks["worker"], *child_rss)

            m.a2_rps = (
                await ceilings(database_url, raw_copy=False, shapes=("same",), phases=("insert",))
            )["a2"]
            step(f"(a2) upsert ceiling: {m.a2_rps:,.0f} rows/s")

            conn = await asyncpg.connect(database_url)
            m.partitions = await conn.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'time_records'::regclass"
            )
            # Every cell computed once (the employments' cells too), untimed; then the full
            # recalculation measured is kpi.py's (b'): every cell with facts, over its facts.
            await conn.execute(
                "INSERT INTO kpi_dirty_cells SELECT * FROM bench_dirty ON CONFLICT DO NOTHING"
            )
            await conn.execute("DROP TABLE bench_dirty")
            await recalculate_all(settings)
            step("every cell computed once")
            await conn.execute("VACUUM ANALYZE")
            m.ceiling_s = await aggregate_ceiling(conn)
            step(f"one-aggregate ceiling: {m.ceiling_s:.2f} s")
            await mark_all_dirty(conn)
            m.cells = await conn.fetchval("SELECT count(*) FROM kpi_dirty_cells")
            await conn.execute("VACUUM ANALYZE")
            started = time.perf_counter()
            await recalculate_all(settings)
            m.full_s = time.perf_counter() - started
            m.facts = await conn.fetchval("SELECT count(*) FROM kpi_facts")
            step(f"full recalculation of {m.cells:,} cells: {m.full_s:.2f} s")

            m.incremental_cells = await change_records(conn, "U007", 1000)
            started = time.perf_counter()
            await recalculate_all(settings)
            m.incremental_s = time.perf_counter() - started
            step(f"incremental recalculation: {m.incremental_s * 1000:.0f} ms")
            await conn.execute("VACUUM ANALYZE")  # as autovacuum would, before the reads
            await conn.close()

            last = add_months(m.spec.start, m.spec.months - 1)
            first = add_months(last, -min(m.spec.months, 24) + 1)
            series = (
                f"/v1/kpis/sick_leave_pct/series?from={first:%Y-%m}&to={last:%Y-%m}&org_unit=REG"
            )
            await measure_series(url, series, 40, 4)  # warm the API's connections
            m.root = await measure_series(url, series, 400, 4)
            step(f"root series, 4 clients: p99 {m.root['p99']:.1f} ms")
        m.api_child_rss = api_children.peaks["api"]
        m.api_rss = peak_rss_mb(api.pid)
    step(
        f"peak RSS: API {m.api_rss:.0f} MB (its validator {m.api_child_rss:.0f} MB), worker "
        f"{m.worker_rss:.0f} MB (its validator {m.worker_child_rss:.0f} MB)"
    )


# ---------------------------------------------------------------- report


def rows_of(results: Sequence[Measured]) -> tuple[list[str], list[list[str]]]:
    """The table: one column per size, then the largest size's cost per million against the
    smallest's, and the goal."""
    first, last = results[0], results[-1]
    many = len(results) > 1
    header = ["measure", *(f"{r.size:g} M" for r in results)]
    if many:
        header += [f"{last.size:g} M ÷ {first.size:g} M", "goal"]

    def line(
        label: str,
        show: Callable[[Measured], str],
        ratio: Callable[[Measured], float] | None = None,
        goal: str = "",
    ) -> list[str]:
        cells = [label, *("not measured" if "nan" in show(r) else show(r) for r in results)]
        if many:
            change = ratio(last) / ratio(first) if ratio else math.nan
            cells += ["" if math.isnan(change) else f"{change:.2f}", goal]
        return cells

    def mb(value: float) -> str:
        return f"{value:.0f} MB"

    limit = f"≤ {GROWTH_LIMIT}"
    table = [
        line("time records", lambda r: f"{r.rows:,}"),
        line(
            "employees × months (partitions)",
            lambda r: f"{r.spec.employees:,} × {r.spec.months} ({r.partitions})",
        ),
        line("cells recalculated (fact rows)", lambda r: f"{r.cells:,} ({r.facts:,})"),
        line(
            "(b) JSON batches: s per M rows (rows/s, ÷ (a2))",
            lambda r: (
                f"{r.per_million(r.rows / r.json_rps):.1f} s "
                f"({r.json_rps:,.0f}, {r.json_rps / r.a2_rps:.2f})"
            ),
            lambda r: r.per_million(r.rows / r.json_rps),
            limit,
        ),
        line(
            "(c) CSV import: s per M rows (rows/s, ÷ (a2))",
            lambda r: (
                f"{r.per_million(r.rows / r.csv_rps):.1f} s "
                f"({r.csv_rps:,.0f}, {r.csv_rps / r.a2_rps:.2f})"
            ),
            lambda r: r.per_million(r.rows / r.csv_rps),
            limit,
        ),
        line(
            "(a2) upsert ceiling: s per M rows (rows/s)",
            lambda r: f"{r.per_million(r.rows / r.a2_rps):.1f} s ({r.a2_rps:,.0f})",
            lambda r: r.per_million(r.rows / r.a2_rps),
        ),
        line(
            "full recalculation: s per M rows (total, ÷ ceiling)",
            lambda r: (
                f"{r.per_million(r.full_s):.2f} s ({r.full_s:.1f} s, {r.full_s / r.ceiling_s:.1f}×)"
            ),
            lambda r: r.per_million(r.full_s),
            limit,
        ),
        line(
            "one-aggregate ceiling: s per M rows (total)",
            lambda r: f"{r.per_million(r.ceiling_s):.2f} s ({r.ceiling_s:.2f} s)",
            lambda r: r.per_million(r.ceiling_s),
        ),
        line(
            "incremental after 1 000 changed records (cells)",
            lambda r: f"{r.incremental_s * 1000:.0f} ms ({r.incremental_cells})",
            lambda r: r.incremental_s,
            "< 1 s",
        ),
        line(
            "root series, 4 clients: p99 (p50, req/s)",
            lambda r: f"{r.root['p99']:.1f} ms ({r.root['p50']:.1f} ms, {r.root['rps']:.0f})",
            lambda r: r.root["p99"],
            "p99 < 50 ms",
        ),
        line(
            "peak RSS API (its validator)",
            lambda r: f"{mb(r.api_rss)} ({mb(r.api_child_rss)})",
            lambda r: max(r.api_rss, r.api_child_rss),
            "flat",
        ),
        line(
            "peak RSS worker (its validator)",
            lambda r: f"{mb(r.worker_rss)} ({mb(r.worker_child_rss)})",
            lambda r: max(r.worker_rss, r.worker_child_rss),
            "flat",
        ),
        line("bench time, generation to dropped database", lambda r: f"{r.seconds / 60:.1f} min"),
    ]
    return header, table


def verdicts(results: Sequence[Measured]) -> list[str]:
    """Each goal, met or not, in words."""
    first, last = results[0], results[-1]
    out = []
    costs: list[tuple[str, Callable[[Measured], float]]] = [
        ("(b) JSON ingest per million", lambda r: r.rows / r.json_rps),
        ("(c) CSV import per million", lambda r: r.rows / r.csv_rps),
        ("full recalculation per million", lambda r: r.full_s),
    ]
    if len(results) > 1:
        for label, cost in costs:
            ratio = last.per_million(cost(last)) / first.per_million(cost(first))
            if math.isnan(ratio):
                out.append(f"{label}: not measured")
                continue
            met = "met" if ratio <= GROWTH_LIMIT else "NOT met"
            out.append(
                f"{label}: {last.size:g} M ÷ {first.size:g} M = {ratio:.2f} "
                f"(goal ≤ {GROWTH_LIMIT}: {met})"
            )
    worst_incremental = max(r.incremental_s for r in results)
    worst_p99 = max(r.root["p99"] for r in results)
    out.append(
        f"incremental: at most {worst_incremental * 1000:.0f} ms "
        f"(goal < 1 s: {'met' if worst_incremental < 1 else 'NOT met'})"
    )
    out.append(
        f"root series p99: at most {worst_p99:.1f} ms "
        f"(goal < 50 ms: {'met' if worst_p99 < 50 else 'NOT met'})"
    )
    if len(results) > 1:
        api = max(last.api_rss, last.api_child_rss) / max(first.api_rss, first.api_child_rss)
        worker = max(last.worker_rss, last.worker_child_rss) / max(
            first.worker_rss, first.worker_child_rss
        )
        out.append(
            f"peak RSS {last.size:g} M ÷ {first.size:g} M: API {api:.2f}, worker {worker:.2f}"
        )
    return out


PLOT_LINES: list[tuple[str, str, Callable[[Measured], float]]] = [
    ("(b) JSON batches", "#1f5fa8", lambda r: r.per_million(r.rows / r.json_rps)),
    ("(c) CSV import", "#2e8b57", lambda r: r.per_million(r.rows / r.csv_rps)),
    ("(a2) upsert ceiling", "#7fb3e6", lambda r: r.per_million(r.rows / r.a2_rps)),
    ("full recalculation", "#8e44ad", lambda r: r.per_million(r.full_s)),
    ("one-aggregate ceiling", "#c39bd3", lambda r: r.per_million(r.ceiling_s)),
    ("peak RSS API", "#e67e22", lambda r: max(r.api_rss, r.api_child_rss)),
    ("peak RSS worker", "#7f8c8d", lambda r: max(r.worker_rss, r.worker_child_rss)),
]


def plot_svg(results: Sequence[Measured]) -> str:
    """Each cost per million (and each peak RSS) at each size, relative to the smallest size's:
    a flat line at 1 is a cost that grows with the rows and no faster. Drawn the way the KPI
    charts are (services/core/kpis/charts.py: hand-written SVG with its sizes, colours and
    escaping; English labels, for the docs), several lines over a size axis."""
    width, height = charts.WIDTH, charts.HEIGHT + 120
    left, right, top, bottom = charts.LEFT, charts.RIGHT + 170, charts.TOP, charts.BOTTOM
    first = results[0]
    drawn = [
        each for each in PLOT_LINES if not any(math.isnan(each[2](r)) for r in results)
    ]  # (b) is left out when it was not measured
    ratios = [[cost(r) / cost(first) for r in results] for _, _, cost in drawn]
    high = max(1.5, max(max(line) for line in ratios) * 1.1)
    step = 0.25 if high <= 2 else 0.5
    high = math.ceil(high / step) * step
    plot_w, plot_h = width - left - right, height - top - bottom
    sizes = [r.rows / 1e6 for r in results]
    span = max(sizes[-1] - sizes[0], 1e-9)

    def x_of(size: float) -> float:
        return left + (plot_w * (size - sizes[0]) / span if len(sizes) > 1 else plot_w / 2)

    def y_of(v: float) -> float:
        return top + plot_h * (high - v) / high

    esc = charts.escape
    title = "Puls: cost per million time records, relative to the smallest size"
    subtitle = f"× the cost per million at {sizes[0]:.2f} M (peak RSS: × its peak there)"
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{v:.2f} at {s:.2f} M" for v, s in zip(line, sizes, strict=True))
        for (label, _, _), line in zip(drawn, ratios, strict=True)
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="scale-title scale-desc" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
        f'<title id="scale-title">{esc(title)}</title>',
        f'<desc id="scale-desc">{esc(desc)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="24" font-size="16" font-weight="bold" fill="#222222">'
        f"{esc(title)}</text>",
        f'<text x="{left}" y="42" fill="{charts.AXIS_COLOUR}">{esc(subtitle)}</text>',
    ]
    tick = 0.0
    while tick <= high + step / 1000:
        y = y_of(tick)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{charts.GRID_COLOUR}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="{charts.AXIS_COLOUR}">{tick:.2f}</text>'
        )
        tick += step
    goal = y_of(GROWTH_LIMIT)
    out.append(
        f'<line x1="{left}" y1="{goal:.1f}" x2="{width - right}" y2="{goal:.1f}" '
        f'stroke="{charts.TARGET_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>'
        f'<text x="{left + 6}" y="{goal - 6:.1f}" fill="{charts.TARGET_COLOUR}">'
        f"{esc(f'goal ≤ {GROWTH_LIMIT}')}</text>"
    )
    for s in sizes:
        out.append(
            f'<text x="{x_of(s):.1f}" y="{height - bottom + 18}" text-anchor="middle" '
            f'fill="{charts.AXIS_COLOUR}">{s:.2f} M</text>'
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - bottom + 36}" text-anchor="middle" '
        f'fill="{charts.AXIS_COLOUR}">million time records</text>'
    )
    for n, ((label, colour, _), line) in enumerate(zip(drawn, ratios, strict=True)):
        points = " ".join(f"{x_of(s):.1f},{y_of(v):.1f}" for s, v in zip(sizes, line, strict=True))
        dash = ' stroke-dasharray="2 3"' if "ceiling" in label else ""
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5" '
            f'stroke-linejoin="round"{dash}/>'
        )
        for s, v in zip(sizes, line, strict=True):
            out.append(
                f'<circle cx="{x_of(s):.1f}" cy="{y_of(v):.1f}" r="3.5" fill="{colour}">'
                f"<title>{esc(f'{label}: {v:.2f} at {s:.2f} M')}</title></circle>"
            )
        ly = top + 16 * n + 8
        out.append(
            f'<line x1="{width - right + 10}" y1="{ly - 4}" x2="{width - right + 30}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="2.5"{dash}/>'
            f'<text x="{width - right + 36}" y="{ly}" fill="#222222">{esc(label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


async def autovacuum_warning() -> str:
    """A warning when the server runs without autovacuum (a development server tuned for
    tests may): then nothing refreshes the statistics of the partitions as they fill but Puls's
    own ANALYZE, which the file import runs as it grows and the JSON batch path does not, so
    (b)'s statements plan for empty partitions and scan every partition for each batch (its
    cost per million then grows with the size). Production runs with autovacuum."""
    conn = await asyncpg.connect(server_url())
    try:
        on = await conn.fetchval("SHOW autovacuum")
    finally:
        await conn.close()
    if on == "on":
        return ""
    return (
        "WARNING: autovacuum is off on this PostgreSQL server: partitions filled by JSON batches "
        "are never analyzed, so (b) measures plans made for empty partitions"
    )


async def main(
    sizes: list[float],
    redis_url: str,
    plot: Path | None,
    markdown: Path | None,
    json: bool = True,
) -> None:
    today = date.today()
    warning = await autovacuum_warning()
    if warning:
        print(warning, flush=True)
    for size in sizes:
        spec = spec_for(size, today)
        print(
            f"size {size:g} M: {spec.employees:,} employees × {spec.months} months "
            f"from {spec.start:%Y-%m}",
            flush=True,
        )
    results: list[Measured] = []
    for size in sizes:
        results.append(await measure(size, redis_url, today, json))
        low, high = estimate_10m(results)
        print(
            f"size {size:g} M took {results[-1].seconds / 60:.1f} min; "
            f"10 M would take {low / 60:.0f}–{high / 60:.0f} min",
            flush=True,
        )
    header, table = rows_of(results)
    print_table(
        f"Cost per million time records ({', '.join(f'{s:g} M' for s in sizes)}), {today}",
        header,
        table,
    )
    print()
    for verdict in verdicts(results):
        print(verdict)
    if warning:
        print(warning)
    if markdown:
        lines = [
            "| " + " | ".join(header) + " |",
            "| " + " | ".join("---" for _ in header) + " |",
            *("| " + " | ".join(row) + " |" for row in table),
            "",
            *(f"- {v}" for v in verdicts(results)),
            *([f"- {warning}"] if warning else []),
        ]
        markdown.write_text("\n".join(lines) + "\n")
        print(f"wrote {markdown}")
    if plot:
        plot.write_text(plot_svg(results))
        print(f"wrote {plot}")


def estimate_10m(results: Sequence[Measured]) -> tuple[float, float]:
    """Seconds a 10 M size would take, as a range: in proportion to the rows of the largest
    size measured (too much from a small size, whose start-ups and settling are a large part)
    and a line through the two largest sizes (which keeps that fixed part apart, but is only
    as good as two noisy points); the line is never below the largest size's time."""
    last = results[-1]
    proportional = last.seconds * 1e7 / last.rows
    if len(results) == 1:
        return proportional, proportional
    before = results[-2]
    per_row = max(0.0, (last.seconds - before.seconds) / (last.rows - before.rows))
    line = last.seconds + per_row * (1e7 - last.rows)
    return min(line, proportional), max(line, proportional)


def parse_sizes(text: str) -> list[float]:
    sizes = sorted(float(s) for s in text.split(","))
    if not sizes or sizes[0] <= 0:
        raise argparse.ArgumentTypeError("sizes are millions of records, above 0")
    return sizes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=[1.0, 3.0, 10.0],
        help="millions of time records, comma-separated (default 1,3,10)",
    )
    parser.add_argument("--plot", type=Path, help="write an SVG line chart here")
    parser.add_argument(
        "--no-json",
        dest="json",
        action="store_false",
        help="leave out (b), the JSON batches (the longest part without autovacuum)",
    )
    parser.add_argument("--markdown", type=Path, help="write the markdown table here")
    parser.add_argument(
        "--redis-url", default=os.environ.get("PULS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.redis_url, args.plot, args.markdown, args.json))
