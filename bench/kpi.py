"""KPI engine benchmark on the generator's ~1 000 000 time records (200 units, 24 months).

Ceiling: (a) one hand-written SQL aggregate of monthly sick leave % per unit over the same
table, measured in the same run (the best of three). Puls: (b) a full recalculation of every
KPI (time records, employments, costs, compliance; facts per dimension and cell totals), (b')
the same again over the facts it wrote, (c) an incremental recalculation after 1 000 changed
records in one unit, (d) `GET` of a 24-month series for the region root and for one unit
through a real API process, under a bounded load (4 clients), req/s and p50/p99. Goals: (b)
within 3× of (a), (c) under 1 s, (d) p99 under 50 ms for the root.

    uv run python bench/kpi.py [--employees 1200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.common import (
    TOKEN,
    aggregate_ceiling,
    bench_database,
    change_records,
    free_port,
    load,
    mark_all_dirty,
    measure_series,
    percentile,
    print_table,
    process,
    recalculate_all,
    wait_until_healthy,
)
from services.cli import demo
from services.core.config import Settings


async def measure_cold(url: str, database_url: str, path: str, requests: int) -> dict[str, float]:
    """One client, each read right after the facts changed (as after a recalculation round):
    the API cannot use the sums it kept."""
    latencies: list[float] = []
    conn = await asyncpg.connect(database_url)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as client:
        for _ in range(requests):
            await conn.execute("UPDATE kpi_facts_version SET version = gen_random_uuid()")
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    await conn.close()
    latencies.sort()
    return {
        "p50": statistics.median(latencies) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
    }


async def main(employees: int, redis_url: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="puls-bench-kpi-"))
    counts = demo.generate(demo.Spec(employees=employees), work)
    print(f"generated {counts.time_records:,} time records, {counts.employments:,} employments")
    async with bench_database() as database_url:
        settings = Settings(
            DATABASE_URL=database_url, REDIS_URL=redis_url, pseudonym_key="bench-pseudonym"
        )
        started = time.perf_counter()
        await load(settings, work)
        print(f"loaded in {time.perf_counter() - started:.0f} s")
        conn = await asyncpg.connect(database_url)
        await conn.execute("VACUUM ANALYZE")
        ceiling = await aggregate_ceiling(conn)  # its warming run warms the cache for both

        started = time.perf_counter()
        cells = await recalculate_all(settings)
        full = time.perf_counter() - started
        facts_rows = await conn.fetchval("SELECT count(*) FROM kpi_facts")

        # An admin's full recalculation over facts that exist (old facts, totals and violations
        # replaced), as `POST /v1/recalculations` does it.
        await mark_all_dirty(conn)
        await conn.execute("VACUUM ANALYZE")
        started = time.perf_counter()
        await recalculate_all(settings)
        again = time.perf_counter() - started

        # 1 000 changed records in one unit: hours edited where the HR system corrects them.
        dirty = await change_records(conn, "U007", 1000)
        started = time.perf_counter()
        await recalculate_all(settings)
        incremental = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE")  # as autovacuum would, before the reads
        await conn.close()

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PULS_BOOTSTRAP_API_KEY": TOKEN,
            "PULS_PSEUDONYM_KEY": "bench-pseudonym",
            "PULS_RATE_LIMIT_PER_MINUTE": "1000000",
            "PULS_LOG_LEVEL": "WARNING",
        }
        with process(["api", "--port", str(port)], env):
            wait_until_healthy(url)
            series = "/v1/kpis/sick_leave_pct/series?from=2024-01&to=2025-12&org_unit="
            await measure_series(url, series + "REG", 40, 4)  # warm the API's connections
            root = await measure_series(url, series + "REG", 400, 4)
            unit = await measure_series(url, series + "U007", 400, 4)
            cold = await measure_cold(url, database_url, series + "REG", 100)

    print_table(
        f"KPI engine on {counts.time_records:,} time records ({cells:,} cells, "
        f"{facts_rows:,} facts)",
        ["measure", "time", "÷ (a)", "goal"],
        [
            [
                "(a) hand-written monthly sick leave % per unit (ceiling)",
                f"{ceiling:.2f} s",
                "1.00",
                "",
            ],
            [
                "(b) full recalculation of every KPI",
                f"{full:.2f} s",
                f"{full / ceiling:.1f}",
                "≤ 3",
            ],
            [
                "(b') the same again, replacing the facts it wrote",
                f"{again:.2f} s",
                f"{again / ceiling:.1f}",
                "",
            ],
            [
                f"(c) incremental after 1 000 changed records ({dirty} cells)",
                f"{incremental * 1000:.0f} ms",
                f"{incremental / ceiling:.2f}",
                "< 1 s",
            ],
            [
                "(d) 24-month series, region root, 4 clients",
                f"{root['rps']:.0f} req/s, p50 {root['p50']:.1f} ms, p99 {root['p99']:.1f} ms",
                "",
                "p99 < 50 ms",
            ],
            [
                "(d) the same, each read right after a recalculation round, 1 client",
                f"p50 {cold['p50']:.1f} ms, p99 {cold['p99']:.1f} ms",
                "",
                "",
            ],
            [
                "(d) 24-month series, one unit, 4 clients",
                f"{unit['rps']:.0f} req/s, p50 {unit['p50']:.1f} ms, p99 {unit['p99']:.1f} ms",
                "",
                "",
            ],
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employees", type=int, default=1200, help="1200 → ~1 000 000 records")
    parser.add_argument(
        "--redis-url", default=os.environ.get("PULS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    args = parser.parse_args()
    asyncio.run(main(args.employees, args.redis_url))
